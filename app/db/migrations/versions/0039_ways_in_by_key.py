"""ways_in_by_key: an invitation or join link made through an API key lives as the key does

``invitations.created_by_token_id`` and ``join_links.created_by_token_id`` are the API key
an invitation was sent (or last resent) through and a join link made (or last rotated)
through; NULL when through a signed-in session. When the key is revoked, runs out or is
deleted, what it opened the account to is withdrawn as a member's is when they leave
(``app.staff.membership.withdraw_ways_in_of_keys``): at once when the key is revoked, and
by the invitations' sweep otherwise. No foreign key, as for webhook endpoints (0036): a
key deleted is gone as one revoked is. The partial indexes hold only the open ones the
sweep looks at. Rows made before this revision keep NULL.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_INVITATION = "created_by_token_id IS NOT NULL AND status IN ('PENDING', 'EXPIRED')"
OPEN_LINK = "created_by_token_id IS NOT NULL AND disabled_at IS NULL"


def upgrade() -> None:
    for table, where, name in (
        ("invitations", OPEN_INVITATION, "ix_invitations_open_by_key"),
        ("join_links", OPEN_LINK, "ix_join_links_open_by_key"),
    ):
        op.add_column(table, sa.Column("created_by_token_id", sa.Integer(), nullable=True))
        op.create_index(
            name,
            table,
            ["created_by_token_id"],
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for table, name in (
        ("invitations", "ix_invitations_open_by_key"),
        ("join_links", "ix_join_links_open_by_key"),
    ):
        op.drop_index(name, table_name=table)
        op.drop_column(table, "created_by_token_id")
