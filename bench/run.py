"""Benchmark: Roster's staff list against a hand-written floor and PostGraphile v4.

    python -m bench.run [--sizes 50,500,5000] [--db sqlite,postgresql] [--pages 50,100]
                        [--rounds 3] [--duration 5] [--connections 4]

Each server is its own single uvicorn (or node) process on loopback; wrk drives it from a
separate process. See README.md, "Benchmarks".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from app.db.statements import StatementCounter
from bench import floor
from bench.queries import LOGIN_MUTATION, PAGE_QUERY, POSTGRAPHILE_QUERY
from bench.seed import PASSWORD, BenchAccount, seed

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
NODE_DIR = BENCH / "node"
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def peak_memory_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    statements: str = "?"
    body: dict = field(default_factory=dict)
    token: str = ""
    realm: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(name: str, argv: list[str], env: dict, port: int, log_dir: Path) -> Server:
    log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
    proc = subprocess.Popen(
        argv, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited early; see {log_dir / (name + '.log')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return Server(name, port, proc)
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{name} did not start listening on port {port}")


def uvicorn(name: str, target: str, env: dict, log_dir: Path) -> Server:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return start(name, argv, env, port, log_dir)


def postgraphile_cli() -> Path | None:
    """PostGraphile v4's CLI under bench/node, installed with npm when missing."""
    cli = NODE_DIR / "node_modules" / "postgraphile" / "cli.js"
    if cli.exists():
        return cli
    if not (shutil.which("npm") and shutil.which("node")):
        print("note: npm/node not available, PostGraphile skipped")
        return None
    NODE_DIR.mkdir(exist_ok=True)
    print("installing postgraphile@4 with npm into bench/node ...")
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "postgraphile@4"],
        cwd=NODE_DIR,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not cli.exists():
        print("note: npm install postgraphile@4 failed, PostGraphile skipped")
        return None
    return cli


async def postgraphile_names(url: str) -> None:
    """Smart comments on the benchmark database only: the staff.manager_id foreign key's
    forward and backward relations would otherwise both be called staffByManagerId."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(
            "COMMENT ON CONSTRAINT fk_staff_manager_id_staff ON staff "
            "IS E'@fieldName manager\\n@foreignFieldName reports'"
        )
    finally:
        await conn.close()


# --- requests --------------------------------------------------------------------------


def post(url: str, body: dict, token: str = "", realm: str = "") -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if realm:
        headers["X-Auth-Realm"] = realm
    req = urllib.request.Request(url, orjson.dumps(body), headers, method="POST")
    with urllib.request.urlopen(req, timeout=30) as response:
        return orjson.loads(response.read())


def page_body(first: int) -> dict:
    return {"query": PAGE_QUERY, "variables": {"first": first}, "operationName": "Page"}


def postgraphile_body(first: int, account_id: int) -> dict:
    return {
        "query": POSTGRAPHILE_QUERY,
        "variables": {"first": first, "accountId": account_id},
        "operationName": "Page",
    }


async def _roster_statements(url: str, account: BenchAccount, pages: list[int]) -> dict:
    """Roster's SQL statements per page request, counted in-process on the same database."""
    import httpx

    from app.main import create_app
    from app.settings import Settings

    app = create_app(Settings(database_url=url, email_relay_enabled=False))
    services = app.state.services
    headers = {"Authorization": f"Bearer {account.admin_token}", "X-Auth-Realm": account.slug}
    counts = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for first in pages:
                await client.post("/graphql", json=page_body(first), headers=headers)
                with StatementCounter(services.db.engine) as counter:
                    response = await client.post("/graphql", json=page_body(first), headers=headers)
                assert not response.json().get("errors"), response.text
                counts[first] = counter.count
    finally:
        await services.close()
    return counts


# --- wrk -------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)([a-z]+)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


@dataclass
class Run:
    requests: int
    seconds: float
    p50: float
    p99: float
    cpu: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_command(
    server_url: str,
    body: dict,
    token: str,
    realm: str,
    duration: float,
    connections: int,
    work: Path,
) -> tuple[list[str], dict]:
    body_file = work / f"body-{abs(hash(orjson.dumps(body)))}.json"
    body_file.write_bytes(orjson.dumps(body))
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{int(round(duration))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(BENCH / "post.lua"),
        server_url,
    ]
    env = {
        **os.environ,
        "BENCH_BODY_FILE": str(body_file),
        "BENCH_TOKEN": token,
        "BENCH_REALM": realm,
    }
    return argv, env


def parse_wrk(output: str) -> tuple[int, float, float, float, int]:
    requests, seconds = re.search(r"(\d+) requests in ([\d.]+)(\w+),", output).groups()[:2]
    unit = re.search(r"requests in [\d.]+(\w+),", output).group(1)
    seconds = _ms(f"{seconds}{unit}") / 1000
    # Latency Distribution; wrk pads some values (seconds) with a trailing space
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.M))
    p50 = _ms(percentiles.get("50", ""))
    p99 = _ms(percentiles.get("99", ""))
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: .*?timeout (\d+)"):
        if m := re.search(pattern, output):
            errors += int(m.group(1))
    return int(requests), seconds, p50, p99, errors


def wrk(server: Server, body: dict, duration: float, connections: int, work: Path) -> Run:
    argv, env = wrk_command(
        server.url, body, server.token, server.realm, duration, connections, work
    )
    before = cpu_seconds(server.proc.pid)
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60)
    cpu = cpu_seconds(server.proc.pid) - before
    if out.returncode != 0:
        raise SystemExit(f"wrk failed: {out.stdout} {out.stderr}")
    requests, seconds, p50, p99, errors = parse_wrk(out.stdout)
    return Run(requests, seconds, p50, p99, cpu, errors)


def _median(values) -> float:
    known = [v for v in values if v == v]  # a round wrk printed no percentile is left out
    return statistics.median(known) if known else float("nan")


def summarise(runs: list[Run]) -> dict:
    requests = sum(r.requests for r in runs)
    return {
        "rps": requests / sum(r.seconds for r in runs),
        "p50": _median(r.p50 for r in runs),
        "p99": _median(r.p99 for r in runs),
        "cpu_ms": 1000 * sum(r.cpu for r in runs) / max(requests, 1),
        "errors": sum(r.errors for r in runs),
    }


# --- the benchmark ---------------------------------------------------------------------


def normalised(body: dict) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def check_identical(roster: Server, floor_server: Server, account, first: int) -> None:
    a = post(roster.url, page_body(first), account.admin_token, account.slug)
    b = post(floor_server.url, page_body(first), account.admin_token, account.slug)
    if a.get("errors") or normalised(a) != normalised(b):
        Path("bench-mismatch-roster.json").write_bytes(orjson.dumps(a, option=orjson.OPT_INDENT_2))
        Path("bench-mismatch-floor.json").write_bytes(orjson.dumps(b, option=orjson.OPT_INDENT_2))
        raise SystemExit(
            f"MISMATCH: Roster and the floor differ for {account.slug} first={first} "
            "(see bench-mismatch-*.json)"
        )


def check_postgraphile(server: Server, account, first: int) -> bool:
    try:
        out = post(server.url, postgraphile_body(first, account.account_id))
    except OSError as exc:
        print(f"note: PostGraphile did not answer ({exc}), skipped; see its log")
        return False
    if out.get("errors"):
        print(f"note: PostGraphile query failed, skipped: {out['errors'][0].get('message')}")
        return False
    edges = out["data"]["allStaff"]["edges"]
    expected = min(first, account.size + 2)  # + owner and administrator
    if len(edges) != expected:
        print(f"note: PostGraphile returned {len(edges)} rows, expected {expected}; skipped")
        return False
    return True


def bench_database(kind: str, args, work: Path, rows: list[dict], extras: list[str]) -> None:
    url = f"sqlite+aiosqlite:///{work / 'bench.db'}" if kind == "sqlite" else POSTGRES_URL
    print(f"\n== {kind}: seeding {args.sizes} staff ...", flush=True)
    accounts = seed(url, args.sizes)
    statements = {a.size: asyncio.run(_roster_statements(url, a, args.pages)) for a in accounts}
    env = {
        "ROSTER_DATABASE_URL": url,
        "ROSTER_EMAIL_RELAY_ENABLED": "false",
        "ROSTER_EMAIL_BACKEND": "memory",
        # The login flood comes from one address: without this it would soon be refused
        # by the per-address limit instead of hashing, and measure nothing about argon2.
        "ROSTER_RATE_LIMITS": '{"login_address": 1000000}',
        "BENCH_DATABASE_URL": url,
    }
    servers: list[Server] = []
    try:
        roster = uvicorn("roster", "app.main:create_app", env, work)
        servers.append(roster)
        floor_server = uvicorn("floor", "bench.floor:create_app", env, work)
        servers.append(floor_server)
        pg = None
        if kind == "postgresql" and (cli := postgraphile_cli()):
            asyncio.run(postgraphile_names(url))
            port = free_port()
            pg = start(
                "postgraphile",
                [
                    "node",
                    str(cli),
                    "-c",
                    url.replace("+asyncpg", ""),
                    "-s",
                    "public",
                    "-n",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "--disable-query-log",
                    "--disable-default-mutations",
                ],
                {"NODE_ENV": "production"},
                port,
                work,
            )
            servers.append(pg)
            time.sleep(2)  # introspection happens after the port opens
        for account in accounts:
            for first in args.pages:
                check_identical(roster, floor_server, account, first)
        print("check: Roster and the floor return identical data for every size and page")
        if pg is not None and not all(
            check_postgraphile(pg, a, f) for a in accounts for f in args.pages
        ):
            pg.stop()
            servers.remove(pg)
            pg = None

        contenders = [s for s in (roster, floor_server, pg) if s is not None]
        for account in accounts:
            for first in args.pages:
                bodies = {
                    "roster": page_body(first),
                    "floor": page_body(first),
                    "postgraphile": postgraphile_body(first, account.account_id),
                }
                counts = {
                    "roster": str(statements[account.size][first]),
                    "floor": str(floor.STATEMENTS_PER_REQUEST),
                    "postgraphile": "1 (by design)",
                }
                for s in contenders:
                    s.token, s.realm = ("", "") if s is pg else (account.admin_token, account.slug)
                runs: dict[str, list[Run]] = {s.name: [] for s in contenders}
                for r in range(args.rounds):
                    order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]
                    for s in order:
                        runs[s.name].append(
                            wrk(s, bodies[s.name], args.duration, args.connections, work)
                        )
                summary = {name: summarise(rs) for name, rs in runs.items()}
                base = summary["floor"]
                for s in contenders:
                    m = summary[s.name]
                    rows.append(
                        {
                            "db": kind,
                            "staff": account.size,
                            "page": first,
                            "server": s.name,
                            **m,
                            "sql": counts[s.name],
                            "peak_mb": peak_memory_mb(s.proc.pid),
                            "cpu_x": m["cpu_ms"] / base["cpu_ms"] if base["cpu_ms"] else 0,
                            "rps_x": m["rps"] / base["rps"] if base["rps"] else 0,
                        }
                    )
                    print(
                        f"{kind:10} staff={account.size:<5} first={first:<3} {s.name:12} "
                        f"{m['rps']:8.1f} req/s p50 {m['p50']:7.2f} ms p99 {m['p99']:7.2f} ms "
                        f"cpu {m['cpu_ms']:6.2f} ms/req sql {counts[s.name]}",
                        flush=True,
                    )
        logins(kind, roster, accounts, args, work, extras)
    finally:
        for s in servers:
            s.stop()


def logins(kind: str, roster: Server, accounts, args, work: Path, extras: list[str]) -> None:
    """Login throughput (argon2id), and the staff list's p99 with and without a login flood."""
    account = accounts[min(1, len(accounts) - 1)]
    login = {
        "query": LOGIN_MUTATION,
        "variables": {"email": account.admin_email, "password": PASSWORD},
        "operationName": "Login",
    }
    out = post(roster.url, login)
    assert out["data"]["login"]["token"], out
    roster.token, roster.realm = "", ""
    login_runs = [wrk(roster, login, args.duration, args.connections, work)]
    lm = summarise(login_runs)
    roster.token, roster.realm = account.admin_token, account.slug
    alone: list[Run] = []
    flooded: list[Run] = []
    list_body = page_body(50)
    for _ in range(args.rounds):
        alone.append(wrk(roster, list_body, args.duration, 2, work))
        argv, env = wrk_command(roster.url, login, "", "", args.duration + 2, 8, work)
        flood = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1)
        flooded.append(wrk(roster, list_body, args.duration, 2, work))
        flood.communicate(timeout=args.duration + 60)
    a, f = summarise(alone), summarise(flooded)
    extras.append(
        f"| {kind} | {lm['rps']:.1f} | {lm['p50']:.0f} | {lm['p99']:.0f} | "
        f"{lm['cpu_ms']:.0f} | {a['p99']:.2f} | {f['p99']:.2f} | {f['p99'] / a['p99']:.2f}x | "
        f"{a['rps']:.0f} / {f['rps']:.0f} |"
    )
    print(extras[-1], flush=True)


def table(rows: list[dict], extras: list[str], command: str) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{command}`",
        "",
        "Staff list page (`staff(first: N)`, administrator, ~25 scalar fields + manager name + "
        "custom fields). `first` is capped at 100, so the largest page is 100 rows. CPU is the "
        "server process only (not the database); PostGraphile's SQL count is its documented "
        "one statement per query. ×floor: CPU per request and throughput relative to the floor.",
        "",
        "| db | staff | page | server | req/s | p50 ms | p99 ms | CPU ms/req | SQL/req "
        "| peak MB | CPU ×floor | req/s ×floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['db']} | {r['staff']} | {r['page']} | {r['server']} | {r['rps']:.0f} | "
            f"{r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_ms']:.2f} | {r['sql']} | "
            f"{r['peak_mb']:.0f} | {r['cpu_x']:.2f} | {r['rps_x']:.2f} |"
            + (f" {r['errors']} errors" if r["errors"] else "")
        )
    if extras:
        lines += [
            "",
            "Logins (argon2id, default parameters) and the staff list (first: 50, 2 "
            "connections) alone and while 8 connections flood `login`:",
            "",
            "| db | logins/s | login p50 ms | login p99 ms | login CPU ms | list p99 alone ms "
            "| list p99 flooded ms | p99 ratio | list req/s alone / flooded |",
            "|---|---|---|---|---|---|---|---|---|",
            *extras,
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--sizes", default="50,500,5000")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--pages", default="50,100")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.pages = [int(p) for p in args.pages.split(",")]
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    rows: list[dict] = []
    extras: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="roster-bench-"))
    try:
        for kind in args.db.split(","):
            bench_database(kind.strip(), args, work, rows, extras)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = table(rows, extras, command.strip())
    (BENCH / "results.md").write_text(out)
    print("\n" + out)


if __name__ == "__main__":
    main()
