"""What an API key may not read, it may not hand out either, by any door: registering a
member with a login (``staffRegister``), granting a permit (``staffPermitGrant``), or
turning a personal custom field into an ordinary one (``customFieldUpdate``). A key
narrowed to ``admin`` and ``staff:read`` could otherwise mint an administrator's login for
its holder's mailbox, grant ViewPersonalData to a member it controls, or make a field's
personal values readable by everyone, itself included. Sessions of administrators keep
doing all three."""

from __future__ import annotations

import pytest

from app.access import Role
from app.access.scopes import Scope
from tests.access.test_handing_out_roles import EVERY_API_SCOPE, WITHOUT_PERSONAL_DATA
from tests.factories import (
    error_codes,
    gid,
    make_api_token,
    make_custom_field,
    make_member,
    make_tenant,
    set_custom_value,
    take_mail,
)
from tests.scim.helpers import scim_for

REGISTER = """mutation($input: StaffRegisterInput!) {
  staffRegister(input: $input) { staff { email role hasLogin } userErrors { field code message } }
}"""
GRANT = """mutation($id: ID!) {
  staffPermitGrant(input: {staffId: $id, permit: VIEW_PERSONAL_DATA}) {
    staff { sid } userErrors { field code message } } }"""
REVOKE = """mutation($id: ID!) {
  staffPermitRevoke(input: {staffId: $id, permit: VIEW_PERSONAL_DATA}) {
    staff { sid } userErrors { field code message } } }"""
FIELD_UPDATE = """mutation($input: CustomFieldUpdateInput!) {
  customFieldUpdate(input: $input) {
    customField { name options personal } userErrors { field code message } } }"""
PEOPLE = "{ staff(first: 50) { nodes { email role hasLogin } } }"
DEFINITIONS = "{ customFields { name options personal } }"
EMAILS = "{ staff(first: 50) { nodes { id email } } }"

# admin and the directory, no personal_data: what an integration key often holds
NARROW = [Scope.ADMIN, Scope.STAFF_READ, Scope.STAFF_WRITE]
# what registering takes (an email is personal data), without reading the directory
REGISTERS = [Scope.ADMIN, Scope.STAFF_WRITE, Scope.PERSONAL_DATA]


async def key_of(services, tenant, scopes) -> dict:
    key = await make_api_token(services, tenant, tenant.owner, scopes=scopes)
    return {"token": key, "realm": tenant.slug}


def payload_of(body: dict, name: str) -> dict:
    assert body.get("errors") is None, body
    return body["data"][name]


# --- staffRegister ---


@pytest.mark.parametrize(
    ("scopes", "role", "registered"),
    [
        (None, "ADMINISTRATOR", True),  # the owner's own session
        (EVERY_API_SCOPE, "ADMINISTRATOR", False),  # no key holds IMPERSONATE
        (WITHOUT_PERSONAL_DATA, "ADMINISTRATOR", False),
        (EVERY_API_SCOPE, "EDITOR", True),
        (REGISTERS, "VIEWER", False),  # it does not see the directory
        ([*REGISTERS, Scope.STAFF_READ], "VIEWER", True),
    ],
)
async def test_registering_hands_out_no_role_beyond_the_key(
    api, services, scopes, role, registered
):
    tenant = await make_tenant(services)
    caller = {"as_": tenant.owner} if scopes is None else await key_of(services, tenant, scopes)
    variables = {
        "input": {"firstName": "Ima", "lastName": "Keyholder", "email": "me@evil.test", "role": role}
    }
    payload = payload_of(await api(REGISTER, variables, **caller), "staffRegister")
    people = (await api.data(PEOPLE, as_=tenant.owner))["staff"]["nodes"]
    mail = await take_mail(services)
    if registered:
        assert payload["userErrors"] == [], payload
        assert {"email": "me@evil.test", "role": role, "hasLogin": True} in people
        assert [m["To"] for m in mail] == ["me@evil.test"]
        return
    [error] = payload["userErrors"]
    assert (error["code"], error["field"][-1]) == ("FORBIDDEN", "role"), error
    assert "more than this API key's scopes allow" in error["message"]
    # nothing was made, and no set-password link went anywhere
    assert "me@evil.test" not in [p["email"] for p in people]
    assert mail == []


# --- staffPermitGrant ---


async def test_a_key_without_personal_data_grants_it_to_nobody(api, services):
    tenant = await make_tenant(services)
    accomplice = await make_member(services, tenant, Role.VIEWER)
    narrow = await key_of(services, tenant, NARROW)
    payload = payload_of(await api(GRANT, {"id": accomplice.staff_id}, **narrow), "staffPermitGrant")
    [error] = payload["userErrors"]
    assert (error["code"], error["field"][-1]) == ("FORBIDDEN", "permit"), error
    # the viewer still sees nobody's email
    seen = (await api.data(EMAILS, as_=accomplice))["staff"]["nodes"]
    assert {n["email"] for n in seen if n["id"] != accomplice.staff_id} == {None}

    # a key that holds it grants it, and its holder sees the emails
    wide = await key_of(services, tenant, [*NARROW, Scope.PERSONAL_DATA])
    payload = payload_of(await api(GRANT, {"id": accomplice.staff_id}, **wide), "staffPermitGrant")
    assert payload["userErrors"] == []
    seen = (await api.data(EMAILS, as_=accomplice))["staff"]["nodes"]
    assert None not in {n["email"] for n in seen}

    # taking a permit away hands nothing out: the narrow key may
    payload = payload_of(await api(REVOKE, {"id": accomplice.staff_id}, **narrow), "staffPermitRevoke")
    assert payload["userErrors"] == []
    seen = (await api.data(EMAILS, as_=accomplice))["staff"]["nodes"]
    assert {n["email"] for n in seen if n["id"] != accomplice.staff_id} == {None}


# --- customFieldUpdate ---


@pytest.mark.parametrize(
    "change",
    [
        {"personal": False},
        {"options": ["Diabetic"]},  # removes an option in use: its error would name values
        {"options": ["Diabetic", "asthmatic", "Pregnant"]},  # respells one: rewrites values
    ],
    ids=["flag", "remove-option", "respell-option"],
)
async def test_a_key_without_personal_data_leaves_a_personal_fields_values_alone(
    api, services, change
):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    field = await make_custom_field(
        services, tenant, "Medical", type="CHOICE", personal=True, options=["Diabetic", "Asthmatic"]
    )
    await set_custom_value(services, tenant, viewer.staff_pk, field.id, "Asthmatic")
    before = (await api.data(DEFINITIONS, as_=tenant.owner))["customFields"]
    narrow = await key_of(services, tenant, NARROW)
    body = await api(FIELD_UPDATE, {"input": {"id": gid("CustomField", field.id), **change}}, **narrow)
    [error] = payload_of(body, "customFieldUpdate")["userErrors"]
    assert error["code"] == "FORBIDDEN", error
    assert "Asthmatic" not in error["message"]
    assert (await api.data(DEFINITIONS, as_=tenant.owner))["customFields"] == before
    values = await api.data(
        '{ customFieldValues(names: ["Medical"]) { value } }', **narrow
    )
    assert values["customFieldValues"] == []

    # with personal_data, the same change is made
    wide = await key_of(services, tenant, [*NARROW, Scope.PERSONAL_DATA])
    body = await api(FIELD_UPDATE, {"input": {"id": gid("CustomField", field.id), **change}}, **wide)
    payload = payload_of(body, "customFieldUpdate")
    if change.get("options") == ["Diabetic"]:  # still refused, for its own reason
        assert [e["code"] for e in payload["userErrors"]] != ["FORBIDDEN"], payload
        assert "Asthmatic" in payload["userErrors"][0]["message"]
    else:
        assert payload["userErrors"] == [], payload


async def test_a_key_without_personal_data_renames_a_personal_field_and_flags_an_ordinary_one(
    api, services
):
    """What shows no personal value stays open to it: a name, and ordinary fields."""
    tenant = await make_tenant(services)
    personal = await make_custom_field(services, tenant, "Medical", personal=True)
    ordinary = await make_custom_field(services, tenant, "Shirt", options=[])
    narrow = await key_of(services, tenant, NARROW)
    renamed = await api(
        FIELD_UPDATE, {"input": {"id": gid("CustomField", personal.id), "name": "Health"}}, **narrow
    )
    assert payload_of(renamed, "customFieldUpdate")["userErrors"] == []
    kept = await api(
        FIELD_UPDATE,
        {"input": {"id": gid("CustomField", personal.id), "personal": True}},
        **narrow,
    )
    assert payload_of(kept, "customFieldUpdate")["userErrors"] == []  # no change at all
    made_personal = await api(
        FIELD_UPDATE, {"input": {"id": gid("CustomField", ordinary.id), "personal": True}}, **narrow
    )
    [error] = payload_of(made_personal, "customFieldUpdate")["userErrors"]
    assert error["code"] == "FORBIDDEN"
    assert error_codes(made_personal) == []
    definitions = (await api.data(DEFINITIONS, as_=tenant.owner))["customFields"]
    assert {d["name"]: d["personal"] for d in definitions} == {"Health": True, "Shirt": False}


# --- accountUpdate(everyoneCanInvite) ---

EVERYONE_INVITES = """mutation($on: Boolean!) {
  accountUpdate(input: {everyoneCanInvite: $on}) {
    account { settings { everyoneCanInvite } } userErrors { field code message } } }"""
SETTING = "{ account { settings { everyoneCanInvite } } }"


@pytest.mark.parametrize("setting", ["everyoneCanInvite", "scimInvites"])
async def test_a_key_that_may_not_invite_lets_nobody_invite(api, services, setting):
    """everyoneCanInvite hands inviting to every viewer and editor, scimInvites to every
    SCIM key's new people: a key without ``invitations:write`` may turn them off, not on."""
    change = EVERYONE_INVITES.replace("everyoneCanInvite", setting)
    read = SETTING.replace("everyoneCanInvite", setting)
    tenant = await make_tenant(services)
    narrow = await key_of(services, tenant, NARROW)
    body = await api(change, {"on": True}, **narrow)
    [error] = payload_of(body, "accountUpdate")["userErrors"]
    assert (error["code"], error["field"][-1]) == ("FORBIDDEN", setting), error
    assert (await api.data(read, as_=tenant.owner))["account"]["settings"][setting] is False

    inviting = await key_of(services, tenant, [*NARROW, Scope.INVITATIONS_WRITE])
    body = await api(change, {"on": True}, **inviting)
    assert payload_of(body, "accountUpdate")["userErrors"] == []
    assert (await api.data(read, as_=tenant.owner))["account"]["settings"][setting] is True
    body = await api(change, {"on": False}, **narrow)
    assert payload_of(body, "accountUpdate")["userErrors"] == []
    assert (await api.data(read, as_=tenant.owner))["account"]["settings"][setting] is False


# --- staffEnable, and SCIM's active: true ---

DISABLE = """mutation($id: ID!) {
  staffDisable(input: {staffId: $id}) { staff { accountStatus } userErrors { code } } }"""
ENABLE = """mutation($id: ID!) {
  staffEnable(input: {staffId: $id}) { staff { accountStatus } userErrors { field code message } } }"""
STATUS = "query($id: ID!) { node(id: $id) { ... on Staff { accountStatus } } }"


async def _disabled(api, tenant, member) -> None:
    body = await api(DISABLE, {"id": member.staff_id}, as_=tenant.owner)
    assert payload_of(body, "staffDisable")["userErrors"] == []


async def _status(api, tenant, member) -> str:
    return (await api.data(STATUS, {"id": member.staff_id}, as_=tenant.owner))["node"][
        "accountStatus"
    ]


@pytest.mark.parametrize(
    ("scopes", "role", "grant", "enabled"),
    [
        (None, Role.ADMINISTRATOR, False, True),  # the owner's own session
        (EVERY_API_SCOPE, Role.ADMINISTRATOR, False, False),  # no key holds IMPERSONATE
        (EVERY_API_SCOPE, Role.EDITOR, False, True),
        (WITHOUT_PERSONAL_DATA, Role.EDITOR, True, False),  # the editor's grant
        (EVERY_API_SCOPE, Role.EDITOR, True, True),
    ],
    ids=["owner-admin", "key-admin", "key-editor", "narrow-key-granted-editor", "key-granted-editor"],
)
async def test_enabling_gives_back_no_role_or_grant_beyond_the_key(
    api, services, scopes, role, grant, enabled
):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, role)
    if grant:
        body = await api(GRANT, {"id": member.staff_id}, as_=tenant.owner)
        assert payload_of(body, "staffPermitGrant")["userErrors"] == []
    await _disabled(api, tenant, member)
    caller = {"as_": tenant.owner} if scopes is None else await key_of(services, tenant, scopes)
    payload = payload_of(await api(ENABLE, {"id": member.staff_id}, **caller), "staffEnable")
    if enabled:
        assert payload["userErrors"] == []
        assert await _status(api, tenant, member) == "ACTIVE"
    else:
        assert [(e["code"], e["field"][-1]) for e in payload["userErrors"]] == [
            ("FORBIDDEN", "staffId")
        ]
        assert payload["staff"] is None
        assert await _status(api, tenant, member) == "DISABLED"


async def test_a_scim_key_does_not_bring_back_a_disabled_administrator(api, services, client):
    """The owner disables an administrator who is still assigned in the identity
    provider: its next sync sends active: true, with a key that holds no IMPERSONATE."""
    s = await scim_for(services, client)
    admin = await make_member(services, s.tenant, Role.ADMINISTRATOR)
    await _disabled(api, s.tenant, admin)
    found = (await s.get("/Users", filter=f'userName eq "{admin.email}"')).json()
    [user] = found["Resources"]
    response = await s.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": True})
    assert response.status_code == 403, response.text
    assert await _status(api, s.tenant, admin) == "DISABLED"
    # a viewer comes back: the key holds all a viewer may do
    viewer = await make_member(services, s.tenant, Role.VIEWER)
    await _disabled(api, s.tenant, viewer)
    [user] = (await s.get("/Users", filter=f'userName eq "{viewer.email}"')).json()["Resources"]
    response = await s.patch(f"/Users/{user['id']}", {"op": "replace", "path": "active", "value": True})
    assert response.status_code == 200, response.text
    assert await _status(api, s.tenant, viewer) == "ACTIVE"
