"""Direct registration: an administrator adds an ACTIVE member with a login at once.

The welcome email carries a one-time set-password link, never a password. An address
that already has a Roster login is not enrolled: that person joins another account only
by accepting an invitation, so for them registration is an invitation (record INVITED,
a seat reserved, the invitation email with its accept link).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit, Role
from app.accounts.models import Account
from app.accounts.service import reserve_seats
from app.email.links import build_link, check_redirect
from app.email.outbox import enqueue
from app.errors import AccessDenied, DomainError, ValidationFailed
from app.identity import user_tokens
from app.identity.models import UserTokenPurpose
from app.identity.service import create_user, get_user_by_email
from app.invitations.errors import AlreadyMember
from app.invitations.membership import activate, member_of
from app.invitations.service import InvitationRequest, create_invitation, role_name
from app.security.passwords import PasswordService
from app.staff import service as staff_service
from app.staff.models import Staff
from app.validation import clean_email, clean_text, full_name


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
) -> Staff:
    if not actor.can(Permit.MANAGE_STAFF):
        raise AccessDenied("Only administrators register members directly.")
    email = ""
    errors: list[DomainError] = []
    try:
        email = clean_email(data.get("email"), required=True)
    except DomainError as exc:
        errors.append(exc)
    try:
        subject = clean_text(subject, "subject", max_length=200)
        message = clean_text(message, "message", max_length=2000, multiline=True)
        redirect_url = check_redirect(settings, redirect_url)
    except DomainError as exc:
        errors.append(exc)
    if errors:
        raise ValidationFailed(errors)
    role = Role(data.get("role") or Role.VIEWER)
    user = await get_user_by_email(session, email)
    if user is not None and await member_of(session, actor.account_id, user.id):
        raise AlreadyMember()
    await reserve_seats(session, actor.account_id)
    staff = await staff_service.create_staff(
        session, actor, settings.keyring, {**data, "email": email, "role": role}
    )
    if user is not None:
        # Their consent is accepting the invitation; nothing joins them before that.
        await create_invitation(
            session,
            actor,
            settings,
            InvitationRequest(
                email=email,
                role=role,
                first_name=staff.first_name,
                message=message,
                subject=subject,
                bcc_sender=bcc_sender,
                staff_id=staff.id,
                redirect_url=redirect_url,
            ),
        )
        await session.refresh(staff)
        return staff
    new_user = user is None
    if user is None:
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
    if send_welcome or new_user:
        link = expires = None
        if new_user:
            ttl = timedelta(hours=settings.welcome_link_ttl_hours)
            token, row = await user_tokens.issue(
                session, user.id, UserTokenPurpose.SET_PASSWORD, ttl
            )
            link = build_link(settings, "/password/reset", token, redirect_url)
            expires = row.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        account = await session.get_one(Account, actor.account_id)
        inviter = await session.get_one(Staff, actor.staff_id)
        # The welcome (with its set-password link) goes to the person alone; a sender who
        # asked for a copy gets a separate notice without the link.
        await enqueue(
            session,
            settings.keyring,
            template="welcome",
            to=email,
            account_id=actor.account_id,
            subject=subject,
            context={
                "first_name": staff.first_name,
                "account": account.name,
                "inviter": full_name(inviter.first_name, inviter.last_name)
                or f"A member of {account.name}",
                "role_name": role_name(role),
                "message": message,
                "link": link,
                "expires": expires,
            },
        )
        if bcc_sender and inviter.email:
            await enqueue(
                session,
                settings.keyring,
                template="welcome_copy",
                to=inviter.email,
                account_id=actor.account_id,
                context={
                    "email": email,
                    "account": account.name,
                    "role_name": role_name(role),
                    "message": message,
                    "link_sent": link is not None,
                },
            )
    return staff
