"""Counting the SQL statements an engine sends (the tests and the benchmark hold pages to a
constant number of statements with it)."""

from __future__ import annotations

from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import prepared

NOT_COUNTED = ("BEGIN", "SAVEPOINT", "RELEASE", "PRAGMA")  # transaction and connection setup

# The counter whose ``with`` block the running code is in. Tasks started inside the block
# (a request's loaders, its after-response work) inherit it; the app's background workers,
# started before, do not, so a relay's or a listener's statements are never counted as a
# request's, however the two interleave.
_counting: ContextVar[StatementCounter | None] = ContextVar("counting", default=None)


class StatementCounter:
    """Records the statements sent through an engine while active, by the code inside its
    ``with`` block and the tasks it starts: those SQLAlchemy executes (its engine events)
    and prepared reads sent straight to the driver (``app.db.prepared``), but not
    transaction control or connection setup."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine.sync_engine
        self.statements: list[str] = []

    def _on_execute(self, conn, cursor, statement, *args) -> None:
        if _counting.get() is self and not statement.lstrip().upper().startswith(NOT_COUNTED):
            self.statements.append(statement)

    def _on_prepared(self, pool, statement: str) -> None:
        # write sessions use the engine with options: the same pool
        if _counting.get() is self and pool is self.engine.pool:
            self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        self._token = _counting.set(self)
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        prepared.sent.append(self._on_prepared)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)
        prepared.sent.remove(self._on_prepared)
        _counting.reset(self._token)

    @property
    def count(self) -> int:
        return len(self.statements)
