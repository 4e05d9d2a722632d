"""The engine replaces pooled PostgreSQL connections the server has closed before a
request uses them (a restart, an administrator's ``pg_terminate_backend``)."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import make_url, text

from bench.queries import PAGE_QUERY
from tests.factories import make_tenant


async def _pooled_pids(services, count: int) -> set[int]:
    """Backend pids of ``count`` pooled connections (held at once, so they differ)."""
    sessions = [services.db.session() for _ in range(count)]
    try:
        return {await s.scalar(text("SELECT pg_backend_pid()")) for s in sessions}
    finally:
        for s in sessions:
            await s.close()


async def _terminate(url: str, pids: set[int]) -> None:
    """Ends those backends from outside the pool and waits until they are gone."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    outside = await asyncpg.connect(dsn)
    try:
        await outside.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", pids)
        for _ in range(200):
            alive = await outside.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids)
            )
            if not alive:
                break
            await asyncio.sleep(0.01)
    finally:
        await outside.close()
    await asyncio.sleep(0.05)  # the event loop reads the end of each closed stream


@pytest.fixture
def postgresql_only(backend):
    if backend != "postgresql":
        pytest.skip("only a database server closes connections")


async def test_statements_after_the_server_closed_the_pool_run_on_new_connections(
    services, database_url, postgresql_only
):
    before = await _pooled_pids(services, 3)
    await _terminate(database_url, before)
    after = await _pooled_pids(services, 3)
    assert len(after) == 3 and not after & before


async def test_a_page_read_by_prepared_statements_after_the_server_closed_the_pool(
    services, api, database_url, postgresql_only
):
    """The staff page reads on the driver's connection, around SQLAlchemy's error
    handling; it still never meets a closed connection."""
    tenant = await make_tenant(services)
    owner = tenant.owner
    first = await api.data(PAGE_QUERY, {"first": 5}, as_=owner)
    await _terminate(database_url, await _pooled_pids(services, 3))
    again = await api.data(PAGE_QUERY, {"first": 5}, as_=owner)
    assert again == first
    assert [e["node"]["id"] for e in again["staff"]["edges"]] == [owner.staff_id]
