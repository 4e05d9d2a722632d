"""Live changes over graphql-transport-ws: the Subscription type.

Each subscription follows its account's committed events (``app.events.live``). For every
event it authenticates its subscriber afresh (the token, the realm and the role as they are
now: a member disabled or a token revoked meanwhile gets the socket closed with 4403, as
does a periodic check when nothing happens), then reads the record through the same domain
look-up as the ``node`` query, with that subscriber's access; what it may not see it is not
sent (``app.events.visibility``). The fields of the record are then resolved by the same
types as the queries', so a hidden field is null exactly as it would be there.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.access import Actor
from app.custom_fields import service as custom_fields
from app.errors import DomainError, ErrorCode, Unauthenticated
from app.events import visibility
from app.events.live import WAKE, Follower, LimitReached, Note
from app.graphql.ids import encode_id
from app.graphql.types.custom_fields import CustomField
from app.graphql.types.invitations import Invitation
from app.graphql.types.staff import Staff
from app.invitations import service as invitations_service
from app.staff import service as staff_service

CLOSE_FORBIDDEN = 4403


def limit_reached(message: str, **extensions) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.LIMIT_REACHED.value, **extensions})


def fell_behind(follower: Follower) -> GraphQLError:
    """The end of a subscription that lost changes (``Follower.lost``): what it was sent is
    complete up to the last change sent, and ``eventsLost`` says changes came after it."""
    return limit_reached(
        "This subscription lost changes (more than "
        f"{follower.backlog} were waiting for it, or they could not be read): changes after "
        "the last one sent will not be sent. Subscribe again and read what you follow afresh.",
        eventsLost=True,
    )


@strawberry.enum(description="What happened to a staff record.")
class StaffChangeKind(enum.Enum):
    CREATED = "staff.created"
    UPDATED = "staff.updated"
    DISABLED = "staff.disabled"
    ENABLED = "staff.enabled"
    DELETED = "staff.deleted"
    ROLE_CHANGED = "staff.role_changed"
    MEMBER_JOINED = "member.joined"
    MEMBER_LEFT = "member.left"


for _kind in StaffChangeKind:  # each kind says who is told of it (a missing one: KeyError)
    visibility.STAFF_EVENT_FIELDS[_kind.value]


@strawberry.enum(description="What happened to an invitation.")
class InvitationChangeKind(enum.Enum):
    CREATED = "invitation.created"
    RESENT = "invitation.resent"
    ACCEPTED = "invitation.accepted"
    REVOKED = "invitation.revoked"
    EXPIRED = "invitation.expired"


@strawberry.enum(description="What happened to a custom field definition.")
class CustomFieldChangeKind(enum.Enum):
    CREATED = "custom_field.created"
    UPDATED = "custom_field.updated"
    DELETED = "custom_field.deleted"


@strawberry.type(description="A staff record changed (as the subscriber may see it).")
class StaffChange:
    event_id: strawberry.ID = strawberry.field(
        description="The event's stable id (the same for every subscriber and webhook)."
    )
    kind: StaffChangeKind = strawberry.field(description="What happened.")
    occurred_at: datetime = strawberry.field(description="When it happened.")
    staff_id: strawberry.ID = strawberry.field(description="Global id of the record.")
    staff: Staff | None = strawberry.field(
        description="The record as it is now, as the subscriber sees it; null once deleted."
    )
    changed_fields: list[str] = strawberry.field(
        description="Fields an update changed, of those the subscriber sees (API names)."
    )


@strawberry.type(description="An invitation changed (to those who may see it).")
class InvitationChange:
    event_id: strawberry.ID = strawberry.field(description="The event's stable id.")
    kind: InvitationChangeKind = strawberry.field(description="What happened.")
    occurred_at: datetime = strawberry.field(description="When it happened.")
    invitation_id: strawberry.ID = strawberry.field(description="Global id of the invitation.")
    invitation: Invitation = strawberry.field(description="The invitation as it is now.")


@strawberry.type(description="A custom field definition changed.")
class CustomFieldChange:
    event_id: strawberry.ID = strawberry.field(description="The event's stable id.")
    kind: CustomFieldChangeKind = strawberry.field(description="What happened.")
    occurred_at: datetime = strawberry.field(description="When it happened.")
    custom_field_id: strawberry.ID = strawberry.field(description="Global id of the field.")
    custom_field: CustomField | None = strawberry.field(
        description="The definition as it is now; null once deleted."
    )
    changed_fields: list[str] = strawberry.field(
        description="Fields of the definition an update changed (API names)."
    )


T = TypeVar("T")
Build = Callable[[object, Actor, Note], Awaitable[T | None]]


async def _subscriber(ctx) -> Actor:
    """The subscriber as they are now (a fresh authentication: role, membership, token),
    and the subscription priced again with the account's sizes now (``cost_check``, whose
    counts ride on the authentication's statement): one cheap in an empty account ends
    with the cost limit's error once the account is large, before an event is built."""
    await ctx.reset_unit_of_work()
    refusal = await ctx.cost_check() if ctx.cost_check is not None else None
    # whoever lost access is told so (4403), before any price their access no longer sets
    actor = await ctx.optional_actor()
    if actor is None:
        raise Unauthenticated()
    if refusal is not None:
        raise refusal
    return actor


async def _lost_access(ctx) -> None:
    """Closes the socket (4403) and waits to be cancelled with the connection."""
    await ctx.close(commit=False)
    if ctx.close_socket is not None:
        with contextlib.suppress(Exception):
            await ctx.close_socket(CLOSE_FORBIDDEN, "Forbidden")
    await asyncio.Event().wait()


async def _follow(info: Info, subject: str, build: Build[T]) -> AsyncGenerator[T, None]:
    ctx = info.context
    settings = ctx.settings
    socket = ctx.socket
    if socket is not None:  # the slot is taken before anything waits: no race past the cap
        if socket.subscriptions >= settings.subscriptions_per_connection:
            raise limit_reached("This connection has as many subscriptions as it may have.")
        socket.subscriptions += 1
    try:
        try:
            actor = await _subscriber(ctx)
        except Unauthenticated:
            await _lost_access(ctx)
            return
        await ctx.close(commit=False)
        account_id = actor.account_id
        async with ctx.live.follow(
            account_id, frozenset({subject}), user_id=actor.user_id, role=actor.role
        ) as follower:
            while True:
                if follower.lost and follower.queue.empty():
                    raise fell_behind(follower)
                note: Note | None = None
                with contextlib.suppress(TimeoutError):
                    note = await asyncio.wait_for(
                        follower.queue.get(), settings.subscription_recheck_seconds
                    )
                if note is WAKE:  # woken to be told it lost changes (above)
                    continue
                try:
                    actor = await _subscriber(ctx)
                    if actor.account_id != account_id:  # no longer of the account followed
                        raise Unauthenticated()
                    item = await build(ctx, actor, note) if note is not None else None
                except Unauthenticated:
                    await _lost_access(ctx)
                    return
                if item is None:
                    await ctx.close(commit=False)
                    continue
                yield item  # resolved, then the unit of work ends (RequestLifecycle)
    except LimitReached as exc:
        raise limit_reached(exc.message) from None
    finally:
        if socket is not None:
            socket.subscriptions -= 1


async def _staff(ctx, actor: Actor, note: Note) -> StaffChange | None:
    kind = StaffChangeKind(note.type)
    staff = None
    if kind is StaffChangeKind.DELETED:
        if not visibility.staff_deletion_seen(actor):
            return None
        names: list[str] = []
    else:
        async with ctx.db() as session:
            row = (await staff_service.get_many(session, actor, [note.subject_id])).get(
                note.subject_id
            )
        if row is None:  # gone since, or not in this subscriber's sight
            return None
        names = visibility.staff_fields_seen(actor, row.id, row.restricted, note.fields)
        if kind is StaffChangeKind.UPDATED and not names:
            return None
        if not visibility.staff_event_seen(actor, row.id, row.restricted, note.type):
            return None
        staff = Staff.build(row, actor)
    return StaffChange(
        event_id=strawberry.ID(note.uid),
        kind=kind,
        occurred_at=note.occurred_at,
        staff_id=strawberry.ID(encode_id("Staff", note.subject_id)),
        staff=staff,
        changed_fields=names,
    )


async def _invitation(ctx, actor: Actor, note: Note) -> InvitationChange | None:
    async with ctx.db() as session:
        row = await invitations_service.find_invitation(session, actor, note.subject_id)
    if row is None:
        return None
    return InvitationChange(
        event_id=strawberry.ID(note.uid),
        kind=InvitationChangeKind(note.type),
        occurred_at=note.occurred_at,
        invitation_id=strawberry.ID(encode_id("Invitation", note.subject_id)),
        invitation=Invitation(_row=row, _actor=actor),
    )


async def _custom_field(ctx, actor: Actor, note: Note) -> CustomFieldChange | None:
    kind = CustomFieldChangeKind(note.type)
    field = None
    if kind is CustomFieldChangeKind.DELETED:
        if not visibility.custom_field_deletion_seen(actor):
            return None
    else:
        try:
            async with ctx.db() as session:
                field = CustomField(
                    _row=await custom_fields.get_field(session, actor, note.subject_id)
                )
        except DomainError:
            return None
    return CustomFieldChange(
        event_id=strawberry.ID(note.uid),
        kind=kind,
        occurred_at=note.occurred_at,
        custom_field_id=strawberry.ID(encode_id("CustomField", note.subject_id)),
        custom_field=field,
        changed_fields=visibility.custom_field_names(note.fields),
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Staff records of the account as they change: created, updated (which "
        "fields), disabled, enabled, deleted, role changed, joined, left. Each change "
        "reaches a subscriber as they may see it."
    )
    async def staff_changed(self, info: Info) -> AsyncGenerator[StaffChange, None]:
        async for item in _follow(info, "Staff", _staff):
            yield item

    @strawberry.subscription(
        description="Invitations as they change, to those who may see them (administrators "
        "all, other inviters their own)."
    )
    async def invitation_changed(self, info: Info) -> AsyncGenerator[InvitationChange, None]:
        async for item in _follow(info, "Invitation", _invitation):
            yield item

    @strawberry.subscription(
        description="Custom field definitions as they are created, changed or deleted."
    )
    async def custom_field_changed(self, info: Info) -> AsyncGenerator[CustomFieldChange, None]:
        async for item in _follow(info, "CustomField", _custom_field):
            yield item
