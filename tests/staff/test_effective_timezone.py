"""Staff.effectiveTimezone: the record's home time zone, or the account's when it has none
("blank home time zone means the firm's", seed 004). A detail like homeTimezone, hidden
exactly when it is, from the field table; the compiled staff-page plan answers it as
graphql-core does."""

from __future__ import annotations

import httpx
import pytest

from app.fields import Visibility
from app.main import create_app
from app.services import Services
from app.staff.fields import STAFF
from tests.conftest import make_settings
from tests.factories import (
    ROLE_KEYS,
    make_staff_many,
    make_tenant,
    member_as,
)

FIRM = "America/Chicago"
PAGE = """query($first: Int!, $after: String) {
  staff(first: $first, after: $after) {
    nodes { lastName homeTimezone effectiveTimezone viewerCanSeeDetails }
    pageInfo { hasNextPage endCursor }
  }
}"""
NODE = """query($id: ID!) {
  node(id: $id) { ... on Staff { lastName homeTimezone effectiveTimezone } }
}"""
SET_ZONE = """mutation($tz: String) {
  accountUpdate(input: {timezone: $tz}) { account { settings { timezone } } userErrors { code } }
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


async def _people(api, services):
    tenant = await make_tenant(services)
    data = await api.data(SET_ZONE, {"tz": FIRM}, as_=tenant.owner)
    assert data["accountUpdate"] == {"account": {"settings": {"timezone": FIRM}}, "userErrors": []}
    members = {
        key: await member_as(api, services, tenant, key, home_timezone="Asia/Tokyo")
        for key in ROLE_KEYS
    }
    await make_staff_many(
        services,
        tenant,
        [
            dict(last_name="Own", home_timezone="Europe/Oslo"),
            dict(last_name="Blank"),
            dict(last_name="Hidden", restricted=True),
            dict(last_name="HiddenOwn", restricted=True, home_timezone="Europe/Paris"),
        ],
    )
    return tenant, members


async def _page(http, member) -> dict[str, dict]:
    response = await http.post(
        "/graphql", json={"query": PAGE, "variables": {"first": 100}}, headers=_headers(member)
    )
    body = response.json()
    assert "errors" not in body, body
    return {n["lastName"]: n for n in body["data"]["staff"]["nodes"]}


EXPECTED = {
    # role: (Own, Blank, Hidden, HiddenOwn) as effectiveTimezone
    "VIEWER": ("Europe/Oslo", FIRM, None, None),
    "VIEWER+PD": ("Europe/Oslo", FIRM, None, None),
    "EDITOR": ("Europe/Oslo", FIRM, None, None),
    "EDITOR+PD": ("Europe/Oslo", FIRM, None, None),
    "ADMINISTRATOR": ("Europe/Oslo", FIRM, FIRM, "Europe/Paris"),
    "OWNER": ("Europe/Oslo", FIRM, FIRM, "Europe/Paris"),
}


@pytest.mark.parametrize("key", ROLE_KEYS)
async def test_effective_timezone_for_every_role_on_both_paths(
    app, api, services, client, cold_client, key
):
    tenant, members = await _people(api, services)
    member = members[key]
    before = app.state.graphql.schema.hot_paths.answered
    hot = await _page(client, member)
    assert app.state.graphql.schema.hot_paths.answered == before + 1  # the plan answered
    assert hot == await _page(cold_client, member)
    names = ("Own", "Blank", "Hidden", "HiddenOwn")
    assert tuple(hot[n]["effectiveTimezone"] for n in names) == EXPECTED[key]
    for node in hot.values():
        # hidden exactly when homeTimezone is; else the home zone, or the firm's
        if not node["viewerCanSeeDetails"]:
            assert node["homeTimezone"] is None and node["effectiveTimezone"] is None
        else:
            assert node["effectiveTimezone"] == (node["homeTimezone"] or FIRM)
    # the owner's own record has no home time zone: the firm's
    assert hot["Owner"]["effectiveTimezone"] == FIRM
    # through node (graphql-core only) alike
    data = await api.data(NODE, {"id": member.staff_id}, as_=member)
    assert data["node"]["effectiveTimezone"] == (FIRM if key == "OWNER" else "Asia/Tokyo")


async def test_another_account_keeps_its_own_time_zone(api, services, client, cold_client):
    await _people(api, services)
    other = await make_tenant(services)
    await make_staff_many(services, other, [dict(last_name="Elsewhere")])
    for http in (client, cold_client):
        nodes = await _page(http, other.owner)
        assert set(nodes) == {"Owner", "Elsewhere"}  # nothing of the first account
        assert {n["effectiveTimezone"] for n in nodes.values()} == {"UTC"}  # the default


async def test_changing_the_account_time_zone_moves_the_blank_records_only(
    api, services, client, cold_client
):
    tenant, _ = await _people(api, services)
    data = await api.data(SET_ZONE, {"tz": "Australia/Perth"}, as_=tenant.owner)
    assert data["accountUpdate"]["userErrors"] == []
    for http in (client, cold_client):
        nodes = await _page(http, tenant.owner)
        assert nodes["Blank"]["effectiveTimezone"] == "Australia/Perth"
        assert nodes["Hidden"]["effectiveTimezone"] == "Australia/Perth"
        assert nodes["Own"]["effectiveTimezone"] == "Europe/Oslo"


@pytest.mark.parametrize(
    ("visibility", "viewer_sees_restricted", "viewer_sees_any"),
    [(Visibility.BASIC, True, True), (Visibility.PERSONAL, False, False)],
)
async def test_effective_timezone_follows_the_home_timezone_row(
    app, api, services, client, cold_client, visibility, viewer_sees_restricted, viewer_sees_any
):
    tenant, members = await _people(api, services)
    viewer = members["VIEWER"]
    with STAFF.override("home_timezone", visibility=visibility):
        hot = await _page(client, viewer)
        assert hot == await _page(cold_client, viewer)
    assert (hot["Hidden"]["effectiveTimezone"] == FIRM) is viewer_sees_restricted
    assert (hot["Blank"]["effectiveTimezone"] == FIRM) is viewer_sees_any
    assert (hot["Own"]["effectiveTimezone"] == "Europe/Oslo") is viewer_sees_any
    assert (hot["HiddenOwn"]["effectiveTimezone"] == "Europe/Paris") is viewer_sees_restricted
    for node in hot.values():  # shown exactly where homeTimezone is, for those with one
        if node["lastName"] in ("Own", "HiddenOwn"):
            assert (node["homeTimezone"] is None) == (node["effectiveTimezone"] is None)
    # the viewer's own record: their own personal data, so shown in every case
    own = hot[next(n for n in hot if hot[n]["homeTimezone"] == "Asia/Tokyo")]
    assert own["effectiveTimezone"] == "Asia/Tokyo"
