"""OpenTelemetry traces: a span per request named by its operation, a child span per SQL
statement, and nothing personal in any attribute."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.main import create_app
from app.ops.tracing import TracingUnavailable, provider_from_environment
from app.services import Services
from tests.conftest import make_settings
from tests.documents import PAGE_QUERY
from tests.factories import PASSWORD, Api, make_member, make_tenant, make_user

LOGIN = """mutation LogIn($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { code } }
}"""
CREATE = """mutation AddPerson($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id lastName email } userErrors { code } }
}"""
SEARCH = """query Find($search: String) {
  staff(first: 5, search: $search) { edges { node { lastName } } }
}"""


@pytest.fixture
async def traced(settings):
    """An app whose spans end up in memory, its Api, services and exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    services = Services.from_settings(settings)
    app = create_app(settings, services=services, tracer_provider=provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://roster.test") as client:
        yield client, Api(client), services, exporter, provider
    await services.close()


def _strings(span) -> list[str]:
    values = [span.name, *(str(k) for k in span.attributes)]
    values += [str(v) for v in span.attributes.values()]
    for event in span.events:
        values += [event.name, *(str(v) for v in event.attributes.values())]
    values += [str(v) for v in span.resource.attributes.values()]
    return values


def _server_spans(exporter):
    return [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]


def _children(exporter, parent):
    return [s for s in exporter.get_finished_spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def test_no_personal_data_in_any_span(traced):
    client, api, services, exporter, _ = traced
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    exporter.clear()

    login = await api.data(LOGIN, {"email": member.email, "password": PASSWORD})
    token = login["login"]["token"]
    secret_email = "zebedee.quill@private.example"
    created = await api.data(CREATE, {"input": {
        "firstName": "Zebedee", "lastName": "Quillfeather", "email": secret_email,
        "phoneCell": "+44 7700 900123"}}, as_=tenant.owner)
    assert created["staffCreate"]["userErrors"] == []
    found = await api.data(SEARCH, {"search": "Quillfeather"}, as_=tenant.owner)
    assert found["staff"]["edges"]

    spans = exporter.get_finished_spans()
    servers = _server_spans(exporter)
    assert [s.name for s in servers] == ["LogIn", "AddPerson", "Find"]
    for server in servers:
        assert server.attributes["http.route"] == "/graphql"
        assert server.attributes["http.response.status_code"] == 200
        assert server.attributes["graphql.operation.name"] == server.name
        assert server.attributes["roster.outcome"] == "ok"
        sql = _children(exporter, server)
        assert sql, server.name
        assert all(s.kind == SpanKind.CLIENT and "db.query.text" in s.attributes for s in sql)
    statements = [s.attributes["db.query.text"] for s in spans if "db.query.text" in s.attributes]
    assert any("INSERT INTO staff" in q for q in statements)
    placeholder = "$1" if services.db.dialect == "postgresql" else "?"
    assert any(placeholder in q for q in statements)  # values are bound, never written in

    secrets = [member.email, PASSWORD, token, tenant.owner.token, secret_email, "Zebedee",
               "Quillfeather", "7700 900123", "zebedee"]
    for span in spans:
        for value in _strings(span):
            for secret in secrets:
                assert secret.lower() not in value.lower(), (span.name, value)


async def test_staff_pages_of_compiled_plans_have_their_span_and_statements(traced):
    client, api, services, exporter, _ = traced
    tenant = await make_tenant(services)
    exporter.clear()
    await api.data(PAGE_QUERY, {"first": 10}, as_=tenant.owner)
    [server] = _server_spans(exporter)
    assert server.name == "Page"
    statements = [s.attributes["db.query.text"] for s in _children(exporter, server)]
    assert any("FROM staff" in q for q in statements), statements


async def test_other_routes_are_named_by_method_and_route_and_callers_trace_is_continued(traced):
    client, api, services, exporter, _ = traced
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await client.get(
        "/readyz", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert response.status_code == 200
    [server] = _server_spans(exporter)
    assert server.name == "GET /readyz"
    assert format(server.context.trace_id, "032x") == trace_id
    assert server.attributes["roster.request_id"] == response.headers["x-request-id"]
    assert "graphql.operation.name" not in server.attributes
    assert _children(exporter, server)  # the readiness check's SELECT 1


async def test_a_failed_statement_records_its_type_not_its_message(traced):
    client, api, services, exporter, provider = traced
    taken = "taken.address@private.example"
    await make_user(services, taken)
    exporter.clear()
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request"):
        async with services.db.session(write=True) as session:
            with pytest.raises(IntegrityError):
                await session.execute(
                    text("INSERT INTO users (email, password_hash, created_at) "
                         "VALUES (:email, 'x', CURRENT_TIMESTAMP)"), {"email": taken})
    [failed] = [s for s in exporter.get_finished_spans() if s.name == "INSERT"]
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "IntegrityError"
    assert ":email" in failed.attributes["db.query.text"] or "?" in failed.attributes[
        "db.query.text"] or "$1" in failed.attributes["db.query.text"]
    assert not failed.events  # no exception event: its message may quote the value
    for span in exporter.get_finished_spans():
        for value in _strings(span):
            assert taken not in value


def test_traces_are_off_unless_the_otel_variables_ask():
    assert provider_from_environment({}) is None
    assert provider_from_environment({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert provider_from_environment({"OTEL_SERVICE_NAME": "roster"}) is None
    console = provider_from_environment({"OTEL_TRACES_EXPORTER": "console"})
    assert console is not None
    assert console.resource.attributes["service.name"] == "roster"
    console.shutdown()
    assert provider_from_environment(
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}) is None
    with pytest.raises(TracingUnavailable):
        provider_from_environment({"OTEL_TRACES_EXPORTER": "carrier-pigeon"})


def test_an_otlp_endpoint_turns_traces_on():
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
               "OTEL_SERVICE_NAME": "roster-eu"}
    try:
        provider = provider_from_environment(environ)
    except TracingUnavailable as exc:  # without the otel extra: said at start, not ignored
        assert "roster[otel]" in str(exc)
        return
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "roster-eu"
    provider.shutdown()


async def test_an_app_without_otel_variables_makes_no_spans(database_url, monkeypatch):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(make_settings(database_url))
    try:
        middleware = [m for m in app.user_middleware if m.cls.__name__ == "ObserveRequests"]
        assert middleware[0].kwargs["tracer"] is None
    finally:
        await app.state.services.close()
