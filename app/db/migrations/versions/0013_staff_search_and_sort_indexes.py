"""staff: indexed search (PostgreSQL trigram indexes, an SQLite FTS5 table kept in step by
triggers), a keyset index for every sort, and indexes for the role filter and counting

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHED = ("first_name", "last_name", "title", "company", "email", "role")
ROLE_ORDER = (
    "(CASE WHEN (role = 'GUEST') THEN '4' WHEN (role = 'VIEWER') THEN '3' "
    "WHEN (role = 'EDITOR') THEN '2' WHEN (role = 'ADMINISTRATOR') THEN '1' "
    "WHEN (role = 'OWNER') THEN '0' ELSE '9' END "
    "|| CASE WHEN (last_name_key = '') THEN '1' ELSE '0' END || last_name_key)"
)
SORT_INDEXES: dict[str, list[str | sa.TextClause]] = {
    "ix_staff_account_named_first_name": [
        "account_id",
        sa.text("(CASE WHEN lower(first_name) = '' THEN 1 ELSE 0 END)"),
        sa.text("lower(first_name)"),
        "id",
    ],
    "ix_staff_account_first_name": ["account_id", sa.text("lower(first_name)"), "id"],
    "ix_staff_account_title": ["account_id", sa.text("lower(coalesce(title, ''))"), "id"],
    "ix_staff_account_company": ["account_id", sa.text("lower(coalesce(company, ''))"), "id"],
    "ix_staff_account_email": ["account_id", sa.text("coalesce(email, '')"), "id"],
    "ix_staff_account_created_at": ["account_id", "created_at", "id"],
    "ix_staff_account_role_order": ["account_id", sa.text(ROLE_ORDER), "id"],
    "ix_staff_account_role": ["account_id", "role"],
    "ix_staff_account_listed": ["account_id", "is_inactive", "account_status"],
}

COLUMNS = ", ".join(SEARCHED)
NEW = ", ".join(f"new.{c}" for c in SEARCHED)
OLD = ", ".join(f"old.{c}" for c in SEARCHED)
# The FTS5 table indexes the searched columns of staff (external content: it stores no
# copy of them); the triggers run in the writing transaction, so a rollback undoes both.
SQLITE_SEARCH = [
    f"CREATE VIRTUAL TABLE staff_search USING fts5({COLUMNS}, content='staff', "
    "content_rowid='id', tokenize='trigram')",
    f"""CREATE TRIGGER staff_search_insert AFTER INSERT ON staff BEGIN
        INSERT INTO staff_search(rowid, {COLUMNS}) VALUES (new.id, {NEW});
    END""",
    f"""CREATE TRIGGER staff_search_delete AFTER DELETE ON staff BEGIN
        INSERT INTO staff_search(staff_search, rowid, {COLUMNS}) VALUES ('delete', old.id, {OLD});
    END""",
    f"""CREATE TRIGGER staff_search_update AFTER UPDATE OF id, {COLUMNS} ON staff BEGIN
        INSERT INTO staff_search(staff_search, rowid, {COLUMNS}) VALUES ('delete', old.id, {OLD});
        INSERT INTO staff_search(rowid, {COLUMNS}) VALUES (new.id, {NEW});
    END""",
    "INSERT INTO staff_search(staff_search) VALUES ('rebuild')",
]


def upgrade() -> None:
    for name, columns in SORT_INDEXES.items():
        op.create_index(name, "staff", columns)
    if op.get_context().dialect.name == "postgresql":
        # pg_trgm ships with PostgreSQL and is a trusted extension (13+): the database's
        # owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in SEARCHED:
            op.execute(
                f"CREATE INDEX ix_staff_search_{column} ON staff "
                f"USING gin (lower({column}) gin_trgm_ops)"
            )
    else:
        for statement in SQLITE_SEARCH:
            op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        # pg_trgm stays: other databases' objects may use it, and it costs nothing unused.
        for column in SEARCHED:
            op.execute(f"DROP INDEX ix_staff_search_{column}")
    else:
        for trigger in ("staff_search_insert", "staff_search_update", "staff_search_delete"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE staff_search")
    for name in reversed(SORT_INDEXES):
        op.drop_index(name, table_name="staff")
