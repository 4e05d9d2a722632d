"""Seeds benchmark accounts through the app's own migrations and services (bulk inserts for
the staff rows themselves): one account per size, each with an administrator who logs in."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import insert, select, update

from app.access import Role
from app.accounts.models import Account
from app.accounts.plans import MAX_CUSTOM_SEATS
from app.accounts.service import create_account, next_staff_sid
from app.custom_fields.models import CustomField, CustomFieldType, CustomFieldValue
from app.db.engine import Database
from app.db.migrate import upgrade_to_head
from app.identity import service as identity
from app.identity.models import TokenKind, User
from app.security.passwords import PasswordService
from app.settings import Settings
from app.staff.models import AccountStatus, Staff, StaffKind
from app.staff.service import associated_data
from app.validation import name_key

PASSWORD = "bench-password-2024"
FIELD_NAMES = ("Shirt size", "Team", "Desk")
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia")
TIMEZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")
STATUSES = (AccountStatus.NOT_INVITED, AccountStatus.INVITED, AccountStatus.ACTIVE)


@dataclass
class BenchAccount:
    size: int
    account_id: int
    slug: str
    admin_email: str
    admin_token: str


async def reset_postgres(url: str) -> None:
    """Drop and re-create the benchmark database (only ever the one named in ``url``)."""
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    base, _, name = dsn.rpartition("/")
    if name.startswith("test") or name in ("postgres", "template0", "template1"):
        raise SystemExit(f"refusing to reset database {name!r}")
    conn = await asyncpg.connect(base + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _staff_row(account_id: int, sid: int, i: int, keyring=None) -> dict:
    last = f"{FIRST_NAMES[(i * 7) % len(FIRST_NAMES)]}son{i:05d}"
    secrets = {}
    if keyring is not None:  # SSN and salary, encrypted as the app stores them
        secrets = dict(
            ssn_encrypted=keyring.encrypt(
                f"{100 + i % 800:03d}-{i % 100:02d}-{i % 10000:04d}",
                associated_data(account_id, "ssn", sid),
            ),
            salary_encrypted=keyring.encrypt(
                str(40_000 + i % 90_000), associated_data(account_id, "salary", sid)
            ),
        )
    return dict(
        **secrets,
        account_id=account_id,
        sid=sid,
        role=Role.VIEWER,
        kind=StaffKind.CONTRACTOR if i % 5 == 0 else StaffKind.EMPLOYEE,
        account_status=STATUSES[i % len(STATUSES)],
        first_name=FIRST_NAMES[i % len(FIRST_NAMES)],
        last_name=last,
        last_name_key=name_key(last),
        title="Engineer" if i % 3 else "Designer",
        company="Acme" if i % 4 else None,
        notes=f"Bench person {i}" if i % 2 else None,
        is_inactive=False,
        restricted=i % 7 == 0,
        email=f"person{i}@bench.example",
        phone_cell=f"+1 555 01{i % 100:02d}",
        phone_work="+1 555 0199" if i % 3 == 0 else None,
        address_city="Springfield",
        start_date=date(2020, 1, 1) + timedelta(days=i % 1000),
        capacity=160 if i % 6 else 120.5,
        rate1=100 + (i % 50) if i % 9 else None,
        home_timezone=TIMEZONES[i % len(TIMEZONES)],
    )


async def _seed_account(
    db: Database,
    passwords: PasswordService,
    size: int,
    extras: bool = True,
    keyring=None,
) -> BenchAccount:
    """One account of ``size`` staff; ``extras``: custom field values on every record and
    managers set row by row (without: no custom values, and managers set by one statement,
    which is what seeding 100,000 records in seconds needs); ``keyring``: every record has
    an SSN and a salary encrypted with it."""
    slug = f"bench-{size}"
    async with db.session(write=True) as session:
        owner = await identity.create_user(
            session,
            passwords,
            email=f"owner-{size}@bench.example",
            password=PASSWORD,
            verified=True,
        )
        account, _ = await create_account(
            session,
            name=f"Bench {size}",
            owner=owner,
            slug=slug,
            seat_limit=min(size + 10, MAX_CUSTOM_SEATS),  # records without a login take none
        )
        admin_user = await identity.create_user(
            session,
            passwords,
            email=f"admin-{size}@bench.example",
            password=PASSWORD,
            verified=True,
        )
        session.add(
            Staff(
                account_id=account.id,
                sid=await next_staff_sid(session, account.id),
                user_id=admin_user.id,
                role=Role.ADMINISTRATOR,
                account_status=AccountStatus.ACTIVE,
                first_name="Admin",
                last_name="Benchmark",
                last_name_key=name_key("Benchmark"),
                email=admin_user.email,
            )
        )
        await session.flush()
        token, _ = await identity.issue_token(
            session,
            await session.get(User, admin_user.id),
            kind=TokenKind.SESSION,
            ttl=timedelta(days=30),
        )
        fields = [
            CustomField(
                account_id=account.id,
                name=n,
                name_key=name_key(n),
                type=CustomFieldType.TEXT,
                options=[],
            )
            for n in FIELD_NAMES
        ]
        session.add_all(fields)
        await session.flush()
        first_sid = account.staff_seq + 1
        rows = [_staff_row(account.id, first_sid + i, i, keyring) for i in range(size)]
        for start in range(0, len(rows), 1000):
            await session.execute(insert(Staff), rows[start : start + 1000])
        await session.execute(
            update(Account).where(Account.id == account.id).values(staff_seq=first_sid + size)
        )
        ids = list(
            (
                await session.scalars(
                    select(Staff.id)
                    .where(Staff.account_id == account.id, Staff.sid >= first_sid)
                    .order_by(Staff.sid)
                )
            ).all()
        )
        managers = ids[::10]  # spread over the alphabet: every page has managed staff
        if not extras:
            # ids are consecutive in a fresh database: record i reports to record i - i % 10
            first_id = ids[0]
            assert ids[-1] - first_id == len(ids) - 1, "ids not consecutive"
            await session.execute(
                update(Staff)
                .where(Staff.account_id == account.id, Staff.sid >= first_sid)
                .where((Staff.id - first_id) % 10 != 0)
                .values(manager_id=Staff.id - (Staff.id - first_id) % 10)
            )
            await session.commit()
            return BenchAccount(size, account.id, slug, admin_user.email, token)
        await session.execute(
            update(Staff),
            [
                {"id": staff_id, "manager_id": managers[i % len(managers)]}
                for i, staff_id in enumerate(ids)
                if staff_id not in managers
            ],
        )
        values = [
            dict(
                staff_id=staff_id,
                field_id=f.id,
                account_id=account.id,
                value=f"{f.name[:4].lower()}-{i % 13}",
            )
            for i, staff_id in enumerate(ids)
            for f in fields
        ]
        for start in range(0, len(values), 3000):
            await session.execute(insert(CustomFieldValue), values[start : start + 3000])
        await session.commit()
        return BenchAccount(size, account.id, slug, admin_user.email, token)


async def _seed(
    url: str, sizes: list[int], extras: bool = True, secrets: bool = False
) -> list[BenchAccount]:
    db = Database(url)
    settings = Settings()
    passwords = PasswordService.from_settings(settings)
    keyring = settings.keyring if secrets else None
    try:
        accounts = [await _seed_account(db, passwords, size, extras, keyring) for size in sizes]
        await _analyze(db)
        return accounts
    finally:
        passwords.shutdown()
        await db.dispose()


async def _analyze(db: Database) -> None:
    """Planner statistics for the freshly loaded rows, as a live database has them
    (PostgreSQL's autovacuum would gather them minutes later). Without them PostgreSQL
    guesses two rows per account, sorts the whole account for every page of 5,000 staff,
    and every server measured waits on the database instead."""
    if db.dialect != "postgresql":
        async with db.engine.begin() as conn:  # SQLite keeps its statistics in a table
            await conn.exec_driver_sql("ANALYZE")
        return
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE")


def seed(
    url: str, sizes: list[int], extras: bool = True, *, secrets: bool = False
) -> list[BenchAccount]:
    """A fresh database at ``url`` migrated to head, with one account per size; with
    ``secrets``, every record also has an SSN and a salary, encrypted with the default
    settings' keyring (the one a server started without a secret key uses)."""
    if url.startswith("postgresql"):
        asyncio.run(reset_postgres(url))
    upgrade_to_head(url)
    return asyncio.run(_seed(url, sizes, extras, secrets))
