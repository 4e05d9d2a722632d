"""/password/forgot counts against the same per-address limit as passwordResetRequest."""

from __future__ import annotations

import re
from datetime import timedelta

from app.security.rate_limits import Limit
from tests.factories import error_codes, make_member, make_tenant, take_mail

REQUEST = """mutation($e: String!) {
  passwordResetRequest(input: {email: $e}) { ok userErrors { code } }
}"""


async def forgot(client, email):
    page = await client.get("/password/forgot")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return await client.post("/password/forgot", data={"csrf": csrf, "email": email})


async def test_forgot_page_shares_the_reset_request_address_limit(api, client, services):
    services.limiter.limits["password_reset_address"] = Limit(3, timedelta(hours=1))
    tenant = await make_tenant(services)
    members = [await make_member(services, tenant) for _ in range(4)]
    await take_mail(services)
    for member in members[:2]:
        assert (await forgot(client, member.email)).status_code == 200
    assert len(await take_mail(services)) == 2
    body = await api(REQUEST, {"e": members[2].email})
    assert body["data"]["passwordResetRequest"]["ok"] is True
    await take_mail(services)
    # the limit is spent: both the page and the mutation refuse, and nothing is sent
    refused = await forgot(client, members[3].email)
    assert refused.status_code == 429
    assert "Too many attempts" in refused.text
    assert error_codes(await api(REQUEST, {"e": members[3].email})) == ["RATE_LIMITED"]
    assert await take_mail(services) == []
