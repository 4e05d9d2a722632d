"""The console's backup and restore as an operator and the restored account's members
meet them: the backup file is the operator's alone, a restore is in the audit log, and
what a restore brings back (statuses, the owner's invitation, the slug) is what the
account can go on with; a refused restore leaves nothing behind, PostgreSQL's id
sequences included."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime

import pytest
from sqlalchemy import select, text

from app.access import Role
from app.accounts.backup import export_account_to
from app.accounts.errors import BackupRejected
from app.accounts.models import Account
from app.accounts.restore import restore_account
from app.audit.models import AuditEntry
from app.invitations.models import Invitation, InvitationStatus
from app.staff.membership import confirm_memberships
from app.staff.models import AccountStatus, Staff
from tests.accounts.test_restore import backup, drop_account
from tests.factories import make_member, make_staff, make_tenant, take_mail, update_row

AUDIT_LOG = """query($filter: AuditLogFilter) {
  auditLog(first: 100, filter: $filter) {
    edges { node { action actorStaffId actorUserId targetType diff createdAt } }
  }
}"""
STAFF = "{ staff(first: 100) { nodes { id lastName accountStatus } } }"
SEATS = "{ account { seats { used reserved } } }"
INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) {
    invitation { id status staff { id accountStatus } } userErrors { field code message }
  }
}"""


async def restore(services, raw: bytes, slug: str, owner_email: str | None = None):
    """``roster account import`` of ``raw`` (unsigned: most files here are edited)."""
    async with services.db.session(write=True) as session:
        restored = await restore_account(
            session, raw, services.settings.keyring, slug=slug, owner_email=owner_email,
            unsigned=True,
        )  # fmt: skip
        await session.commit()
    return restored


# --- 1. the backup file -----------------------------------------------------------------


@pytest.fixture
def open_umask():
    """A umask that lets everyone read what a process creates (the usual 022)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_the_console_backup_is_readable_by_its_owner_only(services, tmp_path, open_umask):
    """``roster account export --output FILE`` writes every member's personal data: the
    file is created 0600 whatever the umask, and a file already there (left readable by
    anyone) is narrowed to 0600 before the backup is written into it."""
    tenant = await make_tenant(services)
    path = tmp_path / "account.json"
    await export_account_to(services.settings, tenant.slug, str(path))
    assert mode(path) == 0o600
    assert json.loads(path.read_bytes())["account"]["slug"] == tenant.slug

    there = tmp_path / "old.json"
    there.write_text("an older backup, much longer than the new one will be " * 1000)
    there.chmod(0o644)
    await export_account_to(services.settings, tenant.slug, str(there))
    assert mode(there) == 0o600
    assert json.loads(there.read_bytes())["account"]["slug"] == tenant.slug


# --- 2. the restore's own audit entry ----------------------------------------------------


async def restore_entries(api, member, realm: str) -> list[dict]:
    data = await api.data(
        AUDIT_LOG, {"filter": {"action": "accountRestore"}}, token=member.token, realm=realm
    )
    return [edge["node"] for edge in data["auditLog"]["edges"]]


async def test_a_restore_is_in_the_restored_accounts_audit_log(api, services, tmp_path):
    """One entry in the restored account, made at the console by no member (as the
    console's backup is), naming when the backup was taken and the hand-over of the
    account to the login ``--owner-email`` named."""
    tenant = await make_tenant(services)
    path = tmp_path / "account.json"
    await export_account_to(services.settings, tenant.slug, str(path))
    document = json.loads(path.read_bytes())
    [taken] = [e for e in document["auditLog"] if e["action"].startswith("accountBackup")]

    restored = await restore(services, path.read_bytes(), "handed", tenant.owner.email)
    [entry] = await restore_entries(api, tenant.owner, "handed")
    assert (entry["actorStaffId"], entry["actorUserId"], entry["targetType"]) == (
        None, None, "Account"
    )  # fmt: skip
    account, *handed = entry["diff"]
    assert account["table"] == "accounts" and account["id"] == restored.account.id
    assert account["fields"]["slug"] == [None, "handed"]
    made = account["fields"]["backup_created_at"][1]
    assert datetime.fromisoformat(made) == datetime.fromisoformat(taken["created_at"])
    [owner] = [c for c in handed if c["table"] == "staff"]
    assert owner["fields"]["user_id"] == [None, tenant.owner.user_id]
    assert owner["fields"]["account_status"] == ["NOT_INVITED", "ACTIVE"]

    # without --owner-email: the entry names no hand-over (nobody can read the log yet)
    await restore(services, path.read_bytes(), "ownerless")
    async with services.db.session() as session:
        copy = await session.scalar(select(Account).where(Account.slug == "ownerless"))
        [alone] = list(
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.account_id == copy.id, AuditEntry.action == "accountRestore"
                )
            )
        )
    assert [c["table"] for c in alone.diff] == ["accounts"]
    assert (alone.actor_user_id, alone.actor_staff_id) == (None, None)


# --- 3. a member who had not confirmed their email ---------------------------------------


async def test_a_member_not_yet_confirmed_comes_back_to_be_invited_again(api, services, tmp_path):
    """A record joined by a login not yet confirmed (UNCONFIRMED) holds a reserved seat
    until that login confirms; the restore brings no login back, so it comes back as an
    active member does, NOT_INVITED: no seat held, and it can be invited again."""
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR, last_name="Pending")
    await update_row(services, Staff, member.staff_pk, account_status=AccountStatus.UNCONFIRMED)
    raw = await backup(services, tenant.slug, tmp_path)
    await restore(services, raw, "copy", tenant.owner.email)

    owner = {"token": tenant.owner.token, "realm": "copy"}
    nodes = (await api.data(STAFF, **owner))["staff"]["nodes"]
    [pending] = [n for n in nodes if n["lastName"] == "Pending"]
    assert pending["accountStatus"] == "NOT_INVITED"
    assert (await api.data(SEATS, **owner))["account"]["seats"] == {"used": 1, "reserved": 0}
    invited = (
        await api.data(
            INVITE, {"input": {"staffId": pending["id"], "email": member.email}}, **owner
        )
    )["invitationCreate"]
    assert invited["userErrors"] == []
    assert invited["invitation"]["staff"] == {"id": pending["id"], "accountStatus": "INVITED"}

    # and a restored account's backup restores again (the owner's rule holds for its state)
    again = await backup(services, "copy", tmp_path)
    await restore(services, again, "copy-of-copy")


# --- 4. the owner's own invitation, once the owner has a login ---------------------------


async def test_the_owners_open_invitation_is_revoked_when_the_account_is_handed_over(
    api, services, tmp_path
):
    """An owner's record without a login, invited to get one back (INVITED, its invitation
    pending), handed to a login by ``--owner-email``: the invitation is revoked (its link
    answers revoked), so it holds no second seat. A plan with one seat, the owner's, takes
    the restore."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    await update_row(
        services, Staff, tenant.owner.staff_pk,
        user_id=None, account_status=AccountStatus.NOT_INVITED,
    )  # fmt: skip
    invited = (
        await api.data(
            INVITE,
            {"input": {"staffId": tenant.owner.staff_id, "email": tenant.owner.email}},
            as_=admin,
        )
    )["invitationCreate"]
    assert invited["userErrors"] == []
    await take_mail(services)
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    [owner_row] = [s for s in document["staff"] if s["role"] == "OWNER"]
    assert owner_row["account_status"] == "INVITED"
    assert [i["status"] for i in document["invitations"]] == ["PENDING"]
    document["account"].update(plan="CUSTOM", seat_limit=1)

    restored = await restore(
        services, json.dumps(document).encode(), "one-seat", tenant.owner.email
    )
    async with services.db.session() as session:
        statuses = list(
            await session.scalars(
                select(Invitation.status).where(Invitation.account_id == restored.account.id)
            )
        )
    assert statuses == [InvitationStatus.REVOKED]
    owner = {"token": tenant.owner.token, "realm": "one-seat"}
    assert (await api.data(SEATS, **owner))["account"]["seats"] == {"used": 1, "reserved": 0}


# --- 5. the slug a signed-up account was to take -----------------------------------------


async def test_a_restored_account_keeps_its_slug_when_its_owner_confirms(services, tmp_path):
    """An account signed up for holds a random slug until its owner confirms their email
    (``pending_slug``). A restore gives the account the operator's slug: the owner
    confirming later (``confirm_memberships``) renames it to nothing else."""
    tenant = await make_tenant(services)
    await update_row(services, Account, tenant.account_id, pending_slug="the-old-wish")
    raw = await backup(services, tenant.slug, tmp_path)
    await drop_account(services, tenant.account_id)
    restored = await restore(services, raw, "the-operators", tenant.owner.email)

    async with services.db.session(write=True) as session:
        await confirm_memberships(session, tenant.owner.user_id)
        await session.commit()
    async with services.db.session() as session:
        slug = await session.scalar(select(Account.slug).where(Account.id == restored.account.id))
    assert slug == "the-operators"


# --- 6. PostgreSQL's sequences after a refused restore -----------------------------------


async def sequences(services) -> dict[str, tuple]:
    async with services.db.session() as session:
        rows = await session.execute(
            text(
                "SELECT sequencename, last_value FROM pg_sequences "
                "WHERE schemaname = current_schema()"
            )
        )
        return {name: value for name, value in rows}


@pytest.mark.parametrize("how", ["no such login", "too few seats"])
async def test_a_refused_restore_leaves_the_sequences_where_they_were(
    api, services, backend, tmp_path, how
):
    """PostgreSQL does not roll a sequence back: a restore moves them only once nothing
    can refuse the file any more (a wrong ``--owner-email``, a plan too small for its
    members once the owner has a login)."""
    if backend != "postgresql":
        pytest.skip("SQLite's sequences are rows of its transaction")
    tenant = await make_tenant(services)
    await make_staff(services, tenant, first_name="Ann", last_name="Other")
    invited = await api.data(
        INVITE, {"input": {"email": "invitee@example.com", "role": "EDITOR"}}, as_=tenant.owner
    )
    assert invited["invitationCreate"]["userErrors"] == []
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    await drop_account(services, tenant.account_id)  # its ids are kept: written as they are
    owner_email = tenant.owner.email
    if how == "no such login":
        owner_email = "nobody@example.com"
    else:  # the owner and the pending invitation: two seats
        document["account"].update(plan="CUSTOM", seat_limit=1)
    before = await sequences(services)
    with pytest.raises(BackupRejected):
        await restore(services, json.dumps(document).encode(), tenant.slug, owner_email)
    assert await sequences(services) == before
