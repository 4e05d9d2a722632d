"""The staff directory: keyset pagination, sorting, search and filters."""

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from app.access import Role
from app.graphql.ids import decode_id
from app.staff.models import AccountStatus, StaffKind
from tests.factories import (
    error_codes,
    gid,
    make_member,
    make_staff,
    make_staff_many,
    make_tenant,
    set_staff_columns,
)

DIRECTORY = """
query($first: Int!, $after: String, $sort: StaffSortInput, $filter: StaffFilterInput,
      $search: String) {
  staff(first: $first, after: $after, sort: $sort, filter: $filter, search: $search) {
    totalCount
    edges { cursor node { id firstName lastName title company email createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

SORT_KEYS = ["LAST_NAME", "FIRST_NAME", "TITLE", "COMPANY", "CREATED_AT", "EMAIL"]
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def pk(node: dict) -> int:
    return decode_id(node["id"], "Staff")


def sort_key(key: str, node: dict):
    return {
        "LAST_NAME": lambda n: n["lastName"].casefold(),
        "FIRST_NAME": lambda n: n["firstName"].lower(),
        "TITLE": lambda n: (n["title"] or "").lower(),
        "COMPANY": lambda n: (n["company"] or "").lower(),
        "CREATED_AT": lambda n: datetime.fromisoformat(n["createdAt"]),
        "EMAIL": lambda n: n["email"] or "",
    }[key](node)


NAME_FIELDS = {"LAST_NAME": "lastName", "FIRST_NAME": "firstName"}


def expected_order(key: str, direction: str, nodes: list[dict]) -> list[dict]:
    """By the sort value, then by record; sorted by a name, those without it come last."""
    ordered = sorted(nodes, key=lambda n: (sort_key(key, n), pk(n)), reverse=direction == "DESC")
    if key in NAME_FIELDS:
        name = NAME_FIELDS[key]
        ordered = [n for n in ordered if n[name]] + [n for n in ordered if not n[name]]
    return ordered


async def page(api, member, first=100, **variables) -> dict:
    data = await api.data(DIRECTORY, {"first": first, **variables}, as_=member)
    return data["staff"]


async def walk(
    api, member, page_size: int, after: str | None = None, **variables
) -> tuple[list[dict], int]:
    """Every node of the directory from ``after`` on, following endCursor; (nodes, pages)."""
    nodes: list[dict] = []
    pages = 0
    while True:
        result = await page(api, member, page_size, after=after, **variables)
        pages += 1
        nodes += [e["node"] for e in result["edges"]]
        assert result["pageInfo"]["hasPreviousPage"] == (after is not None)
        if not result["pageInfo"]["hasNextPage"]:
            return nodes, pages
        assert len(result["edges"]) == page_size
        after = result["pageInfo"]["endCursor"]
        assert after == result["edges"][-1]["cursor"]
        assert pages < 100, "pagination does not end"


async def last_names(api, member, **variables) -> list[str]:
    result = await page(api, member, **variables)
    names = [e["node"]["lastName"] for e in result["edges"]]
    assert result["totalCount"] == len(names)
    return sorted(names)


def _directory_rows() -> list[dict]:
    firsts = [
        "Ann",
        "ann",
        "Bob",
        "Cat",
        "Bob",
        "Dan",
        "Eve",
        "ann",
        "Zed",
        "Amy",
        "Bob",
        "Cat",
        "Eve",
        "Dan",
        "Amy",
        "Zed",
    ]
    lasts = [
        "Smith",
        "smith",
        "Smith",
        "Jones",
        "Jones",
        "Brown",
        "Adams",
        "Brown",
        "Smith",
        "Young",
        "Adams",
        "Young",
        "Brown",
        "SMITH",
        "Jones",
        "Adams",
    ]
    titles = [
        None,
        "Engineer",
        "engineer",
        None,
        "Designer",
        None,
        "Manager",
        "Designer",
        None,
        "ENGINEER",
        "Manager",
        None,
        "Designer",
        None,
        "Engineer",
        None,
    ]
    companies = [
        "Acme",
        None,
        "acme",
        "Zeta",
        None,
        "Beta",
        None,
        "Acme",
        "Zeta",
        None,
        "Beta",
        "beta",
        None,
        "Acme",
        None,
        "ACME",
    ]
    return [
        dict(
            first_name=firsts[i],
            last_name=lasts[i],
            title=titles[i],
            company=companies[i],
            email=f"{firsts[i].lower()}{i:02d}@ex.com" if i % 3 else None,
            # groups of four records share one creation time
            created_at=T0 + timedelta(seconds=i // 4),
        )
        for i in range(16)
    ]


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("key", SORT_KEYS)
async def test_paging_returns_every_visible_row_once_in_order(api, services, key, direction):
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, _directory_rows())
    hidden = await make_staff(services, tenant, last_name="Hidden", is_inactive=True)
    sort = {"key": key, "direction": direction}

    everything = await page(api, tenant.owner, 100, sort=sort)
    assert everything["totalCount"] == 17  # 16 rows and the owner, not the inactive one
    nodes = [e["node"] for e in everything["edges"]]
    expected = expected_order(key, direction, nodes)
    assert [pk(n) for n in nodes] == [pk(n) for n in expected]
    assert hidden.id not in {pk(n) for n in nodes}

    for size in (1, 3, 5):
        walked, pages = await walk(api, tenant.owner, size, sort=sort)
        assert [pk(n) for n in walked] == [pk(n) for n in expected]
        assert pages == -(-17 // size)


async def test_equal_sort_values_are_ordered_by_record(api, services):
    tenant = await make_tenant(services)
    rows = await make_staff_many(
        services, tenant, [dict(last_name="Same", created_at=T0) for _ in range(7)]
    )
    for key in ("LAST_NAME", "CREATED_AT", "TITLE", "COMPANY"):
        walked, _ = await walk(
            api,
            tenant.owner,
            2,
            sort={"key": key, "direction": "ASC"},
            search="same",
        )
        assert [pk(n) for n in walked] == [r.id for r in rows]
        walked, _ = await walk(
            api, tenant.owner, 2, sort={"key": key, "direction": "DESC"}, search="same"
        )
        assert [pk(n) for n in walked] == [r.id for r in reversed(rows)]


async def test_inserts_before_the_cursor_neither_repeat_nor_skip(api, services):
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [dict(last_name="Miller") for _ in range(9)])
    sort = {"key": "LAST_NAME", "direction": "ASC"}
    before, _ = await walk(api, tenant.owner, 100, sort=sort)

    first = await page(api, tenant.owner, 3, sort=sort)
    seen = [pk(e["node"]) for e in first["edges"]]
    after = first["pageInfo"]["endCursor"]
    inserted = 0
    while True:
        # Rows that sort before the current position arrive between two requests ...
        await make_staff_many(services, tenant, [dict(last_name="Aaron"), dict(last_name="Miler")])
        inserted += 2
        result = await page(api, tenant.owner, 3, sort=sort, after=after)
        seen += [pk(e["node"]) for e in result["edges"]]
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]

    # ... and the walk still yields exactly the rows that were there, once each.
    assert seen == [pk(n) for n in before]
    now, _ = await walk(api, tenant.owner, 100, sort=sort)
    assert len(now) == len(before) + inserted


async def test_newest_first_is_stable_while_records_are_added(api, services):
    tenant = await make_tenant(services)
    await make_staff_many(
        services,
        tenant,
        [dict(last_name=f"Old{i}", created_at=T0 + timedelta(minutes=i // 2)) for i in range(8)],
    )
    sort = {"key": "CREATED_AT", "direction": "DESC"}
    before, _ = await walk(api, tenant.owner, 100, sort=sort)
    first = await page(api, tenant.owner, 4, sort=sort)
    await make_staff(services, tenant, last_name="Brandnew")  # newest: sorts before the cursor
    rest, _ = await walk(api, tenant.owner, 4, sort=sort, after=first["pageInfo"]["endCursor"])
    seen = [pk(e["node"]) for e in first["edges"]] + [pk(n) for n in rest]
    assert seen == [pk(n) for n in before]


async def test_rows_inserted_after_the_cursor_show_up(api, services):
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [dict(last_name="Baker") for _ in range(4)])
    sort = {"key": "LAST_NAME", "direction": "ASC"}
    first = await page(api, tenant.owner, 2, sort=sort)
    late = await make_staff(services, tenant, last_name="Zimmer")
    rest, _ = await walk(api, tenant.owner, 2, sort=sort, after=first["pageInfo"]["endCursor"])
    assert pk(rest[-1]) == late.id


@pytest.mark.parametrize("first", [101, 1000, -1])
async def test_page_size_outside_0_to_100_is_bad_user_input(api, services, first):
    tenant = await make_tenant(services)
    body = await api(DIRECTORY, {"first": first}, as_=tenant.owner)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] is None


async def test_page_size_of_100_is_allowed(api, services):
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [{} for _ in range(100)])
    result = await page(api, tenant.owner, 100)
    assert len(result["edges"]) == 100
    assert result["pageInfo"]["hasNextPage"] is True
    assert result["totalCount"] == 101


@pytest.mark.parametrize(
    "other",
    [
        {"key": "FIRST_NAME", "direction": "ASC"},
        {"key": "LAST_NAME", "direction": "DESC"},
        {"key": "CREATED_AT", "direction": "ASC"},
    ],
)
async def test_cursor_of_another_sort_is_bad_user_input(api, services, other):
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [{} for _ in range(3)])
    first = await page(api, tenant.owner, 1, sort={"key": "LAST_NAME", "direction": "ASC"})
    cursor = first["pageInfo"]["endCursor"]
    body = await api(DIRECTORY, {"first": 1, "after": cursor, "sort": other}, as_=tenant.owner)
    assert error_codes(body) == ["BAD_USER_INPUT"]


def _cursor(*parts) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        "W10",
        "WyJMQVNUX05BTUUiXQ",
        # ids past the INTEGER column's range (PostgreSQL refused them: an unexpected
        # error), negative, or not whole numbers
        _cursor("LAST_NAME", "ASC", "zz", 2**31),
        _cursor("LAST_NAME", "ASC", "zz", 2**63),
        _cursor("LAST_NAME", "ASC", "zz", -1),
        _cursor("LAST_NAME", "ASC", "zz", True),
        _cursor("LAST_NAME", "ASC", "zz", 1.5),
    ],
)
async def test_malformed_cursor_is_bad_user_input(api, services, cursor):
    tenant = await make_tenant(services)
    body = await api(DIRECTORY, {"first": 1, "after": cursor}, as_=tenant.owner)
    assert error_codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "value",
    [
        "2020-01-01T00:00:00",  # no offset
        "2020-01-01",
        "0001-01-01T00:00:00+14:00",  # before the calendar's first day in UTC
        "9999-12-31T23:59:59-14:00",  # after its last
        "not a time",
    ],
)
async def test_a_tampered_creation_time_cursor_is_bad_user_input(api, services, value):
    """A creation-time cursor holds an ISO time with its offset; any other was an
    unexpected error (INTERNAL_SERVER_ERROR, a traceback in the log)."""
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [{} for _ in range(2)])
    sort = {"key": "CREATED_AT", "direction": "ASC"}
    body = await api(DIRECTORY, {"first": 1, "after": _cursor("CREATED_AT", "ASC", value, 3),
                                 "sort": sort}, as_=tenant.owner)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    # the cursors Roster gives still work, with another offset too
    first = await page(api, tenant.owner, 1, sort=sort)
    body = await api(DIRECTORY, {"first": 1, "after": first["pageInfo"]["endCursor"],
                                 "sort": sort}, as_=tenant.owner)
    assert error_codes(body) == [] and len(body["data"]["staff"]["edges"]) == 1


async def test_sorting_by_email_needs_the_personal_data_permit(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    body = await api(DIRECTORY, {"first": 5, "sort": {"key": "EMAIL"}}, as_=viewer)
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_total_count_matches_the_filter_not_the_page(api, services):
    tenant = await make_tenant(services)
    await make_staff_many(
        services,
        tenant,
        [dict(kind=StaffKind.CONTRACTOR) for _ in range(5)] + [{} for _ in range(4)],
    )
    result = await page(api, tenant.owner, 2, filter={"kinds": ["CONTRACTOR"]})
    assert len(result["edges"]) == 2
    assert result["totalCount"] == 5
    assert (await page(api, tenant.owner, 2))["totalCount"] == 10
    searched = await page(api, tenant.owner, 2, search="owner")
    assert searched["totalCount"] == 1


async def test_search_matches_every_word_across_name_title_and_company(api, services):
    tenant = await make_tenant(services)
    await make_staff_many(
        services,
        tenant,
        [
            dict(first_name="Ann", last_name="Lee", title="Senior Engineer", company="Acme"),
            dict(first_name="Ann", last_name="Park", title="Designer", company="Engineering Ltd"),
            dict(first_name="Bob", last_name="Lee", title="Engineer", company="Acme"),
            dict(first_name="Hanna", last_name="Cho", title="Accountant", company="Globex"),
        ],
    )
    owner = tenant.owner
    assert await last_names(api, owner, search="ann engineer") == ["Lee", "Park"]
    assert await last_names(api, owner, search="ACME lee") == ["Lee", "Lee"]
    assert await last_names(api, owner, search="  acme   ann  ") == ["Lee"]
    assert await last_names(api, owner, search="ann") == ["Cho", "Lee", "Park"]
    assert await last_names(api, owner, search="globex engineer") == []


async def test_search_treats_like_wildcards_literally(api, services):
    tenant = await make_tenant(services)
    await make_staff_many(
        services,
        tenant,
        [
            dict(last_name="Percent", company="100% Tea"),
            dict(last_name="Digits", company="1000 Teas"),
            dict(last_name="Underscore", title="R_D lead"),
            dict(last_name="Letters", title="RND lead"),
            dict(last_name="Backslash", title="a\\b"),
        ],
    )
    owner = tenant.owner
    assert await last_names(api, owner, search="100%") == ["Percent"]
    assert await last_names(api, owner, search="%") == ["Percent"]
    assert await last_names(api, owner, search="r_d") == ["Underscore"]
    assert await last_names(api, owner, search="_") == ["Underscore"]
    assert await last_names(api, owner, search="%tea") == []
    assert await last_names(api, owner, search="a\\b") == ["Backslash"]


async def test_filter_by_role_and_kind(api, services):
    tenant = await make_tenant(services)
    await make_member(services, tenant, Role.EDITOR, last_name="Editor")
    await make_member(services, tenant, Role.ADMINISTRATOR, last_name="Admin")
    await make_staff_many(
        services,
        tenant,
        [
            dict(last_name="Contractor", kind=StaffKind.CONTRACTOR),
            dict(last_name="Vendor", kind=StaffKind.VENDOR),
            dict(last_name="Employee"),
        ],
    )
    owner = tenant.owner
    assert await last_names(api, owner, filter={"roles": ["EDITOR"]}) == ["Editor"]
    assert await last_names(api, owner, filter={"roles": ["EDITOR", "OWNER"]}) == [
        "Editor",
        "Owner",
    ]
    assert await last_names(api, owner, filter={"kinds": ["CONTRACTOR", "VENDOR"]}) == [
        "Contractor",
        "Vendor",
    ]
    assert await last_names(api, owner, filter={"kinds": ["CONTRACTOR"], "roles": ["VIEWER"]}) == [
        "Contractor"
    ]


async def test_filter_by_account_status_and_disabled(api, services):
    tenant = await make_tenant(services)
    invited = await make_staff(services, tenant, last_name="Invited")
    await set_staff_columns(services, invited.id, account_status=AccountStatus.INVITED)
    await make_staff(services, tenant, last_name="Added")  # NOT_INVITED
    gone = await make_member(services, tenant, Role.EDITOR, last_name="Gone")
    await set_staff_columns(services, gone.staff_pk, account_status=AccountStatus.DISABLED)
    owner = tenant.owner

    assert await last_names(api, owner) == ["Added", "Invited", "Owner"]
    assert await last_names(api, owner, filter={"includeDisabled": True}) == [
        "Added",
        "Gone",
        "Invited",
        "Owner",
    ]
    assert await last_names(api, owner, filter={"accountStatuses": ["DISABLED"]}) == ["Gone"]
    assert await last_names(api, owner, filter={"accountStatuses": ["INVITED", "NOT_INVITED"]}) == [
        "Added",
        "Invited",
    ]
    assert await last_names(api, owner, filter={"accountStatuses": ["ACTIVE"]}) == ["Owner"]


async def test_filter_by_company_ignores_case_but_not_other_words(api, services):
    tenant = await make_tenant(services)
    await make_staff_many(
        services,
        tenant,
        [
            dict(last_name="One", company="Acme"),
            dict(last_name="Two", company="ACME"),
            dict(last_name="Three", company="Acme Corp"),
            dict(last_name="Four"),
        ],
    )
    assert await last_names(api, tenant.owner, filter={"company": "acme"}) == ["One", "Two"]
    assert await last_names(api, tenant.owner, filter={"company": " aCmE "}) == ["One", "Two"]
    assert await last_names(api, tenant.owner, filter={"company": "acme corp"}) == ["Three"]


async def test_filter_by_manager_lists_direct_reports_only(api, services):
    tenant = await make_tenant(services)
    boss = await make_staff(services, tenant, last_name="Boss")
    first = await make_staff(services, tenant, last_name="First", manager_id=boss.id)
    await make_staff(services, tenant, last_name="Second", manager_id=boss.id)
    await make_staff(services, tenant, last_name="Grand", manager_id=first.id)
    await make_staff(services, tenant, last_name="Nobody")
    owner = tenant.owner
    assert await last_names(api, owner, filter={"managerId": gid("Staff", boss.id)}) == [
        "First",
        "Second",
    ]
    assert await last_names(api, owner, filter={"managerId": gid("Staff", first.id)}) == ["Grand"]


async def test_manager_filter_of_another_account_finds_nothing(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    boss = await make_staff(services, other, last_name="Boss")
    await make_staff(services, other, last_name="Report", manager_id=boss.id)
    assert await last_names(api, tenant.owner, filter={"managerId": gid("Staff", boss.id)}) == []


async def test_inactive_staff_are_hidden_unless_asked_for(api, services):
    tenant = await make_tenant(services)
    await make_staff(services, tenant, last_name="Resting", is_inactive=True)
    await make_staff(services, tenant, last_name="Working")
    owner = tenant.owner
    assert await last_names(api, owner) == ["Owner", "Working"]
    assert await last_names(api, owner, filter={"includeInactive": True}) == [
        "Owner",
        "Resting",
        "Working",
    ]
    assert await last_names(api, owner, search="resting") == []


async def test_directory_shows_only_the_actors_account(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    await make_staff(services, other, last_name="Elsewhere")
    await make_staff(services, tenant, last_name="Here")
    assert await last_names(api, tenant.owner) == ["Here", "Owner"]
    assert await last_names(api, tenant.owner, search="elsewhere") == []
