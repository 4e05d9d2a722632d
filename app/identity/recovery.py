"""Password reset by emailed link, password change, and the emails that go with them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit, require
from app.db.base import utcnow
from app.email.links import build_link, check_redirect, forgot_password_link
from app.email.outbox import enqueue
from app.errors import DomainError, ErrorCode
from app.identity import user_tokens
from app.identity.answered_first import defer_audited
from app.identity.credentials import PasswordGate, TokenGate
from app.identity.errors import WeakPassword
from app.identity.models import TokenKind, User, UserToken, UserTokenPurpose
from app.identity.service import end_tokens, get_user_by_email, issue_token, lock_user
from app.security.passwords import PasswordService, password_problem
from app.staff import access
from app.staff.membership import confirm_memberships


def _when(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC")


async def send_reset_link(
    session: AsyncSession,
    settings,
    user: User,
    *,
    redirect_url: str | None = None,
    account_id: int | None = None,
) -> bool:
    """Email a reset link unless one was sent within the cooldown. Returns whether sent."""
    latest = await session.scalar(
        select(UserToken.created_at)
        .where(UserToken.user_id == user.id, UserToken.purpose == UserTokenPurpose.PASSWORD_RESET)
        .order_by(UserToken.created_at.desc())
        .limit(1)
    )
    cooldown = timedelta(seconds=settings.password_reset_cooldown_seconds)
    if latest is not None and utcnow() - latest < cooldown:
        return False
    ttl = timedelta(minutes=settings.password_reset_ttl_minutes)
    token, row = await user_tokens.issue(session, user.id, UserTokenPurpose.PASSWORD_RESET, ttl)
    await enqueue(
        session,
        settings.keyring,
        template="password_reset",
        to=user.email,
        account_id=account_id,
        context={
            "email": user.email,
            "expires": _when(row.expires_at),
            "link": build_link(settings, "/password/reset", token, redirect_url),
        },
    )
    return True


async def count_reset_request(session: AsyncSession, limiter, address: str | None) -> None:
    """Every way to ask for a reset link (the mutation, the /password/forgot page) counts
    against one per-address limit, before the request is looked at."""
    await limiter.hit(session, "password_reset_address", address)


async def request_reset(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    email: str,
    redirect_url: str | None = None,
    *,
    db=None,
    audit_as: tuple[str | None, str | None] | None = None,
) -> None:
    """Same answer, and the same work before it, whether or not the email belongs to
    anyone: in a request (given the database ``db``) the look-up and the link are made
    after the answer is sent, in their own transaction, always audited as
    ``passwordResetRequest`` (with ``audit_as`` = (request id, client address), which every
    adapter gives); otherwise here, in the caller's transaction."""
    redirect_url = check_redirect(settings, redirect_url)
    email = email or ""

    async def send(into: AsyncSession) -> None:
        await _send_if_known(into, settings, email, redirect_url)

    # audited like any change, whichever adapter asked
    if db is not None and defer_audited(db, "passwordResetRequest", send, audit_as, session):
        return
    await send(session)


async def _send_if_known(session: AsyncSession, settings, email: str, redirect_url) -> None:
    try:
        user = await get_user_by_email(session, email) if len(email) <= 320 else None
    except DomainError:  # not an address: nobody to send to (answered alike already)
        return
    if user is not None:
        await send_reset_link(session, settings, user, redirect_url=redirect_url)


async def _set_password(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    user: User,
    new_password: str,
    *,
    keep_token_id: int | None,
    kinds: set[TokenKind],
) -> None:
    """Set the password and end the user's tokens of ``kinds`` (but ``keep_token_id``),
    with the user's row locked once the hash is made: a login or another token issued
    meanwhile waits, and then sees the new password (``service.lock_user``)."""
    hashed = await passwords.hash(new_password, held=True)
    await lock_user(session, user.id)
    user.password_hash = hashed
    now = utcnow()
    await end_tokens(session, user.id, kinds=kinds, keep_token_id=keep_token_id, now=now)
    # every emailed link issued before (another reset or welcome link, an email change an
    # intruder asked for, a verification) dies with the old password
    await user_tokens.invalidate(session, user.id, *UserTokenPurpose)
    await enqueue(
        session,
        settings.keyring,
        template="password_changed",
        to=user.email,
        context={
            "email": user.email,
            "when": _when(now),
            "link": forgot_password_link(settings),
            "ended": (
                "every session and API token was ended"
                if keep_token_id is None
                else "every other session was signed out"
                + (" and every API token ended" if TokenKind.API in kinds else "")
            ),
        },
    )


RESET_PURPOSES = {UserTokenPurpose.PASSWORD_RESET, UserTokenPurpose.SET_PASSWORD}


async def check_reset_link(session: AsyncSession, tokens: TokenGate, token: str) -> None:
    """The error ``reset_password`` would give for this link, without using it."""
    await user_tokens.peek(session, tokens, token, RESET_PURPOSES)


async def reset_password(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    token: str,
    new_password: str,
    *,
    tokens: TokenGate,
) -> tuple[str, User]:
    """Use a reset (or welcome set-password) link once. A reset is account recovery:
    every session, API token and impersonation of the user ends.

    Returns a fresh session token. The link proves the mailbox, so the email is verified.
    """
    row = await user_tokens.consume(session, tokens, token, RESET_PURPOSES)
    user = await session.get_one(User, row.user_id)
    if problem := password_problem(new_password, user.email):
        raise WeakPassword(problem, field="new_password")
    # the accounts the login waits to join first, then the login itself (``_set_password``):
    # every request that locks both locks an account before a user
    await confirm_memberships(session, user.id)
    await _set_password(
        session, passwords, settings, user, new_password, keep_token_id=None, kinds=set(TokenKind)
    )
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    session_token, _ = await issue_token(
        session, user, kind=TokenKind.SESSION, ttl=timedelta(hours=settings.session_ttl_hours)
    )
    return session_token, user


async def change_password(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    *,
    gate: PasswordGate,
    user_id: int,
    token_id: int,
    current_password: str,
    new_password: str,
    revoke_api_tokens: bool = False,
) -> User:
    """Needs the current password (counted against the login limits); other sessions
    end, this one stays; with ``revoke_api_tokens`` every API token of the user ends too."""
    user = await session.get(User, user_id)
    if not await gate.check(session, user, current_password) or user is None:
        raise DomainError(
            "The current password is incorrect.",
            field=["current_password"],
            code=ErrorCode.INVALID_CREDENTIALS,
        )
    if problem := password_problem(new_password, user.email):
        raise WeakPassword(problem, field="new_password")
    kinds = {TokenKind.SESSION, TokenKind.API} if revoke_api_tokens else {TokenKind.SESSION}
    await _set_password(
        session, passwords, settings, user, new_password, keep_token_id=token_id, kinds=kinds
    )
    return user


async def admin_send_reset(session: AsyncSession, settings, actor: Actor, staff) -> bool:
    """An administrator sends a member a reset link (never sees or sets the password)."""
    require(actor, Permit.MANAGE_STAFF)
    if not access.can_manage(actor, staff.id, staff.role):
        raise DomainError(
            "You may not reset this member's password.",
            field=["staff_id"],
            code=ErrorCode.FORBIDDEN,
        )
    if staff.user_id is None:
        raise DomainError(
            "This staff member has no login yet.", field=["staff_id"], code=ErrorCode.INVALID_STATE
        )
    user = await session.get_one(User, staff.user_id)
    return await send_reset_link(session, settings, user, account_id=actor.account_id)
