"""audit_personal_only: audit entries and webhook deliveries of personal data alone are not
listed to readers without ViewPersonalData

``audit_entries.personal_only`` is true for an entry whose diff names personal columns or
personal custom values alone (``app.audit.service.record``), and
``webhook_deliveries.personal_only`` for a delivery whose payload names personal fields
alone (``app.webhooks.service.queue_deliveries``): shown to a reader without
ViewPersonalData, either would be an empty list telling when, and whose, personal data
changed. The lists and their counts leave them out for such readers. Rows written before
this revision keep false (listed, with their personal fields left out, as before).

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# each table, and the index its lists and counts for such readers read (a count from the
# index alone, as the account's own index gives the others)
TABLES = {
    "audit_entries": "ix_audit_account_listed",
    "webhook_deliveries": "ix_webhook_deliveries_account_listed",
}


def upgrade() -> None:
    for table, index in TABLES.items():
        op.add_column(
            table,
            sa.Column("personal_only", sa.Boolean(), nullable=False, server_default=sa.false()),
        )
        op.create_index(index, table, ["account_id", "personal_only", "id"])


def downgrade() -> None:
    for table, index in TABLES.items():
        op.drop_index(index, table_name=table)
        op.drop_column(table, "personal_only")
