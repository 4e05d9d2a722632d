"""Custom field definitions per account, and typed values on staff records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit, require
from app.accounts.service import lock_account
from app.custom_fields.errors import FieldArchived, FieldNameReserved, FieldNameTaken
from app.custom_fields.models import CustomField, CustomFieldType, CustomFieldValue
from app.custom_fields.queries import (
    ACCOUNT_FIELDS,
    FIELD_RECORDS,
    FIELDS_THEN_VALUES,
    NAMED_VALUE_COLUMNS,
    NAMED_VALUES,
    VALUE_RECORDS,
)
from app.db.base import utcnow
from app.db.prepared import connection_of
from app.db.removal import remove_all
from app.db.unique import ALREADY_THERE, claim
from app.errors import AccessDenied, DomainError, ErrorCode, Forbidden, NotFound, ValidationFailed
from app.staff import access, stamps
from app.staff.fields import STAFF
from app.staff.models import Staff
from app.staff.service import get_staff
from app.validation import clean_text, date_of, has_bad_characters, name_key, number_of

# a concurrent create or rename that took the name after ``_check_name`` looked
NAME_TAKEN = {"uq_custom_fields_account_id_name_key": FieldNameTaken}

MAX_FIELDS = 100
# Archived fields are kept (their values with them) and keep their names: past this many in
# all, none is made, so a loop of creating and archiving does not grow what every reader
# of ``customFields`` is priced and served (app.accounts.sizes.CAPS).
MAX_FIELDS_KEPT = 1000
MAX_OPTIONS = 100
MAX_OPTION_LENGTH = 100
MAX_VALUE_LENGTH = 2000
# A number has fewer than 16 digits before the point and at most 30 after it (what a
# float's shortest text needs down to 1e-15): written out, as its canonical text is,
# "1e-999999" would be a million characters.
MAX_DECIMALS = 30
# Every digit a number allowed may have, and no rounding of one that has more: rounding
# (Inexact, including a number too small to keep) refuses it instead.
_EXACT = Context(prec=15 + MAX_DECIMALS, traps=[Inexact, InvalidOperation])
MAX_VALUES_PER_CALL = MAX_FIELDS
_CHUNK = 500  # staff ids per IN (...)
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


class FieldValue(NamedTuple):
    """One staff member's value of one field (a tuple: a page reads a few hundred)."""

    field: CustomField  # read-only: a FIELD_RECORDS record from values_for_staff
    value: str
    staff_id: int


def clean_options(field_type: CustomFieldType, options: list[str] | None) -> list[str]:
    if field_type != CustomFieldType.CHOICE:
        if options:
            raise DomainError("Only CHOICE fields have options.", field=["options"])
        return []
    cleaned: list[str] = []
    seen: set[str] = set()
    for index, option in enumerate(options or []):
        text = clean_text(
            option,
            ["options", str(index)],
            max_length=MAX_OPTION_LENGTH,
            required=True,
            label="An option",
        )
        if name_key(text) in seen:
            raise DomainError(f"Option {text!r} appears twice.", field=["options", str(index)])
        seen.add(name_key(text))
        cleaned.append(text)
    if not cleaned:
        raise DomainError("A CHOICE field needs at least one option.", field=["options"])
    if len(cleaned) > MAX_OPTIONS:
        raise DomainError(
            f"At most {MAX_OPTIONS} options.", field=["options"], code=ErrorCode.LIMIT_REACHED
        )
    return cleaned


def _reserved_names() -> frozenset[str]:
    """The name keys of the staff CSV export's own headers, from the staff field table
    (the export's columns are its rows' ``csv`` headers, app.staff.export.COLUMNS); a
    custom field's column follows them under its name, and the import matches headers
    case-insensitively."""
    return frozenset(name_key(header) for row in STAFF for header in row.csv)


def clean_name(name: str | None) -> str:
    """A field's name cleaned, or the error it gives (not one of the export's headers);
    whether another field of the account has it is ``_check_name``'s."""
    name = clean_text(name, "name", max_length=100, required=True, label="Field name", keyed=True)
    if name_key(name) in _reserved_names():
        raise FieldNameReserved(name)
    return name


async def _check_name(session, actor: Actor, name: str | None, exclude_id=None) -> str:
    name = clean_name(name)
    clash = select(CustomField.id).where(
        CustomField.account_id == actor.account_id, CustomField.name_key == name_key(name)
    )
    if exclude_id is not None:
        clash = clash.where(CustomField.id != exclude_id)
    if await session.scalar(clash):
        raise FieldNameTaken()
    return name


async def list_fields(
    session: AsyncSession, actor: Actor, *, include_archived: bool = False
) -> list[CustomField]:
    """The account's definitions, as read-only records (``FIELD_RECORDS``): for the
    directory's members (a guest sees the fields only as values of their own record). The
    session's changes are flushed first, as the ORM's own query would."""
    require(actor, Permit.VIEW_STAFF)
    return await _field_records(session, actor.account_id, include_archived=include_archived)


async def hold_fields(
    session: AsyncSession, actor: Actor, field_ids: list[int]
) -> dict[int, CustomField]:
    """The account's active fields of ``field_ids``, held (shared) until the unit of work
    ends, as ``set_values`` holds the fields it writes, and as they are once held: a change
    of their options or their archiving (which hold a field exclusively, ``get_field``)
    waits for it, or is waited for. A writer that checks values against these options (the
    staff import) so never writes an option removed meanwhile, nor to a field archived
    meanwhile. (On SQLite writers take turns already.)"""
    require(actor, Permit.VIEW_STAFF)
    fields = await session.scalars(
        select(CustomField)
        .where(
            CustomField.account_id == actor.account_id,
            CustomField.id.in_(sorted(set(field_ids))),
            CustomField.archived_at.is_(None),
        )
        .order_by(CustomField.id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    return {f.id: f for f in fields}


async def _field_records(session: AsyncSession, account_id: int, *, include_archived: bool):
    rows = await ACCOUNT_FIELDS[include_archived].read(session, {"account_id": account_id})
    return [FIELD_RECORDS.take(row) for row in rows]


async def get_field(
    session: AsyncSession, actor: Actor, field_id: int, path="id", *, lock: bool = False
) -> CustomField:
    """``lock``: the field's row is held until the unit of work ends (see ``set_values``),
    FOR NO KEY UPDATE: a value's insert elsewhere (its foreign key takes KEY SHARE) does not
    wait on it, so a writer already holding value rows never deadlocks with it."""
    field = await session.get(
        CustomField, field_id, with_for_update={"key_share": True} if lock else None
    )
    if field is None or field.account_id != actor.account_id or not access.sees_directory(actor):
        raise NotFound("Custom field", field=[path])
    return field


async def create_field(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    type: CustomFieldType,
    options: list[str] | None = None,
    personal: bool = False,
    description: str | None = None,
) -> CustomField:
    require(actor, Permit.MANAGE_ACCOUNT)
    name = await _check_name(session, actor, name)
    options = clean_options(type, options)
    description = clean_text(description, "description", max_length=500)
    # counted with the account locked, so concurrent creates never pass the limit (the
    # query cost model relies on it: app.accounts.sizes.CAPS)
    await lock_account(session, actor.account_id)
    active, kept = (
        await session.execute(
            select(
                func.count().filter(CustomField.archived_at.is_(None)), func.count()
            ).where(CustomField.account_id == actor.account_id)
        )
    ).one()
    if active >= MAX_FIELDS:
        raise DomainError(
            f"An account has at most {MAX_FIELDS} active custom fields.",
            code=ErrorCode.LIMIT_REACHED,
        )
    if kept >= MAX_FIELDS_KEPT:
        raise DomainError(
            f"An account keeps at most {MAX_FIELDS_KEPT:,} custom fields, archived ones "
            "included.",
            code=ErrorCode.LIMIT_REACHED,
        )
    field = CustomField(
        account_id=actor.account_id,
        name=name,
        name_key=name_key(name),
        type=type,
        options=options,
        personal=personal,
        description=description,
        created_at=utcnow(),
    )
    async with claim(session, NAME_TAKEN):
        session.add(field)
    return field


async def update_field(
    session: AsyncSession, actor: Actor, field_id: int, changes: dict
) -> CustomField:
    """Rename, change options, description or the personal flag. The type is fixed."""
    require(actor, Permit.MANAGE_ACCOUNT)
    field = await get_field(session, actor, field_id, lock=True)
    if field.archived_at is not None:
        raise FieldArchived(["id"])
    _check_personal_change(actor, field, changes)
    if "name" in changes:
        name = await _check_name(session, actor, changes["name"], exclude_id=field.id)
        async with claim(session, NAME_TAKEN):
            field.name, field.name_key = name, name_key(name)
    if "options" in changes:
        options = clean_options(field.type, changes["options"])
        removed = {name_key(o) for o in field.options} - {name_key(o) for o in options}
        if removed:
            in_use = await session.scalars(
                select(CustomFieldValue.value).where(CustomFieldValue.field_id == field.id)
            )
            used = sorted({v for v in in_use if name_key(v) in removed})
            if used:
                raise DomainError(
                    f"Options still in use cannot be removed: {', '.join(used)}.",
                    field=["options"],
                )
        # an option spelled anew (its case, say) keeps its values, which read as the
        # option is spelled: each one's stored values are rewritten to the new spelling
        old_spelling = {name_key(o): o for o in field.options}
        for option in options:
            before = old_spelling.get(name_key(option))
            if before is not None and before != option:
                await session.execute(
                    update(CustomFieldValue)
                    .where(
                        CustomFieldValue.account_id == actor.account_id,
                        CustomFieldValue.field_id == field.id,
                        CustomFieldValue.value == before,
                    )
                    .values(value=option)
                    .execution_options(synchronize_session="fetch")
                )
        field.options = options
    if "personal" in changes and changes["personal"] is not None:
        field.personal = bool(changes["personal"])
    if "description" in changes:
        field.description = clean_text(changes["description"], "description", max_length=500)
    await session.flush()
    return field


def _check_personal_change(actor: Actor, field: CustomField, changes: dict) -> None:
    """Whether a field's values are personal data is decided only by someone who may see
    personal data, and a personal field's options (whose removal names the values in use,
    whose respelling rewrites them) are changed only by them: otherwise an administrator's
    key without ``personal_data`` could make a personal field ordinary and read its
    values, or have every viewer read them."""
    if actor.can(Permit.VIEW_PERSONAL_DATA):
        return
    personal = changes.get("personal")
    if personal is not None and bool(personal) != field.personal:
        raise Forbidden(
            "Only someone who may see personal data decides whether a field holds it.",
            field=["personal"],
        )
    if field.personal and changes.get("options") is not None:
        raise Forbidden(
            "Only someone who may see personal data changes a personal field's options.",
            field=["options"],
        )


async def archive_field(session: AsyncSession, actor: Actor, field_id: int) -> CustomField:
    """Archive instead of delete: values are kept, hidden, and no longer writable."""
    require(actor, Permit.MANAGE_ACCOUNT)
    field = await get_field(session, actor, field_id, lock=True)
    if field.archived_at is None:
        field.archived_at = utcnow()
        await session.flush()
    return field


def normalise(field: CustomField, raw: str, path: list[str]) -> str:
    """Validate a value against the field's type and return its canonical text."""
    text = raw.strip()
    if len(text) > MAX_VALUE_LENGTH:
        raise DomainError(
            f"A value is at most {MAX_VALUE_LENGTH} characters.",
            field=path,
            code=ErrorCode.TOO_LONG,
        )
    if has_bad_characters(text):
        raise DomainError(f"{field.name} contains characters that are not allowed.", field=path)
    match field.type:
        case CustomFieldType.TEXT:
            return text
        case CustomFieldType.NUMBER:
            # written as the API writes numbers (``number_of``: ASCII digits, no "1_000")
            number = Decimal(text) if number_of(text) is not None else None
            if number is None or not number.is_finite() or number.copy_abs() >= Decimal("1e15"):
                raise DomainError(f"{field.name} must be a number.", field=path)
            try:
                number = number.normalize(_EXACT)
                exact = number.as_tuple().exponent >= -MAX_DECIMALS  # type: ignore[operator]
            except Inexact:  # more digits than any number allowed has
                exact = False
            if not exact:
                raise DomainError(
                    f"{field.name} has at most {MAX_DECIMALS} digits after the point.",
                    field=path,
                )
            canonical = format(number, "f")
            return canonical if canonical != "-0" else "0"
        case CustomFieldType.DATE:
            day = date_of(text)  # as the API reads dates: "20240101" is none
            if day is None:
                raise DomainError(f"{field.name} must be a date (YYYY-MM-DD).", field=path)
            return day.isoformat()
        case CustomFieldType.BOOLEAN:
            if text.casefold() in _TRUE:
                return "true"
            if text.casefold() in _FALSE:
                return "false"
            raise DomainError(f"{field.name} must be true or false.", field=path)
        case CustomFieldType.CHOICE:
            for option in field.options:
                if name_key(option) == name_key(text):
                    return option
            raise DomainError(
                f"{field.name} must be one of: {', '.join(field.options)}.", field=path
            )
    raise DomainError("Unknown field type.", field=path)  # pragma: no cover


def can_see_value(actor: Actor, staff: Staff, field: CustomField) -> bool:
    if not access.can_see_details(actor, staff.id, staff.restricted):
        return False
    return not field.personal or access.can_see_personal(actor, staff.id)


def shown_values(values: list[FieldValue], *, personal: bool) -> list[FieldValue]:
    """``can_see_value`` for the values of one record whose details the viewer sees:
    values of personal fields only if ``personal`` (they see its personal data)."""
    return [v for v in values if personal or not v.field.personal]


async def set_values(
    session: AsyncSession, actor: Actor, staff_id: int, values: list[tuple[int, str | None]]
) -> Staff:
    """Set several values at once; every bad value gets its own error and nothing is written."""
    staff = await get_staff(session, actor, staff_id, field="staff_id", held=True)
    if len(values) > MAX_VALUES_PER_CALL:
        raise DomainError(f"At most {MAX_VALUES_PER_CALL} values at once.", field=["values"])
    editable = access.can_edit(actor, staff.id, staff.restricted)
    is_self = staff.id == actor.staff_id
    if not editable and not is_self:
        raise ValidationFailed(
            [Forbidden("You may not edit this staff member.", field=["staff_id"])]
        )
    ids = [field_id for field_id, _ in values]
    if not access.sees_directory(actor):
        # Who is refused the catalogue (``list_fields``: a guest, a key that does not read
        # the directory) knows the account's fields only as values of the record
        # (``values_of_staff``): any other is not found, as a missing one is (nor held
        # below, nor waited for), so that writing tells nothing of what fields there are,
        # archived or personal, nor their options; of a record whose details they do not
        # see (a project's people, to a key that writes), not even which values it holds:
        # none is known.
        known: set[int] = set()
        if access.can_see_details(actor, staff.id, staff.restricted):
            personal = access.can_see_personal(actor, staff.id)
            set_here = (await values_for_staff(session, actor.account_id, [staff.id]))[staff.id]
            known = {v.field.id for v in shown_values(set_here, personal=personal)}
        ids = [i for i in ids if i in known]
    # The fields are held (shared) until the values are written: a change of their options
    # or their archiving (which hold them exclusively) waits, or is waited for, so no value
    # is written outside the options that are kept, nor to a field archived meanwhile.
    fields = {
        f.id: f
        for f in await session.scalars(
            select(CustomField)
            .where(CustomField.account_id == actor.account_id, CustomField.id.in_(ids))
            .with_for_update(read=True)
        )
    }
    errors: list[DomainError] = []
    planned: dict[int, str | None] = {}
    for index, (field_id, raw) in enumerate(values):
        path = ["values", str(index)]
        field = fields.get(field_id)
        if field is None:
            errors.append(NotFound("Custom field", field=[*path, "field_id"]))
            continue
        if field.archived_at is not None:
            errors.append(FieldArchived([*path, "field_id"]))
            continue
        if field.personal and not (
            access.owns_personal_data(actor, staff.id)
            or (editable and actor.can(Permit.VIEW_PERSONAL_DATA))
        ):
            errors.append(Forbidden("This field is personal data.", field=[*path, "value"]))
            continue
        if not field.personal and not editable:
            errors.append(Forbidden("You may not edit this field.", field=[*path, "value"]))
            continue
        if field_id in planned:
            errors.append(DomainError("The same field appears twice.", field=[*path, "field_id"]))
            continue
        try:
            planned[field_id] = (
                None if raw is None or not raw.strip() else normalise(field, raw, [*path, "value"])
            )
        except DomainError as exc:
            errors.append(exc)
    if errors:
        raise ValidationFailed(errors)
    existing = {
        v.field_id: v
        for v in await session.scalars(
            select(CustomFieldValue).where(
                CustomFieldValue.staff_id == staff.id, CustomFieldValue.field_id.in_(list(planned))
            )
        )
    }
    now = utcnow()
    new: dict[int, str] = {}
    cleared = []
    changed = []  # the fields whose value changes: only they move the record's stamps
    for field_id, value in planned.items():
        row = existing.get(field_id)
        if value is None:
            if row is not None:
                cleared.append(row)
                changed.append(field_id)
        elif row is None:
            new[field_id] = value
            changed.append(field_id)
        elif row.value != value:
            row.value = value
            row.modified_at = now
            changed.append(field_id)
    # a value a concurrent request cleared first is gone, as wanted: not cleared again here
    await remove_all(session, cleared)
    await insert_values(
        session, staff.account_id, {(staff.id, f): value for f, value in new.items()}, now
    )
    stamps.touch_custom_values(staff, (fields[field_id].personal for field_id in changed), now)
    await session.flush()
    return staff


# A value a concurrent request inserted between a look and the insert is there to be written
# over, as the look would have found it (``claim``).
VALUE_THERE = {"pk_custom_field_values": ALREADY_THERE}


async def insert_values(
    session: AsyncSession, account_id: int, new: Mapping[tuple[int, int], str], now: datetime
) -> None:
    """Insert the values ``new`` maps (staff id, field id) to, which had none when looked at
    (``set_values``, the staff import). Where a concurrent request's insert of one came
    first, the primary key refuses them all; the values there by now are overwritten (last
    writer wins, as when the other request commits before the look), and the rest inserted
    again. They are inserted in (staff, field) order, so that two requests setting the same
    values in different orders wait for one another one way only (each for the other is a
    deadlock on PostgreSQL)."""
    pending = dict(new)
    while pending:
        async with claim(session, VALUE_THERE) as claimed:
            session.add_all(
                CustomFieldValue(
                    staff_id=staff_id,
                    field_id=field_id,
                    account_id=account_id,
                    value=value,
                    modified_at=now,
                )
                for (staff_id, field_id), value in sorted(pending.items())
            )
        if not claimed.already_there:
            return
        overwritten = 0
        staff_ids = sorted({staff_id for staff_id, _ in pending})
        for i in range(0, len(staff_ids), _CHUNK):
            for row in await session.scalars(
                select(CustomFieldValue).where(
                    CustomFieldValue.staff_id.in_(staff_ids[i : i + _CHUNK]),
                    CustomFieldValue.field_id.in_(sorted({f for _, f in pending})),
                )
            ):
                if (key := (row.staff_id, row.field_id)) in pending:
                    row.value = pending.pop(key)
                    row.modified_at = now
                    overwritten += 1
        if not overwritten:  # refused, yet none is there: never loop on it
            raise RuntimeError("custom_field_values refused values it does not hold")


async def values_for_staff(
    session: AsyncSession, account_id: int, staff_ids: list[int]
) -> dict[int, list[FieldValue]]:
    """Each staff member's values of active fields; the fields are read-only records
    (``FIELD_RECORDS``), one per field, shared by its values."""
    result: dict[int, list[FieldValue]] = {sid: [] for sid in staff_ids}
    connection = await connection_of(session)  # plain columns: no ORM needed
    params = {"account_id": account_id, "staff_ids": staff_ids}
    fields_at, fields = 1 + len(VALUE_RECORDS), {}
    for row in await FIELDS_THEN_VALUES.all(connection, params):
        if row[0] == 0:
            field = FIELD_RECORDS.take(row, fields_at)
            fields[field.id] = field
        else:  # VALUE_RECORDS' columns, read in place: no record per value
            staff_id, field_id, value = row[1:fields_at]
            result[staff_id].append(FieldValue(fields[field_id], value, staff_id))
    return result


async def values_of_staff(
    session: AsyncSession, actor: Actor, staff: Staff
) -> list[tuple[CustomField, str | None]]:
    """Every active field of the account with ``staff``'s value (None: not set), as far as
    ``actor`` may see them: none without the record's details, personal fields only with
    its personal data. Seeing no details of the record at all is AccessDenied."""
    if not access.can_see_details(actor, staff.id, staff.restricted):
        raise AccessDenied("You may not see this staff member's custom fields.")
    personal = access.can_see_personal(actor, staff.id)
    values = (await values_for_staff(session, actor.account_id, [staff.id]))[staff.id]
    by_field = {v.field.id: v.value for v in shown_values(values, personal=personal)}
    fields = await _field_records(session, actor.account_id, include_archived=False)
    if not access.sees_directory(actor):
        # a guest sees the account's fields only as values of their own record (as
        # ``list_fields`` refuses them the catalogue): those set, not every field there is
        return [(f, by_field[f.id]) for f in fields if f.id in by_field]
    return [(f, by_field.get(f.id)) for f in fields if personal or not f.personal]


async def values_by_names(
    session: AsyncSession, actor: Actor, names: list[str] | None, *, limit: int | None = None
) -> list[FieldValue]:
    """The UDFListByName call: values of the named fields (all when none) across staff.

    Only values the actor may see are returned: details of the record, and the permit for
    personal fields. With ``limit``, at most that many values are read, and more than that
    is refused (LIMIT_REACHED) rather than read: for a caller without GraphQL's pricing
    of a document by the account's size before it runs (the REST API).
    """
    if names is not None and len(names) > MAX_FIELDS:  # no account has more fields
        raise DomainError(
            f"At most {MAX_FIELDS} names.", field=["names"], code=ErrorCode.TOO_LONG
        )
    params: dict = {"account_id": actor.account_id}
    if limit is not None:
        params["limit"] = MAX_FIELDS + limit + 1  # the field rows come first
    if names:
        # A name with NUL names no field (PostgreSQL would refuse it as a parameter).
        params["keys"] = list(
            dict.fromkeys(name_key(n) for n in names if "\x00" not in n)
        )
        if not params["keys"]:
            return []
    confined = not access.sees_directory(actor)  # the rest would be read to be dropped
    if confined:
        params["self_id"] = actor.staff_id
    rows = await NAMED_VALUES[bool(names), limit is not None, confined].read(session, params)
    if limit is not None and (
        sum(1 for row in rows if row[0] != 0) > limit
        or len(rows) >= params["limit"]  # the LIMIT may have cut some (fields past MAX_FIELDS)
    ):
        raise DomainError(
            f"More than {limit:,} custom field values: too many for one answer.",
            code=ErrorCode.LIMIT_REACHED,
        )
    fields_at, fields = 1 + len(NAMED_VALUE_COLUMNS), {}
    out: list[FieldValue] = []
    for row in rows:
        if row[0] == 0:
            field = FIELD_RECORDS.take(row, fields_at)
            fields[field.id] = field
            continue
        staff_id, field_id, value, restricted = row[1:5]
        if not access.can_see_details(actor, staff_id, restricted):
            continue
        field = fields[field_id]
        if field.personal and not access.can_see_personal(actor, staff_id):
            continue
        out.append(FieldValue(field=field, value=value, staff_id=staff_id))
    return out
