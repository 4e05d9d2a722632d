"""staff: SQLite's short-word triggers delete a record's old substrings by its primary key

The update and delete triggers of 0021 deleted with a row-value ``IN`` over a compound
select, which SQLite answers by scanning every row of ``staff_short_word``: each staff
update or delete cost time in proportion to the whole index (7 ms a title change at 500
staff, 29 ms at 2,000), with the database's write lock held. They now name the account and
the record and look the old substrings up in the table's primary key.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 23:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The searched fields and their tags, as 0021 has them.
FIELDS = (
    ("first_name", "f"),
    ("last_name", "l"),
    ("title", "t"),
    ("company", "c"),
    ("email", "e"),
)
ARGUMENTS = ", ".join(name for name, _ in FIELDS)


def _grams(row: str, *, keyed: bool) -> str:
    """A SELECT of each tagged substring of one or two characters of ``row`` (new or old),
    each once; ``keyed``: with the account and the record around it (an insert's rows)."""
    parts = []
    for name, tag in FIELDS:
        value = f"lower(coalesce({row}.{name}, ''))"
        for size, bound in ((1, "<="), (2, "<")):
            gram = f"'{tag}' || substr({value}, n, {size})"
            selected = f"{row}.account_id, {gram}, {row}.id" if keyed else gram
            parts.append(
                f"SELECT {selected} FROM staff_short_word_positions WHERE n {bound} length({value})"
            )
    return " UNION ".join(parts)


def _delete(row: str) -> str:
    return (
        f"DELETE FROM staff_short_word WHERE account_id = {row}.account_id "
        f"AND staff_id = {row}.id AND gram IN ({_grams(row, keyed=False)})"
    )


def _delete_scanning(row: str) -> str:
    """0021's form (for the downgrade)."""
    return (
        "DELETE FROM staff_short_word WHERE (account_id, gram, staff_id) IN "
        f"({_grams(row, keyed=True)})"
    )


def _insert() -> str:
    return (
        "INSERT OR IGNORE INTO staff_short_word(account_id, gram, staff_id) "
        + _grams("new", keyed=True)
    )


def _triggers(delete) -> list[str]:
    return [
        f"""CREATE TRIGGER staff_short_word_delete AFTER DELETE ON staff BEGIN
            {delete("old")};
        END""",
        f"""CREATE TRIGGER staff_short_word_update
            AFTER UPDATE OF id, account_id, {ARGUMENTS} ON staff BEGIN
            {delete("old")};
            {_insert()};
        END""",
    ]


def _replace(delete) -> None:
    if op.get_context().dialect.name != "sqlite":
        return  # PostgreSQL's index is a GIN index on an expression: nothing to mend
    op.execute("DROP TRIGGER staff_short_word_delete")
    op.execute("DROP TRIGGER staff_short_word_update")
    for statement in _triggers(delete):
        op.execute(statement)


def upgrade() -> None:
    _replace(_delete)


def downgrade() -> None:
    _replace(_delete_scanning)
