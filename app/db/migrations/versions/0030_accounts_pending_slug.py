"""accounts.pending_slug: the slug a signed-up account takes once its owner confirms

Sign-up used to give a new address's account its slug at once, and an existing address
none (it is emailed instead): a later sign-up asking for that slug told, by TAKEN or not,
whether the first address had a login. Now a signed-up account holds a random slug until
its owner confirms their email, and ``pending_slug`` keeps the one it will take then.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("pending_slug", sa.String(63), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("pending_slug")
