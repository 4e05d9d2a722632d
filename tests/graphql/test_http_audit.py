"""The GraphQL over HTTP specification's own audit suite (graphql-http's ``serverAudits``,
tests/http_audit/) run against a live server: no MUST audit may fail.

The script's packages are installed with ``npm ci --prefix tests/http_audit`` (CI does it);
without node the test is skipped, without the installed packages it fails."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.security.live import live_server

AUDIT = Path(__file__).parent.parent / "http_audit"


async def run_audit(url: str) -> tuple[int, str]:
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        str(AUDIT / "audit.mjs"),
        url,
        cwd=AUDIT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, output.decode()


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_no_must_audit_of_graphql_over_http_fails(app):
    assert (AUDIT / "node_modules" / "graphql-http").is_dir(), (
        "run `npm ci --prefix tests/http_audit` first"
    )
    async with live_server(app) as base:
        code, output = await run_audit(f"{base}/graphql")
    print(output)
    failed_must = [line for line in output.splitlines() if "\terror\tMUST" in line]
    assert failed_must == [] and code == 0, output
    summary = next(line for line in output.splitlines() if line.startswith("SUMMARY "))
    counts = json.loads(summary.removeprefix("SUMMARY "))
    assert counts.get("MUST passed", 0) > 0 and "MUST failed" not in counts
    # what Roster answers as the specification recommends (see the README for the rest)
    passing = {line.split("\t")[0] for line in output.splitlines() if "\tok\t" in line}
    assert {"22EB", "4655", "47DE", "80D8", "82A3"} <= passing
