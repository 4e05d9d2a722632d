"""The account backup's document as the restore reads it (``app.accounts.restore``):
its sections in the order they are written back, what each row's references point at,
and every row checked against the field tables and the columns' types before anything is
written.

A row may hold exactly the columns the field tables back up (``Backup``), plus the
decrypted secrets on staff rows; any other key, a value of the wrong type, a row of
another account or a reference to a row the document does not hold refuses the file; so
does a counter of the account row (a field that ``counts`` a column: ``staff_seq``) below
the largest value its rows hold, which would hand out a number in use again. And what the
API would refuse to write is refused by the API's own rules: an account setting
accountUpdate refuses (``_check_account``), and (``_check_rules``) a staff
value its field's validator refuses, a termination before the start, a manager cycle, an
owner in a state no service leaves it in (disabled), a
record shared with itself, a permit granted that comes with a role, an invitation for the
owner's role of another record than the owner's, a
join link for the owner's role, a join link's uses or domains joinLinkCreate refuses, a
second invitation not yet accepted for one record or address, a custom field's bad name
or options, a custom value its field does not take; so is a
document without exactly one owner (``_check_owner``) and two rows of a section with the
same unique key once cleaned (``_check_unique``: the database's unique constraints, checked
before anything is written and naming both rows).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)

from app.access import ROLE_PERMITS, Permit, Role
from app.accounts.admin_service import clean_settings, ownership_problem
from app.accounts.backup import FORMAT, READABLE_VERSIONS, VERSION
from app.accounts.backup_signature import verify
from app.accounts.errors import BackupRejected
from app.accounts.models import Account
from app.accounts.plans import MAX_CUSTOM_SEATS, PLAN_SEATS, Plan
from app.audit.models import AuditEntry
from app.custom_fields.models import CustomField, CustomFieldValue
from app.custom_fields.service import (
    MAX_FIELDS,
    MAX_FIELDS_KEPT,
    clean_name,
    clean_options,
    normalise,
)
from app.db.base import MAX_ID, UTCDateTime, is_id
from app.errors import DomainError, ErrorCode, ValidationFailed
from app.fields import Backup
from app.fields import table as field_table
from app.invitations.errors import AlreadyInvited
from app.invitations.join_links import link_problems
from app.invitations.models import Invitation, InvitationStatus, JoinLink
from app.invitations.service import MAX_EXPIRY_DAYS, check_invited_role
from app.projects.models import Project, ProjectMember, ProjectTeamRole
from app.projects.service import MAX_PROJECTS, MAX_TEAM_ROLES
from app.security.crypto import Keyring
from app.security.tokens import token_digest
from app.staff.errors import ManagerCycle
from app.staff.fields import STAFF
from app.staff.membership import OPEN_INVITATIONS
from app.staff.models import AccountStatus, Staff, StaffPermitGrant, StaffShare, StaffStatus
from app.staff.service import (
    MAX_STATUSES,
    RECORD_KEYS_TAKEN,
    clean_stored,
    dates_problem,
    grant_problem,
    in_manager_cycles,
    share_problem,
)
from app.validation import name_key

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
        # keys are not restored: what a key of another database made is the session's
        cleared=("accepted_user_id", "created_by_token_id"),
        made={"token_digest": _unknown_token},
    ),
    Section(
        "joinLinks",
        JoinLink,
        refs={"created_by_staff_id": "staff"},
        cleared=("created_by_token_id",),
        made={"token_digest": _unknown_token},
    ),
    Section(
        "auditLog",
        AuditEntry,
        history={"actor_staff_id": "staff"},
        cleared=("actor_user_id", "impersonator_user_id"),
    ),
)
ACCOUNT_SECTION = Section(ACCOUNT, Account)
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
ONE_OWNER = "an account has exactly one owner"
# A staff row's status as a restore writes it: no login comes back (``app.accounts.restore``),
# so a member (ACTIVE) or one joined but not yet confirmed (UNCONFIRMED: its login would
# confirm it, and it holds a reserved seat until then) comes back NOT_INVITED, to be
# invited again.
RESTORED_STATUS = {
    AccountStatus.ACTIVE: AccountStatus.NOT_INVITED,
    AccountStatus.UNCONFIRMED: AccountStatus.NOT_INVITED,
}
# The owner's record getting a login back (``app.access.roles.joining_role``): invited as
# the owner (pending, or expired), or joined at its address by a login not yet confirmed.
REGAINING_OWNER = frozenset(
    {AccountStatus.INVITED, AccountStatus.INVITE_EXPIRED, AccountStatus.UNCONFIRMED}
)
PARTIAL = ("sqlite", "postgresql")  # dialects whose unique indexes may have a WHERE


# --- reading ---------------------------------------------------------------------------


def _document(raw: bytes) -> dict:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BackupRejected(f"not a JSON document ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupRejected(f"not a Roster account backup (no format {FORMAT!r})")
    if document.get("version") not in READABLE_VERSIONS:
        raise BackupRejected(
            f"backup version {document.get('version')!r}; this Roster reads versions "
            f"{READABLE_VERSIONS[0]} to {VERSION}"
        )
    known = {"format", "version", "personalData", "signature", ACCOUNT, *(s.name for s in SECTIONS)}
    if not isinstance(document.get("personalData", True), bool):
        raise BackupRejected("personalData is not true or false")
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
    if "id" in columns and not is_id(row.get("id")):
        raise BackupRejected(f"{where}: no id (a whole number from 0 to {MAX_ID})")
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


def _check_counters(account: dict, rows: dict[str, list[dict]]) -> None:
    """Every counter of the account row (a field that ``counts`` a column, as
    ``staff_seq`` counts staff sids) at least the largest value its rows hold: one below
    would hand out a number in use (every record added after the restore would fail)."""
    by_table = {s.table: s.name for s in SECTIONS}
    for row in field_table(ACCOUNT_SECTION.table).rows:
        if row.counts is None:
            continue
        table, column = row.counts.split(".")
        held = [r[column] for r in rows[by_table[table]] if r.get(column) is not None]
        counter = account.get(row.name)
        if held and (counter is None or counter < max(held)):
            raise BackupRejected(
                f"{ACCOUNT}.{row.name}: {counter!r} is below the largest "
                f"{table}.{column} in the backup ({max(held)})"
            )


def _check_sizes(rows: dict[str, list[dict]]) -> None:
    """No more rows than the services let an account have: the cost model prices some
    sections without counting them (``app.accounts.sizes.CAPS``)."""
    fields = rows["customFields"]
    active = sum(1 for f in fields if f.get("archived_at") is None)
    for section, held, most, what in (
        ("customFields", len(fields), MAX_FIELDS_KEPT, "custom fields, archived ones included"),
        ("customFields", active, MAX_FIELDS, "active custom fields"),
        ("staffStatuses", len(rows["staffStatuses"]), MAX_STATUSES, "statuses"),
        ("projects", len(rows["projects"]), MAX_PROJECTS, "projects"),
        ("projectTeamRoles", len(rows["projectTeamRoles"]), MAX_TEAM_ROLES, "team roles"),
    ):
        if held > most:
            raise BackupRejected(
                f"{section}: {held:,} {what}, and an account has at most {most:,}",
                field=[section],
                code=ErrorCode.LIMIT_REACHED,
            )


def _check_account(account: dict) -> None:
    """The account's settings as accountUpdate takes them from the owner
    (``clean_settings``: invitations last 1 to 30 days, join links never hand out the
    owner's role, a time zone...), and kept as it cleans them."""
    values, problems = clean_settings(account, Role.OWNER)
    if problems:
        error = problems[0]
        key = (error.field or ["?"])[0]
        raise BackupRejected(
            f"{ACCOUNT}.{key}: {error.message}", field=[ACCOUNT, key], code=error.code
        )
    account.update(values)
    if (problem := _plan_problem(account.get("plan"), account.get("seat_limit"))) is not None:
        key, message = problem
        raise BackupRejected(
            f"{ACCOUNT}.{key}: {message}", field=[ACCOUNT, key], code=ErrorCode.INVALID
        )


def _plan_problem(plan: object, seat_limit: object) -> tuple[str, str] | None:
    """A plan there is, with its seats (``PLAN_SEATS``; a custom plan's 1 to MAX_CUSTOM_SEATS, as
    an account is made with: ``roster account create --seats``): an edited backup does not
    give a named plan seats it does not have."""
    if plan not in set(Plan):
        return "plan", f"not a plan ({', '.join(Plan)})"
    fixed = PLAN_SEATS[Plan(str(plan))]
    if not isinstance(seat_limit, int) or isinstance(seat_limit, bool):
        return "seat_limit", "not a number of seats"
    if fixed is not None and seat_limit != fixed:
        return "seat_limit", f"the {plan} plan has {fixed} seats"
    if fixed is None and not 1 <= seat_limit <= MAX_CUSTOM_SEATS:
        return "seat_limit", f"a custom plan has 1 to {MAX_CUSTOM_SEATS} seats"
    return None


def redundant_rows(rows: dict[str, list[dict]]) -> None:
    """Drops from ``rows`` the permit grants of a permit the member's role holds and the
    shares with a member whose role sees every record's details (``staff.service``'s
    ``redundant_grant``, ``redundant_share``): what no request makes any more."""
    roles = {r["id"]: r.get("role") for r in rows["staff"]}

    def holds(staff_id, permit: Permit) -> bool:
        role = roles.get(staff_id)
        return role in ROLE_PERMITS.keys() and permit in ROLE_PERMITS[Role(role)]

    rows["staffPermitGrants"] = [
        g for g in rows["staffPermitGrants"] if not holds(g["staff_id"], g["permit"])
    ]
    rows["staffShares"] = [
        s for s in rows["staffShares"]
        if not holds(s["shared_with_id"], Permit.VIEW_RESTRICTED_STAFF)
    ]  # fmt: skip


def _check_rules(rows: dict[str, list[dict]]) -> None:
    """What the API would refuse to write is refused, by the API's own rules: a staff
    record's value its field's validator refuses (``clean_stored``: the staff field
    table's validators, as staffCreate and staffUpdate clean input; an email, a time zone,
    a length...) or dates (``dates_problem``), records whose managers run in a circle
    (``in_manager_cycles``, as the staff import checks them), not exactly one owner
    (``_check_owner``), a record shared with its own person (``share_problem``, as
    staffShare) or a permit granted that comes with a role (``grant_problem``, as
    staffPermitGrant), invitations (``_check_invitations``), a join link's role,
    uses and domains (``link_problems``, as joinLinkCreate; domains kept as it cleans
    them), a custom field's name or options (``clean_name``,
    ``clean_options``) and a custom value its field does not take (``normalise``, as
    staffCustomFieldsSet and the import write values). Staff values, names, options and
    custom values are kept as those rules clean them (what the API stored already is
    unchanged). A grant or share its member's role gives anyway is dropped, as migration
    0035 dropped them from a database (``redundant_rows``): a backup made before it may
    hold an administrator's grant to themselves, which a demotion would bring back."""
    staff = rows["staff"]
    for i, row in enumerate(staff):
        try:
            row.update(clean_stored(row))
        except ValidationFailed as failed:
            raise _refused("staff", i, row, failed.errors[0]) from None
        problem = dates_problem(row.get("start_date"), row.get("term_date"))
        if problem is not None:
            raise _refused("staff", i, row, problem)
    managers = {r["id"]: r.get("manager_id") for r in staff}
    circling = in_manager_cycles(managers, list(managers))
    for i, row in enumerate(staff):
        if row["id"] in circling:
            raise BackupRejected(f"staff[{i}].manager_id: {ManagerCycle().message}")
    _check_owner(staff)
    for i, row in enumerate(rows["staffShares"]):
        if (problem := share_problem(row["staff_id"], row["shared_with_id"])) is not None:
            raise _refused("staffShares", i, row, problem)
    for i, row in enumerate(rows["staffPermitGrants"]):
        if (problem := grant_problem(row["permit"])) is not None:
            raise _refused("staffPermitGrants", i, row, problem)
    redundant_rows(rows)  # refused first, as the API refuses them; then only what it drops
    _check_invitations(rows["invitations"], _owner_id(staff), staff)
    for i, row in enumerate(rows["auditLog"]):
        if (wrong := _diff_problem(row.get("diff"))) is not None:
            raise _refused("auditLog", i, row, DomainError(wrong, field=["diff"]))
    for i, row in enumerate(rows["joinLinks"]):
        domains = row.get("allowed_domains") or []
        if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
            raise BackupRejected(f"joinLinks[{i}].allowed_domains: not a list of text")
        row["allowed_domains"], problems = link_problems(
            Role.OWNER,  # who may hand out any role there is to hand out
            row.get("role", Role.VIEWER),
            max_uses=row.get("max_uses"),
            allowed_domains=domains,
        )
        if problems:
            raise _refused("joinLinks", i, row, problems[0])
    fields: dict[int, CustomField] = {}
    for i, row in enumerate(rows["customFields"]):
        options = row.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise BackupRejected(f"customFields[{i}].options: not a list of text")
        try:
            row["name"] = clean_name(row["name"])
            row["options"] = clean_options(row["type"], options)
        except DomainError as exc:
            raise BackupRejected(f"customFields[{i}]: {exc.message}") from None
        fields[row["id"]] = CustomField(name=row["name"], type=row["type"], options=row["options"])
    for i, row in enumerate(rows["customFieldValues"]):
        where, value = f"customFieldValues[{i}].value", row["value"]
        if not value.strip():
            raise BackupRejected(f"{where}: blank (a blank value is no value: never stored)")
        try:
            row["value"] = normalise(fields[row["field_id"]], value, ["value"])
        except DomainError as exc:
            raise BackupRejected(f"{where}: {value!r}: {exc.message}") from None


def _where(section: str, i: int, row: dict, key: str | None = None) -> str:
    """A row (or its ``key``) as a refusal names it: a staff row with its sid."""
    where = f"{section}[{i}]" if key is None else f"{section}[{i}].{key}"
    return f"{where} (sid {row.get('sid')})" if section == "staff" else where


def _refused(section: str, i: int, row: dict, error: DomainError) -> BackupRejected:
    """The service's rule ``error`` broken by the row ``section[i]``, naming the row (a
    staff row with its sid) and the key ``error`` names."""
    key = (error.field or ["?"])[0]
    return BackupRejected(
        f"{_where(section, i, row, key)}: {error.message}",
        field=[section, str(i), key],
        code=error.code,
    )


def _check_owner(staff: list[dict]) -> None:
    """Exactly one owner per account (the role model, ``app.access``; the database's
    one-owner index refuses a second, nothing refuses none): the rows' owners named. And
    the owner an active member (``ownership_problem``), or what a restore makes of one
    (``RESTORED_STATUS``: NOT_INVITED, the status a restored account's backup shows), or
    getting a login back after one (``REGAINING_OWNER``: invited, its invitation expired,
    joined unconfirmed). Never disabled: nothing disables the owner."""
    owners = [i for i, row in enumerate(staff) if row.get("role") == Role.OWNER]
    if not owners:
        raise BackupRejected(
            f"staff: no row is the owner ({ONE_OWNER})", field=["staff"], code=ErrorCode.INVALID
        )
    if len(owners) > 1:
        first, second = owners[:2]
        raise BackupRejected(
            f"{_where('staff', second, staff[second], 'role')}: another owner, as "
            f"{_where('staff', first, staff[first])} ({ONE_OWNER})",
            field=["staff", str(second), "role"],
            code=ErrorCode.INVALID,
        )
    [i] = owners
    status = staff[i].get("account_status", AccountStatus.NOT_INVITED)
    if status in REGAINING_OWNER or status in RESTORED_STATUS.values():
        return  # what a restore makes of an active owner, or one getting a login back
    if (problem := ownership_problem(status)) is not None:
        raise _refused("staff", i, staff[i], problem)


def _owner_id(staff: list[dict]) -> object:
    """The owner row's id (``_check_owner`` has found exactly one)."""
    return next(row.get("id") for row in staff if row.get("role") == Role.OWNER)


def _check_invitations(invitations: list[dict], owner_id: object, staff: list[dict]) -> None:
    """Nobody invited as owner (``check_invited_role``, for the owner, who may invite as
    any role there is to invite as) but the owner's own record (``joining_role``: it is
    invited as the owner to get a login back; one no longer open, accepted or revoked, is
    history, whoever owns the account since), and one invitation not yet accepted per record and
    per address (``OPEN_INVITATIONS``: inviting a record again revokes its others,
    ``revoke_open_invitations``; an invitation follows its record's address,
    ``readdress``): a second is refused as invitationCreate refuses it, naming both, and
    one open for a record at another address than the record's (its link would let
    whoever holds that address take the record: the owner's, say)."""
    address_of = {row.get("id"): _address(row.get("email")) for row in staff}
    open_for: dict[tuple[str, object], int] = {}
    for i, row in enumerate(invitations):
        days = row.get("expiry_days", 7)
        if not (type(days) is int and 1 <= days <= MAX_EXPIRY_DAYS):
            # a resend makes a link that lasts this long, as invitationCreate's
            raise BackupRejected(
                f"{_where('invitations', i, row, 'expiry_days')}: an invitation lasts 1 to "
                f"{MAX_EXPIRY_DAYS} days.",
                field=["invitations", str(i), "expiry_days"],
                code=ErrorCode.INVALID,
            )
        is_open = row.get("status", InvitationStatus.PENDING) in OPEN_INVITATIONS
        owners = row["role"] == Role.OWNER and (row.get("staff_id") == owner_id or not is_open)
        try:
            if not owners:
                check_invited_role(Role.OWNER, row["role"])
        except DomainError as exc:
            raise _refused("invitations", i, row, exc) from None
        if not is_open:
            continue
        email = _address(row.get("email"))
        record = row.get("staff_id")
        if record is not None and record in address_of and address_of[record] != email:
            raise BackupRejected(
                f"{_where('invitations', i, row, 'email')}: an invitation not yet accepted "
                "goes to its record's address.",
                field=["invitations", str(i), "email"],
                code=ErrorCode.INVALID,
            )
        keys = [("staff_id", row.get("staff_id")), ("email", email or None)]
        for key, value in keys:
            if value is None:
                continue
            first = open_for.setdefault((key, value), i)
            if first != i:
                raise BackupRejected(
                    f"{_where('invitations', i, row, key)}: "
                    f"{AlreadyInvited().message.rstrip('.')}: invitations[{first}].",
                    field=["invitations", str(i), key],
                    code=AlreadyInvited.code,
                )


_OPS = ("insert", "update", "delete")


def _diff_problem(diff: object) -> str | None:
    """An audit entry's diff as ``app.audit.changes`` records one: a list of changed rows,
    each of a table, with an operation and its fields' [before, after] (a custom value
    keyed by its record's and field's ids; a table the log does not know, it skips).
    Anything else would fail every read of the log by someone without ViewPersonalData,
    who is shown it field by field."""
    if diff is None:
        return None
    if not isinstance(diff, list):
        return "not a list of changes"
    for n, change in enumerate(diff):
        if not isinstance(change, dict):
            return f"change {n} is not an object"
        table, fields = change.get("table"), change.get("fields")
        if not isinstance(table, str):
            return f"change {n}: table is not text"
        if change.get("op") not in _OPS:
            return f"change {n}: op is not one of {', '.join(_OPS)}"
        if not isinstance(fields, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and len(v) == 2 for k, v in fields.items()
        ):
            return f"change {n}: fields are not {{name: [before, after]}}"
        key = change.get("key")
        if table == "custom_field_values" and not (
            isinstance(key, list)
            and len(key) == 2
            and all(isinstance(k, int) and not isinstance(k, bool) for k in key)
        ):
            return f"change {n}: a custom value's key is [staff id, field id]"
    return None


def _address(email: object) -> str:
    return email.strip().casefold() if isinstance(email, str) else ""


def _unique_keys(section: Section) -> list[tuple[str, tuple[str, ...]]]:
    """The section's unique keys as the database holds them: (name, columns) of each
    unique constraint and unique index of its table, but for partial indexes (the
    one-owner index: ``_check_owner``) and keys of columns a restore makes new or clears
    (token digests, logins)."""
    table = section.model.__table__  # type: ignore[attr-defined]
    keys = [
        (str(c.name), tuple(col.name for col in c.columns))
        for c in table.constraints
        if isinstance(c, UniqueConstraint | PrimaryKeyConstraint)
    ]
    keys += [
        (str(index.name), tuple(col.name for col in index.columns))
        for index in table.indexes
        if index.unique
        and not any(index.dialect_options[d].get("where") is not None for d in PARTIAL)
    ]
    replaced = {*section.cleared, *section.made}
    return [(name, columns) for name, columns in keys if not replaced & set(columns)]


def _check_unique(rows: dict[str, list[dict]]) -> None:
    """No two rows of a section with the same unique key as they would be written (their
    values cleaned; a sort key computed from its column: two emails, or two status
    names, that differ only in case are the same): refused naming both rows, with the
    service's own words where it has them (``RECORD_KEYS_TAKEN``: an email, an external
    id), instead of by the database's unique index once rows are written. A null is no
    key (as in SQL)."""
    for section in SECTIONS:
        columns = section.model.__table__.columns  # type: ignore[attr-defined]
        for name, key in _unique_keys(section):
            key = tuple(c for c in key if c != "account_id")  # one account: the same
            if not key:
                continue
            defaults = {
                c: columns[c].default.arg
                if columns[c].default is not None and columns[c].default.is_scalar
                else None
                for c in key
            }
            seen: dict[tuple, int] = {}
            for i, row in enumerate(rows[section.name]):
                value = tuple(
                    name_key(row[section.keys[c]]) if c in section.keys else row.get(c, defaults[c])
                    for c in key
                )
                if any(v is None for v in value):
                    continue
                first = seen.setdefault(value, i)
                if first == i:
                    continue
                shown = [section.keys.get(c, c) for c in key]  # name_key: the name
                taken = RECORD_KEYS_TAKEN.get(name)
                message = (
                    taken().errors[0].message.rstrip(".")
                    if taken is not None
                    else f"Another row has the same {', '.join(shown)}"
                )
                other = rows[section.name][first]
                raise BackupRejected(
                    f"{_where(section.name, i, row, ', '.join(shown))}: {message}: "
                    f"{_where(section.name, first, other)}.",
                    field=[section.name, str(i), shown[0]],
                    code=ErrorCode.TAKEN,
                )


@dataclass
class Document:
    """A backup read and checked: its account row and every section's rows, each value
    as its column holds it, secrets in plain text."""

    account: dict
    rows: dict[str, list[dict]]
    personal_data: bool = True
    """False for a backup made without ViewPersonalData (its header says so; one from
    before the header did is taken as whole)."""


def read_document(raw: bytes, keyring: Keyring | None) -> Document:
    """The backup ``raw`` read and checked whole, or ``BackupRejected`` naming the first
    thing wrong (nothing has been written yet). With ``keyring``, only a backup signed under
    one of its keys (``backup_signature.verify``); without, signed or not."""
    document = _document(raw)
    if keyring is not None:
        verify(raw, document, keyring)
    account = _row(ACCOUNT_SECTION, document[ACCOUNT], ACCOUNT)
    rows = {
        s.name: [_row(s, r, f"{s.name}[{i}]") for i, r in enumerate(document[s.name])]
        for s in SECTIONS
    }
    _check_references(account["id"], rows)
    _check_counters(account, rows)
    _check_sizes(rows)
    _check_account(account)
    _check_rules(rows)
    _check_unique(rows)
    return Document(account, rows, document.get("personalData", True))
