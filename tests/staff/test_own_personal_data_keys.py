"""One's own record's personal data under an API key (``app.staff.access.can_see_personal``).

Everyone sees their own personal data in a signed-in session; a key sees it only with a
scope carrying the ViewPersonalData permit (``personal_data``, or ``scim``): without one,
its creator's own record's emails, phones, address, SSN, salary and personal custom
fields are hidden on every surface (GraphQL by both executors, REST, the CSV export),
as they are for everyone else's records (README: "even for an administrator's key").
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.access import Role
from app.access.scopes import Scope
from app.graphql.ids import encode_id
from app.staff.models import Staff
from tests.factories import (
    Member,
    Tenant,
    get_row,
    make_api_token,
    make_custom_field,
    make_member,
    make_tenant,
    set_custom_value,
    set_staff_columns,
    set_staff_secrets,
)
from tests.graphql.test_hot import _answered, cold_client, cold_services
from tests.scim.helpers import SCIM

__all__ = ["cold_client", "cold_services"]  # fixtures, used by name

PHONE, STREET, SSN, SALARY = "+1 555 0100", "1 Main Street", "123-45-6000", 60000.0
EMERGENCY = "Call Guido at +1 555 0199"
SECRETS = (PHONE, STREET, SSN, "60000", EMERGENCY)

# what the compiled plans answer (ssn and salary are graphql-core's: tests/graphql/test_hot)
COVERED = """query($sid: Int!) { staffBySid(sid: $sid) {
  email phoneCell address { street } viewerCanSeePersonalData
  customFields { field { name } value } } }"""
WHOLE = """query($sid: Int!) { staffBySid(sid: $sid) {
  email phoneCell address { street } ssn salary viewerCanSeePersonalData
  customFields { field { name } value } } }"""

NO_SCOPE = {
    "write": [Scope.STAFF_WRITE],
    "read+write+admin+invite": [
        Scope.STAFF_READ, Scope.STAFF_WRITE, Scope.ADMIN, Scope.INVITATIONS_WRITE,
    ],
}
WITH_SCOPE = {
    "read+write+admin+personal_data": [
        Scope.STAFF_READ, Scope.STAFF_WRITE, Scope.ADMIN, Scope.PERSONAL_DATA,
    ],
    "personal_data": [Scope.PERSONAL_DATA],
}


@dataclass
class Own:
    tenant: Tenant
    admin: Member
    sid: int


async def _own(services) -> Own:
    """An administrator whose own record holds every kind of personal data."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    await set_staff_columns(services, admin.staff_pk, phone_cell=PHONE, address_street=STREET)
    await set_staff_secrets(services, admin.staff_pk, ssn=SSN, salary=SALARY)
    emergency = await make_custom_field(services, tenant, "Emergency contact", personal=True)
    shirt = await make_custom_field(services, tenant, "T-shirt size")
    await set_custom_value(services, tenant, admin.staff_pk, emergency.id, EMERGENCY)
    await set_custom_value(services, tenant, admin.staff_pk, shirt.id, "L")
    row = await get_row(services, Staff, admin.staff_pk)
    return Own(tenant, admin, row.sid)


def _headers(token: str, own: Own) -> dict:
    return {"Authorization": f"Bearer {token}", "X-Auth-Realm": own.admin.realm}


async def _graphql(client, query: str, own: Own, h: dict) -> dict:
    response = await client.post(
        "/graphql", json={"query": query, "variables": {"sid": own.sid}}, headers=h
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]["staffBySid"]


async def _surfaces(app, client, cold_client, own: Own, h: dict) -> dict[str, str]:
    """What each surface answers about the creator's own record, as text."""
    answers = {}
    before = _answered(app)
    answers["graphql compiled"] = await _graphql(client, COVERED, own, h)
    assert _answered(app) == before + 1  # the compiled plan answered it
    answers["graphql-core"] = await _graphql(cold_client, COVERED, own, h)
    assert answers["graphql compiled"] == answers["graphql-core"]
    answers["graphql ssn salary"] = await _graphql(client, WHOLE, own, h)
    detail = await client.get(f"/api/v2/staff/detail/{own.sid}?View=Detailed", headers=h)
    assert detail.status_code == 200, detail.text
    answers["rest detail"] = detail.json()
    udfs = await client.get(f"/api/v2/staff/UDFList/{own.sid}", headers=h)
    assert udfs.status_code == 200, udfs.text
    answers["rest UDFList"] = udfs.json()
    by_name = await client.post(
        "/api/v2/staff/UDFListByName", json=["Emergency contact", "T-shirt size"], headers=h
    )
    assert by_name.status_code == 200, by_name.text
    answers["rest UDFListByName"] = by_name.json()
    return {surface: str(answer) for surface, answer in answers.items()}


def _shown(text: str) -> set[str]:
    return {secret for secret in SECRETS if secret in text}


@pytest.mark.parametrize("scopes", NO_SCOPE.values(), ids=NO_SCOPE.keys())
async def test_a_key_without_personal_data_sees_none_of_its_creators_own(
    app, services, client, cold_client, scopes
):
    own = await _own(services)
    h = _headers(await make_api_token(services, own.tenant, own.admin, scopes=scopes), own)
    answers = await _surfaces(app, client, cold_client, own, h)
    assert {surface: _shown(text) for surface, text in answers.items()} == {
        surface: set() for surface in answers
    }
    assert own.admin.email not in str(answers)
    record = await _graphql(client, WHOLE, own, h)
    assert record["viewerCanSeePersonalData"] is False
    assert record["email"] is record["phoneCell"] is record["ssn"] is record["salary"] is None
    assert "T-shirt size" in answers["rest UDFListByName"]  # the record is read, not refused


@pytest.mark.parametrize("who", ["session", *WITH_SCOPE], ids=["session", *WITH_SCOPE])
async def test_a_session_and_a_key_with_personal_data_see_their_own(
    app, services, client, cold_client, who
):
    own = await _own(services)
    token = own.admin.token if who == "session" else await make_api_token(
        services, own.tenant, own.admin, scopes=WITH_SCOPE[who]
    )
    h = _headers(token, own)
    answers = await _surfaces(app, client, cold_client, own, h)
    graphql = {PHONE, STREET, EMERGENCY}
    assert {surface: _shown(text) for surface, text in answers.items()} == {
        "graphql compiled": graphql,
        "graphql-core": graphql,
        "graphql ssn salary": set(SECRETS),
        "rest detail": set(SECRETS),
        "rest UDFList": {EMERGENCY},
        "rest UDFListByName": {EMERGENCY},
    }
    assert (await _graphql(client, WHOLE, own, h))["email"] == own.admin.email


@pytest.mark.parametrize(
    "scopes, personal",
    [
        ([Scope.ADMIN, Scope.STAFF_READ], False),
        ([Scope.ADMIN, Scope.STAFF_READ, Scope.STAFF_WRITE], False),
        ([Scope.ADMIN, Scope.STAFF_READ, Scope.PERSONAL_DATA], True),
    ],
    ids=["admin+read", "admin+read+write", "admin+read+personal_data"],
)
async def test_the_export_agrees(services, client, scopes, personal):
    """The CSV export leaves the creator's own row's personal columns out as every
    other row's: the same answer GraphQL and REST give."""
    own = await _own(services)
    key = await make_api_token(services, own.tenant, own.admin, scopes=scopes)
    response = await client.get("/export/staff.csv", headers=_headers(key, own))
    assert response.status_code == 200, response.text
    shown = _shown(response.text) | ({own.admin.email} if own.admin.email in response.text else set())
    assert shown == ({*SECRETS, own.admin.email} if personal else set())


async def test_scim_needs_a_key_whose_scope_carries_the_permit(services, client):
    """SCIM answers only keys with the scim scope, which carries ViewPersonalData (the
    emails provisioning needs): a key without it is refused, personal data and all."""
    own = await _own(services)
    path = f"{SCIM}/Users/{own.sid}"
    for scopes in NO_SCOPE.values():
        key = await make_api_token(services, own.tenant, own.admin, scopes=scopes)
        response = await client.get(path, headers=_headers(key, own))
        assert response.status_code in (401, 403), response.text
        assert not _shown(response.text) and own.admin.email not in response.text
    key = await make_api_token(services, own.tenant, own.admin, scopes=[Scope.SCIM])
    response = await client.get(path, headers=_headers(key, own))
    assert response.status_code == 200, response.text
    assert own.admin.email in response.text and PHONE in response.text


WRITE_OWN = """mutation($id: ID!, $phone: String) { staffUpdate(input: {id: $id, phoneCell: $phone}) {
  userErrors { field code } } }"""
WRITE_OWN_CUSTOM = """mutation($id: ID!, $field: ID!) { staffCustomFieldsSet(input: {staffId: $id,
  values: [{fieldId: $field, value: "changed"}]}) { userErrors { field code } } }"""


async def _mutate(client, query: str, variables: dict, h: dict) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=h)
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    return body["data"]


def _codes(payload: dict) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


@pytest.mark.parametrize("scopes", list(NO_SCOPE.values()), ids=list(NO_SCOPE))
async def test_a_key_without_personal_data_writes_none_of_its_creators_own(
    services, client, scopes
):
    """What a key may not read it may not write either: its creator's own phone and
    personal custom fields are refused (FORBIDDEN), and nothing changes; the creator's
    session still writes them."""
    own = await _own(services)
    emergency = await make_custom_field(services, own.tenant, "Next of kin", personal=True)
    field = encode_id("CustomField", emergency.id)
    me = own.admin.staff_id
    for h, refused in (
        (_headers(await make_api_token(services, own.tenant, own.admin, scopes=scopes), own), True),
        (_headers(own.admin.token, own), False),
    ):
        phone = await _mutate(client, WRITE_OWN, {"id": me, "phone": "+1 555 0000"}, h)
        custom = await _mutate(client, WRITE_OWN_CUSTOM, {"id": me, "field": field}, h)
        expected = ["FORBIDDEN"] if refused else []
        assert _codes(phone["staffUpdate"]) == expected
        # a key that does not read the directory knows no field not set on the record: the
        # personal one is not found, as a missing one is (``custom_fields.set_values``)
        unknown = refused and Scope.STAFF_READ not in scopes
        assert _codes(custom["staffCustomFieldsSet"]) == (["NOT_FOUND"] if unknown else expected)
        if refused:
            assert (await get_row(services, Staff, own.admin.staff_pk)).phone_cell == PHONE
