"""The partner example (examples/partner): its generated client matches what the generator
makes from the committed schema and operations, and the integration works against a live
server."""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import make_api_token, make_staff_many, make_tenant, take_mail
from tests.security.live import live_server

ROOT = Path(__file__).resolve().parents[2]
PARTNER = ROOT / "examples" / "partner"
PACKAGE = "roster_client"


def generator() -> str:
    """The ariadne-codegen command: ROSTER_CODEGEN, else the one on PATH.

    It pins graphql-core below what the server needs, so it lives in an environment of its
    own (.ci/run makes one). Without it the drift check is skipped locally, but not in CI.
    """
    found = os.environ.get("ROSTER_CODEGEN") or shutil.which("ariadne-codegen")
    if not found:
        message = (
            "ariadne-codegen not found: install examples/partner/requirements-codegen.txt in "
            "an environment of its own and set ROSTER_CODEGEN to its ariadne-codegen"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def pinned_version() -> str:
    lines = (PARTNER / "requirements-codegen.txt").read_text().splitlines()
    (requirement,) = [line for line in lines if line.strip() and not line.startswith("#")]
    name, version = requirement.split("==")
    assert name == "ariadne-codegen"
    return version


def package_files(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text()
        for path in sorted(root.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def test_the_committed_client_is_what_the_generator_makes(tmp_path):
    command = generator()
    version = subprocess.run(
        [command, "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(rf"\b{re.escape(pinned_version())}\b", version), (
        f"the drift check needs ariadne-codegen {pinned_version()}, found: {version.strip()}"
    )
    # The same layout as the repository (the config's paths are relative to it), without
    # the committed package; the generator writes a new one next to the config.
    (tmp_path / "schema.graphql").write_bytes((ROOT / "schema.graphql").read_bytes())
    work = tmp_path / "examples" / "partner"
    shutil.copytree(PARTNER, work, ignore=shutil.ignore_patterns(PACKAGE, "__pycache__"))
    result = subprocess.run([command], cwd=work, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

    fresh = package_files(work / PACKAGE)
    committed = package_files(PARTNER / PACKAGE)
    assert sorted(committed) == sorted(fresh), "generated files differ; run ariadne-codegen"
    drift = [
        "".join(
            difflib.unified_diff(
                committed[name].splitlines(keepends=True),
                fresh[name].splitlines(keepends=True),
                f"committed/{name}",
                f"generated/{name}",
            )
        )
        for name in sorted(fresh)
        if committed[name] != fresh[name]
    ]
    assert not drift, (
        "examples/partner/roster_client is out of date with schema.graphql or "
        "queries.graphql; regenerate it (cd examples/partner && ariadne-codegen):\n"
        + "\n".join(drift)
    )


async def run_example(base: str, token: str, realm: str, *args: str) -> tuple[int, str, str]:
    """Run sync.py as a partner would: its own process, configured by the environment."""
    env = {**os.environ, "ROSTER_URL": base, "ROSTER_TOKEN": token, "ROSTER_REALM": realm}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PARTNER / "sync.py"),
        *args,
        env=env,
        cwd=PARTNER,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_partner_example_against_a_live_server(app, services):
    tenant = await make_tenant(services)
    await make_staff_many(
        services,
        tenant,
        [{"first_name": "Grace", "last_name": f"Partner{i}"} for i in range(1, 5)],
    )
    token = await make_api_token(services, tenant, tenant.owner)

    async with live_server(app) as base:
        code, out, err = await run_example(
            base,
            token,
            tenant.slug,
            "ada@example.com",
            "--first-name",
            "Ada",
            "--last-name",
            "Lovelace",
            "--page-size",
            "2",
        )
    assert code == 0, out + err
    lines = out.splitlines()

    # the owner and the four records, two to a page
    assert lines[0] == "staff: 5 of 5 listed in 3 page(s) of up to 2"
    listed = [line for line in lines if line.startswith("  #")]
    assert [line.split()[0] for line in listed] == ["#1", "#2", "#3", "#4", "#5"]
    assert "[OWNER]" in listed[0]
    for i in range(1, 5):
        assert any(f"Grace Partner{i} " in line for line in listed), listed

    invited = [line for line in lines if line.startswith("invited ")]
    assert len(invited) == 1 and invited[0].startswith("invited ada@example.com as VIEWER")
    invitation_id = invited[0].rsplit(" ", 1)[1]
    assert f"invitation {invitation_id}: PENDING, sent 1 time(s), expires " in out

    (mail,) = await take_mail(services)
    assert mail["To"] == "ada@example.com"


async def test_the_partner_example_reports_refused_invitations(app, services):
    tenant = await make_tenant(services)
    token = await make_api_token(services, tenant, tenant.owner)

    async with live_server(app) as base:
        code, out, err = await run_example(base, token, tenant.slug, "not-an-email")
    assert code == 1
    assert out.startswith("staff: 1 of 1 listed in 1 page(s) of up to 50")
    assert err.startswith("not invited: INVALID ")
