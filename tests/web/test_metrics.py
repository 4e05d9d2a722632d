"""GET /metrics: what operations scrape, in Prometheus' text format, and who may read it."""

from __future__ import annotations

import os
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.db.base import utcnow
from app.email.models import OutboxMessage, OutboxStatus
from app.main import create_app
from app.services import Services
from tests.conftest import make_settings
from tests.documents import PAGE_QUERY
from tests.factories import PASSWORD, error_codes, make_member, make_tenant
from tests.test_app import PRODUCTION_SECRETS

LOGIN = """mutation LogIn($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { code } }
}"""
VIEWER = "query Viewer { viewer { user { email } } }"


async def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """Every sample of GET /metrics, by name and sorted labels."""
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_graphql_requests_are_counted_by_operation_and_outcome(api, client, services):
    tenant = await make_tenant(services)
    before = await scrape(client)
    assert value(before, "roster_graphql_operations_total", operation="Viewer", outcome="ok") == 0

    await api.data(VIEWER, as_=tenant.owner)
    await api.data(VIEWER, as_=tenant.owner)
    body = await api(VIEWER)  # no token
    assert error_codes(body) == ["UNAUTHENTICATED"]
    await api.data("{ viewer { user { email } } }", as_=tenant.owner)

    after = await scrape(client)
    ops = "roster_graphql_operations_total"
    assert value(after, ops, operation="Viewer", outcome="ok") == 2
    assert value(after, ops, operation="Viewer", outcome="unauthenticated") == 1
    assert value(after, ops, operation="anonymous", outcome="ok") == 1
    histogram = "roster_graphql_operation_duration_seconds_count"
    assert value(after, histogram, operation="Viewer") == 3
    assert value(after, "roster_http_requests_total", method="POST", route="/graphql",
                 status="200") == 4
    # the earlier scrape is counted too, by its route
    assert value(after, "roster_http_requests_total", method="GET", route="/metrics",
                 status="200") == 1


async def test_staff_pages_answered_by_compiled_plans_are_counted_too(api, app, client, services):
    tenant = await make_tenant(services)
    hot = app.state.graphql.schema.hot_paths
    answered = hot.answered
    for _ in range(3):
        await api.data(PAGE_QUERY, {"first": 10}, as_=tenant.owner)
    assert hot.answered == answered + 3  # the plans answered, not graphql-core
    samples = await scrape(client)
    assert value(samples, "roster_graphql_operations_total", operation="Page", outcome="ok") == 3
    assert value(samples, "roster_graphql_operation_duration_seconds_count", operation="Page") == 3


async def test_requests_refused_before_an_operation_and_other_routes(api, client):
    await client.get("/healthz")
    refused = await client.post("/graphql", content=b"{not json", headers={
        "content-type": "application/json"})
    assert refused.status_code == 400
    samples = await scrape(client)
    assert value(samples, "roster_http_requests_total", method="GET", route="/healthz",
                 status="200") == 1
    assert value(samples, "roster_http_request_duration_seconds_count", route="/healthz") == 1
    assert value(samples, "roster_graphql_operations_total", operation="anonymous",
                 outcome="not_executed") == 1
    missing = await client.get("/no/such/page")
    assert missing.status_code == 404
    samples = await scrape(client)
    assert value(samples, "roster_http_requests_total", method="GET", route="unmatched",
                 status="404") == 1


async def test_outbox_depth_and_the_age_of_its_oldest_message(client, services):
    samples = await scrape(client)
    assert value(samples, "roster_email_outbox_pending") == 0
    assert value(samples, "roster_email_outbox_oldest_pending_age_seconds") == 0
    now = utcnow()
    async with services.db.session(write=True) as session:
        for age, status in ((600, OutboxStatus.PENDING), (60, OutboxStatus.PENDING),
                            (3600, OutboxStatus.SENT), (7200, OutboxStatus.FAILED)):
            session.add(OutboxMessage(template="welcome", to_addrs=["a@example.com"],
                                      status=status, created_at=now - timedelta(seconds=age)))
        await session.commit()
    samples = await scrape(client)
    assert value(samples, "roster_email_outbox_pending") == 2
    assert 600 <= value(samples, "roster_email_outbox_oldest_pending_age_seconds") < 660


async def test_rate_limit_refusals_by_limit_name(database_url):
    settings = make_settings(database_url, rate_limits={"login_email": 2})
    services = Services.from_settings(settings)
    app = create_app(settings, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://roster.test") as client:
            tenant = await make_tenant(services)
            codes = []
            for _ in range(4):
                response = await client.post("/graphql", json={"query": LOGIN, "variables": {
                    "email": tenant.owner.email, "password": "wrong password"}})
                codes.append(error_codes(response.json()))
            assert codes[:2] == [[], []] and codes[2:] == [["RATE_LIMITED"], ["RATE_LIMITED"]]
            samples = await scrape(client)
    finally:
        await services.close()
    refusals = "roster_rate_limit_refusals_total"
    assert value(samples, refusals, limit="login_email") == 2
    assert value(samples, refusals, limit="login_address") == 0
    assert (refusals, (("limit", "signup_address"),)) in samples  # every limit is listed
    assert value(samples, "roster_graphql_operations_total", operation="LogIn",
                 outcome="rate_limited") == 2


async def test_database_pool_as_far_as_the_pool_counts(client, services):
    samples = await scrape(client)
    pool = type(services.db.engine.pool).__name__
    assert value(samples, "roster_db_pool_info", pool=pool) == 1
    if services.db.dialect == "postgresql" or pool.endswith("QueuePool"):
        assert value(samples, "roster_db_pool_size") == services.db.engine.pool.size()
        assert ("roster_db_pool_checked_out", ()) in samples
        assert ("roster_db_pool_idle", ()) in samples
        assert value(samples, "roster_db_pool_idle") >= 1  # the scrape's own, given back


async def test_the_process_that_answered_is_named_by_its_pid(client):
    samples = await scrape(client)
    process = [labels for name, labels in samples if name == "roster_process_info"]
    assert process == [(("pid", str(os.getpid())),)]


async def _get_metrics(database_url, *, headers=None, client_host="127.0.0.1", **settings):
    app = create_app(make_settings(database_url, **settings))
    transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://roster.test") as c:
            return await c.get("/metrics", headers=headers or {})
    finally:
        await app.state.services.close()


async def test_production_serves_metrics_only_to_whom_the_settings_name(database_url):
    token = "m" * 40
    closed = await _get_metrics(database_url, **PRODUCTION_SECRETS)
    assert closed.status_code == 404
    no_token = await _get_metrics(database_url, metrics_token=token, **PRODUCTION_SECRETS)
    assert no_token.status_code == 401
    assert no_token.headers["www-authenticate"] == "Bearer"
    wrong = await _get_metrics(database_url, metrics_token=token,
                               headers={"Authorization": "Bearer " + "n" * 40},
                               **PRODUCTION_SECRETS)
    assert wrong.status_code == 401
    right = await _get_metrics(database_url, metrics_token=token,
                               headers={"Authorization": f"Bearer {token}"},
                               **PRODUCTION_SECRETS)
    assert right.status_code == 200
    assert "roster_http_requests_total" in right.text

    inside = await _get_metrics(database_url, metrics_allow_from=["10.0.0.0/8"],
                                client_host="10.1.2.3", **PRODUCTION_SECRETS)
    assert inside.status_code == 200
    outside = await _get_metrics(database_url, metrics_allow_from=["10.0.0.0/8"],
                                 client_host="192.0.2.7", **PRODUCTION_SECRETS)
    assert outside.status_code == 404


async def test_development_metrics_are_open_unless_a_token_is_set(database_url):
    assert (await _get_metrics(database_url)).status_code == 200
    assert (await _get_metrics(database_url, metrics_token="t" * 40)).status_code == 401


def test_production_refuses_a_short_metrics_token():
    from app.settings import InsecureSettingsError, Settings

    settings = Settings(**PRODUCTION_SECRETS, metrics_token="short")
    with pytest.raises(InsecureSettingsError, match="ROSTER_METRICS_TOKEN"):
        settings.check_production_ready()


async def test_each_app_counts_its_own_requests(database_url, client):
    await client.get("/healthz")
    other = create_app(make_settings(database_url))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other),
                                     base_url="http://roster.test") as c:
            samples = await scrape(c)
    finally:
        await other.state.services.close()
    assert value(samples, "roster_http_requests_total", method="GET", route="/healthz",
                 status="200") == 0


async def test_operation_names_past_the_bound_are_counted_together(api, app, client, monkeypatch):
    monkeypatch.setattr("app.ops.metrics.MAX_OPERATIONS", 2)
    for name in ("One", "Two", "Three", "Four"):
        await api(f"query {name} {{ viewer {{ user {{ email }} }} }}")
    samples = await scrape(client)
    ops = "roster_graphql_operations_total"
    assert value(samples, ops, operation="One", outcome="unauthenticated") == 1
    assert value(samples, ops, operation="Two", outcome="unauthenticated") == 1
    assert value(samples, ops, operation="other", outcome="unauthenticated") == 2


async def test_password_is_not_in_the_metrics(api, client, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    await api.data(LOGIN, {"email": member.email, "password": PASSWORD})
    text = (await client.get("/metrics")).text
    assert PASSWORD not in text and member.email not in text
