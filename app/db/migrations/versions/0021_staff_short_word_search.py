"""staff: an index for search words of one or two characters (a GIN index on an array of
each searched field's short substrings on PostgreSQL; a table kept in step by triggers on
SQLite)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 10:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The searched fields and their tags (app.staff.models.SHORT_WORD_TAGS), in the order of
# the PostgreSQL function's arguments.
FIELDS = (
    ("first_name", "f"),
    ("last_name", "l"),
    ("title", "t"),
    ("company", "c"),
    ("email", "e"),
)
ARGUMENTS = ", ".join(name for name, _ in FIELDS)

# Every substring of one or two characters of lower(<field>), tagged with the field.
# lower() is immutable, so the function may define an index.
POSTGRES = [
    f"""CREATE FUNCTION staff_short_grams(
            first_name text, last_name text, title text, company text, email text)
        RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(array_agg(DISTINCT f.tag || substr(f.v, p.n, k.len)), '{{}}')
        FROM (VALUES {", ".join(f"('{t}', lower(${i + 1}))" for i, (_, t) in enumerate(FIELDS))})
            AS f(tag, v)
        CROSS JOIN LATERAL generate_series(1, length(f.v)) AS p(n)
        CROSS JOIN (VALUES (1), (2)) AS k(len)
        WHERE p.n + k.len - 1 <= length(f.v)
    $$""",
    f"CREATE INDEX ix_staff_short_grams ON staff USING gin (staff_short_grams({ARGUMENTS}))",
]

# SQLite: one row per (account, tagged substring, record), read by the first two. Fields
# are at most 255 characters (app.staff.fields); the positions go well beyond.
POSITIONS = 1024


def _grams(row: str, source: str = "") -> str:
    """A SELECT of (account_id, gram, staff_id) for the record ``row`` (new or old), each
    gram once: usable inside a trigger (which may not hold a WITH clause); ``source``:
    the FROM items that name ``row`` outside one."""
    parts = []
    for name, tag in FIELDS:
        value = f"lower(coalesce({row}.{name}, ''))"
        for size, bound in ((1, "<="), (2, "<")):
            parts.append(
                f"SELECT {row}.account_id, '{tag}' || substr({value}, n, {size}), {row}.id "
                f"FROM {source}staff_short_word_positions WHERE n {bound} length({value})"
            )
    return " UNION ".join(parts)


SQLITE = [
    "CREATE TABLE staff_short_word_positions (n INTEGER PRIMARY KEY)",
    "CREATE TABLE staff_short_word (account_id INTEGER NOT NULL, gram TEXT NOT NULL, "
    "staff_id INTEGER NOT NULL, PRIMARY KEY (account_id, gram, staff_id)) WITHOUT ROWID",
    f"""CREATE TRIGGER staff_short_word_insert AFTER INSERT ON staff BEGIN
        INSERT OR IGNORE INTO staff_short_word(account_id, gram, staff_id) {_grams("new")};
    END""",
    f"""CREATE TRIGGER staff_short_word_delete AFTER DELETE ON staff BEGIN
        DELETE FROM staff_short_word WHERE (account_id, gram, staff_id) IN ({_grams("old")});
    END""",
    f"""CREATE TRIGGER staff_short_word_update
        AFTER UPDATE OF id, account_id, {ARGUMENTS} ON staff BEGIN
        DELETE FROM staff_short_word WHERE (account_id, gram, staff_id) IN ({_grams("old")});
        INSERT OR IGNORE INTO staff_short_word(account_id, gram, staff_id) {_grams("new")};
    END""",
]


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for statement in POSTGRES:
            op.execute(statement)
        return
    for statement in SQLITE:
        op.execute(statement)
    op.execute(
        "WITH RECURSIVE p(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM p "
        f"WHERE n < {POSITIONS}) INSERT INTO staff_short_word_positions(n) SELECT n FROM p"
    )
    op.execute(
        "INSERT OR IGNORE INTO staff_short_word(account_id, gram, staff_id) "
        + _grams("new", "staff AS new, ")
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_staff_short_grams")
        op.execute("DROP FUNCTION staff_short_grams(text, text, text, text, text)")
        return
    for trigger in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER staff_short_word_{trigger}")
    op.execute("DROP TABLE staff_short_word")
    op.execute("DROP TABLE staff_short_word_positions")
