"""The email-change link meeting disabling: a link asked for before the member was
disabled acts in that account no more than their old sessions do once re-enabled."""

from __future__ import annotations

import pytest

from app.access import Role
from app.staff.models import Staff
from tests.conftest import make_settings
from tests.factories import get_row, log_in_again, mail_token, make_member, make_tenant, take_mail

UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { emailConfirmationPending userErrors { code } }
}"""
CONFIRM = """mutation($token: String!) {
  staffEmailConfirm(input: {token: $token}) { email userErrors { field code } }
}"""
DISABLE = """mutation($id: ID!) {
  staffDisable(input: {staffId: $id}) { userErrors { code } }
}"""
ENABLE = DISABLE.replace("staffDisable", "staffEnable")
NEW = "somewhere.else@example.com"


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, password_reset_cooldown_seconds=0)


async def test_a_link_from_before_a_disable_is_dead_after_enabling(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    data = await api.data(UPDATE, {"input": {"id": member.staff_id, "email": NEW}}, as_=member)
    assert data["staffUpdate"] == {"emailConfirmationPending": True, "userErrors": []}
    [message] = [m for m in await take_mail(services) if m["To"] == NEW]
    token = mail_token(message)

    for mutation in (DISABLE, ENABLE):
        body = await api.data(mutation, {"id": member.staff_id}, as_=tenant.owner)
        assert next(iter(body.values()))["userErrors"] == []

    result = (await api.data(CONFIRM, {"token": token}))["staffEmailConfirm"]
    assert result["email"] is None
    assert [e["code"] for e in result["userErrors"]] == ["INVALID_TOKEN"]
    assert (await get_row(services, Staff, member.staff_pk)).email == member.email

    # a link asked for after being enabled again works
    member = await log_in_again(services, member)
    data = await api.data(UPDATE, {"input": {"id": member.staff_id, "email": NEW}}, as_=member)
    [message] = [m for m in await take_mail(services) if m["To"] == NEW]
    result = (await api.data(CONFIRM, {"token": mail_token(message)}))["staffEmailConfirm"]
    assert result == {"email": NEW, "userErrors": []}
