"""Every place that checks a password counts against the login limits (per email and per
address), refuses the right password like a wrong one once over them, and does not tell a
right password from a wrong one where the action cannot complete. The HTML forms are
limited like their GraphQL twins."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from app.security.rate_limits import Limit
from app.staff.models import AccountStatus, Staff
from tests.factories import (
    PASSWORD,
    error_codes,
    mail_token,
    make_member,
    make_tenant,
    take_mail,
    update_row,
)

WRONG = "not the password at all"
LOGIN = """mutation($e: String!, $p: String!) {
  login(input: {email: $e, password: $p}) { token userErrors { code } }
}"""
CREATE_LINK = """mutation { joinLinkCreate(input: {}) { url userErrors { code } } }"""
JOIN = """mutation($input: JoinLinkJoinInput!) {
  joinLinkJoin(input: $input) {
    outcome accountName emailVerificationRequired userErrors { field code }
  }
}"""
INVITE = """mutation($e: String!) {
  invitationCreate(input: {email: $e}) { invitation { id } userErrors { code } }
}"""
ACCEPT = """mutation($t: String!, $p: String) {
  invitationAccept(input: {token: $t, password: $p}) { token userErrors { field code } }
}"""
PREVIEW = "query($t: String!) { invitationPreview(token: $t) { status } }"
CHANGE = """mutation($c: String!, $n: String!) {
  passwordChange(input: {currentPassword: $c, newPassword: $n}) { ok userErrors { code } }
}"""
TRANSFER = """mutation($s: ID!, $p: String!) {
  accountOwnershipTransfer(input: {staffId: $s, password: $p}) { owner { id } userErrors { code } }
}"""


def low_limits(services, email=3, address=1000):
    services.limiter.limits["login_email"] = Limit(
        email, timedelta(minutes=15), backoff=timedelta(seconds=30)
    )
    services.limiter.limits["login_address"] = Limit(
        address, timedelta(minutes=15), backoff=timedelta(seconds=30)
    )


async def join_token(api, member) -> str:
    data = await api.data(CREATE_LINK, as_=member)
    return data["joinLinkCreate"]["url"].rsplit("/", 1)[1]


def join_input(token, email, password):
    return {
        "input": {
            "token": token,
            "email": email,
            "password": password,
            "firstName": "Eve",
            "lastName": "Guesser",
        }
    }


async def invite_token(api, services, member, email) -> str:
    data = await api.data(INVITE, {"e": email}, as_=member)
    assert data["invitationCreate"]["userErrors"] == [], data
    [message] = [m for m in await take_mail(services) if m["To"] == email]
    return mail_token(message)


async def login_codes(api, email, password=PASSWORD) -> list:
    body = await api(LOGIN, {"e": email, "p": password})
    return error_codes(body) or [e["code"] for e in body["data"]["login"]["userErrors"]]


# --- join links -------------------------------------------------------------------------


async def test_join_link_guesses_are_login_attempts(api, services):
    low_limits(services, email=3)
    attacker = await make_tenant(services)
    victim = await make_member(services, await make_tenant(services))
    token = await join_token(api, attacker.owner)
    answers = []
    for _ in range(3):
        body = await api(JOIN, join_input(token, victim.email, WRONG))
        answers.append(body["data"]["joinLinkJoin"])
    # a known address with a wrong password gets a newcomer's answer
    assert all(a["userErrors"] == [] for a in answers)
    wrong = await api(JOIN, join_input(token, victim.email, WRONG))
    right = await api(JOIN, join_input(token, victim.email, PASSWORD))
    assert error_codes(wrong) == error_codes(right) == ["RATE_LIMITED"]
    assert (right.get("data") or {}).get("joinLinkJoin") is None
    # the same limit as login's
    assert await login_codes(api, victim.email) == ["RATE_LIMITED"]


async def test_failed_logins_limit_join_links_too(api, services):
    low_limits(services, email=3)
    attacker = await make_tenant(services)
    victim = await make_member(services, await make_tenant(services))
    token = await join_token(api, attacker.owner)
    for _ in range(3):
        assert await login_codes(api, victim.email, WRONG) == ["INVALID_CREDENTIALS"]
    body = await api(JOIN, join_input(token, victim.email, PASSWORD))
    assert error_codes(body) == ["RATE_LIMITED"]


async def test_join_link_guesses_count_per_address(api, services):
    low_limits(services, email=1000, address=3)
    attacker = await make_tenant(services)
    victims = [await make_member(services, await make_tenant(services)) for _ in range(3)]
    token = await join_token(api, attacker.owner)
    for victim in victims:
        await api(JOIN, join_input(token, victim.email, WRONG))
    # a fourth address (one with a login) from the same client: refused, as is login
    other = await make_member(services, attacker)
    body = await api(JOIN, join_input(token, other.email, PASSWORD))
    assert error_codes(body) == ["RATE_LIMITED"]
    assert await login_codes(api, other.email) == ["RATE_LIMITED"]


async def test_right_password_of_a_member_answers_like_a_wrong_one(api, services):
    """Already in the link's account: nothing can happen, so a right password must not be
    told apart from a wrong one (it used to answer ALREADY_MEMBER)."""
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    token = await join_token(api, tenant.owner)
    wrong = (await api.data(JOIN, join_input(token, member.email, WRONG)))["joinLinkJoin"]
    right = (await api.data(JOIN, join_input(token, member.email, PASSWORD)))["joinLinkJoin"]
    assert wrong == right
    assert right["userErrors"] == []


async def _open_join(client, token):
    page = await client.get(f"/join/{token}")
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


async def _post_join(client, token, email, password):
    csrf = await _open_join(client, token)
    return await client.post(
        f"/join/{token}",
        data={
            "csrf": csrf,
            "email": email,
            "password": password,
            "first_name": "Eve",
            "last_name": "Guesser",
        },
    )


async def test_join_page_guesses_are_login_attempts(api, client, services):
    low_limits(services, email=3)
    attacker = await make_tenant(services)
    victim = await make_member(services, await make_tenant(services))
    token = await join_token(api, attacker.owner)
    for _ in range(3):
        assert (await _post_join(client, token, victim.email, WRONG)).status_code == 200
    wrong = await _post_join(client, token, victim.email, WRONG)
    right = await _post_join(client, token, victim.email, PASSWORD)
    assert wrong.status_code == right.status_code == 429
    assert wrong.text.replace(wrong.headers["retry-after"], "") == right.text.replace(
        right.headers["retry-after"], ""
    ) or ("Too many attempts" in wrong.text and "Too many attempts" in right.text)
    assert await login_codes(api, victim.email) == ["RATE_LIMITED"]


async def test_join_page_has_the_join_address_limit_of_its_mutation(api, client, services):
    services.limiter.limits["join_address"] = Limit(2, timedelta(hours=1))
    tenant = await make_tenant(services)
    token = await join_token(api, tenant.owner)
    for i in range(2):
        response = await _post_join(client, token, f"new{i}@example.com", PASSWORD)
        assert response.status_code == 200, response.text
    # the page and the mutation share the count
    body = await api(JOIN, join_input(token, "new9@example.com", PASSWORD))
    assert error_codes(body) == ["RATE_LIMITED"]
    assert (await _post_join(client, token, "new8@example.com", PASSWORD)).status_code == 429


# --- invitations ------------------------------------------------------------------------


async def test_invitation_accept_guesses_are_login_attempts(api, services):
    low_limits(services, email=3)
    attacker = await make_tenant(services)
    victim = await make_member(services, await make_tenant(services))
    token = await invite_token(api, services, attacker.owner, victim.email)
    for _ in range(3):
        body = await api.data(ACCEPT, {"t": token, "p": WRONG})
        assert [e["code"] for e in body["invitationAccept"]["userErrors"]] == ["LOGIN_REQUIRED"]
    wrong = await api(ACCEPT, {"t": token, "p": WRONG})
    right = await api(ACCEPT, {"t": token, "p": PASSWORD})
    assert error_codes(wrong) == error_codes(right) == ["RATE_LIMITED"]
    assert (right.get("data") or {}).get("invitationAccept") is None
    assert await login_codes(api, victim.email) == ["RATE_LIMITED"]


async def test_invitation_page_guesses_are_login_attempts(api, client, services):
    low_limits(services, email=3)
    attacker = await make_tenant(services)
    victim = await make_member(services, await make_tenant(services))
    token = await invite_token(api, services, attacker.owner, victim.email)

    async def post(password):
        page = await client.get("/invitations/accept", params={"token": token})
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        return await client.post(
            "/invitations/accept", data={"csrf": csrf, "token": token, "password": password}
        )

    for _ in range(3):
        assert "already has a Roster login" in (await post(WRONG)).text
    wrong, right = await post(WRONG), await post(PASSWORD)
    assert wrong.status_code == right.status_code == 429
    assert "Too many attempts" in right.text
    assert await login_codes(api, victim.email) == ["RATE_LIMITED"]
    # the invitation is still pending: the right password did not get in
    preview = await api.data(PREVIEW, {"t": token})
    assert preview["invitationPreview"]["status"] == "PENDING"


async def test_accepting_as_a_member_answers_alike_for_any_password(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    person = await make_member(services, other)
    token = await invite_token(api, services, tenant.owner, person.email)
    async with services.db.session() as session:  # the invited record became theirs
        staff_id = await session.scalar(
            select(Staff.id).where(
                Staff.account_id == tenant.account_id, Staff.email == person.email
            )
        )
    await update_row(
        services, Staff, staff_id, user_id=person.user_id, account_status=AccountStatus.ACTIVE
    )
    wrong = await api.data(ACCEPT, {"t": token, "p": WRONG})
    right = await api.data(ACCEPT, {"t": token, "p": PASSWORD})
    assert wrong == right
    assert [e["code"] for e in right["invitationAccept"]["userErrors"]] == ["ALREADY_MEMBER"]


# --- signed-in checks -------------------------------------------------------------------


async def test_password_change_is_a_login_attempt(api, services):
    low_limits(services, email=3)
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    for _ in range(3):
        body = await api.data(CHANGE, {"c": WRONG, "n": "a new long passphrase"}, as_=member)
        assert [e["code"] for e in body["passwordChange"]["userErrors"]] == ["INVALID_CREDENTIALS"]
    body = await api(CHANGE, {"c": PASSWORD, "n": "a new long passphrase"}, as_=member)
    assert error_codes(body) == ["RATE_LIMITED"]
    assert await login_codes(api, member.email) == ["RATE_LIMITED"]


async def test_ownership_transfer_password_is_a_login_attempt(api, services):
    low_limits(services, email=3)
    tenant = await make_tenant(services)
    from app.access import Role

    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    for _ in range(3):
        body = await api.data(TRANSFER, {"s": admin.staff_id, "p": WRONG}, as_=tenant.owner)
        codes = [e["code"] for e in body["accountOwnershipTransfer"]["userErrors"]]
        assert codes == ["INVALID_CREDENTIALS"]
    body = await api(TRANSFER, {"s": admin.staff_id, "p": PASSWORD}, as_=tenant.owner)
    assert error_codes(body) == ["RATE_LIMITED"]


# --- structure --------------------------------------------------------------------------


def test_passwords_are_verified_only_through_the_gate():
    """``PasswordService.verify`` is called only by app/identity/credentials.py."""
    root = Path(__file__).resolve().parents[2] / "app"
    callers = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"verify", "_verify_sync"}
            ):
                callers.append(str(path.relative_to(root.parent)))
    assert sorted(set(callers)) == ["app/identity/credentials.py", "app/security/passwords.py"]


async def test_a_refused_right_password_does_not_reset_the_count(api, services):
    """Forgetting the failures would itself tell that the password was right."""
    low_limits(services, email=3)
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    token = await join_token(api, tenant.owner)
    for password in (WRONG, WRONG, PASSWORD):
        body = await api.data(JOIN, join_input(token, member.email, password))
        assert body["joinLinkJoin"]["userErrors"] == []
    assert await login_codes(api, member.email) == ["RATE_LIMITED"]
