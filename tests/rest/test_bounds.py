"""The REST API's list calls have no paging (BigTime's have none), so each is bounded as
GraphQL bounds a document: by the account's real size, before anything is read. An
account larger than one answer may hold is refused with a clear message, never read whole
into the server's memory. And a guest's own custom fields are the values they have, not
the account's catalogue of fields (which GraphQL refuses them too)."""

from __future__ import annotations

import pytest

from app.access import Role
from app.rest import routes
from tests.factories import (
    make_custom_field,
    make_member,
    make_staff_many,
    make_tenant,
    set_custom_value,
)


def headers(member) -> dict:
    return {"X-Auth-Token": member.token, "X-Auth-Realm": member.realm}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OWNER])
async def test_the_staff_list_is_refused_past_one_answers_rows(
    client, services, monkeypatch, role
):
    tenant = await make_tenant(services)
    member = tenant.owner if role == Role.OWNER else await make_member(services, tenant, role)
    await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(3)])
    records = 2 + (role != Role.OWNER)  # the owner, the three, a member

    monkeypatch.setattr(routes, "MAX_ROWS", records + 2)  # room enough
    listed = await client.get("/api/v2/staff?ShowInactive=true", headers=headers(member))
    assert listed.status_code == 200 and len(listed.json()) == records + 2

    monkeypatch.setattr(routes, "MAX_ROWS", records + 1)
    refused = await client.get("/api/v2/staff", headers=headers(member))
    assert refused.status_code == 400
    assert refused.json() == {
        "Message": f"The account holds more than {records + 1} staff records, too many for "
        "one answer: read them in pages through the GraphQL API."
    }


async def test_values_by_name_are_refused_past_one_answers_rows(client, services, monkeypatch):
    tenant = await make_tenant(services)
    people = await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(3)])
    shirt = await make_custom_field(services, tenant, "Shirt")
    for person in people:
        await set_custom_value(services, tenant, person.id, shirt.id, "L")
    h = headers(tenant.owner)

    monkeypatch.setattr(routes, "MAX_ROWS", 3)
    answer = await client.post("/api/v2/staff/UDFListByName", json=["Shirt"], headers=h)
    assert answer.status_code == 200 and len(answer.json()) == 3
    monkeypatch.setattr(routes, "MAX_ROWS", 2)
    for body in ([], ["Shirt"]):
        refused = await client.post("/api/v2/staff/UDFListByName", json=body, headers=h)
        assert refused.status_code == 400, body
        assert "more than 2 custom field values" in refused.json()["Message"]


async def test_a_guest_sees_their_own_values_not_the_accounts_fields(client, api, services):
    tenant = await make_tenant(services)
    guest = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
    shirt = await make_custom_field(services, tenant, "Shirt size")
    await make_custom_field(services, tenant, "Home town", personal=True)
    await make_custom_field(services, tenant, "Salary band")
    await set_custom_value(services, tenant, guest.staff_pk, shirt.id, "M")
    listed = (await client.get("/api/v2/staff", headers=headers(guest))).json()
    [own] = [s["StaffSid"] for s in listed if s.get("EMail") == guest.email]

    answer = await client.get(f"/api/v2/staff/UDFList/{own}", headers=headers(guest))
    assert answer.status_code == 200
    assert answer.json() == [{"Sid": shirt.id, "Name": "Shirt size", "Value": "M"}]
    # as GraphQL shows them their own record's values
    data = await api.data(
        "{ viewer { staff { customFields { field { name } value } } } }", as_=guest
    )
    assert data["viewer"]["staff"]["customFields"] == [
        {"field": {"name": "Shirt size"}, "value": "M"}
    ]
