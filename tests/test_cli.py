"""The ``roster`` command line, run as a separate process like an operator would."""

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.identity.test_login import LOGIN

ROOT = Path(__file__).resolve().parent.parent
OWNER_PASSWORD = "a long owner password"


async def roster(*args: str, **env: str) -> tuple[int, str, str]:
    """Run ``python -m app ARGS`` with only the given ROSTER_ settings in its environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    clean.update(
        ROSTER_ARGON2_MEMORY_COST="1024",
        ROSTER_ARGON2_TIME_COST="1",
        **{f"ROSTER_{k.upper()}": v for k, v in env.items()},
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        cwd=ROOT,
        env=clean,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_account_create_prints_json_and_the_owner_can_log_in(api, database_url):
    code, out, err = await roster(
        "account",
        "create",
        "--name",
        "Acme Widgets",
        "--owner-email",
        " Boss@Acme.test ",
        "--owner-password",
        OWNER_PASSWORD,
        database_url=database_url,
    )
    assert code == 0, err
    result = json.loads(out)  # exactly one JSON object, nothing else on stdout
    assert isinstance(result, dict)
    assert {"account_id", "slug", "owner_user_id"} <= result.keys()
    assert isinstance(result["account_id"], int) and isinstance(result["owner_user_id"], int)
    assert result["slug"] == "acme-widgets"

    data = await api.data(LOGIN, {"email": "boss@acme.test", "password": OWNER_PASSWORD})
    login = data["login"]
    assert login["userErrors"] == []
    assert login["token"]
    assert login["accounts"] == [{"slug": result["slug"], "role": "OWNER"}]


async def test_account_create_with_slug_and_bad_input(api, database_url):
    code, out, err = await roster(
        "account",
        "create",
        "--name",
        "Beta",
        "--slug",
        "beta-co",
        "--owner-email",
        "b@beta.test",
        "--owner-password",
        OWNER_PASSWORD,
        database_url=database_url,
    )
    assert code == 0, err
    assert json.loads(out)["slug"] == "beta-co"

    code, out, err = await roster(
        "account",
        "create",
        "--name",
        "Gamma",
        "--slug",
        "beta-co",
        "--owner-email",
        "g@gamma.test",
        "--owner-password",
        OWNER_PASSWORD,
        database_url=database_url,
    )
    assert code != 0
    assert out == ""
    assert "error:" in err

    code, out, err = await roster(
        "account",
        "create",
        "--name",
        "Delta",
        "--owner-email",
        "b@beta.test",
        "--owner-password",
        "not the password",
        database_url=database_url,
    )
    assert code != 0, "an existing user must give their own password"
    assert out == ""


async def test_export_schema_matches_the_committed_schema():
    code, out, err = await roster("export-schema")
    assert code == 0, err
    committed = (ROOT / "schema.graphql").read_text()
    assert out == committed, (
        "schema.graphql is out of date: run `python -m app export-schema > schema.graphql`"
    )


async def test_production_refuses_default_secrets(tmp_path):
    database = tmp_path / "prod.db"
    code, out, err = await roster(
        "migrate", env="production", database_url=f"sqlite+aiosqlite:///{database}"
    )
    assert code != 0
    assert "ROSTER_SECRET_KEY" in err
    assert "ROSTER_ENCRYPTION_KEYS" in err
    assert "Traceback" not in err
    assert not database.exists(), "nothing may be touched before the secrets are fixed"


async def test_production_accepts_real_secrets(tmp_path):
    database = tmp_path / "prod.db"
    code, _, err = await roster(
        "migrate",
        env="production",
        database_url=f"sqlite+aiosqlite:///{database}",
        secret_key="s" * 48,
        encryption_keys="k1:" + "A" * 43,
    )
    assert code == 0, err
    assert database.exists()


async def test_account_import_restores_a_backup_and_refuses_a_bad_one(
    services, settings, database_url, tmp_path
):
    from tests.factories import make_people

    tenant, _, _ = await make_people(services)
    keys = {"database_url": database_url, "encryption_keys": settings.encryption_keys}
    backup = tmp_path / "account.json"
    code, _, err = await roster("account", "export", "--slug", tenant.slug,
                                "--output", str(backup), **keys)  # fmt: skip
    assert code == 0, err

    code, out, err = await roster("account", "import", str(backup), "--slug", "restored", **keys)
    assert code == 0, err
    result = json.loads(out)
    assert result["slug"] == "restored" and result["counts"]["staff"] == 3

    code, out, err = await roster("account", "import", str(backup), **keys)
    assert code == 1 and out == ""
    assert (
        err.strip()
        == f"error: the account slug '{tenant.slug}' is taken (choose another with --slug)"
    )  # noqa: E501

    broken = tmp_path / "broken.json"
    broken.write_bytes(backup.read_bytes()[:-5])
    code, out, err = await roster("account", "import", str(broken), "--slug", "never", **keys)
    assert code == 1 and out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: not a JSON document")
