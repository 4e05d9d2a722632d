"""Writing and reading the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit
from app.audit.models import AuditEntry
from app.errors import AccessDenied, DomainError

# Which changed row an entry is "about", most specific first.
TARGET_PRIORITY = [
    "staff",
    "invitations",
    "join_requests",
    "join_links",
    "custom_fields",
    "staff_statuses",
    "projects",
    "project_members",
    "accounts",
    "users",
    "auth_tokens",
    "user_tokens",
]
TYPE_NAMES = {
    "staff": "Staff",
    "invitations": "Invitation",
    "join_requests": "JoinRequest",
    "join_links": "JoinLink",
    "custom_fields": "CustomField",
    "staff_statuses": "StaffStatus",
    "projects": "Project",
    "project_members": "ProjectMember",
    "accounts": "Account",
    "users": "User",
    "auth_tokens": "ApiToken",
    "user_tokens": "UserToken",
    "project_team_roles": "ProjectTeamRole",
    "staff_shares": "StaffShare",
    "staff_permit_grants": "StaffPermitGrant",
    "custom_field_values": "CustomFieldValue",
}


@dataclass(frozen=True)
class Who:
    """The person behind a change; for public mutations there may be no actor."""

    user_id: int | None
    staff_id: int | None
    account_id: int | None
    name: str | None = None
    impersonator_user_id: int | None = None


# Rows without an id of their own (link rows) are about what they link.
LINK_COLUMNS = [("project_id", "Project"), ("staff_id", "Staff")]


def _named(action: str) -> list[str]:
    """Tables of the record a mutation is named after (staffStatusCreate -> staff_statuses)."""
    return sorted(
        (
            t
            for t, name in TYPE_NAMES.items()
            if action.startswith(name[0].lower() + name[1:])
            and action[len(name) : len(name) + 1].isupper()
        ),
        key=lambda t: -len(TYPE_NAMES[t]),
    )


def _created(changes: list[dict], action: str) -> tuple[str, int] | None:
    for table in _named(action):
        for change in changes:
            if change["table"] == table and change["op"] == "insert" and change["id"]:
                return TYPE_NAMES[table], change["id"]
    return None


def _target(changes: list[dict], action: str = "") -> tuple[str | None, int | None]:
    for table in _named(action) + TARGET_PRIORITY:
        for change in changes:
            if change["table"] == table and change["id"] is not None:
                return TYPE_NAMES.get(table, table), change["id"]
    for column, type_name in LINK_COLUMNS:
        for change in changes:
            before, after = change["fields"].get(column, [None, None])
            if after or before:
                return type_name, after or before
    return None, None


def _account_of(changes: list[dict]) -> int | None:
    for change in changes:
        if change.get("account_id"):
            return change["account_id"]
        if change["table"] == "accounts":
            return change["id"]
    return None


async def record(
    session: AsyncSession,
    *,
    action: str,
    who: Who,
    changes: list[dict],
    request_id: str | None,
    client_address: str | None,
    target: tuple[str, int] | None = None,
) -> AuditEntry:
    """The target is the record created, else the one the client named (``target``, from
    its input), else the most specific one changed."""
    target_type, target_id = _created(changes, action) or target or _target(changes, action)
    entry = AuditEntry(
        account_id=who.account_id or _account_of(changes),
        actor_user_id=who.user_id,
        actor_staff_id=who.staff_id,
        actor_name=who.name,
        impersonator_user_id=who.impersonator_user_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        diff=changes,
        request_id=request_id,
        client_address=client_address,
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    actor_staff_id: int | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_entries(
    session: AsyncSession, actor: Actor, *, first: int, after: int | None, f: AuditFilter
) -> tuple[list[AuditEntry], bool]:
    """Newest first, for administrators; keyset by id."""
    if not actor.can(Permit.MANAGE_ACCOUNT):
        raise AccessDenied("Only administrators read the audit log.")
    if not 0 <= first <= 100:
        raise DomainError("first must be between 0 and 100.", field=["first"])
    stmt = select(AuditEntry).where(AuditEntry.account_id == actor.account_id)
    if f.actor_staff_id is not None:
        stmt = stmt.where(AuditEntry.actor_staff_id == f.actor_staff_id)
    if f.action and "\x00" in f.action:  # PostgreSQL refuses NUL as a parameter
        raise DomainError("action contains characters that are not allowed.", field=["action"])
    if f.action:
        stmt = stmt.where(AuditEntry.action == f.action)
    if f.target_type:
        stmt = stmt.where(AuditEntry.target_type == f.target_type)
    if f.target_id is not None:
        stmt = stmt.where(AuditEntry.target_id == f.target_id)
    if f.since:
        stmt = stmt.where(AuditEntry.created_at >= f.since)
    if f.until:
        stmt = stmt.where(AuditEntry.created_at < f.until)
    if after is not None:
        stmt = stmt.where(AuditEntry.id < after)
    rows = list(await session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(first + 1)))
    return rows[:first], len(rows) > first
