"""email outbox: sealed bodies, wiped once sent

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:00:00.000000

Message content moves to ``sealed`` (AES-GCM under the field-encryption keys, written by the
application); ``subject``, ``text_body`` and ``html_body`` become nullable and stay only on
messages queued before this revision until they are sent (``roster keys rotate`` seals
them meanwhile). Bodies of messages already sent or failed are wiped here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed", sa.Text(), nullable=True))
        batch_op.alter_column("subject", existing_type=sa.String(length=300), nullable=True)
        batch_op.alter_column("text_body", existing_type=sa.Text(), nullable=True)
        batch_op.alter_column("html_body", existing_type=sa.Text(), nullable=True)
    op.execute(
        "UPDATE email_outbox SET subject = NULL, text_body = NULL, html_body = NULL "
        "WHERE status IN ('SENT', 'FAILED')"
    )


def downgrade() -> None:
    # Sealed content cannot be opened here (the keys are the application's): pending sealed
    # messages are given up, and wiped rows get empty bodies.
    op.execute(
        "UPDATE email_outbox SET status = 'FAILED', "
        "last_error = 'sealed content dropped by a schema downgrade' "
        "WHERE status = 'PENDING' AND sealed IS NOT NULL"
    )
    op.execute("UPDATE email_outbox SET subject = '' WHERE subject IS NULL")
    op.execute("UPDATE email_outbox SET text_body = '' WHERE text_body IS NULL")
    op.execute("UPDATE email_outbox SET html_body = '' WHERE html_body IS NULL")
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.alter_column("html_body", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("text_body", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("subject", existing_type=sa.String(length=300), nullable=False)
        batch_op.drop_column("sealed")
