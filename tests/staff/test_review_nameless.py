"""A record without names shows no name (never one made up from its email) and sorts last
in the name sorts, on graphql-core and on the compiled staff-page plan alike."""

from __future__ import annotations

import httpx
import pytest

from app.access import Role
from app.accounts.service import create_account
from app.graphql.ids import decode_id
from app.identity.models import User
from app.main import create_app
from app.services import Services
from app.staff.models import Staff
from tests.conftest import make_settings
from tests.factories import (
    PASSWORD,
    get_row,
    gid,
    mail_token,
    make_member,
    make_staff_many,
    make_tenant,
    make_user,
    take_mail,
    update_row,
)

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code } }
}"""
ACCEPT = """mutation($input: InvitationAcceptInput!) {
  invitationAccept(input: $input) { staff { firstName lastName fullName } userErrors { code } }
}"""
# A document the compiled plan answers (default sort: last name, ascending).
PAGE = """query($first: Int!, $after: String) {
  staff(first: $first, after: $after) {
    edges { cursor node { id firstName lastName fullName } }
    pageInfo { hasNextPage endCursor }
  }
}"""
SORTED = """query($first: Int!, $after: String, $sort: StaffSortInput) {
  staff(first: $first, after: $after, sort: $sort) {
    edges { cursor node { id firstName lastName fullName } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture
async def cold_client(database_url):
    """The same database served with the hot paths off: graphql-core answers everything."""
    services = Services.from_settings(make_settings(database_url, hot_paths=False))
    app = create_app(services.settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://roster.test"
    ) as client:
        yield client
    await services.close()


def _headers(member) -> dict:
    return {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}


async def walk(client, member, query, size, **variables) -> list[dict]:
    nodes, after = [], None
    while True:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": {"first": size, "after": after, **variables}},
            headers=_headers(member),
        )
        body = response.json()
        assert "errors" not in body, body
        page = body["data"]["staff"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def invite_nameless(api, tenant, email="pending.person@example.com"):
    data = await api.data(INVITE, {"input": {"email": email}}, as_=tenant.owner)
    assert data["invitationCreate"]["userErrors"] == []


async def test_invited_record_without_names_shows_no_name(app, api, services, client, cold_client):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER, first_name="Vic", last_name="Viewer")
    await invite_nameless(api, tenant)
    for http in (client, cold_client):
        before = app.state.graphql.schema.hot_paths.answered
        nodes = await walk(http, viewer, PAGE, 50)
        if http is client:
            assert app.state.graphql.schema.hot_paths.answered > before  # the plan answered
        assert "pending" not in str(nodes)
        nameless = [n for n in nodes if not (n["firstName"] or n["lastName"])]
        assert [(n["firstName"], n["lastName"], n["fullName"]) for n in nameless] == [("", "", "")]
        # a record with a last name only shows just that
        owner = next(n for n in nodes if n["id"] == tenant.owner.staff_id)
        assert (owner["firstName"], owner["fullName"]) == ("", "Owner")


@pytest.mark.parametrize("size", [1, 2, 3, 50])
async def test_nameless_records_sort_last_on_both_paths(
    app, api, services, client, cold_client, size
):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER, first_name="Vic", last_name="Viewer")
    await make_staff_many(
        services,
        tenant,
        [
            dict(first_name="", last_name=""),
            dict(first_name="Zoe", last_name="Zimmer"),
            dict(first_name="", last_name=""),
            dict(first_name="Al", last_name="Able"),
            dict(first_name="Ann", last_name=""),
            dict(first_name="", last_name="Moss"),
        ],
    )
    await invite_nameless(api, tenant)
    hot = await walk(client, viewer, PAGE, size)
    cold = await walk(cold_client, viewer, PAGE, size)
    assert hot == cold
    assert [n["fullName"] for n in hot] == [
        "Al Able",
        "Moss",
        "Owner",
        "Vic Viewer",
        "Zoe Zimmer",
        "",
        "",
        "Ann",
        "",
    ]
    # the nameless ones come last in record order, also in the other name sorts
    for key, direction, expected in [
        ("LAST_NAME", "DESC", ["Zoe Zimmer", "Vic Viewer", "Owner", "Moss", "Al Able"]),
        ("FIRST_NAME", "ASC", ["Al Able", "Ann", "Vic Viewer", "Zoe Zimmer"]),
        ("FIRST_NAME", "DESC", ["Zoe Zimmer", "Vic Viewer", "Ann", "Al Able"]),
    ]:
        sort = {"key": key, "direction": direction}
        nodes = await walk(cold_client, viewer, SORTED, size, sort=sort)
        assert nodes == await walk(client, viewer, SORTED, size, sort=sort)
        name = "lastName" if key == "LAST_NAME" else "firstName"
        named = [n["fullName"] for n in nodes if n[name]]
        assert named == expected
        assert all(n[name] for n in nodes[: len(named)])  # every nameless one after them
        pks = [decode_id(n["id"], "Staff") for n in nodes[len(named) :]]
        assert pks == sorted(pks, reverse=direction == "DESC")


async def test_names_given_on_accepting_are_set(api, services):
    tenant = await make_tenant(services)
    await invite_nameless(api, tenant)
    [message] = await take_mail(services)
    accepted = await api.data(
        ACCEPT,
        {
            "input": {
                "token": mail_token(message),
                "password": "a fine long password",
                "firstName": "Pat",
                "lastName": "Pending",
            }
        },
    )
    assert accepted["invitationAccept"]["userErrors"] == []
    assert accepted["invitationAccept"]["staff"]["fullName"] == "Pat Pending"


async def test_an_existing_login_accepting_without_names_lends_its_own(api, services):
    tenant = await make_tenant(services)
    user = await make_user(services, "known.person@example.com")
    await update_row(services, User, user.id, first_name="Kim", last_name="Known")
    await invite_nameless(api, tenant, "known.person@example.com")
    [message] = await take_mail(services)
    accepted = await api.data(
        ACCEPT, {"input": {"token": mail_token(message), "password": PASSWORD}}
    )
    assert accepted["invitationAccept"]["userErrors"] == []
    assert accepted["invitationAccept"]["staff"]["fullName"] == "Kim Known"


async def test_an_account_made_for_a_login_without_names_has_a_nameless_owner(services):
    user = await make_user(services, "operator.made@example.com")
    async with services.db.session(write=True) as session:
        _, staff = await create_account(
            session, name="Ops", owner=await session.get(User, user.id), slug="ops", seat_limit=5
        )
        await session.commit()
    row = await get_row(services, Staff, staff.id)
    assert (row.first_name, row.last_name) == ("", "")


UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { firstName lastName title } userErrors { field code } }
}"""


async def test_an_update_leaving_names_empty_on_a_record_without_them_is_no_change(api, services):
    """A record made without names keeps them empty through an update that sends them
    empty (as SCIM's PUT and PATCH write the whole record back); a name a record has
    may not be emptied."""
    tenant = await make_tenant(services)
    [nameless, named] = await make_staff_many(
        services,
        tenant,
        [dict(first_name="", last_name=""), dict(first_name="Nora", last_name="Named")],
    )
    blank = {"firstName": "", "lastName": " ", "title": "Boss"}

    data = await api.data(
        UPDATE, {"input": {"id": gid("Staff", nameless.id), **blank}}, as_=tenant.owner
    )
    assert data["staffUpdate"] == {
        "staff": {"firstName": "", "lastName": "", "title": "Boss"},
        "userErrors": [],
    }
    data = await api.data(
        UPDATE, {"input": {"id": gid("Staff", named.id), **blank}}, as_=tenant.owner
    )
    assert sorted((e["field"][-1], e["code"]) for e in data["staffUpdate"]["userErrors"]) == [
        ("firstName", "REQUIRED"),
        ("lastName", "REQUIRED"),
    ]
    row = await get_row(services, Staff, named.id)
    assert (row.first_name, row.last_name, row.title) == ("Nora", "Named", None)
