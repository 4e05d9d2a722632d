from __future__ import annotations

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    bindparam,
    literal,
    null,
    select,
    union_all,
)

from app.custom_fields.models import CustomField, CustomFieldValue
from app.db.base import Records
from app.db.prepared import Prepared
from app.staff.models import Staff

# values_for_staff unpacks these three columns in this order.
VALUE_RECORDS = Records(CustomFieldValue, "value", ("staff_id", "field_id", "value"))
FIELD_RECORDS = Records(CustomField, "field")


def _account_fields(include_archived: bool) -> Prepared:
    stmt = select(*FIELD_RECORDS.columns).where(CustomField.account_id == bindparam("account_id"))
    if not include_archived:
        stmt = stmt.where(CustomField.archived_at.is_(None))
    return Prepared(stmt.order_by(CustomField.id))


ACCOUNT_FIELDS = {archived: _account_fields(archived) for archived in (False, True)}
"""The account's field definitions (``FIELD_RECORDS``), archived ones too under ``True``.
Parameter: ``account_id``."""


def _fields_then_values() -> CompoundSelect:
    value_nulls = [null().label(c.name) for c in VALUE_RECORDS.columns]
    field_nulls = [null().label(c.name) for c in FIELD_RECORDS.columns]
    account_id: BindParameter[int] = bindparam("account_id")
    fields = select(literal(0).label("part"), *value_nulls, *FIELD_RECORDS.columns).where(
        CustomField.account_id == account_id, CustomField.archived_at.is_(None)
    )
    values = (
        select(literal(1).label("part"), *VALUE_RECORDS.columns, *field_nulls)
        .join(CustomField, CustomField.id == CustomFieldValue.field_id)
        .where(
            CustomFieldValue.account_id == account_id,
            CustomFieldValue.staff_id.in_(bindparam("staff_ids", expanding=True)),
            CustomField.archived_at.is_(None),
        )
    )
    order = ("part", VALUE_RECORDS.columns[0].name, VALUE_RECORDS.columns[1].name)
    return union_all(fields, values).order_by(*order)


FIELDS_THEN_VALUES = Prepared(_fields_then_values())
"""Values of active fields for some staff (archived fields' values stay but are hidden),
each field's definition read once: first a row per active field (``FIELD_RECORDS`` after
the value columns, which are NULL), then a row per value (``VALUE_RECORDS``, field columns
NULL). Parameters: ``account_id``, ``staff_ids``. Built once: it has too many columns to
rebuild per request."""


# values_by_names unpacks these columns of a value row, in this order.
NAMED_VALUE_COLUMNS = ("staff_id", "field_id", "value", "restricted", "last_name_key")


def _named_values(by_name: bool, limited: bool, confined: bool) -> CompoundSelect:
    account_id: BindParameter[int] = bindparam("account_id")
    fields = select(
        literal(0).label("part"),
        *(null().label(name) for name in NAMED_VALUE_COLUMNS),
        *FIELD_RECORDS.columns,
    ).where(CustomField.account_id == account_id, CustomField.archived_at.is_(None))
    values = (
        select(
            literal(1).label("part"),
            CustomFieldValue.staff_id.label("staff_id"),
            CustomFieldValue.field_id.label("field_id"),
            CustomFieldValue.value.label("value"),
            Staff.restricted.label("restricted"),
            Staff.last_name_key.label("last_name_key"),
            *(null().label(c.name) for c in FIELD_RECORDS.columns),
        )
        .join(CustomField, CustomField.id == CustomFieldValue.field_id)
        .join(Staff, Staff.id == CustomFieldValue.staff_id)
        .where(CustomFieldValue.account_id == account_id, CustomField.archived_at.is_(None))
    )
    if confined:  # a guest: their own record's values only, so only those count
        values = values.where(CustomFieldValue.staff_id == bindparam("self_id"))
    if by_name:
        keys: BindParameter[list[str]] = bindparam("keys", expanding=True)
        fields = fields.where(CustomField.name_key.in_(keys))
        values = values.where(CustomField.name_key.in_(keys))
    ordered: CompoundSelect = union_all(fields, values).order_by(
        "part", "field_id", "last_name_key", "staff_id"
    )
    return ordered.limit(bindparam("limit")) if limited else ordered


NAMED_VALUES = {
    (by_name, limited, confined): Prepared(_named_values(by_name, limited, confined))
    for by_name in (False, True)
    for limited in (False, True)
    for confined in (False, True)
}
"""Values of active fields across the account's staff, by field, then by the record's last
name: first a row per active field (``FIELD_RECORDS`` after the value columns, which are
NULL), then a row per value (``NAMED_VALUE_COLUMNS``, field columns NULL). Under ``True``
only the fields whose ``name_key`` is among ``keys``; under ``(_, True, _)`` at most
``limit`` rows; under ``(_, _, True)`` only the values of the record ``self_id``.
Parameters: ``account_id`` (and ``keys``, ``limit``, ``self_id``)."""
