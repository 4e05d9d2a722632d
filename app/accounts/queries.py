from __future__ import annotations

from datetime import datetime

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, false, func, select

from app.accounts.models import Account
from app.db.base import id_from_digits
from app.db.prepared import Prepared
from app.staff.models import AccountStatus, Staff

AccountId = int | ColumnElement[int]
"""An account's id, or the parameter a prepared statement binds it to."""


def realm_terms(realm: str) -> tuple[str, int | None] | None:
    """What a realm names an account by: its slug (case-folded) and, for a realm of ASCII
    digits, the account id (0, which no account has, past the ids' column; "²" is a digit
    to ``str.isdigit`` and no number to ``int``). None for a realm no account can have (a
    NUL, which PostgreSQL also refuses in a value)."""
    realm = realm.strip()
    if "\x00" in realm:
        return None
    number = None
    if realm.isascii() and realm.isdigit():
        number = id_from_digits(realm) or 0
    return realm.casefold(), number


def account_by_realm(realm: str) -> Select:
    """A realm is an account slug or its numeric id (``realm_terms``)."""
    terms = realm_terms(realm)
    if terms is None:
        return select(Account).where(false())
    slug, number = terms
    if number is not None:
        return select(Account).where(Account.id == number)
    return select(Account).where(Account.slug == slug)


def active_member_count(account_id: AccountId, *, guests: bool = False) -> Select:
    """Active members: guests (``guests``) or the organisation's own."""
    from app.access import Role

    role = Staff.role == Role.GUEST if guests else Staff.role != Role.GUEST
    return select(func.count()).where(
        Staff.account_id == account_id, Staff.account_status == AccountStatus.ACTIVE, role
    )


def unconfirmed_member_count(account_id: AccountId, *, guests: bool = False) -> Select:
    """Members who joined but have not confirmed their email yet (each holds a seat):
    guests (``guests``) or the organisation's own."""
    from app.access import Role

    role = Staff.role == Role.GUEST if guests else Staff.role != Role.GUEST
    return select(func.count()).where(
        Staff.account_id == account_id, Staff.account_status == AccountStatus.UNCONFIRMED, role
    )


def pending_invitation_count(account_id: AccountId, now, *, guests: bool = False) -> Select:
    """Invitations that still hold a seat (pending and not yet expired): of guests
    (``guests``) or of the organisation's own people."""
    from app.access import Role
    from app.invitations.models import Invitation, InvitationStatus

    role = Invitation.role == Role.GUEST if guests else Invitation.role != Role.GUEST
    return select(func.count()).where(
        Invitation.account_id == account_id,
        Invitation.status == InvitationStatus.PENDING,
        Invitation.expires_at > now,
        role,
    )


def _seat_counts() -> Select:
    """The seat ledger's counts of the account ``account_id`` at ``now`` (parameters), in
    one statement of one row: ``used``, ``unconfirmed`` and ``pending`` of the
    organisation's own people, then the same of guests."""
    account_id: BindParameter[int] = bindparam("account_id")
    now: BindParameter[datetime] = bindparam("now")
    counts = {
        "used": active_member_count(account_id),
        "unconfirmed": unconfirmed_member_count(account_id),
        "pending": pending_invitation_count(account_id, now),
        "guests_used": active_member_count(account_id, guests=True),
        "guests_unconfirmed": unconfirmed_member_count(account_id, guests=True),
        "guests_pending": pending_invitation_count(account_id, now, guests=True),
    }
    return select(*(count.scalar_subquery().label(name) for name, count in counts.items()))


# Every seat ledger runs this: built once, with parameters ``account_id`` and ``now``.
SEAT_COUNTS = Prepared(_seat_counts())
