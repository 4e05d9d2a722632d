from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.access import Actor
from app.audit import service as audit_service
from app.audit.models import AuditEntry as AuditEntryRow
from app.audit.service import DIFF_ROWS_PER_ENTRY
from app.errors import DomainError
from app.graphql.errors import bad_input
from app.graphql.ids import decode_after, decode_any, decode_id, encode_id
from app.graphql.types.common import Node, PageInfo, after_page_info


@strawberry.type(description="One change in the account, as it happened.")
class AuditEntry(Node):
    _row: strawberry.Private[AuditEntryRow]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("AuditEntry", self._row.id))

    @strawberry.field(description="The mutation, e.g. staffUpdate.")
    def action(self) -> str:
        return self._row.action

    @strawberry.field(description="Staff id of who did it (null for public actions).")
    def actor_staff_id(self) -> strawberry.ID | None:
        sid = self._row.actor_staff_id
        return strawberry.ID(encode_id("Staff", sid)) if sid else None

    @strawberry.field(description="User id of who did it.")
    def actor_user_id(self) -> strawberry.ID | None:
        uid = self._row.actor_user_id
        return strawberry.ID(encode_id("User", uid)) if uid else None

    @strawberry.field(description="User id of the administrator impersonating the actor.")
    def impersonator_user_id(self) -> strawberry.ID | None:
        uid = self._row.impersonator_user_id
        return strawberry.ID(encode_id("User", uid)) if uid else None

    @strawberry.field(description="Type of the main record changed.")
    def target_type(self) -> str | None:
        return self._row.target_type

    @strawberry.field(description="Global id of the main record changed.")
    def target_id(self) -> strawberry.ID | None:
        if self._row.target_type is None or self._row.target_id is None:
            return None
        return strawberry.ID(encode_id(self._row.target_type, self._row.target_id))

    @strawberry.field(
        description="Rows changed: table, op, fields {column: [before, after]}; "
        "secrets and personal data are redacted, and without ViewPersonalData personal "
        "fields (and personal custom fields' values) are left out. At most "
        f"{DIFF_ROWS_PER_ENTRY} rows: a mutation that changed more rows is logged as "
        "several entries with the same requestId (written together, in order)."
    )
    def diff(self) -> JSON:
        return JSON(self._row.diff)

    @strawberry.field(description="Request id (matches X-Request-Id and the server log).")
    def request_id(self) -> str | None:
        return self._row.request_id

    @strawberry.field(
        description="The network address it was made from (personal data: null without "
        "ViewPersonalData)."
    )
    def client_address(self) -> str | None:
        return self._row.client_address

    @strawberry.field(description="When.")
    def created_at(self) -> datetime:
        return self._row.created_at


@strawberry.type(description="An edge in the audit log.")
class AuditEntryEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: AuditEntry = strawberry.field(description="The entry.")


@strawberry.type(description="A page of the audit log, newest first.")
class AuditEntryConnection:
    edges: list[AuditEntryEdge] = strawberry.field(description="This page.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Entries matching the filter, across all pages.")
    async def total_count(self) -> int:
        return await self._count()


@strawberry.input(description="Narrow the audit log.")
class AuditLogFilter:
    actor_staff_id: strawberry.ID | None = strawberry.field(default=None, description="Who.")
    action: str | None = strawberry.field(default=None, description="Mutation name.")
    target_id: strawberry.ID | None = strawberry.field(default=None, description="What.")
    since: datetime | None = strawberry.field(default=None, description="From (inclusive).")
    until: datetime | None = strawberry.field(default=None, description="To (exclusive).")


async def audit_page(
    ctx,
    first: int = 50,
    after: str | None = None,
    filter: AuditLogFilter | None = None,
) -> AuditEntryConnection:
    """A page of the audit log as the request's actor sees it, from the ``auditLog``
    arguments (the resolver's and the compiled plan's): a refused query is
    BAD_USER_INPUT."""
    async with ctx.as_actor() as (session, actor):
        return await _audit_page(ctx, session, actor, first, after, filter)


async def _audit_page(
    ctx, session, actor: Actor, first: int, after: str | None, filter: AuditLogFilter | None
) -> AuditEntryConnection:
    f = filter or AuditLogFilter()
    target = decode_any(f.target_id) if f.target_id else None
    criteria = audit_service.AuditFilter(
        actor_staff_id=decode_id(f.actor_staff_id, "Staff"),
        action=f.action,
        target_type=target[0] if target else None,
        target_id=target[1] if target else (0 if f.target_id else None),
        since=f.since,
        until=f.until,
    )
    try:
        rows, has_next = await audit_service.list_entries(
            session,
            actor,
            first=first,
            after=decode_after(after, "AuditEntry"),
            f=criteria,
        )
    except DomainError as exc:
        raise bad_input(exc.message) from None
    edges = [
        AuditEntryEdge(cursor=encode_id("AuditEntry", r.id), node=AuditEntry(_row=r)) for r in rows
    ]

    async def count() -> int:  # awaited only if totalCount is selected
        async with ctx.db() as counting:
            return await audit_service.count_entries(counting, actor, criteria)

    return AuditEntryConnection(
        edges=edges,
        page_info=after_page_info(edges, has_next, after),
        _count=count,
    )
