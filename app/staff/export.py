"""CSV export of the staff list, streamed in batches so memory stays bounded.

Administrators only (``require_export``). Columns are every field with a CSV header in the
staff field table (``app.staff.fields.STAFF``, in its order) and every custom field the
caller may see: personal columns only with the ViewPersonalData permit; details of a
restricted record stay blank unless it is shared with the caller. Cells that a
spreadsheet would run as a formula are neutralised.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select

from app.access import Actor, Permit, require
from app.custom_fields.service import list_fields, values_for_staff
from app.fields import NEEDS_DETAILS, NEEDS_PERSONAL_DATA, Field, derive
from app.offload import Offload
from app.staff import access
from app.staff.fields import STAFF
from app.staff.models import Staff
from app.staff.service import associated_data, statuses_by_id

BATCH = 100
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


def require_export(actor: Actor) -> None:
    """Exports and backups are for administrators (MANAGE_ACCOUNT): a file of everyone
    leaves the application's field rules behind once it is downloaded."""
    require(actor, Permit.MANAGE_ACCOUNT)


def staff_csv(session, actor: Actor, keyring, offload: Offload | None = None) -> AsyncIterator[str]:
    """The CSV's text in chunks; refused (AccessDenied) before anything is streamed.

    With ``offload``, each batch's rows are turned into text there (decrypting, checking
    cells, writing CSV: most of an export's CPU) while this coroutine awaits, so the event
    loop serves other requests meanwhile; the next batch is read from the database during
    that time. Without it, in the caller's thread. The text is the same either way."""
    require_export(actor)
    return _staff_csv(session, actor, keyring, offload)


async def _staff_csv(session, actor: Actor, keyring, offload: Offload | None) -> AsyncIterator[str]:
    personal = actor.can(Permit.VIEW_PERSONAL_DATA)
    fields = [f for f in await list_fields(session, actor) if personal or not f.personal]
    statuses = await statuses_by_id(session, actor.account_id)
    columns = [c for c in COLUMNS if personal or not c.personal]
    header = [c.header for c in columns] + [f.name for f in fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    yield "\ufeff" + buffer.getvalue()

    # Rows are read as plain tuples of these model columns (no ORM objects: less work on
    # the event loop); ``cells`` tells ``render`` how each exported column is made.
    names = ["id", "account_id", "sid", "restricted", "manager_id", "status_id"]
    names += [c.column for c in columns if c.column not in names]
    at = {name: i for i, name in enumerate(names)}
    selected = [getattr(Staff, name) for name in names]
    cells: list[tuple[str, int, bool, str]] = []
    for c in columns:
        if c.field.name == "manager_id":
            kind = "manager"
        elif c.field.name == "status_id":
            kind = "status"
        else:
            kind = "secret" if c.field.encrypted else "value"
        cells.append((kind, at[c.column], c.details, c.field.name))

    sids: dict[int, int] = {}

    async def batch(after: int) -> tuple[int, list] | None:
        rows = (
            await session.execute(
                select(*selected)
                .where(Staff.account_id == actor.account_id, Staff.id > after)
                .order_by(Staff.id)
                .limit(BATCH)
            )
        ).all()
        if not rows:
            return None
        managers = {r[4] for r in rows if r[4] and r[4] not in sids}
        if managers:
            for staff_id, sid in await session.execute(
                select(Staff.id, Staff.sid).where(Staff.id.in_(managers))
            ):
                sids[staff_id] = sid
        values = await values_for_staff(session, actor.account_id, [r[0] for r in rows])
        plain = []
        for r in rows:
            details = access.can_see_details(actor, r[0], r[3])
            status = statuses.get(r[5])
            by_field = {v.field.id: v.value for v in values.get(r[0], [])} if details else {}
            plain.append(
                (
                    tuple(r),
                    details,
                    sids.get(r[4]),
                    status.name if status else None,
                    [by_field.get(f.id) for f in fields] if details else [None] * len(fields),
                )
            )
        return rows[-1][0], plain

    next_batch = await batch(0)
    while next_batch is not None:
        last_id, plain = next_batch
        if offload is None:
            yield render(keyring, cells, plain)
            next_batch = await batch(last_id)
            continue
        rendering = asyncio.ensure_future(offload.run(render, cells, plain))
        try:
            next_batch = await batch(last_id)  # read while the batch renders
            text = await rendering
        finally:
            rendering.cancel()
        yield text


def render(keyring, cells: list[tuple[str, int, bool, str]], rows: list) -> str:
    """One batch of CSV lines: (row, details, manager's sid, status's name, custom
    values) each, as ``_staff_csv`` reads them. Runs in a worker (``app.offload``), so it
    uses only its arguments."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row, details, manager_sid, status_name, custom in rows:
        line = []
        for kind, i, needs_details, name in cells:
            if needs_details and not details:
                line.append("")
                continue
            if kind == "manager":
                value = manager_sid
            elif kind == "status":
                value = status_name
            elif kind == "secret":
                stored = row[i]
                value = (
                    None
                    if stored is None
                    else keyring.decrypt(stored, associated_data(row[1], name, row[2]))
                )
            else:
                value = row[i]
                if isinstance(value, datetime):
                    value = value.isoformat()
            line.append(neutralise(value))
        line += [neutralise(v) if details else "" for v in custom]
        writer.writerow(line)
    return buffer.getvalue()
