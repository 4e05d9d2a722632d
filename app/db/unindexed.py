"""A column SQLite must not look rows up by.

SQLite's planner picks an index by its statistics, and for a column with few values (a
status) or one already narrowed another way (the account, once an id list is known) its
pick can read far more rows than the table scan it avoids. ``+column`` tells SQLite not to
use an index on that column; other databases get the column as it is."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class SqliteUnindexed(ColumnElement[Any]):
    """A column SQLite may not look rows up by (``+column``); the column elsewhere."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column):
        self.column = column.__clause_element__()
        self.type = self.column.type


@compiles(SqliteUnindexed)
def _column_anywhere(element: SqliteUnindexed, compiler, **kw) -> str:
    return compiler.process(element.column, **kw)


@compiles(SqliteUnindexed, "sqlite")
def _column_sqlite(element: SqliteUnindexed, compiler, **kw) -> str:
    return "+" + compiler.process(element.column, **kw)
