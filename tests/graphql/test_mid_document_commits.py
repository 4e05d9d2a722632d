"""Root fields that wait on something slow (``login`` on argon2, the webhook fields on a
DNS server) commit their rate-limit counts first, so that they hold no transaction (on
SQLite, the one writer lock) while they wait. Committed there, the work of the document's
earlier root fields stayed even when the operation then failed as a whole (its ``data``
null), which keeps nothing of it: they commit only when no other field kept work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.security.rate_limits import Limit
from app.staff.models import Staff
from app.webhooks.models import WebhookEndpoint
from tests.conftest import make_settings
from tests.factories import PASSWORD, error_codes, gid, make_staff, make_tenant
from tests.webhooks.test_webhooks import create

PUBLIC = "93.184.215.14"
SLOW_FIELDS = {
    "a webhook endpoint created": (
        f'b: webhookEndpointCreate(input: {{url: "https://{PUBLIC}/new"}}) '
        "{ userErrors { code } }"
    ),
    "a login": 'b: login(input: {email: "x@example.com", password: "not the password"}) '
    "{ token userErrors { code } }",
}


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, webhooks_allow_private=True)


async def _rows(services, model, **where) -> int:
    async with services.db.session() as session:
        query = select(func.count()).select_from(model).filter_by(**where)
        return await session.scalar(query)


@pytest.mark.parametrize("slow", sorted(SLOW_FIELDS))
async def test_a_slow_field_commits_no_work_of_the_fields_before_it(api, services, slow):
    services.limiter.limits["webhook_sends_account"] = Limit(1, timedelta(hours=1))
    tenant = await make_tenant(services)
    record = await make_staff(services, tenant, first_name="Kept", last_name="Record")
    made = await create(api, tenant.owner, f"https://{PUBLIC}/1")
    endpoint = made["webhookEndpoint"]["id"]
    ping = "mutation($id: ID!) { webhookEndpointPing(input: {id: $id}) { userErrors { code } } }"
    await api.data(ping, {"id": endpoint}, as_=tenant.owner)  # the pings' allowance used up
    document = (
        "mutation($s: ID!, $e: ID!) { "
        "a: staffDelete(input: {staffId: $s}) { deletedStaffId } "
        f"{SLOW_FIELDS[slow]} "
        "c: webhookEndpointPing(input: {id: $e}) { userErrors { code } } }"
    )
    body = await api(document, {"s": gid("Staff", record.id), "e": endpoint}, as_=tenant.owner)
    assert body["data"] is None, body  # the ping refused: the operation as a whole failed
    assert "RATE_LIMITED" in error_codes(body)
    assert await _rows(services, Staff, id=record.id) == 1  # the deletion was not kept
    assert await _rows(services, WebhookEndpoint, account_id=tenant.account_id) == 1


WRAPPED_LOGIN = """mutation($email: String!, $password: String!) {
  a: passwordResetRequest(input: {email: "nobody@example.com"}) { ok }
  b: login(input: {email: $email, password: $password}) { token userErrors { code } }
  c: impersonationStop { ok }
}"""
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { code } }
}"""


async def test_a_document_failed_as_a_whole_still_counts_its_password_attempts(api, services):
    """A login beside a field that keeps work (``a``) and one refused with a top-level
    error (``c``, no token to stop impersonating with) is rolled back with the whole
    operation. Its password attempt is counted all the same: such documents once undid
    the count and the lock-out, and guessed a password without end."""
    services.limiter.limits["login_email"] = Limit(
        3, timedelta(minutes=15), backoff=timedelta(minutes=5)
    )
    tenant = await make_tenant(services)
    victim = {"email": tenant.owner.email}
    for n in range(4):
        body = await api(WRAPPED_LOGIN, {**victim, "password": f"guess number {n}"})
        assert body["data"] is None, body  # the operation failed as a whole
    body = await api(WRAPPED_LOGIN, {**victim, "password": PASSWORD})
    assert body["data"] is None
    # past the limit: the right password is refused, by the document and on its own
    body = await api(LOGIN, {**victim, "password": PASSWORD})
    assert error_codes(body) == ["RATE_LIMITED"], body


async def test_a_document_failed_as_a_whole_sends_no_reset_email(api, services):
    """A reset request's look-up and email are made after the answer (so that its time
    tells nothing); in a document failed as a whole they are withdrawn with the rest of
    it, and only the attempt stays counted."""
    from tests.factories import take_mail

    tenant = await make_tenant(services)
    email = {"email": tenant.owner.email}
    failed = """mutation($email: String!) {
      a: passwordResetRequest(input: {email: $email}) { ok }
      c: impersonationStop { ok }
    }"""
    body = await api(failed, email)
    assert body["data"] is None, body
    assert await take_mail(services) == []
    alone = "mutation($email: String!) { passwordResetRequest(input: {email: $email}) { ok } }"
    assert (await api.data(alone, email))["passwordResetRequest"]["ok"] is True
    [mail] = await take_mail(services)
    assert mail["To"] == tenant.owner.email


async def test_a_refused_password_check_in_a_failed_document_counts_once(api, services):
    """A wrong current password is refused inside its field's savepoint and counted again
    after it; the document then failing as a whole counts it again in a transaction of
    its own: once, not twice (the savepoint's own hit is no longer the request's)."""
    services.limiter.limits["login_email"] = Limit(
        2, timedelta(minutes=15), backoff=timedelta(minutes=5)
    )
    services.limiter.limits["password_reset_address"] = Limit(1, timedelta(hours=1))
    tenant = await make_tenant(services)
    failed = """mutation($current: String!) {
      a: passwordResetRequest(input: {email: "nobody@example.com"}) { ok }
      b: passwordChange(input: {currentPassword: $current, newPassword: "a brand new password"})
        { userErrors { code } }
      c: passwordResetRequest(input: {email: "nobody@example.com"}) { ok }
    }"""
    body = await api(failed, {"current": "not the password"}, as_=tenant.owner)
    assert body["data"] is None and error_codes(body) == ["RATE_LIMITED"], body
    # one attempt counted of the two allowed: the right password still goes through
    change = """mutation($current: String!) {
      passwordChange(input: {currentPassword: $current, newPassword: "a brand new password"})
        { userErrors { code } } }"""
    changed = await api(change, {"current": PASSWORD}, as_=tenant.owner)
    assert error_codes(changed) == [] and changed["data"]["passwordChange"]["userErrors"] == []
