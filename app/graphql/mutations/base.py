"""What every mutation shares: a savepoint per root field, and domain errors as userErrors."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import FieldExtension
from strawberry.types import Info

from app.audit import changes
from app.audit import service as audit
from app.errors import DomainError, RateLimited
from app.graphql.errors import UserError, forbidden, rate_limited, user_errors
from app.graphql.ids import decode_any
from app.identity import credentials

T = TypeVar("T")


async def attempt(
    session: AsyncSession,
    action: Callable[[], Awaitable[T]],
    before: Callable[[], Awaitable[None]] | None = None,
) -> tuple[T | None, list[UserError]]:
    """Run one mutation's work in a savepoint: on a domain error nothing of it remains.

    ``before`` runs first, outside the savepoint: rate-limit hits recorded there stay
    counted even when the operation itself fails. Password attempts counted inside the
    action (``credentials.PasswordGate``) are counted again after the savepoint's rollback.
    """
    if before is not None:
        try:
            await before()
        except RateLimited as exc:
            raise rate_limited(exc) from None
    position = changes.mark(session)
    counted = credentials.counted_since(session)
    try:
        async with session.begin_nested():
            result = await action()
    except DomainError as exc:
        changes.rollback_to(session, position)
        await credentials.recount(session, counted)
        return None, user_errors(exc)
    except RateLimited as exc:
        changes.rollback_to(session, position)
        await credentials.recount(session, counted)
        raise rate_limited(exc) from None
    except BaseException:
        changes.rollback_to(session, position)
        credentials.forget_counted(session, counted)
        raise
    credentials.forget_counted(session, counted)
    return result, []


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


class Audited(FieldExtension):
    """Writes one audit entry for a mutation that changed state, in its transaction.

    With ``forbid_impersonation`` the mutation is refused (top-level FORBIDDEN) to
    anyone acting through an impersonation token.
    """

    def __init__(self, forbid_impersonation: bool = False):
        super().__init__()
        self.forbid_impersonation = forbid_impersonation

    async def resolve_async(self, next_, source, info: Info, **kwargs):
        ctx = info.context
        if self.forbid_impersonation and await ctx.impersonating():
            raise forbidden("Not allowed while logged in as another member.")
        try:
            result = await next_(source, info, **kwargs)
        except BaseException:
            if ctx.has_session:
                changes.forget(ctx.session())
            raise
        if ctx.has_session:
            async with ctx.db() as session:
                collected = changes.take(session)
                if collected:
                    await audit.record(
                        session,
                        action=info.field_name,
                        who=ctx.audit_who(collected),
                        changes=collected,
                        request_id=ctx.request_id,
                        client_address=ctx.client_address,
                        target=named_target(kwargs.get("input")),
                    )
        return result


def named_target(data) -> tuple[str, int] | None:
    """The record a mutation's input names (``id``, else ``projectId``, else ``staffId``)."""
    for attr in ("id", "project_id", "staff_id"):
        value = getattr(data, attr, None)
        if isinstance(value, str) and (decoded := decode_any(value)) is not None:
            return decoded
    return None


def mutation(*, description: str, while_impersonating: bool = True):
    """A root mutation field: described, audited, and maybe barred while impersonating."""
    return strawberry.mutation(
        description=description,
        extensions=[Audited(forbid_impersonation=not while_impersonating)],
    )
