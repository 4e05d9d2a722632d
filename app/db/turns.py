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


async def all_in_turns(session: Any, statement: Select, *, few_first: bool = False) -> list[Any]:
    """The rows of ``statement``, as ``(await session.execute(statement)).all()`` gives
    them, built ``ROWS_PER_TURN`` at a time with a turn of the event loop between.

    Streaming costs PostgreSQL a few round trips (a server-side cursor, its fetches) where
    a plain statement costs one. With ``few_first``, for a statement whose rows are usually
    few (a page's projects), the statement is first run with a limit one past
    ``ROWS_PER_TURN``: when that is all of them, they are the answer; only otherwise is it
    streamed, from the start."""
    if few_first:
        first = (await session.execute(statement.limit(ROWS_PER_TURN + 1))).all()
        if len(first) <= ROWS_PER_TURN:
            return first
    result = await session.stream(statement.execution_options(yield_per=ROWS_PER_TURN))
    rows: list[Any] = []
    try:
        async for partition in result.partitions():
            if rows:
                await asyncio.sleep(0)
            rows.extend(partition)
    finally:
        await result.close()  # its cursor, if a read failed part way
    return rows
