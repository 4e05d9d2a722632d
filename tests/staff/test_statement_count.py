"""A page of the staff directory costs a constant, small number of SQL statements."""

from datetime import date

from app.custom_fields.models import CustomField, CustomFieldType, CustomFieldValue
from app.db.statements import StatementCounter
from app.staff.models import StaffStatus
from app.validation import name_key
from tests.factories import make_staff_many, make_tenant

PAGE = """
query($first: Int!) {
  staff(first: $first) {
    edges {
      cursor
      node {
        id sid firstName lastName fullName title company notes isInactive restricted role
        kind accountStatus hasLogin createdAt modifiedAt email phoneCell startDate capacity
        rate1 homeTimezone salary ssn viewerCanEdit viewerCanSeePersonalData
        manager { fullName }
        status { name }
        customFields { field { name } value }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _populate(services, tenant, count: int) -> None:
    async with services.db.session(write=True) as session:
        statuses = [
            StaffStatus(account_id=tenant.account_id, name=n, name_key=name_key(n))
            for n in ("On leave", "Part time")
        ]
        fields = [
            CustomField(
                account_id=tenant.account_id,
                name=n,
                name_key=name_key(n),
                type=CustomFieldType.TEXT,
                options=[],
            )
            for n in ("Shirt", "Team", "Desk")
        ]
        session.add_all(statuses + fields)
        await session.commit()
    managers = await make_staff_many(
        services, tenant, [dict(last_name=f"Manager{i}", title="Lead") for i in range(3)]
    )
    rows = await make_staff_many(
        services,
        tenant,
        [
            dict(
                first_name=f"Person{i}",
                last_name=f"Member{i:03d}",
                title="Engineer",
                company="Acme",
                email=f"person{i}@example.com",
                phone_cell="+1 555 0100",
                start_date=date(2024, 1, 1),
                rate1=100,
                home_timezone="Europe/Berlin",
                manager_id=managers[i % 3].id,
                status_id=statuses[i % 2].id,
            )
            for i in range(count)
        ],
    )
    async with services.db.session(write=True) as session:
        session.add_all(
            CustomFieldValue(
                staff_id=row.id, field_id=field.id, account_id=tenant.account_id, value="x"
            )
            for row in rows
            for field in fields
        )
        await session.commit()


async def _statements(api, services, member, first: int) -> list[str]:
    with StatementCounter(services.db.engine) as counter:
        data = await api.data(PAGE, {"first": first}, as_=member)
    edges = data["staff"]["edges"]
    assert len(edges) == first
    node = next(e["node"] for e in edges if e["node"]["lastName"].startswith("Member"))
    assert node["manager"]["fullName"].startswith("Sam Manager")
    assert node["status"]["name"] in ("On leave", "Part time")
    assert sorted(v["field"]["name"] for v in node["customFields"]) == ["Desk", "Shirt", "Team"]
    return counter.statements


def _heads(statements: list[str]) -> list[str]:
    return [s[:60] for s in statements]


async def test_page_cost_does_not_grow_with_page_size(api, services):
    tenant = await make_tenant(services)
    await _populate(services, tenant, 110)
    small = await _statements(api, services, tenant.owner, 10)
    large = await _statements(api, services, tenant.owner, 100)
    # One more at most: the account's sizes, read once (one statement) when the domain's
    # caps alone do not keep the query's cost under the limit (100 rows x up to 100 fields).
    assert len(small) <= len(large) <= len(small) + 1, (_heads(small), _heads(large))
    assert len(large) <= 9


async def test_a_search_and_its_total_count_probe_the_indexes_once(api, services):
    """On SQLite a search first counts what each usable index names (its probe): the page
    and its totalCount, and a second alias of the same list, share one probe."""
    import pytest

    if services.db.dialect != "sqlite":
        pytest.skip("SQLite probes its indexes; PostgreSQL's planner chooses")
    tenant = await make_tenant(services)
    await make_staff_many(
        services, tenant, [dict(last_name=f"Member{i:03d}", title="Engineer") for i in range(7)]
    )
    query = """{
      staff(first: 2, search: "engineer") { totalCount edges { node { lastName } } }
      again: staff(first: 3, search: "engineer") { totalCount nodes { lastName } }
    }"""
    await api.data(query, as_=tenant.owner)  # warm up
    with StatementCounter(services.db.engine) as counter:
        data = await api.data(query, as_=tenant.owner)
    assert data["staff"]["totalCount"] == data["again"]["totalCount"] == 7
    assert [e["node"]["lastName"] for e in data["staff"]["edges"]] == ["Member000", "Member001"]
    probes = [s for s in counter.statements if s.startswith("SELECT (SELECT count(*)")]
    assert len(probes) == 1, counter.statements
