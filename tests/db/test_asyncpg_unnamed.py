"""A statement planned per run goes to PostgreSQL in one round trip, parsed anew each
time, under asyncpg's unnamed statement (``app.db.asyncpg_unnamed``)."""

import importlib.metadata
import re

import pytest
from sqlalchemy import text

from app.db import asyncpg_unnamed

NAMED = "SELECT count(*) FROM pg_prepared_statements"


def test_the_installed_asyncpg_is_a_release_the_private_call_was_checked_against():
    pytest.importorskip("asyncpg")
    installed = importlib.metadata.version("asyncpg")
    release = tuple(int(p) for p in re.findall(r"\d+", installed)[:3])
    low, high = asyncpg_unnamed.TESTED_ASYNCPG
    assert low <= release < high, (
        f"asyncpg {installed} is not a release app/db/asyncpg_unnamed.py was checked "
        f"against ({low} to before {high}): check that PreparedStatement._state."
        "mark_unprepared still makes bind_execute send Parse with each Bind, then widen "
        "TESTED_ASYNCPG"
    )


@pytest.fixture
async def pooled(services, backend):
    if backend != "postgresql":
        pytest.skip("asyncpg only")
    async with services.db.engine.connect() as connection:
        yield await connection.get_raw_connection()


async def test_runs_return_their_own_rows_between_other_unnamed_statements(pooled):
    driver, info = pooled.driver_connection, pooled.info
    square = "SELECT $1::int * $1::int AS n"
    text_of = "SELECT $1::text || '!' AS s"
    for i in range(8):
        # each statement replaces the server's unnamed statement in turn: a Bind to a
        # statement that was not parsed again would run the other one
        assert await asyncpg_unnamed.fetch(info, driver, square, [i]) == [(i * i,)]
        assert await asyncpg_unnamed.fetch(info, driver, text_of, [str(i)]) == [(f"{i}!",)]
        assert await driver.fetch("SELECT $1::int + 1", i) == [(i + 1,)]  # a named one
    assert await asyncpg_unnamed.fetch(info, driver, square, [9]) == [(81,)]


async def test_the_statement_stays_unnamed_and_parsed_with_every_run(pooled):
    driver, info = pooled.driver_connection, pooled.info
    named_before = await driver.fetchval(NAMED)
    sql = "SELECT $1::int AS n"
    for i in range(3):
        await asyncpg_unnamed.fetch(info, driver, sql, [i])
    (_, kept) = info[asyncpg_unnamed._KEY]
    assert list(kept) == [sql]
    assert kept[sql]._state.name == "" and kept[sql]._state.prepared is False
    # no named statement left on the server to plan once and reuse, or to close later
    assert await driver.fetchval(NAMED) == named_before


async def test_a_failing_run_raises_the_drivers_error_and_the_next_one_works(pooled):
    import asyncpg

    driver, info = pooled.driver_connection, pooled.info
    sql = "SELECT 1 / $1::int AS n"
    with pytest.raises(asyncpg.DivisionByZeroError):
        await asyncpg_unnamed.fetch(info, driver, sql, [0])
    assert await asyncpg_unnamed.fetch(info, driver, sql, [1]) == [(1,)]


async def test_statements_kept_per_connection_are_bounded(pooled, monkeypatch):
    monkeypatch.setattr(asyncpg_unnamed, "KEPT_PER_CONNECTION", 3)
    driver, info = pooled.driver_connection, pooled.info
    for i in range(5):
        assert await asyncpg_unnamed.fetch(info, driver, f"SELECT {i} + $1::int", [1]) == [
            (i + 1,)
        ]
    (_, kept) = info[asyncpg_unnamed._KEY]
    assert list(kept) == [f"SELECT {i} + $1::int" for i in (2, 3, 4)]


async def test_a_session_reads_through_it_inside_its_transaction(services, backend):
    """A search (planned per run) sees what the session's own transaction wrote."""
    if backend != "postgresql":
        pytest.skip("asyncpg only")
    async with services.db.session(write=True) as session:
        await session.execute(text("CREATE TEMP TABLE seen (n int)"))
        await session.execute(text("INSERT INTO seen VALUES (7)"))
        pooled = await (await session.connection()).get_raw_connection()
        rows = await asyncpg_unnamed.fetch(
            pooled.info, pooled.driver_connection, "SELECT n FROM seen WHERE n = $1", [7]
        )
        assert rows == [(7,)]
        await session.rollback()


async def test_a_closed_or_failed_statement_is_described_again(pooled):
    """asyncpg closes a statement whose description it finds out of date (a type it reads
    was changed): the next run describes it afresh instead of failing on the closed one;
    a run that fails is dropped the same way."""
    driver, info = pooled.driver_connection, pooled.info
    sql = "SELECT $1::int + 1 AS n"
    assert await asyncpg_unnamed.fetch(info, driver, sql, [1]) == [(2,)]
    (_, kept) = info[asyncpg_unnamed._KEY]
    first = kept[sql]
    first._state.mark_closed()
    assert await asyncpg_unnamed.fetch(info, driver, sql, [2]) == [(3,)]
    assert kept[sql] is not first
    failing = "SELECT 1 / $1::int AS n"
    with pytest.raises(Exception):  # noqa: B017 (the driver's division error)
        await asyncpg_unnamed.fetch(info, driver, failing, [0])
    assert failing not in kept
