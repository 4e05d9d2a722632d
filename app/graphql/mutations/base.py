"""What every mutation shares: a savepoint per root field, domain errors as userErrors,
and the resolver shape "who asks -> one service call -> payload" (``as_actor`` and kin)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import FieldExtension
from strawberry.types import Info

from app.access.require import WHILE_IMPERSONATING
from app.audit import changes
from app.audit import service as audit
from app.errors import DomainError, RateLimited
from app.graphql.errors import UserError, forbidden, rate_limited, user_errors
from app.graphql.ids import decode_any
from app.identity import credentials

if TYPE_CHECKING:
    from app.access import Actor
    from app.identity.service import Principal

T = TypeVar("T")
P = TypeVar("P", bound="Payload")


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
    session.info[_CHANGED] = True
    return result, []


_CHANGED = "roster.mutation_done"  # session.info: a root field's work was kept


def kept_a_change(session: AsyncSession) -> bool:
    """Whether a mutation's root field completed its work in this session (``attempt``)."""
    return bool(session.info.get(_CHANGED))


def holds_others_work(session: AsyncSession) -> bool:
    """Whether root fields before this one kept work in the session (``attempt``), or
    left changes in it: asked before this field's own work."""
    return kept_a_change(session) or bool(session.new or session.dirty or session.deleted)


async def commit_if_alone(session: AsyncSession, *, others: bool | None = None) -> bool:
    """Commit what this root field has done so far (its rate-limit counts), so that it
    holds no transaction (on SQLite, the one writer lock) while it waits on something
    slow: argon2, a DNS server. Only when no other root field of the document has kept
    work in the session (``others``: ``holds_others_work`` asked before this field's own
    ``attempt``, which marks the session); committed here, that work would stay even if
    the operation then failed as a whole (``RequestLifecycle``), or ran out of time. Then
    the field waits inside the transaction instead. Whether it committed."""
    if holds_others_work(session) if others is None else others:
        return False
    await session.commit()
    return True


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
    """A payload's other fields default to what a refused mutation answers (null, false,
    an empty list): ``XPayload(user_errors=errors)`` is the payload of a refusal."""

    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Expected problems; when not empty, nothing was changed."
    )


async def as_actor(
    info: Info,
    action: Callable[[AsyncSession, Actor], Awaitable[T]],
    payload: Callable[[T, Actor], P],
    *,
    before: Callable[[AsyncSession, Actor], Awaitable[Any]] | None = None,
) -> P:
    """The usual mutation: ``action(session, actor)`` as the account's actor, through
    ``attempt`` (with ``before``, e.g. a rate limit, ahead of its savepoint); its result
    becomes ``payload(result, actor)``. On a domain error the answer is the field's own
    payload type with only its userErrors set."""
    async with info.context.as_actor() as (session, actor):
        result, errors = await _attempt(session, actor, action, before)
    return _refused(info, errors) if errors else payload(result, actor)


async def as_principal(
    info: Info,
    action: Callable[[AsyncSession, Principal], Awaitable[T]],
    payload: Callable[[T], P],
) -> P:
    """As ``as_actor``, for a signed-in user in no particular account."""
    async with info.context.as_principal() as (session, principal):
        result, errors = await _attempt(session, principal, action, None)
    return _refused(info, errors) if errors else payload(result)


async def as_anyone(
    info: Info,
    action: Callable[[AsyncSession, Principal | None], Awaitable[T]],
    payload: Callable[[T], P],
    *,
    before: Callable[[AsyncSession, Principal | None], Awaitable[Any]] | None = None,
) -> P:
    """As ``as_actor``, for a public mutation that takes a valid token's principal into
    account (None without one)."""
    async with info.context.as_anyone() as (session, principal):
        result, errors = await _attempt(session, principal, action, before)
    return _refused(info, errors) if errors else payload(result)


async def public(
    info: Info,
    action: Callable[[AsyncSession], Awaitable[T]],
    payload: Callable[[T], P],
    *,
    before: Callable[[AsyncSession], Awaitable[Any]] | None = None,
) -> P:
    """As ``as_actor``, for a public mutation that never looks at a token."""
    async with info.context.db() as session:
        result, errors = await attempt(
            session,
            lambda: action(session),
            before=(lambda: before(session)) if before is not None else None,
        )
    if errors:
        return _refused(info, errors)
    # No userErrors: ``result`` is the action's value (None only when T is None, e.g. a
    # resend that returns nothing), so no ``assert result is not None`` here.
    return payload(cast(T, result))


async def _attempt(session: AsyncSession, who, action, before):
    return await attempt(
        session,
        lambda: action(session, who),
        before=(lambda: before(session, who)) if before is not None else None,
    )


def _refused(info: Info, errors: list[UserError]):
    """The payload of the field being resolved, carrying only ``errors``."""
    # A mutation field's return type is its payload class (a Payload), which strawberry
    # types only as a StrawberryType: called here with just its userErrors.
    payload_type = cast(Callable[..., Any], info.return_type)
    return payload_type(user_errors=errors)


class Audited(FieldExtension):
    """Writes one audit entry for a mutation that changed state, in its transaction.

    With ``forbid_impersonation`` the mutation is refused (top-level FORBIDDEN) to
    anyone acting through an impersonation token; with ``own_session`` to anything but
    the user's own signed-in session (``app.access.own_session_refusal``: no API key, no
    impersonation token), which is what managing one's logins, sessions and keys needs.
    """

    def __init__(self, forbid_impersonation: bool = False, own_session: bool = False):
        super().__init__()
        self.forbid_impersonation = forbid_impersonation
        self.own_session = own_session

    async def resolve_async(self, next_, source, info: Info, **kwargs):
        ctx = info.context
        if self.own_session:
            if (refusal := await ctx.own_session_refusal()) is not None:
                raise forbidden(refusal)
        elif self.forbid_impersonation and await ctx.impersonating():
            raise forbidden(WHILE_IMPERSONATING)
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


def mutation(
    *,
    description: str,
    while_impersonating: bool = True,
    own_session: bool = False,
):
    """A root mutation field: described, audited, and maybe barred while impersonating.

    ``own_session``: the mutation manages the user's own credentials (API keys, password,
    email, sessions), so only their own signed-in session may call it (with a token: no
    API key, no impersonation token; public ones still work without a token)."""
    return strawberry.mutation(
        description=description,
        extensions=[
            Audited(
                forbid_impersonation=not while_impersonating,
                own_session=own_session,
            )
        ],
    )
