"""Invitations through GraphQL: every state transition and every typed error.

Create (one and a batch), resend, revoke, accept, preview, list, and the seat ledger.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.access import Role
from app.accounts.models import Account
from app.background import sweep_once
from app.db.base import utcnow
from app.graphql.ids import decode_id
from app.invitations.models import Invitation
from tests.factories import (
    add_membership,
    error_codes,
    gid,
    mail_text,
    mail_token,
    make_member,
    make_staff,
    make_tenant,
    make_user,
    set_staff_columns,
    take_mail,
    update_row,
)

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) {
    invitation {
      id email role status sentCount lastSentAt expiresAt
      inviter { fullName } staff { id accountStatus }
    }
    userErrors { field code message }
  }
}"""
BULK = """mutation($rows: [InvitationCreateInput!]!) {
  invitationBulkCreate(input: {rows: $rows}) {
    createdCount
    results { email invitation { id email status } userErrors { field code } }
    userErrors { field code }
  }
}"""
RESEND = """mutation($id: ID!) {
  invitationResend(input: {id: $id}) {
    invitation { id status sentCount lastSentAt expiresAt staff { accountStatus } }
    userErrors { field code }
  }
}"""
REVOKE = """mutation($id: ID!) {
  invitationRevoke(input: {id: $id}) {
    invitation { id status staff { accountStatus } }
    userErrors { field code }
  }
}"""
ACCEPT = """mutation($input: InvitationAcceptInput!) {
  invitationAccept(input: $input) {
    token account { slug } staff { id accountStatus role }
    userErrors { field code }
  }
}"""
PREVIEW = """query($t: String!) {
  invitationPreview(token: $t) { accountName inviterName role status expiresAt }
}"""
LIST = """query($first: Int!, $after: String, $status: InvitationStatus) {
  invitations(first: $first, after: $after, status: $status) {
    edges { cursor node {
      email role status sentCount lastSentAt expiresAt inviter { fullName }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""
SEATS = "{ account { seats { limit used reserved available } } }"
STAFF = "query($id: ID!) { node(id: $id) { ... on Staff { accountStatus hasLogin role } } }"
GOOD_PASSWORD = "a good long password"


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def pk(invitation_id: str) -> int:
    return decode_id(invitation_id, "Invitation")


async def invite(api, member, email, **fields) -> dict:
    data = await api.data(INVITE, {"input": {"email": email, **fields}}, as_=member)
    return data["invitationCreate"]


async def invite_ok(api, member, email, **fields) -> dict:
    payload = await invite(api, member, email, **fields)
    assert payload["userErrors"] == [], payload
    return payload["invitation"]


async def codes_of(payload: dict) -> list[tuple[list | None, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def accept(api, token, token_header=None, **fields) -> dict:
    data = await api.data(ACCEPT, {"input": {"token": token, **fields}}, token=token_header)
    return data["invitationAccept"]


async def accept_new(api, token) -> dict:
    return await accept(api, token, password=GOOD_PASSWORD, firstName="New", lastName="Person")


async def seats(api, tenant) -> dict:
    return (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]


async def staff_of(api, tenant, staff_id) -> dict:
    return (await api.data(STAFF, {"id": staff_id}, as_=tenant.owner))["node"]


async def listed(api, member, status=None, first=100) -> list[dict]:
    data = await api.data(LIST, {"first": first, "status": status}, as_=member)
    return [e["node"] for e in data["invitations"]["edges"]]


async def last_token(services) -> str:
    [message] = await take_mail(services)
    return mail_token(message)


async def backdate_sending(services, invitation_id: str, seconds: int = 3600) -> None:
    """Move the last send out of the resend cooldown."""
    await update_row(
        services,
        Invitation,
        pk(invitation_id),
        last_sent_at=datetime.now(UTC) - timedelta(seconds=seconds),
    )


async def lapse(services, invitation_id: str) -> None:
    await update_row(
        services,
        Invitation,
        pk(invitation_id),
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
        last_sent_at=datetime.now(UTC) - timedelta(days=8),
    )


# --- invitationCreate: who may invite ---


@pytest.mark.parametrize(
    "role, allowed",
    [
        (Role.VIEWER, False),
        (Role.EDITOR, False),
        (Role.ADMINISTRATOR, True),
        (Role.OWNER, True),
    ],
)
async def test_only_administrators_and_the_owner_invite(api, services, role, allowed):
    tenant = await make_tenant(services)
    member = tenant.owner if role == Role.OWNER else await make_member(services, tenant, role)
    body = await api(INVITE, {"input": {"email": "new@example.com"}}, as_=member)
    if allowed:
        assert body["data"]["invitationCreate"]["userErrors"] == []
        assert len(await listed(api, tenant.owner)) == 1
    else:
        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None
        assert await listed(api, tenant.owner) == []
        assert await take_mail(services) == []


async def test_everyone_can_invite_lets_members_invite_up_to_their_own_role(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    editor = await make_member(services, tenant, Role.EDITOR)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    await update_row(services, Account, tenant.account_id, everyone_can_invite=True)

    assert (await invite_ok(api, viewer, "v1@example.com", role="VIEWER"))["role"] == "VIEWER"
    above = await invite(api, viewer, "v2@example.com", role="EDITOR")
    assert await codes_of(above) == [(["input", "role"], "FORBIDDEN")]
    assert above["invitation"] is None

    assert (await invite_ok(api, editor, "e1@example.com", role="EDITOR"))["role"] == "EDITOR"
    assert (await invite_ok(api, editor, "e2@example.com", role="VIEWER"))["role"] == "VIEWER"
    above = await invite(api, editor, "e3@example.com", role="ADMINISTRATOR")
    assert await codes_of(above) == [(["input", "role"], "FORBIDDEN")]

    for who in (viewer, editor, admin, tenant.owner):
        owner = await invite(api, who, "boss@example.com", role="OWNER")
        assert await codes_of(owner) == [(["input", "role"], "FORBIDDEN")], who.role
    assert {i["email"] for i in await listed(api, tenant.owner)} == {
        "v1@example.com",
        "e1@example.com",
        "e2@example.com",
    }


async def test_administrator_may_not_invite_above_own_role(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    ok = await invite_ok(api, admin, "a@example.com", role="ADMINISTRATOR")
    assert ok["role"] == "ADMINISTRATOR"
    assert ok["inviter"]["fullName"].startswith("Administrator")
    owner = await invite(api, admin, "o@example.com", role="OWNER")
    assert await codes_of(owner) == [(["input", "role"], "FORBIDDEN")]


# --- invitationCreate: typed errors ---


async def test_already_member_and_already_invited(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    taken = await invite(api, tenant.owner, f"  {member.email.upper()} ")
    assert await codes_of(taken) == [(["input", "email"], "ALREADY_MEMBER")]
    own = await invite(api, tenant.owner, tenant.owner.email)
    assert await codes_of(own) == [(["input", "email"], "ALREADY_MEMBER")]

    await invite_ok(api, tenant.owner, "ann@example.com")
    again = await invite(api, tenant.owner, " Ann@Example.COM")
    assert await codes_of(again) == [(["input", "email"], "ALREADY_INVITED")]
    assert len(await listed(api, tenant.owner)) == 1
    assert len(await take_mail(services)) == 1


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.com"])
async def test_invalid_email_is_refused(api, services, email):
    tenant = await make_tenant(services)
    payload = await invite(api, tenant.owner, email)
    assert await codes_of(payload) == [(["input", "email"], "INVALID")]
    assert payload["invitation"] is None
    assert await listed(api, tenant.owner) == []


@pytest.mark.parametrize("days", [0, -1, 31, 365])
async def test_expiry_outside_1_to_30_days_is_refused(api, services, days):
    tenant = await make_tenant(services)
    payload = await invite(api, tenant.owner, "x@example.com", expiresInDays=days)
    assert await codes_of(payload) == [(["input", "expiresInDays"], "INVALID")]
    assert await listed(api, tenant.owner) == []
    assert (await seats(api, tenant))["reserved"] == 0


@pytest.mark.parametrize("days", [1, 30])
async def test_expiry_at_the_limits_is_accepted(api, services, days):
    tenant = await make_tenant(services)
    before = datetime.now(UTC)
    invitation = await invite_ok(api, tenant.owner, "x@example.com", expiresInDays=days)
    expires = when(invitation["expiresAt"])
    assert before + timedelta(days=days) - timedelta(minutes=1) < expires
    assert expires < datetime.now(UTC) + timedelta(days=days, minutes=1)


async def test_default_expiry_is_the_account_setting(api, services):
    tenant = await make_tenant(services)
    await update_row(services, Account, tenant.account_id, invitation_expiry_days=3)
    invitation = await invite_ok(api, tenant.owner, "x@example.com")
    left = when(invitation["expiresAt"]) - datetime.now(UTC)
    assert timedelta(days=3) - timedelta(minutes=1) < left < timedelta(days=3, minutes=1)


async def test_not_invited_staff_moves_to_invited_then_active(api, services):
    tenant = await make_tenant(services)
    staff = await make_staff(
        services, tenant, first_name="Sam", last_name="Stone", email="sam@example.com"
    )
    staff_id = gid("Staff", staff.id)
    assert (await staff_of(api, tenant, staff_id))["accountStatus"] == "NOT_INVITED"

    invitation = await invite_ok(
        api, tenant.owner, "Sam@Example.com", staffId=staff_id, role="EDITOR"
    )
    assert invitation["staff"] == {"id": staff_id, "accountStatus": "INVITED"}
    assert (await staff_of(api, tenant, staff_id)) == {
        "accountStatus": "INVITED",
        "hasLogin": False,
        "role": "EDITOR",
    }

    token = await last_token(services)
    # The staff record already holds both names: the new user only chooses a password.
    result = await accept(api, token, password=GOOD_PASSWORD)
    assert result["userErrors"] == []
    assert result["staff"] == {"id": staff_id, "accountStatus": "ACTIVE", "role": "EDITOR"}
    assert (await staff_of(api, tenant, staff_id)) == {
        "accountStatus": "ACTIVE",
        "hasLogin": True,
        "role": "EDITOR",
    }


async def test_invite_with_staff_id_of_an_active_member_is_already_member(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    payload = await invite(api, tenant.owner, member.email, staffId=member.staff_id)
    assert await codes_of(payload) == [(["input", "staffId"], "ALREADY_MEMBER")]
    assert await listed(api, tenant.owner) == []


async def test_invite_with_staff_id_of_another_account_is_not_found(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    foreign = await make_staff(services, other, email="far@example.com")
    payload = await invite(api, tenant.owner, "far@example.com", staffId=gid("Staff", foreign.id))
    assert await codes_of(payload) == [(["input", "staffId"], "NOT_FOUND")]
    assert (await staff_of(api, other, gid("Staff", foreign.id)))["accountStatus"] == (
        "NOT_INVITED"
    )


async def test_redirect_url_must_be_allow_listed(api, services, settings):
    tenant = await make_tenant(services)
    refused = await invite(
        api, tenant.owner, "x@example.com", redirectUrl="https://evil.example/accept"
    )
    assert await codes_of(refused) == [(["input", "redirectUrl"], "INVALID")]
    assert await listed(api, tenant.owner) == []
    assert await take_mail(services) == []

    settings.redirect_origins = ["https://app.example"]
    await invite_ok(api, tenant.owner, "x@example.com", redirectUrl="https://app.example/join")
    [message] = await take_mail(services)
    assert "https://app.example/join?token=" in mail_text(message)
    assert "evil.example" not in mail_text(message)


async def test_a_stored_redirect_no_longer_allowed_gets_no_token(api, services, settings):
    """A link's token goes to a frontend only while its origin is allow-listed: one taken
    off the list since the invitation was made (or never on this server's list: a restored
    backup's) gets Roster's own page instead."""
    settings.redirect_origins = ["https://app.example"]
    tenant = await make_tenant(services)
    made = await invite_ok(api, tenant.owner, "x@example.com", redirectUrl="https://app.example/join")
    await take_mail(services)
    async with services.db.session(write=True) as session:  # past the resend cooldown
        await session.execute(
            update(Invitation).values(last_sent_at=utcnow() - timedelta(days=1))
        )
        await session.commit()
    settings.redirect_origins = []
    body = await api.data(RESEND, {"id": made["id"]}, as_=tenant.owner)
    assert body["invitationResend"]["userErrors"] == []
    [message] = await take_mail(services)
    assert f"{settings.public_url}/invitations/accept?token=" in mail_text(message)
    assert "app.example" not in mail_text(message)


# --- invitationBulkCreate ---


async def test_bulk_normalises_reports_per_row_and_keeps_valid_rows(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    await invite_ok(api, tenant.owner, "pending@example.com")
    await take_mail(services)
    rows = [
        " Ann@Example.com ",
        "ann@example.com",
        "not an email",
        member.email.upper(),
        "PENDING@example.com",
        "bo@example.com",
    ]
    data = await api.data(
        BULK, {"rows": [{"email": e, "role": "EDITOR"} for e in rows]}, as_=tenant.owner
    )
    payload = data["invitationBulkCreate"]
    assert payload["userErrors"] == []
    assert payload["createdCount"] == 2
    results = payload["results"]
    assert [r["email"] for r in results] == [
        "ann@example.com",
        "ann@example.com",
        "not an email",
        member.email,
        "pending@example.com",
        "bo@example.com",
    ]
    assert [[e["code"] for e in r["userErrors"]] for r in results] == [
        [],
        ["TAKEN"],
        ["INVALID"],
        ["ALREADY_MEMBER"],
        ["ALREADY_INVITED"],
        [],
    ]
    assert [bool(r["invitation"]) for r in results] == [True, False, False, False, False, True]
    assert results[0]["invitation"]["email"] == "ann@example.com"
    assert results[0]["invitation"]["status"] == "PENDING"

    invited = {i["email"]: i["role"] for i in await listed(api, tenant.owner)}
    assert invited == {
        "ann@example.com": "EDITOR",
        "bo@example.com": "EDITOR",
        "pending@example.com": "VIEWER",
    }
    assert sorted(m["To"] for m in await take_mail(services)) == [
        "ann@example.com",
        "bo@example.com",
    ]


async def test_bulk_refuses_more_than_500_rows(api, services):
    tenant = await make_tenant(services, seats=1000)
    rows = [{"email": f"p{i}@example.com"} for i in range(501)]
    data = await api.data(BULK, {"rows": rows}, as_=tenant.owner)
    payload = data["invitationBulkCreate"]
    assert [e["code"] for e in payload["userErrors"]] == ["LIMIT_REACHED"]
    assert payload["results"] == [] and payload["createdCount"] == 0
    assert await listed(api, tenant.owner) == []


async def test_bulk_is_top_level_forbidden_for_a_viewer(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    body = await api(BULK, {"rows": [{"email": "x@example.com"}]}, as_=viewer)
    assert error_codes(body) == ["FORBIDDEN"]
    assert await listed(api, tenant.owner) == []


async def test_bulk_seats_run_out_mid_batch(api, services):
    tenant = await make_tenant(services, seats=3)  # the owner holds one
    rows = [{"email": f"p{i}@example.com"} for i in range(4)]
    data = await api.data(BULK, {"rows": rows}, as_=tenant.owner)
    results = data["invitationBulkCreate"]["results"]
    assert [[e["code"] for e in r["userErrors"]] for r in results] == [
        [],
        [],
        ["SEAT_LIMIT_REACHED"],
        ["SEAT_LIMIT_REACHED"],
    ]
    assert data["invitationBulkCreate"]["createdCount"] == 2
    assert await seats(api, tenant) == {"limit": 3, "used": 1, "reserved": 2, "available": 0}
    assert len(await take_mail(services)) == 2


# --- invitationResend ---


async def test_resend_rotates_token_resets_expiry_and_counts(api, services):
    tenant = await make_tenant(services)
    invitation = await invite_ok(api, tenant.owner, "x@example.com", expiresInDays=2)
    old_token = await last_token(services)
    await backdate_sending(services, invitation["id"])
    await update_row(
        services,
        Invitation,
        pk(invitation["id"]),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )

    data = await api.data(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    resent = data["invitationResend"]
    assert resent["userErrors"] == []
    assert resent["invitation"]["sentCount"] == 2
    assert resent["invitation"]["status"] == "PENDING"
    left = when(resent["invitation"]["expiresAt"]) - datetime.now(UTC)
    assert timedelta(days=2) - timedelta(minutes=1) < left < timedelta(days=2, minutes=1)
    assert when(resent["invitation"]["lastSentAt"]) > when(invitation["lastSentAt"])

    [message] = await take_mail(services)
    assert message["Subject"].startswith("Reminder:")
    new_token = mail_token(message)
    assert new_token != old_token

    assert (await api.data(PREVIEW, {"t": old_token}))["invitationPreview"] is None
    stale = await accept_new(api, old_token)
    assert await codes_of(stale) == [(["input", "token"], "INVALID_TOKEN")]
    fresh = await accept_new(api, new_token)
    assert fresh["userErrors"] == [] and fresh["staff"]["accountStatus"] == "ACTIVE"


async def test_resend_revives_an_expired_invitation(api, services):
    tenant = await make_tenant(services, seats=2)
    invitation = await invite_ok(api, tenant.owner, "x@example.com")
    old_token = await last_token(services)
    staff_id = invitation["staff"]["id"]
    await lapse(services, invitation["id"])

    # Expired counts at once (from expiresAt); the sweeper then records it on the staff.
    assert (await seats(api, tenant))["reserved"] == 0
    assert (await staff_of(api, tenant, staff_id))["accountStatus"] == "INVITED"
    assert await sweep_once(services.db) == 1
    assert (await staff_of(api, tenant, staff_id))["accountStatus"] == "INVITE_EXPIRED"
    assert [i["status"] for i in await listed(api, tenant.owner)] == ["EXPIRED"]
    assert await sweep_once(services.db) == 0

    expired = await accept_new(api, old_token)
    assert await codes_of(expired) == [(["input", "token"], "TOKEN_EXPIRED")]

    data = await api.data(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    resent = data["invitationResend"]
    assert resent["userErrors"] == []
    assert resent["invitation"]["status"] == "PENDING"
    assert resent["invitation"]["staff"]["accountStatus"] == "INVITED"
    assert when(resent["invitation"]["expiresAt"]) > datetime.now(UTC) + timedelta(days=6)
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 1, "available": 0}

    token = await last_token(services)
    assert (await accept_new(api, token))["userErrors"] == []
    assert (await staff_of(api, tenant, staff_id))["accountStatus"] == "ACTIVE"


async def test_resend_of_an_expired_invitation_needs_a_free_seat(api, services):
    tenant = await make_tenant(services, seats=2)
    invitation = await invite_ok(api, tenant.owner, "x@example.com")
    await lapse(services, invitation["id"])
    await invite_ok(api, tenant.owner, "y@example.com")  # takes the freed seat
    data = await api.data(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    assert [e["code"] for e in data["invitationResend"]["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    statuses = {i["email"]: i["status"] for i in await listed(api, tenant.owner)}
    assert statuses == {"x@example.com": "EXPIRED", "y@example.com": "PENDING"}


AUDIT = """{ auditLog(first: 1) { edges { node { action diff } } } }"""


@pytest.mark.parametrize("swept", [True, False], ids=["expired", "lapsed"])
@pytest.mark.parametrize("by_id", [True, False], ids=["staffId", "email"])
async def test_inviting_a_record_again_revokes_its_expired_invitation(
    api, services, by_id, swept
):
    tenant = await make_tenant(services, seats=3)
    old = await invite_ok(api, tenant.owner, "x@example.com")
    old_token = await last_token(services)
    await lapse(services, old["id"])
    if swept:  # recorded EXPIRED, the record INVITE_EXPIRED; else only past its expiry
        assert await sweep_once(services.db) == 1
    named = {"staffId": old["staff"]["id"]} if by_id else {}
    again = await invite_ok(api, tenant.owner, "x@example.com", **named)
    assert again["staff"]["id"] == old["staff"]["id"] and again["id"] != old["id"]
    assert again["staff"]["accountStatus"] == "INVITED"
    new_token = await last_token(services)
    # the record's one open invitation is the new one, in the same change
    assert [(i["email"], i["status"]) for i in await listed(api, tenant.owner)] == [
        ("x@example.com", "PENDING"), ("x@example.com", "REVOKED")
    ]
    [entry] = [e["node"] for e in (await api.data(AUDIT, as_=tenant.owner))["auditLog"]["edges"]]
    assert entry["action"] == "invitationCreate"
    [change] = [c for c in entry["diff"] if c["table"] == "invitations" and c["op"] == "update"]
    assert change["fields"]["status"] == ["EXPIRED" if swept else "PENDING", "REVOKED"]

    # the old one, resent, would be the record's second pending invitation and seat
    await backdate_sending(services, old["id"])
    resent = await api.data(RESEND, {"id": old["id"]}, as_=tenant.owner)
    assert await codes_of(resent["invitationResend"]) == [(["input", "id"], "INVALID_STATE")]
    assert await take_mail(services) == []
    assert await seats(api, tenant) == {"limit": 3, "used": 1, "reserved": 1, "available": 1}
    assert await codes_of(await accept_new(api, old_token)) == [
        (["input", "token"], "INVITATION_REVOKED")
    ]
    assert (await accept_new(api, new_token))["userErrors"] == []
    assert await seats(api, tenant) == {"limit": 3, "used": 2, "reserved": 0, "available": 1}


ROLE_CHANGE = """mutation($id: ID!, $role: Role!) {
  staffRoleChange(input: {staffId: $id, role: $role}) { staff { role } userErrors { code } }
}"""


async def test_resend_after_a_role_change_offers_the_records_current_role(api, services):
    tenant = await make_tenant(services)
    invitation = await invite_ok(api, tenant.owner, "boss@example.com", role="ADMINISTRATOR")
    await take_mail(services)
    await lapse(services, invitation["id"])
    assert await sweep_once(services.db) == 1
    demoted = await api.data(
        ROLE_CHANGE, {"id": invitation["staff"]["id"], "role": "VIEWER"}, as_=tenant.owner
    )
    assert demoted["staffRoleChange"]["userErrors"] == []
    # the expired invitation follows the record
    assert [(i["role"], i["status"]) for i in await listed(api, tenant.owner)] == [
        ("VIEWER", "EXPIRED")
    ]
    resent = await api.data(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    assert resent["invitationResend"]["userErrors"] == []
    [message] = await take_mail(services)
    assert "a viewer" in mail_text(message) and "an administrator" not in mail_text(message)
    joined = await accept_new(api, mail_token(message))
    assert joined["userErrors"] == [] and joined["staff"]["role"] == "VIEWER"


@pytest.mark.parametrize("state", ["EXPIRED", "PENDING"])
async def test_resend_checks_the_seat_its_records_role_needs(api, services, state):
    """A resent invitation whose role lags its record's (a guest's, the record made a
    viewer; expired, or still pending) is checked for the seat the record's role needs,
    which a guest did not."""
    tenant = await make_tenant(services, seats=2)
    invitation = await invite_ok(api, tenant.owner, "cust@example.com", kind="CUSTOMER")
    assert invitation["role"] == "GUEST"
    if state == "EXPIRED":
        await lapse(services, invitation["id"])
    else:
        await backdate_sending(services, invitation["id"])
    await set_staff_columns(services, decode_id(invitation["staff"]["id"], "Staff"),
                            role=Role.VIEWER)
    await invite_ok(api, tenant.owner, "view@example.com")  # the last seat
    await take_mail(services)
    data = await api.data(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    assert [e["code"] for e in data["invitationResend"]["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    assert await take_mail(services) == []
    assert [(i["email"], i["role"]) for i in await listed(api, tenant.owner)] == [
        ("view@example.com", "VIEWER"),
        ("cust@example.com", "GUEST"),
    ]
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 1, "available": 0}


async def test_resend_of_a_pending_invitation_keeps_the_seat_it_holds(api, services):
    tenant = await make_tenant(services, seats=2)
    invitation = await invite_ok(api, tenant.owner, "ed@example.com", role="EDITOR")
    await take_mail(services)
    await backdate_sending(services, invitation["id"])
    await set_staff_columns(services, decode_id(invitation["staff"]["id"], "Staff"),
                            role=Role.VIEWER)
    # a full account: the invitation's own seat is the viewer's
    assert (await seats(api, tenant))["available"] == 0
    data = await api.data(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    assert data["invitationResend"]["userErrors"] == []
    assert [i["role"] for i in await listed(api, tenant.owner)] == ["VIEWER"]
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 1, "available": 0}


async def test_accepting_closes_the_records_other_invitations(api, services):
    tenant = await make_tenant(services, seats=3)
    old = await invite_ok(api, tenant.owner, "x@example.com")
    await take_mail(services)
    await lapse(services, old["id"])
    again = await invite_ok(api, tenant.owner, "x@example.com")
    assert again["staff"]["id"] == old["staff"]["id"] and again["id"] != old["id"]
    assert (await accept_new(api, await last_token(services)))["userErrors"] == []
    statuses = {i["email"] + str(n): i["status"]
                for n, i in enumerate(await listed(api, tenant.owner))}
    assert sorted(statuses.values()) == ["ACCEPTED", "REVOKED"]
    # the expired one, resent, would be a second seat and link for the member
    resent = await api.data(RESEND, {"id": old["id"]}, as_=tenant.owner)
    assert [e["code"] for e in resent["invitationResend"]["userErrors"]] == ["INVALID_STATE"]
    assert await take_mail(services) == []
    assert await seats(api, tenant) == {"limit": 3, "used": 2, "reserved": 0, "available": 1}


async def test_resend_within_cooldown_is_rate_limited(api, services):
    tenant = await make_tenant(services)
    invitation = await invite_ok(api, tenant.owner, "x@example.com")
    token = await last_token(services)
    body = await api(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    assert error_codes(body) == ["RATE_LIMITED"]
    retry = body["errors"][0]["extensions"]["retryAfter"]
    assert 1 <= retry <= services.settings.invitation_resend_cooldown_seconds
    # Nothing changed: no second email, the first link still works, still sent once.
    assert await take_mail(services) == []
    [row] = await listed(api, tenant.owner)
    assert row["sentCount"] == 1
    assert (await api.data(PREVIEW, {"t": token}))["invitationPreview"]["status"] == "PENDING"

    await backdate_sending(services, invitation["id"], seconds=30)
    body = await api(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    assert error_codes(body) == ["RATE_LIMITED"]
    assert body["errors"][0]["extensions"]["retryAfter"] <= 31


async def test_accepted_and_revoked_invitations_cannot_be_resent(api, services):
    tenant = await make_tenant(services)
    accepted = await invite_ok(api, tenant.owner, "a@example.com")
    assert (await accept_new(api, await last_token(services)))["userErrors"] == []
    revoked = await invite_ok(api, tenant.owner, "r@example.com")
    await take_mail(services)
    assert (await api.data(REVOKE, {"id": revoked["id"]}, as_=tenant.owner))["invitationRevoke"][
        "userErrors"
    ] == []
    for invitation in (accepted, revoked):
        await backdate_sending(services, invitation["id"])
        data = await api.data(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
        assert await codes_of(data["invitationResend"]) == [(["input", "id"], "INVALID_STATE")]
    assert await take_mail(services) == []


# --- invitationRevoke ---


async def test_revoke_stops_the_link_frees_the_seat_and_uninvites_the_staff(api, services):
    tenant = await make_tenant(services, seats=2)
    invitation = await invite_ok(api, tenant.owner, "x@example.com")
    token = await last_token(services)
    assert (await seats(api, tenant))["available"] == 0

    data = await api.data(REVOKE, {"id": invitation["id"]}, as_=tenant.owner)
    revoked = data["invitationRevoke"]
    assert revoked["userErrors"] == []
    assert revoked["invitation"]["status"] == "REVOKED"
    assert revoked["invitation"]["staff"]["accountStatus"] == "NOT_INVITED"
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 0, "available": 1}

    result = await accept_new(api, token)
    assert await codes_of(result) == [(["input", "token"], "INVITATION_REVOKED")]
    assert (await api.data(PREVIEW, {"t": token}))["invitationPreview"]["status"] == "REVOKED"

    again = await api.data(REVOKE, {"id": invitation["id"]}, as_=tenant.owner)
    assert await codes_of(again["invitationRevoke"]) == [(["input", "id"], "INVALID_STATE")]

    # The staff record can be invited again later.
    reinvite = await invite_ok(
        api, tenant.owner, "x@example.com", staffId=invitation["staff"]["id"]
    )
    assert reinvite["staff"]["accountStatus"] == "INVITED"


async def test_revoke_of_an_accepted_invitation_is_invalid_state(api, services):
    tenant = await make_tenant(services)
    invitation = await invite_ok(api, tenant.owner, "x@example.com")
    assert (await accept_new(api, await last_token(services)))["userErrors"] == []
    data = await api.data(REVOKE, {"id": invitation["id"]}, as_=tenant.owner)
    assert await codes_of(data["invitationRevoke"]) == [(["input", "id"], "INVALID_STATE")]
    assert (await seats(api, tenant))["used"] == 2


async def test_resend_and_revoke_are_forbidden_for_a_viewer(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    invitation = await invite_ok(api, tenant.owner, "x@example.com")
    for mutation in (RESEND, REVOKE):
        body = await api(mutation, {"id": invitation["id"]}, as_=viewer)
        assert error_codes(body) == ["FORBIDDEN"]
    [row] = await listed(api, tenant.owner)
    assert row["status"] == "PENDING" and row["sentCount"] == 1


async def test_everyone_can_invite_resends_only_up_to_own_role(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    await update_row(services, Account, tenant.account_id, everyone_can_invite=True)
    mine = await invite_ok(api, editor, "mine@example.com", role="EDITOR")
    also_mine = await invite_ok(api, editor, "also@example.com", role="VIEWER")
    admin = await invite_ok(api, tenant.owner, "boss@example.com", role="ADMINISTRATOR")
    await take_mail(services)
    for invitation in (mine, also_mine, admin):
        await backdate_sending(services, invitation["id"])
    ok = await api.data(RESEND, {"id": mine["id"]}, as_=editor)
    assert ok["invitationResend"]["invitation"]["sentCount"] == 2
    # Another inviter's invitation is not theirs to see.
    theirs = await api.data(RESEND, {"id": admin["id"]}, as_=editor)
    assert await codes_of(theirs["invitationResend"]) == [(["input", "id"], "NOT_FOUND")]
    # Demoted to viewer: their own editor invitation is now above them.
    await set_staff_columns(services, editor.staff_pk, role=Role.VIEWER)
    above = await api.data(RESEND, {"id": mine["id"]}, as_=editor)
    assert await codes_of(above["invitationResend"]) == [(["input", "id"], "FORBIDDEN")]
    ok = await api.data(RESEND, {"id": also_mine["id"]}, as_=editor)
    assert ok["invitationResend"]["invitation"]["sentCount"] == 2
    assert [m["To"] for m in await take_mail(services)] == ["mine@example.com", "also@example.com"]


async def test_everyone_can_invite_revokes_only_up_to_own_role(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    await update_row(services, Account, tenant.account_id, everyone_can_invite=True)
    viewer_invite = await invite_ok(api, editor, "v@example.com", role="VIEWER")
    editor_invite = await invite_ok(api, editor, "e@example.com", role="EDITOR")
    admin_invite = await invite_ok(api, tenant.owner, "boss@example.com", role="ADMINISTRATOR")
    theirs = await api.data(REVOKE, {"id": admin_invite["id"]}, as_=editor)
    assert await codes_of(theirs["invitationRevoke"]) == [(["input", "id"], "NOT_FOUND")]
    await set_staff_columns(services, editor.staff_pk, role=Role.VIEWER)
    above = await api.data(REVOKE, {"id": editor_invite["id"]}, as_=editor)
    assert await codes_of(above["invitationRevoke"]) == [(["input", "id"], "FORBIDDEN")]
    ok = await api.data(REVOKE, {"id": viewer_invite["id"]}, as_=editor)
    assert ok["invitationRevoke"]["invitation"]["status"] == "REVOKED"
    statuses = {i["email"]: i["status"] for i in await listed(api, tenant.owner)}
    assert statuses == {
        "v@example.com": "REVOKED",
        "e@example.com": "PENDING",
        "boss@example.com": "PENDING",
    }


async def test_invitation_ids_of_another_account_are_not_found(api, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    theirs = await invite_ok(api, b.owner, "x@example.com")
    await backdate_sending(services, theirs["id"])
    for mutation, field in ((RESEND, "invitationResend"), (REVOKE, "invitationRevoke")):
        data = await api.data(mutation, {"id": theirs["id"]}, as_=a.owner)
        assert await codes_of(data[field]) == [(["input", "id"], "NOT_FOUND")]
        assert data[field]["invitation"] is None
    [row] = await listed(api, b.owner)
    assert row["status"] == "PENDING" and row["sentCount"] == 1
    assert await listed(api, a.owner) == []


# --- invitationAccept ---


async def test_accept_token_errors(api, services):
    tenant = await make_tenant(services)
    wrong = await accept_new(api, "ri_not-a-real-token")
    assert await codes_of(wrong) == [(["input", "token"], "INVALID_TOKEN")]
    assert wrong["token"] is None

    await invite_ok(api, tenant.owner, "used@example.com")
    used = await last_token(services)
    assert (await accept_new(api, used))["userErrors"] == []
    again = await accept_new(api, used)
    assert await codes_of(again) == [(["input", "token"], "TOKEN_USED")]

    expiring = await invite_ok(api, tenant.owner, "late@example.com")
    late = await last_token(services)
    await lapse(services, expiring["id"])
    expired = await accept_new(api, late)
    assert await codes_of(expired) == [(["input", "token"], "TOKEN_EXPIRED")]
    assert expired["token"] is None
    assert (await seats(api, tenant))["used"] == 2


@pytest.mark.parametrize(
    "password",
    ["short pw", "x" * 257, "Weak@Example.com"],
    ids=["too-short", "too-long", "the-email"],
)
async def test_accept_refuses_a_weak_password(api, services, password):
    tenant = await make_tenant(services)
    await invite_ok(api, tenant.owner, "weak@example.com")
    token = await last_token(services)
    result = await accept(api, token, password=password, firstName="W", lastName="Eak")
    assert await codes_of(result) == [(["input", "password"], "WEAK_PASSWORD")]
    # Nothing was used up: the same link works with a good password.
    assert (await accept_new(api, token))["userErrors"] == []


async def test_accept_needs_a_password_and_names_from_a_new_user(api, services):
    tenant = await make_tenant(services)
    await invite_ok(api, tenant.owner, "nameless@example.com")
    token = await last_token(services)
    no_password = await accept(api, token, firstName="N", lastName="L")
    assert await codes_of(no_password) == [(["input", "password"], "REQUIRED")]
    # The invitation named nobody (and no name is made up from the email): both names
    # must come with the acceptance.
    no_name = await accept(api, token, password=GOOD_PASSWORD)
    assert await codes_of(no_name) == [
        (["input", "firstName"], "REQUIRED"),
        (["input", "lastName"], "REQUIRED"),
    ]
    blank = await accept(api, token, password=GOOD_PASSWORD, firstName=" ", lastName="  ")
    assert ("input", "lastName") in {tuple(e["field"]) for e in blank["userErrors"]}
    assert {e["code"] for e in blank["userErrors"]} == {"REQUIRED"}
    assert (await seats(api, tenant))["used"] == 1
    done = await accept(api, token, password=GOOD_PASSWORD, firstName="Nia", lastName="Lund")
    assert done["userErrors"] == []


async def test_existing_user_must_log_in_or_give_their_password(api, services):
    tenant = await make_tenant(services)
    user = await make_user(services, "known@example.com")
    await invite_ok(api, tenant.owner, "Known@Example.com", role="EDITOR")
    token = await last_token(services)

    anonymous = await accept(api, token)
    assert await codes_of(anonymous) == [(["input", "password"], "LOGIN_REQUIRED")]
    wrong = await accept(api, token, password="not the right password")
    assert await codes_of(wrong) == [(["input", "password"], "LOGIN_REQUIRED")]
    other = await make_user(services)
    stranger = await add_membership(services, await make_tenant(services), other.id)
    as_someone_else = await accept(api, token, token_header=stranger.token)
    assert await codes_of(as_someone_else) == [(["input", "password"], "LOGIN_REQUIRED")]

    joined = await accept(api, token, password="correct horse battery")
    assert joined["userErrors"] == []
    assert joined["staff"]["role"] == "EDITOR" and joined["account"]["slug"] == tenant.slug
    viewer = await api.data(
        "{ viewer { user { id } accounts { slug role } } }", token=joined["token"]
    )
    assert viewer["viewer"]["user"]["id"] == gid("User", user.id)
    assert viewer["viewer"]["accounts"] == [{"slug": tenant.slug, "role": "EDITOR"}]
    # Their password is unchanged.
    login = await api.data(
        """mutation { login(input: {email: "known@example.com", password: "correct horse battery"})
           { token userErrors { code } } }"""
    )
    assert login["login"]["userErrors"] == []


async def test_accepting_is_seat_neutral_and_expiring_frees_a_seat(api, services):
    tenant = await make_tenant(services, seats=3)
    first = await invite_ok(api, tenant.owner, "one@example.com")
    token = await last_token(services)
    second = await invite_ok(api, tenant.owner, "two@example.com")
    await take_mail(services)
    assert await seats(api, tenant) == {"limit": 3, "used": 1, "reserved": 2, "available": 0}
    full = await invite(api, tenant.owner, "three@example.com")
    assert [e["code"] for e in full["userErrors"]] == ["SEAT_LIMIT_REACHED"]

    assert (await accept_new(api, token))["userErrors"] == []
    assert await seats(api, tenant) == {"limit": 3, "used": 2, "reserved": 1, "available": 0}
    assert first["id"] != second["id"]

    await lapse(services, second["id"])
    assert await seats(api, tenant) == {"limit": 3, "used": 2, "reserved": 0, "available": 1}
    await invite_ok(api, tenant.owner, "three@example.com")


# --- invitationPreview ---


async def test_preview_shows_only_what_the_link_offers(api, services):
    tenant = await make_tenant(services, "Acme Widgets")
    admin = await make_member(
        services, tenant, Role.ADMINISTRATOR, first_name="Ada", last_name="Admin"
    )
    invitation = await invite_ok(api, admin, "p@example.com", role="EDITOR", message="secret")
    token = await last_token(services)

    preview = (await api.data(PREVIEW, {"t": token}))["invitationPreview"]
    assert preview == {
        "accountName": "Acme Widgets",
        "inviterName": "Ada Admin",
        "role": "EDITOR",
        "status": "PENDING",
        "expiresAt": invitation["expiresAt"],
    }
    fields = await api.data('{ __type(name: "InvitationPreview") { fields { name } } }')
    assert {f["name"] for f in fields["__type"]["fields"]} == {
        "accountName",
        "inviterName",
        "role",
        "status",
        "expiresAt",
    }
    assert (await api.data(PREVIEW, {"t": "ri_unknown"}))["invitationPreview"] is None
    assert (await api.data(PREVIEW, {"t": ""}))["invitationPreview"] is None

    await lapse(services, invitation["id"])
    assert (await api.data(PREVIEW, {"t": token}))["invitationPreview"]["status"] == "EXPIRED"


# --- invitations(first, after, status) ---


async def test_list_shows_fields_paginates_and_filters_by_status(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(
        services, tenant, Role.ADMINISTRATOR, first_name="Ada", last_name="Admin"
    )
    await invite_ok(api, admin, "a@example.com", role="EDITOR")
    token_a = await last_token(services)
    b = await invite_ok(api, tenant.owner, "b@example.com")
    c = await invite_ok(api, tenant.owner, "c@example.com")
    d = await invite_ok(api, tenant.owner, "d@example.com")
    await take_mail(services)
    assert (await accept_new(api, token_a))["userErrors"] == []
    await api.data(REVOKE, {"id": b["id"]}, as_=tenant.owner)
    await lapse(services, c["id"])  # not swept: EXPIRED comes from expiresAt
    await backdate_sending(services, d["id"])
    await api.data(RESEND, {"id": d["id"]}, as_=tenant.owner)

    rows = await listed(api, admin)
    assert [r["email"] for r in rows] == [
        "d@example.com",
        "c@example.com",
        "b@example.com",
        "a@example.com",
    ]
    by_email = {r["email"]: r for r in rows}
    assert by_email["a@example.com"]["role"] == "EDITOR"
    assert by_email["a@example.com"]["inviter"] == {"fullName": "Ada Admin"}
    # the owner was given a last name only: no first name is made up from the email
    assert by_email["d@example.com"]["inviter"] == {"fullName": "Owner"}
    assert {e: r["status"] for e, r in by_email.items()} == {
        "a@example.com": "ACCEPTED",
        "b@example.com": "REVOKED",
        "c@example.com": "EXPIRED",
        "d@example.com": "PENDING",
    }
    assert by_email["d@example.com"]["sentCount"] == 2
    assert by_email["c@example.com"]["sentCount"] == 1
    assert when(by_email["d@example.com"]["lastSentAt"]) > when(d["lastSentAt"])
    assert when(by_email["c@example.com"]["expiresAt"]) < datetime.now(UTC)

    for status, email in (
        ("PENDING", "d@example.com"),
        ("ACCEPTED", "a@example.com"),
        ("REVOKED", "b@example.com"),
        ("EXPIRED", "c@example.com"),
    ):
        assert [r["email"] for r in await listed(api, admin, status)] == [email], status

    page1 = await api.data(LIST, {"first": 3}, as_=admin)
    assert [e["node"]["email"] for e in page1["invitations"]["edges"]] == [
        "d@example.com",
        "c@example.com",
        "b@example.com",
    ]
    assert page1["invitations"]["pageInfo"]["hasNextPage"] is True
    after = page1["invitations"]["pageInfo"]["endCursor"]
    # A new invitation does not shift the next page (keyset).
    await invite_ok(api, tenant.owner, "e@example.com")
    page2 = await api.data(LIST, {"first": 3, "after": after}, as_=admin)
    assert [e["node"]["email"] for e in page2["invitations"]["edges"]] == ["a@example.com"]
    assert page2["invitations"]["pageInfo"]["hasNextPage"] is False


async def test_list_is_forbidden_for_a_viewer_unless_everyone_can_invite(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    await invite_ok(api, tenant.owner, "x@example.com")
    body = await api(LIST, {"first": 10}, as_=viewer)
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None
    await update_row(services, Account, tenant.account_id, everyone_can_invite=True)
    # A viewer who may invite sees the invitations they sent, not the owner's.
    assert await listed(api, viewer) == []
    await invite_ok(api, viewer, "mine@example.com")
    assert [r["status"] for r in await listed(api, viewer)] == ["PENDING"]


async def test_list_shows_only_the_own_account(api, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    await invite_ok(api, a.owner, "a@example.com")
    await invite_ok(api, b.owner, "b@example.com")
    assert [r["email"] for r in await listed(api, a.owner)] == ["a@example.com"]
    assert [r["email"] for r in await listed(api, b.owner)] == ["b@example.com"]
