"""Reading many ORM rows without holding the event loop.

SQLAlchemy builds a result's ORM objects in one go, in one trip through its greenlet: a
loader's batch of 3,600 project members with their staff holds the event loop for about
0.1 s, in which no other request of the process moves (``/healthz`` included). Where a
batch can be that large, ``all_in_turns`` builds its objects ``ROWS_PER_TURN`` at a time
and gives the loop a turn between them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Select

# About 5 ms of building Staff objects: the slice a request's fields get (TakeTurns).
ROWS_PER_TURN = 200


async def all_in_turns(session: Any, statement: Select) -> list[Any]:
    """The rows of ``statement``, as ``(await session.execute(statement)).all()`` gives
    them, built ``ROWS_PER_TURN`` at a time with a turn of the event loop between."""
    result = await session.stream(statement.execution_options(yield_per=ROWS_PER_TURN))
    rows: list[Any] = []
    async for partition in result.partitions():
        if rows:
            await asyncio.sleep(0)
        rows.extend(partition)
    return rows
