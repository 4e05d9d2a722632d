"""Engine and sessions.

SQLite runs in WAL mode with foreign keys on and a busy timeout. We take over SQLite's
transaction control (the pysqlite recipe in the SQLAlchemy docs) so that a request that
writes starts with ``BEGIN IMMEDIATE``: it takes the write lock up front, so two writers
never deadlock upgrading read locks, and read-then-write checks (seats, uniqueness) are
serialised. Reads use a plain deferred ``BEGIN`` and never block under WAL.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 15_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("roster_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def _refuse_closed(dbapi_connection, _record, _proxy) -> None:
    """Replaces a pooled asyncpg connection the server has closed before a request uses
    it.

    When the server goes away (a restart, ``pg_terminate_backend``, an idle timeout) it
    closes the socket, the event loop reads the end of the stream and asyncpg marks the
    connection closed: that is a local check, with no round trip. SQLAlchemy's
    ``pool_pre_ping`` asks the server instead, at three round trips a checkout on asyncpg
    (BEGIN, an empty statement, ROLLBACK; about 0.2 ms of CPU a request), and also finds
    breaks that show only when something is sent: a failover that moved the address, a
    proxy or NAT that dropped the connection without closing it. Deployments behind such
    a network set ``DATABASE_PRE_PING``. A connection that breaks under a prepared read
    (``app.db.prepared``, which bypasses SQLAlchemy's error handling) is found here too,
    on its next checkout, once asyncpg has seen it close.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")


def create_engine(url: str, *, echo: bool = False, pre_ping: bool = False) -> AsyncEngine:
    kwargs: dict = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=pre_ping)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    elif engine.dialect.driver == "asyncpg" and not pre_ping:
        event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


class Database:
    """One engine, and session factories for read-only and writing units of work."""

    def __init__(self, url: str, *, echo: bool = False, pre_ping: bool = False):
        import app.db.models  # noqa: F401  (foreign keys across domains need every table known)

        self.url = url
        self.engine = create_engine(url, echo=echo, pre_ping=pre_ping)
        self._read = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(
            self.engine.execution_options(roster_write=True),
            expire_on_commit=False,
            autoflush=False,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool = False) -> AsyncSession:
        return (self._write if write else self._read)()

    async def dispose(self) -> None:
        await self.engine.dispose()
