"""invitations: those not yet accepted (pending or expired) of records that are already
memberships are revoked

Since 5d66c29 a record that becomes a membership other than by accepting its invitation
(a join-link join, an approved join request, a sign-up into the account) has its
invitations not yet accepted revoked in the same change (``revoke_open_invitations``).
Records that joined before kept them: each such pending invitation still counts as a
reserved seat next to the member, and its link (or a resend of an expired one) still
names a record that is now someone's membership. They are revoked here, as that change
would have: REVOKED with ``revoked_at`` (nobody accepted them), the record's own state
left as it is (it is a member).

A member's record is ACTIVE or UNCONFIRMED, or has a login (``user_id``; a disabled
member too, though disabling has always revoked them). No invitation of a record that is
no membership is touched.

Downgrade leaves them revoked: reopening them would give the members back a second seat
and a live link, which is what this corrects.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 22:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The moment is bound as a parameter, so that each database stores it as the
    # application does (SQLite: the UTC time as text without a zone).
    op.get_bind().execute(
        sa.text(
            "UPDATE invitations SET status = 'REVOKED', revoked_at = :now "
            "WHERE status IN ('PENDING', 'EXPIRED') AND staff_id IN ("
            "SELECT id FROM staff WHERE user_id IS NOT NULL "
            "OR account_status IN ('ACTIVE', 'UNCONFIRMED'))"
        ).bindparams(sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True)))
    )


def downgrade() -> None:
    # Nothing to undo: see the module.
    pass
