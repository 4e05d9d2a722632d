"""Benchmark: staff-list throughput with 1 and 2 worker processes on PostgreSQL.

    python -m bench.workers [--size 500] [--first 50] [--duration 10] [--rounds 2]
                            [--connections 8] [--postgres-url URL]

Seeds one account of ``--size`` staff (bench.seed; the database in ``--postgres-url`` is
dropped and created again), then for each round starts ``roster serve --workers 1`` and
``roster serve --workers 2`` in turn on loopback and drives each with wrk (bench.run's
load: the staff page of ``--first`` rows as the account's administrator) for
``--duration`` seconds after a warm-up. Prints requests per second, p50/p99 for each, and
the ratio of 2 workers to 1, with the machine's CPU count and load average: on a machine
whose cores are busy with other work the ratio says little. See README.md, "Benchmarks".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app.settings import usable_cpus
from bench.run import (
    POSTGRES_URL,
    Run,
    Server,
    free_port,
    page_body,
    post,
    start,
    wrk,
)
from bench.seed import seed


def serve(url: str, workers: int, work: Path) -> Server:
    port = free_port()
    env = {
        "ROSTER_DATABASE_URL": url,
        "ROSTER_EMAIL_RELAY_ENABLED": "false",
        "ROSTER_EMAIL_BACKEND": "memory",
        "ROSTER_ACCESS_LOG": "false",
    }
    argv = [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)]
    return start(f"roster-{workers}w", argv, env, port, work)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def measure(url: str, account, workers: int, args, work: Path) -> Run:
    server = serve(url, workers, work)
    server.token, server.realm = account.admin_token, account.slug
    try:
        body = page_body(args.first)
        deadline = time.monotonic() + 60
        while True:  # every process has started when the port answers GraphQL
            try:
                answer = post(server.url, body, server.token, server.realm)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if answer.get("errors"):
            raise SystemExit(f"the staff page failed: {answer['errors']}")
        wrk(server, body, 3, args.connections, work)  # warm-up (every worker, its caches)
        return wrk(server, body, args.duration, args.connections, work)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--first", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)

    print(
        f"machine: os.cpu_count()={os.cpu_count()}, usable by this process={usable_cpus()}, "
        f"load average {load()} (before)"
    )
    print(f"seeding one account of {args.size} staff ...", flush=True)
    [account] = seed(args.postgres_url, [args.size])
    runs: dict[int, list[Run]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="roster-bench-workers-") as tmp:
        work = Path(tmp)
        for round_no in range(1, args.rounds + 1):
            for workers in (1, 2):  # side by side, round after round
                run = measure(args.postgres_url, account, workers, args, work)
                runs[workers].append(run)
                print(
                    f"round {round_no}, {workers} worker(s): {run.rps:8.1f} req/s  "
                    f"p50 {run.p50:6.2f} ms  p99 {run.p99:6.2f} ms  errors {run.errors}  "
                    f"(load average {load()})",
                    flush=True,
                )
    rps = {w: statistics.median(r.rps for r in runs[w]) for w in runs}
    print(
        f"\nstaff page first={args.first} of {args.size} staff, wrk {args.connections} "
        f"connections, {args.duration:g} s x {args.rounds} rounds (median):"
    )
    print(f"  1 worker : {rps[1]:8.1f} req/s")
    print(f"  2 workers: {rps[2]:8.1f} req/s")
    print(f"  ratio 2/1: {rps[2] / rps[1]:.2f}")
    print(f"os.cpu_count()={os.cpu_count()}; load average {load()} (after; wrk shares the CPUs)")


if __name__ == "__main__":
    main()
