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

A key may also be a primary key (by its name, ``pk_<table>``), and a refusal may mean
"already there" rather than an error: where writing the row again changes nothing (adding
a member who is on the project by now), the name maps to ``ALREADY_THERE``; the savepoint
is rolled back as before, no error is raised, and the block's ``Claimed`` says so, for the
service to go on as its check would have had it found the row:

    async with claim(session, {"pk_staff_shares": ALREADY_THERE}) as claimed:
        session.add(share)
    if claimed.already_there:
        ...  # a concurrent request wrote it first: read theirs (committed by now)

The rest of the block does not run once a statement in it is refused, so the block should
hold only the writes the key guards.
"""

from __future__ import annotations

import contextlib
import enum
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from functools import cache

from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import changes
from app.db.base import Base

# SQLite names no constraint; it names the columns: "UNIQUE constraint failed: t.a, t.b"
# (a unique index on an expression: "UNIQUE constraint failed: index 'name'").
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")



class Present(enum.Enum):
    ALREADY_THERE = "already there"


ALREADY_THERE = Present.ALREADY_THERE
"""What a key's refusal means where the row being there already is the outcome wanted."""

Answer = Callable[[], Exception] | Present
"""What a key's refusal answers: the error to raise, or ``ALREADY_THERE``."""


@dataclass
class Claimed:
    """What became of a claim's writes: ``already_there`` names the key mapped to
    ``ALREADY_THERE`` that refused them (all were rolled back), None when they were made."""

    already_there: str | None = None


@cache
def _columns_of(name: str) -> tuple[str, ...]:
    """``table.column`` of each column of the primary key, unique constraint or unique
    index ``name`` as SQLite lists them; KeyError for a name the models do not declare (a
    typo)."""
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if (
                isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint)
                and constraint.name == name
            ):
                return tuple(f"{table.name}.{c.name}" for c in constraint.columns)
        for index in table.indexes:
            if index.unique and index.name == name:
                return tuple(f"{table.name}.{c.name}" for c in index.columns)
    raise KeyError(f"no primary key, unique constraint or index named {name!r} in the models")


def violated(exc: IntegrityError, names: Mapping[str, object]) -> str | None:
    """Which of the keys (unique constraints, primary keys) ``names`` ``exc`` is the refusal
    of, if any."""
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
async def claim(session: AsyncSession, taken: Mapping[str, Answer]) -> AsyncIterator[Claimed]:
    """Run the block's writes in a savepoint, flushed at its end; if the database refuses
    them for one of the keys named in ``taken`` (primary key, unique constraint or unique
    index name -> the error to raise, or ``ALREADY_THERE``), the savepoint is rolled back
    (with the audit changes it collected) and that error raised, or for ``ALREADY_THERE``
    nothing raised and the yielded ``Claimed`` told which key it was. Changes made before
    the block are flushed before its savepoint: a refusal never undoes them."""
    for name in taken:
        _columns_of(name)  # a name the models do not declare fails at once, not in a race
    position = changes.mark(session)
    claimed = Claimed()
    try:
        async with session.begin_nested():
            yield claimed
            await session.flush()
    except IntegrityError as exc:
        refused = violated(exc, taken)
        if refused is None:
            raise
        changes.rollback_to(session, position)
        answer = taken[refused]
        if isinstance(answer, Present):  # ALREADY_THERE
            claimed.already_there = refused
            return
        raise answer() from None
