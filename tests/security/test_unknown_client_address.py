"""A server that is not told the client's address (uvicorn on a Unix socket gives no
``client``) still applies the per-address limits: every such client counts as one."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from app.security.rate_limits import Limit
from tests.factories import Api, error_codes

RESET = 'mutation { passwordResetRequest(input: {email: "x%d@example.com"}) { ok } }'
LOGIN = 'mutation { login(input: {email: "who%d@example.com", password: "a wrong password"}) { token } }'
PREVIEW = '{ invitationPreview(token: "no-such-token-%d") { status } }'


def unknown_client(app) -> httpx.AsyncClient:
    """A client the app is told nothing about: ``scope["client"]`` is None."""
    transport = httpx.ASGITransport(app=app, client=None)  # type: ignore[arg-type]
    # the Origin of Roster's own pages, which their forms' CSRF check asks for
    return httpx.AsyncClient(
        transport=transport, base_url="http://roster.test", headers={"Origin": "http://roster.test"}
    )


async def test_per_address_limits_hold_for_clients_of_unknown_address(app, services):
    limits = services.limiter.limits
    limits["password_reset_address"] = Limit(2, timedelta(hours=1))
    limits["token_address"] = Limit(2, timedelta(hours=1))
    limits["login_address"] = Limit(2, timedelta(minutes=15), backoff=timedelta(seconds=30))
    for document in (RESET, LOGIN, PREVIEW):
        codes = []
        for i in range(3):
            # a new connection each time: what it is counted under is the same
            async with unknown_client(app) as client:
                codes.append(error_codes(await Api(client)(document % i)))
        assert codes == [[], [], ["RATE_LIMITED"]], document


async def test_the_forgot_page_holds_its_limit_for_an_unknown_address(app, services, client):
    services.limiter.limits["password_reset_address"] = Limit(2, timedelta(hours=1))
    statuses = []
    async with unknown_client(app) as unknown:
        for i in range(3):
            page = await unknown.get("/password/forgot")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            form = {"csrf": csrf, "email": f"x{i}@example.com"}
            statuses.append((await unknown.post("/password/forgot", data=form)).status_code)
    assert statuses == [200, 200, 429]
    # a client whose address is known has its own count
    assert error_codes(await Api(client)(RESET % 9)) == []
