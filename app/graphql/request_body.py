"""Reading a GraphQL request's body: the one place every input string passes.

- A body that is not UTF-8, not JSON, or nested deeper than the parser allows (orjson:
  1,024 levels) is answered 400 with a GraphQL-style JSON error, never a plain-text 500
  (``app.graphql.over_http``).
- A string anywhere in the request (query, operation name, variable values and keys) that
  holds NUL or a lone surrogate is refused with a BAD_USER_INPUT error naming where it is:
  no column can store NUL on PostgreSQL, a lone surrogate cannot be encoded at all, and
  refusing both here makes SQLite and PostgreSQL answer alike for every field.
- NUL written as an escape in a string literal of the document itself (``"\\u0000"``) is
  refused by ``NoBadCharactersRule`` at validation; graphql-core already refuses lone
  surrogate escapes as a syntax error.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from graphql import GraphQLError, StringValueNode
from graphql.validation import ValidationRule
from strawberry.asgi import GraphQL

from app.validation import UNSTORABLE
from app.validation import unstorable_path as bad_string_path

CODE = "BAD_USER_INPUT"


class BadRequestBody(Exception):
    """A body that cannot be read (400), or holds characters no field accepts (200)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _shown(part: str) -> str:
    return UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", part)


def _where(path: list) -> str:
    out = ""
    for part in path:
        part = part if isinstance(part, int) else _shown(str(part))
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_strings(data: object, root: list | None = None) -> None:
    path = bad_string_path(data)
    if path is None:
        return
    path = [*(root or []), *path]
    if len(path) >= 2 and path[0] == "variables":
        place = f'Variable "${_shown(str(path[1]))}"'
        if len(path) > 2:
            place += f" at {_where(path[1:])}"
    else:
        place = _where(path) or "The request"
    raise BadRequestBody(
        f"{place} contains characters that are not allowed (NUL or a lone surrogate).",
        status=200,
    )


def decode_request_json(data: str | bytes, root: list | None = None) -> object:
    """The decoded JSON of a request body (or of a GET parameter such as ``variables``)."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestBody("The request body is not valid UTF-8.") from None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise BadRequestBody("The request body is nested too deeply.") from None
        if "surrogate" in str(exc):
            # valid JSON grammar, but no text: find and name the string that holds it
            try:
                check_strings(json.loads(data), root)
            except (ValueError, RecursionError):
                pass
        raise BadRequestBody(f"The request body is not valid JSON: {exc}.") from None
    check_strings(value, root)
    return value


class SafeRequestBody(GraphQL[Any, None]):
    """The GraphQL view with JSON bodies read as above (``BadRequestBody`` is answered by
    ``app.graphql.over_http``, as every other request error)."""

    def decode_json(self, data: str | bytes) -> object:
        return decode_request_json(data)

    def parse_query_params(self, params) -> dict:
        params = dict(params)
        for key in ("variables", "extensions"):
            if params.get(key):
                params[key] = decode_request_json(params[key], [key])
        check_strings({k: v for k, v in params.items() if k not in ("variables", "extensions")})
        return params


class NoBadCharactersRule(ValidationRule):
    """String literals of the document may not hold NUL (see the module's docstring)."""

    def enter_string_value(self, node: StringValueNode, *_args):
        if UNSTORABLE.search(node.value):
            self.report_error(
                GraphQLError(
                    "A string contains characters that are not allowed "
                    "(NUL or a lone surrogate).",
                    node,
                )
            )
