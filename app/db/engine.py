"""Engine and sessions.

SQLite runs in WAL mode with foreign keys on and a busy timeout. We take over SQLite's
transaction control (the pysqlite recipe in the SQLAlchemy docs) so that a request that
writes starts with ``BEGIN IMMEDIATE``: it takes the write lock up front, so two writers
never deadlock upgrading read locks, and read-then-write checks (seats, uniqueness) are
serialised. Reads use a plain deferred ``BEGIN`` and never block under WAL.

Writers of one process also queue for an ``asyncio`` lock before ``BEGIN IMMEDIATE``
(``WriterLock``): one writing transaction at a time, first come first served, and the
next one starts as soon as the previous returns its connection. Without it, a writer that
finds the database locked waits inside SQLite's busy handler, which sleeps in growing steps
(up to 100 ms each) without knowing when the lock is freed: under 16 concurrent writers
some waited seconds for a lock that was free most of that time. The busy timeout stays,
for writers in other processes (the CLI, a second server).
"""

from __future__ import annotations

import asyncio
from contextlib import nullcontext

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util.concurrency import await_only, in_greenlet

from app.db import prepared, sqlite_loop
from app.db.reading import ReadingSession

SQLITE_BUSY_TIMEOUT_MS = 15_000
BEGIN_DEFERRED = sqlite_loop.BEGIN_DEFERRED


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class NestedWriteError(RuntimeError):
    """A write transaction was begun by a task that already holds this process's SQLite
    writer lock: it would wait for itself. Use the outer session instead."""


class WriterLock:
    """One writing transaction at a time per SQLite engine (of its pool's connections: see
    ``writer_lock``), in the order they asked.

    Taken when a write session begins its transaction (``BEGIN IMMEDIATE``) and given back
    when that session returns its connection to the pool (commit, rollback or close): the
    connection's record notes the lock it holds (``info``), so it gives back that one.
    """

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task | None = None
        self._record = None  # the pooled connection whose transaction holds the lock

    @property
    def locked(self) -> bool:
        return self._lock.locked()

    async def acquire(self, record) -> None:
        task = asyncio.current_task()
        if task is not None and task is self._owner:
            raise NestedWriteError(
                "this task already has a write transaction open on SQLite; a second one "
                "would wait for the first forever: use the outer session"
            )
        try:
            async with asyncio.timeout(self.timeout):
                await self._lock.acquire()
        except TimeoutError:
            # what SQLite's busy timeout would have said, after as long
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))  # noqa: B904
        self._owner = task
        self._record = record
        if record is not None:
            record.info[_HELD] = self

    def release(self, record) -> None:
        if record is not None and record is self._record:
            self._owner = None
            self._record = None
            self._lock.release()


_HELD = "roster_writer_lock"  # a pooled connection's info: the writer lock it holds


def writer_lock(engine: Engine) -> WriterLock | None:
    """The writer lock of the connections of ``engine``'s pool (SQLite; None elsewhere).

    Of the pool, not the engine: ``dispose`` replaces the pool, and the new one starts with
    a free lock of its own, whatever a connection of the old one still holds. (A lock also
    belongs to the event loop it first waits in: an engine disposed between event loops,
    as the test suite's are, goes on working in the next.)"""
    timeout = getattr(engine.dialect, "roster_writer_timeout", None)
    if timeout is None:
        return None
    pool = engine.pool
    writers = getattr(pool, "roster_writers", None)
    if writers is None:
        writers = pool.roster_writers = WriterLock(timeout)  # type: ignore[attr-defined]
    return writers


def _release(record) -> None:
    """A connection is back in the pool (after its commit or rollback), or thrown away:
    the next writer goes ahead. The lock given back is the one the connection took, also
    when its pool was replaced meanwhile (``dispose`` while it wrote): that pool's waiting
    writers go on."""
    writers = record.info.pop(_HELD, None)
    if writers is not None:
        writers.release(record)


def _sqlite_begin(conn) -> None:
    write = conn.get_execution_options().get("roster_write")
    writers = writer_lock(conn.engine)
    if write and writers is not None and in_greenlet():
        record = conn.connection._connection_record
        await_only(writers.acquire(record))
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(record)
            raise
        return
    if write or not in_greenlet():
        conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if write else 'DEFERRED'}")
        return
    # A reading transaction, which every request starts: BEGIN DEFERRED takes no lock and
    # cannot meet a busy database, so it runs on the event loop's thread as a prepared read
    # does (app.db.sqlite_loop), instead of SQLAlchemy's three trips to aiosqlite's thread
    # (a cursor, the statement, closing the cursor). Traces see it as any statement.
    traced = prepared.traced.get(conn.engine.pool) if prepared.traced else None
    driver = conn.connection.driver_connection
    with nullcontext() if traced is None else traced(BEGIN_DEFERRED):
        if not sqlite_loop.begin_read(driver):
            await_only(driver.execute(BEGIN_DEFERRED))


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
    # A statement's values (password hashes, token digests, personal data) are never part
    # of its error's text, which an unexpected error's log line carries.
    kwargs: dict = {"echo": echo, "hide_parameters": True}
    if url.startswith("sqlite"):
        # short reads on the event loop's thread (app.db.sqlite_loop)
        kwargs["async_creator"] = sqlite_loop.connector(
            url, {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=pre_ping)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        sync = engine.sync_engine
        sync.dialect.roster_writer_timeout = SQLITE_BUSY_TIMEOUT_MS / 1000  # type: ignore[attr-defined]
        event.listen(sync, "connect", _sqlite_pragmas)
        event.listen(sync, "begin", _sqlite_begin)
        # (pool events carry over to the pool that replaces a disposed one)
        event.listen(sync.pool, "checkin", lambda _c, rec: _release(rec))
        event.listen(sync.pool, "invalidate", lambda _c, rec, _e: _release(rec))
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
    def writers(self) -> WriterLock | None:
        """SQLite's in-process writer queue; None on PostgreSQL, whose writers take row
        locks and wait for each other only where they touch the same rows."""
        return writer_lock(self.engine.sync_engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool = False) -> AsyncSession:
        return (self._write if write else self._read)()

    def reading(self) -> ReadingSession:
        """A reading unit of work's session, lighter than ``session()`` for prepared reads
        (app.db.reading)."""
        return ReadingSession(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def one_snapshot(session: AsyncSession) -> None:
    """From here on, the session's reads see the database at one moment: a long read made
    of many statements (a backup, an export) is consistent with itself, whatever is
    written meanwhile. SQLite's read transaction is a snapshot already (from its first
    read); on PostgreSQL, where each statement of a READ COMMITTED transaction sees what
    was committed before it, the transaction so far ends and a REPEATABLE READ, READ ONLY
    one begins. Its moment is now (PostgreSQL takes it at a transaction's first statement,
    so one is sent), not when a cache first misses."""
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.commit()
    connection = await session.connection(
        execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    )
    await connection.exec_driver_sql("SELECT 1")
