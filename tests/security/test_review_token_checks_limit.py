"""Review: checks of emailed links' tokens are limited per client address (``token_address``).

A reviewer had passwordReset, emailVerify, staffEmailConfirm, invitationAccept and
invitationPreview(token) answer INVALID_TOKEN 60 times from one address, never RATE_LIMITED,
while joinLinkJoin stops after 20. Each now counts against ``token_address`` (200 an
hour by default, set to 20 here; RATE_LIMITS can change it), as do the pages that check
such tokens, opened or posted, and join links' (``TokenGate``, which every look-up of a
token requires); another address is not held back.
"""

from __future__ import annotations

import re

import httpx
import pytest

from app.access import Role
from tests.conftest import make_settings
from tests.factories import (
    Api,
    error_codes,
    mail_token,
    make_member,
    make_tenant,
    take_mail,
)


@pytest.fixture
def settings(database_url):
    """The checks' limit at 20 an hour, so that each test stays short."""
    return make_settings(database_url, rate_limits={"token_address": 20})


def test_the_default_lets_an_office_behind_one_address_onboard():
    """Every invitee previews and accepts (two checks): the default lets 100 people behind
    one address do so within the hour, and tokens are 256-bit, so it is not what keeps
    them from being guessed."""
    from app.security.rate_limits import LIMITS

    assert LIMITS["token_address"].max >= 200


CHECKS = {
    "passwordReset": """mutation($t: String!) { passwordReset(input: {token: $t,
        newPassword: "whatever-pass-123"}) { token userErrors { code } } }""",
    "emailVerify": """mutation($t: String!) { emailVerify(input: {token: $t,
        password: "whatever-pass-123"}) { token userErrors { code } } }""",
    "staffEmailConfirm": """mutation($t: String!) { staffEmailConfirm(input: {token: $t}) {
        email userErrors { code } } }""",
    "invitationAccept": """mutation($t: String!) { invitationAccept(input: {token: $t,
        password: "whatever-pass-123", firstName: "New", lastName: "Person"}) {
        token userErrors { code } } }""",
    "invitationPreview": """query($t: String!) { invitationPreview(token: $t) {
        accountName status } }""",
}


def from_address(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 4321))
    return httpx.AsyncClient(
        transport=transport, base_url="http://roster.test", headers={"Origin": "http://roster.test"}
    )


def outcome(body: dict, name: str) -> str:
    if codes := error_codes(body):
        return "/".join(codes)
    result = body["data"][name]
    if result is None:
        return "NULL"
    return "/".join(e["code"] for e in result.get("userErrors") or []) or "OK"


async def good_token(api, services, name: str) -> str:
    """A valid token for ``name``'s check, asked for from the test's own client address."""
    tenant = await make_tenant(services)
    await take_mail(services)
    if name == "passwordReset":
        member = await make_member(services, tenant)
        await api.data(
            'mutation($e: String!) { passwordResetRequest(input: {email: $e}) { ok } }',
            {"e": member.email},
        )
    elif name == "emailVerify":
        await api.data(
            """mutation { signup(input: {email: "fresh@example.org", password:
                 "whatever-pass-123", firstName: "F", lastName: "P", accountName: "Fresh"}) {
                 ok } }"""
        )
    elif name == "staffEmailConfirm":
        member = await make_member(services, tenant, Role.EDITOR)
        await api.data(
            """mutation($id: ID!) { staffUpdate(input: {id: $id, email: "moved@example.org"}) {
                 userErrors { code } } }""",
            {"id": member.staff_id},
            as_=member,
        )
    else:
        await api.data(
            """mutation { invitationCreate(input: {email: "invited@example.org", role: VIEWER}) {
                 userErrors { code } } }""",
            as_=tenant.owner,
        )
    (message,) = await take_mail(services)
    return mail_token(message)


@pytest.mark.parametrize("name", list(CHECKS))
async def test_the_21st_bad_token_from_one_address_is_rate_limited(app, api, services, name):
    query = CHECKS[name]
    token = await good_token(api, services, name)
    async with from_address(app, "203.0.113.9") as client:
        prober = Api(client)
        answers = [outcome(await prober(query, {"t": f"bogus{i}"}), name) for i in range(21)]
    wrong = "NULL" if name == "invitationPreview" else "INVALID_TOKEN"
    assert answers == [wrong] * 20 + ["RATE_LIMITED"]
    # another client is not held back: its good token works
    async with from_address(app, "198.51.100.20") as client:
        assert outcome(await Api(client)(query, {"t": token}), name) == "OK"


async def test_every_token_check_shares_one_limit(app, services):
    async with from_address(app, "203.0.113.10") as client:
        prober = Api(client)
        names = [*CHECKS] * 4
        answers = [outcome(await prober(CHECKS[n], {"t": "bogus"}), n) for n in names]
        assert "RATE_LIMITED" not in answers
        assert outcome(await prober(CHECKS["emailVerify"], {"t": "x"}), "emailVerify") == (
            "RATE_LIMITED"
        )


async def test_the_limit_is_configured_like_the_others(database_url):
    from app.main import create_app
    from app.services import Services

    settings = make_settings(database_url, rate_limits={"token_address": 3})
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        async with from_address(app, "203.0.113.11") as client:
            prober = Api(client)
            answers = [
                outcome(await prober(CHECKS["passwordReset"], {"t": "bogus"}), "passwordReset")
                for _ in range(4)
            ]
        assert answers == ["INVALID_TOKEN"] * 3 + ["RATE_LIMITED"]
    finally:
        await services.close()


FORMS = {
    "/password/reset": {"password": "whatever-pass-123", "confirm": "whatever-pass-123"},
    "/email/verify": {},
    "/email/change": {},
    "/invitations/accept": {"password": "whatever-pass-123", "first_name": "A", "last_name": "B"},
}


@pytest.mark.parametrize("path", list(FORMS))
async def test_the_pages_form_posts_count_against_the_same_limit(app, services, path):
    async with from_address(app, "203.0.113.12") as client:
        page = await client.get("/password/forgot")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        statuses = []
        for i in range(21):
            response = await client.post(
                path, data={"csrf": csrf, "token": f"bogus{i}", **FORMS[path]}
            )
            statuses.append(response.status_code)
        assert 429 not in statuses[:20], statuses
        assert statuses[20] == 429
        # and the GraphQL twin from the same address is limited too
        body = await Api(client)(CHECKS["emailVerify"], {"t": "x"})
        assert error_codes(body) == ["RATE_LIMITED"]


OPENED = [f"{path}?token={{}}" for path in FORMS] + ["/join/{}"]


@pytest.mark.parametrize("page", OPENED)
async def test_opening_the_pages_counts_too(app, services, page):
    """A page opened from a link says at once whether its token is usable (404 or 410 for a
    bad one), so a client could try tokens by opening pages: each opening is a check like
    the form's post, counted against the same limit."""
    async with from_address(app, "203.0.113.13") as client:
        statuses = [(await client.get(page.format(f"bogus{i}"))).status_code for i in range(21)]
        assert statuses[:20] == [404] * 20, statuses
        assert statuses[20] == 429
        assert (await client.get(page.format("bogus"))).headers.get("retry-after")
        body = await Api(client)(CHECKS["passwordReset"], {"t": "x"})
        assert error_codes(body) == ["RATE_LIMITED"]
    # another client opens the same page as before
    async with from_address(app, "198.51.100.21") as client:
        assert (await client.get(page.format("bogus"))).status_code == 404
