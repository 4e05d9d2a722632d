"""The compiled plans answer ``invitations``, ``auditLog``, ``viewer``, ``account``,
``customFields`` and ``picklists`` exactly as graphql-core does.

As in test_hot: every request goes to an app with the plans and to one where graphql-core
answers everything, over the same database, for every role (the personal-data permit and
guests included), with ``everyoneCanInvite`` on and off. Responses must be equal; a
request the plan answered raises ``hot.answered``, and one that ends in an error (a role
that may not read the root, a malformed cursor, an email filter without the permit) is
graphql-core's to answer.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.access import Role
from app.accounts.models import Account
from app.db.base import utcnow
from app.db.statements import StatementCounter
from app.graphql.ids import decode_any
from app.invitations.models import Invitation
from bench.suite_documents import (
    AUDIT_QUERY,
    INVITATIONS_QUERY,
    TOUR_AUDIT,
    TOUR_CHART,
    TOUR_CUSTOM_FIELDS,
    TOUR_INVITATIONS,
    TOUR_PICKLISTS,
    TOUR_VIEWER,
    VIEWER_QUERY,
)
from tests.factories import (
    ROLE_KEYS,
    gid,
    make_custom_field,
    make_member,
    make_staff_many,
    make_status,
    make_tenant,
    member_as,
    update_row,
)
from tests.graphql.test_hot import (
    STAFF_IDS,
    _answered,
    _both,
    _headers,
    _node_world,
    cold_client,
    cold_services,
)

__all__ = ["cold_client", "cold_services"]  # fixtures, used by name

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { field code message } }
}"""
REVOKE = """mutation($id: ID!) {
  invitationRevoke(input: {id: $id}) { invitation { id } userErrors { code } }
}"""
ACCOUNT_UPDATE = """mutation($on: Boolean!) {
  accountUpdate(input: {everyoneCanInvite: $on}) { userErrors { code } }
}"""

INVITATION_FIELDS = (
    "__typename id email role status sentCount lastSentAt expiresAt createdAt acceptedAt message"
)
AUDIT_FIELDS = (
    "__typename id action actorStaffId actorUserId impersonatorUserId targetType targetId "
    "diff requestId clientAddress createdAt"
)
INVITATIONS_WALK = f"""query($first: Int!, $after: String, $status: InvitationStatus) {{
  invitations(first: $first, after: $after, status: $status) {{
    __typename
    edges {{ cursor node {{ {INVITATION_FIELDS} }} }}
    pageInfo {{ __typename hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}"""
AUDIT_WALK = f"""query($first: Int!, $after: String, $filter: AuditLogFilter) {{
  auditLog(first: $first, after: $after, filter: $filter) {{
    edges {{ cursor node {{ {AUDIT_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}"""

# Documents the plans cover (answered unless the asker may not read the root), with their
# variables; "@staff:name@" and "@entry@" stand for ids of the world's records.
COVERED = [
    pytest.param(INVITATIONS_QUERY, {"first": 20}, id="bench-invitations"),
    pytest.param(AUDIT_QUERY, {"first": 20}, id="bench-audit-log"),
    pytest.param(TOUR_AUDIT, None, id="tour-audit-log"),
    pytest.param(
        "{ invitations(first: 10, status: PENDING) { edges { node { email role status "
        "sentCount } } } }",
        None,
        id="tour-invitations-without-the-account",
    ),
    pytest.param(f"{{ invitations {{ edges {{ node {{ {INVITATION_FIELDS} }} }} }} }}", None,
                 id="invitations-every-field"),
    pytest.param(f"{{ auditLog {{ edges {{ node {{ {AUDIT_FIELDS} }} }} }} }}", None,
                 id="audit-every-field"),
    *(
        pytest.param(INVITATIONS_WALK, {"first": 50, "status": status}, id=f"status-{status}")
        for status in ("PENDING", "ACCEPTED", "REVOKED", "EXPIRED")
    ),
    pytest.param("""query($id: ID) {
      invitations(staffId: $id) { edges { node { id status email } } }
    }""", {"id": "@staff:ann@"}, id="by-staff"),
    pytest.param('{ invitations(staffId: "not-an-id") { edges { node { id } } } }', None,
                 id="by-malformed-staff-id"),
    pytest.param("""query($f: AuditLogFilter) {
      auditLog(first: 100, filter: $f) { edges { node { action targetId } } }
    }""", {"f": {"action": "invitationRevoke"}}, id="audit-by-action"),
    pytest.param("""{ auditLog(filter: {action: "invitationCreate", targetId: "bm9wZQ"}) {
      edges { node { id } } pageInfo { hasNextPage } } }""", None, id="audit-by-bad-target"),
    pytest.param("""query($f: AuditLogFilter) {
      auditLog(filter: $f) { edges { node { action actorStaffId } } }
    }""", {"f": {"actorStaffId": "@staff:owner@", "since": "2000-01-01T00:00:00Z"}},
                 id="audit-by-actor-since"),
    pytest.param("""query($f: AuditLogFilter) {
      auditLog(filter: $f) { edges { node { action } } }
    }""", {"f": {"until": "2000-01-01T00:00:00+00:00"}}, id="audit-until-long-ago"),
    pytest.param("""query($target: ID!) {
      auditLog(filter: {targetId: $target}) { edges { node { action targetType targetId } } }
    }""", {"target": "@invitation@"}, id="audit-by-target"),
    pytest.param("""query Both($n: Int = 3, $yes: Boolean!, $no: Boolean!) {
      __typename
      sent: invitations(first: $n) { ...Page edges @skip(if: $no) { node { ...I } } }
      log: auditLog(first: $n) {
        edges { cursor node { ... on AuditEntry { action } ... on Node { id } ...E } }
        pageInfo @include(if: $yes) { endCursor }
        ... on AuditEntryConnection @include(if: $no) { __typename }
      }
      again: invitations(first: 1, status: REVOKED) { edges { node { status } } }
    }
    fragment Page on InvitationConnection { pageInfo { hasNextPage endCursor } }
    fragment I on Invitation { id role role ... on Node { id __typename } email @include(if: $yes) }
    fragment E on AuditEntry { createdAt diff action }""", {"yes": True, "no": False},
                 id="both-fragments-aliases-directives"),
    pytest.param("""{
      staff(first: 3) { totalCount nodes { id fullName manager { fullName } } }
      invitations(first: 2) { edges { node { id status } } }
      staffBySid(sid: 2) { sid }
      auditLog(first: 2) { edges { node { action } } }
    }""", None, id="beside-the-directory"),
]

# Requests that end in an error for every role: graphql-core answers them.
ERRORS = [
    pytest.param(INVITATIONS_WALK, {"first": 101}, id="invitations-first-too-large"),
    pytest.param(INVITATIONS_WALK, {"first": -1}, id="invitations-first-negative"),
    pytest.param(AUDIT_WALK, {"first": 101}, id="audit-first-too-large"),
    pytest.param(AUDIT_WALK, {"first": 5, "filter": {"since": "yesterday"}},
                 id="audit-since-not-a-date"),
    # a cursor that is not one is the client's error (BAD_USER_INPUT), not the end of the list
    pytest.param(INVITATIONS_WALK, {"first": 2, "after": "not-a-cursor"},
                 id="invitations-malformed-cursor"),
    pytest.param(AUDIT_WALK, {"first": 2, "after": "not-a-cursor"}, id="audit-malformed-cursor"),
]

# Documents the plans do not cover (an invitation's inviter and staff record are loaded
# per invitation): graphql-core answers them, for every role.
NOT_COVERED = [
    "{ invitations { edges { node { id inviter { id fullName } } } } }",
    "{ invitations { edges { node { ... on Invitation { staff { email } } } } } }",
    "{ invitations { edges { node { id } } } projects { id } }",
]

MEMBERS = (*ROLE_KEYS, "GUEST")


async def _invite(api, member, **input) -> str:
    data = await api.data(INVITE, {"input": input}, as_=member)
    assert data["invitationCreate"]["userErrors"] == [], data
    return data["invitationCreate"]["invitation"]["id"]


async def _world(services, api) -> tuple[int, dict, dict[str, str], set[str]]:
    """An account where everyone may invite: invitations pending, revoked, expired and
    accepted, sent by the owner, an editor with the personal-data permit and a plain
    editor, for staff records or for new people; a member of every role and a guest;
    and another account with an invitation of its own. Returns the account, the members,
    the ids the documents name, and the other account's invitation and audit entry ids."""
    tenant = await make_tenant(services)
    members = {key: await member_as(api, services, tenant, key) for key in ROLE_KEYS}
    members["GUEST"] = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
    owner = members["OWNER"]
    await api.data(ACCOUNT_UPDATE, {"on": True}, as_=owner)
    ann, bob = await make_staff_many(services, tenant, [
        dict(first_name="Ann", last_name="Able", email="ann@example.com"),
        dict(first_name="Bob", last_name="Baker", email="bob@example.com"),
    ])
    first = await _invite(api, owner, staffId=gid("Staff", ann.id), email="ann@example.com")
    revoked = await api.data(REVOKE, {"id": first}, as_=owner)
    assert revoked["invitationRevoke"]["userErrors"] == []
    await _invite(api, owner, staffId=gid("Staff", ann.id), email="Ann@Example.com",
                  message="Welcome, Ann")
    await _invite(api, members["EDITOR+PD"], staffId=gid("Staff", bob.id),
                  email="bob@example.com")
    await _invite(api, members["EDITOR"], email="eve@example.com", firstName="Eve",
                  lastName="Evans", message="Hi Eve")
    expired = await _invite(api, owner, email="old@example.com", role="EDITOR")
    await update_row(services, Invitation, _pk(expired), expires_at=utcnow().replace(
        year=2001))
    accepted = await _invite(api, owner, email="new@example.com")
    await update_row(services, Invitation, _pk(accepted), accepted_at=utcnow())
    for i in range(4):
        await _invite(api, members["VIEWER"], email=f"friend{i}@example.com")
    other = await make_tenant(services)
    elsewhere = await _invite(api, other.owner, email="elsewhere@example.com")
    other_entries = await api.data("{ auditLog(first: 100) { edges { node { id } } } }",
                                   as_=other.owner)
    foreign = {elsewhere, *(e["node"]["id"] for e in other_entries["auditLog"]["edges"])}
    ids = {"staff:ann": gid("Staff", ann.id), "staff:owner": owner.staff_id,
           "invitation": first}
    return tenant.account_id, members, ids, foreign


def _pk(global_id: str) -> int:
    decoded = decode_any(global_id)
    assert decoded is not None
    return decoded[1]


def _filled(value, ids: dict[str, str]):
    if isinstance(value, dict):
        return {k: _filled(v, ids) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("@") and value.endswith("@"):
        return ids[value.strip("@")]
    return value


async def _check(app, client, cold_client, query, variables, member, foreign) -> dict:
    """The same response from both paths; answered by the plan exactly when it is not an
    error; no id of another account in it."""
    before = _answered(app)
    hot, cold = await _both(client, cold_client, query, variables, _headers(member))
    assert hot == cold
    assert _answered(app) == before + ("errors" not in hot), hot
    text = str(hot)
    assert not any(i in text for i in foreign), hot
    return hot


@pytest.mark.parametrize(("query", "variables"), COVERED)
async def test_covered_documents_answer_as_graphql_core_for_every_role(
    app, services, api, client, cold_client, query, variables
):
    account_id, members, ids, foreign = await _world(services, api)
    variables = _filled(variables, ids)
    answered = set()
    for everyone_can_invite in (True, False):
        await update_row(services, Account, account_id, everyone_can_invite=everyone_can_invite)
        for key in MEMBERS:
            hot = await _check(app, client, cold_client, query, variables, members[key],
                               foreign)
            if "errors" not in hot:
                answered.add((everyone_can_invite, key))
    # administrators read both roots; the others only invitations (their own), and only
    # when everyone may invite; guests never
    expected = {(on, k) for on in (True, False) for k in ("ADMINISTRATOR", "OWNER")}
    if "auditLog" not in query:
        expected |= {(True, k) for k in ROLE_KEYS}
    assert answered == expected, answered


@pytest.mark.parametrize(("query", "variables"), ERRORS)
async def test_requests_that_end_in_an_error_are_graphql_cores(
    app, services, api, client, cold_client, query, variables
):
    _, members, _, foreign = await _world(services, api)
    for key in MEMBERS:
        before = _answered(app)
        hot, cold = await _both(client, cold_client, query, variables, _headers(members[key]))
        assert hot == cold, key
        assert hot.get("errors"), (key, hot)
        assert _answered(app) == before, key


@pytest.mark.parametrize("query", NOT_COVERED)
async def test_documents_not_covered_are_handed_back(
    app, services, api, client, cold_client, query
):
    _, members, _, foreign = await _world(services, api)
    for key in MEMBERS:
        before = _answered(app)
        hot, cold = await _both(client, cold_client, query, None, _headers(members[key]))
        assert hot == cold, key
        assert ("errors" in hot) == (key == "GUEST"), (key, hot)
        assert _answered(app) == before, key


async def test_the_email_filter_needs_the_permit(app, services, api, client, cold_client):
    """Filtering by email is answered by the plan for those who may see emails, and is
    graphql-core's error for the others."""
    _, members, _, foreign = await _world(services, api)
    query = """query($e: String) { invitations(email: $e) { edges { node { email status } } } }"""
    for key in MEMBERS:
        hot = await _check(app, client, cold_client, query, {"e": "ANN@example.com"},
                           members[key], foreign)
        if key in ("ADMINISTRATOR", "OWNER"):
            assert {e["node"]["status"] for e in hot["data"]["invitations"]["edges"]} == {
                "PENDING", "REVOKED"}, key
        elif key in ("VIEWER+PD", "EDITOR+PD"):  # only their own: none to Ann
            assert hot["data"]["invitations"]["edges"] == [], key
        else:
            assert hot.get("errors"), key


@pytest.mark.parametrize("root", ["invitations", "auditLog"])
async def test_pages_walked_with_cursors_match_for_every_role(
    app, services, api, client, cold_client, root
):
    _, members, _, foreign = await _world(services, api)
    query = INVITATIONS_WALK if root == "invitations" else AUDIT_WALK
    for key in MEMBERS:
        after, seen = None, []
        while True:
            hot = await _check(app, client, cold_client, query, {"first": 2, "after": after},
                               members[key], foreign)
            if "errors" in hot:
                assert key in ("GUEST",) or root == "auditLog", key
                assert key not in ("ADMINISTRATOR", "OWNER"), key
                break
            page = hot["data"][root]
            seen += [e["node"]["id"] for e in page["edges"]]
            assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        if key == "OWNER":
            assert len(seen) == len(set(seen)) >= (10 if root == "invitations" else 12), seen


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        pytest.param(INVITATIONS_QUERY, {"first": 20}, 2, id="invitations"),
        pytest.param(AUDIT_QUERY, {"first": 20}, 2, id="audit-log"),
        pytest.param("""{ a: invitations(first: 3) { edges { node { id } } }
          b: auditLog(first: 3) { edges { node { id } } }
          staff(first: 3) { nodes { id manager { id } } } }""", None, 4, id="beside-the-list"),
    ],
)
async def test_statements_are_no_more_than_graphql_cores(
    app, services, api, client, cold_services, cold_client, query, variables, expected
):
    """The token, then one statement per root: the page of invitations, of the audit log
    (and of staff, with its managers), on both paths."""
    _, members, _, _ = await _world(services, api)
    body = {"query": query, "variables": variables}
    counts = await _statements(app, services, client, cold_services, cold_client, body,
                               _headers(members["ADMINISTRATOR"]))
    assert counts == [expected, expected], counts


async def _statements(app, services, client, cold_services, cold_client, body, headers):
    """Statements of one request, answered by the plan then by graphql-core (each sent once
    before, to be parsed and compiled): [plan's, graphql-core's]."""
    counts = []
    for some_services, some_client in ((services, client), (cold_services, cold_client)):
        await some_client.post("/graphql", json=body, headers=headers)
        before = _answered(app)
        with StatementCounter(some_services.db.engine) as counter:
            response = await some_client.post("/graphql", json=body, headers=headers)
        assert "errors" not in response.json(), response.json()
        counts.append(counter.count)
        if some_client is client:
            assert _answered(app) == before + 1
    return counts


# --- viewer, account, customFields, picklists ----------------------------------------------

ACCOUNT_FIELDS = (
    "__typename id name slug realmId plan createdAt settings { everyoneCanInvite "
    "invitationExpiryDays joinLinkRole joinLinkExpiryDays joinLinkRequiresApproval timezone "
    "guestsTakeSeats selfSignup scimInvites }"
)
SEATS = "seats { __typename limit used reserved available guests guestsReserved guestsTakeSeats }"
FIELD_FIELDS = "__typename id name type options personal description archived archivedAt createdAt"
RESOLVED = [
    pytest.param(TOUR_VIEWER, None, id="tour-viewer"),
    pytest.param(VIEWER_QUERY, None, id="bench-viewer"),
    pytest.param(TOUR_PICKLISTS, None, id="tour-picklists"),
    pytest.param(TOUR_INVITATIONS, None, id="tour-invitations"),
    pytest.param("""{ viewer { __typename role permits
      user { __typename id email firstName lastName emailVerified }
      accounts { __typename id realmId slug name role } account { id name } } }""", None,
                 id="viewer-every-field"),
    pytest.param(f"{{ account {{ {ACCOUNT_FIELDS} {SEATS} }} }}", None, id="account-every-field"),
    pytest.param(f"{{ account {{ {ACCOUNT_FIELDS} }} }}", None, id="account-without-seats"),
    *(
        pytest.param(f"query($all: Boolean!) {{ customFields(includeArchived: $all) "
                     f"{{ {FIELD_FIELDS} }} }}", {"all": archived}, id=f"custom-fields-{archived}")
        for archived in (True, False)
    ),
    pytest.param("""{ picklists { __typename roles { value name description permits }
      staffStatuses { __typename id name archived } timeZones staffKinds
      projectTeamRoles { id name archived } } }""", None, id="picklists-every-field"),
    pytest.param("""query Mixed($yes: Boolean!, $no: Boolean!) {
      me: viewer { ...V role @skip(if: $no) }
      here: account { seats @include(if: $yes) { used } ... on Account { name } ...A }
      fields: customFields { name ... on CustomField { type } }
      lists: picklists { staffKinds kinds: staffKinds roles @skip(if: $yes) { value } }
      staff(first: 2) { nodes { id } }
      invitations(first: 1) { edges { node { status } } }
    }
    fragment V on Viewer { role account { seats { limit } again: seats { available } } }
    fragment A on Node { id }""", {"yes": True, "no": False}, id="every-root-fragments-aliases"),
]


def _codes(response: dict) -> set[str]:
    return {e["extensions"]["code"] for e in response["errors"]}


async def _resolved_world(services, api):
    """``_world``, with custom fields (a personal one, a choice, an archived one) and an
    archived status."""
    account_id, members, ids, foreign = await _world(services, api)
    tenant = SimpleNamespace(account_id=account_id)  # what the factories read of a Tenant
    await make_custom_field(services, tenant, "Team")
    await make_custom_field(services, tenant, "Badge", personal=True)
    await make_custom_field(services, tenant, "Level", type="CHOICE", options=["A", "B"])
    old = await make_custom_field(services, tenant, "Old")
    await update_row(services, type(old), old.id, archived_at=utcnow())
    await make_status(services, tenant, "On leave")
    gone = await make_status(services, tenant, "Gone")
    await update_row(services, type(gone), gone.id, archived=True)
    return account_id, members, ids, foreign


@pytest.mark.parametrize(("query", "variables"), RESOLVED)
async def test_resolved_roots_answer_as_graphql_core_for_every_role(
    app, services, api, client, cold_client, query, variables
):
    """Every role and a guest, with and without choosing the account (a member of one
    account may leave X-Auth-Realm out): the same response, answered by the plan exactly
    when it is no error; members of every role are answered."""
    _, members, _, foreign = await _resolved_world(services, api)
    answered = set()
    for key in MEMBERS:
        for headers in (_headers(members[key]),
                        {"Authorization": f"Bearer {members[key].token}"}):
            before = _answered(app)
            hot, cold = await _both(client, cold_client, query, variables, headers)
            if "errors" in hot:
                # graphql-core's on both paths. When several root fields are refused,
                # which refusal it reports first depends on the order its concurrent
                # resolvers get the session in, which differs from request to request.
                assert hot["data"] == cold["data"] and _codes(hot) == _codes(cold), key
            else:
                assert hot == cold, (key, hot, cold)
            assert _answered(app) == before + ("errors" not in hot), (key, hot)
            assert not any(i in str(hot) for i in foreign), hot
            if "errors" not in hot:
                answered.add(key)
    assert answered >= {"OWNER", "ADMINISTRATOR"}, answered
    if "invitations" not in query:
        assert answered >= set(ROLE_KEYS), answered


async def test_a_guest_is_refused_the_seats_by_graphql_core(app, services, api, client,
                                                            cold_client):
    """The seats are not shown to guests: the plan reads them as the resolver does, and
    hands the refusal to graphql-core, which reports it as it always has."""
    _, members, _, _ = await _resolved_world(services, api)
    before = _answered(app)
    hot, cold = await _both(client, cold_client, TOUR_VIEWER, None, _headers(members["GUEST"]))
    assert hot == cold and hot["errors"], hot
    assert _answered(app) == before
    plain, _ = await _both(client, cold_client, VIEWER_QUERY, None, _headers(members["GUEST"]))
    assert "errors" not in plain and plain["data"]["viewer"]["role"] == "GUEST", plain
    assert _answered(app) == before + 1


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(TOUR_VIEWER, id="tour-viewer"),
        pytest.param(TOUR_INVITATIONS, id="tour-invitations"),
        pytest.param(TOUR_PICKLISTS, id="tour-picklists"),
        pytest.param(f"{{ customFields {{ {FIELD_FIELDS} }} }}", id="custom-fields"),
    ],
)
async def test_resolved_roots_take_the_statements_graphql_core_takes(
    app, services, api, client, cold_services, cold_client, query
):
    _, members, _, _ = await _resolved_world(services, api)
    counts = await _statements(app, services, client, cold_services, cold_client,
                               {"query": query}, _headers(members["ADMINISTRATOR"]))
    assert counts[0] == counts[1], counts


async def test_the_viewer_s_own_record_and_tokens_are_graphql_cores(app, services, api, client,
                                                                    cold_client):
    """Fields of ``viewer`` that read more rows and are not AWAITED (the own record, the
    API tokens) leave the document to graphql-core."""
    _, members, _, _ = await _resolved_world(services, api)
    for query in ("{ viewer { role staff { fullName } } }", "{ viewer { apiTokens { id } } }",
                  "{ customFieldValues { staff { manager { id } } } viewer { role } }"):
        before = _answered(app)
        hot, cold = await _both(client, cold_client, query, None, _headers(members["OWNER"]))
        assert hot == cold and "errors" not in hot, hot
        assert _answered(app) == before, query


# --- a record's related rows: reportingChain, directReports, invitation --------------------

CHART = """query($id: ID!, $first: Int!, $after: String, $yes: Boolean!) {
  node(id: $id) {
    ... on Staff {
      sid fullName
      reportingChain { __typename id sid fullName title email viewerCanSeeDetails }
      reports: directReports(first: $first, after: $after) @include(if: $yes) {
        __typename totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { sid fullName email restricted } }
        nodes { id }
      }
      again: directReports { totalCount }
      invitation { __typename id status email role sentCount expiresAt }
      ...Chain
      manager {
        sid reportingChain { sid } invitation { status }
        directReports(first: 2) { totalCount nodes { sid fullName } }
      }
    }
  }
  staffBySid(sid: 2) { sid reportingChain { sid } directReports(first: 1) { nodes { sid } } }
}
fragment Chain on Staff { reportingChain { fullName } invitation { status } }"""


async def _chart_world(services, api):
    """test_hot's directory (managers, restricted records, a guest on a project) with an
    invitation for one record, revoked and sent again, and one for the boss."""
    members, ids = await _node_world(services, api)
    owner = members["OWNER"]
    first = await _invite(api, owner, staffId=ids["person1"], email="p1@example.com")
    await api.data(REVOKE, {"id": first}, as_=owner)
    await _invite(api, owner, staffId=ids["person1"], email="p1@example.com", message="Hi")
    await _invite(api, owner, staffId=ids["boss"], email="bea@example.com", role="EDITOR")
    return members, ids


async def test_a_record_s_related_rows_answer_as_graphql_core_for_every_role(
    app, services, api, client, cold_client
):
    """The plan reads a record's reporting chain, direct reports (paged, counted) and latest
    invitation by the functions their resolvers call, for every role and a guest, for
    records seen, hidden, restricted, of another account or missing."""
    members, ids = await _chart_world(services, api)
    answered = set()
    for key, member in members.items():
        headers = _headers(member)
        before = _answered(app)
        hot, cold = await _both(client, cold_client, TOUR_CHART, None, headers)
        assert hot == cold, (key, hot, cold)
        assert _answered(app) == before + ("errors" not in hot), key
        for name in STAFF_IDS:
            after = None
            for _ in range(3):  # the boss's reports, one page at a time
                variables = {"id": ids[name], "first": 1, "after": after, "yes": True}
                before = _answered(app)
                hot, cold = await _both(client, cold_client, CHART, variables, headers)
                assert hot == cold, (key, name, hot, cold)
                assert _answered(app) == before + ("errors" not in hot), (key, name, hot)
                if "errors" not in hot:
                    answered.add(key)
                reports = (hot.get("data") or {}).get("node") or {}
                page = reports.get("reports") or {}
                if not (page.get("pageInfo") or {}).get("hasNextPage"):
                    break
                after = page["pageInfo"]["endCursor"]
    assert answered == set(members), answered


async def test_the_tour_s_chart_is_answered_with_graphql_core_s_statements(
    app, services, api, client, cold_services, cold_client
):
    """The tour's chart, and the same for a record with a manager, reports and an
    invitation: no more statements than graphql-core's; the tour's, one fewer (its record
    is read with its reporting chain)."""
    members, ids = await _chart_world(services, api)
    headers = _headers(members["ADMINISTRATOR"])
    for body in ({"query": TOUR_CHART},
                 {"query": CHART, "variables": {"id": ids["person1"], "first": 3, "yes": True}},
                 {"query": CHART, "variables": {"id": ids["boss"], "first": 3, "yes": True}}):
        counts = await _statements(app, services, client, cold_services, cold_client, body,
                                   headers)
        assert counts[0] <= counts[1], (body, counts)
        if body["query"] == TOUR_CHART:
            assert counts[0] == counts[1] - 1, counts
    response = await client.post("/graphql", json=body, headers=headers)
    data = response.json()["data"]["node"]
    assert data["reports"]["totalCount"] > 3 and data["invitation"]["role"] == "EDITOR", data


@pytest.mark.parametrize("query", [
    "{ staff { nodes { reportingChain { id } } } }",  # once per row: graphql-core batches
    "{ staff { nodes { invitation { status } } } }",
    "{ staffBySid(sid: 2) { reportingChain { manager { id } } } }",  # a related row's own
    "{ staffBySid(sid: 2) { directReports { nodes { customFields { value } } } } }",
    "{ staffBySid(sid: 2) { invitation { inviter { id } } } }",
])
async def test_related_rows_in_lists_or_of_related_rows_are_graphql_cores(
    app, services, api, client, cold_client, query
):
    members, _ = await _chart_world(services, api)
    for key, member in members.items():
        before = _answered(app)
        hot, cold = await _both(client, cold_client, query, None, _headers(member))
        assert hot == cold, (key, hot)
        assert _answered(app) == before, (key, query)


VALUES = """query($names: [String!]) {
  customFieldValues(names: $names) {
    __typename value field { name personal type options }
    staff { __typename id sid fullName email title restricted viewerCanSeePersonalData }
    ... on StaffCustomFieldValue { again: value }
  }
}"""


async def test_custom_field_values_answer_as_graphql_core_for_every_role(
    app, services, api, client, cold_client
):
    """``customFieldValues`` (the tour's, and by names: personal, choice, none, unknown):
    the values each role may see, with their records as that role sees them."""
    members, _ = await _node_world(services, api)
    for key, member in members.items():
        for query, variables in ((TOUR_CUSTOM_FIELDS, None), (VALUES, None),
                                 (VALUES, {"names": ["Badge"]}),
                                 (VALUES, {"names": ["Team", "Level"]}),
                                 (VALUES, {"names": []}), (VALUES, {"names": ["nope"]})):
            before = _answered(app)
            hot, cold = await _both(client, cold_client, query, variables, _headers(member))
            assert hot == cold, (key, variables, hot, cold)
            assert _answered(app) == before + ("errors" not in hot), (key, hot)
            if key == "OWNER" and query == VALUES and variables is None:
                values = hot["data"]["customFieldValues"]
                assert {v["field"]["name"] for v in values} == {"Team", "Badge", "Level"}
