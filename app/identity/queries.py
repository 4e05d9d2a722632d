from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    inspect,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased

from app.accounts.models import Account
from app.db.base import Records
from app.db.prepared import Prepared
from app.identity.models import AuthToken, User
from app.staff.models import AccountStatus, Staff, StaffPermitGrant, StaffShare


def active_memberships(user_id: int) -> Select:
    """The accounts a user may act in: only ACTIVE staff records count."""
    return (
        select(Staff, Account)
        .join(Account, Account.id == Staff.account_id)
        .where(Staff.user_id == user_id, Staff.account_status == AccountStatus.ACTIVE)
        .order_by(Account.name, Account.id)
    )


# What authenticating a request reads, as plain records (see app.db.base.Records).
TOKEN_RECORDS = Records(
    AuthToken,
    "token",
    ("id", "user_id", "kind", "account_id", "impersonator_user_id", "scopes", "last_used_at"),
)
USER_RECORDS = Records(
    User, "user", ("id", "email", "first_name", "last_name", "email_verified_at")
)
MEMBER_RECORDS = Records(Staff, "member", ("id", "account_id", "role"))
# The whole account, read once with the token: what ``viewer`` and ``account`` show of it,
# and its sid counter, which bounds its number of staff records (a search's plan depends
# on it: ``app.staff.queries.MATCHES_FIRST``).
# every column an Account is loaded with (the deferred ones are not: see Account)
ACCOUNT_RECORDS = Records(
    Account,
    "account",
    tuple(key for key, column in inspect(Account).column_attrs.items() if not column.deferred),
)


@dataclass(frozen=True)
class Counting:
    """Counts the authentication's statement reads beside the token: ``columns`` makes
    them, given the member's account and the token's user as columns to correlate to;
    ``params`` are the values of their parameters. The statement is built once per
    ``key`` (the same key always makes the same columns)."""

    key: Hashable
    columns: Callable[[Any, Any], list] = field(compare=False)
    params: dict[str, Any] = field(compare=False, default_factory=dict)


def token_acts_for(member: Any) -> ColumnElement[bool]:
    """Whether the token (``AuthToken``) may act through the member (a ``Staff`` entity or
    alias): it was issued after the member was last disabled. The one rule for a user's
    own tokens and, through their administrator's record, for impersonations
    (``_check_impersonator`` in ``app.identity.service``)."""
    return or_(member.tokens_valid_from.is_(None), AuthToken.created_at > member.tokens_valid_from)


def _live_token_with_memberships(extra: tuple = ()) -> Select:
    """A live token, its user and the user's active memberships, in one statement: one
    row per membership (ordered like ``active_memberships``), or one row with no
    membership. Columns: ``TOKEN_RECORDS``, ``USER_RECORDS``, ``MEMBER_RECORDS``,
    ``ACCOUNT_RECORDS``, then whether the token acts in that membership, the member's
    granted permits and the ids of the records shared with them, each comma-separated (so
    an actor is built, and the viewer shown, without another statement), then ``extra``."""
    member = and_(Staff.user_id == AuthToken.user_id, Staff.account_status == AccountStatus.ACTIVE)
    # a token from before the member was disabled does not act here again (the membership
    # is still the user's: it is listed, but the token acts only where this holds)
    acts = token_acts_for(Staff)
    grants = (
        select(func.aggregate_strings(cast(StaffPermitGrant.permit, String(32)), ","))
        .where(StaffPermitGrant.staff_id == Staff.id)
        .scalar_subquery()
    )
    shared = (
        select(func.aggregate_strings(cast(StaffShare.staff_id, String(20)), ","))
        .where(StaffShare.shared_with_id == Staff.id)
        .scalar_subquery()
    )
    if extra:
        extra = tuple(
            case((_counted_here(), column), else_=null()).label(column.name) for column in extra
        )
    return (
        select(
            *TOKEN_RECORDS.columns,
            *USER_RECORDS.columns,
            *MEMBER_RECORDS.columns,
            *ACCOUNT_RECORDS.columns,
            case((acts, true()), else_=false()).label("member__acts"),
            grants.label("member__grants"),
            shared.label("member__shared"),
            *extra,
        )
        .join(User, User.id == AuthToken.user_id)
        .outerjoin(Staff, member)
        .outerjoin(Account, Account.id == Staff.account_id)
        .where(
            AuthToken.digest == bindparam("digest"),
            AuthToken.revoked_at.is_(None),
            AuthToken.expires_at > bindparam("now"),
        )
        .order_by(Account.name, Account.id)
    )


def _counted_here() -> ColumnElement[bool]:
    """Whether the row's membership may be the one the request acts in, so that its counts
    are worth reading (parameters ``realm_slug`` and ``realm_id``: the realm, or None): the
    realm's account when one is given; else the account an API key is bound to, or the
    user's only account. Other rows' counts are NULL (not read), never 0."""
    slug = bindparam("realm_slug", type_=String)
    realm_id = bindparam("realm_id", type_=Integer)
    others = aliased(Staff)
    memberships = (
        select(func.count())
        .select_from(others)
        .where(others.user_id == AuthToken.user_id, others.account_status == AccountStatus.ACTIVE)
        .correlate_except(others)
        .scalar_subquery()
    )
    return or_(
        and_(slug.is_not(None), or_(Account.slug == slug, Account.id == realm_id)),
        and_(slug.is_(None), or_(AuthToken.account_id == Staff.account_id, memberships == 1)),
    )


# Every authenticated request runs this: built once, with parameters ``digest`` and ``now``.
LIVE_TOKEN_WITH_MEMBERSHIPS = Prepared(_live_token_with_memberships())

# The statement with counts, by their key (a cost check's sizes: a few shapes), the oldest
# dropped first.
_COUNTING_KEPT = 64
_with_counts: dict[Hashable, Prepared] = {}


def live_token_counting(counting: Counting) -> Prepared:
    """``LIVE_TOKEN_WITH_MEMBERSHIPS`` with ``counting``'s columns after its own."""
    found = _with_counts.get(counting.key)
    if found is None:
        extra = tuple(counting.columns(Staff.account_id, AuthToken.user_id))
        found = Prepared(_live_token_with_memberships(extra))
        if len(_with_counts) >= _COUNTING_KEPT:
            _with_counts.pop(next(iter(_with_counts)))
        _with_counts[counting.key] = found
    return found
