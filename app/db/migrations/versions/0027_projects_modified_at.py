"""projects: modified_at

When a project or its members last changed, a SCIM Group's ``meta.lastModified`` (which
read ``created_at`` before). Existing projects start from their ``created_at``: when they
changed since is not recorded anywhere cheaper than the audit log.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "projects",
        sa.Column("modified_at", app.db.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.execute("UPDATE projects SET modified_at = created_at")


def downgrade() -> None:
    # SQLite drops a plain column itself (3.35): no table rebuild, which would reflect the
    # tables projects refers to (staff's expression indexes cannot be reflected)
    op.drop_column("projects", "modified_at")
