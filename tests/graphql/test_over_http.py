"""GraphQL over HTTP as the specification says (app.graphql.over_http): media types by
Accept, status codes by media type, request-level failures as JSON errors without data,
and GET running queries but refusing mutations with 405."""

from __future__ import annotations

import httpx
import pytest

from app.main import create_app
from app.security.crypto import Keyring
from tests.conftest import make_settings
from tests.factories import make_tenant

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


async def post(client, query: str, accept: str | None = None, **extra):
    headers = {"accept": accept} if accept is not None else {}
    return await client.post("/graphql", json={"query": query, **extra}, headers=headers)


def request_error(response, status: int, media: str = JSON) -> dict:
    """A request-level failure: the status, the media type, errors with a code, no data."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == f"{media}; charset=utf-8"
    body = response.json()
    assert "data" not in body, body
    assert body["errors"] and all(e["extensions"]["code"] for e in body["errors"]), body
    return body


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, JSON),
        ("", JSON),
        (JSON, JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
        (f"{JSON}, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    ],
)
async def test_the_response_media_type_follows_accept(client, accept, media):
    response = await post(client, "{ __typename }", accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{media}; charset=utf-8"
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_an_accept_allowing_neither_type_is_406(client):
    body = request_error(await post(client, "{ __typename }", "text/csv"), 406)
    assert GRAPHQL_RESPONSE in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "query",
    [
        "{ nope }",  # validation
        "{ __typename",  # parse
        "query($n: Int!) { staff(first: $n) { totalCount } }",  # a required variable missing
        "{ staff(first: 100) { nodes { projects { members { staff { projects { members "
        "{ staff { projects { members { staff { id } } } } } } } } } } } }",  # too large
    ],
    ids=["validation", "parse", "variables", "limits"],
)
async def test_a_document_refused_before_execution_has_no_data(client, query):
    legacy = request_error(await post(client, query, JSON), 200)
    spec = request_error(await post(client, query, GRAPHQL_RESPONSE), 400, GRAPHQL_RESPONSE)
    assert legacy == spec
    assert {e["extensions"]["code"] for e in spec["errors"]} == {"BAD_USER_INPUT"}


async def test_several_operations_need_an_operation_name(client, services):
    """GraphQL's GetOperation: a document of several operations without operationName is a
    request error, not its first operation (over GET too); with a name, that one runs."""
    tenant = await make_tenant(services)
    auth = {"Authorization": f"Bearer {tenant.owner.token}", "X-Auth-Realm": tenant.owner.realm}
    document = "query A { __typename } query B { viewer { role } }"
    for accept, status, media in ((JSON, 200, JSON), (GRAPHQL_RESPONSE, 400, GRAPHQL_RESPONSE)):
        response = await client.post(
            "/graphql", json={"query": document}, headers={**auth, "accept": accept}
        )
        body = request_error(response, status, media)
        assert body["errors"][0]["message"] == (
            "Must provide operation name if query contains multiple operations."
        )
    response = await client.get("/graphql", params={"query": document}, headers=auth)
    request_error(response, 200)
    named = await client.post("/graphql", json={"query": document, "operationName": "B"},
                              headers=auth)
    assert named.json() == {"data": {"viewer": {"role": "OWNER"}}}
    single = await client.post("/graphql", json={"query": "query A { __typename }"}, headers=auth)
    assert single.json() == {"data": {"__typename": "Query"}}


async def test_an_error_during_execution_keeps_data_and_200(client):
    # no credentials: the field's resolver refuses, the rest of the answer stands
    query = "{ __typename staff(first: 1) { totalCount } }"
    for accept in (JSON, GRAPHQL_RESPONSE):
        response = await post(client, query, accept)
        assert response.status_code == 200
        body = response.json()
        assert "data" in body
        assert body["errors"][0]["path"] == ["staff"]
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "words"),
    [
        (b"{not json", JSON, 400, "not valid JSON"),
        (b'{"query": 1}', JSON, 400, "must be a string"),
        (b'{"query": "{ __typename }", "variables": []}', JSON, 400, "must be an object"),
        (b'[{"query": "{ __typename }"}]', JSON, 400, "Batching"),
        (b"{ __typename }", "application/graphql", 415, "content type"),
        (b"{ __typename }", None, 415, "content type"),
        (b"", JSON, 400, "request body"),
    ],
)
async def test_a_request_that_cannot_be_read_is_a_json_error(
    client, content, content_type, status, words
):
    for accept, media in ((JSON, JSON), (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE)):
        headers = {"accept": accept}
        if content_type:
            headers["content-type"] = content_type
        response = await client.post("/graphql", content=content, headers=headers)
        body = request_error(response, status, media)
        assert words in body["errors"][0]["message"]
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_get_runs_queries_and_refuses_mutations_with_405(client, services):
    owner = (await make_tenant(services)).owner
    auth = {"Authorization": f"Bearer {owner.token}", "X-Auth-Realm": owner.realm}
    response = await client.get(
        "/graphql", params={"query": "{ staff(first: 0) { totalCount } }"}, headers=auth
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"staff": {"totalCount": 1}}}

    create = 'mutation { staffCreate(input: {firstName: "Get", lastName: "Ter"}) { staff { id } } }'
    for accept, media in ((JSON, JSON), (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE)):
        response = await client.get(
            "/graphql", params={"query": create}, headers={**auth, "accept": accept}
        )
        body = request_error(response, 405, media)
        assert response.headers["allow"] == "POST"
        assert "mutation" in body["errors"][0]["message"]
    # nothing was written
    response = await client.get(
        "/graphql", params={"query": "{ staff(first: 0) { totalCount } }"}, headers=auth
    )
    assert response.json()["data"]["staff"]["totalCount"] == 1


async def test_a_browser_still_gets_graphiql(client):
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_production_refuses_every_get_operation_with_405(database_url):
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
        response = await client.get("/graphql", params={"query": "{ __typename }"})
        request_error(response, 405)
        assert response.headers["allow"] == "POST"
        # introspection is refused before execution: 400 with the new media type
        request_error(
            await post(client, "{ __schema { queryType { name } } }", GRAPHQL_RESPONSE),
            400,
            GRAPHQL_RESPONSE,
        )


async def test_no_answer_is_kept_by_a_cache(client, services):
    """An answer may hold personal data (an SSN, a salary): no shared or browser cache keeps
    it, whether the query came by POST or by GET, compiled or not, or was refused."""
    tenant = await make_tenant(services)
    auth = {"Authorization": f"Bearer {tenant.owner.token}", "X-Auth-Realm": tenant.owner.realm}
    page = "{ staff(first: 5) { nodes { ssn salary } } }"
    answers = [
        await client.post("/graphql", json={"query": page}, headers=auth),
        await client.post("/graphql", json={"query": "{ viewer { role } }"}, headers=auth),
        await client.get("/graphql", params={"query": page}, headers=auth),
        await client.post("/graphql", json={"query": "{ nope }"}, headers=auth),
        await client.post(
            "/graphql", json={"query": page}, headers={**auth, "accept": GRAPHQL_RESPONSE}
        ),
        await client.post("/graphql", json={"query": page}, headers={**auth, "accept": "text/csv"}),
        await client.post("/graphql", content=b"{not json", headers=auth),
    ]
    for response in answers:
        assert response.headers["cache-control"] == "no-store", response.request
