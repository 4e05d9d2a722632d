"""Changing one's own email: set only once the new address confirms it.

``staffUpdate`` of one's own email does not change it. It emails a single-use link to the
new address (and nowhere else) and answers the same whether or not another record of the
account has that address, so a member without the ViewPersonalData permit cannot use it
to learn who is in the account. Following the link sets the email if it is still free,
else says that it is taken (to the holder of that mailbox only). This holds for everyone
changing their own record, permit holders too: it also proves the address is theirs.
Holders of the permit editing someone else's record change it directly (TAKEN if used).

The staff email is the record's contact address in its account; the login email
(``users.email``) is not changed by any of this.

The token is ``<random>.<record id and address, base64>``; only its SHA-256 digest is
stored (``user_tokens``), so the address cannot be swapped without the digest changing,
and nothing usable is kept at rest.

A link dies with a newer link, with a password reset or change of its user (whoever held
the session that asked for it may be the one locked out; ``app.identity.recovery`` marks
it used, so ``user_tokens`` refuses it before ``_record_of`` is reached), and with the
disabling of the record (``_record_of``).
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor
from app.accounts.models import Account
from app.db.base import utcnow
from app.db.unique import claim
from app.email.links import build_link
from app.email.outbox import allows_unasked, enqueue
from app.errors import DomainError, ErrorCode
from app.identity import user_tokens
from app.identity.credentials import TokenGate
from app.identity.models import UserToken, UserTokenPurpose
from app.security.tokens import new_token, token_digest
from app.staff import stamps
from app.staff.errors import StaffEmailTaken
from app.staff.models import AccountStatus, Staff
from app.staff.readdress import readdress

PURPOSE = UserTokenPurpose.EMAIL_CHANGE
MAX_TOKEN_LENGTH = 600  # the random part, a record id and an address of up to 254 characters
PATH = "/email/change"


def _token(staff_id: int, email: str) -> str:
    bound = base64.urlsafe_b64encode(f"{staff_id}:{email}".encode()).decode().rstrip("=")
    return f"{new_token('re')}.{bound}"


def _bound(token: str) -> tuple[int, str]:
    """The record and address a (digest-checked) token was issued for."""
    try:
        bound = token.rsplit(".", 1)[1]
        raw = base64.urlsafe_b64decode(bound + "=" * (-len(bound) % 4)).decode()
        staff_id, email = raw.split(":", 1)
        return int(staff_id), email
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid() from None


def _invalid() -> DomainError:
    return DomainError("This link is not valid.", field=["token"], code=ErrorCode.INVALID_TOKEN)


async def request_change(
    session: AsyncSession, settings, actor: Actor, staff: Staff, email: str
) -> bool:
    """Email a confirmation link for ``email`` (already validated) to that address.

    At most one link per cooldown (``password_reset_cooldown_seconds``, as for the other
    emailed links); a new link ends the earlier ones. Returns whether one was sent; the
    caller answers the same either way.
    """
    latest = await session.scalar(
        select(UserToken.created_at)
        .where(UserToken.user_id == actor.user_id, UserToken.purpose == PURPOSE)
        .order_by(UserToken.created_at.desc())
        .limit(1)
    )
    cooldown = timedelta(seconds=settings.password_reset_cooldown_seconds)
    now = utcnow()
    if latest is not None and now - latest < cooldown:
        return False
    if not await allows_unasked(session, settings, email):  # answered alike: not sent
        return False
    await user_tokens.invalidate(session, actor.user_id, PURPOSE)
    token = _token(staff.id, email)
    row = UserToken(
        user_id=actor.user_id,
        purpose=PURPOSE,
        digest=token_digest(token),
        created_at=now,
        expires_at=now + timedelta(hours=settings.email_verification_ttl_hours),
    )
    session.add(row)
    await session.flush()
    account = await session.get_one(Account, staff.account_id)
    await enqueue(
        session,
        settings.keyring,
        template="email_change",
        to=email,
        account_id=staff.account_id,
        context={
            "email": email,
            "account": account.name,
            "expires": row.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            "link": build_link(settings, PATH, token),
        },
    )
    return True


async def check_link(session: AsyncSession, tokens: TokenGate, token: str) -> None:
    """The error ``confirm_change`` would give for this link before looking at the
    address (whether it is taken is told only on use), without using it."""
    row = await user_tokens.peek(session, tokens, token, {PURPOSE}, max_length=MAX_TOKEN_LENGTH)
    await _record_of(session, row, token)


async def _record_of(session: AsyncSession, row: UserToken, token: str) -> tuple[Staff, str]:
    """The record a valid link changes, and the address it sets."""
    staff_id, email = _bound(token)
    staff = await session.get(Staff, staff_id)
    if (
        staff is None
        or staff.user_id != row.user_id
        or staff.account_status == AccountStatus.DISABLED
        # asked for before the member was disabled (or deleted and invited again): like
        # their sessions from then, it no longer acts in this membership
        or (staff.tokens_valid_from is not None and row.created_at <= staff.tokens_valid_from)
    ):
        raise _invalid()
    return staff, email


async def confirm_change(session: AsyncSession, tokens: TokenGate, token: str) -> Staff:
    """Use a confirmation link once: the record's email becomes the confirmed address,
    if no other record of the account has it (else TAKEN, and the link stays usable)."""
    row = await user_tokens.consume(
        session, tokens, token, {PURPOSE}, max_length=MAX_TOKEN_LENGTH
    )
    staff, email = await _record_of(session, row, token)
    if staff.email == email:
        return staff
    clash = await session.scalar(
        select(Staff.id).where(
            Staff.account_id == staff.account_id, Staff.email == email, Staff.id != staff.id
        )
    )
    if clash is not None:
        raise StaffEmailTaken("token")
    # a concurrent change may take the address after the check
    async with claim(session, {"uq_staff_account_id_email": lambda: StaffEmailTaken("token")}):
        await readdress(session, staff, email)
        staff.email = email
        stamps.touch(staff, ["email"], utcnow())
    return staff
