"""Queue an email inside the caller's transaction: it exists if and only if the change does.

Two rules hold for every message, whoever queues it:

- A message that carries a secret link (``SecretLink``: accepting an invitation, setting a
  password, verifying an address) or whose template is meant for its addressee alone
  (``PRIVATE_TEMPLATES``) goes to that one address. Asking to copy it to anyone else is a
  programming error (``PrivateMessageCopied``); a "copy to me" is its own message, written
  from a ``*_copy`` template without the link.
- What a message says never lies in the database in plaintext. The rendered subject, text
  and HTML are sealed with the field-encryption keys (AES-GCM), with associated data that
  binds them to the table, column, row and recipients, so a sealed body copied into another
  row, or a row whose recipients were changed, fails to open instead of going elsewhere. The
  relay opens it to send and wipes it once the message is sent or has failed for good.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.retention import Retention
from app.email.links import SecretLink
from app.email.models import OutboxMessage, OutboxStatus
from app.email.render import PRIVATE_TEMPLATES, Rendered, render
from app.security.crypto import Keyring
from app.security.rate_limits import RateLimiter
from app.validation import normalize_email


class PrivateMessageCopied(ValueError):
    """A message holding a secret link was to be copied (BCC) to someone else."""


@dataclass(frozen=True)
class Outgoing:
    """A message as the relay hands it to a sender: the row's envelope, opened."""

    id: int
    template: str
    to_addrs: list[str]
    bcc_addrs: list[str]
    subject: str
    text_body: str
    html_body: str
    created_at: datetime | None


def is_private(template: str, context: dict) -> bool:
    return template in PRIVATE_TEMPLATES or any(
        isinstance(value, SecretLink) for value in context.values()
    )


def associated_data(message: OutboxMessage) -> str:
    """Binds a sealed body to its table, column, row and recipients."""
    recipients = json.dumps([list(message.to_addrs), list(message.bcc_addrs or [])])
    return f"roster:email_outbox.sealed:{message.id}:{recipients}"


def seal(keyring: Keyring, message: OutboxMessage, rendered: Rendered) -> None:
    content = json.dumps(
        {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}
    )
    message.sealed = keyring.encrypt(content, associated_data(message))


def open_message(keyring: Keyring, message: OutboxMessage) -> Outgoing:
    """The message's content, decrypted (raises DecryptionError when it does not verify)."""
    if message.sealed is not None:
        content = json.loads(keyring.decrypt(message.sealed, associated_data(message)))
        subject, text, html = content["subject"], content["text"], content["html"]
    elif message.text_body is not None:  # queued before bodies were sealed
        subject, text, html = message.subject or "", message.text_body, message.html_body or ""
    else:
        raise LookupError(f"email {message.id} has no content left to send")
    return Outgoing(
        id=message.id,
        template=message.template,
        to_addrs=list(message.to_addrs),
        bcc_addrs=list(message.bcc_addrs or []),
        subject=subject,
        text_body=text,
        html_body=html,
        created_at=message.created_at,
    )


def wipe(message: OutboxMessage) -> None:
    """Forget what the message said; its envelope and history stay."""
    message.sealed = message.subject = message.text_body = message.html_body = None


UNASKED_LIMIT = "mail_to_email"


def _limiter(settings) -> RateLimiter:
    return RateLimiter(settings.secret_key, settings.rate_limits)


async def count_unasked(session: AsyncSession, settings, to: str) -> None:
    """An email a member causes to an address that did not ask for it counts against that
    address's allowance from every account (``UNASKED_LIMIT``); RateLimited past it. In the
    change's own transaction: a change refused, or rolled back, sent nothing and counts
    nothing."""
    await _limiter(settings).hit(session, UNASKED_LIMIT, normalize_email(to))


async def allows_unasked(session: AsyncSession, settings, to: str) -> bool:
    """``count_unasked`` for an email whose sender is answered alike whether it is sent:
    whether it may be."""
    return await _limiter(settings).allows(session, UNASKED_LIMIT, normalize_email(to))


async def enqueue(
    session: AsyncSession,
    keyring: Keyring,
    *,
    template: str,
    to: str,
    context: dict,
    account_id: int | None = None,
    subject: str | None = None,
    bcc: list[str] | None = None,
) -> OutboxMessage:
    bcc = [address for address in bcc or [] if address]
    if bcc and is_private(template, context):
        raise PrivateMessageCopied(
            f"a {template!r} email carries a secret link and goes to its addressee alone"
        )
    rendered = render(template, context, subject)
    message = OutboxMessage(
        account_id=account_id,
        template=template,
        to_addrs=[to],
        bcc_addrs=bcc,
    )
    session.add(message)
    await session.flush()  # the row id is part of the associated data
    seal(keyring, message, rendered)
    await session.flush()
    return message


async def reseal_pending(session: AsyncSession, keyring: Keyring, after_id: int, limit: int):
    """Re-encrypt a batch of pending messages under the primary key (also seals plaintext
    rows queued before bodies were sealed). Returns (rows changed, last id looked at)."""
    prefix = f"{keyring.primary}:"
    rows = list(
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id > after_id, OutboxMessage.status == OutboxStatus.PENDING)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )
    changed = 0
    for message in rows:
        if message.sealed is not None and message.sealed.startswith(prefix):
            continue
        if message.sealed is None and message.text_body is None:
            continue
        outgoing = open_message(keyring, message)
        wipe(message)
        seal(keyring, message, Rendered(outgoing.subject, outgoing.text_body, outgoing.html_body))
        changed += 1
    return changed, (rows[-1].id if rows else None)


def _finished_before(before: datetime):
    return (
        OutboxMessage.status.in_((OutboxStatus.SENT, OutboxStatus.FAILED)),
        OutboxMessage.created_at < before,
    )


# Sent or failed messages queued long ago (``email_outbox_retention_days``). Nothing reads
# such a row again (cooldowns are kept with the tokens and invitations, the metrics count
# pending messages, and a Message-ID is made from a row id, which is never handed out
# again), so it only keeps its recipients and error. A pending message always stays.
RETENTION = Retention(OutboxMessage.id, _finished_before)
