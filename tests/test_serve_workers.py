"""``roster serve --workers N``: migrated once, then N processes answer on one port
(PostgreSQL); SQLite is served by one process and --workers is refused."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.factories import free_port
from tests.test_cli import roster

ROOT = Path(__file__).resolve().parent.parent
PID = re.compile(r'^roster_process_info\{pid="(\d+)"\} 1\.0$', re.MULTILINE)


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def serve(database_url: str, port: int, workers: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env.update(ROSTER_DATABASE_URL=database_url, ROSTER_ACCESS_LOG="false")
    return subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--workers", str(workers), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_serve_with_two_workers_answers_from_two_processes(backend, database_url):
    if backend != "postgresql":
        pytest.skip("several workers are for PostgreSQL")
    port = free_port()
    server = serve(database_url, port, workers=2)
    pids: set[int] = set()
    try:
        # a fresh connection per request: the two processes accept in turn from one socket
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as http:
            deadline = time.monotonic() + 90
            while len(pids) < 2:
                assert time.monotonic() < deadline, f"answers came from {pids} only"
                assert server.poll() is None, server.stderr.read().decode()  # type: ignore[union-attr]

                async def scrape() -> int | None:
                    try:
                        response = await http.get("/metrics")
                    except httpx.TransportError:  # not listening yet
                        await asyncio.sleep(0.2)
                        return None
                    assert response.status_code == 200
                    [pid] = PID.findall(response.text)
                    return int(pid)

                pids |= {p for p in await asyncio.gather(*(scrape() for _ in range(8))) if p}
            answer = await http.post("/graphql", json={"query": "{ __typename }"})
            assert answer.json() == {"data": {"__typename": "Query"}}
        assert all(parent_of(pid) == server.pid for pid in pids)  # children of `roster serve`
        assert server.pid not in pids  # the supervisor serves nothing itself
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert len(pids) == 2


async def test_serve_refuses_several_workers_on_sqlite(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
    code, out, err = await roster("serve", "--workers", "2", database_url=url)
    assert code == 2
    assert "--workers needs PostgreSQL" in err and "one process" in err
    assert "Traceback" not in err
    assert not (tmp_path / "roster.db").exists()  # refused before anything was done
