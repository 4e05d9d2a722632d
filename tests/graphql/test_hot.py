"""The compiled staff-list path answers exactly as graphql-core does.

Every case sends the same request to two apps on the same database: one with the hot
paths (the default) and one with ``hot_paths=False``, where graphql-core answers
everything. Bodies must be equal byte for byte once parsed, for every role, for errors,
and for documents the plans do not cover (which must be handed back, not answered).
"""

from __future__ import annotations

import json

import httpx
import pytest
from graphql import GraphQLError, parse
from graphql.execution.values import get_variable_values
from sqlalchemy import select
from strawberry.extensions import SchemaExtension

from app.access import Role
from app.db.statements import StatementCounter
from app.graphql.hot import Fallback, _enum
from app.graphql.ids import decode_any
from app.graphql.schema import build_schema
from app.graphql.types import staff as staff_types
from app.main import create_app
from app.services import Services
from app.staff.models import Staff as StaffRow
from app.staff.queries import PageColumns
from tests.conftest import make_settings
from tests.documents import PAGE_QUERY
from tests.factories import (
    ROLE_KEYS,
    gid,
    make_custom_field,
    make_member,
    make_staff_many,
    make_status,
    make_tenant,
    member_as,
    set_custom_value,
    set_staff_columns,
    share_staff_with,
)

WIDE_QUERY = """query Wide($first: Int = 50, $after: String, $search: String) {
  staff(first: $first, after: $after, search: $search) {
    __typename
    nodes {
      __typename id sid firstName lastName fullName title company notes isInactive restricted
      role kind accountStatus hasLogin createdAt modifiedAt email phoneCell phoneWork phoneHome
      startDate termDate capacity costFactor hourRateType rate1 rate2 rate3 rate4 rate5
      homeTimezone viewerCanSeeDetails viewerCanSeePersonalData viewerCanEdit viewerCanDelete
      address { street city state zip country __typename }
      boss: manager {
        id fullName email startDate rate1 viewerCanSeeDetails viewerCanSeePersonalData
        address { city }
      }
      customFields { value field { __typename id name type options personal description archived archivedAt createdAt } }
    }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

SMALL_PAGE = """query Small($first: Int!, $after: String) {
  list: staff(first: $first, after: $after) {
    edges { cursor node { firstName manager { lastName } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

# Documents the plans cover, with the variables to send.
COVERED = [
    pytest.param(PAGE_QUERY, {"first": 50}, id="bench-page"),
    pytest.param(PAGE_QUERY, {"first": 0}, id="bench-empty-page"),
    pytest.param(WIDE_QUERY, {}, id="wide-defaults"),
    pytest.param(WIDE_QUERY, {"search": "  "}, id="wide-blank-search"),
    pytest.param(WIDE_QUERY, {"search": "manag"}, id="wide-search"),
    pytest.param(SMALL_PAGE, {"first": 3}, id="small-page"),
    pytest.param("{ staff(first: 2) { nodes { id } } }", None, id="literal-arguments"),
    pytest.param('{ staff(search: "nobody-matches") { nodes { id } } }', None, id="no-rows"),
    pytest.param("{ staff { totalCount nodes { id } } }", None, id="total-count"),
    pytest.param('{ staff(search: "Person0") { totalCount } }', None, id="total-count-search"),
    pytest.param("{ staff { nodes { ...F } } } fragment F on Staff { id }", None, id="fragment"),
    pytest.param("{ staff { nodes { id @include(if: true) sid @skip(if: true) } } }", None,
                 id="directive"),
    pytest.param("query($a: Boolean!) { staff { nodes { id email @include(if: $a) } } }",
                 {"a": False}, id="directive-variable"),
    pytest.param("{ staff(sort: {key: FIRST_NAME, direction: DESC}) { nodes { id } } }", None,
                 id="sort"),
    pytest.param("{ staff { nodes { id id ... on Node { id } ... { sid } } } }", None,
                 id="repeated-key"),
    pytest.param("{ staff { nodes { manager { id } manager { fullName } } } }", None,
                 id="merged-selections"),
    pytest.param("{ __typename staff { __typename } }", None, id="typename-at-root"),
    pytest.param("{ staff { nodes { sid status { id name archived } } } }", None, id="status"),
    pytest.param("query($a: Boolean = true) { staff { nodes { id email @include(if: $a) } } }",
                 {}, id="directive-variable-default"),
    pytest.param("{ staff { nodes { ... on Staff @include(if: false) { email } id } } }", None,
                 id="skipped-inline-fragment"),
    pytest.param("""query($sid: Int!) {
      staffBySid(sid: $sid) { id fullName email manager { fullName } customFields { value } }
      missing: staffBySid(sid: 999) { id }
      staff(first: 3) { nodes { sid } }
    }""", {"sid": 5}, id="records-by-sid"),
    pytest.param("{ a: staffBySid(sid: 1) { ...F } b: staffBySid(sid: 2) { ...F } } "
                 "fragment F on Staff { sid address { city } manager { sid } }", None,
                 id="records-by-sid-only"),
]

# Requests the plans must hand back to graphql-core: errors, or documents they do not cover.
HANDED_BACK = [
    pytest.param(PAGE_QUERY, {"first": 101}, id="first-too-large"),
    pytest.param(PAGE_QUERY, {"first": -1}, id="first-negative"),
    pytest.param(PAGE_QUERY, {"first": None}, id="first-null"),
    pytest.param(PAGE_QUERY, {"first": "ten"}, id="first-wrong-type"),
    pytest.param(PAGE_QUERY, {}, id="first-missing"),
    pytest.param(SMALL_PAGE, {"first": 2, "after": "not-a-cursor"}, id="bad-cursor"),
    pytest.param(WIDE_QUERY, {"search": "x" * 101}, id="search-too-long"),
    pytest.param(WIDE_QUERY, {"search": "a\x00b"}, id="search-nul"),
    pytest.param("{ staff { nodes { id nope } } }", None, id="unknown-field"),
    pytest.param("{ staff { nodes { ssn salary } } }", None, id="secrets"),
    pytest.param("{ staff { nodes { status { name } permits } } }", None, id="other-resolvers"),
    pytest.param("{ staff { nodes { manager { manager { id } } } } }", None, id="manager-chain"),
    pytest.param("{ a: staff { nodes { id } } b: staff { nodes { id } } }", None, id="two-roots"),
    pytest.param("{ projects { id } }", None, id="other-root"),
    pytest.param("query($s: Boolean!) { staff @skip(if: $s) { nodes { id } } }", {"s": True},
                 id="root-skipped"),
    pytest.param("query { staff { nodes { id } } }\nquery B { projects { id } }", None,
                 id="two-operations"),
]


# Documents reading records by global id (``node``), sent with the ids of NODE_IDS.
NODE_DOCUMENTS = [
    pytest.param("""query Node($id: ID!) {
      node(id: $id) { id ... on Staff { sid fullName title email manager { fullName } } }
    }""", id="bench-node"),
    pytest.param("""query($id: ID!) {
      node(id: $id) {
        __typename ...N ...S
        ... on Invitation { email } ... on Project { name } ... on CustomField { name }
      }
    }
    fragment N on Node { id __typename }
    fragment S on Staff {
      firstName email restricted viewerCanEdit viewerCanSeeDetails role accountStatus
      address { city } customFields { value field { name personal } }
      boss: manager { id fullName email ...N }
    }""", id="fragments-on-node-staff-and-others"),
    pytest.param("""query($id: ID!, $yes: Boolean!) {
      __typename
      a: node(id: $id) { id }
      b: node(id: $id) { ... on Node { id } ... on Staff @include(if: $yes) { lastName } }
      c: node(id: $id) @skip(if: $yes) { id }
    }""", id="aliases-and-directives"),
    pytest.param("""query($id: ID!) {
      staffBySid(sid: 2) { id manager { id } }
      node(id: $id) { ... on Staff { sid manager { sid } customFields { value } } }
      staff(first: 3) { totalCount nodes { id } }
    }""", id="beside-the-list-and-by-sid"),
]
ALL_STAFF = """{ staff(first: 100, filter: {includeDisabled: true, includeInactive: true}) {
  nodes { id lastName } } }"""
PROJECT_CREATE = """mutation($name: String!, $ids: [ID!]) {
  projectCreate(input: {name: $name, memberIds: $ids}) { project { id } userErrors { code } }
}"""
# Names of the global ids _node_world makes: of Staff records (shown, restricted, shared
# with the viewer, inactive, disabled, on the guest's project, the guest's own, another
# account's, none)...
STAFF_IDS = (
    "boss", "deputy", "person0", "person1", "person4", "person5", "person6", "person9",
    "viewer", "guest", "other-account", "missing",
)
# ... and of other things (types node finds, types it does not, malformed ids, a Staff id
# past the largest key): graphql-core answers those.
OTHER_IDS = {
    "invitation": gid("Invitation", 1),
    "api-token": gid("ApiToken", 1),
    "audit-entry": gid("AuditEntry", 1),
    "user": gid("User", 1),
    "staff-status": gid("StaffStatus", 1),
    "webhook-endpoint": gid("WebhookEndpoint", 1),
    "webhook-delivery": gid("WebhookDelivery", 1),
    "unknown-type": gid("Nothing", 1),
    "staff-past-the-largest-key": gid("Staff", 2**31),
    "staff-without-key": "U3RhZmY6",
    "staff-negative": "U3RhZmY6LTE",
    "not-base64": "not-an-id!",
    "not-an-id": "bm90LWFuLWlk",
    "empty": "",
}
NOT_STAFF_IDS = (*OTHER_IDS, "account", "project", "custom-field")


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


async def _directory(services, api):
    """An account with managers, restricted and shared records, inactive and disabled staff
    and custom fields (one personal), plus one member of each role."""
    tenant = await make_tenant(services)
    members = {key: await member_as(api, services, tenant, key) for key in ROLE_KEYS}
    boss, deputy = await make_staff_many(
        services,
        tenant,
        [
            dict(first_name="Bea", last_name="Manager", email="bea@example.com",
                 address_city="Leeds", start_date=None, rate1=120.5),
            dict(first_name="Dee", last_name="Deputy", restricted=True, email="dee@example.com"),
        ],
    )
    rows = await make_staff_many(
        services,
        tenant,
        [
            dict(first_name=f"P{i}", last_name=f"Person{i:02d}", manager_id=boss.id
                 if i % 3 else deputy.id, title="Engineer" if i % 2 else None,
                 email=f"p{i}@example.com", phone_cell="+44 1" if i % 2 else None,
                 restricted=i % 4 == 0, capacity=140 + i, rate1=99.5, rate2=10,
                 address_street="1 Road", address_city="York", home_timezone="Europe/London")
            for i in range(12)
        ],
    )
    await set_staff_columns(services, rows[5].id, is_inactive=True)
    await set_staff_columns(services, rows[6].id, account_status="DISABLED")
    await share_staff_with(services, tenant, rows[4].id, members["VIEWER"].staff_pk)
    team = await make_custom_field(services, tenant, "Team")
    badge = await make_custom_field(services, tenant, "Badge", personal=True)
    level = await make_custom_field(services, tenant, "Level", type="CHOICE",
                                    options=["Junior", "Senior"])
    for i, row in enumerate(rows):
        await set_custom_value(services, tenant, row.id, team.id, f"Team {i % 2}")
        if i % 2:
            await set_custom_value(services, tenant, row.id, badge.id, f"B-{i}")
        if i % 3 == 0:
            await set_custom_value(services, tenant, row.id, level.id, "Senior")
    # statuses: on restricted and shown records, and records without one
    statuses = [await make_status(services, tenant, n) for n in ("Active", "On leave")]
    for i, row in enumerate(rows):
        if i % 3:
            await set_staff_columns(services, row.id, status_id=statuses[i % 2].id)
    other = await make_tenant(services)
    await make_staff_many(services, other, [dict(first_name="Oz", last_name="Elsewhere")])
    return tenant, members, other


async def _both(client, cold_client, query, variables, headers):
    body = {"query": query, "variables": variables}
    hot = await client.post("/graphql", json=body, headers=headers)
    cold = await cold_client.post("/graphql", json=body, headers=headers)
    assert hot.status_code == cold.status_code
    return hot.json(), cold.json()


def _headers(member) -> dict:
    return {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm}


def _answered(app) -> int:
    return app.state.graphql.schema.hot_paths.answered


async def _node_world(services, api) -> tuple[dict, dict[str, str]]:
    """_directory's members and a guest on a project with two of its people; and the
    global ids named in STAFF_IDS and NOT_STAFF_IDS."""
    tenant, members, other = await _directory(services, api)
    owner = members["OWNER"]
    members["GUEST"] = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
    listed = await api.data(ALL_STAFF, as_=owner)
    by_name = {n["lastName"]: n["id"] for n in listed["staff"]["nodes"]}
    project = await api.data(
        PROJECT_CREATE,
        {"name": "Guests", "ids": [members["GUEST"].staff_id, by_name["Person01"],
                                   by_name["Person04"]]},
        as_=owner,
    )
    fields = await api.data("{ customFields { id } }", as_=owner)
    ids = {
        "boss": by_name["Manager"],
        "deputy": by_name["Deputy"],
        **{f"person{i}": by_name[f"Person{i:02d}"] for i in (0, 1, 4, 5, 6, 9)},
        "viewer": members["VIEWER"].staff_id,
        "guest": members["GUEST"].staff_id,
        "other-account": other.owner.staff_id,
        "missing": gid("Staff", 2**31 - 1),
        **OTHER_IDS,
        "account": gid("Account", tenant.account_id),
        "project": project["projectCreate"]["project"]["id"],
        "custom-field": fields["customFields"][0]["id"],
    }
    assert set(ids) == {*STAFF_IDS, *NOT_STAFF_IDS}
    return members, ids


@pytest.mark.parametrize("query", NODE_DOCUMENTS)
async def test_records_by_global_id_answer_as_graphql_core_for_every_role(
    app, services, api, client, cold_client, query
):
    """Staff ids: the plan answers, for every role and guests, nulls (records of another
    account, ones a guest does not see, no record) included."""
    members, ids = await _node_world(services, api)
    found = set()
    for key, member in members.items():
        for i, name in enumerate(STAFF_IDS):
            before = _answered(app)
            hot, cold = await _both(
                client, cold_client, query, {"id": ids[name], "yes": i % 2 == 0},
                _headers(member),
            )
            assert hot == cold, (key, name)
            assert "errors" not in hot, hot
            assert _answered(app) == before + 1, f"{key} {name}: the plan did not answer"
            if any(hot["data"].get(k) for k in ("node", "a", "b")):
                found.add((key, name))
    # a guest sees their own record and their project's people; everyone else every
    # record of the account, and no one another account's
    assert {n for k, n in found if k == "GUEST"} == {"guest", "person1", "person4"}
    for key in ROLE_KEYS:
        assert {n for k, n in found if k == key} == set(STAFF_IDS) - {"other-account", "missing"}


async def test_ids_that_are_not_staff_are_handed_back(app, services, api, client, cold_client):
    """An id of another type or a malformed one, alone or beside a Staff id in the same
    document, as a variable or written in the document: graphql-core answers, as it
    always did."""
    members, ids = await _node_world(services, api)
    two = "query($a: ID!, $b: ID!) { a: node(id: $a) { id } b: node(id: $b) { id } }"
    before = _answered(app)
    for key in ("VIEWER", "OWNER", "GUEST"):
        headers = _headers(members[key])
        for name in NOT_STAFF_IDS:
            for query in NODE_DOCUMENTS:
                hot, cold = await _both(
                    client, cold_client, query.values[0], {"id": ids[name], "yes": True}, headers
                )
                assert hot == cold, (key, name)
            hot, cold = await _both(client, cold_client, two, {"a": ids["boss"], "b": ids[name]},
                                    headers)
            assert hot == cold, (key, name)
            literal = "{ node(id: ID) { id ... on Staff { sid } } }".replace(
                "ID", json.dumps(ids[name])
            )
            hot, cold = await _both(client, cold_client, literal, None, headers)
            assert hot == cold, (key, name)
    assert _answered(app) == before
    # the project is found (by graphql-core) as it always was
    hot, _ = await _both(client, cold_client, NODE_DOCUMENTS[1].values[0],
                         {"id": ids["project"], "yes": True}, _headers(members["OWNER"]))
    assert hot["data"]["node"] == {"__typename": "Project", "id": ids["project"], "name": "Guests"}


async def test_a_record_by_global_id_takes_two_statements(
    app, services, api, client, cold_services, cold_client
):
    """The token; the record with its manager (as a page's rows have theirs), on both
    paths."""
    members, ids = await _node_world(services, api)
    body = {"query": NODE_DOCUMENTS[0].values[0], "variables": {"id": ids["person1"]}}
    headers = _headers(members["ADMINISTRATOR"])
    for some_services, some_client in ((services, client), (cold_services, cold_client)):
        with StatementCounter(some_services.db.engine) as counter:
            response = await some_client.post("/graphql", json=body, headers=headers)
        assert response.json()["data"]["node"]["manager"] == {"fullName": "Bea Manager"}
        assert counter.count == 2, counter.statements


BY_SID = """query BySid($sid: Int!) {
  staffBySid(sid: $sid) { id sid fullName title email manager { fullName } }
}"""
BY_ID = """query ById($id: ID!) {
  node(id: $id) { ... on Staff { id sid fullName title email manager { fullName } } }
}"""


async def _sids(api, owner, ids) -> dict[str, int]:
    """The sids of _node_world's Staff records in its account, and sids it has none of."""
    sids = {}
    for name in STAFF_IDS:
        if name not in ("other-account", "missing"):
            found = await api.data("query($id: ID!) { node(id: $id) { ... on Staff { sid } } }",
                                   {"id": ids[name]}, as_=owner)
            sids[name] = found["node"]["sid"]
    return {**sids, "zero": 0, "negative": -1, "missing": 2**31 - 1}


async def test_records_by_sid_answer_as_graphql_core_and_as_node_for_every_role(
    app, services, api, client, cold_client
):
    """The plan answers staffBySid for every role and guests (nulls included), with what
    node answers for the same record."""
    members, ids = await _node_world(services, api)
    sids = await _sids(api, members["OWNER"], ids)
    found = set()
    for key, member in members.items():
        for name, sid in sids.items():
            before = _answered(app)
            hot, cold = await _both(client, cold_client, BY_SID, {"sid": sid}, _headers(member))
            assert hot == cold, (key, name)
            assert "errors" not in hot, hot
            assert _answered(app) == before + 1, f"{key} {name}: the plan did not answer"
            record = hot["data"]["staffBySid"]
            if name in ids:
                by_id = await api.data(BY_ID, {"id": ids[name]}, as_=member)
                assert record == (by_id["node"] or None), (key, name)
            if record:
                found.add((key, name))
    assert {n for k, n in found if k == "GUEST"} == {"guest", "person1", "person4"}
    for key in ROLE_KEYS:
        assert {n for k, n in found if k == key} == set(sids) - {"zero", "negative", "missing"}


async def test_a_record_by_sid_takes_two_statements(
    app, services, api, client, cold_services, cold_client
):
    """As by global id: the token; the record with its manager (as a page's rows have
    theirs), on both paths."""
    members, ids = await _node_world(services, api)
    sids = await _sids(api, members["OWNER"], ids)
    body = {"query": BY_SID, "variables": {"sid": sids["person1"]}}
    for key in ("ADMINISTRATOR", "VIEWER"):
        headers = _headers(members[key])
        for some_services, some_client in ((services, client), (cold_services, cold_client)):
            with StatementCounter(some_services.db.engine) as counter:
                response = await some_client.post("/graphql", json=body, headers=headers)
            record = response.json()["data"]["staffBySid"]
            assert record["manager"] == {"fullName": "Bea Manager"}, key
            assert counter.count == 2, (key, counter.statements)


GUEST_PAGE = "{ staff(first: 50) { nodes { id manager { fullName } } } }"


async def test_a_guest_reads_managers_with_the_records_they_manage(
    app, services, api, client, cold_services, cold_client
):
    """A guest's managers come joined to the records as the guest sees them: their own
    manager is null while off the guest's projects and shown once on one, and neither
    costs a statement of its own, on either path (the token, then the page or the
    record). Others' managers are hidden from a guest (their name card only)."""
    members, ids = await _node_world(services, api)
    guest = members["GUEST"]
    await set_staff_columns(services, guest.staff_pk, manager_id=decode_any(ids["boss"])[1])
    sids = await _sids(api, members["OWNER"], ids)
    documents = [
        (GUEST_PAGE, None),
        (BY_ID, {"id": ids["guest"]}),
        (BY_SID, {"sid": sids["guest"]}),
        (BY_ID, {"id": ids["person1"]}),
    ]

    async def managers() -> list:
        seen = []
        for query, variables in documents:
            answers = []
            for some_services, some_client in ((services, client), (cold_services, cold_client)):
                body = {"query": query, "variables": variables}
                with StatementCounter(some_services.db.engine) as counter:
                    response = await some_client.post("/graphql", json=body, headers=_headers(guest))
                assert counter.count == 2, (query, counter.statements)
                answers.append(response.json())
            assert answers[0] == answers[1], query
            data = answers[0]["data"]
            if "staff" in data:
                seen.append({n["id"]: n["manager"] for n in data["staff"]["nodes"]})
            else:
                seen.append(next(iter(data.values()))["manager"])
        return seen

    page, own_by_id, own_by_sid, other = await managers()
    assert ids["guest"] in page and set(page.values()) == {None}
    assert own_by_id is None and own_by_sid is None and other is None
    await api.data(PROJECT_CREATE, {"name": "Bosses", "ids": [guest.staff_id, ids["boss"]]},
                   as_=members["OWNER"])
    page, own_by_id, own_by_sid, other = await managers()
    bea = {"fullName": "Bea Manager"}
    assert page.pop(ids["guest"]) == own_by_id == own_by_sid == bea
    assert set(page.values()) == {None} and other is None


@pytest.mark.parametrize(("query", "variables"), COVERED)
async def test_covered_documents_answer_as_graphql_core_for_every_role(
    app, services, api, client, cold_client, query, variables
):
    _, members, _ = await _directory(services, api)
    for key, member in members.items():
        before = _answered(app)
        hot, cold = await _both(client, cold_client, query, variables, _headers(member))
        assert hot == cold, key
        assert "errors" not in hot, hot
        assert _answered(app) == before + 1, f"{key}: the plan did not answer"
    assert any(hot["data"].values()), hot  # something was found (for the last member)


async def test_statuses_are_read_once_and_only_when_one_is_shown(
    app, services, api, client, cold_services, cold_client
):
    """A page's statuses take one statement more on either path, and none when no row
    shows one (a page of records without a status, or only restricted ones to a viewer)."""
    _, members, _ = await _directory(services, api)
    with_status = "query($s: String) { staff(search: $s) { nodes { sid status { name } } } }"
    without = "query($s: String) { staff(search: $s) { nodes { sid } } }"
    for key, search, shown in (
        ("ADMINISTRATOR", None, True),
        ("VIEWER", None, True),
        ("ADMINISTRATOR", "Person00", False),  # no status
        ("VIEWER", "Person08", False),  # restricted: its status is hidden
    ):
        counts, answers = [], []
        for query in (with_status, without):
            for some_services, some_client in (
                (services, client), (cold_services, cold_client)
            ):
                body = {"query": query, "variables": {"s": search}}
                with StatementCounter(some_services.db.engine) as counter:
                    response = await some_client.post(
                        "/graphql", json=body, headers=_headers(members[key])
                    )
                counts.append(counter.count)
                answers.append(response.json())
        assert answers[0] == answers[1], (key, search)
        assert counts == [counts[2] + shown] * 2 + [counts[2]] * 2, (key, search, counts)
        nodes = answers[0]["data"]["staff"]["nodes"]
        assert any(n["status"] for n in nodes) == shown, (key, search, nodes)


async def test_pages_walked_with_cursors_match_for_every_role(
    app, services, api, client, cold_client
):
    _, members, _ = await _directory(services, api)
    for key, member in members.items():
        after, pages = None, 0
        while True:
            hot, cold = await _both(
                client, cold_client, SMALL_PAGE, {"first": 4, "after": after}, _headers(member)
            )
            assert hot == cold, (key, pages)
            page = hot["data"]["list"]
            pages += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert pages >= 4, key  # 16 rows listed (disabled and inactive ones are not)


async def test_what_the_plan_shows_depends_on_the_viewer(app, services, api, client):
    """Sanity of the corpus: the roles see different things, so equality above means
    the plan applied each viewer's rules, not that every answer was alike."""
    _, members, _ = await _directory(services, api)
    seen = {}
    for key in ("VIEWER", "VIEWER+PD", "ADMINISTRATOR"):
        response = await client.post(
            "/graphql", json={"query": WIDE_QUERY, "variables": {}},
            headers=_headers(members[key]),
        )
        seen[key] = response.json()["data"]["staff"]["nodes"]
    restricted = [n for n in seen["VIEWER"] if n["restricted"] and n["lastName"] != "Person04"]
    assert restricted and all(n["rate1"] is None and n["customFields"] is None for n in restricted)
    others = [n for n in seen["VIEWER"] if n["id"] != members["VIEWER"].staff_id]
    assert others and all(n["email"] is None for n in others)  # their own is shown
    assert any(n["email"] for n in seen["VIEWER+PD"])
    badges = {v["field"]["name"] for n in seen["ADMINISTRATOR"] for v in n["customFields"] or []}
    assert "Badge" in badges
    viewer_badges = {v["field"]["name"] for n in seen["VIEWER"] for v in n["customFields"] or []}
    assert "Badge" not in viewer_badges and "Team" in viewer_badges


@pytest.mark.parametrize(("query", "variables"), HANDED_BACK)
async def test_errors_and_uncovered_documents_are_handed_back(
    app, services, api, client, cold_client, query, variables
):
    tenant, members, _ = await _directory(services, api)
    before = _answered(app)
    for key in ("VIEWER", "OWNER"):
        hot, cold = await _both(client, cold_client, query, variables, _headers(members[key]))
        assert hot == cold, key
    assert _answered(app) == before


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer rs_not-a-token"}, id="unknown-token"),
        pytest.param("wrong-realm", id="other-accounts-realm"),
        pytest.param("no-realm", id="two-accounts-no-realm"),
    ],
)
async def test_authentication_failures_are_handed_back(
    app, services, api, client, cold_client, headers
):
    tenant, members, other = await _directory(services, api)
    if headers == "wrong-realm":
        headers = {**_headers(members["OWNER"]), "X-Auth-Realm": other.slug}
    elif headers == "no-realm":
        from tests.factories import add_membership

        both = await add_membership(services, other, members["EDITOR"].user_id, Role.VIEWER)
        headers = {"Authorization": f"Bearer {both.token}"}
    before = _answered(app)
    hot, cold = await _both(client, cold_client, PAGE_QUERY, {"first": 5}, headers)
    assert hot == cold
    assert hot["errors"][0]["extensions"]["code"] in {"UNAUTHENTICATED", "FORBIDDEN"}
    assert _answered(app) == before


async def test_another_account_sees_only_its_own_rows(app, services, api, client, cold_client):
    tenant, members, other = await _directory(services, api)
    hot, cold = await _both(client, cold_client, WIDE_QUERY, {}, _headers(other.owner))
    assert hot == cold
    names = {n["lastName"] for n in hot["data"]["staff"]["nodes"]}
    assert "Elsewhere" in names and not any(n.startswith("Person") for n in names)


async def test_operation_name_must_match(app, services, api, client, cold_client):
    _, members, _ = await _directory(services, api)
    headers = _headers(members["OWNER"])
    for name in ("Page", "Other"):
        body = {"query": PAGE_QUERY, "variables": {"first": 2}, "operationName": name}
        hot = await client.post("/graphql", json=body, headers=headers)
        cold = await cold_client.post("/graphql", json=body, headers=headers)
        assert (hot.status_code, hot.text) == (cold.status_code, cold.text), name
    assert hot.status_code == 400 and "Other" in hot.text


async def test_a_page_takes_three_statements_whatever_its_size(app, services, api, client):
    """The token with memberships, grants and shares; the page with its managers; its
    custom values."""
    tenant, members, _ = await _directory(services, api)
    counts = []
    for first in (2, 10, 50):
        with StatementCounter(services.db.engine) as counter:
            response = await client.post(
                "/graphql", json={"query": PAGE_QUERY, "variables": {"first": first}},
                headers=_headers(members["ADMINISTRATOR"]),
            )
        assert "errors" not in response.json()
        counts.append(counter.count)
    assert counts == [3, 3, 3], counts


async def test_the_ordinary_path_also_prefetches_managers(
    services, api, cold_services, cold_client
):
    tenant, members, _ = await _directory(services, api)
    with StatementCounter(cold_services.db.engine) as counter:
        response = await cold_client.post(
            "/graphql", json={"query": PAGE_QUERY, "variables": {"first": 50}},
            headers=_headers(members["ADMINISTRATOR"]),
        )
    assert "errors" not in response.json()
    assert counter.count == 3, counter.statements


async def test_a_new_member_of_the_page_is_seen_at_once(services, api, client):
    """Plans are compiled per document, never cached per data: a row added between two
    identical requests is in the second answer."""
    tenant, members, _ = await _directory(services, api)
    headers = _headers(members["OWNER"])
    body = {"query": PAGE_QUERY, "variables": {"first": 100}}
    first = (await client.post("/graphql", json=body, headers=headers)).json()
    await make_member(services, tenant, Role.VIEWER, last_name="Aardvark")
    second = (await client.post("/graphql", json=body, headers=headers)).json()
    names = [e["node"]["lastName"] for e in second["data"]["staff"]["edges"]]
    assert len(names) == len(first["data"]["staff"]["edges"]) + 1 and names[0] == "Aardvark"


def test_enum_values_complete_as_serialize_says_and_bad_ones_are_handed_back():
    """Enum completion remembers serialize's answers; it must give the same ones, and a
    value serialize refuses is never answered by the plan."""
    role = build_schema()._schema.type_map["Role"]
    complete = _enum(role)
    for _ in range(2):  # the second round answers from what the first remembered
        for value in (*Role, "VIEWER"):
            assert complete(value, None) == role.serialize(value)
    for bad in ("NOT_A_ROLE", ["VIEWER"]):  # unknown, and unhashable
        for _ in range(2):  # a refusal is never remembered as an answer
            with pytest.raises((Fallback, GraphQLError), match="cannot represent"):
                complete(bad, None)


def _plan(query: str):
    hot = build_schema().hot_paths
    document = hot.document(query, None, parse(query))
    assert document is not None
    return hot.plan_for(document, get_variable_values(hot.schema, (), {}))


def test_a_plan_reads_only_the_columns_its_document_selects():
    """The page's rows and managers are read with the columns their selected fields read
    (and what deciding visibility and cursors needs): no secrets, no address unless asked."""
    columns = _plan(PAGE_QUERY).columns
    assert {"first_name", "email", "rate1", "user_id", "manager_id"} <= columns.staff
    assert not {"ssn_encrypted", "salary_encrypted", "address_city", "phone_home"} & (
        columns.staff
    )
    assert columns.manager == {"id", "restricted", "first_name", "last_name"}
    wide = _plan(WIDE_QUERY).columns
    assert {"address_city", "phone_home", "term_date"} <= wide.staff
    assert {"email", "start_date", "address_city"} <= wide.manager
    assert not {"ssn_encrypted", "salary_encrypted"} & (wide.staff | wide.manager)


CHART = """query Chart($boss: Int!, $report: Int!) {
  boss: staffBySid(sid: $boss) {
    fullName
    directReports(first: 3) { totalCount nodes { sid fullName address { city } } }
  }
  report: staffBySid(sid: $report) { fullName reportingChain { fullName email } }
}"""


async def test_a_records_chain_and_reports_are_read_with_the_columns_they_select(
    app, services, api, client, cold_client
):
    """A record's own reporting chain (read with the record) and its directReports are
    read with the columns their selections read, for every role: an address selected on
    a report is read, secrets and what nothing selects are not; and the answer is
    graphql-core's."""
    _, members, _ = await _directory(services, api)
    async with services.db.session() as session:
        boss = (await session.scalars(select(StaffRow).where(StaffRow.first_name == "Bea"))).one()
        reports = select(StaffRow).where(StaffRow.manager_id == boss.id, ~StaffRow.restricted)
        report = (await session.scalars(reports.limit(1))).one()
    variables = {"boss": boss.sid, "report": report.sid}
    for role in ROLE_KEYS:
        before = _answered(app)
        with StatementCounter(services.db.engine) as counter:
            hot, cold = await _both(client, cold_client, CHART, variables, _headers(members[role]))
        assert hot == cold and "errors" not in hot, role
        assert _answered(app) == before + 1, role
        read = [s for s in counter.statements if "staff.first_name" in s]
        assert read and not any("ssn_encrypted" in s or "notes" in s for s in read), read
        assert hot["data"]["boss"]["directReports"]["nodes"], role
        assert any("address_city" in s for s in read), role
        assert any("RECURSIVE" in s and "staff.email" in s for s in read), role


SHARED_CHAINS = """query Shared($report: Int!, $boss: Int!) {
  a: staffBySid(sid: $report) { reportingChain { firstName } }
  b: staffBySid(sid: $report) { reportingChain { lastName title } }
  c: staffBySid(sid: $report) { manager { reportingChain { lastName email } } }
  d: staffBySid(sid: $boss) { reportingChain { fullName } }
}"""


async def test_chains_read_with_their_records_serve_every_chain_of_the_plan(
    app, services, api, client, cold_client, caplog
):
    """A chain read with its record is kept for the request's other chain fields (a second
    root of the same record, or another record's manager): it holds what every chain of
    the plan reads, so the plan answers, as graphql-core does, without handing back."""
    _, members, _ = await _directory(services, api)
    async with services.db.session() as session:
        boss = (await session.scalars(select(StaffRow).where(StaffRow.first_name == "Bea"))).one()
        deputy = (await session.scalars(select(StaffRow).where(StaffRow.first_name == "Dee"))).one()
        reports = select(StaffRow).where(StaffRow.manager_id == boss.id, ~StaffRow.restricted)
        report = (await session.scalars(reports.limit(1))).one()
    await set_staff_columns(services, boss.id, manager_id=deputy.id)
    variables = {"report": report.sid, "boss": boss.sid}
    for role in ROLE_KEYS:
        before = _answered(app)
        with caplog.at_level("WARNING", logger="roster.graphql.hot"):
            hot, cold = await _both(
                client, cold_client, SHARED_CHAINS, variables, _headers(members[role])
            )
        assert hot == cold and "errors" not in hot, role
        assert not [r for r in caplog.records if "handed back" in r.message], role
        assert _answered(app) == before + 1, role
    assert hot["data"]["b"]["reportingChain"][0]["lastName"] == "Manager"


async def test_a_field_that_does_not_say_what_it_reads_reads_every_column(
    app, services, api, client, cold_client, monkeypatch
):
    monkeypatch.delitem(staff_types.READS, "address")
    assert _plan(WIDE_QUERY).columns == PageColumns(staff=None, manager=None)
    _, members, _ = await _directory(services, api)
    before = _answered(app)
    hot, cold = await _both(client, cold_client, WIDE_QUERY, {}, _headers(members["OWNER"]))
    assert hot == cold and _answered(app) == before + 1


async def test_a_plan_that_fails_unexpectedly_is_answered_by_graphql_core_and_logged(
    app, services, api, client, cold_client, monkeypatch, caplog
):
    """A wrong READS entry (a column the field reads but the page does not) cannot show
    wrong data: the plan fails, graphql-core answers, and the failure is logged as the bug
    it is."""
    monkeypatch.setitem(staff_types.READS, "has_login", ())
    _, members, _ = await _directory(services, api)
    before = _answered(app)
    with caplog.at_level("WARNING", logger="roster.graphql.hot"):
        hot, cold = await _both(client, cold_client, WIDE_QUERY, {}, _headers(members["OWNER"]))
    assert hot == cold and "errors" not in hot
    assert _answered(app) == before
    assert any("hot path handed back" in r.message for r in caplog.records)
    assert any(isinstance(r.exc_info[1], AttributeError) for r in caplog.records if r.exc_info)


async def test_every_other_extension_sees_the_requests_the_plans_answer(
    app, services, api, client, monkeypatch
):
    """The plans answer inside strawberry's execution (a schema extension supplying the
    result): an extension such as tracing or metrics sees the parsing, the validation and
    the execution of a compiled request, with its result, as it sees any other."""
    seen: list = []

    class Recorder(SchemaExtension):
        def on_validate(self):
            yield
            seen.append("validated")

        def on_execute(self):
            yield
            result = self.execution_context.result
            seen.append(("executed", self.execution_context.operation_name, bool(result.data)))

        async def on_operation(self):
            yield
            seen.append(("operation", self.execution_context.context.operation_name))

    _, members, _ = await _directory(services, api)
    schema = app.state.graphql.schema
    monkeypatch.setattr(schema, "extensions", [Recorder, *schema.extensions])
    before = _answered(app)
    body = {"query": PAGE_QUERY, "variables": {"first": 5}}
    response = await client.post("/graphql", json=body, headers=_headers(members["OWNER"]))
    assert response.status_code == 200 and _answered(app) == before + 1
    assert seen == ["validated", ("executed", "Page", True), ("operation", "Page")]


def test_plans_are_bounded_per_document_and_in_all(monkeypatch):
    """A document's plans are kept per values of its @skip/@include conditions, at most
    MAX_VARIANTS of them; and at most MAX_PLANS documents are kept."""
    from app.graphql import hot as hot_module

    schema_hot = build_schema().hot_paths
    names = [f"c{i}" for i in range(6)]
    query = (
        "query(" + ", ".join(f"${n}: Boolean!" for n in names) + ") { staff { nodes { id "
        + " ".join(f"{n}: sid @include(if: ${n})" for n in names) + " } } }"
    )
    document = schema_hot.document(query, None, parse(query))
    assert document is not None
    for bits in range(2 ** len(names)):
        values = {n: bool(bits >> i & 1) for i, n in enumerate(names)}
        coerced = get_variable_values(schema_hot.schema, document.operation.variable_definitions, values)
        assert schema_hot.plan_for(document, coerced) is not None
    assert len(document.variants) == hot_module.MAX_VARIANTS
    monkeypatch.setattr(hot_module, "MAX_PLANS", 3)
    for i in range(5):
        text = f"{{ staff(first: {i}) {{ nodes {{ id }} }} }}"
        schema_hot.document(text, None, parse(text))
    assert len(schema_hot.plans) == 3


LITERALS_AND_VARIABLES = """query($after: String, $yes: Boolean!) {
  staff(first: 2, after: $after, sort: {key: LAST_NAME, direction: DESC},
        filter: {sids: [14, 3, 5, 7, 9, 11, 13, 6, 4]}) {
    edges { cursor node { sid lastName email @include(if: $yes) title @skip(if: true) } }
    pageInfo { hasNextPage endCursor }
  }
  staffBySid(sid: 3) { sid fullName }
}"""


async def test_literal_arguments_are_kept_and_variables_are_each_requests_own(
    app, services, api, client, cold_client
):
    """A document's arguments written as literals are coerced once and kept with it; those
    written with a variable are each request's: pages walked with ``after`` move on, the
    condition's variable changes what is shown, and every answer (two roles, the same
    document again and again) is graphql-core's."""
    _, members, _ = await _directory(services, api)
    answered = _answered(app)
    for key in ("VIEWER", "ADMINISTRATOR"):
        for yes in (True, False):
            after, seen = None, []
            while True:
                hot, cold = await _both(
                    client, cold_client, LITERALS_AND_VARIABLES,
                    {"after": after, "yes": yes}, _headers(members[key]),
                )
                assert hot == cold, (key, yes, after)
                page = hot["data"]["staff"]
                seen += [e["node"]["sid"] for e in page["edges"]]
                assert all(("email" in e["node"]) is yes for e in page["edges"])
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert len(seen) == len(set(seen)) >= 5, (key, seen)
    assert _answered(app) > answered  # the plans answered them, not graphql-core
