"""webhook_deliveries: an index on event_id

Events are pruned after their retention (``app.background``), and a delivery's event_id
is set NULL when its event goes (``ON DELETE SET NULL``). Without an index on the column,
each deleted event had the database scan every delivery of every account for those that
name it.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_event_id", table_name="webhook_deliveries")
