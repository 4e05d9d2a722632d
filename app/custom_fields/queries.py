from __future__ import annotations

from sqlalchemy import Select, select

from app.custom_fields.models import CustomField, CustomFieldValue
from app.db.base import Records

VALUE_RECORDS = Records(CustomFieldValue, "value", ("staff_id", "field_id", "value"))
FIELD_RECORDS = Records(CustomField, "field")


def fields_of(account_id: int, *, include_archived: bool) -> Select:
    stmt = select(CustomField).where(CustomField.account_id == account_id)
    if not include_archived:
        stmt = stmt.where(CustomField.archived_at.is_(None))
    return stmt.order_by(CustomField.id)


def values_of(account_id: int, staff_ids: list[int], *, plain: bool = False) -> Select:
    """Values of active fields for some staff (archived fields' values stay but are hidden).
    ``plain`` selects their columns (``VALUE_RECORDS`` then ``FIELD_RECORDS``)."""
    selected = (
        (*VALUE_RECORDS.columns, *FIELD_RECORDS.columns)
        if plain
        else (CustomFieldValue, CustomField)
    )
    return (
        select(*selected)
        .join(CustomField, CustomField.id == CustomFieldValue.field_id)
        .where(
            CustomFieldValue.account_id == account_id,
            CustomFieldValue.staff_id.in_(staff_ids),
            CustomField.archived_at.is_(None),
        )
        .order_by(CustomFieldValue.staff_id, CustomField.id)
    )
