"""A full backup of one account as streamed JSON (``/export/account.json``, CLI export)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from sqlalchemy import inspect, literal, select, tuple_

from app.access import Actor, Permit
from app.accounts.models import Account
from app.audit.models import AuditEntry
from app.custom_fields.models import CustomField, CustomFieldValue
from app.invitations.models import Invitation, JoinLink
from app.staff.export import require_export
from app.staff.models import Staff, StaffStatus
from app.staff.service import read_secret

BATCH = 500
PERSONAL_COLUMNS = frozenset(
    {
        "email",
        "phone_cell",
        "phone_work",
        "phone_home",
        "address_street",
        "address_city",
        "address_state",
        "address_zip",
        "address_country",
    }
)
NEVER = frozenset(
    {
        "ssn_encrypted",
        "salary_encrypted",
        "token_digest",
        "digest",
        "password_hash",
        "last_name_key",
        "name_key",
    }
)


def _row(obj, *, personal: bool) -> dict:
    out = {}
    for column in obj.__table__.columns:
        key = column.key
        if key in NEVER or (key in PERSONAL_COLUMNS and not personal):
            continue
        value = getattr(obj, key)
        out[key] = value.value if hasattr(value, "value") and not isinstance(value, str) else value
    return out


async def _section(session, name: str, stmt, convert, first: bool) -> AsyncIterator[bytes]:
    yield (b"" if first else b",") + orjson.dumps(name) + b":["
    count, position = 0, None
    mapper = inspect(stmt.column_descriptions[0]["entity"])
    key = list(mapper.primary_key)  # keyset over the primary key (project members: two columns)
    while True:
        page = stmt
        if position is not None:
            page = page.where(
                tuple_(*key) > tuple_(*map(literal, position))
                if len(key) > 1
                else key[0] > position[0]
            )
        rows = list(await session.scalars(page.order_by(*key).limit(BATCH)))
        if not rows:
            break
        position = mapper.identity_key_from_instance(rows[-1])[1]
        chunk = b",".join(orjson.dumps(convert(r), default=str) for r in rows)
        yield (b"," if count else b"") + chunk
        count += len(rows)
        session.expunge_all()
    yield b"]"


def account_json(session, actor: Actor, keyring) -> AsyncIterator[bytes]:
    """The backup's bytes in chunks; administrators only, refused before streaming."""
    require_export(actor)
    return _account_json(session, actor, keyring)


async def _account_json(session, actor: Actor, keyring) -> AsyncIterator[bytes]:
    personal = actor.can(Permit.VIEW_PERSONAL_DATA)
    account = await session.get(Account, actor.account_id)
    yield b'{"format":"roster-account-backup","version":1,"account":' + orjson.dumps(
        _row(account, personal=True), default=str
    )

    def staff_row(staff: Staff) -> dict:
        row = _row(staff, personal=personal)
        if personal:
            row["ssn"] = read_secret(keyring, staff, "ssn")
            row["salary"] = read_secret(keyring, staff, "salary")
        return row

    account_id = actor.account_id
    fields = {
        f.id: f
        for f in await session.scalars(
            select(CustomField).where(CustomField.account_id == account_id)
        )
    }
    hidden_fields = {fid for fid, f in fields.items() if f.personal and not personal}
    sections = [
        ("staff", select(Staff).where(Staff.account_id == account_id), staff_row),
        (
            "staffStatuses",
            select(StaffStatus).where(StaffStatus.account_id == account_id),
            lambda r: _row(r, personal=personal),
        ),
        (
            "customFields",
            select(CustomField).where(CustomField.account_id == account_id),
            lambda r: _row(r, personal=personal),
        ),
        (
            "invitations",
            select(Invitation).where(Invitation.account_id == account_id),
            lambda r: _row(r, personal=personal),
        ),
        (
            "joinLinks",
            select(JoinLink).where(JoinLink.account_id == account_id),
            lambda r: _row(r, personal=personal),
        ),
        (
            "auditLog",
            select(AuditEntry).where(AuditEntry.account_id == account_id),
            lambda r: _row(r, personal=personal),
        ),
    ]
    try:
        from app.projects.models import Project, ProjectMember

        sections += [
            (
                "projects",
                select(Project).where(Project.account_id == account_id),
                lambda r: _row(r, personal=personal),
            ),
            (
                "projectMembers",
                select(ProjectMember).where(ProjectMember.account_id == account_id),
                lambda r: _row(r, personal=personal),
            ),
        ]
    except ImportError:  # pragma: no cover
        pass
    for name, stmt, convert in sections:
        async for chunk in _section(session, name, stmt, convert, first=False):
            yield chunk
    # values have a composite key: keyset over (staff_id, field_id)
    yield b',"customFieldValues":['
    position, wrote = (0, 0), False
    while True:
        rows = list(
            await session.scalars(
                select(CustomFieldValue)
                .where(
                    CustomFieldValue.account_id == account_id,
                    tuple_(CustomFieldValue.staff_id, CustomFieldValue.field_id)
                    > tuple_(literal(position[0]), literal(position[1])),
                )
                .order_by(CustomFieldValue.staff_id, CustomFieldValue.field_id)
                .limit(BATCH)
            )
        )
        if not rows:
            break
        position = (rows[-1].staff_id, rows[-1].field_id)
        items = [
            {"staff_id": r.staff_id, "field_id": r.field_id, "value": r.value}
            for r in rows
            if r.field_id not in hidden_fields
        ]
        if items:
            yield (b"," if wrote else b"") + b",".join(orjson.dumps(i) for i in items)
            wrote = True
        session.expunge_all()
    yield b"]}"


async def export_account_to(settings, realm: str, output: str) -> None:
    """The CLI's backup: acts with the owner's rights in that account."""
    import sys

    from app.access import ROLE_PERMITS, Role
    from app.accounts.queries import account_by_realm
    from app.db.engine import Database

    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            account = await session.scalar(account_by_realm(realm))
            if account is None:
                raise LookupError(f"no account {realm!r}")
            owners = await session.scalars(
                select(Staff).where(Staff.account_id == account.id, Staff.role == Role.OWNER)
            )
            owner = owners.one()  # an account has exactly one owner
            actor = Actor(
                user_id=owner.user_id or 0,
                account_id=account.id,
                staff_id=owner.id,
                role=Role.OWNER,
                permits=ROLE_PERMITS[Role.OWNER],
            )
            sink = sys.stdout.buffer if output == "-" else open(output, "wb")  # noqa: ASYNC230, SIM115 (CLI)
            try:
                async for chunk in account_json(session, actor, settings.keyring):
                    sink.write(chunk)
            finally:
                if sink is not sys.stdout.buffer:
                    sink.close()
    finally:
        await db.dispose()
