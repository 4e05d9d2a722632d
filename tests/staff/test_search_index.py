"""The directory's search through its indexes (PostgreSQL trigram indexes, SQLite's FTS5
table): it finds exactly what a plain substring match over the fields the searcher may see
finds; the FTS5 table stays in step with staff through every write, a rolled-back one
included; and at a realistic size the search and every sort read an index, not the table.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, text, update

from app.access import Actor, Role
from app.identity.service import authenticate_actor
from app.projects.models import Project, ProjectMember
from app.staff.models import Staff
from app.staff.queries import (
    PERSONAL_SORT_KEYS,
    Route,
    SortDirection,
    StaffFilter,
    StaffQuery,
    StaffSortKey,
    choose_route,
    count_select,
    filter_of,
    page_select,
    routes_of,
    sieve_of,
)
from app.staff.service import count_staff, list_staff
from tests.factories import Member, insert_staff_rows, make_member, make_tenant

# ASCII, where every database's lower() agrees with Python's; with LIKE's wildcards and
# escape, FTS5's quote and spaces' neighbours among them.
TEXT = st.text(alphabet=string.ascii_letters + string.digits + "%_\\\"'-. ", max_size=12)


def records_of(text, email: str, roles: list[Role], **more) -> st.SearchStrategy[dict]:
    """Generated records: names of ``text`` (never blank), title and company of ``text``
    or none, an email's local part matching ``email`` or none, one of ``roles``, and the
    ``more`` columns' strategies."""
    name = text.map(str.strip).filter(bool)
    return st.fixed_dictionaries(
        {
            "first_name": name,
            "last_name": name,
            "title": st.none() | text,
            "company": st.none() | text,
            "email": st.none() | st.from_regex(email, fullmatch=True),
            "role": st.sampled_from(roles),
            **more,
        }
    )


RECORD = records_of(TEXT, r"[a-z0-9.%_]{1,8}", [Role.VIEWER, Role.EDITOR, Role.GUEST])
WORD = st.text(alphabet=string.ascii_letters + string.digits + "%_\\\"'-.@", min_size=1,
               max_size=6)
# words of one or two characters (the short-word index's), common and rare
SHORT_WORD = st.text(alphabet="aeAE1.@_%x", min_size=1, max_size=2)

# What each searcher's words may match (tests/staff/test_guests.py: guests see the name
# card; personal fields need the ViewPersonalData permit); role is matched whole.
SEES = {
    "owner": ("first_name", "last_name", "title", "company", "email"),
    "viewer": ("first_name", "last_name", "title", "company"),
    "guest": ("first_name", "last_name", "title"),
}
WHOLE = {"owner": ("role",), "viewer": ("role",), "guest": ()}
_emails = itertools.count(1)


@dataclass
class World:
    tenant: object
    members: dict[str, Member]
    project_id: int


@pytest.fixture
async def world(services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER, last_name="Zviewer")
    guest = await make_member(services, tenant, Role.GUEST, last_name="Zguest")
    async with services.db.session(write=True) as session:
        project = Project(account_id=tenant.account_id, name="Search", name_key="search")
        session.add(project)
        await session.flush()
        session.add(
            ProjectMember(project_id=project.id, staff_id=guest.staff_pk,
                          account_id=tenant.account_id)
        )
        await session.commit()
        project_id = project.id
    return World(tenant, {"owner": tenant.owner, "viewer": viewer, "guest": guest}, project_id)


async def actor_of(services, member: Member) -> Actor:
    async with services.db.session() as session:
        _, actor = await authenticate_actor(session, member.token, member.realm)
    assert actor is not None
    return actor


def oracle(records: list[dict], words: list[str], who: str) -> set[str]:
    """The generated records a search finds, by plain Python."""
    found = set()
    for r in records:
        seen = [(r[f] or "").lower() for f in SEES[who]]
        whole = [r[f].value.lower() for f in WHOLE[who]]
        if all(any(w.casefold() in s for s in seen) or w.casefold() in whole for w in words):
            found.add(r["last_name"])
    return found


async def forget_records(services, world: World) -> None:
    """Deletes the account's records but its members' (a generated example's own)."""
    members = [m.staff_pk for m in world.members.values()]
    async with services.db.session(write=True) as session:
        await session.execute(
            delete(Staff).where(Staff.account_id == world.tenant.account_id,
                                Staff.id.not_in(members))
        )
        await session.commit()


async def replace_records(services, world: World, records: list[dict]) -> list[dict]:
    """The account's generated records become ``records`` (each on the guest's project)."""
    rows = [
        {**r, "last_name": f"{r['last_name']}~{i}",
         "email": None if r["email"] is None else f"{r['email']}{next(_emails)}@x.test"}
        for i, r in enumerate(records)
    ]
    await forget_records(services, world)
    if not rows:
        return rows
    sids = await insert_staff_rows(services, world.tenant, rows)
    async with services.db.session(write=True) as session:
        ids = (await session.scalars(
            select(Staff.id).where(Staff.account_id == world.tenant.account_id,
                                   Staff.sid.in_(sids)))).all()
        await session.execute(insert(ProjectMember), [
            {"project_id": world.project_id, "staff_id": i,
             "account_id": world.tenant.account_id} for i in ids])
        await session.commit()
    return rows


async def search(
    services, actor: Actor, words: str, filter: StaffFilter | None = None
) -> tuple[set[str], int]:
    query = StaffQuery(first=100, search=words, filter=filter or StaffFilter())
    async with services.db.session() as session:
        page = await list_staff(session, actor, query)
        total = await count_staff(session, actor, query)
    found = {r.last_name for r in page.rows}
    # every route the query could take reads the same rows, in the same order
    for route, (names, count) in (await by_every_route(services, actor, query)).items():
        assert names == [r.last_name for r in page.rows], (route, words)
        assert count == total, (route, words)
    return found, total


async def by_every_route(services, actor: Actor, query: StaffQuery) -> dict:
    """The page's last names and the count, read by each route the query may take (the
    service picks one of them by its probe): each narrowing index, a walk of the sort's
    index, and that walk checking each row against each narrowing index first (a sieve,
    counted by that index's route)."""
    shape, _ = filter_of(actor, query)
    routes = routes_of(shape)
    found = {}
    async with services.db.session() as session:
        connection = await session.connection()
        ways = [(r, None) for r in (Route.WALK, *routes)] + [(Route.WALK, r) for r in routes]
        for route, sieve in ways:
            statement, params = page_select(actor, query, route=route, sieve=sieve)
            rows = await statement.prepared.all(connection, params)
            names = [statement.staff.take(r).last_name for r in rows[: query.first]]
            counting, params = count_select(actor, query, sieve or route)
            [[count]] = await counting.all(connection, params)
            found[route, sieve] = names, count
    return found


async def looking_ahead(services, actor: Actor, query: StaffQuery, ahead: int) -> list[str]:
    """The last names of the page read from only the next ``ahead`` records along the
    sort (the first look of a common word's page)."""
    async with services.db.session() as session:
        connection = await session.connection()
        statement, params = page_select(actor, query, route=Route.WALK, ahead=ahead)
        rows = await statement.prepared.all(connection, params)
    return [statement.staff.take(r).last_name for r in rows]


@settings(max_examples=25)
@given(records=st.lists(RECORD, max_size=12),
       searches=st.lists(st.lists(WORD | SHORT_WORD, min_size=1, max_size=3), min_size=1,
                         max_size=4),
       data=st.data())
async def test_search_finds_what_a_substring_match_over_the_visible_fields_finds(
    services, world, records, searches, data
):
    rows = await replace_records(services, world, records)
    actors = {who: await actor_of(services, m) for who, m in world.members.items()}
    for words in searches:
        # words taken from the records too, so that searches find something
        if rows:
            r = data.draw(st.sampled_from(rows))
            field = data.draw(st.sampled_from(["first_name", "last_name", "title", "email"]))
            value = r[field] or ""
            if value.strip():
                start = data.draw(st.integers(0, max(0, len(value) - 1)))
                piece = value[start:start + data.draw(st.integers(1, 6))].split()
                words = words[:2] + piece[:1]
        for who, actor in actors.items():
            found, total = await search(services, actor, " ".join(words))
            mine = {n for n in found if "~" in n}
            expected = oracle(rows, [w for w in " ".join(words).split()], who)
            assert mine == expected, (who, words)
            assert total == len(found), (who, words)
        # with the role and company filters (each with an index of its own), for those
        # who may filter by them
        roles = data.draw(st.none() | st.lists(st.sampled_from(list(Role)), min_size=1))
        company = data.draw(st.none() | st.sampled_from(
            [r["company"] for r in rows if r["company"]] or ["acme"]).map(str.upper))
        chosen = StaffFilter(roles=roles, company=company)
        for who in ("owner", "viewer"):
            found, total = await search(services, actors[who], " ".join(words), chosen)
            mine = {n for n in found if "~" in n}
            expected = {
                r["last_name"] for r in rows
                if r["last_name"] in oracle(rows, " ".join(words).split(), who)
                and (roles is None or r["role"] in roles)
                and (company is None or (r["company"] is not None
                                         and r["company"].lower() == company.strip().lower()))
            }
            assert mine == expected, (who, words, chosen)


async def test_fts_table_follows_inserts_updates_deletes_and_rollbacks(services, world, backend):
    actor = await actor_of(services, world.members["owner"])
    viewer = await actor_of(services, world.members["viewer"])
    [row] = await replace_records(services, world, [
        {"first_name": "Quentin", "last_name": "Applegate", "title": "Welder",
         "company": "Zebracorp", "email": "qa", "role": Role.VIEWER}])

    async def finds(who: Actor, words: str) -> set[str]:
        return (await search(services, who, words))[0] - {"Owner", "Zviewer", "Zguest"}

    assert await finds(actor, "pleGAT") == {row["last_name"]}
    assert await finds(actor, "zebra weld") == {row["last_name"]}
    assert await finds(viewer, row["email"][:5]) == set()  # email needs the permit
    assert await finds(actor, row["email"][:5]) == {row["last_name"]}
    async with services.db.session(write=True) as session:
        await session.execute(update(Staff).where(Staff.last_name == row["last_name"]).values(
            title="Glassblower", company=None))
        await session.commit()
    assert await finds(actor, "weld") == set()
    assert await finds(actor, "zebra") == set()
    assert await finds(actor, "glassblow") == {row["last_name"]}
    # a rolled-back write leaves the index as it was
    async with services.db.session(write=True) as session:
        await session.execute(update(Staff).where(Staff.last_name == row["last_name"]).values(
            title="Astronaut"))
        await session.execute(insert(Staff).values(
            account_id=world.tenant.account_id, sid=9999, first_name="Rolled",
            last_name="Backwards", last_name_key="backwards"))
        await session.rollback()
    assert await finds(actor, "astronaut") == set()
    assert await finds(actor, "backwards") == set()
    assert await finds(actor, "glassblow") == {row["last_name"]}
    async with services.db.session(write=True) as session:
        await session.execute(delete(Staff).where(Staff.last_name == row["last_name"]))
        await session.commit()
    assert await finds(actor, "glassblow") == set()
    if backend == "sqlite":
        async with services.db.session() as session:
            check = await session.execute(
                text("INSERT INTO staff_search(staff_search, rank) VALUES ('integrity-check', 1)"))
            del check
            left = await session.scalar(text(
                "SELECT count(*) FROM staff_search WHERE staff_search MATCH 'glassblow'"))
        assert left == 0


# --- plans at a realistic size -----------------------------------------------------------

# PostgreSQL reads a few thousand rows of one account by the account's index as cheaply
# as through the trigram indexes; at 20,000 it no longer does.
SIZES = {"sqlite": 3000, "postgresql": 20000}


@pytest.fixture
async def many(services, world):
    return await seed_many(services, world)


async def seed_many(services, world) -> Actor:
    size = SIZES[services.db.dialect]
    rows = [
        {"first_name": f"First{i % 97}", "last_name": f"Last{i:05d}",
         "title": ("Engineer", "Designer", "Welder")[i % 3],
         "company": f"Company{i % 50}", "email": f"person{i}@many.test"}
        for i in range(size)
    ]
    await insert_staff_rows(services, world.tenant, rows)
    async with services.db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(
            "ANALYZE" if services.db.dialect == "sqlite" else "VACUUM ANALYZE staff")
    return await actor_of(services, world.members["owner"])


async def plan(services, statement, params) -> str:
    async with services.db.engine.connect() as conn:
        sql = statement.compile(dialect=conn.dialect)
        state = sql.construct_expanded_state(params)
        args = [params.get(n, state.parameters.get(n)) for n in state.positiontup]
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if conn.dialect.name == "sqlite":
            rows = await driver.execute_fetchall(
                "EXPLAIN QUERY PLAN " + state.statement, tuple(args))
            return "\n".join(r[3] for r in rows)
        # A table of a few thousand rows is cheaper to read whole or in the account's
        # order; this asks which index the planner takes when it may not.
        await driver.execute("SET enable_seqscan = off")
        try:
            rows = await driver.fetch("EXPLAIN " + state.statement, *args)
        finally:
            await driver.execute("RESET enable_seqscan")
        return "\n".join(r[0] for r in rows)


def _page(actor: Actor, query: StaffQuery, route: Route | None = None, sieve: Route | None = None):
    statement, params = page_select(actor, query, route=route, sieve=sieve)
    return statement.prepared.statement, params


def _count(actor: Actor, query: StaffQuery):
    counting, params = count_select(actor, query)
    return counting.statement, params


def reads_no_table_scan(explained: str, dialect: str) -> bool:
    if dialect == "sqlite":
        return not any(
            line.strip().startswith("SCAN staff") and "INDEX" not in line
            for line in explained.splitlines()
        )
    return "Seq Scan on staff" not in explained


# The checks below need thousands of records (20,000 on PostgreSQL) for the planners to
# choose as they would at size; seeding them is most of their time, so they share one
# seeding (``test_the_indexes_serve_the_directory_at_size``).
async def _search_reads_the_search_index(services, many, backend):
    for words in ("last0042", "welder last0001", "person123 last0012"):
        for statement, params in (
            _page(many, StaffQuery(search=words)),
            _count(many, StaffQuery(search=words)),
        ):
            explained = await plan(services, statement, params)
            if backend == "sqlite":
                # the rows the FTS5 table names, looked up by id: not a walk of the account
                assert "SCAN staff_search VIRTUAL TABLE INDEX" in explained, (words, explained)
                assert "SEARCH staff USING INTEGER PRIMARY KEY (rowid=?)" in explained, (
                    words, explained)
                assert reads_no_table_scan(explained, backend), (words, explained)
            else:
                assert "Bitmap Index Scan on ix_staff_search_" in explained, (words, explained)
        found, total = await search(services, many, words)
        assert min(total, 100) == len(found) > 0, words


async def _every_sort_reads_its_keyset_index_in_order(services, many, backend):
    for key in StaffSortKey:
        for direction in SortDirection:
            query = StaffQuery(sort=key, direction=direction)
            async with services.db.session() as session:
                first = await list_staff(session, many, query)
            later = StaffQuery(sort=key, direction=direction, after=first.cursors[-1])
            for q in (query, later):
                explained = await plan(services, *_page(many, q))
                # served in order by an index starting with the account: no sort step
                assert "TEMP B-TREE" not in explained and "Sort" not in explained, (
                    key, direction, explained)
                assert reads_no_table_scan(explained, services.db.dialect), (
                    key, direction, explained)


def test_role_sort_key_is_the_text_of_its_index():
    from sqlalchemy.dialects import sqlite

    from app.staff.models import ROLE_ORDER_SQL
    from app.staff.queries import sort_expression

    compiled = str(sort_expression(StaffSortKey.ROLE).compile(dialect=sqlite.dialect()))
    assert "?" not in compiled
    assert compiled.replace("staff.", "") == ROLE_ORDER_SQL[1:-1]


async def _default_count_reads_only_an_index(services, many, backend):
    statement, params = _count(many, StaffQuery())
    explained = await plan(services, statement, params)
    if backend == "sqlite":
        assert "COVERING INDEX ix_staff_account_listed" in explained, explained
    else:
        assert "Index Only Scan using ix_staff_account_listed" in explained, explained
    async with services.db.session() as session:
        assert await count_staff(session, many, StaffQuery()) == SIZES[backend] + 3



async def test_short_word_index_follows_inserts_updates_deletes_and_rollbacks(services, world):
    actor = await actor_of(services, world.members["owner"])
    viewer = await actor_of(services, world.members["viewer"])
    [row] = await replace_records(services, world, [
        {"first_name": "Quentin", "last_name": "Applegate", "title": "Welder",
         "company": "Zebracorp", "email": "qj", "role": Role.VIEWER}])
    members = {"Owner", "Zviewer", "Zguest"}

    async def finds(who: Actor, words: str) -> set[str]:
        return (await search(services, who, words))[0] - members

    assert await finds(actor, "wE") == {row["last_name"]}
    assert await finds(actor, "Z") == {row["last_name"]}
    assert await finds(actor, "qj") == {row["last_name"]}  # the email
    assert await finds(viewer, "qj") == set()  # email needs the permit
    assert await finds(actor, "wz") == set()
    async with services.db.session(write=True) as session:
        await session.execute(update(Staff).where(Staff.last_name == row["last_name"]).values(
            title="Glassblower", company=None))
        await session.commit()
    assert await finds(actor, "ze") == set()
    assert await finds(actor, "gl") == {row["last_name"]}
    async with services.db.session(write=True) as session:
        await session.execute(update(Staff).where(Staff.last_name == row["last_name"]).values(
            title="Kx"))
        await session.execute(insert(Staff).values(
            account_id=world.tenant.account_id, sid=9999, first_name="Vy",
            last_name="Backwards", last_name_key="backwards"))
        await session.rollback()
    assert await finds(actor, "kx") == set()
    assert await finds(actor, "vy") == set()
    assert await finds(actor, "gl") == {row["last_name"]}
    async with services.db.session(write=True) as session:
        await session.execute(delete(Staff).where(Staff.last_name == row["last_name"]))
        await session.commit()
    assert await finds(actor, "gl") == set()


async def route_of(services, actor: Actor, query: StaffQuery) -> Route:
    from app.staff.service import _route

    async with services.db.session() as session:
        return await _route(session, await session.connection(), actor, query)


async def _short_words_read_the_short_word_index(services, many, backend):
    query = StaffQuery(search="zq")  # in no record
    assert await route_of(services, many, query) in (Route.SHORT, None)
    explained = await plan(services, *_page(many, query))
    if backend == "sqlite":
        assert "staff_short_word" in explained, explained
        assert reads_no_table_scan(explained, backend), explained
    else:
        assert "Bitmap Index Scan on ix_staff_short_grams" in explained, explained
    assert await search(services, many, "zq") == (set(), 0)
    found, total = await search(services, many, "y7")  # Company7: one record in 50
    assert await route_of(services, many, StaffQuery(search="y7")) in (Route.SHORT, None)
    assert total == SIZES[backend] // 50


async def test_the_index_naming_fewest_rows_is_read(services, world, backend):
    if backend != "sqlite":
        pytest.skip("PostgreSQL's planner chooses with its statistics")
    many = await seed_many(services, world)
    # "welder": a third of the records; "last0001": ten of them; the guest's role: one
    query = StaffQuery(search="welder last0001", filter=StaffFilter(roles=[Role.GUEST]))
    assert await route_of(services, many, query) == Route.ROLES
    assert await route_of(services, many, StaffQuery(search="welder e")) == Route.SEARCH
    found, total = await search(services, many, "welder")
    assert len(found) == 100 and total == SIZES[backend] // 3


async def _few_row_filters_read_their_index(services, many, backend):
    query = StaffQuery(filter=StaffFilter(roles=[Role.GUEST]))  # the guest only
    none = StaffQuery(filter=StaffFilter(company="Initech"))
    if backend == "sqlite":
        assert await route_of(services, many, query) == Route.ROLES
        assert await route_of(services, many, none) == Route.COMPANY
    for q, index in ((query, "ix_staff_account_role"), (none, "ix_staff_account_company")):
        explained = await plan(services, *_page(many, q))
        assert index in explained, explained
        assert reads_no_table_scan(explained, backend), explained
    async with services.db.session() as session:
        page = await list_staff(session, many, query)
        assert [r.last_name for r in page.rows] == ["Zguest"]
        assert await count_staff(session, many, none) == 0


AT_SIZE = [
    _search_reads_the_search_index,
    _every_sort_reads_its_keyset_index_in_order,
    _default_count_reads_only_an_index,
    _short_words_read_the_short_word_index,
    _few_row_filters_read_their_index,
]


async def test_the_indexes_serve_the_directory_at_size(services, many, backend):
    """Searches, every sort, the default count, short words and few-row filters each read
    their index (the checks above), over one seeding of many records."""
    for check in AT_SIZE:
        await check(services, many, backend)


# --- common words: a look ahead, then a walk with a sieve ----------------------------------


async def all_pages(services, actor: Actor, query: StaffQuery, most: int = 1000) -> list[str]:
    """Every page of ``query``, one after another (``after`` the last cursor of each); a
    cursor that leads back to a page read before (more than ``most`` pages) fails rather
    than reading on for ever."""
    names: list[str] = []
    for _ in range(most):
        async with services.db.session() as session:
            page = await list_staff(session, actor, query)
        names += [r.last_name for r in page.rows]
        if not page.has_next:
            return names
        query = replace(query, after=page.cursors[-1])
    raise AssertionError(f"more than {most} pages of {query}: {names[:10]}")


def drawn_words(data, rows: list[dict]) -> str:
    """A search of a piece of one of ``rows``' names or titles (so that it finds something),
    and maybe one more word, long or short."""
    r = data.draw(st.sampled_from(rows))
    value = (r[data.draw(st.sampled_from(["first_name", "last_name", "title"]))] or "x").lower()
    start = data.draw(st.integers(0, max(0, len(value) - 1)))
    piece = value[start : start + data.draw(st.integers(1, 4))].strip() or "x"
    return " ".join([piece, *data.draw(st.lists(SHORT_WORD | WORD, max_size=1))])


# Generated pages, every one of them read several ways: fewer examples, each slower.
PAGES_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def sorts_for(who: str) -> list[StaffSortKey]:
    return [k for k in StaffSortKey if who == "owner" or k not in PERSONAL_SORT_KEYS]


@PAGES_SETTINGS
@given(records=st.lists(RECORD, min_size=1, max_size=12), data=st.data())
async def test_common_and_rare_words_read_the_same_pages(
    services, world, monkeypatch, records, data
):
    """Whether a word counts as common (its narrowing indexes name ``ROUTE_CAP`` rows or
    more: a look ``AHEAD`` along the sort, then a walk with a sieve) or rare (its index's
    rows, sorted) changes no page: here the switch is moved to a few rows, so generated
    searches fall on either side of it, and every page of every sort is read both ways."""
    from app.staff import queries, service

    rows = await replace_records(services, world, records)
    actors = {who: await actor_of(services, world.members[who]) for who in ("owner", "viewer")}
    words = drawn_words(data, rows)
    who = data.draw(st.sampled_from(sorted(actors)))
    query = StaffQuery(
        first=data.draw(st.integers(1, 4)),
        search=words,
        sort=data.draw(st.sampled_from(sorts_for(who))),
        direction=data.draw(st.sampled_from(list(SortDirection))),
    )
    pages = {}
    for cap, ahead in ((10_000, 1000), (1, 1), (2, 3), (3, 1000)):
        monkeypatch.setattr(queries, "ROUTE_CAP", cap)
        monkeypatch.setattr(service, "AHEAD", ahead)
        pages[cap, ahead] = await all_pages(services, actors[who], query)
    assert len(set(map(tuple, pages.values()))) == 1, (words, query, pages)
    everything = pages[10_000, 1000]
    assert {n for n in everything if "~" in n} == oracle(rows, words.split(), who)
    # a look ahead finds the first of the page's rows, or all of it
    for ahead in (1, 2, 5, 50):
        seen = await looking_ahead(services, actors[who], replace(query, first=50), ahead)
        assert seen == everything[: len(seen)], (ahead, words)


async def decided(services, actor: Actor, query: StaffQuery) -> tuple[Route | None, Route | None]:
    """The route and the sieve the service reads ``query``'s page with (SQLite)."""
    from app.staff.service import _probe

    async with services.db.session() as session:
        counts = await _probe(session, await session.connection(), actor, query)
    assert counts is not None
    sieve = sieve_of(counts)
    return (Route.WALK if sieve else choose_route(counts)), sieve


async def test_common_words_walk_the_sort_with_a_sieve(services, world, backend):
    if backend != "sqlite":
        pytest.skip("PostgreSQL's planner chooses with its statistics")
    many = await seed_many(services, world)
    size = SIZES[backend]
    # "welder": a third of the records, spread along every sort; "last02": a thousand
    # records together near the end of the last-name sort (Last02000 to Last02999)
    welders = [f"Last{i:05d}" for i in range(size) if i % 3 == 2]
    clustered = [f"Last{i:05d}" for i in range(2000, 3000)]
    for words, expected in (("welder", welders), ("last02", clustered)):
        query = StaffQuery(first=100, search=words)
        assert await decided(services, many, query) == (Route.WALK, Route.SEARCH)
        explained = await plan(services, *_page(many, query, Route.WALK, Route.SEARCH))
        # along the sort's index, no sort of the matches; the search table read once
        assert "USING INDEX ix_staff_account_named_last_name" in explained, explained
        assert "TEMP B-TREE" not in explained, explained
        assert "LIST SUBQUERY" in explained, explained
        assert await all_pages(services, many, query) == expected
        found, total = await search(services, many, words)  # every route agrees
        assert total == len(expected)
    # a rare word reads its index's rows and sorts them
    assert await decided(services, many, StaffQuery(search="last0042")) == (Route.SEARCH, None)
    # short words: "y7" in Company7's sixty records, "t0" in every record's last name
    assert await decided(services, many, StaffQuery(search="y7")) == (Route.SHORT, None)
    assert await decided(services, many, StaffQuery(search="t0")) == (Route.WALK, Route.SHORT)


async def test_a_search_is_planned_for_its_own_words_however_often_it_runs(
    services, world, backend
):
    """PostgreSQL settles on one generic plan for a prepared statement after five runs,
    whatever the values it then runs with; for a search the best plan depends on the
    words (a generic one took 20 s at 100,000 records where the words' own took a
    millisecond), so the page, its probe and its count are planned for each run's."""
    if backend != "postgresql":
        pytest.skip("SQLite plans each statement as it is prepared")
    owner = await actor_of(services, world.members["owner"])
    queries = [StaffQuery(search=w) for w in ("xy", "ac", "last0001", "a")] * 4
    async with services.db.session() as session:
        for query in queries:
            await list_staff(session, owner, query)
            await count_staff(session, owner, query)
        connection = await session.connection()
        generic = await connection.exec_driver_sql(
            "SELECT count(*) FROM pg_prepared_statements "
            "WHERE generic_plans > 0 AND statement ILIKE '%FROM staff%LIKE%' "
            "AND statement NOT ILIKE '%pg_prepared_statements%'"
        )
        assert generic.scalar() == 0
        # and what is not a search keeps its prepared statement
        for _ in range(8):
            await list_staff(session, owner, StaffQuery())
        kept = await connection.exec_driver_sql(
            "SELECT max(generic_plans + custom_plans) FROM pg_prepared_statements "
            "WHERE statement ILIKE '%FROM staff%'"
        )
        assert kept.scalar() >= 8


def _trigger_steps(path: str, statement: str, values: tuple) -> int:
    """SQLite's virtual-machine steps (in hundreds) of one statement, its triggers
    included, rolled back: a count of work done, not a time."""
    import sqlite3

    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0

    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.set_progress_handler(step, 100)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(statement, values)
        connection.execute("ROLLBACK")
    finally:
        connection.close()
    return steps


async def test_a_records_short_words_are_rewritten_without_reading_the_whole_index(services):
    """Changing or deleting a record rewrites its own short words: the work does not grow
    with the account (it once scanned the whole index, under the write lock)."""
    if services.db.dialect != "sqlite":
        pytest.skip("SQLite's short-word triggers")
    tenant = await make_tenant(services)
    rows = [
        dict(first_name=f"Fay{i}", last_name=f"Longfellow{i}", title="Engineer", company="Acme")
        for i in range(2000)
    ]
    [first] = await insert_staff_rows(services, tenant, rows[:1])
    async with services.db.session() as session:
        staff_id = await session.scalar(
            select(Staff.id).where(Staff.account_id == tenant.account_id, Staff.sid == first)
        )
    path = services.db.engine.url.database
    change = ("UPDATE staff SET title = ?, email = ? WHERE id = ?", ("Welder", "fl@x.example", staff_id))
    removal = ("DELETE FROM staff WHERE id = ?", (staff_id,))
    alone = [_trigger_steps(path, *change), _trigger_steps(path, *removal)]
    await insert_staff_rows(services, tenant, rows[1:])
    among_many = [_trigger_steps(path, *change), _trigger_steps(path, *removal)]
    assert all(0 < a for a in alone)
    assert among_many[0] < alone[0] * 1.5 and among_many[1] < alone[1] * 1.5, (alone, among_many)


@settings(max_examples=40)
@given(records=st.lists(RECORD, min_size=1, max_size=12),
       extra=st.lists(WORD, max_size=2), data=st.data())
async def test_a_sieves_loose_match_finds_every_record_the_words_match(
    services, world, backend, records, extra, data
):
    """SQLite: a sieve gathers its records by each word's first and last trigrams
    (``_match_expression(loose=True)``), a cheaper and wider query than the words'
    phrases: it names every record the phrases name, and so every record they match."""
    if backend != "sqlite":
        pytest.skip("the FTS5 table is SQLite's")
    from app.staff.queries import _match_expression

    rows = await replace_records(services, world, records)
    r = data.draw(st.sampled_from(rows))
    value = (r[data.draw(st.sampled_from(["first_name", "last_name", "title"]))] or "xyz")
    start = data.draw(st.integers(0, max(0, len(value) - 3)))
    piece = value[start : start + data.draw(st.integers(3, 8))]
    words = [w.casefold() for w in [piece, *extra] if len(w.casefold()) >= 3]
    if not words:
        return
    who = data.draw(st.sampled_from(["owner", "viewer", "guest"]))
    confined, personal = who == "guest", who == "owner"
    found = {}
    async with services.db.session() as session:
        for loose in (False, True):
            expression = _match_expression(words, confined, personal, loose=loose)
            result = await session.execute(
                text("SELECT s.last_name FROM staff_search JOIN staff s ON s.id = "
                     "staff_search.rowid WHERE staff_search MATCH :m"), {"m": expression})
            found[loose] = {n for (n,) in result if "~" in n}
    assert oracle(rows, words, who) <= found[False] <= found[True], (words, who)
