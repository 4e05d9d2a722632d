"""Restoring an account backup (``roster account import``): the document the exporter
writes (``app.accounts.backup``) read back into the database in one transaction, as the
account it was or, next to other accounts, as a new one.

Columns: a row holds the columns the field tables back up (``Backup``; checked by
``app.accounts.backup_document``), plus decrypted secrets on staff rows. Columns the backup
leaves out are computed again (sort keys), made new (token digests) or take their
defaults. Secrets are encrypted again under the keyring's current key, bound to the
restored account (never copied as ciphertext).

Ids: each table's ids are kept where none of them is in use (a restore into an empty
database, or into the one the backup came from once its account is gone) and none is past
``KEEP_BELOW`` unless this database handed it out already, so that exporting the restored
account gives the same document; otherwise the rows get new ids, in the document's order, and every
reference (manager, status, team role, project member, custom value, invitation,
audit entry...) follows its row. A reference to a row the document does not hold refuses
the file; the audit log's references are history without foreign keys: one to a row
not in the document is kept with kept ids, and cleared with new ones (it would name a
stranger's row).

Logins are never restored: the backup holds no users, and linking a staff record to
whichever login shares its email would hand the account to that login's owner on the
strength of a field editors may change. So a restored record has no login (``user_id``
null), a member who was ACTIVE, or had joined and not yet confirmed their email
(UNCONFIRMED), comes back NOT_INVITED (an administrator invites them again), invitations
lose the login that accepted them, audit entries the user ids of their actors (names
stay), and pending invitations and join links get new digests of tokens nobody holds
(resend the invitation, make a new link). The account's slug is the operator's: a slug it
was to take once its owner confirmed their email (``pending_slug``) is dropped. These are
the only columns in which a restored account's export differs from the file it came
from, besides one more audit entry: the restore's own (``accountRestore``, made at the
console, by no member); restoring that export again changes nothing else. (A backup from
before audit diffs were cut at 50 rows comes back with each longer entry cut as
``app.audit.service.continuations`` cuts it.)

Someone must be able to sign in to the restored account, so the operator may name the
login that owns it (``owner_email``, ``--owner-email``): an existing login, named on
purpose by whoever runs the restore, becomes the owner record's login (ACTIVE), and the
record's invitations not yet accepted are revoked; nothing is guessed from the backup's
emails.

A refused file writes nothing. PostgreSQL's sequences, which no rollback moves back, are
set past the ids kept only once nothing can refuse the file any more; rows renumbered take
their ids from the sequences as they are written, and those stay used when the file is
refused (as a failed insert's would: ids are never handed out twice anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.access import Role
from app.accounts.backup_document import (
    ACCOUNT,
    RESTORED_STATUS,
    SECRETS,
    SECTIONS,
    TARGETS,
    Section,
    read_document,
)
from app.accounts.errors import BackupRejected, SlugTaken
from app.accounts.models import Account
from app.accounts.service import check_new_account, seats
from app.audit import changes
from app.audit import service as audit
from app.audit.models import AuditEntry
from app.db.base import utcnow
from app.errors import DomainError, ErrorCode
from app.security.crypto import Keyring
from app.staff import stamps
from app.staff.membership import revoke_open_invitations
from app.staff.models import AccountStatus, Staff
from app.staff.service import write_secret
from app.validation import clean_email, name_key, sort_key


@dataclass
class Restored:
    account: Account
    counts: dict[str, int]


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


# Ids up to this are kept where free, in whatever order backups are restored; past it only
# those this database handed out already. A kept id moves its table's sequence past it: an
# edited file's id near the largest a key can be would leave no id for anyone's next row.
KEEP_BELOW = 2**30


async def _ids_free(session, model, ids: list[int]) -> bool:
    """Whether the file's ids are kept: their range holds no row, and none is past
    ``KEEP_BELOW`` unless this database has handed it out already."""
    if not ids:
        return True
    used = exists().where(model.id.between(min(ids), max(ids)))
    if await session.scalar(select(used)):
        return False
    return max(ids) <= KEEP_BELOW or max(ids) <= await _issued(session, model.__tablename__)


async def _issued(session, table: str) -> int:
    """The largest id the table's sequence has handed out (0 for none)."""
    if (await session.connection()).dialect.name == "postgresql":
        # (pg_sequence_last_value: USAGE on the sequence is enough; NULL before its first)
        last = await session.scalar(
            text("SELECT pg_sequence_last_value(pg_get_serial_sequence(:table, 'id'))"),
            {"table": table},
        )
        return last or 0
    found = await session.scalar(
        text("SELECT seq FROM sqlite_sequence WHERE name = :table"), {"table": table}
    )
    return found or 0


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
    derive = sort_key if section.model is Staff else name_key  # a last name only sorts
    for key, source in section.keys.items():
        values[key] = derive(values[source])
    for column, make in section.made.items():
        values[column] = make()
    if section.model is Staff and values.get("account_status") in RESTORED_STATUS:
        values["account_status"] = RESTORED_STATUS[values["account_status"]]  # no login back
    obj = section.model(**values)
    for name, value in secret.items():
        write_secret(keyring, obj, name, value)
    return obj


async def _check_seats(session, account: Account) -> None:
    """The restored account's members and open invitations fit its plan, as every way in
    keeps them (a resend or an acceptance holds the seat an invitation already has)."""
    ledger = await seats(session, account)
    if ledger.taken > ledger.limit:
        raise BackupRejected(
            f"{ACCOUNT}.seat_limit: its members and open invitations take {ledger.taken} seats, "
            f"its plan has {ledger.limit}",
            field=[ACCOUNT, "seat_limit"],
            code=ErrorCode.PLAN_TOO_SMALL,
        )


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


async def _owner_login(session, email: str):
    """The login with ``email``, to own the restored account (it must exist): looked up
    before anything is written."""
    from app.identity.models import User

    address = clean_email(email, "owner_email", required=True)
    user = await session.scalar(select(User).where(User.email == address))
    if user is None:
        raise BackupRejected(f"no login with the email {address!r} to own the account")
    return user


async def _hand_to_owner(session, account_id: int, user) -> None:
    """The restored owner record gets the login ``user`` (ACTIVE). Its invitations not yet
    accepted (the owner's record invited to get a login back) are revoked, as every way in
    but accepting one revokes them (``revoke_open_invitations``): left pending, one would
    count a second seat next to the member, and its link would still name the record."""
    owner = await session.scalar(
        select(Staff).where(Staff.account_id == account_id, Staff.role == Role.OWNER)
    )
    if owner is None:
        raise BackupRejected("the backup has no owner record")
    await revoke_open_invitations(session, owner)
    owner.user_id = user.id
    owner.account_status = AccountStatus.ACTIVE
    stamps.touch(owner, ["account_status"], utcnow())
    await session.flush()


RESTORE_ACTION = "accountRestore"


def _made_at(rows: dict[str, list[dict]]) -> datetime | None:
    """When the backup was taken: its own entry's time (every backup holds the entry its
    taking kept, ``accountBackup...``, the latest of those in it); None for a file without
    one."""
    taken = [
        row["created_at"]
        for row in rows["auditLog"]
        if str(row.get("action", "")).startswith("accountBackup") and row.get("created_at")
    ]
    return max(taken, default=None)


def _restore_entry(
    account: Account, made_at: datetime | None, signed: bool, handed: list[dict]
) -> AuditEntry:
    """The restore's own entry in the restored account: made at the console (``roster
    account import``) by no member, as the console's backup is (``record_taken``). Its diff
    names the account written from the backup (its slug, when the backup was taken, and
    whether its signature was checked: not with ``--unsigned``) and the rows the hand-over
    to ``--owner-email`` changed (the owner's record given the login, its open invitations
    revoked)."""
    written = {
        "table": Account.__tablename__,
        "id": account.id,
        "key": [account.id],
        "op": "insert",
        "account_id": account.id,
        "fields": {
            "slug": [None, account.slug],
            "backup_created_at": [None, made_at.isoformat() if made_at else None],
            "backup_signature_checked": [None, signed],
        },
    }
    return AuditEntry(
        account_id=account.id,
        actor_user_id=None,
        actor_staff_id=None,
        action=RESTORE_ACTION,
        target_type="Account",
        target_id=account.id,
        diff=[written, *handed],
    )


async def restore_account(
    session,
    raw: bytes,
    keyring: Keyring,
    *,
    slug: str | None = None,
    owner_email: str | None = None,
    partial: bool = False,
    unsigned: bool = False,
) -> Restored:
    """Write the backup ``raw`` as an account; nothing is written if it is refused
    (``BackupRejected``), the caller commits. A backup made without personal data is
    restored only with ``partial``: the account would come back without it. Only a backup
    signed under a key of ``keyring`` (``app.accounts.backup_signature``) is restored,
    unless ``unsigned``: the operator knows where it came from."""
    document = read_document(raw, None if unsigned else keyring)
    if not document.personal_data and not partial:
        raise BackupRejected(
            "this backup was made without personal data (no emails, phones, addresses, "
            "SSNs, salaries or personal custom values): the restored account would lack "
            "them, and could invite nobody again; restore it with --partial to do so anyway"
        )
    account_row, rows = document.account, document.rows
    owner = await _owner_login(session, owner_email) if owner_email is not None else None
    # a slug the account asked for before its owner confirmed their email: the restored
    # account's slug is the operator's, never renamed once its owner confirms one
    account_row["pending_slug"] = None
    old_account = account_row["id"]
    account_row["slug"] = await _slug(session, account_row["slug"], slug, account_row["name"])
    ids = Ids()
    keep = not await session.get(Account, old_account) and await _ids_free(
        session, Account, [old_account]
    )
    ids.kept[ACCOUNT] = keep
    if not keep:
        account_row.pop("id")
    account = Account(**account_row)
    session.add(account)
    try:
        await session.flush()
        ids.maps[ACCOUNT] = {old_account: account.id}
        kept = ["accounts"] if keep else []
        entries: list[AuditEntry] = []
        for section in SECTIONS:
            objs = await _write_section(
                session, section, rows[section.name], account.id, ids, keyring
            )
            if section.model is AuditEntry:
                entries = objs
            if section.model is Staff:
                for row, obj in zip(rows[section.name], objs, strict=True):
                    obj.manager_id = ids("staff", row.get("manager_id"))
                await session.flush()
            if ids.kept.get(section.name):
                kept.append(section.table)
        changes.forget(session)  # the rows written: the restore's entry names the file
        if owner is not None:
            await _hand_to_owner(session, account.id, owner)
        handed = changes.take(session)
        await _check_seats(session, account)  # the owner given a login takes one too
        # Last: PostgreSQL's sequences are not rolled back, so nothing after this refuses
        # the file (a refusal would leave them moved); what follows takes ids past them.
        await _advance_sequences(session, kept)
        # entries of a backup from before diffs were cut: continued in new ids, past all
        session.add_all([more for entry in entries for more in audit.continuations(entry)])
        session.add(_restore_entry(account, _made_at(rows), not unsigned, handed))
        await session.flush()
    except IntegrityError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "a constraint"
        raise BackupRejected(f"the database refused the backup: {reason}") from None
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise BackupRejected(f"the database refused the backup: {reason}") from None
    changes.forget(session)  # logged above, in the restore's own entry
    return Restored(account, {name: len(section_rows) for name, section_rows in rows.items()})


async def import_account_from(
    settings,
    path: str,
    slug: str | None,
    owner_email: str | None = None,
    partial: bool = False,
    unsigned: bool = False,
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
                session, raw, settings.keyring, slug=slug, owner_email=owner_email,
                partial=partial, unsigned=unsigned,
            )
            await session.commit()
    finally:
        await db.dispose()
    return {
        "account_id": restored.account.id,
        "slug": restored.account.slug,
        "counts": restored.counts,
    }
