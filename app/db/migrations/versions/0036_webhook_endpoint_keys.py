"""webhook_endpoint_keys: an endpoint set up through an API key lives as long as the key

``webhook_endpoints.created_by_token_id`` is the API key an endpoint was created or last
changed through; the endpoint receives events only while that key is neither revoked nor
expired (``app.webhooks.service.standing``). No foreign key: a key deleted is gone as one
revoked is. Endpoints made before this revision keep NULL: vouched for by their member
alone, as endpoints made through a signed-in session are.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_endpoints", sa.Column("created_by_token_id", sa.Integer(), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("webhook_endpoints", "created_by_token_id")
