"""SCIM Users over staff records: create, read, list with the filters identity providers
use, paging, replace, PATCH (including the active toggle as Okta and Entra send it),
delete; who may use the endpoint; errors in SCIM's format."""

from __future__ import annotations

import pytest

from app.access import Role
from app.access.scopes import Scope
from app.staff.models import AccountStatus, Staff
from tests.factories import (
    get_row,
    make_api_token,
    make_member,
    make_staff,
    make_tenant,
    take_mail,
)
from tests.scim.helpers import ENTERPRISE, SCIM, scim_error, scim_for, user_body


async def _create(s, email: str, **extra) -> dict:
    response = await s.post("/Users", user_body(email, **extra))
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    assert response.headers["location"] == response.json()["meta"]["location"]
    return response.json()


async def test_create_maps_onto_a_staff_record(services, client):
    s = await scim_for(services, client)
    body = user_body(
        "BJensen@Example.com",
        externalId="00u1",
        title="Tour guide",
        phoneNumbers=[
            {"value": "+1 555 0100", "type": "work"},
            {"value": "+1 555 0101", "type": "mobile", "primary": True},
        ],
        addresses=[
            {
                "type": "work",
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
            }
        ],
    )
    created = (await s.post("/Users", body)).json()
    assert created["userName"] == "bjensen@example.com"
    assert created["emails"] == [{"value": "bjensen@example.com"}]
    assert created["name"] == {"givenName": "Barbara", "familyName": "Jensen"}
    assert created["active"] is True
    row = await get_row(services, Staff, await _pk(services, s, created["id"]))
    assert (row.email, row.external_id, row.title) == ("bjensen@example.com", "00u1", "Tour guide")
    assert (row.phone_work, row.phone_cell) == ("+1 555 0100", "+1 555 0101")
    assert (row.address_city, row.address_zip) == ("Hollywood", "91608")
    # a provisioned person is an employee with the default role, not invited
    assert (row.role, row.account_status) == (Role.VIEWER, AccountStatus.NOT_INVITED)
    got = (await s.get(f"/Users/{created['id']}")).json()
    assert got == created


async def _pk(services, s, scim_id: str) -> int:
    from sqlalchemy import select

    async with services.db.session() as session:
        return await session.scalar(
            select(Staff.id).where(
                Staff.account_id == s.tenant.account_id, Staff.sid == int(scim_id)
            )
        )


async def test_duplicates_answer_uniqueness(services, client):
    s = await scim_for(services, client)
    await _create(s, "a@example.com", externalId="x1")
    scim_error(await s.post("/Users", user_body("A@example.com")), 409, "uniqueness")
    scim_error(
        await s.post("/Users", user_body("b@example.com", externalId="x1")), 409, "uniqueness"
    )


async def test_bad_values_answer_invalid_value(services, client):
    s = await scim_for(services, client)
    scim_error(await s.post("/Users", user_body("not an email")), 400, "invalidValue")
    body = user_body("c@example.com", phoneNumbers=[{"value": "123", "type": "fax"}])
    scim_error(await s.post("/Users", body), 400, "invalidValue")
    no_name = {"schemas": user_body("d@example.com")["schemas"], "userName": "d@example.com"}
    scim_error(await s.post("/Users", no_name), 400, "invalidValue")


async def test_filters_and_paging(services, client):
    s = await scim_for(services, client)
    made = [await _create(s, f"p{i}@example.com", externalId=f"ext-{i}") for i in range(5)]
    await s.patch(f"/Users/{made[4]['id']}", {"op": "replace", "path": "active", "value": False})

    async def ids(**params) -> list[str]:
        response = await s.get("/Users", **params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["Resources"]]

    assert await ids(filter='userName eq "P1@example.com"') == [made[1]["id"]]
    assert await ids(filter='externalId eq "ext-2"') == [made[2]["id"]]
    assert await ids(filter='emails.value eq "p3@example.com"') == [made[3]["id"]]
    assert await ids(filter='emails[value eq "p3@example.com"]') == [made[3]["id"]]
    assert await ids(filter="active eq false") == [made[4]["id"]]
    assert made[4]["id"] not in await ids(filter="active eq true")
    assert await ids(filter='userName eq "p0@example.com" and active eq true') == [made[0]["id"]]
    assert await ids(filter='userName eq "nobody@example.com"') == []
    # paging by startIndex (1-based) and count, over the owner and the five
    page = (await s.get("/Users", startIndex=2, count=2)).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (6, 2, 2)
    assert [r["id"] for r in page["Resources"]] == [made[0]["id"], made[1]["id"]]
    assert (await s.get("/Users", count=0)).json()["Resources"] == []
    for bad in ('title eq "x"', 'userName co "p"', 'userName eq "a" or active eq true', "(("):
        scim_error(await s.get("/Users", filter=bad), 400, "invalidFilter")


async def test_replace_and_patch(services, client):
    s = await scim_for(services, client)
    manager = await _create(s, "boss@example.com")
    user = await _create(s, "e@example.com", title="Old")
    replaced = user_body(
        "e2@example.com",
        name={"givenName": "Eve", "familyName": "Stone"},
        **{"schemas": [user_body("x@y.z")["schemas"][0], ENTERPRISE]},
        **{ENTERPRISE: {"manager": {"value": manager["id"]}}},
    )
    got = (await s.put(f"/Users/{user['id']}", replaced)).json()
    assert got["userName"] == "e2@example.com"
    assert "title" not in got  # left out of a PUT: cleared
    assert got[ENTERPRISE]["manager"]["value"] == manager["id"]
    response = await s.patch(
        f"/Users/{user['id']}",
        {"op": "add", "path": "title", "value": "Lead"},
        {"op": "replace", "path": "name.familyName", "value": "Rock"},
        {"op": "remove", "path": f"{ENTERPRISE}:manager"},
    )
    got = response.json()
    assert (got["title"], got["name"]["familyName"]) == ("Lead", "Rock")
    assert ENTERPRISE not in got
    missing = {ENTERPRISE: {"manager": {"value": "99999"}}}
    response = await s.patch(f"/Users/{user['id']}", {"op": "add", "value": missing})
    scim_error(response, 400, "invalidValue")
    scim_error(
        await s.patch(f"/Users/{user['id']}", {"op": "remove", "path": "active"}),
        400,
        "mutability",
    )


async def test_active_toggle_keeps_the_data(services, client):
    s = await scim_for(services, client)
    member = await make_member(services, s.tenant, email="m@example.com", title="Keeper")
    from sqlalchemy import select

    async with services.db.session() as session:
        sid = await session.scalar(select(Staff.sid).where(Staff.id == member.staff_pk))
    path = f"/Users/{sid}"
    # Entra: strings, capitalised op
    got = (await s.patch(path, {"op": "Replace", "path": "active", "value": "False"})).json()
    assert got["active"] is False
    row = await get_row(services, Staff, member.staff_pk)
    assert row.account_status == AccountStatus.DISABLED and row.title == "Keeper"
    # the disabled member's session no longer acts in the account
    me = await client.post(
        "/graphql",
        json={"query": "{ me { id } }"},
        headers={"Authorization": f"Bearer {member.token}", "X-Auth-Realm": member.realm},
    )
    assert "errors" in me.json() or me.json()["data"]["me"] is None
    # Okta: replace without a path
    got = (await s.patch(path, {"op": "replace", "value": {"active": True}})).json()
    assert got["active"] is True
    row = await get_row(services, Staff, member.staff_pk)
    assert row.account_status == AccountStatus.ACTIVE and row.title == "Keeper"
    # saying it twice is no error
    assert (await s.patch(path, {"op": "replace", "value": {"active": True}})).status_code == 200


async def test_reactivation_needs_a_free_seat(services, client):
    tenant = await make_tenant(services, seats=2)
    s = await scim_for(services, client, tenant=tenant)
    member = await make_member(services, tenant, email="seat@example.com")
    from sqlalchemy import select

    async with services.db.session() as session:
        sid = await session.scalar(select(Staff.sid).where(Staff.id == member.staff_pk))
    await s.patch(f"/Users/{sid}", {"op": "replace", "path": "active", "value": False})
    await make_member(services, tenant)  # the freed seat is taken
    body = scim_error(
        await s.patch(f"/Users/{sid}", {"op": "replace", "path": "active", "value": True}), 403
    )
    assert "seat" in body["detail"]
    row = await get_row(services, Staff, member.staff_pk)
    assert row.account_status == AccountStatus.DISABLED


async def test_delete_removes_the_record(services, client):
    s = await scim_for(services, client)
    user = await _create(s, "gone@example.com")
    assert (await s.delete(f"/Users/{user['id']}")).status_code == 204
    scim_error(await s.get(f"/Users/{user['id']}"), 404)
    scim_error(await s.delete(f"/Users/{user['id']}"), 404)


async def test_only_a_scim_key_opens_it(services, client):
    tenant = await make_tenant(services)
    url = f"{SCIM}/Users"
    assert (await client.get(url)).status_code == 401
    bad = await client.get(url, headers={"Authorization": "Bearer nope"})
    scim_error(bad, 401)
    # an owner's session is who it says, but never opens SCIM
    session = await client.get(url, headers={"Authorization": f"Bearer {tenant.owner.token}"})
    scim_error(session, 403)
    other = await make_api_token(services, tenant, tenant.owner, scopes=[Scope.STAFF_WRITE])
    scim_error(await client.get(url, headers={"Authorization": f"Bearer {other}"}), 403)
    # a viewer holds none of the permits: their key cannot carry the scope's
    viewer = await make_member(services, tenant, Role.VIEWER)
    weak = await make_api_token(services, tenant, viewer, scopes=[Scope.SCIM])
    scim_error(await client.get(url, headers={"Authorization": f"Bearer {weak}"}), 403)


async def test_another_accounts_user_is_not_found(services, client):
    mine = await scim_for(services, client)
    theirs = await scim_for(services, client)
    other = await make_staff(services, theirs.tenant, first_name="T", last_name="X", email="t@x.io")
    user = await _create(theirs, "their@example.com")
    scim_error(await mine.get(f"/Users/{user['id']}"), 404)
    scim_error(await mine.get(f"/Users/{other.sid}"), 404)
    scim_error(
        await mine.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"title": "x"}}), 404
    )
    scim_error(await mine.delete(f"/Users/{user['id']}"), 404)
    listed = (await mine.get("/Users", filter='userName eq "their@example.com"')).json()
    assert listed["totalResults"] == 0


async def test_discovery(services, client):
    s = await scim_for(services, client)
    config = (await s.get("/ServiceProviderConfig")).json()
    assert config["patch"]["supported"] is True and config["bulk"]["supported"] is False
    types = (await s.get("/ResourceTypes")).json()["Resources"]
    assert [t["name"] for t in types] == ["User", "Group"]
    scim_error(await s.get("/Bogus"), 404)
    scim_error(await s.post("/ServiceProviderConfig", {}), 405)
    schema = (await s.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")).json()
    names = {a["name"] for a in schema["attributes"]}
    assert {"userName", "name", "emails", "active", "phoneNumbers", "addresses"} <= names
    assert "x509Certificates" not in names


ACCOUNT_UPDATE = """mutation($on: Boolean) { accountUpdate(input: {scimInvites: $on}) {
  account { settings { scimInvites } } userErrors { code } } }"""


async def test_the_account_decides_whether_provisioned_people_are_invited(services, client, api):
    s = await scim_for(services, client, seats=2)
    await _create(s, "quiet@example.com")
    assert await take_mail(services) == []  # by default: a record, no email
    data = await api.data(ACCOUNT_UPDATE, {"on": True}, as_=s.tenant.owner)
    assert data["accountUpdate"]["account"]["settings"]["scimInvites"] is True
    invited = await _create(s, "invited@example.com")
    row = await get_row(services, Staff, await _pk(services, s, invited["id"]))
    assert row.account_status == AccountStatus.INVITED
    sent = await take_mail(services)
    assert [m["To"] for m in sent] == ["invited@example.com"]
    # the pending invitation holds the last seat: the next one does not fit
    body = scim_error(await s.post("/Users", user_body("late@example.com")), 403)
    assert "seat" in body["detail"]
    listed = (await s.get("/Users", filter='userName eq "late@example.com"')).json()
    assert listed["totalResults"] == 0
    # a person created inactive (as Entra ID creates disabled users) is added, not
    # invited: no email, no seat, so a full account takes them
    made = await s.post("/Users", user_body("disabled@example.com", active=False))
    assert made.status_code == 201, made.text
    assert made.json()["active"] is False
    assert await take_mail(services) == []
    row = await get_row(services, Staff, await _pk(services, s, made.json()["id"]))
    assert row.account_status == AccountStatus.DISABLED


async def test_a_person_enabled_later_is_invited_then(services, client, api):
    """Entra ID creates a person disabled in its scope inactive, and enables them later:
    enabling invites them as creating them active would have, under the same checks."""
    s = await scim_for(services, client, seats=2)
    await api.data(ACCOUNT_UPDATE, {"on": True}, as_=s.tenant.owner)
    first = await _create(s, "later@example.com", active=False)
    second = await _create(s, "later2@example.com", active=False)
    assert await take_mail(services) == []
    got = await s.patch(
        f"/Users/{first['id']}", {"op": "Replace", "path": "active", "value": "True"}
    )
    assert got.status_code == 200, got.text
    assert got.json()["active"] is True
    assert [m["To"] for m in await take_mail(services)] == ["later@example.com"]
    row = await get_row(services, Staff, await _pk(services, s, first["id"]))
    assert row.account_status == AccountStatus.INVITED
    # the owner holds one seat and the invitation the other: the second does not fit, and
    # stays as it was
    body = scim_error(
        await s.patch(f"/Users/{second['id']}", {"op": "replace", "path": "active", "value": True}),
        403,
    )
    assert "seat" in body["detail"]
    assert (await s.get(f"/Users/{second['id']}")).json()["active"] is False
    assert await take_mail(services) == []
    # repeating what a record already has sends nothing again
    again = await s.patch(
        f"/Users/{first['id']}", {"op": "replace", "path": "active", "value": True}
    )
    assert again.status_code == 200, again.text
    assert await take_mail(services) == []


async def test_without_scim_invites_enabling_sends_nothing(services, client):
    s = await scim_for(services, client)
    made = await _create(s, "quiet-later@example.com", active=False)
    got = await s.patch(f"/Users/{made['id']}", {"op": "replace", "path": "active", "value": True})
    assert got.status_code == 200, got.text
    assert got.json()["active"] is True
    assert await take_mail(services) == []
    row = await get_row(services, Staff, await _pk(services, s, made["id"]))
    assert row.account_status == AccountStatus.NOT_INVITED


# --- records without names ---------------------------------------------------------------

INVITE = """mutation($email: String!) {
  invitationCreate(input: {email: $email}) { invitation { id } userErrors { code } } }"""
SEATS = "{ account { seats { used reserved } } }"


async def _nameless(s, client, api, how: str) -> str:
    """The SCIM id of a record made with no first name (REST staff/add without FName, as
    BigTime's catalogue allows) or with no names at all (an invitation without names);
    both invited, so each holds a seat."""
    owner = s.tenant.owner
    if how == "no first name":
        added = await client.post(
            "/api/v2/staff/add?inviteUser=true",
            json={"SName": "NoFirst", "EMail": "nofirst@example.com"},
            headers={"X-Auth-Token": owner.token, "X-Auth-Realm": owner.realm},
        )
        assert added.status_code == 200, added.text
        return str(added.json()["StaffSid"])
    data = await api.data(INVITE, {"email": "noname@example.com"}, as_=owner)
    assert data["invitationCreate"]["userErrors"] == []
    [found] = (await s.get("/Users", filter='userName eq "noname@example.com"')).json()["Resources"]
    return found["id"]


NAMELESS = ["no first name", "no names"]


@pytest.mark.parametrize("how", NAMELESS)
@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "value": {"active": False}},  # Okta's form
        {"op": "Replace", "path": "active", "value": "False"},  # Entra's
    ],
    ids=["path", "no path", "entra"],
)
async def test_deprovisioning_a_record_without_names_disables_it_and_frees_its_seat(
    services, client, api, how, operation
):
    s = await scim_for(services, client)
    scim_id = await _nameless(s, client, api, how)
    before = (await s.get(f"/Users/{scim_id}")).json()
    assert (await api.data(SEATS, as_=s.tenant.owner))["account"]["seats"]["reserved"] == 1

    response = await s.patch(f"/Users/{scim_id}", operation)

    assert response.status_code == 200, response.text
    got = response.json()
    assert got["active"] is False
    assert got.get("name") == before.get("name")  # the names stay as they were: empty
    row = await get_row(services, Staff, await _pk(services, s, scim_id))
    assert row.account_status == AccountStatus.DISABLED
    assert (await api.data(SEATS, as_=s.tenant.owner))["account"]["seats"] == {
        "used": 1,
        "reserved": 0,
    }


@pytest.mark.parametrize("how", NAMELESS)
async def test_a_record_without_names_takes_patches_and_its_own_get_back(
    services, client, api, how
):
    s = await scim_for(services, client)
    scim_id = await _nameless(s, client, api, how)
    path = f"/Users/{scim_id}"

    patched = await s.patch(path, {"op": "replace", "path": "title", "value": "T"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "T"

    got = (await s.get(path)).json()
    put = await s.put(path, got)
    assert put.status_code == 200, put.text
    assert put.json() == got | {"meta": put.json()["meta"]}
    row = await get_row(services, Staff, await _pk(services, s, scim_id))
    assert (row.title, row.account_status) == ("T", AccountStatus.INVITED)

    # a name may be given; once given it is required like any other record's
    named = await s.patch(path, {"op": "add", "path": "name.givenName", "value": "Given"})
    assert named.json()["name"]["givenName"] == "Given"
    removed = await s.patch(path, {"op": "remove", "path": "name.givenName"})
    assert removed.status_code == 400, removed.text
    got = (await s.get(path)).json()
    body = scim_error(
        await s.put(path, {k: v for k, v in got.items() if k != "name"}), 400, "invalidValue"
    )
    assert "First name is required." in body["detail"]
    assert (await get_row(services, Staff, row.id)).first_name == "Given"
