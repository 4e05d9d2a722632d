"""Read-only statements run straight on the driver's connection.

Every request runs a few statements (the token; on a directory page, the page and its
custom values). For those, SQLAlchemy's per-execution machinery (execution context,
greenlet hop, cursor adapter, row objects) costs about as much as the query itself. A
``Prepared`` statement is compiled by SQLAlchemy once per dialect and run on the session
connection's driver connection (asyncpg or aiosqlite). Parameters go through the bind
processors SQLAlchemy would apply, results through the column types' own result
processors, so the rows hold the values ``Connection.execute`` would have returned, as
plain lists (``tests/db/test_prepared.py`` compares them, types included).

``Prepared.raw`` returns the driver's rows unconverted, with what ``converter`` needs to
convert them elsewhere: the staff CSV export converts them in its worker process, so the
server's event loop does not (``app.staff.export``).

Errors are the driver's own (``asyncpg.PostgresError``, ``sqlite3.Error``), not
SQLAlchemy's wrappers; nothing here catches them, so a request fails as it would on any
unexpected error. A connection that broke under a prepared read goes back to the pool
unnoticed; once asyncpg has seen it close, the pool's checkout check (engine.py) replaces
it before anyone uses it again.

Transactions: on SQLite the session's ``BEGIN`` is issued when it takes its connection
(see engine.py), so a prepared read runs inside it. asyncpg's adapter begins lazily, at
SQLAlchemy's first statement; a prepared read before that runs as its own statement, which
under PostgreSQL's READ COMMITTED sees exactly what it would have seen inside the
transaction. (Roster sets no isolation level; a server configured for REPEATABLE READ by
default would give such reads a snapshot each instead of one for the request.) Only reads
belong here: nothing written through the driver would be seen by the session.

Not supported, and refused: statements whose SQL text changes with their values
(``literal_execute`` parameters, ``IN`` lists of tuples). SQLAlchemy's echo
(``DATABASE_ECHO``) and engine events do not see prepared reads; ``sent`` and ``traced``
below do.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.pool import Pool
from sqlalchemy.sql import CompoundSelect, Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import TupleType

from app.db import asyncpg_unnamed, sqlite_loop
from app.db.reading import ReadingSession

# Called with the engine's pool and the SQL of each prepared statement as it is sent (the
# pool, because an engine with execution options is another object on the same pool).
# SQLAlchemy's engine events do not see these statements; whoever counts statements (the
# tests, the benchmark) listens here as well.
sent: list[Callable[[Pool, str], None]] = []

# A context manager around each prepared statement run on a pool, where one is set (the
# traces: ``app.ops.tracing``); kept only as long as the pool lives.
traced: weakref.WeakKeyDictionary[Pool, Callable[[str], AbstractContextManager]] = (
    weakref.WeakKeyDictionary()
)
_UNTRACED = nullcontext()


MAX_FORMS = 32  # rendered forms kept per statement and dialect


class UnsupportedStatement(ValueError):
    """A statement whose SQL text would change with its parameter values."""


@dataclass(frozen=True)
class _Form:
    """The statement as sent on one dialect for one length of each expanding list (an
    ``IN`` of n ids has n placeholders): its SQL, and for each placeholder where its value
    comes from and the bind processor it goes through."""

    sql: str
    slots: tuple[tuple[str | None, int | None, Any, Callable | None], ...]
    # (parameter name or None for a constant, index in its list or None, constant, processor)

    def arguments(self, params: dict[str, Any]) -> list:
        args = []
        for name, index, constant, process in self.slots:
            if name is None:
                value = constant
            elif index is None:
                value = params[name]
            else:
                value = params[name][index]
            args.append(value if process is None else process(value))
        return args


class Prepared:
    """One read-only statement, compiled once per dialect; ``all`` returns its rows."""

    def __init__(self, statement: Select | CompoundSelect, *, planned_per_run: bool = False):
        self.statement = statement
        # PostgreSQL: parsed afresh for each run, so that the server plans it for the
        # values it runs with (app.db.asyncpg_unnamed: a search's best plan depends on
        # its words). The cost is a plan per run.
        self.planned_per_run = planned_per_run
        self._compiled: dict[str, tuple[SQLCompiler, dict, list[str]]] = {}
        self._forms: dict[tuple, _Form] = {}
        self._converters: dict[str, Callable[[list], list]] = {}
        self._coltypes_of: dict[str, tuple] = {}

    def _compile(self, dialect: Dialect) -> tuple[SQLCompiler, dict, list[str]]:
        """The compiled statement, its parameters' bind processors by name, and the names
        of its expanding parameters (``IN`` lists)."""
        compiled = self.statement.compile(dialect=dialect)
        binds, expanding = {}, []
        for name, bind in compiled.binds.items():
            if bind.literal_execute:  # its value would be written into the cached SQL text
                raise UnsupportedStatement(f"{name}: literal_execute parameters")
            if bind.expanding and isinstance(bind.type, TupleType):
                raise UnsupportedStatement(f"{name}: IN lists of tuples")
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds[name] = process
            if bind.expanding:
                expanding.append(name)
        return compiled, binds, expanding

    def _form(self, dialect: Dialect, params: dict[str, Any]) -> _Form:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        compiled, binds, expanding = found
        # An IN list given in the statement itself (not a parameter) has a fixed length.
        key = (dialect.name, *(len(params[n]) if n in params else None for n in expanding))
        form = self._forms.get(key)
        if form is None:
            # SQLAlchemy renders the expanded statement; later calls with lists of the
            # same lengths reuse it (rendering it costs more than the query's own work).
            state = compiled.construct_expanded_state(params)
            item_of = {
                expanded_name: (name, index)
                for name, names in state.parameter_expansion.items()
                for index, expanded_name in enumerate(names)
            }
            slots: list[tuple[str | None, int | None, Any, Callable | None]] = []
            assert state.positiontup is not None  # SQLite and asyncpg bind by position
            for name in state.positiontup:
                process = binds.get(name) or state.processors.get(name)
                if name in item_of and item_of[name][0] in params:
                    slots.append((*item_of[name], None, process))
                elif name in params:
                    slots.append((name, None, None, process))
                else:  # a value written into the statement itself
                    slots.append((None, None, state.parameters[name], process))
            if len(self._forms) >= MAX_FORMS:  # lists of ever new lengths: forget the oldest
                del self._forms[next(iter(self._forms))]
            form = self._forms[key] = _Form(state.statement, tuple(slots))
        return form

    async def all(self, connection: AsyncConnection, params: dict[str, Any]) -> list:
        """The rows, as lists of column values in the statement's column order."""
        dialect = connection.dialect
        rows, driver, sql = await self._fetch(connection, params)
        convert = self._converters.get(dialect.name)
        if convert is None:
            coltypes = await self._coltypes(dialect, driver, sql)
            convert = self._converters[dialect.name] = converter(
                self.statement, dialect, coltypes
            )
        return convert(rows)

    async def read(self, session: AsyncSession, params: dict[str, Any]) -> list:
        """``all`` on the session's connection, the session's changes flushed first (a
        read on the driver does not see what the ORM has not sent, as its own queries
        would). A session with nothing to send is not flushed: a flush is a trip through
        a greenlet even when it sends nothing, and most reads come from reading requests."""
        if session.new or session.deleted or session.dirty:
            await session.flush()
        return await self.all(await connection_of(session), params)

    async def raw(
        self, connection: AsyncConnection, params: dict[str, Any]
    ) -> tuple[list[tuple], tuple]:
        """The rows as the driver returns them, as tuples, with no result processor
        applied, and the column types (``converter``'s ``coltypes``) that make them into
        what ``all`` returns. For rows that are converted elsewhere (another process: the
        driver's values pickle more cheaply than the processed ones)."""
        # a batch of an export: on SQLite always on aiosqlite's thread, never tried on the
        # event loop first (app.db.sqlite_loop): it is large by design
        rows, driver, sql = await self._fetch(connection, params, on_loop=False)
        coltypes = await self._coltypes(connection.dialect, driver, sql)
        if connection.dialect.name == "postgresql":
            rows = [tuple(r) for r in rows]  # asyncpg's records do not pickle
        return rows, coltypes

    async def estimated_rows(
        self, connection: AsyncConnection, params: dict[str, Any]
    ) -> list[float] | None:
        """PostgreSQL: the planner's estimate of the rows of each part of this statement, a
        UNION ALL (``EXPLAIN``, planned for these values; nothing is run); None where the
        planner did not plan them as parts of their own (a part that can match nothing,
        such as ``IN ()``, is folded away). For a choice between plans that only the
        application can make (``app.staff.queries``, ``MATCHES_FIRST``): the statistics
        are the planner's; where they lie is not."""
        if connection.dialect.name != "postgresql":
            raise UnsupportedStatement("estimates are PostgreSQL's")
        form = self._form(connection.dialect, params)
        pooled = await _pooled(connection)
        sql = "EXPLAIN (FORMAT JSON) " + form.sql
        with _announced(connection.sync_engine.pool, sql):
            rows = await asyncpg_unnamed.fetch(
                pooled.info, pooled.driver_connection, sql, form.arguments(params)
            )
        # SQLAlchemy's asyncpg dialect decodes json itself; a bare connection gives text
        found = rows[0][0]
        [plan] = json.loads(found) if isinstance(found, str) else found
        top = plan["Plan"]
        # the Append's members (its other children are subplans: a CTE, an IN (SELECT))
        parts = [p for p in top.get("Plans", ()) if p.get("Parent Relationship") == "Member"]
        members = len(getattr(self.statement, "selects", ()))
        if top["Node Type"] != "Append" or len(parts) != members:
            return None
        return [part["Plan Rows"] for part in parts]

    async def _fetch(
        self, connection: AsyncConnection, params: dict[str, Any], *, on_loop: bool = True
    ):
        dialect = connection.dialect
        form = self._form(dialect, params)
        args = form.arguments(params)
        pooled = await _pooled(connection)
        driver = pooled.driver_connection
        rows: Any
        with _announced(connection.sync_engine.pool, form.sql):
            if dialect.name == "postgresql" and self.planned_per_run:
                rows = await asyncpg_unnamed.fetch(pooled.info, driver, form.sql, args)
            elif dialect.name == "postgresql":
                rows = await driver.fetch(form.sql, *args)
            else:
                rows = sqlite_loop.read(driver, form.sql, tuple(args)) if on_loop else None
                if rows is None:  # a long read: on aiosqlite's thread
                    rows = await driver.execute_fetchall(form.sql, tuple(args))
        return rows, driver, form.sql

    async def _coltypes(self, dialect: Dialect, driver, sql: str) -> tuple:
        """What each column's result processor depends on besides its type: PostgreSQL's
        type oid, which asyncpg's prepared statement describes; nothing on SQLite."""
        found = self._coltypes_of.get(dialect.name)
        if found is None:
            if dialect.name == "postgresql":
                found = tuple(a.type.oid for a in (await driver.prepare(sql)).get_attributes())
                if not driver.is_in_transaction():
                    # asyncpg's prepare ends with a Flush, not a Sync: outside a transaction
                    # the server stays in its Parse's implicit one (a snapshot, locks on
                    # the tables) until the next Sync. A simple query is one: without it, a
                    # connection could go back to the pool holding them, and a BEGIN with
                    # an isolation level sent next would be refused (``one_snapshot``).
                    await driver.execute("SELECT 1")
            else:
                found = (None,) * len(self.statement.selected_columns)
            self._coltypes_of[dialect.name] = found
        return found


def _announced(pool: Pool, sql: str) -> AbstractContextManager:
    """A statement about to be sent on ``pool``: told to the listeners of ``sent``, and
    the trace's context to run it in (``traced``), if any."""
    for listener in sent:
        listener(pool, sql)
    around = traced.get(pool) if traced else None
    return _UNTRACED if around is None else around(sql)


def converter(
    statement: Select | CompoundSelect, dialect: Dialect, coltypes: tuple
) -> Callable[[list], list]:
    """A function making the driver's rows of ``statement`` into lists of values, each
    through the result processor of its column's type where it has one.

    Processors that return None for None are not called for NULLs at all: NULLs are common
    (optional columns, an outer join that found nothing, the other half of a UNION) and
    they were more than half of a staff page's processor calls. Like dataclasses'
    generated ``__init__``, the function is compiled from source: one list display per row
    instead of a loop over its processors. Only column positions and generated names go
    into the source."""
    columns = statement.selected_columns
    namespace: dict[str, Any] = {}
    items = []
    for i, (column, coltype) in enumerate(zip(columns, coltypes, strict=True)):
        process = column.type.dialect_impl(dialect).result_processor(dialect, coltype)
        if process is None:
            items.append(f"r[{i}]")
            continue
        namespace[f"p{i}"] = process
        if _keeps_null(process):
            items.append(f"(None if (v{i} := r[{i}]) is None else p{i}(v{i}))")
        else:
            items.append(f"p{i}(r[{i}])")
    source = "def convert(rows):\n    return [[" + ", ".join(items) + "] for r in rows]"
    exec(compile(source, "<prepared rows>", "exec"), namespace)
    return namespace["convert"]


_HELD = "roster.prepared_connection"  # session.info: (its transaction, weakly; its connection)


async def connection_of(session: AsyncSession) -> AsyncConnection:
    """The session's connection, as ``session.connection()`` returns it, for the reads run on it.

    ``AsyncSession.connection`` goes through a greenlet every time, even when the session's
    transaction holds its connection already: about 40 us of a request's CPU per
    statement where the statement itself costs 70-80 (PostgreSQL, a small read). The
    connection is the transaction's until the transaction ends, so it is kept in the
    session's ``info`` with the transaction it belongs to and used again while that
    transaction is still the session's and active; otherwise (none yet, committed, rolled
    back, failed) the session is asked again, with its own errors. Inside a nested
    transaction (a savepoint) the session is always asked: that is where it sends the
    SAVEPOINT, so that a failed read can be rolled back to it.

    The transaction is held weakly: a closed transaction still refers to its session, and
    a strong reference from the session's ``info`` would leave every session to the cyclic
    collector instead of freeing it when the request lets go of it.

    A reading request's ``ReadingSession`` (app.db.reading) holds its connection itself."""
    if isinstance(session, ReadingSession):
        return await session.connection()
    sync = session.sync_session
    transaction = sync.get_transaction()
    held = session.info.get(_HELD)
    if (
        held is not None
        and transaction is not None
        and held[0]() is transaction
        and transaction.is_active
        and sync.get_nested_transaction() is None
        and not (held[1].closed or held[1].invalidated)
    ):
        return held[1]
    connection = await session.connection()
    current = sync.get_transaction()
    if current is not None:
        session.info[_HELD] = (weakref.ref(current), connection)
    return connection


async def _pooled(connection: AsyncConnection):
    """The connection's pooled DBAPI connection. Once checked out it is a plain attribute,
    read here without a trip through a greenlet (as ``get_raw_connection`` takes, about 10
    us each time); a closed or invalidated connection goes to SQLAlchemy, which
    reconnects or raises as it would."""
    sync = connection.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        return await connection.get_raw_connection()
    return sync.connection


def _keeps_null(process) -> bool:
    try:
        return process(None) is None
    except Exception:
        return False
