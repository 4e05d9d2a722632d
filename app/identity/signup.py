"""Self sign-up (a user and a new account they own) and email verification."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.service import check_new_account, create_pending_account
from app.db.base import utcnow
from app.email.links import build_link, forgot_password_link
from app.email.outbox import enqueue
from app.errors import DomainError, ErrorCode
from app.identity import user_tokens
from app.identity.answered_first import defer_audited
from app.identity.credentials import PasswordGate, TokenGate
from app.identity.errors import EmailTaken, WeakPassword
from app.identity.models import TokenKind, User, UserToken, UserTokenPurpose
from app.identity.notices import send_notice
from app.identity.service import create_user, get_user_by_email, issue_token
from app.security.passwords import PasswordService, password_problem
from app.security.rate_limits import RateLimiter
from app.staff.membership import confirm_memberships
from app.validation import clean_email, clean_text

SIGNUP_SEATS = 5


async def send_verification(session: AsyncSession, settings, user: User) -> bool:
    latest = await session.scalar(
        select(UserToken.created_at)
        .where(
            UserToken.user_id == user.id, UserToken.purpose == UserTokenPurpose.EMAIL_VERIFICATION
        )
        .order_by(UserToken.created_at.desc())
        .limit(1)
    )
    if latest is not None and utcnow() - latest < timedelta(
        seconds=settings.password_reset_cooldown_seconds
    ):
        return False
    await user_tokens.invalidate(session, user.id, UserTokenPurpose.EMAIL_VERIFICATION)
    token, row = await user_tokens.issue(
        session,
        user.id,
        UserTokenPurpose.EMAIL_VERIFICATION,
        timedelta(hours=settings.email_verification_ttl_hours),
    )
    await enqueue(
        session,
        settings.keyring,
        template="email_verification",
        to=user.email,
        context={
            "email": user.email,
            "expires": row.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            "link": build_link(settings, "/email/verify", token),
        },
    )
    return True


async def signup(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    account_name: str,
    account_slug: str | None = None,
    limiter: RateLimiter,
) -> None:
    """Creates an unverified user and their account, and emails a verification link.

    An email that already has a user gets the same answer; that person is emailed a
    note instead (a notice, at most one a day: ``app.identity.notices``), so sign-up cannot
    be used to learn who has an account. Hence every
    input (the account's name and slug included) is checked before the email is looked
    up: a bad or taken slug is the same error for a known and an unknown address; and the
    new account takes its slug only once its owner confirms their email
    (``create_pending_account``), so what a sign-up leaves behind does not tell either.
    """
    normalized = clean_email(email, required=True)
    if problem := password_problem(password, normalized):
        raise WeakPassword(problem)
    first = clean_text(first_name, "first_name", max_length=100, required=True, label="First name")
    last = clean_text(last_name, "last_name", max_length=100, required=True, label="Last name")
    account_name, account_slug = await check_new_account(
        session, name=account_name, slug=account_slug
    )
    existing = await get_user_by_email(session, normalized)
    if existing is not None:
        await passwords.hash(password, held=True)  # same work as the other branch
        await _account_exists(session, settings, limiter, existing.email)
        return
    try:
        user = await create_user(
            session,
            passwords,
            email=normalized,
            password=password,
            first_name=first,
            last_name=last,
        )
    except EmailTaken:  # a concurrent sign-up of this address won: answer as for an existing one
        await _account_exists(session, settings, limiter, normalized)
        return
    await create_pending_account(
        session,
        name=account_name,
        owner=user,
        slug=account_slug,
        seat_limit=SIGNUP_SEATS,
        owner_first_name=first,
        owner_last_name=last,
    )
    await send_verification(session, settings, user)


async def _account_exists(
    session: AsyncSession, settings, limiter: RateLimiter, email: str
) -> None:
    """Tell ``email``'s owner someone signed up with it (a notice: at most one a day)."""
    await send_notice(
        session,
        settings,
        limiter,
        template="account_exists",
        to=email,
        context={"email": email, "link": forgot_password_link(settings)},
    )


async def check_verification_link(session: AsyncSession, tokens: TokenGate, token: str) -> None:
    """The error ``verify_email`` would give for this link, without using it."""
    await user_tokens.peek(session, tokens, token, {UserTokenPurpose.EMAIL_VERIFICATION})


async def verify_email(
    session: AsyncSession,
    settings,
    token: str,
    *,
    password: str | None,
    tokens: TokenGate,
    gate: PasswordGate,
) -> tuple[str, User]:
    """Confirm the address of the link's login, and sign its reader in.

    A login with a password is confirmed, and signed in, only with that password: whoever
    chose it before the address was confirmed (a sign-up, a join) may not have been the
    address's owner, who by clicking would otherwise hand a stranger a confirmed login
    at their address, and the places it takes; and a login confirmed since (by accepting
    an invitation, say) is never signed in by a link alone, which would make a forgotten
    confirmation email a way in without the password. The password is counted against
    the login limits as ``login`` counts it."""
    row = await user_tokens.consume(
        session, tokens, token, {UserTokenPurpose.EMAIL_VERIFICATION}
    )
    user = await session.get_one(User, row.user_id)
    if user.password_hash is not None and not await gate.check(session, user, password):
        raise DomainError(
            "Enter the password chosen when this login was made: confirming the "
            "address proves it was you who made it.",
            field=["password"],
            code=ErrorCode.INVALID_CREDENTIALS,
        )
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    await confirm_memberships(session, user.id)
    session_token, _ = await issue_token(
        session, user, kind=TokenKind.SESSION, ttl=timedelta(hours=settings.session_ttl_hours)
    )
    return session_token, user


async def resend_verification(
    session: AsyncSession,
    settings,
    email: str,
    *,
    db=None,
    audit_as: tuple[str | None, str | None] | None = None,
) -> None:
    """Same answer, and the same work before it, whether or not the email exists or is
    already verified: in a request (given the database ``db``) the look-up and the email
    are made after the answer is sent, in their own transaction, audited as
    ``emailVerificationResend`` (``audit_as`` = (request id, client address)), as
    ``recovery.request_reset`` does; otherwise here, in the caller's transaction. (Made in
    the request, a login not yet confirmed cost a token, an email and their writes, and an
    unknown or confirmed address one look-up: the time told which addresses have logins
    waiting for confirmation.)"""
    email = email or ""

    async def send(into: AsyncSession) -> None:
        await _send_if_waiting(into, settings, email)

    if db is not None and defer_audited(
        db, "emailVerificationResend", send, audit_as, session
    ):
        return
    await send(session)


async def _send_if_waiting(session: AsyncSession, settings, email: str) -> None:
    try:
        user = await get_user_by_email(session, email) if len(email) <= 320 else None
    except DomainError:  # not an address: nobody to send to (answered alike already)
        return
    if user is not None and user.email_verified_at is None:
        await send_verification(session, settings, user)
