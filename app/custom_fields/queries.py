from __future__ import annotations

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Select,
    bindparam,
    literal,
    null,
    select,
    union_all,
)

from app.custom_fields.models import CustomField, CustomFieldValue
from app.db.base import Records
from app.db.prepared import Prepared

# values_for_staff unpacks these three columns in this order.
VALUE_RECORDS = Records(CustomFieldValue, "value", ("staff_id", "field_id", "value"))
FIELD_RECORDS = Records(CustomField, "field")


def fields_of(account_id: int, *, include_archived: bool) -> Select:
    stmt = select(CustomField).where(CustomField.account_id == account_id)
    if not include_archived:
        stmt = stmt.where(CustomField.archived_at.is_(None))
    return stmt.order_by(CustomField.id)


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
