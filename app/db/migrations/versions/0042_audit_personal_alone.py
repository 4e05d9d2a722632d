"""audit_personal_alone: entries of a staff record's personal data alone, written before,
are not listed to readers without ViewPersonalData either

``audit_entries.personal_only`` (revision 0040) is set when an entry is written
(``app.audit.service.personal_alone``). Entries written before 0040 kept false, and so did
those, since, of an SSN or a salary changed alone (secret fields, which the rule took for
credentials until ``Field.personal_data``): listed to a reader without the permit with an
empty diff, each tells whose personal data changed and when. This revision sets the flag
on the entries whose every change is to a staff record's personal data columns. Entries
naming custom field values keep theirs (whether a value is personal depends on its field
as it was then).

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-08 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the staff columns holding personal data at this revision (PERSONAL, and SECRET encrypted)
PERSONAL_COLUMNS = frozenset(
    {
        "email",
        "phone_cell",
        "phone_work",
        "phone_home",
        *(f"address_{part}" for part in ("street", "city", "state", "zip", "country")),
        "ssn_encrypted",
        "salary_encrypted",
    }
)
BATCH = 1000

entries = sa.table(
    "audit_entries",
    sa.column("id", sa.Integer),
    sa.column("diff", sa.JSON),
    sa.column("personal_only", sa.Boolean),
)


def _personal_alone(diff) -> bool:
    if not isinstance(diff, list) or not diff:
        return False
    for change in diff:
        if not isinstance(change, dict) or change.get("table") != "staff":
            return False
        fields = change.get("fields") or {}
        if not fields or not set(fields) <= PERSONAL_COLUMNS:
            return False
    return True


def upgrade() -> None:
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(entries.c.id, entries.c.diff)
            .where(entries.c.personal_only.is_(False), entries.c.id > after)
            .order_by(entries.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        alone = [row.id for row in rows if _personal_alone(row.diff)]
        if alone:
            connection.execute(
                sa.update(entries).where(entries.c.id.in_(alone)).values(personal_only=True)
            )


def downgrade() -> None:
    """The flags stay: false again, the entries would be listed as before this revision."""
