"""Provisioning from an identity provider (SCIM): finding records by the attributes an
identity provider matches on, and turning a record on and off. Only an API key with the
``scim`` scope provisions (``app.access.scopes``); what it may do beyond that is its
creator's role, as for every other request."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor
from app.access.scopes import Scope, require_scope
from app.errors import DomainError
from app.staff import membership
from app.staff.models import AccountStatus, Staff
from app.staff.queries import visible
from app.validation import clean_email

MAX_PAGE = 100


def require_provisioning(actor: Actor) -> None:
    """AccessDenied unless ``actor`` is a key with the scim scope its creator still holds."""
    require_scope(actor, Scope.SCIM)


@dataclass(frozen=True)
class Found:
    total: int
    rows: list[Staff]


async def find_for_provisioning(
    session: AsyncSession,
    actor: Actor,
    *,
    email: str | None = None,
    external_id: str | None = None,
    active: bool | None = None,
    offset: int = 0,
    limit: int = MAX_PAGE,
) -> Found:
    """The account's records matching every criterion given (email compared as stored,
    lowercased), oldest first (by sid: a stable order for startIndex paging)."""
    require_provisioning(actor)
    conditions = list(visible(actor))
    if email is not None:
        try:
            email = clean_email(email, "email")
        except DomainError:
            return Found(0, [])  # not an address: nothing has it
        conditions.append(Staff.email == email)
    if external_id is not None:
        conditions.append(Staff.external_id == external_id)
    if active is not None:
        disabled = Staff.account_status == AccountStatus.DISABLED
        conditions.append(~disabled if active else disabled)
    total = await session.scalar(select(func.count()).select_from(Staff).where(*conditions)) or 0
    limit = max(0, min(limit, MAX_PAGE))
    rows = (
        list(
            await session.scalars(
                select(Staff).where(*conditions).order_by(Staff.sid).offset(offset).limit(limit)
            )
        )
        if limit
        else []
    )
    return Found(total, rows)


async def by_sid(session: AsyncSession, actor: Actor, sid: int) -> Staff | None:
    require_provisioning(actor)
    return await session.scalar(select(Staff).where(Staff.sid == sid, *visible(actor)))


SIDS_PER_READ = 500


async def by_sids(session: AsyncSession, actor: Actor, sids: list[int]) -> dict[int, Staff]:
    """The records with these sids the actor sees, by sid (others are left out)."""
    require_provisioning(actor)
    wanted = sorted(set(sids))
    found: dict[int, Staff] = {}
    # a group of all the staff names tens of thousands: PostgreSQL takes at most 32,767
    # parameters a statement
    for start in range(0, len(wanted), SIDS_PER_READ):
        chunk = wanted[start : start + SIDS_PER_READ]
        rows = await session.scalars(select(Staff).where(Staff.sid.in_(chunk), *visible(actor)))
        found.update((row.sid, row) for row in rows)
    return found


def is_active(staff: Staff) -> bool:
    """SCIM's ``active``: every record but a disabled one."""
    return staff.account_status != AccountStatus.DISABLED


async def set_active(session: AsyncSession, actor: Actor, staff: Staff, active: bool) -> Staff:
    """Deprovisioning disables (data kept, seat freed, tokens ended); provisioning again
    enables (a login needs a free seat). Setting the state a record already has is a
    no-op, as identity providers repeat themselves."""
    require_provisioning(actor)
    if active == is_active(staff):
        return staff
    if active:
        return await membership.enable(session, actor, staff.id)
    return await membership.disable(session, actor, staff.id)
