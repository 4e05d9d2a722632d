"""Joining through a link before the email is confirmed: the record is UNCONFIRMED and
holds a seat as reserved (like an invitation); confirming the email makes it ACTIVE.
Through GraphQL, on a real database (both backends)."""

import asyncio

from sqlalchemy import select

from app.access import Role
from app.identity.models import User
from app.staff.models import AccountStatus, Staff
from tests.factories import (
    Member,
    add_membership,
    get_row,
    gid,
    log_in_again,
    mail_token,
    make_member,
    make_tenant,
    make_user,
    take_mail,
    update_row,
)

PASSWORD = "a good long password"
PAYLOAD = "userErrors { field code }"
CREATE = f"""mutation($input: JoinLinkCreateInput!) {{
  joinLinkCreate(input: $input) {{ url {PAYLOAD} }}
}}"""
JOIN = f"""mutation($input: JoinLinkJoinInput!) {{
  joinLinkJoin(input: $input) {{ outcome accountName emailVerificationRequired {PAYLOAD} }}
}}"""
LOGIN = f"""mutation($email: String!, $password: String!) {{
  login(input: {{email: $email, password: $password}}) {{ token accounts {{ slug }} {PAYLOAD} }}
}}"""
VERIFY = f"""mutation($t: String!, $p: String = "{PASSWORD}") {{
  emailVerify(input: {{token: $t, password: $p}}) {{ token {PAYLOAD} }} }}"""
RESET_REQUEST = f"""mutation($email: String!) {{
  passwordResetRequest(input: {{email: $email}}) {{ ok {PAYLOAD} }}
}}"""
RESET = f"""mutation($t: String!, $pw: String!) {{
  passwordReset(input: {{token: $t, newPassword: $pw}}) {{ token {PAYLOAD} }}
}}"""
SEATS = "{ account { seats { limit used reserved available } } }"
STAFF = """query($statuses: [AccountStatus!]) {
  staff(first: 100, filter: {accountStatuses: $statuses}) {
    totalCount nodes { id email accountStatus hasLogin } } }"""
REQUESTS = "{ joinRequests(status: PENDING) { id email } }"
APPROVE = f"""mutation($id: ID!) {{
  joinRequestApprove(input: {{id: $id}}) {{ staff {{ accountStatus }} {PAYLOAD} }}
}}"""
DISABLE = f"""mutation($id: ID!) {{
  staffDisable(input: {{staffId: $id}}) {{ staff {{ accountStatus }} {PAYLOAD} }}
}}"""
ENABLE = DISABLE.replace("staffDisable", "staffEnable")
DELETE = f"""mutation($id: ID!) {{
  staffDelete(input: {{staffId: $id}}) {{ deletedStaffId {PAYLOAD} }}
}}"""
INVITE = f"""mutation($email: String!) {{
  invitationCreate(input: {{email: $email}}) {{ invitation {{ id }} {PAYLOAD} }}
}}"""
VIEWER_ACCOUNTS = "{ viewer { accounts { slug } } }"


async def link(api, tenant, **fields) -> str:
    data = (await api.data(CREATE, {"input": fields}, as_=tenant.owner))["joinLinkCreate"]
    assert data["userErrors"] == [], data
    return data["url"].rsplit("/", 1)[1]


def join_call(api, token: str, email: str, password: str | None = PASSWORD, auth=None):
    variables = {
        "input": {
            "token": token,
            "email": email,
            "password": password,
            "firstName": "Jo",
            "lastName": "Joiner",
        }
    }
    return api(JOIN, variables, token=auth)


async def join(api, token, email, password: str | None = PASSWORD, auth=None) -> dict:
    body = await join_call(api, token, email, password, auth)
    assert not body.get("errors"), body["errors"]
    return body["data"]["joinLinkJoin"]


def codes(payload: dict) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def seats(api, tenant) -> dict:
    return (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]


async def records(api, tenant, *statuses: str) -> dict[str, dict]:
    """email -> record, of the records in ``statuses`` (every one but DISABLED if none)."""
    variables = {"statuses": list(statuses) or None}
    data = await api.data(STAFF, variables, as_=tenant.owner)
    return {n["email"]: n for n in data["staff"]["nodes"]}


async def login(api, email, password=PASSWORD) -> dict:
    return (await api.data(LOGIN, {"email": email, "password": password}))["login"]


async def confirmation_token(services, email: str) -> str:
    [message] = [
        m
        for m in await take_mail(services)
        if m["To"] == email and m["X-Roster-Template"] == "email_verification"
    ]
    return mail_token(message)


async def confirm(api, services, email: str) -> None:
    token = await confirmation_token(services, email)
    verified = (await api.data(VERIFY, {"t": token}))["emailVerify"]
    assert verified["userErrors"] == [] and verified["token"]


async def staff_row(services, tenant, email: str) -> Staff:
    async with services.db.session() as session:
        return (
            await session.scalars(
                select(Staff).where(Staff.account_id == tenant.account_id, Staff.email == email)
            )
        ).one()


# --- joining, then confirming ----------------------------------------------------------------


async def test_a_newcomer_is_unconfirmed_holding_a_seat_until_the_email_is_confirmed(api, services):
    tenant = await make_tenant(services, "Pending Co")
    token = await link(api, tenant, role="EDITOR")
    before = await seats(api, tenant)

    joined = await join(api, token, "new@example.com")
    assert joined == {
        "outcome": "JOINED",
        "accountName": "Pending Co",
        "emailVerificationRequired": True,
        "userErrors": [],
    }
    record = (await records(api, tenant, "UNCONFIRMED"))["new@example.com"]
    assert record["accountStatus"] == "UNCONFIRMED" and record["hasLogin"] is True
    assert "new@example.com" not in await records(api, tenant, "ACTIVE")
    held = await seats(api, tenant)
    assert held["used"] == before["used"]
    assert held["reserved"] == before["reserved"] + 1
    assert held["available"] == before["available"] - 1

    refused = await login(api, "new@example.com")
    assert codes(refused) == ["INVALID_CREDENTIALS"] and refused["token"] is None

    await confirm(api, services, "new@example.com")
    assert (await records(api, tenant, "ACTIVE"))["new@example.com"]["accountStatus"] == "ACTIVE"
    assert await records(api, tenant, "UNCONFIRMED") == {}
    after = await seats(api, tenant)
    assert after["used"] == held["used"] + 1
    assert after["reserved"] == held["reserved"] - 1
    assert after["available"] == held["available"]
    signed_in = await login(api, "new@example.com")
    assert codes(signed_in) == [] and signed_in["accounts"] == [{"slug": tenant.slug}]


async def test_a_password_reset_link_confirms_the_email_and_the_membership(api, services):
    tenant = await make_tenant(services)
    token = await link(api, tenant)
    await join(api, token, "forgetful@example.com")
    await take_mail(services)  # the verification email goes unread
    await api.data(RESET_REQUEST, {"email": "forgetful@example.com"})
    [reset] = [m for m in await take_mail(services) if m["To"] == "forgetful@example.com"]
    done = (await api.data(RESET, {"t": mail_token(reset), "pw": "another good password"}))[
        "passwordReset"
    ]
    assert done["userErrors"] == []
    assert "forgetful@example.com" in await records(api, tenant, "ACTIVE")
    assert (await seats(api, tenant))["reserved"] == 0


async def test_confirming_makes_every_waiting_membership_active(api, services):
    first = await make_tenant(services)
    second = await make_tenant(services)
    await join(api, await link(api, first), "twice@example.com")
    token = await confirmation_token(services, "twice@example.com")
    # the same login (its password) joins a second account before confirming: still waiting
    again = await join(api, await link(api, second), "twice@example.com")
    assert again["outcome"] == "JOINED" and again["emailVerificationRequired"] is True
    assert "twice@example.com" in await records(api, second, "UNCONFIRMED")
    await take_mail(services)

    verified = (await api.data(VERIFY, {"t": token}))["emailVerify"]
    assert verified["userErrors"] == []
    for tenant in (first, second):
        assert "twice@example.com" in await records(api, tenant, "ACTIVE")
        assert (await seats(api, tenant))["reserved"] == 0
    accounts = await api.data(VIEWER_ACCOUNTS, token=verified["token"])
    assert {a["slug"] for a in accounts["viewer"]["accounts"]} == {first.slug, second.slug}


async def test_a_verified_login_joins_active_at_once(api, services):
    tenant = await make_tenant(services)
    token = await link(api, tenant)
    user = await make_user(services, "known@example.com")
    elsewhere = await add_membership(services, await make_tenant(services), user.id)
    before = await seats(api, tenant)

    signed_in = await join(api, token, "known@example.com", password=None, auth=elsewhere.token)
    assert signed_in["outcome"] == "JOINED" and signed_in["emailVerificationRequired"] is False
    other = await make_user(services, "other@example.com")
    with_password = await join(api, token, other.email, password="correct horse battery")
    assert with_password["outcome"] == "JOINED"

    active = await records(api, tenant, "ACTIVE")
    assert {"known@example.com", "other@example.com"} <= set(active)
    after = await seats(api, tenant)
    assert after["used"] == before["used"] + 2 and after["reserved"] == before["reserved"]
    assert await take_mail(services) == []  # nobody needs to confirm anything


async def test_a_full_account_refuses_the_join_and_an_unconfirmed_member_counts(api, services):
    tenant = await make_tenant(services, seats=2)
    token = await link(api, tenant)
    assert (await join(api, token, "first@example.com"))["outcome"] == "JOINED"
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 1, "available": 0}

    full = await join(api, token, "second@example.com")
    assert codes(full) == ["SEAT_LIMIT_REACHED"] and full["outcome"] is None
    invited = await api.data(INVITE, {"email": "third@example.com"}, as_=tenant.owner)
    assert codes(invited["invitationCreate"]) == ["SEAT_LIMIT_REACHED"]
    assert set(await records(api, tenant)) == {tenant.owner.email, "first@example.com"}


async def test_inviting_an_unconfirmed_members_address_is_already_a_member(api, services):
    tenant = await make_tenant(services)
    await join(api, await link(api, tenant), "waiting@example.com")
    invited = await api.data(INVITE, {"email": "waiting@example.com"}, as_=tenant.owner)
    assert codes(invited["invitationCreate"]) == ["ALREADY_MEMBER"]
    assert (await seats(api, tenant))["reserved"] == 1


# --- join requests ---------------------------------------------------------------------------


async def test_approving_an_unconfirmed_requester_holds_the_seat_until_they_confirm(api, services):
    tenant = await make_tenant(services)
    token = await link(api, tenant, requiresApproval=True)
    asked = await join(api, token, "asker@example.com")
    assert asked["outcome"] == "PENDING_APPROVAL"
    assert await seats(api, tenant) == {"limit": 50, "used": 1, "reserved": 0, "available": 49}
    [request] = (await api.data(REQUESTS, as_=tenant.owner))["joinRequests"]

    approved = (await api.data(APPROVE, {"id": request["id"]}, as_=tenant.owner))[
        "joinRequestApprove"
    ]
    assert approved == {"staff": {"accountStatus": "UNCONFIRMED"}, "userErrors": []}
    assert await seats(api, tenant) == {"limit": 50, "used": 1, "reserved": 1, "available": 48}

    await confirm(api, services, "asker@example.com")
    assert "asker@example.com" in await records(api, tenant, "ACTIVE")
    assert await seats(api, tenant) == {"limit": 50, "used": 2, "reserved": 0, "available": 48}


async def test_approving_a_requester_who_confirmed_first_makes_them_active(api, services):
    tenant = await make_tenant(services)
    token = await link(api, tenant, requiresApproval=True)
    await join(api, token, "quick@example.com")
    await confirm(api, services, "quick@example.com")
    # confirmed, but not a member of anything yet
    assert (await login(api, "quick@example.com"))["accounts"] == []
    [request] = (await api.data(REQUESTS, as_=tenant.owner))["joinRequests"]

    approved = (await api.data(APPROVE, {"id": request["id"]}, as_=tenant.owner))[
        "joinRequestApprove"
    ]
    assert approved == {"staff": {"accountStatus": "ACTIVE"}, "userErrors": []}
    assert await seats(api, tenant) == {"limit": 50, "used": 2, "reserved": 0, "available": 48}


# --- administering an unconfirmed member ---------------------------------------------------


async def test_disabling_an_unconfirmed_member_frees_the_seat_and_enabling_restores_it(
    api, services
):
    tenant = await make_tenant(services, seats=2)
    token = await link(api, tenant)
    await join(api, token, "off@example.com")
    verification = await confirmation_token(services, "off@example.com")
    staff_id = (await records(api, tenant, "UNCONFIRMED"))["off@example.com"]["id"]

    off = (await api.data(DISABLE, {"id": staff_id}, as_=tenant.owner))["staffDisable"]
    assert off == {"staff": {"accountStatus": "DISABLED"}, "userErrors": []}
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 0, "available": 1}

    # still not confirmed: enabling brings back the waiting state (and holds the seat again)
    on = (await api.data(ENABLE, {"id": staff_id}, as_=tenant.owner))["staffEnable"]
    assert on == {"staff": {"accountStatus": "UNCONFIRMED"}, "userErrors": []}
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 1, "available": 0}

    # disabled again, confirming the email does not let them back in
    await api.data(DISABLE, {"id": staff_id}, as_=tenant.owner)
    verified = (await api.data(VERIFY, {"t": verification}))["emailVerify"]
    assert verified["userErrors"] == []
    assert "off@example.com" in await records(api, tenant, "DISABLED")
    assert (await api.data(VIEWER_ACCOUNTS, token=verified["token"]))["viewer"]["accounts"] == []
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 0, "available": 1}

    # confirmed now: enabling makes them a member at once
    on = (await api.data(ENABLE, {"id": staff_id}, as_=tenant.owner))["staffEnable"]
    assert on == {"staff": {"accountStatus": "ACTIVE"}, "userErrors": []}
    assert await seats(api, tenant) == {"limit": 2, "used": 2, "reserved": 0, "available": 0}


async def test_deleting_an_unconfirmed_member_frees_the_seat(api, services):
    tenant = await make_tenant(services, seats=2)
    token = await link(api, tenant)
    await join(api, token, "gone@example.com")
    staff_id = (await records(api, tenant, "UNCONFIRMED"))["gone@example.com"]["id"]
    deleted = (await api.data(DELETE, {"id": staff_id}, as_=tenant.owner))["staffDelete"]
    assert deleted["userErrors"] == []
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 0, "available": 1}
    # confirming afterwards joins nothing
    await confirm(api, services, "gone@example.com")
    assert (await login(api, "gone@example.com"))["accounts"] == []
    assert (await join(api, token, "next@example.com"))["outcome"] == "JOINED"


async def test_an_unconfirmed_record_is_not_a_way_into_the_account(api, services):
    """Even a session of the login (e.g. from before) does not act in the account."""
    tenant = await make_tenant(services)
    await join(api, await link(api, tenant), "early@example.com")
    row = await staff_row(services, tenant, "early@example.com")
    assert row.account_status == AccountStatus.UNCONFIRMED
    user = await get_row(services, User, row.user_id)
    member = await log_in_again(
        services,
        Member(user.id, row.id, gid("Staff", row.id), user.email, "", tenant.slug, Role.VIEWER),
    )
    assert (await api.data(VIEWER_ACCOUNTS, token=member.token))["viewer"]["accounts"] == []
    body = await api(SEATS, token=member.token, realm=tenant.slug)
    assert body.get("errors") and body["data"] is None


# --- the decoy (a known address without its password) -----------------------------------


async def test_the_decoy_answers_as_a_newcomer_and_holds_no_seat(api, services):
    tenant = await make_tenant(services, seats=3)
    token = await link(api, tenant)
    await make_user(services, "taken@example.com")

    newcomer = await join(api, token, "fresh@example.com")
    after_newcomer = await seats(api, tenant)
    decoy = await join(api, token, "taken@example.com", password="a wrong but long password")
    assert decoy == newcomer
    assert await seats(api, tenant) == after_newcomer  # the decoy holds nothing
    assert "taken@example.com" not in await records(api, tenant)

    # the newcomer's unconfirmed record takes the last seat: both get the full answer alike
    assert (await join(api, token, "last@example.com"))["outcome"] == "JOINED"
    full_new = await join(api, token, "another@example.com")
    full_decoy = await join(api, token, "taken@example.com", password="a wrong but long password")
    assert codes(full_new) == codes(full_decoy) == ["SEAT_LIMIT_REACHED"]
    assert full_new == full_decoy


async def test_a_known_unconfirmed_login_with_its_password_waits_too(api, services):
    """A login whose email is not confirmed, joining with its password, is UNCONFIRMED and
    is sent a confirmation link."""
    tenant = await make_tenant(services)
    user = await make_user(services, "unsure@example.com", password=PASSWORD)
    await update_row(services, User, user.id, email_verified_at=None)
    joined = await join(api, await link(api, tenant), "unsure@example.com")
    assert joined["outcome"] == "JOINED" and joined["emailVerificationRequired"] is True
    assert "unsure@example.com" in await records(api, tenant, "UNCONFIRMED")
    await confirm(api, services, "unsure@example.com")
    assert "unsure@example.com" in await records(api, tenant, "ACTIVE")


# --- races -----------------------------------------------------------------------------------


async def test_concurrent_joins_for_the_last_seat_never_overbook(api, services):
    tenant = await make_tenant(services, seats=3)
    await make_member(services, tenant, Role.VIEWER)  # one seat left
    token = await link(api, tenant)
    emails = [f"race{i}@example.com" for i in range(6)]

    bodies = await asyncio.gather(*(join_call(api, token, e) for e in emails))

    results = []
    for body in bodies:
        assert not body.get("errors"), body["errors"]
        results.append(codes(body["data"]["joinLinkJoin"]) or ["OK"])
    assert sorted(r[0] for r in results) == ["OK"] + ["SEAT_LIMIT_REACHED"] * 5
    assert await seats(api, tenant) == {"limit": 3, "used": 2, "reserved": 1, "available": 0}
    assert len(await records(api, tenant, "UNCONFIRMED")) == 1


async def test_confirming_while_others_join_never_overbooks(api, services):
    tenant = await make_tenant(services, seats=3)
    token = await link(api, tenant)
    await join(api, token, "waiting@example.com")
    verification = await confirmation_token(services, "waiting@example.com")
    # one seat left; the confirmation moves a seat from reserved to used meanwhile
    calls = [api(VERIFY, {"t": verification})]
    calls += [join_call(api, token, f"late{i}@example.com") for i in range(4)]

    bodies = await asyncio.gather(*calls)

    assert all(not b.get("errors") for b in bodies), bodies
    assert bodies[0]["data"]["emailVerify"]["userErrors"] == []
    joins = sorted(codes(b["data"]["joinLinkJoin"]) or ["OK"] for b in bodies[1:])
    assert joins == [["OK"]] + [["SEAT_LIMIT_REACHED"]] * 3
    assert await seats(api, tenant) == {"limit": 3, "used": 2, "reserved": 1, "available": 0}


AUDIT_LOG = """{ auditLog(first: 50) { edges { node { action targetType diff } } } }"""


async def test_the_audit_log_shows_joining_and_confirming(api, services):
    tenant = await make_tenant(services)
    await join(api, await link(api, tenant), "logged@example.com")
    await confirm(api, services, "logged@example.com")
    log = await api.data(AUDIT_LOG, as_=tenant.owner)
    entries = {e["node"]["action"]: e["node"] for e in log["auditLog"]["edges"]}

    def staff_change(action: str) -> dict:
        [change] = [d for d in entries[action]["diff"] if d["table"] == "staff"]
        return change

    assert staff_change("joinLinkJoin")["fields"]["account_status"] == [None, "UNCONFIRMED"]
    confirmed = staff_change("emailVerify")
    assert entries["emailVerify"]["targetType"] == "Staff"
    assert confirmed["account_id"] == tenant.account_id
    assert confirmed["fields"]["account_status"] == ["UNCONFIRMED", "ACTIVE"]


ACCEPT = f"""mutation($t: String!, $pw: String) {{
  invitationAccept(input: {{token: $t, password: $pw}}) {{ staff {{ accountStatus }} {PAYLOAD} }}
}}"""


async def test_accepting_an_invitation_confirms_the_waiting_membership(api, services):
    """The invitation's link arrived by email too: the address is confirmed."""
    joined = await make_tenant(services)
    inviting = await make_tenant(services)
    await join(api, await link(api, joined), "both@example.com")
    await take_mail(services)
    invited = await api.data(INVITE, {"email": "both@example.com"}, as_=inviting.owner)
    assert invited["invitationCreate"]["userErrors"] == []
    [invitation] = [m for m in await take_mail(services) if m["To"] == "both@example.com"]

    accepted = (await api.data(ACCEPT, {"t": mail_token(invitation), "pw": PASSWORD}))[
        "invitationAccept"
    ]
    assert accepted == {"staff": {"accountStatus": "ACTIVE"}, "userErrors": []}
    assert "both@example.com" in await records(api, joined, "ACTIVE")
    assert (await seats(api, joined))["reserved"] == 0
