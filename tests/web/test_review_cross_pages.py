"""The HTML forms meeting the other fixes: a reset asked for on /password/forgot is made
after the answer (app.after_response), and is audited exactly like passwordResetRequest."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.audit.models import AuditEntry
from tests.factories import make_tenant


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def entries(services, action: str) -> list[AuditEntry]:
    async with services.db.session() as session:
        return list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        )


async def test_a_reset_asked_for_on_the_page_is_audited_like_the_mutation(client, services):
    tenant = await make_tenant(services)
    page = await client.get("/password/forgot")
    done = await client.post(
        "/password/forgot", data={"csrf": csrf_of(page.text), "email": tenant.owner.email}
    )
    assert done.status_code == 200, done.text

    [entry] = await entries(services, "passwordResetRequest")
    assert entry.request_id == done.headers["x-request-id"]
    assert entry.client_address is not None
    assert any(change["table"] == "user_tokens" for change in entry.diff)
    assert tenant.owner.email not in str(entry.diff)


async def test_an_unknown_address_on_the_page_leaves_no_entry(client, services):
    page = await client.get("/password/forgot")
    done = await client.post(
        "/password/forgot", data={"csrf": csrf_of(page.text), "email": "nobody@example.com"}
    )
    assert done.status_code == 200, done.text
    assert await entries(services, "passwordResetRequest") == []


async def test_a_malformed_address_is_nobody_not_a_failure_after_the_answer(
    api, client, services, caplog
):
    page = await client.get("/password/forgot")
    for email in ("not an address", "a\x00b@example.com", "x@"):
        done = await client.post("/password/forgot", data={"csrf": csrf_of(page.text), "email": email})
        assert done.status_code == 200
        body = await api.data(
            'mutation($e: String!) { passwordResetRequest(input: {email: $e}) { ok } }',
            {"e": email.replace("\x00", "")},
        )
        assert body["passwordResetRequest"]["ok"] is True
    assert [r for r in caplog.records if r.name == "roster.after_response"] == []
