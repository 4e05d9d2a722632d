"""Test harness: every test gets a fresh database, on SQLite and (when
ROSTER_TEST_DATABASE_URL is set) on PostgreSQL too.

SQLite: the migrated schema is built once, then copied into each test's own file.
PostgreSQL: migrated once per run, then every table is emptied before each test.

Generated tests (Hypothesis) share one profile, ``roster``: no deadline (an example's time
is the database's, and CI machines are shared), no example database (a clean clone keeps
none), the same examples on every run (derandomized: a red CI names a failure anyone can
run again) and the fixtures of a function shared across its examples (each test resets
what its examples share). ``ROSTER_HYPOTHESIS_PROFILE=explore`` draws new examples on
every run, for looking for failures rather than guarding against them. A test says only
how many examples it takes (``@settings(max_examples=...)``) and what else it changes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.engine import Database
from app.db.migrate import upgrade_to_head
from app.db.models import Base
from app.main import create_app
from app.services import Services
from app.settings import Settings
from tests.factories import Api


def _worker_database(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets its own PostgreSQL database (``test_gw0``...),
    created on first use next to the one configured."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    return str(make_url(url).set(database=f"{make_url(url).database}_{worker}"))


hypothesis_settings.register_profile(
    "roster",
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "explore", hypothesis_settings.get_profile("roster"), derandomize=False
)
hypothesis_settings.load_profile(os.environ.get("ROSTER_HYPOTHESIS_PROFILE", "roster"))

BASE_PG_URL = os.environ.get("ROSTER_TEST_DATABASE_URL")
PG_URL = _worker_database(BASE_PG_URL)
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, scope="session")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "roster.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


async def _create_database(url: str) -> None:
    name = make_url(url).database
    engine = create_async_engine(BASE_PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def _reset_postgres(url: str) -> None:
    if url != BASE_PG_URL:
        await _create_database(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


_pg_ready = False


async def postgres_migrated() -> str:
    global _pg_ready
    if not _pg_ready:
        await _reset_postgres(PG_URL)
        upgrade_to_head(PG_URL)
        _pg_ready = True
    return PG_URL


_SEQUENCES: list[str] = []
_MANY_ROWS = 1000  # above this a table is truncated; below, its rows are deleted


async def truncate_all(url: str) -> None:
    """Empty every table and restart its ids, in one round trip.

    TRUNCATE costs PostgreSQL a few milliseconds a table whatever the table holds (it
    replaces the table's and its indexes' files), about 0.15 s for the whole schema
    before every test; most tests leave a handful of rows in a few tables, which DELETE
    removes for almost nothing. So each table is first asked whether it holds rows, and
    how many: the empty ones are left alone, the few rows deleted, the many truncated.
    """
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]  # children first
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        if not _SEQUENCES:
            _SEQUENCES.extend(await conn.fetchval(
                "SELECT coalesce(array_agg(quote_ident(relname)), '{}') "
                "FROM pg_class WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
            ))
        counts = await conn.fetchrow("SELECT " + ", ".join(
            f"(SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT {_MANY_ROWS + 1}) s) AS {t}"
            for t in tables
        ))
        many = [t for t in tables if counts[t] > _MANY_ROWS]
        few = [t for t in tables if 0 < counts[t] <= _MANY_ROWS]
        script = ["BEGIN"]
        if many:
            script.append(f"TRUNCATE {', '.join(many)} CASCADE")
        script += [f"DELETE FROM {t}" for t in few]
        script += [f"ALTER SEQUENCE {s} RESTART" for s in _SEQUENCES]
        script.append("COMMIT")
        await conn.execute(";\n".join(script))
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_path(tmp_path_factory) -> Path:
    """Where each test's SQLite database is, the same file name for every test of a worker
    (so its tests share one engine, see ``services``); each test gets a new file there."""
    return tmp_path_factory.mktemp("database") / "roster.db"


@pytest.fixture
async def database_url(backend, request) -> str:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = request.getfixturevalue("sqlite_path")
        # A new file, not the old one overwritten: a connection a test left open keeps the
        # old file (and its write-ahead log) to itself.
        for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
            path.with_name(name).unlink(missing_ok=True)
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url = await postgres_migrated()
    await truncate_all(url)
    return url


class IsolatedSettings(Settings):
    """Settings from a test's own values alone: neither the environment's ``ROSTER_*``
    variables (a developer's shell, the CI's) nor a dotenv file reach a test's app. Reading
    them cost about 6 ms a construction, some 4 % of the suite's CPU."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_other_sources):
        return (init_settings,)


def make_settings(database_url: str, *, environment: bool = False, **overrides) -> Settings:
    """A test app's settings; ``environment``: read ``ROSTER_*`` variables too, as a
    server does (under the given values)."""
    values = dict(
        database_url=database_url,
        env="development",
        argon2_time_cost=1,
        argon2_memory_cost=1024,
        email_backend="memory",
        # Tests read the mail they cause from the memory backend, in production too.
        email_allow_non_smtp_in_production=True,
        public_url="http://roster.test",
        rate_limited_delay_seconds=0,
        # Exports render in a thread: a worker process is a fresh interpreter, about a
        # second of CPU to start for each app. tests/staff/test_export_offload.py covers
        # the worker processes (the same bytes as a thread's).
        export_workers=0,
        # The lifespan's full collection walks the whole test process (every module, every
        # generated example), about a tenth of the suite's CPU when each live server paid
        # it; tests/test_app.py checks the freezing itself.
        freeze_startup_objects=False,
    )
    values.update(overrides)
    return (Settings if environment else IsolatedSettings)(**values)


@pytest.fixture
def settings(database_url) -> Settings:
    return make_settings(database_url)


# One Database per database URL in a worker, for the ``services`` of every test on it.
# SQLAlchemy compiles a statement once per engine: an engine per test compiled some forty
# statements anew in each, about a third of a test's CPU. Each test still starts without a
# connection: ``Services.close`` closes the pool's (a disposed engine's next pool has a
# writer lock of its own, app.db.engine.writer_lock), and on SQLite a connection a test
# never gave back keeps the file it had, which the next test's no longer is.
_DATABASES: dict[tuple, Database] = {}
_LISTENERS: dict[tuple, tuple[int, ...]] = {}


def _listeners(db: Database) -> tuple[int, ...]:
    """How many listeners each of the engine's and its pool's events has."""
    sync = db.engine.sync_engine
    return tuple(
        len(getattr(dispatch, name))
        for dispatch in (sync.dispatch, sync.pool.dispatch)
        for name in dispatch._event_names
    )


@pytest.fixture
async def services(settings):
    key = (settings.database_url, settings.database_echo, settings.database_pre_ping)
    if key not in _DATABASES:
        _DATABASES[key] = Database(key[0], echo=key[1], pre_ping=key[2])
        _LISTENERS[key] = _listeners(_DATABASES[key])
    services = Services.from_settings(settings, db=_DATABASES[key])
    yield services
    try:
        await services.close()
    except BaseException:
        del _DATABASES[key]  # its pool may still hold connections: the next gets a new one
        raise
    if _listeners(_DATABASES[key]) != _LISTENERS[key]:
        del _DATABASES[key]  # a test left a listener on the engine: the next gets a new one


@pytest.fixture
async def app(settings, services):
    return create_app(settings, services=services)


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app)
    # Like a browser on Roster's own pages: form posts carry the page's Origin, which the
    # CSRF check of the HTML forms requires (app.web.security).
    async with httpx.AsyncClient(
        transport=transport, base_url="http://roster.test", headers={"Origin": "http://roster.test"}
    ) as client:
        yield client


@pytest.fixture
def api(client) -> Api:
    return Api(client)
