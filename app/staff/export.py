"""CSV export of the staff list, streamed in batches so memory stays bounded.

Administrators only (``require_export``). Columns are every field with a CSV header in the
staff field table (``app.staff.fields.STAFF``, in its order) and every custom field the
caller may see: personal columns only with the ViewPersonalData permit; details of a
restricted record stay blank unless it is shared with the caller. Cells that a
spreadsheet would run as a formula are neutralised.

What the server's own process does per batch is kept small, because every other request
of the process waits while it does it: the event loop, and the interpreter lock that the
database driver's thread (aiosqlite) and the worker pool's pickling threads share with
it. Profiling one export of 20,000 staff (SQLite) found 0.4 s of the event loop's CPU
and 0.2 s of aiosqlite's thread in the server against 0.45 s in the rendering worker:
more than half of the export still ran beside the pages. Most of it was SQLAlchemy's
work on each row (building the statement, ORM result rows, result processors for dates
and enums, a custom value object per value) and a second statement for the managers'
sids. Now each batch is one statement of the staff columns and their managers' sids and
one of its custom values (``app.db.prepared``, driver rows as they come), and the rows
go to the worker unconverted: it applies SQLAlchemy's result processors (the same ones,
so the same values and bytes), groups the custom values and renders. The server's part
is reading the rows and deciding, by the domain's rule, whose details are shown; its
event loop spent 0.1 s on the same export. On PostgreSQL the event loop went from 0.4 s
to 0.2 s: asyncpg decodes the rows on the event loop, and the export's database backend
(0.14 s) works at the pages' priority; those are what is left beside the pages there.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import aliased

from app.access import Actor, Permit, refuse_impersonation, require
from app.custom_fields.models import CustomFieldValue
from app.custom_fields.service import list_fields
from app.db.engine import one_snapshot
from app.db.prepared import Prepared, connection_of, converter
from app.fields import NEEDS_DETAILS, NEEDS_PERSONAL_DATA, Field, derive
from app.offload import Offload
from app.staff import access, stamps
from app.staff.fields import STAFF
from app.staff.models import Staff
from app.staff.service import associated_data, statuses_by_id

BATCH = 100
# While interactive requests come in (``Offload.requests_begun`` moved since the last
# batch), batches are this small: reading a batch holds the event loop (on SQLite the
# driver runs on it), and a page's request that arrives meanwhile waits for the read. At
# 100,000 staff, a page's p99 during an export on SQLite was 1.8-2.1x its p99 alone with
# batches of 100 rows and 1.2x with 25; an export with nobody else served reads 100 a time.
BATCH_BESIDE_REQUESTS = 25
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


def _marked(text: str) -> bool:
    """Whether ``neutralise`` puts an apostrophe before ``text``: text a spreadsheet would
    evaluate, and text that already reads as neutralised (apostrophes, then a formula
    character), so that dropping one apostrophe on import (``plain``) gives back every
    text exactly."""
    return text.lstrip("'").startswith(FORMULA_PREFIXES)


def neutralise(value) -> str:
    """Text a spreadsheet would evaluate gets a leading apostrophe (``_marked``)."""
    if value is None:
        return ""
    text = value.value if hasattr(value, "value") and not isinstance(value, str) else value
    text = str(text)
    if _marked(text):
        return "'" + text
    return text


def plain(cell: str) -> str:
    """A cell as ``neutralise`` had it: ``plain(neutralise(text)) == text`` for every text."""
    if cell.startswith("'") and _marked(cell):
        return cell[1:]
    return cell


# What a file of everyone needs: administering the account and reading the directory.
# Administrators hold both; an API key needs the ``admin`` and ``staff:read`` scopes (with
# ``admin`` alone it reads the directory like a guest). Each row's details then follow the
# domain's rule, as in the directory.
EXPORT_PERMITS = (Permit.MANAGE_ACCOUNT, Permit.VIEW_STAFF)


def require_export(actor: Actor) -> None:
    """Exports and backups are for administrators (``EXPORT_PERMITS``): a file of everyone
    leaves the application's field rules behind once it is downloaded. Checked before a
    byte is streamed. Not while impersonating: a file of everyone is taken under one's own
    name (its audit entry names who took it)."""
    refuse_impersonation(actor)
    for permit in EXPORT_PERMITS:
        require(actor, permit)


def same_reader(began: Actor, now: Actor) -> bool:
    """Whether ``now``, the reader of a download (a CSV, a backup) begun as ``began``, may
    take the rest of it as it is: the same person in the same account, and personal data
    as it began or without (which decided what the file holds). Whether they may still
    export at all is the export's own refusal, asked again with ``now``."""
    return (
        (now.user_id, now.account_id) == (began.user_id, began.account_id)
        and now.can(Permit.VIEW_PERSONAL_DATA) == began.can(Permit.VIEW_PERSONAL_DATA)
    )


def staff_csv(session, actor: Actor, keyring, offload: Offload | None = None) -> AsyncIterator[str]:
    """The CSV's text in chunks; refused (AccessDenied) before anything is streamed.

    With ``offload``, each batch's rows are turned into text there (converting the
    driver's values, decrypting, checking cells, writing CSV: most of an export's CPU)
    while this coroutine awaits, so the event loop serves other requests meanwhile; the
    next batch is read from the database during that time. Without it, in the caller's
    thread. The text is the same either way."""
    require_export(actor)
    return _staff_csv(session, actor, keyring, offload)


async def _staff_csv(session, actor: Actor, keyring, offload: Offload | None) -> AsyncIterator[str]:
    await one_snapshot(session)  # one moment of the directory, batch after batch
    personal = actor.can(Permit.VIEW_PERSONAL_DATA)
    fields = [f for f in await list_fields(session, actor) if personal or not f.personal]
    statuses = await statuses_by_id(session, actor.account_id)
    columns = [c for c in COLUMNS if personal or not c.personal]
    header = [c.header for c in columns] + [f.name for f in fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    yield "\ufeff" + buffer.getvalue()

    # Each batch is read straight from the driver (``Prepared.raw``) as the driver's own
    # values, with its managers' sids in the same statement, and goes to ``render`` as it
    # came: the values' conversion (dates, enums, booleans) happens there too, not here.
    names = ["id", "account_id", "sid", "restricted", "manager_id", "status_id"]
    names += [c.column for c in columns if c.column not in names]
    # the change stamps (``modifiedAt`` is the latest of those the caller sees of a row)
    names += [n for n in stamps.seen(details=True, personal=personal) if n not in names]
    at = {name: i for i, name in enumerate(names)}
    latest_of = {
        details: tuple(at[n] for n in stamps.seen(details=details, personal=personal))
        for details in (False, True)
    }
    cells: list[tuple[str, int, bool, str]] = []
    for c in columns:
        if c.field.name == "manager_id":
            kind = "manager"
        elif c.field.name == "status_id":
            kind = "status"
        elif c.field.name == stamps.SHOWN_STAMP:
            kind = "stamp"
        else:
            kind = "secret" if c.field.encrypted else "value"
        cells.append((kind, at[c.column], c.details, c.field.name))
    connection = await connection_of(session)
    dialect = connection.dialect
    field_ids = [f.id for f in fields]
    plan: Plan | None = None

    begun = offload.requests_begun() if offload is not None else 0

    def size() -> int:
        """Rows in the next batch: fewer while interactive requests come in."""
        nonlocal begun
        if offload is None:
            return BATCH
        then, begun = begun, offload.requests_begun()
        return BATCH if begun == then else min(BATCH, BATCH_BESIDE_REQUESTS)

    async def batch(after: int) -> tuple[int, Batch] | None:
        nonlocal plan
        params = {"account_id": actor.account_id, "after": after}
        rows, coltypes = await _rows_statement(tuple(names), size()).raw(connection, params)
        if not rows:
            return None
        if plan is None:
            plan = Plan(
                f"{dialect.name}+{dialect.driver}",
                tuple(names),
                coltypes,
                cells,
                field_ids,
                {i: s.name for i, s in statuses.items()},
                latest_of,
            )
        # who sees what is decided here, by the domain's rule, on the driver's values
        details = [access.can_see_details(actor, r[0], r[3]) for r in rows]
        values: list = []
        if field_ids and any(details):
            params["last"] = rows[-1][0]
            values, _ = await VALUES.raw(connection, params)
        return rows[-1][0], (rows, details, values)

    next_batch = await batch(0)
    while next_batch is not None:
        last_id, rows_read = next_batch
        assert plan is not None
        if offload is None:
            yield render(keyring, plan, rows_read)
            next_batch = await batch(last_id)
            continue
        rendering = asyncio.ensure_future(offload.run(render, plan, rows_read))
        try:
            await offload.pause()  # interactive requests first
            next_batch = await batch(last_id)  # read while the batch renders
            text = await rendering
        finally:
            rendering.cancel()
        yield text


class Plan(NamedTuple):
    """What every batch of one export is rendered with (``render``)."""

    dialect: str  # "sqlite+aiosqlite": the dialect whose result processors convert rows
    names: tuple[str, ...]  # the Staff columns read (``_rows_statement``)
    coltypes: tuple  # of each column read (``app.db.prepared.converter``)
    cells: list[tuple[str, int, bool, str]]  # (kind, column index, needs details, field)
    field_ids: list[int]  # the custom fields exported, in order
    statuses: dict[int, str]  # the account's staff statuses' names by id
    # the stamps' column indexes whose latest is a row's modifiedAt, by whether the
    # caller sees the row's details (``app.staff.stamps.seen``)
    latest_of: dict[bool, tuple[int, ...]]


# The driver's rows, whether each row's details are shown, and the batch's custom values
# as (staff id, field id, value).
Batch = tuple[list[tuple], list[bool], list[tuple]]

_ROWS: dict[tuple, Prepared] = {}  # by the columns' names and the batch size


def _rows_statement(names: tuple[str, ...], size: int) -> Prepared:
    """A batch of ``size`` of the account's staff after an id: ``names``' columns, then the
    manager's sid (one of two sets of columns: with or without personal data)."""
    found = _ROWS.get((*names, size))
    if found is None:
        manager = aliased(Staff)
        found = _ROWS[(*names, size)] = Prepared(
            select(*[getattr(Staff, name) for name in names], manager.sid)
            .select_from(Staff)
            .outerjoin(manager, manager.id == Staff.manager_id)
            .where(Staff.account_id == bindparam("account_id"), Staff.id > bindparam("after"))
            .order_by(Staff.id)
            .limit(size)
        )
    return found


VALUES = Prepared(
    select(CustomFieldValue.staff_id, CustomFieldValue.field_id, CustomFieldValue.value).where(
        CustomFieldValue.account_id == bindparam("account_id"),
        CustomFieldValue.staff_id > bindparam("after"),
        CustomFieldValue.staff_id <= bindparam("last"),
    )
)
"""The custom values of a batch's staff (ids after ``after`` up to ``last``)."""

_CONVERTERS: dict[tuple, Callable[[list], list]] = {}


def _converter(plan: Plan) -> Callable[[list], list]:
    key = (plan.dialect, plan.names, plan.coltypes)
    found = _CONVERTERS.get(key)
    if found is None:
        dialect = make_url(f"{plan.dialect}://").get_dialect()()
        statement = _rows_statement(plan.names, BATCH).statement  # the columns' types
        found = _CONVERTERS[key] = converter(statement, dialect, plan.coltypes)
    return found


def render(keyring, plan: Plan, batch: Batch) -> str:
    """One batch of CSV lines from the driver's rows as ``_staff_csv`` reads them. Runs in
    a worker (``app.offload``), so it uses only its arguments."""
    rows, shown, values = batch
    custom_of: dict[int, dict[int, str]] = {}
    for staff_id, field_id, value in values:
        custom_of.setdefault(staff_id, {})[field_id] = value
    statuses, field_ids = plan.statuses, plan.field_ids
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row, details in zip(_converter(plan)(rows), shown, strict=True):
        line = []
        for kind, i, needs_details, name in plan.cells:
            if needs_details and not details:
                line.append("")
                continue
            if kind == "manager":
                value = row[-1]
            elif kind == "status":
                value = statuses.get(row[5])
            elif kind == "stamp":
                value = max(row[j] for j in plan.latest_of[details] if row[j] is not None)
                value = value.isoformat()
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
        if details:
            custom = custom_of.get(row[0], {})
            line += [neutralise(custom.get(f)) for f in field_ids]
        else:
            line += [""] * len(field_ids)
        writer.writerow(line)
    return buffer.getvalue()
