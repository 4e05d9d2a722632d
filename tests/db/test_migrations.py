"""The Alembic migrations build exactly the schema the models describe, and rerunning
them is harmless."""

import asyncio
import os
import sys
import warnings

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.migrate import head_revision, upgrade_to_head
from app.db.models import Base
from app.staff.models import (
    DIRECTORY_KEYS_TABLE,
    DIRECTORY_KEYS_TRIGGERS,
    SEARCH_SHADOW_TABLES,
    SEARCH_TABLE,
    SEARCH_TRIGGERS,
    SEARCH_TRIGRAM_INDEXES,
    SHORT_GRAMS_INDEX,
    SHORT_WORD_POSITIONS,
    SHORT_WORD_TABLE,
    SHORT_WORD_TRIGGERS,
)
from tests.factories import make_tenant


def _expression_indexes() -> dict[str, str]:
    """Indexes of the models with an expression among their columns, by name and table:
    autogenerate cannot compare them (SQLite does not even reflect them), so they are
    checked by name (``_index_names``) and the rest of the schema by autogenerate."""
    return {
        index.name: table.name
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if any(not hasattr(e, "name") for e in index.expressions)
    }


def _index_names(sync_connection, table: str) -> set[str]:
    if sync_connection.dialect.name == "sqlite":
        rows = sync_connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"),
            {"t": table},
        )
    else:
        rows = sync_connection.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": table}
        )
    return {name for (name,) in rows}


def _search_objects(sync_connection) -> list:
    """The search's objects outside the models' metadata (app.staff.models): on SQLite the
    FTS5 table and its triggers, on PostgreSQL the trigram indexes; missing ones."""
    if sync_connection.dialect.name == "sqlite":
        rows = sync_connection.execute(
            text("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        )
        present = {(type_, name) for type_, name in rows}
        wanted = [("table", SEARCH_TABLE), *(("trigger", t) for t in SEARCH_TRIGGERS)]
        wanted += [("table", SHORT_WORD_TABLE), ("table", SHORT_WORD_POSITIONS)]
        wanted += [("trigger", t) for t in SHORT_WORD_TRIGGERS]
    else:
        present = {("index", n) for n in _index_names(sync_connection, "staff")}
        wanted = [("index", name) for name in (*SEARCH_TRIGRAM_INDEXES, SHORT_GRAMS_INDEX)]
        # the directory keys: the table, kept in step by its triggers
        rows = sync_connection.execute(text(
            "SELECT 'table', tablename FROM pg_tables WHERE schemaname = 'public' "
            "UNION ALL SELECT 'trigger', tgname FROM pg_trigger WHERE NOT tgisinternal"
        ))
        present |= {(type_, name) for type_, name in rows}
        wanted += [("table", DIRECTORY_KEYS_TABLE)]
        wanted += [("trigger", t) for t in DIRECTORY_KEYS_TRIGGERS]
    return [("missing search object", *w) for w in wanted if w not in present]


# Not in the models' metadata: the FTS5 table and the tables FTS5 keeps for it,
# SQLite's short-word index, and PostgreSQL's directory keys.
_SEARCH_TABLES = frozenset(
    {SEARCH_TABLE, *SEARCH_SHADOW_TABLES, SHORT_WORD_TABLE, SHORT_WORD_POSITIONS,
     DIRECTORY_KEYS_TABLE}
)


def _differences(sync_connection) -> list:
    expression = _expression_indexes()
    missing = [
        ("missing expression index", name)
        for name, table in expression.items()
        if name not in _index_names(sync_connection, table)
    ]
    missing += _search_objects(sync_connection)

    def compared(obj, name, type_, reflected, compare_to):
        search = name in SEARCH_TRIGRAM_INDEXES or name == SHORT_GRAMS_INDEX
        return not (type_ == "index" and (name in expression or search))

    def named(name, type_, parent_names):
        return not (type_ == "table" and name in _SEARCH_TABLES)

    context = MigrationContext.configure(
        sync_connection,
        opts={
            "compare_type": True,
            "compare_server_default": False,
            "include_object": compared,
            "include_name": named,
        },
    )
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Skipped unsupported reflection of expression-based index"
        )
        return missing + compare_metadata(context, Base.metadata)


async def schema_differences(url: str) -> list:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_differences)
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(database_url):
    # database_url is freshly migrated: a copy of a migrated SQLite file, or PostgreSQL
    # migrated once for the run.
    assert await schema_differences(database_url) == []


async def test_migrations_from_scratch_match_the_models(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    upgrade_to_head(url)
    assert await schema_differences(url) == []
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


async def roster(*args: str, database_url: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env["ROSTER_DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def _revision(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()


async def test_migrate_command_is_idempotent_on_a_new_database(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    for _ in range(2):
        code, out, err = await roster("migrate", database_url=url)
        assert code == 0, err
        assert "newest migration" in out
    assert await _revision(url) == head_revision()
    assert await schema_differences(url) == []


async def test_migrate_command_keeps_data_of_a_migrated_database(database_url, services):
    tenant = await make_tenant(services)
    code, _, err = await roster("migrate", database_url=database_url)
    assert code == 0, err
    assert await _revision(database_url) == head_revision()
    async with services.db.session() as session:
        slug = await session.scalar(
            text("SELECT slug FROM accounts WHERE id = :id"), {"id": tenant.account_id}
        )
    assert slug == tenant.slug


def test_a_new_sqlite_database_is_made_in_wal_mode(tmp_path):
    """WAL is a property of the file, set by the migration that makes the database: workers
    opening a new database together never switch it themselves (the switch takes a lock
    that SQLite's busy handler does not wait for, and one of them failed with "database is
    locked")."""
    import sqlite3

    path = tmp_path / "new.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    connection = sqlite3.connect(path)  # no pragmas of its own
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()
