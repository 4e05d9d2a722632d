"""Bulk import of staff records from a CSV file: the columns of the CSV export.

The headers are the export's (``app.staff.export.COLUMNS``, from the staff field table
``STAFF``) and the account's active custom fields by name, so an export imports again;
an unknown or repeated header, or one the actor may not write, refuses the whole file.
Columns the import does not write (``sid``, ``accountStatus``, ``createdAt``,
``modifiedAt``; ``role`` of existing records, which changes through staffRoleChange) are
read and ignored. A blank cell clears the field; cells the export neutralised for
spreadsheets (a leading apostrophe) are read back as they were. A row with fewer cells
than the header has columns leaves the missing ones out, as if their columns were not in
the file (a writer that drops trailing empty cells must not clear a record's fields, as
a blank cell would); a row with more is refused
(``_overflow``): its cells past the last column have no header to go to, and dropping them
would lose what a column shifted in a spreadsheet moved there. An extra cell is refused
even when it is empty (a trailing comma): spreadsheets (Excel, LibreOffice) write the
header row as wide as every other row (a cell used past the header gives it an empty
header, which refuses the file), so an empty cell past the header comes from a row shifted
right whose last cell was blank, or from a hand-made file; neither should import silently.

What reading a file costs is bounded by the import's limits, not by the file: a header
wider than the export's columns and every custom field an account may have
(``_max_columns``) refuses the file with one problem, as does a row wider than that,
before the csv reader makes its cells (``_Lines``); at most MAX_ROWS rows, and
MAX_BLANK_ROWS blank ones, are read; the header's problems stop at the MAX_REPORTED
named. Reading and checking rows gives the event loop's other tasks their turns
(``ROWS_BETWEEN_TURNS``).

Each row updates the record of the account it names by ``externalId``, else by
``email`` (matching by email takes the ViewPersonalData permit, as the email column
does), or creates one. Another account's records never match, and a record is matched by
one row: a later row that finds it (by its other key) is that row's error. Every row is
validated in full before anything is written: a dry run (the default) returns the report;
an apply writes every row in the caller's transaction, or nothing when any row has an
error. A custom value a concurrent write set meanwhile is written over, as
staffCustomFieldsSet does (``insert_values``).
Created records with an email can be invited (seats and the invitation rate limit are
taken for the whole batch first).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import enum
import functools
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import Boolean, Date, Integer, String, select
from sqlalchemy import Enum as EnumType

from app.access import ROLE_PERMITS, Actor, Permit, Role, refusal_to_hand_out
from app.accounts.service import lock_account, next_staff_sid, reserve_seats, takes_seat
from app.custom_fields.models import CustomField, CustomFieldValue
from app.custom_fields.service import (
    MAX_FIELDS,
    hold_fields,
    insert_values,
    list_fields,
    normalise,
)
from app.db.base import id_from_digits, utcnow
from app.db.removal import remove_all
from app.db.unique import claim
from app.errors import MAX_REPORTED, DomainError, ErrorCode, Forbidden, ValidationFailed
from app.fields import NEEDS_DETAILS, NEEDS_PERSONAL_DATA, Field, Write
from app.security.crypto import Keyring
from app.staff import access, stamps
from app.staff.errors import ExternalIdTaken, ManagerCycle, StaffEmailTaken
from app.staff.export import COLUMNS, plain
from app.staff.fields import STAFF
from app.staff.models import Staff, StaffKind, StaffShare, StaffStatus, default_role
from app.staff.readdress import readdress_many
from app.staff.service import (
    RECORD_KEYS_TAKEN,
    apply_values,
    carried,
    dates_problem,
    in_manager_cycles,
    read_secret,
)
from app.validation import date_of, integer_of, name_key, number_of, sort_key

MAX_ROWS = 10_000
MAX_BLANK_ROWS = MAX_ROWS  # besides: skipped, but read
CHUNK = 500  # ids, emails... per IN (...) of a lookup
# Rows read, or checked, between two turns of the event loop's other tasks: checking a row
# of every column takes up to a millisecond of the process's one thread, and the server's
# other requests wait for it meanwhile.
ROWS_BETWEEN_TURNS = 50

Progress = Callable[[str, int, int], None]  # (phase, done, total)


class RowAction(enum.StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    UNCHANGED = "UNCHANGED"
    ERROR = "ERROR"


@dataclass(frozen=True)
class RowError:
    row: int  # the record's number in the file, the header being row 1
    column: str | None  # the header concerned, if one
    code: ErrorCode
    message: str


@dataclass
class RowReport:
    row: int
    action: RowAction
    staff_id: int | None = None  # the record updated (or, once applied, created)
    changed: list[str] = field(default_factory=list)  # headers whose values change
    errors: list[RowError] = field(default_factory=list)


@dataclass
class ImportReport:
    applied: bool
    rows: list[RowReport]
    invited: int = 0  # invitations sent (applied) or that would be sent

    def count(self, action: RowAction) -> int:
        return sum(1 for r in self.rows if r.action is action)

    @property
    def errors(self) -> list[RowError]:
        return [e for r in self.rows for e in r.errors]


# --- the file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    header: str
    field: Field | None  # a staff field (None: a custom field)
    part: str | None = None  # the address part of a multi-column field
    # a read-only record (its options a list): hashed by the rest
    custom: CustomField | None = dataclasses.field(default=None, hash=False)
    written: bool = True  # False: read and ignored


def _plain(cell: str) -> str | None:
    """A cell's value: blank is None; the export's neutralising apostrophe is dropped
    (``app.staff.export.plain``, the inverse of its ``neutralise``)."""
    cell = plain(cell)
    return cell if cell.strip() else None


def _file_error(message: str, column: str | None = None, code=ErrorCode.INVALID) -> DomainError:
    return DomainError(message, field=["csv", column] if column else ["csv"], code=code)


def _too_large(limit: int, where: str = "csv") -> ValidationFailed:
    size = f"{limit / 1_048_576:g} MB" if limit >= 1_048_576 else f"{limit} bytes"
    return ValidationFailed(
        [DomainError(f"The file is over {size}.", field=[where], code=ErrorCode.TOO_LONG)]
    )


async def read_file(chunks: AsyncIterator[bytes], limit: int) -> str:
    """An uploaded file's text, read chunk by chunk: past ``limit`` bytes reading stops
    with TOO_LONG (the rest is never read); not UTF-8 is INVALID."""
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise _too_large(limit, "file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(
            [DomainError("The file is not UTF-8 text.", field=["file"])]
        ) from None


def _max_columns() -> int:
    """The widest header a file may have: every column of the export, and one per custom
    field an account may have. A row is not read wider than this either."""
    return len(COLUMNS) + MAX_FIELDS


# One cell of a row as the csv module reads it (its default dialect, not strict): quoted
# (a doubled quote is one quote; what follows the closing quote up to a comma or the line's
# end is part of the cell too), or plain (a quote in it is a character); line breaks end
# the row outside quotes. Possessive and atomic: a failed match never backtracks.
_CELL = r'(?>"[^"]*+(?:""[^"]*+)*+(?:"[^,\r\n]*+)?|[^,\r\n]*+)'


@functools.cache
def _wider_than(width: int) -> re.Pattern[str]:
    """Matches at the start of a row that has more than ``width`` cells (its first
    ``width`` cells, each with the comma after it), without making any cell."""
    return re.compile(f"(?:{_CELL},){{{width}}}")


class _TooWide(Exception):
    """The row being read has more cells than ``_max_columns``."""


class _Lines:
    """The text's lines as the csv reader asks for them, a row at a time (``row``), ended
    as io.StringIO(newline="") ends them ("\\r\\n", "\\r" or "\\n"). Once a row's lines
    hold more than ``width`` commas, the row is read again from its start by
    ``_wider_than``, and if it has more than ``width`` cells it is refused (``_TooWide``)
    before the reader makes them (a line of a million commas would be a million cells)
    and before its line is copied out of the text."""

    def __init__(self, text: str, width: int):
        self._text = text
        self._width = width
        self._at = 0  # where the next line starts
        self._start = 0  # where the row being read starts
        self._commas = 0  # in its lines so far
        self._ends = {"\r": -1, "\n": -1}  # where each line break is next (-1: look again)

    def row(self) -> None:
        """The reader's next line begins a row (it asks for a row's lines only)."""
        self._start, self._commas = self._at, 0

    def __iter__(self) -> _Lines:
        return self

    def _next(self, character: str) -> int:
        """Where ``character`` is next from the line's start (or the text's end): each is
        looked for again only once passed, so the text is searched once in all."""
        text, at = self._text, self._at
        if self._ends[character] < at:
            found = text.find(character, at)
            self._ends[character] = found if found >= 0 else len(text)
        return self._ends[character]

    def __next__(self) -> str:
        text, start = self._text, self._at
        if start >= len(text):
            raise StopIteration
        end = min(self._next("\r"), self._next("\n"))
        end += 2 if text.startswith("\r\n", end) else 1
        self._at = min(end, len(text))
        before, self._commas = self._commas, self._commas + text.count(",", start, self._at)
        if before <= self._width < self._commas and _wider_than(self._width).match(
            text, self._start
        ):
            raise _TooWide
        return text[start : self._at]


async def _read(text: str, limit: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the rows that hold something, each with its record's number in the
    file (the header is 1; blank rows are skipped but counted, as a spreadsheet shows
    them). What is read before a refusal is bounded by the limits whatever the file holds:
    at most MAX_ROWS rows and MAX_BLANK_ROWS blank ones are read, each of at most
    ``_max_columns`` cells, and other tasks run between (``ROWS_BETWEEN_TURNS``)."""
    if len(text) > limit or len(text.encode("utf-8")) > limit:
        raise _too_large(limit)
    width = _max_columns()
    lines = _Lines(text.removeprefix("\ufeff"), width)
    reader = csv.reader(lines)

    def row(number: int) -> list[str] | None:
        lines.row()
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            raise ValidationFailed([_file_error(f"Not a CSV file: {exc}.")]) from None
        except _TooWide:
            cells = None
            too_wide = True
        else:
            too_wide = cells is not None and len(cells) > width
        if too_wide:
            raise ValidationFailed(
                [
                    _file_error(
                        f"The header has more than {width} columns: a file has the export's "
                        f"{len(COLUMNS)} and one per custom field (at most {MAX_FIELDS})."
                        if number == 1
                        else f"Row {number} has more than {width} cells, more than any "
                        "header has columns."
                    )
                ]
            )
        return cells

    header = row(1)
    if header is None or not any(c.strip() for c in header):
        raise ValidationFailed(
            [_file_error("The file has no header row.", code=ErrorCode.REQUIRED)]
        )
    body: list[tuple[int, list[str]]] = []
    blank = 0
    for number in itertools.count(2):
        if (cells := row(number)) is None:
            break
        if any(c.strip() for c in cells):
            if len(body) == MAX_ROWS:
                raise ValidationFailed(
                    [_file_error(f"At most {MAX_ROWS} rows at once.", code=ErrorCode.LIMIT_REACHED)]
                )
            body.append((number, cells))
        elif (blank := blank + 1) > MAX_BLANK_ROWS:
            raise ValidationFailed(
                [
                    _file_error(
                        f"At most {MAX_BLANK_ROWS} blank rows at once.",
                        code=ErrorCode.LIMIT_REACHED,
                    )
                ]
            )
        if number % ROWS_BETWEEN_TURNS == 0:
            await asyncio.sleep(0)
    return header, body


async def _held(session, actor: Actor, columns: list[_Column]) -> list[_Column]:
    """The columns with their custom fields held until the values are written, as they are
    once held (``hold_fields``): the values are checked against the options a change made
    meanwhile left, and a field archived or made personal meanwhile refuses the file as it
    would have at the start. Only the file's own fields are held: an import without
    custom columns keeps no field's changes waiting."""
    ids = [c.custom.id for c in columns if c.custom is not None]
    if not ids:
        return columns
    held = await hold_fields(session, actor, ids)
    personal = actor.can(Permit.VIEW_PERSONAL_DATA)
    errors: list[DomainError] = []
    kept: list[_Column] = []
    for column in columns:
        if column.custom is None:
            kept.append(column)
            continue
        field_ = held.get(column.custom.id)
        if field_ is None:
            errors.append(
                DomainError(
                    f"The custom field {column.header!r} was archived meanwhile.",
                    field=["csv", column.header],
                    code=ErrorCode.ARCHIVED,
                )
            )
        elif field_.personal and not personal:
            errors.append(Forbidden("This field is personal data.", field=["csv", column.header]))
        else:
            kept.append(dataclasses.replace(column, custom=field_))
    if errors:
        raise ValidationFailed(errors)
    return kept


def _columns(actor: Actor, header: list[str], custom: list[CustomField]) -> list[_Column]:
    """The file's columns by the export's headers; problems with them refuse the file (the
    first MAX_REPORTED are named)."""
    staff_headers = {c.header.casefold(): c for c in COLUMNS}
    custom_by_key = {name_key(f.name): f for f in custom}
    personal = actor.can(Permit.VIEW_PERSONAL_DATA)
    admin = actor.can(Permit.EDIT_RESTRICTED_STAFF)
    errors: list[DomainError] = []
    seen: set[str] = set()
    columns: list[_Column] = []
    for raw in header:
        if len(errors) >= MAX_REPORTED:
            break
        name = _plain(raw.strip()) or ""
        if name and name.casefold() in seen:  # a column without a header is told below
            errors.append(_file_error(f"The column {name!r} appears twice.", name))
        seen.add(name.casefold())
        found = staff_headers.get(name.casefold())
        if found is not None:
            row = found.field
            part = found.column.removeprefix(f"{row.name}_") if len(row.columns) > 1 else None
            written = row.write is not Write.NOBODY or row.name == "role"
            if row.write is Write.ADMINISTRATORS and not admin:
                errors.append(
                    Forbidden(
                        row.denied or "Only administrators change this field.", field=["csv", name]
                    )
                )
            elif row.visibility in NEEDS_PERSONAL_DATA and not personal:
                errors.append(
                    Forbidden(
                        "Importing personal data (and matching by email) needs the "
                        "ViewPersonalData permit.",
                        field=["csv", name],
                    )
                )
            columns.append(_Column(found.header, row, part, written=written))
            continue
        field_ = custom_by_key.get(name_key(name)) if name else None
        if field_ is not None:
            if field_.personal and not personal:
                errors.append(Forbidden("This field is personal data.", field=["csv", name]))
            columns.append(_Column(field_.name, None, custom=field_))
            continue
        errors.append(
            _file_error(
                f"Unknown column {name!r}: use the headers of the staff CSV export."
                if name
                else "A column has no header.",
                name or None,
            )
        )
    if errors:
        raise ValidationFailed(errors)
    return columns


# --- cells to values ---------------------------------------------------------------------


def _typed(row: Field, text: str | None):
    """A cell as its field's cleaner takes it: by the model column's type (text, and
    numbers' text, as they are)."""
    if text is None:
        return None
    if row.encrypted or row.name in ("manager_id", "status_id"):
        return text.strip()
    column = Staff.__table__.c[row.columns[0]]
    if isinstance(column.type, String) and not isinstance(column.type, EnumType):
        return text  # as written: the field's cleaner trims what it changes
    text = text.strip()
    kind = column.type
    if isinstance(kind, Boolean):
        folded = text.casefold()
        if folded in ("true", "1", "yes", "y"):
            return True
        if folded in ("false", "0", "no", "n"):
            return False
        raise DomainError("Must be true or false.", field=[row.name])
    # dates and numbers as every surface reads them (``date_of``, ``integer_of``)
    if isinstance(kind, Date):
        if (day := date_of(text)) is None:
            raise DomainError("Enter a date as YYYY-MM-DD.", field=[row.name])
        return day
    if isinstance(kind, Integer):
        if (number := integer_of(text)) is None:
            raise DomainError("Must be a whole number.", field=[row.name])
        return number
    if isinstance(kind, EnumType) and kind.enum_class is not None:
        for member in kind.enum_class:
            if member.value.casefold() == text.casefold():
                return member
        choices = ", ".join(m.value for m in kind.enum_class)
        raise DomainError(f"Must be one of: {choices}.", field=[row.name])
    return text


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _same(row: Field, before, after) -> bool:
    """Whether a value (a cell's, or cleaned) is what the record holds: blank is blank;
    numbers by value ("12.50" is 12.5) where the field is a number; text as its trimmed
    characters (a zip, an SSN, a phone or an external id "0123" is not "123")."""
    if _blank(before) or _blank(after):
        return _blank(before) and _blank(after)
    if row.number:
        number = number_of(str(before))
        return number is not None and number == number_of(str(after))
    if isinstance(before, str) and isinstance(after, str):
        return before.strip() == after.strip()
    return before == after


@dataclass
class _Plan:
    report: RowReport
    staff: Staff | None  # the record matched (None: a new one)
    values: dict  # field -> cleaned value to write
    custom: dict  # custom field id -> canonical text (None clears)
    email: str | None = None
    external_id: str | None = None


@dataclass
class _Lookups:
    by_email: dict[str, Staff]
    by_external_id: dict[str, Staff]
    manager_ids: dict[int, int]  # sid -> id
    statuses: dict[str, StaffStatus]  # name_key -> status
    managers: dict[int, int | None]  # id -> manager_id, the whole account
    custom_values: dict[tuple[int, int], str]  # (staff id, field id) -> value
    carried: dict[int, access.Carried]  # what records without a login hold for a joiner


async def _lookups(
    session, actor: Actor, rows: list[dict[str, str | None]], custom: bool
) -> _Lookups:
    def cleaned(header: str, clean) -> set:
        out = set()
        for r in rows:
            try:
                value = clean(r.get(header))
            except (DomainError, ValueError):
                continue
            if value is not None:
                out.add(value)
        return out

    emails = cleaned("email", lambda v: STAFF["email"].cleaned(v))
    external_ids = cleaned("externalId", lambda v: STAFF["external_id"].cleaned(v))
    # a sid in ASCII digits that fits the column ("²" and "٣" name none; a number past the
    # column would fail the statement)
    sids = cleaned("managerSid", lambda v: id_from_digits(v.strip()) if v is not None else None)
    found: dict[int, Staff] = {}
    account = Staff.account_id == actor.account_id
    for values, column in (
        (sorted(emails), Staff.email),
        (sorted(external_ids), Staff.external_id),
    ):
        for i in range(0, len(values), CHUNK):
            for staff in await session.scalars(
                select(Staff).where(account, column.in_(values[i : i + CHUNK]))
            ):
                found[staff.id] = staff
    manager_ids: dict[int, int] = {}
    listed = sorted(sids)
    for i in range(0, len(listed), CHUNK):
        for staff_id, sid in await session.execute(
            select(Staff.id, Staff.sid).where(account, Staff.sid.in_(listed[i : i + CHUNK]))
        ):
            manager_ids[sid] = staff_id
    managers = {
        staff_id: manager_id
        for staff_id, manager_id in await session.execute(
            select(Staff.id, Staff.manager_id).where(account)
        )
    }
    statuses = {
        s.name_key: s
        for s in await session.scalars(
            select(StaffStatus).where(StaffStatus.account_id == actor.account_id)
        )
    }
    custom_values: dict[tuple[int, int], str] = {}
    if custom and found:
        ids = sorted(found)
        for i in range(0, len(ids), CHUNK):
            for value in await session.scalars(
                select(CustomFieldValue).where(CustomFieldValue.staff_id.in_(ids[i : i + CHUNK]))
            ):
                custom_values[value.staff_id, value.field_id] = value.value
    return _Lookups(
        by_email={s.email: s for s in found.values() if s.email},
        by_external_id={s.external_id: s for s in found.values() if s.external_id},
        manager_ids=manager_ids,
        statuses=statuses,
        managers=managers,
        custom_values=custom_values,
        carried=await carried(session, found.values()),
    )


def _error(number: int, exc: DomainError, headers: dict[str, str]) -> list[RowError]:
    errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
    out = []
    for e in errors:
        path = e.field or []
        name = path[0] if path else None
        column = headers.get(name, name) if name else None
        if len(path) > 1 and name in headers:  # address.street -> addressStreet
            column = headers.get(f"{name}.{path[1]}", column)
        out.append(RowError(number, column, e.code, e.message))
    return out


def _overflow(number: int, cells: list[str], width: int) -> RowError | None:
    """The error of a row with more cells than the header's ``width`` columns, empty
    extra cells included (see the module's docstring), or None."""
    if len(cells) <= width:
        return None
    extra = len(cells) - width
    which, them = (
        ("its last cell has", "it") if extra == 1 else (f"its last {extra} cells have", "them")
    )
    return RowError(
        number,
        None,  # they have no header
        ErrorCode.INVALID,
        f"The row has {len(cells)} cells but the header has {width} columns: {which} no "
        f"column to go to (a column shifted, or a trailing comma?): remove {them} or fix the row.",
    )


class _Row:
    """One row being planned: its problems are collected, never raised."""

    def __init__(self, number: int, headers: dict[str, str]):
        self.number = number
        self.headers = headers
        self.errors: list[RowError] = []

    def fail(self, exc: DomainError) -> None:
        self.errors.extend(_error(self.number, exc, self.headers))


def _plan_row(
    actor: Actor,
    keyring: Keyring,
    number: int,
    cells: dict[_Column, str | None],
    look: _Lookups,
    seen: dict[tuple[str, str], int],
    matched: dict[int, int],
    headers: dict[str, str],
) -> _Plan:
    """The plan of one row (``seen``: the rows before by their keys; ``matched``: by the
    records they update, their ids)."""
    row = _Row(number, headers)
    given: dict[str, object] = {}  # field -> typed input (address: its parts)
    custom: dict[int, str | None] = {}
    refused: dict[int, tuple[str, RowError]] = {}  # custom values the rules refuse
    for column, text in cells.items():
        if column.custom is not None:
            try:
                custom[column.custom.id] = (
                    None if text is None else normalise(column.custom, text, [column.header])
                )
            except DomainError as exc:
                error = RowError(number, column.header, exc.code, exc.message)
                row.errors.append(error)
                assert text is not None
                refused[column.custom.id] = (text.strip(), error)
            continue
        assert column.field is not None
        if not column.written:
            continue
        f = column.field
        if column.part is not None:
            parts = given.setdefault(f.name, {})
            assert isinstance(parts, dict)
            parts[column.part] = None if text is None else text.strip()
            continue
        try:
            given[f.name] = _typed(f, text)
        except DomainError as exc:
            row.fail(exc)
    # which record
    email = external_id = None
    try:
        email = STAFF["email"].cleaned(given["email"]) if "email" in given else None
    except DomainError:
        pass
    try:
        external_id = (
            STAFF["external_id"].cleaned(given["external_id"]) if "external_id" in given else None
        )
    except DomainError:
        pass
    staff = look.by_external_id.get(external_id) if external_id else None
    by_email = look.by_email.get(email) if email else None
    if staff is not None and by_email is not None and by_email.id != staff.id:
        row.fail(
            DomainError(
                f"The externalId is staff member {staff.sid}'s, the email {by_email.sid}'s.",
                field=["email"],
                code=ErrorCode.INVALID,
            )
        )
    match_key = "externalId" if staff is not None else "email"
    staff = staff or by_email
    duplicate = False
    for key, value in (("externalId", external_id), ("email", email)):
        if value is None:
            continue
        if (key, value) in seen:
            row.errors.append(
                RowError(number, key, ErrorCode.TAKEN, f"Duplicate of row {seen[key, value]}.")
            )
            duplicate = True
        else:
            seen[key, value] = number
    if staff is not None:
        # another row's record by its other key (its externalId there, its email here):
        # one record is written by one row
        first = matched.setdefault(staff.id, number)
        if first != number and not duplicate:
            row.errors.append(
                RowError(
                    number,
                    match_key,
                    ErrorCode.TAKEN,
                    f"The row updates the same record as row {first} (staff member "
                    f"{staff.sid}).",
                )
            )
    # references by what names them
    if "manager_id" in given and given["manager_id"] is not None:
        sid = id_from_digits(str(given["manager_id"]).strip())
        manager_id = look.manager_ids.get(sid) if sid is not None else None
        if manager_id is None:
            row.fail(
                DomainError(
                    "No staff member has this sid.", field=["manager_id"], code=ErrorCode.NOT_FOUND
                )
            )
            del given["manager_id"]
        else:
            given["manager_id"] = manager_id
    if "status_id" in given and given["status_id"] is not None:
        status = look.statuses.get(name_key(str(given["status_id"])))
        if status is None:
            row.fail(
                DomainError(
                    "No staff status has this name.", field=["status_id"], code=ErrorCode.NOT_FOUND
                )
            )
            del given["status_id"]
        else:
            before = staff.status_id if staff is not None else None
            if status.archived and status.id != before:
                row.fail(
                    DomainError(
                        "That status is archived.", field=["status_id"], code=ErrorCode.ARCHIVED
                    )
                )
            given["status_id"] = status.id
    if staff is None:
        return _plan_create(actor, row, given, custom, email, external_id)
    if access.can_see_details(actor, staff.id, staff.restricted):
        # (else the record's values are not the caller's to compare with: refused alike)
        for field_id, (text, error) in refused.items():
            if look.custom_values.get((staff.id, field_id)) == text:
                # the record's own value, unchanged: stored before the rules refused it
                # (an export imports again), and nothing is written
                row.errors.remove(error)
                custom[field_id] = text
    return _plan_update(actor, keyring, row, staff, given, custom, look, email, external_id)


def _clean(row: _Row, given: dict) -> dict:
    values = {}
    for name, value in given.items():
        try:
            values[name] = STAFF[name].cleaned(value)
        except DomainError as exc:
            row.fail(exc)
        except (ValueError, TypeError):
            row.fail(DomainError("Not a valid value.", field=[name]))
    return values


def _plan_create(actor, row: _Row, given, custom, email, external_id) -> _Plan:
    if not actor.can(Permit.ADD_STAFF):
        row.fail(Forbidden("You may not add staff members.", field=None))
    # a blank cell of a new record is not given: the defaults of an added record apply
    given = {n: v for n, v in given.items() if v is not None and v != {}}
    given = {"capacity": 160, "kind": StaffKind.EMPLOYEE, **given}
    given.setdefault("first_name", None)
    given.setdefault("last_name", None)
    if given.get("kind") is None:
        given["kind"] = StaffKind.EMPLOYEE
    if given.get("role") is None:
        given["role"] = default_role(given["kind"])
    # by rank alone, as a new record's role is checked (``service.create_staff``)
    if refusal := refusal_to_hand_out(actor.role, Role(given["role"])):
        row.fail(Forbidden(refusal, field=["role"]))
    for name, value in given.items():
        if (reason := access.create_denial(actor, name, value)) is not None:
            row.fail(Forbidden(reason, field=[name]))
    values = _clean(row, given)
    if "address" in values and isinstance(values["address"], dict):
        values["address"] = {k: v for k, v in values["address"].items() if v is not None}
    values.setdefault("start_date", date.today())
    _check_dates(row, values.get("start_date"), values.get("term_date"))
    report = RowReport(
        row.number,
        RowAction.ERROR if row.errors else RowAction.CREATE,
        changed=sorted(row.headers.get(n, n) for n, v in given.items() if v is not None)
        + [row.headers[f"custom:{k}"] for k, v in custom.items() if v is not None],
        errors=row.errors,
    )
    return _Plan(
        report, None, values, {k: v for k, v in custom.items() if v is not None}, email, external_id
    )


def _check_dates(row: _Row, start, term) -> None:
    if (problem := dates_problem(start, term)) is not None:
        row.fail(problem)


def _current(keyring: Keyring, staff: Staff, f: Field):
    if f.encrypted:
        return read_secret(keyring, staff, f.name)
    if len(f.columns) > 1:
        return {c.removeprefix(f"{f.name}_"): getattr(staff, c) for c in f.columns}
    return getattr(staff, f.columns[0])


def _plan_update(actor, keyring, row: _Row, staff: Staff, given, custom, look, email, external_id):
    sees_details = access.can_see_details(actor, staff.id, staff.restricted)
    given.pop("role", None)  # roles change through staffRoleChange
    if not sees_details:
        # The export leaves these blank: blank is "not given" here. A value is refused
        # whether or not the record holds it (an answer either way would tell it).
        for name in [n for n in given if STAFF[n].visibility in NEEDS_DETAILS]:
            if given.pop(name) is not None:
                row.fail(
                    Forbidden("You may not see or change this record's details.", field=[name])
                )
        if any(v is not None for v in custom.values()):
            row.fail(Forbidden("You may not see or change this record's details.", field=None))
        custom = {}
    # a value the record already holds is no change (and is not checked again: records
    # may hold values from before a rule, e.g. an owner's blank first name)
    for name, value in list(given.items()):
        f = STAFF[name]
        before = _current(keyring, staff, f)
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if not _same(f, before.get(k), v)}
            if value:
                given[name] = value
            else:
                del given[name]
        elif _same(f, before, value):
            del given[name]
    values = _clean(row, given)
    changed: dict = {}
    for name, value in values.items():
        f = STAFF[name]
        before = _current(keyring, staff, f)
        if isinstance(value, dict):
            parts = {k: v for k, v in value.items() if not _same(f, before.get(k), v)}
            if parts:
                changed[name] = parts
        elif not _same(f, before, value):
            changed[name] = value
    custom_changed = {k: v for k, v in custom.items() if look.custom_values.get((staff.id, k)) != v}
    for name in changed:
        reason = access.write_denial(actor, staff.id, staff.restricted, name)
        if reason is not None:
            row.fail(Forbidden(reason, field=[name]))
    if "email" in changed and (
        denial := access.email_change_denial(actor, staff.id, staff.role)
        or (  # cleared, the record goes to nobody
            access.handover_denial(actor, look.carried.get(staff.id))
            if changed["email"] is not None
            else None
        )
    ):
        row.fail(Forbidden(denial, field=["email"]))
    if custom_changed and not access.can_edit(actor, staff.id, staff.restricted):
        row.fail(Forbidden("You may not edit this staff member.", field=None))
    if "email" in changed and staff.id == actor.staff_id:
        row.fail(
            Forbidden(
                "Change your own email from your profile (it is confirmed by email).",
                field=["email"],
            )
        )
    if "email" in changed and changed["email"] is not None:
        holder = look.by_email.get(changed["email"])
        if holder is not None and holder.id != staff.id:
            row.fail(StaffEmailTaken())
    if "external_id" in changed and changed["external_id"] is not None:
        holder = look.by_external_id.get(changed["external_id"])
        if holder is not None and holder.id != staff.id:
            row.fail(ExternalIdTaken())
    if "manager_id" in changed:
        look.managers[staff.id] = changed["manager_id"]  # checked for cycles once all are known
    _check_dates(
        row,
        values.get("start_date", staff.start_date),
        values.get("term_date", staff.term_date),
    )
    headers = row.headers
    names = [headers.get(n, n) for n in changed if not isinstance(changed[n], dict)]
    names += [
        headers.get(f"{n}.{p}", n) for n, v in changed.items() if isinstance(v, dict) for p in v
    ]
    action = (
        RowAction.ERROR
        if row.errors
        else RowAction.UPDATE
        if changed or custom_changed
        else RowAction.UNCHANGED
    )
    names += [headers[f"custom:{k}"] for k in custom_changed]
    report = RowReport(row.number, action, staff.id, sorted(names), row.errors)
    return _Plan(report, staff, changed, custom_changed, email, external_id)


def _cycles(plans: list[_Plan], managers: dict[int, int | None], headers) -> None:
    """Rows whose new manager makes their record report to itself (``managers``: the
    account's, with the file's changes)."""
    changed = [p for p in plans if p.staff is not None and p.values.get("manager_id") is not None]
    circling = in_manager_cycles(managers, [p.staff.id for p in changed if p.staff])
    for plan in changed:
        if plan.staff is not None and plan.staff.id in circling:
            plan.report.errors.extend(_error(plan.report.row, ManagerCycle(), headers))
            plan.report.action = RowAction.ERROR


# --- what an import may cost -------------------------------------------------------------

ROWS_LIMIT = "staff_import_rows_account"  # rows checked per account (rate_limits.LIMITS)


def _refusal(actor: Actor, invite: bool) -> str | None:
    """Why ``actor`` may not import a file (with ``invite``: and invite its people), or None."""
    if not (actor.can(Permit.ADD_STAFF) or actor.can(Permit.EDIT_STAFF)):
        return "Importing staff needs the AddStaff or EditStaff permit."
    # A file's rows are matched against the whole directory (by sid, external id, email),
    # and its report says which records it would change: only for who reads the directory.
    # An API key without staff:read sees its creator's record alone (as a guest would).
    if not actor.can(Permit.VIEW_STAFF):
        return "Importing staff needs the ViewStaff permit (an API key: staff:read)."
    if invite and not actor.can(Permit.INVITE_USERS):
        return "You may not invite people."
    return None


def rows_counted(data: str | bytes, limit: int) -> int:
    """The rows past the header an import of ``data`` checks, at most, as the rate limit
    counts them: a row per line but the header's, so a blank line, and each line of a
    cell over several, counts as one (telling them apart takes reading the file, which a
    refused request must not cost); no more than MAX_ROWS (a file with more is refused
    once that many are read). A file longer than ``limit`` is refused unread: none."""
    if len(data) > limit or not data:
        return 0
    if isinstance(data, bytes):
        breaks = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
        ended = data.endswith((b"\n", b"\r"))
    else:
        breaks = data.count("\n") + data.count("\r") - data.count("\r\n")
        ended = data.endswith(("\n", "\r"))
    lines = breaks + (0 if ended else 1)
    return min(MAX_ROWS, lines - 1)


async def count_rows(
    session,
    limiter,
    actor: Actor,
    settings,
    text: str | AsyncIterator[bytes],
    *,
    invite: bool = False,
) -> str | AsyncIterator[bytes]:
    """Count the rows an import of ``text`` checks (``rows_counted``) against the
    account's hourly allowance (``ROWS_LIMIT``), before the import and outside its
    savepoint: an import that then fails still counts, and so does a dry run (its rows
    are checked as an apply's are). Only who may import counts (``_refusal``): anyone
    else's refused tries would use up the allowance of who may, and leave an upload
    unread. An upload is read here, no further than a byte past
    ``settings.max_import_bytes``; returned is what ``import_staff`` reads instead."""
    if _refusal(actor, invite) is not None:
        return text
    limit = settings.max_import_bytes
    data: str | bytes = text if isinstance(text, str) else await _read_up_to(text, limit + 1)
    await limiter.hit(session, ROWS_LIMIT, actor.account_id, cost=rows_counted(data, limit))
    return data if isinstance(data, str) else _replay(data)


async def _read_up_to(chunks: AsyncIterator[bytes], size: int) -> bytes:
    """The first ``size`` bytes or more of ``chunks`` (all, if fewer); the rest unread."""
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) >= size:
            break
    return bytes(data)


async def _replay(data: bytes) -> AsyncIterator[bytes]:
    yield data


# --- the import --------------------------------------------------------------------------


async def import_staff(
    session,
    actor: Actor,
    settings,
    text: str | AsyncIterator[bytes],
    *,
    apply: bool = False,
    invite: bool = False,
    limiter=None,
    progress: Progress | None = None,
    at_console: bool = False,
) -> ImportReport:
    """Validate every row of ``text`` (the file's text, or its bytes as they arrive, read
    up to ``settings.max_import_bytes``); with ``apply`` (and no row in error) write them.
    File-level problems raise ValidationFailed; row problems are in the report.
    ``at_console``: the CLI's (``import_as_owner``): its invitations name no inviter."""
    if (refusal := _refusal(actor, invite)) is not None:
        raise Forbidden(refusal)
    if not isinstance(text, str):
        text = await read_file(text, settings.max_import_bytes)
    header, body = await _read(text, settings.max_import_bytes)
    custom = await list_fields(session, actor)
    columns = _columns(actor, header, custom)
    if apply:
        columns = await _held(session, actor, columns)
    headers: dict[str, str] = {}
    for c in columns:
        if c.field is not None:
            headers[f"{c.field.name}.{c.part}" if c.part else c.field.name] = c.header
            headers.setdefault(c.field.name, c.header)
        elif c.custom is not None:
            headers[f"custom:{c.custom.id}"] = c.header
    # a row's cells by header; a column past a short row's last cell is not in it
    by_header = []
    for index, (_, row_cells) in enumerate(body, start=1):
        by_header.append(
            {c.header: _plain(row_cells[i]) for i, c in enumerate(columns) if i < len(row_cells)}
        )
        if index % ROWS_BETWEEN_TURNS == 0:
            await asyncio.sleep(0)
    look = await _lookups(session, actor, by_header, any(c.custom for c in columns))
    seen: dict[tuple[str, str], int] = {}
    matched: dict[int, int] = {}
    plans: list[_Plan] = []
    total = len(body)
    for index, ((number, row), values) in enumerate(zip(body, by_header, strict=True)):
        cells = {c: values[c.header] for c in columns if c.header in values}
        plan = _plan_row(actor, settings.keyring, number, cells, look, seen, matched, headers)
        if (overflow := _overflow(number, row, len(columns))) is not None:
            plan.report.errors.insert(0, overflow)
            plan.report.action = RowAction.ERROR
        plans.append(plan)
        if progress is not None and (index % 250 == 0 or index + 1 == total):
            progress("checking", index + 1, total)
        if (index + 1) % ROWS_BETWEEN_TURNS == 0:
            await asyncio.sleep(0)
    _cycles(plans, look.managers, headers)
    report = ImportReport(applied=False, rows=[p.report for p in plans])
    invitees = [p for p in plans if p.staff is None and p.values.get("email")] if invite else []
    report.invited = len(invitees)
    for plan in invitees:
        # inviting hands the role out: the importer's permits and key decide it, as
        # invitationCreate's (a record alone is checked by rank, ``_plan_create``)
        if refusal := actor.refusal_to_hand_out(Role(plan.values["role"])):
            plan.report.errors.extend(
                _error(plan.report.row, Forbidden(refusal, field=["role"]), headers)
            )
            plan.report.action = RowAction.ERROR
    applying = apply and not report.errors
    if invitees and applying and limiter is not None:
        from app.invitations.service import count_sent

        # counted before the account is locked, as every invitation is (``lock_account``)
        await count_sent(session, limiter, actor, len(invitees))
    if invitees:
        # the whole file's seats at once (not role by role, each against the same free
        # seats), so the dry run refuses what applying would
        account = await lock_account(session, actor.account_id)
        roles = [Role(p.values["role"]) for p in invitees]
        seated = [role for role in roles if takes_seat(account, role)]
        if seated:
            await reserve_seats(session, actor.account_id, len(seated), role=seated[0])
    if not applying:
        return report
    readdressed = [
        (p.staff, p.values["email"])
        for p in plans
        if p.staff is not None and p.report.action is RowAction.UPDATE and "email" in p.values
    ]
    # invitations sent to the records' old addresses no longer join as them
    await readdress_many(session, readdressed)
    personal_fields = {f.id for f in custom if f.personal}
    await _write(session, actor, settings.keyring, plans, personal_fields, progress)
    report.applied = True
    if invitees:
        await _invite(session, actor, settings, invitees, progress, at_console=at_console)
    return report


async def _write(
    session,
    actor: Actor,
    keyring: Keyring,
    plans: list[_Plan],
    personal_fields: set[int],
    progress,
) -> None:
    """Writes the plans' records and custom values (``personal_fields``: the ids of the
    account's personal custom fields, whose changes move a stamp of their own)."""
    creates = [p for p in plans if p.staff is None]
    now = utcnow()
    last = await next_staff_sid(session, actor.account_id, len(creates)) if creates else 0
    new: list[Staff] = []
    for offset, plan in enumerate(creates):
        values = plan.values
        staff = Staff(
            account_id=actor.account_id,
            sid=last - len(creates) + 1 + offset,
            first_name=values["first_name"],
            last_name=values["last_name"],
            last_name_key=sort_key(values["last_name"]),
            created_at=now,
        )
        apply_values(keyring, staff, values)
        plan.staff = staff
        new.append(staff)
    if progress is not None:
        progress("writing", 0, len(plans))
    # the file's emails and external ids were checked against the account's records; a
    # concurrent write may have taken one since (``RECORD_KEYS_TAKEN``)
    async with claim(session, RECORD_KEYS_TAKEN):
        session.add_all(new)
        for plan in plans:
            if plan.report.action is RowAction.UPDATE:
                assert plan.staff is not None
                apply_values(keyring, plan.staff, plan.values)
    added: dict[tuple[int, int], str] = {}  # (staff id, field id) -> a value where none was
    shares: list[StaffShare] = []
    cleared: list[CustomFieldValue] = []
    stored = {}
    updated_custom = [p for p in plans if p.custom and p.report.action is RowAction.UPDATE]
    if updated_custom:
        ids = [p.staff.id for p in updated_custom if p.staff is not None]
        for i in range(0, len(ids), CHUNK):
            for row in await session.scalars(
                select(CustomFieldValue).where(CustomFieldValue.staff_id.in_(ids[i : i + CHUNK]))
            ):
                stored[row.staff_id, row.field_id] = row
    for plan in plans:
        written = plan.staff
        assert written is not None
        if plan.report.action is RowAction.CREATE:
            plan.report.staff_id = written.id
            if written.restricted and Permit.VIEW_RESTRICTED_STAFF not in ROLE_PERMITS[actor.role]:
                shares.append(
                    StaffShare(
                        staff_id=written.id,
                        shared_with_id=actor.staff_id,
                        account_id=actor.account_id,
                    )
                )
        if plan.custom and plan.report.action is RowAction.UPDATE:
            personal = (field_id in personal_fields for field_id in plan.custom)
            stamps.touch_custom_values(written, personal, now)
        for field_id, value in plan.custom.items():
            existing = stored.get((written.id, field_id))
            if value is None:
                if existing is not None:
                    cleared.append(existing)
            elif existing is None:
                added[written.id, field_id] = value
            else:
                existing.value = value
                existing.modified_at = now
    # a value a concurrent import cleared first is gone, as wanted: not cleared again here
    await remove_all(session, cleared)
    # one a concurrent write set first (staffCustomFieldsSet, an import) is written over
    await insert_values(session, actor.account_id, added, now)
    session.add_all(shares)
    await session.flush()
    if progress is not None:
        progress("writing", len(plans), len(plans))


async def _invite(
    session, actor: Actor, settings, invitees: list[_Plan], progress, *, at_console: bool
) -> None:
    from app.invitations.add_staff import as_creator
    from app.invitations.service import InvitationRequest, create_invitation

    for index, plan in enumerate(invitees):
        staff = plan.staff
        assert staff is not None
        request = InvitationRequest(email=staff.email, role=staff.role, staff_id=staff.id)
        try:
            await create_invitation(
                session,
                as_creator(actor, staff),
                settings,
                replace(request),
                at_console=at_console,
            )
        except DomainError as exc:
            raise ValidationFailed(
                [DomainError(f"Row {plan.report.row}: {exc.message}", field=["csv"], code=exc.code)]
            ) from None
        if progress is not None:
            progress("inviting", index + 1, len(invitees))


# --- the operator's import (``roster staff import``) -------------------------------------


async def import_as_owner(
    settings,
    realm: str,
    text: str,
    *,
    apply: bool = False,
    invite: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """The CLI's import: acts with the owner's rights in the account (slug or id) and logs
    an applied import in the audit log as a ``staffImport`` made at the console, by no
    member (as the console's backup is kept: ``record_taken(at_console=True)``): the
    entry, and the webhook events of its rows, name no user and no staff record. The
    operator is not held to the invitation rate limit; seats still count."""
    from app.access import ROLE_PERMITS
    from app.accounts.queries import account_by_realm
    from app.audit import changes
    from app.audit.service import Who, record
    from app.db.engine import Database

    db = Database(settings.database_url)
    try:
        async with db.session(write=True) as session:
            account = await session.scalar(account_by_realm(realm))
            if account is None:
                raise LookupError(f"no account {realm!r}")
            owner = (
                await session.scalars(
                    select(Staff).where(Staff.account_id == account.id, Staff.role == Role.OWNER)
                )
            ).one()  # an account has exactly one owner
            actor = Actor(
                user_id=owner.user_id or 0,
                account_id=account.id,
                staff_id=owner.id,
                role=Role.OWNER,
                permits=ROLE_PERMITS[Role.OWNER],
                account_timezone=account.timezone,
            )
            report = await import_staff(
                session,
                actor,
                settings,
                text,
                apply=apply,
                invite=invite,
                progress=progress,
                at_console=True,
            )
            if report.applied:
                collected = changes.take(session)
                await record(
                    session,
                    action="staffImport",
                    who=Who(None, None, account.id),  # at the console: by no member
                    changes=collected,
                    # its own, as a request's: the parts of a long diff share it
                    request_id=uuid.uuid4().hex,
                    client_address=None,
                )
                await session.commit()
            return report
    finally:
        await db.dispose()
