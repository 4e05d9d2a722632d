"""custom_field_values: an index on (account_id, field_id)

The table's keys are (staff_id, field_id) and field_id: the count of an account's values
that the cost check reads for ``customFieldValues`` (stopped at the cost limit, 25,001)
scanned the table, every account's values, until it had counted that many of this
account's. The index gives each account's values, and each of its fields' values, alone.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 02:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_custom_field_values_account_field",
        "custom_field_values",
        ["account_id", "field_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_custom_field_values_account_field", table_name="custom_field_values")
