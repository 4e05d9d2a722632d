"""SQLite: ids are never reused (AUTOINCREMENT on every table with an integer id)

Without AUTOINCREMENT SQLite numbers a new row one past the largest id left, so deleting
the newest staff record and adding another gave the new person the deleted one's id: its
global id, audit targetId, webhook payload id and any id a client or partner kept now
named someone else. Each table with an integer id is rebuilt with ``PRIMARY KEY
AUTOINCREMENT`` (SQLite cannot add it in place): the table's own SQL with only the
primary key clause changed, its rows copied with their ids, its indexes and triggers
(staff's search triggers) made again from their stored SQL, and its ``sqlite_sequence``
entry set past every id it is known to have handed out: its largest id, and the largest
one the audit log and the events name for its record type (rows deleted before this
migration may have had larger ids; those are the ones still on record).

Foreign keys must be off for the rebuild (dropping a referenced table with them on would
delete or null the rows that refer to it); Alembic's connection has them off, and the
migration refuses to run otherwise. ``PRAGMA foreign_key_check`` must find nothing after.

PostgreSQL's identity columns never reuse a value: nothing to do there. Downgrading
rebuilds the tables as they were (the primary key a table constraint again); upgrading
skips a table that already has AUTOINCREMENT.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 22:30:00
"""

import re
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table whose primary key is one integer ``id`` (as of this revision).
TABLES = (
    "accounts",
    "audit_entries",
    "auth_tokens",
    "custom_fields",
    "email_outbox",
    "events",
    "invitations",
    "join_links",
    "join_requests",
    "project_team_roles",
    "projects",
    "staff",
    "staff_statuses",
    "user_tokens",
    "users",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
)

# The record type names the audit log (target_type) and events (subject_type) use.
TYPE_NAMES = {
    "accounts": "Account",
    "auth_tokens": "ApiToken",
    "custom_fields": "CustomField",
    "invitations": "Invitation",
    "join_links": "JoinLink",
    "join_requests": "JoinRequest",
    "project_team_roles": "ProjectTeamRole",
    "projects": "Project",
    "staff": "Staff",
    "staff_statuses": "StaffStatus",
    "user_tokens": "UserToken",
    "users": "User",
    "webhook_deliveries": "WebhookDelivery",
    "webhook_endpoints": "WebhookEndpoint",
}

ID_COLUMN = re.compile(r"(?m)^(\s*)id INTEGER NOT NULL,")


def autoincrement_sql(table: str, sql: str, new_name: str) -> str:
    """``sql`` (the table's CREATE TABLE as SQLite keeps it) for a table ``new_name`` whose
    ``id`` is ``INTEGER PRIMARY KEY AUTOINCREMENT``; nothing else changes."""
    pk = f"pk_{table}"
    clause = re.compile(rf",\s*CONSTRAINT {pk} PRIMARY KEY \(id\)(?=\s*[,)])")
    new, heads = _head(table).subn(f'CREATE TABLE "{new_name}" (', sql)
    column = rf"\1id INTEGER NOT NULL CONSTRAINT {pk} PRIMARY KEY AUTOINCREMENT,"
    new, ids = ID_COLUMN.subn(column, new)
    new, clauses = clause.subn("", new)
    if (heads, ids, clauses) != (1, 1, 1):
        raise RuntimeError(f"0028: unexpected CREATE TABLE of {table}: {sql}")
    return new


def plain_sql(table: str, sql: str, new_name: str) -> str:
    """The reverse of ``autoincrement_sql``: the primary key the first table constraint."""
    pk = f"pk_{table}"
    new, heads = _head(table).subn(f'CREATE TABLE "{new_name}" (', sql)
    new, ids = re.subn(
        rf"(?m)^(\s*)id INTEGER NOT NULL CONSTRAINT {pk} PRIMARY KEY AUTOINCREMENT,",
        r"\1id INTEGER NOT NULL,",
        new,
    )
    first = rf"\1CONSTRAINT {pk} PRIMARY KEY (id), \n\1CONSTRAINT "
    new, clauses = re.subn(r"(?m)^(\s*)CONSTRAINT ", first, new, count=1)
    if (heads, ids, clauses) != (1, 1, 1):
        raise RuntimeError(f"0028: unexpected CREATE TABLE of {table}: {sql}")
    return new


def _head(table: str) -> re.Pattern:
    return re.compile(rf'^CREATE TABLE ("?){re.escape(table)}\1 \(')


def _rows(connection, statement: str, **params) -> list[tuple]:
    return [tuple(row) for row in connection.execute(text(statement), params)]


def _highest_known_id(connection, table: str) -> int:
    highest = connection.execute(text(f'SELECT coalesce(max(id), 0) FROM "{table}"')).scalar()
    type_name = TYPE_NAMES.get(table)
    if type_name is not None:
        for statement in (
            "SELECT max(target_id) FROM audit_entries WHERE target_type = :t",
            "SELECT max(subject_id) FROM events WHERE subject_type = :t",
        ):
            named = connection.execute(text(statement), {"t": type_name}).scalar()
            highest = max(highest, named or 0)
    return int(highest)


def _rebuild(connection, table: str, *, autoincrement: bool) -> None:
    [(sql,)] = _rows(
        connection, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t", t=table
    )
    if ("AUTOINCREMENT" in sql.upper()) == autoincrement:
        return
    # indexes (not those of UNIQUE constraints: the table's SQL makes them) and triggers,
    # which go with the old table
    dependents = _rows(
        connection,
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = :t "
        "AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, rowid",
        t=table,
    )
    known = _highest_known_id(connection, table)
    count = connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar()
    new_name = f"_0028_{table}"
    rewrite = autoincrement_sql if autoincrement else plain_sql
    connection.execute(text(rewrite(table, sql, new_name)))
    connection.execute(text(f'INSERT INTO "{new_name}" SELECT * FROM "{table}"'))
    connection.execute(text(f'DROP TABLE "{table}"'))
    connection.execute(text(f'ALTER TABLE "{new_name}" RENAME TO "{table}"'))
    for _type, _name, dependent_sql in dependents:
        connection.execute(text(dependent_sql))
    if autoincrement:
        # inserting the ids set the sequence to the largest; raise it to any larger one known
        connection.execute(text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
        connection.execute(
            text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :seq)"),
            {"t": table, "seq": known},
        )
    copied = connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar()
    if copied != count:
        raise RuntimeError(f"0028: {table} had {count} rows, the rebuilt one {copied}")


def _rebuild_all(*, autoincrement: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    # Only outside a transaction does SQLite change this; Alembic's connection has it off.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "0028 rebuilds tables others refer to and needs foreign keys off "
            "(PRAGMA foreign_keys=OFF before the migration's transaction)"
        )
    # A write first, so that the Python driver opens the transaction now: every statement
    # of the rebuild, CREATE and DROP too, then commits or rolls back together.
    connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
    for table in TABLES:
        _rebuild(connection, table, autoincrement=autoincrement)
    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if dangling:
        raise RuntimeError(f"0028: foreign keys left dangling: {[tuple(r) for r in dangling]}")


def upgrade() -> None:
    _rebuild_all(autoincrement=True)


def downgrade() -> None:
    _rebuild_all(autoincrement=False)
