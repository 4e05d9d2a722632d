"""Ending a membership's login: its tokens, and the cut that keeps them ended.

Shared by what ends a member's access (``app.staff.membership``: disable, delete, an
unconfirmed membership's lapse) and what takes a record's login away from it
(``app.staff.readdress``: an address corrected away from a login never used).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.identity.models import TokenKind
from app.identity.service import end_tokens
from app.staff import stamps
from app.staff.models import AccountStatus, EndedMembership, Staff


async def end_member_tokens(session: AsyncSession, staff: Staff) -> None:
    """End every token with which the member's user could act in this account. Tokens
    bound to it (the user's API and impersonation tokens, and impersonations the user
    started here) are revoked. Session tokens are not bound to an account and go on
    working in the user's other accounts: ``tokens_valid_from`` keeps every token issued
    until now out of this membership for good (see the authentication query)."""
    if staff.user_id is None:
        return
    now = utcnow()
    staff.tokens_valid_from = now
    await end_tokens(
        session, staff.user_id, kinds=set(TokenKind), account_id=staff.account_id, now=now
    )


async def remember_end(session: AsyncSession, staff: Staff) -> None:
    """The ended membership's cut (``end_member_tokens``) kept for the account
    (``EndedMembership``), so that a later membership of the same login revives none of
    the tokens it had."""
    if staff.user_id is None or staff.tokens_valid_from is None:
        return
    ended = await session.get(EndedMembership, (staff.account_id, staff.user_id))
    if ended is None:
        session.add(
            EndedMembership(
                account_id=staff.account_id, user_id=staff.user_id, ended_at=staff.tokens_valid_from
            )
        )
    else:
        ended.ended_at = staff.tokens_valid_from


async def release_login(session: AsyncSession, staff: Staff) -> None:
    """The record keeps its data but no longer its login: the login's tokens end here for
    good, and the record is NOT_INVITED (its seat is free; its address can be invited),
    unless it is DISABLED, which it stays (an administrator's decision)."""
    await end_member_tokens(session, staff)
    await remember_end(session, staff)
    staff.user_id = None
    staff.tokens_valid_from = None
    if staff.account_status not in (AccountStatus.NOT_INVITED, AccountStatus.DISABLED):
        staff.account_status = AccountStatus.NOT_INVITED
        stamps.touch(staff, ["account_status"], utcnow())
