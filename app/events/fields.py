"""The events table's field table (see ``app.fields``). Events are neither audited (they
are written beside the audit entry of the same change) nor backed up (they are a feed of
what happened, not account data); nothing in them is personal: ids and field names."""

from __future__ import annotations

from app.fields import Audit, Backup, FieldTable, Visibility, register, rows

EVENTS = FieldTable(
    "events",
    rows(
        Visibility.BASIC,
        "id",
        "uid",
        "account_id",
        "type",
        "subject_type",
        "subject_id",
        "actor_user_id",
        "actor_staff_id",
        "data",
        "request_id",
        "occurred_at",
        audit=Audit.IGNORED,
        backup=Backup.LEFT_OUT,
    ),
)

register(EVENTS)
