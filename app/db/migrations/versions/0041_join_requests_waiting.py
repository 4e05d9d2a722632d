"""join_requests_waiting: the join requests' indexes, by account and status and by link

A link that needs approval takes at most ``MAX_WAITING`` requests waiting
(``app.invitations.join_links._check_waiting``), counted by ``ix_join_requests_link_status``
under the account's lock; ``joinRequests`` lists an account's requests by status through
``ix_join_requests_account_status``. The table had no index but its primary key.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07 23:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_join_requests_account_status": ["account_id", "status", "id"],
    "ix_join_requests_link_status": ["join_link_id", "status"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "join_requests", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="join_requests")
