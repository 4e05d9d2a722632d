"""The relay: sends due outbox messages with retries and exponential backoff.

Several relays (one in every server process, and ``roster email relay``) share one outbox.
Each claims one due message at a time: a conditional UPDATE sets a lease
(``locked_until``) and a random ``lease_token`` only where no unexpired lease is set (on
PostgreSQL the candidate is picked ``FOR UPDATE SKIP LOCKED``, so relays do not queue for
the same row; on SQLite writers are serialised). While the mail server takes its time, the
relay renews its lease every third of ``lease_seconds``; the outcome (SENT, or the next
attempt after ``base * 2**attempts`` seconds, capped, or FAILED after ``max_attempts``) is
recorded only if the lease token is still the one it claimed with. A message the mail
server refuses for good (a 5xx to its recipients or its content: ``Undeliverable``) is
FAILED at its first attempt. A relay that finds its
lease taken stops sending that message.

So a message is sent once while relays are alive. A relay that dies mid-send stops
renewing; its lease expires and another relay sends the message again (at least once; the
Message-ID stays the same, so a receiver can drop the copy).

Bodies are stored sealed (``app.email.outbox``): the relay opens each one just before
sending, and wipes it once the message is SENT or FAILED, keeping the row's metadata.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update

from app.db.base import utcnow
from app.email.models import OutboxMessage, OutboxStatus
from app.email.outbox import open_message, wipe
from app.email.senders import Sender, Undeliverable
from app.security.crypto import Keyring

log = logging.getLogger("roster.email")

LEASE_SECONDS = 120.0
RENEW_FRACTION = 1 / 3
"""A lease is renewed when this share of it has passed: two renewals may fail (a database
hiccup) before it lapses."""
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class Claim:
    message: OutboxMessage
    token: str


class LeaseLost(Exception):
    """Another relay holds the message now: this one neither finishes nor records it."""


def _due(now):
    return (
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
    )


class Relay:
    def __init__(
        self,
        db,
        sender: Sender,
        *,
        keyring: Keyring,
        max_attempts: int = 6,
        backoff_seconds: float = 30,
        batch: int = 20,
        lease_seconds: float = LEASE_SECONDS,
    ):
        self.db = db
        self.sender = sender
        self.keyring = keyring
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.batch = batch
        self.lease = timedelta(seconds=lease_seconds)
        self.renew_every = lease_seconds * RENEW_FRACTION

    def backoff(self, attempts: int) -> timedelta:
        return min(MAX_BACKOFF, timedelta(seconds=self.backoff_seconds * 2 ** (attempts - 1)))

    async def _claim(self) -> Claim | None:
        """Lease the next due message to this relay, or None when nothing is due."""
        now = utcnow()
        token = secrets.token_hex(16)
        async with self.db.session(write=True) as session:
            candidate = await session.scalar(
                select(OutboxMessage.id)
                .where(*_due(now))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(1)
                .with_for_update(skip_locked=True)  # PostgreSQL; SQLite writers take turns
            )
            if candidate is None:
                return None
            claimed = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == candidate, *_due(now))
                .values(locked_until=now + self.lease, lease_token=token)
            )
            if claimed.rowcount != 1:  # taken meanwhile: the next pass looks again
                await session.rollback()
                return None
            message = await session.get(OutboxMessage, candidate)
            await session.commit()
        assert message is not None
        return Claim(message, token)

    async def _renew(self, claim: Claim) -> bool:
        """Extend the claim's lease; False when another relay holds the message now."""
        async with self.db.session(write=True) as session:
            renewed = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == claim.message.id,
                    OutboxMessage.lease_token == claim.token,
                    OutboxMessage.status == OutboxStatus.PENDING,
                )
                .values(locked_until=utcnow() + self.lease)
            )
            await session.commit()
        return renewed.rowcount == 1

    async def _send(self, claim: Claim) -> None:
        """Send the claimed message, renewing the lease until the mail server answers.
        Raises LeaseLost (and stops sending) when the lease was taken."""
        sending = asyncio.ensure_future(self.sender.send(open_message(self.keyring, claim.message)))
        try:
            while True:
                done, _ = await asyncio.wait({sending}, timeout=self.renew_every)
                if done:
                    return sending.result()
                try:
                    held = await self._renew(claim)
                except Exception:  # the database is away: the lease may still hold; retry
                    log.exception("renewing the lease of email %s failed", claim.message.id)
                    continue
                if not held:
                    raise LeaseLost(claim.message.id)
        finally:
            if not sending.done():
                sending.cancel()
                await asyncio.wait({sending})

    async def _finish(self, claim: Claim, error: Exception | None) -> bool:
        """Record the outcome if the claim is still this relay's; False otherwise."""
        async with self.db.session(write=True) as session:
            message = await session.scalar(
                select(OutboxMessage)
                .where(
                    OutboxMessage.id == claim.message.id,
                    OutboxMessage.lease_token == claim.token,
                )
                .with_for_update()
            )
            if message is None:
                await session.rollback()
                log.warning(
                    "email %s: lease lost before its outcome was recorded", claim.message.id
                )
                return False
            message.locked_until = None
            message.lease_token = None
            if error is None:
                message.status = OutboxStatus.SENT
                message.sent_at = utcnow()
                message.last_error = None
                wipe(message)
            else:
                message.attempts += 1
                message.last_error = f"{type(error).__name__}: {error}"[:500]
                if message.attempts >= self.max_attempts or isinstance(error, Undeliverable):
                    message.status = OutboxStatus.FAILED
                    wipe(message)
                else:
                    message.next_attempt_at = utcnow() + self.backoff(message.attempts)
            await session.commit()
        if error is not None:  # said once the row lock is given back
            if message.status is OutboxStatus.FAILED:
                log.error("email %s failed for good: %s", message.id, message.last_error)
            else:
                log.warning(
                    "email %s attempt %s failed: %s",
                    message.id,
                    message.attempts,
                    message.last_error,
                )
        return True

    async def run_once(self) -> int:
        """Send what is due now (up to ``batch`` messages, one claim at a time); returns how
        many were sent."""
        sent = 0
        for _ in range(self.batch):
            claim = await self._claim()
            if claim is None:
                break
            try:
                await self._send(claim)
            except LeaseLost:
                log.warning(
                    "email %s: lease lost while sending; left to its holder", claim.message.id
                )
                continue
            except Exception as exc:  # any failure of the mail server is retried
                await self._finish(claim, exc)
            else:
                if await self._finish(claim, None):
                    sent += 1
        return sent

    async def run_forever(self, stop: asyncio.Event, poll_seconds: float = 2.0) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("email relay pass failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
            except TimeoutError:
                pass
