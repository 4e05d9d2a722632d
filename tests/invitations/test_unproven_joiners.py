"""Whoever joins with an address they have not shown is theirs (no login there, or one
whose address is not confirmed) takes no record that already holds it.

Joining used to bind such a record at once, before anyone had read the address's mail: a
stranger who typed an invited person's address into a join link or an account's sign-up
page revoked their invitation, renamed and re-roled their record and bound it to a login
whose password the stranger chose, which the real person's click on "confirm your
address" would then have handed over. Now nothing changes: the stranger gets a
newcomer's answer, and the address is told how to take its place (its invitation)."""

from __future__ import annotations

import pytest

from app.staff.models import AccountStatus, Staff
from tests.factories import (
    error_codes,
    mail_text,
    make_staff,
    make_tenant,
    make_user,
    take_mail,
    update_row,
)
from tests.invitations.test_join_links import (
    APPROVE,
    PASSWORD,
    REQUESTS,
    create_ok,
    invite_record,
    join,
)
from tests.invitations.test_join_links import (
    JOIN as JOIN_DOC,
)
from tests.invitations.test_open_signup import SIGNUP, _input, _open

PERSON = """query($email: String!) {
  staff(first: 5, search: $email, filter: {includeDisabled: true, includeInactive: true}) {
    nodes { email role accountStatus firstName lastName hasLogin } } }"""
INVITATIONS = "{ invitations(first: 10) { edges { node { email status } } } }"
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { code } } }"""
ADDRESS = "held@example.com"


def join_input(token: str, email: str) -> dict:
    return {"token": token, "email": email, "password": PASSWORD, "firstName": "Jo",
            "lastName": "Joiner"}


async def record_at(api, tenant, email: str) -> list[dict]:
    return (await api.data(PERSON, {"email": email}, as_=tenant.owner))["staff"]["nodes"]


async def login_codes(api, email: str, password: str = PASSWORD) -> list[str]:
    body = await api.data(LOGIN, {"email": email, "password": password})
    return [e["code"] for e in body["login"]["userErrors"]]


async def hold(api, services, tenant, state: str) -> None:
    """A record at ADDRESS in ``state``."""
    if state == "invited":
        await invite_record(api, services, tenant, ADDRESS)
        return
    staff = await make_staff(services, tenant, first_name="Hal", last_name="Held", email=ADDRESS)
    if state == "disabled":  # a former member's record, its login gone
        await update_row(services, Staff, staff.id, account_status=AccountStatus.DISABLED)


async def through(api, tenant, door: str, email: str, password: str = PASSWORD) -> dict:
    """Joining ``tenant`` through ``door`` (a join link, or its sign-up page), the answer."""
    if door == "link":
        token, _ = await create_ok(api, tenant.owner, role="EDITOR")
        return await join(api, token, email, password=password)
    body = await api.data(SIGNUP, _input(tenant.slug, email, password))
    return body["accountSignup"]


@pytest.mark.parametrize("door", ["link", "sign-up"])
@pytest.mark.parametrize("state", ["invited", "not invited", "disabled"])
async def test_a_stranger_at_a_held_address_changes_nothing(api, services, door, state):
    tenant = await make_tenant(services, "Held Co", seats=5)
    if door == "sign-up":
        await _open(api, tenant)
    await hold(api, services, tenant, state)
    await take_mail(services)
    before = await record_at(api, tenant, ADDRESS)
    invitations = (await api.data(INVITATIONS, as_=tenant.owner))["invitations"]

    newcomer = await through(api, tenant, door, "fresh@example.com")
    await take_mail(services)
    stranger = await through(api, tenant, door, ADDRESS)
    # the same answer as anyone new: never ALREADY_MEMBER for a former member's address
    assert stranger == newcomer, (stranger, newcomer)
    assert stranger["userErrors"] == []

    # the record, its invitation and its seat are as they were
    assert await record_at(api, tenant, ADDRESS) == before
    assert (await api.data(INVITATIONS, as_=tenant.owner))["invitations"] == invitations
    # their login answers as the newcomer's does: made, with their password, unconfirmed
    # (and only that password confirms it: tests/identity/test_onboarding.py)
    assert await login_codes(api, ADDRESS) == await login_codes(api, "fresh@example.com")
    assert await login_codes(api, ADDRESS) == ["INVALID_CREDENTIALS"]
    # the address alone is told, with no link that lets anyone in
    [message] = await take_mail(services)
    assert message["To"] == ADDRESS and message["Bcc"] is None
    assert message["Subject"] == "Your place at Held Co on Roster"
    assert "token=" not in mail_text(message)


async def test_an_unconfirmed_login_with_its_password_takes_no_held_record(api, services):
    """The stranger first signs up elsewhere with the address (an unconfirmed login whose
    password they know), then joins where the address is held: still nothing changes."""
    elsewhere = await make_tenant(services, "Open Co")
    await _open(api, elsewhere)
    signed_up = await api.data(SIGNUP, _input(elsewhere.slug, ADDRESS, PASSWORD))
    assert signed_up["accountSignup"]["userErrors"] == []
    assert await login_codes(api, ADDRESS) == ["INVALID_CREDENTIALS"]
    await take_mail(services)  # its "confirm your address", which the stranger never reads

    tenant = await make_tenant(services, "Held Co")
    await hold(api, services, tenant, "invited")
    await take_mail(services)
    before = await record_at(api, tenant, ADDRESS)
    token, _ = await create_ok(api, tenant.owner, role="EDITOR")
    newcomer = await join(api, token, "fresh@example.com")
    await take_mail(services)
    stranger = await join(api, token, ADDRESS)
    assert stranger == newcomer
    assert await record_at(api, tenant, ADDRESS) == before
    invitations = (await api.data(INVITATIONS, as_=tenant.owner))["invitations"]["edges"]
    assert {e["node"]["email"]: e["node"]["status"] for e in invitations}[ADDRESS] == "PENDING"
    [message] = await take_mail(services)
    assert message["Subject"] == "Your place at Held Co on Roster"


async def test_a_confirmed_login_takes_its_record(api, services):
    """Who shows the address is theirs (a confirmed login, with its password) joins as
    the record, its invitation closed."""
    tenant = await make_tenant(services, "Held Co")
    await hold(api, services, tenant, "invited")
    await make_user(services, ADDRESS, PASSWORD)
    token, _ = await create_ok(api, tenant.owner, role="EDITOR")
    joined = await join(api, token, ADDRESS)
    assert joined["outcome"] == "JOINED" and joined["userErrors"] == []
    [record] = await record_at(api, tenant, ADDRESS)
    assert (record["accountStatus"], record["hasLogin"]) == ("ACTIVE", True)
    invitations = (await api.data(INVITATIONS, as_=tenant.owner))["invitations"]["edges"]
    assert [e["node"]["status"] for e in invitations] == ["REVOKED"]


@pytest.mark.parametrize("who", ["a login without its password", "a stranger at a held address"])
async def test_an_answer_like_a_newcomers_uses_the_link_like_one(api, services, who):
    """On a link with few uses left, a use not counted would tell the two apart."""
    tenant = await make_tenant(services)
    if who == "a login without its password":
        await make_user(services, ADDRESS, PASSWORD)
        password = "not the password at all"
    else:
        await hold(api, services, tenant, "not invited")
        password = PASSWORD
    token, _ = await create_ok(api, tenant.owner, maxUses=2)
    assert (await join(api, token, "first@example.com"))["userErrors"] == []
    assert (await join(api, token, ADDRESS, password=password))["userErrors"] == []
    used_up = await join(api, token, "third@example.com")
    assert [e["code"] for e in used_up["userErrors"]] == ["LIMIT_REACHED"]


async def test_a_request_is_not_approved_onto_a_record_its_address_came_to_hold(api, services):
    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner, requiresApproval=True)
    asked = await join(api, token, ADDRESS)
    assert asked["outcome"] == "PENDING_APPROVAL"
    await make_staff(services, tenant, first_name="Hal", last_name="Held", email=ADDRESS)
    before = await record_at(api, tenant, ADDRESS)
    [request] = (await api.data(REQUESTS, {"status": "PENDING"}, as_=tenant.owner))["joinRequests"]
    refused = (await api.data(APPROVE, {"id": request["id"]}, as_=tenant.owner))
    assert [e["code"] for e in refused["joinRequestApprove"]["userErrors"]] == ["INVALID_STATE"]
    assert await record_at(api, tenant, ADDRESS) == before


@pytest.mark.parametrize("door", ["link", "sign-up"])
async def test_a_full_account_answers_a_held_address_as_a_newcomer(api, services, door):
    """An invited record's pending invitation holds a seat; a stranger at its address is
    still answered as a newcomer in a full account (no seat), not let in on that seat."""
    tenant = await make_tenant(services, seats=2)
    if door == "sign-up":
        await _open(api, tenant)
        take = "mutation { accountUpdate(input: {guestsTakeSeats: true}) { userErrors { code } } }"
        assert (await api.data(take, as_=tenant.owner))["accountUpdate"]["userErrors"] == []
    await hold(api, services, tenant, "invited")  # the last seat
    await take_mail(services)
    newcomer = await through(api, tenant, door, "fresh@example.com")
    stranger = await through(api, tenant, door, ADDRESS)
    assert [e["code"] for e in newcomer["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    assert stranger == newcomer


@pytest.mark.parametrize("door", ["link", "sign-up"])
async def test_repeated_joins_are_limited_alike_at_a_held_address(api, services, door):
    """The same join sent again and again meets the login limit at the same attempt for
    a held address as for a new one: the decoy's unconfirmed login, whose password
    matches, does not clear the count."""
    from tests.identity.test_review_password_guessing import low_limits

    low_limits(services, email=3)
    tenant = await make_tenant(services, seats=20)
    if door == "sign-up":
        await _open(api, tenant)
    await hold(api, services, tenant, "invited")
    token, _ = await create_ok(api, tenant.owner, role="EDITOR")

    async def codes_of(email: str) -> list:
        answers = []
        for _ in range(5):
            if door == "link":
                body = await api(JOIN_DOC, {"input": join_input(token, email)})
            else:
                body = await api(SIGNUP, _input(tenant.slug, email, PASSWORD))
            answers.append(error_codes(body) or body["data"])
        return [a if isinstance(a, list) else "answered" for a in answers]

    assert await codes_of(ADDRESS) == await codes_of("fresh@example.com")
    assert (await codes_of("another@example.com"))[-1] == ["RATE_LIMITED"]
