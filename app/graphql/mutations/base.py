"""What every mutation shares: a savepoint per root field, and domain errors as userErrors."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, RateLimited
from app.graphql.errors import UserError, rate_limited, user_errors

T = TypeVar("T")


async def attempt(
    session: AsyncSession, action: Callable[[], Awaitable[T]]
) -> tuple[T | None, list[UserError]]:
    """Run one mutation's work in a savepoint: on a domain error nothing of it remains."""
    try:
        async with session.begin_nested():
            return await action(), []
    except DomainError as exc:
        return None, user_errors(exc)
    except RateLimited as exc:
        raise rate_limited(exc) from None


def provided(obj, rename: dict[str, str] | None = None) -> dict:
    """The fields a client actually sent (UNSET ones are left out), with domain names."""
    rename = rename or {}
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is strawberry.UNSET:
            continue
        out[rename.get(f.name, f.name)] = value
    return out


@strawberry.interface(description="Every mutation payload carries its userErrors.")
class Payload:
    user_errors: list[UserError] = strawberry.field(
        description="Expected problems; when not empty, nothing was changed."
    )
