"""A full backup of one account as streamed JSON (``/export/account.json``, CLI export)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from sqlalchemy import inspect, literal, select, tuple_
from sqlalchemy.orm import undefer

from app.access import Actor, Permit, refuse_impersonation, require_whole_records
from app.accounts.backup_signature import Signer
from app.accounts.models import Account
from app.audit.models import AuditEntry
from app.audit.service import record_taken, shown_diff
from app.custom_fields.models import CustomField, CustomFieldValue
from app.db.engine import one_snapshot
from app.events.catalogue import Facts
from app.fields import NEEDS_PERSONAL_DATA, Backup, UnknownField, on_change
from app.fields import table as field_table
from app.invitations.models import Invitation, JoinLink
from app.offload import Offload
from app.staff.fields import STAFF
from app.staff.models import Staff, StaffPermitGrant, StaffShare, StaffStatus
from app.staff.service import ENCRYPTED_COLUMNS, associated_data, read_secret

BATCH = 500
FORMAT = "roster-account-backup"
VERSION = 3  # 2: team roles, shares and permit grants added; 3: personalData in the header
READABLE_VERSIONS = (2, 3)  # a version-2 backup holds no personalData: it is taken as whole

# table -> column -> whether the backup holds it: the field tables' rows (``app.fields``),
# read once per table (and again if a row changes).
_RULES: dict[str, dict[str, Backup]] = {}


@on_change
def _forget_rules() -> None:
    _RULES.clear()


def _rules(table: str) -> dict[str, Backup]:
    try:
        return _RULES[table]
    except KeyError:
        columns = field_table(table).columns
        rules = _RULES[table] = {column: row.backed_up for column, row in columns.items()}
        return rules


def _row(obj, *, personal: bool) -> dict:
    """A record's columns the backup holds: as its field table says, personal ones only in
    backups made with ViewPersonalData; a column without a row is an error."""
    table = obj.__table__
    rules = _rules(table.name)
    out = {}
    for column in table.columns:
        key = column.key
        rule = rules.get(key)
        if rule is None:
            raise UnknownField(f"{table.name}.{key} has no row in its field table")
        if rule is Backup.LEFT_OUT or (rule is Backup.WITH_PERSONAL_DATA and not personal):
            continue
        value = getattr(obj, key)
        out[key] = value.value if hasattr(value, "value") and not isinstance(value, str) else value
    return out


def _secrets(personal: bool) -> list[str]:
    """The encrypted fields a backup holds, decrypted: where its maker may see them (SSN
    and salary: with ViewPersonalData)."""
    return [
        f.name
        for f in STAFF
        if f.encrypted and (personal or f.visibility not in NEEDS_PERSONAL_DATA)
    ]


def _staff_row(keyring, *, personal: bool):
    """A staff record's columns, and its encrypted fields decrypted (``_secrets``)."""
    secrets = _secrets(personal)

    def convert(staff: Staff) -> dict:
        row = _row(staff, personal=personal)
        for name in secrets:
            row[name] = read_secret(keyring, staff, name)
        return row

    return convert


def _staff_sealed(*, personal: bool):
    """Like ``_staff_row``, with the secrets still encrypted (``dump`` decrypts them)."""
    secrets = _secrets(personal)

    def convert(staff: Staff) -> tuple[dict, tuple]:
        stored = [(name, getattr(staff, ENCRYPTED_COLUMNS[name])) for name in secrets]
        return _row(staff, personal=personal), (staff.account_id, staff.sid, stored)

    return convert


def _plain_sealed(*, personal: bool):
    def convert(obj) -> tuple[dict, None]:
        return _row(obj, personal=personal), None

    return convert


def dump(keyring, rows: list[tuple[dict, tuple | None]]) -> bytes:
    """A batch of records as JSON objects, comma separated; a staff record's secrets
    decrypted and added last, as ``_staff_row`` does. Runs in a worker (``app.offload``)."""
    out = []
    for row, sealed in rows:
        if sealed is not None:
            account_id, sid, stored = sealed
            for name, value in stored:
                row[name] = (
                    None
                    if value is None
                    else keyring.decrypt(value, associated_data(account_id, name, sid))
                )
        out.append(orjson.dumps(row, default=str))
    return b",".join(out)


async def _section(
    session, name: str, stmt, convert, first: bool, offload: Offload | None = None
) -> AsyncIterator[bytes]:
    yield (b"" if first else b",") + orjson.dumps(name) + b":["
    count, position = 0, None
    mapper = inspect(stmt.column_descriptions[0]["entity"])
    key = list(mapper.primary_key)  # keyset over the primary key (several columns: a tuple)
    while True:
        page = stmt
        if position is not None:
            page = page.where(
                tuple_(*key) > tuple_(*map(literal, position))
                if len(key) > 1
                else key[0] > position[0]
            )
        if offload is not None:
            await offload.pause()  # interactive requests first
        rows = list(await session.scalars(page.order_by(*key).limit(BATCH)))
        if not rows:
            break
        position = mapper.identity_key_from_instance(rows[-1])[1]
        if offload is None:
            chunk = b",".join(orjson.dumps(convert(r), default=str) for r in rows)
        else:  # decrypting and serialising beside the event loop
            chunk = await offload.run(dump, [convert(r) for r in rows])
        yield (b"," if count else b"") + chunk
        count += len(rows)
        session.expunge_all()
    yield b"]"


def account_json(
    session, actor: Actor, keyring, offload: Offload | None = None
) -> AsyncIterator[bytes]:
    """The backup's bytes in chunks; administrators only, refused before streaming. With
    ``offload``, each batch is decrypted and serialised there (see ``app.staff.export``);
    the bytes are the same.

    A backup holds every record whole, to be restored: it is refused to an actor who may
    not see the details of restricted records (an API key without ``staff:read``), where
    the CSV export leaves those details blank instead."""
    refuse_impersonation(actor)  # taken under one's own name, as an export is
    require_whole_records(actor)
    return _account_json(session, actor, keyring, offload)


async def _hidden_custom_fields(session, account_id: int, personal: bool) -> set[int]:
    """The custom fields whose values this backup leaves out (personal ones, without
    ViewPersonalData)."""
    if personal:
        return set()
    return set(
        await session.scalars(
            select(CustomField.id).where(
                CustomField.account_id == account_id, CustomField.personal.is_(True)
            )
        )
    )


async def _audit_facts(session, account_id: int, personal: bool) -> Facts | None:
    """What showing the audit log's diffs without personal data takes (which custom fields
    are open: ``app.audit.service.shown_diff``); None with ViewPersonalData (whole)."""
    if personal:
        return None
    return Facts(
        open_custom_fields=frozenset(
            await session.scalars(
                select(CustomField.id).where(
                    CustomField.account_id == account_id, CustomField.personal.is_(False)
                )
            )
        )
    )


def _sections(
    account_id: int,
    *,
    personal: bool,
    keyring,
    hidden_fields: set[int],
    audit_facts: Facts | None = None,
    sealed: bool = False,
) -> list:
    """The backup's sections after the account: (name, statement, row -> dict); with
    ``sealed``, row -> what ``dump`` takes. The audit log's diffs are shown as its reader
    sees them in ``auditLog``: without personal data unless ``audit_facts`` is None."""
    from app.projects.models import Project, ProjectMember, ProjectTeamRole

    def plain(row) -> dict:
        return _row(row, personal=personal)

    if sealed:
        plain = _plain_sealed(personal=personal)

    def audit_entry(row):
        converted = plain(row)
        if audit_facts is not None:
            out = converted[0] if sealed else converted
            out["diff"] = shown_diff(out["diff"], audit_facts)
        return converted

    entries = select(AuditEntry).where(AuditEntry.account_id == account_id)
    if audit_facts is not None:  # as ``auditLog`` lists them to a reader without the permit
        entries = entries.where(AuditEntry.personal_only.is_(False))
    values = select(CustomFieldValue).where(CustomFieldValue.account_id == account_id)
    if hidden_fields:
        values = values.where(CustomFieldValue.field_id.not_in(hidden_fields))
    return [
        (
            "staff",
            select(Staff).where(Staff.account_id == account_id),
            _staff_sealed(personal=personal) if sealed else _staff_row(keyring, personal=personal),
        ),
        ("staffStatuses", select(StaffStatus).where(StaffStatus.account_id == account_id), plain),
        ("staffShares", select(StaffShare).where(StaffShare.account_id == account_id), plain),
        (
            "staffPermitGrants",
            select(StaffPermitGrant).where(StaffPermitGrant.account_id == account_id),
            plain,
        ),
        ("customFields", select(CustomField).where(CustomField.account_id == account_id), plain),
        ("invitations", select(Invitation).where(Invitation.account_id == account_id), plain),
        ("joinLinks", select(JoinLink).where(JoinLink.account_id == account_id), plain),
        ("auditLog", entries, audit_entry),
        (
            "projectTeamRoles",
            select(ProjectTeamRole).where(ProjectTeamRole.account_id == account_id),
            plain,
        ),
        ("projects", select(Project).where(Project.account_id == account_id), plain),
        (
            "projectMembers",
            select(ProjectMember).where(ProjectMember.account_id == account_id),
            plain,
        ),
        # values have a composite key: keyset over (staff_id, field_id)
        ("customFieldValues", values, plain),
    ]


async def _account_json(
    session, actor: Actor, keyring, offload: Offload | None
) -> AsyncIterator[bytes]:
    # one moment of the account: the counters read first hold every row read after
    # (a record added during the backup would be refused by its restore)
    await one_snapshot(session)
    personal = actor.can(Permit.VIEW_PERSONAL_DATA)
    account = await session.get(
        Account, actor.account_id, options=[undefer("*")], populate_existing=True
    )
    # whether personal data is in it: a backup without is restored only when asked so
    # (its emails, phones, SSNs, salaries and personal custom values would be lost)
    head = {"format": FORMAT, "version": VERSION, "personalData": personal}
    signer = Signer(keyring)  # the file's last member signs every byte before it
    yield signer.update(
        orjson.dumps(head)[:-1]
        + b',"account":'
        + orjson.dumps(_row(account, personal=True), default=str)
    )
    hidden_fields = await _hidden_custom_fields(session, actor.account_id, personal)
    sections = _sections(
        actor.account_id,
        personal=personal,
        keyring=keyring,
        hidden_fields=hidden_fields,
        audit_facts=await _audit_facts(session, actor.account_id, personal),
        sealed=offload is not None,
    )
    for name, stmt, convert in sections:
        async for chunk in _section(session, name, stmt, convert, False, offload):
            yield signer.update(chunk)
    yield signer.end()


def _private_file(path: str):
    """``path`` opened for writing, readable by its owner alone (0600): a backup holds
    every member's personal data, whatever the process's umask. A file already there is
    narrowed to 0600 before it is emptied and written (``O_CREAT``'s mode applies only to
    a file it creates); one that cannot be narrowed (another user's) is left as it was.
    A device or a pipe (``/dev/null``, a FIFO) is written as it is: it keeps nothing."""
    import os
    import stat

    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.fchmod(descriptor, 0o600)
            os.ftruncate(descriptor, 0)
        return os.fdopen(descriptor, "wb")
    except BaseException:
        os.close(descriptor)
        raise


async def export_account_to(settings, realm: str, output: str) -> None:
    """The CLI's backup: acts with the owner's rights in that account."""
    import sys

    from app.access import ROLE_PERMITS, Role
    from app.accounts.queries import account_by_realm
    from app.db.engine import Database

    db = Database(settings.database_url)
    sink = None
    try:
        # who took it is kept before the first read, so the backup holds its own entry (as
        # one taken over HTTP does), and once its file is open (one that cannot be written
        # takes nothing)
        async with db.session(write=True) as writing:
            account = await writing.scalar(account_by_realm(realm))
            if account is None:
                raise LookupError(f"no account {realm!r}")
            owners = await writing.scalars(
                select(Staff).where(Staff.account_id == account.id, Staff.role == Role.OWNER)
            )
            owner = owners.one()  # an account has exactly one owner
            actor = Actor(
                user_id=owner.user_id or 0,
                account_id=account.id,
                staff_id=owner.id,
                role=Role.OWNER,
                permits=ROLE_PERMITS[Role.OWNER],
                account_timezone=account.timezone,
            )
            sink = sys.stdout.buffer if output == "-" else _private_file(output)
            await record_taken(
                writing, action="accountBackup", actor=actor, request_id=None,
                client_address=None, at_console=True,
            )  # fmt: skip
            await writing.commit()
        async with db.session() as session:
            async for chunk in account_json(session, actor, settings.keyring):
                sink.write(chunk)
    finally:
        if sink is not None and sink is not sys.stdout.buffer:
            sink.close()
        await db.dispose()
