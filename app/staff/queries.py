"""Select builders for the staff directory. Every builder filters by the actor's account."""

from __future__ import annotations

import base64
import enum
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple, cast, overload

import orjson
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    func,
    inspect,
    literal_column,
    or_,
    select,
    table,
    true,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import CTE, UnaryExpression
from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy.sql.visitors import InternalTraversal

from app.access import ROLE_RANK, Actor, Permit, Role, roles_holding
from app.db import text_case
from app.db.base import Records, is_id
from app.db.prepared import Prepared
from app.db.text_case import unicode_lower
from app.db.unindexed import SqliteUnindexed
from app.errors import DomainError
from app.fields import NEEDS_PERSONAL_DATA, Visibility, camel, derive, on_change
from app.projects.models import ProjectMember
from app.staff import access
from app.staff.fields import STAFF
from app.staff.models import (
    DIRECTORY_FOLDED,
    DIRECTORY_KEYS,
    DIRECTORY_TEXTS,
    SEARCH_TABLE,
    SHORT_WORD_TAGS,
    SHORT_WORDS,
    AccountStatus,
    Staff,
    StaffKind,
)

MAX_PAGE_SIZE = 100
MAX_SEARCH_LENGTH = 100
MAX_SIDS = 100  # sids one directory filter may name


class StaffSortKey(enum.StrEnum):
    LAST_NAME = "LAST_NAME"
    FIRST_NAME = "FIRST_NAME"
    TITLE = "TITLE"
    COMPANY = "COMPANY"
    CREATED_AT = "CREATED_AT"
    EMAIL = "EMAIL"
    ROLE = "ROLE"


class SortDirection(enum.StrEnum):
    ASC = "ASC"
    DESC = "DESC"


# The field each sort key sorts by (``app.staff.fields.STAFF``): sorting by a personal
# field needs the permit, as seeing it does (no side channel).
SORT_FIELDS = {
    StaffSortKey.LAST_NAME: "last_name",
    StaffSortKey.FIRST_NAME: "first_name",
    StaffSortKey.TITLE: "title",
    StaffSortKey.COMPANY: "company",
    StaffSortKey.CREATED_AT: "created_at",
    StaffSortKey.EMAIL: "email",
    StaffSortKey.ROLE: "role",
}
PERSONAL_SORT_KEYS: frozenset[StaffSortKey] = frozenset()


@derive
def _personal_sort_keys() -> None:
    global PERSONAL_SORT_KEYS
    PERSONAL_SORT_KEYS = frozenset(
        key for key, field in SORT_FIELDS.items() if STAFF[field].visibility in NEEDS_PERSONAL_DATA
    )


# What a free-text search looks in. Each field is searched only where every searcher sees
# it (its class in STAFF): basic fields, and personal ones with the ViewPersonalData
# permit; a detail (hidden on restricted records) is never searched.
SEARCH_FIELDS = ("first_name", "last_name", "title", "company", "email")
# Fields a search word matches only whole (case-insensitively): "editor" finds the
# editors, "ed" does not.
SEARCH_WHOLE_FIELDS = ("role",)


@on_change
def _forget_statements() -> None:
    """Statements are built once per filter shape; a changed table builds them again."""
    _page_statement.cache_clear()
    _count_statement.cache_clear()
    _probe_statement.cache_clear()
    _estimate_statement.cache_clear()


# Sorts by a name: records without that name (stored as "") come last, in either direction.
NAME_SORT_KEYS = frozenset({StaffSortKey.LAST_NAME, StaffSortKey.FIRST_NAME})


@dataclass(frozen=True)
class StaffFilter:
    roles: list[Role] | None = None
    kinds: list[StaffKind] | None = None
    account_statuses: list[AccountStatus] | None = None
    company: str | None = None
    manager_id: int | None = None
    sids: list[int] | None = None  # None: any record; an empty list matches none
    include_disabled: bool = False
    include_inactive: bool = False
    # the people whose manager is this record, or (transitive) everyone below it
    reports_to: int | None = None
    transitive: bool = False


# The field each filter looks at: a filter is open to those to whom its field is (no
# side channel, as for sorting and searching: ``app.staff.access.open_to``).
FILTER_FIELDS = {
    "roles": "role",
    "kinds": "kind",
    "account_statuses": "account_status",
    "company": "company",
    "manager_id": "manager_id",
    "sids": "sid",
    "include_disabled": "account_status",
    "include_inactive": "is_inactive",
    "reports_to": "manager_id",
}
_FILTER_OFF = StaffFilter()


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


# The role sort: highest rank first (owner, administrators, editors, viewers, guests),
# then as the default sort within each (last name, records without one last), as one text
# key: rank digit, nameless flag, casefolded last name. DESC is its exact reverse.
ROLE_ORDER = {role: str(ROLE_RANK[Role.OWNER] - ROLE_RANK[role]) for role in Role}


def _role_key(of: Any = Staff) -> ColumnElement[str]:
    """The role sort's key over ``of``'s columns (``Staff``'s, or ``DIRECTORY_KEYS.c``)."""
    # Constants, not bound values, throughout: the expression index
    # ``ix_staff_account_role_order`` serves this sort only if the text is the same.
    rank = case(
        *(
            (of.role == literal_column(f"'{role.value}'"), literal_column(f"'{digit}'", String))
            for role, digit in ROLE_ORDER.items()
        ),
        else_=literal_column("'9'", String),
    )
    flag = case(
        (of.last_name_key == literal_column("''"), literal_column("'1'", String)),
        else_=literal_column("'0'", String),
    )
    return rank + flag + of.last_name_key


_EMPTY = literal_column("''", String)


def sort_expression(key: StaffSortKey) -> ColumnElement[Any]:
    # The ORM attributes among these stand in for their columns (their type, comparisons).
    # Each is the expression of an index starting with the account (``Staff``'s table
    # args), written with constants so that the index matches it.
    expression = {
        StaffSortKey.ROLE: _role_key(),
        StaffSortKey.LAST_NAME: Staff.last_name_key,
        StaffSortKey.FIRST_NAME: func.lower(Staff.first_name),
        StaffSortKey.TITLE: func.lower(func.coalesce(Staff.title, _EMPTY)),
        StaffSortKey.COMPANY: func.lower(func.coalesce(Staff.company, _EMPTY)),
        StaffSortKey.CREATED_AT: Staff.created_at,
        StaffSortKey.EMAIL: func.coalesce(Staff.email, _EMPTY),
    }[key]
    return cast(ColumnElement[Any], expression)


def keys_sort_expression(key: StaffSortKey) -> ColumnElement[Any]:
    """A sort's key as the directory keys (``DIRECTORY_KEYS``, PostgreSQL) hold it: for
    every record, the value ``sort_expression(key)`` has over its row."""
    k = DIRECTORY_KEYS.c
    return {
        StaffSortKey.ROLE: _role_key(k),
        StaffSortKey.LAST_NAME: k.last_name_key,
        StaffSortKey.FIRST_NAME: k.first_name_key,
        StaffSortKey.TITLE: k.title_key,
        StaffSortKey.COMPANY: k.company_key,
        StaffSortKey.CREATED_AT: k.created_at,
        StaffSortKey.EMAIL: k.email_key,
    }[key]


def nameless(expr: ColumnElement) -> ColumnElement:
    """1 for a record without the name sorted by, else 0: the first key of ascending name
    sorts. Written with constants, not bound values, so that the expression index
    ``ix_staff_account_named_last_name`` serves the default sort."""
    return case((expr == literal_column("''"), literal_column("1")), else_=literal_column("0"))


def encode_cursor(query: StaffQuery, key: object, id_: int) -> str:
    """A row's cursor: the query's sort, and the row's sort key and id. The key is the
    value the database sorted by (the page reads it, ``PageStatement``), never one
    recomputed here: Python's lower() is not the database's (SQLite lowers ASCII alone,
    "İ" is one character to PostgreSQL and two to Python), and a cursor whose key differs
    from the row's would read on from elsewhere (a page again, or past some records)."""
    value = key.isoformat() if isinstance(key, datetime) else key
    payload = [query.sort.value, query.direction.value, value, id_]
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


class Cursors(Sequence[str]):
    """The cursors of a page's rows (their sort keys as read, and ids), each encoded when
    first read: most documents read none of them, or only the last (``endCursor``)."""

    __slots__ = ("_query", "_rows", "_keys", "_made")

    def __init__(self, query: StaffQuery, rows: list, keys: Sequence[object]):
        self._query = query
        self._rows = rows
        self._keys = keys
        self._made: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._rows)))]
        if index < 0:
            index += len(self._rows)
        made = self._made.get(index)
        if made is None:
            made = encode_cursor(self._query, self._keys[index], self._rows[index].id)
            self._made[index] = made
        return made


def decode_cursor(query: StaffQuery) -> tuple[object, int] | None:
    """The (sort value, id) a page continues after; a cursor of another sort is refused."""
    if query.after is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(query.after + "=" * (-len(query.after) % 4))
        sort, direction, value, last_id = orjson.loads(raw)
        if sort != query.sort.value or direction != query.direction.value:
            raise ValueError("cursor of another ordering")
        if not is_id(last_id) or not isinstance(value, str):
            raise ValueError("malformed cursor")
        if query.sort == StaffSortKey.CREATED_AT:
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:  # Roster's cursors carry their offset
                raise ValueError("a time without an offset")
            value = value.astimezone(UTC)  # OverflowError past the calendar's ends
        return value, last_id
    except (ValueError, TypeError, OverflowError, orjson.JSONDecodeError) as exc:
        raise InvalidQuery("The cursor is not valid for this query.", field=["after"]) from exc


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


MAX_SEARCH_WORDS = 8


@dataclass(frozen=True)
class FilterShape:
    """What decides the SQL of a directory filter; its values are bound at execution.

    Statements are built once per shape and reused: SQLAlchemy memoises a statement's
    cache key on the statement object, and computing it afresh for a select of ninety
    labelled columns costs more than running the query.
    """

    statuses: bool
    include_disabled: bool
    include_inactive: bool
    roles: bool
    kinds: bool
    company: bool
    manager: bool
    sids: bool
    words: int
    personal_searchable: bool
    # some word is long enough for the trigram search index
    indexed: bool = False
    reports_to: bool = False
    transitive: bool = False  # with reports_to: everyone below, not only direct reports
    confined: bool = False  # a guest's: their own record and their projects' people
    short: int = 0  # words too short for the trigram indexes (the short-word index's)
    # Where the rows are read from (``Route``): walking the sort's index, or the rows an
    # index of one narrowing condition names, then sorted
    route: str = "walk"
    # On a walk (SQLite): the narrowing route whose index's rows each walked row is
    # checked against before the row itself is read (``sieve_of``); "" for none
    sieve: str = ""
    # some word holds a character beyond ASCII: its conditions lower every letter, which
    # SQLite's own lower() does not (``_lower``)
    folded: bool = False
    # the company filter's value holds a character beyond ASCII: on SQLite it is matched
    # by the forms its lower() may have stored ("forms") or, past MAX_COMPANY_FORMS of
    # them, by every letter lowered ("fold"); "" for an ASCII value (``_company_is``)
    company_folded: str = ""


def filter_of(
    actor: Actor, query: StaffQuery, route: Route | None = None, sieve: Route | None = None
) -> tuple[FilterShape, dict]:
    """The shape of this query's directory filter, and the values it binds; ``route``:
    where it reads its rows (by default the first narrowing index it has); ``sieve``: on
    a walk, the narrowing index each walked row is checked against (``sieve_of``)."""
    f = query.filter
    words = query.search.split()[:MAX_SEARCH_WORDS] if query.search else []
    params: dict = {"account_id": actor.account_id}
    confined = not access.sees_directory(actor)
    if confined:
        params["self_id"] = actor.staff_id
    for name, values in (
        ("statuses", f.account_statuses),
        ("roles", f.roles),
        ("kinds", f.kinds),
    ):
        if values:
            params[name] = list(dict.fromkeys(values))
    company_folded = ""
    if f.company is not None:
        params["company"] = f.company.strip()
        if not params["company"].isascii():
            forms = company_forms(params["company"])
            company_folded = "fold" if forms is None else "forms"
            if forms is not None:
                params["company_forms"] = forms
    if f.manager_id is not None:
        params["manager_id"] = f.manager_id
    if f.reports_to is not None:
        params["reports_to"] = f.reports_to
    if f.sids is not None:
        params["sids"] = list(dict.fromkeys(f.sids))
    for i, word in enumerate(words):
        params[f"word{i}"] = _like_pattern(word)
        params[f"whole{i}"] = word
    personal_searchable = Permit.VIEW_PERSONAL_DATA in actor.permits
    # The words as the indexes' lists hold them: lower-cased (SQL's own lower() decides
    # the conditions, ``_words_in``; these only narrow where they look)
    lowered = [text_case.lower(w) for w in words]
    indexed = [w for w in lowered if len(w) >= MIN_INDEXED_WORD]
    if indexed:
        params["match"] = _match_expression(indexed, confined, personal_searchable)
        params["sieve_match"] = _match_expression(
            indexed, confined, personal_searchable, loose=True
        )
    short = [w for w in lowered if len(w) < MIN_INDEXED_WORD]
    for i, word in enumerate(short):
        params[f"grams{i}"] = [
            gram
            for form in stored_forms(word)
            for gram in short_grams(form, confined, personal_searchable)
        ]
    shape = FilterShape(
        statuses="statuses" in params,
        include_disabled=f.include_disabled,
        include_inactive=f.include_inactive,
        roles="roles" in params,
        kinds="kinds" in params,
        company="company" in params,
        manager="manager_id" in params,
        sids="sids" in params,
        words=len(words),
        personal_searchable=personal_searchable,
        indexed=bool(indexed),
        reports_to="reports_to" in params,
        transitive="reports_to" in params and f.transitive,
        confined=confined,
        short=len(short),
        folded=not all(w.isascii() for w in words),
        company_folded=company_folded,
    )
    if route is None:
        route = (routes_of(shape) or [Route.WALK])[0]
    if sieve is not None and (route != Route.WALK or sieve not in routes_of(shape)):
        raise ValueError(f"no sieve {sieve} on route {route}")
    if route.value == shape.route and sieve is None:  # most queries: no copy (8 us)
        return shape, params
    return replace(shape, route=route.value, sieve=sieve.value if sieve else ""), params


class Route(enum.StrEnum):
    """Where a directory query reads its rows: along the sort's keyset index, checking
    each row until the page is full (a query without a narrowing condition), or from the
    rows one narrowing condition's index names, sorted afterwards."""

    WALK = "walk"
    SEARCH = "search"  # the long words' trigram index
    SHORT = "short"  # the short-word index (words of 1-2 characters)
    ROLES = "roles"
    COMPANY = "company"


# A probe counts each narrowing index's rows up to this (``probe_select``): enough to tell
# a rare word or a few-row filter (read its rows, sort them) from a common one.
ROUTE_CAP = 1000


def routes_of(shape: FilterShape) -> list[Route]:
    """The narrowing conditions a query of this shape has an index for."""
    routes = []
    if shape.indexed:
        routes.append(Route.SEARCH)
    if shape.short:
        routes.append(Route.SHORT)
    if shape.roles:
        routes.append(Route.ROLES)
    if shape.company:
        routes.append(Route.COMPANY)
    return routes


def probe_select(shape: FilterShape) -> Select | None:
    """How many rows (up to ``cap``) each narrowing index names, one column per route of
    ``routes_of``; None when there is none."""
    routes = routes_of(shape)
    if not routes:
        return None
    return select(*(_capped_count(shape, route).label(route.value) for route in routes))


def choose_route(counts: dict[Route, int]) -> Route:
    """The route of a query given the probe's counts: the index naming the fewest rows.

    Walking the sort's index instead pays only where the matches are spread evenly along
    the sort; where they cluster (a common last name, sorted by last name) a walk reads
    most of the account before the page fills, so a query with a narrowing index reads
    that index's rows."""
    if not counts:
        return Route.WALK
    return min(counts, key=lambda r: counts[r])


# MATCHES_FIRST (PostgreSQL): a search's page is read by one of two plans, and the planner
# cannot tell which is right. Its statistics say how many records match, never where along
# the sort they lie: it walks the sort's index expecting matches spread evenly, and where
# they cluster far along it (a common last name, sorted by last name) the walk reads and
# matches most of the account (100 ms at 100,000). In an account of more than
# ``LARGE_ACCOUNT`` records, a search asks the planner first how many records match and
# how many its filter lists (``estimate_select``); where more than ``AHEAD`` but at most
# half of them match (``search_plan``), the page may look ``AHEAD`` records along the
# sort (a common word spread evenly fills it there), and if that is not enough it reads
# every match's id and sort keys by the search indexes, sorts those narrow rows, and reads
# the page's rows by id. Otherwise the planner's own plan is the better one: a rare word's
# index, or a walk that meets a page of a word most records hold before it has read the
# rest. The matches are read from the directory keys (``DIRECTORY_KEYS``: each record's
# listing, sort keys and lower-cased searched text, a third of a staff row, kept in step
# by triggers) where the search filters by nothing else (``_reads_keys``): a match there
# costs half what it costs on staff (13-16 ms for a fifth of 100,000, against 27).
LARGE_ACCOUNT = 5000  # sids issued: the planner's walk reads at most this many records


def may_read_matches_first(actor: Actor, query: StaffQuery) -> bool:
    """Whether a page on PostgreSQL may read its matches first (``MATCHES_FIRST``): it
    searches, in a large account (any, where the actor does not carry its account), the
    directory (a guest sees their own record and their projects' people, whom the
    planner's estimates do not count: it takes them for half the account)."""
    if not (query.search and query.search.split()) or not access.sees_directory(actor):
        return False
    account = actor.account
    return account is None or account.staff_seq > LARGE_ACCOUNT


# How many records a page whose word is common looks at first, along the sort from its
# cursor, before it walks further with a sieve (``sieve_of``): a word in one record of
# twenty fills a page of 50 there, in a millisecond or two.
AHEAD = 1000


def sieve_of(counts: dict[Route, int]) -> Route | None:
    """A page's sieve given the probe's counts (SQLite): when every narrowing index names
    ``ROUTE_CAP`` rows or more, the page walks the sort's index instead of sorting that
    many rows, and checks each walked row against the index naming the fewest (the ids
    it names, gathered once) before reading the row: a step along an index and a lookup
    in that set, where reading the row and matching its fields costs ten times more.

    This serves a common word whether its matches are spread along the sort (the page
    fills after a few hundred steps) or clustered far along it (the walk steps past the
    records before them without reading them), where sorting every match read (FTS5
    names them quickly, but each is a row read and matched) cost 0.1-0.5 s at 100,000."""
    if not counts or min(counts.values()) < ROUTE_CAP:
        return None
    return choose_route(counts)


def _project_peers(me: ColumnElement, record: Any = Staff) -> ColumnElement:
    """Whether a record (of ``Staff``, or of an alias of it) is ``me`` or someone on one
    of ``me``'s projects."""
    mine = aliased(ProjectMember, name="mine")
    theirs = aliased(ProjectMember, name="theirs")
    peers = (
        select(theirs.staff_id)
        .join(mine, mine.project_id == theirs.project_id)
        .where(mine.staff_id == me)
    )
    return or_(record.id == me, record.id.in_(peers))


def visible(actor: Actor) -> list[ColumnElement]:
    """The records ``actor`` sees at all: their account's; for a guest, their own and
    those of the people on their projects. Every read of staff records filters by it."""
    confined = None
    if not access.sees_directory(actor):
        confined = literal_column(str(int(actor.staff_id)), Integer)
    return _seen_in(actor.account_id, confined)


def _seen_in(account_id, confined_to: ColumnElement | None) -> list[ColumnElement]:
    """``visible``'s conditions over given values (numbers, or parameters bound when a
    statement built once runs): the records of the account; with ``confined_to`` (a
    guest's own record), only that one and those of the people on its projects."""
    conditions: list[ColumnElement] = [Staff.account_id == account_id]
    if confined_to is not None:
        conditions.append(_project_peers(confined_to))
    return conditions


def directory_filter(shape: FilterShape, *, by_id: bool = False) -> list[ColumnElement]:
    """The conditions of a directory query of this shape; ``by_id``: the query names the
    ids to read another way (a page that looks ``AHEAD``)."""
    # On a narrowing route, SQLite reads the rows the route's index names (by id) and
    # must not walk the account's rows instead, whatever its statistics say (it has none
    # until ANALYZE, and then it only knows the account's size).
    narrowed = shape.route != Route.WALK
    account = SqliteUnindexed(Staff.account_id) if narrowed or by_id else Staff.account_id
    conditions: list[ColumnElement] = [account == bindparam("account_id")]
    if shape.confined:
        conditions.append(_project_peers(bindparam("self_id", type_=Integer)))
    conditions += _listing(shape, Staff)
    if shape.roles:
        conditions.append(Staff.role.in_(bindparam("roles", expanding=True)))
    if shape.kinds:
        conditions.append(Staff.kind.in_(bindparam("kinds", expanding=True)))
    if shape.company:
        conditions += _company_is(Staff, shape)
    if shape.manager:
        conditions.append(Staff.manager_id == bindparam("manager_id"))
    if shape.transitive:
        conditions.append(Staff.id.in_(select(_BELOW.c.id)))
        conditions.append(Staff.id != bindparam("reports_to"))  # itself, were it in a cycle
    elif shape.reports_to:
        conditions.append(Staff.manager_id == bindparam("reports_to"))
    if shape.sids:
        conditions.append(Staff.sid.in_(bindparam("sids", expanding=True)))
    if narrowed:
        # The rows the route's index names: a superset of the rows the conditions here
        # match (they decide; the index only narrows where they look).
        conditions.append(_narrowed(shape, Route(shape.route)))
    if shape.sieve:
        # The same superset, tested on each row the walk steps to: ``+id`` so that
        # SQLite keeps walking the sort's index, and tests the id it holds before reading
        # the row (a condition on an index's columns comes first)
        sieve = _candidates(shape, Route(shape.sieve), "sqlite", loose=True)
        conditions.append(ByDialect(SqliteUnindexed(Staff.id).in_(sieve), true()))
    if shape.route == Route.SHORT:
        # PostgreSQL's short-word index serves this condition (SQLite's: ``_narrowed``)
        conditions += [ByDialect(true(), _short_grams_match(Staff, i)) for i in range(shape.short)]
    return conditions + _word_conditions(Staff, shape)


def _listing(shape: FilterShape, of: Any) -> list[ColumnElement]:
    """The records a directory query of this shape lists by their status (disabled ones
    and inactive ones only when asked for), over ``of``'s columns (``Staff``'s, or
    ``DIRECTORY_KEYS.c``)."""
    conditions: list[ColumnElement] = []
    if shape.statuses:
        conditions.append(of.account_status.in_(bindparam("statuses", expanding=True)))
    elif not shape.include_disabled:
        conditions.append(of.account_status != AccountStatus.DISABLED)
    if not shape.include_inactive:
        conditions.append(of.is_inactive.is_(False))
    return conditions


_NARROWING = aliased(Staff, name="narrowing")


def _candidates(shape: FilterShape, route: Route, dialect: str, *, loose: bool = False) -> Select:
    """The ids of the rows a narrowing route's index names in the account: a superset of
    the rows the query matches, as SQL for ``dialect`` ("sqlite", or any other).
    ``loose``: a wider superset that costs less to gather (``_match_expression``), for a
    sieve."""
    other = _NARROWING
    listed = select(other.id).where(other.account_id == bindparam("account_id"))
    if route == Route.SEARCH:
        if dialect == "sqlite":
            fts: ColumnElement[Any] = literal_column(SEARCH_TABLE)
            match = bindparam("sieve_match" if loose else "match", type_=String)
            return (
                select(literal_column("rowid", Integer))
                .select_from(table(SEARCH_TABLE))
                .where(fts.op("MATCH")(match))
            )
        return listed.where(*_word_conditions(other, shape))
    if route == Route.SHORT:
        if dialect == "sqlite":
            return select(SHORT_WORDS.c.staff_id).where(
                SHORT_WORDS.c.account_id == bindparam("account_id"),
                SHORT_WORDS.c.gram.in_(bindparam("grams0", expanding=True)),
            )
        return listed.where(*(_short_grams_match(other, i) for i in range(shape.short)))
    if route == Route.ROLES:
        return listed.where(other.role.in_(bindparam("roles", expanding=True)))
    return listed.where(*_company_is(other, shape))


# A company filter's value beyond ASCII is looked up (SQLite) by every form its lower() may
# have stored, up to this many; past it, each of the account's records is lowered instead
MAX_COMPANY_FORMS = 64


def company_forms(value: str) -> list[str] | None:
    """The values SQLite's lower(company) may hold for a company named ``value`` in any
    case: ASCII letters lowered, each letter beyond ASCII as any character that lowers
    to the same one (``text_case.cases_of``); None past ``MAX_COMPANY_FORMS``."""
    choices: list[Sequence[str]] = []
    count = 1
    for c in value:
        choices.append([c.lower()] if c.isascii() else text_case.cases_of(text_case.lower(c)))
        count *= len(choices[-1])
        if count > MAX_COMPANY_FORMS:  # stops at once, however long the value
            return None
    return ["".join(form) for form in itertools.product(*choices)]


def _company_is(entity, shape: FilterShape) -> list[ColumnElement]:
    """The record's company is the filter's, in any case: lower(company) = lower(:company),
    written as the company sort's expression so that its index (account,
    lower(coalesce(company, ''))) finds the rows. SQLite's lower() knows the case of ASCII
    letters alone: there a value beyond ASCII is matched by the forms it may have stored
    (by the same index) or, past ``MAX_COMPANY_FORMS`` of them, with every letter
    lowered (``text_case``)."""
    company = func.coalesce(entity.company, _EMPTY)
    key = func.lower(company)
    matches: ColumnElement[bool] = key == _lowered("company")
    if shape.company_folded == "forms":
        matches = ByDialect(key.in_(bindparam("company_forms", expanding=True)), matches)
    elif shape.company_folded == "fold":
        matches = ByDialect(unicode_lower(company) == _lowered("company", True), matches)
    return [entity.company.is_not(None), matches]


def _word_conditions(entity, shape: FilterShape) -> list[ColumnElement]:
    """Each search word is a substring of a field the searcher searches (or a whole
    field of ``SEARCH_WHOLE_FIELDS``)."""
    searchable = [
        _lower(getattr(entity, STAFF[name].columns[0]), shape.folded)
        for name in SEARCH_FIELDS
        if _searched(shape, name)
    ]
    return _words_in(shape, searchable, _whole_fields(entity, shape))


def _whole_fields(entity, shape: FilterShape) -> list[ColumnElement]:
    """The lower-cased ``SEARCH_WHOLE_FIELDS`` a search of this shape matches words to."""
    return [
        func.lower(type_coerce(getattr(entity, STAFF[name].columns[0]), String))
        for name in SEARCH_WHOLE_FIELDS
        if _searched(shape, name)
    ]


def _lowered(name: str, folded: bool = False) -> ColumnElement[str]:
    """A bound text lower-cased by the database, as the fields it is compared with are
    (``_lower``): Python's lower() or casefold() is not the database's ("ß" is "ss" to
    casefold; SQLite lowers ASCII alone, so "Élodie" lowered in Python never matched
    itself)."""
    return _lower(bindparam(name, type_=String), folded)


def _lower(text: Any, folded: bool) -> ColumnElement[str]:
    """The database's lower(); ``folded`` (a search word beyond ASCII): every letter lowered
    on SQLite too, whose lower() and LIKE know the case of ASCII letters alone
    (``app.db.text_case``), so that "élodie" finds "Élodie"."""
    return unicode_lower(text) if folded else func.lower(text)


def _words_in(
    shape: FilterShape, searchable: Sequence[ColumnElement], whole: Sequence[ColumnElement]
) -> list[ColumnElement]:
    """Each word is a substring of one of the lower-cased ``searchable`` texts, or one of
    the lower-cased ``whole`` values."""
    conditions = []
    for i in range(shape.words):
        pattern = _lowered(f"word{i}", shape.folded)
        word = _lowered(f"whole{i}", shape.folded)
        conditions.append(
            or_(
                *(col.like(pattern, escape="\\") for col in searchable),
                *(col == word for col in whole),
            )
        )
    return conditions


def _short_grams_match(entity, i: int) -> ColumnElement:
    """PostgreSQL: the record's short-word array (``SHORT_GRAMS_FUNCTION``) holds one of
    the tagged grams of short word ``i``; its GIN index finds the records."""
    grams = func.staff_short_grams(
        *(getattr(entity, STAFF[name].columns[0]) for name in SEARCH_FIELDS)
    )
    return grams.op("&&")(
        bindparam(f"grams{i}", type_=postgresql.ARRAY(Text)).cast(postgresql.ARRAY(Text))
    )


class ByDialect(ColumnElement[Any]):
    """``sqlite`` on SQLite, ``default`` elsewhere."""

    inherit_cache = True
    # Not Boolean by default: SQLAlchemy would compare a Boolean condition with 1 on
    # SQLite, and "id IN (...) = 1" is no longer a lookup of rowids.
    type = NullType()
    _traverse_internals = [
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("default", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, sqlite: ColumnElement, default: ColumnElement, type_=None):
        self.sqlite = sqlite
        self.default = default
        if type_ is not None:
            self.type = type_


@compiles(ByDialect)
def _by_dialect_default(element: ByDialect, compiler, **kw) -> str:
    return compiler.process(element.default, **kw)


@compiles(ByDialect, "sqlite")
def _by_dialect_sqlite(element: ByDialect, compiler, **kw) -> str:
    return compiler.process(element.sqlite, **kw)


def _narrowed(shape: FilterShape, route: Route) -> ColumnElement:
    """On SQLite, the record is among those the route's index names (SQLite reads them by
    id); elsewhere always true: the conditions themselves are what PostgreSQL's indexes
    serve, and its planner, with the statistics of each, picks the index."""
    return ByDialect(Staff.id.in_(_candidates(shape, route, "sqlite")), true())


def _capped_count(shape: FilterShape, route: Route) -> ColumnElement:
    cap = bindparam("cap", type_=Integer)

    def count(dialect: str):
        capped = _candidates(shape, route, dialect).limit(cap).subquery()
        return select(func.count()).select_from(capped).scalar_subquery()

    return ByDialect(count("sqlite"), count("postgresql"), Integer())


def _searched(shape: FilterShape, name: str) -> bool:
    """Whether a search of this shape looks in ``name``."""
    return _searchable(name, confined=shape.confined, personal=shape.personal_searchable)


def _searchable(name: str, *, confined: bool, personal: bool) -> bool:
    """Whether a searcher looks in ``name``: where every such searcher sees it (its class
    in STAFF): the name card; the rest of the basic profile unless confined to the name
    card (guests); personal fields with the permit; never a detail."""
    visibility = STAFF[name].visibility
    if visibility is Visibility.CARD:
        return True
    if confined:
        return False
    return visibility is Visibility.BASIC or (personal and visibility is Visibility.PERSONAL)


# --- the search index -------------------------------------------------------------------
#
# A word matches a field when it is a case-insensitive substring of it (whole, for
# SEARCH_WHOLE_FIELDS). No B-tree serves that; trigram indexes do, for words of three
# characters or more:
#
# - PostgreSQL: a GIN trigram index on lower(<field>) for each searched field
#   (``SEARCH_TRIGRAM_INDEXES``, migration 0013) serves the search's own
#   ``lower(field) LIKE '%word%'`` and ``lower(role) = 'word'`` conditions; the statement
#   needs nothing more.
# - SQLite: the FTS5 table ``staff_search`` (trigram tokenizer, one column per searched
#   field, kept in step with staff by triggers in the same transaction) gives the ids of
#   the records where each long word occurs in a field the searcher may search (a column
#   filter), and the LIKE conditions then decide among those. FTS5 folds case at least as
#   far as lower() does, so what it finds is a superset of what LIKE matches.
#
# Words of one or two characters have an index of their own (migration 0021): every
# substring of one or two characters of lower(<field>) of each searched field, tagged with
# the field (``SHORT_WORD_TAGS``) so that a searcher finds only by fields they search:
#
# - PostgreSQL: the expression ``staff_short_grams(<fields>)`` (an immutable SQL function
#   returning that array) with a GIN index; the condition ``... && <the word's entries>``.
# - SQLite: the table ``staff_short_word`` (account, entry, staff id) kept in step with
#   staff by triggers in the same transaction.
#
# Either names a superset of the records whose LIKE conditions match (a matching word is
# a substring of lower(<field>)), and the LIKE conditions decide among them.
#
# Which index a query reads is chosen per query (``Route``): a capped probe counts the
# rows each narrowing index (long words, short words, roles, company) names, and the
# query reads the fewest.

MIN_INDEXED_WORD = 3  # a trigram index finds nothing for fewer characters


def stored_forms(word: str) -> list[str]:
    """The forms a short word (lowered by ``text_case.lower``) may take in the short-word
    index's entries: SQLite's triggers store substrings of its lower(<field>), which leaves
    letters beyond ASCII as they are, so "öz" is found as "öz" or "Öz" (each letter beyond
    ASCII as any character that lowers to it, ``text_case.cases_of``; ASCII ones lowered).
    PostgreSQL's lower() lowers them all (and "İ", kept by ``lower``, to "i": its first
    character in Python's lower case). Forms one database never stores find nothing there,
    and the LIKE conditions decide."""
    choices = []
    for c in word:
        if c.isascii():
            choices.append([c])
            continue
        full = c.lower()
        extra = [full[0]] if len(full) > 1 else []
        choices.append(list(dict.fromkeys([*text_case.cases_of(c), *extra])))
    return ["".join(form) for form in itertools.product(*choices)]


def short_grams(word: str, confined: bool, personal: bool) -> list[str]:
    """The short-word index's entries a short word is found by: the word tagged with each
    field the searcher searches (``SHORT_WORD_TAGS``). The index holds every substring of
    one or two characters of lower(<field>), so it names every record the word's LIKE
    condition can match."""
    return [
        SHORT_WORD_TAGS[name] + word
        for name in SEARCH_FIELDS
        if _searchable(name, confined=confined, personal=personal)
    ]


def _match_expression(
    words: list[str], confined: bool, personal: bool, *, loose: bool = False
) -> str:
    """The FTS5 query finding the records where every word occurs in a field the searcher
    searches: ``{first_name last_name ...} : "word" AND ...``.

    ``loose``: where each word's first and last trigram occur in those fields, anywhere
    (``{...} : ("eng" AND "eer")``): more records, but no positions to read, so a common
    word's records are gathered five times faster (a phrase of a long word is its every
    trigram, one after another: "engineer" in 66,666 of 100,000 records took 20 ms, its two
    trigrams 3). A sieve (``sieve_of``) wants that: the walk's own conditions decide."""
    columns = " ".join(
        STAFF[name].columns[0]
        for name in (*SEARCH_FIELDS, *SEARCH_WHOLE_FIELDS)
        if _searchable(name, confined=confined, personal=personal)
    )

    def quoted(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    if loose:
        phrases = [
            "(" + " AND ".join(quoted(t) for t in dict.fromkeys((w[:3], w[-3:]))) + ")"
            for w in words
        ]
    else:
        phrases = [quoted(w) for w in words]
    return " AND ".join(f"{{{columns}}} : {phrase}" for phrase in phrases)


def _make_below() -> CTE:
    """The ids of everyone below ``reports_to`` in the account (its reports, theirs...).
    One object (``_BELOW``), built at import: a statement that filters twice (the search's
    estimates) names it twice, and two CTEs of the same name would not compile.

    UNION (not UNION ALL) keeps each id once, so the recursion ends on any data, a cycle
    included (the service refuses one, but rows can be written behind its back): each step
    can only add ids of the account's records not found before."""
    below = (
        select(Staff.id.label("id"))
        .where(
            Staff.account_id == bindparam("account_id"),
            Staff.manager_id == bindparam("reports_to"),
        )
        .cte("below", recursive=True)
    )
    report = aliased(Staff, name="report")
    return below.union(
        select(report.id)
        .join(below, report.manager_id == below.c.id)
        .where(report.account_id == bindparam("account_id"))
    )


_BELOW = _make_below()


def validate(actor: Actor, query: StaffQuery) -> None:
    if not 0 <= query.first <= MAX_PAGE_SIZE:
        raise InvalidQuery(f"first must be between 0 and {MAX_PAGE_SIZE}.", field=["first"])
    if query.sort in PERSONAL_SORT_KEYS and Permit.VIEW_PERSONAL_DATA not in actor.permits:
        name = STAFF[SORT_FIELDS[query.sort]].api
        raise InvalidQuery(f"Sorting by {name} needs the ViewPersonalData permit.", field=["sort"])
    if not access.open_to(actor, SORT_FIELDS[query.sort]):
        name = STAFF[SORT_FIELDS[query.sort]].api
        raise InvalidQuery(f"Guests may not sort by {name}.", field=["sort"])
    for name, field_name in FILTER_FIELDS.items():
        if getattr(query.filter, name) != getattr(_FILTER_OFF, name) and not access.open_to(
            actor, field_name
        ):
            raise InvalidQuery(
                f"Guests may not filter by {STAFF[field_name].api}.",
                field=["filter", camel(name)],
            )
    if query.search and len(query.search) > MAX_SEARCH_LENGTH:
        raise InvalidQuery(
            f"search must be at most {MAX_SEARCH_LENGTH} characters.", field=["search"]
        )
    if query.filter.sids is not None and len(query.filter.sids) > MAX_SIDS:
        raise InvalidQuery(f"sids may name at most {MAX_SIDS} records.", field=["filter", "sids"])
    # NUL never occurs in stored text, and PostgreSQL refuses it as a parameter.
    for name, value in (("search", query.search), ("company", query.filter.company)):
        if value and "\x00" in value:
            raise InvalidQuery(f"{name} contains characters that are not allowed.", field=[name])


# Always read of a row: what decides who sees it (id, restricted) and its manager's key;
# of a manager: what decides who sees it. A page also reads the value its rows are sorted
# by (``PageStatement``), which its cursors carry.
MANAGER_KEYS = frozenset({"id", "restricted"})
ROW_KEYS = MANAGER_KEYS | {"manager_id"}


@dataclass(frozen=True)
class PageColumns:
    """The columns a page reads of each row and of its manager: all of them (None), or
    those named, with ``ROW_KEYS`` and ``MANAGER_KEYS`` added (so pages that read the same
    columns share one statement); and whether the rows' managers are joined at all
    (``managers``). Rows read with fewer columns are records without the others: only a
    reader that knows what it reads (the hot plan) asks for fewer."""

    staff: frozenset[str] | None = None
    manager: frozenset[str] | None = None
    managers: bool = True

    def __post_init__(self):
        for name, keys in (("staff", ROW_KEYS), ("manager", MANAGER_KEYS)):
            wanted = getattr(self, name)
            if wanted is not None:
                object.__setattr__(self, name, frozenset(wanted) | keys)


ALL_COLUMNS = PageColumns()


class PageStatement(NamedTuple):
    """A statement reading records: each row holds the record's columns, then its
    manager's; a page's (``page_select``), then the value the rows are sorted by
    (``sort_expression``), which its cursors carry."""

    prepared: Prepared
    staff: Records  # the row's columns, first
    manager: Records | None  # then its manager's (NULLs when it has none); None: not joined


def page_select(
    actor: Actor,
    query: StaffQuery,
    columns: PageColumns = ALL_COLUMNS,
    route: Route | None = None,
    sieve: Route | None = None,
    ahead: int | None = None,
    matches_first: bool = False,
) -> tuple[PageStatement, dict]:
    """One page plus one row (to know whether another page follows), each row with its
    manager in the same account (or NULLs), so a page never needs a second trip for them.
    Returns the statement (shared by every query of the same shape) and the values to
    execute it with. ``route``: where the rows are read (``probe_select``); by default,
    the first narrowing index the query has; ``sieve``: on a walk, the index each walked
    row is checked against first (``sieve_of``); ``ahead``: only the next so many records
    along the sort are looked at (``AHEAD``), so a page of fewer rows than asked for may
    not be the whole answer; ``matches_first``: every match is found first (by the search
    indexes), then the page's ids among them by the sort alone (``MATCHES_FIRST``)."""
    position = decode_cursor(query)
    shape, params = filter_of(actor, query, route, sieve)
    params["limit"] = query.first + 1
    if ahead is not None:
        params["ahead"] = ahead
    if position is not None:
        params["after_value"], params["after_id"] = position
        if query.sort in NAME_SORT_KEYS and query.direction == SortDirection.ASC:
            params["after_nameless"] = 1 if position[0] == "" else 0
    statement = _page_statement(
        shape,
        query.sort,
        query.direction,
        position is not None,
        columns,
        ahead is not None,
        matches_first,
    )
    return statement, params


# Bounded: a shape is a handful of flags, and each hot plan reads one set of columns.
@lru_cache(maxsize=128)
def _page_statement(
    shape: FilterShape,
    sort: StaffSortKey,
    direction: SortDirection,
    after: bool,
    columns: PageColumns,
    ahead: bool = False,
    matches_first: bool = False,
) -> PageStatement:
    expr = sort_expression(sort)
    conditions = directory_filter(shape, by_id=ahead)
    ascending = direction == SortDirection.ASC
    keys = _sort_keys(expr, Staff.id, sort, ascending)
    order = _order(keys, ascending)
    past = [_past(expr, Staff.id, sort, ascending)] if after else []
    conditions += past
    if ahead:
        # Only the account's next ``ahead`` records along the sort's index (``AHEAD``);
        # uncorrelated, so the inner ``staff`` is a walk of its own
        walked = (
            select(Staff.id)
            .where(Staff.account_id == bindparam("account_id"), *past)
            .order_by(*order)
            .limit(bindparam("ahead", type_=Integer))
            .correlate(None)
        )
        conditions.append(Staff.id.in_(walked))
    limit = bindparam("limit", type_=Integer)
    staff, manager, page = _page_columns(columns, shape.confined)
    if matches_first:
        # The matches' ids and sort keys alone (OFFSET 0 keeps the subquery apart, so its
        # rows are found by the search indexes whatever the outer ORDER BY could walk),
        # the page's ids among them by those keys, then the page's rows by id.
        found = (
            select(*(k.label(f"key{i}") for i, k in enumerate(keys)))
            .where(and_(*conditions))
            .offset(literal_column("0", Integer))
            .subquery("matches")
        )
        top = select(found.c[f"key{len(keys) - 1}"]).order_by(*_order(found.c, ascending))
        read: ColumnElement = Staff.id.in_(top.limit(limit))
        texts = _reads_keys(shape)
        if texts:
            # PostgreSQL: from the directory keys, a narrower copy (``DIRECTORY_KEYS``)
            from_keys = _keys_top(shape, texts, sort, ascending, after, limit)
            read = ByDialect(read, Staff.id.in_(from_keys))
        conditions = [read]
    prepared = Prepared(
        page.add_columns(expr.label("sort_key"))
        .where(and_(*conditions))
        .order_by(*order)
        .limit(limit),
        planned_per_run=searched(shape),
    )
    return PageStatement(prepared, staff, manager)


def _sort_keys(
    expr: ColumnElement, id_: Any, sort: StaffSortKey, ascending: bool
) -> tuple[ColumnElement, ...]:
    """What a page is ordered by: the sort's expression and the id; ascending by a name,
    records without it (stored as "") last. Descending needs no flag: "" is below every
    name, so nameless rows come last already (and the plain (account_id, last_name_key,
    id) index serves the order)."""
    if sort in NAME_SORT_KEYS and ascending:
        return (nameless(expr), expr, id_)
    return (expr, id_)


def _order(keys, ascending: bool) -> tuple[UnaryExpression[Any], ...]:
    return tuple(k.asc() if ascending else k.desc() for k in keys)


def _past(
    expr: ColumnElement, id_: Any, sort: StaffSortKey, ascending: bool
) -> ColumnElement:
    """The records that follow the cursor's (``after_value``, ``after_id``)."""
    key = tuple_(expr, id_)
    mark = tuple_(bindparam("after_value", type_=expr.type), bindparam("after_id", type_=Integer))
    if sort in NAME_SORT_KEYS and ascending:
        # (nameless, name, id) ascending: past a named row come the later named ones
        # and then every nameless one; past a nameless one, nameless ones of higher id.
        key = tuple_(nameless(expr), expr, id_)
        mark = tuple_(bindparam("after_nameless", type_=Integer), *mark.clauses)
    # Descending, nameless rows (name "") come last, and "" is below every name, so
    # (name, id) below the mark already selects exactly the rows that follow it.
    return key > mark if ascending else key < mark


def _keys_texts(shape: FilterShape) -> list[ColumnElement] | None:
    """The directory keys' text columns (``DIRECTORY_TEXTS``) holding exactly the fields
    a search of this shape looks in; None where no set of them does (a field's class
    changed since they were made: a viewer who may not search a title must not find a
    record by the column holding it)."""
    searched = {name for name in SEARCH_FIELDS if _searched(shape, name)}
    chosen = [name for name, fields in DIRECTORY_TEXTS.items() if set(fields) <= searched]
    held = {f for name in chosen for f in DIRECTORY_TEXTS[name]}
    return [keys_text(name) for name in chosen] if held == searched else None


def keys_text(name: str) -> ColumnElement[str]:
    """What a search matches its words to in the directory keys' text column ``name``
    (``DIRECTORY_TEXTS``): the fields it holds, lower-cased."""
    text = DIRECTORY_KEYS.c[name]
    return text if name in DIRECTORY_FOLDED else func.lower(text)


def _reads_keys(shape: FilterShape) -> list[ColumnElement] | None:
    """The text columns a search of this shape matches its words to where it may read
    its matches from the directory keys (``DIRECTORY_KEYS``), else None: it filters by
    nothing they do not hold (the listing's statuses alone), each of its words is long
    enough for their trigram indexes, and the fields it looks in are those of some of
    their text columns (``_keys_texts``)."""
    narrowed = (
        shape.roles or shape.kinds or shape.company or shape.manager or shape.sids
        or shape.reports_to or shape.confined
    )
    if not shape.words or shape.short or narrowed:
        return None
    return _keys_texts(shape)


def _keys_top(
    shape: FilterShape,
    texts: list[ColumnElement],
    sort: StaffSortKey,
    ascending: bool,
    after: bool,
    limit: BindParameter,
) -> Select:
    """The ids of a page's records, from the directory keys: every match found by their
    trigram indexes in ``texts`` and rechecked there, then sorted by the sort's key (the
    same values as the page's, so the same records in the same order)."""
    k = DIRECTORY_KEYS.c
    expr = keys_sort_expression(sort)
    conditions = [
        k.account_id == bindparam("account_id"),
        *_listing(shape, k),
        *_words_in(shape, texts, _whole_fields(k, shape)),
    ]
    if after:
        conditions.append(_past(expr, k.id, sort, ascending))
    keys = _sort_keys(expr, k.id, sort, ascending)
    return select(k.id).where(*conditions).order_by(*_order(keys, ascending)).limit(limit)


def estimate_select(actor: Actor, query: StaffQuery) -> tuple[Prepared, dict]:
    """For the planner's estimates (PostgreSQL): the records a search matches, then the
    records its filter lists without the words (``search_plan``)."""
    shape, params = filter_of(actor, query, Route.WALK)
    return _estimate_statement(shape), params


@lru_cache(maxsize=64)
def _estimate_statement(shape: FilterShape) -> Prepared:
    listed = replace(shape, words=0, indexed=False, short=0)
    one = literal_column("1", Integer)
    matched = select(one).where(and_(*directory_filter(shape)))
    return Prepared(
        matched.union_all(select(one).where(and_(*directory_filter(listed)))),
        planned_per_run=True,
    )


class SearchPlan(enum.Enum):
    """How a search's page is read on PostgreSQL in a large account (``MATCHES_FIRST``)."""

    PLANNER = "planner"  # the statement as it is, planned for its words
    MATCHES = "matches"  # every match first, then the page among them
    AHEAD = "ahead"  # the next AHEAD records along the sort, then (if short) MATCHES


def search_plan(matched: float, listed: float, wanted: int) -> SearchPlan:
    """The plan of a search's page (``MATCHES_FIRST``), given the planner's estimates of
    the records matched and listed, and the rows the page wants.

    Reading the matches costs about as much a match as walking costs a record, and a walk
    reads at most the records that do not match (and the page) before it fills: the
    matches pay where they are at most half, and up to ``AHEAD`` of them the planner's
    own plan reads them by its indexes. Looking ahead first pays where the matches are
    many enough to fill the page within ``AHEAD`` records if they were spread evenly."""
    if matched <= AHEAD or matched * 2 > listed:
        return SearchPlan.PLANNER
    if matched * AHEAD >= listed * wanted:
        return SearchPlan.AHEAD
    return SearchPlan.MATCHES


def look_ahead(matched: float, records: float, wanted: int, most: int = AHEAD) -> int:
    """How many records along the sort a page looks at first (``SearchPlan.AHEAD``),
    given the planner's estimate of the records matched and the account's records (the
    look ahead walks them all, listed or not): twice as many as hold the page's matches
    were they spread evenly, at most ``most``. A spread word's page is found there (it
    expects twice the rows it wants); a clustered word's is not, and costs less before
    its matches are read (each record looked at is a row read by its key)."""
    evenly = records * wanted / matched if matched > 0 else most
    return max(1, min(most, math.ceil(2 * evenly)))


# What a record is looked up by: its primary key, or its number in the account (sids are
# unique within an account, and ``visible`` keeps to the actor's).
RecordKey = Literal["id", "sid"]
_RECORD_KEYS: dict[str, Any] = {"id": Staff.id, "sid": Staff.sid}


def record_select(
    actor: Actor, key: int, columns: PageColumns = ALL_COLUMNS, *, by: RecordKey = "id"
) -> tuple[PageStatement, dict]:
    """The record whose ``by`` (its primary key ``id``, or its ``sid``) is ``key`` if
    ``actor`` sees it (``visible``), with its manager in the same account joined as a
    page's rows have theirs (NULLs when it has none), in one statement built once per
    key, kind of viewer and set of columns. Returns the statement and the values to
    execute it with."""
    confined, params = _seen_params(actor, key=key)
    return _record_statement(by, confined, columns), params


def _seen_params(actor: Actor, **values) -> tuple[bool, dict]:
    """Whether ``actor`` is confined (a guest: ``_seen_in``'s second condition), and the
    values ``_seen_in``'s parameters take for them, with ``values``."""
    confined = not access.sees_directory(actor)
    params: dict = {"account_id": actor.account_id, **values}
    if confined:
        params["self_id"] = actor.staff_id
    return confined, params


@lru_cache(maxsize=32)
def _record_statement(by: RecordKey, confined: bool, columns: PageColumns) -> PageStatement:
    staff, manager, page = _page_columns(columns, confined)
    seen = _seen_in(
        bindparam("account_id", type_=Integer),
        bindparam("self_id", type_=Integer) if confined else None,
    )
    one = page.where(_RECORD_KEYS[by] == bindparam("key", type_=Integer), *seen)
    return PageStatement(Prepared(one), staff, manager)


_MANAGER = aliased(Staff, name="manager")
_STAFF_KEYS = tuple(inspect(Staff).column_attrs.keys())


def _keys(wanted: frozenset[str] | None) -> tuple[str, ...]:
    if wanted is None:
        return _STAFF_KEYS
    unknown = wanted - set(_STAFF_KEYS)
    if unknown:
        raise ValueError(f"not columns of staff: {sorted(unknown)}")
    return tuple(k for k in _STAFF_KEYS if k in wanted)


@lru_cache(maxsize=32)
def _page_columns(
    columns: PageColumns, confined: bool
) -> tuple[Records, Records | None, Select]:
    """The rows' columns and their managers', joined as the viewer sees them: in the same
    account and, for a guest (``confined``: the statement binds ``self_id``), only a
    manager the guest sees (``visible``), so that a row's manager column is exactly what
    looking the manager up by id would find. No manager (None) unless ``managers``."""
    staff = Records(Staff, "staff", _keys(columns.staff))
    if not columns.managers:
        return staff, None, select(*staff.columns)
    manager = Records(_MANAGER, "manager", _keys(columns.manager))
    seen = [_MANAGER.id == Staff.manager_id, _MANAGER.account_id == Staff.account_id]
    if confined:
        seen.append(_project_peers(bindparam("self_id", type_=Integer), _MANAGER))
    page = select(*staff.columns, *manager.columns).outerjoin(_MANAGER, and_(*seen))
    return staff, manager, page


@lru_cache(maxsize=3)
def _chain_ids(by: RecordKey | None = None):
    """The ids of the records ``chain_ids`` (or of the record whose ``by`` is ``key``) and
    of the managers above them, in the account ``account_id`` (a recursive CTE). Built
    once: aliasing Staff costs more than the statement itself takes to run."""
    account_id = bindparam("account_id", type_=Integer)
    start = (
        Staff.id.in_(bindparam("chain_ids", expanding=True))
        if by is None
        else _RECORD_KEYS[by] == bindparam("key", type_=Integer)
    )
    up = (
        select(Staff.id.label("id"))
        .where(Staff.account_id == account_id, start)
        .cte("up", recursive=True)
    )
    link = aliased(Staff, name="link")
    return up.union(
        select(link.manager_id)
        .join(up, link.id == up.c.id)
        .where(link.account_id == account_id, link.manager_id.is_not(None))
    )


# Bounded: two kinds of viewer, three starts, and a handful of plans' column sets.
@lru_cache(maxsize=32)
def _chain_statement(
    confined: bool, by: RecordKey | None = None, columns: frozenset[str] | None = None
) -> tuple[Prepared, Records]:
    """``columns``: those the rows are read with (all: None), with ``ROW_KEYS`` and the
    key the record is found by; as with ``PageColumns``, only a reader that knows what it
    reads (the hot plan) asks for fewer."""
    up = _chain_ids(by)
    if columns is not None:
        columns = columns | ROW_KEYS | ({by} if by else set())
    records = Records(Staff, "staff", _keys(columns))
    seen = _seen_in(
        bindparam("account_id", type_=Integer),
        bindparam("self_id", type_=Integer) if confined else None,
    )
    return Prepared(select(*records.columns).join(up, Staff.id == up.c.id).where(*seen)), records


def chain_select(actor: Actor, ids: list[int]) -> tuple[Prepared, Records, dict]:
    """The records of ``ids`` and of every manager above them that ``actor`` sees
    (``visible``), in one statement built once per kind of viewer; with its records and
    the values to execute it with."""
    confined, params = _seen_params(actor, chain_ids=list(ids))
    statement, records = _chain_statement(confined)
    return statement, records, params


def record_chain_select(
    actor: Actor, key: int, *, by: RecordKey = "id", columns: frozenset[str] | None = None
) -> tuple[Prepared, Records, dict]:
    """``chain_select`` starting from the record whose ``by`` is ``key`` (as
    ``record_select`` finds it): the record if ``actor`` sees it, with every manager above
    it that they see, in one statement; each read with ``columns`` (``_chain_statement``)."""
    confined, params = _seen_params(actor, key=key)
    statement, records = _chain_statement(confined, by, columns)
    return statement, records, params


def count_select(
    actor: Actor, query: StaffQuery, route: Route | None = None
) -> tuple[Prepared, dict]:
    shape, params = filter_of(actor, query, route)
    return _count_statement(shape), params


def searched(shape: FilterShape) -> bool:
    """Whether a directory statement of this shape searches: its best plan depends on
    the words, so PostgreSQL plans it for each run's (``Prepared.planned_per_run``)."""
    return shape.words > 0


class Probe(NamedTuple):
    prepared: Prepared
    params: dict
    routes: list[Route]  # what each of its columns counts


def probe_of(actor: Actor, query: StaffQuery) -> Probe | None:
    """The probe choosing a query's route (``probe_select``) and its values; None when
    the query has no narrowing index (it walks the sort's)."""
    shape, params = filter_of(actor, query, Route.WALK)
    prepared = _probe_statement(shape)
    if prepared is None:
        return None
    params["cap"] = ROUTE_CAP
    return Probe(prepared, params, routes_of(shape))


@lru_cache(maxsize=128)
def _probe_statement(shape: FilterShape) -> Prepared | None:
    statement = probe_select(shape)
    return None if statement is None else Prepared(statement, planned_per_run=searched(shape))


@lru_cache(maxsize=256)
def _count_statement(shape: FilterShape) -> Prepared:
    statement = select(func.count()).select_from(Staff).where(and_(*directory_filter(shape)))
    return Prepared(statement, planned_per_run=searched(shape))


def staff_in_account(actor: Actor, staff_id: int) -> Select:
    """The record ``staff_id`` if ``actor`` sees it (``visible``)."""
    return select(Staff).where(Staff.id == staff_id, *visible(actor))


def administrators(account_id: int) -> Select[Staff]:
    """The account's active members who administer it (holders of MANAGE_ACCOUNT): whom
    notices about the account go to, and who join every project."""
    return select(Staff).where(
        Staff.account_id == account_id,
        Staff.account_status == AccountStatus.ACTIVE,
        Staff.role.in_(roles_holding(Permit.MANAGE_ACCOUNT)),
    )
