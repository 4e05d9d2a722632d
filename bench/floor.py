"""The floor: the benchmark's page query answered by hand.

A minimal Starlette endpoint that returns exactly the JSON Roster returns for
``bench.queries.PAGE_QUERY`` asked by an administrator, from the same database, with
hand-written SQL on the raw driver (aiosqlite or asyncpg) and orjson. It still checks the
token and realm (one statement), then reads the page with the managers' names (one
statement) and the page's custom field values (one statement): 3 statements a request.

Run: ``BENCH_DATABASE_URL=... uvicorn bench.floor:create_app --factory``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from datetime import UTC, date, datetime

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATEMENTS_PER_REQUEST = 3
ADMIN_ROLES = ("ADMINISTRATOR", "OWNER")
MAX_PAGE_SIZE = 100

AUTH_SQL = """
SELECT s.account_id, s.role FROM auth_tokens t
JOIN staff s ON s.user_id = t.user_id AND s.account_status = 'ACTIVE'
JOIN accounts a ON a.id = s.account_id
WHERE t.digest = {p1} AND t.revoked_at IS NULL AND t.expires_at > {p2} AND a.slug = {p3}
  AND t.account_id IS NULL AND t.impersonator_user_id IS NULL
"""
PAGE_SQL = """
SELECT s.id, s.sid, s.first_name, s.last_name, s.last_name_key, s.title, s.company, s.notes,
       s.is_inactive, s.restricted, s.role, s.kind, s.account_status, s.user_id,
       s.created_at, s.modified_at, s.email, s.phone_cell, s.phone_work, s.start_date,
       s.capacity, s.rate1, s.home_timezone, m.first_name, m.last_name
FROM staff s LEFT JOIN staff m ON m.id = s.manager_id AND m.account_id = s.account_id
WHERE s.account_id = {p1} AND s.account_status <> 'DISABLED' AND s.is_inactive = {false}
ORDER BY s.last_name_key, s.id
LIMIT {p2}
"""
VALUES_SQL = """
SELECT v.staff_id, f.name, v.value FROM custom_field_values v
JOIN custom_fields f ON f.id = v.field_id
WHERE v.account_id = {p1} AND v.staff_id IN ({ids}) AND f.archived_at IS NULL
ORDER BY v.staff_id, f.id
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


def create_app(url: str | None = None) -> Starlette:
    url = url or os.environ["BENCH_DATABASE_URL"]
    db = backend_for(url)
    p = db.param
    auth_sql = AUTH_SQL.format(p1=p(1), p2=p(2), p3=p(3))
    page_sql = PAGE_SQL.format(p1=p(1), p2=p(2), false=db.false)

    def error(status: int, code: str, message: str) -> Response:
        body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
        return Response(orjson.dumps(body), status, media_type="application/json")

    async def page(request: Request) -> Response:
        body = orjson.loads(await request.body())
        first = int((body.get("variables") or {}).get("first", 50))
        if not 0 <= first <= MAX_PAGE_SIZE:
            return error(200, "BAD_USER_INPUT", "first out of range")
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        realm = (request.headers.get("x-auth-realm") or "").strip().casefold()
        digest = hashlib.sha256(token.encode()).hexdigest()
        async with db.connection() as conn:
            actor = await db.fetch(conn, auth_sql, digest, db.now(), realm)
            if not actor:
                return error(200, "UNAUTHENTICATED", "Not authenticated.")
            account_id, role = actor[0]
            if role not in ADMIN_ROLES:
                return error(200, "FORBIDDEN", "The floor serves administrators only.")
            rows = await db.fetch(conn, page_sql, account_id, first + 1)
            has_next = len(rows) > first
            rows = rows[:first]
            values: dict[int, list] = {r[0]: [] for r in rows}
            if rows:
                ids = ", ".join(p(i + 2) for i in range(len(rows)))
                sql = VALUES_SQL.format(p1=p(1), ids=ids)
                for staff_id, name, value in await db.fetch(
                    conn, sql, account_id, *(r[0] for r in rows)
                ):
                    values[staff_id].append({"field": {"name": name}, "value": value})
        edges = []
        for r in rows:
            cursor = _b64(orjson.dumps(["LAST_NAME", "ASC", r[4], r[0]]))
            edges.append(
                {
                    "cursor": cursor,
                    "node": {
                        "id": _b64(f"Staff:{r[0]}".encode()),
                        "sid": r[1],
                        "firstName": r[2],
                        "lastName": r[3],
                        "fullName": f"{r[2]} {r[3]}",
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
                        "email": r[16],
                        "phoneCell": r[17],
                        "phoneWork": r[18],
                        "startDate": db.day(r[19]),
                        "capacity": _num(r[20]),
                        "rate1": _num(r[21]),
                        "homeTimezone": r[22],
                        "viewerCanSeePersonalData": True,
                        "viewerCanEdit": True,
                        "manager": None if r[23] is None else {"fullName": f"{r[23]} {r[24]}"},
                        "customFields": values[r[0]],
                    },
                }
            )
        data = {
            "staff": {
                "edges": edges,
                "pageInfo": {
                    "hasNextPage": has_next,
                    "endCursor": edges[-1]["cursor"] if edges else None,
                },
            }
        }
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await db.open()
        try:
            yield
        finally:
            await db.close()

    return Starlette(routes=[Route("/graphql", page, methods=["POST"])], lifespan=lifespan)
