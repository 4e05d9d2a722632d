"""audit entries: a diff of more than 50 changed rows is cut into several entries

Since this revision an audit entry holds at most 50 changed rows (``DIFF_ROWS_PER_ENTRY``
in ``app.audit.service``), and the query cost check prices a diff as that many: a
mutation that changes more rows of an account is logged as several entries of the same
request. Entries written before held every row in one (a 10,000-row import, one entry),
so a page of the log could hold far more than its price. Each is cut here as it would be
written now: the entry keeps its first 50 rows, and the rest follow in new entries with
the same account, actor, action, target, request, address and time (new ids, after every
id in use; the log, newest id first, shows them before the entry they continue).

Downgrade leaves them cut: the entries are complete either way.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROWS_PER_ENTRY = 50  # app.audit.service.DIFF_ROWS_PER_ENTRY as this revision knows it
BATCH = 100  # long entries read at once

ENTRIES = sa.table(
    "audit_entries",
    sa.column("id", sa.Integer),
    sa.column("account_id", sa.Integer),
    sa.column("actor_user_id", sa.Integer),
    sa.column("actor_staff_id", sa.Integer),
    sa.column("actor_name", sa.String),
    sa.column("impersonator_user_id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("target_type", sa.String),
    sa.column("target_id", sa.Integer),
    sa.column("diff", sa.JSON),
    sa.column("request_id", sa.String),
    sa.column("client_address", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    bind = op.get_bind()
    # a diff may be JSON null (restored as such), whose length PostgreSQL refuses to take:
    # a CASE, as the conditions of a WHERE may be evaluated in any order
    kind = sa.func.json_typeof if bind.dialect.name == "postgresql" else sa.func.json_type
    length = sa.case(
        (kind(ENTRIES.c.diff) == "array", sa.func.json_array_length(ENTRIES.c.diff)), else_=0
    )
    long = length > ROWS_PER_ENTRY
    last = 0
    while True:
        rows = bind.execute(
            sa.select(ENTRIES)
            .where(long, ENTRIES.c.id > last)
            .order_by(ENTRIES.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            entry = row._asdict()
            entry_id, changes = entry.pop("id"), entry.pop("diff")
            parts = [
                changes[i : i + ROWS_PER_ENTRY] for i in range(0, len(changes), ROWS_PER_ENTRY)
            ]
            bind.execute(
                ENTRIES.update().where(ENTRIES.c.id == entry_id).values(diff=parts[0])
            )
            bind.execute(ENTRIES.insert(), [{**entry, "diff": part} for part in parts[1:]])
        last = rows[-1].id


def downgrade() -> None:
    pass
