"""ADD and ADD+INVITE: a staff record, its projects, and optionally its invitation, as one
unit of work (BigTime's staff list flow)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit
from app.invitations.service import InvitationRequest, create_invitation
from app.projects.service import add_to_projects
from app.staff import service as staff_service
from app.staff.models import Staff


async def add_staff(
    session: AsyncSession,
    actor: Actor,
    settings,
    data: dict,
    *,
    project_ids: list[int],
    invite: InvitationRequest | None,
) -> Staff:
    """``invite`` carries the email options; its email and role come from the new record."""
    staff = await staff_service.create_staff(session, actor, settings.keyring, data)
    await add_to_projects(session, actor, staff, project_ids)
    if invite is not None:
        request = replace(invite, email=staff.email, role=staff.role, staff_id=staff.id)
        await create_invitation(session, as_creator(actor, staff), settings, request)
        await session.refresh(staff)
    return staff


def as_creator(actor: Actor, staff: Staff) -> Actor:
    """``actor`` once they have added ``staff``: create_staff shares a new restricted record
    with a creator who could not see it otherwise."""
    if staff.restricted and not actor.can(Permit.VIEW_RESTRICTED_STAFF):
        return replace(actor, shared_staff_ids=actor.shared_staff_ids | {staff.id})
    return actor
