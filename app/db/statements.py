"""Counting the SQL statements an engine sends (the tests and the benchmark hold pages to a
constant number of statements with it)."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import prepared

NOT_COUNTED = ("BEGIN", "SAVEPOINT", "RELEASE", "PRAGMA")  # transaction and connection setup


class StatementCounter:
    """Records the statements sent through an engine while active: those SQLAlchemy
    executes (its engine events) and prepared reads sent straight to the driver
    (``app.db.prepared``), but not transaction control or connection setup."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine.sync_engine
        self.statements: list[str] = []

    def _on_execute(self, conn, cursor, statement, *args) -> None:
        if not statement.lstrip().upper().startswith(NOT_COUNTED):
            self.statements.append(statement)

    def _on_prepared(self, pool, statement: str) -> None:
        if pool is self.engine.pool:  # write sessions use the engine with options: same pool
            self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        prepared.sent.append(self._on_prepared)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)
        prepared.sent.remove(self._on_prepared)

    @property
    def count(self) -> int:
        return len(self.statements)
