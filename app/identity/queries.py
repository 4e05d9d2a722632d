from __future__ import annotations

from sqlalchemy import Select, and_, select

from app.accounts.models import Account
from app.identity.models import AuthToken, User
from app.staff.models import AccountStatus, Staff


def live_token(digest: str, now) -> Select:
    return (
        select(AuthToken, User)
        .join(User, User.id == AuthToken.user_id)
        .where(
            AuthToken.digest == digest,
            AuthToken.revoked_at.is_(None),
            AuthToken.expires_at > now,
        )
    )


def active_memberships(user_id: int) -> Select:
    """The accounts a user may act in: only ACTIVE staff records count."""
    return (
        select(Staff, Account)
        .join(Account, Account.id == Staff.account_id)
        .where(Staff.user_id == user_id, Staff.account_status == AccountStatus.ACTIVE)
        .order_by(Account.name, Account.id)
    )


def live_token_with_memberships(digest: str, now) -> Select:
    """A live token and its user's active memberships, in one statement: one row per
    membership (ordered like ``active_memberships``), or one row with no membership."""
    member = and_(Staff.user_id == AuthToken.user_id, Staff.account_status == AccountStatus.ACTIVE)
    return (
        select(AuthToken, Staff, Account)
        .join(User, User.id == AuthToken.user_id)
        .outerjoin(Staff, member)
        .outerjoin(Account, Account.id == Staff.account_id)
        .where(
            AuthToken.digest == digest,
            AuthToken.revoked_at.is_(None),
            AuthToken.expires_at > now,
        )
        .order_by(Account.name, Account.id)
    )
