"""Lower case beyond ASCII on SQLite.

SQLite's ``lower()`` lowers the 26 ASCII letters alone ("Élodie" stays "Élodie"), and its
``LIKE`` ignores the case of those letters alone, so a condition written with them never
finds "Élodie" for "élodie". PostgreSQL's ``lower()`` lowers every letter.

Every SQLite connection Roster opens (``app.db.sqlite_loop.connector``) has the function
``roster_lower``: Python's ``str.lower()``. ``unicode_lower(x)`` is ``roster_lower(x)``
on SQLite and ``lower(x)`` elsewhere.

Only statements call it, never an index, a trigger or a view: a database file stays
readable and writable by any SQLite tool, which would not have the function. It costs a
Python call a row, so a condition uses it only where the text it compares holds letters
beyond ASCII; for ASCII text the two lower cases find the same rows (but for a few
letters, such as the Kelvin sign, that Python lowers to ASCII).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

SQLITE_FUNCTION = "roster_lower"


def _lower(text: Any) -> Any:
    return text.lower() if isinstance(text, str) else text


def add_to(connection: sqlite3.Connection) -> None:
    """Gives an SQLite connection ``roster_lower`` (deterministic: SQLite may evaluate it
    once for a constant argument)."""
    connection.create_function(SQLITE_FUNCTION, 1, _lower, deterministic=True)


class unicode_lower(FunctionElement):  # noqa: N801 (a SQL function, named as SQLAlchemy's are)
    """The lower case of a text, every letter lowered (see the module's docstring)."""

    type = String()
    name = "unicode_lower"
    inherit_cache = True


@compiles(unicode_lower)
def _default(element: unicode_lower, compiler, **kw) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _sqlite(element: unicode_lower, compiler, **kw) -> str:
    return f"{SQLITE_FUNCTION}({compiler.process(element.clauses, **kw)})"
