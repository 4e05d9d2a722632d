"""An id from another account is "not found", exactly like a missing or malformed id.

Each row of OPERATIONS is one place where a client passes an id. Owner A sends it with an
id that belongs to account B, with a well-formed id that exists nowhere, and with garbage;
the three answers must be identical JSON, and account B must be untouched afterwards.
"""

# ruff: noqa: E501 (the OPERATIONS table reads better one row a line)
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from app.access import Role
from tests.factories import Member, gid, make_member, make_tenant

MISSING_PK = 2_000_000_000  # well-formed, fits an INTEGER column, never a row in a test


@dataclass
class World:
    a_owner: Member
    a_staff: str  # a restricted staff record of A (for the second id of two-id operations)
    a_field: str  # a custom field of A
    b_owner: Member
    b_token: str  # an API token of B's owner, bound to B
    b_ids: dict[str, str]  # what of B's an attacker might name, by role


async def _b_data(api, member: Member, query: str, variables: dict) -> dict:
    data = await api.data(query, variables, as_=member)
    payload = next(iter(data.values()))
    if isinstance(payload, dict) and "userErrors" in payload:
        assert payload["userErrors"] == [], payload
    return payload


async def build_world(api, services) -> World:
    a = await make_tenant(services, "Alpha")
    b = await make_tenant(services, "Beta")
    a_secret = await make_member(services, a, Role.VIEWER, restricted=True)
    b_manager = await make_member(services, b, Role.EDITOR)
    b_report = await make_member(services, b, Role.VIEWER, manager_id=b_manager.staff_pk)
    b_secret = await make_member(services, b, Role.VIEWER, restricted=True)

    field_create = """mutation($name: String!) {
      customFieldCreate(input: {name: $name, type: TEXT}) { customField { id } userErrors { code } }
    }"""
    a_field = (await _b_data(api, a.owner, field_create, {"name": "Badge"}))["customField"]["id"]
    b_field = (await _b_data(api, b.owner, field_create, {"name": "Locker"}))["customField"]["id"]
    status = await _b_data(
        api,
        b.owner,
        """mutation { staffStatusCreate(input: {name: "On leave"}) {
             status { id } userErrors { code } } }""",
        {},
    )
    b_status = status["status"]["id"]
    await _b_data(
        api,
        b.owner,
        """mutation($id: ID!, $status: ID!) {
          staffUpdate(input: {id: $id, statusId: $status, title: "Engineer"}) {
            staff { id } userErrors { code } } }""",
        {"id": b_report.staff_id, "status": b_status},
    )
    await _b_data(
        api,
        b.owner,
        """mutation($id: ID!, $field: ID!) {
          staffCustomFieldsSet(input: {staffId: $id, values: [{fieldId: $field, value: "L-7"}]}) {
            staff { id } userErrors { code } } }""",
        {"id": b_report.staff_id, "field": b_field},
    )
    await _b_data(
        api,
        b.owner,
        """mutation($id: ID!, $with: ID!) {
          staffShare(input: {staffId: $id, sharedWithId: $with}) {
            staff { id } userErrors { code } } }""",
        {"id": b_secret.staff_id, "with": b_manager.staff_id},
    )
    await _b_data(
        api,
        b.owner,
        """mutation($id: ID!) {
          staffPermitGrant(input: {staffId: $id, permit: VIEW_PERSONAL_DATA}) {
            staff { id } userErrors { code } } }""",
        {"id": b_manager.staff_id},
    )
    created = await _b_data(
        api,
        b.owner,
        """mutation { apiTokenCreate(input: {name: "payroll"}) {
             token apiToken { id } userErrors { code } } }""",
        {},
    )
    return World(
        a_owner=a.owner,
        a_staff=a_secret.staff_id,
        a_field=a_field,
        b_owner=b.owner,
        b_token=created["token"],
        b_ids={
            "staff": b_report.staff_id,
            "manager": b_manager.staff_id,
            "secret": b_secret.staff_id,
            "field": b_field,
            "status": b_status,
            "token": created["apiToken"]["id"],
            "account": gid("Account", b.account_id),
            "user": gid("User", b.owner.user_id),
        },
    )


B_SNAPSHOT = """query($manager: ID) {
  staff(first: 100, filter: {includeDisabled: true, includeInactive: true}) {
    totalCount
    edges { node {
      id sid firstName lastName title restricted role accountStatus modifiedAt
      manager { id } status { id name archived }
      customFields { field { id } value }
      permits sharedWith { id }
    } }
  }
  reports: staff(filter: {managerId: $manager}) { totalCount }
  customFields(includeArchived: true) { id name options personal description archived }
  picklists { staffStatuses { id name archived } }
  viewer { apiTokens { id name revokedAt } }
  account { id name slug }
}"""


async def snapshot_b(api, world: World) -> dict:
    data = await api.data(B_SNAPSHOT, {"manager": world.b_ids["manager"]}, as_=world.b_owner)
    # B's API token still works (apiTokenRevoke by A must not have touched it).
    token_check = await api.data("{ viewer { role } }", token=world.b_token)
    return {"data": data, "token": token_check}


@dataclass(frozen=True)
class Op:
    """One place an id is passed. ``$id`` is the id under test, ``$other`` a valid id of A."""

    name: str
    type_name: str  # the global id type expected at that position
    foreign: str  # which of B's ids is tried (key of World.b_ids)
    query: str
    other: Callable[[World], str] | None = None
    result: str | None = None  # the payload field that must come back null

    def variables(self, world: World, the_id: str) -> dict:
        return {"id": the_id} | ({"other": self.other(world)} if self.other else {})


PAYLOAD = "userErrors { field message code }"


def node(type_name: str, foreign: str) -> Op:
    query = "query($id: ID!) { node(id: $id) { __typename id } }"
    return Op(f"node[{type_name}]", type_name, foreign, query)


def mutation(label, type_name, foreign, field, result, input_, other=None) -> Op:
    args = "$id: ID!" + (", $other: ID!" if other else "")
    query = (
        f"mutation({args}) {{ {field}(input: {{"
        + input_
        + f"}}) {{ {result} {{ id }} {PAYLOAD} }} }}"
    )
    return Op(label, type_name, foreign, query, other, result)


def a_staff(w: World) -> str:
    return w.a_staff


def a_owner(w: World) -> str:
    return w.a_owner.staff_id


def a_field(w: World) -> str:
    return w.a_field


def b_manager(w: World) -> str:
    return w.b_ids["manager"]


NEW = 'firstName: "New", lastName: "Hire"'
PERMIT = "permit: VIEW_PERSONAL_DATA"

# fmt: off
OPERATIONS = [
    node("Staff", "staff"),
    node("CustomField", "field"),
    node("StaffStatus", "status"),
    node("Account", "account"),
    node("User", "user"),
    #        row                             id type        B's id     mutation                 payload field  input                                                 other id
    mutation("staffUpdate.id",               "Staff",       "staff",   "staffUpdate",          "staff",       'id: $id, title: "Hacked"'),
    mutation("staffUpdate.managerId",        "Staff",       "manager", "staffUpdate",          "staff",       "id: $other, managerId: $id",                          a_staff),
    mutation("staffUpdate.statusId",         "StaffStatus", "status",  "staffUpdate",          "staff",       "id: $other, statusId: $id",                           a_staff),
    mutation("staffCreate.managerId",        "Staff",       "manager", "staffCreate",          "staff",       f"{NEW}, managerId: $id"),
    mutation("staffCreate.statusId",         "StaffStatus", "status",  "staffCreate",          "staff",       f"{NEW}, statusId: $id"),
    mutation("staffShare.staffId",           "Staff",       "secret",  "staffShare",           "staff",       "staffId: $id, sharedWithId: $other",                  a_owner),
    mutation("staffShare.sharedWithId",      "Staff",       "manager", "staffShare",           "staff",       "staffId: $other, sharedWithId: $id",                  a_staff),
    mutation("staffUnshare.staffId",         "Staff",       "secret",  "staffUnshare",         "staff",       "staffId: $id, sharedWithId: $other",                  a_owner),
    mutation("staffUnshare.sharedWithId",    "Staff",       "manager", "staffUnshare",         "staff",       "staffId: $other, sharedWithId: $id",                  a_staff),
    mutation("staffUnshare.bothFromB",       "Staff",       "secret",  "staffUnshare",         "staff",       "staffId: $id, sharedWithId: $other",                  b_manager),
    mutation("staffPermitGrant.staffId",     "Staff",       "staff",   "staffPermitGrant",     "staff",       f"staffId: $id, {PERMIT}"),
    mutation("staffPermitRevoke.staffId",    "Staff",       "manager", "staffPermitRevoke",    "staff",       f"staffId: $id, {PERMIT}"),
    mutation("staffCustomFieldsSet.staffId", "Staff",       "staff",   "staffCustomFieldsSet", "staff",       'staffId: $id, values: [{fieldId: $other, value: "x"}]', a_field),
    mutation("staffCustomFieldsSet.fieldId", "CustomField", "field",   "staffCustomFieldsSet", "staff",       'staffId: $other, values: [{fieldId: $id, value: "x"}]', a_staff),
    mutation("staffStatusUpdate.id",         "StaffStatus", "status",  "staffStatusUpdate",    "status",      'id: $id, name: "Gone", archived: true'),
    mutation("customFieldUpdate.id",         "CustomField", "field",   "customFieldUpdate",    "customField", 'id: $id, name: "Owned", personal: true'),
    mutation("customFieldArchive.id",        "CustomField", "field",   "customFieldArchive",   "customField", "id: $id"),
    mutation("apiTokenRevoke.id",            "ApiToken",    "token",   "apiTokenRevoke",       "apiToken",    "id: $id"),
    Op("staff(filter.managerId)", "Staff", "manager",
       """query($id: ID!) { staff(filter: {managerId: $id}) {
            totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }"""),
]
# fmt: on
OPS = {op.name: op for op in OPERATIONS}


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.name for op in OPERATIONS])
async def test_foreign_id_answers_like_a_missing_id(api, services, op: Op):
    world = await build_world(api, services)
    before = await snapshot_b(api, world)
    foreign_id = world.b_ids[op.foreign]
    variants = {
        "foreign": foreign_id,
        "missing": gid(op.type_name, MISSING_PK),
        "malformed": "not-a-global-id",
        "huge": gid(op.type_name, 10**17),  # well-formed, beyond any INTEGER column
    }
    bodies = {}
    for label, the_id in variants.items():
        response = await api.raw(
            op.query,
            op.variables(world, the_id),
            token=world.a_owner.token,
            realm=world.a_owner.realm,
        )
        assert response.status_code == 200, (label, response.text)
        bodies[label] = response.json()

    foreign = bodies["foreign"]
    assert "errors" not in foreign, foreign
    for label in ("missing", "malformed", "huge"):
        assert foreign == bodies[label], label

    result = foreign["data"][next(iter(foreign["data"]))]
    if op.name.startswith("node"):
        assert result is None
    elif op.result is None:
        assert result == {
            "totalCount": 0,
            "edges": [],
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        }
    else:
        assert result[op.result] is None
        assert [e["code"] for e in result["userErrors"]] == ["NOT_FOUND"]
        assert result["userErrors"][0]["message"].endswith("not found.")

    assert await snapshot_b(api, world) == before


async def test_b_ids_really_work_for_b(api, services):
    """The foreign ids above are live: B's owner can use every one of them."""
    world = await build_world(api, services)
    for key in ("staff", "manager", "secret", "field", "status", "account", "user"):
        data = await api.data(
            "query($id: ID!) { node(id: $id) { id } }", {"id": world.b_ids[key]}, as_=world.b_owner
        )
        assert data["node"] == {"id": world.b_ids[key]}, key
    reports = await api.data(
        "query($m: ID!) { staff(filter: {managerId: $m}) { totalCount } }",
        {"m": world.b_ids["manager"]},
        as_=world.b_owner,
    )
    assert reports["staff"]["totalCount"] == 1
    revoked = await api.data(
        OPS["apiTokenRevoke.id"].query,
        {"id": world.b_ids["token"]},
        as_=world.b_owner,
    )
    assert revoked["apiTokenRevoke"]["userErrors"] == []
    assert revoked["apiTokenRevoke"]["apiToken"] == {"id": world.b_ids["token"]}


async def test_a_cannot_attach_its_staff_to_b_records(api, services):
    """A failed cross-account write leaves A's own record as it was, too."""
    world = await build_world(api, services)
    query = f"""mutation($id: ID!, $manager: ID!, $status: ID!) {{
      staffUpdate(input: {{id: $id, managerId: $manager, statusId: $status, title: "Lead"}}) {{
        staff {{ id }} {PAYLOAD} }} }}"""
    data = await api.data(
        query,
        {"id": world.a_staff, "manager": world.b_ids["manager"], "status": world.b_ids["status"]},
        as_=world.a_owner,
    )
    errors = data["staffUpdate"]["userErrors"]
    assert sorted(e["field"][-1] for e in errors) == ["managerId", "statusId"]
    assert {e["code"] for e in errors} == {"NOT_FOUND"}
    node = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Staff { title manager { id } status { id } } } }",
        {"id": world.a_staff},
        as_=world.a_owner,
    )
    assert node["node"] == {"title": None, "manager": None, "status": None}
