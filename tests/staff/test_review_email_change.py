"""Changing one's own email is confirmed at the new address, so that staffUpdate cannot
tell a member without the ViewPersonalData permit which addresses the account holds."""

from __future__ import annotations

import re

import pytest

from app.access import Role
from app.identity.models import User
from app.staff.models import Staff
from tests.conftest import make_settings
from tests.factories import (
    get_row,
    mail_text,
    mail_token,
    make_member,
    make_staff,
    make_tenant,
    outbox_bcc,
    take_mail,
    update_row,
)

UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) {
    staff { id email title } emailConfirmationPending userErrors { field code message }
  }
}"""
CONFIRM = """mutation($token: String!) {
  staffEmailConfirm(input: {token: $token}) { email userErrors { field code message } }
}"""
AUDIT = """query($action: String!) {
  auditLog(filter: {action: $action}) { edges { node { action targetType targetId diff } } }
}"""
TAKEN = "taken.colleague@example.com"


@pytest.fixture
def settings(database_url, request):
    """No cooldown between confirmation links unless a test asks for one (indirect
    parametrization), so one member can ask twice in a row."""
    return make_settings(database_url, password_reset_cooldown_seconds=getattr(request, "param", 0))


async def setup(services, role=Role.VIEWER):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, role, title="Clerk")
    colleague = await make_staff(services, tenant, last_name="Colleague", email=TAKEN)
    return tenant, member, colleague


async def change_own(api, member, email, **fields):
    data = await api.data(
        UPDATE, {"input": {"id": member.staff_id, "email": email, **fields}}, as_=member
    )
    return data["staffUpdate"]


async def confirm(api, token):
    return (await api.data(CONFIRM, {"token": token}))["staffEmailConfirm"]


def recipients(messages) -> list[list[str]]:
    return [[m["To"], m.get("Cc")] for m in messages]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
async def test_a_taken_and_a_free_address_get_the_same_answer(api, services, role):
    tenant, member, colleague = await setup(services, role)
    taken = await change_own(api, member, TAKEN.upper())
    free = await change_own(api, member, "Free.Address@example.com")
    assert (
        taken
        == free
        == {
            "staff": {"id": member.staff_id, "email": member.email, "title": "Clerk"},
            "emailConfirmationPending": True,
            "userErrors": [],
        }
    )
    # each link goes to the address asked for, and to no one else
    messages = await take_mail(services)
    assert recipients(messages) == [
        [TAKEN, None],
        ["free.address@example.com", None],
    ]
    assert member.email not in " ".join(mail_text(m) for m in messages)
    assert all(bcc == [] for bcc in (await outbox_bcc(services)).values())
    # nothing changed yet
    assert (await get_row(services, Staff, member.staff_pk)).email == member.email
    assert (await get_row(services, Staff, colleague.id)).email == TAKEN


async def test_other_fields_apply_at_once_and_the_email_after_confirmation(api, services):
    tenant, member, _ = await setup(services, Role.EDITOR)
    result = await change_own(api, member, "new.me@example.com", title="Lead")
    assert result["staff"]["title"] == "Lead" and result["staff"]["email"] == member.email
    assert result["emailConfirmationPending"] is True
    [message] = await take_mail(services)
    assert message["To"] == "new.me@example.com"
    # the request is audited (a confirmation token issued), without the address or token
    requested = await api.data(AUDIT, {"action": "staffUpdate"}, as_=tenant.owner)
    [entry] = [e["node"] for e in requested["auditLog"]["edges"]]
    assert (entry["targetType"], entry["targetId"]) == ("Staff", member.staff_id)
    assert "user_tokens" in str(entry["diff"]) and "new.me" not in str(entry["diff"])
    assert mail_token(message).split(".")[0] not in str(entry["diff"])
    assert "/email/change?token=" in mail_text(message)
    assert (await get_row(services, Staff, member.staff_pk)).email == member.email

    done = await confirm(api, mail_token(message))
    assert done == {"email": "new.me@example.com", "userErrors": []}
    row = await get_row(services, Staff, member.staff_pk)
    assert (row.email, row.title) == ("new.me@example.com", "Lead")
    # the login email is the user's and stays as it was
    assert (await get_row(services, User, member.user_id)).email == member.email
    # the link works once
    again = await confirm(api, mail_token(message))
    assert again["email"] is None
    assert [e["code"] for e in again["userErrors"]] == ["TOKEN_USED"]
    # the change is audited in the member's account, about their record
    entries = await api.data(AUDIT, {"action": "staffEmailConfirm"}, as_=tenant.owner)
    [entry] = [e["node"] for e in entries["auditLog"]["edges"]]
    assert (entry["targetType"], entry["targetId"]) == ("Staff", member.staff_id)
    assert "new.me@example.com" not in str(entry["diff"])  # personal data is redacted


async def test_a_taken_address_is_refused_on_confirmation_and_the_link_kept(api, services):
    tenant, member, colleague = await setup(services)
    await change_own(api, member, TAKEN)
    [message] = await take_mail(services)
    token = mail_token(message)
    refused = await confirm(api, token)
    assert refused["email"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "token"], "TAKEN")
    ]
    assert (await get_row(services, Staff, member.staff_pk)).email == member.email
    # once the address is free, the same link sets it
    await update_row(services, Staff, colleague.id, email="moved@example.com")
    assert (await confirm(api, token))["email"] == TAKEN
    assert (await get_row(services, Staff, member.staff_pk)).email == TAKEN


async def test_only_the_latest_link_works_and_tampering_breaks_it(api, services):
    _, member, _ = await setup(services)
    await change_own(api, member, "first@example.com")
    await change_own(api, member, "second@example.com")
    first, second = [mail_token(m) for m in await take_mail(services)]
    assert [e["code"] for e in (await confirm(api, first))["userErrors"]] == ["TOKEN_USED"]
    # the address is bound into the token: another one does not match its digest
    random_part, _ = second.rsplit(".", 1)
    _, other_bound = first.rsplit(".", 1)
    forged = await confirm(api, f"{random_part}.{other_bound}")
    assert [e["code"] for e in forged["userErrors"]] == ["INVALID_TOKEN"]
    assert (await confirm(api, second))["email"] == "second@example.com"


@pytest.mark.parametrize("settings", [60], indirect=True)
async def test_links_are_sent_at_most_once_per_cooldown(api, services):
    _, member, _ = await setup(services)
    one = await change_own(api, member, TAKEN)
    two = await change_own(api, member, "other@example.com")
    assert one == two  # the same answer, sent or not
    assert recipients(await take_mail(services)) == [[TAKEN, None]]


async def test_permit_holders_editing_others_change_it_directly(api, services):
    tenant, member, colleague = await setup(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    other = await api.data(UPDATE, {"input": {"id": member.staff_id, "email": TAKEN}}, as_=admin)
    assert [e["code"] for e in other["staffUpdate"]["userErrors"]] == ["TAKEN"]
    moved = await api.data(
        UPDATE, {"input": {"id": member.staff_id, "email": "set@example.com"}}, as_=admin
    )
    assert moved["staffUpdate"]["staff"]["email"] == "set@example.com"
    assert moved["staffUpdate"]["emailConfirmationPending"] is False
    assert await take_mail(services) == []
    # their own email too goes through confirmation
    own = await change_own(api, admin, "admin.new@example.com")
    assert own["emailConfirmationPending"] is True and own["userErrors"] == []
    assert recipients(await take_mail(services)) == [["admin.new@example.com", None]]


async def test_unchanged_cleared_and_invalid_own_email(api, services):
    _, member, _ = await setup(services)
    same = await change_own(api, member, member.email.upper())
    assert same["emailConfirmationPending"] is False and same["userErrors"] == []
    bad = await change_own(api, member, "not an email")
    assert [e["code"] for e in bad["userErrors"]] == ["INVALID"]
    cleared = await change_own(api, member, None)
    assert cleared["staff"]["email"] is None and cleared["emailConfirmationPending"] is False
    assert await take_mail(services) == []


async def test_disabled_member_cannot_confirm(api, services):
    _, member, _ = await setup(services)
    await change_own(api, member, "late@example.com")
    [message] = await take_mail(services)
    await update_row(services, Staff, member.staff_pk, account_status="DISABLED")
    refused = await confirm(api, mail_token(message))
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_TOKEN"]


# --- the page behind the link -------------------------------------------------------------


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def test_change_page_get_does_not_use_the_token_post_does(api, client, services):
    tenant, member, _ = await setup(services)
    await change_own(api, member, "paged@example.com")
    [message] = await take_mail(services)
    token = mail_token(message)
    for _ in range(2):  # a link scanner fetching the page
        page = await client.get("/email/change", params={"token": token})
        assert page.status_code == 200 and f'name="token" value="{token}"' in page.text
    assert (await get_row(services, Staff, member.staff_pk)).email == member.email

    csrf = csrf_of(page.text)
    done = await client.post("/email/change", data={"csrf": csrf, "token": token})
    assert done.status_code == 200 and "paged@example.com" in done.text
    assert (await get_row(services, Staff, member.staff_pk)).email == "paged@example.com"
    again = await client.post("/email/change", data={"csrf": csrf, "token": token})
    assert again.status_code == 400 and "Could not confirm" in again.text
    entries = await api.data(AUDIT, {"action": "staffEmailConfirm"}, as_=tenant.owner)
    [entry] = [e["node"] for e in entries["auditLog"]["edges"]]
    assert (entry["targetType"], entry["targetId"]) == ("Staff", member.staff_id)


async def test_change_page_refuses_a_taken_address(api, client, services):
    _, member, _ = await setup(services)
    await change_own(api, member, TAKEN)
    [message] = await take_mail(services)
    page = await client.get("/email/change", params={"token": mail_token(message)})
    done = await client.post(
        "/email/change", data={"csrf": csrf_of(page.text), "token": mail_token(message)}
    )
    assert done.status_code == 400 and "Another staff member" in done.text
    assert (await get_row(services, Staff, member.staff_pk)).email == member.email
