"""ended_memberships: a deleted member's tokens stay out when they come back

Deleting a record ends its member's tokens there by its ``tokens_valid_from``, which goes
with the record. This table keeps the cut for the account, so a later membership of the
same user (invited again) starts from it (``app.staff.membership``).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base  # noqa: F401  (custom column types)

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ended_memberships",
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("ended_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ended_memberships")
