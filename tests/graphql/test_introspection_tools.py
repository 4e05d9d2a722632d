"""Introspection as the tools send it: in development the full introspection queries of
graphql-core, GraphiQL, Apollo, graphql-codegen and the gql client pass the default limits,
measured for what they are; an introspection document nested absurdly deep or re-entering
``fields { type { fields ...`` is still refused by the same limits; production refuses
introspection altogether."""

from __future__ import annotations

import inspect
from pathlib import Path

import httpx
import pytest
from graphql import get_introspection_query

from app.main import create_app
from app.security.crypto import Keyring
from tests.conftest import make_settings
from tests.security.live import live_server

DOCUMENTS = Path(__file__).parent / "documents"


def tool_document(name: str) -> str:
    """The exact text a tool sends (the fixture's leading comment lines removed)."""
    lines = (DOCUMENTS / name).read_text().splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def graphql_core_query() -> str:
    """graphql-core's get_introspection_query with every option it has turned on."""
    options = {
        name: True
        for name, parameter in inspect.signature(get_introspection_query).parameters.items()
        if parameter.default is False
    }
    # the names graphql-core has used for these options
    assert {"specified_by_url", "directive_is_repeatable", "schema_description"} <= set(options)
    assert "input_value_deprecation" in options
    return get_introspection_query(**options)


TOOL_QUERIES = {
    "graphql-core": graphql_core_query,
    "graphiql": lambda: tool_document("graphiql_introspection.graphql"),
    "apollo": lambda: tool_document("apollo_introspection.graphql"),
    "graphql-codegen": lambda: tool_document("codegen_introspection.graphql"),
}


def type_names(schema: dict) -> set[str]:
    return {t["name"] for t in schema["types"]}


@pytest.mark.parametrize("tool", TOOL_QUERIES)
async def test_the_tools_introspection_queries_pass_the_default_limits(client, tool):
    response = await client.post("/graphql", json={"query": TOOL_QUERIES[tool]()})
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body.get("errors")
    schema = body["data"]["__schema"]
    assert schema["queryType"]["name"] == "Query"
    assert {"Staff", "Query", "Mutation", "__Type"} <= type_names(schema)
    # every type reference comes back whole, down to its named type
    references = [f["type"] for t in schema["types"] for f in t["fields"] or ()]
    assert references
    for reference in references:
        while reference["kind"] in ("NON_NULL", "LIST"):
            reference = reference["ofType"]
        assert reference["name"]


async def test_the_gql_client_fetches_the_schema_from_a_live_server(app):
    gql = pytest.importorskip("gql")
    from gql.transport.httpx import HTTPXAsyncTransport
    from gql.utilities import get_introspection_query_ast

    # every option of gql's introspection query turned on
    options = {
        name: True
        for name, parameter in inspect.signature(get_introspection_query_ast).parameters.items()
        if isinstance(parameter.default, bool)
    }
    assert {"specified_by_url", "directive_is_repeatable", "input_value_deprecation"} <= set(
        options
    )
    async with live_server(app) as base:
        transport = HTTPXAsyncTransport(url=f"{base}/graphql")
        client = gql.Client(
            transport=transport, fetch_schema_from_transport=True, introspection_args=options
        )
        async with client as session:
            result = await session.execute(gql.gql("{ __typename }"))
    assert result == {"__typename": "Query"}
    assert client.schema is not None
    assert "staff" in client.schema.query_type.fields
    assert "staffCreate" in client.schema.mutation_type.fields


def nested(field: str, levels: int, inner: str = "kind name") -> str:
    text = inner
    for _ in range(levels):
        text = f"{field} {{ {text} }}"
    return text


async def refused(client, query: str) -> str:
    """The limits' error refusing ``query`` (graphql-core's own introspection depth rule
    may add its error too)."""
    response = await client.post("/graphql", json={"query": query})
    body = response.json()
    assert "data" not in body or body["data"] is None
    limits = [e for e in body["errors"] if e["message"].startswith("The query is too large")]
    assert len(limits) == 1, body["errors"]
    assert limits[0]["extensions"]["code"] == "BAD_USER_INPUT"
    return limits[0]["message"]


async def test_a_deep_of_type_chain_is_refused(client):
    twelve = '{ __type(name: "Staff") { fields { type { ' + nested("ofType", 12) + " } } } }"
    body = (await client.post("/graphql", json={"query": twelve})).json()
    assert "errors" not in body  # as deep as the depth limit: past the data, still allowed
    message = await refused(
        client, '{ __type(name: "Staff") { ' + nested("ofType", 40) + " } }"
    )
    assert "nests 40 ofType levels (at most 12" in message


async def test_re_entering_fields_of_types_is_refused(client):
    inner = "name"
    for _ in range(8):
        inner = f"fields {{ name type {{ {inner} }} }}"
    message = await refused(client, "{ __schema { types { " + inner + " } } }")
    assert "levels deep (at most 12)" in message


async def test_introspection_within_the_depth_limit_is_refused_by_its_cost(client):
    # every type's fields' types' fields' types' fields, eight times over: 9 levels deep,
    # each copy resolving some 5,000 fields of this schema
    copy = "fields { type { fields { type { fields { type { name } } } } } }"
    types = " ".join(f"t{i}: types {{ {copy} }}" for i in range(8))
    message = await refused(client, "{ __schema { " + types + " } }")
    assert "costs more than 25000" in message
    assert "levels deep" not in message
    once = "{ __schema { types { fields { type { fields { type { name } } } } } } }"
    single = (await client.post("/graphql", json={"query": once})).json()
    assert "errors" not in single and single["data"]["__schema"]["types"]


async def test_introspection_is_refused_in_production(database_url):
    settings = make_settings(
        database_url,
        env="production",
        secret_key="production-secret-" + "k" * 40,
        encryption_keys=f"prod1:{Keyring.generate_key()}",
    )
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://roster.test"
    ) as client:
        for query in (graphql_core_query(), tool_document("graphiql_introspection.graphql")):
            body = (await client.post("/graphql", json={"query": query})).json()
            assert "data" not in body or body["data"] is None
            assert any("introspection" in e["message"] for e in body["errors"])


async def test_a_type_named_by_a_variable_is_priced_over_every_type(client):
    one = "query($t: String!) { __type(name: $t) { name fields { name type { name } } } }"
    body = (await client.post("/graphql", json={"query": one, "variables": {"t": "Staff"}})).json()
    assert body["data"]["__type"]["name"] == "Staff"
    # thirty of them, each re-entering the fields' types: refused, the walk stopped at the limit
    copy = "fields { type { fields { type { fields { name } } } } }"
    many = " ".join(f"t{i}: __type(name: $t) {{ {copy} }}" for i in range(30))
    message = await refused(client, "query($t: String!) { " + many + " }")
    assert "costs more than 25000" in message
