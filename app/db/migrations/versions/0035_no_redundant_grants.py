"""no_redundant_grants: a grant or share the member's role already gives is dropped

A permit grant of a permit the member's role holds, or a restricted record shared with
a member whose role sees every record's details, gave nothing while the role lasted, and
came back into force when the member was given a lower role: an administrator could
grant themselves ViewPersonalData, share every restricted record with themselves, and
keep both once demoted. Such rows are no longer made (``app.staff.membership``); this
drops those made before. The roles and permits are those of this revision: only
ViewPersonalData is grantable, and administrators and the owner hold it and see every
record's details.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 10:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEE_EVERYTHING = "('ADMINISTRATOR', 'OWNER')"


def upgrade() -> None:
    op.execute(
        "DELETE FROM staff_permit_grants WHERE permit = 'VIEW_PERSONAL_DATA' AND staff_id IN "
        f"(SELECT id FROM staff WHERE role IN {SEE_EVERYTHING})"
    )
    op.execute(
        "DELETE FROM staff_shares WHERE shared_with_id IN "
        f"(SELECT id FROM staff WHERE role IN {SEE_EVERYTHING})"
    )


def downgrade() -> None:
    """What was dropped gave nothing under the role it was dropped at: nothing to put back."""
