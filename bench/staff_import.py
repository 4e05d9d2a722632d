"""Bulk staff import of a 10,000-row CSV: dry run and apply, creating and then updating.

    python -m bench.staff_import [--db sqlite|postgresql] [--rows 10000] [--url URL]

Makes one account (SQLite in a temporary directory, or the PostgreSQL database of --url,
default the ``bench`` one, dropped and created again), writes a CSV in the export's
columns (names, email, externalId, title, kind, capacity, start date, phone, salary), and
times ``app.staff.bulk_import.import_as_owner`` (what ``roster staff import`` runs): a dry
run and an apply of the new rows, then a dry run and an apply of the same file with every
title changed (10,000 updates), each in its own transaction. Prints wall seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import tempfile
import time
from pathlib import Path

from bench.run import POSTGRES_URL
from bench.seed import reset_postgres

HEADER = [
    "firstName",
    "lastName",
    "email",
    "externalId",
    "title",
    "kind",
    "capacity",
    "startDate",
    "phoneCell",
    "salary",
]


def staff_csv(rows: int, title: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for i in range(rows):
        writer.writerow(
            [
                f"First{i}",
                f"Last{i}",
                f"person{i}@example.com",
                f"HR-{i:06d}",
                f"{title} {i % 50}",
                "CONTRACTOR" if i % 10 == 0 else "EMPLOYEE",
                "160",
                "2024-01-15",
                f"+1 555 {i:07d}",
                f"{50000 + i}.50",
            ]
        )
    return "\ufeff" + buffer.getvalue()


async def make_account(url: str) -> str:
    from app.accounts.service import create_account
    from app.db.engine import Database
    from app.identity.service import create_user
    from app.security.passwords import PasswordService

    db = Database(url)
    try:
        async with db.session(write=True) as session:
            user = await create_user(
                session,
                PasswordService(memory_cost=1024, time_cost=1, parallelism=1, workers=1),
                email="bench-owner@example.com",
                password="bench-password-1",
                verified=True,
            )
            account, _ = await create_account(
                session, name="Import bench", owner=user, slug="import-bench", seat_limit=5
            )
            await session.commit()
            return account.slug or str(account.id)
    finally:
        await db.dispose()


async def measure(url: str, rows: int) -> None:
    from app.db.migrate import upgrade_to_head
    from app.settings import Settings
    from app.staff.bulk_import import RowAction, import_as_owner

    await asyncio.to_thread(upgrade_to_head, url)
    slug = await make_account(url)
    settings = Settings(database_url=url, email_relay_enabled=False)
    for label, title in (("create", "Engineer"), ("update", "Analyst")):
        text = staff_csv(rows, title)
        for apply in (False, True):
            started = time.perf_counter()
            report = await import_as_owner(settings, slug, text, apply=apply)
            seconds = time.perf_counter() - started
            assert not report.errors, report.errors[:3]
            counts = {a.value: report.count(a) for a in RowAction if report.count(a)}
            mode = "apply  " if apply else "dry run"
            print(f"  {label} {mode}: {seconds:6.2f} s  {counts}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--url", default=POSTGRES_URL, help="PostgreSQL database to use")
    args = parser.parse_args()
    print(f"{args.db}, {args.rows} rows:")
    if args.db == "postgresql":
        asyncio.run(reset_postgres(args.url))
        asyncio.run(measure(args.url, args.rows))
        return
    with tempfile.TemporaryDirectory() as work:
        asyncio.run(measure(f"sqlite+aiosqlite:///{Path(work) / 'bench.db'}", args.rows))


if __name__ == "__main__":
    main()
