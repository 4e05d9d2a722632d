"""Self sign-up into an account (seed 003): where the account allows it, anyone signs up on
its page or with ``accountSignup`` and becomes a customer, a guest, once their email is
confirmed; with sign-up's own abuse limit and no way to learn who has a login."""

from __future__ import annotations

import re

import httpx

from app.access import Role
from app.main import create_app
from app.services import Services
from tests.conftest import make_settings
from tests.factories import (
    PASSWORD,
    Api,
    error_codes,
    mail_text,
    mail_token,
    make_member,
    make_tenant,
    make_user,
    take_mail,
)

SIGNUP = """mutation($input: AccountSignupInput!) {
  accountSignup(input: $input) { accountName emailVerificationRequired userErrors { field code } }
}"""
OPEN = """mutation($on: Boolean!) { accountUpdate(input: {selfSignup: $on}) {
  account { settings { selfSignup } } userErrors { code } } }"""
VERIFY = """mutation($t: String!, $p: String = "a good long password") {
  emailVerify(input: {token: $t, password: $p}) { token userErrors { code } } }"""
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token accounts { slug role } userErrors { code } } }"""
PEOPLE = """{ staff(first: 100) { nodes { email role kind accountStatus } } }"""
NEW_PASSWORD = "a good long password"


def _input(realm: str, email: str, password: str = NEW_PASSWORD) -> dict:
    return {"input": {"account": realm, "email": email, "password": password,
                      "firstName": "Cora", "lastName": "Customer"}}


async def _open(api, tenant) -> None:
    body = await api.data(OPEN, {"on": True}, as_=tenant.owner)
    assert body["accountUpdate"]["account"]["settings"]["selfSignup"] is True


async def _person(api, tenant, email: str) -> dict | None:
    nodes = (await api.data(PEOPLE, as_=tenant.owner))["staff"]["nodes"]
    return next((n for n in nodes if n["email"] == email), None)


async def test_a_closed_or_unknown_account_takes_no_sign_ups(api, services):
    tenant = await make_tenant(services)
    odd = ("²", "3000000000", "99999999999999999999", f" {tenant.account_id}x")
    for realm in (tenant.slug, "no-such-account", str(tenant.account_id + 999), "x" * 300, *odd):
        body = await api.data(SIGNUP, _input(realm, "cora@client.co"))
        assert body["accountSignup"]["userErrors"] == [
            {"field": ["input", "account"], "code": "NOT_FOUND"}
        ], realm
    assert await _person(api, tenant, "cora@client.co") is None
    assert await take_mail(services) == []


async def test_a_newcomer_becomes_a_guest_customer_once_their_email_is_confirmed(api, services):
    tenant = await make_tenant(services, "Open Co")
    await _open(api, tenant)
    body = await api.data(SIGNUP, _input(tenant.slug, "Cora@Client.co"))
    assert body["accountSignup"] == {
        "accountName": "Open Co", "emailVerificationRequired": True, "userErrors": []
    }
    assert await _person(api, tenant, "cora@client.co") == {
        "email": "cora@client.co", "role": "GUEST", "kind": "CUSTOMER",
        "accountStatus": "UNCONFIRMED",
    }
    refused = (await api.data(LOGIN, {"email": "cora@client.co", "password": NEW_PASSWORD}))
    assert [e["code"] for e in refused["login"]["userErrors"]] == ["INVALID_CREDENTIALS"]
    [message] = await take_mail(services)
    assert message["To"] == "cora@client.co"
    verified = await api.data(VERIFY, {"t": mail_token(message)})
    assert verified["emailVerify"]["userErrors"] == []
    assert (await _person(api, tenant, "cora@client.co"))["accountStatus"] == "ACTIVE"
    login = await api.data(LOGIN, {"email": "cora@client.co", "password": NEW_PASSWORD})
    assert login["login"]["accounts"] == [{"slug": tenant.slug, "role": "GUEST"}]
    # A guest: they see themselves, on no project yet, and no one else.
    seen = await api.data("{ staff { totalCount nodes { email } } }",
                          token=login["login"]["token"], realm=tenant.slug)
    assert seen["staff"] == {"totalCount": 1, "nodes": [{"email": "cora@client.co"}]}


async def test_an_address_with_a_login_gets_a_newcomers_answer_and_its_owner_an_email(
    api, services
):
    tenant = await make_tenant(services, "Open Co")
    await _open(api, tenant)
    await make_user(services, "known@client.co")
    unknown = await api.data(SIGNUP, _input(tenant.slug, "new@client.co"))
    known = await api.data(SIGNUP, _input(tenant.slug, "known@client.co"))
    assert known == unknown  # the same answer: sign-up tells nobody who has a login
    assert await _person(api, tenant, "known@client.co") is None
    mail = {m["To"]: mail_text(m) for m in await take_mail(services)}
    assert set(mail) == {"new@client.co", "known@client.co"}
    assert "/password/forgot" in mail["known@client.co"]
    assert "token=" not in mail["known@client.co"]
    # With its own password, the login joins at once (its email is confirmed).
    body = await api.data(SIGNUP, _input(tenant.slug, "known@client.co", PASSWORD))
    assert body["accountSignup"]["emailVerificationRequired"] is False
    assert (await _person(api, tenant, "known@client.co"))["accountStatus"] == "ACTIVE"


async def test_a_signed_in_member_of_another_account_signs_up_as_themselves(api, services):
    tenant = await make_tenant(services, "Open Co")
    await _open(api, tenant)
    elsewhere = await make_tenant(services)
    member = await make_member(services, elsewhere, Role.EDITOR)
    body = await api.data(SIGNUP, _input(tenant.slug, member.email, password=""),
                          token=member.token)
    assert body["accountSignup"]["userErrors"] == []
    assert (await _person(api, tenant, member.email))["role"] == "GUEST"
    again = await api.data(SIGNUP, _input(tenant.slug, member.email, password=""),
                           token=member.token)
    assert [e["code"] for e in again["accountSignup"]["userErrors"]] == ["ALREADY_MEMBER"]


async def test_guests_need_a_seat_only_where_guests_take_seats(api, services):
    tenant = await make_tenant(services, seats=1)  # full with its owner
    await _open(api, tenant)
    body = await api.data(SIGNUP, _input(tenant.slug, "free@client.co"))
    assert body["accountSignup"]["userErrors"] == []
    await api.data(
        "mutation { accountPlanChange(input: {plan: CUSTOM, seatLimit: 2}) { userErrors { code } } }",
        as_=tenant.owner,
    )
    take = """mutation { accountUpdate(input: {guestsTakeSeats: true}) {
        userErrors { code } } }"""
    assert (await api.data(take, as_=tenant.owner))["accountUpdate"]["userErrors"] == []
    full = await api.data(SIGNUP, _input(tenant.slug, "late@client.co"))
    assert [e["code"] for e in full["accountSignup"]["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    assert await _person(api, tenant, "late@client.co") is None


async def test_sign_ups_count_against_the_sign_up_limit(database_url):
    settings = make_settings(database_url, rate_limits={"signup_address": 2})
    services = Services.from_settings(settings)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, services=services)),
            base_url="http://roster.test",
        ) as client:
            api = Api(client)
            tenant = await make_tenant(services)
            await _open(api, tenant)
            codes = []
            for n in range(3):
                body = await api(SIGNUP, _input(tenant.slug, f"c{n}@client.co"))
                codes.append(error_codes(body) or body["data"]["accountSignup"]["userErrors"])
            assert codes[:2] == [[], []]
            assert codes[2] == ["RATE_LIMITED"]
            # Sign-up into a new account shares the limit.
            body = await api(
                """mutation { signup(input: {email: "x@client.co", password: "a good long password",
                firstName: "X", lastName: "Y", accountName: "X Co"}) { ok } }"""
            )
            assert error_codes(body) == ["RATE_LIMITED"]
    finally:
        await services.close()


async def test_the_sign_up_page(api, services, client):
    tenant = await make_tenant(services, "Open Co")
    closed = await client.get(f"/signup/{tenant.slug}")
    assert closed.status_code == 404 and "does not take sign-ups" in closed.text
    await _open(api, tenant)
    page = await client.get(f"/signup/{tenant.slug}")
    assert page.status_code == 200 and "Open Co" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    posted = await client.post(
        f"/signup/{tenant.slug}",
        data={"csrf": csrf, "email": "paged@client.co", "first_name": "Pia",
              "last_name": "Page", "password": NEW_PASSWORD},
    )
    assert posted.status_code == 200, posted.text
    assert "Confirm your email" in posted.text
    assert (await _person(api, tenant, "paged@client.co"))["role"] == "GUEST"


async def test_an_impersonation_token_never_signs_its_member_up_elsewhere(api, services):
    from tests.identity.test_impersonation import start

    home = await make_tenant(services)
    target = await make_member(services, home, Role.VIEWER)
    admin = await make_member(services, home, Role.ADMINISTRATOR)
    impersonation = (await start(api, admin, target))["token"]
    tenant = await make_tenant(services, "Open Co")
    await _open(api, tenant)
    body = await api(SIGNUP, _input(tenant.slug, target.email, password=""), token=impersonation)
    assert error_codes(body) == ["FORBIDDEN"], body
    assert await _person(api, tenant, target.email) is None


async def test_signing_up_as_an_invited_record_closes_its_invitation(api, services):
    tenant = await make_tenant(services, seats=3)
    await _open(api, tenant)
    invited = await api.data(
        """mutation { invitationCreate(input: {email: "cora@client.co", role: VIEWER}) {
             userErrors { code } } }""",
        as_=tenant.owner,
    )
    assert invited["invitationCreate"]["userErrors"] == []
    [invitation] = await take_mail(services)
    seats = "{ account { seats { used reserved available } } }"
    assert (await api.data(seats, as_=tenant.owner))["account"]["seats"] == {
        "used": 1, "reserved": 1, "available": 1
    }
    # a login at the address, confirmed: only a proven address takes its record
    # (tests/invitations/test_unproven_joiners.py)
    await make_user(services, "cora@client.co", NEW_PASSWORD)
    body = await api.data(SIGNUP, _input(tenant.slug, "cora@client.co"))
    assert body["accountSignup"]["userErrors"] == []
    assert (await _person(api, tenant, "cora@client.co"))["accountStatus"] == "ACTIVE"
    # a guest now, who takes no seat: the viewer's invitation holds none either
    assert (await api.data(seats, as_=tenant.owner))["account"]["seats"] == {
        "used": 1, "reserved": 0, "available": 2
    }
    listed = await api.data("{ invitations(first: 5) { edges { node { status } } } }",
                            as_=tenant.owner)
    assert listed["invitations"]["edges"] == [{"node": {"status": "REVOKED"}}]
    stale = await api.data(
        """mutation($t: String!) { invitationAccept(input: {token: $t, password: "x"}) {
             userErrors { code } } }""",
        {"t": mail_token(invitation)},
    )
    assert [e["code"] for e in stale["invitationAccept"]["userErrors"]] == ["INVITATION_REVOKED"]


async def test_an_invited_person_signs_up_into_a_full_account_on_their_invitations_seat(
    api, services
):
    tenant = await make_tenant(services, seats=2)
    await _open(api, tenant)
    take = """mutation { accountUpdate(input: {guestsTakeSeats: true}) {
        userErrors { code } } }"""
    assert (await api.data(take, as_=tenant.owner))["accountUpdate"]["userErrors"] == []
    invited = await api.data(
        """mutation { invitationCreate(input: {email: "cora@client.co", role: VIEWER}) {
             userErrors { code } } }""",
        as_=tenant.owner,
    )
    assert invited["invitationCreate"]["userErrors"] == []
    [invitation] = await take_mail(services)
    seats = "{ account { seats { used reserved available } } }"
    full = {"used": 1, "reserved": 1, "available": 0}
    assert (await api.data(seats, as_=tenant.owner))["account"]["seats"] == full
    # a guest takes a seat here, and there is none for anyone else
    other = await api.data(SIGNUP, _input(tenant.slug, "late@client.co"))
    assert [e["code"] for e in other["accountSignup"]["userErrors"]] == ["SEAT_LIMIT_REACHED"]

    await make_user(services, "cora@client.co", NEW_PASSWORD)  # a confirmed login
    body = await api.data(SIGNUP, _input(tenant.slug, "cora@client.co"))
    assert body["accountSignup"]["userErrors"] == []
    person = await _person(api, tenant, "cora@client.co")
    assert (person["role"], person["accountStatus"]) == ("GUEST", "ACTIVE")
    # the invitation's seat is the guest's now
    assert (await api.data(seats, as_=tenant.owner))["account"]["seats"] == {
        "used": 2, "reserved": 0, "available": 0
    }
    stale = await api.data(
        """mutation($t: String!) { invitationAccept(input: {token: $t, password: "x"}) {
             userErrors { code } } }""",
        {"t": mail_token(invitation)},
    )
    assert [e["code"] for e in stale["invitationAccept"]["userErrors"]] == ["INVITATION_REVOKED"]


async def test_a_refused_password_costs_the_same_whether_the_address_has_a_login(
    api, services, monkeypatch
):
    """As a join link's (``join_through``): no answer's time tells who has a login."""
    from tests.invitations.test_join_links import Argon2Work

    tenant = await make_tenant(services, "Open Co")
    await _open(api, tenant)
    known = await make_user(services, "known@client.co")
    work = Argon2Work(services, monkeypatch)
    answers, costs = [], []
    for email in (known.email, "unknown@client.co"):
        body = await api.data(SIGNUP, _input(tenant.slug, email, password="short"))
        answers.append(body["accountSignup"]["userErrors"])
        costs.append(work.taken())
    assert answers[0] == answers[1] == [{"field": ["input", "password"], "code": "WEAK_PASSWORD"}]
    assert costs[0] == costs[1] >= 1
