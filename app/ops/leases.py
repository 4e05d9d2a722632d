"""Named leases: work that must run in one worker at a time, across every process on one
database (the invitation-expiry sweep; anything else that needs a single runner).

A lease is a row (``leases``) with the random token of its holder and an expiry. Taking it
is one conditional UPDATE (``WHERE name = ? AND expires_at <= now``) after making sure the
row exists (``INSERT ... ON CONFLICT DO NOTHING``): on PostgreSQL a second taker waits for
the first's row lock and then finds the lease unexpired; on SQLite writers are serialised
(``BEGIN IMMEDIATE``). A lease read as held is not asked for in writing at all. Renewing
and releasing are conditional on the token, so a worker whose lease lapsed and was taken
by another can change nothing.

Times are the workers' clocks (``utcnow``), as for the email outbox's leases: workers on
several machines need their clocks in step to well within a lease's length.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.base import utcnow
from app.ops.models import Lease

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a lease never taken has long expired


def new_token() -> str:
    """A random holder token (128 bits): it names a holder, it grants nothing."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Held:
    """A lease this worker holds, until ``expires_at`` unless renewed."""

    name: str
    token: str
    expires_at: datetime


async def acquire(db, name: str, seconds: float) -> Held | None:
    """Take the lease ``name`` for ``seconds`` if nobody holds it (it has expired or was
    never taken); None when another worker holds it."""
    now = utcnow()
    # Read first: workers ask every few seconds and the lease is most often held, and a
    # read takes no write lock (SQLite) and writes nothing. The UPDATE below decides.
    async with db.session() as session:
        held_until = await session.scalar(select(Lease.expires_at).where(Lease.name == name))
    if held_until is not None and held_until > now:
        return None
    token = new_token()
    expires_at = now + timedelta(seconds=seconds)
    insert = (postgresql if db.dialect == "postgresql" else sqlite).insert(Lease)
    async with db.session(write=True) as session:
        await session.execute(
            insert.values(name=name, holder=None, expires_at=_EPOCH).on_conflict_do_nothing(
                index_elements=[Lease.name]
            )
        )
        taken = await session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.expires_at <= now)
            .values(holder=token, expires_at=expires_at, acquired_at=now)
        )
        await session.commit()
    return Held(name, token, expires_at) if taken.rowcount == 1 else None


async def renew(db, held: Held, seconds: float) -> Held | None:
    """Extend a lease this worker still holds; None when it has been taken by another."""
    expires_at = utcnow() + timedelta(seconds=seconds)
    async with db.session(write=True) as session:
        renewed = await session.execute(
            update(Lease)
            .where(Lease.name == held.name, Lease.holder == held.token)
            .values(expires_at=expires_at)
        )
        await session.commit()
    return Held(held.name, held.token, expires_at) if renewed.rowcount == 1 else None


async def release(db, held: Held) -> bool:
    """Give the lease back at once (if it is still ours), for the next worker to take."""
    async with db.session(write=True) as session:
        released = await session.execute(
            update(Lease)
            .where(Lease.name == held.name, Lease.holder == held.token)
            .values(holder=None, expires_at=utcnow())
        )
        await session.commit()
    return released.rowcount == 1
