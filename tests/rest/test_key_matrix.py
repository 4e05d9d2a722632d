"""The BigTime REST API under API keys: every role (guests included) × the scope
combinations that change an answer × every endpoint. A key does what its creator's
*current* role and its scopes both allow, nothing more (a key naming a scope its creator
does not hold stands for a key made before a demotion); a demoted creator's key shrinks
on the next request and a disabled creator's key stops; another account's records are
not found whatever the key.

What each key could do is probed with real requests and written as letters:
L reads the directory (GET /staff lists others; /staff/detail and GET /staff/UDFList of an
  unrestricted record answer 200), P sees personal ("!") fields of others,
A may add staff (POST /staff/add without the EMail it requires is a 400 validation error,
  not a 405), E adds staff (with the email, a "!" field),
I adds and invites (inviteUser=true), U writes a custom field value (POST
/staff/UDFList). Without L a key reads like a guest: its creator's own record and the
people on their projects. The scim scope counts only on the SCIM endpoint: here a key
with it holds what its other scopes give (a key with only scim reads like a guest).
"""

from __future__ import annotations

import itertools

import pytest

from app.access import Role
from app.access.scopes import Scope
from app.staff.models import AccountStatus, Staff
from tests.factories import (
    make_api_token,
    make_custom_field,
    make_member,
    make_staff,
    make_tenant,
    member_as,
    set_custom_value,
    update_row,
)

R, W, PD, INV, ADM, SCIM = (
    Scope.STAFF_READ,
    Scope.STAFF_WRITE,
    Scope.PERSONAL_DATA,
    Scope.INVITATIONS_WRITE,
    Scope.ADMIN,
    Scope.SCIM,
)
ROLES = ("GUEST", "VIEWER", "VIEWER+PD", "EDITOR", "EDITOR+PD", "ADMINISTRATOR", "OWNER")
SCOPES = {
    "read": (R,),
    "read+pd": (R, PD),
    "read+write": (R, W),
    "read+write+pd": (R, W, PD),
    "read+write+pd+invite": (R, W, PD, INV),
    "write+pd": (W, PD),
    "admin": (ADM,),
    "scim": (SCIM,),
    "scim+read+write+pd": (SCIM, R, W, PD),
}
# what a key may do, by its scopes (rows) and its creator's role (columns, as ROLES)
# fmt: off
EXPECTED = {
    #                        GUEST  VIEWER  VIEWER+PD  EDITOR  EDITOR+PD  ADMIN      OWNER
    "read":                 ("",    "L",    "L",       "L",    "L",       "L",       "L"),
    "read+pd":              ("",    "L",    "LP",      "L",    "LP",      "LP",      "LP"),
    "read+write":           ("",    "L",    "L",       "LAU",  "LAU",     "LAU",     "LAU"),
    "read+write+pd":        ("",    "L",    "LP",      "LAU",  "LPAEU",   "LPAEU",   "LPAEU"),
    "read+write+pd+invite": ("",    "L",    "LP",      "LAU",  "LPAEU",   "LPAEIU",  "LPAEIU"),
    "write+pd":             ("",    "",     "",        "A",    "AE",      "AE",      "AE"),
    "admin":                ("",    "",     "",        "",     "",        "",        ""),
    "scim":                 ("",    "",     "",        "",     "",        "",        ""),
    "scim+read+write+pd":   ("",    "L",    "LP",      "LAU",  "LPAEU",   "LPAEU",   "LPAEU"),
}
# fmt: on
_emails = itertools.count()


class World:
    def __init__(self, tenant, plain, shirt) -> None:
        self.tenant, self.plain, self.shirt = tenant, plain, shirt


async def _world(services) -> World:
    tenant = await make_tenant(services, seats=500)
    plain = await make_staff(
        services, tenant, first_name="Pat", last_name="Plain", email="pat@x.io", rate1=100
    )
    shirt = await make_custom_field(services, tenant, "Shirt size")
    await set_custom_value(services, tenant, plain.id, shirt.id, "L")
    return World(tenant, plain, shirt)


async def _creator(services, api, w: World, role: str):
    if role == "GUEST":
        return await make_member(services, w.tenant, Role.GUEST, kind="CUSTOMER")
    return await member_as(api, services, w.tenant, role)


def _headers(key: str, realm: str) -> dict:
    return {"X-Auth-Token": key, "X-Auth-Realm": realm}


async def probe(client, w: World, h: dict) -> str:
    """The letters of what the key behind ``h`` could do (see the module's docstring)."""
    did = set()
    listed = await client.get("/api/v2/staff?ShowInactive=true", headers=h)
    assert listed.status_code == 200, listed.text
    pat = next((s for s in listed.json() if s.get("SName") == "Plain"), None)
    detail = await client.get(f"/api/v2/staff/detail/{w.plain.sid}?View=Detailed", headers=h)
    udfs = await client.get(f"/api/v2/staff/UDFList/{w.plain.sid}", headers=h)
    # the three reads agree: all of them, or none (a record one does not see is not found)
    assert (pat is not None) == (detail.status_code == 200) == (udfs.status_code == 200)
    assert detail.status_code in (200, 404) and udfs.status_code in (200, 404)
    if pat is not None:
        did.add("L")
        if "EMail" in pat:
            did.add("P")
            assert detail.json()["EMail"] == "pat@x.io"
        else:
            assert "EMail" not in detail.json()

    async def add(query: str, **fields) -> int:
        body = {"FName": "New", "SName": f"Person{next(_emails)}", **fields}
        answer = await client.post(f"/api/v2/staff/add?{query}", json=body, headers=h)
        assert answer.status_code in (200, 400, 405), answer.text
        return answer.status_code

    if await add("inviteUser=false") == 400:
        did.add("A")
    if await add("inviteUser=false", EMail=f"e{next(_emails)}@x.io") == 200:
        did.add("E")
    if await add("inviteUser=true", EMail=f"i{next(_emails)}@x.io") == 200:
        did.add("I")
    body = {"UDFList": [{"Sid": w.shirt.id, "Value": "XL"}]}
    written = await client.post(f"/api/v2/staff/UDFList/{w.plain.sid}", json=body, headers=h)
    assert written.status_code in (200, 404, 405), written.text
    assert written.status_code != 404 or "L" not in did
    if written.status_code == 200:
        did.add("U")
    by_name = await client.post("/api/v2/staff/UDFListByName", json=[], headers=h)
    assert by_name.status_code == 200
    assert any(u["StaffSid"] == w.plain.sid for u in by_name.json()) == ("L" in did)
    return "".join(letter for letter in "LPAEIU" if letter in did)


CASES = [
    pytest.param(scopes, role, expected, id=f"{scopes}-{role}")
    for scopes, row in EXPECTED.items()
    for role, expected in zip(ROLES, row, strict=True)
]


@pytest.mark.parametrize(("scopes", "role", "expected"), CASES)
async def test_a_key_does_what_its_scopes_and_its_creators_role_allow(
    client, api, services, scopes, role, expected
):
    w = await _world(services)
    creator = await _creator(services, api, w, role)
    key = await make_api_token(services, w.tenant, creator, scopes=list(SCOPES[scopes]))
    assert await probe(client, w, _headers(key, w.tenant.slug)) == expected


async def test_a_demoted_creators_key_shrinks_and_a_disabled_creators_key_stops(
    client, api, services
):
    w = await _world(services)
    admin = await make_member(services, w.tenant, Role.ADMINISTRATOR)
    key = await make_api_token(services, w.tenant, admin, scopes=[R, W, PD, INV])
    h = _headers(key, w.tenant.slug)
    assert await probe(client, w, h) == "LPAEIU"
    await update_row(services, Staff, admin.staff_pk, role=Role.EDITOR)
    assert await probe(client, w, h) == "LAU"
    await update_row(services, Staff, admin.staff_pk, role=Role.VIEWER)
    assert await probe(client, w, h) == "L"
    await update_row(services, Staff, admin.staff_pk, account_status=AccountStatus.DISABLED)
    for method, path in ENDPOINTS:
        answer = await client.request(method, f"/api/v2{path(w)}", headers=h, json={})
        assert answer.status_code == 401, (method, path(w))


ENDPOINTS = [
    ("GET", lambda w: "/staff"),
    ("GET", lambda w: f"/staff/detail/{w.plain.sid}"),
    ("POST", lambda w: "/staff/add"),
    ("GET", lambda w: f"/staff/UDFList/{w.plain.sid}"),
    ("POST", lambda w: f"/staff/UDFList/{w.plain.sid}"),
    ("POST", lambda w: "/staff/UDFListByName"),
]


@pytest.mark.parametrize("scopes", ["read+write+pd+invite", "scim"])
async def test_another_accounts_records_are_not_found_by_any_key(client, services, scopes):
    mine = await _world(services)
    theirs = await _world(services)
    key = await make_api_token(
        services, mine.tenant, mine.tenant.owner, scopes=list(SCOPES[scopes])
    )
    h = _headers(key, mine.tenant.slug)
    sid = theirs.plain.sid + 1000  # no record of mine has it; theirs does below
    await update_row(services, Staff, theirs.plain.id, sid=sid)
    for method, path in [
        ("GET", f"/staff/detail/{sid}"),
        ("GET", f"/staff/detail/{sid}?View=Detailed"),
        ("GET", f"/staff/UDFList/{sid}"),
        ("POST", f"/staff/UDFList/{sid}"),
    ]:
        body = {"UDFList": [{"Sid": theirs.shirt.id, "Value": "XL"}]} if method == "POST" else None
        answer = await client.request(method, f"/api/v2{path}", headers=h, json=body)
        assert answer.status_code == 404, (path, answer.text)
    listed = (await client.get("/api/v2/staff?ShowInactive=true", headers=h)).json()
    assert all(s.get("StaffSid") != sid for s in listed)
    by_name = (await client.post("/api/v2/staff/UDFListByName", json=[], headers=h)).json()
    assert all(u["StaffSid"] != sid for u in by_name)
    # the key names its account: another realm is no account of this key
    for method, path in ENDPOINTS:
        answer = await client.request(
            method, f"/api/v2{path(theirs)}", headers=_headers(key, theirs.tenant.slug), json={}
        )
        assert answer.status_code == 401, (method, path(theirs))
