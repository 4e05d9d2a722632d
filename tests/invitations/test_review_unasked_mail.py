"""Emails a member causes to an address that did not ask for them (invitations created or
resent, a registration's welcome, an email-change confirmation) carry text the member
chose: each address takes a few a day from every account together (``mail_to_email``),
however many accounts one signs up, so Roster relays nobody's spam or phishing. And a
copy asked for (``bccSender``) goes to whoever asked, never to a colleague who resends."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.access import Role
from app.invitations.models import Invitation
from app.staff.models import Staff
from tests.conftest import make_settings
from tests.factories import error_codes, make_member, make_tenant, take_mail

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code } }
}"""
RESEND = "mutation($id: ID!) { invitationResend(input: {id: $id}) { userErrors { code } } }"
REGISTER = """mutation($input: StaffRegisterInput!) {
  staffRegister(input: $input) { staff { id } userErrors { code } }
}"""
UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { emailConfirmationPending userErrors { code } }
}"""
TARGET = "someone.far@example.com"


@pytest.fixture
def settings(database_url):
    return make_settings(
        database_url,
        rate_limits={"mail_to_email": 3},
        invitation_resend_cooldown_seconds=0,
        password_reset_cooldown_seconds=0,
    )


async def _count(services, model, **where) -> int:
    async with services.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model).filter_by(**where))


async def test_an_address_takes_a_few_unasked_emails_a_day_from_every_account(api, services):
    first, second, third = [await make_tenant(services) for _ in range(3)]
    made = await api.data(INVITE, {"input": {"email": TARGET}}, as_=first.owner)
    invitation = made["invitationCreate"]["invitation"]["id"]
    assert (await api.data(RESEND, {"id": invitation}, as_=first.owner))[
        "invitationResend"
    ]["userErrors"] == []
    registered = await api.data(
        REGISTER,
        {"input": {"firstName": "Far", "lastName": "Away", "email": TARGET.upper()}},
        as_=second.owner,
    )
    assert registered["staffRegister"]["userErrors"] == []
    assert len([m for m in await take_mail(services) if m["To"] == TARGET]) == 3
    # a fourth, from another account: refused, and nothing of it kept
    refused = await api(INVITE, {"input": {"email": TARGET}}, as_=third.owner)
    assert error_codes(refused) == ["RATE_LIMITED"], refused
    assert await _count(services, Invitation, account_id=third.account_id) == 0
    assert await _count(services, Staff, account_id=third.account_id, email=TARGET) == 0
    again = await api(RESEND, {"id": invitation}, as_=first.owner)
    assert error_codes(again) == ["RATE_LIMITED"], again
    assert [m for m in await take_mail(services) if m["To"] == TARGET] == []
    # another address is its own
    other = await api.data(INVITE, {"input": {"email": "near@example.com"}}, as_=third.owner)
    assert other["invitationCreate"]["userErrors"] == []


BULK = """mutation($rows: [InvitationCreateInput!]!) {
  invitationBulkCreate(input: {rows: $rows}) {
    results { email invitation { id } userErrors { field code } } userErrors { code } } }"""


async def test_an_address_past_its_allowance_fails_its_row_of_a_batch_alone(api, services):
    """Any account may use up an address's allowance (by inviting it again and again): an
    account's batch that names it still sends every other row."""
    other, tenant = await make_tenant(services), await make_tenant(services, seats=20)
    made = await api.data(INVITE, {"input": {"email": TARGET}}, as_=other.owner)
    invitation = made["invitationCreate"]["invitation"]["id"]
    for _ in range(2):
        await api.data(RESEND, {"id": invitation}, as_=other.owner)
    rows = [{"email": "first@example.com"}, {"email": TARGET}, {"email": "last@example.com"}]
    body = await api.data(BULK, {"rows": rows}, as_=tenant.owner)
    results = body["invitationBulkCreate"]["results"]
    assert [(r["email"], bool(r["invitation"])) for r in results] == [
        ("first@example.com", True), (TARGET, False), ("last@example.com", True)
    ]
    assert results[1]["userErrors"] == [{"field": ["input", "email"], "code": "LIMIT_REACHED"}]
    assert await _count(services, Invitation, account_id=tenant.account_id) == 2


async def test_email_change_confirmations_count_alike_and_answer_the_same(api, services):
    """A member pointing their own record's email at an address again and again sends it
    a confirmation each time: past the address's allowance none is sent, and the answer
    does not tell (it never tells whether one was sent)."""
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    answers = []
    for _ in range(5):
        body = await api.data(
            UPDATE, {"input": {"id": member.staff_id, "email": TARGET}}, as_=member
        )
        answers.append(body["staffUpdate"])
    assert all(a == answers[0] for a in answers) and answers[0]["userErrors"] == []
    assert len([m for m in await take_mail(services) if m["To"] == TARGET]) == 3


async def test_a_copy_goes_to_whoever_asked_for_it_never_to_a_colleague_resending(
    api, services
):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    made = await api.data(
        INVITE, {"input": {"email": TARGET, "bccSender": True}}, as_=tenant.owner
    )
    invitation = made["invitationCreate"]["invitation"]["id"]
    sent = await take_mail(services)
    assert sorted(m["To"] for m in sent) == sorted([TARGET, tenant.owner.email])
    assert (await api.data(RESEND, {"id": invitation}, as_=admin))["invitationResend"][
        "userErrors"
    ] == []
    assert [m["To"] for m in await take_mail(services)] == [TARGET]  # no copy to anyone
    assert (await api.data(RESEND, {"id": invitation}, as_=tenant.owner))["invitationResend"][
        "userErrors"
    ] == []
    assert sorted(m["To"] for m in await take_mail(services)) == sorted(
        [TARGET, tenant.owner.email]
    )
