"""The request sequences Okta and Microsoft Entra ID document for their SCIM 2.0
provisioning (Okta's "SCIM 2.0 protocol reference"; Microsoft's "Tutorial: Develop and
plan provisioning for a SCIM endpoint"), replayed as they send them: look the user up by
userName, create, read, update, deactivate, reactivate."""

from __future__ import annotations

from app.staff.models import AccountStatus, Staff
from tests.factories import get_row
from tests.scim.helpers import ENTERPRISE, PATCH, USER, scim_for


async def _staff(services, tenant, scim_id: str) -> Staff:
    from sqlalchemy import select

    async with services.db.session() as session:
        pk = await session.scalar(
            select(Staff.id).where(Staff.account_id == tenant.account_id, Staff.sid == int(scim_id))
        )
    return await get_row(services, Staff, pk)


async def test_okta_sequence(services, client):
    s = await scim_for(services, client)
    # 1. does the user exist?
    found = await s.get(
        "/Users", filter='userName eq "test.user@okta.local"', startIndex=1, count=100
    )
    assert found.status_code == 200
    assert found.json()["totalResults"] == 0 and found.json()["Resources"] == []
    # 2. create
    created = await s.post(
        "/Users",
        {
            "schemas": [USER],
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test User",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": True,
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["userName"] == "test.user@okta.local" and user["active"] is True
    assert "password" not in user
    # 3. read it back, and find it by userName
    assert (await s.get(f"/Users/{user['id']}")).json()["externalId"] == "00ujl29u0le5T6Aj10h7"
    listed = (await s.get("/Users", filter='userName eq "test.user@okta.local"')).json()
    assert [r["id"] for r in listed["Resources"]] == [user["id"]]
    # 4. update: Okta PUTs the whole user
    replaced = await s.put(
        f"/Users/{user['id']}",
        {
            "schemas": [USER],
            "id": user["id"],
            "userName": "test.user@okta.local",
            "name": {"givenName": "Another", "middleName": "Q", "familyName": "User"},
            "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Another User",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "active": True,
            "meta": {"resourceType": "User"},
        },
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"]["givenName"] == "Another"
    # 5. deactivate
    response = await s.client.patch(
        f"/scim/v2/Users/{user['id']}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
        headers=s.headers,
    )
    assert response.status_code == 200 and response.json()["active"] is False
    row = await _staff(services, s.tenant, user["id"])
    assert row.account_status == AccountStatus.DISABLED and row.first_name == "Another"
    # 6. reactivate
    response = await s.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"active": True}})
    assert response.status_code == 200 and response.json()["active"] is True
    row = await _staff(services, s.tenant, user["id"])
    assert row.account_status == AccountStatus.NOT_INVITED


async def test_entra_sequence(services, client):
    s = await scim_for(services, client)
    upn = "Test_User_ab6490ee@testuser.com"
    # the manager Entra will point at, provisioned first
    boss = await s.post(
        "/Users",
        {
            "schemas": [USER],
            "userName": "boss@testuser.com",
            "name": {"givenName": "Big", "familyName": "Boss"},
            "active": True,
        },
    )
    assert boss.status_code == 201
    # 1. is the user there?
    found = await s.get("/Users", filter=f'userName eq "{upn}"')
    assert found.json()["totalResults"] == 0
    # 2. create
    created = await s.post(
        "/Users",
        {
            "schemas": [USER, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": upn,
            "active": True,
            "emails": [{"primary": True, "type": "work", "value": upn}],
            "meta": {"resourceType": "User"},
            "name": {
                "formatted": "givenName familyName",
                "familyName": "familyName",
                "givenName": "givenName",
            },
            "roles": [],
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    # 3. find it by userName, and by externalId (Entra's other matching attribute)
    by_name = (await s.get("/Users", filter=f'userName eq "{upn}"')).json()
    assert [r["id"] for r in by_name["Resources"]] == [user["id"]]
    by_ext = await s.get("/Users", filter='externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')
    assert [r["id"] for r in by_ext.json()["Resources"]] == [user["id"]]
    # 4. update: emails and name, capitalised ops, a value path on emails
    updated = await s.patch(
        f"/Users/{user['id']}",
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updated@testuser.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["userName"] == "updated@testuser.com"
    assert updated.json()["name"]["familyName"] == "updatedFamilyName"
    # the manager, as Entra sends it: the id alone
    managed = await s.patch(
        f"/Users/{user['id']}",
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss.json()["id"]},
    )
    assert managed.status_code == 200, managed.text
    assert managed.json()[ENTERPRISE]["manager"]["value"] == boss.json()["id"]
    # 5. disable: Entra's older string values, then booleans
    off = await s.patch(
        f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": "False"}
    )
    assert off.status_code == 200 and off.json()["active"] is False
    row = await _staff(services, s.tenant, user["id"])
    assert row.account_status == AccountStatus.DISABLED and row.last_name == "updatedFamilyName"
    inactive = (await s.get("/Users", filter="active eq false")).json()
    assert [r["id"] for r in inactive["Resources"]] == [user["id"]]
    # 6. enable again
    on = await s.patch(f"/Users/{user['id']}", {"op": "Replace", "path": "active", "value": True})
    assert on.status_code == 200 and on.json()["active"] is True
    # 7. delete
    assert (await s.delete(f"/Users/{user['id']}")).status_code == 204
    assert (await s.get(f"/Users/{user['id']}")).status_code == 404
