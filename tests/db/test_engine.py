"""The engine replaces pooled PostgreSQL connections the server has closed before a
request uses them (a restart, an administrator's ``pg_terminate_backend``)."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import make_url, text

from app.services import Services
from tests.conftest import make_settings
from tests.documents import PAGE_QUERY
from tests.factories import make_tenant


async def _pooled_pids(services, count: int) -> set[int]:
    """Backend pids of ``count`` pooled connections (held at once, so they differ)."""
    sessions = [services.db.session() for _ in range(count)]
    try:
        return {await s.scalar(text("SELECT pg_backend_pid()")) for s in sessions}
    finally:
        for s in sessions:
            await s.close()


async def _terminate(url: str, pids: set[int] | None = None) -> None:
    """Ends those backends (every other one of this database when None) from outside the
    pool and waits until they are gone."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    outside = await asyncpg.connect(dsn)
    try:
        if pids is None:
            pids = {
                r["pid"]
                for r in await outside.fetch(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            }
        await outside.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", list(pids)
        )
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
    app, services, api, database_url, postgresql_only
):
    """The staff page reads on the driver's connection, around SQLAlchemy's error
    handling; the compiled plan still answers it, on a new connection."""
    tenant = await make_tenant(services)
    owner = tenant.owner
    await _pooled_pids(services, 3)  # a few idle connections in the pool
    first = await api.data(PAGE_QUERY, {"first": 5}, as_=owner)
    await _terminate(database_url)  # all of them
    plans = app.state.graphql.schema.hot_paths
    answered = plans.answered
    again = await api.data(PAGE_QUERY, {"first": 5}, as_=owner)
    assert plans.answered == answered + 1  # not handed back to graphql-core
    assert again == first
    assert [e["node"]["id"] for e in again["staff"]["edges"]] == [owner.staff_id]


async def test_with_pre_ping_the_server_is_asked_instead(database_url, postgresql_only):
    """``DATABASE_PRE_PING`` trades the local check for SQLAlchemy's round trips, which
    also find connections a network dropped without closing them."""
    services = Services.from_settings(make_settings(database_url, database_pre_ping=True))
    try:
        assert services.db.engine.sync_engine.pool._pre_ping
        before = await _pooled_pids(services, 3)
        await _terminate(database_url, before)
        after = await _pooled_pids(services, 3)
        assert len(after) == 3 and not after & before
    finally:
        await services.close()
