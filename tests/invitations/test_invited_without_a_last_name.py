"""An invitation sent with a first name and no last name (or no name at all) makes a
record shown by the name it has, without a stray space ("Grace", not "Grace "), that sorts
with the nameless records, last, on the compiled staff-page plan and on graphql-core."""

from __future__ import annotations

import httpx
import pytest

from app.access import Role
from app.main import create_app
from app.services import Services
from tests.conftest import make_settings
from tests.factories import make_member, make_staff_many, make_tenant

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code } }
}"""
PAGE = """query($first: Int!, $after: String) {
  staff(first: $first, after: $after) {
    edges { node { firstName lastName fullName accountStatus } }
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


async def walk(http, member, size) -> list[dict]:
    headers = {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}
    nodes, after = [], None
    while True:
        response = await http.post(
            "/graphql",
            json={"query": PAGE, "variables": {"first": size, "after": after}},
            headers=headers,
        )
        body = response.json()
        assert "errors" not in body, body
        nodes += [e["node"] for e in body["data"]["staff"]["edges"]]
        if not body["data"]["staff"]["pageInfo"]["hasNextPage"]:
            return nodes
        after = body["data"]["staff"]["pageInfo"]["endCursor"]


@pytest.mark.parametrize("size", [1, 2, 50])
@pytest.mark.parametrize("inviter", ["OWNER", "ADMINISTRATOR"])
async def test_an_invitation_without_a_last_name_shows_and_sorts_as_nameless(
    app, api, services, client, cold_client, size, inviter
):
    tenant = await make_tenant(services)
    admin = await make_member(
        services, tenant, Role.ADMINISTRATOR, first_name="Ada", last_name="Admin"
    )
    viewer = await make_member(services, tenant, Role.VIEWER, first_name="Vic", last_name="Zed")
    await make_staff_many(services, tenant, [dict(first_name="Al", last_name="Able")])
    other = await make_tenant(services)
    await make_staff_many(services, other, [dict(first_name="Oz", last_name="")])
    by = tenant.owner if inviter == "OWNER" else admin
    for email, names in (
        ("grace@example.com", {"firstName": "Grace"}),
        ("blank@example.com", {"firstName": "Bo", "lastName": "   "}),
    ):
        data = await api.data(INVITE, {"input": {"email": email, **names}}, as_=by)
        assert data["invitationCreate"]["userErrors"] == []
    for member in (viewer, admin, tenant.owner):
        before = app.state.graphql.schema.hot_paths.answered
        hot = await walk(client, member, size)
        assert app.state.graphql.schema.hot_paths.answered > before  # the plan answered
        assert hot == await walk(cold_client, member, size)
        shown = [(n["fullName"], n["lastName"], n["accountStatus"]) for n in hot]
        assert shown == [
            ("Al Able", "Able", "NOT_INVITED"),
            ("Ada Admin", "Admin", "ACTIVE"),
            ("Owner", "Owner", "ACTIVE"),
            ("Vic Zed", "Zed", "ACTIVE"),
            # the invited ones, without last names: last, in record order
            ("Grace", "", "INVITED"),
            ("Bo", "", "INVITED"),
        ]
        assert not any(n["fullName"] != n["fullName"].strip() for n in hot)
