"""Sort and search the directory by role (seed 003: "sort and search by ... groups").

ROLE orders by rank (owner, administrators, editors, viewers), then as the default sort
within each (last name, records without one last, then record order); DESC is its exact
reverse. A search word that is a role's name finds that role's members (whole words only).
Walked page by page with cursors, on the compiled plan and on graphql-core alike."""

from __future__ import annotations

import httpx
import pytest

from app.access import Role
from app.main import create_app
from app.services import Services
from tests.conftest import make_settings
from tests.factories import ROLE_KEYS, make_member, make_staff_many, make_tenant, member_as

SORTED = """query($first: Int!, $after: String, $sort: StaffSortInput, $search: String) {
  staff(first: $first, after: $after, sort: $sort, search: $search) {
    edges { cursor node { id lastName role } }
    pageInfo { hasNextPage endCursor }
  }
}"""
# The plan covers search (not sort): this document is answered by it.
SEARCH = """query($first: Int!, $after: String, $search: String) {
  staff(first: $first, after: $after, search: $search) {
    edges { cursor node { id lastName role } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture
async def cold_client(database_url):
    services = Services.from_settings(make_settings(database_url, hot_paths=False))
    app = create_app(services.settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://roster.test"
    ) as client:
        yield client
    await services.close()


def _headers(member) -> dict:
    return {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}


async def walk(http, member, query, size, **variables) -> list[tuple[str, str]]:
    nodes, after = [], None
    while True:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": {"first": size, "after": after, **variables}},
            headers=_headers(member),
        )
        body = response.json()
        assert "errors" not in body, body
        page = body["data"]["staff"]
        nodes += [(e["node"]["role"], e["node"]["lastName"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def _account(services):
    tenant = await make_tenant(services)  # the owner: last name "Owner"
    viewer = await make_member(services, tenant, Role.VIEWER, first_name="Pat", last_name="Young")
    await make_member(services, tenant, Role.ADMINISTRATOR, first_name="Pat", last_name="zeta")
    await make_member(services, tenant, Role.ADMINISTRATOR, first_name="Pat", last_name="Alpha")
    await make_member(services, tenant, Role.EDITOR, first_name="Pat", last_name="Editorson")
    await make_member(services, tenant, Role.EDITOR, first_name="Pat", last_name="")
    await make_member(services, tenant, Role.EDITOR, first_name="Pat", last_name="Birch")
    await make_staff_many(
        services,
        tenant,
        [
            dict(last_name="Able", role=Role.VIEWER),
            dict(last_name="", first_name="Grace", role=Role.VIEWER),
            dict(last_name="Moss", role=Role.EDITOR),
            dict(last_name="Viewerman", role=Role.VIEWER),
        ],
    )
    other = await make_tenant(services)
    await make_member(services, other, Role.EDITOR, first_name="Pat", last_name="Elsewhere")
    return tenant, viewer


ROLE_ASC = [
    ("OWNER", "Owner"),
    ("ADMINISTRATOR", "Alpha"),
    ("ADMINISTRATOR", "zeta"),
    ("EDITOR", "Birch"),
    ("EDITOR", "Editorson"),
    ("EDITOR", "Moss"),
    ("EDITOR", ""),
    ("VIEWER", "Able"),
    ("VIEWER", "Viewerman"),
    ("VIEWER", "Young"),
    ("VIEWER", ""),
]


@pytest.mark.parametrize("size", [1, 2, 3, 50])
async def test_role_sort_pages_by_rank_then_last_name(services, client, cold_client, size):
    tenant, viewer = await _account(services)
    for direction, expected in (("ASC", ROLE_ASC), ("DESC", ROLE_ASC[::-1])):
        sort = {"key": "ROLE", "direction": direction}
        for member in (viewer, tenant.owner):
            hot = await walk(client, member, SORTED, size, sort=sort)
            assert hot == await walk(cold_client, member, SORTED, size, sort=sort)
            assert hot == expected, direction


async def test_role_sort_for_every_role_and_with_a_search(api, services, client, cold_client):
    tenant, _ = await _account(services)
    for key in ROLE_KEYS:
        member = await member_as(api, services, tenant, key, last_name=f"Zz{key}")
        sort = {"key": "ROLE", "direction": "ASC"}
        nodes = await walk(client, member, SORTED, 4, sort=sort)
        assert nodes == await walk(cold_client, member, SORTED, 4, sort=sort)
        ranks = [["OWNER", "ADMINISTRATOR", "EDITOR", "VIEWER"].index(r) for r, _ in nodes]
        assert ranks == sorted(ranks), key
        assert ("EDITOR", "Elsewhere") not in nodes  # never another account's
        searched = await walk(client, member, SORTED, 2, sort=sort, search="ss")
        assert searched == [n for n in nodes if "ss" in n[1].lower()] == [("EDITOR", "Moss")]


async def test_a_cursor_of_the_role_sort_is_refused_by_another_sort(api, services):
    tenant, _ = await _account(services)
    page = await api.data(SORTED, {"first": 1, "sort": {"key": "ROLE"}}, as_=tenant.owner)
    cursor = page["staff"]["pageInfo"]["endCursor"]
    body = await api(SORTED, {"first": 1, "after": cursor}, as_=tenant.owner)
    assert body.get("errors") or body["data"] is None


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("editor", {("EDITOR", "Birch"), ("EDITOR", "Editorson"), ("EDITOR", "Moss"),
                    ("EDITOR", "")}),
        ("EDITOR", {("EDITOR", "Birch"), ("EDITOR", "Editorson"), ("EDITOR", "Moss"),
                    ("EDITOR", "")}),
        # a part of a role's name matches names only
        ("edit", {("EDITOR", "Editorson")}),
        ("owner", {("OWNER", "Owner")}),
        ("administrator", {("ADMINISTRATOR", "Alpha"), ("ADMINISTRATOR", "zeta")}),
        # every word must match: editors whose names hold "birch"
        ("editor birch", {("EDITOR", "Birch")}),
        ("viewer", {("VIEWER", "Able"), ("VIEWER", "Viewerman"), ("VIEWER", "Young"),
                    ("VIEWER", "")}),
    ],
)  # fmt: skip
async def test_searching_a_role_name_finds_that_role(
    app, services, client, cold_client, search, expected
):
    tenant, viewer = await _account(services)
    for member in (viewer, tenant.owner):
        before = app.state.graphql.schema.hot_paths.answered
        hot = await walk(client, member, SEARCH, 50, search=search)
        assert app.state.graphql.schema.hot_paths.answered == before + 1  # the plan answered
        assert hot == await walk(cold_client, member, SEARCH, 50, search=search)
        assert set(hot) == expected
