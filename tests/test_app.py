import gc

import httpx
import pytest

from app.db.migrate import head_revision
from app.main import create_app
from app.security.crypto import Keyring
from app.settings import DEV_ENCRYPTION_KEYS, InsecureSettingsError, Settings
from tests.conftest import make_settings

PRODUCTION_SECRETS = dict(
    env="production",
    secret_key="x" * 48,
    encryption_keys=f"prod1:{Keyring.generate_key()}",
)


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migrations"] == head_revision()


async def test_readiness_fails_when_database_is_not_migrated(tmp_path):
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/empty.db"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/readyz")
    assert response.status_code == 503
    await app.state.services.close()


async def test_startup_objects_are_kept_out_of_garbage_collection_while_serving(tmp_path):
    """A full collection under load must not walk the schema and mappers again and again
    (it showed as a p99 four times the p50); after shutdown they are collectable again."""
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/gc.db", freeze_startup_objects=True)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


async def test_startup_objects_stay_collectable_when_told_so(tmp_path):
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path}/gc.db"))
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0


async def test_graphiql_in_development(client):
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


@pytest.mark.parametrize(
    "overrides",
    [
        {"env": "production"},
        {**PRODUCTION_SECRETS, "secret_key": "short"},
        {**PRODUCTION_SECRETS, "encryption_keys": make_settings("sqlite://").encryption_keys},
        # the development key's bytes under another id: public all the same
        {**PRODUCTION_SECRETS,
         "encryption_keys": "prod1:" + DEV_ENCRYPTION_KEYS.partition(":")[2]},
    ],
)
def test_production_refuses_default_or_missing_secrets(overrides):
    with pytest.raises(InsecureSettingsError):
        create_app(make_settings("sqlite+aiosqlite:///unused.db", **overrides))


@pytest.mark.parametrize("sender", ["console", "file", "memory"])
def test_production_sends_email_by_smtp_unless_told_otherwise(sender):
    """Console prints every email (its live links too) to the log, file writes them to
    disk, memory keeps them nowhere: production refuses them without the explicit opt-in."""
    production = dict(
        PRODUCTION_SECRETS, public_url="https://roster.example", email_backend=sender
    )
    with pytest.raises(InsecureSettingsError, match="ROSTER_EMAIL_BACKEND must be smtp"):
        Settings(**production).check_production_ready()
    Settings(**production, email_allow_non_smtp_in_production=True).check_production_ready()
    Settings(**{**production, "email_backend": "smtp"}).check_production_ready()


def test_production_refuses_the_default_email_backend():
    production = dict(PRODUCTION_SECRETS, public_url="https://roster.example")
    with pytest.raises(InsecureSettingsError, match="must be smtp, not console"):
        Settings(**production).check_production_ready()


async def test_production_has_no_graphiql_get_queries_or_introspection(database_url):
    app = create_app(make_settings(database_url, **PRODUCTION_SECRETS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        page = await c.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        get_query = await c.get("/graphql", params={"query": "{ __typename }"})
        assert get_query.status_code >= 400
        body = (await c.post("/graphql", json={"query": "{ __schema { types { name } } }"})).json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "data" not in body or not body["data"]
    await app.state.services.close()
