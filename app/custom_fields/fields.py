"""Field tables of custom field definitions and values (see ``app.fields``)."""

from __future__ import annotations

from app.fields import Audit, Backup, Field, FieldTable, Visibility, derived_key, register, rows

CUSTOM_FIELDS = FieldTable(
    "custom_fields",
    [
        *rows(Visibility.INTERNAL, "id", "account_id"),
        *rows(Visibility.BASIC, "name", "type", "options", "personal", "description"),
        *rows(Visibility.BASIC, "archived_at", "created_at"),
        derived_key("name_key"),
    ],
)

CUSTOM_FIELD_VALUES = FieldTable(
    "custom_field_values",
    [
        *rows(Visibility.INTERNAL, "staff_id", "field_id"),
        # the backup's values section is (staff_id, field_id, value)
        Field("account_id", Visibility.INTERNAL, backup=Backup.LEFT_OUT),
        # Custom values are details of the record; a personal field's values also need
        # ViewPersonalData (its definition says, value by value: the backup leaves them out
        # of backups made without the permit). The log never copies a value.
        Field("value", Visibility.DETAILED, audit=Audit.REDACTED),
        Field("modified_at", Visibility.INTERNAL, audit=Audit.IGNORED, backup=Backup.LEFT_OUT),
    ],
)

register(CUSTOM_FIELDS, CUSTOM_FIELD_VALUES)
