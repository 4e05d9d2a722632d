"""Migration 0034: an audit entry written whole, with more changed rows than an entry now
holds, is cut as ``app.audit.service.record`` cuts one; shorter entries are untouched."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.audit.service import DIFF_ROWS_PER_ENTRY
from tests.audit.test_audit_log import audit_log, nodes
from tests.db.test_review_migration_0008 import alembic, sql
from tests.factories import make_tenant
from tests.staff.test_bulk_import import run, to_csv


def _rows(count: int, start: int = 0) -> list[dict]:
    return [
        {"table": "staff_statuses", "op": "insert", "id": i, "fields": {"name": [None, f"S{i}"]}}
        for i in range(start, start + count)
    ]


async def test_0034_cuts_long_entries_into_consecutive_ones(database_url, services, api):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    done = await run(api, tenant.owner, to_csv([{"firstName": "A", "lastName": "B"}]), apply=True)
    assert done["created"] == 1
    async with services.db.session() as session:
        [entry] = await session.scalars(
            select(AuditEntry).where(
                AuditEntry.account_id == tenant.account_id, AuditEntry.action == "staffImport"
            )
        )
    rows = 2 * DIFF_ROWS_PER_ENTRY + 3

    await alembic("downgrade", database_url, "0033")
    try:
        # what an import of many rows wrote before 0034: one entry
        await sql(
            database_url,
            "UPDATE audit_entries SET diff = :diff WHERE id = :id",
            {"diff": json.dumps(_rows(rows)), "id": entry.id},
        )
        await sql(
            database_url,
            "INSERT INTO audit_entries (account_id, action, diff, created_at) "
            "VALUES (:account, 'staffImport', :diff, CURRENT_TIMESTAMP)",
            {"account": other.account_id, "diff": json.dumps(_rows(DIFF_ROWS_PER_ENTRY))},
        )
        await sql(  # a diff of JSON null (a restore let one through): no length to take
            database_url,
            "INSERT INTO audit_entries (account_id, action, diff, created_at) "
            "VALUES (:account, 'staffImport', :diff, CURRENT_TIMESTAMP)",
            {"account": other.account_id, "diff": "null"},
        )
    finally:
        await alembic("upgrade", database_url, "head")

    async with services.db.session() as session:
        mine = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.account_id == tenant.account_id, AuditEntry.action == "staffImport")
                .order_by(AuditEntry.id)
            )
        )
        theirs = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.account_id == other.account_id)
                .order_by(AuditEntry.id)
            )
        )
    assert mine[0].id == entry.id
    assert [len(e.diff) for e in mine] == [DIFF_ROWS_PER_ENTRY, DIFF_ROWS_PER_ENTRY, 3]
    assert [c["id"] for e in mine for c in e.diff] == list(range(rows))
    same = ("actor_user_id", "actor_staff_id", "actor_name", "target_type", "target_id",
            "request_id", "client_address", "created_at")  # fmt: skip
    assert {tuple(getattr(e, c) for c in same) for e in mine} == {
        tuple(getattr(entry, c) for c in same)
    }
    # as long as one may be, and the null one, untouched
    assert [e.diff if e.diff is None else len(e.diff) for e in theirs] == [DIFF_ROWS_PER_ENTRY, None]
    # the log reads them like entries written so
    shown = [e for e in nodes(await audit_log(api, tenant.owner)) if e["action"] == "staffImport"]
    assert [len(e["diff"]) for e in shown] == [3, DIFF_ROWS_PER_ENTRY, DIFF_ROWS_PER_ENTRY]
