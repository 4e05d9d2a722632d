"""The ``roster`` command line, run as a separate process like an operator would."""

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.identity.test_login import LOGIN

ROOT = Path(__file__).resolve().parent.parent
OWNER_PASSWORD = "a long owner password"


async def roster(*args: str, stdin: str | None = None, **env: str) -> tuple[int, str, str]:
    """Run ``python -m app ARGS`` with only the given ROSTER_ settings in its environment
    (and ``stdin`` as its standard input, else none)."""
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
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(None if stdin is None else stdin.encode())
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

    for seats in ("0", "100001"):  # a custom plan's seats, as changePlan and a restore take
        code, out, err = await roster(
            "account", "create", "--name", f"Seats {seats}", "--seats", seats,
            "--owner-email", f"seats{seats}@beta.test", "--owner-password", OWNER_PASSWORD,
            database_url=database_url,
        )  # fmt: skip
        assert (code != 0, out) == (True, ""), err
        assert "1 to 100000 seats" in err


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
        public_url="https://roster.example",
        email_backend="smtp",
    )
    assert code == 0, err
    assert database.exists()


async def test_production_refuses_an_email_backend_that_sends_nothing(tmp_path):
    """The default backend (console) prints emails, live links included, to the log: in
    production only smtp, unless the operator says otherwise."""
    database = tmp_path / "prod.db"
    ready = dict(env="production", database_url=f"sqlite+aiosqlite:///{database}",
                 secret_key="s" * 48, encryption_keys="k1:" + "A" * 43,
                 public_url="https://roster.example")  # fmt: skip
    line = one_line_error(*await roster("migrate", **ready))
    assert line == (
        "error: ROSTER_EMAIL_BACKEND must be smtp, not console (which keeps the live links of "
        "emails in logs, files or memory and sends nothing), unless "
        "ROSTER_EMAIL_ALLOW_NON_SMTP_IN_PRODUCTION=true"
    )
    assert not database.exists()
    code, _, err = await roster(
        "migrate", **ready, email_backend="file", email_allow_non_smtp_in_production="true"
    )
    assert code == 0, err


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

    # an edited backup: refused, unless the operator restores it knowingly unsigned
    edited = tmp_path / "edited.json"
    document = json.loads(backup.read_bytes())
    document["auditLog"] = []
    edited.write_text(json.dumps(document))
    code, out, err = await roster("account", "import", str(edited), "--slug", "edited", **keys)
    assert code == 1 and out == ""
    assert "signature does not match" in err and "--unsigned" in err
    code, out, err = await roster(
        "account", "import", str(edited), "--slug", "edited", "--unsigned", **keys
    )
    assert code == 0, err
    assert json.loads(out)["counts"]["auditLog"] == 0


async def test_a_backup_taken_at_the_console_is_in_the_audit_log(
    services, settings, database_url, tmp_path
):
    from sqlalchemy import select

    from app.audit.models import AuditEntry
    from tests.factories import make_people

    tenant, _, _ = await make_people(services)
    keys = {"database_url": database_url, "encryption_keys": settings.encryption_keys}
    code, _, err = await roster("account", "export", "--slug", tenant.slug,
                                "--output", str(tmp_path / "account.json"), **keys)  # fmt: skip
    assert code == 0, err
    async with services.db.session() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.account_id == tenant.account_id,
                    AuditEntry.action.like("accountBackup%"),
                )
            )
        )
    assert [(e.action, e.actor_user_id, e.actor_staff_id) for e in entries] == [
        ("accountBackupWithPersonalData", None, None)  # by no member: at the console
    ]


def one_line_error(code: int, out: str, err: str) -> str:
    """What a refused command printed: exit status 2, nothing on stdout, one error line."""
    assert code == 2 and out == "", (code, out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: "), err
    return err.strip()


async def test_version():
    from importlib.metadata import version

    code, out, err = await roster("--version")
    assert code == 0, err
    assert out == f"roster {version('roster')}\n"


async def test_account_create_on_a_fresh_database_migrates_first(api, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
    code, out, err = await roster(
        "account", "create", "--name", "Fresh", "--owner-email", "fresh@acme.test",
        "--owner-password-stdin", stdin=OWNER_PASSWORD + "\n", database_url=url,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["slug"] == "fresh"
    assert err == "", "a password from stdin is not warned about"
    code, out, err = await roster("account", "export", "--slug", json.loads(out)["slug"],
                                  database_url=url)  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["account"]["name"] == "Fresh"


async def test_commands_that_read_say_to_migrate_a_fresh_database(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    for command in (["account", "export", "--slug", "x"], ["keys", "rotate"],
                    ["email", "relay", "--once"]):  # fmt: skip
        line = one_line_error(*await roster(*command, database_url=url))
        assert line == "error: the database has no Roster tables yet: run `roster migrate` first"


async def test_owner_password_from_the_environment_and_refused_when_missing(api, database_url):
    create = ("account", "create", "--name", "Env Co", "--owner-email", "env@acme.test")
    line = one_line_error(*await roster(*create, database_url=database_url))
    assert "--owner-password-stdin" in line and "ROSTER_OWNER_PASSWORD" in line
    assert (await api.data(LOGIN, {"email": "env@acme.test", "password": OWNER_PASSWORD}))["login"][
        "token"
    ] is None, "nothing was created"

    code, out, err = await roster(*create, database_url=database_url,
                                  owner_password=OWNER_PASSWORD)  # fmt: skip
    assert code == 0 and err == "", err
    login = await api.data(LOGIN, {"email": "env@acme.test", "password": OWNER_PASSWORD})
    assert login["login"]["accounts"] == [{"slug": json.loads(out)["slug"], "role": "OWNER"}]


async def test_owner_password_on_the_command_line_still_works_with_a_warning(database_url):
    code, out, err = await roster(
        "account", "create", "--name", "Flag Co", "--owner-email", "flag@acme.test",
        "--owner-password", OWNER_PASSWORD, database_url=database_url,
    )  # fmt: skip
    assert code == 0 and json.loads(out)["slug"]
    assert err.startswith("warning: --owner-password is visible in shell history")


async def test_owner_password_is_asked_for_twice_on_a_terminal(api, database_url):
    """On a terminal the password is prompted for (not echoed) and asked again."""
    import pty

    leader, follower = pty.openpty()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    clean.update(ROSTER_DATABASE_URL=database_url, ROSTER_ARGON2_MEMORY_COST="1024",
                 ROSTER_ARGON2_TIME_COST="1")  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "account", "create", "--name", "Tty Co",
        "--owner-email", "tty@acme.test",
        cwd=ROOT, env=clean, stdin=follower, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,  # no other terminal to ask on
    )  # fmt: skip
    os.close(follower)
    assert process.stderr is not None
    asked = b""
    for prompt in (b"Owner's password: ", b"Repeat for confirmation: "):  # on stderr
        while not asked.endswith(prompt):
            chunk = await asyncio.wait_for(process.stderr.read(1), 30)
            assert chunk, asked
            asked += chunk
        await asyncio.sleep(0.2)  # its last space comes once echo is off
        os.write(leader, (OWNER_PASSWORD + "\n").encode())
    out, err = await asyncio.wait_for(process.communicate(), 60)
    os.close(leader)
    assert process.returncode == 0, err
    assert OWNER_PASSWORD not in (asked + err).decode()
    login = await api.data(LOGIN, {"email": "tty@acme.test", "password": OWNER_PASSWORD})
    assert login["login"]["accounts"] == [{"slug": json.loads(out)["slug"], "role": "OWNER"}]


async def test_bad_database_urls_and_settings_are_one_line(tmp_path):
    line = one_line_error(*await roster("migrate", database_url="mysql://u@db.example/x"))
    assert line.startswith("error: ROSTER_DATABASE_URL: not a database URL Roster can use")
    line = one_line_error(*await roster("migrate",
                                        database_url=f"sqlite:///{tmp_path}/no/such/dir/x.db"))  # fmt: skip
    assert line == (
        f"error: cannot open the database sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db: "
        f"there is no directory {tmp_path}/no/such/dir"
    )
    line = one_line_error(*await roster("migrate", smtp_port="twenty-five"))
    assert line.startswith("error: ROSTER_SMTP_PORT: Input should be a valid integer")
    line = one_line_error(*await roster("migrate", cors_origins="https://app.example"))
    assert (
        line
        == "error: ROSTER_CORS_ORIGINS: not valid JSON (lists and mappings are written as JSON)"
    )


async def test_sync_and_short_database_urls_are_understood(tmp_path):
    database = tmp_path / "plain.db"
    code, out, err = await roster("migrate", database_url=f"sqlite:///{database}")
    assert code == 0, err
    assert database.exists()


@pytest.mark.skipif(not os.environ.get("ROSTER_TEST_DATABASE_URL"), reason="PostgreSQL only")
async def test_postgres_urls_and_a_missing_database():
    from sqlalchemy.engine import make_url

    base = make_url(os.environ["ROSTER_TEST_DATABASE_URL"]).set(drivername="postgres")
    missing = base.set(database="roster_no_such_database", password="hush")
    line = one_line_error(
        *await roster("migrate", database_url=missing.render_as_string(hide_password=False))
    )
    assert line.startswith("error: cannot open the database postgresql+asyncpg://")
    assert '"roster_no_such_database" does not exist' in line and "hush" not in line
    refused = base.set(port=1)
    line = one_line_error(
        *await roster("migrate", database_url=refused.render_as_string(hide_password=False))
    )
    assert line.startswith("error: cannot open the database") and "Connect call failed" in line


async def test_production_requires_the_public_url(tmp_path):
    line = one_line_error(*await roster(
        "migrate", env="production", database_url=f"sqlite+aiosqlite:///{tmp_path}/p.db",
        secret_key="s" * 48, encryption_keys="k1:" + "A" * 43, email_backend="smtp",
    ))  # fmt: skip
    assert line == ("error: ROSTER_PUBLIC_URL must be set (the address links in emails point to)")


async def test_serve_port_is_where_development_links_point(monkeypatch, database_url):
    """``roster serve --port N``: the app it starts emails links to that port, unless
    ROSTER_PUBLIC_URL says otherwise."""
    from typer.testing import CliRunner

    from app.cli import cli
    from tests.factories import make_member, make_tenant, take_mail

    started = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: started.append((app, kw)))
    monkeypatch.setattr("app.log.configure", lambda settings: None)
    env = {"ROSTER_DATABASE_URL": database_url, "ROSTER_EMAIL_BACKEND": "memory",
           "ROSTER_ARGON2_MEMORY_COST": "1024", "ROSTER_ARGON2_TIME_COST": "1",
           "ROSTER_EMAIL_RELAY_ENABLED": "false", "ROSTER_PUBLIC_URL": None, "ROSTER_ENV": None}  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(cli, ["serve", "--port", "8123"], env=env)
    assert result.exit_code == 0, result.output
    assert "links in emails: http://127.0.0.1:8123" in result.output
    factory, options = started.pop()
    assert options["port"] == 8123
    app = factory()
    services = app.state.services
    try:
        tenant = await make_tenant(services)
        member = await make_member(services, tenant)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8123"
        ) as client:
            body = await client.post("/graphql", json={
                "query": "mutation($e: String!) { passwordResetRequest(input: {email: $e}) { ok } }",
                "variables": {"e": member.email},
            })  # fmt: skip
            assert body.json()["data"]["passwordResetRequest"]["ok"]
        [message] = await take_mail(services)
        assert "http://127.0.0.1:8123/password/reset?token=" in str(message.get_body())
    finally:
        await services.close()

    result = runner.invoke(cli, ["serve", "--port", "8123"],
                           env={**env, "ROSTER_PUBLIC_URL": "https://people.example"})  # fmt: skip
    assert result.exit_code == 0, result.output
    factory, _ = started.pop()
    app = factory()
    assert app.state.services.settings.public_url == "https://people.example"
    await app.state.services.close()
