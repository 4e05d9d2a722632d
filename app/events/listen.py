"""PostgreSQL's announcements of committed events, fed into this process's hub.

Every worker on PostgreSQL holds one connection of its own (asyncpg, outside the pool) that
``LISTEN``s on the channel ``app.events.service`` notifies in the writing transaction, and
publishes the ids it hears into ``app.events.bus.HUB``: a change made through any worker
reaches the subscribers of all of them.

A notification is lost while the connection is down. When it comes back (after
``reconnect_seconds``), the feeder first listens again, then catches up from the events
table: every event after the last id it saw, and every event that occurred since shortly
before the connection was lost (a transaction that took its id earlier may have committed
later). Ids it already published are skipped, so a subscriber hears each event once.

SQLite has one process: the session that wrote the events publishes them after its commit
(``app.events.bus``); there is nothing to listen to.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import make_url

from app.db.base import utcnow
from app.events.bus import HUB, Hub
from app.events.service import NOTIFY_CHANNEL

log = logging.getLogger("roster.events")

REMEMBERED = 10_000  # ids published lately: what a catch-up skips
# How long before the connection was lost a catch-up looks back: the longest a writing
# transaction may hold an event id before it commits.
CATCH_UP_MARGIN = timedelta(seconds=60)


def asyncpg_dsn(database_url: str) -> str:
    """The asyncpg form of a ``postgresql+asyncpg://`` URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """One worker's ``LISTEN``, with reconnection and catch-up (see the module's docstring)."""

    def __init__(
        self,
        database_url: str,
        hub: Hub = HUB,
        *,
        reconnect_seconds: float = 1.0,
        ping_seconds: float = 5.0,
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.hub = hub
        self.reconnect_seconds = reconnect_seconds
        self.ping_seconds = ping_seconds
        self.last_id = 0
        self._recent: collections.deque[int] = collections.deque(maxlen=REMEMBERED)
        self._seen: set[int] = set()
        self.connected = asyncio.Event()
        self.connections = 0  # how many times it has connected (tests, metrics)
        self._conn = None

    def _publish(self, ids: Iterable[int]) -> None:
        fresh = []
        for event_id in ids:
            if event_id in self._seen:
                continue
            if len(self._recent) == self._recent.maxlen:
                self._seen.discard(self._recent[0])
            self._recent.append(event_id)
            self._seen.add(event_id)
            fresh.append(event_id)
            self.last_id = max(self.last_id, event_id)
        if fresh:
            self.hub.publish(fresh)

    def _notified(self, _conn, _pid, _channel, payload: str) -> None:
        try:
            ids = [int(part) for part in payload.split(",") if part]
        except ValueError:
            log.warning("ignored a notification that is not a list of event ids")
            return
        self._publish(ids)

    async def run(self, stop: asyncio.Event) -> None:
        """Listens until ``stop`` is set, reconnecting whenever the connection is lost."""
        lost_at: datetime | None = None
        while not stop.is_set():
            caught_up_before = self.connections
            try:
                await self._listen(stop, lost_at)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("the events listener lost its connection; reconnecting")
            finally:
                self.connected.clear()
                await self._close()
            if lost_at is None or self.connections > caught_up_before:
                # this outage starts now; a failed reconnect keeps the one it is part of
                lost_at = utcnow()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.reconnect_seconds)

    async def _listen(self, stop: asyncio.Event, lost_at: datetime | None) -> None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(self.dsn)
        self._conn = conn
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(NOTIFY_CHANNEL, self._notified)
        if self.connections == 0:
            # Nobody subscribed before this process listened: start from what is there.
            self.last_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM events"))
        else:
            since = (lost_at or utcnow()) - CATCH_UP_MARGIN
            rows = await conn.fetch(
                "SELECT id FROM events WHERE id > $1 OR occurred_at >= $2 ORDER BY id",
                self.last_id,
                since,
            )
            self._publish(row["id"] for row in rows)
        self.connections += 1
        self.connected.set()
        while not stop.is_set() and not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.ping_seconds)
            if not stop.is_set():
                await asyncio.wait_for(conn.fetchval("SELECT 1"), self.ping_seconds)
        if lost.is_set():
            raise ConnectionError("the events listener's connection was closed")

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def drop_connection(self) -> None:
        """Ends the connection as a network failure would (tests of the reconnection)."""
        if self._conn is not None:
            self._conn.terminate()
