"""The access log: one line per request, with what operations need and nothing a request
carried (variables, passwords, tokens, cookies, query strings)."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest

from app.log import JsonFormatter
from app.main import create_app
from tests.conftest import make_settings
from tests.documents import PAGE_QUERY
from tests.factories import PASSWORD, make_member, make_tenant

LOGIN = """mutation LogIn($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { code } }
}"""
SEARCH = """query Find($search: String) {
  staff(first: 5, search: $search) { edges { node { lastName } } }
}"""


@pytest.fixture
def access(caplog):
    caplog.set_level(logging.INFO, logger="roster.access")
    return lambda: [r for r in caplog.records if r.name == "roster.access"]


def _json(record) -> dict:
    return orjson.loads(JsonFormatter().format(record))


async def test_one_line_per_request_without_what_the_request_carried(api, client, services,
                                                                     access):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    login = await client.post("/graphql", json={
        "query": LOGIN, "variables": {"email": member.email, "password": PASSWORD}})
    token = login.json()["data"]["login"]["token"]
    assert token
    searched = await client.post(
        "/graphql", json={"query": SEARCH, "variables": {"search": "Quillfeather"}},
        headers={"Authorization": f"Bearer {tenant.owner.token}",
                 "X-Auth-Realm": tenant.slug, "Cookie": "roster_session=cookie-secret-value"})
    assert searched.status_code == 200
    page = await client.get("/join/join-token-secret-value?utm=query-secret-value")

    records = access()
    assert len(records) == 3
    first, second, third = (_json(r) for r in records)
    assert first["logger"] == "roster.access" and first["level"] == "INFO"
    assert {k: first[k] for k in ("method", "path", "status", "operation", "outcome")} == {
        "method": "POST", "path": "/graphql", "status": 200, "operation": "LogIn",
        "outcome": "ok"}
    assert first["request_id"] == login.headers["x-request-id"]
    assert second["operation"] == "Find"
    assert second["request_id"] == searched.headers["x-request-id"]
    assert isinstance(second["duration_ms"], float) and second["duration_ms"] >= 0
    assert third["path"] == "/join/{token}"  # as routed: the token is not written
    assert third["status"] == page.status_code
    assert "operation" not in third

    secrets = [member.email, PASSWORD, token, tenant.owner.token, "Quillfeather",
               "cookie-secret-value", "join-token-secret-value", "query-secret-value"]
    for record in records:
        for text in (record.getMessage(), JsonFormatter().format(record)):
            for secret in secrets:
                assert secret not in text


async def test_the_text_line_reads_as_key_values(client, access):
    response = await client.get("/healthz")
    [record] = access()
    message = record.getMessage()
    assert message.startswith(f"request_id={response.headers['x-request-id']} method=GET "
                              "path=/healthz status=200 duration_ms=")


async def test_staff_pages_answered_by_compiled_plans_are_logged_with_their_operation(
        api, services, access):
    tenant = await make_tenant(services)
    await api.data(PAGE_QUERY, {"first": 5}, as_=tenant.owner)
    [record] = access()
    assert record.fields["operation"] == "Page" and record.fields["outcome"] == "ok"


async def test_a_refused_operation_is_logged_with_its_outcome(api, access):
    await api("query Who { viewer { user { email } } }")
    [record] = access()
    assert record.fields["operation"] == "Who"
    assert record.fields["outcome"] == "unauthenticated"


async def test_the_access_log_can_be_turned_off(database_url, access):
    app = create_app(make_settings(database_url, access_log=False))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://roster.test") as client:
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await app.state.services.close()
    assert access() == []


def test_production_logs_json_lines_with_the_fields():
    from app import log as app_log
    from tests.test_app import PRODUCTION_SECRETS

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        app_log.configure(make_settings("sqlite+aiosqlite://", **PRODUCTION_SECRETS))
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    record = logging.LogRecord("roster.access", logging.INFO, __file__, 1, "m", None, None)
    record.fields = {"request_id": "abc", "status": 200, "message": "not overwritten"}
    entry = _json(record)
    assert entry["request_id"] == "abc" and entry["status"] == 200
    assert entry["message"] == "m"
