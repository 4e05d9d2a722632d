"""Integrations address staff by their numeric sid (seed 004): ``staffBySid`` and the
directory filter ``staff(filter: {sids})``, for every role and across accounts, on the
compiled hot plan and on graphql-core alike."""

from __future__ import annotations

import httpx
import pytest

from app.main import create_app
from app.services import Services
from app.staff.queries import MAX_SIDS
from tests.conftest import make_settings
from tests.factories import (
    ROLE_KEYS,
    error_codes,
    gid,
    make_staff_many,
    make_tenant,
    member_as,
    set_staff_columns,
)

BY_SID = """query($sid: Int!) {
  staffBySid(sid: $sid) {
    id sid lastName rate1 email viewerCanSeeDetails viewerCanSeePersonalData viewerCanEdit
  }
}"""
NODE = """query($id: ID!) {
  node(id: $id) {
    ... on Staff {
      id sid lastName rate1 email viewerCanSeeDetails viewerCanSeePersonalData viewerCanEdit
    }
  }
}"""
# A plain page filtered by sids: the hot plan answers it.
BY_SIDS = """query($first: Int!, $sids: [Int!]) {
  staff(first: $first, filter: {sids: $sids}) {
    nodes { id sid lastName rate1 email manager { lastName } }
    pageInfo { hasNextPage endCursor }
  }
}"""
# The same with totalCount: graphql-core answers it.
BY_SIDS_COUNTED = """query($first: Int!, $sids: [Int!], $disabled: Boolean! = false) {
  staff(first: $first, filter: {sids: $sids, includeDisabled: $disabled}) {
    totalCount
    nodes { id sid lastName }
  }
}"""


@pytest.fixture
async def cold_services(database_url):
    """The same database served with the hot paths off: graphql-core answers everything."""
    services = Services.from_settings(make_settings(database_url, hot_paths=False))
    yield services
    await services.close()


@pytest.fixture
async def cold_client(cold_services):
    app = create_app(cold_services.settings, services=cold_services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://roster.test"
    ) as client:
        yield client


def _headers(member) -> dict:
    return {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}


def _answered(app) -> int:
    return app.state.graphql.schema.hot_paths.answered


async def _both(client, cold_client, query, variables, member):
    body = {"query": query, "variables": variables}
    hot = await client.post("/graphql", json=body, headers=_headers(member))
    cold = await cold_client.post("/graphql", json=body, headers=_headers(member))
    assert hot.status_code == cold.status_code == 200
    return hot.json(), cold.json()


async def _directory(services, api):
    """An account with a manager, a restricted and a disabled record and one member of each
    role; and another account whose records have the same sids."""
    tenant = await make_tenant(services)
    members = {key: await member_as(api, services, tenant, key) for key in ROLE_KEYS}
    boss, secret, gone, *rest = await make_staff_many(
        services,
        tenant,
        [
            dict(first_name="Bea", last_name="Boss", email="bea@example.com", rate1=100),
            dict(
                first_name="Sue",
                last_name="Secret",
                restricted=True,
                rate1=200,
                email="sue@example.com",
            ),
            dict(first_name="Gus", last_name="Gone"),
            *(dict(first_name=f"P{i}", last_name=f"Person{i}", rate1=50 + i) for i in range(4)),
        ],
    )
    await set_staff_columns(services, rest[0].id, manager_id=boss.id)
    await set_staff_columns(services, gone.id, account_status="DISABLED")
    other = await make_tenant(services)
    theirs = await make_staff_many(
        services, other, [dict(first_name="Oz", last_name=f"Elsewhere{i}") for i in range(25)]
    )
    return tenant, members, (boss, secret, gone, *rest), other, theirs


async def test_staff_by_sid_answers_as_node_for_every_role(services, api):
    tenant, members, rows, other, theirs = await _directory(services, api)
    boss, secret = rows[0], rows[1]
    for key, member in members.items():
        for row in (boss, secret):
            by_sid = (await api.data(BY_SID, {"sid": row.sid}, as_=member))["staffBySid"]
            node = (await api.data(NODE, {"id": gid("Staff", row.id)}, as_=member))["node"]
            assert by_sid == node, key
            assert by_sid["sid"] == row.sid and by_sid["lastName"] == row.last_name
        # what the viewer sees differs by role, exactly as node shows it
        shown = (await api.data(BY_SID, {"sid": secret.sid}, as_=member))["staffBySid"]
        sees_details = key in ("ADMINISTRATOR", "OWNER")
        assert shown["viewerCanSeeDetails"] is sees_details, key
        assert (shown["rate1"] is not None) is sees_details, key
        assert (shown["email"] is not None) is (key.endswith("+PD") or sees_details), key


async def test_staff_by_sid_is_null_for_an_unknown_or_another_accounts_sid(services, api):
    tenant, members, rows, other, theirs = await _directory(services, api)
    mine = {r.sid for r in rows}
    only_theirs = [r for r in theirs if r.sid not in mine and r.sid > max(mine) + 10]
    assert only_theirs  # the other account has sids this one has not
    for key, member in members.items():
        for sid in (only_theirs[0].sid, 0, -1, 2**31 - 1):
            body = await api(BY_SID, {"sid": sid}, as_=member)
            assert body == {"data": {"staffBySid": None}}, (key, sid)
    # the other account's owner finds their own record by that sid, and not ours by ours
    found = await api.data(BY_SID, {"sid": only_theirs[0].sid}, as_=other.owner)
    assert found["staffBySid"]["lastName"] == only_theirs[0].last_name
    same_sid = await api.data(BY_SID, {"sid": rows[0].sid}, as_=other.owner)
    assert same_sid["staffBySid"]["lastName"].startswith("Elsewhere")


async def test_staff_by_sid_needs_authentication(services, api):
    await _directory(services, api)
    body = await api(BY_SID, {"sid": 1})
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_the_sids_filter_is_answered_by_the_hot_plan_as_graphql_core_for_every_role(
    app, services, api, client, cold_client
):
    tenant, members, rows, other, theirs = await _directory(services, api)
    boss, secret, gone, *rest = rows
    wanted = [rest[0].sid, secret.sid, boss.sid, gone.sid, 999_999]
    for key, member in [*members.items(), ("OTHER", other.owner)]:
        before = _answered(app)
        hot, cold = await _both(client, cold_client, BY_SIDS, {"first": 10, "sids": wanted}, member)
        assert hot == cold, key
        assert "errors" not in hot, hot
        assert _answered(app) == before + 1, f"{key}: the plan did not answer"
        names = {n["lastName"] for n in hot["data"]["staff"]["nodes"]}
        if key == "OTHER":  # their own records of those sids, never ours
            assert names and all(n.startswith("Elsewhere") for n in names)
            continue
        # the disabled record is left out as the directory leaves it out
        assert names == {"Person0", "Secret", "Boss"}, key
        page = {n["lastName"]: n for n in hot["data"]["staff"]["nodes"]}
        assert page["Person0"]["manager"] == {"lastName": "Boss"}
        sees_details = key in ("ADMINISTRATOR", "OWNER")
        assert (page["Secret"]["rate1"] is not None) is sees_details, key


async def test_sids_pages_walk_on_both_paths(app, services, api, client, cold_client):
    tenant, members, rows, other, theirs = await _directory(services, api)
    sids = [r.sid for r in rows]
    member = members["EDITOR"]
    after, seen = None, []
    while True:
        query = BY_SIDS.replace("$first: Int!, $sids", "$first: Int!, $after: String, $sids")
        query = query.replace("staff(first: $first,", "staff(first: $first, after: $after,")
        hot, cold = await _both(
            client, cold_client, query, {"first": 2, "sids": sids, "after": after}, member
        )
        assert hot == cold
        page = hot["data"]["staff"]
        seen += [n["sid"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(r.sid for r in rows if r.last_name != "Gone")


async def test_sids_filter_with_total_count_and_other_filters(
    app, services, api, client, cold_client
):
    tenant, members, rows, other, theirs = await _directory(services, api)
    sids = [r.sid for r in rows[:3]]  # boss, secret, the disabled one
    for key, member in members.items():
        hot, cold = await _both(
            client, cold_client, BY_SIDS_COUNTED, {"first": 10, "sids": sids}, member
        )
        assert hot == cold  # totalCount counts as graphql-core's count does
        assert hot["data"]["staff"]["totalCount"] == 2, key
        hot, _ = await _both(
            client,
            cold_client,
            BY_SIDS_COUNTED,
            {"first": 10, "sids": sids, "disabled": True},
            member,
        )
        assert hot["data"]["staff"]["totalCount"] == 3, key
        assert {n["sid"] for n in hot["data"]["staff"]["nodes"]} == set(sids)


async def test_an_empty_sids_list_matches_no_record_and_null_means_no_filter(
    app, services, api, client, cold_client
):
    tenant, members, rows, other, theirs = await _directory(services, api)
    member = members["VIEWER"]
    hot, cold = await _both(client, cold_client, BY_SIDS, {"first": 50, "sids": []}, member)
    assert hot == cold and hot["data"]["staff"]["nodes"] == []
    hot, cold = await _both(client, cold_client, BY_SIDS, {"first": 50, "sids": None}, member)
    assert hot == cold and len(hot["data"]["staff"]["nodes"]) > len(rows)
    counted, _ = await _both(client, cold_client, BY_SIDS_COUNTED, {"first": 5, "sids": []}, member)
    assert counted["data"]["staff"] == {"totalCount": 0, "nodes": []}


@pytest.mark.parametrize("query", [BY_SIDS, BY_SIDS_COUNTED], ids=["hot", "graphql-core"])
async def test_too_many_sids_is_a_bad_user_input_on_both_paths(
    app, services, api, client, cold_client, query
):
    tenant, members, rows, other, theirs = await _directory(services, api)
    member = members["OWNER"]
    before = _answered(app)
    fine, _ = await _both(
        client, cold_client, query, {"first": 5, "sids": list(range(1, MAX_SIDS + 1))}, member
    )
    assert "errors" not in fine
    too_many = {"first": 5, "sids": list(range(1, MAX_SIDS + 2))}
    hot, cold = await _both(client, cold_client, query, too_many, member)
    assert hot == cold
    assert error_codes(hot) == ["BAD_USER_INPUT"]
    assert str(MAX_SIDS) in hot["errors"][0]["message"]
    if query is BY_SIDS:
        assert _answered(app) == before + 1  # the first request only: errors are handed back


async def test_sids_in_a_literal_filter_are_answered_by_the_plan(
    app, services, api, client, cold_client
):
    tenant, members, rows, other, theirs = await _directory(services, api)
    sids = f"[{rows[0].sid}, {rows[3].sid}]"
    query = "{ staff(first: 5, filter: {sids: " + sids + "}) { nodes { sid lastName } } }"
    before = _answered(app)
    hot, cold = await _both(client, cold_client, query, None, members["VIEWER"])
    assert hot == cold and _answered(app) == before + 1
    assert {n["lastName"] for n in hot["data"]["staff"]["nodes"]} == {"Boss", "Person0"}


FILTERED = """query($filter: StaffFilterInput) {
  staff(first: 50, filter: $filter) { nodes { sid lastName role kind isInactive } }
}"""


async def test_every_directory_filter_is_answered_by_the_plan_as_graphql_core(
    app, services, api, client, cold_client
):
    """The plan builds the filter as the resolver does (enums, ids, flags, sids)."""
    tenant, members, rows, other, theirs = await _directory(services, api)
    boss = rows[0]
    await set_staff_columns(services, rows[4].id, is_inactive=True)
    filters = [
        {"roles": ["VIEWER", "EDITOR"]},
        {"kinds": ["EMPLOYEE"], "includeInactive": True},
        {"accountStatuses": ["DISABLED", "ACTIVE"]},
        {"company": "nobody"},
        {"managerId": gid("Staff", boss.id)},
        {"managerId": "not-an-id"},
        {"sids": [r.sid for r in rows], "includeDisabled": True, "includeInactive": True},
        {"sids": [r.sid for r in rows], "roles": ["VIEWER"]},
        {},
        None,
    ]
    for member in (members["VIEWER"], members["OWNER"]):
        for f in filters:
            before = _answered(app)
            hot, cold = await _both(client, cold_client, FILTERED, {"filter": f}, member)
            assert hot == cold and "errors" not in hot, f
            assert _answered(app) == before + 1, f
    everything, _ = await _both(
        client,
        cold_client,
        FILTERED,
        {
            "filter": {
                "sids": [r.sid for r in rows],
                "includeDisabled": True,
                "includeInactive": True,
            }
        },
        members["OWNER"],
    )
    assert {n["sid"] for n in everything["data"]["staff"]["nodes"]} == {r.sid for r in rows}
