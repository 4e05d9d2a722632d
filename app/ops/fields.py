"""The leases table's field table (see ``app.fields``). Leases are the workers' own
bookkeeping: neither audited nor backed up, and nothing in them is about a person."""

from __future__ import annotations

from app.fields import Audit, Backup, FieldTable, Visibility, register, rows

LEASES = FieldTable(
    "leases",
    rows(
        Visibility.INTERNAL,
        "name",
        "holder",
        "expires_at",
        "acquired_at",
        audit=Audit.IGNORED,
        backup=Backup.LEFT_OUT,
    ),
)

register(LEASES)
