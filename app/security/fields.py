"""The rate limiter's field table (see ``app.fields``): never audited nor backed up."""

from __future__ import annotations

from app.fields import Field, FieldTable, Visibility, register, rows

RATE_LIMIT_BUCKETS = FieldTable(
    "rate_limit_buckets",
    [
        Field("key", Visibility.PERSONAL),  # names a client address or an email
        *rows(Visibility.INTERNAL, "window_start", "count", "blocked_until"),
    ],
)

register(RATE_LIMIT_BUCKETS)
