"""Invitations as an attacker inside the account would use them.

Inviting an existing record is editing it; inviters without ViewPersonalData learn nothing
about whose email is whose; inviters who do not administer see only their own invitations
and no invitee's personal data; staffRegister never enrols an existing login.
"""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.access import Role
from app.accounts.models import Account
from app.graphql.ids import decode_id
from app.invitations.models import Invitation
from app.staff.models import AccountStatus, Staff
from tests.factories import (
    error_codes,
    gid,
    mail_text,
    make_member,
    make_staff,
    make_tenant,
    make_user,
    member_as,
    set_staff_secrets,
    share_staff_with,
    take_mail,
    update_row,
)

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) {
    invitation { id email message staff { id } }
    userErrors { field code message }
  }
}"""
BULK = """mutation($rows: [InvitationCreateInput!]!) {
  invitationBulkCreate(input: {rows: $rows}) {
    createdCount results { email userErrors { field code message } }
  }
}"""
LIST = """{ invitations(first: 100) { edges { node {
  id email message role status inviter { id } staff { id }
} } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on Invitation { id email message } } }"""
RESEND = """mutation($id: ID!) {
  invitationResend(input: {id: $id}) { invitation { id } userErrors { field code } }
}"""
REVOKE = """mutation($id: ID!) {
  invitationRevoke(input: {id: $id}) { invitation { id } userErrors { field code } }
}"""
STAFF_CREATE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) {
    staff { id restricted accountStatus } userErrors { field code }
  }
}"""
REGISTER = """mutation($input: StaffRegisterInput!) {
  staffRegister(input: $input) {
    staff { id accountStatus hasLogin role } userErrors { field code }
  }
}"""
ACCEPT = """mutation($t: String!, $pw: String) {
  invitationAccept(input: {token: $t, password: $pw, firstName: "A", lastName: "B"}) {
    token staff { id } userErrors { code }
  }
}"""
SEATS = "{ account { seats { used reserved available } } }"
ACCOUNT = "{ account { name } }"
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accounts { slug } userErrors { code } }
}"""


async def open_invites(services, tenant) -> None:
    await update_row(services, Account, tenant.account_id, everyone_can_invite=True)


async def invite(api, member, **fields) -> dict:
    return (await api.data(INVITE, {"input": fields}, as_=member))["invitationCreate"]


def errors(payload) -> list[tuple]:
    return [(tuple(e["field"] or ()), e["code"]) for e in payload["userErrors"]]


async def staff_row(services, pk: int) -> Staff:
    async with services.db.session() as session:
        return await session.get(Staff, pk)


async def invitation_count(services) -> int:
    async with services.db.session() as session:
        return len(list(await session.scalars(select(Invitation.id))))


# --- taking over a record through an invitation ---


async def test_viewer_who_may_invite_cannot_take_over_a_restricted_record(api, services):
    tenant = await make_tenant(services)
    await open_invites(services, tenant)
    viewer = await make_member(services, tenant, Role.VIEWER)
    target = await make_staff(services, tenant, restricted=True, email="ceo@example.com")
    await set_staff_secrets(services, target.id, ssn="123-45-6789", salary="250000")
    blank = await make_staff(services, tenant, restricted=True)

    for record in (target, blank):
        payload = await invite(
            api, viewer, email="attacker@evil.example", staffId=gid("Staff", record.id)
        )
        assert payload["invitation"] is None
        assert errors(payload) == [(("input", "staffId"), "FORBIDDEN")]
    bulk = await api.data(
        BULK,
        {"rows": [{"email": "attacker@evil.example", "staffId": gid("Staff", target.id)}]},
        as_=viewer,
    )
    assert bulk["invitationBulkCreate"]["createdCount"] == 0

    assert (await staff_row(services, target.id)).email == "ceo@example.com"
    assert (await staff_row(services, blank.id)).email is None
    assert (await staff_row(services, target.id)).account_status == AccountStatus.NOT_INVITED
    assert await invitation_count(services) == 0
    assert await take_mail(services) == []


@pytest.mark.parametrize("restricted", [False, True])
async def test_viewer_cannot_invite_any_existing_record(api, services, restricted):
    """A viewer edits nothing, shared or not, so invites no existing record."""
    tenant = await make_tenant(services)
    await open_invites(services, tenant)
    viewer = await member_as(api, services, tenant, "VIEWER+PD")
    record = await make_staff(services, tenant, restricted=restricted, email="r@example.com")
    if restricted:
        await share_staff_with(services, tenant, record.id, viewer.staff_pk)
    payload = await invite(api, viewer, email="r@example.com", staffId=gid("Staff", record.id))
    assert errors(payload) == [(("input", "staffId"), "FORBIDDEN")]
    # Nor by naming its email (the viewer holds the permit: a precise answer).
    payload = await invite(api, viewer, email="r@example.com")
    assert errors(payload) == [(("input", "email"), "FORBIDDEN")]
    assert payload["userErrors"][0]["message"] == "You may not edit this staff member."
    assert await invitation_count(services) == 0


async def test_editor_without_the_permit_cannot_set_or_change_an_email_by_inviting(api, services):
    tenant = await make_tenant(services)
    await open_invites(services, tenant)
    editor = await make_member(services, tenant, Role.EDITOR)
    named = await make_staff(services, tenant, email="old@example.com")
    blank = await make_staff(services, tenant)

    changed = await invite(api, editor, email="new@example.com", staffId=gid("Staff", named.id))
    assert errors(changed) == [(("input", "staffId"), "FORBIDDEN")]
    assert "ViewPersonalData" in changed["userErrors"][0]["message"]
    set_ = await invite(api, editor, email="new@example.com", staffId=gid("Staff", blank.id))
    assert errors(set_) == [(("input", "staffId"), "FORBIDDEN")]
    # Even the record's own address: a different answer would confirm a guessed email.
    same = await invite(api, editor, email="old@example.com", staffId=gid("Staff", named.id))
    assert same["userErrors"] == changed["userErrors"]

    assert (await staff_row(services, named.id)).email == "old@example.com"
    assert (await staff_row(services, blank.id)).email is None
    assert await invitation_count(services) == 0
    assert await take_mail(services) == []


async def test_editor_with_the_permit_invites_only_records_they_may_edit(api, services):
    tenant = await make_tenant(services)
    await open_invites(services, tenant)
    editor = await member_as(api, services, tenant, "EDITOR+PD")
    open_record = await make_staff(services, tenant, email="old@example.com")
    hidden = await make_staff(services, tenant, restricted=True, email="hidden@example.com")
    shared = await make_staff(services, tenant, restricted=True, email="shared@example.com")
    await share_staff_with(services, tenant, shared.id, editor.staff_pk)

    refused = await invite(api, editor, email="x@example.com", staffId=gid("Staff", hidden.id))
    assert errors(refused) == [(("input", "staffId"), "FORBIDDEN")]
    by_email = await invite(api, editor, email="hidden@example.com")
    assert errors(by_email) == [(("input", "email"), "FORBIDDEN")]
    assert (await staff_row(services, hidden.id)).email == "hidden@example.com"
    assert (await staff_row(services, hidden.id)).account_status == AccountStatus.NOT_INVITED

    ok = await invite(api, editor, email="new@example.com", staffId=gid("Staff", open_record.id))
    assert ok["userErrors"] == [] and ok["invitation"]["email"] == "new@example.com"
    assert (await staff_row(services, open_record.id)).email == "new@example.com"
    ok = await invite(api, editor, email="shared@example.com")
    assert ok["userErrors"] == []
    assert ok["invitation"]["staff"]["id"] == gid("Staff", shared.id)
    assert sorted(m["To"] for m in await take_mail(services)) == [
        "new@example.com",
        "shared@example.com",
    ]


async def test_the_attack_from_the_report_no_longer_reads_the_record(api, services):
    """Invite a restricted record to one's own mailbox, accept, read it as its owner."""
    tenant = await make_tenant(services)
    await open_invites(services, tenant)
    viewer = await make_member(services, tenant, Role.VIEWER)
    target = await make_staff(services, tenant, restricted=True)
    await set_staff_secrets(services, target.id, ssn="123-45-6789")
    payload = await invite(
        api, viewer, email="attacker@evil.example", staffId=gid("Staff", target.id)
    )
    assert payload["invitation"] is None
    assert await take_mail(services) == []  # no link to accept
    async with services.db.session() as session:
        row = await session.get(Staff, target.id)
        assert row.user_id is None and row.email is None


async def test_editor_with_the_permit_adds_and_invites_a_restricted_record(api, services):
    """ADD+INVITE of a record they just made restricted: theirs to edit (it is shared)."""
    tenant = await make_tenant(services)
    await open_invites(services, tenant)
    editor = await member_as(api, services, tenant, "EDITOR+PD")
    body = await api.data(
        STAFF_CREATE,
        {
            "input": {
                "firstName": "Ada",
                "lastName": "Lovelace",
                "email": "ada@example.com",
                "restricted": True,
                "invite": True,
            }
        },
        as_=editor,
    )
    created = body["staffCreate"]
    assert created["userErrors"] == []
    assert created["staff"]["restricted"] is True
    assert created["staff"]["accountStatus"] == "INVITED"
    assert [m["To"] for m in await take_mail(services)] == ["ada@example.com"]


async def test_an_email_cannot_change_by_invitation_while_impersonating(api, services):
    tenant = await make_tenant(services)
    record = await make_staff(services, tenant, email="old@example.com")
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    started = await api.data(
        """mutation($id: ID!) {
             impersonationStart(input: {staffId: $id, reason: "support", minutes: 30}) {
               token userErrors { code } } }""",
        {"id": admin.staff_id},
        as_=tenant.owner,
    )
    token = started["impersonationStart"]["token"]
    assert token
    body = await api(
        INVITE,
        {"input": {"email": "new@example.com", "staffId": gid("Staff", record.id)}},
        token=token,
        realm=tenant.slug,
    )
    # nobody invites while impersonating (test_review_impersonation_ways_in.py)
    assert error_codes(body) == ["FORBIDDEN"], body
    assert (await staff_row(services, record.id)).email == "old@example.com"


# --- one neutral answer for inviters without the permit ---


async def test_inviters_without_the_permit_get_one_answer_for_known_addresses(api, services):
    tenant = await make_tenant(services)
    await open_invites(services, tenant)
    viewer = await make_member(services, tenant, Role.VIEWER)
    member = await make_member(services, tenant, Role.EDITOR)
    # A member whose record shows another address than their login.
    other = await make_member(services, tenant, Role.VIEWER)
    await update_row(services, Staff, other.staff_pk, email="shown@example.com")
    await make_staff(services, tenant, email="pending@example.com")
    await invite(api, tenant.owner, email="pending@example.com")
    await make_staff(services, tenant, email="record@example.com")
    await make_staff(services, tenant, email="secret@example.com", restricted=True)
    disabled = await make_member(services, tenant, Role.VIEWER)
    await update_row(services, Staff, disabled.staff_pk, account_status=AccountStatus.DISABLED)
    await take_mail(services)

    known = [
        member.email,
        other.email,
        "pending@example.com",
        "record@example.com",
        "secret@example.com",
        disabled.email,
    ]
    answers = []
    for email in known:
        payload = await invite(api, viewer, email=email.upper())
        assert payload["invitation"] is None
        answers.append(payload["userErrors"])
    bulk = await api.data(BULK, {"rows": [{"email": e} for e in known]}, as_=viewer)
    answers += [r["userErrors"] for r in bulk["invitationBulkCreate"]["results"]]
    assert len({repr(a) for a in answers}) == 1, answers
    [[error]] = answers[:1]
    assert error["code"] == "FORBIDDEN" and error["field"] == ["input", "email"]
    assert "member" not in error["message"] and "invit" in error["message"]
    # Nothing changed and nothing was sent.
    assert (await staff_row(services, other.staff_pk)).email == "shown@example.com"
    assert await invitation_count(services) == 1
    assert await take_mail(services) == []

    # Administrators keep the precise answers.
    precise = {
        email: errors(await invite(api, tenant.owner, email=email))
        for email in (member.email, "pending@example.com")
    }
    assert precise == {
        member.email: [(("input", "email"), "ALREADY_MEMBER")],
        "pending@example.com": [(("input", "email"), "ALREADY_INVITED")],
    }


async def test_a_full_account_answers_alike_for_known_and_new_addresses(api, services):
    tenant = await make_tenant(services, seats=3)
    await open_invites(services, tenant)
    viewer = await make_member(services, tenant, Role.VIEWER)
    member = await make_member(services, tenant, Role.VIEWER)
    known = await invite(api, viewer, email=member.email)
    new = await invite(api, viewer, email="new@example.com")
    assert [e["code"] for e in new["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    assert known["userErrors"] == new["userErrors"]


# --- the invitation list follows the directory's field rules ---


async def test_inviters_who_do_not_administer_see_only_their_own_without_personal_data(
    api, services
):
    tenant = await make_tenant(services)
    await open_invites(services, tenant)
    viewer = await make_member(services, tenant, Role.VIEWER)
    editor_pd = await member_as(api, services, tenant, "EDITOR+PD")
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    owners = await invite(api, tenant.owner, email="boss@example.com", message="Salary: 250k")
    mine = await invite(api, viewer, email="friend@example.com", message="Hi friend")
    theirs = await invite(api, editor_pd, email="pal@example.com", message="Hi pal")
    assert owners["userErrors"] == mine["userErrors"] == theirs["userErrors"] == []
    # The create answer follows the same rule as the list.
    assert mine["invitation"]["email"] is None and mine["invitation"]["message"] is None

    seen = (await api.data(LIST, as_=viewer))["invitations"]["edges"]
    assert [e["node"]["id"] for e in seen] == [mine["invitation"]["id"]]
    assert seen[0]["node"]["email"] is None and seen[0]["node"]["message"] is None
    assert seen[0]["node"]["inviter"]["id"] == viewer.staff_id

    seen = (await api.data(LIST, as_=editor_pd))["invitations"]["edges"]
    assert [(e["node"]["email"], e["node"]["message"]) for e in seen] == [
        ("pal@example.com", "Hi pal")
    ]

    for administrator in (admin, tenant.owner):
        seen = (await api.data(LIST, as_=administrator))["invitations"]["edges"]
        assert {e["node"]["email"] for e in seen} == {
            "boss@example.com",
            "friend@example.com",
            "pal@example.com",
        }
        assert "Salary: 250k" in {e["node"]["message"] for e in seen}

    # node(id) reads the same rule.
    owner_id = owners["invitation"]["id"]
    assert (await api.data(NODE, {"id": owner_id}, as_=viewer))["node"] is None
    node = (await api.data(NODE, {"id": mine["invitation"]["id"]}, as_=viewer))["node"]
    assert node == {"id": mine["invitation"]["id"], "email": None, "message": None}


async def test_inviters_who_do_not_administer_act_only_on_their_own(api, services):
    tenant = await make_tenant(services)
    await open_invites(services, tenant)
    viewer = await make_member(services, tenant, Role.VIEWER)
    editor = await make_member(services, tenant, Role.EDITOR)
    owners = (await invite(api, tenant.owner, email="boss@example.com"))["invitation"]
    editors = (await invite(api, editor, email="e@example.com"))["invitation"]
    await take_mail(services)
    for invitation in (owners, editors):
        await update_row(
            services,
            Invitation,
            decode_id(invitation["id"], "Invitation"),
            last_sent_at=datetime(2020, 1, 1, tzinfo=UTC),  # out of the resend cooldown
        )
        for mutation, name in ((RESEND, "invitationResend"), (REVOKE, "invitationRevoke")):
            body = (await api.data(mutation, {"id": invitation["id"]}, as_=viewer))[name]
            assert errors(body) == [(("input", "id"), "NOT_FOUND")]
    assert await take_mail(services) == []
    statuses = {
        e["node"]["email"]: e["node"]["status"]
        for e in (await api.data(LIST, as_=tenant.owner))["invitations"]["edges"]
    }
    assert statuses == {"boss@example.com": "PENDING", "e@example.com": "PENDING"}
    # Administrators act on everyone's.
    done = (await api.data(REVOKE, {"id": editors["id"]}, as_=tenant.owner))["invitationRevoke"]
    assert done["userErrors"] == []


async def test_members_of_another_account_see_nothing(api, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    await open_invites(services, b)
    outsider = await make_member(services, b, Role.VIEWER)
    invitation = (await invite(api, a.owner, email="x@example.com"))["invitation"]
    for who in (outsider, b.owner):
        assert (await api.data(NODE, {"id": invitation["id"]}, as_=who))["node"] is None
        assert (await api.data(LIST, as_=who))["invitations"]["edges"] == []
        body = (await api.data(REVOKE, {"id": invitation["id"]}, as_=who))["invitationRevoke"]
        assert errors(body) == [(("input", "id"), "NOT_FOUND")]


# --- staffRegister never enrols an existing login ---


async def test_register_of_an_existing_login_is_an_invitation(api, services):
    attacker = await make_tenant(services, "Attacker Co")
    home = await make_tenant(services, "Home Co")
    victim = await make_member(services, home, Role.VIEWER)
    await take_mail(services)

    body = await api.data(
        REGISTER,
        {"input": {"firstName": "V", "lastName": "Ictim", "email": victim.email}},
        as_=attacker.owner,
    )
    payload = body["staffRegister"]
    assert payload["userErrors"] == []
    assert payload["staff"]["accountStatus"] == "INVITED"
    assert payload["staff"]["hasLogin"] is False
    seats = (await api.data(SEATS, as_=attacker.owner))["account"]["seats"]
    assert seats["used"] == 1 and seats["reserved"] == 1

    # The victim is not a member: their login lists one account and their session, with
    # no realm, still picks it alone.
    login = await api.data(LOGIN, {"email": victim.email, "password": "correct horse battery"})
    assert [a["slug"] for a in login["login"]["accounts"]] == [home.slug]
    alone = await api.data(ACCOUNT, token=victim.token)
    assert alone["account"]["name"] == "Home Co"

    [message] = await take_mail(services)
    assert message["To"] == victim.email
    assert message["X-Roster-Template"] == "invitation"
    assert "/invitations/accept?token=" in mail_text(message)


async def test_register_keeps_enrolling_new_logins(api, services):
    tenant = await make_tenant(services)
    body = await api.data(
        REGISTER,
        {"input": {"firstName": "N", "lastName": "Ew", "email": "brand.new@example.com"}},
        as_=tenant.owner,
    )
    assert body["staffRegister"]["staff"]["accountStatus"] == "ACTIVE"
    assert body["staffRegister"]["staff"]["hasLogin"] is True


async def test_register_of_an_existing_login_without_any_account(api, services):
    tenant = await make_tenant(services)
    user = await make_user(services)
    body = await api.data(
        REGISTER,
        {"input": {"firstName": "N", "lastName": "O", "email": user.email, "role": "EDITOR"}},
        as_=tenant.owner,
    )
    assert body["staffRegister"]["staff"]["accountStatus"] == "INVITED"
    assert body["staffRegister"]["staff"]["role"] == "EDITOR"
    assert len(await take_mail(services)) == 1
