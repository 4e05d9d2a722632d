"""Committed events, announced to the live subscribers of this process.

Every worker keeps one ``Hub``: subscribers take a queue from it and receive the ids of
events as their transactions commit. On SQLite (one process) the ids come from the session
that wrote them, after its commit; on PostgreSQL from ``LISTEN`` on the channel
``app.events.service`` notifies in the writing transaction, so a change made through any
worker reaches the subscribers of all of them. Subscribers read the events themselves from
the database: an id carries nothing a subscriber could see without its own access check.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("roster.events")

NEW_EVENTS_KEY = "roster_new_events"  # session.info: ids written, not yet committed
QUEUE_LIMIT = 1000  # waiting for one listener: a slower one loses the oldest (``listen``)


class Hub:
    """Fan-out of committed event ids to this process's subscribers."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[int]] = set()

    def listen(self, limit: int = QUEUE_LIMIT) -> asyncio.Queue[int]:
        """A queue of the ids committed from now on (``limit``: at most that many waiting,
        the oldest lost past it; 0 for no limit)."""
        queue: asyncio.Queue[int] = asyncio.Queue(limit)
        self._queues.add(queue)
        return queue

    def forget(self, queue: asyncio.Queue[int]) -> None:
        self._queues.discard(queue)

    @property
    def listeners(self) -> int:
        return len(self._queues)

    def publish(self, ids: list[int]) -> None:
        for queue in list(self._queues):
            dropped = 0
            for event_id in ids:
                if queue.full():
                    queue.get_nowait()
                    dropped += 1
                queue.put_nowait(event_id)
            if dropped:  # once per commit, not once per event (an import announces thousands)
                log.warning("a listener fell behind; %d announced events were dropped", dropped)


HUB = Hub()


def _after_commit(session: Session) -> None:
    ids = session.info.pop(NEW_EVENTS_KEY, None)
    if ids:
        HUB.publish(ids)


def _after_rollback(session: Session, _previous=None) -> None:
    session.info.pop(NEW_EVENTS_KEY, None)


def install() -> None:
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)


install()
