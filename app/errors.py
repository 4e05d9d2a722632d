"""Domain errors: expected failures, each with a code the API reports as a userError."""

from __future__ import annotations

import enum
from collections.abc import Sequence


class ErrorCode(enum.StrEnum):
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    TAKEN = "TAKEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    MANAGER_CYCLE = "MANAGER_CYCLE"
    LIMIT_REACHED = "LIMIT_REACHED"
    ARCHIVED = "ARCHIVED"
    WEAK_PASSWORD = "WEAK_PASSWORD"


class DomainError(Exception):
    """An expected failure. ``field`` is the input path it concerns, if any."""

    code: ErrorCode = ErrorCode.INVALID

    def __init__(self, message: str, *, field: Sequence[str] | None = None, code=None):
        super().__init__(message)
        self.message = message
        self.field = list(field) if field else None
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """Missing, or in another account: the two are indistinguishable on purpose."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, what: str = "Record", *, field: Sequence[str] | None = None):
        super().__init__(f"{what} not found.", field=field)


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN

    def __init__(self, message: str = "You may not do this.", *, field=None):
        super().__init__(message, field=field)


class ValidationFailed(DomainError):
    """Several field problems at once; nothing was written."""

    def __init__(self, errors: list[DomainError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class Unauthenticated(Exception):
    """No valid credentials for this operation (a top-level error, not a userError)."""


class AccessDenied(Exception):
    """The whole operation is not allowed for this actor (top-level FORBIDDEN)."""
