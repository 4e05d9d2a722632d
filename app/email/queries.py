"""What the outbox holds, as operations watch it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.email.models import OutboxMessage, OutboxStatus


@dataclass(frozen=True)
class Backlog:
    pending: int
    """Messages not yet sent that will still be tried (``PENDING``)."""
    oldest_age_seconds: float
    """How long the oldest of them has waited since it was queued; 0 when none waits."""


_BACKLOG = select(func.count(), func.min(OutboxMessage.created_at)).where(
    OutboxMessage.status == OutboxStatus.PENDING
)


async def outbox_backlog(session: AsyncSession, now: datetime | None = None) -> Backlog:
    """The outbox's pending messages: how many, and the age of the oldest."""
    count, oldest = (await session.execute(_BACKLOG)).one()
    if not count or oldest is None:
        return Backlog(pending=0, oldest_age_seconds=0.0)
    age = ((now or utcnow()) - oldest).total_seconds()
    return Backlog(pending=int(count), oldest_age_seconds=max(0.0, age))
