"""API key scopes: every API token names what it may do; tokens made before scopes
existed keep their old reach (every scope but scim)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY_SCOPES = "admin,invitations:write,personal_data,staff:read,staff:write"


def upgrade() -> None:
    op.add_column("auth_tokens", sa.Column("scopes", sa.String(length=200), nullable=True))
    op.execute(f"UPDATE auth_tokens SET scopes = '{LEGACY_SCOPES}' WHERE kind = 'API'")
    with op.batch_alter_table("auth_tokens") as batch:
        batch.create_check_constraint(
            op.f("ck_auth_tokens_api_scopes"), "kind != 'API' OR scopes IS NOT NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("auth_tokens") as batch:
        batch.drop_constraint(op.f("ck_auth_tokens_api_scopes"), type_="check")
        batch.drop_column("scopes")
