"""guests: whether they take seats, self sign-up into an account, the kind a join link
gives; customers and vendors who were viewers become guests

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("guests_take_seats", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("self_signup", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Not in a batch: on SQLite that would reflect staff (join_links refers to it), whose
    # expression index it cannot reflect; SQLite adds (and drops) such a column in place.
    op.add_column(
        "join_links",
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="EMPLOYEE"),
    )
    # Before guests existed every customer and vendor was a viewer by default and saw the
    # whole directory; a blank role means guest for them now (seed 003).
    op.execute(
        "UPDATE staff SET role = 'GUEST' WHERE role = 'VIEWER' AND kind IN ('CUSTOMER', 'VENDOR')"
    )
    op.execute(
        "UPDATE invitations SET role = 'GUEST' WHERE role = 'VIEWER' AND status = 'PENDING' "
        "AND staff_id IN (SELECT id FROM staff WHERE role = 'GUEST')"
    )


def downgrade() -> None:
    op.execute("UPDATE invitations SET role = 'VIEWER' WHERE role = 'GUEST'")
    op.execute("UPDATE join_links SET role = 'VIEWER' WHERE role = 'GUEST'")
    op.execute("UPDATE join_requests SET role = 'VIEWER' WHERE role = 'GUEST'")
    op.execute("UPDATE staff SET role = 'VIEWER' WHERE role = 'GUEST'")
    op.drop_column("join_links", "kind")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("self_signup")
        batch.drop_column("guests_take_seats")
