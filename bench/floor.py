"""The floor: the suite's documents answered by hand.

A minimal Starlette endpoint that returns exactly the JSON Roster returns for the documents
of ``bench.suite_documents`` it knows (``HANDLERS``: the benchmark page and its variants, a
two-field page, a search, ``node``, ``viewer``, invitations, the audit log and the README's
tour documents, each written for exactly its document), for an administrator or a member
below (their personal, detail and edit rules applied row by row), from the same database,
with hand-written SQL on the raw driver (aiosqlite or asyncpg) and orjson. It still checks
the token and realm (one statement; a member below administrator also has their grants and
shares read, one more), then reads what the document needs: the benchmark page is the page
with the managers' names (one statement) and the page's custom field values (one
statement), 3 statements a request for an administrator. Each answer says how many
statements it took in its ``x-floor-statements`` header.

Run: ``BENCH_DATABASE_URL=... uvicorn bench.floor:create_app --factory``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import os
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import NamedTuple

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATEMENTS_PER_REQUEST = 3  # the benchmark page as an administrator
ADMIN_ROLES = ("ADMINISTRATOR", "OWNER")
MAX_PAGE_SIZE = 100

# The permits of each role (Roster's role table, as a hand-written server would keep it).
_ALL = (
    "ADD_STAFF",
    "EDIT_RESTRICTED_STAFF",
    "EDIT_STAFF",
    "IMPERSONATE",
    "INVITE_USERS",
    "MANAGE_ACCOUNT",
    "MANAGE_STAFF",
    "VIEW_PERSONAL_DATA",
    "VIEW_RESTRICTED_STAFF",
    "VIEW_STAFF",
)
ROLE_PERMITS = {
    "GUEST": (),
    "VIEWER": ("VIEW_STAFF",),
    "EDITOR": ("ADD_STAFF", "EDIT_STAFF", "VIEW_STAFF"),
    "ADMINISTRATOR": _ALL,
    "OWNER": tuple(sorted((*_ALL, "MANAGE_BILLING"))),
}
ROLE_DESCRIPTIONS = {
    "GUEST": "Someone from outside the organisation (a customer or vendor): sees their own "
    "record and the names, titles and kinds of the people on their projects; nothing else.",
    "VIEWER": "Sees the basic profile of everyone and the details of unrestricted people "
    "or those shared with them; changes nothing.",
    "EDITOR": "Everything a viewer may, plus adding people and editing unrestricted people "
    "or those shared with them.",
    "ADMINISTRATOR": "Unrestricted access to people and personal data; customises the "
    "account, invites, manages members below their role.",
    "OWNER": "An administrator who also controls the plan, seats and ownership. "
    "Exactly one per account.",
}
STAFF_KINDS = ("EMPLOYEE", "CONTRACTOR", "CUSTOMER", "VENDOR")

AUTH_SQL = """
SELECT s.account_id, s.role, s.id, a.name, a.slug, u.email, a.timezone, a.seat_limit,
       a.guests_take_seats
FROM auth_tokens t
JOIN staff s ON s.user_id = t.user_id AND s.account_status = 'ACTIVE'
JOIN accounts a ON a.id = s.account_id
JOIN users u ON u.id = t.user_id
WHERE t.digest = {p1} AND t.revoked_at IS NULL AND t.expires_at > {p2} AND a.slug = {p3}
  AND t.account_id IS NULL AND t.impersonator_user_id IS NULL
"""
# Members below administrator: their grants and the records shared with them.
GRANTS_SQL = """
SELECT permit, NULL FROM staff_permit_grants WHERE staff_id = {p1}
UNION ALL SELECT NULL, staff_id FROM staff_shares WHERE shared_with_id = {p2}
"""
ROWS = """
SELECT s.id, s.sid, s.first_name, s.last_name, s.last_name_key, s.title, s.company, s.notes,
       s.is_inactive, s.restricted, s.role, s.kind, s.account_status, s.user_id,
       s.created_at, s.modified_at, s.email, s.phone_cell, s.phone_work, s.start_date,
       s.capacity, s.rate1, s.home_timezone, m.first_name, m.last_name,
       s.details_modified_at, s.personal_modified_at, s.secret_modified_at
FROM staff s LEFT JOIN staff m ON m.id = s.manager_id AND m.account_id = s.account_id
"""
LISTED = "s.account_id = {p1} AND s.account_status <> 'DISABLED' AND s.is_inactive = {false}"
# Name sorts: records without the name come last.
NAMELESS = "CASE WHEN s.last_name_key = '' THEN 1 ELSE 0 END"
PAGE_SQL = (
    ROWS
    + "WHERE "
    + LISTED
    + """
ORDER BY """
    + NAMELESS
    + """, s.last_name_key, s.id
LIMIT {p2}
"""
)
AFTER_SQL = (
    ROWS
    + "WHERE "
    + LISTED
    + """
  AND ("""
    + NAMELESS
    + """, s.last_name_key, s.id) > ({p2}, {p3}, {p4})
ORDER BY """
    + NAMELESS
    + """, s.last_name_key, s.id
LIMIT {p5}
"""
)
COUNT_SQL = "SELECT count(*) FROM staff s WHERE " + LISTED
NAMES_SQL = (
    """
SELECT s.id, s.first_name, s.last_name FROM staff s WHERE """
    + LISTED
    + """
ORDER BY """
    + NAMELESS
    + """, s.last_name_key, s.id
LIMIT {p2}
"""
)
SEARCH_SQL = (
    ROWS
    + "WHERE "
    + LISTED
    + """ AND ({match})
ORDER BY """
    + NAMELESS
    + """, s.last_name_key, s.id
LIMIT {limit}
"""
)
NODE_SQL = ROWS + "WHERE s.account_id = {p1} AND s.id = {p2}"
VALUES_SQL = """
SELECT v.staff_id, f.name, v.value, f.personal FROM custom_field_values v
JOIN custom_fields f ON f.id = v.field_id
WHERE v.account_id = {p1} AND v.staff_id IN ({ids}) AND f.archived_at IS NULL
ORDER BY v.staff_id, f.id
"""
INVITATIONS_SQL = """
SELECT id, email, role, status, sent_count, expires_at FROM invitations
WHERE account_id = {p1} ORDER BY id DESC LIMIT {p2}
"""
AUDIT_SQL = """
SELECT id, action, target_type, actor_staff_id, created_at, diff FROM audit_entries
WHERE account_id = {p1} ORDER BY id DESC LIMIT {p2}
"""

# --- the README's tour ---------------------------------------------------------------
# The seat ledger's counts: active and unconfirmed members, and pending invitations not
# yet expired, each split into guests and the organisation's own people.
SEATS_SQL = """
SELECT role = 'GUEST', account_status, count(*) FROM staff
WHERE account_id = {p1} AND account_status IN ('ACTIVE', 'UNCONFIRMED') GROUP BY 1, 2
UNION ALL
SELECT role = 'GUEST', 'PENDING', count(*) FROM invitations
WHERE account_id = {p2} AND status = 'PENDING' AND expires_at > {p3} GROUP BY 1
"""
# The directory of the tour: employees matching one search word ({match}), with their
# managers' names and their status's name.
DIRECTORY_WHERE = "WHERE " + LISTED + " AND s.kind = 'EMPLOYEE' AND ({match})"
DIRECTORY_SQL = (
    """
SELECT s.id, s.sid, s.first_name, s.last_name, s.last_name_key, s.title, s.role,
       s.account_status, s.restricted, s.email, s.phone_cell, m.first_name, m.last_name,
       st.name
FROM staff s LEFT JOIN staff m ON m.id = s.manager_id AND m.account_id = s.account_id
LEFT JOIN staff_statuses st ON st.id = s.status_id AND st.account_id = s.account_id
"""
    + DIRECTORY_WHERE
    + """
ORDER BY """
    + NAMELESS
    + """, s.last_name_key, s.id
LIMIT {limit}
"""
)
DIRECTORY_COUNT_SQL = "SELECT count(*) FROM staff s " + DIRECTORY_WHERE
# A record by its sid and the managers above it, in one statement (UNION: each id once,
# so the walk ends on any data, a cycle included).
CHAIN_SQL = """
WITH RECURSIVE up(id) AS (
  SELECT id FROM staff WHERE account_id = {p1} AND sid = {p2}
  UNION
  SELECT l.manager_id FROM staff l JOIN up ON l.id = up.id
  WHERE l.account_id = {p3} AND l.manager_id IS NOT NULL
)
SELECT s.id, s.sid, s.first_name, s.last_name, s.restricted, s.home_timezone, s.manager_id
FROM staff s JOIN up ON up.id = s.id WHERE s.account_id = {p4}
"""
REPORTS_SQL = (
    "SELECT s.id, s.sid, s.first_name, s.last_name FROM staff s WHERE "
    + LISTED
    + """ AND s.manager_id = {p2}
ORDER BY """
    + NAMELESS
    + """, s.last_name_key, s.id
LIMIT {p3}
"""
)
REPORTS_COUNT_SQL = "SELECT count(*) FROM staff s WHERE " + LISTED + " AND s.manager_id = {p2}"
LATEST_INVITATION_SQL = """
SELECT status, expires_at, inviter_staff_id FROM invitations
WHERE account_id = {p1} AND staff_id = {p2} ORDER BY id DESC LIMIT 1
"""
# The role sort: owner, administrators, editors, viewers, guests, each by last name
# (nameless last), as one text key, then the id.
ROLE_KEY = """CASE s.role WHEN 'OWNER' THEN '0' WHEN 'ADMINISTRATOR' THEN '1'
  WHEN 'EDITOR' THEN '2' WHEN 'VIEWER' THEN '3' WHEN 'GUEST' THEN '4' ELSE '9' END
  || CASE WHEN s.last_name_key = '' THEN '1' ELSE '0' END || s.last_name_key"""
BY_ROLE_SQL = (
    "SELECT s.sid, s.role FROM staff s WHERE "
    + LISTED
    + " AND s.sid IN ({p2}, {p3}, {p4})\nORDER BY "
    + ROLE_KEY
    + ", s.id\nLIMIT {p5}\n"
)
FIELDS_SQL = """
SELECT id, name, type, options, personal FROM custom_fields
WHERE account_id = {p1} AND archived_at IS NULL ORDER BY id
"""
FIELD_VALUES_SQL = """
SELECT v.staff_id, v.value, f.personal, s.restricted, s.first_name, s.last_name
FROM custom_field_values v
JOIN custom_fields f ON f.id = v.field_id
JOIN staff s ON s.id = v.staff_id AND s.account_id = v.account_id
WHERE v.account_id = {p1} AND f.archived_at IS NULL AND f.name_key = {p2}
ORDER BY f.id, s.last_name_key, s.id
"""
STATUSES_SQL = """
SELECT id, name, archived FROM staff_statuses WHERE account_id = {p1} ORDER BY name_key, id
"""
PENDING_SQL = """
SELECT email, role, status, sent_count, expires_at, staff_id FROM invitations
WHERE account_id = {p1} AND status = 'PENDING' AND expires_at > {p2}{mine}
ORDER BY id DESC LIMIT {limit}
"""
TOUR_AUDIT_SQL = """
SELECT action, target_type, actor_staff_id, request_id, created_at, diff FROM audit_entries
WHERE account_id = {p1} ORDER BY id DESC LIMIT {p2}
"""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class SqliteBackend:
    false = "0"

    def __init__(self, path: str):
        self.path = path
        self.pool: asyncio.Queue = asyncio.Queue()

    async def open(self, size: int = 4) -> None:
        import aiosqlite

        for _ in range(size):
            conn = await aiosqlite.connect(self.path)
            await conn.execute("PRAGMA journal_mode=WAL")
            self.pool.put_nowait(conn)

    async def close(self) -> None:
        while not self.pool.empty():
            await self.pool.get_nowait().close()

    @staticmethod
    def param(n: int) -> str:
        return "?"

    @staticmethod
    def now():
        return datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    @staticmethod
    def timestamp(value) -> str:
        return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()

    @staticmethod
    def day(value) -> str | None:
        return value

    @contextlib.asynccontextmanager
    async def connection(self):
        conn = await self.pool.get()
        try:
            yield conn
        finally:
            self.pool.put_nowait(conn)

    async def fetch(self, conn, sql: str, *args) -> list:
        async with conn.execute(sql, args) as cursor:
            return list(await cursor.fetchall())


class PostgresBackend:
    false = "false"

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.pool = None

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.dsn, min_size=2, max_size=10)

    async def close(self) -> None:
        await self.pool.close()

    @staticmethod
    def param(n: int) -> str:
        return f"${n}"

    @staticmethod
    def now():
        return datetime.now(UTC)

    @staticmethod
    def timestamp(value) -> str:
        return value.astimezone(UTC).isoformat()

    @staticmethod
    def day(value: date | None) -> str | None:
        return value.isoformat() if value is not None else None

    def connection(self):
        return self.pool.acquire()

    async def fetch(self, conn, sql: str, *args) -> list:
        return await conn.fetch(sql, *args)


def backend_for(url: str):
    if url.startswith("sqlite"):
        return SqliteBackend(url.split(":///", 1)[1])
    return PostgresBackend(url.replace("postgresql+asyncpg://", "postgresql://"))


def _num(value) -> float | None:
    return None if value is None else float(value)


class Actor(NamedTuple):
    account_id: int
    role: str
    staff_id: int
    account_name: str
    account_slug: str
    email: str
    permits: frozenset
    shared: frozenset
    account_timezone: str
    seat_limit: int
    guests_take_seats: bool

    def can(self, permit: str) -> bool:
        return permit in self.permits

    def details(self, staff_id: int, restricted) -> bool:
        return (
            not restricted
            or staff_id == self.staff_id
            or self.can("VIEW_RESTRICTED_STAFF")
            or staff_id in self.shared
        )

    def profile(self, staff_id: int) -> bool:
        return staff_id == self.staff_id or self.can("VIEW_STAFF")

    def personal(self, staff_id: int) -> bool:
        return staff_id == self.staff_id or self.can("VIEW_PERSONAL_DATA")

    def edits(self, staff_id: int, restricted) -> bool:
        if self.can("EDIT_RESTRICTED_STAFF"):
            return True
        return self.can("EDIT_STAFF") and (not restricted or staff_id in self.shared)


def _full_name(first: str | None, last: str | None) -> str:
    return " ".join(part.strip() for part in (first, last) if part and part.strip())


def _global_id(kind: str, key: int) -> str:
    return _b64(f"{kind}:{key}".encode())


class Floor:
    """One request's work: statements on one connection, counted."""

    def __init__(self, db, conn, sql: dict):
        self.db = db
        self.conn = conn
        self.sql = sql
        self.statements = 0

    async def fetch(self, sql: str, *args) -> list:
        self.statements += 1
        return await self.db.fetch(self.conn, sql, *args)

    async def actor(self, request: Request) -> Actor | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        realm = (request.headers.get("x-auth-realm") or "").strip().casefold()
        digest = hashlib.sha256(token.encode()).hexdigest()
        found = await self.fetch(self.sql["auth"], digest, self.db.now(), realm)
        if not found:
            return None
        account_id, role, staff_id, name, slug, email, timezone, seats, guests = found[0]
        permits = set(ROLE_PERMITS[role])
        shared: set[int] = set()
        if role not in ADMIN_ROLES:  # grants only add to a role; administrators hold all
            for permit, shared_id in await self.fetch(self.sql["grants"], staff_id, staff_id):
                if shared_id is not None:
                    shared.add(shared_id)
                else:
                    permits.add(permit)
        return Actor(
            account_id,
            role,
            staff_id,
            name,
            slug,
            email,
            frozenset(permits),
            frozenset(shared),
            timezone,
            seats,
            bool(guests),
        )

    async def custom_values(self, actor: Actor, rows: list) -> dict[int, list]:
        values: dict[int, list] = {r[0]: [] for r in rows}
        if not rows:
            return values
        ids = ", ".join(self.db.param(i + 2) for i in range(len(rows)))
        sql = VALUES_SQL.format(p1=self.db.param(1), ids=ids)
        for staff_id, name, value, personal in await self.fetch(
            sql, actor.account_id, *(r[0] for r in rows)
        ):
            if not personal or actor.personal(staff_id):
                values[staff_id].append({"field": {"name": name}, "value": value})
        return values

    def node(self, actor: Actor, r, values: dict | None) -> dict:
        """A staff row as the benchmark page shows it, field by field as the caller may."""
        db = self.db
        details = actor.details(r[0], r[9])
        personal = actor.personal(r[0])
        node = {
            "id": _global_id("Staff", r[0]),
            "sid": r[1],
            "firstName": r[2],
            "lastName": r[3],
            "fullName": _full_name(r[2], r[3]),
            "title": r[5],
            "company": r[6],
            "notes": r[7],
            "isInactive": bool(r[8]),
            "restricted": bool(r[9]),
            "role": r[10],
            "kind": r[11],
            "accountStatus": r[12],
            "hasLogin": r[13] is not None,
            "createdAt": db.timestamp(r[14]),
            # the latest change the caller sees: of the profile, and of the details,
            # the personal data, the SSN and salary as they see those
            "modifiedAt": db.timestamp(
                max(
                    stamp
                    for stamp, seen in (
                        (r[15], True),
                        (r[25], details),
                        (r[26], personal),
                        (r[27], details and personal),
                    )
                    if seen and stamp is not None
                )
            ),
            "email": r[16] if personal else None,
            "phoneCell": r[17] if personal else None,
            "phoneWork": r[18] if personal else None,
            "startDate": db.day(r[19]) if details else None,
            "capacity": _num(r[20]) if details else None,
            "rate1": _num(r[21]) if details else None,
            "homeTimezone": r[22] if details else None,
            "viewerCanSeePersonalData": personal,
            "viewerCanEdit": actor.edits(r[0], r[9]),
            "manager": None if r[23] is None else {"fullName": _full_name(r[23], r[24])},
        }
        if values is not None:
            node["customFields"] = values[r[0]] if details else None
        return node


def _cursor(r) -> str:
    return _b64(orjson.dumps(["LAST_NAME", "ASC", r[4], r[0]]))


def _after(cursor: str) -> tuple[str, int]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    sort, direction, value, last_id = orjson.loads(raw)
    if (sort, direction) != ("LAST_NAME", "ASC") or not isinstance(last_id, int):
        raise ValueError("cursor of another ordering")
    return value, last_id


async def staff_page(f: Floor, actor: Actor, variables: dict, *, count: bool = False) -> dict:
    """PAGE_QUERY (and its fragment, cursor and totalCount variants)."""
    first = int(variables.get("first", 50))
    after = variables.get("after")
    with_custom = variables.get("withCustom", True)
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise ValueError("first out of range")
    if after:
        value, last_id = _after(after)
        nameless = 1 if value == "" else 0
        rows = await f.fetch(f.sql["after"], actor.account_id, nameless, value, last_id, first + 1)
    else:
        rows = await f.fetch(f.sql["page"], actor.account_id, first + 1)
    has_next = len(rows) > first
    rows = rows[:first]
    values = await f.custom_values(actor, rows) if with_custom else None
    edges = [{"cursor": _cursor(r), "node": f.node(actor, r, values)} for r in rows]
    staff: dict = {}
    if count:
        staff["totalCount"] = (await f.fetch(f.sql["count"], actor.account_id))[0][0]
    staff["edges"] = edges
    staff["pageInfo"] = {
        "hasNextPage": has_next,
        "endCursor": edges[-1]["cursor"] if edges else None,
    }
    return {"staff": staff}


async def two_fields(f: Floor, actor: Actor, variables: dict) -> dict:
    first = int(variables.get("first", 50))
    rows = await f.fetch(f.sql["names"], actor.account_id, first)
    edges = [
        {"node": {"id": _global_id("Staff", r[0]), "fullName": _full_name(r[1], r[2])}}
        for r in rows
    ]
    return {"staff": {"edges": edges}}


SEARCH_COLUMNS = ("s.first_name", "s.last_name", "s.title", "s.company")


async def search(f: Floor, actor: Actor, variables: dict) -> dict:
    """One search word, in the basic columns (and email with the permit), or a role's name."""
    word = variables["search"].strip().lower()
    p = f.db.param
    columns = SEARCH_COLUMNS + (("s.email",) if actor.can("VIEW_PERSONAL_DATA") else ())
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # placeholders in the order they occur (SQLite's are positional)
    match = " OR ".join(f"lower({c}) LIKE {p(2 + i)} ESCAPE '\\'" for i, c in enumerate(columns))
    n = len(columns)
    match += f" OR lower(s.role) = {p(2 + n)}"
    sql = SEARCH_SQL.format(p1=p(1), limit=p(3 + n), false=f.db.false, match=match)
    rows = await f.fetch(sql, actor.account_id, *[f"%{escaped}%"] * n, word, 21)
    has_next = len(rows) > 20
    edges = []
    for r in rows[:20]:
        edges.append(
            {
                "node": {
                    "id": _global_id("Staff", r[0]),
                    "sid": r[1],
                    "fullName": _full_name(r[2], r[3]),
                    "title": r[5],
                    "company": r[6],
                    "email": r[16] if actor.personal(r[0]) else None,
                },
                "cursor": _cursor(r),
            }
        )
    return {
        "staff": {
            "edges": [{"node": e["node"]} for e in edges],
            "pageInfo": {
                "hasNextPage": has_next,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }
    }


async def node(f: Floor, actor: Actor, variables: dict) -> dict:
    raw = base64.urlsafe_b64decode(variables["id"] + "=" * (-len(variables["id"]) % 4))
    kind, _, key = raw.decode().partition(":")
    rows = await f.fetch(f.sql["node"], actor.account_id, int(key)) if kind == "Staff" else []
    if not rows:
        return {"node": None}
    r = rows[0]
    return {
        "node": {
            "id": _global_id("Staff", r[0]),
            "sid": r[1],
            "fullName": _full_name(r[2], r[3]),
            "title": r[5],
            "email": r[16] if actor.personal(r[0]) else None,
            "manager": None if r[23] is None else {"fullName": _full_name(r[23], r[24])},
        }
    }


async def viewer(f: Floor, actor: Actor, variables: dict) -> dict:
    return {
        "viewer": {
            "role": actor.role,
            "permits": sorted(actor.permits),
            "user": {"email": actor.email},
            "account": {"name": actor.account_name, "slug": actor.account_slug},
        }
    }


async def invitations(f: Floor, actor: Actor, variables: dict) -> dict | None:
    if not actor.can("INVITE_USERS"):
        return None
    first = int(variables.get("first", 20))
    rows = await f.fetch(f.sql["invitations"], actor.account_id, first + 1)
    edges = []
    for id_, email, role, status, sent, expires in rows[:first]:
        gid = _global_id("Invitation", id_)
        edges.append(
            {
                "cursor": gid,
                "node": {
                    "id": gid,
                    "email": email,
                    "role": role,
                    "status": _invitation_status(f, status, expires),
                    "sentCount": sent,
                    "expiresAt": f.db.timestamp(expires),
                },
            }
        )
    return {
        "invitations": {
            "edges": edges,
            "pageInfo": {
                "hasNextPage": len(rows) > first,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }
    }


async def audit_log(f: Floor, actor: Actor, variables: dict) -> dict | None:
    if not actor.can("MANAGE_ACCOUNT"):
        return None
    first = int(variables.get("first", 20))
    rows = await f.fetch(f.sql["audit"], actor.account_id, first + 1)
    edges = []
    for id_, action, target_type, actor_staff_id, created_at, diff in rows[:first]:
        gid = _global_id("AuditEntry", id_)
        edges.append(
            {
                "cursor": gid,
                "node": {
                    "id": gid,
                    "action": action,
                    "targetType": target_type,
                    "actorStaffId": None
                    if actor_staff_id is None
                    else _global_id("Staff", actor_staff_id),
                    "createdAt": f.db.timestamp(created_at),
                    "diff": orjson.loads(diff) if isinstance(diff, str) else diff,
                },
            }
        )
    return {
        "auditLog": {
            "edges": edges,
            "pageInfo": {
                "hasNextPage": len(rows) > first,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }
    }


# --- the README's tour, each document as written there ---------------------------------


async def seats(f: Floor, actor: Actor) -> dict:
    """The seat ledger: guests count against the limit only where the account says so."""
    used = reserved = 0
    now = f.db.now()
    for guest, kind, n in await f.fetch(f.sql["seats"], actor.account_id, actor.account_id, now):
        if guest and not actor.guests_take_seats:
            continue
        if kind == "ACTIVE":
            used += n
        else:  # unconfirmed members and pending invitations hold a seat each
            reserved += n
    limit = actor.seat_limit
    return {
        "limit": limit,
        "used": used,
        "reserved": reserved,
        "available": max(0, limit - used - reserved),
    }


async def tour_viewer(f: Floor, actor: Actor, variables: dict) -> dict | None:
    if not actor.can("VIEW_STAFF"):
        return None
    ledger = await seats(f, actor)
    return {
        "viewer": {
            "user": {"email": actor.email},
            "role": actor.role,
            "permits": sorted(actor.permits),
            "account": {
                "name": actor.account_name,
                "slug": actor.account_slug,
                "seats": {k: ledger[k] for k in ("limit", "used", "available")},
            },
        }
    }


def _word_match(p, at: int, personal: bool) -> str:
    """One search word: a substring of a basic column (and of email with the permit), or
    a role's name. Its parameters from ``at``: a pattern per column, then the word."""
    columns = SEARCH_COLUMNS + (("s.email",) if personal else ())
    like = " OR ".join(f"lower({c}) LIKE {p(at + i)} ESCAPE '\\'" for i, c in enumerate(columns))
    return f"{like} OR lower(s.role) = {p(at + len(columns))}"


DIRECTORY_SEARCH = "engineer"
DIRECTORY_FIRST = 5


async def tour_directory(f: Floor, actor: Actor, variables: dict) -> dict:
    """Five employees matching "engineer" by last name, with the total, their managers,
    status and custom fields."""
    personal_search = actor.can("VIEW_PERSONAL_DATA")
    suffix = "_personal" if personal_search else ""
    word = DIRECTORY_SEARCH.casefold()
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    match = [f"%{escaped}%"] * (len(SEARCH_COLUMNS) + personal_search) + [word]
    rows = await f.fetch(
        f.sql["directory" + suffix], actor.account_id, *match, DIRECTORY_FIRST + 1
    )
    total = (await f.fetch(f.sql["directory_count" + suffix], actor.account_id, *match))[0][0]
    has_next = len(rows) > DIRECTORY_FIRST
    rows = rows[:DIRECTORY_FIRST]
    details = {r[0]: actor.details(r[0], r[8]) for r in rows}
    values = await f.custom_values(actor, [r for r in rows if details[r[0]]])
    edges = []
    for r in rows:
        shown = details[r[0]]
        personal = actor.personal(r[0])
        edges.append(
            {
                "node": {
                    "id": _global_id("Staff", r[0]),
                    "sid": r[1],
                    "fullName": _full_name(r[2], r[3]),
                    "title": r[5],
                    "role": r[6],
                    "accountStatus": r[7],
                    "manager": None if r[11] is None else {"fullName": _full_name(r[11], r[12])},
                    "email": r[9] if personal else None,
                    "phoneCell": r[10] if personal else None,
                    "viewerCanSeePersonalData": personal,
                    "viewerCanSeeDetails": shown,
                    "viewerCanEdit": actor.edits(r[0], r[8]),
                    "status": {"name": r[13]} if shown and r[13] is not None else None,
                    "customFields": values[r[0]] if shown else None,
                }
            }
        )
    return {
        "staff": {
            "totalCount": total,
            "pageInfo": {
                "hasNextPage": has_next,
                "endCursor": _cursor(rows[-1]) if rows else None,
            },
            "edges": edges,
        }
    }


def _invitation_status(f: Floor, status: str, expires) -> str:
    """A pending invitation past its expiry is expired, swept or not."""
    if status != "PENDING":
        return status
    expired = datetime.fromisoformat(f.db.timestamp(expires)) <= datetime.now(UTC)
    return "EXPIRED" if expired else status


CHART_SID = 2
CHART_REPORTS = 3
CHART_SIDS = (1, 2, 3)
CHART_FIRST = 5


async def tour_chart(f: Floor, actor: Actor, variables: dict) -> dict:
    """Record 2 with its time zone, managers up to the top, first direct reports and
    latest invitation; and records 1-3 by role."""
    a = actor.account_id
    found = {r[0]: r for r in await f.fetch(f.sql["chain"], a, CHART_SID, a, a)}
    record = next((r for r in found.values() if r[1] == CHART_SID), None)
    by_role = await f.fetch(f.sql["by_role"], a, *CHART_SIDS, CHART_FIRST)
    listed = {"nodes": [{"sid": sid, "role": role} for sid, role in by_role]}
    if record is None:
        return {"staffBySid": None, "staff": listed}
    id_ = record[0]
    chain = None
    if actor.profile(id_):  # whoever sees the record's manager
        chain, passed, manager_id = [], {id_}, record[6]
        while manager_id is not None and manager_id not in passed and manager_id in found:
            passed.add(manager_id)
            link = found[manager_id]
            chain.append({"fullName": _full_name(link[2], link[3])})
            if not actor.profile(link[0]):  # the viewer does not see past this link
                break
            manager_id = link[6]
    reports: dict = {"totalCount": 0, "nodes": []}
    if actor.can("VIEW_STAFF"):  # who sees managers sees whose manager one is
        rows = await f.fetch(f.sql["reports"], a, id_, CHART_REPORTS)
        count = (await f.fetch(f.sql["reports_count"], a, id_))[0][0]
        reports = {
            "totalCount": count,
            "nodes": [
                {"sid": r[1] if actor.profile(r[0]) else None, "fullName": _full_name(r[2], r[3])}
                for r in rows
            ],
        }
    invitation = None
    if actor.can("INVITE_USERS"):
        latest = await f.fetch(f.sql["latest_invitation"], a, id_)
        # inviters who do not administer see only the invitations they sent
        if latest and (actor.can("MANAGE_STAFF") or latest[0][2] == actor.staff_id):
            invitation = {"status": _invitation_status(f, latest[0][0], latest[0][1])}
    return {
        "staffBySid": {
            "fullName": _full_name(record[2], record[3]),
            "effectiveTimezone": (record[5] or actor.account_timezone)
            if actor.details(id_, record[4])
            else None,
            "reportingChain": chain,
            "directReports": reports,
            "invitation": invitation,
        },
        "staff": listed,
    }


SHIRT_SIZE_KEY = unicodedata.normalize("NFKC", "T-shirt size").strip().casefold()


async def tour_custom_fields(f: Floor, actor: Actor, variables: dict) -> dict | None:
    """The account's active fields, and the values of "T-shirt size" the viewer sees."""
    if not actor.can("VIEW_STAFF"):
        return None
    fields = [
        {
            "id": _global_id("CustomField", id_),
            "name": name,
            "type": type_,
            "options": (orjson.loads(options) if isinstance(options, str) else options) or [],
            "personal": bool(personal),
        }
        for id_, name, type_, options, personal in await f.fetch(f.sql["fields"], actor.account_id)
    ]
    values = [
        {"staff": {"fullName": _full_name(first, last)}, "value": value}
        for staff_id, value, personal, restricted, first, last in await f.fetch(
            f.sql["field_values"], actor.account_id, SHIRT_SIZE_KEY
        )
        if actor.details(staff_id, restricted) and (not personal or actor.personal(staff_id))
    ]
    return {"customFields": fields, "customFieldValues": values}


ROLES = [
    {"value": role, "description": ROLE_DESCRIPTIONS[role], "permits": sorted(permits)}
    for role, permits in ROLE_PERMITS.items()
]


async def tour_picklists(f: Floor, actor: Actor, variables: dict) -> dict:
    statuses = [
        {"id": _global_id("StaffStatus", id_), "name": name, "archived": bool(archived)}
        for id_, name, archived in await f.fetch(f.sql["statuses"], actor.account_id)
    ]
    return {
        "picklists": {"roles": ROLES, "staffStatuses": statuses, "staffKinds": list(STAFF_KINDS)}
    }


PENDING_FIRST = 10


async def tour_invitations(f: Floor, actor: Actor, variables: dict) -> dict | None:
    """The seat ledger, and the ten newest invitations still pending."""
    if not actor.can("VIEW_STAFF") or not actor.can("INVITE_USERS"):
        return None
    ledger = await seats(f, actor)
    if actor.can("MANAGE_STAFF"):
        rows = await f.fetch(f.sql["pending"], actor.account_id, f.db.now(), PENDING_FIRST)
    else:  # inviters who do not administer see only the invitations they sent
        rows = await f.fetch(
            f.sql["pending_mine"], actor.account_id, f.db.now(), actor.staff_id, PENDING_FIRST
        )
    edges = []
    for email, role, status, sent, expires, staff_id in rows:
        # the invitee's email is personal data, shown as the record's email is
        shown = actor.personal(staff_id) if staff_id is not None else actor.can(
            "VIEW_PERSONAL_DATA"
        )
        edges.append(
            {
                "node": {
                    "email": email if shown else None,
                    "role": role,
                    "status": _invitation_status(f, status, expires),
                    "sentCount": sent,
                }
            }
        )
    return {"account": {"seats": ledger}, "invitations": {"edges": edges}}


AUDIT_FIRST = 5


async def tour_audit(f: Floor, actor: Actor, variables: dict) -> dict | None:
    if not actor.can("MANAGE_ACCOUNT"):
        return None
    edges = [
        {
            "node": {
                "action": action,
                "targetType": target_type,
                "actorStaffId": _global_id("Staff", staff_id) if staff_id else None,
                "requestId": request_id,
                "createdAt": f.db.timestamp(created_at),
                "diff": orjson.loads(diff) if isinstance(diff, str) else diff,
            }
        }
        for action, target_type, staff_id, request_id, created_at, diff in await f.fetch(
            f.sql["tour_audit"], actor.account_id, AUDIT_FIRST
        )
    ]
    return {"auditLog": {"edges": edges}}


def _handlers() -> dict[str, Callable]:
    from bench import suite_documents as d

    return {
        d.PAGE_QUERY: staff_page,
        d.FRAGMENTS_QUERY: staff_page,
        d.AFTER_QUERY: staff_page,
        d.PAGE_COUNT_QUERY: functools.partial(staff_page, count=True),
        d.TWO_FIELDS_QUERY: two_fields,
        d.SEARCH_QUERY: search,
        d.NODE_QUERY: node,
        d.VIEWER_QUERY: viewer,
        d.INVITATIONS_QUERY: invitations,
        d.AUDIT_QUERY: audit_log,
        d.TOUR_VIEWER: tour_viewer,
        d.TOUR_DIRECTORY: tour_directory,
        d.TOUR_CHART: tour_chart,
        d.TOUR_CUSTOM_FIELDS: tour_custom_fields,
        d.TOUR_PICKLISTS: tour_picklists,
        d.TOUR_INVITATIONS: tour_invitations,
        d.TOUR_AUDIT: tour_audit,
    }


HANDLERS = _handlers()


def serves(body: dict) -> bool:
    """Whether the floor answers this request body (its document is one it knows)."""
    return body.get("query") in HANDLERS


def create_app(url: str | None = None) -> Starlette:
    url = url or os.environ["BENCH_DATABASE_URL"]
    db = backend_for(url)
    p = db.param
    sql = {
        "auth": AUTH_SQL.format(p1=p(1), p2=p(2), p3=p(3)),
        "grants": GRANTS_SQL.format(p1=p(1), p2=p(2)),
        "page": PAGE_SQL.format(p1=p(1), p2=p(2), false=db.false),
        "after": AFTER_SQL.format(p1=p(1), p2=p(2), p3=p(3), p4=p(4), p5=p(5), false=db.false),
        "count": COUNT_SQL.format(p1=p(1), false=db.false),
        "names": NAMES_SQL.format(p1=p(1), p2=p(2), false=db.false),
        "node": NODE_SQL.format(p1=p(1), p2=p(2)),
        "invitations": INVITATIONS_SQL.format(p1=p(1), p2=p(2)),
        "audit": AUDIT_SQL.format(p1=p(1), p2=p(2)),
        "seats": SEATS_SQL.format(p1=p(1), p2=p(2), p3=p(3)),
        "chain": CHAIN_SQL.format(p1=p(1), p2=p(2), p3=p(3), p4=p(4)),
        "reports": REPORTS_SQL.format(p1=p(1), p2=p(2), p3=p(3), false=db.false),
        "reports_count": REPORTS_COUNT_SQL.format(p1=p(1), p2=p(2), false=db.false),
        "latest_invitation": LATEST_INVITATION_SQL.format(p1=p(1), p2=p(2)),
        "by_role": BY_ROLE_SQL.format(
            p1=p(1), p2=p(2), p3=p(3), p4=p(4), p5=p(5), false=db.false
        ),
        "fields": FIELDS_SQL.format(p1=p(1)),
        "field_values": FIELD_VALUES_SQL.format(p1=p(1), p2=p(2)),
        "statuses": STATUSES_SQL.format(p1=p(1)),
        "pending": PENDING_SQL.format(p1=p(1), p2=p(2), mine="", limit=p(3)),
        "pending_mine": PENDING_SQL.format(
            p1=p(1), p2=p(2), mine=f" AND inviter_staff_id = {p(3)}", limit=p(4)
        ),
        "tour_audit": TOUR_AUDIT_SQL.format(p1=p(1), p2=p(2)),
    }
    for suffix, personal in (("", False), ("_personal", True)):
        match = _word_match(p, 2, personal)
        words = len(SEARCH_COLUMNS) + personal + 1
        sql["directory" + suffix] = DIRECTORY_SQL.format(
            p1=p(1), false=db.false, match=match, limit=p(2 + words)
        )
        sql["directory_count" + suffix] = DIRECTORY_COUNT_SQL.format(
            p1=p(1), false=db.false, match=match
        )

    def error(code: str, message: str, statements: int) -> Response:
        body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
        return Response(
            orjson.dumps(body),
            media_type="application/json",
            headers={"x-floor-statements": str(statements)},
        )

    async def answer(request: Request) -> Response:
        body = orjson.loads(await request.body())
        handler = HANDLERS.get(body.get("query"))
        if handler is None:
            return error("NOT_SERVED", "The floor does not serve this document.", 0)
        variables = body.get("variables") or {}
        async with db.connection() as conn:
            f = Floor(db, conn, sql)
            actor = await f.actor(request)
            if actor is None:
                return error("UNAUTHENTICATED", "Not authenticated.", f.statements)
            try:
                data = await handler(f, actor, variables)
            except ValueError as exc:
                return error("BAD_USER_INPUT", str(exc), f.statements)
            if data is None:
                return error("FORBIDDEN", "Not allowed.", f.statements)
        return Response(
            orjson.dumps({"data": data}),
            media_type="application/json",
            headers={"x-floor-statements": str(f.statements)},
        )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await db.open()
        try:
            yield
        finally:
            await db.close()

    return Starlette(routes=[Route("/graphql", answer, methods=["POST"])], lifespan=lifespan)
