from __future__ import annotations

from sqlalchemy import Select, func, select

from app.accounts.models import Account
from app.staff.models import AccountStatus, Staff


def account_by_realm(realm: str) -> Select:
    """A realm is an account slug or its numeric id."""
    realm = realm.strip()
    if realm.isdigit():
        return select(Account).where(Account.id == int(realm))
    return select(Account).where(Account.slug == realm.casefold())


def active_member_count(account_id: int) -> Select:
    return select(func.count()).where(
        Staff.account_id == account_id, Staff.account_status == AccountStatus.ACTIVE
    )


def unconfirmed_member_count(account_id: int) -> Select:
    """Members who joined but have not confirmed their email yet: each holds a seat."""
    return select(func.count()).where(
        Staff.account_id == account_id, Staff.account_status == AccountStatus.UNCONFIRMED
    )


def pending_invitation_count(account_id: int, now) -> Select:
    """Invitations that still hold a seat: pending and not yet expired."""
    from app.invitations.models import Invitation, InvitationStatus

    return select(func.count()).where(
        Invitation.account_id == account_id,
        Invitation.status == InvitationStatus.PENDING,
        Invitation.expires_at > now,
    )
