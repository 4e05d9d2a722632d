"""An id handed out is never handed out again, on either database: deleting the newest
staff record (project, webhook endpoint) and adding another gives the new one a new id,
not the deleted one's (SQLite without AUTOINCREMENT numbered it one past the largest id
left). Migration 0028 rebuilds SQLite's tables with AUTOINCREMENT and keeps everything
they held."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing

import pytest
from sqlalchemy import delete

from app.db.models import Base
from app.graphql.ids import decode_any
from app.staff.models import Staff
from tests.db.test_migration_0014_api_key_scopes import ROLE
from tests.db.test_review_migration_0008 import alembic, sql
from tests.factories import make_api_token, make_staff, make_tenant

STAFF_CREATE = """mutation($first: String!) {
  staffCreate(input: {firstName: $first, lastName: "Reuse"}) { staff { id } userErrors { code } }
}"""
STAFF_DELETE = """mutation($id: ID!) {
  staffDelete(input: {staffId: $id}) { deletedStaffId userErrors { code } }
}"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Staff { firstName } } }"
PROJECT_CREATE = """mutation($name: String!) {
  projectCreate(input: {name: $name}) { project { id } userErrors { code } }
}"""
PROJECT_DELETE = """mutation($id: ID!) {
  projectDelete(input: {projectId: $id}) { deletedProjectId userErrors { code } }
}"""
WEBHOOK_CREATE = """mutation($url: String!) {
  webhookEndpointCreate(input: {url: $url, eventTypes: ["staff.created"]}) {
    webhookEndpoint { id } userErrors { code }
  }
}"""
WEBHOOK_DELETE = """mutation($id: ID!) {
  webhookEndpointDelete(input: {id: $id}) { userErrors { code } }
}"""
WEBHOOK_URL = "https://93.184.215.14/hooks/roster"  # a public address: no DNS in the test
SEARCH = "query($q: String!) { staff(search: $q) { edges { node { id } } } }"
# Every table whose primary key is one integer id.
ID_TABLES = {
    t.name
    for t in Base.metadata.sorted_tables
    if [c.name for c in t.primary_key.columns] == ["id"]
}


def _pk(global_id: str) -> int:
    decoded = decode_any(global_id)
    assert decoded is not None
    return decoded[1]


async def _made(api, owner, query: str, variables: dict, field: str, node: str) -> str:
    data = (await api.data(query, variables, as_=owner))[field]
    assert data["userErrors"] == [], data
    return data[node]["id"]


async def _deleted(api, owner, query: str, global_id: str, field: str) -> None:
    data = (await api.data(query, {"id": global_id}, as_=owner))[field]
    assert data["userErrors"] == [], data


async def test_a_deleted_staff_records_id_is_never_given_to_the_next(services, api):
    tenant = await make_tenant(services)
    owner = tenant.owner
    first = await _made(api, owner, STAFF_CREATE, {"first": "Ann"}, "staffCreate", "staff")
    await _deleted(api, owner, STAFF_DELETE, first, "staffDelete")
    second = await _made(api, owner, STAFF_CREATE, {"first": "Bob"}, "staffCreate", "staff")
    assert second != first and _pk(second) > _pk(first)
    # the deleted person's id names no one, not the new person
    assert (await api.data(NODE, {"id": first}, as_=owner))["node"] is None
    assert (await api.data(NODE, {"id": second}, as_=owner))["node"]["firstName"] == "Bob"
    # and again, the newest deleted twice in a row
    await _deleted(api, owner, STAFF_DELETE, second, "staffDelete")
    third = await _made(api, owner, STAFF_CREATE, {"first": "Cy"}, "staffCreate", "staff")
    assert _pk(third) > _pk(second)


async def test_deleted_projects_and_webhook_endpoints_keep_their_ids(services, api):
    tenant = await make_tenant(services)
    owner = tenant.owner
    made = await _made(api, owner, PROJECT_CREATE, {"name": "One"}, "projectCreate", "project")
    await _deleted(api, owner, PROJECT_DELETE, made, "projectDelete")
    again = await _made(api, owner, PROJECT_CREATE, {"name": "Two"}, "projectCreate", "project")
    assert _pk(again) > _pk(made)

    hook = await _made(
        api, owner, WEBHOOK_CREATE, {"url": WEBHOOK_URL}, "webhookEndpointCreate",
        "webhookEndpoint",
    )
    await _deleted(api, owner, WEBHOOK_DELETE, hook, "webhookEndpointDelete")
    hook_again = await _made(
        api, owner, WEBHOOK_CREATE, {"url": WEBHOOK_URL}, "webhookEndpointCreate",
        "webhookEndpoint",
    )
    assert _pk(hook_again) > _pk(hook)


def _schema(url: str) -> dict[str, str]:
    """Every table, index and trigger of a SQLite database: its SQL by type and name (a
    rebuilt table's name is quoted, the only difference that makes)."""
    with closing(sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///"))) as conn:
        rows = conn.execute(
            "SELECT type || ' ' || name, sql FROM sqlite_master WHERE name != 'sqlite_sequence'"
        ).fetchall()
    return {name: re.sub(r'^CREATE TABLE "(\w+)"', r"CREATE TABLE \1", sql or "") for name, sql
            in rows}


def _canonical(schema: dict[str, str]) -> dict[str, list[str]]:
    return {name: sorted(line.strip().rstrip(",").strip() for line in sql.splitlines())
            for name, sql in schema.items()}


def _sequence(url: str, table: str) -> int:
    with closing(sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///"))) as conn:
        [(seq,)] = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
    return seq


async def test_0028_keeps_rows_ids_keys_and_indexes_and_goes_past_the_largest_id(
    backend, database_url, services, api, tmp_path
):
    if backend != "sqlite":
        pytest.skip("0028 changes nothing on PostgreSQL")
    head = _schema(database_url)
    ids = {name for name, sql in head.items() if "AUTOINCREMENT" in sql}
    assert ids == {f"table {t}" for t in ID_TABLES}
    tenant = await make_tenant(services)
    owner = tenant.owner
    key = await make_api_token(services, tenant, owner)
    manager = await make_staff(services, tenant, first_name="Mia", last_name="Manager")
    report = await make_staff(services, tenant, first_name="Rex", last_name="Report")
    await sql(database_url, "UPDATE staff SET manager_id = :m WHERE id = :r",
              {"m": manager.id, "r": report.id})
    # the newest staff record is deleted before the downgrade (written by today's models,
    # which have columns 0027 has not); the audit log still names it
    doomed = await _made(api, owner, STAFF_CREATE, {"first": "Gone"}, "staffCreate", "staff")
    await _deleted(api, owner, STAFF_DELETE, doomed, "staffDelete")

    await alembic("downgrade", database_url, "0027")
    fresh = f"sqlite+aiosqlite:///{tmp_path / 'at_0027.db'}"
    await alembic("upgrade", fresh, "0027")
    # as 0027 made it: no AUTOINCREMENT (the order of a table's constraints differs from
    # one database to another: earlier batch migrations wrote them in no fixed order)
    assert _canonical(_schema(database_url)) == _canonical(_schema(fresh))
    tables = [t.name for t in Base.metadata.sorted_tables]
    # the columns 0027 had (later migrations add others, which 0028 does not touch)
    columns = {
        t: ", ".join(c["name"] for c in await sql(database_url, f"PRAGMA table_info({t})"))
        for t in tables
    }
    tables = [t for t in tables if columns[t]]  # a table made after 0027 is not there yet
    reads = {t: f"SELECT rowid, {columns[t]} FROM {t} ORDER BY 1" for t in tables}
    rows = {t: await sql(database_url, reads[t]) for t in tables}
    fts = await sql(database_url, "SELECT rowid, * FROM staff_search ORDER BY 1")

    await alembic("upgrade", database_url, "head")
    assert _schema(database_url) == head
    assert {t: await sql(database_url, reads[t]) for t in tables} == rows
    assert await sql(database_url, "SELECT rowid, * FROM staff_search ORDER BY 1") == fts
    assert await sql(database_url, "PRAGMA foreign_key_check") == []
    assert _sequence(database_url, "staff") == _pk(doomed)
    assert _sequence(database_url, "accounts") == tenant.account_id

    # the upgraded database works: the key acts, search finds, ids go on past the deleted
    # newest one, and ON DELETE rules hold
    assert (await api.data(ROLE, token=key))["viewer"]["role"] == "OWNER"
    new = await _made(api, owner, STAFF_CREATE, {"first": "Newt"}, "staffCreate", "staff")
    assert _pk(new) > _pk(doomed)
    found = await api.data(SEARCH, {"q": "Newt"}, as_=owner)
    assert [e["node"]["id"] for e in found["staff"]["edges"]] == [new]
    async with services.db.session(write=True) as session:
        await session.execute(delete(Staff).where(Staff.id == manager.id))
        await session.commit()
    [row] = await sql(database_url, "SELECT manager_id FROM staff WHERE id = :r", {"r": report.id})
    assert row["manager_id"] is None  # ON DELETE SET NULL


async def test_0028_goes_down_and_up_again_on_an_empty_database(backend, database_url):
    if backend != "sqlite":
        pytest.skip("0028 changes nothing on PostgreSQL")
    head = _schema(database_url)
    await alembic("downgrade", database_url, "0027")
    assert not any("AUTOINCREMENT" in sql for sql in _schema(database_url).values())
    await alembic("upgrade", database_url, "head")
    assert _schema(database_url) == head
    await alembic("upgrade", database_url, "head")  # nothing to do
    assert _schema(database_url) == head
