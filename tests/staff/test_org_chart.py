"""The organisation chart: ``Staff.directReports``, ``Staff.reportingChain`` and
``staff(filter: {reportsTo, transitive})``, each within the viewer's visibility, for every
role and another account, and cycle-safe on data written behind the service's back."""

from __future__ import annotations

import httpx
import pytest

from app.main import create_app
from app.services import Services
from tests.conftest import make_settings
from tests.factories import (
    gid,
    make_staff_many,
    make_tenant,
    member_as,
    set_staff_columns,
)

ROLES = ("VIEWER", "VIEWER+PD", "EDITOR", "ADMINISTRATOR", "OWNER")
SEES_RESTRICTED = {"ADMINISTRATOR", "OWNER"}

REPORTS = """query($id: ID!, $first: Int, $after: String) {
  node(id: $id) { ... on Staff {
    directReports(first: $first, after: $after) {
      totalCount
      nodes { id lastName rate1 email viewerCanSeeDetails }
      pageInfo { hasNextPage endCursor }
    }
  } }
}"""

CHAIN = """query($id: ID!) {
  node(id: $id) { ... on Staff {
    reportingChain { id lastName rate1 email viewerCanSeeDetails }
    manager { id lastName rate1 email viewerCanSeeDetails
      manager { id lastName rate1 email viewerCanSeeDetails
        manager { id lastName rate1 email viewerCanSeeDetails
          manager { id lastName rate1 email viewerCanSeeDetails } } } }
  } }
}"""

FILTERED = """query($filter: StaffFilterInput, $first: Int = 50) {
  staff(filter: $filter, first: $first) {
    totalCount
    nodes { id lastName rate1 email viewerCanSeeDetails }
  }
}"""


async def _chart(services, api):
    """Ada <- Ben (restricted) <- Cy <- Di, Ed (inactive), Fay (disabled); Ben <- Gus;
    plus a member of each role, and another account with its own member."""
    tenant = await make_tenant(services)
    members = {key: await member_as(api, services, tenant, key) for key in ROLES}
    (ada,) = await make_staff_many(
        services, tenant, [dict(first_name="Ada", last_name="Top", rate1=300, email="a@x.io")]
    )
    (ben,) = await make_staff_many(
        services,
        tenant,
        [dict(first_name="Ben", last_name="Vp", restricted=True, rate1=200, manager_id=ada.id)],
    )
    cy, gus = await make_staff_many(
        services,
        tenant,
        [
            dict(first_name="Cy", last_name="Lead", rate1=150, manager_id=ben.id),
            dict(first_name="Gus", last_name="Aide", rate1=90, manager_id=ben.id),
        ],
    )
    di, ed, fay = await make_staff_many(
        services,
        tenant,
        [
            dict(first_name="Di", last_name="Dev", rate1=100, manager_id=cy.id, email="d@x.io"),
            dict(first_name="Ed", last_name="Idle", manager_id=cy.id, is_inactive=True),
            dict(first_name="Fay", last_name="Gone", manager_id=cy.id, account_status="DISABLED"),
        ],
    )
    other = await make_tenant(services)
    (oz,) = await make_staff_many(services, other, [dict(first_name="Oz", last_name="Away")])
    rows = dict(ada=ada, ben=ben, cy=cy, gus=gus, di=di, ed=ed, fay=fay, oz=oz)
    return tenant, members, other, rows


def _names(nodes) -> list[str]:
    return [n["lastName"] for n in nodes]


def _check_seen(key: str, node: dict) -> None:
    """Ben (restricted) is seen without details unless the viewer sees restricted staff;
    nobody's email is seen without the personal-data permit."""
    sees = node["lastName"] != "Vp" or key in SEES_RESTRICTED
    assert node["viewerCanSeeDetails"] is sees, (key, node)
    assert (node["rate1"] is not None) is sees, (key, node)
    if "PD" not in key and key not in SEES_RESTRICTED:
        assert node["email"] is None, (key, node)


# --- directReports -------------------------------------------------------------------------


async def test_direct_reports_for_every_role(services, api):
    tenant, members, _, rows = await _chart(services, api)
    for key, member in members.items():
        data = await api.data(REPORTS, {"id": gid("Staff", rows["cy"].id)}, as_=member)
        reports = data["node"]["directReports"]
        # the inactive and disabled reports are not listed, as in the staff list
        assert _names(reports["nodes"]) == ["Dev"], key
        assert reports["totalCount"] == 1, key
        data = await api.data(REPORTS, {"id": gid("Staff", rows["ada"].id)}, as_=member)
        (ben,) = data["node"]["directReports"]["nodes"]
        _check_seen(key, ben)
        listed = await api.data(
            FILTERED, {"filter": {"managerId": gid("Staff", rows["ben"].id)}}, as_=member
        )
        data = await api.data(REPORTS, {"id": gid("Staff", rows["ben"].id)}, as_=member)
        assert data["node"]["directReports"]["nodes"] == listed["staff"]["nodes"], key
        assert _names(listed["staff"]["nodes"]) == ["Aide", "Lead"]


async def test_direct_reports_are_paged(services, api):
    tenant, members, _, rows = await _chart(services, api)
    more = await make_staff_many(
        services,
        tenant,
        [
            dict(first_name=f"R{i}", last_name=f"Report{i}", manager_id=rows["gus"].id)
            for i in range(5)
        ],
    )
    seen, after = [], None
    while True:
        data = await api.data(
            REPORTS,
            {"id": gid("Staff", rows["gus"].id), "first": 2, "after": after},
            as_=members["VIEWER"],
        )
        page = data["node"]["directReports"]
        assert page["totalCount"] == 5
        seen += _names(page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [r.last_name for r in more]
    body = await api(
        REPORTS, {"id": gid("Staff", rows["gus"].id), "first": 101}, as_=members["VIEWER"]
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- reportingChain ------------------------------------------------------------------------


def _followed(node: dict) -> list[dict]:
    out, link = [], node["manager"]
    while link is not None:
        out.append({k: v for k, v in link.items() if k != "manager"})
        link = link.get("manager")
    return out


async def test_reporting_chain_for_every_role(services, api):
    tenant, members, _, rows = await _chart(services, api)
    for key, member in members.items():
        data = await api.data(CHAIN, {"id": gid("Staff", rows["di"].id)}, as_=member)
        chain = data["node"]["reportingChain"]
        assert _names(chain) == ["Lead", "Vp", "Top"], key
        assert chain == _followed(data["node"]), key  # what following `manager` gives
        for link in chain:
            _check_seen(key, link)
        data = await api.data(CHAIN, {"id": gid("Staff", rows["ada"].id)}, as_=member)
        assert data["node"]["reportingChain"] == [], key


async def test_reporting_chain_of_a_page_is_one_statement(services, api):
    from app.db.statements import StatementCounter

    tenant, members, _, rows = await _chart(services, api)
    query = "{ staff(first: 100) { nodes { lastName reportingChain { lastName } } } }"
    await api.data(query, as_=members["OWNER"])  # warm up
    with StatementCounter(services.db.engine) as counter:
        data = await api.data(query, as_=members["OWNER"])
    chains = {n["lastName"]: _names(n["reportingChain"]) for n in data["staff"]["nodes"]}
    assert chains["Dev"] == ["Lead", "Vp", "Top"] and chains["Aide"] == ["Vp", "Top"]
    # the token with the account's size (the chain's bound, for the cost, read beside it),
    # the page, the chains
    assert len(counter.statements) == 3, counter.statements
    assert "auth_tokens" in counter.statements[0] and "LIMIT" in counter.statements[0]
    assert sum("RECURSIVE" in s for s in counter.statements) == 1


# --- staff(filter: {reportsTo, transitive}) ------------------------------------------------


async def test_reports_to_filter_for_every_role(services, api):
    tenant, members, _, rows = await _chart(services, api)
    ben = gid("Staff", rows["ben"].id)
    ada = gid("Staff", rows["ada"].id)
    for key, member in members.items():
        direct = await api.data(FILTERED, {"filter": {"reportsTo": ben}}, as_=member)
        assert _names(direct["staff"]["nodes"]) == ["Aide", "Lead"], key
        assert direct["staff"]["totalCount"] == 2
        below = await api.data(
            FILTERED, {"filter": {"reportsTo": ada, "transitive": True}}, as_=member
        )
        assert _names(below["staff"]["nodes"]) == ["Aide", "Dev", "Lead", "Vp"], key
        assert below["staff"]["totalCount"] == 4, key
        for node in below["staff"]["nodes"]:
            _check_seen(key, node)
        everyone = await api.data(
            FILTERED,
            {
                "filter": {
                    "reportsTo": ada,
                    "transitive": True,
                    "includeInactive": True,
                    "includeDisabled": True,
                }
            },
            as_=member,
        )
        assert _names(everyone["staff"]["nodes"]) == ["Aide", "Dev", "Gone", "Idle", "Lead", "Vp"]
        not_transitive = await api.data(
            FILTERED, {"filter": {"reportsTo": ada, "transitive": False}}, as_=member
        )
        assert _names(not_transitive["staff"]["nodes"]) == ["Vp"], key
        paged = await api.data(
            FILTERED, {"filter": {"reportsTo": ada, "transitive": True}, "first": 2}, as_=member
        )
        assert _names(paged["staff"]["nodes"]) == ["Aide", "Dev"]
        assert paged["staff"]["totalCount"] == 4


async def test_reports_to_combines_with_other_filters_and_search(services, api):
    tenant, members, _, rows = await _chart(services, api)
    ada = gid("Staff", rows["ada"].id)
    query = """query($filter: StaffFilterInput, $search: String) {
      staff(filter: $filter, search: $search) { totalCount nodes { lastName } } }"""
    data = await api.data(
        query,
        {"filter": {"reportsTo": ada, "transitive": True}, "search": "dev"},
        as_=members["VIEWER"],
    )
    assert _names(data["staff"]["nodes"]) == ["Dev"]
    data = await api.data(
        query,
        {
            "filter": {
                "reportsTo": ada,
                "transitive": True,
                "managerId": gid("Staff", rows["cy"].id),
            }
        },
        as_=members["VIEWER"],
    )
    assert _names(data["staff"]["nodes"]) == ["Dev"]


# --- another account -----------------------------------------------------------------------


async def test_another_account_sees_nothing_of_the_chart(services, api):
    tenant, members, other, rows = await _chart(services, api)
    outsider = await member_as(api, services, other, "OWNER")
    ours = gid("Staff", rows["ben"].id)
    unknown = gid("Staff", 10**9)
    # our records are not nodes to them, and filtering by one is filtering by an unknown id
    data = await api.data(REPORTS, {"id": ours}, as_=outsider)
    assert data["node"] is None
    data = await api.data(CHAIN, {"id": gid("Staff", rows["di"].id)}, as_=outsider)
    assert data["node"] is None
    for transitive in (False, True):
        answers = [
            await api(
                FILTERED, {"filter": {"reportsTo": i, "transitive": transitive}}, as_=outsider
            )
            for i in (ours, unknown, "not-an-id", gid("Project", rows["ben"].id))
        ]
        assert all(a == answers[0] for a in answers), answers
        assert answers[0] == {"data": {"staff": {"totalCount": 0, "nodes": []}}}
    # and theirs to us, for every role
    theirs = gid("Staff", rows["oz"].id)
    for key, member in members.items():
        for transitive in (False, True):
            mine = await api(
                FILTERED, {"filter": {"reportsTo": theirs, "transitive": transitive}}, as_=member
            )
            none = await api(
                FILTERED, {"filter": {"reportsTo": unknown, "transitive": transitive}}, as_=member
            )
            assert mine == none == {"data": {"staff": {"totalCount": 0, "nodes": []}}}, key


async def test_links_across_accounts_written_behind_the_back_are_not_followed(services, api):
    """A manager_id pointing into another account (never written by the service) is
    neither followed up nor down, on any of the three."""
    tenant, members, other, rows = await _chart(services, api)
    outsider = await member_as(api, services, other, "OWNER")
    await set_staff_columns(services, rows["oz"].id, manager_id=rows["ben"].id)
    await set_staff_columns(services, rows["ada"].id, manager_id=rows["oz"].id)
    owner = members["OWNER"]
    data = await api.data(CHAIN, {"id": gid("Staff", rows["di"].id)}, as_=owner)
    assert _names(data["node"]["reportingChain"]) == ["Lead", "Vp", "Top"]
    assert data["node"]["reportingChain"] == _followed(data["node"])
    data = await api.data(REPORTS, {"id": gid("Staff", rows["ben"].id)}, as_=owner)
    assert _names(data["node"]["directReports"]["nodes"]) == ["Aide", "Lead"]
    data = await api.data(
        FILTERED,
        {"filter": {"reportsTo": gid("Staff", rows["ben"].id), "transitive": True}},
        as_=owner,
    )
    assert _names(data["staff"]["nodes"]) == ["Aide", "Dev", "Lead"]
    # the outsider's Oz: its manager is ours, so it has no chain there, and our records
    # are not below it
    data = await api.data(CHAIN, {"id": gid("Staff", rows["oz"].id)}, as_=outsider)
    assert data["node"]["reportingChain"] == [] and data["node"]["manager"] is None
    data = await api.data(
        FILTERED,
        {"filter": {"reportsTo": gid("Staff", rows["oz"].id), "transitive": True}},
        as_=outsider,
    )
    assert data["staff"]["nodes"] == []


# --- cycles written straight to the database ------------------------------------------------


async def test_a_cycle_in_the_data_still_terminates(services, api):
    tenant, members, _, rows = await _chart(services, api)
    # Ada -> Di -> Cy -> Ben -> Ada, bypassing the service's ManagerCycle check
    await set_staff_columns(services, rows["ada"].id, manager_id=rows["di"].id)
    for key, member in members.items():
        data = await api.data(CHAIN, {"id": gid("Staff", rows["di"].id)}, as_=member)
        assert _names(data["node"]["reportingChain"]) == ["Lead", "Vp", "Top"], key
        data = await api.data(CHAIN, {"id": gid("Staff", rows["gus"].id)}, as_=member)
        assert _names(data["node"]["reportingChain"]) == ["Vp", "Top", "Dev", "Lead"], key
        below = await api.data(
            FILTERED,
            {"filter": {"reportsTo": gid("Staff", rows["ben"].id), "transitive": True}},
            as_=member,
        )
        # everyone in the loop and below it, but not Ben himself
        assert _names(below["staff"]["nodes"]) == ["Aide", "Dev", "Lead", "Top"], key
        assert below["staff"]["totalCount"] == 4
        data = await api.data(REPORTS, {"id": gid("Staff", rows["di"].id)}, as_=member)
        assert _names(data["node"]["directReports"]["nodes"]) == ["Top"], key


async def test_a_record_managing_itself_terminates(services, api):
    tenant, members, _, rows = await _chart(services, api)
    await set_staff_columns(services, rows["gus"].id, manager_id=rows["gus"].id)
    owner = members["OWNER"]
    data = await api.data(CHAIN, {"id": gid("Staff", rows["gus"].id)}, as_=owner)
    assert data["node"]["reportingChain"] == []
    data = await api.data(
        FILTERED,
        {"filter": {"reportsTo": gid("Staff", rows["gus"].id), "transitive": True}},
        as_=owner,
    )
    assert data["staff"]["nodes"] == []
    data = await api.data(REPORTS, {"id": gid("Staff", rows["gus"].id)}, as_=owner)
    assert _names(data["node"]["directReports"]["nodes"]) == ["Aide"]


# --- the compiled hot path and graphql-core --------------------------------------------------


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


PLAIN = "{ staff(first: 50) { nodes { id lastName rate1 manager { lastName } } } }"


async def test_hot_path_and_graphql_core_agree(app, services, api, client, cold_client):
    tenant, members, _, rows = await _chart(services, api)
    await set_staff_columns(services, rows["ada"].id, manager_id=rows["di"].id)  # a cycle too
    ben = gid("Staff", rows["ben"].id)
    documents = [
        (FILTERED, {"filter": {"reportsTo": ben}}),
        (FILTERED, {"filter": {"reportsTo": ben, "transitive": True}}),
        (FILTERED, {"filter": {"reportsTo": gid("Staff", rows["oz"].id), "transitive": True}}),
        ("{ staff { nodes { lastName directReports { nodes { lastName } } } } }", None),
        ("{ staff { nodes { lastName reportingChain { lastName rate1 } } } }", None),
        (PLAIN, None),
    ]
    hot_paths = app.state.graphql.schema.hot_paths
    for key, member in members.items():
        headers = {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}
        for query, variables in documents:
            before = hot_paths.answered
            body = {"query": query, "variables": variables}
            hot = (await client.post("/graphql", json=body, headers=headers)).json()
            cold = (await cold_client.post("/graphql", json=body, headers=headers)).json()
            assert hot == cold, (key, query, variables)
            assert "errors" not in hot, hot
            # the pages (filtered, with their totalCount, or plain) are the plans'; the
            # direct reports and reporting chains are handed back to graphql-core
            compiled = query is PLAIN or query is FILTERED
            assert hot_paths.answered == before + compiled, (key, query)
        plain = (await client.post("/graphql", json={"query": PLAIN}, headers=headers)).json()
        assert len(plain["data"]["staff"]["nodes"]) == len(ROLES) + 5  # Ed, Fay not listed


async def test_transitive_without_reports_to_is_no_filter(services, api):
    tenant, members, _, rows = await _chart(services, api)
    plain = await api.data(FILTERED, {}, as_=members["VIEWER"])
    alone = await api.data(FILTERED, {"filter": {"transitive": True}}, as_=members["VIEWER"])
    assert alone == plain and plain["staff"]["totalCount"] == len(ROLES) + 5


# --- a record read with its chain (the compiled plan's statement for a record root) ------

PROJECT_CREATE = """mutation($name: String!, $ids: [ID!]) {
  projectCreate(input: {name: $name, memberIds: $ids}) { project { id } userErrors { code field } }
}"""


async def test_a_record_read_with_its_chain_is_what_reading_them_apart_finds(services, api):
    """``get_with_chain`` (one statement) finds the record, its manager and its reporting
    chain exactly as ``get_one``/``get_by_sid`` and ``reporting_chains`` do (two), by id
    and by sid, for every role and a guest on a project, for records seen, restricted,
    inactive, disabled, of another account or missing, and on a cycle written behind the
    service's back."""
    from app.access import Role
    from app.identity.service import authenticate_actor
    from app.staff import service as staff_service
    from tests.factories import make_member

    tenant, members, _, rows = await _chart(services, api)
    members["GUEST"] = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
    ids = [members["GUEST"].staff_id, gid("Staff", rows["di"].id),
           gid("Staff", rows["ben"].id)]
    made = await api.data(PROJECT_CREATE, {"name": "Chart", "ids": ids},
                          as_=members["OWNER"])
    assert made["projectCreate"]["userErrors"] == []
    keys = [(name, row.id, row.sid) for name, row in rows.items()]
    keys.append(("missing", 2**31 - 1, 2**31 - 1))
    for cycle in (False, True):
        if cycle:  # Ada above everyone, now below Di: Di <- Cy <- Ben <- Ada <- Di
            await set_staff_columns(services, rows["ada"].id, manager_id=rows["di"].id)
        found = 0
        for key, member in members.items():
            async with services.db.session() as session:
                _, actor = await authenticate_actor(session, member.token, member.realm)
            assert actor is not None
            for name, pk, sid in keys:
                for by, value in (("id", pk), ("sid", sid)):
                    async with services.db.session() as session:
                        together = await staff_service.get_with_chain(
                            session, actor, value, by=by
                        )
                    async with services.db.session() as session:
                        apart = await (
                            staff_service.get_one(session, actor, value)
                            if by == "id"
                            else staff_service.get_by_sid(session, actor, value)
                        )
                        chains = (
                            await staff_service.reporting_chains(session, actor, [apart.row.id])
                            if apart.row is not None
                            else {}
                        )
                    what = (cycle, key, name, by)
                    assert together.row == apart.row, what
                    assert together.managers == apart.managers, what
                    expected = chains[apart.row.id] if apart.row is not None else []
                    assert together.chain == expected, what
                    found += together.row is not None
        assert found > 0
    # the cycle ends where it comes back: Di's chain is Cy, Ben, Ada (not Di again)
    async with services.db.session() as session:
        _, owner = await authenticate_actor(
            session, members["OWNER"].token, members["OWNER"].realm
        )
        assert owner is not None
        chain = (await staff_service.get_with_chain(session, owner, rows["di"].id)).chain
    assert [r.last_name for r in chain] == ["Lead", "Vp", "Top"]
