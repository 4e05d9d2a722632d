"""Migration 0008 (sealed outbox bodies): bodies of email already sent are wiped; email
queued before it is still delivered (then wiped); and it goes down and up again."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.migrate import alembic_config, head_revision
from tests.factories import take_mail

LEGACY = [
    ("SENT", "sent@example.com", "http://roster.test/password/reset?token=spent-secret"),
    ("PENDING", "waiting@example.com", "http://roster.test/password/reset?token=live-secret"),
]


async def alembic(action: str, url: str, revision: str) -> None:
    await asyncio.to_thread(getattr(command, action), alembic_config(url), revision)


async def sql(url: str, statement: str, params: dict | None = None) -> list[dict]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params or {})
            return [dict(r._mapping) for r in result] if result.returns_rows else []
    finally:
        await engine.dispose()


async def test_0008_wipes_sent_bodies_and_keeps_pending_email_sendable(database_url, services):
    await alembic("downgrade", database_url, "0007")
    try:
        for status, address, body in LEGACY:
            await sql(
                database_url,
                "INSERT INTO email_outbox (template, to_addrs, bcc_addrs, subject, text_body,"
                " html_body, status, attempts, next_attempt_at, created_at) VALUES ('password_"
                "reset', :to, '[]', 'Reset', :body, '<p>x</p>', :status, 0, CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP)",
                {"to": f'["{address}"]', "body": body, "status": status},
            )
    finally:
        await alembic("upgrade", database_url, "head")
    rows = await sql(database_url, "SELECT * FROM email_outbox ORDER BY id")
    assert [r["status"] for r in rows] == ["SENT", "PENDING"]
    assert "spent-secret" not in repr(rows[0]) and rows[0]["text_body"] is None
    assert rows[1]["sealed"] is None and "live-secret" in rows[1]["text_body"]

    [delivered] = await take_mail(services)
    assert delivered["To"] == "waiting@example.com"
    assert "token=live-secret" in delivered.get_body(("plain",)).get_content()
    rows = await sql(database_url, "SELECT * FROM email_outbox ORDER BY id")
    assert [r["status"] for r in rows] == ["SENT", "SENT"]
    assert "secret" not in repr(rows)

    # Down and up again (a pending sealed message cannot survive the way down).
    await alembic("downgrade", database_url, "0007")
    await alembic("upgrade", database_url, "head")
    revision = await sql(database_url, "SELECT version_num FROM alembic_version")
    assert revision == [{"version_num": head_revision()}]
