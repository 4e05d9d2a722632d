"""The ``roster`` command line (``python -m app`` is the same)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import typer

from app.settings import Settings
from app.version import roster_version

if TYPE_CHECKING:
    from app.services import Services

cli = typer.Typer(
    help="Roster: a multi-tenant GraphQL API for an organisation's people.", no_args_is_help=True
)
account_cli = typer.Typer(help="Manage accounts.", no_args_is_help=True)
keys_cli = typer.Typer(help="Manage field-encryption keys.", no_args_is_help=True)
cli.add_typer(account_cli, name="account")
email_cli = typer.Typer(help="Outgoing email.", no_args_is_help=True)
staff_cli = typer.Typer(help="Staff records.", no_args_is_help=True)
cli.add_typer(staff_cli, name="staff")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(email_cli, name="email")
webhooks_cli = typer.Typer(help="Outgoing webhooks.", no_args_is_help=True)
cli.add_typer(webhooks_cli, name="webhooks")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"roster {roster_version()}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    pass


def _settings() -> Settings:
    settings = Settings()
    try:
        settings.check_production_ready()
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _check_sqlite_directory(settings)
    return settings


def _check_sqlite_directory(settings: Settings) -> None:
    """An SQLite file is created where it is missing, but not its directory: said before
    a connection fails (whose driver thread would print a traceback of its own)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    path = url.database or ""
    if url.get_backend_name() != "sqlite" or path in ("", ":memory:") or path.startswith("file:"):
        return
    directory = Path(path).parent
    if not directory.is_dir():
        typer.echo(f"error: {_database_problem(f'there is no directory {directory}')}", err=True)
        raise typer.Exit(2)


def _require_migrated(settings: Settings) -> None:
    """Commands that read what is there refuse in one line when the database is not at
    this Roster's newest migration (the ones that add data migrate first, as serve does)."""
    from app.db.engine import create_engine
    from app.db.migrate import current_revision, head_revision

    async def revision() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(current_revision)
        finally:
            await engine.dispose()

    found, head = asyncio.run(revision()), head_revision()
    if found == head:
        return
    if found is None:
        problem = "the database has no Roster tables yet: run `roster migrate` first"
    else:
        problem = (
            f"the database is at migration {found}, this Roster needs {head}: "
            "run `roster migrate` first (with the Roster that matches it)"
        )
    typer.echo(f"error: {problem}", err=True)
    raise typer.Exit(2)


@cli.command()
def migrate() -> None:
    """Migrate the database to the newest schema."""
    from app.db.migrate import upgrade_to_head

    upgrade_to_head(_settings().database_url)
    typer.echo("database is at the newest migration")


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="Port to listen on."),
    demo: bool = typer.Option(False, help="Seed a demo account and print how to log in."),
    workers: int = typer.Option(
        1, min=1, help="Server processes (PostgreSQL only; SQLite is served by one)."
    ),
) -> None:
    """Migrate to head, then serve the API with uvicorn.

    With --workers N, N processes share the port and the database (migrated once, here);
    the email relay and the sweeps run in each and do every piece of work once.
    In development, links in emails point to this host and port unless ROSTER_PUBLIC_URL
    is set."""
    from functools import partial

    import uvicorn

    from app.db.migrate import upgrade_to_head
    from app.log import configure
    from app.main import create_app

    settings = _settings().served_at(host, port)
    if workers > 1 and settings.is_sqlite:
        typer.echo(
            "error: --workers needs PostgreSQL: an SQLite database is served by one process "
            "(set ROSTER_DATABASE_URL to a postgresql:// URL, or leave out --workers)",
            err=True,
        )
        raise typer.Exit(2)
    configure(settings)
    upgrade_to_head(settings.database_url)
    if demo:
        from app.demo import seed_demo

        typer.echo(asyncio.run(seed_demo(settings)))
    typer.echo(f"Roster on http://{host}:{port}/graphql (links in emails: {settings.public_url})")
    if workers > 1:
        # Each worker process builds its own app from the environment, by name; it sees
        # the public URL decided here (a development default from --host and --port).
        os.environ["ROSTER_PUBLIC_URL"] = settings.public_url
        target: object = "app.main:create_app_from_env"
    else:
        target = partial(create_app, settings)
    uvicorn.run(
        target,  # type: ignore[arg-type]
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        log_config=None,  # keep the handlers configured above (JSON in production)
        # uvicorn would trust X-Forwarded-For from 127.0.0.1; the app decides the client's
        # address itself, from ROSTER_TRUSTED_PROXIES (app.security.client_address).
        proxy_headers=False,
        # a websocket message is read whole before the app sees it: no longer than a body
        ws_max_size=settings.max_body_bytes,
    )


@cli.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from app.graphql.schema import export_sdl

    sys.stdout.write(export_sdl())


@account_cli.command("create")
def account_create(
    name: str = typer.Option(..., help="Account name."),
    owner_email: str = typer.Option(..., help="Owner's login email."),
    owner_password_stdin: bool = typer.Option(
        False, help="Read the owner's password from the first line of standard input."
    ),
    owner_password: str | None = typer.Option(
        None,
        help="The owner's password on the command line: discouraged (it stays in shell "
        "history and other users see it in `ps`).",
    ),
    slug: str | None = typer.Option(None, help="Slug (X-Auth-Realm); derived from the name."),
    seats: int = typer.Option(5, help="Seat limit."),
) -> None:
    """Create an account with its owner; prints one JSON object.

    The owner's password (10+ characters; an existing login's own password) comes from
    --owner-password-stdin, else ROSTER_OWNER_PASSWORD, else a prompt on a terminal.
    Migrates the database first."""
    from app.accounts.service import create_account_for_login
    from app.db.migrate import upgrade_to_head
    from app.errors import DomainError
    from app.identity.errors import InvalidCredentials
    from app.services import Services

    settings = _settings()
    password = _owner_password(owner_password_stdin, owner_password)
    upgrade_to_head(settings.database_url)

    async def run() -> dict:
        services = Services.from_settings(settings)
        try:
            async with services.db.session(write=True) as session:
                try:
                    account, owner = await create_account_for_login(
                        session,
                        services.passwords,
                        services.password_gate(None),
                        name=name,
                        email=owner_email,
                        password=password,
                        slug=slug,
                        seat_limit=seats,
                    )
                except InvalidCredentials:
                    await session.commit()  # the attempt stays counted; nothing else changed
                    raise
                await session.commit()
        finally:
            await services.close()
        return {
            "account_id": account.id,
            "slug": account.slug,
            "owner_user_id": owner.user_id,
            "owner_staff_id": owner.id,
        }

    try:
        result = asyncio.run(run())
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result))


PASSWORD_ENV = "ROSTER_OWNER_PASSWORD"


def _owner_password(from_stdin: bool, given: str | None) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif given is not None:
        typer.echo(
            "warning: --owner-password is visible in shell history and to other users "
            f"(ps); prefer --owner-password-stdin or {PASSWORD_ENV}",
            err=True,
        )
        password = given
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    elif sys.stdin.isatty():
        password = typer.prompt(
            "Owner's password", hide_input=True, confirmation_prompt=True, err=True
        )
    else:
        typer.echo(
            "error: no owner password: pipe it with --owner-password-stdin, set "
            f"{PASSWORD_ENV}, or run on a terminal to be asked",
            err=True,
        )
        raise typer.Exit(2)
    if not password:
        typer.echo("error: the owner's password is empty", err=True)
        raise typer.Exit(2)
    return password


@account_cli.command("export")
def account_export(
    slug: str = typer.Option(..., help="Account slug or numeric id."),
    output: str = typer.Option("-", help="File to write (default: standard output)."),
) -> None:
    """Write a full JSON backup of an account (as GET /export/account.json does)."""
    from app.accounts.backup import export_account_to

    settings = _settings()
    _require_migrated(settings)
    try:
        asyncio.run(export_account_to(settings, slug, output))
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@account_cli.command("import")
def account_import(
    file: str = typer.Argument(
        ..., help="A backup written by 'roster account export' (- reads stdin)."
    ),
    slug: str | None = typer.Option(
        None, help="Slug for the restored account (default: the backup's)."
    ),
    owner_email: str | None = typer.Option(
        None, help="An existing login to own the restored account (none is restored)."
    ),
    partial: bool = typer.Option(
        False,
        "--partial",
        help="Restore a backup made without personal data (the account comes back without it).",
    ),
    unsigned: bool = typer.Option(
        False,
        "--unsigned",
        help="Restore a backup without this server's signature: one made before backups "
        "were signed, by a server with other keys, or edited since (its content is checked "
        "all the same).",
    ),
) -> None:
    """Restore an account backup, as the account it was or as a new one; prints one JSON
    object (the account's slug and how many rows of each kind came back). Logins are not
    in a backup: --owner-email gives the owner record an existing login. A backup must carry
    this server's signature (the exporter signs every backup), unless --unsigned."""
    from app.accounts.restore import import_account_from
    from app.db.migrate import upgrade_to_head
    from app.errors import DomainError

    settings = _settings()
    upgrade_to_head(settings.database_url)
    try:
        result = asyncio.run(
            import_account_from(settings, file, slug, owner_email, partial, unsigned)
        )
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result))


@staff_cli.command("import")
def staff_import(
    file: str = typer.Argument(..., help="A CSV in the staff export's columns (- reads stdin)."),
    account: str = typer.Option(..., help="Account slug or numeric id."),
    apply: bool = typer.Option(False, "--apply", help="Write the rows (all or nothing)."),
    invite: bool = typer.Option(
        False, "--invite", help="Invite the people of created rows that have an email."
    ),
) -> None:
    """Check, or with --apply import, a staff CSV (the columns of the CSV export): rows
    update the record with their externalId or email, or create one. Acts as the account's
    owner. Prints what each row does; exits 1 if any row has an error (nothing is
    written then)."""
    from app.errors import DomainError, ValidationFailed
    from app.staff.bulk_import import RowAction, import_as_owner

    settings = _settings()
    _require_migrated(settings)
    try:
        if file == "-":
            text = sys.stdin.read()
        else:
            with open(file, encoding="utf-8-sig", newline="") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    bars: dict = {}

    def progress(phase: str, done: int, total: int) -> None:
        bar = bars.get(phase)
        if bar is None:
            bar = bars[phase] = typer.progressbar(
                length=total, label=phase.ljust(8), file=sys.stderr
            )
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    try:
        report = asyncio.run(
            import_as_owner(settings, account, text, apply=apply, invite=invite, progress=progress)
        )
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except DomainError as exc:
        errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
        for e in errors:
            column = f" [{e.field[-1]}]" if e.field and len(e.field) > 1 else ""
            typer.echo(f"error{column}: {e.code}: {e.message}", err=True)
        raise typer.Exit(1) from None
    for row in report.rows:
        if row.action is RowAction.ERROR:
            for problem in row.errors:
                where = f" [{problem.column}]" if problem.column else ""
                typer.echo(f"row {problem.row}{where}: {problem.code}: {problem.message}")
        elif row.action is not RowAction.UNCHANGED:
            typer.echo(f"row {row.row}: {row.action.value} {', '.join(row.changed)}")
    counts = ", ".join(
        f"{report.count(action)} {word}"
        for action, word in (
            (RowAction.CREATE, "to create" if not report.applied else "created"),
            (RowAction.UPDATE, "to update" if not report.applied else "updated"),
            (RowAction.UNCHANGED, "unchanged"),
            (RowAction.ERROR, "with errors"),
        )
    )
    invited = f", {report.invited} invited" if report.invited and report.applied else ""
    mode = "applied" if report.applied else "dry run (nothing written; --apply writes)"
    typer.echo(f"{mode}: {counts}{invited}")
    if report.errors:
        raise typer.Exit(1)


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every encrypted field under the first key of ROSTER_ENCRYPTION_KEYS."""
    from app.security.key_rotation import rotate_keys

    settings = _settings()
    _require_migrated(settings)
    count = asyncio.run(rotate_keys(settings))
    typer.echo(json.dumps({"reencrypted_rows": count}))


@keys_cli.command("generate")
def keys_generate(kid: str = typer.Option("k1", help="Key id.")) -> None:
    """Print a new random key entry for ROSTER_ENCRYPTION_KEYS."""
    from app.security.crypto import Keyring

    typer.echo(f"{kid}:{Keyring.generate_key()}")


def _run_worker(
    once: Callable[[Services], Awaitable[dict]] | None,
    forever: Callable[[Services], Awaitable[None]],
) -> None:
    """Run one of the server's background loops on its own: one pass, printing what it did
    as JSON, when ``once`` is given, else until interrupted."""
    from app.services import Services

    settings = _settings()
    _require_migrated(settings)

    async def run() -> None:
        services = Services.from_settings(settings)
        try:
            if once is not None:
                typer.echo(json.dumps(await once(services)))
            else:
                await forever(services)
        finally:
            await services.close()

    asyncio.run(run())


@email_cli.command("relay")
def email_relay(
    once: bool = typer.Option(False, help="Send what is due now, then exit."),
) -> None:
    """Relay queued email (the server also does this in the background)."""
    from app.background import run_background

    async def one_pass(services: Services) -> dict:
        return {"sent": await services.relay.run_once()}

    async def forever(services: Services) -> None:
        await run_background(services, asyncio.Event(), services.settings.email_relay_poll_seconds)

    _run_worker(one_pass if once else None, forever)


@webhooks_cli.command("deliver")
def webhooks_deliver(
    once: bool = typer.Option(False, help="Send what is due now, then exit."),
) -> None:
    """Deliver queued webhooks (the server also does this in the background)."""

    async def one_pass(services: Services) -> dict:
        claimed = 0
        while count := await services.webhooks.run_once():
            claimed += count
        return {"claimed": claimed}

    async def forever(services: Services) -> None:
        await services.webhooks.run_forever(
            asyncio.Event(), services.settings.webhooks_poll_seconds
        )

    _run_worker(one_pass if once else None, forever)


def problem_of(exc: BaseException) -> str | None:
    """One line for what an operator got wrong (a setting, the database), or None for a
    bug, which keeps its traceback."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return "; ".join(  # names and reasons; values (secrets among them) are not repeated
            f"ROSTER_{str(e['loc'][0]).upper() if e['loc'] else 'SETTINGS'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
    if isinstance(exc, SettingsError):  # a list or mapping setting that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"ROSTER_{field.group(1).upper()}" if field else "a ROSTER_ setting"
        return f"{name}: not valid JSON (lists and mappings are written as JSON)"
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return f"ROSTER_DATABASE_URL is not a database URL Roster can use ({exc})"
    if isinstance(exc, DBAPIError) and _cannot_connect(exc.orig):
        return _database_problem(str(exc.orig).splitlines()[0])
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return _database_problem(str(exc))  # refused, no such host, no answer
    return None


# Failures to reach a database (rather than of a statement): PostgreSQL's SQLSTATE classes
# for connection, authorisation, unknown database, not accepting connections and too many
# connections; SQLite's for a file that cannot be opened or is not a database.
_PG_STATES = ("08", "28", "3D", "57P", "53300")
_SQLITE_ERRORS = {"SQLITE_CANTOPEN", "SQLITE_NOTADB", "SQLITE_PERM", "SQLITE_AUTH"}


def _cannot_connect(orig: BaseException | None) -> bool:
    cause = getattr(orig, "__cause__", None) or orig
    state = getattr(cause, "sqlstate", None) or ""
    return state.startswith(_PG_STATES) or getattr(orig, "sqlite_errorname", "") in _SQLITE_ERRORS


def _database_problem(reason: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        url = make_url(Settings().database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (the settings' own problem is reported instead)
        url = "ROSTER_DATABASE_URL"
    return f"cannot open the database {url}: {reason}"


def main() -> None:
    try:
        cli()
    except Exception as exc:
        problem = problem_of(exc)
        if problem is None:
            raise
        typer.echo(f"error: {problem}", err=True)
        sys.exit(2)
