"""The audit log's own field table (see ``app.fields``): what its entries hold is already
redacted (``app.audit.changes``); the log is not itself audited, but it is backed up."""

from __future__ import annotations

from app.fields import Field, FieldTable, Visibility, register, rows

AUDIT_ENTRIES = FieldTable(
    "audit_entries",
    [
        *rows(Visibility.INTERNAL, "id", "account_id", "actor_user_id", "actor_staff_id"),
        *rows(Visibility.INTERNAL, "impersonator_user_id", "target_id", "request_id"),
        *rows(Visibility.BASIC, "actor_name", "action", "target_type", "diff"),
        # the network address a member acted from is personal data (``shown_entries``)
        *rows(Visibility.PERSONAL, "client_address"),
        *rows(Visibility.BASIC, "created_at"),
        Field("personal_only", Visibility.INTERNAL),
    ],
)

register(AUDIT_ENTRIES)
