"""Statements PostgreSQL plans for each run's values, sent in one round trip.

A search's best plan depends on its words (a rare word reads its trigram index, a common
one walks the sort's), so it must be planned for each run's values: asyncpg keeps a
statement prepared once per connection, and after five runs PostgreSQL may settle on one
generic plan for any values (one took 20 s where the words' own plan took a millisecond).
Preparing afresh for each run (``Connection.prepare``) gets the right plan, but at a round
trip of its own (Parse, Describe) before the one that runs the statement, and a Close of
the named statement later: on the tour's directory page, two such statements were about
a fifth of the server's CPU for the request.

Here each connection keeps, per SQL text, an *unnamed* statement that asyncpg described
once (its parameter and column types, and their codecs), marked "unprepared": asyncpg
then sends Parse, Bind and Execute together, in one round trip, as it does for every
statement when its statement cache is turned off (for PgBouncer). The server parses the
statement anew on each run, so each run is a new statement's first run, which PostgreSQL
always plans for the values bound to it.

Marking a statement unprepared is asyncpg's private API
(``PreparedStatement._state``: ``mark_unprepared``, and ``closed``, which asyncpg sets
when it finds a statement's description out of date). It is used here alone, pinned to the
asyncpg releases it was checked against (``TESTED_ASYNCPG``):
``tests/db/test_asyncpg_unnamed.py`` fails on any other release until it has been checked
again, and checks that runs stay unnamed, parsed anew and correct between others.
"""

from __future__ import annotations

from typing import Any

# (lowest, first not checked): releases the private call was checked against.
TESTED_ASYNCPG = ((0, 32, 0), (0, 33, 0))

# Statements kept per connection (a few shapes of search, by the filters they combine),
# the oldest dropped first.
KEPT_PER_CONNECTION = 64

_KEY = "roster_unnamed_statements"


async def fetch(info: dict, driver: Any, sql: str, args: list) -> list:
    """The rows of ``sql`` run with ``args`` on the asyncpg connection ``driver``, planned
    for these values, in one round trip. ``info`` is the pooled connection's ``info``
    dictionary (SQLAlchemy's, kept as long as the driver's connection), which holds the
    described statements."""
    kept = info.get(_KEY)
    if kept is None or kept[0] is not driver:
        kept = info[_KEY] = (driver, {})
    statements: dict = kept[1]
    statement = statements.get(sql)
    if statement is None or statement._state.closed:
        statement = await driver.prepare(sql, name="")
        # re-parsed with every Bind from now on (asyncpg's own PgBouncer mode)
        statement._state.mark_unprepared()
        if len(statements) >= KEPT_PER_CONNECTION:
            statements.pop(next(iter(statements)))
        statements[sql] = statement
    try:
        return await statement.fetch(*args)
    except Exception:
        # described afresh next time: a failure may mean the description is stale (a type
        # the statement reads was changed; asyncpg then closes the statement)
        statements.pop(sql, None)
        raise
