"""staff_unconfirmed: the memberships waiting for a confirmed email, found by an index

The invitations' sweep looks, about once a minute, for the memberships whose wait for a
confirmed email is over (``app.staff.membership.unconfirmed_due``), across every account.
Such records are few; without this index the look read every staff record.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "account_status = 'UNCONFIRMED'"


def upgrade() -> None:
    op.create_index(
        "ix_staff_unconfirmed",
        "staff",
        ["id"],
        sqlite_where=sa.text(WAITING),
        postgresql_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_staff_unconfirmed", table_name="staff")
