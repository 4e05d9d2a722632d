"""No usable token, and no personal message, can be read from the outbox at rest.

Pending messages are sealed with the encryption keys (bound to their row and recipients);
once sent, or failed for good, what they said is wiped and only metadata stays. The
delivered message still carries the working link.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text, update

from app.db.base import utcnow
from app.email.models import OutboxMessage, OutboxStatus
from app.security.crypto import Keyring
from app.security.key_rotation import rotate_keys
from tests.conftest import make_settings
from tests.factories import mail_text, mail_token, make_tenant, make_user, take_mail

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { field code } }
}"""
RESET_REQUEST = """mutation($email: String!) {
  passwordResetRequest(input: {email: $email}) { ok userErrors { field code } }
}"""
RESET = """mutation($t: String!, $pw: String!) {
  passwordReset(input: {token: $t, newPassword: $pw}) { token userErrors { field code } }
}"""
VIEWER = "{ viewer { user { email } } }"
NOTE = "Meet me at the blue door at nine"
NEW_PASSWORD = "a brand new passphrase"
CONTENT = ("sealed", "subject", "text_body", "html_body")


async def raw_outbox(services) -> list[dict]:
    """The email_outbox table exactly as SQL reads it."""
    async with services.db.engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM email_outbox ORDER BY id"))
        return [dict(row._mapping) for row in result]


def sqlite_bytes(database_url: str) -> bytes:
    path = Path(database_url.split(":///", 1)[1])
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


async def queue_secrets(api, services):
    tenant = await make_tenant(services, "Rest Co")
    data = await api.data(
        INVITE, {"input": {"email": "guest@example.com", "message": NOTE}}, as_=tenant.owner
    )
    assert data["invitationCreate"]["userErrors"] == []
    user = await make_user(services, "forgetful@example.com")
    reset = await api.data(RESET_REQUEST, {"email": user.email})
    assert reset["passwordResetRequest"]["ok"] is True
    return tenant


async def test_pending_email_is_sealed_and_sent_email_is_wiped(api, services, backend):
    await queue_secrets(api, services)
    pending = await raw_outbox(services)
    assert [r["template"] for r in pending] == ["invitation", "password_reset"]
    dump = repr(pending)
    assert "token=" not in dump and "/password/reset" not in dump and NOTE not in dump
    assert "/invitations/accept" not in dump
    for row in pending:
        assert row["status"] == "PENDING"
        assert row["sealed"].startswith(f"{services.settings.keyring.primary}:")
        assert row["subject"] is None and row["text_body"] is None and row["html_body"] is None
    file_before = sqlite_bytes(services.settings.database_url) if backend == "sqlite" else b""

    # Delivered, the messages say everything and the links work.
    invitation, reset = await take_mail(services)
    assert invitation["To"] == "guest@example.com" and NOTE in mail_text(invitation)
    tokens = [mail_token(invitation), mail_token(reset)]
    for token in tokens:
        assert token not in dump
        assert token.encode() not in file_before  # nor anywhere in the database file
    done = (await api.data(RESET, {"t": tokens[1], "pw": NEW_PASSWORD}))["passwordReset"]
    assert done["userErrors"] == []
    viewer = await api.data(VIEWER, token=done["token"])
    assert viewer["viewer"]["user"]["email"] == "forgetful@example.com"

    sent = (await raw_outbox(services))[: len(pending)]  # then "password changed" is queued
    for before, after in zip(pending, sent, strict=True):
        assert after["status"] == "SENT" and after["sent_at"] is not None
        assert all(after[c] is None for c in CONTENT), after
        for kept in ("id", "template", "to_addrs", "created_at", "account_id"):
            assert after[kept] == before[kept]
    assert NOTE not in repr(sent)


async def test_email_that_fails_for_good_is_wiped(api, services):
    await queue_secrets(api, services)

    class Down:
        async def send(self, message):
            raise ConnectionRefusedError("mail server down")

    services.relay.sender = Down()
    for _ in range(services.relay.max_attempts):
        async with services.db.session(write=True) as session:
            await session.execute(
                update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        await services.relay.run_once()
    rows = await raw_outbox(services)
    assert {r["status"] for r in rows} == {"FAILED"}
    for row in rows:
        assert all(row[c] is None for c in CONTENT), row
        assert row["template"] and row["to_addrs"] and "mail server down" in row["last_error"]


async def test_a_sealed_body_cannot_be_redirected_to_another_address(api, services):
    """Bound to its row and recipients: changing a pending reset email's recipient, or
    copying its sealed body into another row, makes it unsendable, not misdelivered."""
    await queue_secrets(api, services)
    async with services.db.session(write=True) as session:
        invitation, reset = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        reset.to_addrs = ["attacker@example.com"]
        invitation.sealed = reset.sealed
        await session.commit()
    assert await take_mail(services) == []
    rows = await raw_outbox(services)
    assert all(r["attempts"] == 1 and "DecryptionError" in r["last_error"] for r in rows)


async def test_key_rotation_reseals_pending_email(api, services, database_url):
    """``roster keys rotate`` re-encrypts pending messages (and seals a plaintext one left
    from before bodies were sealed); they are still delivered under the new key alone."""
    await queue_secrets(api, services)
    old = services.settings.encryption_keys
    async with services.db.session(write=True) as session:  # as queued by an older version
        session.add(
            OutboxMessage(
                template="password_changed",
                to_addrs=["legacy@example.com"],
                bcc_addrs=[],
                subject="Legacy subject",
                text_body="legacy body http://roster.test/password/reset?token=legacy-secret",
                html_body="<p>legacy</p>",
            )
        )
        await session.commit()
    k2 = Keyring.generate_key()
    rotated = make_settings(database_url, encryption_keys=f"k2:{k2},{old}")
    assert await rotate_keys(rotated) == 3
    assert await rotate_keys(rotated) == 0
    rows = await raw_outbox(services)
    assert all(r["sealed"].startswith("k2:") for r in rows)
    assert "legacy-secret" not in repr(rows)

    services.relay.keyring = make_settings(database_url, encryption_keys=f"k2:{k2}").keyring
    mail = {m["To"]: m for m in await take_mail(services)}
    assert set(mail) == {"guest@example.com", "forgetful@example.com", "legacy@example.com"}
    assert mail["legacy@example.com"]["Subject"] == "Legacy subject"
    assert "token=legacy-secret" in mail_text(mail["legacy@example.com"])
    assert {r["status"] for r in await raw_outbox(services)} == {OutboxStatus.SENT.value}
