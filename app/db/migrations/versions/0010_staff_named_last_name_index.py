"""staff: an index for the default sort, which puts records without a last name last

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_staff_account_named_last_name",
        "staff",
        [
            "account_id",
            sa.text("(CASE WHEN last_name_key = '' THEN 1 ELSE 0 END)"),
            "last_name_key",
            "id",
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_staff_account_named_last_name", table_name="staff")
