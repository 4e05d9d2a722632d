"""Numbers no record can hold are refused as bad input, never answered with a 500: a JSON
integer too large for a float, a path's sid of thousands of digits (Python refuses to
read such a number at all)."""

from __future__ import annotations

import pytest

from tests.factories import make_staff, make_tenant


def headers(member) -> dict:
    return {"X-Auth-Token": member.token, "X-Auth-Realm": member.realm}


@pytest.mark.parametrize("field", ["Capacity", "Rate1", "CostFactor", "Salary"])
async def test_a_json_integer_too_large_for_a_float_is_out_of_range(client, services, field):
    tenant = await make_tenant(services)
    body = f'{{"SName": "Huge", "EMail": "huge@example.com", "{field}": 1{"0" * 400}}}'
    answer = await client.post(
        "/api/v2/staff/add?inviteUser=false",
        content=body,
        headers={**headers(tenant.owner), "content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert field in answer.text
    listed = await client.get("/api/v2/staff", headers=headers(tenant.owner))
    assert "Huge" not in [s["SName"] for s in listed.json()]


@pytest.mark.parametrize("digits", ["9" * 5000, "9" * 11, "2147483648", "١٢"])
@pytest.mark.parametrize("path", ["/api/v2/staff/detail/%s", "/api/v2/staff/UDFList/%s"])
async def test_a_sid_no_record_can_have_is_not_found(client, services, digits, path):
    tenant = await make_tenant(services)
    await make_staff(services, tenant)
    answer = await client.get(path % digits, headers=headers(tenant.owner))
    assert answer.status_code == 404, answer.text


@pytest.mark.parametrize(
    ("field", "value"), [("SecurityGroup", True), ("StaffType", True), ("SecurityGroup", False)]
)
async def test_a_json_boolean_is_no_code(client, services, field, value):
    """JSON's true is not BigTime's code 1 (an administrator, an employee): refused as bad
    input, nothing added (Python's True == 1 once made it one)."""
    tenant = await make_tenant(services)
    body = {"SName": "Flag", "EMail": "flag@example.com", field: value}
    answer = await client.post(
        "/api/v2/staff/add?inviteUser=false", json=body, headers=headers(tenant.owner)
    )
    assert answer.status_code == 400, answer.text
    assert field in answer.text
    listed = await client.get("/api/v2/staff", headers=headers(tenant.owner))
    assert "Flag" not in [s["SName"] for s in listed.json()]
