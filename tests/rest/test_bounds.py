"""The REST API's list calls have no paging (BigTime's have none), so each is bounded
by what it reads: past one answer's rows (the rows GraphQL's cost limit lets a document
read) reading stops and the call is refused with a clear message, so no call reads a
large account whole into the server's memory. What bounds it is what the caller would be
answered, not the account's size: a guest in a large account is answered. And a guest's
own custom fields are the values they have, not the account's catalogue of fields (which
GraphQL refuses them too)."""

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


async def test_the_staff_list_is_refused_past_one_answers_rows(client, services, monkeypatch):
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(3)])
    h = headers(tenant.owner)  # who sees all four records

    monkeypatch.setattr(routes, "MAX_ROWS", 4)
    listed = await client.get("/api/v2/staff", headers=h)
    assert listed.status_code == 200 and len(listed.json()) == 4

    monkeypatch.setattr(routes, "MAX_ROWS", 3)
    refused = await client.get("/api/v2/staff", headers=h)
    assert refused.status_code == 400
    assert refused.json() == {
        "Message": "More than 3 staff records: too many for one answer; read them in pages "
        "through the GraphQL API."
    }


async def test_a_guest_in_a_large_account_is_answered(client, services, monkeypatch):
    """The bound is the guest's answer (themselves and their projects' people), not the
    account, whose size it would otherwise tell them."""
    tenant = await make_tenant(services)
    guest = await make_member(
        services, tenant, Role.GUEST, kind="CUSTOMER", last_name="Guest"
    )
    await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(5)])
    monkeypatch.setattr(routes, "MAX_ROWS", 2)
    listed = await client.get("/api/v2/staff", headers=headers(guest))
    assert listed.status_code == 200
    assert [s["SName"] for s in listed.json()] == ["Guest"]


@pytest.mark.parametrize("names", [["Shirt"], []], ids=["named", "all"])
async def test_values_by_name_are_refused_past_one_answers_rows(
    client, services, monkeypatch, names
):
    tenant = await make_tenant(services)
    people = await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(3)])
    shirt = await make_custom_field(services, tenant, "Shirt")
    badge = await make_custom_field(services, tenant, "Badge")
    for person in people:
        await set_custom_value(services, tenant, person.id, shirt.id, "L")
        await set_custom_value(services, tenant, person.id, badge.id, "B")
    h = headers(tenant.owner)
    read = 3 if names else 6  # the values the call reads

    monkeypatch.setattr(routes, "MAX_ROWS", read)
    answer = await client.post("/api/v2/staff/UDFListByName", json=names, headers=h)
    assert answer.status_code == 200 and len(answer.json()) == read
    monkeypatch.setattr(routes, "MAX_ROWS", read - 1)
    refused = await client.post("/api/v2/staff/UDFListByName", json=names, headers=h)
    assert refused.status_code == 400
    assert refused.json()["Message"].startswith(f"More than {read - 1} custom field values")


async def test_a_guests_values_by_name_are_bounded_by_their_own(client, services, monkeypatch):
    """As with the staff list: the bound is the guest's answer (their own record's values),
    not the account's, whose size it would otherwise tell them."""
    tenant = await make_tenant(services)
    guest = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
    people = await make_staff_many(services, tenant, [{"last_name": f"S{i}"} for i in range(3)])
    shirt = await make_custom_field(services, tenant, "Shirt")
    for person in [*people, guest]:
        await set_custom_value(
            services, tenant, getattr(person, "id", None) or person.staff_pk, shirt.id, "L"
        )
    monkeypatch.setattr(routes, "MAX_ROWS", 1)
    answer = await client.post("/api/v2/staff/UDFListByName", json=[], headers=headers(guest))
    assert answer.status_code == 200, answer.text
    assert [v["Value"] for v in answer.json()] == ["L"]


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
