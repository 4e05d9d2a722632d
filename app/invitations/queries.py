from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from app.invitations.models import Invitation, InvitationStatus


def effective_status_is(status: InvitationStatus, now) -> ColumnElement:
    """A PENDING invitation past its expiry is EXPIRED, swept or not."""
    if status == InvitationStatus.PENDING:
        return and_(Invitation.status == InvitationStatus.PENDING, Invitation.expires_at > now)
    if status == InvitationStatus.EXPIRED:
        return or_(
            Invitation.status == InvitationStatus.EXPIRED,
            and_(Invitation.status == InvitationStatus.PENDING, Invitation.expires_at <= now),
        )
    return Invitation.status == status


def effective_status(invitation: Invitation, now) -> InvitationStatus:
    if invitation.status == InvitationStatus.PENDING and invitation.expires_at <= now:
        return InvitationStatus.EXPIRED
    return invitation.status
