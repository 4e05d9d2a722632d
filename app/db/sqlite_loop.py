"""SQLite connections whose short reads run on the event loop's own thread.

aiosqlite runs every call in a thread of its own (one per connection) and hands the
result back to the event loop. For the reads a request makes — a token, a page of 50
rows: tens of microseconds inside SQLite — the hand-over costs more than the read, and
under concurrent requests it costs far more: the sqlite3 module releases the interpreter
lock around each step of a statement (each row), so the connection's thread and a busy
event loop trade the lock back and forth once per row. With four clients on a 50-row
page that trading cost about 0.9 ms of CPU a request, a third of the whole
(``python -m bench.suite``, per-thread CPU from /proc).

So every connection is opened by ``connect`` with ``check_same_thread=False``, and a
prepared read (``app.db.prepared``) runs through ``read`` on the calling thread, under a
budget of SQLite virtual-machine steps (``LOOP_READ_STEPS``, about a millisecond of
work, counted by a progress handler). A read that runs past it is interrupted and sent
to aiosqlite's thread after all, so a long read — a search over 100,000 records, an
export batch — never holds the event loop for more than about that millisecond.
Interrupting a SELECT leaves its transaction and snapshot as they were
(``tests/db/test_sqlite_loop.py``). A read transaction's ``BEGIN DEFERRED``, and the
``ROLLBACK`` that ends every transaction as its connection goes back to the pool, take
no lock and run here too.

Work runs on the loop only while nothing given to aiosqlite's thread is still queued or
running on that connection (``LoopConnection.idle``): a statement whose caller was
cancelled may be, and what follows it must run after it, in aiosqlite's queue. Writes,
``BEGIN IMMEDIATE`` and commits stay on aiosqlite's thread: they may wait for the write
lock (the busy timeout) or write to the disk. Reads on the loop do not wait for locks:
in WAL mode a reader is held back only while another connection recovers the database
after a crash or the last connection closes it (SQLite's "Write-Ahead Logging", section
8), and the server keeps its pool open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from threading import Thread
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url

from app.db import text_case

# About a millisecond of SQLite's work: a table scan runs 100-150 million steps a second
# here; the suite's largest page (50 records, their managers and custom values) takes a
# few thousand.
LOOP_READ_STEPS = 100_000

BEGIN_DEFERRED = "BEGIN DEFERRED"


class LoopConnection(aiosqlite.Connection):
    """aiosqlite's connection, and the sqlite3 connection under it for work on the loop
    (``sync``, set by its connector in aiosqlite's thread once it is open).

    It counts the calls it gives its thread and those the thread has finished: work on
    the loop runs only when the two agree (``idle``). A call whose caller was cancelled
    (a request cut off by its time limit) may still be queued or running there; what
    comes after it then queues behind it, as all of aiosqlite's calls do, instead of
    meeting it on the connection."""

    sync: sqlite3.Connection
    thread_calls = 0  # counted on the loop's thread
    thread_calls_done = 0  # counted on aiosqlite's thread

    async def _execute(self, fn, *args, **kwargs):
        # aiosqlite's one way to its thread (its cursors use it too); see the module's
        # docstring and tests/db/test_sqlite_loop.py, which fails if that changes.
        self.thread_calls += 1

        def counted():
            try:
                return fn(*args, **kwargs)
            finally:
                self.thread_calls_done += 1

        return await super()._execute(counted)

    @property
    def idle(self) -> bool:
        """Nothing given to aiosqlite's thread is still to run or running."""
        return self.thread_calls_done == self.thread_calls

    async def rollback(self) -> None:
        """Ends the transaction on the loop's thread when the connection is idle: ending a
        transaction takes no lock and writes nothing (WAL). SQLAlchemy sends it as each
        connection goes back to the pool; on aiosqlite's thread it cost a request about as
        much CPU as the rest of a small one (``python -m bench.suite``: the two-field page
        from 1.15 to 0.81 ms of server CPU)."""
        if self.idle:
            self.sync.rollback()
        else:
            await super().rollback()


def _on_loop(connection: Any) -> sqlite3.Connection | None:
    """The sqlite3 connection to use on the loop's thread: None for a driver connection
    not opened by ``connect``, or one with work still on aiosqlite's thread."""
    if isinstance(connection, LoopConnection) and connection.idle:
        return connection.sync
    return None


def _over_budget() -> int:
    return 1  # non-zero: SQLite interrupts the statement


def read(connection: Any, sql: str, args: tuple) -> list | None:
    """The rows of a read on the loop's thread, or None when it ran past the budget (the
    caller then runs it on aiosqlite's thread). None too for a driver connection not
    opened by ``connect``, or one with work still on aiosqlite's thread."""
    sync = _on_loop(connection)
    if sync is None:
        return None
    sync.set_progress_handler(_over_budget, LOOP_READ_STEPS)
    try:
        return sync.execute(sql, args).fetchall()
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode == sqlite3.SQLITE_INTERRUPT:
            return None
        raise
    finally:
        sync.set_progress_handler(None, 0)


def begin_read(connection: Any) -> bool:
    """``BEGIN DEFERRED`` on the loop's thread; False for a connection not opened by
    ``connect``, or one with work still on aiosqlite's thread (the caller sends it
    there)."""
    sync = _on_loop(connection)
    if sync is None:
        return False
    sync.execute(BEGIN_DEFERRED)
    return True


def connector(url: str, connect_args: dict) -> Callable[[], Any]:
    """The engine's ``async_creator``: opens a ``LoopConnection`` to the database ``url``
    names, with the arguments SQLAlchemy's own aiosqlite dialect would pass (the URL's
    file name and options, then ``connect_args``)."""
    args, options = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    kwargs: dict[str, Any] = {**options, **connect_args, "check_same_thread": False}
    [database] = args

    async def connect() -> LoopConnection:
        holder: dict[str, sqlite3.Connection] = {}

        def open_sync() -> sqlite3.Connection:
            holder["sync"] = sqlite3.connect(database, **kwargs)
            text_case.add_to(holder["sync"])
            return holder["sync"]

        connection = LoopConnection(open_sync, iter_chunk_size=64)
        # as SQLAlchemy's dialect does with aiosqlite's own connections: an engine left
        # undisposed never holds the interpreter's exit
        thread = getattr(connection, "_thread", None)
        if isinstance(thread, Thread):
            thread.daemon = True
        await connection
        connection.sync = holder["sync"]
        return connection

    return connect
