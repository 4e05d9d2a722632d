"""Benchmark: does a large export slow the other requests of the same server?

    python -m bench.export_interference [--size 100000] [--db sqlite,postgresql]
                                        [--duration 10] [--postgres-url URL]

Per database: seeds one account of ``--size`` staff (with SSN and salary encrypted, so the
export decrypts two secrets a row, as a real one does), starts one Roster process on
loopback, and times a staff page (``staff(first: 50)``, 1 client, back to back) for
``--duration`` seconds alone, then for as long again while ``curl`` downloads
``/export/staff.csv`` back to back. Prints p50/p99 of both, their ratio, and the export's
own time and size. See README.md, "Benchmarks".
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.live import Timings, database_url, headers, roster, seeded, timed_post
from bench.run import POSTGRES_URL, page_body


def export_once(base: str, account) -> tuple[float, int]:
    """One download of staff.csv with curl: (seconds, bytes)."""
    argv = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}"]
    for name, value in headers(account).items():
        argv += ["-H", f"{name}: {value}"]
    started = time.perf_counter()
    out = subprocess.run(
        [*argv, f"{base}/export/staff.csv"], capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, int(float(out.stdout or 0))


async def page_timings(base: str, account, seconds: float) -> Timings:
    timings = Timings([])
    async with httpx.AsyncClient(base_url=base, headers=headers(account), timeout=60) as client:
        for _ in range(20):  # warm up
            await timed_post(client, page_body(50), Timings([]))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await timed_post(client, page_body(50), timings)
    return timings


def measure(kind: str, args, work: Path) -> dict:
    url = database_url(kind, work, args.postgres_url)
    print(f"\n== {kind}: seeding {args.size} staff ...", flush=True)
    account = seeded(url, args.size, secrets=True)
    with roster(url, work) as server:
        base = f"http://127.0.0.1:{server.port}"
        export_seconds, size = export_once(base, account)
        print(f"{kind}: one export alone: {export_seconds:.1f} s, {size / 1e6:.1f} MB", flush=True)
        alone = asyncio.run(page_timings(base, account, args.duration))

        stop = threading.Event()
        exports: list[float] = []

        def exporting() -> None:
            while not stop.is_set():
                exports.append(export_once(base, account)[0])

        thread = threading.Thread(target=exporting)
        thread.start()
        time.sleep(0.5)  # the export is under way
        try:
            during = asyncio.run(page_timings(base, account, args.duration))
        finally:
            stop.set()
            thread.join()
    row = {
        "db": kind,
        "staff": args.size,
        "alone": alone,
        "during": during,
        "export_s": export_seconds,
        "exports_during": exports,
        "ratio": during.p99 / alone.p99,
    }
    print(
        f"{kind:10} page alone p50 {alone.p50:7.2f} ms p99 {alone.p99:7.2f} ms "
        f"({len(alone.seconds)} req) | during export p50 {during.p50:7.2f} ms "
        f"p99 {during.p99:7.2f} ms ({len(during.seconds)} req) | p99 ratio {row['ratio']:.2f}x "
        f"| exports {', '.join(f'{s:.1f}' for s in exports)} s",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.export_interference", description=__doc__
    )
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    if not shutil.which("curl"):
        raise SystemExit("curl is needed")
    work = Path(tempfile.mkdtemp(prefix="roster-bench-"))
    rows = []
    try:
        for kind in args.db.split(","):
            rows.append(measure(kind.strip(), args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nstaff page (first: 50, 1 client) alone and while staff.csv of {args.size} "
        "staff streams:\n\n| db | p50 alone ms | p99 alone ms | p50 during ms "
        "| p99 during ms | p99 ratio | one export s |\n|---|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['db']} | {r['alone'].p50:.2f} | {r['alone'].p99:.2f} | "
            f"{r['during'].p50:.2f} | {r['during'].p99:.2f} | {r['ratio']:.2f}x | "
            f"{r['export_s']:.1f} |"
            + (f" {r['alone'].errors + r['during'].errors} errors" if r["alone"].errors
               or r["during"].errors else "")
        )


if __name__ == "__main__":
    main()
