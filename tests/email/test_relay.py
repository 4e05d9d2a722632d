"""Email through the outbox and the relay, delivered to a real SMTP server on loopback.

The SMTP server is aiosmtpd; stopping it makes connections fail, as when the mail server
is down. Each relay pass is driven by the test (the app's lifespan relay does not run under
httpx), and due times are moved through the database instead of waiting.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from app.db.base import utcnow
from app.email.models import OutboxMessage, OutboxStatus
from app.email.outbox import enqueue
from app.email.render import render
from app.email.senders import SmtpSender
from app.main import create_app
from app.services import Services
from tests.conftest import make_settings
from tests.factories import Api, SmtpSink, make_tenant

PUBLIC_URL = "https://roster.example.org"
BACKOFF = 30

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) {
    invitation { id status }
    userErrors { field code message }
  }
}"""
PREVIEW = "query($t: String!) { invitationPreview(token: $t) { accountName status } }"


@pytest.fixture
def smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def settings(database_url, smtp):
    return make_settings(
        database_url,
        email_backend="smtp",
        smtp_port=smtp.port,
        smtp_timeout_seconds=5,
        public_url=PUBLIC_URL,
        email_backoff_seconds=BACKOFF,
        email_max_attempts=3,
    )


async def invite(api: Api, owner, email: str, **fields) -> dict:
    data = await api.data(INVITE, {"input": {"email": email, **fields}}, as_=owner)
    payload = data["invitationCreate"]
    assert payload["userErrors"] == [], payload
    return payload["invitation"]


async def outbox(services) -> list[OutboxMessage]:
    async with services.db.session() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def make_due(services) -> None:
    """Pretend the backoff has passed: every pending message is due now."""
    async with services.db.session(write=True) as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()


def recipients(smtp: SmtpSink) -> list[str]:
    return sorted(r for e in smtp.envelopes for r in e.rcpt_tos)


def link_in(message) -> str:
    found = re.search(r"https?://\S+", message.get_body(("plain",)).get_content())
    assert found, message
    return found.group(0)


# --- queued with the change, delivered by the relay ---------------------------------------


async def test_invitation_queues_one_email_and_the_relay_delivers_it(api, services, smtp):
    tenant = await make_tenant(services, "Acme Ltd")
    response = await api.raw(
        INVITE,
        {"input": {"email": "New.Person@Example.com", "role": "EDITOR", "message": "Hi there"}},
        token=tenant.owner.token,
        realm=tenant.owner.realm,
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["invitationCreate"]["userErrors"] == []

    [queued] = await outbox(services)
    assert queued.status == OutboxStatus.PENDING and queued.template == "invitation"
    assert queued.to_addrs == ["new.person@example.com"]
    assert smtp.envelopes == []  # nothing is sent inside the request

    assert await services.relay.run_once() == 1
    [envelope] = smtp.envelopes
    assert envelope.rcpt_tos == ["new.person@example.com"]
    [message] = smtp.messages
    assert message["To"] == "new.person@example.com"
    assert message["Subject"].endswith("invited you to Acme Ltd on Roster")
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Acme Ltd" in text and "Hi there" in text
    assert "<strong>Acme Ltd</strong>" in html

    link = link_in(message)
    assert link.startswith(f"{PUBLIC_URL}/invitations/accept?token=")
    assert link in html
    assert "evil.example" not in message.as_string()
    token = link.split("token=", 1)[1]
    preview = await api.data(PREVIEW, {"t": token})
    assert preview["invitationPreview"] == {"accountName": "Acme Ltd", "status": "PENDING"}

    [sent] = await outbox(services)
    assert sent.status == OutboxStatus.SENT and sent.sent_at is not None
    assert await services.relay.run_once() == 0
    assert len(smtp.envelopes) == 1


async def test_a_failed_mutation_queues_no_email(api, services, smtp):
    tenant = await make_tenant(services, seats=2)
    await invite(api, tenant.owner, "first@example.com")
    full = await api.data(INVITE, {"input": {"email": "second@example.com"}}, as_=tenant.owner)
    assert full["invitationCreate"]["userErrors"][0]["code"] == "SEAT_LIMIT_REACHED"
    bad_role = await api.data(
        INVITE, {"input": {"email": "third@example.com", "role": "OWNER"}}, as_=tenant.owner
    )
    assert bad_role["invitationCreate"]["userErrors"]

    assert [m.to_addrs for m in await outbox(services)] == [["first@example.com"]]
    while await services.relay.run_once():
        pass
    assert recipients(smtp) == ["first@example.com"]


async def test_bulk_invitation_queues_email_only_for_the_rows_that_succeed(api, services, smtp):
    tenant = await make_tenant(services)
    data = await api.data(
        """mutation($rows: [InvitationCreateInput!]!) {
             invitationBulkCreate(input: {rows: $rows}) { userErrors { code } } }""",
        {
            "rows": [
                {"email": "ok1@example.com"},
                {"email": "not an email"},
                {"email": "ok1@example.com"},
                {"email": "ok2@example.com"},
            ]
        },
        as_=tenant.owner,
    )
    assert data["invitationBulkCreate"]["userErrors"] == []
    await services.relay.run_once()
    assert recipients(smtp) == ["ok1@example.com", "ok2@example.com"]


async def test_bcc_sender_gets_a_separate_copy_without_the_link(api, services, smtp):
    tenant = await make_tenant(services)
    await invite(api, tenant.owner, "guest@example.com", bccSender=True)
    assert await services.relay.run_once() == 2
    assert sorted(tuple(e.rcpt_tos) for e in smtp.envelopes) == sorted(
        [("guest@example.com",), (tenant.owner.email,)]
    )
    invitation, copy = sorted(smtp.messages, key=lambda m: m["To"] != "guest@example.com")
    assert invitation["To"] == "guest@example.com" and "Bcc" not in invitation
    assert tenant.owner.email not in invitation.as_string()
    assert "token=" in link_in(invitation)
    assert copy["To"] == tenant.owner.email
    assert copy["Subject"].startswith("Copy: you invited guest@example.com to ")
    assert "token=" not in copy.as_string() and "/invitations/accept" not in copy.as_string()


# --- the mail server is down -------------------------------------------------------------


async def test_smtp_down_keeps_the_email_and_retries_with_backoff(api, services, smtp):
    tenant = await make_tenant(services)
    smtp.stop()
    created = await invite(api, tenant.owner, "later@example.com")
    assert created["status"] == "PENDING"

    before = utcnow()
    assert await services.relay.run_once() == 0
    after = utcnow()
    [row] = await outbox(services)
    assert row.status == OutboxStatus.PENDING and row.attempts == 1 and row.last_error
    assert row.locked_until is None
    assert before + timedelta(seconds=BACKOFF) <= row.next_attempt_at
    assert row.next_attempt_at <= after + timedelta(seconds=BACKOFF)
    assert await services.relay.run_once() == 0  # not due yet: no new attempt
    assert (await outbox(services))[0].attempts == 1

    await make_due(services)
    before = utcnow()
    await services.relay.run_once()
    after = utcnow()
    [row] = await outbox(services)
    assert row.status == OutboxStatus.PENDING and row.attempts == 2
    assert before + timedelta(seconds=2 * BACKOFF) <= row.next_attempt_at
    assert row.next_attempt_at <= after + timedelta(seconds=2 * BACKOFF)

    smtp.start()
    assert await services.relay.run_once() == 0  # back, but the retry is not due yet
    assert smtp.envelopes == []
    await make_due(services)
    assert await services.relay.run_once() == 1
    assert recipients(smtp) == ["later@example.com"]
    [row] = await outbox(services)
    assert row.status == OutboxStatus.SENT and row.attempts == 2
    await make_due(services)
    assert await services.relay.run_once() == 0
    assert len(smtp.envelopes) == 1


async def test_after_max_attempts_the_email_is_failed_and_never_sent(api, services, smtp):
    tenant = await make_tenant(services)
    smtp.stop()
    await invite(api, tenant.owner, "never@example.com")
    for attempt in (1, 2, 3):
        await make_due(services)
        assert await services.relay.run_once() == 0
        [row] = await outbox(services)
        assert row.attempts == attempt
    assert row.status == OutboxStatus.FAILED
    assert "Error" in row.last_error

    smtp.start()
    await make_due(services)
    assert await services.relay.run_once() == 0
    assert smtp.envelopes == []


async def test_a_recipient_refused_for_good_fails_at_once_and_a_passing_refusal_is_retried(
    api, services, smtp
):
    tenant = await make_tenant(services)
    smtp.refused["gone@example.com"] = "550 5.1.1 No such user here"
    smtp.refused["full@example.com"] = "452 4.2.2 Mailbox full, try later"
    await invite(api, tenant.owner, "gone@example.com")
    await invite(api, tenant.owner, "full@example.com")
    await invite(api, tenant.owner, "fine@example.com")

    assert await services.relay.run_once() == 1
    rows = {row.to_addrs[0]: row for row in await outbox(services)}
    gone, full = rows["gone@example.com"], rows["full@example.com"]
    assert gone.status == OutboxStatus.FAILED and gone.attempts == 1
    assert "550" in gone.last_error and "No such user" in gone.last_error
    assert gone.sealed is None  # nothing of it is kept to send
    assert full.status == OutboxStatus.PENDING and full.attempts == 1
    assert rows["fine@example.com"].status == OutboxStatus.SENT
    assert recipients(smtp) == ["fine@example.com"]

    del smtp.refused["full@example.com"]  # the mailbox has room again
    smtp.refused.pop("gone@example.com")  # never asked again: it failed for good
    await make_due(services)
    assert await services.relay.run_once() == 1
    assert recipients(smtp) == ["fine@example.com", "full@example.com"]
    assert {row.to_addrs[0]: row.status for row in await outbox(services)} == {
        "gone@example.com": OutboxStatus.FAILED,
        "full@example.com": OutboxStatus.SENT,
        "fine@example.com": OutboxStatus.SENT,
    }


async def test_a_message_refused_for_its_content_fails_at_once(api, services, smtp):
    tenant = await make_tenant(services)

    async def refuse_content(server, session, envelope):
        return "554 5.6.0 Message content refused"

    smtp.handle_DATA = refuse_content
    await invite(api, tenant.owner, "refused-content@example.com")
    assert await services.relay.run_once() == 0
    [row] = await outbox(services)
    assert row.status == OutboxStatus.FAILED and row.attempts == 1 and "554" in row.last_error


@pytest.mark.parametrize(
    "reply",
    [
        "554 5.7.1 Relay access denied",  # the relay's own setup: every message would fail
        "550 Requested action not taken",  # no enhanced code: too little to give up on
        "451 4.3.0 Temporary failure",
    ],
)
async def test_a_refusal_of_the_servers_setup_or_a_passing_one_is_retried(
    api, services, smtp, reply
):
    tenant = await make_tenant(services)
    smtp.refused["someone@example.com"] = reply
    await invite(api, tenant.owner, "someone@example.com")
    assert await services.relay.run_once() == 0
    [row] = await outbox(services)
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert row.sealed is not None  # kept, to be sent once the setup is fixed


# --- restarts and several relays ---------------------------------------------------------


async def test_a_restarted_relay_resumes_without_resending(api, services, settings, smtp):
    tenant = await make_tenant(services)
    await invite(api, tenant.owner, "a@example.com")
    await invite(api, tenant.owner, "b@example.com")
    services.relay.batch = 1
    assert await services.relay.run_once() == 1
    assert recipients(smtp) == ["a@example.com"]

    restarted = Services.from_settings(settings)  # a new process on the same database
    try:
        assert await restarted.relay.run_once() == 1
        assert await restarted.relay.run_once() == 0
    finally:
        await restarted.close()
    assert recipients(smtp) == ["a@example.com", "b@example.com"]
    assert {m.status for m in await outbox(services)} == {OutboxStatus.SENT}


class Killed(BaseException):
    """The process dies (not an exception the relay could catch and record)."""


class DiesAfterSending(SmtpSender):
    async def send(self, message):
        await super().send(message)
        raise Killed()


async def test_a_relay_killed_mid_send_is_retried_after_its_lease(api, services, settings, smtp):
    tenant = await make_tenant(services)
    await invite(api, tenant.owner, "crash@example.com")
    services.relay.sender = DiesAfterSending(settings)
    with pytest.raises(Killed):
        await services.relay.run_once()
    assert len(smtp.envelopes) == 1  # the server took it, but SENT was never recorded

    restarted = Services.from_settings(settings)
    try:
        # While the lease lasts the first relay may still be busy with it: hands off.
        assert await restarted.relay.run_once() == 0
        async with restarted.db.session(write=True) as session:
            await session.execute(
                update(OutboxMessage).values(locked_until=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        assert await restarted.relay.run_once() == 1
        assert await restarted.relay.run_once() == 0
    finally:
        await restarted.close()
    first, second = smtp.messages
    # The copy carries the same Message-ID, so the receiver can drop the duplicate.
    assert first["Message-ID"] == second["Message-ID"]
    assert [m.status for m in await outbox(services)] == [OutboxStatus.SENT]


async def test_two_relays_never_send_the_same_message_twice(api, services, settings, smtp):
    tenant = await make_tenant(services)
    emails = [f"person{i}@example.com" for i in range(8)]
    for email in emails:
        await invite(api, tenant.owner, email)
    other = Services.from_settings(settings)
    try:
        services.relay.batch = other.relay.batch = 3
        sent = 0
        for _ in range(10):
            counts = await asyncio.gather(services.relay.run_once(), other.relay.run_once())
            sent += sum(counts)
            if sent >= len(emails) and not any(counts):
                break
    finally:
        await other.close()
    assert sent == len(emails)
    assert recipients(smtp) == sorted(emails)
    assert len({m["Message-ID"] for m in smtp.messages}) == len(emails)
    assert {m.status for m in await outbox(services)} == {OutboxStatus.SENT}


# --- development backends ------------------------------------------------------------------


async def _queue_invitation(settings) -> Services:
    services = Services.from_settings(settings)
    tenant = await make_tenant(services, "File Co")
    app = create_app(settings, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://roster.test"
    ) as client:
        await invite(Api(client), tenant.owner, "dev@example.com")
    return services


async def test_file_backend_writes_eml_files(database_url, tmp_path):
    directory = tmp_path / "mail"
    settings = make_settings(
        database_url, email_backend="file", email_file_dir=str(directory), public_url=PUBLIC_URL
    )
    services = await _queue_invitation(settings)
    try:
        assert await services.relay.run_once() == 1
    finally:
        await services.close()
    [path] = directory.glob("*.eml")
    assert path.name.endswith("-invitation.eml")
    import email
    import email.policy

    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "dev@example.com"
    assert message["Subject"].endswith("invited you to File Co on Roster")
    assert f"{PUBLIC_URL}/invitations/accept?token=" in message.get_body(("html",)).get_content()


async def test_console_backend_prints_subject_and_link(database_url, capsys):
    settings = make_settings(database_url, email_backend="console", public_url=PUBLIC_URL)
    services = await _queue_invitation(settings)
    try:
        assert await services.relay.run_once() == 1
    finally:
        await services.close()
    out = capsys.readouterr().out
    assert "To: dev@example.com" in out
    assert "invited you to File Co on Roster" in out
    assert re.search(rf"{re.escape(PUBLIC_URL)}/invitations/accept\?token=\S+", out)


async def test_outbox_row_exists_only_if_the_transaction_commits(services):
    async with services.db.session(write=True) as session:
        await enqueue(
            session,
            services.settings.keyring,
            template="password_changed",
            to="x@example.com",
            context={
                "email": "x@example.com",
                "when": "now",
                "ended": "your other sessions ended",
                "link": f"{PUBLIC_URL}/x",
            },
        )
        await session.rollback()
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


# --- templates -----------------------------------------------------------------------------

LINK = f"{PUBLIC_URL}/some/page?token=abc123"
EVIL = '<script>alert("x")</script> & more'
CONTEXTS = {
    "invitation": dict(
        inviter="Ann Boss",
        account="Acme",
        role_name="an editor",
        message=EVIL,
        first_name="Zoe",
        expires="2030-01-01 00:00 UTC",
        link=LINK,
    ),
    "invitation_resent": dict(
        inviter="Ann Boss",
        account="Acme",
        role_name="a viewer",
        message=EVIL,
        first_name=None,
        expires="2030-01-01 00:00 UTC",
        link=LINK,
    ),
    "welcome": dict(
        inviter="Ann Boss",
        account="Acme",
        role_name="a viewer",
        message=EVIL,
        first_name="Zoe",
        expires="2030-01-01 00:00 UTC",
        link=LINK,
    ),
    "email_verification": dict(email="zoe@example.com", expires="2030-01-01", link=LINK),
    "password_reset": dict(email="zoe@example.com", expires="2030-01-01", link=LINK),
    "password_changed": dict(
        email="zoe@example.com", when="2030-01-01", ended="your other sessions ended", link=LINK
    ),
    "join_request": dict(
        person="Zoe Doe", email="zoe@example.com", account="Acme", role_name="a viewer"
    ),
    "account_exists": dict(email="zoe@example.com", link=LINK),
}
SUBJECTS = {
    "invitation": "Ann Boss invited you to Acme on Roster",
    "invitation_resent": "Reminder: Ann Boss invited you to Acme on Roster",
    "welcome": "Welcome to Acme on Roster",
    "email_verification": "Confirm your email address for Roster",
    "password_reset": "Reset your Roster password",
    "password_changed": "Your Roster password was changed",
    "join_request": "Zoe Doe asks to join Acme on Roster",
    "account_exists": "You already have a Roster account",
}


@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_every_template_renders_both_parts(template):
    context = CONTEXTS[template]
    rendered = render(template, context)
    assert rendered.subject == SUBJECTS[template]
    assert rendered.html.lstrip().startswith("<!doctype html>")
    assert "<html" not in rendered.text and "{{" not in rendered.text + rendered.html
    for value in context.values():
        if isinstance(value, str) and value != EVIL:
            assert value in rendered.text, (template, value)
    if "link" in context:
        assert f'href="{LINK}"' in rendered.html
    if "message" in context:
        assert EVIL in rendered.text
        assert "<script>" not in rendered.html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more" in rendered.html


def test_welcome_without_a_link_says_to_use_the_existing_password():
    with_link = render("welcome", CONTEXTS["welcome"])
    assert "Choose your password" in with_link.text + with_link.html
    without = render("welcome", {**CONTEXTS["welcome"], "link": None, "message": None})
    for part in (without.text, without.html):
        assert "Sign in with your existing Roster password" in part
        assert "Choose your password" not in part and "token=" not in part
    assert "Message from" not in without.text and "blockquote" not in without.html


def test_subject_override_and_newlines_are_stripped():
    custom = render("invitation", CONTEXTS["invitation"], subject="Join us\r\nBcc: x@evil.test")
    assert custom.subject == "Join us Bcc: x@evil.test"
    sneaky = render("welcome", {**CONTEXTS["welcome"], "account": "Acme\nBcc: x@evil.test"})
    assert "\n" not in sneaky.subject and "\r" not in sneaky.subject
    assert sneaky.subject == "Welcome to Acme Bcc: x@evil.test on Roster"
    assert len(render("welcome", CONTEXTS["welcome"], subject="x" * 400).subject) == 300
