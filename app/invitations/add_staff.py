"""ADD and ADD+INVITE: a staff record, its projects, and optionally its invitation, as one
unit of work (BigTime's staff list flow)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import ROLE_PERMITS, Actor, Permit, require
from app.accounts.models import Account
from app.invitations.service import (
    InvitationRequest,
    check_options,
    count_sent,
    create_invitation,
)
from app.projects.service import add_to_projects
from app.staff import provisioning
from app.staff import service as staff_service
from app.staff.models import AccountStatus, Staff
from app.staff.provisioning import require_provisioning


async def add_staff(
    session: AsyncSession,
    actor: Actor,
    settings,
    data: dict,
    *,
    project_ids: list[int],
    invite: InvitationRequest | None,
    catalogue: str | None = None,
    send_invitation: bool = True,
) -> Staff:
    """``invite`` carries the email options; its email and role come from the new record.
    Without ``send_invitation`` no invitation is made, but the options given are checked
    all the same: options that would be refused are refused, never silently dropped.
    ``catalogue``: the partner catalogue the record comes through (``create_staff``)."""
    staff = await staff_service.create_staff(
        session, actor, settings.keyring, data, catalogue=catalogue
    )
    await add_to_projects(session, actor, staff, project_ids)
    if invite is not None and not send_invitation:
        await check_options(session, actor, settings, invite)
    elif invite is not None:
        request = replace(invite, email=staff.email, role=staff.role, staff_id=staff.id)
        await create_invitation(
            session, as_creator(actor, staff), settings, request, created=staff
        )
        await session.refresh(staff)
    return staff


async def update(
    session: AsyncSession,
    actor: Actor,
    settings,
    limiter,
    staff: Staff,
    changes: dict,
    active: bool | None,
) -> Staff:
    """SCIM's replace or patch of a record: its field ``changes``, and ``active`` (None:
    left as it is). The locks are taken in the order every request takes them
    (``lock_account``): the invitation that turning it on sends is counted first
    (``counted_activation``); where it is turned on or off, the account is locked next,
    with the actor's role re-read (``lock_members``, as enabling and disabling take it);
    only then is the record written (a change of its email locks its open invitations,
    which a resend locks after the account)."""
    inviter = await counted_activation(
        session, actor, limiter, staff, active, changes.get("email", staff.email)
    )
    if active is not None and active != provisioning.is_active(staff):
        await staff_service.lock_members(session, actor)  # as enabling or disabling will
    staff = (await staff_service.update_staff(session, actor, settings, staff.id, changes)).staff
    if active is not None:
        staff = await set_active(session, actor, settings, staff, active, inviter)
    return staff


async def counted_activation(
    session: AsyncSession, actor: Actor, limiter, staff: Staff, active: bool | None, email
) -> Actor | None:
    """The inviter as whom turning ``staff`` on (SCIM's ``active``, with the record's
    ``email`` once changed) will invite it (``set_active``), its invitation counted
    against the sending limit now, before the change writes or locks anything: counting
    under the account lock that enabling takes would reverse the lock order
    (``lock_account``: on PostgreSQL it deadlocks with an invitationCreate counting
    first), and a refusal would come after the change was made. None when it invites
    nobody: only a disabled record without a login is invited when turned on, where the
    account says so (``scim_invites``)."""
    if not active or provisioning.is_active(staff) or staff.user_id is not None or not email:
        return None
    account = await session.get_one(Account, actor.account_id)
    if not account.scim_invites:
        return None
    return await _scim_inviter(session, limiter, actor)


async def set_active(
    session: AsyncSession, actor: Actor, settings, staff: Staff, active: bool, inviter
) -> Staff:
    """SCIM's ``active``. Turned on, a record without a login is invited as a created one
    would have been (``scim_invites``): a person an identity provider created disabled and
    enables later (Entra ID's way) gets the invitation they were not sent while disabled,
    under the same checks (the creator may invite, the sending limit, a free seat).
    ``inviter``: what ``counted_activation`` gave, before the change."""
    staff = await provisioning.set_active(session, actor, staff, active)
    if inviter is None or staff.account_status != AccountStatus.NOT_INVITED:
        return staff
    request = InvitationRequest(email=staff.email, role=staff.role, staff_id=staff.id)
    await create_invitation(session, as_creator(inviter, staff), settings, request)
    await session.refresh(staff)
    return staff


async def _scim_inviter(session: AsyncSession, limiter, actor: Actor) -> Actor:
    """The scim key as an inviter: the scope names no INVITE_USERS of its own, so the key's
    creator must be able to invite by their role; each invitation counts against the
    sending limit."""
    require(replace(actor, permits=frozenset(ROLE_PERMITS[actor.role])), Permit.INVITE_USERS)
    inviter = replace(actor, permits=actor.permits | {Permit.INVITE_USERS})
    await count_sent(session, limiter, inviter)
    return inviter


def as_creator(actor: Actor, staff: Staff) -> Actor:
    """``actor`` once they have added ``staff``: create_staff shares a new restricted record
    with a creator who could not see it otherwise."""
    if staff.restricted and not actor.can(Permit.VIEW_RESTRICTED_STAFF):
        return replace(actor, shared_staff_ids=actor.shared_staff_ids | {staff.id})
    return actor


async def provision(
    session: AsyncSession, actor: Actor, settings, limiter, data: dict, *, active: bool = True
) -> Staff:
    """SCIM's create: ADD, and INVITE as well when the account says so (``scim_invites``,
    which the administrators set). The scim scope names no INVITE_USERS of its own: the
    setting is the administrators' standing instruction, carried out when the key's
    creator may invite by their role. The invitation reserves a seat, so a full account
    refuses it (SeatLimitReached) and nothing is added. A person created inactive (Entra
    ID creates the disabled users in its scope so) is added, not invited: no email whose
    link is revoked at once, no seat, nothing counted against the invitations' limit."""
    require_provisioning(actor)
    account = await session.get_one(Account, actor.account_id)
    if not account.scim_invites or not active:
        return await add_staff(session, actor, settings, data, project_ids=[], invite=None)
    inviter = await _scim_inviter(session, limiter, actor)
    return await add_staff(
        session, inviter, settings, data, project_ids=[], invite=InvitationRequest(email=None)
    )
