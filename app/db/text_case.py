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

``lower`` lowers each character alone, as both databases do: Python's ``str.lower()``
lowers a "Σ" that no letter follows to "ς" (so "%ΚΩΣ%", a pattern, became "%κως%", no
piece of "κωστας"), and lowers "İ" to two characters; a character whose lower case is
several is kept as it is.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

SQLITE_FUNCTION = "roster_lower"


def lower(text: str) -> str:
    """``text`` with each character lowered alone (see the module's docstring)."""
    lowered = text.lower()
    # no character lowers to fewer than one, so equal lengths mean none lowered to several
    if len(lowered) == len(text) and "Σ" not in text:
        return lowered
    return "".join(c if len(low := c.lower()) != 1 else low for c in text)


def _lower_value(value: Any) -> Any:
    return lower(value) if isinstance(value, str) else value


def add_to(connection: sqlite3.Connection) -> None:
    """Gives an SQLite connection ``roster_lower`` (deterministic: SQLite may evaluate it
    once for a constant argument)."""
    connection.create_function(SQLITE_FUNCTION, 1, _lower_value, deterministic=True)


@functools.cache
def _bmp_capitals() -> dict[str, tuple[str, ...]]:
    """Each lower-case character of the Basic Multilingual Plane and the others there that
    lower to it alone ("ß": "ẞ"; "ω": "Ω" and the ohm sign; "k": "K" and the Kelvin sign).
    Read off its 65,536 code points once, when first asked (about 10 ms). Beyond it every
    cased letter pairs with its upper and title case alone (Deseret, Adlam, ...)."""
    found: dict[str, list[str]] = {}
    for point in range(0x10000):
        char = chr(point)
        low = char.lower()
        if low != char and len(low) == 1:
            found.setdefault(low, []).append(char)
    return {low: tuple(chars) for low, chars in found.items()}


def cases_of(char: str) -> tuple[str, ...]:
    """``char`` (lowered by ``lower``) and every character that lowers to it alone."""
    paired = (c for c in (char.upper(), char.title()) if len(c) == 1 and lower(c) == char)
    return tuple(dict.fromkeys((char, *_bmp_capitals().get(char, ()), *paired)))


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
