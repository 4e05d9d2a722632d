"""staff_directory_keys (PostgreSQL): a narrow copy of each record's listing, sort keys
and searched text, kept in step with staff by a trigger in the same transaction

A search whose matches cluster far along the sort (a common last name, sorted by last
name) reads every match first and sorts them (app.staff.queries.MATCHES_FIRST). On staff
each match is a row of some 450 bytes read and rechecked against five lower-cased fields:
22,000 matches at 100,000 staff cost 27 ms, nearly all of it in the table's heap. This
table holds only what that reading needs: the sort keys, and the fields every directory
searcher searches lower-cased in one column (a word holds no whitespace, so it never spans
the newline between two fields), with a trigram index on it, on the email sort key's
lower case and on the role's; the matches are found, rechecked and sorted here, and only
the page's rows are read from staff.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 16:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _folded(*columns: str) -> str:
    return " || E'\\n' || ".join(f"lower(coalesce(NEW.{c}, ''))" for c in columns)


# Each column (app.staff.models.DIRECTORY_KEYS names the same): its type and its value
# from the staff row. The sort keys are app.staff.queries.sort_expression's values.
COLUMNS = {
    "account_id": ("integer NOT NULL", "NEW.account_id"),
    "account_status": ("varchar(16) NOT NULL", "NEW.account_status"),
    "is_inactive": ("boolean NOT NULL", "NEW.is_inactive"),
    "role": ("varchar(16) NOT NULL", "NEW.role"),
    "created_at": ("timestamp with time zone NOT NULL", "NEW.created_at"),
    "last_name_key": ("varchar(100) NOT NULL", "NEW.last_name_key"),
    "first_name_key": ("text NOT NULL", "lower(NEW.first_name)"),
    "title_key": ("text NOT NULL", "lower(coalesce(NEW.title, ''))"),
    "company_key": ("text NOT NULL", "lower(coalesce(NEW.company, ''))"),
    "email_key": ("text NOT NULL", "coalesce(NEW.email, '')"),
    "card_text": ("text NOT NULL", _folded("first_name", "last_name", "title", "company")),
}
# The staff columns the copy is made of: an update of any other copies nothing
SOURCES = (
    "account_id, account_status, is_inactive, role, created_at, last_name_key, "
    "first_name, last_name, title, company, email"
)
NAMES = ", ".join(COLUMNS)


def _trigram_index(expression: str, name: str) -> str:
    return (
        f"CREATE INDEX ix_staff_directory_keys_{name} ON staff_directory_keys "
        f"USING gin ({expression} gin_trgm_ops)"
    )


UPGRADE = [
    # The record's id is the key; deleting a record (or its account, or truncating staff
    # with CASCADE) deletes its copy
    "CREATE TABLE staff_directory_keys ("
    "id integer PRIMARY KEY REFERENCES staff(id) ON DELETE CASCADE, "
    + ", ".join(f"{name} {kind}" for name, (kind, _) in COLUMNS.items())
    + ")",
    f"""CREATE FUNCTION staff_directory_keys_copy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO staff_directory_keys (id, {NAMES})
        VALUES (NEW.id, {", ".join(value for _, value in COLUMNS.values())})
        ON CONFLICT (id) DO UPDATE SET
            {", ".join(f"{name} = EXCLUDED.{name}" for name in COLUMNS)};
        RETURN NULL;
    END
    $$""",
    "CREATE TRIGGER staff_directory_keys_insert AFTER INSERT ON staff "
    "FOR EACH ROW EXECUTE FUNCTION staff_directory_keys_copy()",
    f"CREATE TRIGGER staff_directory_keys_update AFTER UPDATE OF {SOURCES} ON staff "
    f"FOR EACH ROW WHEN (({', '.join(f'OLD.{n}' for n in SOURCES.split(', '))}) "
    f"IS DISTINCT FROM ({', '.join(f'NEW.{n}' for n in SOURCES.split(', '))})) "
    "EXECUTE FUNCTION staff_directory_keys_copy()",
    # the existing records (the trigger's values, with the row for NEW), then the indexes
    f"INSERT INTO staff_directory_keys (id, {NAMES}) SELECT NEW.id, "
    + ", ".join(value for _, value in COLUMNS.values())
    + " FROM staff AS NEW",
    _trigram_index("card_text", "card_text"),
    _trigram_index("lower(email_key)", "email"),
    # the whole-word role search (lower(role) = word), as on staff
    _trigram_index("lower(role)", "role"),
]

DOWNGRADE = [
    "DROP TRIGGER staff_directory_keys_update ON staff",
    "DROP TRIGGER staff_directory_keys_insert ON staff",
    "DROP FUNCTION staff_directory_keys_copy()",
    "DROP TABLE staff_directory_keys",
]


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return  # SQLite's pages are read by other means (app.staff.queries.sieve_of)
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for statement in DOWNGRADE:
        op.execute(statement)
