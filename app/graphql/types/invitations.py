from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import strawberry
from strawberry.types import Info

from app.access import Actor
from app.db.base import utcnow
from app.errors import DomainError
from app.graphql import loaders
from app.graphql.enums import InvitationStatus, JoinRequestStatus, Role, StaffKind
from app.graphql.errors import bad_input
from app.graphql.ids import decode_after, decode_id, encode_id
from app.graphql.types.common import Node, PageInfo, after_page_info
from app.graphql.types.staff import Staff
from app.invitations import service as invitations_service
from app.invitations.models import Invitation as InvitationRow
from app.invitations.models import JoinLink as JoinLinkRow
from app.invitations.models import JoinRequest as JoinRequestRow
from app.invitations.queries import effective_status
from app.invitations.service import shows_personal


@strawberry.type(
    description="An emailed invitation to join the account (inviters who do not administer "
    "see only those they sent)."
)
class Invitation(Node):
    _row: strawberry.Private[InvitationRow]
    _actor: strawberry.Private[Actor]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Invitation", self._row.id))

    @strawberry.field(
        description="Invited email (normalised); personal data: null unless you hold "
        "ViewPersonalData or it is your own."
    )
    def email(self) -> str | None:
        return self._row.email if shows_personal(self._actor, self._row) else None

    @strawberry.field(description="Role the person gets on accepting.")
    def role(self) -> Role:
        return self._row.role

    @strawberry.field(description="PENDING, ACCEPTED, REVOKED or EXPIRED.")
    def status(self) -> InvitationStatus:
        return effective_status(self._row, utcnow())

    @strawberry.field(description="How many times the invitation was sent.")
    def sent_count(self) -> int:
        return self._row.sent_count

    @strawberry.field(description="When it was last sent.")
    def last_sent_at(self) -> datetime:
        return self._row.last_sent_at

    @strawberry.field(description="When the link stops working.")
    def expires_at(self) -> datetime:
        return self._row.expires_at

    @strawberry.field(description="When it was created.")
    def created_at(self) -> datetime:
        return self._row.created_at

    @strawberry.field(description="When it was accepted.")
    def accepted_at(self) -> datetime | None:
        return self._row.accepted_at

    @strawberry.field(
        description="Personal message included in the email; null unless you hold "
        "ViewPersonalData or it is your own."
    )
    def message(self) -> str | None:
        return self._row.message if shows_personal(self._actor, self._row) else None

    @strawberry.field(description="Who invited.")
    async def inviter(self, info: Info) -> Staff | None:
        if self._row.inviter_staff_id is None:
            return None
        row = await loaders.staff_by_id(info.context, self._actor).load(self._row.inviter_staff_id)
        return Staff.build(row, self._actor) if row else None

    @strawberry.field(description="The staff record the invitation is for.")
    async def staff(self, info: Info) -> Staff | None:
        if self._row.staff_id is None:
            return None
        row = await loaders.staff_by_id(info.context, self._actor).load(self._row.staff_id)
        return Staff.build(row, self._actor) if row else None


@strawberry.type(description="An edge in the invitation connection.")
class InvitationEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: Invitation = strawberry.field(description="The invitation.")


@strawberry.type(description="A page of invitations, newest first.")
class InvitationConnection:
    edges: list[InvitationEdge] = strawberry.field(description="This page.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Invitations matching the filters, across all pages.")
    async def total_count(self) -> int:
        return await self._count()


async def invitation_page(
    ctx,
    first: int = 50,
    after: str | None = None,
    status: InvitationStatus | None = None,
    staff_id: str | None = None,
    email: str | None = None,
) -> InvitationConnection:
    """A page of invitations as the request's actor sees them, from the ``invitations``
    arguments (the resolver's and the compiled plan's): a refused query is
    BAD_USER_INPUT."""
    async with ctx.as_actor() as (session, actor):
        return await _invitation_page(ctx, session, actor, first, after, status, staff_id, email)


async def _invitation_page(
    ctx,
    session,
    actor: Actor,
    first: int,
    after: str | None,
    status: InvitationStatus | None,
    staff_id: str | None,
    email: str | None,
) -> InvitationConnection:
    criteria = invitations_service.InvitationFilter(
        status=status, staff_id=decode_id(staff_id, "Staff"), email=email
    )
    try:
        rows, has_next = await invitations_service.list_invitations(
            session,
            actor,
            first=first,
            after=decode_after(after, "Invitation"),
            filter=criteria,
        )
    except DomainError as exc:
        raise bad_input(exc.message) from None
    edges = [
        InvitationEdge(cursor=encode_id("Invitation", r.id), node=Invitation(_row=r, _actor=actor))
        for r in rows
    ]

    async def count() -> int:  # awaited only if totalCount is selected
        async with ctx.db() as counting:
            return await invitations_service.count_invitations(counting, actor, filter=criteria)

    return InvitationConnection(
        edges=edges,
        page_info=after_page_info(edges, has_next, after),
        _count=count,
    )


@strawberry.type(description="What the holder of an invitation link may see before accepting.")
class InvitationPreview:
    account_name: str = strawberry.field(description="The account's name.")
    inviter_name: str | None = strawberry.field(description="Who invited.")
    role: Role = strawberry.field(description="The role offered.")
    status: InvitationStatus = strawberry.field(description="Whether it can still be accepted.")
    expires_at: datetime = strawberry.field(description="When the link stops working.")


@strawberry.type(description="A shareable link into the account.")
class JoinLink(Node):
    _row: strawberry.Private[JoinLinkRow]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("JoinLink", self._row.id))

    @strawberry.field(description="Role of those who join.")
    def role(self) -> Role:
        return self._row.role

    @strawberry.field(description="Kind of record newcomers get (customers and vendors: guests).")
    def kind(self) -> StaffKind:
        return self._row.kind

    @strawberry.field(description="When the link stops working (null: never).")
    def expires_at(self) -> datetime | None:
        return self._row.expires_at

    @strawberry.field(description="Uses allowed (null: unlimited).")
    def max_uses(self) -> int | None:
        return self._row.max_uses

    @strawberry.field(description="Times used.")
    def uses(self) -> int:
        return self._row.uses

    @strawberry.field(description="Only addresses at these domains may join (empty: any).")
    def allowed_domains(self) -> list[str]:
        return list(self._row.allowed_domains or [])

    @strawberry.field(description="Joins wait for an administrator's approval.")
    def requires_approval(self) -> bool:
        return self._row.requires_approval

    @strawberry.field(description="Turned off.")
    def disabled(self) -> bool:
        return self._row.disabled_at is not None


@strawberry.type(description="Someone waiting for approval to join through a join link.")
class JoinRequest(Node):
    _row: strawberry.Private[JoinRequestRow]
    _email: strawberry.Private[str | None]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("JoinRequest", self._row.id))

    @strawberry.field(description="Their email (personal data: null without ViewPersonalData).")
    def email(self) -> str | None:
        return self._email

    @strawberry.field(description="Given name.")
    def first_name(self) -> str:
        return self._row.first_name

    @strawberry.field(description="Family name.")
    def last_name(self) -> str:
        return self._row.last_name

    @strawberry.field(description="Role they would get.")
    def role(self) -> Role:
        return self._row.role

    @strawberry.field(description="PENDING, APPROVED or REJECTED.")
    def status(self) -> JoinRequestStatus:
        return self._row.status

    @strawberry.field(description="When they asked.")
    def created_at(self) -> datetime:
        return self._row.created_at
