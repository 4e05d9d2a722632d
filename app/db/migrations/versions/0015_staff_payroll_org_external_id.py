"""staff: use_payroll_item, staff_org_id, post_time_as_billed (BigTime's staff catalogue)
and external_id (an identity provider's or HR system's id, unique per account)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not in a batch: SQLite cannot reflect staff's expression index; it adds (and drops)
    # plain columns in place, and a unique index stands in for the constraint.
    op.add_column(
        "staff",
        sa.Column("use_payroll_item", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("staff", sa.Column("staff_org_id", sa.Integer(), nullable=True))
    op.add_column(
        "staff",
        sa.Column("post_time_as_billed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("staff", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.create_index(
        "uq_staff_account_id_external_id", "staff", ["account_id", "external_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_staff_account_id_external_id", table_name="staff")
    op.drop_column("staff", "external_id")
    op.drop_column("staff", "post_time_as_billed")
    op.drop_column("staff", "staff_org_id")
    op.drop_column("staff", "use_payroll_item")
