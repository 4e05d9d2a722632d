"""webhook_deliveries: an index on (account_id, id)

The deliveries connection (``webhookDeliveries`` without an endpoint) pages an account's
deliveries newest first by id (keyset: ``account_id = ? AND id < ? ORDER BY id DESC``).
Without an index that starts with the account, each page walked the table's ids from the
newest, every account's deliveries, until it had found a page of the account's own.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05 23:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_account_id_id", "webhook_deliveries", ["account_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_account_id_id", table_name="webhook_deliveries")
