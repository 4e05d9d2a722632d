"""A directory page read with fewer columns holds those (and what visibility and cursors
need), and pages exactly as one read with every column."""

import pytest
from sqlalchemy import inspect

from app.access import Actor, Role
from app.graphql.types import staff as staff_types
from app.staff import service
from app.staff.models import Staff
from app.staff.queries import (
    ALL_COLUMNS,
    MANAGER_KEYS,
    ROW_KEYS,
    PageColumns,
    SortDirection,
    StaffQuery,
    StaffSortKey,
    page_select,
)
from tests.factories import make_staff_many, make_tenant, owner_actor

NARROW = PageColumns(staff=frozenset({"notes"}), manager=frozenset({"last_name"}))




async def _directory(services):
    tenant = await make_tenant(services)
    boss, *_ = await make_staff_many(
        services, tenant, [dict(first_name="Bea", last_name="Boss", notes="runs it")]
    )
    await make_staff_many(
        services,
        tenant,
        [
            dict(first_name=f"P{i}", last_name=f"Person{i % 3}", manager_id=boss.id, notes=str(i))
            for i in range(7)
        ],
    )
    return tenant


async def _walk(services, actor, query: StaffQuery, columns: PageColumns) -> list:
    pages, after = [], None
    while True:
        async with services.db.session() as session:
            page = await service.list_staff(
                session, actor, StaffQuery(**{**query.__dict__, "after": after}), columns
            )
        pages.append(page)
        if not page.has_next:
            return pages
        after = page.cursors[-1]


async def test_narrow_records_hold_what_was_asked_and_the_keys(services):
    tenant = await _directory(services)
    async with services.db.session() as session:
        page = await service.list_staff(session, owner_actor(tenant), StaffQuery(first=3), NARROW)
    row = page.rows[0]
    assert set(row._fields) == ROW_KEYS | {"notes"}
    manager = next(iter(page.managers.values()))
    assert set(manager._fields) == MANAGER_KEYS | {"last_name"}
    assert manager.last_name == "Boss"
    with pytest.raises(AttributeError):
        row.ssn_encrypted  # noqa: B018


@pytest.mark.parametrize("sort", list(StaffSortKey))
@pytest.mark.parametrize("direction", list(SortDirection))
async def test_narrow_pages_walk_as_full_ones(services, sort, direction):
    tenant = await _directory(services)
    query = StaffQuery(first=3, sort=sort, direction=direction)
    full = await _walk(services, owner_actor(tenant), query, ALL_COLUMNS)
    narrow = await _walk(services, owner_actor(tenant), query, NARROW)
    assert [list(p.cursors) for p in narrow] == [list(p.cursors) for p in full]
    assert [[(r.id, r.notes) for r in p.rows] for p in narrow] == [
        [(r.id, r.notes) for r in p.rows] for p in full
    ]
    assert [sorted(p.managers) for p in narrow] == [sorted(p.managers) for p in full]
    # a reader that reads no manager gets none joined, and the same pages
    alone = await _walk(services, owner_actor(tenant), query, PageColumns(staff=frozenset()))
    unjoined = PageColumns(staff=frozenset(), managers=False)
    bare = await _walk(services, owner_actor(tenant), query, unjoined)
    assert [list(p.cursors) for p in bare] == [list(p.cursors) for p in alone]
    assert [[tuple(r) for r in p.rows] for p in bare] == [[tuple(r) for r in p.rows] for p in alone]
    assert all(p.managers == {} for p in bare) and any(p.managers for p in alone)
    assert set(bare[0].rows[0]._fields) == ROW_KEYS


async def test_a_page_without_managers_joins_none(services):
    tenant = await make_tenant(services)
    actor = owner_actor(tenant)
    joined = page_select(actor, StaffQuery(), PageColumns(staff=frozenset()))[0]
    alone = page_select(actor, StaffQuery(), PageColumns(staff=frozenset(), managers=False))[0]
    assert joined.manager is not None and alone.manager is None
    assert "JOIN" in str(joined.prepared.statement) and "JOIN" not in str(alone.prepared.statement)


async def test_columns_that_are_not_the_tables_are_refused(services):
    tenant = await make_tenant(services)
    async with services.db.session() as session:
        with pytest.raises(ValueError, match="not columns of staff"):
            await service.list_staff(
                session,
                owner_actor(tenant),
                StaffQuery(),
                PageColumns(staff=frozenset({"password"})),
            )


def test_the_tables_name_only_columns_of_staff():
    """The tables the hot plan narrows a page with name real columns (a typo would only
    show as a refused page at request time)."""
    columns = set(inspect(Staff).column_attrs.keys())
    assert set(staff_types.COLUMNS) <= columns
    assert {c for reads in staff_types.READS.values() for c in reads} <= columns
    assert ROW_KEYS <= columns and MANAGER_KEYS <= columns


def test_pages_reading_the_same_columns_share_a_statement(services):
    """What every page reads anyway does not make another statement."""
    actor = Actor(user_id=1, account_id=1, staff_id=1, role=Role.OWNER, permits=frozenset())
    one = PageColumns(staff=frozenset({"notes"}), manager=frozenset())
    other = PageColumns(staff=frozenset({"notes", "id", "manager_id"}), manager=frozenset({"id"}))
    assert one == other
    assert page_select(actor, StaffQuery(), one)[0] is page_select(actor, StaffQuery(), other)[0]
    assert page_select(actor, StaffQuery(), one)[0] is not page_select(actor, StaffQuery())[0]
