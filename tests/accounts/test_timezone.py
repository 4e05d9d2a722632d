"""The account's time zone: UTC unless set, set by administrators through accountUpdate,
validated as an IANA name like a staff record's home time zone."""

from __future__ import annotations

import pytest

from app.accounts.models import Account
from tests.factories import (
    DENIED,
    OK,
    error_codes,
    get_row,
    make_tenant,
    member_as,
    outcome,
)

UPDATE = """mutation($input: AccountUpdateInput!) {
  accountUpdate(input: $input) {
    account { settings { timezone } } userErrors { field code message }
  }
}"""
READ = "{ account { settings { timezone } } }"


async def zone(api, member) -> str:
    return (await api.data(READ, as_=member))["account"]["settings"]["timezone"]


async def test_a_new_account_is_in_utc(api, services):
    tenant = await make_tenant(services)
    assert await zone(api, tenant.owner) == "UTC"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("VIEWER", DENIED),
        ("VIEWER+PD", DENIED),
        ("EDITOR", DENIED),
        ("EDITOR+PD", DENIED),
        ("ADMINISTRATOR", OK),
        ("OWNER", OK),
    ],
)
async def test_administrators_set_the_time_zone(api, services, key, expected):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    member = await member_as(api, services, tenant, key)
    body = await api(UPDATE, {"input": {"timezone": " Europe/Berlin "}}, as_=member)
    assert outcome(body, "accountUpdate") == expected
    if expected == OK:
        assert body["data"]["accountUpdate"]["account"] == {
            "settings": {"timezone": "Europe/Berlin"}
        }
    assert await zone(api, member) == ("Europe/Berlin" if expected == OK else "UTC")
    assert await zone(api, other.owner) == "UTC"  # never another account's
    assert (await get_row(services, Account, other.account_id)).timezone == "UTC"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("Mars/Olympus_Mons", "INVALID"),
        ("europe/berlin", "INVALID"),  # names are exact, as for homeTimezone
        ("EST", "INVALID"),  # legacy aliases are refused, as for homeTimezone
        ("x" * 65, "TOO_LONG"),
        ("Europe/Ber\x01lin", "INVALID"),
        ("", "REQUIRED"),
        ("   ", "REQUIRED"),
        (None, "REQUIRED"),  # every account has one: it is not cleared
    ],
)
async def test_a_bad_time_zone_is_refused_and_nothing_changes(api, services, value, code):
    tenant = await make_tenant(services)
    body = await api(UPDATE, {"input": {"timezone": value, "name": "Renamed"}}, as_=tenant.owner)
    assert not error_codes(body)
    errors = body["data"]["accountUpdate"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "timezone"], code)]
    row = await get_row(services, Account, tenant.account_id)
    assert (row.timezone, row.name) == ("UTC", row.name)
    assert row.name != "Renamed"  # the whole update is refused


async def test_other_settings_leave_the_time_zone_alone(api, services):
    tenant = await make_tenant(services)
    await api.data(UPDATE, {"input": {"timezone": "Asia/Kolkata"}}, as_=tenant.owner)
    data = await api.data(UPDATE, {"input": {"everyoneCanInvite": True}}, as_=tenant.owner)
    assert data["accountUpdate"]["account"]["settings"]["timezone"] == "Asia/Kolkata"
