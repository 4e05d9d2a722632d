"""Restoring an account backup: export -> import -> export gives the same document, and
the restore's own audit entry."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from app.access import ROLE_PERMITS, Actor, Permit, Role
from app.accounts.backup import account_json
from app.accounts.backup_document import SECTIONS
from app.accounts.errors import BackupRejected
from app.accounts.fields import ACCOUNTS
from app.accounts.models import Account
from app.accounts.restore import restore_account
from app.audit.models import AuditEntry
from app.audit.service import DIFF_ROWS_PER_ENTRY
from app.errors import DomainError, ErrorCode
from app.projects.models import ProjectMember, ProjectTeamRole
from app.security.crypto import Keyring
from app.staff.fields import STAFF
from app.staff.models import Staff
from app.staff.service import read_secret
from tests.conftest import make_settings
from tests.factories import (
    SSN,
    make_member,
    make_people,
    make_staff,
    make_status,
    make_tenant,
    set_staff_secrets,
    share_staff_with,
    update_row,
)

# Columns a restore cannot bring back (no logins, no user ids): see app.accounts.restore.
LOGIN_COLUMNS = {
    "staff": ("user_id",),
    "invitations": ("accepted_user_id",),
    "auditLog": ("actor_user_id", "impersonator_user_id"),
}
# Every key holding an id, per section, and the section whose ids it holds.
ID_KEYS = {
    "account": {"id": "account"},
    "staff": {"id": "staff", "manager_id": "staff", "status_id": "staffStatuses",
              "default_project_role_id": "projectTeamRoles"},
    "staffStatuses": {"id": "staffStatuses"},
    "staffShares": {"staff_id": "staff", "shared_with_id": "staff"},
    "staffPermitGrants": {"staff_id": "staff"},
    "customFields": {"id": "customFields"},
    "invitations": {"id": "invitations", "staff_id": "staff", "inviter_staff_id": "staff"},
    "joinLinks": {"id": "joinLinks", "created_by_staff_id": "staff"},
    "auditLog": {"id": "auditLog", "actor_staff_id": "staff"},
    "projectTeamRoles": {"id": "projectTeamRoles"},
    "projects": {"id": "projects", "created_by_staff_id": "staff"},
    "projectMembers": {"project_id": "projects", "staff_id": "staff",
                       "team_role_id": "projectTeamRoles"},
    "customFieldValues": {"staff_id": "staff", "field_id": "customFields"},
}  # fmt: skip
AUDIT_TARGETS = {"Staff": "staff", "Invitation": "invitations", "Project": "projects",
                 "CustomField": "customFields", "Account": "account"}  # fmt: skip


def content(document: dict) -> dict:
    """A backup document but its signature (which signs its own bytes)."""
    return {k: v for k, v in document.items() if k != "signature"}


def without_logins(document: dict) -> dict:
    """What a restore makes of a document's content: the login columns cleared, ACTIVE
    and UNCONFIRMED members NOT_INVITED, no pending slug; nothing else (but the restore's
    own audit entry: ``without_restores``)."""
    document = json.loads(json.dumps(content(document)))
    for section, columns in LOGIN_COLUMNS.items():
        for row in document[section]:
            row.update(dict.fromkeys(columns))
    for row in document["staff"]:
        if row["account_status"] in ("ACTIVE", "UNCONFIRMED"):
            row["account_status"] = "NOT_INVITED"
    document["account"]["pending_slug"] = None
    return document


RESTORE = "accountRestore"  # the entry each restore keeps in the account it restored


def without_restores(document: dict, newest: int | None = None) -> dict:
    """A backup's content without the entries restores kept (``RESTORE``): all of them,
    or the ``newest`` ones."""
    document = json.loads(json.dumps(content(document)))
    restores = [e["id"] for e in document["auditLog"] if e["action"] == RESTORE]
    dropped = set(restores if newest is None else sorted(restores)[len(restores) - newest :])
    document["auditLog"] = [e for e in document["auditLog"] if e["id"] not in dropped]
    return document


def renumbered(document: dict) -> dict:
    """Every id replaced by its rank among its section's ids (and account_id by 1): two
    documents of the same rows under different ids compare equal. Only id keys change."""
    document = json.loads(json.dumps(content(document)))
    ranks = {"account": {document["account"]["id"]: 1}}
    for section, keys in ID_KEYS.items():
        if "id" in keys and section != "account":
            ids = sorted(row["id"] for row in document[section])
            ranks[section] = {old: rank for rank, old in enumerate(ids)}
    document["account"]["id"] = 1
    for section, keys in ID_KEYS.items():
        rows = [document["account"]] if section == "account" else document[section]
        for row in rows:
            if "account_id" in row:
                row["account_id"] = 1
            for key, target in keys.items():
                if key in row and row[key] is not None and section != "account":
                    row[key] = ranks[target].get(row[key], row[key])
            if section == "auditLog" and row["target_type"] in AUDIT_TARGETS:
                row["target_id"] = ranks[AUDIT_TARGETS[row["target_type"]]].get(
                    row["target_id"], row["target_id"]
                )
    return document


async def backup(services, slug: str, tmp_path) -> bytes:
    """The account's backup as ``roster account export`` writes it (``account_json``, as
    the owner), without the audit entry that command keeps of itself (``test_backup``
    checks it), so that round trips compare byte for byte."""
    async with services.db.session() as session:
        account = await session.scalar(select(Account).where(Account.slug == slug))
        owner = await session.scalar(
            select(Staff).where(Staff.account_id == account.id, Staff.role == Role.OWNER)
        )
        actor = Actor(
            user_id=owner.user_id or 0, account_id=account.id, staff_id=owner.id,
            role=Role.OWNER, permits=ROLE_PERMITS[Role.OWNER],
            account_timezone=account.timezone,
        )  # fmt: skip
        return b"".join([c async for c in account_json(session, actor, services.settings.keyring)])


async def restore(services, raw: bytes, slug: str | None = None, keyring=None, unsigned=True):
    """Restore ``raw``; ``unsigned`` by default, as most tests here restore a document they
    edited (``test_backup_signature`` holds what the signature refuses)."""
    async with services.db.session(write=True) as session:
        restored = await restore_account(
            session, raw, keyring or services.settings.keyring, slug=slug, unsigned=unsigned
        )
        await session.commit()
    return restored


async def drop_account(services, account_id: int) -> None:
    async with services.db.session(write=True) as session:
        await session.execute(delete(Account).where(Account.id == account_id))
        await session.commit()


async def row_counts(services) -> tuple[int, int]:
    async with services.db.session() as session:
        return (
            await session.scalar(select(func.count()).select_from(Account)),
            await session.scalar(select(func.count()).select_from(Staff)),
        )


@pytest.fixture
async def world(api, services):
    """An account with every kind of row the backup holds, and another account."""
    tenant, plain, secret = await make_people(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    status = await make_status(services, tenant, "On leave")
    await update_row(services, Staff, plain.id, manager_id=secret.id, status_id=status.id)
    await share_staff_with(services, tenant, secret.id, editor.staff_pk)
    invited = await api.data(
        """mutation { invitationCreate(input: {email: "invitee@example.com", role: EDITOR}) {
          invitation { id } userErrors { code } } }""",
        as_=tenant.owner,
    )
    assert invited["invitationCreate"]["userErrors"] == []
    project = await api.data(
        'mutation { projectCreate(input: {name: "Apollo"}) { project { id } userErrors { code } } }',
        as_=tenant.owner,
    )
    assert project["projectCreate"]["userErrors"] == []
    async with services.db.session(write=True) as session:
        role = ProjectTeamRole(account_id=tenant.account_id, name="Lead", name_key="lead")
        session.add(role)
        await session.flush()
        from app.projects.models import Project

        apollo = await session.scalar(
            select(Project).where(Project.account_id == tenant.account_id)
        )
        session.add(ProjectMember(project_id=apollo.id, staff_id=plain.id,
                                  account_id=tenant.account_id, team_role_id=role.id))  # fmt: skip
        await session.commit()
    await update_row(services, Staff, secret.id, default_project_role_id=role.id)
    other = await make_tenant(services)
    return tenant, plain, secret, other


async def test_restore_after_deletion_gives_the_same_document(services, world, tmp_path):
    tenant, *_ = world
    first = await backup(services, tenant.slug, tmp_path)
    document = json.loads(first)
    assert (document["format"], document["version"]) == ("roster-account-backup", 3)
    assert all(document[s] for s in ("projectTeamRoles", "staffShares", "projectMembers"))
    await drop_account(services, tenant.account_id)

    restored = await restore(services, first, unsigned=False)
    assert restored.account.id == tenant.account_id and restored.account.slug == tenant.slug
    assert restored.counts["staff"] == len(document["staff"])
    second = await backup(services, tenant.slug, tmp_path)
    assert [e["action"] for e in json.loads(second)["auditLog"]].count(RESTORE) == 1
    assert without_restores(json.loads(second)) == without_logins(document)

    await drop_account(services, tenant.account_id)
    await restore(services, second, unsigned=False)
    third = json.loads(await backup(services, tenant.slug, tmp_path))
    # the same but for one more entry: this restore's
    assert without_restores(third, newest=1) == content(json.loads(second))


async def test_restore_next_to_the_account_as_a_new_one(services, world, tmp_path):
    tenant, plain, secret, other = world
    first = await backup(services, tenant.slug, tmp_path)
    restored = await restore(services, first, slug="the-copy", unsigned=False)
    assert restored.account.id != tenant.account_id
    copy = json.loads(await backup(services, "the-copy", tmp_path))
    expected = without_logins(json.loads(first))
    expected["account"]["slug"] = "the-copy"
    assert copy["account"]["id"] == restored.account.id
    assert renumbered(without_restores(copy)) == renumbered(expected)
    assert copy != expected  # the ids are the copy's own
    assert await backup(services, tenant.slug, tmp_path) == first  # the original untouched
    staff = {s["last_name"]: s for s in copy["staff"]}
    assert staff["Plain"]["manager_id"] == staff["Restricted"]["id"]
    assert staff["Plain"]["ssn"] == SSN


async def test_secrets_are_encrypted_again_under_the_current_key(services, world, tmp_path):
    tenant, *_ = world
    first = await backup(services, tenant.slug, tmp_path)
    old = services.settings.encryption_keys
    rotated = make_settings(
        services.settings.database_url, encryption_keys=f"k9:{Keyring.generate_key()},{old}"
    )
    restored = await restore(services, first, slug="rotated", keyring=rotated.keyring)
    async with services.db.session() as session:
        rows = list(
            await session.scalars(select(Staff).where(Staff.account_id == restored.account.id))
        )
    plain = next(s for s in rows if s.last_name == "Plain")
    assert plain.ssn_encrypted.startswith("k9:") and plain.salary_encrypted.startswith("k9:")
    assert read_secret(rotated.keyring, plain, "ssn") == SSN
    assert read_secret(rotated.keyring, plain, "salary") == "85123.45"
    for staff in rows:
        stored = json.dumps([getattr(staff, c.key) for c in Staff.__table__.columns], default=str)
        assert SSN not in stored and "999-88-7777" not in stored


async def test_a_taken_slug_is_refused(services, world, tmp_path):
    tenant, _, _, other = world
    first = await backup(services, tenant.slug, tmp_path)
    before = await row_counts(services)
    with pytest.raises(BackupRejected, match="is taken.*--slug"):
        await restore(services, first)
    with pytest.raises(BackupRejected, match=f"'{other.slug}' is taken"):
        await restore(services, first, slug=other.slug)
    assert await row_counts(services) == before


def _with_field(document: dict, type: str, value: str, options=(), name="Extra") -> None:
    """A custom field of ``type`` more, and its ``value`` on the first record."""
    field = {**document["customFields"][0], "id": 999_999, "name": name, "type": type,
             "options": list(options)}  # fmt: skip
    document["customFields"].append(field)
    document["customFieldValues"].append(
        {"staff_id": document["staff"][0]["id"], "field_id": 999_999, "value": value}
    )


def _corrupt(document: dict, how: str) -> bytes:
    staff = document["staff"]
    if how == "json":
        return json.dumps(document).encode()[:-10]
    if how == "version":
        document["version"] = 99
    elif how == "format":
        del document["format"]
    elif how == "column":
        document["staff"][0]["shoe_size"] = 44
    elif how == "reference":
        document["staff"][0]["manager_id"] = 999_999
    elif how == "type":
        document["staff"][0]["capacity"] = "lots"
    elif how == "sequence":  # sids would be handed out again: every staffCreate fails
        document["account"]["staff_seq"] = 1
    elif how == "no sequence":
        del document["account"]["staff_seq"]
    elif how == "own manager":
        staff[0]["manager_id"] = staff[0]["id"]
    elif how == "manager cycle":  # each the other's manager: the API refuses the second
        staff[-2]["manager_id"], staff[-1]["manager_id"] = staff[-1]["id"], staff[-2]["id"]
    elif how == "not a number":
        _with_field(document, "NUMBER", "not-a-number", name="Num")
    elif how == "not an option":
        _with_field(document, "CHOICE", "XL", options=["S", "M"], name="Size")
    elif how == "not a date":
        _with_field(document, "DATE", "2024-02-30", name="Since")
    elif how == "blank value":
        _with_field(document, "TEXT", "  ")
    elif how == "no options":
        _with_field(document, "CHOICE", "S")
    elif how == "reserved name":
        _with_field(document, "TEXT", "x", name="Email")
    elif how == "duplicate":
        document["customFieldValues"].append(document["customFieldValues"][0])
    elif how == "same sid":
        staff[-1]["sid"] = staff[0]["sid"]
    elif how == "same external id":  # the same once cleaned (trimmed)
        staff[0]["external_id"], staff[-1]["external_id"] = "HR-7", " HR-7 "
    elif how == "same status name":  # the same name key, as statusCreate compares names
        status = document["staffStatuses"][0]
        document["staffStatuses"].append({**status, "id": 999_999, "name": status["name"].upper()})
    elif how == "too many seats":  # more than a custom plan may have (changePlan's bound)
        document["account"].update(plan="CUSTOM", seat_limit=100_001)
    elif how == "too few seats":  # fewer than its open invitations take (its members
        # come back without a login, and take a seat again once invited)
        document["account"].update(plan="CUSTOM", seat_limit=1)
        second = {**document["invitations"][0], "id": 999_999, "staff_id": None}
        document["invitations"].append({**second, "email": "second@example.com"})
    elif how == "lasting invitation":  # a resend would make a link that lasts 27 years
        document["invitations"][0]["expiry_days"] = 10_000
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("json", "not a JSON document"),
        ("version", "version 99"),
        ("format", "not a Roster account backup"),
        ("column", "unknown column 'shoe_size'"),
        ("reference", "no staff row with id 999999"),
        ("type", "'lots' is not a number"),
        ("sequence", r"account.staff_seq: 1 is below the largest staff.sid in the backup \(\d+\)"),
        ("no sequence", r"account.staff_seq: None is below the largest staff.sid"),
        ("own manager", r"staff\[0\].manager_id: A staff member cannot report to themselves"),
        ("manager cycle", r"staff\[\d+\].manager_id: A staff member cannot report to themselves"),
        ("not a number", r"customFieldValues\[\d+\].value: 'not-a-number': Num must be a number"),
        ("not an option", r"customFieldValues\[\d+\].value: 'XL': Size must be one of: S, M"),
        ("not a date", r"customFieldValues\[\d+\].value: '2024-02-30': Since must be a date"),
        ("blank value", r"customFieldValues\[\d+\].value: blank"),
        ("no options", r"customFields\[\d+\]: A CHOICE field needs at least one option"),
        ("reserved name", r"customFields\[\d+\]: .*Email"),
        ("duplicate", r"customFieldValues\[\d+\].staff_id, field_id: Another row has the same "
                      r"staff_id, field_id: customFieldValues\[0\]\.$"),
        ("same sid", r"staff\[\d+\].sid \(sid (\d+)\): Another row has the same sid: "
                     r"staff\[0\] \(sid \1\)\.$"),
        ("same external id", r"staff\[\d+\].external_id \(sid \d+\): Another staff member of "
                             r"this account has this external id: staff\[0\] \(sid \d+\)\.$"),
        ("same status name", r"staffStatuses\[1\].name: Another row has the same name: "
                             r"staffStatuses\[0\]\.$"),
        ("too many seats", r"account.seat_limit: a custom plan has 1 to 100000 seats"),
        ("too few seats", r"account.seat_limit: its members and open invitations take \d+ "
                          r"seats, its plan has 1"),
        ("lasting invitation", r"invitations\[0\].expiry_days.*: an invitation lasts 1 to 30"),
    ],
)
async def test_a_bad_file_writes_nothing(services, world, tmp_path, how, message):
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    before = await row_counts(services)
    with pytest.raises(BackupRejected, match=message):
        await restore(services, _corrupt(document, how), slug="never")
    assert await row_counts(services) == before


async def test_every_counter_of_the_account_is_checked_against_its_rows(services, world, tmp_path):
    """Each field of the account's table that ``counts`` a column (app.accounts.fields):
    one below the largest value its rows hold is refused, that value itself restores."""
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    sections = {s.table: s.name for s in SECTIONS}
    counters = [row for row in ACCOUNTS.rows if row.counts is not None]
    assert [row.name for row in counters] == ["staff_seq"]
    before = await row_counts(services)
    for row in counters:
        table, column = row.counts.split(".")
        largest = max(r[column] for r in document[sections[table]])
        document["account"][row.name] = largest - 1
        with pytest.raises(BackupRejected, match=f"account.{row.name}: {largest - 1} is below"):
            await restore(services, json.dumps(document).encode(), slug="never")
        assert await row_counts(services) == before
        document["account"][row.name] = largest
    await restore(services, json.dumps(document).encode(), slug="exactly")


async def test_custom_values_come_back_as_the_api_would_store_them(services, world, tmp_path):
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    _with_field(document, "NUMBER", " 1.50 ", name="Num")  # valid, spelled otherwise
    restored = await restore(services, json.dumps(document).encode(), slug="canonical")
    copy = json.loads(await backup(services, restored.account.slug, tmp_path))
    num = next(f["id"] for f in copy["customFields"] if f["name"] == "Num")
    assert [v["value"] for v in copy["customFieldValues"] if v["field_id"] == num] == ["1.5"]


async def test_a_backup_without_personal_data_restores(services, world, tmp_path):
    tenant, *_ = world
    actor = Actor(user_id=tenant.owner.user_id, account_id=tenant.account_id,
                  staff_id=tenant.owner.staff_pk, role=Role.ADMINISTRATOR,
                  permits=ROLE_PERMITS[Role.OWNER] - {Permit.VIEW_PERSONAL_DATA},
                  account_timezone="UTC")  # fmt: skip
    async with services.db.session() as session:
        chunks = [c async for c in account_json(session, actor, services.settings.keyring)]
    first = b"".join(chunks)
    document = json.loads(first)
    assert all("ssn" not in s and "email" not in s for s in document["staff"])
    # it says so, and is restored only when asked: the account would lose that data
    assert document["personalData"] is False
    with pytest.raises(BackupRejected, match="without personal data"):
        await restore(services, first, slug="impersonal")
    assert json.loads(await backup(services, tenant.slug, tmp_path))["personalData"] is True
    async with services.db.session(write=True) as session:
        restored = await restore_account(
            session, first, services.settings.keyring, slug="impersonal", partial=True
        )
        await session.commit()
    async with services.db.session() as session:
        rows = list(
            await session.scalars(select(Staff).where(Staff.account_id == restored.account.id))
        )
    assert len(rows) == len(document["staff"])
    assert all(s.ssn_encrypted is None and s.email is None for s in rows)
    copy = json.loads(await backup(services, "impersonal", tmp_path))
    assert all(s["ssn"] is None and s["email"] is None for s in copy["staff"])


async def test_the_owner_named_on_restore_signs_in(api, services, world, tmp_path):
    tenant, *_ = world
    first = await backup(services, tenant.slug, tmp_path)
    with pytest.raises(BackupRejected, match="no login with the email"):
        await restore_owned(services, first, "owned", "nobody@example.com")
    await restore_owned(services, first, "owned", tenant.owner.email)
    data = await api.data(
        "{ account { slug } staff(filter: {roles: [OWNER]}) { nodes { lastName } } }",
        token=tenant.owner.token,
        realm="owned",
    )
    assert data["account"]["slug"] == "owned"
    assert [n["lastName"] for n in data["staff"]["nodes"]] == ["Owner"]


async def restore_owned(services, raw: bytes, slug: str, email: str) -> None:
    async with services.db.session(write=True) as session:
        await restore_account(session, raw, services.settings.keyring, slug=slug, owner_email=email)
        await session.commit()


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
_cents = st.integers(0, 10_000_000).map(lambda n: n / 100)
_REFUSED = object()


def _stored(name: str, values):
    """``values`` as the API stores them in the staff field ``name``: what its validator
    makes of them, those it refuses left out (a backup of them is refused: see
    test_a_staff_value_the_api_refuses_is_refused_naming_the_record_and_field)."""

    def clean(value):
        try:
            return STAFF[name].cleaned(value)
        except DomainError:
            return _REFUSED

    return values.map(clean).filter(lambda value: value is not _REFUSED)


STAFF_VALUES = st.fixed_dictionaries(
    {
        "first_name": _stored("first_name", _text),
        "last_name": st.just("") | _stored("last_name", _text),  # "": a record made nameless
        "title": st.none() | _stored("title", _text),
        "notes": st.none() | _stored("notes", _text),
        "phone_cell": st.none()
        | _stored("phone_cell", st.from_regex(r"[+(]?[0-9 ()./-]{3,38}", fullmatch=True)),
        "is_inactive": st.booleans(),
        "capacity": st.integers(0, 74_400).map(lambda n: n / 100),
        "rate1": st.none() | _cents,
        "start_date": st.none() | st.dates(),
        "kind": st.sampled_from(["EMPLOYEE", "CONTRACTOR", "CUSTOMER", "VENDOR"]),
    }
)
_slugs = iter(range(10**6))


@settings(max_examples=12)
@given(
    values=STAFF_VALUES,
    ssn=st.none() | _stored("ssn", st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 -]{2,31}", fullmatch=True)),
    salary=st.none() | _cents,
)
async def test_any_staff_values_come_back_as_they_were(services, tmp_path, values, ssn, salary):
    """Any values the API stores (its validators' output)."""
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant, **values)
    await set_staff_secrets(services, staff.id, ssn=ssn, salary=salary)
    first = json.loads(await backup(services, tenant.slug, tmp_path))
    slug = f"copy-{next(_slugs)}"
    await restore(services, json.dumps(first).encode(), slug=slug)
    copy = json.loads(await backup(services, slug, tmp_path))
    [before] = [s for s in first["staff"] if s["sid"] == staff.sid]
    [after] = [s for s in copy["staff"] if s["sid"] == staff.sid]
    assert {**after, "id": None, "account_id": None} == {**before, "id": None, "account_id": None}


# A value of a staff row each of the field table's validators refuses: (key, value, code).
REFUSED = [
    ("email", "not-an-email", "INVALID"),
    ("home_timezone", "Mars/Olympus_Mons", "INVALID"),
    ("notes", "x" * 10_001, "TOO_LONG"),  # the column takes any length, the API 10,000
    ("title", "two\nlines", "INVALID"),
    ("last_name", "  ", "REQUIRED"),  # blank but not empty: no record is stored so
    ("phone_work", "call me", "INVALID"),
    ("capacity", 745, "INVALID"),
    ("rate2", -1, "INVALID"),
    ("hour_rate_type", 1001, "INVALID"),
    ("staff_org_id", -1, "INVALID"),
    ("external_id", "a\u0007b", "INVALID"),
    ("address_country", "\u0000", "INVALID"),
    ("ssn", "!!", "INVALID"),
    ("salary", "lots", "INVALID"),
]


async def test_a_staff_value_the_api_refuses_is_refused_naming_the_record_and_field(
    services, tmp_path
):
    """The staff field table's validators (app.staff.fields) run on every staff row, as
    staffCreate and staffUpdate run them: a value one refuses refuses the file, naming the
    row, its sid and the key, and nothing is written; values they accept come back as
    they clean them, and a record's empty names (as an invitation makes it) as they were."""
    tenant = await make_tenant(services)
    await make_staff(services, tenant, first_name="Val", last_name="Id", email="v@example.com")
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    index, row = next((i, r) for i, r in enumerate(document["staff"]) if r["last_name"] == "Id")
    before = await row_counts(services)
    for key, value, code in REFUSED:
        bad = json.loads(json.dumps(document))
        bad["staff"][index][key] = value
        with pytest.raises(BackupRejected) as refused:
            await restore(services, json.dumps(bad).encode(), slug="never")
        assert refused.value.message.startswith(f"staff[{index}].{key} (sid {row['sid']}): ")
        assert (refused.value.field, refused.value.code) == (["staff", str(index), key], code)
        assert await row_counts(services) == before, key

    spelled = {"email": " V@Example.COM ", "title": " Lead ", "address_city": " Oslo ",
               "home_timezone": " Europe/Oslo ", "salary": " 1000 ", "first_name": ""}  # fmt: skip
    document["staff"][index].update(spelled)
    await restore(services, json.dumps(document).encode(), slug="cleaned")
    copy = json.loads(await backup(services, "cleaned", tmp_path))
    [back] = [r for r in copy["staff"] if r["sid"] == row["sid"]]
    assert {key: back[key] for key in spelled} == {
        "email": "v@example.com", "title": "Lead", "address_city": "Oslo",
        "home_timezone": "Europe/Oslo", "salary": "1000.0", "first_name": "",
    }  # fmt: skip


# --- what staffCreate, staffUpdate and the account's one owner hold records to ----------


async def refused_unchanged(services, tenant, tmp_path, document: dict) -> BackupRejected:
    """Restoring the edited ``document`` next to its account is refused and writes
    nothing: no row anywhere, and the account's own backup is the same as before."""
    before = (await row_counts(services), await backup(services, tenant.slug, tmp_path))
    with pytest.raises(BackupRejected) as refused:
        await restore(services, json.dumps(document).encode(), slug="never")
    after = (await row_counts(services), await backup(services, tenant.slug, tmp_path))
    assert after == before
    return refused.value


def _staff_row(document: dict, last_name: str) -> tuple[int, dict]:
    return next((i, r) for i, r in enumerate(document["staff"]) if r["last_name"] == last_name)


async def test_a_termination_before_the_start_is_refused(services, world, tmp_path):
    """The dates rule of staffCreate and staffUpdate (``dates_problem``)."""
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    index, row = _staff_row(document, "Plain")
    row.update(start_date="2024-03-01", term_date="2024-02-29")
    refused = await refused_unchanged(services, tenant, tmp_path, document)
    assert refused.message == (
        f"staff[{index}].term_date (sid {row['sid']}): Term date cannot be before start date."
    )
    assert refused.field == ["staff", str(index), "term_date"]
    row["term_date"] = "2024-03-01"  # the day it starts: as the API takes it
    await restore(services, json.dumps(document).encode(), slug="same-day")


async def test_a_backup_without_exactly_one_owner_is_refused(services, world, tmp_path):
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    owner_index, owner = _staff_row(document, "Owner")
    plain_index, plain = _staff_row(document, "Plain")

    none = json.loads(json.dumps(document))
    none["staff"][owner_index]["role"] = "ADMINISTRATOR"
    refused = await refused_unchanged(services, tenant, tmp_path, none)
    assert refused.message == "staff: no row is the owner (an account has exactly one owner)"

    two = json.loads(json.dumps(document))
    two["staff"][plain_index]["role"] = "OWNER"
    first, second = sorted([(owner_index, owner["sid"]), (plain_index, plain["sid"])])
    refused = await refused_unchanged(services, tenant, tmp_path, two)
    assert refused.message == (
        f"staff[{second[0]}].role (sid {second[1]}): another owner, as staff[{first[0]}] "
        f"(sid {first[1]}) (an account has exactly one owner)"
    )
    assert refused.field == ["staff", str(second[0]), "role"]


_FULLWIDTH = 0xFEE0  # "Ａ" is "A" once NFKC-normalised, as clean_email normalises


@st.composite
def spelled_otherwise(draw, email: str) -> str:
    """``email`` as a user might type it again: letters in either case (or fullwidth),
    spaces around; the same address once cleaned."""
    letters = []
    for char in email:
        if char.isascii() and char.isalpha():
            wide = chr(ord(char.upper()) + _FULLWIDTH)
            char = draw(st.sampled_from([char.lower(), char.upper(), wide]))
        letters.append(char)
    return draw(st.sampled_from(["", " "])) + "".join(letters) + draw(st.sampled_from(["", "  "]))


@settings(max_examples=10)
@given(data=st.data())
async def test_two_emails_the_same_once_cleaned_are_refused_naming_both(
    services, world, tmp_path, data
):
    """Emails differing only in case (or width, or spaces) are one address once cleaned:
    refused up front as staffUpdate refuses it (StaffEmailTaken), naming both records."""
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    plain_index, plain = _staff_row(document, "Plain")
    other_index, other = _staff_row(document, "Restricted")
    other["email"] = data.draw(spelled_otherwise(plain["email"]))
    first, second = sorted([(plain_index, plain["sid"]), (other_index, other["sid"])])
    refused = await refused_unchanged(services, tenant, tmp_path, document)
    assert refused.message == (
        f"staff[{second[0]}].email (sid {second[1]}): Another staff member of this account "
        f"has this email: staff[{first[0]}] (sid {first[1]})."
    )
    assert refused.field == ["staff", str(second[0]), "email"]
    assert refused.code == ErrorCode.TAKEN


# --- what the membership, account, invitation and sharing services refuse --------------


async def test_an_owner_in_a_state_the_services_never_leave_it_in_is_refused(
    services, world, tmp_path
):
    """The owner is an active member (``ownership_problem``: nothing disables the owner,
    ownership goes only to an active administrator); NOT_INVITED is what a restore makes
    of it (no login comes back), and restores again, as do the states of its record getting
    a login back (``REGAINING_OWNER``: invited as the owner, its invitation expired,
    joined by a login not yet confirmed: tests/invitations/test_owner_record.py)."""
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    index, owner = _staff_row(document, "Owner")
    assert owner["account_status"] == "ACTIVE"
    for status in ("DISABLED",):
        bad = json.loads(json.dumps(document))
        bad["staff"][index]["account_status"] = status
        refused = await refused_unchanged(services, tenant, tmp_path, bad)
        assert refused.message == (
            f"staff[{index}].account_status (sid {owner['sid']}): The owner is an active "
            f"member, not {status}."
        ), status
        assert refused.field == ["staff", str(index), "account_status"]
    owner.update(account_status="NOT_INVITED", user_id=None)  # as a restore leaves it
    await restore(services, json.dumps(document).encode(), slug="owner-not-invited")
    for status in ("INVITED", "INVITE_EXPIRED", "UNCONFIRMED"):
        owner.update(account_status=status, user_id=None)
        slug = "owner-" + status.lower().replace("_", "-")
        await restore(services, json.dumps(document).encode(), slug=slug)


# (key, value, the refusal's words) of account settings accountUpdate refuses
REFUSED_SETTINGS = [
    ("invitation_expiry_days", 0, "Invitations last 1 to 30 days."),
    ("invitation_expiry_days", 31, "Invitations last 1 to 30 days."),
    ("join_link_role", "OWNER", "Join links cannot hand out this role."),
    ("join_link_role", "CHIEF", "'CHIEF' is not a role."),
    ("join_link_expiry_days", 0, "Join links last 1 to 365 days."),
    ("join_link_expiry_days", 366, "Join links last 1 to 365 days."),
    ("timezone", "Mars/Olympus_Mons", None),
    ("timezone", " ", "Time zone is required."),
    ("name", "  ", None),
    # plans and seats as accountPlanChange takes them (the world's account: CUSTOM, 50)
    ("plan", "PLATINUM", None),
    ("seat_limit", 0, "a custom plan has 1 to 100000 seats"),
]
# (key, value): refused naming seat_limit, the world's 50 seats being the plan's wrong
REFUSED_PLANS = [("plan", "FREE", "the FREE plan has 5 seats"),
                 ("plan", "TEAM", "the TEAM plan has 25 seats")]  # fmt: skip


async def test_account_settings_account_update_refuses_are_refused(services, world, tmp_path):
    """The account row's settings are held to accountUpdate's rules (``clean_settings``):
    a value it refuses refuses the file naming the setting; values it takes are stored as
    it stores them."""
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    for key, value, words in REFUSED_SETTINGS:
        bad = json.loads(json.dumps(document))
        bad["account"][key] = value
        refused = await refused_unchanged(services, tenant, tmp_path, bad)
        assert refused.message.startswith(f"account.{key}: "), (key, refused.message)
        if words is not None:
            assert refused.message == f"account.{key}: {words}", key
        assert refused.field == ["account", key]
    for key, value, words in REFUSED_PLANS:
        bad = json.loads(json.dumps(document))
        bad["account"][key] = value
        refused = await refused_unchanged(services, tenant, tmp_path, bad)
        assert refused.message == f"account.seat_limit: {words}"
    document["account"].update(timezone=" Europe/Oslo ", join_link_role="EDITOR",
                               invitation_expiry_days=30, join_link_expiry_days=365)  # fmt: skip
    await restore(services, json.dumps(document).encode(), slug="settings")
    copy = json.loads(await backup(services, "settings", tmp_path))
    assert copy["account"]["timezone"] == "Europe/Oslo"
    assert copy["account"]["join_link_role"] == "EDITOR"


async def test_invitations_and_join_links_the_services_refuse_are_refused(
    api, services, world, tmp_path
):
    """Nobody is invited as owner nor joins as one (``check_invited_role``,
    ``link_problems``), a join link's uses and domains are those joinLinkCreate takes, and
    a record has one invitation not yet accepted (inviting it again revokes the others:
    ``revoke_open_invitations``)."""
    tenant, *_ = world
    made = await api.data(
        """mutation { joinLinkCreate(input: {maxUses: 5, allowedDomains: ["example.com"]}) {
          joinLink { id } userErrors { code } } }""",
        as_=tenant.owner,
    )
    assert made["joinLinkCreate"]["userErrors"] == []
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    assert len(document["invitations"]) == 1 and len(document["joinLinks"]) == 1

    bad = json.loads(json.dumps(document))
    bad["invitations"][0]["role"] = "OWNER"
    refused = await refused_unchanged(services, tenant, tmp_path, bad)
    assert refused.message == (
        "invitations[0].role: Nobody is invited as owner; transfer ownership instead."
    )
    assert refused.field == ["invitations", "0", "role"]

    for key, value, words in [
        ("role", "OWNER", "You may not hand out this role."),
        ("max_uses", 0, "Max uses is 1 to 10000."),
        ("allowed_domains", ["not a domain"], "Not a valid email domain."),
    ]:
        bad = json.loads(json.dumps(document))
        bad["joinLinks"][0][key] = value
        refused = await refused_unchanged(services, tenant, tmp_path, bad)
        assert refused.message == f"joinLinks[0].{key}: {words}", key
        assert refused.field == ["joinLinks", "0", key]

    for status in ("PENDING", "EXPIRED"):  # open: a resend revives an expired one
        twice = json.loads(json.dumps(document))
        again = {**twice["invitations"][0], "id": 999_999, "status": status}
        twice["invitations"].append(again)
        refused = await refused_unchanged(services, tenant, tmp_path, twice)
        assert refused.message == (
            "invitations[1].staff_id: This person already has a pending invitation; resend "
            "it instead: invitations[0]."
        )
        assert refused.field == ["invitations", "1", "staff_id"]
    revoked = json.loads(json.dumps(document))
    revoked["invitations"].append({**revoked["invitations"][0], "id": 999_999,
                                   "status": "REVOKED"})  # fmt: skip
    await restore(services, json.dumps(revoked).encode(), slug="invited-once")


async def test_an_open_invitation_goes_to_its_records_address(api, services, world, tmp_path):
    """An edited backup whose pending invitation (the owner's own record's, say) points
    at another address than its record's is refused: its link would hand the record to
    whoever holds that address. One accepted or revoked is history and may differ."""
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    [invitation] = document["invitations"]
    for address in ("attacker@evil.test", ""):
        bad = json.loads(json.dumps(document))
        bad["invitations"][0]["email"] = address
        refused = await refused_unchanged(services, tenant, tmp_path, bad)
        assert refused.message == (
            "invitations[0].email: an invitation not yet accepted goes to its record's address."
        )
        assert refused.field == ["invitations", "0", "email"]
    respelled = json.loads(json.dumps(document))
    respelled["invitations"][0]["email"] = invitation["email"].upper()
    await restore(services, json.dumps(respelled).encode(), slug="invited-respelled")
    history = json.loads(json.dumps(document))
    history["invitations"][0].update(email="someone@else.test", status="REVOKED")
    await restore(services, json.dumps(history).encode(), slug="invited-history")


async def test_a_share_with_itself_or_a_permit_not_granted_is_refused(services, world, tmp_path):
    """staffShare refuses sharing a record with its own person (``share_problem``);
    staffPermitGrant a permit that comes with a role (``grant_problem``). A grantable
    permit on a role that holds it already is no refusal (a member granted it and then
    promoted holds one)."""
    tenant, plain, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    assert len(document["staffShares"]) == 1

    bad = json.loads(json.dumps(document))
    share = bad["staffShares"][0]
    share["shared_with_id"] = share["staff_id"]
    refused = await refused_unchanged(services, tenant, tmp_path, bad)
    assert refused.message == (
        "staffShares[0].shared_with_id: A record is always visible to its own person."
    )
    assert refused.field == ["staffShares", "0", "shared_with_id"]

    owner_id = _staff_row(document, "Owner")[1]["id"]
    grant = {"staff_id": plain.id, "account_id": tenant.account_id,
             "created_at": "2024-01-01T00:00:00+00:00"}  # fmt: skip
    bad = json.loads(json.dumps(document))
    bad["staffPermitGrants"].append({**grant, "permit": "MANAGE_BILLING"})
    refused = await refused_unchanged(services, tenant, tmp_path, bad)
    assert refused.message == (
        "staffPermitGrants[0].permit: That permit comes with a role and cannot be granted."
    )
    assert refused.field == ["staffPermitGrants", "0", "permit"]

    document["staffPermitGrants"] += [
        {**grant, "permit": "VIEW_PERSONAL_DATA"},
        {**grant, "staff_id": owner_id, "permit": "VIEW_PERSONAL_DATA"},
    ]
    await restore(services, json.dumps(document).encode(), slug="granted")


@pytest.mark.parametrize(
    ("diff", "words"),
    [
        ("x", "not a list of changes"),
        ([1], "change 0 is not an object"),
        ([{"table": 5, "op": "insert", "fields": {}}], "change 0: table is not text"),
        ([{"table": "staff", "op": "upsert", "fields": {}}], "change 0: op is not one of insert, update, delete"),
        ([{"table": "staff", "op": "update", "fields": {"title": "x"}}], "change 0: fields are not {name: [before, after]}"),
        ([{"table": "custom_field_values", "op": "insert", "fields": {}, "key": 5}], "change 0: a custom value's key is [staff id, field id]"),
        ([{"table": "custom_field_values", "op": "update", "fields": {}, "key": [1, [2]]}], "change 0: a custom value's key is [staff id, field id]"),
    ],
)  # fmt: skip
async def test_an_audit_entry_the_log_could_not_show_is_refused(services, world, tmp_path, diff, words):
    """A diff that is no list of changed rows failed every read of the restored account's
    audit log by a reader without ViewPersonalData (shown field by field)."""
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    assert document["auditLog"]
    document["auditLog"][0]["diff"] = diff
    refused = await refused_unchanged(services, tenant, tmp_path, document)
    assert refused.message == f"auditLog[0].diff: {words}"
    assert refused.field == ["auditLog", "0", "diff"]


async def test_a_version_2_backup_is_still_read_as_whole(services, world, tmp_path):
    """Version 3 adds personalData to the header; a backup from before it is read, and
    taken as holding personal data (restored without --partial)."""
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    assert (document["version"], document["personalData"]) == (3, True)
    document["version"] = 2
    del document["personalData"]
    restored = await restore(services, json.dumps(document).encode(), slug="version-two")
    assert restored.account.slug == "version-two"
    document["version"] = 1
    with pytest.raises(BackupRejected, match="reads versions 2 to 3"):
        await restore(services, json.dumps(document).encode(), slug="version-one")


@pytest.mark.parametrize(("total", "active"), [(1001, 1), (101, 101)])
async def test_more_custom_fields_than_an_account_has_are_refused(
    services, world, tmp_path, total, active
):
    """The cost model prices customFields by the caps (1,000 kept, 100 active) without
    counting them: a restore keeps to them too."""
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    fields = document["customFields"]
    fields += [
        {**fields[0], "id": 900_000 + i, "name": f"Bulk {i}", "options": [], "type": "TEXT"}
        for i in range(total - len(fields))
    ]
    for n, field in enumerate(fields):
        field["archived_at"] = None if n < active else "2024-01-01T00:00:00+00:00"
    refused = await refused_unchanged(services, tenant, tmp_path, document)
    what = "custom fields, archived ones included" if total > 1000 else "active custom fields"
    assert f"{max(total, active):,} {what}" in refused.message


async def test_ids_no_database_handed_out_are_renumbered_and_ids_past_a_key_refused(
    services, world, tmp_path
):
    """An edited backup's id near the largest a key can be, restored next to other
    accounts, would move the table's sequence there and leave no id for anyone's next row:
    it is renumbered (ids are kept only where this database handed them out, or into an
    empty table). An id no key can be refuses the file."""
    from app.db.base import MAX_ID

    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    assert document["auditLog"]
    document["auditLog"][0]["id"] = MAX_ID - 1
    restored = await restore(services, json.dumps(document).encode(), slug="edited")
    copy = json.loads(await backup(services, "edited", tmp_path))
    assert copy["account"]["id"] == restored.account.id
    assert max(row["id"] for row in copy["auditLog"]) < 1_000_000
    # the next row anyone writes still gets an id
    await make_tenant(services)

    document["auditLog"][0]["id"] = MAX_ID + 1
    with pytest.raises(BackupRejected, match="no id"):
        await restore(services, json.dumps(document).encode(), slug="past-a-key")


async def test_an_entry_written_whole_before_diffs_were_cut_comes_back_cut(
    services, world, tmp_path
):
    """A backup from before an entry held at most DIFF_ROWS_PER_ENTRY rows: its longer
    entry keeps its first rows, and the rest follow in new entries of the same mutation,
    so every page of the restored log is what the cost check priced."""
    tenant, *_ = world
    document = json.loads(await backup(services, tenant.slug, tmp_path))
    [first, *_] = document["auditLog"]
    rows = 2 * DIFF_ROWS_PER_ENTRY + 1
    first["diff"] = [
        {"table": "staff_statuses", "op": "insert", "id": i, "account_id": tenant.account_id,
         "fields": {"name": [None, f"S{i}"]}}
        for i in range(rows)
    ]  # fmt: skip
    await drop_account(services, tenant.account_id)
    await restore(services, json.dumps(document).encode())
    async with services.db.session() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.account_id == tenant.account_id)
                .order_by(AuditEntry.id)
            )
        )
    kept = next(e for e in entries if e.id == first["id"])
    parts = [kept] + [
        e
        for e in entries
        if e.id > max(r["id"] for r in document["auditLog"]) and e.action != RESTORE
    ]
    assert [len(p.diff) for p in parts] == [DIFF_ROWS_PER_ENTRY, DIFF_ROWS_PER_ENTRY, 1]
    assert [c["fields"]["name"][1] for p in parts for c in p.diff] == [f"S{i}" for i in range(rows)]
    same = ("action", "actor_staff_id", "actor_name", "target_type", "target_id", "request_id",
            "client_address", "created_at")  # fmt: skip
    assert {tuple(getattr(p, c) for c in same) for p in parts} == {
        tuple(getattr(kept, c) for c in same)
    }
    assert all(len(e.diff) <= DIFF_ROWS_PER_ENTRY for e in entries)
