"""Unique keys as the domain's answers: a write that a concurrent request beat to a unique
key answers the domain's "taken" error, whatever the timing.

A service checks a name or an email before it writes it, which answers the common case;
a concurrent request may still commit the same key between that check and this write.
The database's unique constraint then refuses the row, and ``claim`` turns that refusal
into the error the check would have given:

    async with claim(session, {"uq_staff_statuses_account_id_name_key": StatusNameTaken}):
        session.add(status)

The block's writes are flushed at its end inside a savepoint (``begin_nested``), so the
refusal rolls back only the block: on PostgreSQL the transaction stays usable, and the
request still answers its error and commits or rolls back as usual. Only the named
constraints are translated; any other integrity error (another constraint, a foreign key)
is raised as it was.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Mapping
from functools import cache

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import changes
from app.db.base import Base

# SQLite names no constraint; it names the columns: "UNIQUE constraint failed: t.a, t.b"
# (a unique index on an expression: "UNIQUE constraint failed: index 'name'").
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")


@cache
def _columns_of(name: str) -> tuple[str, ...]:
    """``table.column`` of each column of the unique constraint or index ``name`` as
    SQLite lists them; KeyError for a name the models do not declare (a typo)."""
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint) and constraint.name == name:
                return tuple(f"{table.name}.{c.name}" for c in constraint.columns)
        for index in table.indexes:
            if index.unique and index.name == name:
                return tuple(f"{table.name}.{c.name}" for c in index.columns)
    raise KeyError(f"no unique constraint or index named {name!r} in the models")


def violated(exc: IntegrityError, names: Mapping[str, object]) -> str | None:
    """Which of the unique constraints ``names`` ``exc`` is the refusal of, if any."""
    orig = exc.orig
    # asyncpg (through SQLAlchemy's adapter: the driver's error is the cause), psycopg
    for source in (getattr(orig, "__cause__", None), orig, getattr(orig, "diag", None)):
        constraint = getattr(source, "constraint_name", None)
        if constraint:
            return constraint if constraint in names else None
    match = _SQLITE_UNIQUE.search(str(orig).strip().splitlines()[0] if orig else "")
    if match is None:
        return None
    listed = tuple(part.strip() for part in match.group(1).split(","))
    for name in names:
        if _columns_of(name) == listed or listed == (f"index '{name}'",):
            return name
    return None


@contextlib.asynccontextmanager
async def claim(
    session: AsyncSession, taken: Mapping[str, Callable[[], Exception]]
) -> AsyncIterator[None]:
    """Run the block's writes in a savepoint, flushed at its end; if the database refuses
    them for one of the unique constraints named in ``taken`` (constraint or unique index
    name -> the error to raise), the savepoint is rolled back (with the audit changes it
    collected) and that error raised."""
    for name in taken:
        _columns_of(name)  # a name the models do not declare fails at once, not in a race
    position = changes.mark(session)
    try:
        async with session.begin_nested():
            yield
            await session.flush()
    except IntegrityError as exc:
        refused = violated(exc, taken)
        if refused is None:
            raise
        changes.rollback_to(session, position)
        raise taken[refused]() from None
