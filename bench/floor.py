"""The floor: the suite's documents answered by hand.

A minimal Starlette endpoint that returns exactly the JSON Roster returns for the documents
of ``bench.suite_documents`` it knows (``HANDLERS``: the benchmark page and its variants, a
two-field page, a search, ``node``, ``viewer``, invitations and the audit log), for an
administrator or a member below (their personal, detail and edit rules applied row by row),
from the same database, with hand-written SQL on the raw driver (aiosqlite or asyncpg) and
orjson. It still checks the token and realm (one statement; a member below administrator
also has their grants and shares read, one more), then reads what the document needs: the
benchmark page is the page with the managers' names (one statement) and the page's custom
field values (one statement), 3 statements a request for an administrator. Each answer
says how many statements it took in its ``x-floor-statements`` header.

Run: ``BENCH_DATABASE_URL=... uvicorn bench.floor:create_app --factory``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import os
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

AUTH_SQL = """
SELECT s.account_id, s.role, s.id, a.name, a.slug, u.email FROM auth_tokens t
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
       s.capacity, s.rate1, s.home_timezone, m.first_name, m.last_name
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

    def can(self, permit: str) -> bool:
        return permit in self.permits

    def details(self, staff_id: int, restricted) -> bool:
        return (
            not restricted
            or staff_id == self.staff_id
            or self.can("VIEW_RESTRICTED_STAFF")
            or staff_id in self.shared
        )

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
        account_id, role, staff_id, name, slug, email = found[0]
        permits = set(ROLE_PERMITS[role])
        shared: set[int] = set()
        if role not in ADMIN_ROLES:  # grants only add to a role; administrators hold all
            for permit, shared_id in await self.fetch(self.sql["grants"], staff_id, staff_id):
                if shared_id is not None:
                    shared.add(shared_id)
                else:
                    permits.add(permit)
        return Actor(
            account_id, role, staff_id, name, slug, email, frozenset(permits), frozenset(shared)
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
            "modifiedAt": db.timestamp(r[15]),
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
    now = datetime.now(UTC)
    edges = []
    for id_, email, role, status, sent, expires in rows[:first]:
        expires_at = datetime.fromisoformat(f.db.timestamp(expires))
        if status == "PENDING" and expires_at <= now:
            status = "EXPIRED"
        gid = _global_id("Invitation", id_)
        edges.append(
            {
                "cursor": gid,
                "node": {
                    "id": gid,
                    "email": email,
                    "role": role,
                    "status": status,
                    "sentCount": sent,
                    "expiresAt": expires_at.isoformat(),
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
    }

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
