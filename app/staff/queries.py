"""Select builders for the staff directory. Every builder filters by the actor's account."""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.orm import aliased

from app.access import Actor, Permit, Role
from app.db.base import Records
from app.errors import DomainError
from app.staff.models import AccountStatus, Staff, StaffKind

MAX_PAGE_SIZE = 100
MAX_SEARCH_LENGTH = 100


class StaffSortKey(enum.StrEnum):
    LAST_NAME = "LAST_NAME"
    FIRST_NAME = "FIRST_NAME"
    TITLE = "TITLE"
    COMPANY = "COMPANY"
    CREATED_AT = "CREATED_AT"
    EMAIL = "EMAIL"


class SortDirection(enum.StrEnum):
    ASC = "ASC"
    DESC = "DESC"


PERSONAL_SORT_KEYS = frozenset({StaffSortKey.EMAIL})


@dataclass(frozen=True)
class StaffFilter:
    roles: list[Role] | None = None
    kinds: list[StaffKind] | None = None
    account_statuses: list[AccountStatus] | None = None
    company: str | None = None
    manager_id: int | None = None
    include_disabled: bool = False
    include_inactive: bool = False


@dataclass(frozen=True)
class StaffQuery:
    first: int = 50
    after: str | None = None
    search: str | None = None
    sort: StaffSortKey = StaffSortKey.LAST_NAME
    direction: SortDirection = SortDirection.ASC
    filter: StaffFilter = field(default_factory=StaffFilter)


def clean_search(search: str | None) -> str | None:
    """Blank searches are no search."""
    return search.strip() if search and search.strip() else None


class InvalidQuery(DomainError):
    pass


def sort_expression(key: StaffSortKey) -> ColumnElement:
    return {
        StaffSortKey.LAST_NAME: Staff.last_name_key,
        StaffSortKey.FIRST_NAME: func.lower(Staff.first_name),
        StaffSortKey.TITLE: func.lower(func.coalesce(Staff.title, "")),
        StaffSortKey.COMPANY: func.lower(func.coalesce(Staff.company, "")),
        StaffSortKey.CREATED_AT: Staff.created_at,
        StaffSortKey.EMAIL: func.coalesce(Staff.email, ""),
    }[key]


def sort_value(staff: Staff, key: StaffSortKey):
    return {
        StaffSortKey.LAST_NAME: lambda s: s.last_name_key,
        StaffSortKey.FIRST_NAME: lambda s: s.first_name.lower(),
        StaffSortKey.TITLE: lambda s: (s.title or "").lower(),
        StaffSortKey.COMPANY: lambda s: (s.company or "").lower(),
        StaffSortKey.CREATED_AT: lambda s: s.created_at.isoformat(),
        StaffSortKey.EMAIL: lambda s: s.email or "",
    }[key](staff)


def encode_cursor(query: StaffQuery, staff: Staff) -> str:
    payload = [query.sort.value, query.direction.value, sort_value(staff, query.sort), staff.id]
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def decode_cursor(query: StaffQuery) -> tuple[object, int] | None:
    """The (sort value, id) a page continues after; a cursor of another sort is refused."""
    if query.after is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(query.after + "=" * (-len(query.after) % 4))
        sort, direction, value, last_id = orjson.loads(raw)
        if sort != query.sort.value or direction != query.direction.value:
            raise ValueError("cursor of another ordering")
        if not isinstance(last_id, int) or not isinstance(value, str):
            raise ValueError("malformed cursor")
        if query.sort == StaffSortKey.CREATED_AT:
            value = datetime.fromisoformat(value)
        return value, last_id
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidQuery("The cursor is not valid for this query.", field=["after"]) from exc


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.casefold()}%"


def directory_filter(actor: Actor, query: StaffQuery) -> list[ColumnElement]:
    f = query.filter
    conditions: list[ColumnElement] = [Staff.account_id == actor.account_id]
    if f.account_statuses:
        conditions.append(Staff.account_status.in_(f.account_statuses))
    elif not f.include_disabled:
        conditions.append(Staff.account_status != AccountStatus.DISABLED)
    if not f.include_inactive:
        conditions.append(Staff.is_inactive.is_(False))
    if f.roles:
        conditions.append(Staff.role.in_(f.roles))
    if f.kinds:
        conditions.append(Staff.kind.in_(f.kinds))
    if f.company is not None:
        conditions.append(func.lower(Staff.company) == f.company.strip().casefold())
    if f.manager_id is not None:
        conditions.append(Staff.manager_id == f.manager_id)
    if query.search:
        searchable = [Staff.first_name, Staff.last_name, Staff.title, Staff.company]
        if Permit.VIEW_PERSONAL_DATA in actor.permits:
            searchable.append(Staff.email)
        for word in query.search.split()[:8]:
            pattern = _like_pattern(word)
            conditions.append(
                or_(*(func.lower(col).like(pattern, escape="\\") for col in searchable))
            )
    return conditions


def validate(actor: Actor, query: StaffQuery) -> None:
    if not 0 <= query.first <= MAX_PAGE_SIZE:
        raise InvalidQuery(f"first must be between 0 and {MAX_PAGE_SIZE}.", field=["first"])
    if query.sort in PERSONAL_SORT_KEYS and Permit.VIEW_PERSONAL_DATA not in actor.permits:
        raise InvalidQuery("Sorting by email needs the ViewPersonalData permit.", field=["sort"])
    if query.search and len(query.search) > MAX_SEARCH_LENGTH:
        raise InvalidQuery(
            f"search must be at most {MAX_SEARCH_LENGTH} characters.", field=["search"]
        )
    # NUL never occurs in stored text, and PostgreSQL refuses it as a parameter.
    for name, value in (("search", query.search), ("company", query.filter.company)):
        if value and "\x00" in value:
            raise InvalidQuery(f"{name} contains characters that are not allowed.", field=[name])


_MANAGER = aliased(Staff, name="manager")
STAFF_RECORDS = Records(Staff, "staff")
MANAGER_RECORDS = Records(_MANAGER, "manager")


def page_select(actor: Actor, query: StaffQuery) -> Select:
    """One page plus one row (to know whether another page follows), each row with its
    manager in the same account (or NULLs), so a page never needs a second trip for them.
    Columns: ``STAFF_RECORDS`` then ``MANAGER_RECORDS``."""
    expr = sort_expression(query.sort)
    conditions = directory_filter(actor, query)
    position = decode_cursor(query)
    ascending = query.direction == SortDirection.ASC
    if position is not None:
        value, last_id = position
        key = tuple_(expr, Staff.id)
        mark = tuple_(literal(value, expr.type), literal(last_id, Staff.id.type))
        conditions.append(key > mark if ascending else key < mark)
    order = (expr.asc(), Staff.id.asc()) if ascending else (expr.desc(), Staff.id.desc())
    return _PAGE.where(and_(*conditions)).order_by(*order).limit(query.first + 1)


# Built once: a select of ninety labelled columns costs more to build than to run.
_PAGE = select(*STAFF_RECORDS.columns, *MANAGER_RECORDS.columns).outerjoin(
    _MANAGER, and_(_MANAGER.id == Staff.manager_id, _MANAGER.account_id == Staff.account_id)
)


def count_select(actor: Actor, query: StaffQuery) -> Select:
    return select(func.count()).select_from(Staff).where(and_(*directory_filter(actor, query)))


def staff_in_account(actor: Actor, staff_id: int) -> Select:
    return select(Staff).where(Staff.id == staff_id, Staff.account_id == actor.account_id)
