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
    SEAT_LIMIT_REACHED = "SEAT_LIMIT_REACHED"
    INVALID_TOKEN = "INVALID_TOKEN"
    TOKEN_USED = "TOKEN_USED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    INVITATION_REVOKED = "INVITATION_REVOKED"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    ALREADY_INVITED = "ALREADY_INVITED"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    LOGIN_REQUIRED = "LOGIN_REQUIRED"
    DOMAIN_NOT_ALLOWED = "DOMAIN_NOT_ALLOWED"
    LINK_DISABLED = "LINK_DISABLED"
    INVALID_STATE = "INVALID_STATE"
    PLAN_TOO_SMALL = "PLAN_TOO_SMALL"


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


# The most problems one refusal names: an input of ten thousand unknown ids is answered
# with the first of them, not ten thousand errors (the query cost counts this many).
MAX_REPORTED = 50


class ValidationFailed(DomainError):
    """Several field problems at once (the first MAX_REPORTED); nothing was written."""

    def __init__(self, errors: Sequence[DomainError]):
        errors = list(errors)[:MAX_REPORTED]
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class RateLimited(Exception):
    """Too many attempts; try again after ``retry_after`` seconds (a top-level error)."""

    def __init__(self, retry_after: int, message: str = "Too many attempts; try again later."):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
        self.message = message


class Unauthenticated(Exception):
    """No valid credentials for this operation (a top-level error, not a userError)."""


class AccessDenied(Exception):
    """The whole operation is not allowed for this actor (top-level FORBIDDEN)."""
