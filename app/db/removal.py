"""Removals as the domain's answers: a row a concurrent request deleted first is gone, and
this request's removal says so instead of claiming it.

A service looks a row up before it removes it, which answers the common case ("not
there"); a concurrent request may still delete the same row between that look and this
delete (on PostgreSQL every request of a burst looks before any commits). The ORM's
``session.delete(row)`` would then send a DELETE that matches nothing: SQLAlchemy warns
("expected to delete 1 row(s); 0 were matched"), and the flush listener that collects the
audit changes (``app.audit.changes``), and the events derived from them, records the
removal all the same, for it sees what the unit of work meant to delete, not what the
database deleted. ``remove`` sends one DELETE of the row's primary key instead and
trusts what it answers (``RETURNING`` the keys it deleted): only the request whose
statement deleted the row records the change; the others learn that it was gone and
answer as their look would have once the winner committed:

    if not await remove(session, member):
        raise NotFound("Project member", field=["staff_id"])  # removed concurrently

Turning the check off on the mappers (``confirm_deleted_rows=False``) would silence the
warning but not the audit entry, and would put the rule in each model: here it is in one
place, next to ``app.db.unique.claim``, its counterpart for concurrent adds.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, inspect, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import ObjectDeletedError

from app.audit import changes

CHUNK = 500  # rows per DELETE ... IN (...)


async def remove(session: AsyncSession, row) -> bool:
    """Delete ``row`` (a loaded ORM instance) with one DELETE of its primary key; True when
    that statement deleted it (the change is recorded for the audit log, as a flush would
    have), False when it was gone already (nothing recorded). Either way ``row`` leaves the
    session. The session's pending changes are flushed first, in the order they were made."""
    return bool(await remove_all(session, [row]))


async def remove_all(session: AsyncSession, rows: Iterable) -> int:
    """``remove`` for many rows, a statement per model (and ``CHUNK`` rows) rather than one
    per row; how many of them these statements deleted (those alone are recorded)."""
    rows = list(rows)
    return await session.run_sync(_remove_all, rows) if rows else 0


def _remove_all(session: Session, rows: list) -> int:
    session.flush()
    planned: dict[tuple, tuple] = {}  # (mapper, primary key) -> (row, its change)
    for row in rows:
        mapper = inspect(row).mapper
        try:
            change = changes.of_removal(row)  # its values, loading any expired since its look
        except ObjectDeletedError:
            change = None  # expired, and a concurrent request deleted it: the DELETE says so
        planned[mapper, tuple(mapper.primary_key_from_instance(row))] = (row, change)
    deleted: set[tuple] = set()
    for mapper in dict.fromkeys(mapper for mapper, _ in planned):
        columns = mapper.primary_key
        keys = [key for m, key in planned if m is mapper]
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i : i + CHUNK]
            matched = (
                tuple_(*columns).in_(chunk)
                if len(columns) > 1
                else columns[0].in_([key[0] for key in chunk])
            )
            statement = delete(mapper.local_table).where(matched).returning(*columns)
            deleted.update((mapper, tuple(key)) for key in session.execute(statement))
    for key, (row, change) in planned.items():  # in the order given
        session.expunge(row)
        if key in deleted:
            changes.keep(session, change)
    return len(deleted)
