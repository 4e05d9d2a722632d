"""webhook_deliveries_by_endpoint: each endpoint's oldest due delivery, found by an index

A claim takes every endpoint's oldest due delivery first (``app.webhooks.delivery``), one
probe of this index per enabled endpoint, rather than ranking every due delivery of every
endpoint: a backlog of hundreds of thousands was sorted at every claim.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 11:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_endpoint_due",
        "webhook_deliveries",
        ["endpoint_id", "status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_endpoint_due", table_name="webhook_deliveries")
