"""Restoring an account backup (``roster account import``): the document the exporter
writes (``app.accounts.backup``) read back into the database in one transaction, as the
account it was or, next to other accounts, as a new one.

Columns: a row may hold exactly the columns the field tables back up (``Backup``), plus
the decrypted secrets on staff rows; any other key refuses the file. Columns the backup
leaves out are computed again (sort keys), made new (token digests) or take their
defaults. Secrets are encrypted again under the keyring's current key, bound to the
restored account (never copied as ciphertext).

Ids: each table's ids are kept where none of them is in use (a restore into an empty
database, or after the account was deleted), so that exporting the restored account gives
the same document; otherwise the rows get new ids, in the document's order, and every
reference (manager, status, team role, project member, custom value, invitation,
audit entry...) follows its row. A reference to a row the document does not hold refuses
the file; the audit log's references are history without foreign keys: one to a row
not in the document is kept with kept ids, and cleared with new ones (it would name a
stranger's row).

Logins are never restored: the backup holds no users, and linking a staff record to
whichever login shares its email would hand the account to that login's owner on the
strength of a field editors may change. So a restored record has no login (``user_id``
null), a member who was ACTIVE comes back NOT_INVITED (an administrator invites them
again), invitations lose the login that accepted them, audit entries the user ids of
their actors (names stay), and pending invitations and join links get new digests of
tokens nobody holds (resend the invitation, make a new link). These are the only columns
in which a restored account's export differs from the file it came from; restoring that
export again changes nothing.

Someone must be able to sign in to the restored account, so the operator may name the
login that owns it (``owner_email``, ``--owner-email``): an existing login, named on
purpose by whoever runs the restore, becomes the owner record's login (ACTIVE); nothing is
guessed from the backup's emails.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Date, Enum, Integer, Numeric, String, exists, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.access import Role
from app.accounts.backup import FORMAT, VERSION
from app.accounts.errors import BackupRejected, SlugTaken
from app.accounts.models import Account
from app.accounts.service import check_new_account
from app.audit import changes
from app.audit.models import AuditEntry
from app.custom_fields.models import CustomField, CustomFieldValue
from app.db.base import UTCDateTime
from app.errors import DomainError
from app.fields import Backup
from app.fields import table as field_table
from app.invitations.models import Invitation, JoinLink
from app.projects.models import Project, ProjectMember, ProjectTeamRole
from app.security.crypto import Keyring
from app.security.tokens import token_digest
from app.staff.fields import STAFF
from app.staff.models import AccountStatus, Staff, StaffPermitGrant, StaffShare, StaffStatus
from app.staff.service import write_secret
from app.validation import clean_email, name_key

ACCOUNT = "account"


def _unknown_token() -> str:
    return token_digest(secrets.token_urlsafe(32))


@dataclass(frozen=True)
class Section:
    """One list of the document: its rows' model and what restoring a row changes."""

    name: str
    model: type
    refs: dict[str, str] = field(default_factory=dict)  # column -> section of its ids
    history: dict[str, str] = field(default_factory=dict)  # the same, without a foreign key
    keys: dict[str, str] = field(default_factory=dict)  # sort key -> the column it keys
    cleared: tuple[str, ...] = ()  # logins: never restored
    made: dict[str, Callable[[], Any]] = field(default_factory=dict)  # left out, made new

    @property
    def table(self) -> str:
        return self.model.__table__.name  # type: ignore[attr-defined]


_STAFF_REFS = {"staff_id": "staff"}
_NAMED = {"name_key": "name"}
# In insertion order: a section after those its rows point at.
SECTIONS = (
    Section("staffStatuses", StaffStatus, keys=_NAMED),
    Section("projectTeamRoles", ProjectTeamRole, keys=_NAMED),
    Section("customFields", CustomField, keys=_NAMED),
    Section(
        "staff",
        Staff,
        refs={
            "status_id": "staffStatuses",
            "default_project_role_id": "projectTeamRoles",
            "manager_id": "staff",
        },
        keys={"last_name_key": "last_name"},
        cleared=("user_id",),
    ),
    Section("staffShares", StaffShare, refs={**_STAFF_REFS, "shared_with_id": "staff"}),
    Section("staffPermitGrants", StaffPermitGrant, refs=_STAFF_REFS),
    Section("projects", Project, refs={"created_by_staff_id": "staff"}, keys=_NAMED),
    Section(
        "projectMembers",
        ProjectMember,
        refs={"project_id": "projects", **_STAFF_REFS, "team_role_id": "projectTeamRoles"},
    ),
    Section(
        "customFieldValues", CustomFieldValue, refs={**_STAFF_REFS, "field_id": "customFields"}
    ),
    Section(
        "invitations",
        Invitation,
        refs={**_STAFF_REFS, "inviter_staff_id": "staff"},
        cleared=("accepted_user_id",),
        made={"token_digest": _unknown_token},
    ),
    Section(
        "joinLinks",
        JoinLink,
        refs={"created_by_staff_id": "staff"},
        made={"token_digest": _unknown_token},
    ),
    Section(
        "auditLog",
        AuditEntry,
        history={"actor_staff_id": "staff"},
        cleared=("actor_user_id", "impersonator_user_id"),
    ),
)
_ACCOUNT = Section(ACCOUNT, Account)
# An audit entry's target type (``app.audit.service.TYPE_NAMES``) -> the section of its id.
TARGETS = {
    "Staff": "staff",
    "Invitation": "invitations",
    "JoinLink": "joinLinks",
    "CustomField": "customFields",
    "StaffStatus": "staffStatuses",
    "Project": "projects",
    "ProjectTeamRole": "projectTeamRoles",
    "Account": ACCOUNT,
}
SECRETS = tuple(f.name for f in STAFF if f.encrypted)


@dataclass
class Restored:
    account: Account
    counts: dict[str, int]


# --- reading the document --------------------------------------------------------------


def _document(raw: bytes) -> dict:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BackupRejected(f"not a JSON document ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupRejected(f"not a Roster account backup (no format {FORMAT!r})")
    if document.get("version") != VERSION:
        raise BackupRejected(
            f"backup version {document.get('version')!r}; this Roster reads version {VERSION}"
        )
    known = {"format", "version", ACCOUNT, *(s.name for s in SECTIONS)}
    unknown = sorted(set(document) - known)
    if unknown:
        raise BackupRejected(f"unknown section {unknown[0]!r}")
    if not isinstance(document.get(ACCOUNT), dict):
        raise BackupRejected("the backup holds no account")
    for section in SECTIONS:
        if not isinstance(document.setdefault(section.name, []), list):
            raise BackupRejected(f"{section.name} is not a list")
    return document


def _backed_up(section: Section) -> set[str]:
    columns = field_table(section.table).columns
    kept = {name for name, row in columns.items() if row.backed_up is not Backup.LEFT_OUT}
    return kept | set(SECRETS) if section.model is Staff else kept


def _value(column, value, where: str):
    """A document value as the column holds it (the exporter's JSON forms), or refused."""
    if value is None:
        if not column.nullable:
            raise BackupRejected(f"{where}: must not be null")
        return None
    kind = column.type
    try:
        if isinstance(kind, UTCDateTime):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            return moment
        if isinstance(kind, Date):
            return date.fromisoformat(value)
        if isinstance(kind, Enum):
            return kind.enum_class(value) if kind.enum_class else str(value)
        if isinstance(kind, Boolean):
            if not isinstance(value, bool):
                raise ValueError("not true or false")
            return value
        if isinstance(kind, Integer):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("not an integer")
            return value
        if isinstance(kind, Numeric):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("not a number")
            return float(value)
        if isinstance(kind, JSON):
            return value
        if isinstance(kind, String):
            if not isinstance(value, str):
                raise ValueError("not text")
            if kind.length is not None and len(value) > kind.length:
                raise ValueError(f"longer than {kind.length} characters")
            return value
    except (TypeError, ValueError) as exc:
        raise BackupRejected(f"{where}: {value!r} is {exc}") from None
    raise BackupRejected(f"{where}: no reader for {kind!r}")  # a new column type


def _row(section: Section, raw, where: str) -> dict:
    if not isinstance(raw, dict):
        raise BackupRejected(f"{where}: not an object")
    allowed = _backed_up(section)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise BackupRejected(f"{where}: unknown column {unknown[0]!r}")
    columns = section.model.__table__.columns  # type: ignore[attr-defined]
    row = {}
    for key, value in raw.items():
        if key in SECRETS:
            if value is not None and not isinstance(value, str):
                raise BackupRejected(f"{where}.{key}: not text")
            row[key] = value
        else:
            row[key] = _value(columns[key], value, f"{where}.{key}")
    # A backup made without ViewPersonalData leaves personal columns out; a required one
    # (an invitation's email) comes back empty, as the backup showed it: not at all.
    rules = field_table(section.table).columns
    for column in columns:
        if (
            column.key not in row
            and not column.nullable
            and rules[column.key].backed_up is Backup.WITH_PERSONAL_DATA
        ):
            row[column.key] = ""
    computed = {*section.keys, *section.made, "account_id"}
    for column in columns:
        if (
            column.key not in row
            and column.key not in computed
            and not column.nullable
            and column.default is None
            and column.server_default is None
            and not (column.primary_key and column.autoincrement in (True, "auto"))
        ):
            raise BackupRejected(f"{where}: no {column.key}")
    if "id" in columns and not isinstance(row.get("id"), int):
        raise BackupRejected(f"{where}: no id")
    return row


def _check_references(account_id: int, rows: dict[str, list[dict]]) -> None:
    """Every row in the backup's account, and every reference to a row it holds."""
    ids: dict[str, set[int]] = {ACCOUNT: {account_id}}
    for section in SECTIONS:
        if "id" in section.model.__table__.columns:  # type: ignore[attr-defined]
            seen = [r["id"] for r in rows[section.name]]
            ids[section.name] = set(seen)
            if len(seen) != len(ids[section.name]):
                raise BackupRejected(f"{section.name}: an id appears twice")
    for section in SECTIONS:
        for i, row in enumerate(rows[section.name]):
            if row.get("account_id", account_id) != account_id:
                raise BackupRejected(f"{section.name}[{i}]: a row of another account")
            for column, target in section.refs.items():
                old = row.get(column)
                if old is not None and old not in ids[target]:
                    raise BackupRejected(
                        f"{section.name}[{i}].{column}: no {target} row with id {old}"
                    )


# --- writing ---------------------------------------------------------------------------


class Ids:
    """Old id -> new id, per section; ``keep``: the section kept its ids."""

    def __init__(self) -> None:
        self.maps: dict[str, dict[int, int]] = {}
        self.kept: dict[str, bool] = {}

    def __call__(self, section: str, old: int | None) -> int | None:
        return None if old is None else self.maps[section][old]

    def history(self, section: str | None, old: int | None) -> int | None:
        """A reference without a foreign key: followed if the row came along, else kept
        with kept ids and cleared with new ones."""
        if old is None or section is None:
            return old if section is None and self.kept.get(ACCOUNT) else None
        new = self.maps[section].get(old)
        if new is None and self.kept[section]:
            return old
        return new


async def _ids_free(session, model, ids: list[int]) -> bool:
    if not ids:
        return True
    used = exists().where(model.id.between(min(ids), max(ids)))
    return not await session.scalar(select(used))


async def _slug(session, document_slug: str, slug: str | None, name: str) -> str:
    chosen = slug if slug is not None else document_slug
    try:
        _, cleaned = await check_new_account(session, name=name, slug=chosen)
    except SlugTaken:
        hint = "" if slug is not None else " (choose another with --slug)"
        raise BackupRejected(f"the account slug {chosen!r} is taken{hint}") from None
    except DomainError as exc:
        raise BackupRejected(f"slug {chosen!r}: {exc.message}") from None
    assert cleaned is not None
    return cleaned


def _build(section: Section, row: dict, account_id: int, ids: Ids, keep: bool, keyring):
    values = dict(row)
    secret = {name: values.pop(name) for name in SECRETS if name in values}
    if not keep:
        values.pop("id", None)
    if "account_id" in section.model.__table__.columns:  # type: ignore[attr-defined]
        values["account_id"] = account_id
    for column, target in section.refs.items():
        if column == "manager_id":
            values.pop(column, None)  # after every record has its id
        elif column in values:
            values[column] = ids(target, values[column])
    for column, target in section.history.items():
        values[column] = ids.history(target, values.get(column))
    if section.model is AuditEntry:
        values["target_id"] = ids.history(
            TARGETS.get(row.get("target_type") or ""), row.get("target_id")
        )
    for column in section.cleared:
        values[column] = None
    for key, source in section.keys.items():
        values[key] = name_key(values[source])
    for column, make in section.made.items():
        values[column] = make()
    if section.model is Staff and values.get("account_status") is AccountStatus.ACTIVE:
        values["account_status"] = AccountStatus.NOT_INVITED  # no login comes back
    obj = section.model(**values)
    for name, value in secret.items():
        write_secret(keyring, obj, name, value)
    return obj


async def _advance_sequences(session, tables: list[str]) -> None:
    """PostgreSQL: ids written explicitly leave a table's sequence behind them."""
    if (await session.connection()).dialect.name != "postgresql":
        return
    for name in tables:
        await session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608 (ours)
                f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {name}) + 1, "
                f"nextval(pg_get_serial_sequence('{name}', 'id'))), false)"
            )
        )


async def _write_section(session, section, rows, account_id, ids, keyring) -> list:
    with_ids = "id" in section.model.__table__.columns
    keep = with_ids and await _ids_free(session, section.model, [r["id"] for r in rows])
    ids.kept[section.name] = keep
    objs = [_build(section, row, account_id, ids, keep, keyring) for row in rows]
    session.add_all(objs)
    await session.flush()
    if with_ids:
        ids.maps[section.name] = {row["id"]: obj.id for row, obj in zip(rows, objs, strict=True)}
    return objs


async def _hand_to_owner(session, account_id: int, email: str) -> None:
    """The restored owner record gets the login with ``email`` (which must exist)."""
    from app.identity.models import User

    address = clean_email(email, "owner_email", required=True)
    user = await session.scalar(select(User).where(User.email == address))
    if user is None:
        raise BackupRejected(f"no login with the email {address!r} to own the account")
    owner = await session.scalar(
        select(Staff).where(Staff.account_id == account_id, Staff.role == Role.OWNER)
    )
    if owner is None:
        raise BackupRejected("the backup has no owner record")
    owner.user_id = user.id
    owner.account_status = AccountStatus.ACTIVE
    await session.flush()


async def restore_account(
    session,
    raw: bytes,
    keyring: Keyring,
    *,
    slug: str | None = None,
    owner_email: str | None = None,
) -> Restored:
    """Write the backup ``raw`` as an account; nothing is written if it is refused
    (``BackupRejected``), the caller commits."""
    document = _document(raw)
    account_row = _row(_ACCOUNT, document[ACCOUNT], ACCOUNT)
    rows = {
        s.name: [_row(s, r, f"{s.name}[{i}]") for i, r in enumerate(document[s.name])]
        for s in SECTIONS
    }
    old_account = account_row["id"]
    _check_references(old_account, rows)
    account_row["slug"] = await _slug(session, account_row["slug"], slug, account_row["name"])
    ids = Ids()
    keep = not await session.get(Account, old_account)
    ids.kept[ACCOUNT] = keep
    if not keep:
        account_row.pop("id")
    account = Account(**account_row)
    session.add(account)
    try:
        await session.flush()
        ids.maps[ACCOUNT] = {old_account: account.id}
        kept = ["accounts"] if keep else []
        for section in SECTIONS:
            objs = await _write_section(
                session, section, rows[section.name], account.id, ids, keyring
            )
            if section.model is Staff:
                for row, obj in zip(rows[section.name], objs, strict=True):
                    obj.manager_id = ids("staff", row.get("manager_id"))
                await session.flush()
            if ids.kept.get(section.name):
                kept.append(section.table)
        await _advance_sequences(session, kept)
        if owner_email is not None:
            await _hand_to_owner(session, account.id, owner_email)
    except IntegrityError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "a constraint"
        raise BackupRejected(f"the database refused the backup: {reason}") from None
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise BackupRejected(f"the database refused the backup: {reason}") from None
    changes.forget(session)  # the restore is no mutation of anyone's: nothing to log
    return Restored(account, {name: len(section_rows) for name, section_rows in rows.items()})


async def import_account_from(
    settings, path: str, slug: str | None, owner_email: str | None = None
) -> dict:
    """The CLI's restore: the file at ``path`` (``-``: standard input), committed whole."""
    import sys

    from app.db.engine import Database

    try:
        raw = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()  # noqa: ASYNC230, SIM115 (CLI)
    except OSError as exc:
        raise BackupRejected(f"cannot read {path}: {exc.strerror}") from None
    db = Database(settings.database_url)
    try:
        async with db.session(write=True) as session:
            restored = await restore_account(
                session, raw, settings.keyring, slug=slug, owner_email=owner_email
            )
            await session.commit()
    finally:
        await db.dispose()
    return {
        "account_id": restored.account.id,
        "slug": restored.account.slug,
        "counts": restored.counts,
    }
