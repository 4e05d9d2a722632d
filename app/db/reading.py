"""The session of a request that only reads: a pooled connection first, an ORM session
only if something asks for one.

A query's statements are mostly prepared reads (``app.db.prepared``), run on the driver
connection under the session. For those, SQLAlchemy's ``AsyncSession`` costs more than
the reads: building the session, its transaction object and state machine, one trip
through a greenlet to take a connection and another to give it back — about 95 us of a
request's CPU against 30 us for the connection alone (``python -m bench.request_cpu``
shows the difference on the small documents). ``ReadingSession`` takes a connection and
begins its transaction in one greenlet trip, and ends both in one more.

Everything else an ``AsyncSession`` offers is still there: the first use of anything a
prepared read does not need (``execute``, ``get``, ``sync_session``...) makes an
``AsyncSession`` bound to the same connection, inside the transaction already begun, so
what it reads sees the same snapshot as the prepared reads before it. That session joins
the transaction as ``rollback_only`` (SQLAlchemy's ``join_transaction_mode``): it can end
it only by rolling it back. A reading request never commits, and ``commit`` here says so
rather than let a write be dropped unseen.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.util.concurrency import greenlet_spawn


class ReadOnlyCommit(RuntimeError):
    """A reading request's session was asked to commit."""


class ReadingSession:
    """Stands in for the ``AsyncSession`` of a reading unit of work (see the module)."""

    def __init__(self, engine: AsyncEngine):
        self.bind = engine
        self._connection: AsyncConnection | None = None
        self._session: AsyncSession | None = None
        self._info: dict = {}

    @property
    def info(self) -> dict:
        return self._info if self._session is None else self._session.info

    # What ``Prepared.read`` asks before a read: a session not yet made has nothing to send.
    @property
    def new(self) -> Any:
        return () if self._session is None else self._session.new

    @property
    def dirty(self) -> Any:
        return () if self._session is None else self._session.dirty

    @property
    def deleted(self) -> Any:
        return () if self._session is None else self._session.deleted

    @property
    def orm(self) -> AsyncSession | None:
        """The ORM session, if something has needed one."""
        return self._session

    async def connection(self) -> AsyncConnection:
        """The connection, its transaction begun (``BEGIN DEFERRED`` on SQLite, through the
        engine's ``begin`` event)."""
        if self._connection is None:
            if self._session is not None:  # made before anything was read: it has its own
                return await self._session.connection()
            sync = await greenlet_spawn(_open, self.bind.sync_engine)
            self._connection = AsyncConnection(self.bind, sync)
        return self._connection

    def _orm(self) -> AsyncSession:
        if self._session is None:
            if self._connection is None:  # nothing read yet: an ordinary session
                session = AsyncSession(self.bind, expire_on_commit=False, autoflush=False)
            else:
                session = AsyncSession(
                    self._connection,
                    expire_on_commit=False,
                    autoflush=False,
                    join_transaction_mode="rollback_only",
                )
            session.info.update(self._info)
            self._session = session
        return self._session

    def __getattr__(self, name: str) -> Any:
        # only for what is not defined here: the rest of AsyncSession's interface
        return getattr(self._orm(), name)

    async def commit(self) -> None:
        raise ReadOnlyCommit("a reading request's session does not commit")

    async def close(self) -> None:
        """Ends the transaction (a rollback: nothing was written) and gives the connection
        back to the pool."""
        session, connection = self._session, self._connection
        self._session = self._connection = None
        try:
            if session is not None:
                await session.close()
        finally:
            if connection is not None and connection.sync_connection is not None:
                await greenlet_spawn(connection.sync_connection.close)

    async def invalidate(self) -> None:
        """Discards the connection (its user was cancelled in the middle of a statement),
        never rolling back over it."""
        session, connection = self._session, self._connection
        self._session = self._connection = None
        if session is not None and connection is None:
            await session.invalidate()
        if connection is not None and connection.sync_connection is not None:
            await greenlet_spawn(_discard, connection.sync_connection)


def _open(engine) -> Connection:
    connection = engine.connect()
    try:
        connection.begin()
    except BaseException:
        connection.close()
        raise
    return connection


def _discard(connection: Connection) -> None:
    connection.invalidate()
    connection.close()
