"""Migration 0012 (guests): customers and vendors who were viewers (the only default before
guests) become guests, with their pending invitations; everyone else keeps their role; and
it goes down and up again."""

from __future__ import annotations

from app.access import Role
from tests.db.test_review_migration_0008 import alembic, sql
from tests.factories import make_member, make_tenant

BEFORE = [
    ("CUSTOMER", "VIEWER", "GUEST"),
    ("VENDOR", "VIEWER", "GUEST"),
    ("VENDOR", "EDITOR", "EDITOR"),  # a role someone chose stays
    ("EMPLOYEE", "VIEWER", "VIEWER"),
    ("CONTRACTOR", "VIEWER", "VIEWER"),
]


async def test_0012_makes_customer_and_vendor_viewers_guests(database_url, services):
    tenant = await make_tenant(services)
    members = [
        await make_member(services, tenant, Role(role), kind=kind) for kind, role, _ in BEFORE
    ]
    await alembic("downgrade", database_url, "0011")
    try:
        for member, (_, role, _) in zip(members, BEFORE, strict=True):
            await sql(
                database_url,
                "UPDATE staff SET role = :role WHERE id = :id",
                {"role": role, "id": member.staff_pk},
            )
    finally:
        await alembic("upgrade", database_url, "head")
    rows = await sql(database_url, "SELECT id, role FROM staff")
    roles = {r["id"]: r["role"] for r in rows}
    for member, (kind, _, expected) in zip(members, BEFORE, strict=True):
        assert roles[member.staff_pk] == expected, kind
    accounts = await sql(
        database_url, "SELECT guests_take_seats, self_signup FROM accounts WHERE id = :id",
        {"id": tenant.account_id},
    )
    assert [tuple(bool(v) for v in a.values()) for a in accounts] == [(False, False)]

    await alembic("downgrade", database_url, "0011")
    rows = await sql(database_url, "SELECT role FROM staff WHERE role = 'GUEST'")
    assert rows == []
    await alembic("upgrade", database_url, "head")
