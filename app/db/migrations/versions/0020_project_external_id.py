"""projects: external_id (an identity provider's id for the project as a SCIM Group,
unique per account)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.create_index(
        "uq_projects_account_id_external_id",
        "projects",
        ["account_id", "external_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_projects_account_id_external_id", table_name="projects")
    op.drop_column("projects", "external_id")
