"""A directory page's cursors carry the value the database sorted the row by, so that the
next page reads on from exactly there, whatever the names hold: Python's lower() is not
the database's (SQLite lowers ASCII alone; "İ" lowers to one character in PostgreSQL and
to two in Python), and a cursor whose value was recomputed in Python read some page again
for ever, or skipped records, where a first name, title or company held such letters."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.access import Role
from app.staff.queries import SortDirection, StaffQuery, StaffSortKey
from tests.factories import insert_staff_rows, make_member
from tests.staff.test_search_index import (  # noqa: F401
    actor_of,
    all_pages,
    forget_records,
    world,
)

# Letters whose lower case differs between Python, PostgreSQL and SQLite, accents as one
# code point and as two, and plain ones
TEXT = st.text(alphabet="aAzZÉéÖöİıIißẞΣσςÆæ\u0301e ", min_size=1, max_size=6)
RECORD = st.fixed_dictionaries(
    {
        "first_name": TEXT.map(str.strip),
        "title": st.none() | TEXT,
        "company": st.none() | TEXT,
    }
)


@settings(max_examples=25)
@given(records=st.lists(RECORD, min_size=1, max_size=8), first=st.integers(1, 3))
async def test_every_sort_pages_through_each_record_once(services, world, records, first):  # noqa: F811
    await forget_records(services, world)
    await insert_staff_rows(services, world.tenant, [
        {**r, "last_name": f"Rec{i}"} for i, r in enumerate(records)
    ])
    owner = await actor_of(services, world.members["owner"])
    everyone = sorted([f"Rec{i}" for i in range(len(records))] + ["Owner", "Zviewer", "Zguest"])
    for sort in (StaffSortKey.FIRST_NAME, StaffSortKey.TITLE, StaffSortKey.COMPANY):
        walked = {}
        for direction in SortDirection:
            query = StaffQuery(first=first, sort=sort, direction=direction)
            walked[direction] = await all_pages(services, owner, query, most=len(everyone) + 2)
            assert sorted(walked[direction]) == everyone, (sort, direction, walked[direction])
        if sort is not StaffSortKey.FIRST_NAME:  # first names: the nameless last both ways
            assert walked[SortDirection.DESC] == walked[SortDirection.ASC][::-1], sort


async def test_a_first_name_the_databases_lower_differently_pages_on(services, world):  # noqa: F811
    """Named cases: each record once, sorted by first name, one a page."""
    for name in ("Élodie", "İpek", "Ömer", "émile", "Zoë", "Straße"):
        await make_member(services, world.tenant, Role.VIEWER, first_name=name)
    owner = await actor_of(services, world.members["owner"])
    for direction in SortDirection:
        names = await all_pages(
            services, owner, StaffQuery(first=1, sort=StaffSortKey.FIRST_NAME, direction=direction),
            most=12,
        )
        assert len(names) == len(set(names)) == 9, (direction, names)
