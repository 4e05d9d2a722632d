"""Administering the account itself: ownership transfer, plans and account settings.

The matrices have one row per role acting (VIEWER, EDITOR, ADMINISTRATOR, OWNER). Outcomes:
OK = done; DENIED = the whole operation is refused (top-level FORBIDDEN).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.access import Role
from tests.factories import (
    DENIED,
    OK,
    PASSWORD,
    error_codes,
    gid,
    make_member,
    make_staff,
    make_tenant,
    outcome,
)

PAYLOAD = "userErrors { field code message }"
DISABLE = f"""mutation($id: ID!) {{
  staffDisable(input: {{staffId: $id}}) {{ staff {{ id accountStatus }} {PAYLOAD} }}
}}"""
ROLE_CHANGE = f"""mutation($id: ID!, $role: Role!) {{
  staffRoleChange(input: {{staffId: $id, role: $role}}) {{ staff {{ id role }} {PAYLOAD} }}
}}"""
TRANSFER = f"""mutation($id: ID!, $password: String!) {{
  accountOwnershipTransfer(input: {{staffId: $id, password: $password}}) {{
    previousOwner {{ id role }} owner {{ id role }} {PAYLOAD}
  }}
}}"""
PLAN = f"""mutation($plan: Plan!, $seats: Int) {{
  accountPlanChange(input: {{plan: $plan, seatLimit: $seats}}) {{
    account {{ plan seats {{ limit used reserved available }} }} {PAYLOAD}
  }}
}}"""
ACCOUNT_UPDATE = f"""mutation($input: AccountUpdateInput!) {{
  accountUpdate(input: $input) {{
    account {{ name settings {{ everyoneCanInvite invitationExpiryDays }} }} {PAYLOAD}
  }}
}}"""
INVITE = f"""mutation($email: String!) {{
  invitationCreate(input: {{email: $email}}) {{ invitation {{ id expiresAt }} {PAYLOAD} }}
}}"""
ACCOUNT = "{ account { name plan settings { everyoneCanInvite invitationExpiryDays } "
ACCOUNT += "seats { limit used reserved available } } }"
SEATS = "{ account { seats { limit used reserved available } } }"
VIEWER = "{ viewer { role account { slug } accounts { slug } staff { id } } }"
LIST = """query($filter: StaffFilterInput) {
  staff(filter: $filter) { totalCount nodes { id accountStatus } } }"""


async def seats(api, member) -> dict:
    return (await api.data(SEATS, as_=member))["account"]["seats"]


def payload_errors(data: dict, field: str) -> list[dict]:
    return data[field]["userErrors"]


# --- ownership -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor_key", "expected"),
    [("VIEWER", DENIED), ("EDITOR", DENIED), ("ADMINISTRATOR", DENIED), ("OWNER", OK)],
)
async def test_ownership_transfer_matrix(api, services, actor_key, expected):
    tenant = await make_tenant(services)
    heir = await make_member(services, tenant, Role.ADMINISTRATOR)
    actor = (
        tenant.owner
        if actor_key == "OWNER"
        else await make_member(services, tenant, Role(actor_key))
    )
    body = await api(TRANSFER, {"id": heir.staff_id, "password": PASSWORD}, as_=actor)
    assert outcome(body, "accountOwnershipTransfer") == expected
    owners = await api.data(LIST, {"filter": {"roles": ["OWNER"]}}, as_=tenant.owner)
    expected_owner = heir if expected == OK else tenant.owner
    assert [n["id"] for n in owners["staff"]["nodes"]] == [expected_owner.staff_id]


async def test_ownership_transfer_old_owner_becomes_administrator(api, services):
    tenant = await make_tenant(services)
    heir = await make_member(services, tenant, Role.ADMINISTRATOR)
    old = tenant.owner
    done = await api.data(TRANSFER, {"id": heir.staff_id, "password": PASSWORD}, as_=old)
    result = done["accountOwnershipTransfer"]
    assert result["userErrors"] == []
    assert result["previousOwner"] == {"id": old.staff_id, "role": "ADMINISTRATOR"}
    assert result["owner"] == {"id": heir.staff_id, "role": "OWNER"}

    assert (await api.data(VIEWER, as_=old))["viewer"]["role"] == "ADMINISTRATOR"
    assert (await api.data(VIEWER, as_=heir))["viewer"]["role"] == "OWNER"
    owners = await api.data(LIST, {"filter": {"roles": ["OWNER"]}}, as_=heir)
    assert owners["staff"]["totalCount"] == 1
    # what only the owner may do has moved with it
    assert error_codes(await api(PLAN, {"plan": "TEAM"}, as_=old)) == ["FORBIDDEN"]
    again = await api(TRANSFER, {"id": heir.staff_id, "password": PASSWORD}, as_=old)
    assert error_codes(again) == ["FORBIDDEN"]
    assert (
        payload_errors(await api.data(PLAN, {"plan": "TEAM"}, as_=heir), "accountPlanChange") == []
    )
    # the new owner may now manage the old one, who is an administrator below them
    demoted = await api.data(ROLE_CHANGE, {"id": old.staff_id, "role": "EDITOR"}, as_=heir)
    assert payload_errors(demoted, "staffRoleChange") == []


async def test_ownership_transfer_needs_the_owners_password(api, services):
    tenant = await make_tenant(services)
    heir = await make_member(services, tenant, Role.ADMINISTRATOR)
    for password in ("not my password", "", PASSWORD.upper()):
        body = await api.data(
            TRANSFER, {"id": heir.staff_id, "password": password}, as_=tenant.owner
        )
        result = body["accountOwnershipTransfer"]
        assert [e["code"] for e in result["userErrors"]] == ["INVALID_CREDENTIALS"]
        assert result["owner"] is None
    assert (await api.data(VIEWER, as_=tenant.owner))["viewer"]["role"] == "OWNER"
    assert (await api.data(VIEWER, as_=heir))["viewer"]["role"] == "ADMINISTRATOR"


@pytest.mark.parametrize("target", ["EDITOR", "VIEWER", "DISABLED_ADMIN", "NO_LOGIN", "SELF"])
async def test_ownership_goes_only_to_an_active_administrator(api, services, target):
    tenant = await make_tenant(services)
    if target == "SELF":
        staff_id = tenant.owner.staff_id
    elif target == "NO_LOGIN":
        record = await make_staff(services, tenant, role=Role.ADMINISTRATOR)
        staff_id = gid("Staff", record.id)
    else:
        role = Role.ADMINISTRATOR if target == "DISABLED_ADMIN" else Role(target)
        member = await make_member(services, tenant, role)
        staff_id = member.staff_id
        if target == "DISABLED_ADMIN":
            await api.data(DISABLE, {"id": staff_id}, as_=tenant.owner)
    body = await api.data(TRANSFER, {"id": staff_id, "password": PASSWORD}, as_=tenant.owner)
    [error] = body["accountOwnershipTransfer"]["userErrors"]
    assert error["code"] == "INVALID_STATE"
    assert error["field"] == ["input", "staffId"]
    owners = await api.data(LIST, {"filter": {"roles": ["OWNER"]}}, as_=tenant.owner)
    assert [n["id"] for n in owners["staff"]["nodes"]] == [tenant.owner.staff_id]


# --- plans -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor_key", "expected"),
    [("VIEWER", DENIED), ("EDITOR", DENIED), ("ADMINISTRATOR", DENIED), ("OWNER", OK)],
)
async def test_plan_change_matrix(api, services, actor_key, expected):
    tenant = await make_tenant(services, seats=50)
    actor = (
        tenant.owner
        if actor_key == "OWNER"
        else await make_member(services, tenant, Role(actor_key))
    )
    body = await api(PLAN, {"plan": "TEAM"}, as_=actor)
    assert outcome(body, "accountPlanChange") == expected
    limit = (await seats(api, tenant.owner))["limit"]
    assert limit == (25 if expected == OK else 50)


@pytest.mark.parametrize(
    ("plan", "seat_limit", "limit"),
    [
        ("FREE", None, 5),
        ("TEAM", None, 25),
        ("BUSINESS", None, 100),
        ("CUSTOM", 42, 42),
        ("CUSTOM", 1, 1),
    ],
)
async def test_plan_sets_the_seat_limit(api, services, plan, seat_limit, limit):
    tenant = await make_tenant(services, seats=50)
    data = await api.data(PLAN, {"plan": plan, "seats": seat_limit}, as_=tenant.owner)
    result = data["accountPlanChange"]
    assert result["userErrors"] == []
    assert result["account"]["plan"] == plan
    assert result["account"]["seats"]["limit"] == limit
    account = (await api.data(ACCOUNT, as_=tenant.owner))["account"]
    assert account["plan"] == plan
    assert account["seats"] == {"limit": limit, "used": 1, "reserved": 0, "available": limit - 1}


@pytest.mark.parametrize(
    ("plan", "seat_limit"),
    [("CUSTOM", None), ("CUSTOM", 0), ("CUSTOM", -3), ("TEAM", 30), ("FREE", 5)],
)
async def test_plan_seat_limit_only_for_custom(api, services, plan, seat_limit):
    tenant = await make_tenant(services, seats=50)
    data = await api.data(PLAN, {"plan": plan, "seats": seat_limit}, as_=tenant.owner)
    result = data["accountPlanChange"]
    assert result["account"] is None
    [error] = result["userErrors"]
    assert error["code"] == "INVALID" and error["field"] == ["input", "seatLimit"]
    assert (await seats(api, tenant.owner))["limit"] == 50


async def test_plan_downgrade_below_use_says_how_many_seats_to_free(api, services):
    tenant = await make_tenant(services, seats=50)
    members = [await make_member(services, tenant, Role.VIEWER) for _ in range(5)]
    invited = await api.data(INVITE, {"email": "pending@example.com"}, as_=tenant.owner)
    assert payload_errors(invited, "invitationCreate") == []
    assert await seats(api, tenant.owner) == {
        "limit": 50,
        "used": 6,
        "reserved": 1,
        "available": 43,
    }

    data = await api.data(PLAN, {"plan": "FREE"}, as_=tenant.owner)
    result = data["accountPlanChange"]
    assert result["account"] is None
    [error] = result["userErrors"]
    assert error["code"] == "PLAN_TOO_SMALL"
    # 6 members + 1 pending invitation on a 5-seat plan: 2 seats must go
    assert re.search(r"\b2\b", error["message"]), error["message"]
    custom = await api.data(PLAN, {"plan": "CUSTOM", "seats": 6}, as_=tenant.owner)
    [error] = custom["accountPlanChange"]["userErrors"]
    assert error["code"] == "PLAN_TOO_SMALL"
    assert re.search(r"\b1\b", error["message"]), error["message"]
    account = (await api.data(ACCOUNT, as_=tenant.owner))["account"]
    assert account["seats"]["limit"] == 50

    # free two seats: exactly full is fine
    for member in members[:2]:
        await api.data(DISABLE, {"id": member.staff_id}, as_=tenant.owner)
    data = await api.data(PLAN, {"plan": "FREE"}, as_=tenant.owner)
    assert data["accountPlanChange"]["userErrors"] == []
    assert data["accountPlanChange"]["account"]["seats"] == {
        "limit": 5,
        "used": 4,
        "reserved": 1,
        "available": 0,
    }
    full = await api.data(INVITE, {"email": "another@example.com"}, as_=tenant.owner)
    assert [e["code"] for e in payload_errors(full, "invitationCreate")] == ["SEAT_LIMIT_REACHED"]


# --- account settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor_key", "expected"),
    [("VIEWER", DENIED), ("EDITOR", DENIED), ("ADMINISTRATOR", OK), ("OWNER", OK)],
)
async def test_account_update_matrix(api, services, actor_key, expected):
    tenant = await make_tenant(services, "Old Name")
    actor = (
        tenant.owner
        if actor_key == "OWNER"
        else await make_member(services, tenant, Role(actor_key))
    )
    body = await api(
        ACCOUNT_UPDATE,
        {"input": {"name": "  New Name ", "everyoneCanInvite": True, "invitationExpiryDays": 14}},
        as_=actor,
    )
    assert outcome(body, "accountUpdate") == expected
    account = (await api.data(ACCOUNT, as_=tenant.owner))["account"]
    if expected == OK:
        assert account["name"] == "New Name"
        assert account["settings"] == {"everyoneCanInvite": True, "invitationExpiryDays": 14}
    else:
        assert account["name"] == "Old Name"
        assert account["settings"]["everyoneCanInvite"] is False


@pytest.mark.parametrize(
    ("days", "ok"), [(0, False), (1, True), (30, True), (31, False), (-1, False)]
)
async def test_invitation_expiry_days_between_1_and_30(api, services, days, ok):
    tenant = await make_tenant(services)
    before = (await api.data(ACCOUNT, as_=tenant.owner))["account"]["settings"]
    data = await api.data(
        ACCOUNT_UPDATE, {"input": {"invitationExpiryDays": days}}, as_=tenant.owner
    )
    errors = data["accountUpdate"]["userErrors"]
    settings = (await api.data(ACCOUNT, as_=tenant.owner))["account"]["settings"]
    if ok:
        assert errors == []
        assert settings["invitationExpiryDays"] == days
        # new invitations use it
        invited = await api.data(INVITE, {"email": "soon@example.com"}, as_=tenant.owner)
        expires = datetime.fromisoformat(
            invited["invitationCreate"]["invitation"]["expiresAt"].replace("Z", "+00:00")
        )
        expected = datetime.now(UTC) + timedelta(days=days)
        assert abs(expires - expected) < timedelta(minutes=5)
    else:
        assert [(e["code"], e["field"]) for e in errors] == [
            ("INVALID", ["input", "invitationExpiryDays"])
        ]
        assert settings == before


async def test_account_update_refuses_an_empty_name_and_changes_nothing(api, services):
    tenant = await make_tenant(services, "Keep Me")
    data = await api.data(
        ACCOUNT_UPDATE,
        {"input": {"name": "   ", "everyoneCanInvite": True, "invitationExpiryDays": 40}},
        as_=tenant.owner,
    )
    codes = {tuple(e["field"]): e["code"] for e in data["accountUpdate"]["userErrors"]}
    assert codes == {("input", "name"): "REQUIRED", ("input", "invitationExpiryDays"): "INVALID"}
    account = (await api.data(ACCOUNT, as_=tenant.owner))["account"]
    assert account["name"] == "Keep Me"
    assert account["settings"]["everyoneCanInvite"] is False


async def test_everyone_can_invite_lets_a_viewer_invite(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    assert error_codes(await api(INVITE, {"email": "a@example.com"}, as_=viewer)) == ["FORBIDDEN"]
    await api.data(ACCOUNT_UPDATE, {"input": {"everyoneCanInvite": True}}, as_=tenant.owner)
    invited = await api.data(INVITE, {"email": "a@example.com"}, as_=viewer)
    assert payload_errors(invited, "invitationCreate") == []
    await api.data(ACCOUNT_UPDATE, {"input": {"everyoneCanInvite": False}}, as_=tenant.owner)
    assert error_codes(await api(INVITE, {"email": "b@example.com"}, as_=viewer)) == ["FORBIDDEN"]
