"""On SQLite a short read runs on the event loop's thread; a long one is interrupted there
and runs on aiosqlite's thread instead, with the same rows and the same snapshot."""

import asyncio
import threading

import pytest
from sqlalchemy import bindparam, func, literal, select

from app.db import sqlite_loop
from app.db.prepared import Prepared
from app.staff.models import Staff
from tests.factories import make_staff_many, make_tenant


@pytest.fixture(autouse=True)
def sqlite_only(backend):
    if backend != "sqlite":
        pytest.skip("SQLite's connections only")


def _counting_to(limit_param: str):
    """``count(*)`` over a recursive series 1..limit, with the thread that finished it
    (``thread_ident()``, a function registered on the connection)."""
    series = select(literal(1).label("n")).cte("series", recursive=True)
    series = series.union_all(
        select(series.c.n + 1).where(series.c.n < bindparam(limit_param))
    )
    return select(func.count(), func.max(func.thread_ident())).select_from(series)


COUNT_TO = Prepared(_counting_to("limit"))


async def _with_thread_ident(session):
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    driver.sync.create_function("thread_ident", 0, threading.get_ident)
    return connection


async def test_a_short_read_runs_on_the_loops_thread(services):
    async with services.db.session() as session:
        connection = await _with_thread_ident(session)
        [[count, thread]] = await COUNT_TO.all(connection, {"limit": 10})
    assert count == 10
    assert thread == threading.get_ident()


async def test_a_long_read_runs_on_aiosqlites_thread_with_the_same_answer(services):
    limit = sqlite_loop.LOOP_READ_STEPS  # well past the budget: several steps a row
    async with services.db.session() as session:
        connection = await _with_thread_ident(session)
        [[count, thread]] = await COUNT_TO.all(connection, {"limit": limit})
    assert count == limit
    assert thread != threading.get_ident()


async def test_an_interrupted_read_keeps_its_transactions_snapshot(services):
    tenant = await make_tenant(services)
    await make_staff_many(services, tenant, [dict(last_name="Before")])
    listed = Prepared(
        select(func.count()).select_from(Staff).where(Staff.account_id == bindparam("a"))
    )
    async with services.db.session() as reading:
        connection = await _with_thread_ident(reading)
        [[before]] = await listed.all(connection, {"a": tenant.account_id})
        # another transaction commits a record meanwhile
        await make_staff_many(services, tenant, [dict(last_name="After")])
        [[_, thread]] = await COUNT_TO.all(connection, {"limit": sqlite_loop.LOOP_READ_STEPS})
        assert thread != threading.get_ident()  # it was interrupted on the loop
        [[again]] = await listed.all(connection, {"a": tenant.account_id})
        assert again == before  # the same snapshot, the transaction still open
    async with services.db.session() as fresh:
        [[now]] = await listed.all(await fresh.connection(), {"a": tenant.account_id})
    assert now == before + 1


async def test_a_failing_read_on_the_loop_raises_the_drivers_error(services):
    import sqlite3

    broken = Prepared(select(func.no_such_function(literal(1))))
    async with services.db.session() as session:
        with pytest.raises(sqlite3.OperationalError, match="no such function"):
            await broken.all(await session.connection(), {})


async def test_a_read_session_gives_aiosqlites_thread_nothing(services):
    """Its BEGIN, its prepared reads and the ROLLBACK that returns its connection all run
    on the loop."""
    async with services.db.session() as session:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        given = driver.thread_calls
        await Prepared(select(literal(1))).all(connection, {})
    async with services.db.session() as session:  # the same connection, again
        connection = await session.connection()
        assert (await connection.get_raw_connection()).driver_connection is driver
        await Prepared(select(literal(2))).all(connection, {})
    assert driver.thread_calls == given
    assert driver.idle and not driver.sync.in_transaction


async def test_after_a_cancelled_read_the_connection_waits_for_it(services):
    """A long read whose caller was cancelled still runs on aiosqlite's thread: what
    follows on that connection (a read, the ROLLBACK) queues behind it rather than
    meeting it there, and the connection goes back to the pool out of its transaction."""
    session = services.db.session()
    connection = await _with_thread_ident(session)
    driver = (await connection.get_raw_connection()).driver_connection
    slow = asyncio.create_task(COUNT_TO.all(connection, {"limit": 3_000_000}))
    await asyncio.sleep(0.1)
    assert not driver.idle  # past its budget on the loop, it runs on aiosqlite's thread
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert not driver.idle  # still running there
    reading = asyncio.create_task(Prepared(select(literal(1))).all(connection, {}))
    await asyncio.sleep(0.01)
    assert not reading.done()  # queued behind it, not run on the loop
    assert await reading == [[1]]
    await session.close()
    assert driver.idle and not driver.sync.in_transaction
