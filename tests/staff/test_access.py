"""Who may do what with staff records: the role x operation matrix.

Rows are the ROLE_KEYS: VIEWER, VIEWER+PD, EDITOR, EDITOR+PD, ADMINISTRATOR, OWNER ("+PD" =
holding the VIEW_PERSONAL_DATA grant, given through staffPermitGrant). Outcomes: OK = done;
DENIED = the whole operation is refused (top-level FORBIDDEN); REFUSED = a field the actor may
not write (userError FORBIDDEN, and nothing of the mutation is written).
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from app.access import Role
from tests.factories import (
    DENIED,
    OK,
    PERMIT_GRANT,
    REFUSED,
    ROLE_KEYS,
    error_codes,
    gid,
    make_custom_field,
    make_member,
    make_staff,
    make_status,
    make_tenant,
    member_as,
    outcome,
    role_matrix,
    set_custom_value,
    set_staff_secrets,
    share_staff_with,
)

ALL_OK = (OK,) * 6
ADMINS_ONLY = (DENIED, DENIED, DENIED, DENIED, OK, OK)

STAFF_FIELDS = """
  id lastName title restricted
  status { name } startDate capacity rate1 homeTimezone
  customFields { field { name } value }
  email ssn salary
  viewerCanSeeDetails viewerCanEdit viewerCanDelete viewerCanSeePersonalData
"""
NODE = "query($id: ID!) { node(id: $id) { ... on Staff { " + STAFF_FIELDS + " } } }"
SEARCH = "query($s: String) { staff(search: $s) { totalCount nodes { " + STAFF_FIELDS + " } } }"
UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { id title } userErrors { field code message } }
}"""
CREATE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) {
    staff { id lastName rate1 viewerCanSeeDetails viewerCanEdit } userErrors { field code }
  }
}"""
SHARE = """mutation($staff: ID!, $with: ID!) {
  staffShare(input: {staffId: $staff, sharedWithId: $with}) {
    staff { id } userErrors { field code }
  }
}"""
UNSHARE = SHARE.replace("staffShare", "staffUnshare")


async def node(api, member, staff_id: str) -> dict:
    return (await api.data(NODE, {"id": staff_id}, as_=member))["node"]


# --- every query is open to every role ---------------------------------------------------

QUERIES = {
    "staff": "{ staff { totalCount nodes { id lastName } } }",
    "node": "query($other: ID!) { node(id: $other) { id ... on Staff { lastName } } }",
    "viewer": "{ viewer { role permits staff { id } account { slug } } }",
    "account": "{ account { slug name } }",
    "picklists": "{ picklists { roles { value } staffStatuses { name } staffKinds timeZones } }",
    "customFields": "{ customFields { name personal type } }",
    "customFieldValues": """{ customFieldValues(names: ["badge"]) {
        staff { id } field { name } value } }""",
}
QUERY_MATRIX = {name: ALL_OK for name in QUERIES}


def check_query(name: str, data: dict, w) -> None:
    """What each query must show a member of any role."""
    match name:
        case "staff":
            ids = {n["id"] for n in data["staff"]["nodes"]}
            assert {w.tenant.owner.staff_id, w.me.staff_id, w.other_id} <= ids
            assert data["staff"]["totalCount"] == len(ids)
        case "node":
            assert data["node"] == {"id": w.other_id, "lastName": "Other"}
        case "viewer":
            viewer = data["viewer"]
            assert viewer["role"] == w.me.role.value
            assert viewer["staff"]["id"] == w.me.staff_id
            assert viewer["account"]["slug"] == w.tenant.slug
            sees_personal = w.key.endswith("+PD") or w.me.role in (Role.ADMINISTRATOR, Role.OWNER)
            assert ("VIEW_PERSONAL_DATA" in viewer["permits"]) == sees_personal
        case "account":
            assert data["account"]["slug"] == w.tenant.slug
        case "picklists":
            lists = data["picklists"]
            assert [r["value"] for r in lists["roles"]] == [r.value for r in Role]
            assert lists["staffStatuses"] == [{"name": "On leave"}]
            assert "Europe/Berlin" in lists["timeZones"]
        case "customFields":
            assert data["customFields"] == [
                {"name": "Badge", "personal": False, "type": "TEXT"},
                {"name": "Allergies", "personal": True, "type": "TEXT"},
            ]
        case "customFieldValues":
            assert data["customFieldValues"] == [
                {"staff": {"id": w.other_id}, "field": {"name": "Badge"}, "value": "B-7"}
            ]


@pytest.mark.parametrize("key", ROLE_KEYS)
async def test_query_matrix(api, services, key):
    """Every query of QUERY_MATRIX, run by one role (one tenant per role keeps it fast)."""
    world = await make_tenant_with_fields(services)
    me = await member_as(api, services, world.tenant, key)
    w = SimpleNamespace(tenant=world.tenant, me=me, key=key, other_id=world.other_id)
    for query, row in QUERY_MATRIX.items():
        expected = row[ROLE_KEYS.index(key)]
        body = await api(QUERIES[query], {"other": w.other_id} if query == "node" else {}, as_=me)
        got = DENIED if "FORBIDDEN" in error_codes(body) else OK
        assert got == expected, (query, body)
        assert not body.get("errors"), (query, body["errors"])
        check_query(query, body["data"], w)


async def make_tenant_with_fields(services):
    tenant = await make_tenant(services)
    await make_status(services, tenant, "On leave")
    badge = await make_custom_field(services, tenant, "Badge")
    allergies = await make_custom_field(services, tenant, "Allergies", personal=True)
    other = await make_staff(services, tenant, last_name="Other")
    await set_custom_value(services, tenant, other.id, badge.id, "B-7")
    await set_custom_value(services, tenant, other.id, allergies.id, "nuts")
    return SimpleNamespace(tenant=tenant, other_id=gid("Staff", other.id))


# --- whole operations --------------------------------------------------------------------

MUTATION_MATRIX = {
    #                     VIEWER   VIEWER+PD EDITOR  EDITOR+PD ADMIN  OWNER
    "staffCreate": (DENIED, DENIED, OK, OK, OK, OK),
    "staffUpdate": (REFUSED, REFUSED, OK, OK, OK, OK),  # title of a colleague
    "staffShare": ADMINS_ONLY,
    "staffUnshare": ADMINS_ONLY,
    "staffPermitGrant": ADMINS_ONLY,
    "staffPermitRevoke": ADMINS_ONLY,
    "staffStatusCreate": ADMINS_ONLY,
    "staffStatusUpdate": ADMINS_ONLY,
    "apiTokenCreate": ALL_OK,
}


async def total(api, member, search: str) -> int:
    query = "query($s: String) { staff(search: $s) { totalCount } }"
    return (await api.data(query, {"s": search}, as_=member))["staff"]["totalCount"]


async def shared_with_ids(api, owner, staff_id: str) -> set[str]:
    query = "query($id: ID!) { node(id: $id) { ... on Staff { sharedWith { id } } } }"
    data = await api.data(query, {"id": staff_id}, as_=owner)
    return {s["id"] for s in data["node"]["sharedWith"]}


async def permits_of(api, owner, staff_id: str) -> list[str]:
    query = "query($id: ID!) { node(id: $id) { ... on Staff { permits } } }"
    return (await api.data(query, {"id": staff_id}, as_=owner))["node"]["permits"]


async def status_names(api, member) -> list[str]:
    data = await api.data("{ picklists { staffStatuses { name } } }", as_=member)
    return [s["name"] for s in data["picklists"]["staffStatuses"]]


async def run_mutation(op: str, api, services, tenant, me) -> tuple[str, bool]:
    """Perform ``op`` as ``me``; return its outcome and whether its effect can be read back."""
    owner = tenant.owner
    match op:
        case "staffCreate":
            body = await api(
                CREATE, {"input": {"firstName": "Nora", "lastName": "Newhire"}}, as_=me
            )
            return outcome(body, op), await total(api, owner, "Newhire") == 1
        case "staffUpdate":
            row = await make_staff(services, tenant, title="Analyst")
            body = await api(
                UPDATE, {"input": {"id": gid("Staff", row.id), "title": "Lead"}}, as_=me
            )
            after = await node(api, owner, gid("Staff", row.id))
            return outcome(body, op), after["title"] == "Lead"
        case "staffShare" | "staffUnshare":
            record = await make_staff(services, tenant, restricted=True)
            other = await make_member(services, tenant, Role.VIEWER)
            if op == "staffUnshare":
                await share_staff_with(services, tenant, record.id, other.staff_pk)
            variables = {"staff": gid("Staff", record.id), "with": other.staff_id}
            body = await api(SHARE if op == "staffShare" else UNSHARE, variables, as_=me)
            shared = other.staff_id in await shared_with_ids(api, owner, variables["staff"])
            return outcome(body, op), shared == (op == "staffShare")
        case "staffPermitGrant" | "staffPermitRevoke":
            other = await make_member(services, tenant, Role.VIEWER)
            if op == "staffPermitRevoke":
                await api.data(PERMIT_GRANT, {"id": other.staff_id}, as_=owner)
            mutation = PERMIT_GRANT.replace("staffPermitGrant", op)
            body = await api(mutation, {"id": other.staff_id}, as_=me)
            has = "VIEW_PERSONAL_DATA" in await permits_of(api, owner, other.staff_id)
            return outcome(body, op), has == (op == "staffPermitGrant")
        case "staffStatusCreate":
            mutation = """mutation { staffStatusCreate(input: {name: "Sabbatical"}) {
                status { name } userErrors { code } } }"""
            body = await api(mutation, as_=me)
            return outcome(body, op), "Sabbatical" in await status_names(api, owner)
        case "staffStatusUpdate":
            status = await make_status(services, tenant, "On leave")
            mutation = """mutation($id: ID!) { staffStatusUpdate(input: {id: $id, name: "Away"}) {
                status { name } userErrors { code } } }"""
            body = await api(mutation, {"id": gid("StaffStatus", status.id)}, as_=me)
            return outcome(body, op), await status_names(api, owner) == ["Away"]
        case "apiTokenCreate":
            mutation = """mutation { apiTokenCreate(input: {name: "CI"}) {
                token apiToken { name } userErrors { code } } }"""
            body = await api(mutation, as_=me)
            data = await api.data("{ viewer { apiTokens { name } } }", as_=me)
            written = [t["name"] for t in data["viewer"]["apiTokens"]] == ["CI"]
            if written:  # the new token works, in this account, with the member's role
                token = body["data"]["apiTokenCreate"]["token"]
                via_token = await api.data("{ viewer { role } }", token=token)
                assert via_token["viewer"]["role"] == me.role.value
            return outcome(body, op), written
    raise AssertionError(op)


@pytest.mark.parametrize(("op", "key", "expected"), role_matrix(MUTATION_MATRIX))
async def test_mutation_matrix(api, services, op, key, expected):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    got, written = await run_mutation(op, api, services, tenant, me)
    assert got == expected
    assert written == (expected == OK)


# --- staffUpdate, field by field, on an unrestricted colleague ---------------------------

UPDATE_FIELD_MATRIX = {
    #                 VIEWER   VIEWER+PD EDITOR   EDITOR+PD ADMIN  OWNER
    "title": (REFUSED, REFUSED, OK, OK, OK, OK),  # basic
    "notes": (REFUSED, REFUSED, OK, OK, OK, OK),  # basic
    "rate1": (REFUSED, REFUSED, OK, OK, OK, OK),  # detailed
    "startDate": (REFUSED, REFUSED, OK, OK, OK, OK),  # detailed
    "statusId": (REFUSED, REFUSED, OK, OK, OK, OK),  # detailed
    "restricted": (REFUSED, REFUSED, REFUSED, REFUSED, OK, OK),  # administrators only
}
NEW_VALUES = {
    "title": ("Lead", "title"),
    "notes": ("Speaks Finnish", "notes"),
    "rate1": (99.5, "rate1"),
    "startDate": ("2020-02-03", "startDate"),
    "restricted": (True, "restricted"),
}


@pytest.mark.parametrize(("field", "key", "expected"), role_matrix(UPDATE_FIELD_MATRIX))
async def test_update_field_matrix(api, services, field, key, expected):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    status = await make_status(services, tenant, "On leave")
    row = await make_staff(
        services, tenant, title="Analyst", notes=None, rate1=10, start_date=date(2019, 1, 1)
    )
    staff_id = gid("Staff", row.id)
    query = NODE.replace(STAFF_FIELDS, "title notes rate1 startDate restricted status { id }")
    before = (await api.data(query, {"id": staff_id}, as_=tenant.owner))["node"]
    if field == "statusId":
        value, read = gid("StaffStatus", status.id), "status"
        want = {"id": value}
    else:
        value, read = NEW_VALUES[field]
        want = value
    body = await api(UPDATE, {"input": {"id": staff_id, field: value}}, as_=me)
    assert outcome(body, "staffUpdate") == expected
    after = (await api.data(query, {"id": staff_id}, as_=tenant.owner))["node"]
    if expected == OK:
        assert after[read] == want
    else:
        errors = body["data"]["staffUpdate"]["userErrors"]
        assert [e["field"] for e in errors] == [["input", field]]
        assert body["data"]["staffUpdate"]["staff"] is None
        assert after == before


async def test_one_forbidden_field_writes_nothing(api, services):
    """An editor may change the title but not the restricted flag: asking for both changes
    neither, and the userError names only the forbidden field."""
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    row = await make_staff(services, tenant, title="Analyst")
    staff_id = gid("Staff", row.id)
    body = await api(
        UPDATE, {"input": {"id": staff_id, "title": "Lead", "restricted": True}}, as_=editor
    )
    errors = body["data"]["staffUpdate"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "restricted"], "FORBIDDEN")]
    after = await node(api, tenant.owner, staff_id)
    assert (after["title"], after["restricted"]) == ("Analyst", False)


# --- restricted records ------------------------------------------------------------------

# (sees details, may edit, may delete, sees personal data) of a restricted colleague
RESTRICTED_UNSHARED = {
    "VIEWER": (False, False, False, False),
    "VIEWER+PD": (False, False, False, True),
    "EDITOR": (False, False, False, False),
    "EDITOR+PD": (False, False, False, True),
    "ADMINISTRATOR": (True, True, True, True),
    "OWNER": (True, True, True, True),
}
RESTRICTED_SHARED = {
    "VIEWER": (True, False, False, False),
    "VIEWER+PD": (True, False, False, True),
    "EDITOR": (True, True, False, False),
    "EDITOR+PD": (True, True, False, True),
    "ADMINISTRATOR": (True, True, True, True),
    "OWNER": (True, True, True, True),
}
DETAILS = {
    "status": {"name": "On leave"},
    "startDate": "2021-05-01",
    "capacity": 140.0,
    "rate1": 120.0,
    "homeTimezone": "Europe/Berlin",
    "customFields": [{"field": {"name": "Badge"}, "value": "B-7"}],
}


async def make_restricted(services, tenant) -> str:
    status = await make_status(services, tenant, "On leave")
    badge = await make_custom_field(services, tenant, "Badge")
    row = await make_staff(
        services,
        tenant,
        last_name="Hidden",
        title="Counsel",
        restricted=True,
        status_id=status.id,
        start_date=date(2021, 5, 1),
        capacity=140,
        rate1=120,
        home_timezone="Europe/Berlin",
        email="hidden@example.org",
    )
    await set_staff_secrets(services, row.id, ssn="123-45-6789", salary=85000)
    await set_custom_value(services, tenant, row.id, badge.id, "B-7")
    return gid("Staff", row.id)


@pytest.mark.parametrize("shared", [False, True], ids=["unshared", "shared"])
@pytest.mark.parametrize("key", ROLE_KEYS)
async def test_restricted_record_matrix(api, services, key, shared):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    record = await make_restricted(services, tenant)
    if shared and key not in ("OWNER", "ADMINISTRATOR"):  # theirs sees every record's details
        data = await api.data(SHARE, {"staff": record, "with": me.staff_id}, as_=tenant.owner)
        assert data["staffShare"]["userErrors"] == []
    details, can_edit, can_delete, personal = (
        RESTRICTED_SHARED if shared else RESTRICTED_UNSHARED
    )[key]

    seen = await node(api, me, record)
    listed = await api.data(SEARCH, {"s": "Hidden"}, as_=me)
    assert listed["staff"]["nodes"] == [seen]  # the directory shows exactly the same
    assert (seen["lastName"], seen["title"], seen["restricted"]) == ("Hidden", "Counsel", True)
    assert seen["viewerCanSeeDetails"] is details
    assert seen["viewerCanEdit"] is can_edit
    assert seen["viewerCanDelete"] is can_delete
    assert seen["viewerCanSeePersonalData"] is personal
    for name, value in DETAILS.items():
        assert seen[name] == (value if details else None), name
    assert seen["email"] == ("hidden@example.org" if personal else None)
    assert seen["ssn"] == ("123-45-6789" if personal and details else None)
    assert seen["salary"] == (85000.0 if personal and details else None)


@pytest.mark.parametrize("key", ["VIEWER", "EDITOR"])
async def test_unshare_takes_access_away_on_the_next_request(api, services, key):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    record = await make_restricted(services, tenant)
    variables = {"staff": record, "with": me.staff_id}
    edit = {"input": {"id": record, "title": "Partner"}}

    assert (await node(api, me, record))["rate1"] is None
    assert outcome(await api(UPDATE, edit, as_=me), "staffUpdate") == REFUSED

    await api.data(SHARE, variables, as_=tenant.owner)
    assert (await node(api, me, record))["rate1"] == 120.0
    expected = OK if key == "EDITOR" else REFUSED
    assert outcome(await api(UPDATE, edit, as_=me), "staffUpdate") == expected

    data = await api.data(UNSHARE, variables, as_=tenant.owner)
    assert data["staffUnshare"]["userErrors"] == []
    seen = await node(api, me, record)
    assert (seen["viewerCanSeeDetails"], seen["viewerCanEdit"], seen["rate1"]) == (
        False,
        False,
        None,
    )
    edit = {"input": {"id": record, "title": "Retired"}}
    assert outcome(await api(UPDATE, edit, as_=me), "staffUpdate") == REFUSED
    title = (await node(api, tenant.owner, record))["title"]
    assert title == ("Partner" if key == "EDITOR" else "Counsel")


async def test_sharing_is_per_member(api, services):
    """Sharing with one editor shows the record to them, not to another editor."""
    tenant = await make_tenant(services)
    alice = await make_member(services, tenant, Role.EDITOR)
    bob = await make_member(services, tenant, Role.EDITOR)
    record = await make_restricted(services, tenant)
    await api.data(SHARE, {"staff": record, "with": alice.staff_id}, as_=tenant.owner)
    assert (await node(api, alice, record))["rate1"] == 120.0
    assert (await node(api, bob, record))["rate1"] is None
    edit = {"input": {"id": record, "rate1": 1}}
    assert outcome(await api(UPDATE, edit, as_=bob), "staffUpdate") == REFUSED
    assert (await node(api, tenant.owner, record))["rate1"] == 120.0


async def test_editor_who_adds_a_restricted_record_keeps_sight_of_it(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    other_editor = await make_member(services, tenant, Role.EDITOR)
    body = await api.data(
        CREATE,
        {"input": {"firstName": "Rae", "lastName": "Secret", "restricted": True, "rate1": 50}},
        as_=editor,
    )
    created = body["staffCreate"]["staff"]
    assert body["staffCreate"]["userErrors"] == []
    assert (created["rate1"], created["viewerCanSeeDetails"], created["viewerCanEdit"]) == (
        50.0,
        True,
        True,
    )
    again = await node(api, editor, created["id"])
    assert (again["rate1"], again["viewerCanEdit"]) == (50.0, True)
    other = await node(api, other_editor, created["id"])
    assert (other["rate1"], other["viewerCanSeeDetails"]) == (None, False)


@pytest.mark.parametrize("role", [Role.EDITOR, Role.ADMINISTRATOR])
async def test_only_administrators_give_a_record_they_add_an_external_id(api, services, role):
    """externalId is administrators' (its row: staffUpdate and the import refuse it to
    editors): adding a record does not open it to editors, who could otherwise plant the id
    SCIM and identity providers match people by. Restricting it stays open to them."""
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, role)
    body = await api.data(
        CREATE,
        {"input": {"firstName": "Ext", "lastName": "Id", "externalId": "idp-1",
                   "restricted": True}},
        as_=member,
    )
    if role == Role.EDITOR:
        assert body["staffCreate"] == {
            "staff": None,
            "userErrors": [{"field": ["input", "externalId"], "code": "FORBIDDEN"}],
        }
        count = await api.data('{ staff(search: "Ext") { totalCount } }',
                               as_=tenant.owner)
        assert count["staff"]["totalCount"] == 0
    else:
        assert body["staffCreate"]["userErrors"] == []


# --- viewerCanEdit / viewerCanDelete of unrestricted records -----------------------------

# viewerCanEdit of (an unrestricted colleague, oneself)
EDIT_FLAGS = {
    "VIEWER": (False, False),
    "VIEWER+PD": (False, False),
    "EDITOR": (True, True),
    "EDITOR+PD": (True, True),
    "ADMINISTRATOR": (True, True),
    "OWNER": (True, True),
}
# viewerCanDelete of colleagues by role (VIEWER, EDITOR, ADMINISTRATOR, the owner), oneself
DELETE_FLAGS = {
    "VIEWER": (False, False, False, False, False),
    "VIEWER+PD": (False, False, False, False, False),
    "EDITOR": (False, False, False, False, False),
    "EDITOR+PD": (False, False, False, False, False),
    "ADMINISTRATOR": (True, True, False, False, False),
    "OWNER": (True, True, True, False, False),  # the owner is oneself here
}


@pytest.mark.parametrize("key", ROLE_KEYS)
async def test_can_edit_and_delete_flags(api, services, key):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    others = [
        await make_member(services, tenant, r)
        for r in (Role.VIEWER, Role.EDITOR, Role.ADMINISTRATOR)
    ]
    targets = [m.staff_id for m in others] + [tenant.owner.staff_id, me.staff_id]
    seen = [await node(api, me, t) for t in targets]
    assert tuple(s["viewerCanDelete"] for s in seen) == DELETE_FLAGS[key]
    assert (seen[0]["viewerCanEdit"], seen[-1]["viewerCanEdit"]) == EDIT_FLAGS[key]
    assert all(s["viewerCanSeeDetails"] for s in seen)  # nothing here is restricted


async def test_other_accounts_records_are_not_found(api, services):
    """An id from another account is "not found" (null / NOT_FOUND), never FORBIDDEN."""
    tenant = await make_tenant(services)
    elsewhere = await make_tenant(services)
    stranger = await make_staff(services, elsewhere, title="Elsewhere")
    stranger_id = gid("Staff", stranger.id)
    assert (await api.data(NODE, {"id": stranger_id}, as_=tenant.owner))["node"] is None
    body = await api.data(UPDATE, {"input": {"id": stranger_id, "title": "Mine"}}, as_=tenant.owner)
    assert [e["code"] for e in body["staffUpdate"]["userErrors"]] == ["NOT_FOUND"]
    assert (await node(api, elsewhere.owner, stranger_id))["title"] == "Elsewhere"
