"""PostgreSQL's directory keys (``app.staff.models.DIRECTORY_KEYS``, migration 0024): a
narrow copy of each record's listing, sort keys and searched text, kept in step with staff
by triggers in the same transaction, from which a search whose matches cluster reads them
first (``app.staff.queries.MATCHES_FIRST``). The copy holds what the record's own row
gives through inserts, updates, deletes and rollbacks; pages read from it are the pages
read from staff, for every sort, direction, listing filter and searcher; and a searcher
never finds a record by a field they may not search."""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, func, literal_column, or_, select, update

from app.access import Role
from app.accounts.models import Account
from app.db.migrate import alembic_config
from app.fields import Visibility
from app.staff import queries, service
from app.staff.fields import STAFF
from app.staff.models import (
    DIRECTORY_KEYS,
    DIRECTORY_KEYS_TABLE,
    DIRECTORY_TEXTS,
    AccountStatus,
    Staff,
)
from app.staff.queries import (
    AHEAD,
    SearchPlan,
    SortDirection,
    StaffFilter,
    StaffQuery,
    StaffSortKey,
    filter_of,
    keys_sort_expression,
    keys_text,
    sort_expression,
)
from app.staff.service import list_staff
from tests.factories import insert_staff_rows, make_member, make_tenant
from tests.staff.test_search_index import (
    PAGES_SETTINGS,
    actor_of,
    all_pages,
    records_of,
    world,  # noqa: F401 (a fixture)
)
from tests.staff.test_search_plan import sent_statements, sorts_open_to

K = DIRECTORY_KEYS.c
_unique = itertools.count(1)

# Beyond ASCII: letters whose lower case is not one character more or less the same in
# every language (ß, dotted and dotless i, final sigma), accents, whitespace inside a
# field, and LIKE's wildcards and escape.
TEXT = st.text(alphabet="aAbBcZßİıΣσςéÉ-'%_\\\n\t ", max_size=10)
NAME = TEXT.map(str.strip).filter(bool)
RECORD = records_of(
    TEXT,
    r"[a-zß.%_]{1,6}",
    [Role.VIEWER, Role.EDITOR, Role.ADMINISTRATOR],
    # listed mostly (as most records are), now and then not
    account_status=st.sampled_from([AccountStatus.ACTIVE] * 4 + list(AccountStatus)),
    is_inactive=st.sampled_from([False, False, False, True]),
)
# A change to one record: any of the copied columns, or one the copy does not hold
CHANGE = st.one_of(
    st.fixed_dictionaries({"first_name": NAME}),
    st.fixed_dictionaries({"last_name": NAME}),
    st.fixed_dictionaries({"last_name_key": NAME}),
    st.fixed_dictionaries({"created_at": st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )}),
    st.fixed_dictionaries({"title": st.none() | TEXT}),
    st.fixed_dictionaries({"company": st.none() | TEXT}),
    st.fixed_dictionaries({"email": st.none() | st.from_regex(r"[a-zß]{1,6}", fullmatch=True)}),
    st.fixed_dictionaries({"role": st.sampled_from([Role.VIEWER, Role.EDITOR])}),
    st.fixed_dictionaries({"account_status": st.sampled_from(list(AccountStatus))}),
    st.fixed_dictionaries({"is_inactive": st.booleans()}),
    st.fixed_dictionaries({"phone_cell": st.from_regex(r"[0-9]{3,8}", fullmatch=True)}),
)


@pytest.fixture
def postgres_only(backend):
    if backend != "postgresql":
        pytest.skip("SQLite has no directory keys (app.staff.queries.sieve_of reads its pages)")


def forced(plan: SearchPlan):
    """A search plan chosen whatever the planner estimates (which may be nothing at all)."""

    async def chosen(connection, actor, query):
        return plan, AHEAD

    return chosen


def _unique_email(values: dict) -> dict:
    """``values`` with its email (if any) made unique in the account."""
    if values.get("email") is None:
        return values
    return {**values, "email": f"{values['email']}{next(_unique)}@x.test"}


def _text_of(fields: tuple[str, ...]):
    """What a text column holds, by its definition: the fields lower-cased, a newline
    between two."""
    return func.concat_ws(
        literal_column("E'\\n'"),
        *(func.lower(func.coalesce(getattr(Staff, STAFF[f].columns[0]), "")) for f in fields),
    )


async def out_of_step(services) -> list:
    """Every difference between staff and its copy: a record without a copy or a copy
    without a record, and each column that differs (the sort keys compared with the
    sort's expression over the record)."""
    joined = Staff.__table__.outerjoin(DIRECTORY_KEYS, K.id == Staff.id)
    differences = [
        K.id.is_(None),
        K.account_id != Staff.account_id,
        K.account_status != Staff.account_status,
        K.is_inactive != Staff.is_inactive,
        K.role != Staff.role,
        *(
            keys_sort_expression(key).is_distinct_from(sort_expression(key))
            for key in StaffSortKey
        ),
        *(keys_text(name) != _text_of(fields) for name, fields in DIRECTORY_TEXTS.items()),
    ]
    async with services.db.session() as session:
        wrong = (await session.execute(
            select(Staff.id, K.id).select_from(joined).where(or_(*differences))
        )).all()
        orphans = (await session.execute(
            select(K.id).where(K.id.not_in(select(Staff.id)))
        )).all()
    return [*wrong, *orphans]


@PAGES_SETTINGS
@given(
    records=st.lists(RECORD, min_size=1, max_size=8),
    changes=st.lists(st.tuples(st.integers(0, 7), CHANGE), max_size=6),
    deleted=st.lists(st.integers(0, 7), max_size=2),
    data=st.data(),
)
async def test_the_copy_follows_inserts_updates_deletes_and_rollbacks(
    services, postgres_only, records, changes, deleted, data
):
    tenant = await make_tenant(services)
    sids = await insert_staff_rows(services, tenant, [_unique_email(r) for r in records])
    assert await out_of_step(services) == []

    def of(i: int):
        return (Staff.account_id == tenant.account_id) & (Staff.sid == sids[i % len(sids)])

    async with services.db.session(write=True) as session:
        for i, change in changes:
            change = _unique_email(change)
            if "last_name" in change and data.draw(st.booleans()):  # as the service does
                change = {**change, "last_name_key": change["last_name"].casefold()}
            await session.execute(update(Staff).where(of(i)).values(**change))
        await session.commit()
    assert await out_of_step(services) == []
    # a change copied in its transaction, and rolled back with it
    async with services.db.session(write=True) as session:
        before = (await session.execute(select(K.id, K.card_text).order_by(K.id))).all()
        await session.execute(update(Staff).where(of(0)).values(first_name="Rolled", title="Back"))
        assert "rolled" in await session.scalar(
            select(K.card_text).join(Staff, Staff.id == K.id).where(of(0))
        )
        await session.rollback()
        assert (await session.execute(select(K.id, K.card_text).order_by(K.id))).all() == before
    async with services.db.session(write=True) as session:
        for i in deleted:
            await session.execute(delete(Staff).where(of(i)))
        await session.commit()
    assert await out_of_step(services) == []


async def test_deleting_an_account_deletes_its_copies(services, postgres_only):
    kept = await make_tenant(services)
    gone = await make_tenant(services)
    await insert_staff_rows(services, gone, [{"first_name": "Gone", "last_name": "Away"}])
    async with services.db.session(write=True) as session:
        await session.execute(delete(Account).where(Account.id == gone.account_id))
        await session.commit()
    async with services.db.session() as session:
        accounts = set((await session.scalars(select(K.account_id).distinct())).all())
    assert accounts == {kept.account_id}
    assert await out_of_step(services) == []


# Characters whose lower case is Python's case fold too (a search's words are case
# folded, the fields lower-cased: "ß" is "ss" to one and "ß" to the other, both ways)
_FOLDS_AS_IT_LOWERS = re.compile(r"[^ßςİı\s]{3,}")
_NUMBER = re.compile(r"~[0-9]{2}")  # each generated record's, in its last name


def _long_words(data, rows: list[dict], fields: tuple[str, ...]) -> str:
    """One or two words of three characters or more (the trigram indexes'), each a piece
    of one of ``fields`` of one drawn record (its number where the field has none), so
    that the search finds it, and often others."""
    r = data.draw(st.sampled_from(rows))
    words = []
    for _ in range(data.draw(st.integers(1, 2))):
        runs = _FOLDS_AS_IT_LOWERS.findall(r[data.draw(st.sampled_from(fields))] or "")
        value = data.draw(st.sampled_from(runs)) if runs else _NUMBER.search(r["last_name"])[0]
        start = data.draw(st.integers(0, len(value) - 3))
        words.append(value[start : start + data.draw(st.integers(3, 5))])
    return " ".join(words)


@PAGES_SETTINGS
@given(records=st.lists(RECORD, min_size=1, max_size=10), data=st.data())
async def test_pages_read_from_the_copy_are_the_pages_read_from_staff(
    services, world, monkeypatch, postgres_only, records, data  # noqa: F811
):
    """Generated records and searches, read every way: the matches first from the copy,
    the matches first from staff, and the planner's own plan (each page after the last,
    small pages, every sort open to the searcher, both directions, the listing filters
    the copy serves): the same pages."""
    tenant = world.tenant
    async with services.db.session(write=True) as session:
        await session.execute(delete(Staff).where(
            Staff.account_id == tenant.account_id,
            Staff.id.not_in([m.staff_pk for m in world.members.values()]),
        ))
        await session.commit()
    rows = [
        {**r, "last_name": f"{r['last_name']}~{i:02}",
         "email": None if r["email"] is None else f"{r['email']}{i}@x.test"}
        for i, r in enumerate(records)
    ]
    # a word many records share (in any field), so that pages hold several, in order
    for r in rows:
        field = data.draw(st.sampled_from(["first_name", "last_name", "title", "company", None]))
        if field is not None:
            r[field] = f"{r[field] or ''}Qqq{data.draw(TEXT)}"
    await insert_staff_rows(services, tenant, rows)
    who = data.draw(st.sampled_from(["owner", "viewer"]))
    actor = await actor_of(services, world.members[who])
    fields = DIRECTORY_TEXTS["card_text"] + (DIRECTORY_TEXTS["email_key"] if who == "owner" else ())
    words = data.draw(st.sampled_from(["qqq", "QQQ", "qQq", "piece", "editor", "qqq Viewer"]))
    if words == "piece":
        words = _long_words(data, rows, fields)
    statuses = data.draw(st.sampled_from([None, None, None, "some"]))
    if statuses:
        statuses = data.draw(st.lists(st.sampled_from(list(AccountStatus)), min_size=1))
    query = StaffQuery(
        first=data.draw(st.integers(1, 4)),
        search=words,
        direction=data.draw(st.sampled_from(list(SortDirection))),
        filter=StaffFilter(
            account_statuses=statuses,
            include_disabled=data.draw(st.booleans()),
            include_inactive=data.draw(st.booleans()),
        ),
    )
    shape, _ = filter_of(actor, query)
    assert queries._reads_keys(shape), shape  # these pages are read from the copy
    monkeypatch.setattr(queries, "LARGE_ACCOUNT", -1)  # every account is large
    sent = sent_statements(monkeypatch)
    for sort in sorts_open_to(actor, words):
        sorted_query = replace(query, sort=sort)
        pages = {}
        for way, plan in (("copy", SearchPlan.MATCHES), ("planner", SearchPlan.PLANNER)):
            monkeypatch.setattr(service, "_search_plan", forced(plan))
            del sent[:]
            pages[way] = await all_pages(services, actor, sorted_query, most=60)
            assert any(DIRECTORY_KEYS_TABLE in sql for sql in sent) == (way == "copy"), sent
        # the same plan with the matches read from staff (not undone by ``monkeypatch``
        # until the test ends: every example is one call of the test)
        with monkeypatch.context() as patched:
            patched.setattr(queries, "_reads_keys", lambda shape: None)
            queries._page_statement.cache_clear()
            try:
                patched.setattr(service, "_search_plan", forced(SearchPlan.MATCHES))
                pages["staff"] = await all_pages(services, actor, sorted_query, most=60)
            finally:
                queries._page_statement.cache_clear()
        assert pages["copy"] == pages["staff"] == pages["planner"], (sorted_query, pages)


async def test_a_field_a_searcher_may_not_search_is_not_searched_in_the_copy(
    services, world, monkeypatch, postgres_only  # noqa: F811
):
    """The copy's text columns hold fields together; where the field table takes one of
    them from a searcher (a title made personal data), that searcher's matches are read
    from staff, field by field, and a word of the title finds nothing for them."""
    await make_member(services, world.tenant, Role.VIEWER, last_name="Plain",
                      title="Cryptographer")
    monkeypatch.setattr(queries, "LARGE_ACCOUNT", -1)
    monkeypatch.setattr(service, "_search_plan", forced(SearchPlan.MATCHES))
    owner = await actor_of(services, world.members["owner"])
    viewer = await actor_of(services, world.members["viewer"])
    query = StaffQuery(search="cryptograph")

    async def found(actor) -> list[str]:
        async with services.db.session() as session:
            return [r.last_name for r in (await list_staff(session, actor, query)).rows]

    assert await found(viewer) == ["Plain"] == await found(owner)
    with STAFF.override("title", visibility=Visibility.PERSONAL):
        assert not queries._reads_keys(filter_of(viewer, query)[0])
        assert queries._reads_keys(filter_of(owner, query)[0])
        assert await found(viewer) == []
        assert await found(owner) == ["Plain"]
    assert await found(viewer) == ["Plain"]


async def test_the_next_page_of_a_search_read_from_the_copy(
    services, world, monkeypatch, postgres_only  # noqa: F811
):
    """A cursor taken from a page read from the copy reads on from the same place."""
    await insert_staff_rows(services, world.tenant, [
        {"first_name": "Ann", "last_name": f"Welder{i:02}", "title": "Welder"}
        for i in range(7)
    ])
    monkeypatch.setattr(queries, "LARGE_ACCOUNT", -1)
    monkeypatch.setattr(service, "_search_plan", forced(SearchPlan.MATCHES))
    owner = await actor_of(services, world.members["owner"])
    query = StaffQuery(first=3, search="welder", sort=StaffSortKey.LAST_NAME)
    names = await all_pages(services, owner, query)
    assert names == [f"Welder{i:02}" for i in range(7)]
    backwards = await all_pages(services, owner, replace(query, direction=SortDirection.DESC))
    assert backwards == names[::-1]


async def test_the_migration_copies_the_records_already_there(
    services, database_url, postgres_only
):
    """Migration 0024 on a database holding records: each gets its copy (the database is
    taken back to 0023 and up again)."""
    tenant = await make_tenant(services)
    await insert_staff_rows(services, tenant, [
        {"first_name": "Old", "last_name": f"Record{i}", "title": "Welder", "email": None}
        for i in range(3)
    ])
    config = alembic_config(database_url)

    def down_and_up() -> None:
        command.downgrade(config, "0023")
        command.upgrade(config, "head")

    await asyncio.to_thread(down_and_up)
    async with services.db.session() as session:
        copies = await session.scalar(select(func.count()).select_from(DIRECTORY_KEYS))
    assert copies == 4  # the records and the owner's
    assert await out_of_step(services) == []


async def test_another_accounts_records_are_not_read_from_the_copy(
    services, world, monkeypatch, postgres_only  # noqa: F811
):
    """The copy holds every account's records, its trigram indexes find them all: a page
    keeps the searcher's account's alone, and a cursor of another account's page reads
    nothing of it."""
    other = await make_tenant(services)
    await insert_staff_rows(services, other, [
        {"first_name": "Theirs", "last_name": f"Welder{i}", "title": "Welder"} for i in range(3)
    ])
    await insert_staff_rows(services, world.tenant, [
        {"first_name": "Ours", "last_name": "Welder9", "title": "Welder"}
    ])
    monkeypatch.setattr(queries, "LARGE_ACCOUNT", -1)
    monkeypatch.setattr(service, "_search_plan", forced(SearchPlan.MATCHES))
    owner = await actor_of(services, world.members["owner"])
    query = StaffQuery(first=1, search="welder")
    assert await all_pages(services, owner, query) == ["Welder9"]
    theirs = await actor_of(services, other.owner)
    async with services.db.session() as session:
        page = await list_staff(session, theirs, query)
    assert [r.last_name for r in page.rows] == ["Welder0"] and page.has_next
    after = replace(query, after=page.cursors[-1])
    assert await all_pages(services, owner, after) == ["Welder9"]
