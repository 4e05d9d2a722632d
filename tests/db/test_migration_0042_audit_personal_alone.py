"""Migration 0042: audit entries of a staff record's personal data alone written before it
(an SSN or a salary changed alone, which the rule then took for credentials; any written
before 0040) are no longer listed to readers without ViewPersonalData; others stay."""

from __future__ import annotations

from tests.db.test_review_migration_0008 import alembic, sql
from tests.factories import gid, make_staff, make_tenant

UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { userErrors { code } } }"""


async def test_0042_flags_the_entries_of_personal_data_alone(api, services, database_url):
    tenant = await make_tenant(services)
    record = await make_staff(services, tenant, first_name="Pia", last_name="Private")
    changes = (
        {"salary": 90000},
        {"ssn": "123-45-6009", "phoneCell": "+1 555 0100"},
        {"title": "Chef", "email": "pia@example.org"},
    )
    for fields in changes:
        data = await api.data(
            UPDATE, {"input": {"id": gid("Staff", record.id), **fields}}, as_=tenant.owner
        )
        assert data["staffUpdate"]["userErrors"] == []
    # as written before: the flag unset on every entry
    await sql(database_url, "UPDATE audit_entries SET personal_only = :no", {"no": False})
    await alembic("downgrade", database_url, "0041")
    await alembic("upgrade", database_url, "head")
    rows = await sql(
        database_url,
        "SELECT personal_only FROM audit_entries WHERE action = 'staffUpdate' ORDER BY id",
    )
    assert [bool(r["personal_only"]) for r in rows] == [True, True, False]
