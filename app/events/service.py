"""Writing domain events, in the transaction of the change they describe (the outbox
pattern the email relay uses): a rolled-back change emits nothing, a committed one is never
lost.

``record`` is called wherever a unit of work is recorded in the audit log
(``app.audit.service.record``, which every adapter calls) and by the background sweeps.
What happens to an event next is the business of its consumers: ``IN_TRANSACTION`` lists
the functions that act on new events inside the same transaction (queueing webhook
deliveries), and ``app.events.bus`` tells the live subscribers once it has committed.
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.custom_fields.models import CustomField
from app.db.base import utcnow
from app.db.retention import Retention
from app.events.bus import NEW_EVENTS_KEY
from app.events.catalogue import Facts, derive, facts_needed, subject_of
from app.events.models import Event

# Consumers that act on new events in the transaction that wrote them, as "module:function"
# (imported when first needed, so that this module depends on none of them).
IN_TRANSACTION: tuple[str, ...] = ("app.webhooks.service:queue_deliveries",)

NOTIFY_CHANNEL = "roster_events"
_NOTIFY_CHUNK = 500  # ids per NOTIFY payload (PostgreSQL allows 8000 bytes)

Consumer = Callable[[AsyncSession, list[Event]], Awaitable[None]]
_consumers: list[Consumer] | None = None


@dataclass(frozen=True)
class Cause:
    """Who made a change and in which request (a background sweep has neither)."""

    user_id: int | None = None
    staff_id: int | None = None
    request_id: str | None = None


def new_uid() -> str:
    """A stable public id: receivers de-duplicate deliveries by it."""
    return "evt_" + secrets.token_hex(16)


def _in_transaction() -> list[Consumer]:
    global _consumers
    if _consumers is None:
        found = []
        for path in IN_TRANSACTION:
            module, _, name = path.partition(":")
            found.append(getattr(importlib.import_module(module), name))
        _consumers = found
    return _consumers


async def record(
    session: AsyncSession,
    changes: list[dict],
    cause: Cause = Cause(),
    *,
    account_of_actor: int | None = None,
    facts: Facts | None = None,
) -> list[Event]:
    """Write the events the rows of one unit of work make (``app.events.catalogue``).

    The actor's staff id is kept only on events of the actor's own account
    (``account_of_actor``): in another account they are only a login. ``facts``: the
    changes' ``facts_of``, where the caller has read them already (the audit log).
    """
    derived = derive(changes, facts if facts is not None else await facts_of(session, changes))
    if not derived:
        return []
    now = utcnow()
    events = [
        Event(
            uid=new_uid(),
            account_id=account_id,
            type=item.type.value,
            subject_type=subject_of(item.type),
            subject_id=item.subject_id,
            actor_user_id=cause.user_id,
            actor_staff_id=cause.staff_id if account_id == account_of_actor else None,
            data=item.data(),
            request_id=cause.request_id,
            occurred_at=now,
        )
        for account_id, item in derived
    ]
    session.add_all(events)
    await session.flush()
    for consumer in _in_transaction():
        await consumer(session, events)
    await _announce(session, [e.id for e in events])
    return events


async def facts_of(session: AsyncSession, changes: list[dict]) -> Facts:
    """What the catalogue's rules need besides the rows (``catalogue.facts_needed``): which
    of the custom fields whose values changed are not personal, as their definitions say
    now (one statement, only when the changes touched custom values): for the events of a
    unit of work, and for the audit log's diffs as a reader may see them."""
    field_ids = facts_needed(changes)
    if not field_ids:
        return Facts()
    open_fields = await session.scalars(
        select(CustomField.id).where(
            CustomField.id.in_(sorted(field_ids)), CustomField.personal.is_(False)
        )
    )
    return Facts(open_custom_fields=frozenset(open_fields))


async def _announce(session: AsyncSession, ids: list[int]) -> None:
    """Tell every worker's subscribers once the transaction commits.

    PostgreSQL's NOTIFY is itself transactional (sent at commit, dropped at rollback) and
    reaches every worker, this one included. SQLite has one process: the ids wait in the
    session for ``app.events.bus`` to publish after the commit.
    """
    if session.sync_session.get_bind().dialect.name == "postgresql":
        for start in range(0, len(ids), _NOTIFY_CHUNK):
            payload = ",".join(str(i) for i in ids[start : start + _NOTIFY_CHUNK])
            await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, payload)))
    else:
        session.sync_session.info.setdefault(NEW_EVENTS_KEY, []).extend(ids)


def _occurred_before(before: datetime):
    return (Event.occurred_at < before,)


# Nothing reads an event once its subscribers and webhooks have been told (deliveries keep
# their own payload, and their ``event_id`` becomes NULL when it goes), so old ones only
# fill the table.
RETENTION = Retention(Event.id, _occurred_before)
