"""SQLite writers of one process queue for the writer lock (app.db.engine.WriterLock), first
come first served, instead of waiting inside SQLite's busy handler; PostgreSQL has none."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from app.db import engine as engine_module
from app.db.engine import Database, NestedWriteError
from tests.factories import make_tenant

UPDATE = text("UPDATE staff SET title = :title WHERE id = :id")


@pytest.fixture
def sqlite_only(backend):
    if backend != "sqlite":
        pytest.skip("the writer lock is SQLite's")


async def _queued(db: Database, count: int) -> None:
    for _ in range(200):
        waiters = db.writers._lock._waiters  # type: ignore[union-attr]
        if waiters is not None and len(waiters) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{count} writers never queued")


async def test_concurrent_sqlite_writers_all_succeed_in_arrival_order(
    services, settings, sqlite_only, monkeypatch
):
    tenant = await make_tenant(services)
    # No busy timeout at all: a writer that met a locked database inside SQLite would
    # fail at once with "database is locked". None does: they queue in the process.
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 0)
    db = Database(settings.database_url)
    db.writers.timeout = 30  # type: ignore[union-attr]
    order: list[int] = []
    holding, release = asyncio.Event(), asyncio.Event()

    async def write(n: int, hold: bool = False) -> None:
        async with db.session(write=True) as session:
            await session.execute(UPDATE, {"title": f"T{n}", "id": tenant.owner.staff_pk})
            order.append(n)
            if hold:
                holding.set()
                await release.wait()
            await asyncio.sleep(0)
            await session.commit()

    try:
        first = asyncio.create_task(write(0, hold=True))
        await asyncio.wait_for(holding.wait(), 10)
        tasks = [first]
        for n in range(1, 13):
            tasks.append(asyncio.create_task(write(n)))
            await _queued(db, n)  # each one asks after the one before
        release.set()
        await asyncio.gather(*tasks)
        assert order == list(range(13))
        assert not db.writers.locked  # type: ignore[union-attr]
        async with db.session() as session:
            title = await session.scalar(
                text("SELECT title FROM staff WHERE id = :id"), {"id": tenant.owner.staff_pk}
            )
        assert title == "T12"
    finally:
        await db.dispose()


async def test_a_nested_write_session_is_refused_not_deadlocked(services, sqlite_only):
    tenant = await make_tenant(services)
    db = services.db

    async def nested() -> None:
        async with db.session(write=True) as outer:
            await outer.execute(UPDATE, {"title": "Outer", "id": tenant.owner.staff_pk})
            async with db.session(write=True) as inner:
                with pytest.raises(NestedWriteError, match="use the outer session"):
                    await inner.execute(UPDATE, {"title": "Inner", "id": tenant.owner.staff_pk})
            await outer.commit()

    await asyncio.wait_for(nested(), 10)
    # the lock went back with the outer session: the next writer goes ahead
    async with db.session(write=True) as session:
        await session.execute(UPDATE, {"title": "After", "id": tenant.owner.staff_pk})
        await session.commit()
    assert not db.writers.locked
    async with db.session() as session:
        title = await session.scalar(
            text("SELECT title FROM staff WHERE id = :id"), {"id": tenant.owner.staff_pk}
        )
    assert title == "After"


async def test_a_failed_write_gives_the_lock_back(services, sqlite_only):
    tenant = await make_tenant(services)
    with pytest.raises(ZeroDivisionError):
        async with services.db.session(write=True) as session:
            await session.execute(UPDATE, {"title": "Lost", "id": tenant.owner.staff_pk})
            1 / 0  # noqa: B018
    assert not services.db.writers.locked
    async with services.db.session(write=True) as session:
        await session.execute(UPDATE, {"title": "Kept", "id": tenant.owner.staff_pk})
        await session.commit()
    assert not services.db.writers.locked


async def test_postgresql_writers_take_no_process_lock(services, backend):
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    assert services.db.writers is None
    first, second = await make_tenant(services), await make_tenant(services)
    # two write transactions open at once in one task, on different rows: both go ahead
    async with services.db.session(write=True) as a, services.db.session(write=True) as b:
        await a.execute(UPDATE, {"title": "A", "id": first.owner.staff_pk})
        await asyncio.wait_for(b.execute(UPDATE, {"title": "B", "id": second.owner.staff_pk}), 5)
        await b.commit()
        await a.commit()


async def test_a_connection_returned_in_a_transaction_is_rolled_back(services, sqlite_only):
    """The pool rolls back what a connection left open, so the next user neither sees it
    nor finds the database locked."""
    tenant = await make_tenant(services)
    db = services.db
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute("BEGIN IMMEDIATE")
        await raw.execute(
            "UPDATE accounts SET name = 'Left open' WHERE id = ?", (tenant.account_id,)
        )
        assert raw.in_transaction
    async with db.session(write=True) as session:
        name = await session.scalar(
            text("SELECT name FROM accounts WHERE id = :id"), {"id": tenant.account_id}
        )
        assert name != "Left open"
        await session.execute(
            text("UPDATE accounts SET name = 'Written' WHERE id = :id"), {"id": tenant.account_id}
        )
        await session.commit()


def test_a_disposed_engine_queues_writers_again_in_another_event_loop(tmp_path, sqlite_template):
    """The lock is of the pool: ``dispose`` gives the next pool a free one, so an engine
    kept across event loops (``asyncio.run`` twice, as the test suite keeps one per worker)
    still queues its writers, instead of failing on a lock bound to the first loop."""
    import shutil

    path = tmp_path / "loops.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")

    async def two_writers(title: str) -> list[str]:
        held, done = asyncio.Event(), []

        async def write(n: int) -> None:
            async with db.session(write=True) as session:
                await session.execute(text("UPDATE alembic_version SET version_num = version_num"))
                if n == 0:
                    held.set()
                    await asyncio.sleep(0.05)  # the second writer waits in the queue meanwhile
                done.append(f"{title}{n}")
                await session.commit()

        first = asyncio.create_task(write(0))
        await held.wait()
        await asyncio.gather(first, write(1))
        await db.dispose()
        return done

    assert asyncio.run(two_writers("a")) == ["a0", "a1"]
    assert asyncio.run(two_writers("b")) == ["b0", "b1"]


async def test_a_writer_waiting_when_the_pool_is_replaced_goes_on(services, sqlite_only):
    """``dispose`` while one session writes and another waits: the writing connection
    gives back the lock it took (its old pool's), so the waiting writer goes ahead."""
    tenant = await make_tenant(services)
    db = services.db
    db.writers.timeout = 5  # type: ignore[union-attr]
    writing, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with db.session(write=True) as session:
            await session.execute(UPDATE, {"title": "First", "id": tenant.owner.staff_pk})
            writing.set()
            await release.wait()
            await session.commit()

    async def second() -> None:
        async with db.session(write=True) as session:
            await session.execute(UPDATE, {"title": "Second", "id": tenant.owner.staff_pk})
            await session.commit()

    holder = asyncio.create_task(first())
    await asyncio.wait_for(writing.wait(), 10)
    waiter = asyncio.create_task(second())
    await _queued(db, 1)
    await db.dispose()  # the pool is replaced; both sessions keep their old pool's lock
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, waiter), 10)
    async with db.session() as session:
        title = await session.scalar(
            text("SELECT title FROM staff WHERE id = :id"), {"id": tenant.owner.staff_pk}
        )
    assert title == "Second"
