"""Writing and reading the audit log."""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit, require_whole_records
from app.audit.models import AuditEntry
from app.db.base import Records
from app.db.prepared import Prepared, connection_of
from app.errors import DomainError
from app.events import service as events
from app.events.catalogue import Facts, without_personal_data
from app.fields import UnknownField
from app.fields import table as field_table

# Which changed row an entry is "about", most specific first.
TARGET_PRIORITY = [
    "staff",
    "invitations",
    "join_requests",
    "join_links",
    "custom_fields",
    "staff_statuses",
    "projects",
    "project_members",
    "accounts",
    "users",
    "auth_tokens",
    "user_tokens",
]
TYPE_NAMES = {
    "staff": "Staff",
    "invitations": "Invitation",
    "join_requests": "JoinRequest",
    "join_links": "JoinLink",
    "custom_fields": "CustomField",
    "staff_statuses": "StaffStatus",
    "projects": "Project",
    "project_members": "ProjectMember",
    "accounts": "Account",
    "users": "User",
    "auth_tokens": "ApiToken",
    "user_tokens": "UserToken",
    "project_team_roles": "ProjectTeamRole",
    "staff_shares": "StaffShare",
    "staff_permit_grants": "StaffPermitGrant",
    "custom_field_values": "CustomFieldValue",
    "webhook_endpoints": "WebhookEndpoint",
    "webhook_deliveries": "WebhookDelivery",
}


@dataclass(frozen=True)
class Who:
    """The person behind a change; for public mutations there may be no actor."""

    user_id: int | None
    staff_id: int | None
    account_id: int | None
    name: str | None = None
    impersonator_user_id: int | None = None


# At most this many changed rows in one entry's diff: a mutation that changes more rows of
# an account (an import, a bulk invitation) gets several entries, each with this many
# but the last, sharing action, actor, target and request id. So a page of the log holds
# at most ``first`` times this many rows, and the cost check prices an entry's diff so.
DIFF_ROWS_PER_ENTRY = 50


def diff_parts(rows: list[dict]) -> list[list[dict]]:
    """``rows`` in order, cut into diffs of at most ``DIFF_ROWS_PER_ENTRY`` (one empty
    diff if there are none)."""
    step = DIFF_ROWS_PER_ENTRY
    return [rows[i : i + step] for i in range(0, len(rows), step)] or [[]]


def continuations(entry: AuditEntry) -> list[AuditEntry]:
    """An entry written whole, from before diffs were cut (a restored backup): its diff cut
    to its first part, and the new entries that continue it (the same but for id and diff),
    in order."""
    first, *rest = diff_parts(entry.diff or [])
    if not rest:
        return []
    entry.diff = first
    columns = [c.key for c in AuditEntry.__table__.columns if c.key not in ("id", "diff")]
    same = {column: getattr(entry, column) for column in columns}
    return [AuditEntry(**same, diff=part) for part in rest]


# Rows without an id of their own (link rows) are about what they link.
LINK_COLUMNS = [("project_id", "Project"), ("staff_id", "Staff")]


def _named(action: str) -> list[str]:
    """Tables of the record a mutation is named after (staffStatusCreate -> staff_statuses)."""
    return sorted(
        (
            t
            for t, name in TYPE_NAMES.items()
            if action.startswith(name[0].lower() + name[1:])
            and action[len(name) : len(name) + 1].isupper()
        ),
        key=lambda t: -len(TYPE_NAMES[t]),
    )


def _created(changes: list[dict], action: str) -> tuple[str, int] | None:
    for table in _named(action):
        for change in changes:
            if change["table"] == table and change["op"] == "insert" and change["id"]:
                return TYPE_NAMES[table], change["id"]
    return None


def _target(changes: list[dict], action: str = "") -> tuple[str | None, int | None]:
    for table in _named(action) + TARGET_PRIORITY:
        for change in changes:
            if change["table"] == table and change["id"] is not None:
                return TYPE_NAMES.get(table, table), change["id"]
    for column, type_name in LINK_COLUMNS:
        for change in changes:
            before, after = change["fields"].get(column, [None, None])
            if after or before:
                return type_name, after or before
    return None, None


def account_of(change: dict) -> int | None:
    """The account whose data a changed row is: its ``account_id``, or an account row's own
    id. Rows of no account (logins, session tokens, emailed tokens) give None."""
    if change["table"] == "accounts":
        return change["id"]
    return change.get("account_id")


def _users_of(change: dict) -> set[int]:
    """The logins a row of no account is about: a user row, or a token's user."""
    if change["table"] == "users":
        return {change["id"]}
    return {u for u in change["fields"].get("user_id", [None, None]) if u is not None}


def by_account(
    changes: list[dict], actor_account_id: int | None, members: Set[int] = frozenset()
) -> dict[int | None, list]:
    """The changes of one mutation, grouped by the account whose data they are.

    Every account whose rows changed gets its own group with only its own rows, whatever
    account the actor signed in to (accepting another account's invitation changes that
    account, not the actor's). Rows of no account (logins, session and emailed tokens) go
    with each group, as the cause of its changes. When no account's rows changed at all,
    they are the actor's account's business only if they are about ``members`` of it (the
    actor changing their password, an administrator sending a member a reset link); a
    public mutation about somebody else's login (verifying an email, asking for a reset)
    sent with a member's credentials is not that account's affair, nor a way for its
    administrators to learn who has a login: it gets an entry of no account.
    """
    groups: dict[int | None, list] = {}
    unscoped = []
    for change in changes:
        account_id = account_of(change)
        if account_id is None:
            unscoped.append(change)
        else:
            groups.setdefault(account_id, []).append(change)
    if not groups:
        concerned = set().union(*(_users_of(c) for c in unscoped))
        return {actor_account_id if concerned <= members else None: unscoped}
    if unscoped:
        # keep the order the rows were written in
        for account_id in groups:
            groups[account_id] = [c for c in changes if account_of(c) in (None, account_id)]
    return groups


async def _members(session: AsyncSession, who: Who, changes: list[dict]) -> set[int]:
    """Of the logins that rows of no account are about, those with a record in the
    actor's account (the actor always counts)."""
    members = {who.user_id} if who.user_id is not None else set()
    if who.account_id is None:
        return members
    concerned = set().union(*(_users_of(c) for c in changes if account_of(c) is None))
    if concerned - members:
        from app.staff.models import Staff

        others = sorted(concerned - members)
        members |= set(
            await session.scalars(
                select(Staff.user_id).where(
                    Staff.account_id == who.account_id, Staff.user_id.in_(others)
                )
            )
        )
    return members


async def record_taken(
    session: AsyncSession,
    *,
    action: str,
    actor: Actor,
    request_id: str | None,
    client_address: str | None,
    at_console: bool = False,
) -> AuditEntry:
    """An entry for a read that hands the account's data out whole (an export, a backup):
    who took it and from where, before the first byte goes. Nothing changed (an empty
    diff); the action says whether personal data came with it (``...WithPersonalData``:
    the actor holds ViewPersonalData, by which the export and the backup include it).
    ``at_console``: taken at the server's console (``roster account export``), with the
    owner's rights but by no member, so the entry names none."""
    personal_data = actor.can(Permit.VIEW_PERSONAL_DATA)
    entry = AuditEntry(
        account_id=actor.account_id,
        actor_user_id=None if at_console else actor.user_id,
        actor_staff_id=None if at_console else actor.staff_id,
        impersonator_user_id=actor.impersonator_user_id,
        action=action + ("WithPersonalData" if personal_data else ""),
        target_type="Account",
        target_id=actor.account_id,
        diff=[],
        request_id=request_id,
        client_address=client_address,
    )
    session.add(entry)
    await session.flush()
    return entry


async def record(
    session: AsyncSession,
    *,
    action: str,
    who: Who,
    changes: list[dict],
    request_id: str | None,
    client_address: str | None,
    target: tuple[str, int] | None = None,
) -> list[AuditEntry]:
    """One entry for each account whose data the mutation changed (see ``by_account``), or
    several entries where it changed more rows there than one diff holds
    (``diff_parts``).

    The target is the record created, else the one the client named (``target``, from its
    input; only in the actor's own account), else the most specific one changed. In another
    account than the actor's, the actor is only a user: their staff id belongs elsewhere.
    """
    members = await _members(session, who, changes)
    facts = await events.facts_of(session, changes)
    entries: list[AuditEntry] = []
    for account_id, own in by_account(changes, who.account_id, members).items():
        in_actors_account = account_id == who.account_id
        target_type, target_id = (
            _created(own, action)
            or (target if in_actors_account else None)
            or _target(own, action)
        )
        entries.extend(
            AuditEntry(
                account_id=account_id,
                actor_user_id=who.user_id,
                actor_staff_id=who.staff_id if in_actors_account else None,
                actor_name=who.name if in_actors_account else None,
                impersonator_user_id=who.impersonator_user_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                diff=part,
                request_id=request_id,
                client_address=client_address,
                personal_only=personal_alone(part, facts),
            )
            for part in diff_parts(own)
        )
    session.add_all(entries)
    await session.flush()
    # The same rows are the account's domain events (webhooks, subscriptions).
    await events.record(
        session,
        changes,
        events.Cause(who.user_id, who.staff_id, request_id),
        account_of_actor=who.account_id,
        facts=facts,
    )
    return entries


@dataclass(frozen=True)
class AuditFilter:
    actor_staff_id: int | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


# A page of the log is read-only: its entries are plain records (they read like AuditEntry
# rows), read by a statement run straight on the driver (``Prepared``).
ENTRY_RECORDS = Records(AuditEntry, "entry")
# Each filter's condition on its parameter (of the same name), applied when it is set.
_CONDITIONS: dict[str, Callable] = {
    "actor_staff_id": lambda value: AuditEntry.actor_staff_id == value,
    "action": lambda value: AuditEntry.action == value,
    "target_type": lambda value: AuditEntry.target_type == value,
    "target_id": lambda value: AuditEntry.target_id == value,
    "since": lambda value: AuditEntry.created_at >= value,
    "until": lambda value: AuditEntry.created_at < value,
    "after": lambda value: AuditEntry.id < value,
    # a reader without ViewPersonalData: not the entries of personal changes alone
    "personal_only": lambda value: AuditEntry.personal_only == value,
}
# One statement per set of filters set (at most 2**7), built when first used; and one
# count per set of filters (``after`` is never one of a count's).
_PAGES: dict[frozenset[str], Prepared] = {}
_COUNTS: dict[frozenset[str], Prepared] = {}


def _matching(filters: frozenset[str]) -> list:
    """The conditions of the log (and its count): the account ``account_id``, and each of
    ``filters`` (names of _CONDITIONS) on the parameter of its name."""
    conditions = [AuditEntry.account_id == bindparam("account_id")]
    return conditions + [c(bindparam(n)) for n, c in _CONDITIONS.items() if n in filters]


def _page(filters: frozenset[str]) -> Prepared:
    found = _PAGES.get(filters)
    if found is None:
        statement = (
            select(*ENTRY_RECORDS.columns)
            .where(*_matching(filters))
            .order_by(AuditEntry.id.desc())
            .limit(bindparam("limit"))
        )
        found = _PAGES[filters] = Prepared(statement)
    return found


def _count(filters: frozenset[str]) -> Prepared:
    found = _COUNTS.get(filters)
    if found is None:
        statement = select(func.count()).select_from(AuditEntry).where(*_matching(filters))
        found = _COUNTS[filters] = Prepared(statement)
    return found


def _listed(actor: Actor, f: AuditFilter, after: int | None = None) -> dict:
    """The parameters of the entries ``actor`` may read with the filters ``f`` (the log's
    and its count's), refused as the log is."""
    require_whole_records(actor)
    if f.action and "\x00" in f.action:  # PostgreSQL refuses NUL as a parameter
        raise DomainError("action contains characters that are not allowed.", field=["action"])
    # set filters only (an empty action or target type, or no time, filters nothing)
    listed = {
        name: value
        for name, value in {**asdict(f), "after": after}.items()
        if value is not None and (value or name in ("actor_staff_id", "target_id", "after"))
    }
    if not actor.can(Permit.VIEW_PERSONAL_DATA):
        listed["personal_only"] = False
    return listed


def shown_diff(diff: list, facts: Facts) -> list[dict]:
    """An entry's diff as a reader without ViewPersonalData sees it: no personal column,
    nor a personal custom field's value, is named (``catalogue.without_personal_data``,
    the rule webhooks tell changed fields by). ``facts``: ``events.facts_of`` the diff."""
    shown = []
    for change in diff or ():
        told = without_personal_data(change, facts)
        if told is not None:
            shown.append(told)
    return shown


def personal_alone(diff: list, facts: Facts) -> bool:
    """Whether a reader without ViewPersonalData is shown nothing of ``diff`` because it
    changed personal data (a column holding a person's data, ``Field.personal_data``: an
    address, an SSN, a salary; a personal custom field's value), not credentials alone:
    listed to them, its entry would tell when, and whose, personal data changed
    (``AuditEntry.personal_only``). A password changed, an emailed link's token rotated,
    is listed with what else shows (nothing), as before."""
    if not diff or shown_diff(diff, facts):
        return False
    for change in diff:
        if change["table"] == "custom_field_values":
            return True  # not shown: a personal field's value
        try:
            rows = field_table(change["table"])
        except UnknownField:
            continue
        known = rows.columns
        if any(known[c].personal_data for c in change["fields"] if c in known):
            return True
    return False


async def shown_entries(session: AsyncSession, actor: Actor, rows: list) -> list:
    """Entries (read-only records) as ``actor`` may read them: whole with ViewPersonalData
    (their personal columns are redacted as recorded), else their diffs without personal
    data (``shown_diff``; one statement reads which custom fields are open, only when a
    diff touches custom values) and without the address each was made from (personal
    data of whoever made it: ``app.audit.fields``)."""
    if actor.can(Permit.VIEW_PERSONAL_DATA) or not rows:
        return rows
    facts = await events.facts_of(session, [c for r in rows for c in r.diff or ()])
    return [r._replace(diff=shown_diff(r.diff, facts), client_address=None) for r in rows]


async def list_entries(
    session: AsyncSession, actor: Actor, *, first: int, after: int | None, f: AuditFilter
) -> tuple[list, bool]:
    """Newest first, for administrators; keyset by id. The entries are read-only records
    (``ENTRY_RECORDS``). Their diffs hold every record's changes (personal columns
    redacted, details not; without ViewPersonalData personal columns are not named at
    all: ``shown_entries``), so the log is read with the whole records' permits
    (``require_whole_records``: an API key needs ``staff:read`` besides ``admin``)."""
    require_whole_records(actor)
    if not 0 <= first <= 100:
        raise DomainError("first must be between 0 and 100.", field=["first"])
    params = _listed(actor, f, after)
    statement = _page(frozenset(params))
    params.update(account_id=actor.account_id, limit=first + 1)
    connection = await connection_of(session)  # plain columns: no ORM needed
    rows = [ENTRY_RECORDS.take(r) for r in await statement.all(connection, params)]
    return await shown_entries(session, actor, rows[:first]), len(rows) > first


async def count_entries(session: AsyncSession, actor: Actor, f: AuditFilter) -> int:
    """How many entries ``list_entries`` lists with the filters ``f``, across all its pages
    (one COUNT on the account's index)."""
    params = _listed(actor, f)
    statement = _count(frozenset(params))
    params.update(account_id=actor.account_id)
    [[count]] = await statement.all(await connection_of(session), params)
    return count
