"""How domain errors reach clients: userErrors for expected ones, top-level codes otherwise."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.utils.str_converters import to_camel_case

from app.errors import DomainError, ErrorCode, ValidationFailed

UserErrorCode = ErrorCode  # the GraphQL name of the domain's codes (marked in place)
strawberry.enum(UserErrorCode, name="UserErrorCode", description="Why an input was refused.")


@strawberry.type(description="An expected problem with the input; nothing was changed.")
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path to the input field concerned, if any (e.g. ['input', 'email'])."
    )
    message: str = strawberry.field(description="A human-readable explanation.")
    code: UserErrorCode = strawberry.field(description="A stable, machine-readable code.")


def field_path(path) -> list[str]:
    """A domain error's field path (snake_case, the domain's names) as the API names it."""
    return ["input", *(to_camel_case(str(part)) for part in path)]


def user_errors(exc: DomainError) -> list[UserError]:
    errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
    return [
        UserError(field=field_path(e.field) if e.field else None, message=e.message, code=e.code)
        for e in errors
    ]


def top_level(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def unauthenticated() -> GraphQLError:
    return top_level(
        "UNAUTHENTICATED",
        "Authentication required: the token is missing, invalid, "
        "expired or not valid for this realm.",
    )


def forbidden(message: str = "You may not perform this operation.") -> GraphQLError:
    return top_level("FORBIDDEN", message)


def bad_input(message: str) -> GraphQLError:
    return top_level("BAD_USER_INPUT", message)


def rate_limited(exc) -> GraphQLError:
    return GraphQLError(
        exc.message, extensions={"code": "RATE_LIMITED", "retryAfter": exc.retry_after}
    )
