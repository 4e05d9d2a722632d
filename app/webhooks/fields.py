"""Field tables of webhook endpoints, deliveries and attempts (see ``app.fields``).

Nothing of them is in the account backup (an endpoint's secret could not be restored, and
deliveries are a log); the sealed secrets are never shown nor logged."""

from __future__ import annotations

from app.fields import Audit, Backup, Field, FieldTable, Visibility, register, rows

_OUT = {"backup": Backup.LEFT_OUT}

WEBHOOK_ENDPOINTS = FieldTable(
    "webhook_endpoints",
    [
        *rows(
            Visibility.INTERNAL,
            "id",
            "account_id",
            "created_by_staff_id",
            "created_by_token_id",
            **_OUT,
        ),
        *rows(
            Visibility.BASIC,
            "url",
            "description",
            "event_types",
            "enabled",
            "disabled_reason",
            "personal_data",
            "previous_secret_expires_at",
            "created_at",
            **_OUT,
        ),
        *rows(Visibility.SECRET, "secret_sealed", "previous_secret_sealed", **_OUT),
        Field("modified_at", Visibility.INTERNAL, audit=Audit.IGNORED, backup=Backup.LEFT_OUT),
    ],
)

WEBHOOK_DELIVERIES = FieldTable(
    "webhook_deliveries",
    [
        *rows(Visibility.INTERNAL, "id", "account_id", "endpoint_id", "event_id", **_OUT),
        *rows(Visibility.BASIC, "uid", "event_type", "payload", "status", **_OUT),
        *rows(Visibility.BASIC, "attempts", "next_attempt_at", "delivered_at", **_OUT),
        *rows(Visibility.BASIC, "retry_from", "created_at", **_OUT),
        Field("personal_only", Visibility.INTERNAL, backup=Backup.LEFT_OUT),
        *rows(Visibility.INTERNAL, "locked_until", "lease", audit=Audit.IGNORED, **_OUT),
    ],
)

WEBHOOK_ATTEMPTS = FieldTable(
    "webhook_attempts",
    [
        *rows(Visibility.INTERNAL, "id", "account_id", "delivery_id", **_OUT),
        *rows(
            Visibility.BASIC,
            "started_at",
            "duration_ms",
            "status_code",
            "ok",
            "error",
            "response_excerpt",
            **_OUT,
        ),
    ],
)

register(WEBHOOK_ENDPOINTS, WEBHOOK_DELIVERIES, WEBHOOK_ATTEMPTS)
