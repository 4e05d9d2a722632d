"""Turning a user into an active member: shared by accept, join links and registration."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Role
from app.accounts.service import next_staff_sid
from app.db.base import utcnow
from app.identity.models import User
from app.invitations.errors import AlreadyMember
from app.staff.models import AccountStatus, Staff
from app.validation import name_key


async def member_of(session: AsyncSession, account_id: int, user_id: int) -> Staff | None:
    return await session.scalar(
        select(Staff).where(Staff.account_id == account_id, Staff.user_id == user_id)
    )


async def activate(
    session: AsyncSession,
    *,
    account_id: int,
    user: User,
    role: Role,
    first_name: str | None,
    last_name: str | None,
    staff: Staff | None = None,
) -> Staff:
    """Link ``user`` to ``staff`` (or a new record) as an ACTIVE member with ``role``."""
    existing = await member_of(session, account_id, user.id)
    if existing is not None and (staff is None or existing.id != staff.id):
        raise AlreadyMember()
    first = first_name or user.first_name or ""  # never a name made up from the email
    last = last_name or user.last_name or ""
    if staff is None:
        staff = await session.scalar(
            select(Staff).where(Staff.account_id == account_id, Staff.email == user.email)
        )
        if staff is not None and (
            staff.user_id not in (None, user.id)
            # disabled by an administrator: only enabling it brings it back
            or staff.account_status == AccountStatus.DISABLED
        ):
            raise AlreadyMember()
    if staff is None:
        staff = Staff(
            account_id=account_id,
            sid=await next_staff_sid(session, account_id),
            first_name=first,
            last_name=last,
            last_name_key=name_key(last),
            email=user.email,
            start_date=date.today(),
            created_at=utcnow(),
        )
        session.add(staff)
    elif first_name or last_name or not (staff.first_name or staff.last_name):
        # Names given now, or a nameless record taking the login's names.
        staff.first_name = first
        staff.last_name = last
        staff.last_name_key = name_key(last)
    staff.user_id = user.id
    staff.role = role
    staff.account_status = AccountStatus.ACTIVE
    staff.modified_at = utcnow()
    await session.flush()
    return staff
