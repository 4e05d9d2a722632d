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
trusts its row count: only the request whose statement deleted the row records the
change; the others learn that it was gone and answer as their look would have once the
winner committed:

    if not await remove(session, member):
        raise NotFound("Project member", field=["staff_id"])  # removed concurrently

Turning the check off on the mappers (``confirm_deleted_rows=False``) would silence the
warning but not the audit entry, and would put the rule in each model: here it is in one
place, next to ``app.db.unique.claim``, its counterpart for concurrent adds.
"""

from __future__ import annotations

from sqlalchemy import delete, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import ObjectDeletedError

from app.audit import changes


async def remove(session: AsyncSession, row) -> bool:
    """Delete ``row`` (a loaded ORM instance) with one DELETE of its primary key; True when
    that statement deleted it (the change is recorded for the audit log, as a flush would
    have), False when it was gone already (nothing recorded). Either way ``row`` leaves the
    session. The session's pending changes are flushed first, in the order they were made."""
    return await session.run_sync(_remove, row)


def _remove(session: Session, row) -> bool:
    session.flush()
    mapper = inspect(row).mapper
    key = mapper.primary_key_from_instance(row)
    try:
        change = changes.of_removal(row)  # its values, loading any expired since its look
    except ObjectDeletedError:
        change = None  # expired, and a concurrent request deleted it: the DELETE says so
    result = session.execute(
        delete(mapper.local_table).where(
            *(column == value for column, value in zip(mapper.primary_key, key, strict=True))
        )
    )
    session.expunge(row)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    changes.keep(session, change)
    return True
