"""staff: details_modified_at, personal_modified_at, secret_modified_at

``modified_at`` moved on every change, so anyone who saw a record's ``modifiedAt`` learnt
when its personal data (an address, a salary) or its details last changed. Now
``modified_at`` moves only when the name card or the basic profile changes, and each of
the others when a field of its class does; a reader's ``modifiedAt`` is the latest of
those they see (``app.staff.stamps``). Existing records start with the three empty: when
their personal data or details changed before is not recorded apart from the rest.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMPS = ("details_modified_at", "personal_modified_at", "secret_modified_at")


def upgrade() -> None:
    # Not in a batch: SQLite adds plain columns in place (staff has triggers and an
    # expression index a batch's copy of the table would lose).
    for name in STAMPS:
        op.add_column(
            "staff", sa.Column(name, app.db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    for name in reversed(STAMPS):
        op.drop_column("staff", name)
