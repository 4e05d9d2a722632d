"""How large an account's collections are: the real upper bounds of the lists a query can
return, read before the query runs (see ``app.graphql.limits``).

Each size is a count of rows (``COUNT``) or the largest group of rows (the most projects one
staff member is on, the most members one project has), in one statement for all the sizes a
document needs. Sizes of an account are read for its members; when a mutation has no
account (``invitationAccept``: its payload is a record of the account it joins) the largest
account's (or user's) size is the bound instead; a query without one reads no list of one
(``app.graphql.limits._sizes_for``).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from app.access import Permit, roles_holding
from app.custom_fields.models import CustomField, CustomFieldValue
from app.custom_fields.service import MAX_FIELDS, MAX_FIELDS_KEPT
from app.db.prepared import Prepared, connection_of
from app.identity.models import AuthToken, TokenKind
from app.identity.queries import Counting
from app.invitations.models import JoinLink, JoinRequest
from app.projects.models import Project, ProjectMember, ProjectTeamRole
from app.staff.models import AccountStatus, Staff, StaffShare, StaffStatus
from app.staff.service import MAX_STATUSES


class Size(enum.StrEnum):
    """A list's real upper bound, as the account's data makes it."""

    STAFF = "staff"  # staff records (all of them: disabled and inactive included)
    CUSTOM_FIELDS = "customFields"  # custom field definitions (archived included)
    ACTIVE_FIELDS = "activeFields"  # custom fields not archived (at most MAX_FIELDS)
    CUSTOM_VALUES = "customValues"  # custom field values of all staff
    PROJECTS = "projects"
    PROJECTS_PER_STAFF = "projectsPerStaff"  # the most projects one staff member is on
    MEMBERS_PER_PROJECT = "membersPerProject"  # the most members one project has
    SHARES_PER_STAFF = "sharesPerStaff"  # the most members one record is shared with
    STAFF_STATUSES = "staffStatuses"
    TEAM_ROLES = "teamRoles"
    JOIN_LINKS = "joinLinks"
    JOIN_REQUESTS = "joinRequests"
    MEMBERSHIPS = "memberships"  # accounts of the user
    API_TOKENS = "apiTokens"  # API tokens of the user
    ACCOUNT_API_TOKENS = "accountApiTokens"  # API tokens of the account
    # active members who administer the account (they join every project made)
    ADMINISTRATORS = "administrators"


# size: (the owner column, the grouping column or None for a plain count, and a condition
# on the counted rows, given them: they are counted under an alias)
_Counted = tuple[
    InstrumentedAttribute[Any],
    InstrumentedAttribute[Any] | None,
    Callable[[Any], ColumnElement[bool]] | None,
]
_ACCOUNT: dict[Size, _Counted] = {
    Size.STAFF: (Staff.account_id, None, None),
    Size.CUSTOM_FIELDS: (CustomField.account_id, None, None),
    Size.ACTIVE_FIELDS: (CustomField.account_id, None, lambda f: f.archived_at.is_(None)),
    Size.CUSTOM_VALUES: (CustomFieldValue.account_id, None, None),
    Size.PROJECTS: (Project.account_id, None, None),
    Size.PROJECTS_PER_STAFF: (ProjectMember.account_id, ProjectMember.staff_id, None),
    Size.MEMBERS_PER_PROJECT: (ProjectMember.account_id, ProjectMember.project_id, None),
    Size.SHARES_PER_STAFF: (StaffShare.account_id, StaffShare.staff_id, None),
    Size.STAFF_STATUSES: (StaffStatus.account_id, None, None),
    Size.TEAM_ROLES: (ProjectTeamRole.account_id, None, None),
    Size.JOIN_LINKS: (JoinLink.account_id, None, None),
    Size.JOIN_REQUESTS: (JoinRequest.account_id, None, None),
    Size.ACCOUNT_API_TOKENS: (AuthToken.account_id, None, lambda t: t.kind == TokenKind.API),
    Size.ADMINISTRATORS: (
        Staff.account_id,
        None,
        lambda s: (s.account_status == AccountStatus.ACTIVE)
        & s.role.in_(roles_holding(Permit.MANAGE_ACCOUNT)),
    ),
}
# size: (the owner column, the grouping column or None for a plain count, a condition)
_USER: dict[Size, _Counted] = {
    Size.MEMBERSHIPS: (Staff.user_id, None, None),
    Size.API_TOKENS: (AuthToken.user_id, None, lambda t: t.kind == TokenKind.API),
}


def _size(
    size: Size,
    account: ColumnElement[Any] | None,
    user: ColumnElement[Any] | None,
    capped: bool = False,
):
    """The size as a scalar subquery: of the account ``account`` or user ``user`` (a
    parameter, or a column of an enclosing query the subquery is correlated to), or, where
    that is None, the largest one's. ``capped``: a count of the account's or user's rows
    stops at ``cap`` (a parameter)."""
    if size in _ACCOUNT:
        owner, group, condition = _ACCOUNT[size]
        ref = account
    else:
        owner, group, condition = _USER[size]
        ref = user
    # the counted table under a name of its own: an enclosing query may read the same table
    counted_rows: Any = aliased(owner.class_)
    owner_column = getattr(counted_rows, owner.key)
    conditions = [] if condition is None else [condition(counted_rows)]
    if ref is not None:
        counted = (
            select(func.count())
            .select_from(counted_rows)
            .where(owner_column == ref, *conditions)
            .correlate_except(counted_rows)
        )
        if group is None and capped:
            rows = (
                counted.with_only_columns(literal(1))
                .limit(bindparam("cap", type_=Integer))
                .correlate_except(counted_rows)
            )
            return select(func.count()).select_from(rows.subquery()).scalar_subquery()
        if group is None:
            return counted.scalar_subquery()
        per_group = counted.group_by(getattr(counted_rows, group.key))
    else:  # no account (or user) known: the largest one's size
        per_group = (
            select(func.count())
            .select_from(counted_rows)
            .where(owner_column.is_not(None), *conditions)
            .group_by(getattr(counted_rows, (group or owner).key))
        )
    sub = per_group.with_only_columns(func.count().label("n")).subquery()
    return select(func.coalesce(func.max(sub.c.n), 0)).scalar_subquery()


def counting(wanted: set[Size], cap: int) -> Counting:
    """The sizes ``wanted`` as columns of the authentication's statement, each count
    stopped at ``cap``: for the member's account and the token's user, on each row of a
    membership (``app.identity.service.authenticate_counting``). A cost check needs them
    before anything else has read the account, so they come with the token instead of in
    a statement of their own."""
    ordered = tuple(sorted(wanted))

    def columns(account: Any, user: Any) -> list:
        return [_size(s, account, user, capped=True).label(f"size__{s.value}") for s in ordered]

    return Counting(key=("sizes", ordered), columns=columns, params={"cap": cap})


def counted(wanted: set[Size], values: tuple) -> dict[Size, int]:
    """The sizes ``counting(wanted, ...)`` read, by size (every one counted: the
    authentication returns no values where it did not count)."""
    return {s: int(v) for s, v in zip(sorted(wanted), values, strict=True)}


async def sizes(
    session: AsyncSession,
    sizes: set[Size],
    *,
    account_id: int | None,
    user_id: int | None,
    cap: int | None = None,
) -> dict[Size, int]:
    """The requested sizes, in one statement. ``cap``: an account's or user's count of
    rows stops there (a size of ``cap`` means at least that many): a bound that only has
    to be compared with a limit need not count a large account's every row."""
    if not sizes:
        return {}
    wanted = tuple(sorted(sizes))
    statement = _sizes_statement(
        wanted, account_id is not None, user_id is not None, cap is not None
    )
    connection = await connection_of(session)
    params = {"account": account_id, "user": user_id, "cap": cap}
    [row] = await statement.all(connection, params)
    return {s: int(row[i] or 0) for i, s in enumerate(wanted)}


@functools.lru_cache(maxsize=256)
def _sizes_statement(
    wanted: tuple[Size, ...], of_account: bool, of_user: bool, capped: bool = False
) -> Prepared:
    """The statement reading ``wanted``, built and compiled once per shape: a cost check
    runs before most requests, and building it cost more than running it."""
    account: ColumnElement[Any] | None = bindparam("account") if of_account else None
    user: ColumnElement[Any] | None = bindparam("user") if of_user else None
    return Prepared(select(*(_size(s, account, user, capped).label(s.value) for s in wanted)))


# Sizes the domain caps whatever the data: a document that fits with these needs no count.
CAPS: dict[Size, int] = {
    Size.ACTIVE_FIELDS: MAX_FIELDS,  # enforced on creation; archived fields cannot come back
    Size.CUSTOM_FIELDS: MAX_FIELDS_KEPT,  # enforced on creation, archived ones included
    Size.STAFF_STATUSES: MAX_STATUSES,  # enforced on creation (statuses are archived, kept)
}
