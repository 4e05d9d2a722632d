"""Who may do what through the BigTime-compatible REST API: the same rules as GraphQL
(app.staff.access), each role against each endpoint; personal ('!') fields only with the
ViewPersonalData permit (or on one's own record); guests see themselves and the name card
of their project peers; another account's records are not found."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.access import Role
from tests.factories import (
    ROLE_KEYS,
    Member,
    Tenant,
    make_custom_field,
    make_member,
    make_staff,
    make_tenant,
    member_as,
    set_custom_value,
)

KEYS = (*ROLE_KEYS, "GUEST")
PROJECT = """mutation($ids: [ID!]) {
  projectCreate(input: {name: "Job", memberIds: $ids}) { userErrors { code } } }"""


@dataclass
class World:
    tenant: Tenant
    me: Member
    plain: object  # an unrestricted record with personal data and details
    restricted: object
    peer: object  # on the guest's project
    shirt: object  # a custom field
    hometown: object  # a personal custom field


async def _world(services, api, key: str) -> World:
    tenant = await make_tenant(services)
    plain = await make_staff(
        services, tenant, first_name="Pat", last_name="Plain", email="pat@x.io", rate1=100,
        title="Engineer",
    )
    restricted = await make_staff(
        services, tenant, first_name="Rita", last_name="Restricted", restricted=True, rate1=200
    )
    peer = await make_staff(
        services, tenant, first_name="Paul", last_name="Peer", title="Lead", email="p@x.io"
    )
    if key == "GUEST":
        me = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER", last_name="Guest")
        data = await api.data(
            PROJECT, {"ids": [me.staff_id, f"{_gid(peer.id)}"]}, as_=tenant.owner
        )
        assert data["projectCreate"]["userErrors"] == []
    else:
        me = await member_as(api, services, tenant, key)
    shirt = await make_custom_field(services, tenant, "Shirt size")
    hometown = await make_custom_field(services, tenant, "Home town", personal=True)
    await set_custom_value(services, tenant, plain.id, shirt.id, "L")
    await set_custom_value(services, tenant, plain.id, hometown.id, "Oslo")
    return World(tenant, me, plain, restricted, peer, shirt, hometown)


def _gid(pk: int) -> str:
    from tests.factories import gid

    return gid("Staff", pk)


def _headers(member: Member, realm: str | None = None) -> dict:
    return {"X-Auth-Token": member.token, "X-Auth-Realm": realm or member.realm}


PD = {"VIEWER+PD", "EDITOR+PD", "ADMINISTRATOR", "OWNER"}
ADDS = {"EDITOR", "EDITOR+PD", "ADMINISTRATOR", "OWNER"}
EDITS = ADDS
ALL_DETAILS = {"ADMINISTRATOR", "OWNER"}


@pytest.mark.parametrize("key", KEYS)
async def test_each_role_against_each_endpoint(client, api, services, key):
    w = await _world(services, api, key)
    h = _headers(w.me)
    guest = key == "GUEST"

    # GET /staff: everyone; a guest sees themselves and their project's people
    listed = (await client.get("/api/v2/staff?ShowInactive=true", headers=h)).json()
    names = {s["SName"] for s in listed}
    if guest:
        assert names == {"Guest", "Peer", "Owner"}  # the owner is on every project
        peer = next(s for s in listed if s["SName"] == "Peer")
        # the name card, with the Basic view's key: the record a guest lists they can open
        assert set(peer) == {"StaffSid", "FName", "SName", "Title"}
        assert all("StaffSid" in s for s in listed)
        opened = await client.get(f"/api/v2/staff/detail/{peer['StaffSid']}", headers=h)
        assert opened.status_code == 200 and opened.json() == peer
    else:
        assert {"Plain", "Restricted", "Peer", "Owner"} <= names
        pat = next(s for s in listed if s["SName"] == "Plain")
        assert ("EMail" in pat) == (key in PD)
        assert ("Address" in pat) == (key in PD)

    # GET /staff/detail/{sid}?View=Detailed
    answer = await client.get(f"/api/v2/staff/detail/{w.plain.sid}?View=Detailed", headers=h)
    if guest:
        assert answer.status_code == 404
    else:
        assert answer.status_code == 200
        detail = answer.json()
        assert detail["Rate1"] == 100
        assert ("EMail" in detail) == (key in PD)
        udfs = {u["Name"]: u["Value"] for u in detail["UdfList"]}
        expected = {"Shirt size": "L"} | ({"Home town": "Oslo"} if key in PD else {})
        assert udfs == expected
    answer = await client.get(
        f"/api/v2/staff/detail/{w.restricted.sid}?View=Detailed", headers=h
    )
    if guest:
        assert answer.status_code == 404
    else:
        detail = answer.json()
        assert ("Rate1" in detail) == (key in ALL_DETAILS)
        assert "UdfList" not in detail or key in ALL_DETAILS
        assert detail["SName"] == "Restricted"

    # one's own record: every field of it, personal data included
    own = (await client.get("/api/v2/staff", headers=h)).json()
    mine = await client.get(
        f"/api/v2/staff/detail/{_own_sid(own, w.me)}?View=Detailed", headers=h
    )
    assert mine.status_code == 200 and "EMail" in mine.json()

    # POST /staff/add
    body = {"FName": "New", "SName": "Person", "EMail": f"new-{key.lower()}@x.io"}
    answer = await client.post("/api/v2/staff/add?inviteUser=false", json=body, headers=h)
    expected_status = 200 if key in ADDS and (key in PD) else 405
    assert answer.status_code == expected_status, answer.text

    # GET /staff/UDFList/{sid}
    answer = await client.get(f"/api/v2/staff/UDFList/{w.plain.sid}", headers=h)
    if guest:
        assert answer.status_code == 404
    else:
        names = {u["Name"] for u in answer.json()}
        assert names == {"Shirt size"} | ({"Home town"} if key in PD else set())
    answer = await client.get(f"/api/v2/staff/UDFList/{w.restricted.sid}", headers=h)
    assert answer.status_code == (404 if guest else 200 if key in ALL_DETAILS else 405)

    # POST /staff/UDFList/{sid}
    body = {"UDFList": [{"Sid": w.shirt.id, "Value": "XL"}]}
    answer = await client.post(f"/api/v2/staff/UDFList/{w.plain.sid}", json=body, headers=h)
    assert answer.status_code == (404 if guest else 200 if key in EDITS else 405), answer.text
    body = {"UDFList": [{"Sid": w.hometown.id, "Value": "Rome"}]}
    answer = await client.post(f"/api/v2/staff/UDFList/{w.plain.sid}", json=body, headers=h)
    allowed = key in EDITS and key in PD
    assert answer.status_code == (404 if guest else 200 if allowed else 405), answer.text

    # POST /staff/UDFListByName: only values of records whose details one sees
    answer = await client.post("/api/v2/staff/UDFListByName", json=[], headers=h)
    assert answer.status_code == 200
    found = {(u["StaffSid"], u["Name"]) for u in answer.json()}
    if guest:
        assert found == set()
    else:
        expected = {(w.plain.sid, "Shirt size")}
        if key in PD:
            expected.add((w.plain.sid, "Home town"))
        assert found == expected


def _own_sid(listed: list[dict], me: Member) -> int:
    emails = {s.get("EMail"): s["StaffSid"] for s in listed if "StaffSid" in s}
    return emails[me.email]


async def test_another_accounts_records_are_not_found(client, api, services):
    mine = await make_tenant(services)
    other = await make_tenant(services)
    for n in range(4):
        await make_staff(services, other, last_name=f"Other{n}")
    theirs = await make_staff(services, other, last_name="Theirs")
    h = _headers(mine.owner)
    for path in (f"/staff/detail/{theirs.sid}", f"/staff/UDFList/{theirs.sid}"):
        answer = await client.get(f"/api/v2{path}", headers=h)
        assert answer.status_code == 404, path
    answer = await client.post(f"/api/v2/staff/UDFList/{theirs.sid}", json={"UDFList": []},
                               headers=h)
    assert answer.status_code == 404
    listed = (await client.get("/api/v2/staff", headers=h)).json()
    assert [s["SName"] for s in listed] == ["Owner"]
    # someone else's realm is no account of mine
    answer = await client.get("/api/v2/staff", headers=_headers(mine.owner, other.slug))
    assert answer.status_code == 401


async def test_no_token_no_answer(client, services):
    tenant = await make_tenant(services)
    for headers in ({}, {"X-Auth-Token": "nope", "X-Auth-Realm": tenant.slug}):
        answer = await client.get("/api/v2/staff", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["Message"]
    # Authorization: Bearer works too, and the realm may be the account's id
    answer = await client.get(
        "/api/v2/staff",
        headers={
            "Authorization": f"Bearer {tenant.owner.token}",
            "X-Auth-Realm": str(tenant.account_id),
        },
    )
    assert answer.status_code == 200


async def test_writing_personal_fields_needs_the_permit(client, api, services):
    tenant = await make_tenant(services)
    editor = await member_as(api, services, tenant, "EDITOR")
    body = {"FName": "Quinn", "SName": "Quiet", "EMail": "q@x.io", "SSN": "123-45-6789"}
    answer = await client.post("/api/v2/staff/add", json=body, headers=_headers(editor))
    assert answer.status_code == 405
    assert {e["Field"] for e in answer.json()["Errors"]} == {"EMail", "SSN"}
    answer = await client.post("/api/v2/staff/add", json=body, headers=_headers(tenant.owner))
    assert answer.status_code == 200, answer.text
    assert answer.json()["SSN"] == "123-45-6789"


AUDIT_LOG = """{ auditLog(first: 10) { edges { node { action targetType requestId diff } } } }"""


async def test_writes_are_in_the_audit_log(client, api, services):
    tenant = await make_tenant(services)
    field = await make_custom_field(services, tenant, "Shirt size")
    h = _headers(tenant.owner)
    body = {"FName": "Ada", "SName": "Audit", "EMail": "ada@x.io", "SSN": "123-45-6789"}
    added = await client.post("/api/v2/staff/add", json=body, headers=h)
    assert added.status_code == 200
    sid = added.json()["StaffSid"]
    body = {"UDFList": [{"Sid": field.id, "Value": "S"}]}
    assert (await client.post(f"/api/v2/staff/UDFList/{sid}", json=body, headers=h)).is_success
    refused = await client.post("/api/v2/staff/add", json={"SName": "X", "EMail": "bad"},
                                headers=h)
    assert refused.status_code == 400
    entries = [e["node"] for e in (await api.data(AUDIT_LOG, as_=tenant.owner))["auditLog"]["edges"]]
    assert [(e["action"], e["targetType"]) for e in entries] == [
        ("staffCustomFieldsSet", "Staff"),
        ("staffCreate", "Staff"),
    ]
    assert entries[1]["requestId"] == added.headers["x-request-id"]
    assert "123-45-6789" not in str(entries[1]["diff"])  # personal data redacted
