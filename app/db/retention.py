"""Rows the retention sweep deletes once old (``app.background.prune_once``).

Each kind of row says what its key is and what makes a row old as of a time; the sweep
reads a batch of keys apart from the deletion (a search of the table holds no write
lock), then deletes those rows of the batch that are old still (one changed in between,
a delivery replayed say, stays)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import ColumnElement


@dataclass(frozen=True)
class Retention:
    key: InstrumentedAttribute
    old: Callable[[datetime], Sequence[ColumnElement[bool]]]
    """The conditions of a row old as of the time given."""

    async def batch(self, session: AsyncSession, before: datetime, limit: int) -> list:
        """The keys of at most ``limit`` rows old as of ``before``, in key order."""
        query = select(self.key).where(*self.old(before)).order_by(self.key).limit(limit)
        return list(await session.scalars(query))

    async def delete(self, session: AsyncSession, keys: list, before: datetime) -> int:
        """Deletes the rows of ``keys`` (``batch``) still old as of ``before``; how many."""
        result = await session.execute(
            delete(self.key.class_).where(self.key.in_(keys), *self.old(before))
        )
        return cast(CursorResult[Any], result).rowcount
