"""A staff record's email changing away from the address its invitation went to.

An invitation is sent to the record's address of the time. When that address changes
(``staffUpdate``, SCIM's userName, the bulk import, one's own confirmed change), every
invitation of the record not yet accepted (pending, or expired and so still resendable)
that went to another address is revoked in the same transaction: its link, in the old
mailbox, no longer joins as the record, and the seat it held is free. A record left with
no invitation is NOT_INVITED again, so its new address can be invited. The revocations
are ORM changes, so the audit log and the webhooks show them as they show every other
revocation. (Inviting the record again, at any address, revokes all its invitations not
yet accepted: ``membership.revoke_open_invitations``.)

A login made for the old address and never used (no password chosen, the address never
confirmed: a registered member's, whose welcome link is still unread) is the old
address's too: it is taken from the record (``release_login``: its tokens end, the
record is NOT_INVITED) and the new address can be invited or registered. Otherwise a
typing error corrected would leave the login at the mistyped address, where whoever holds
that mailbox (its welcome link, or a password reset) would sign in as the member.

Call it before the new address is written: the invitations' rows are locked first (as
accepting one locks its invitation before its record), and on PostgreSQL an invitation
accepted meanwhile is skipped, not turned into a revoked one.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.identity.models import User
from app.invitations.models import Invitation, InvitationStatus
from app.staff import stamps
from app.staff.ending import release_login
from app.staff.models import AccountStatus, Staff
from app.validation import normalize_email

OPEN = (InvitationStatus.PENDING, InvitationStatus.EXPIRED)
CHUNK = 500  # staff ids per IN (...)


async def readdress(session: AsyncSession, staff: Staff, email: str | None) -> int:
    """``staff``'s email is about to become ``email``: see the module. Returns how many
    invitations were revoked."""
    return await readdress_many(session, [(staff, email)])


async def readdress_many(
    session: AsyncSession, changes: Iterable[tuple[Staff, str | None]]
) -> int:
    """``readdress`` for several records at once (the bulk import), in a query per 500."""
    moving = {staff.id: (staff, email) for staff, email in changes if staff.email != email}
    if not moving:
        return 0
    ids = sorted(moving)
    found: list[Invitation] = []
    for start in range(0, len(ids), CHUNK):
        found += await session.scalars(
            select(Invitation)
            .where(Invitation.staff_id.in_(ids[start : start + CHUNK]), Invitation.status.in_(OPEN))
            .order_by(Invitation.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    now = utcnow()
    revoked = 0
    kept: set[int] = set()
    for invitation in found:
        assert invitation.staff_id is not None
        _, email = moving[invitation.staff_id]
        if invitation.email == email:
            kept.add(invitation.staff_id)
            continue
        invitation.status = InvitationStatus.REVOKED
        invitation.revoked_at = now
        revoked += 1
    touched = {i.staff_id for i in found if i.staff_id is not None} - kept
    for staff_id in touched:
        staff, _ = moving[staff_id]
        if staff.account_status in (AccountStatus.INVITED, AccountStatus.INVITE_EXPIRED):
            staff.account_status = AccountStatus.NOT_INVITED
            stamps.touch(staff, ["account_status"], now)
    await _release_unused_logins(session, [staff for staff, _ in moving.values()])
    if revoked:
        await session.flush()
    return revoked


async def _release_unused_logins(session: AsyncSession, records: list[Staff]) -> None:
    """The records' logins made for their old address and never used (see the module)."""
    for staff in await unused_logins(session, records, lock=True):
        await release_login(session, staff)


async def unused_logins(
    session: AsyncSession, records: Iterable[Staff], *, lock: bool = False
) -> list[Staff]:
    """Of ``records`` (their address not yet changed), those whose login a change of
    address takes away: made for that address and never used (see the module). Such a
    record is one without a login to whoever chooses its new address
    (``staff.service.carried``). ``lock``: the logins' rows, as they are released."""
    bound = {staff.user_id: staff for staff in records if staff.user_id is not None}
    ids = sorted(bound)
    unused: list[User] = []
    for start in range(0, len(ids), CHUNK):
        statement = select(User).where(
            User.id.in_(ids[start : start + CHUNK]),
            User.password_hash.is_(None),
            User.email_verified_at.is_(None),
        )
        # a welcome link used meanwhile keeps its login (PostgreSQL checks again)
        unused += await session.scalars(statement.with_for_update() if lock else statement)
    return [
        bound[user.id]
        for user in unused
        if normalize_email(user.email) == normalize_email(bound[user.id].email or "")
    ]
