"""Review: a key with the ``scim`` scope is an identity provider's key, not a staff-admin
key. Its permits count only on the SCIM endpoint (``SURFACE_SCOPES`` in
app/access/scopes.py); on GraphQL, the REST API and the exports a key holds what its other
scopes give, so an administrator's key scoped only [scim] reads there like a guest and
writes nothing, while /scim/v2 provisions as before."""

from __future__ import annotations

import pytest

from app.access import Role
from app.access.scopes import SURFACE_SCOPES, Scope, Surface
from app.staff.models import AccountStatus, Staff
from tests.factories import (
    error_codes,
    make_api_token,
    make_member,
    make_tenant,
    set_staff_secrets,
)
from tests.rest.test_key_matrix import ADM, INV, PD, SCIM, R, W  # the scopes, short
from tests.scim.helpers import Scim, user_body

DIRECTORY = "{ staff(first: 50) { totalCount nodes { sid email ssn salary } } }"
BY_SID = """query($sid: Int!) {
  staffBySid(sid: $sid) { sid email ssn salary address { street } }
}"""
PERMITS = "{ viewer { permits } }"
ROLE_CHANGE = """mutation($id: ID!) {
  staffRoleChange(input: {staffId: $id, role: GUEST}) { userErrors { code } }
}"""
DISABLE = """mutation($id: ID!) {
  staffDisable(input: {staffId: $id}) { userErrors { code } }
}"""
UPDATE = """mutation($id: ID!) {
  staffUpdate(input: {id: $id, email: "x1@attacker.example"}) { userErrors { code } }
}"""


class World:
    def __init__(self, tenant, admin, person, person_sid: int) -> None:
        self.tenant, self.admin, self.person, self.person_sid = tenant, admin, person, person_sid


async def _world(services) -> World:
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    person = await make_member(
        services, tenant, Role.VIEWER, first_name="Pat", last_name="Plain", address_street="1 Main"
    )
    await set_staff_secrets(services, person.staff_pk, ssn="123-45-6789", salary=99000)
    async with services.db.session() as session:
        sid = (await session.get_one(Staff, person.staff_pk)).sid
    return World(tenant, admin, person, sid)


async def _key(services, w: World, *scopes: Scope) -> dict:
    token = await make_api_token(services, w.tenant, w.admin, scopes=list(scopes))
    return {"token": token, "realm": w.tenant.slug}


async def _person(services, w: World) -> Staff:
    async with services.db.session() as session:
        return await session.get_one(Staff, w.person.staff_pk)


def test_review_the_scim_scope_counts_on_the_scim_surface_alone():
    assert set(SURFACE_SCOPES) == set(Surface)  # no surface falls back to a default
    assert [s for s in Surface if Scope.SCIM in SURFACE_SCOPES[s]] == [Surface.SCIM]


async def test_review_a_scim_key_reads_like_a_guest_on_graphql(api, services):
    w = await _world(services)
    key = await _key(services, w, SCIM)
    directory = (await api.data(DIRECTORY, **key))["staff"]
    # its creator's own record only (no projects here), nobody's SSN or salary
    assert directory["totalCount"] == 1
    assert w.person_sid not in [n["sid"] for n in directory["nodes"]]
    assert all(n["ssn"] is None and n["salary"] is None for n in directory["nodes"])
    assert (await api.data(BY_SID, {"sid": w.person_sid}, **key))["staffBySid"] is None
    assert (await api.data(PERMITS, **key))["viewer"]["permits"] == []

    # with admin besides, still no directory and no personal data
    key = await _key(services, w, SCIM, ADM)
    assert (await api.data(BY_SID, {"sid": w.person_sid}, **key))["staffBySid"] is None
    key = await _key(services, w, SCIM, ADM, R)
    assert (await api.data(BY_SID, {"sid": w.person_sid}, **key))["staffBySid"] == {
        "sid": w.person_sid,
        "email": None,
        "ssn": None,
        "salary": None,
        "address": None,
    }


def _refused(body: dict, field: str) -> bool:
    """Refused as a whole (FORBIDDEN) or by a userError (FORBIDDEN, or NOT_FOUND for a
    record the key does not see)."""
    codes = error_codes(body) or [e["code"] for e in body["data"][field]["userErrors"]]
    assert set(codes) <= {"FORBIDDEN", "NOT_FOUND"}, body
    return bool(codes)


@pytest.mark.parametrize("scopes", [(SCIM,), (SCIM, R)], ids=["scim", "scim+read"])
async def test_review_a_scim_key_changes_nobody_on_graphql(api, services, scopes):
    w = await _world(services)
    key = await _key(services, w, *scopes)
    assert _refused(await api(ROLE_CHANGE, {"id": w.person.staff_id}, **key), "staffRoleChange")
    assert _refused(await api(DISABLE, {"id": w.person.staff_id}, **key), "staffDisable")
    assert _refused(await api(UPDATE, {"id": w.person.staff_id}, **key), "staffUpdate")
    person = await _person(services, w)
    assert (person.role, person.account_status, person.email) == (
        Role.VIEWER,
        AccountStatus.ACTIVE,
        w.person.email,
    )


async def test_review_a_scim_key_reads_like_a_guest_on_rest_and_exports(client, services):
    w = await _world(services)
    key = await _key(services, w, SCIM)
    h = {"X-Auth-Token": key["token"], "X-Auth-Realm": w.tenant.slug}
    listed = await client.get("/api/v2/staff?ShowInactive=true", headers=h)
    assert listed.status_code == 200
    assert [s["StaffSid"] for s in listed.json()] != [w.person_sid]
    assert len(listed.json()) == 1  # its creator's own record
    detail = await client.get(f"/api/v2/staff/detail/{w.person_sid}?View=Detailed", headers=h)
    assert detail.status_code == 404
    body = {"FName": "New", "SName": "Person", "EMail": "new@x.io"}
    added = await client.post("/api/v2/staff/add?inviteUser=false", json=body, headers=h)
    assert added.status_code == 405
    # [scim, admin] once read every record whole: the export is refused
    key = await _key(services, w, SCIM, ADM)
    auth = {"Authorization": f"Bearer {key['token']}", "X-Auth-Realm": w.tenant.slug}
    assert (await client.get("/export/staff.csv", headers=auth)).status_code == 403


async def test_review_scim_still_provisions_with_only_the_scim_scope(client, services):
    w = await _world(services)
    scim = Scim(client, w.tenant, (await _key(services, w, SCIM))["token"])
    made = await scim.post("/Users", user_body("bjensen@example.com"))
    assert made.status_code == 201, made.text
    user_id = made.json()["id"]
    # it reads emails, the provisioned person's and everyone else's
    read = await scim.get(f"/Users/{user_id}")
    assert read.status_code == 200 and read.json()["emails"][0]["value"] == "bjensen@example.com"
    found = await scim.get("/Users", filter=f'userName eq "{w.person.email}"')
    assert found.status_code == 200
    [pat] = found.json()["Resources"]
    assert pat["emails"][0]["value"] == w.person.email
    # patches and deactivates
    patched = await scim.patch(
        f"/Users/{pat['id']}", {"op": "replace", "path": "title", "value": "Lead"}
    )
    assert patched.status_code == 200, patched.text
    off = await scim.patch(
        f"/Users/{pat['id']}", {"op": "replace", "path": "active", "value": False}
    )
    assert off.status_code == 200 and off.json()["active"] is False
    person = await _person(services, w)
    assert (person.title, person.account_status) == ("Lead", AccountStatus.DISABLED)


OTHERS = [(R,), (R, PD), (R, W, PD), (R, W, PD, INV, ADM)]


@pytest.mark.parametrize("others", OTHERS, ids=["+".join(s.value for s in o) for o in OTHERS])
async def test_review_scim_besides_other_scopes_gives_graphql_exactly_what_they_give(
    api, services, others
):
    w = await _world(services)
    with_scim = await _key(services, w, SCIM, *others)
    without = await _key(services, w, *others)
    for query, variables in [
        (PERMITS, None),
        (DIRECTORY, None),
        (BY_SID, {"sid": w.person_sid}),
    ]:
        assert await api.data(query, variables, **with_scim) == await api.data(
            query, variables, **without
        )
    # and writes alike: what the other scopes may not do, scim adds nothing to (an email
    # is personal data: writing it takes staff:write and personal_data)
    body = await api(UPDATE, {"id": w.person.staff_id}, **with_scim)
    assert _refused(body, "staffUpdate") is not (W in others and PD in others)
    body = await api(DISABLE, {"id": w.person.staff_id}, **with_scim)
    assert _refused(body, "staffDisable") is (ADM not in others)
