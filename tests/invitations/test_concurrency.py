"""Races: many requests fired at once through the app with asyncio.gather.

Every request gets its own session and connection, so these run the real locking paths:
BEGIN IMMEDIATE on the SQLite file, row locks and unique constraints on PostgreSQL. The
loser of a race must always get a typed answer (a userError, or RATE_LIMITED), never an
INTERNAL_SERVER_ERROR, and what is left in the database must add up.
"""

import asyncio
import re
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from app.access import Role
from app.accounts.models import Account
from app.db.base import utcnow
from app.graphql.ids import decode_id
from app.identity.models import User
from app.invitations.models import Invitation, JoinLink
from app.staff.models import Staff
from tests.factories import (
    error_codes,
    mail_token,
    make_member,
    make_tenant,
    make_user,
    take_mail,
    update_row,
)

NEW_PASSWORD = "a good long password"

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) {
    invitation { id email status }
    userErrors { field code message }
  }
}"""
ACCEPT = """mutation($input: InvitationAcceptInput!) {
  invitationAccept(input: $input) {
    token staff { accountStatus role email }
    userErrors { field code message }
  }
}"""
REVOKE = """mutation($id: ID!) {
  invitationRevoke(input: {id: $id}) { invitation { status } userErrors { code } }
}"""
RESEND = """mutation($id: ID!) {
  invitationResend(input: {id: $id}) { invitation { sentCount } userErrors { code } }
}"""
INVITATIONS = """{ invitations(first: 100) {
  edges { node { id email status sentCount staff { accountStatus } } } } }"""
JOIN_LINK_CREATE = """mutation($input: JoinLinkCreateInput!) {
  joinLinkCreate(input: $input) { url joinLink { id } userErrors { code } }
}"""
JOIN = """mutation($input: JoinLinkJoinInput!) {
  joinLinkJoin(input: $input) { outcome userErrors { field code message } }
}"""
REGISTER = """mutation($input: StaffRegisterInput!) {
  staffRegister(input: $input) { staff { accountStatus hasLogin } userErrors { code } }
}"""
SIGNUP = """mutation($input: SignupInput!) { signup(input: $input) { ok userErrors { code } } }"""
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token user { email } userErrors { code }
  }
}"""
SEATS = "{ account { seats { limit used reserved available } } }"


# --- helpers -------------------------------------------------------------------------------


async def at_once(*calls):
    """Fire the GraphQL calls together; every response must be a 200 with a JSON body."""
    return await asyncio.gather(*calls)


def payload(body: dict, field: str) -> dict:
    """The mutation's payload; a top-level error (e.g. INTERNAL_SERVER_ERROR) fails here."""
    assert not body.get("errors"), body["errors"]
    return body["data"][field]


def outcomes(bodies: list[dict], field: str) -> Counter:
    """How many calls succeeded ("OK") and how many got each userError code."""
    counts = Counter()
    for body in bodies:
        errors = payload(body, field)["userErrors"]
        counts["OK" if not errors else "+".join(sorted({e["code"] for e in errors}))] += 1
    return counts


async def seats(api, tenant) -> dict:
    return (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]


async def invitations(api, tenant) -> dict[str, dict]:
    data = await api.data(INVITATIONS, as_=tenant.owner)
    return {e["node"]["email"]: e["node"] for e in data["invitations"]["edges"]}


async def tokens_sent(services, to: str) -> list[str]:
    """Tokens of every link emailed to ``to`` so far, oldest first."""
    while await services.relay.run_once():
        pass
    found = (
        re.search(r"token=([\w-]+)", m.get_body(("plain",)).get_content())
        for m in services.sender.sent
        if m["To"] == to
    )
    return [match.group(1) for match in found if match]


async def users_with_email(services, email: str) -> int:
    """User rows whose email is ``email`` in any spelling (case, surrounding spaces)."""
    async with services.db.session() as session:
        return await session.scalar(
            select(func.count())
            .select_from(User)
            .where(func.lower(func.trim(User.email)) == email.strip().lower())
        )


async def staff_rows(services, account_id: int, email: str) -> list[Staff]:
    async with services.db.session() as session:
        return list(
            await session.scalars(
                select(Staff).where(Staff.account_id == account_id, Staff.email == email)
            )
        )


async def invite(api, tenant, email: str) -> str:
    data = await api.data(INVITE, {"input": {"email": email}}, as_=tenant.owner)
    assert data["invitationCreate"]["userErrors"] == [], data
    return data["invitationCreate"]["invitation"]["id"]


def accept_call(api, token: str, **extra):
    fields = {"token": token, "password": NEW_PASSWORD, "firstName": "New", "lastName": "Person"}
    return api(ACCEPT, {"input": {**fields, **extra}})


# --- 1. seats under concurrent invitations -------------------------------------------------


async def test_concurrent_invitations_never_take_more_than_the_free_seats(api, services):
    tenant = await make_tenant(services, seats=4)  # the owner holds one: three are free
    emails = [f"person{i}@example.com" for i in range(20)]

    bodies = await at_once(
        *(api(INVITE, {"input": {"email": e}}, as_=tenant.owner) for e in emails)
    )

    assert outcomes(bodies, "invitationCreate") == {"OK": 3, "SEAT_LIMIT_REACHED": 17}
    assert await seats(api, tenant) == {"limit": 4, "used": 1, "reserved": 3, "available": 0}
    winners = {
        payload(b, "invitationCreate")["invitation"]["email"]
        for b in bodies
        if not payload(b, "invitationCreate")["userErrors"]
    }
    listed = await invitations(api, tenant)
    assert set(listed) == winners
    assert {i["status"] for i in listed.values()} == {"PENDING"}
    # The losers left nothing behind: no staff record, no email.
    for email in set(emails) - winners:
        assert await staff_rows(services, tenant.account_id, email) == []
        assert await tokens_sent(services, email) == []
    for email in winners:
        assert len(await tokens_sent(services, email)) == 1


# --- 2. one token, many accepts --------------------------------------------------------------

# A loser that read the invitation just before the winner committed may instead find the
# person already in the account: ALREADY_MEMBER is as true an answer as TOKEN_USED.
ACCEPT_LOSER_CODES = {"TOKEN_USED", "ALREADY_MEMBER"}


def assert_one_accept_won(bodies: list[dict]) -> None:
    counts = outcomes(bodies, "invitationAccept")
    assert counts.pop("OK", 0) == 1, counts
    assert set(counts) <= ACCEPT_LOSER_CODES, counts


async def test_parallel_accepts_of_one_token_make_one_user_and_one_membership(api, services):
    tenant = await make_tenant(services, seats=5)
    await invite(api, tenant, "joiner@example.com")
    [token] = await tokens_sent(services, "joiner@example.com")

    bodies = await at_once(*(accept_call(api, token) for _ in range(10)))

    assert_one_accept_won(bodies)
    [winner] = [b for b in bodies if payload(b, "invitationAccept")["token"]]
    assert payload(winner, "invitationAccept")["staff"]["accountStatus"] == "ACTIVE"
    assert await users_with_email(services, "joiner@example.com") == 1
    [staff] = await staff_rows(services, tenant.account_id, "joiner@example.com")
    assert staff.user_id is not None
    assert await seats(api, tenant) == {"limit": 5, "used": 2, "reserved": 0, "available": 3}
    assert (await invitations(api, tenant))["joiner@example.com"]["status"] == "ACCEPTED"
    # The winner's session works; the account shows up once for that user.
    viewer = await api.data(
        "{ viewer { accounts { slug } } }", token=payload(winner, "invitationAccept")["token"]
    )
    assert viewer["viewer"]["accounts"] == [{"slug": tenant.slug}]


async def test_parallel_accepts_by_a_signed_in_user_add_one_membership(api, services):
    tenant = await make_tenant(services)
    elsewhere = await make_tenant(services)
    person = await make_member(services, elsewhere, Role.VIEWER)
    await invite(api, tenant, person.email)
    [token] = await tokens_sent(services, person.email)

    bodies = await at_once(
        *(api(ACCEPT, {"input": {"token": token}}, token=person.token) for _ in range(10))
    )

    assert_one_accept_won(bodies)
    assert len(await staff_rows(services, tenant.account_id, person.email)) == 1
    viewer = await api.data("{ viewer { accounts { slug } } }", token=person.token)
    assert sorted(a["slug"] for a in viewer["viewer"]["accounts"]) == sorted(
        [tenant.slug, elsewhere.slug]
    )


async def test_one_new_person_accepting_two_accounts_at_once_gets_one_user(api, services):
    """Two invitations (two accounts) for the same new address, accepted at the same time:
    one user row; the other accept either joins that user (it was created first) or is told
    the login now exists (TAKEN; retrying signs in as that user). Never an internal error."""
    a = await make_tenant(services)
    b = await make_tenant(services)
    await invite(api, a, "twice@example.com")
    await invite(api, b, "twice@example.com")
    token_a, token_b = await tokens_sent(services, "twice@example.com")

    bodies = await at_once(accept_call(api, token_a), accept_call(api, token_b))

    results = [payload(body, "invitationAccept") for body in bodies]
    assert any(r["token"] for r in results)
    for r in results:
        assert r["token"] or [e["code"] for e in r["userErrors"]] == ["TAKEN"], r
    assert await users_with_email(services, "twice@example.com") == 1


# --- 3. revoke racing accept -----------------------------------------------------------------


async def test_revoke_racing_accept_never_both_win(api, services):
    tenant = await make_tenant(services, seats=20)
    emails = [f"racer{i}@example.com" for i in range(10)]
    ids = {email: await invite(api, tenant, email) for email in emails}
    tokens = {email: (await tokens_sent(services, email))[0] for email in emails}

    calls, labels = [], []
    for n, email in enumerate(emails):  # alternate which of the two is sent first
        pair = [
            (("revoke", email), api(REVOKE, {"id": ids[email]}, as_=tenant.owner)),
            (("accept", email), accept_call(api, tokens[email])),
        ]
        for label, call in pair if n % 2 else reversed(pair):
            labels.append(label)
            calls.append(call)
    results = dict(zip(labels, await at_once(*calls), strict=True))

    listed = await invitations(api, tenant)
    accepted = 0
    for email in emails:
        revoked = payload(results["revoke", email], "invitationRevoke")
        took = payload(results["accept", email], "invitationAccept")
        [staff] = await staff_rows(services, tenant.account_id, email)
        if listed[email]["status"] == "ACCEPTED":
            accepted += 1
            assert took["userErrors"] == [] and took["token"]
            assert [e["code"] for e in revoked["userErrors"]] == ["INVALID_STATE"]
            assert staff.account_status == "ACTIVE" and staff.user_id is not None
            assert await users_with_email(services, email) == 1
        else:
            assert listed[email]["status"] == "REVOKED"
            assert revoked["userErrors"] == [] and revoked["invitation"]["status"] == "REVOKED"
            assert [e["code"] for e in took["userErrors"]] == ["INVITATION_REVOKED"]
            assert took["token"] is None
            assert staff.account_status == "NOT_INVITED" and staff.user_id is None
            assert await users_with_email(services, email) == 0
    assert await seats(api, tenant) == {
        "limit": 20,
        "used": 1 + accepted,
        "reserved": 0,
        "available": 19 - accepted,
    }


# --- 4. concurrent resends -------------------------------------------------------------------


async def test_concurrent_resends_send_once_and_only_the_newest_link_works(api, services):
    tenant = await make_tenant(services)
    invitation_id = await invite(api, tenant, "again@example.com")
    [first_token] = await tokens_sent(services, "again@example.com")
    await update_row(
        services,
        Invitation,
        decode_id(invitation_id, "Invitation"),
        last_sent_at=utcnow() - timedelta(hours=1),
    )

    bodies = await at_once(
        *(api(RESEND, {"id": invitation_id}, as_=tenant.owner) for _ in range(8))
    )

    done = [b for b in bodies if not b.get("errors")]
    limited = [b for b in bodies if b.get("errors")]
    assert len(done) == 1, bodies
    assert payload(done[0], "invitationResend") == {
        "invitation": {"sentCount": 2},
        "userErrors": [],
    }
    for body in limited:
        assert error_codes(body) == ["RATE_LIMITED"], body
        assert body["errors"][0]["extensions"]["retryAfter"] > 0
        assert (body.get("data") or {}).get("invitationResend") is None
    assert (await invitations(api, tenant))["again@example.com"]["sentCount"] == 2

    tokens = await tokens_sent(services, "again@example.com")
    assert len(tokens) == 2 and tokens[0] == first_token
    old = payload(await accept_call(api, first_token), "invitationAccept")
    assert [e["code"] for e in old["userErrors"]] == ["INVALID_TOKEN"]
    new = payload(await accept_call(api, tokens[-1]), "invitationAccept")
    assert new["userErrors"] == [] and new["staff"]["accountStatus"] == "ACTIVE"


async def test_resend_racing_accept_of_the_old_link_never_both_win(api, services):
    """Resend rotates the token: either the old link was used first (and resend is refused),
    or the link was rotated first (and the old link no longer works)."""
    tenant = await make_tenant(services, seats=20)
    emails = [f"rotate{i}@example.com" for i in range(8)]
    ids = {email: await invite(api, tenant, email) for email in emails}
    tokens = {email: (await tokens_sent(services, email))[0] for email in emails}
    for email in emails:
        await update_row(
            services,
            Invitation,
            decode_id(ids[email], "Invitation"),
            last_sent_at=utcnow() - timedelta(hours=1),
        )

    calls, labels = [], []
    for n, email in enumerate(emails):
        pair = [
            (("resend", email), api(RESEND, {"id": ids[email]}, as_=tenant.owner)),
            (("accept", email), accept_call(api, tokens[email])),
        ]
        for label, call in pair if n % 2 else reversed(pair):
            labels.append(label)
            calls.append(call)
    results = dict(zip(labels, await at_once(*calls), strict=True))

    listed = await invitations(api, tenant)
    for email in emails:
        resent = payload(results["resend", email], "invitationResend")
        took = payload(results["accept", email], "invitationAccept")
        [staff] = await staff_rows(services, tenant.account_id, email)
        if listed[email]["status"] == "ACCEPTED":
            assert took["userErrors"] == [], email
            assert [e["code"] for e in resent["userErrors"]] == ["INVALID_STATE"], email
            assert listed[email]["sentCount"] == 1
            assert staff.account_status == "ACTIVE"
        else:
            assert listed[email]["status"] == "PENDING"
            assert resent["userErrors"] == [] and resent["invitation"]["sentCount"] == 2
            assert [e["code"] for e in took["userErrors"]] == ["INVALID_TOKEN"], email
            assert staff.account_status == "INVITED" and staff.user_id is None
            assert await users_with_email(services, email) == 0
            # The resent link is the one that works now.
            newest = (await tokens_sent(services, email))[-1]
            assert payload(await accept_call(api, newest), "invitationAccept")["userErrors"] == []


# --- 5. join links ---------------------------------------------------------------------------


async def join_link(api, tenant, **fields) -> tuple[str, int]:
    data = await api.data(JOIN_LINK_CREATE, {"input": fields}, as_=tenant.owner)
    created = data["joinLinkCreate"]
    assert created["userErrors"] == []
    return created["url"].rsplit("/", 1)[1], decode_id(created["joinLink"]["id"], "JoinLink")


def join_call(api, token: str, email: str):
    return api(
        JOIN,
        {
            "input": {
                "token": token,
                "email": email,
                "password": NEW_PASSWORD,
                "firstName": "Jo",
                "lastName": "Iner",
            }
        },
    )


async def link_uses(services, link_id: int) -> int:
    async with services.db.session() as session:
        return (await session.get(JoinLink, link_id)).uses


async def test_concurrent_joins_respect_max_uses(api, services):
    tenant = await make_tenant(services, seats=50)
    token, link_id = await join_link(api, tenant, maxUses=2)
    emails = [f"link{i}@example.com" for i in range(10)]

    bodies = await at_once(*(join_call(api, token, e) for e in emails))

    assert outcomes(bodies, "joinLinkJoin") == {"OK": 2, "LIMIT_REACHED": 8}
    assert await link_uses(services, link_id) == 2
    # the two joiners hold their seats until they confirm their email
    assert (await seats(api, tenant))["used"] + (await seats(api, tenant))["reserved"] == 3
    joined = [e for e in emails if await staff_rows(services, tenant.account_id, e)]
    assert len(joined) == 2
    assert sum([await users_with_email(services, e) for e in emails]) == 2


async def test_concurrent_requests_to_join_never_pass_the_waiting_cap(api, services, monkeypatch):
    from app.invitations import join_links
    from app.invitations.models import JoinRequest

    monkeypatch.setattr(join_links, "MAX_WAITING", 3)
    tenant = await make_tenant(services, seats=50)
    token, _ = await join_link(api, tenant, requiresApproval=True)
    emails = [f"asker{i}@example.com" for i in range(8)]

    bodies = await at_once(*(join_call(api, token, e) for e in emails))

    assert outcomes(bodies, "joinLinkJoin") == {"OK": 3, "LIMIT_REACHED": 5}
    async with services.db.session() as session:
        waiting = await session.scalar(select(func.count()).select_from(JoinRequest))
    assert waiting == 3


async def test_concurrent_joins_respect_free_seats(api, services):
    tenant = await make_tenant(services, seats=3)  # two free seats, the link has no limit
    token, link_id = await join_link(api, tenant)
    emails = [f"seat{i}@example.com" for i in range(10)]

    bodies = await at_once(*(join_call(api, token, e) for e in emails))

    assert outcomes(bodies, "joinLinkJoin") == {"OK": 2, "SEAT_LIMIT_REACHED": 8}
    # the owner, and the two joiners holding their seats until they confirm their email
    assert await seats(api, tenant) == {"limit": 3, "used": 1, "reserved": 2, "available": 0}
    assert await link_uses(services, link_id) == 2
    assert sum([await users_with_email(services, e) for e in emails]) == 2


async def test_invited_people_join_a_full_account_at_once_on_their_invitations_seats(
    api, services
):
    tenant = await make_tenant(services, seats=4)  # the owner and three invitations: full
    invited = [f"held{i}@example.com" for i in range(3)]
    ids = {email: await invite(api, tenant, email) for email in invited}
    for email in invited:  # confirmed logins: only a proven address takes its record
        await make_user(services, email, NEW_PASSWORD)
    token, _ = await join_link(api, tenant)
    strangers = [f"stranger{i}@example.com" for i in range(5)]
    fresh = [f"fresh{i}@example.com" for i in range(3)]

    joins = await at_once(
        *(join_call(api, token, e) for e in invited + strangers),
        *(api(INVITE, {"input": {"email": e}}, as_=tenant.owner) for e in fresh),
    )

    assert outcomes(joins[:3], "joinLinkJoin") == {"OK": 3}
    assert outcomes(joins[3:8], "joinLinkJoin") == {"SEAT_LIMIT_REACHED": 5}
    assert outcomes(joins[8:], "invitationCreate") == {"SEAT_LIMIT_REACHED": 3}
    # each invitation's seat is its joiner's, never one more
    assert await seats(api, tenant) == {"limit": 4, "used": 4, "reserved": 0, "available": 0}
    listed = await invitations(api, tenant)
    assert {e: listed[e]["status"] for e in ids} == dict.fromkeys(invited, "REVOKED")


# --- 6. direct registration ------------------------------------------------------------------


async def test_concurrent_registrations_take_exactly_the_free_seats(api, services):
    tenant = await make_tenant(services, seats=4)
    emails = [f"reg{i}@example.com" for i in range(10)]

    bodies = await at_once(
        *(
            api(
                REGISTER,
                {"input": {"firstName": "Reg", "lastName": f"N{i}", "email": e}},
                as_=tenant.owner,
            )
            for i, e in enumerate(emails)
        )
    )

    assert outcomes(bodies, "staffRegister") == {"OK": 3, "SEAT_LIMIT_REACHED": 7}
    assert await seats(api, tenant) == {"limit": 4, "used": 4, "reserved": 0, "available": 0}
    registered = [e for e in emails if await staff_rows(services, tenant.account_id, e)]
    assert len(registered) == 3
    assert sum([await users_with_email(services, e) for e in emails]) == 3
    assert sum([len(await tokens_sent(services, e)) for e in emails]) == 3  # welcome emails


# --- 7. one person, two spellings ------------------------------------------------------------

ANN, ANN_SPACED = "Ann@Example.com", " ann@example.com"


async def test_email_spellings_are_one_person_everywhere(api, services):
    tenant = await make_tenant(services)
    await invite(api, tenant, ANN)
    again = await api.data(INVITE, {"input": {"email": ANN_SPACED}}, as_=tenant.owner)
    assert [e["code"] for e in again["invitationCreate"]["userErrors"]] == ["ALREADY_INVITED"]

    [token] = await tokens_sent(services, "ann@example.com")
    accepted = payload(await accept_call(api, token), "invitationAccept")
    assert accepted["userErrors"] == [] and accepted["staff"]["email"] == "ann@example.com"
    for spelling in (ANN, ANN_SPACED, "ANN@EXAMPLE.COM"):
        login = await api.data(LOGIN, {"email": spelling, "password": NEW_PASSWORD})
        assert login["login"]["userErrors"] == [], spelling
        assert login["login"]["user"]["email"] == "ann@example.com"
        assert login["login"]["token"]

    sent_before = len(services.sender.sent)
    signup = await api.data(
        SIGNUP,
        {
            "input": {
                "email": ANN_SPACED,
                "password": "another good password",
                "firstName": "Ann",
                "lastName": "Again",
                "accountName": "Ann Again Co",
            }
        },
    )
    assert signup["signup"] == {"ok": True, "userErrors": []}  # same answer as for a new email
    assert await users_with_email(services, "ann@example.com") == 1
    await tokens_sent(services, "ann@example.com")
    assert [m["To"] for m in services.sender.sent[sent_before:]] == ["ann@example.com"]
    # The old password still works; sign-up did not replace the login.
    login = await api.data(LOGIN, {"email": ANN, "password": NEW_PASSWORD})
    assert login["login"]["userErrors"] == []


async def test_two_spellings_invited_at_once_make_one_invitation(api, services):
    tenant = await make_tenant(services)

    bodies = await at_once(
        *(
            api(INVITE, {"input": {"email": e}}, as_=tenant.owner)
            for e in (ANN, ANN_SPACED, ANN.upper(), ANN_SPACED)
        )
    )

    assert outcomes(bodies, "invitationCreate") == {"OK": 1, "ALREADY_INVITED": 3}
    assert list(await invitations(api, tenant)) == ["ann@example.com"]
    assert (await seats(api, tenant))["reserved"] == 1


async def test_two_spellings_signing_up_at_once_make_one_user(api, services):
    bodies = await at_once(
        *(
            api(
                SIGNUP,
                {
                    "input": {
                        "email": e,
                        "password": "a very good password",
                        "firstName": "Ann",
                        "lastName": "Lee",
                        "accountName": f"Ann Co {n}",
                    }
                },
            )
            for n, e in enumerate((ANN, ANN_SPACED, ANN.upper()))
        )
    )

    # Sign-up answers the same whether or not the email exists, also to a race's loser.
    assert outcomes(bodies, "signup") == {"OK": 3}
    assert await users_with_email(services, "ann@example.com") == 1


async def test_two_spellings_joining_at_once_make_one_user(api, services):
    tenant = await make_tenant(services, seats=50)
    token, _ = await join_link(api, tenant)

    bodies = await at_once(join_call(api, token, ANN), join_call(api, token, ANN_SPACED))

    counts = outcomes(bodies, "joinLinkJoin")
    # the later one may find Ann already a member: not signed in, it gets the newcomer's
    # answer (a right password is not told apart from a wrong one), and changes nothing
    assert counts.pop("OK") in (1, 2), counts
    assert set(counts) <= {"TAKEN", "ALREADY_MEMBER", "LOGIN_REQUIRED"}, counts
    assert await users_with_email(services, "ann@example.com") == 1
    assert len(await staff_rows(services, tenant.account_id, "ann@example.com")) == 1


def signup_call(api, email: str, account_name: str, slug: str | None = None):
    fields = {
        "email": email,
        "password": "a very good password",
        "firstName": "Fay",
        "lastName": "Founder",
        "accountName": account_name,
        "accountSlug": slug,
    }
    return api(SIGNUP, {"input": fields})


async def accounts_named(services, name: str) -> list[Account]:
    async with services.db.session() as session:
        return list(await session.scalars(select(Account).where(Account.name == name)))


async def test_concurrent_signups_with_one_account_name_all_get_an_account(api, services):
    emails = [f"founder{i}@example.com" for i in range(4)]

    bodies = await at_once(*(signup_call(api, e, "Same Name Co") for e in emails))

    assert outcomes(bodies, "signup") == {"OK": 4}
    accounts = await accounts_named(services, "Same Name Co")
    assert len({a.slug for a in accounts}) == 4
    assert sum([await users_with_email(services, e) for e in emails]) == 4


VERIFY = """mutation($t: String!, $p: String = "a very good password") {
  emailVerify(input: {token: $t, password: $p}) { userErrors { code } } }"""


async def test_concurrent_signups_asking_for_one_slug_give_it_to_the_first_to_confirm(
    api, services
):
    """A slug is taken when the founder confirms their email (before, a sign-up takes
    none: app.accounts.service.create_pending_account), so all four sign up; of four
    confirmations at once, one account gets the slug and the others it with a suffix."""
    emails = [f"slugger{i}@example.com" for i in range(4)]

    bodies = await at_once(*(signup_call(api, e, "Slug Co", "wanted-slug") for e in emails))

    assert outcomes(bodies, "signup") == {"OK": 4}
    assert all(a.slug.startswith("pending-") for a in await accounts_named(services, "Slug Co"))
    tokens = [mail_token(m) for m in await take_mail(services)]
    assert len(tokens) == 4
    confirmed = await at_once(*(api(VERIFY, {"t": t}) for t in tokens))
    assert outcomes(confirmed, "emailVerify") == {"OK": 4}
    slugs = sorted(a.slug for a in await accounts_named(services, "Slug Co"))
    assert slugs[0] == "wanted-slug"
    assert all(re.fullmatch(r"wanted-slug-[0-9a-f]{6}", s) for s in slugs[1:]), slugs
    assert len(set(slugs)) == 4
