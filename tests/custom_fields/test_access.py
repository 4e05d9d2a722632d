"""Custom fields by role: managing definitions, writing values, and customFieldValues.

Rows are the ROLE_KEYS ("+PD" = holding the VIEW_PERSONAL_DATA grant from staffPermitGrant).
OK = done; DENIED = top-level FORBIDDEN; REFUSED = a FORBIDDEN userError, nothing written.
"""

from __future__ import annotations

import pytest

from app.access import Role
from tests.factories import (
    DENIED,
    OK,
    REFUSED,
    ROLE_KEYS,
    gid,
    make_custom_field,
    make_member,
    make_staff,
    make_tenant,
    member_as,
    outcome,
    role_matrix,
    set_custom_value,
    share_staff_with,
)

ADMINS_ONLY = (DENIED, DENIED, DENIED, DENIED, OK, OK)

DEFINITIONS = "{ customFields(includeArchived: true) { id name options personal archived } }"
FIELD_PAYLOAD = "customField { name } userErrors { field code }"
FIELD_MUTATIONS = {
    "customFieldCreate": """mutation {
      customFieldCreate(input: {name: "Shoe size", type: NUMBER}) { %s } }""",
    "customFieldUpdate": """mutation($id: ID!) {
      customFieldUpdate(input: {id: $id, name: "Team", options: ["Red", "Blue", "Green"]}) {
        %s } }""",
    "customFieldArchive": """mutation($id: ID!) {
      customFieldArchive(input: {id: $id}) { %s } }""",
}
FIELD_MATRIX = {
    #                      VIEWER  VIEWER+PD EDITOR  EDITOR+PD ADMIN OWNER
    "customFieldCreate": ADMINS_ONLY,
    "customFieldUpdate": ADMINS_ONLY,
    "customFieldArchive": ADMINS_ONLY,
    "customFieldUpdatePersonal": ADMINS_ONLY,
}


@pytest.mark.parametrize(("op", "key", "expected"), role_matrix(FIELD_MATRIX))
async def test_field_definition_matrix(api, services, op, key, expected):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    field = await make_custom_field(
        services, tenant, "Colour", type="CHOICE", options=["Red", "Blue"]
    )
    field_id = gid("CustomField", field.id)
    before = (await api.data(DEFINITIONS, as_=tenant.owner))["customFields"]
    if op == "customFieldUpdatePersonal":
        mutation = """mutation($id: ID!) {
          customFieldUpdate(input: {id: $id, personal: true}) { %s } }"""
        name = "customFieldUpdate"
    else:
        mutation, name = FIELD_MUTATIONS[op], op
    body = await api(mutation.replace("%s", FIELD_PAYLOAD), {"id": field_id}, as_=me)
    assert outcome(body, name) == expected
    after = (await api.data(DEFINITIONS, as_=tenant.owner))["customFields"]
    if expected != OK:
        assert after == before
        return
    colour = {"id": field_id, "name": "Colour", "options": ["Red", "Blue"]}
    colour |= {"personal": False, "archived": False}
    match op:
        case "customFieldCreate":
            assert [f["name"] for f in after] == ["Colour", "Shoe size"]
        case "customFieldUpdate":
            assert after == [colour | {"name": "Team", "options": ["Red", "Blue", "Green"]}]
        case "customFieldArchive":
            assert after == [colour | {"archived": True}]
            active = await api.data("{ customFields { name } }", as_=tenant.owner)
            assert active["customFields"] == []
        case "customFieldUpdatePersonal":
            assert after == [colour | {"personal": True}]


# --- staffCustomFieldsSet ----------------------------------------------------------------

SET_VALUES = """mutation($staff: ID!, $values: [CustomFieldValueInput!]!) {
  staffCustomFieldsSet(input: {staffId: $staff, values: $values}) {
    staff { id } userErrors { field code }
  }
}"""
VALUES_OF = """query($id: ID!) {
  node(id: $id) { ... on Staff { customFields { field { name } value } } }
}"""
# whose record, which field
SET_MATRIX = {
    #                          VIEWER   VIEWER+PD EDITOR   EDITOR+PD ADMIN OWNER
    "colleague-normal": (REFUSED, REFUSED, OK, OK, OK, OK),
    "colleague-personal": (REFUSED, REFUSED, REFUSED, OK, OK, OK),
    "restricted-normal": (REFUSED, REFUSED, REFUSED, REFUSED, OK, OK),
    "restricted-personal": (REFUSED, REFUSED, REFUSED, REFUSED, OK, OK),
    "own-normal": (REFUSED, REFUSED, OK, OK, OK, OK),
    "own-personal": (OK, OK, OK, OK, OK, OK),
}


async def values_of(api, owner, staff_id: str) -> dict[str, str]:
    data = await api.data(VALUES_OF, {"id": staff_id}, as_=owner)
    return {v["field"]["name"]: v["value"] for v in data["node"]["customFields"]}


@pytest.mark.parametrize(("case", "key", "expected"), role_matrix(SET_MATRIX))
async def test_set_values_matrix(api, services, case, key, expected):
    whose, kind = case.split("-")
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    badge = await make_custom_field(services, tenant, "Badge")
    allergies = await make_custom_field(services, tenant, "Allergies", personal=True)
    if whose == "own":
        target = me.staff_id
    else:
        row = await make_staff(services, tenant, restricted=whose == "restricted")
        target = gid("Staff", row.id)
    field = badge if kind == "normal" else allergies
    values = [{"fieldId": gid("CustomField", field.id), "value": "new"}]
    body = await api(SET_VALUES, {"staff": target, "values": values}, as_=me)
    assert outcome(body, "staffCustomFieldsSet") == expected
    written = await values_of(api, tenant.owner, target)
    assert written == ({field.name: "new"} if expected == OK else {})
    if expected == REFUSED:
        errors = body["data"]["staffCustomFieldsSet"]["userErrors"]
        # a record one may not edit (and is not one's own) is refused as a whole
        whole = whose == "restricted" or (whose == "colleague" and key.startswith("VIEWER"))
        where = ["input", "staffId"] if whole else ["input", "values", "0", "value"]
        assert [e["field"] for e in errors] == [where]


async def test_a_refused_personal_value_blocks_the_others(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    badge = await make_custom_field(services, tenant, "Badge")
    allergies = await make_custom_field(services, tenant, "Allergies", personal=True)
    row = await make_staff(services, tenant)
    await set_custom_value(services, tenant, row.id, badge.id, "old")
    values = [
        {"fieldId": gid("CustomField", badge.id), "value": "new"},
        {"fieldId": gid("CustomField", allergies.id), "value": "dust"},
    ]
    body = await api(SET_VALUES, {"staff": gid("Staff", row.id), "values": values}, as_=editor)
    errors = body["data"]["staffCustomFieldsSet"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        (["input", "values", "1", "value"], "FORBIDDEN")
    ]
    assert await values_of(api, tenant.owner, gid("Staff", row.id)) == {"Badge": "old"}


async def test_shared_restricted_record_takes_values_from_an_editor(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    badge = await make_custom_field(services, tenant, "Badge")
    row = await make_staff(services, tenant, restricted=True)
    await share_staff_with(services, tenant, row.id, editor.staff_pk)
    values = [{"fieldId": gid("CustomField", badge.id), "value": "B-9"}]
    body = await api(SET_VALUES, {"staff": gid("Staff", row.id), "values": values}, as_=editor)
    assert outcome(body, "staffCustomFieldsSet") == OK
    assert await values_of(api, tenant.owner, gid("Staff", row.id)) == {"Badge": "B-9"}


# --- customFieldValues(names:) -----------------------------------------------------------

VALUES_BY_NAME = """query($names: [String!]) {
  customFieldValues(names: $names) { staff { id viewerCanSeeDetails } field { name } value }
}"""
# Values an actor gets: B- = the normal field "Badge", P- = the personal field "Allergies";
# -U an unrestricted colleague, -R a restricted one, P-me the actor's own personal value.
EVERYTHING = {"B-U", "P-U", "B-R", "P-R", "P-me"}
VALUES_UNSHARED = {
    "VIEWER": {"B-U", "P-me"},
    "VIEWER+PD": {"B-U", "P-U", "P-me"},
    "EDITOR": {"B-U", "P-me"},
    "EDITOR+PD": {"B-U", "P-U", "P-me"},
    "ADMINISTRATOR": EVERYTHING,
    "OWNER": EVERYTHING,
}
VALUES_SHARED = {  # the restricted record shared with the actor
    "VIEWER": {"B-U", "B-R", "P-me"},
    "VIEWER+PD": EVERYTHING,
    "EDITOR": {"B-U", "B-R", "P-me"},
    "EDITOR+PD": EVERYTHING,
    "ADMINISTRATOR": EVERYTHING,
    "OWNER": EVERYTHING,
}


async def values_world(api, services, key, *, shared: bool):
    tenant = await make_tenant(services)
    me = await member_as(api, services, tenant, key)
    badge = await make_custom_field(services, tenant, "Badge")
    allergies = await make_custom_field(services, tenant, "Allergies", personal=True)
    open_row = await make_staff(services, tenant, last_name="Open")
    hidden = await make_staff(services, tenant, last_name="Hidden", restricted=True)
    for row, suffix in ((open_row, "U"), (hidden, "R")):
        await set_custom_value(services, tenant, row.id, badge.id, f"B-{suffix}")
        await set_custom_value(services, tenant, row.id, allergies.id, f"P-{suffix}")
    await set_custom_value(services, tenant, me.staff_pk, allergies.id, "P-me")
    if shared and key != "OWNER":
        await share_staff_with(services, tenant, hidden.id, me.staff_pk)
    return tenant, me


@pytest.mark.parametrize("shared", [False, True], ids=["unshared", "shared"])
@pytest.mark.parametrize("key", ROLE_KEYS)
async def test_custom_field_values_matrix(api, services, key, shared):
    tenant, me = await values_world(api, services, key, shared=shared)
    expected = (VALUES_SHARED if shared else VALUES_UNSHARED)[key]
    for names in (["Badge", "Allergies"], None):
        data = await api.data(VALUES_BY_NAME, {"names": names}, as_=me)
        got = data["customFieldValues"]
        assert {v["value"] for v in got} == expected, names
        assert len(got) == len(expected)
        assert all(v["staff"]["viewerCanSeeDetails"] for v in got)
        assert all(
            v["field"]["name"] == ("Badge" if v["value"][0] == "B" else "Allergies") for v in got
        )
    only_personal = await api.data(VALUES_BY_NAME, {"names": ["ALLERGIES"]}, as_=me)
    assert {v["value"] for v in only_personal["customFieldValues"]} == {
        v for v in expected if v.startswith("P-")
    }


async def test_custom_field_values_skip_archived_fields(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    badge = await make_custom_field(services, tenant, "Badge")
    row = await make_staff(services, tenant)
    await set_custom_value(services, tenant, row.id, badge.id, "B-1")
    assert len((await api.data(VALUES_BY_NAME, as_=viewer))["customFieldValues"]) == 1
    archive = FIELD_MUTATIONS["customFieldArchive"].replace("%s", FIELD_PAYLOAD)
    await api.data(archive, {"id": gid("CustomField", badge.id)}, as_=tenant.owner)
    assert (await api.data(VALUES_BY_NAME, as_=viewer))["customFieldValues"] == []


async def test_values_set_as_their_record_is_deleted_are_not_found(api, services, database_url):
    """A record deleted by a transaction that commits while the values wait for it: not
    found, never an unexpected error from a foreign key (PostgreSQL, where the two run at
    once; SQLite's writers take turns)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers are PostgreSQL's")
    from tests.factories import answered_across_a_delete

    tenant = await make_tenant(services)
    badge = await make_custom_field(services, tenant, "Badge")
    row = await make_staff(services, tenant)
    values = [{"fieldId": gid("CustomField", badge.id), "value": "new"}]
    body = await answered_across_a_delete(
        database_url,
        [("DELETE FROM staff WHERE id = $1", row.id)],
        lambda: api(SET_VALUES, {"staff": gid("Staff", row.id), "values": values},
                    as_=tenant.owner),
    )  # fmt: skip
    assert "errors" not in body, body
    assert [e["code"] for e in body["data"]["staffCustomFieldsSet"]["userErrors"]] == [
        "NOT_FOUND"
    ]
