"""Field tables: one row per field of a record type, the only place that classifies it.

A row names the field, the model column(s) it is stored in, its API name and CSV header(s),
its visibility class, who may write it and how its input is cleaned. Everything that
shows, writes, exports, backs up or logs a field reads these rows: access checks, the
GraphQL types (and the compiled hot plan), the CSV export, the account backup, the audit
log and input cleaning. A field (or a column) no row names is an error, never "visible".

Staff's table is ``app.staff.fields.STAFF``; every other table has one in its own package
(``<package>/fields.py``), in the same shape. ``table(name)`` finds a table's by its name:
the audit log and the backup look every column up there.

A test may change a row for a while (``FieldTable.override``); whatever is derived from the
tables is derived again then (``derive``), so every consumer follows.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any


class UnknownField(KeyError):
    """A field or column that no row of its record type's table names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown field"


class Visibility(enum.Enum):
    """Who sees a field of a record. Add a class as one member here, then say in
    ``NEEDS_PROFILE`` / ``NEEDS_DETAILS`` / ``NEEDS_PERSONAL_DATA`` what seeing it takes."""

    CARD = "card"  # everyone who sees the record, guests included: the name card guests
    # see of the people on their projects (number, name, title, kind)
    BASIC = "basic"  # everyone who sees the record's profile: every member but guests
    # (who see only their own)
    DETAILED = "detailed"  # those who see the record's details (restricted records)
    PERSONAL = "personal"  # the person, and holders of ViewPersonalData
    SECRET = "secret"  # personal data that also needs the details (SSN, salary); for
    # other records: credentials and token digests, which nobody sees
    INTERNAL = "internal"  # bookkeeping (ids, keys, derived sort keys): never shown as data


# What seeing a field of each class takes, besides seeing the record.
NEEDS_PROFILE = frozenset(Visibility) - {Visibility.CARD}
NEEDS_DETAILS = frozenset({Visibility.DETAILED, Visibility.SECRET})
NEEDS_PERSONAL_DATA = frozenset({Visibility.PERSONAL, Visibility.SECRET})


class Write(enum.Enum):
    """Who may write a field through field edits (create and update of the record)."""

    EDITORS = "editors"  # whoever may edit the record; personal and secret fields ask
    # more (``app.staff.access.write_denial``)
    ADMINISTRATORS = "administrators"  # EDIT_RESTRICTED_STAFF only
    NOBODY = "nobody"  # set by the system or by an operation of its own, never edited


class Audit(enum.Enum):
    """What the audit log keeps of a column's changes."""

    LOGGED = "logged"
    REDACTED = "redacted"  # that it changed (and whether it is set), never the value
    IGNORED = "ignored"  # bookkeeping that changes with others (timestamps, sort keys)


class Backup(enum.Enum):
    """Whether a column is in the account backup."""

    KEPT = "kept"
    WITH_PERSONAL_DATA = "personal"  # only in backups made with ViewPersonalData
    LEFT_OUT = "left out"  # never: secrets, digests, keys derived from other columns


Clean = Callable[["Field", Any], Any]


@dataclass(frozen=True)
class Field:
    """One field of a record type."""

    name: str  # the domain's name (snake_case): input keys, write checks, error paths
    visibility: Visibility
    columns: tuple[str, ...] = ()  # the model columns it is stored in (default: its name)
    api: str | None = None  # its field on the record's GraphQL type, if shown there
    csv: tuple[str, ...] = ()  # its CSV export headers, one per column; () if not exported
    write: Write = Write.NOBODY
    clean: Clean | None = None  # validates and normalises an input value (``cleaned``)
    encrypted: bool = False  # stored encrypted (the column holds ciphertext)
    audit: Audit | None = None  # None: as its class says (``audited``)
    backup: Backup | None = None  # None: as its class says (``backed_up``)
    denied: str | None = None  # why a write is refused, where the rule's words do not fit
    # who may set it on a record they add, where that is not ``write`` (restricting a
    # record one adds: whoever adds it keeps sight of it)
    create: Write | None = None
    # partner catalogues (by name) in which the field is optional on add although Roster's
    # own surfaces require it: a record added through one of them without it stores it
    # empty, as a record an invitation made without names does
    optional_on_add: frozenset[str] = frozenset()
    # a counter (an account's ``staff_seq``): the last value it handed out of the column
    # named ``table.column``, per account; never below what that column holds (the
    # backup's restore refuses a document whose counter is, app.accounts.backup_document)
    counts: str | None = None
    # a change stamp's fields: the value a reader is shown is the latest of these (each a
    # field of this table, read from its column) that they see; a change to a field moves
    # the one of its class (a record's ``modifiedAt``: ``app.staff.stamps``)
    latest_of: tuple[str, ...] = ()
    # its value is a number, whatever column holds it (an encrypted field's holds its
    # text): "12.50" and 12.5 are one value; any other field's text is its characters
    # ("02134" is no zip 2134)
    number: bool = False

    def __post_init__(self):
        if not self.columns:
            object.__setattr__(self, "columns", (self.name,))
        if self.csv and len(self.csv) != len(self.columns):
            raise ValueError(f"{self.name}: one CSV header per column")

    @property
    def audited(self) -> Audit:
        if self.audit is not None:
            return self.audit
        if self.visibility in NEEDS_PERSONAL_DATA:
            return Audit.REDACTED  # the log's readers with ViewPersonalData see it changed
        return Audit.LOGGED

    @property
    def personal_data(self) -> bool:
        """Whether it holds a person's data, which holders of ViewPersonalData see: a
        PERSONAL field, and a SECRET one encrypted at rest (an SSN, a salary: decrypted for
        whoever may see it). The other SECRET fields are credentials (a password's hash, a
        token's digest, a sealed secret), which nobody is shown."""
        return self.visibility is Visibility.PERSONAL or (
            self.visibility is Visibility.SECRET and self.encrypted
        )

    @property
    def created(self) -> Write:
        """Who may set it on a record they add (``create``, else ``write``)."""
        return self.write if self.create is None else self.create

    @property
    def backed_up(self) -> Backup:
        if self.backup is not None:
            return self.backup
        if self.visibility is Visibility.SECRET:
            return Backup.LEFT_OUT  # ciphertext or digest (plaintext: the section's own)
        if self.visibility in NEEDS_PERSONAL_DATA:
            return Backup.WITH_PERSONAL_DATA
        return Backup.KEPT

    @property
    def as_is(self) -> bool:
        """Its GraphQL field shows its one column as stored (no resolver between)."""
        return (
            self.api is not None
            and not self.latest_of
            and self.columns == (self.name,)
            and not self.encrypted
            and self.api == camel(self.name)
        )

    def cleaned(self, value):
        """``value`` validated and normalised (a DomainError names this field if not)."""
        if self.clean is None:
            raise UnknownField(f"{self.name} is not written through field edits")
        return self.clean(self, value)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def rows(visibility: Visibility, *names: str, **options) -> list[Field]:
    """Several fields of one class with the same options (a table's plain columns)."""
    return [Field(name, visibility, **options) for name in names]


def derived_key(name: str) -> Field:
    """A column computed from another (a casefolded sort key): never shown, logged or
    backed up (it is computed again from the column it comes from)."""
    return Field(name, Visibility.INTERNAL, audit=Audit.IGNORED, backup=Backup.LEFT_OUT)


class FieldTable:
    """The fields of one record type (one table), in order."""

    def __init__(self, table: str, fields: Iterable[Field]):
        self.table = table
        self._set(tuple(fields))

    def _set(self, fields: tuple[Field, ...]) -> None:
        by_name: dict[str, Field] = {}
        by_column: dict[str, Field] = {}
        for row in fields:
            if row.name in by_name:
                raise ValueError(f"{self.table}.{row.name}: two rows")
            by_name[row.name] = row
            for column in row.columns:
                if column in by_column:
                    raise ValueError(f"{self.table}.{column}: in two rows")
                by_column[column] = row
        self.rows = fields
        self._by_name = by_name
        self._by_column = by_column

    def __getitem__(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownField(f"{self.table} has no field {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Field]:
        return iter(self.rows)

    def column(self, column: str) -> Field:
        """The row a model column belongs to."""
        try:
            return self._by_column[column]
        except KeyError:
            raise UnknownField(f"{self.table}.{column} has no row in its field table") from None

    @property
    def columns(self) -> Mapping[str, Field]:
        return self._by_column

    @contextmanager
    def override(self, name: str, **changes) -> Iterator[Field]:
        """Change one row (``visibility=Visibility.PERSONAL``...) until the block ends;
        everything derived from the tables is derived again on the way in and out."""
        before = self.rows
        changed = replace(self[name], **changes)
        self._set(tuple(changed if row.name == name else row for row in before))
        _changed()
        try:
            yield changed
        finally:
            self._set(before)
            _changed()


# --- derived values --------------------------------------------------------------------

_derivers: list[Callable[[], None]] = []


def derive(function: Callable[[], None]) -> Callable[[], None]:
    """Run ``function`` now and whenever a table changes: it (re)computes what a module
    keeps derived from the tables (sets built once, not per request)."""
    _derivers.append(function)
    function()
    return function


def on_change(function: Callable[[], None]) -> Callable[[], None]:
    """Run ``function`` whenever a table changes (e.g. to drop a lazily built cache)."""
    _derivers.append(function)
    return function


def _changed() -> None:
    for function in _derivers:
        function()


# --- the registry: table name -> field table -------------------------------------------

# The packages that hold a field table (in ``fields.py``).
TABLE_MODULES = (
    "app.accounts.fields",
    "app.audit.fields",
    "app.custom_fields.fields",
    "app.email.fields",
    "app.events.fields",
    "app.identity.fields",
    "app.invitations.fields",
    "app.ops.fields",
    "app.projects.fields",
    "app.security.fields",
    "app.staff.fields",
    "app.webhooks.fields",
)

_tables: dict[str, FieldTable] = {}
_loaded = False


def register(*tables: FieldTable) -> None:
    for table in tables:
        if _tables.setdefault(table.table, table) is not table:
            raise ValueError(f"two field tables for {table.table}")


def tables() -> Mapping[str, FieldTable]:
    """Every record type's field table, by table name."""
    global _loaded
    if not _loaded:
        for module in TABLE_MODULES:
            importlib.import_module(module)
        _loaded = True
    return _tables


def table(name: str) -> FieldTable:
    try:
        return tables()[name]
    except KeyError:
        raise UnknownField(f"the table {name!r} has no field table") from None
