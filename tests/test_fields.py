"""The field tables (``app.fields``): every column of every table has a row, unknown fields
and tables are errors, and an override is undone when its block ends."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from app import fields
from app.audit.changes import NOT_AUDITED
from app.db.models import Base
from app.fields import Audit, Backup, UnknownField, Visibility

TABLES = sorted(Base.metadata.tables)


@pytest.mark.parametrize("name", TABLES)
def test_every_column_of_every_table_has_one_row(name):
    """A new column (or a new table) fails here until its field table classifies it."""
    columns = {c.key for c in Base.metadata.tables[name].columns}
    table = fields.table(name)
    assert set(table.columns) == columns, (
        f"{name}: without a row {sorted(columns - set(table.columns))}, "
        f"rows for no column {sorted(set(table.columns) - columns)}"
    )


def test_every_mapped_attribute_is_a_classified_column():
    """The audit log reads the ORM's attributes: each is a column its table classifies."""
    for mapper in Base.registry.mappers:
        table = fields.table(mapper.local_table.name)
        for attribute in mapper.column_attrs:
            table.column(attribute.key)


def test_audited_tables_and_backed_up_tables_are_registered():
    from app.accounts.backup import _sections

    backed_up = {
        inspect(stmt.column_descriptions[0]["entity"]).local_table.name
        for _, stmt, _ in _sections(1, personal=True, keyring=None, hidden_fields=set())
    } | {"accounts"}
    audited = set(TABLES) - NOT_AUDITED
    assert backed_up | audited <= set(fields.tables())


def test_what_the_log_and_the_backup_keep_follows_the_class():
    row = fields.Field("x", Visibility.PERSONAL)
    assert (row.audited, row.backed_up) == (Audit.REDACTED, Backup.WITH_PERSONAL_DATA)
    row = fields.Field("x", Visibility.SECRET)
    assert (row.audited, row.backed_up) == (Audit.REDACTED, Backup.LEFT_OUT)
    for visibility in (Visibility.BASIC, Visibility.DETAILED, Visibility.INTERNAL):
        row = fields.Field("x", visibility)
        assert (row.audited, row.backed_up) == (Audit.LOGGED, Backup.KEPT)
    assert fields.derived_key("name_key").audited is Audit.IGNORED
    assert fields.derived_key("name_key").backed_up is Backup.LEFT_OUT


def test_secrets_of_other_records_are_redacted_and_never_backed_up():
    for table, column in [
        ("users", "password_hash"),
        ("auth_tokens", "digest"),
        ("user_tokens", "digest"),
        ("invitations", "token_digest"),
        ("join_links", "token_digest"),
    ]:
        row = fields.table(table).column(column)
        assert row.visibility is Visibility.SECRET, (table, column)
        assert (row.audited, row.backed_up) == (Audit.REDACTED, Backup.LEFT_OUT)
    assert fields.table("invitations")["email"].backed_up is Backup.WITH_PERSONAL_DATA


def test_unknown_tables_fields_and_columns_are_errors():
    with pytest.raises(UnknownField):
        fields.table("no_such_table")
    staff = fields.table("staff")
    with pytest.raises(UnknownField):
        staff["nickname"]
    with pytest.raises(UnknownField):
        staff.column("nickname")
    assert "nickname" not in staff
    with pytest.raises(KeyError):  # UnknownField is a KeyError
        fields.table("invitations")["password"]


def test_an_override_lasts_for_its_block_and_rederives():
    from app.audit import changes

    table = fields.table("projects")
    with table.override("description", visibility=Visibility.PERSONAL) as row:
        assert row.visibility is Visibility.PERSONAL
        assert table["description"] is row and table.column("description") is row
        assert table["description"].audited is Audit.REDACTED
        assert changes._rules("projects")["description"] is Audit.REDACTED  # derived again
    assert table["description"].visibility is Visibility.BASIC
    assert changes._rules("projects")["description"] is Audit.LOGGED
    with pytest.raises(UnknownField):
        with table.override("nickname", visibility=Visibility.PERSONAL):
            pass


def test_rows_are_checked_when_a_table_is_made():
    with pytest.raises(ValueError, match="two rows"):
        fields.FieldTable("t", [fields.Field("a", Visibility.BASIC)] * 2)
    with pytest.raises(ValueError, match="in two rows"):
        fields.FieldTable(
            "t",
            [
                fields.Field("a", Visibility.BASIC),
                fields.Field("b", Visibility.BASIC, columns=("a",)),
            ],
        )
    with pytest.raises(ValueError, match="one CSV header per column"):
        fields.Field("a", Visibility.BASIC, columns=("a1", "a2"), csv=("A",))
