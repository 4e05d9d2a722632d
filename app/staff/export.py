"""CSV export of the staff list, streamed in batches so memory stays bounded.

Administrators only (``require_export``). Columns are every field with a CSV header in the
staff field table (``app.staff.fields.STAFF``, in its order) and every custom field the
caller may see: personal columns only with the ViewPersonalData permit; details of a
restricted record stay blank unless it is shared with the caller. Cells that a
spreadsheet would run as a formula are neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select

from app.access import Actor, Permit, require
from app.custom_fields.service import list_fields, values_for_staff
from app.fields import NEEDS_DETAILS, NEEDS_PERSONAL_DATA, Field, derive
from app.staff import access
from app.staff.fields import STAFF
from app.staff.models import Staff
from app.staff.service import read_secret, statuses_by_id

BATCH = 500
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class Column(NamedTuple):
    field: Field
    column: str  # the model column (an encrypted field's holds ciphertext)
    header: str
    personal: bool  # only for holders of ViewPersonalData
    details: bool  # blank on records whose details the caller does not see


COLUMNS: list[Column] = []


@derive
def _columns() -> None:
    """Every exported column, in the staff field table's order (``STAFF``)."""
    COLUMNS[:] = [
        Column(
            row,
            column,
            header,
            personal=row.visibility in NEEDS_PERSONAL_DATA,
            details=row.visibility in NEEDS_DETAILS,
        )
        for row in STAFF
        for column, header in zip(row.columns, row.csv, strict=False)
    ]


def neutralise(value) -> str:
    """Text a spreadsheet would evaluate gets a leading apostrophe."""
    if value is None:
        return ""
    text = value.value if hasattr(value, "value") and not isinstance(value, str) else value
    text = str(text)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _cell(column: Column, staff: Staff, sids: dict, statuses: dict, keyring):
    """A column's value: references by what names them (the manager's sid, the status's
    name), secrets decrypted, times in ISO format, the rest as stored."""
    field = column.field
    if field.name == "manager_id":
        return sids.get(staff.manager_id)
    if field.name == "status_id":
        status = statuses.get(staff.status_id)
        return status.name if status else None
    if field.encrypted:
        return read_secret(keyring, staff, field.name)
    value = getattr(staff, column.column)
    return value.isoformat() if isinstance(value, datetime) else value


def require_export(actor: Actor) -> None:
    """Exports and backups are for administrators (MANAGE_ACCOUNT): a file of everyone
    leaves the application's field rules behind once it is downloaded."""
    require(actor, Permit.MANAGE_ACCOUNT)


def staff_csv(session, actor: Actor, keyring) -> AsyncIterator[str]:
    """The CSV's text in chunks; refused (AccessDenied) before anything is streamed."""
    require_export(actor)
    return _staff_csv(session, actor, keyring)


async def _staff_csv(session, actor: Actor, keyring) -> AsyncIterator[str]:
    personal = actor.can(Permit.VIEW_PERSONAL_DATA)
    fields = [f for f in await list_fields(session, actor) if personal or not f.personal]
    statuses = await statuses_by_id(session, actor.account_id)
    columns = [c for c in COLUMNS if personal or not c.personal]
    header = [c.header for c in columns] + [f.name for f in fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    yield "\ufeff" + buffer.getvalue()
    sids: dict[int, int] = {}
    last_id = 0
    while True:
        rows = list(
            await session.scalars(
                select(Staff)
                .where(Staff.account_id == actor.account_id, Staff.id > last_id)
                .order_by(Staff.id)
                .limit(BATCH)
            )
        )
        if not rows:
            break
        last_id = rows[-1].id
        managers = {m for m in (r.manager_id for r in rows) if m and m not in sids}
        if managers:
            for staff_id, sid in await session.execute(
                select(Staff.id, Staff.sid).where(Staff.id.in_(managers))
            ):
                sids[staff_id] = sid
        values = await values_for_staff(session, actor.account_id, [r.id for r in rows])
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        for staff in rows:
            details = access.can_see_details(actor, staff.id, staff.restricted)
            line = [
                ""
                if c.details and not details
                else neutralise(_cell(c, staff, sids, statuses, keyring))
                for c in columns
            ]
            by_field = {v.field.id: v.value for v in values.get(staff.id, [])}
            line += [neutralise(by_field.get(f.id)) if details else "" for f in fields]
            writer.writerow(line)
        session.expunge_all()  # keep the identity map from growing with the export
        yield buffer.getvalue()
