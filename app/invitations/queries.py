from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, func, or_, select

from app.db.base import Records
from app.db.prepared import Prepared
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


# A page of the invitation list is read-only: its invitations are plain records (they read
# like Invitation rows), read by a statement run straight on the driver (``Prepared``).
INVITATION_RECORDS = Records(Invitation, "invitation")
# Each filter's condition on its parameter (of the same name), applied when it is set.
_CONDITIONS: dict[str, Callable[[BindParameter], ColumnElement]] = {
    "staff_id": lambda value: Invitation.staff_id == value,
    "email": lambda value: Invitation.email == value,
    "inviter_staff_id": lambda value: Invitation.inviter_staff_id == value,
    "after": lambda value: Invitation.id < value,
}
# One statement per status and set of filters (5 x 2**4 at most), built when first used;
# and one count per status and set of filters (``after`` is never one of a count's).
_PAGES: dict[tuple[InvitationStatus | None, frozenset[str]], Prepared] = {}
_COUNTS: dict[tuple[InvitationStatus | None, frozenset[str]], Prepared] = {}


def _matching(status: InvitationStatus | None, filters: frozenset[str]) -> list[ColumnElement]:
    """The conditions of the list (and its count): the account ``account_id``, ``status``
    as ``effective_status`` sees it at ``now``, and each of ``filters``."""
    conditions = [Invitation.account_id == bindparam("account_id")]
    conditions += [c(bindparam(n)) for n, c in _CONDITIONS.items() if n in filters]
    if status is not None:
        conditions.append(effective_status_is(status, bindparam("now")))
    return conditions


def invitation_page(status: InvitationStatus | None, filters: frozenset[str]) -> Prepared:
    """The list's statement: newest first, at most ``limit`` of the account ``account_id``,
    of ``status`` (as ``effective_status`` sees it at ``now``) and ``filters`` (names of
    _CONDITIONS) when given; parameters of the same names."""
    found = _PAGES.get((status, filters))
    if found is None:
        statement = (
            select(*INVITATION_RECORDS.columns)
            .where(*_matching(status, filters))
            .order_by(Invitation.id.desc())
            .limit(bindparam("limit"))
        )
        found = _PAGES[(status, filters)] = Prepared(statement)
    return found


def invitation_count(status: InvitationStatus | None, filters: frozenset[str]) -> Prepared:
    """How many invitations ``invitation_page`` would list across all its pages (the same
    conditions, without ``after`` and ``limit``): one COUNT on the account's index."""
    filters = filters - {"after"}
    found = _COUNTS.get((status, filters))
    if found is None:
        statement = select(func.count()).select_from(Invitation).where(*_matching(status, filters))
        found = _COUNTS[(status, filters)] = Prepared(statement)
    return found


# Each record's latest invitation: the newest of each ``staff_ids`` in the account
# ``account_id`` (one statement for a loader's batch).
LATEST_FOR_STAFF = Prepared(
    select(*INVITATION_RECORDS.columns).where(
        Invitation.id.in_(
            select(func.max(Invitation.id))
            .where(
                Invitation.account_id == bindparam("account_id"),
                Invitation.staff_id.in_(bindparam("staff_ids", expanding=True)),
            )
            .group_by(Invitation.staff_id)
        )
    )
)
