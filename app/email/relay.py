"""The relay: sends due outbox messages with retries and exponential backoff.

Each pass claims a batch of due rows by setting a lease (``locked_until``) with a
conditional UPDATE, so concurrent relays (several server processes) never take the same
row. A message is marked SENT right after the server accepts it; a failure schedules the
next attempt at ``base * 2**attempts`` seconds (capped), and after ``max_attempts`` the
message is FAILED. A crash mid-send leaves the lease to expire and the message is retried.

Bodies are stored sealed (``app.email.outbox``): the relay opens each one just before
sending, and wipes it once the message is SENT or FAILED, keeping the row's metadata.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import or_, select, update

from app.db.base import utcnow
from app.email.models import OutboxMessage, OutboxStatus
from app.email.outbox import open_message, wipe
from app.email.senders import Sender
from app.security.crypto import Keyring

log = logging.getLogger("roster.email")

LEASE = timedelta(minutes=2)
MAX_BACKOFF = timedelta(hours=1)


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
    ):
        self.db = db
        self.sender = sender
        self.keyring = keyring
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.batch = batch

    def backoff(self, attempts: int) -> timedelta:
        return min(MAX_BACKOFF, timedelta(seconds=self.backoff_seconds * 2 ** (attempts - 1)))

    async def _claim(self) -> list[OutboxMessage]:
        now = utcnow()
        async with self.db.session(write=True) as session:
            due = list(
                await session.scalars(
                    select(OutboxMessage.id)
                    .where(
                        OutboxMessage.status == OutboxStatus.PENDING,
                        OutboxMessage.next_attempt_at <= now,
                        or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
                    )
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(self.batch)
                )
            )
            claimed = []
            for message_id in due:
                result = await session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == message_id,
                        OutboxMessage.status == OutboxStatus.PENDING,
                        OutboxMessage.next_attempt_at <= now,
                        or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
                    )
                    .values(locked_until=now + LEASE)
                )
                if result.rowcount == 1:
                    claimed.append(message_id)
            rows = (
                list(
                    await session.scalars(
                        select(OutboxMessage).where(OutboxMessage.id.in_(claimed))
                    )
                )
                if claimed
                else []
            )
            await session.commit()
            return sorted(rows, key=lambda m: m.id)

    async def _finish(self, message_id: int, error: Exception | None) -> None:
        async with self.db.session(write=True) as session:
            message = await session.get(OutboxMessage, message_id)
            message.locked_until = None
            if error is None:
                message.status = OutboxStatus.SENT
                message.sent_at = utcnow()
                message.last_error = None
                wipe(message)
            else:
                message.attempts += 1
                message.last_error = f"{type(error).__name__}: {error}"[:500]
                if message.attempts >= self.max_attempts:
                    message.status = OutboxStatus.FAILED
                    wipe(message)
                    log.error("email %s failed for good: %s", message_id, message.last_error)
                else:
                    message.next_attempt_at = utcnow() + self.backoff(message.attempts)
                    log.warning(
                        "email %s attempt %s failed: %s",
                        message_id,
                        message.attempts,
                        message.last_error,
                    )
            await session.commit()

    async def run_once(self) -> int:
        """Send what is due now; returns how many were sent."""
        sent = 0
        for message in await self._claim():
            try:
                await self.sender.send(open_message(self.keyring, message))
            except Exception as exc:  # any failure of the mail server is retried
                await self._finish(message.id, exc)
            else:
                await self._finish(message.id, None)
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
