"""Select builders over the events table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.events.models import Event


async def announced(
    session: AsyncSession, ids: Sequence[int], account_ids: Sequence[int]
) -> list[Event]:
    """The announced events of these accounts (the others' are nobody's business here),
    in the order they were written."""
    if not ids or not account_ids:
        return []
    rows = await session.scalars(
        select(Event)
        .where(Event.id.in_(list(ids)), Event.account_id.in_(list(account_ids)))
        .order_by(Event.id)
    )
    return list(rows)
