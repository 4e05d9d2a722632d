"""Staff records: create, update, read, share, permits, statuses and the directory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import bindparam, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import fields
from app.access import (
    GRANTABLE_PERMITS,
    ROLE_PERMITS,
    Actor,
    Permit,
    Role,
    own_session_refusal,
    refusal_to_hand_out,
    require,
)
from app.accounts.models import Account
from app.accounts.service import lock_account, next_staff_sid
from app.db.base import Records, utcnow
from app.db.prepared import Prepared, connection_of
from app.db.removal import remove
from app.db.turns import ROWS_PER_TURN, all_in_turns
from app.db.unique import ALREADY_THERE, claim
from app.errors import AccessDenied, DomainError, ErrorCode, Forbidden, NotFound, ValidationFailed
from app.security.crypto import Keyring
from app.staff import access, email_change, stamps
from app.staff.errors import ExternalIdTaken, ManagerCycle, StaffEmailTaken
from app.staff.fields import DEFAULT_CAPACITY, STAFF
from app.staff.models import (
    AccountStatus,
    Staff,
    StaffKind,
    StaffPermitGrant,
    StaffShare,
    StaffStatus,
    default_role,
)
from app.staff.queries import (
    AHEAD,
    ALL_COLUMNS,
    Cursors,
    PageColumns,
    PageStatement,
    RecordKey,
    Route,
    SearchPlan,
    StaffQuery,
    chain_select,
    choose_route,
    count_select,
    estimate_select,
    look_ahead,
    may_read_matches_first,
    page_select,
    probe_of,
    record_chain_select,
    record_select,
    search_plan,
    sieve_of,
    staff_in_account,
    validate,
    visible,
)
from app.staff.readdress import CHUNK, readdress, unused_logins
from app.validation import clean_text, name_key, sort_key, time_zones

MAX_STATUSES = 100

# A record's unique keys a concurrent write may take after ``_check_references`` looked:
# answered as that check answers (``claim``).
RECORD_KEYS_TAKEN = {
    "uq_staff_account_id_email": lambda: ValidationFailed([StaffEmailTaken()]),
    "uq_staff_account_id_external_id": lambda: ValidationFailed([ExternalIdTaken()]),
}
# field -> the column holding it encrypted (the staff field table's encrypted rows)
ENCRYPTED_COLUMNS: dict[str, str] = {}


@fields.derive
def _encrypted_columns() -> None:
    ENCRYPTED_COLUMNS.clear()
    ENCRYPTED_COLUMNS.update({f.name: f.columns[0] for f in STAFF if f.encrypted})


@cache
def sorted_time_zones() -> tuple[str, ...]:
    """The time zones in name order: sorted once (the picklists answer them every time)."""
    return tuple(sorted(time_zones()))


# --- encryption of SSN and salary -----------------------------------------------------


def associated_data(account_id: int, column: str, sid: int) -> str:
    """Binds a ciphertext to its account, column and row."""
    return f"roster:staff.{column}:{account_id}:{sid}"


def read_secret(keyring: Keyring, staff: Staff, field: str) -> str | None:
    stored = getattr(staff, ENCRYPTED_COLUMNS[field])
    if stored is None:
        return None
    return keyring.decrypt(stored, associated_data(staff.account_id, field, staff.sid))


def write_secret(keyring: Keyring, staff: Staff, field: str, value: str | None) -> None:
    encrypted = (
        None
        if value is None
        else keyring.encrypt(value, associated_data(staff.account_id, field, staff.sid))
    )
    setattr(staff, ENCRYPTED_COLUMNS[field], encrypted)


# --- reading ---------------------------------------------------------------------------


async def get_staff(
    session: AsyncSession, actor: Actor, staff_id: int, field="id", *, held: bool = False
) -> Staff:
    """The record, or NotFound. ``held``: kept from deletion until commit (PostgreSQL's
    FOR KEY SHARE, which no update of its columns waits for), for a change that writes rows
    referring to it: a record deleted meanwhile is then not found, where the change failed
    on its foreign key with an unexpected error."""
    statement = staff_in_account(actor, staff_id)
    if held:
        statement = statement.with_for_update(read=True, key_share=True, of=Staff)
    staff = await session.scalar(statement)
    if staff is None:
        raise NotFound("Staff member", field=[field])
    return staff


@dataclass
class StaffPage:
    """A page of the directory as read-only records (``app.db.base.Records``): they read
    like ``Staff`` rows but carry no ORM state, nothing to lazy-load and nothing to write.
    They hold the columns asked for (all by default)."""

    rows: list
    cursors: Sequence[str]  # encoded when read (``Cursors``)
    has_next: bool
    has_previous: bool
    managers: dict[int, object]  # the rows' managers by id (None: not seen)


async def list_staff(
    session: AsyncSession, actor: Actor, query: StaffQuery, columns: PageColumns = ALL_COLUMNS
) -> StaffPage:
    validate(actor, query)
    connection = await connection_of(session)  # plain columns: no ORM needed
    counts = await _probe(session, connection, actor, query)
    route = sieve = None
    plan = SearchPlan.PLANNER  # PostgreSQL (app.staff.queries.MATCHES_FIRST)
    ahead = AHEAD
    if counts is not None:
        sieve = sieve_of(counts)
        route = Route.WALK if sieve else choose_route(counts)
    elif may_read_matches_first(actor, query):
        plan, ahead = await _search_plan(connection, actor, query)
    result: list = []
    if sieve is not None or plan is SearchPlan.AHEAD:
        # a common word: its page is most often among the next few records (AHEAD)
        statement, params = page_select(actor, query, columns, Route.WALK, ahead=ahead)
        result = await statement.prepared.all(connection, params)
    if len(result) <= query.first:
        first = plan is not SearchPlan.PLANNER  # the matches first, after a short look ahead
        statement, params = page_select(actor, query, columns, route, sieve, matches_first=first)
        result = await statement.prepared.all(connection, params)
    has_next = len(result) > query.first
    result = result[: query.first]
    rows = [statement.staff.take(r) for r in result]
    return StaffPage(
        rows=rows,
        cursors=Cursors(query, rows, [r[-1] for r in result]),
        has_next=has_next,
        has_previous=query.after is not None,
        managers=_managers(statement, rows, result),
    )


async def _search_plan(connection, actor: Actor, query: StaffQuery) -> tuple[SearchPlan, int]:
    """PostgreSQL: how a search's page is read, by the planner's estimates
    (app.staff.queries.MATCHES_FIRST), and how far it looks ahead first."""
    prepared, params = estimate_select(actor, query)
    estimates = await prepared.estimated_rows(connection, params)
    if estimates is None:  # a filter that matches nothing: nothing to choose
        return SearchPlan.PLANNER, AHEAD
    matched, listed = estimates
    wanted = query.first + 1
    # the look ahead walks every record, listed or not: at most the sids issued
    records = max(listed, actor.account.staff_seq if actor.account is not None else 0)
    return search_plan(matched, listed, wanted), look_ahead(matched, records, wanted, AHEAD)


def _managers(statement: PageStatement, rows: list, result: list) -> dict[int, Any]:
    """Each row's manager by id, as joined to it: the record, or None where the viewer
    does not see it (the join applies ``visible``), so that none needs looking up again.
    None of them where the statement joins no manager (its reader reads none)."""
    manager = statement.manager
    if manager is None:
        return {}
    cut = len(statement.staff)  # the manager's columns follow the row's
    return {
        row.manager_id: manager.take(r, cut)
        for row, r in zip(rows, result, strict=True)
        if row.manager_id is not None
    }


async def count_staff(session: AsyncSession, actor: Actor, query: StaffQuery) -> int:
    connection = await connection_of(session)
    route = await _route(session, connection, actor, query)
    statement, params = count_select(actor, query, route)
    [[count]] = await statement.all(connection, params)
    return count


async def _route(session, connection, actor: Actor, query: StaffQuery) -> Route | None:
    """Where a directory query reads its rows (app.staff.queries.Route), by its probe;
    None where the database's planner chooses."""
    counts = await _probe(session, connection, actor, query)
    return None if counts is None else choose_route(counts)


async def _probe(
    session: AsyncSession, connection, actor: Actor, query: StaffQuery
) -> dict[Route, int] | None:
    """How many rows, up to a cap, each of the query's narrowing indexes names (none to
    probe, none to ask); None where the database's planner chooses.

    Counted once per session for the same conditions: a page and its ``totalCount`` (or a
    second alias of the same list) probe the same indexes. The counts only choose where
    the rows are read, and every route reads the same rows in the same order, so counts
    that a write of the same session has made stale cost time, never a different answer."""
    if connection.dialect.name != "sqlite":
        # PostgreSQL's planner weighs the indexes with its statistics of each (a capped
        # count there is planned as a scan that stops early, and a rare word's scans it
        # all): the query keeps every condition and the planner picks
        return None
    probe = probe_of(actor, query)
    if probe is None:
        return {}
    key = ("staff_probe", probe.prepared, repr(sorted(probe.params.items())))
    found = session.info.get(key)
    if found is None:
        [counts] = await probe.prepared.all(connection, probe.params)
        found = session.info[key] = dict(zip(probe.routes, counts, strict=True))
    return found


async def find_by_sid(session: AsyncSession, actor: Actor, sid: int) -> Staff | None:
    """The record numbered ``sid`` in the actor's account, if they see it (another
    account's, or for a guest one not on their projects, is not found)."""
    return await session.scalar(select(Staff).where(Staff.sid == sid, *visible(actor)))


async def get_many(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, Staff]:
    """The records of ``ids`` that ``actor`` sees (``app.staff.queries.visible``)."""
    statement = select(Staff).where(Staff.id.in_(ids), *visible(actor))
    if len(ids) > ROWS_PER_TURN:  # a loader's batch of a long list: built in turns
        return {s.id: s for (s,) in await all_in_turns(session, statement)}
    rows = await session.scalars(statement)
    return {s.id: s for s in rows}


@dataclass
class FoundStaff:
    """A record found by id or sid (None when not found), as a read-only record
    (``app.db.base.Records``), and its manager by id as it came with it (None where the
    viewer does not see it)."""

    row: Any
    managers: dict[int, Any]


async def get_one(
    session: AsyncSession, actor: Actor, staff_id: int, columns: PageColumns = ALL_COLUMNS
) -> FoundStaff:
    """The record ``staff_id`` if ``actor`` sees it (``app.staff.queries.visible``, as
    ``get_many`` finds records), read with its manager in one statement (the manager as
    ``get_many`` would find it: None where ``actor`` does not see it)."""
    return await _found(session, actor, *record_select(actor, staff_id, columns))


async def get_by_sid(
    session: AsyncSession, actor: Actor, sid: int, columns: PageColumns = ALL_COLUMNS
) -> FoundStaff:
    """The record numbered ``sid`` in the actor's account, found as ``get_one`` finds a
    record by id: if ``actor`` sees it (another account's, or for a guest one not on their
    projects, is not found), with its manager as ``get_one`` has it."""
    return await _found(session, actor, *record_select(actor, sid, columns, by="sid"))


async def _found(
    session: AsyncSession, actor: Actor, statement: PageStatement, params: dict
) -> FoundStaff:
    connection = await connection_of(session)  # plain columns: no ORM needed
    result = await statement.prepared.all(connection, params)
    if not result:
        return FoundStaff(None, {})
    row = statement.staff.take(result[0])
    return FoundStaff(row, _managers(statement, [row], result[:1]))


async def reporting_chains(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, list]:
    """For each record, its managers from its own up to the top (the records its
    ``manager`` leads to, one after another), as read-only records (``Records``), in one
    statement read on the driver (``chain_select``); a chain ends before the first
    manager ``actor`` does not see (``visible``). The session's changes are flushed
    first, as the ORM's own query would.

    Cycle-safe on any data: the service refuses a cycle (ManagerCycle), but rows can be
    written behind its back. The recursive CTE is a UNION, which keeps each id once, so it
    ends after at most as many steps as the account has records; the walk below stops at
    a record it has already passed."""
    if not ids:
        return {}
    statement, records, params = chain_select(actor, ids)
    rows = [records.take(r) for r in await statement.read(session, params)]
    by_id = {s.id: s for s in rows}
    return {start: _chain_from(by_id, start) for start in ids}


def _chain_from(by_id: dict[int, Any], start: int) -> list:
    """The managers above ``start`` among the records read (``by_id``), up to the first
    not among them or already passed."""
    chain: list = []
    passed = {start}
    row = by_id.get(start)
    manager_id = row.manager_id if row is not None else None
    while manager_id is not None and manager_id not in passed and manager_id in by_id:
        passed.add(manager_id)
        row = by_id[manager_id]
        chain.append(row)
        manager_id = row.manager_id
    return chain


@dataclass
class FoundWithChain(FoundStaff):
    """A record found as ``get_one``/``get_by_sid`` find it, with its reporting chain as
    ``reporting_chains`` reads it (empty when the record is not found)."""

    chain: list


async def get_with_chain(
    session: AsyncSession,
    actor: Actor,
    key: int,
    *,
    by: RecordKey = "id",
    columns: frozenset[str] | None = None,
) -> FoundWithChain:
    """The record whose ``by`` (``id`` or ``sid``) is ``key`` if ``actor`` sees it, its
    manager and its reporting chain, in one statement (``record_chain_select``) where
    ``get_one`` and ``reporting_chains`` take two: the same rows, as every record in it
    is read with ``visible``'s conditions. Its manager is the first link of the chain when
    the actor sees it (None where they do not: ``get_one``'s join finds no row). Every
    row is read with ``columns`` (all: None; ``record_chain_select``)."""
    statement, records, params = record_chain_select(actor, key, by=by, columns=columns)
    rows = [records.take(r) for r in await statement.read(session, params)]
    found = next((r for r in rows if getattr(r, by) == key), None)
    if found is None:
        return FoundWithChain(None, {}, [])
    by_id = {r.id: r for r in rows}
    managers = {} if found.manager_id is None else {found.manager_id: by_id.get(found.manager_id)}
    return FoundWithChain(found, managers, _chain_from(by_id, found.id))


# --- validation of input values --------------------------------------------------------


def _clean_all(
    changes: dict, account_id: int, problems: list[DomainError], record: Staff | None = None
) -> dict:
    """The values that are valid, each cleaned by its row's validator (``STAFF``; an
    unknown field is an error); problems with the others are appended to ``problems``
    (and raised by _check_references together with its own, so a client sees them all).

    ``record``: the record an update changes. A required field it does not have (the
    names of a record an invitation or a partner catalogue's add made without them) is
    not required again by a change that leaves it empty: that change is no change, and
    is left out. A required field the record has may not be emptied."""
    cleaned: dict = {}
    for field, value in changes.items():
        try:
            cleaned[field] = STAFF[field].cleaned(value)
        except DomainError as exc:
            if exc.code is ErrorCode.REQUIRED and record is not None and _lacks(record, field):
                continue
            problems.append(exc)
    return cleaned


def _lacks(record: Staff, field: str) -> bool:
    """Whether ``record`` holds nothing in ``field`` (each of its columns empty)."""
    return _empty(getattr(record, column) for column in STAFF[field].columns)


def _empty(values: Iterable) -> bool:
    return all(value in (None, "") for value in values)


def clean_stored(record: Mapping[str, Any]) -> dict[str, Any]:
    """A whole record as it is to be stored, checked by the validators staffCreate and
    staffUpdate clean their input with (``STAFF``, as ``_clean_all``): ``record`` holds
    columns by name and an encrypted field's plain text by the field's name, as a backup
    does (``app.accounts.backup_document``). Fields without a validator (ids,
    references, dates, stamps) and those none of whose keys ``record`` holds are not
    looked at. Returns each key looked at with its cleaned value (an encrypted field's
    text as ``apply_values`` encrypts it); raises ValidationFailed naming by its key each
    value a validator refuses. A required field the record holds nothing in (the names
    of a record an invitation or a partner catalogue's add made without them) stays as it
    is, as an update leaves it."""
    cleaned: dict[str, Any] = {}
    problems: list[DomainError] = []
    for row in STAFF:
        if row.clean is None:
            continue
        keys = [k for k in ((row.name,) if row.encrypted else row.columns) if k in record]
        if not keys:
            continue
        parts = len(row.columns) > 1  # the address: its parts by name
        given = {k.removeprefix(f"{row.name}_"): record[k] for k in keys} if parts else None
        try:
            value = row.cleaned(given if parts else record[keys[0]])
        except DomainError as exc:
            if not (exc.code is ErrorCode.REQUIRED and _empty(record[k] for k in keys)):
                path = exc.field or [row.name]
                key = "_".join(path) if parts else keys[0]  # address.zip: address_zip
                problems.append(DomainError(exc.message, field=[key], code=exc.code))
            continue
        except (TypeError, ValueError):
            problems.append(DomainError("Not a valid value.", field=[keys[0]]))
            continue
        if parts:
            cleaned.update({f"{row.name}_{part}": v for part, v in value.items()})
        else:
            cleaned[keys[0]] = _secret_text(value) if row.encrypted else value
    if problems:
        raise ValidationFailed(problems)
    return cleaned


def _secret_text(value) -> str | None:
    """A cleaned secret's value as it is encrypted (a salary's number as text)."""
    return None if value is None else str(value)


def in_manager_cycles(managers: Mapping[int, int | None], ids: Iterable[int]) -> set[int]:
    """Those of ``ids`` whose chain of managers (``managers``: every record's id -> its
    manager's id) runs in a circle: back to the record itself or to one it passed (the
    rule ManagerCycle states, on records in memory: a file's rows, a backup's). Linear in
    the records: a chain known to end, or to circle, is not walked again."""
    ends: set[int] = set()
    circles: set[int] = set()
    found: set[int] = set()
    for start in ids:
        path, passed = [start], {start}
        at = managers.get(start)
        while at is not None and at not in ends:
            if at in passed or at in circles:
                found.add(start)
                circles.update(path)
                break
            path.append(at)
            passed.add(at)
            at = managers.get(at)
        else:
            ends.update(path)
    return found


async def _manager_creates_cycle(session: AsyncSession, staff_id: int, manager_id: int) -> bool:
    """Walk up from the proposed manager with a recursive CTE; reaching staff_id is a cycle."""
    chain = (
        select(
            Staff.id.label("id"), Staff.manager_id.label("manager_id"), literal(0).label("depth")
        )
        .where(Staff.id == manager_id)
        .cte("chain", recursive=True)
    )
    chain = chain.union_all(
        select(Staff.id, Staff.manager_id, chain.c.depth + 1)
        .join(chain, Staff.id == chain.c.manager_id)
        .where(chain.c.depth < 10_000)
    )
    found = await session.scalar(select(chain.c.id).where(chain.c.id == staff_id).limit(1))
    return found is not None


async def _check_references(
    session: AsyncSession, actor: Actor, staff: Staff | None, values: dict, problems=()
) -> None:
    errors: list[DomainError] = list(problems)
    if values.get("manager_id") is not None:
        manager = await session.scalar(staff_in_account(actor, values["manager_id"]))
        if manager is None:
            errors.append(NotFound("Manager", field=["manager_id"]))
        elif staff is not None and (
            manager.id == staff.id or await _manager_creates_cycle(session, staff.id, manager.id)
        ):
            errors.append(ManagerCycle())
    if values.get("default_project_role_id") is not None:
        from app.projects.service import get_team_role

        try:
            await get_team_role(
                session,
                actor.account_id,
                values["default_project_role_id"],
                "default_project_role_id",
            )
        except DomainError as exc:
            errors.append(exc)
    if values.get("status_id") is not None:
        status = await session.get(StaffStatus, values["status_id"])
        if status is None or status.account_id != actor.account_id:
            errors.append(NotFound("Staff status", field=["status_id"]))
        elif status.archived:
            errors.append(
                DomainError(
                    "That status is archived.", field=["status_id"], code=ErrorCode.ARCHIVED
                )
            )
    if values.get("email") is not None:
        clash = select(Staff.id).where(
            Staff.account_id == actor.account_id, Staff.email == values["email"]
        )
        if staff is not None:
            clash = clash.where(Staff.id != staff.id)
        if await session.scalar(clash):
            errors.append(StaffEmailTaken())
    if values.get("external_id") is not None:
        clash = select(Staff.id).where(
            Staff.account_id == actor.account_id, Staff.external_id == values["external_id"]
        )
        if staff is not None:
            clash = clash.where(Staff.id != staff.id)
        if await session.scalar(clash):
            errors.append(ExternalIdTaken())
    start = values.get("start_date", staff.start_date if staff else None)
    term = values.get("term_date", staff.term_date if staff else None)
    if (problem := dates_problem(start, term)) is not None:
        errors.append(problem)
    if errors:
        raise ValidationFailed(errors)


def dates_problem(start: date | None, term: date | None) -> DomainError | None:
    """What is wrong with a record's start and termination dates (its values after a
    change), if anything: a termination before the start. The rule staffCreate,
    staffUpdate, the staff import and the backup's restore hold records to."""
    if start and term and term < start:
        return DomainError("Term date cannot be before start date.", field=["term_date"])
    return None


def apply_values(keyring: Keyring, staff: Staff, values: dict) -> None:
    """Write cleaned ``values`` (by field name) to ``staff``'s columns."""
    for field, value in values.items():
        row = STAFF[field]
        if row.encrypted:
            write_secret(keyring, staff, field, _secret_text(value))
        elif len(row.columns) > 1:  # the parts given, by name (address: street, city...)
            for part, part_value in value.items():
                setattr(staff, f"{field}_{part}", part_value)
        else:
            setattr(staff, row.columns[0], value)
        if field == "last_name":
            staff.last_name_key = sort_key(value)
    stamps.touch(staff, values, utcnow())


def _check_write_access(actor: Actor, staff_id: int, restricted: bool, names) -> None:
    denials: list[DomainError] = [
        Forbidden(reason, field=[field])
        for field in names
        if (reason := access.write_denial(actor, staff_id, restricted, field)) is not None
    ]
    if denials:
        raise ValidationFailed(denials)


# --- writing ---------------------------------------------------------------------------


def require_adding(actor: Actor) -> None:
    """AccessDenied unless ``actor`` may add staff records (before a request is looked at)."""
    require(actor, Permit.ADD_STAFF)


async def create_staff(
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    data: dict,
    *,
    catalogue: str | None = None,
) -> Staff:
    """ADD: a staff record without a login. Fields the actor may not write are FORBIDDEN.
    ``catalogue``: the partner catalogue the record comes through (a field optional on add
    there, ``Field.optional_on_add``, left out or blank is stored empty)."""
    require_adding(actor)
    data = {"kind": StaffKind.EMPLOYEE, **data}
    if data.get("capacity") is None:  # left out or null: the default
        data["capacity"] = DEFAULT_CAPACITY
    data.setdefault("first_name", None)
    data.setdefault("last_name", None)
    blank = {
        field
        for field, value in data.items()
        if catalogue in STAFF[field].optional_on_add
        and (value is None or (isinstance(value, str) and not value.strip()))
    }
    denials: list[DomainError] = [
        Forbidden(reason, field=[field])
        for field, value in data.items()
        if (reason := access.create_denial(actor, field, value)) is not None
    ]
    # No role given: guest for customers and vendors, viewer for the rest (seed 003).
    role = data["role"] = data.get("role") or default_role(data["kind"])
    # By rank alone: a record without a login holds its role for nobody, and every way
    # in (an invitation, a join link) checks the role it hands out against its maker's
    # permits and key (``Actor.refusal_to_hand_out``).
    if refusal := refusal_to_hand_out(actor.role, Role(role)):
        denials.append(Forbidden(refusal, field=["role"]))
    if denials:
        raise ValidationFailed(denials)
    problems: list[DomainError] = []
    given = {field: value for field, value in data.items() if field not in blank}
    values = _clean_all(given, actor.account_id, problems)
    values |= dict.fromkeys(blank, "")
    values.setdefault("start_date", date.today())
    await _check_references(session, actor, None, values, problems)
    staff = Staff(
        account_id=actor.account_id,
        sid=await next_staff_sid(session, actor.account_id),
        first_name=values["first_name"],
        last_name=values["last_name"],
        last_name_key=sort_key(values["last_name"]),
        created_at=utcnow(),
    )
    apply_values(keyring, staff, values)
    async with claim(session, RECORD_KEYS_TAKEN):
        session.add(staff)
    if staff.restricted and Permit.VIEW_RESTRICTED_STAFF not in ROLE_PERMITS[actor.role]:
        # Whoever adds a restricted record keeps sight of it: by a share, where their role
        # does not give it (a key that lacks staff:read sees it by ``as_creator`` for the
        # request; a share would outlast its creator's demotion: ``redundant_share``).
        session.add(
            StaffShare(
                staff_id=staff.id, shared_with_id=actor.staff_id, account_id=actor.account_id
            )
        )
        await session.flush()
    return staff


@dataclass(frozen=True)
class StaffUpdate:
    staff: Staff
    email_confirmation_pending: bool = False
    """One's own new email waits for the emailed link (``app.staff.email_change``)."""


async def update_staff(
    session: AsyncSession, actor: Actor, settings, staff_id: int, changes: dict
) -> StaffUpdate:
    staff = await get_staff(session, actor, staff_id)
    if actor.impersonated and "email" in changes:  # even to the same address
        raise ValidationFailed([Forbidden(access.NO_EMAIL_WHILE_IMPERSONATING, field=["email"])])
    _check_write_access(actor, staff.id, staff.restricted, changes)
    problems: list[DomainError] = []
    values = _clean_all(changes, actor.account_id, problems, staff)
    if "email" in values and values["email"] != staff.email:
        denial = access.email_change_denial(actor, staff.id, staff.role)
        if denial is None and values["email"] is not None:  # cleared: it goes to nobody
            denial = access.handover_denial(actor, (await carried(session, [staff])).get(staff.id))
        if denial is not None:
            raise ValidationFailed([Forbidden(denial, field=["email"])])
    new_email = None
    if staff.id == actor.staff_id and values.get("email") not in (None, staff.email):
        # One's own new address is set only once it is confirmed; until then nothing is
        # checked against the account's other records, so the answer is the same for a
        # taken and a free address. Asking for it manages one's own login details: only
        # one's own signed-in session may (not an API key).
        if (refusal := own_session_refusal(actor)) is not None:
            raise ValidationFailed([Forbidden(refusal, field=["email"])])
        new_email = values.pop("email")
    await _check_references(session, actor, staff, values, problems)
    async with claim(session, RECORD_KEYS_TAKEN):
        if "email" in values:
            # the invitation sent to the old address no longer joins as this record
            await readdress(session, staff, values["email"])
        apply_values(settings.keyring, staff, values)
    if new_email is None:
        return StaffUpdate(staff)
    await email_change.request_change(session, settings, actor, staff, new_email)
    return StaffUpdate(staff, email_confirmation_pending=True)


# Sharing a record that a concurrent request shared between the look and the insert is
# done all the same: the row is there, as the look would have found it (``claim``).
SHARE_THERE = {"pk_staff_shares": ALREADY_THERE}


async def lock_members(session: AsyncSession, actor: Actor) -> Account:
    """Serialise role, status and ownership changes of one account (PostgreSQL: the account
    row lock, taken before any staff row is touched, so these never deadlock), and re-read
    the actor's own role under it: a request that began before its actor was demoted or
    disabled (e.g. by a concurrent ownership transfer) must not act with the old role.
    The owner is never disabled: their record may have no login (a restore leaves it so),
    and then acts only as the operator's command line (``bulk_import.import_as_owner``)."""
    account = await lock_account(session, actor.account_id)
    me = await session.scalar(
        select(Staff).where(Staff.id == actor.staff_id).execution_options(populate_existing=True)
    )
    if (
        me is None
        or me.role != actor.role
        or (me.account_status != AccountStatus.ACTIVE and me.role != Role.OWNER)
    ):
        raise AccessDenied("Your role in this account has just changed; try again.")
    return account


def share_problem(staff_id: int, with_staff_id: int) -> DomainError | None:
    """What is wrong with sharing the record ``staff_id`` with ``with_staff_id``, if
    anything: a record shared with its own person. The rule staffShare and the backup's
    restore hold shares to."""
    if staff_id == with_staff_id:
        return DomainError(
            "A record is always visible to its own person.", field=["shared_with_id"]
        )
    return None


def redundant_share(actor: Actor, other: Staff) -> DomainError | None:
    """What is wrong with sharing a record with ``other``, beyond ``share_problem``: the
    sharer themselves, or someone whose role sees every record's details. Either gives
    nothing now and comes into force once that member has a lower role: an administrator
    sharing every restricted record with themselves would keep sight of them when
    demoted (``membership.drop_redundant`` drops such shares when a role is raised)."""
    if other.id == actor.staff_id:
        return DomainError("Nobody shares records with themselves.", field=["shared_with_id"])
    if Permit.VIEW_RESTRICTED_STAFF in ROLE_PERMITS[other.role]:
        return DomainError(
            "Their role sees every record's details already.", field=["shared_with_id"]
        )
    return None


def redundant_grant(actor: Actor, staff: Staff, permit: Permit) -> DomainError | None:
    """What is wrong with granting ``permit`` to ``staff``, beyond ``grant_problem``: to
    oneself, or a permit the record's role holds. Either gives nothing now and comes into
    force once that member has a lower role: an administrator granting themselves
    ViewPersonalData would keep it when demoted (``membership.drop_redundant``)."""
    if staff.id == actor.staff_id:
        return Forbidden("Nobody grants themselves a permit.", field=["staff_id"])
    if permit in ROLE_PERMITS[staff.role]:
        return DomainError("Their role holds that permit already.", field=["permit"])
    return None


def grant_problem(permit: Permit) -> DomainError | None:
    """What is wrong with granting ``permit`` to one member, if anything: a permit that
    comes with a role (not in GRANTABLE_PERMITS). The rule staffPermitGrant and the
    backup's restore hold grants to."""
    if permit not in GRANTABLE_PERMITS:
        return DomainError("That permit comes with a role and cannot be granted.", field=["permit"])
    return None


async def share_staff(
    session: AsyncSession, actor: Actor, staff_id: int, with_staff_id: int, *, share: bool
) -> Staff:
    require(actor, Permit.EDIT_RESTRICTED_STAFF)
    await lock_members(session, actor)  # a sharer demoted meanwhile shares nothing
    staff = await get_staff(session, actor, staff_id, field="staff_id")
    other = await get_staff(session, actor, with_staff_id, field="shared_with_id")
    if (problem := share_problem(staff.id, other.id)) is not None:
        raise problem
    if share and (problem := redundant_share(actor, other)) is not None:
        raise problem
    existing = await session.get(StaffShare, (staff.id, other.id))
    if share and existing is None:
        async with claim(session, SHARE_THERE):  # shared by a concurrent request: done too
            session.add(
                StaffShare(staff_id=staff.id, shared_with_id=other.id, account_id=actor.account_id)
            )
    elif not share and existing is not None:
        await remove(session, existing)  # or unshared by a concurrent request: done too
    await session.flush()
    return staff


async def shared_with(
    session: AsyncSession, actor: Actor, staff_ids: list[int]
) -> dict[int, list[int]]:
    rows = await session.execute(
        select(StaffShare.staff_id, StaffShare.shared_with_id).where(
            StaffShare.account_id == actor.account_id, StaffShare.staff_id.in_(staff_ids)
        )
    )
    result: dict[int, list[int]] = {}
    for staff_id, other in rows.all():
        result.setdefault(staff_id, []).append(other)
    return result


async def carried(session: AsyncSession, staff: Iterable[Staff]) -> dict[int, access.Carried]:
    """Of ``staff`` (their address not yet changed), the records without a login that hold
    something for whoever joins as them (``access.Carried``): permit grants, records shared
    with them. A record whose login a change of address takes away (a registered member's,
    never used: ``readdress.unused_logins``) counts as one without: otherwise an editor
    could move it to an address of their own and join there as the member. Two statements
    per 500 records without a login, and one per 500 with."""
    staff = list(staff)
    released = await unused_logins(session, [s for s in staff if s.user_id is not None])
    ids = sorted({s.id for s in staff if s.user_id is None} | {s.id for s in released})
    grants: dict[int, set[Permit]] = {}
    shared: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        grants |= await granted_permits(session, chunk)
        shared |= set(
            await session.scalars(
                select(StaffShare.shared_with_id)
                .where(StaffShare.shared_with_id.in_(chunk))
                .distinct()
            )
        )
    return {
        i: access.Carried(frozenset(grants.get(i, ())), i in shared)
        for i in ids
        if i in grants or i in shared
    }


async def granted_permits(session: AsyncSession, staff_ids: list[int]) -> dict[int, set[Permit]]:
    rows = await session.execute(
        select(StaffPermitGrant.staff_id, StaffPermitGrant.permit).where(
            StaffPermitGrant.staff_id.in_(staff_ids)
        )
    )
    result: dict[int, set[Permit]] = {}
    for staff_id, permit in rows.all():
        result.setdefault(staff_id, set()).add(Permit(permit))
    return result


async def holding(
    session: AsyncSession, account_id: int, staff_ids: Iterable[int], permits: Iterable[Permit]
) -> set[int]:
    """Those of ``staff_ids`` that are active members of the account holding every one of
    ``permits`` now, by their role (``ROLE_PERMITS``) or grants: a member since disabled,
    deleted or given a lower role, or whose grant was revoked, does not. (What an account
    setting adds, as ``everyoneCanInvite`` does INVITE_USERS, is not counted.) Grants are
    read only for members whose role falls short."""
    needed = frozenset(permits)
    held = await permits_held(session, account_id, staff_ids, needed)
    return {staff_id for staff_id, theirs in held.items() if theirs == needed}


async def permits_held(
    session: AsyncSession, account_id: int, staff_ids: Iterable[int], among: Iterable[Permit]
) -> dict[int, frozenset[Permit]]:
    """Which of ``among`` each of ``staff_ids`` that is an active member of the account
    holds now, by role or grant (``holding``, for several sets of permits at once: one
    statement, and one for grants when a member's role falls short of ``among``)."""
    among = frozenset(among)
    wanted = list(set(staff_ids))
    if not wanted:
        return {}
    members = await session.execute(
        select(Staff.id, Staff.role).where(
            Staff.account_id == account_id,
            Staff.id.in_(wanted),
            Staff.account_status == AccountStatus.ACTIVE,
        )
    )
    by_role = {staff_id: among & ROLE_PERMITS[Role(role)] for staff_id, role in members.all()}
    granted = await granted_permits(session, [i for i, own in by_role.items() if own != among])
    return {i: own | (among & granted.get(i, set())) for i, own in by_role.items()}


# --- staff statuses (an account-defined picklist) --------------------------------------


# The account's statuses as read-only records, read on the driver: the picklist and every
# page that shows a status read them, and building entities cost more than the query.
STATUS_RECORDS = Records(StaffStatus, "status")
ACCOUNT_STATUSES = Prepared(
    select(*STATUS_RECORDS.columns)
    .where(StaffStatus.account_id == bindparam("account_id"))
    .order_by(StaffStatus.name_key, StaffStatus.id)
)


async def list_statuses(session: AsyncSession, account_id: int, *, include_archived: bool = True):
    """The account's statuses (read-only records), by name; the session's changes are
    flushed first, as the ORM's own queries would."""
    rows = await ACCOUNT_STATUSES.read(session, {"account_id": account_id})
    statuses = [STATUS_RECORDS.take(row) for row in rows]
    return statuses if include_archived else [s for s in statuses if not s.archived]


async def _status_name(session: AsyncSession, actor: Actor, name, exclude_id=None) -> str:
    name = clean_text(name, "name", max_length=100, required=True, label="Status name", keyed=True)
    clash = select(StaffStatus.id).where(
        StaffStatus.account_id == actor.account_id, StaffStatus.name_key == name_key(name)
    )
    if exclude_id is not None:
        clash = clash.where(StaffStatus.id != exclude_id)
    if await session.scalar(clash):
        raise status_name_taken()
    return name


def status_name_taken() -> DomainError:
    return DomainError("A status with this name exists.", field=["name"], code=ErrorCode.TAKEN)


# a concurrent create or rename that took the name after ``_status_name`` looked
STATUS_NAME_TAKEN = {"uq_staff_statuses_account_id_name_key": status_name_taken}


async def create_status(session: AsyncSession, actor: Actor, name: str) -> StaffStatus:
    require(actor, Permit.MANAGE_ACCOUNT)
    name = await _status_name(session, actor, name)
    # counted with the account locked, so concurrent creates never pass the limit (the
    # query cost model relies on it: app.accounts.sizes.CAPS)
    await lock_account(session, actor.account_id)
    if len(await list_statuses(session, actor.account_id)) >= MAX_STATUSES:
        raise DomainError(
            f"An account has at most {MAX_STATUSES} statuses.", code=ErrorCode.LIMIT_REACHED
        )
    status = StaffStatus(account_id=actor.account_id, name=name, name_key=name_key(name))
    async with claim(session, STATUS_NAME_TAKEN):
        session.add(status)
    return status


async def update_status(
    session: AsyncSession, actor: Actor, status_id: int, *, name=None, archived=None
) -> StaffStatus:
    require(actor, Permit.MANAGE_ACCOUNT)
    status = await session.get(StaffStatus, status_id)
    if status is None or status.account_id != actor.account_id:
        raise NotFound("Staff status", field=["id"])
    if name is not None:
        name = await _status_name(session, actor, name, exclude_id=status.id)
        async with claim(session, STATUS_NAME_TAKEN):
            status.name, status.name_key = name, name_key(name)
    if archived is not None:
        status.archived = archived
    await session.flush()
    return status


async def statuses_by_id(session: AsyncSession, account_id: int) -> dict:
    return {s.id: s for s in await list_statuses(session, account_id)}
