"""The ``roster`` command line (``python -m app`` is the same)."""

from __future__ import annotations

import asyncio
import json
import sys

import typer

from app.settings import Settings

cli = typer.Typer(
    help="Roster: a multi-tenant GraphQL API for an organisation's people.", no_args_is_help=True
)
account_cli = typer.Typer(help="Manage accounts.", no_args_is_help=True)
keys_cli = typer.Typer(help="Manage field-encryption keys.", no_args_is_help=True)
cli.add_typer(account_cli, name="account")
email_cli = typer.Typer(help="Outgoing email.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
cli.add_typer(email_cli, name="email")


def _settings() -> Settings:
    settings = Settings()
    try:
        settings.check_production_ready()
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings


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
) -> None:
    """Migrate to head, then serve the API with uvicorn."""
    import uvicorn

    from app.db.migrate import upgrade_to_head
    from app.log import configure

    settings = _settings()
    configure(settings)
    upgrade_to_head(settings.database_url)
    if demo:
        from app.demo import seed_demo

        typer.echo(asyncio.run(seed_demo(settings)))
    typer.echo(f"Roster on http://{host}:{port}/graphql")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        log_config=None,  # keep the handlers configured above (JSON in production)
        # uvicorn would trust X-Forwarded-For from 127.0.0.1; the app decides the client's
        # address itself, from ROSTER_TRUSTED_PROXIES (app.security.client_address).
        proxy_headers=False,
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
    owner_password: str = typer.Option(..., help="Owner's password (10+ characters)."),
    slug: str | None = typer.Option(None, help="Slug (X-Auth-Realm); derived from the name."),
    seats: int = typer.Option(5, help="Seat limit."),
) -> None:
    """Create an account with its owner; prints one JSON object."""
    from app.accounts.service import create_account_for_login
    from app.errors import DomainError
    from app.identity.errors import InvalidCredentials
    from app.services import Services

    async def run() -> dict:
        services = Services.from_settings(_settings())
        try:
            async with services.db.session(write=True) as session:
                try:
                    account, owner = await create_account_for_login(
                        session,
                        services.passwords,
                        services.password_gate(None),
                        name=name,
                        email=owner_email,
                        password=owner_password,
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


@account_cli.command("export")
def account_export(
    slug: str = typer.Option(..., help="Account slug or numeric id."),
    output: str = typer.Option("-", help="File to write (default: standard output)."),
) -> None:
    """Write a full JSON backup of an account (as GET /export/account.json does)."""
    from app.accounts.backup import export_account_to

    try:
        asyncio.run(export_account_to(_settings(), slug, output))
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
) -> None:
    """Restore an account backup, as the account it was or as a new one; prints one JSON
    object (the account's slug and how many rows of each kind came back). Logins are not
    in a backup: --owner-email gives the owner record an existing login."""
    from app.accounts.restore import import_account_from
    from app.db.migrate import upgrade_to_head
    from app.errors import DomainError

    settings = _settings()
    upgrade_to_head(settings.database_url)
    try:
        result = asyncio.run(import_account_from(settings, file, slug, owner_email))
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result))


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every encrypted field under the first key of ROSTER_ENCRYPTION_KEYS."""
    from app.security.key_rotation import rotate_keys

    count = asyncio.run(rotate_keys(_settings()))
    typer.echo(json.dumps({"reencrypted_rows": count}))


@keys_cli.command("generate")
def keys_generate(kid: str = typer.Option("k1", help="Key id.")) -> None:
    """Print a new random key entry for ROSTER_ENCRYPTION_KEYS."""
    from app.security.crypto import Keyring

    typer.echo(f"{kid}:{Keyring.generate_key()}")


@email_cli.command("relay")
def email_relay(
    once: bool = typer.Option(False, help="Send what is due now, then exit."),
) -> None:
    """Relay queued email (the server also does this in the background)."""
    from app.background import run_background
    from app.services import Services

    async def run() -> None:
        services = Services.from_settings(_settings())
        try:
            if once:
                typer.echo(json.dumps({"sent": await services.relay.run_once()}))
                return
            stop = asyncio.Event()
            await run_background(services, stop, services.settings.email_relay_poll_seconds)
        finally:
            await services.close()

    asyncio.run(run())


def main() -> None:
    cli()
