"""Review: a backup and an export read one moment of the account.

Both are read in batches, many statements. On PostgreSQL each statement of a READ
COMMITTED transaction sees what was committed before it, so a record added during a backup
was in its staff section but not in the counters read first: the backup could not be
restored ("a sid above the account's counter"). Both now read from one snapshot, on SQLite
as on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json

from app.accounts.backup import account_json
from app.staff.export import staff_csv
from tests.accounts.test_restore import restore
from tests.factories import make_people, make_staff, make_tenant, owner_actor


async def test_a_record_added_during_a_backup_is_not_in_it(services):
    tenant, *_ = await make_people(services)
    keyring = services.settings.keyring
    async with services.db.session() as session:
        chunks = account_json(session, owner_actor(tenant), keyring)
        head = await anext(chunks)  # the account row, its counters with it
        await make_staff(services, tenant, first_name="Late", last_name="Comer")
        raw = head + b"".join([chunk async for chunk in chunks])
    document = json.loads(raw)
    assert "Comer" not in {row["last_name"] for row in document["staff"]}
    restored = await restore(services, raw, slug="one-moment")  # refused before
    assert restored.account.slug == "one-moment"


async def test_a_record_added_during_an_export_is_not_in_it(services):
    tenant = await make_tenant(services)
    for i in range(3):
        await make_staff(services, tenant, first_name="Early", last_name=f"Bird{i}")
    async with services.db.session() as session:
        chunks = staff_csv(session, owner_actor(tenant), services.settings.keyring)
        header = await anext(chunks)
        await make_staff(services, tenant, first_name="Late", last_name="Comer")
        text = header + "".join([chunk async for chunk in chunks])
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    names = {row["lastName"] for row in rows}
    assert {"Bird0", "Bird1", "Bird2"} <= names
    assert "Comer" not in names
