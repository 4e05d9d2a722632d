"""Benchmark: the suite of realistic documents (``bench.suite_documents``), each against the
hand-written SQL + orjson floor (``bench.floor``) serving the same JSON.

    python -m bench.suite [--db sqlite,postgresql] [--size 1000] [--duration 5]
                          [--clients 4] [--postgres-url URL] [--out bench/suite.md]
                          [--documents "viewer,tour: viewer"]

Per database: seeds one account of ``--size`` staff (custom field values, managers), adds
a viewer (role VIEWER: no ViewPersonalData permit) with a session, five invitations and
some audit-log entries (made through the API), starts one Roster process and one floor
process on loopback and checks that, for every document and role the floor serves, both
answer byte for byte the same. Then per document and role, each server in turn gets
``--clients`` clients sending it back to back for ``--duration`` seconds, and the suite
prints, per request: the server's CPU (from /proc), the database server's CPU (PostgreSQL:
the backends serving that server, from /proc; SQLite runs inside the server), both as
×floor, req/s and SQL statements (Roster's counted in-process, the floor's as it reports
them). ``--documents`` names the documents to run (comma-separated; all by default). The
table is written to ``--out``. Ratios are side by side in one run; the machine's
load (``uptime``) is printed with them. See README.md, "Benchmarks".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import orjson

from bench.live import database_url
from bench.run import CLK_TCK, POSTGRES_URL, Server, cpu_seconds, uvicorn
from bench.seed import BenchAccount, seed
from bench.suite_documents import ADMIN, SUITE, VIEWER, Document

ROOT = Path(__file__).resolve().parent.parent
VIEWER_EMAIL = "viewer@bench.example"


@dataclass
class Caller:
    role: str
    token: str
    slug: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Auth-Realm": self.slug}


# --- seeding ---------------------------------------------------------------------------


async def add_viewer(db, passwords, account: BenchAccount) -> str:
    """A member with the VIEWER role (no ViewPersonalData) and a session token: the token."""
    from app.access import Role
    from app.accounts.service import next_staff_sid
    from app.identity import service as identity
    from app.identity.models import TokenKind
    from app.staff.models import AccountStatus, Staff
    from app.validation import name_key

    async with db.session(write=True) as session:
        user = await identity.create_user(
            session, passwords, email=VIEWER_EMAIL, password="bench-password-2024", verified=True
        )
        session.add(
            Staff(
                account_id=account.account_id,
                sid=await next_staff_sid(session, account.account_id),
                user_id=user.id,
                role=Role.VIEWER,
                account_status=AccountStatus.ACTIVE,
                first_name="Vera",
                last_name="Viewer",
                last_name_key=name_key("Viewer"),
                email=VIEWER_EMAIL,
            )
        )
        await session.flush()
        token, _ = await identity.issue_token(
            session, user, kind=TokenKind.SESSION, ttl=timedelta(days=30)
        )
        await session.commit()
        return token


async def _add_viewer(url: str, account: BenchAccount) -> str:
    from app.db.engine import Database
    from app.security.passwords import PasswordService
    from app.settings import Settings

    db = Database(url)
    passwords = PasswordService.from_settings(Settings())
    try:
        return await add_viewer(db, passwords, account)
    finally:
        passwords.shutdown()
        await db.dispose()


INVITE = """mutation Invite($email: String!) {
  invitationCreate(input: {email: $email, role: EDITOR, firstName: "Guest"}) {
    invitation { id } userErrors { code message }
  }
}"""
UPDATE = """mutation Update($id: ID!, $title: String!) {
  staffUpdate(input: {id: $id, title: $title}) { staff { id } userErrors { code message } }
}"""


async def _graphql(client: httpx.AsyncClient, caller: Caller, query: str, **variables) -> dict:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=caller.headers
    )
    out = response.json()
    assert not out.get("errors"), out
    return out["data"]


async def through_the_api(client: httpx.AsyncClient, admin: Caller) -> None:
    """Invitations and audit-log entries, made as a client makes them."""
    for i in range(5):
        data = await _graphql(client, admin, INVITE, email=f"invitee{i}@bench.example")
        assert not data["invitationCreate"]["userErrors"], data
    page = await _graphql(client, admin, SUITE[2].query, first=10)
    for i, edge in enumerate(page["staff"]["edges"]):
        data = await _graphql(client, admin, UPDATE, id=edge["node"]["id"], title=f"Lead {i}")
        assert not data["staffUpdate"]["userErrors"], data


async def context_of(client: httpx.AsyncClient, admin: Caller) -> dict:
    """Variables taken from the data: the cursor after page 2, a record's global id."""
    after = None
    for _ in range(2):
        data = await _graphql(client, admin, SUITE[4].query, first=50, after=after)
        after = data["staff"]["pageInfo"]["endCursor"]
    return {"cursor_2": after, "node_id": data["staff"]["edges"][7]["node"]["id"]}


async def _populate(base: str, admin: Caller) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await through_the_api(client, admin)
        return await context_of(client, admin)


# --- measuring -------------------------------------------------------------------------


class PostgresBackends:
    """CPU of the PostgreSQL backends serving one database (all servers' connections)."""

    def __init__(self, url: str):
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        self.name = self.dsn.rsplit("/", 1)[1]

    async def _pids(self) -> list[int]:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'",
                self.name,
            )
        finally:
            await conn.close()
        return [r[0] for r in rows]

    async def snapshot(self) -> dict[int, float]:
        out = {}
        for pid in await self._pids():
            try:
                out[pid] = cpu_seconds(pid)
            except OSError:
                pass
        return out


def db_cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """A backend that started during the run counts whole; one that ended is lost (the
    servers keep their pools, so none should)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


async def _load(
    url: str, body: bytes, headers: dict, clients: int, seconds: float
) -> tuple[int, int, float]:
    """``clients`` clients posting ``body`` back to back: (requests, errors, wall seconds)."""
    count = errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    hdrs = {**headers, "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        deadline = time.monotonic() + seconds

        async def one() -> None:
            nonlocal count, errors
            while time.monotonic() < deadline:
                r = await client.post(url, content=body, headers=hdrs)
                count += 1
                if r.status_code != 200 or b'"errors"' in r.content[:12]:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(clients)))
        return count, errors, time.monotonic() - started


def measure(server: Server, body: bytes, caller: Caller, args, backends) -> dict:
    asyncio.run(_load(server.url, body, caller.headers, args.clients, 0.5))  # warm up
    db_before = asyncio.run(backends.snapshot()) if backends else {}
    cpu_before = cpu_seconds(server.proc.pid)
    requests, errors, wall = asyncio.run(
        _load(server.url, body, caller.headers, args.clients, args.duration)
    )
    cpu = cpu_seconds(server.proc.pid) - cpu_before
    db_cpu = db_cpu_between(db_before, asyncio.run(backends.snapshot())) if backends else 0.0
    n = max(requests, 1)
    return {
        "rps": requests / wall,
        "cpu_ms": 1000 * cpu / n,
        "db_ms": 1000 * db_cpu / n if backends else None,
        "errors": errors,
    }


async def roster_statements(url: str, bodies: list[tuple[bytes, dict]]) -> list[int]:
    """Roster's SQL statements for each request, counted in-process on the same database."""
    from app.db.statements import StatementCounter
    from app.main import create_app
    from app.settings import Settings

    app = create_app(Settings(database_url=url, email_relay_enabled=False))
    services = app.state.services
    counts = []
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for body, headers in bodies:
                hdrs = {**headers, "Content-Type": "application/json"}
                await client.post("/graphql", content=body, headers=hdrs)
                with StatementCounter(services.db.engine) as counter:
                    await client.post("/graphql", content=body, headers=hdrs)
                counts.append(len(counter.statements))
    finally:
        await services.close()
    return counts


def floor_statements(server: Server, body: bytes, caller: Caller) -> int | None:
    r = httpx.post(
        server.url, content=body, headers={**caller.headers, "Content-Type": "application/json"}
    )
    value = r.headers.get("x-floor-statements")
    return int(value) if value else None


def post(server: Server, body: bytes, caller: Caller) -> bytes:
    hdrs = {**caller.headers, "Content-Type": "application/json"}
    return httpx.post(server.url, content=body, headers=hdrs, timeout=60).content


# --- the run ---------------------------------------------------------------------------


def prepare(url: str, size: int) -> dict[str, Caller]:
    """A fresh database of one account of ``size`` staff and a viewer: its callers."""
    (account,) = seed(url, [size])
    viewer_token = asyncio.run(_add_viewer(url, account))
    callers = {
        ADMIN: Caller(ADMIN, account.admin_token, account.slug),
        VIEWER: Caller(VIEWER, viewer_token, account.slug),
    }
    return callers


def cases(
    context: dict, callers: dict[str, Caller], names: set[str] | None = None
) -> list[tuple[Document, Caller, bytes]]:
    """Every document of the suite (or those ``names`` names) for each of its roles."""
    return [
        (doc, callers[role], orjson.dumps(doc.body(context)))
        for doc in SUITE
        if names is None or doc.name in names
        for role in doc.roles
    ]


def chosen_documents(value: str | None) -> set[str] | None:
    """The document names ``--documents`` gives (None: all); an unknown name is an error."""
    if not value:
        return None
    names = {name.strip() for name in value.split(",") if name.strip()}
    unknown = names - {doc.name for doc in SUITE}
    if unknown:
        known = ", ".join(doc.name for doc in SUITE)
        raise SystemExit(f"unknown documents: {', '.join(sorted(unknown))} (known: {known})")
    return names


def bench_database(kind: str, args, work: Path) -> list[dict]:
    from bench import floor

    url = database_url(kind, work, args.postgres_url)
    print(f"\n== {kind}: seeding {args.size} staff ...", flush=True)
    callers = prepare(url, args.size)
    env = {
        "ROSTER_DATABASE_URL": url,
        "ROSTER_EMAIL_RELAY_ENABLED": "false",
        "ROSTER_EMAIL_BACKEND": "memory",
        "BENCH_DATABASE_URL": url,
    }
    rows: list[dict] = []
    servers: list[Server] = []
    try:
        roster = uvicorn("roster", "app.main:create_app", env, work)
        servers.append(roster)
        base = f"http://127.0.0.1:{roster.port}"
        context = asyncio.run(_populate(base, callers[ADMIN]))
        floor_server = uvicorn("floor", "bench.floor:create_app", env, work)
        servers.append(floor_server)
        todo = cases(context, callers, args.documents)
        counts = asyncio.run(roster_statements(url, [(b, c.headers) for _, c, b in todo]))
        backends = PostgresBackends(url) if kind == "postgresql" else None
        for (doc, caller, body), statements in zip(todo, counts, strict=True):
            served = floor.serves(orjson.loads(body))
            if served:
                a, b = post(roster, body, caller), post(floor_server, body, caller)
                if a != b or b'"errors"' in a:
                    (work.parent / "suite-mismatch-roster.json").write_bytes(a)
                    (work.parent / "suite-mismatch-floor.json").write_bytes(b)
                    raise SystemExit(f"MISMATCH: {doc.name} as {caller.role} on {kind}")
            order = [roster, floor_server] if served else [roster]
            measured = {s.name: measure(s, body, caller, args, backends) for s in order}
            r, f = measured["roster"], measured.get("floor")
            row = {
                "db": kind,
                "document": doc.name,
                "role": caller.role,
                "roster": r,
                "floor": f,
                "sql": statements,
                "floor_sql": floor_statements(floor_server, body, caller) if served else None,
            }
            rows.append(row)
            print(line(row), flush=True)
    finally:
        for s in servers:
            s.stop()
    return rows


def _x(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "—"


def line(row: dict) -> str:
    r, f = row["roster"], row["floor"]
    db = f" db {r['db_ms']:.2f} ms" if r["db_ms"] is not None else ""
    return (
        f"{row['db']:10} {row['document']:24} {row['role']:13} {r['rps']:7.1f} req/s "
        f"cpu {r['cpu_ms']:6.2f} ms{db} ×floor {_x(r['cpu_ms'], f and f['cpu_ms'])} "
        f"sql {row['sql']} errors {r['errors']}"
    )


def table(rows: list[dict], args, load: str) -> str:
    out = [
        "# Benchmark suite",
        "",
        f"Command: `python -m bench.suite --size {args.size} --duration {args.duration:g} "
        f"--clients {args.clients}"
        + (f" --documents '{','.join(sorted(args.documents))}'" if args.documents else "")
        + "`",
        "",
        f"Machine load (`uptime`) before the run: {load}. {args.clients} clients per server, "
        f"back to back, {args.duration:g} s per document, role and server. CPU is per "
        "request: the server process's, and the database server's (PostgreSQL backends, from "
        "/proc; SQLite runs in the server process). ×floor: Roster over the hand-written SQL "
        "+ orjson endpoint (`bench/floor.py`), which answers the same bytes (checked before "
        "each measurement); — where the floor does not serve the document. SQL: statements "
        "per request, Roster / floor.",
        "",
        "| db | document | role | Roster CPU ms | floor CPU ms | CPU ×floor | Roster DB CPU ms "
        "| floor DB CPU ms | DB CPU ×floor | Roster req/s | floor req/s | SQL Roster / floor "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    out += [_row(row) for row in rows]
    return "\n".join(out) + "\n"


def _ms(v: float | None) -> str:
    return f"{v:.2f}" if v is not None else "—"


def _row(row: dict) -> str:
    r, f = row["roster"], row["floor"] or {}
    floor_rps = f"{f['rps']:.0f}" if f else "—"
    floor_sql = row["floor_sql"] if row["floor_sql"] is not None else "—"
    return (
        f"| {row['db']} | {row['document']} | {row['role']} | {_ms(r['cpu_ms'])} | "
        f"{_ms(f.get('cpu_ms'))} | {_x(r['cpu_ms'], f.get('cpu_ms'))} | {_ms(r['db_ms'])} | "
        f"{_ms(f.get('db_ms'))} | {_x(r['db_ms'], f.get('db_ms'))} | {r['rps']:.0f} | "
        f"{floor_rps} | {row['sql']} / {floor_sql} | {r['errors'] + f.get('errors', 0)} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--out", default=str(ROOT / "bench" / "suite.md"))
    parser.add_argument("--documents", default=None, help="comma-separated document names")
    args = parser.parse_args(argv)
    args.documents = chosen_documents(args.documents)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    load = f"load average {load}, {os.cpu_count()} CPUs"
    print(load, f"(clock ticks {CLK_TCK}/s)")
    work = Path(tempfile.mkdtemp(prefix="roster-bench-")) / "run"
    work.mkdir()
    rows: list[dict] = []
    try:
        for kind in args.db.split(","):
            rows += bench_database(kind.strip(), args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = table(rows, args, f"{load}; after it: load average {after}")
    Path(args.out).write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
