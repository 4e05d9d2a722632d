"""Direct registration: an administrator adds an ACTIVE member with a login at once.

The welcome email carries a one-time set-password link, never a password. An address
that already has a Roster login is not enrolled: that person joins another account only
by accepting an invitation, so for them registration is an invitation (record INVITED,
a seat reserved, the invitation email with its accept link).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit, Role, refuse_impersonation, require
from app.accounts.models import Account
from app.accounts.service import reserve_seats
from app.email.links import build_link, check_redirect
from app.email.outbox import count_unasked, enqueue
from app.errors import DomainError, Forbidden, ValidationFailed
from app.identity import user_tokens
from app.identity.models import UserTokenPurpose
from app.identity.service import create_user, get_user_by_email
from app.invitations.errors import AlreadyMember
from app.invitations.service import (
    InvitationRequest,
    count_sent,
    create_invitation,
    login_address,
    role_name,
)
from app.security.passwords import PasswordService
from app.staff import service as staff_service
from app.staff.membership import activate, lock_members, member_of
from app.staff.models import Staff, default_role
from app.validation import clean_email, clean_text, full_name


async def count_welcome(session: AsyncSession, limiter, actor: Actor) -> None:
    """A registration sends a welcome or an invitation either way: one against the
    account's invitation emails (``count_sent``), spent only by who may register."""
    await count_sent(session, limiter, actor, sender=Permit.MANAGE_STAFF)


async def register(
    session: AsyncSession,
    passwords: PasswordService,
    settings,
    actor: Actor,
    data: dict,
    *,
    send_welcome: bool = True,
    subject: str | None = None,
    message: str | None = None,
    bcc_sender: bool = False,
    redirect_url: str | None = None,
    options_at: tuple[str, ...] = (),
) -> Staff:
    """``send_welcome`` cannot turn the welcome off: a new login has no other way in, and
    an existing one is invited (the invitation is how they join). ``options_at`` is where
    the email's subject and message sit in the input (staffRegister's ``welcome``), so
    that their errors point there."""
    require(actor, Permit.MANAGE_STAFF)
    refuse_impersonation(actor)  # a login is made under one's own name
    email, subject, message, redirect_url = _clean_options(
        settings, data.get("email"), subject, message, redirect_url, options_at
    )
    role = Role(data.get("role") or default_role(data.get("kind")))
    # A login is made at once: its role is handed out here, as an invitation's would be.
    if refusal := actor.refusal_to_hand_out(role):
        raise Forbidden(refusal, field=["role"])
    user = await get_user_by_email(session, email)
    if user is not None and await member_of(session, actor.account_id, user.id):
        raise AlreadyMember()
    # a way in, as an invitation is: its maker's standing re-read under the account lock
    # (a request begun before they were demoted or disabled makes nothing)
    await lock_members(session, actor)
    await reserve_seats(session, actor.account_id, role=role)
    staff = await staff_service.create_staff(
        session, actor, settings.keyring, {**data, "email": email, "role": role}
    )
    welcome = Welcome(email, role, subject, message, bcc_sender, redirect_url)
    if user is not None:
        # Their consent is accepting the invitation; nothing joins them before that.
        await _invite(session, actor, settings, staff, welcome)
        return staff
    user = await create_user(
        session,
        passwords,
        email=email,
        password=None,
        first_name=staff.first_name,
        last_name=staff.last_name,
    )
    await activate(
        session,
        account_id=actor.account_id,
        user=user,
        role=role,
        first_name=None,
        last_name=None,
        staff=staff,
    )
    await _send_welcome(session, settings, actor, staff, user, welcome)
    return staff


@dataclass(frozen=True, slots=True)
class Welcome:
    """What the administrator asked the welcome (or invitation) email to say."""

    email: str
    role: Role
    subject: str | None
    message: str | None
    bcc_sender: bool
    redirect_url: str | None


def _clean_options(settings, email, subject, message, redirect_url, at: tuple[str, ...]):
    """The address and the email's options (``subject`` and ``message`` at ``at``), cleaned;
    every problem reported at once."""
    errors: list[DomainError] = []
    checks = (
        lambda: clean_email(email, required=True),
        lambda: clean_text(subject, [*at, "subject"], max_length=200, label="Subject"),
        lambda: clean_text(
            message, [*at, "message"], max_length=2000, multiline=True, label="The message"
        ),
        lambda: check_redirect(settings, redirect_url),
    )
    cleaned = []
    for check in checks:
        try:
            cleaned.append(check())
        except DomainError as exc:
            errors.append(exc)
    if errors:
        raise ValidationFailed(errors)
    email, subject, message, redirect_url = cleaned
    return email, subject, message, redirect_url


async def _invite(session: AsyncSession, actor: Actor, settings, staff: Staff, welcome: Welcome):
    """An address that already has a login is invited to the new record instead."""
    await create_invitation(
        session,
        actor,
        settings,
        InvitationRequest(
            email=welcome.email,
            role=welcome.role,
            first_name=staff.first_name,
            message=welcome.message,
            subject=welcome.subject,
            bcc_sender=welcome.bcc_sender,
            staff_id=staff.id,
            redirect_url=welcome.redirect_url,
        ),
    )
    await session.refresh(staff)


async def _send_welcome(
    session: AsyncSession, settings, actor: Actor, staff: Staff, user, welcome: Welcome
) -> None:
    """The welcome, with a one-time set-password link, goes to the person alone; a sender
    who asked for a copy gets a separate notice without the link."""
    await count_unasked(session, settings, welcome.email)
    ttl = timedelta(hours=settings.welcome_link_ttl_hours)
    token, row = await user_tokens.issue(session, user.id, UserTokenPurpose.SET_PASSWORD, ttl)
    link = build_link(settings, "/password/reset", token, welcome.redirect_url)
    expires = row.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    account = await session.get_one(Account, actor.account_id)
    inviter = await session.get_one(Staff, actor.staff_id)
    await enqueue(
        session,
        settings.keyring,
        template="welcome",
        to=welcome.email,
        account_id=actor.account_id,
        subject=welcome.subject,
        context={
            "first_name": staff.first_name,
            "account": account.name,
            "inviter": full_name(inviter.first_name, inviter.last_name)
            or f"A member of {account.name}",
            "role_name": role_name(welcome.role),
            "message": welcome.message,
            "link": link,
            "expires": expires,
        },
    )
    copy_to = await login_address(session, inviter) if welcome.bcc_sender else None
    if copy_to:
        await enqueue(
            session,
            settings.keyring,
            template="welcome_copy",
            to=copy_to,
            account_id=actor.account_id,
            context={
                "email": welcome.email,
                "account": account.name,
                "role_name": role_name(welcome.role),
                "message": welcome.message,
                "link_sent": True,
            },
        )
