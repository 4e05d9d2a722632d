"""A search's plan on PostgreSQL in a large account (``app.staff.queries.MATCHES_FIRST``):
the planner's estimates choose between its own plan, the matches read first, and a look
ahead along the sort before them; every plan reads the same pages, a small account is read
as before (no estimate is asked), and a word whose matches cluster far along the sort is
read from its matches, not by walking the account."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.access import Role
from app.db import prepared as prepared_module
from app.db.prepared import UnsupportedStatement
from app.staff import queries, service
from app.staff.models import StaffKind
from app.staff.queries import (
    AHEAD,
    InvalidQuery,
    SearchPlan,
    SortDirection,
    StaffFilter,
    StaffQuery,
    StaffSortKey,
    estimate_select,
    look_ahead,
    page_select,
    search_plan,
    validate,
)
from app.staff.service import list_staff
from tests.factories import make_member
from tests.staff.test_search_index import (
    PAGES_SETTINGS,
    RECORD,
    actor_of,
    all_pages,
    drawn_words,
    oracle,
    plan,
    replace_records,
    seed_many,
    world,  # noqa: F401 (a fixture)
)


@pytest.fixture
def postgres_only(backend):
    if backend != "postgresql":
        pytest.skip("SQLite chooses by its probe (tests/staff/test_search_index.py)")


def test_the_plan_follows_the_estimates():
    listed = 100_000
    # a rare word: the planner reads it by its indexes
    assert search_plan(20, listed, 51) is SearchPlan.PLANNER
    assert search_plan(AHEAD, listed, 51) is SearchPlan.PLANNER
    # more than half the records: the planner's walk meets a page before the rest
    assert search_plan(listed / 2 + 1, listed, 51) is SearchPlan.PLANNER
    # between: a look ahead where a page of evenly spread matches fills within AHEAD...
    assert search_plan(listed / 2, listed, 51) is SearchPlan.AHEAD
    assert search_plan(listed * 51 / AHEAD, listed, 51) is SearchPlan.AHEAD
    # ...and the matches at once where it would not
    assert search_plan(listed * 51 / AHEAD - 1, listed, 51) is SearchPlan.MATCHES
    assert search_plan(AHEAD + 1, listed, 51) is SearchPlan.MATCHES


def test_a_page_looks_ahead_twice_as_far_as_spread_matches_fill_it():
    listed, wanted = 100_000, 51
    # a word in one record of 4.5: a page of spread matches fills within 230 records
    assert look_ahead(22_222, listed, wanted) == math.ceil(2 * listed * wanted / 22_222)
    assert look_ahead(90_000, listed, wanted) == 114
    # never further than AHEAD (nor than asked), never less than one record
    assert look_ahead(5_200, listed, wanted) == AHEAD
    assert look_ahead(5_200, listed, wanted, most=10) == 10
    assert look_ahead(0, listed, wanted) == AHEAD
    assert look_ahead(10**9, listed, 1) == 1


async def test_estimates_are_asked_of_postgresql_alone(services, world, backend):  # noqa: F811
    owner = await actor_of(services, world.members["owner"])
    query = StaffQuery(search="zviewer")
    estimating, params = estimate_select(owner, query)
    async with services.db.session() as session:
        connection = await session.connection()
        if backend == "sqlite":
            with pytest.raises(UnsupportedStatement):
                await estimating.estimated_rows(connection, params)
            return
        estimates = await estimating.estimated_rows(connection, params)
        assert estimates is not None
        matched, listed = estimates
        assert 0 < matched <= listed
        # a statement that is not a UNION ALL has no parts to estimate, nor one whose
        # part can match nothing (the planner folds it away)
        page, params = page_select(owner, query)
        assert await page.prepared.estimated_rows(connection, params) is None
        estimating, params = estimate_select(owner, replace(query, filter=StaffFilter(sids=[])))
        assert await estimating.estimated_rows(connection, params) is None
        # a filter with a subquery of its own (everyone below a record) in both parts
        below = StaffFilter(reports_to=owner.staff_id, transitive=True)
        estimating, params = estimate_select(owner, replace(query, filter=below))
        estimates = await estimating.estimated_rows(connection, params)
        assert estimates is not None and len(estimates) == 2


def sent_statements(monkeypatch) -> list[str]:
    sent: list[str] = []
    monkeypatch.setattr(prepared_module, "sent", [lambda pool, sql: sent.append(sql)])
    return sent


async def test_a_small_accounts_search_asks_no_estimate(
    services, world, monkeypatch, postgres_only  # noqa: F811
):
    owner = await actor_of(services, world.members["owner"])
    assert owner.account is not None
    assert owner.account.staff_seq <= queries.LARGE_ACCOUNT
    sent = sent_statements(monkeypatch)
    async with services.db.session() as session:
        page = await list_staff(session, owner, StaffQuery(search="zviewer"))
    assert [r.last_name for r in page.rows] == ["Zviewer"]
    assert len(sent) == 1 and not sent[0].startswith("EXPLAIN")


async def test_clustered_words_read_their_matches_first(
    services, world, monkeypatch, postgres_only  # noqa: F811
):
    """20,000 records (``seed_many``): "last1 welder" matches a third of Last10000 to
    Last19999, the second half of the last-name sort; "first1" (First1, First10-19) 11
    records of every 97, spread along it."""
    many = await seed_many(services, world)
    assert many.account is not None and many.account.staff_seq > queries.LARGE_ACCOUNT
    decided: list[SearchPlan] = []

    def recording(matched, listed, wanted):
        decided.append(search_plan(matched, listed, wanted))
        return decided[-1]

    monkeypatch.setattr(service, "search_plan", recording)
    clustered = StaffQuery(first=100, search="last1 welder")
    expected = [f"Last{i}" for i in range(10000, 20000) if i % 3 == 2]
    sent = sent_statements(monkeypatch)
    async with services.db.session() as session:
        page = await list_staff(session, many, clustered)
    # the estimate, a look ahead (Last00000 to Last00999: no match), the matches
    assert decided == [SearchPlan.AHEAD]
    assert [s.split()[0] for s in sent] == ["EXPLAIN", "SELECT", "SELECT"]
    assert [r.last_name for r in page.rows] == expected[:100]
    assert page.has_next
    # the matches are found by the directory keys' search indexes and sorted there, the
    # account is not walked, and only the page's rows are read from staff (by id)
    statement, params = page_select(many, clustered, matches_first=True)
    explained = await plan(services, statement.prepared.statement, params)
    assert "Bitmap Index Scan on ix_staff_directory_keys_card_text" in explained, explained
    assert "ix_staff_account_named_last_name" not in explained, explained
    assert "Index Scan using pk_staff on staff" in explained, explained
    # the spread word's page is found within the look ahead: no third statement
    del sent[:], decided[:]
    async with services.db.session() as session:
        page = await list_staff(session, many, StaffQuery(first=100, search="first1"))
    assert decided == [SearchPlan.AHEAD]
    assert len(sent) == 2 and len(page.rows) == 100
    assert all(r.first_name.lower().startswith("first1") for r in page.rows)
    # every page of the clustered word, each a plan of its own
    names = await all_pages(services, many, replace(clustered, first=100, after=None))
    assert names == expected


def sorts_open_to(actor, words: str) -> list[StaffSortKey]:
    usable = []
    for key in StaffSortKey:
        try:
            validate(actor, StaffQuery(search=words, sort=key))
        except InvalidQuery:
            continue
        usable.append(key)
    return usable


@PAGES_SETTINGS
@given(records=st.lists(RECORD, min_size=1, max_size=12), data=st.data())
async def test_every_plan_reads_the_same_pages(
    services, world, monkeypatch, postgres_only, records, data  # noqa: F811
):
    """Each plan forced in turn on generated records and searches, for every role that
    searches, with filters, both directions and every sort open to them, page after page
    with small look-aheads: the same pages as the planner's own plan, and exactly the
    records a plain substring match finds."""
    rows = await replace_records(services, world, records)
    who = data.draw(st.sampled_from(["owner", "viewer", "guest"]))
    actor = await actor_of(services, world.members[who])
    words = drawn_words(data, rows)
    chosen = StaffFilter()
    if who != "guest":
        chosen = StaffFilter(
            roles=data.draw(st.none() | st.lists(st.sampled_from(list(Role)), min_size=1)),
            include_inactive=data.draw(st.booleans()),
            sids=data.draw(st.none() | st.lists(st.integers(1, 40), max_size=3)),
            kinds=data.draw(st.none() | st.lists(st.sampled_from(list(StaffKind)), min_size=1)),
            company=data.draw(st.none() | st.sampled_from(
                [r["company"] for r in rows if r["company"]] or ["acme"])),
        )
        if data.draw(st.booleans()):  # below one of the records the search may find
            top = await actor_of(services, world.members["viewer"])
            chosen = replace(chosen, reports_to=top.staff_id, transitive=data.draw(st.booleans()))
    query = StaffQuery(
        first=data.draw(st.integers(1, 4)),
        search=words,
        sort=data.draw(st.sampled_from(sorts_open_to(actor, words))),
        direction=data.draw(st.sampled_from(list(SortDirection))),
        filter=chosen,
    )
    monkeypatch.setattr(queries, "LARGE_ACCOUNT", -1)  # every account is large
    pages = {}
    for forced in SearchPlan:
        for ahead in (1, 2, 1000):
            monkeypatch.setattr(service, "search_plan", lambda *_, p=forced: p)
            monkeypatch.setattr(service, "AHEAD", ahead)
            pages[forced, ahead] = await all_pages(services, actor, query)
    assert len(set(map(tuple, pages.values()))) == 1, (words, query, pages)
    found = {n for n in pages[SearchPlan.PLANNER, 1000] if "~" in n}
    if chosen == StaffFilter():
        assert found == oracle(rows, words.split(), who)
    else:
        assert found <= oracle(rows, words.split(), who)


async def test_a_search_whose_filter_matches_nothing_is_still_answered(
    services, world, monkeypatch, postgres_only  # noqa: F811
):
    """The planner folds a filter that can match nothing (an empty list of sids) into no
    scan at all: the estimates' statement then has no part to estimate, and the page is
    read by the planner's own plan."""
    owner = await actor_of(services, world.members["owner"])
    monkeypatch.setattr(queries, "LARGE_ACCOUNT", -1)
    for chosen in (StaffFilter(sids=[]), StaffFilter(sids=[10**9]), StaffFilter()):
        query = StaffQuery(search="zviewer", filter=chosen)
        async with services.db.session() as session:
            page = await list_staff(session, owner, query)
        expected = ["Zviewer"] if chosen == StaffFilter() else []
        assert [r.last_name for r in page.rows] == expected, chosen


SEARCH_PAGE = """query Search($search: String!, $after: String) {
  staff(first: 3, search: $search, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { lastName title manager { lastName } }
  }
}"""


async def test_every_role_searches_a_large_account_over_graphql(
    services, world, client, monkeypatch, postgres_only  # noqa: F811
):
    """Through the API, for every role that searches (a guest among its project's
    people): in a large account, each plan answers every page of a search as the
    planner's own plan does, and a word found nowhere answers an empty page."""
    records = [
        {"first_name": f"Ann{i}", "last_name": f"Miller{i:02d}", "title": ("Engineer", "Cook")[i % 2],
         "company": None, "email": None, "role": Role.VIEWER}
        for i in range(9)
    ]
    await replace_records(services, world, records)
    editor = await make_member(services, world.tenant, Role.EDITOR, last_name="Zeditor")
    members = {**world.members, "editor": editor}
    monkeypatch.setattr(queries, "LARGE_ACCOUNT", -1)

    async def pages(member, words: str) -> list:
        headers = {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}
        answers, after = [], None
        while True:
            body = {"query": SEARCH_PAGE, "variables": {"search": words, "after": after}}
            answer = (await client.post("/graphql", json=body, headers=headers)).json()
            assert "errors" not in answer, answer
            answers.append(answer["data"]["staff"])
            if not answers[-1]["pageInfo"]["hasNextPage"]:
                return answers
            after = answers[-1]["pageInfo"]["endCursor"]

    for who, member in members.items():
        for words in ("miller engineer", "ann", "nobody-here", "er"):
            seen = {}
            for forced in SearchPlan:
                monkeypatch.setattr(service, "search_plan", lambda *_, p=forced: p)
                monkeypatch.setattr(service, "AHEAD", 2)
                seen[forced] = await pages(member, words)
            assert len({repr(v) for v in seen.values()}) == 1, (who, words, seen)
            names = [n["lastName"] for page in seen[SearchPlan.PLANNER] for n in page["nodes"]]
            if words == "miller engineer":
                assert [n.split("~")[0] for n in names] == [f"Miller{i:02d}" for i in range(0, 9, 2)]
            if words == "nobody-here":
                assert names == []


async def test_a_guests_search_asks_no_estimate(
    services, world, monkeypatch, postgres_only  # noqa: F811
):
    """A guest sees their own record and their projects' people, whom the planner's
    estimates do not count (it takes them for half the account): their searches keep the
    planner's own plan."""
    guest = await actor_of(services, world.members["guest"])
    monkeypatch.setattr(queries, "LARGE_ACCOUNT", -1)
    sent = sent_statements(monkeypatch)
    async with services.db.session() as session:
        page = await list_staff(session, guest, StaffQuery(search="zguest"))
    assert [r.last_name for r in page.rows] == ["Zguest"]
    assert not any(s.startswith("EXPLAIN") for s in sent), sent


async def test_estimates_follow_a_changed_field_table(services, world, postgres_only):  # noqa: F811
    """The estimates' statement is built once per shape, and again when a field table
    changes (as the page's is): a title made personal is no longer searched by a viewer."""
    from app.fields import Visibility
    from app.staff.fields import STAFF

    viewer = await actor_of(services, world.members["viewer"])
    query = StaffQuery(search="zviewer")
    before, _ = estimate_select(viewer, query)
    with STAFF.override("title", visibility=Visibility.PERSONAL):
        during, _ = estimate_select(viewer, query)
        assert during is not before
        assert "title" not in str(during.statement.selects[0])
    assert "title" in str(estimate_select(viewer, query)[0].statement.selects[0])
