"""The production profile (ROSTER_ENV=production) as an attacker on the internet meets it.

Refusals are paired with a twin request that does run, so they pass only because the
server refused; "nothing ran" is proved with a mutation that would have written a staff
record.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
from dataclasses import dataclass

import httpx
import orjson
import pytest

from app.access.scopes import Scope
from app.log import JsonFormatter, configure
from app.main import create_app
from app.security.crypto import Keyring
from app.services import Services
from app.staff import service as staff_service
from tests.conftest import make_settings
from tests.factories import Api, Member, error_codes, make_api_token, make_tenant
from tests.security.live import live_server

PRODUCTION = dict(
    env="production",
    secret_key="production-secret-" + "k" * 40,
    encryption_keys=f"prod1:{Keyring.generate_key()}",
)
ORIGIN = "https://app.example.com"

CREATE = 'mutation { staffCreate(input: {firstName: "Eve", lastName: "Written"}) { staff { id } } }'
CREATE_VARS = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id } userErrors { code } }
}"""
COUNT = "{ staff(first: 0, filter: {includeInactive: true}) { totalCount } }"


@dataclass
class Prod:
    settings: object
    services: Services
    app: object
    client: httpx.AsyncClient
    api: Api
    owner: Member

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.owner.token}", "X-Auth-Realm": self.owner.realm}

    async def staff_count(self) -> int:
        data = await self.api.data(COUNT, as_=self.owner)
        return data["staff"]["totalCount"]

    async def post(self, query: str, variables: dict | None = None, **extra) -> httpx.Response:
        body = {"query": query, "variables": variables or {}, **extra}
        return await self.client.post("/graphql", json=body, headers=self.auth)


@pytest.fixture
async def production(database_url):
    """Builds a production-profile app (with extra settings) around a fresh tenant."""
    opened = []

    async def start(**overrides) -> Prod:
        settings = make_settings(database_url, **{**PRODUCTION, **overrides})
        services = Services.from_settings(settings)
        app = create_app(settings, services=services)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://roster.test"
        )
        opened.append((client, services))
        tenant = await make_tenant(services)
        return Prod(settings, services, app, client, Api(client), tenant.owner)

    yield start
    for client, services in opened:
        await client.aclose()
        await services.close()


@pytest.fixture
async def prod(production) -> Prod:
    return await production()


def assert_rejected(response: httpx.Response) -> list[str]:
    """A GraphQL answer refusing the whole request as bad input; returns the messages."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("data") is None, body
    assert error_codes(body) and set(error_codes(body)) == {"BAD_USER_INPUT"}, body
    return [e["message"] for e in body["errors"]]


# --- GraphiQL and introspection -------------------------------------------------------------


async def test_no_graphiql_page(prod):
    page = await prod.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code >= 400
    assert "graphiql" not in page.text.lower()
    assert "<script" not in page.text.lower()


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { types { name } } }",
        '{ __type(name: "Staff") { fields { name } } }',
        "{ ...Q } fragment Q on Query { __schema { queryType { name } } }",
        'query { ... on Query { __type(name: "Staff") { name } } }',
    ],
    ids=["schema", "type", "in-fragment", "in-inline-fragment"],
)
async def test_introspection_is_refused(prod, query):
    messages = assert_rejected(await prod.post(query))
    assert any("introspection" in m for m in messages)


async def test_typename_still_works(prod):
    body = (await prod.post("{ __typename staff(first: 0) { __typename } }")).json()
    assert body == {"data": {"__typename": "Query", "staff": {"__typename": "StaffConnection"}}}


# --- no suggestions: messages name only what the query holds -------------------------------

# (query, variables, the unknown name the message must point at, names a suggestion would
# have leaked, the schema type or field the message may name as the misspelling's place)
MISSPELLINGS = {
    "field": (
        "{ staff(first: 1) { totlCount } }",
        None,
        "totlCount",
        ["totalCount"],
        {"StaffConnection"},
    ),
    "root-field": ("{ staf(first: 1) { totalCount } }", None, "staf", ["staff"], {"Query"}),
    "mutation": (
        "mutation { staffCreat(input: {}) { staff { id } } }",
        None,
        "staffCreat",
        ["staffCreate"],
        {"Mutation"},
    ),
    "argument": ("{ staff(frist: 1) { totalCount } }", None, "frist", ["first"], {"Query.staff"}),
    "fragment-type": (
        "{ staff(first: 1) { edges { node { ...F } } } } fragment F on Staf { id }",
        None,
        "Staf",
        ["Staff"],
        set(),
    ),
    "inline-fragment-type": (
        '{ node(id: "x") { ... on Staf { id } } }',
        None,
        "Staf",
        ["Staff"],
        set(),
    ),
    "variable-type": (
        "query($k: StaffSortKy!) { staff(first: 1, sort: {key: $k}) { totalCount } }",
        {"k": "LAST_NAME"},
        "StaffSortKy",
        ["StaffSortKey"],
        set(),
    ),
    "enum-literal": (
        "{ staff(first: 1, sort: {key: LAST_NAM}) { totalCount } }",
        None,
        "LAST_NAM",
        ["LAST_NAME"],
        {"StaffSortKey"},
    ),
    "enum-variable": (
        "query($k: StaffSortKey!) { staff(first: 1, sort: {key: $k}) { totalCount } }",
        {"k": "LAST_NAM"},
        "LAST_NAM",
        ["LAST_NAME"],
        set(),
    ),
    "enum-in-input-variable": (
        CREATE_VARS,
        {"input": {"lastName": "B", "kind": "EMPLOYE"}},
        "EMPLOYE",
        ["EMPLOYEE"],
        {"StaffKind"},
    ),
    "input-field-literal": (
        "{ staff(first: 1, filter: {includeInactiv: true}) { totalCount } }",
        None,
        "includeInactiv",
        ["includeInactive"],
        {"StaffFilterInput"},
    ),
    "input-field-variable": (
        "query($f: StaffFilterInput) { staff(first: 1, filter: $f) { totalCount } }",
        {"f": {"includeInactiv": True}},
        "includeInactiv",
        ["includeInactive"],
        set(),
    ),
    "mutation-input-field": (
        CREATE_VARS,
        {"input": {"firstNam": "A", "lastName": "B"}},
        "firstNam",
        ["firstName"],
        set(),
    ),
    "directive": (
        "{ staff(first: 1) { totalCount @inclde(if: true) } }",
        None,
        "@inclde",
        ["@include"],
        set(),
    ),
    "missing-selection": (
        'mutation { staffCreate(input: {lastName: "B"}) }',
        None,
        "staffCreate",
        ["{ ... }"],
        {"StaffPayload!"},
    ),
}


@pytest.mark.parametrize("case", MISSPELLINGS)
async def test_no_suggestions_and_no_names_beyond_the_query(prod, case):
    query, variables, unknown, leaks, place = MISSPELLINGS[case]
    before = await prod.staff_count()
    response = await prod.post(query, variables)
    messages = assert_rejected(response)
    assert "did you mean" not in response.text.lower()
    for leak in leaks:
        assert leak not in response.text
    assert any(unknown in m for m in messages), messages  # the error is still clear
    sent = query + json.dumps(variables or {})
    for message in messages:
        for name in re.findall(r"'([^']+)'", message):
            assert name in sent or name in place, f"{name!r} named in {message!r}"
    assert await prod.staff_count() == before


async def test_development_does_suggest_so_production_strips_it(database_url):
    """The twin of the test above: without the production profile the hints are there."""
    settings = make_settings(database_url)
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        owner = (await make_tenant(services)).owner
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://roster.test"
        ) as client:
            for case in ("field", "argument", "enum-literal", "input-field-literal"):
                query, variables, _, leaks, _ = MISSPELLINGS[case]
                body = await Api(client)(query, variables, as_=owner)
                assert "Did you mean" in body["errors"][0]["message"], body
                assert leaks[0] in body["errors"][0]["message"]
    finally:
        await services.close()


# --- only JSON POSTs execute (and multipart uploads that force a preflight) ---


def _form(prod: Prod):
    return prod.client.post("/graphql", data={"query": CREATE}, headers=prod.auth)


def _multipart(prod: Prod):
    """A multipart form as a cross-site page could post it: no header that forces a CORS
    preflight (with one, multipart is a file upload: tests/staff/test_import_upload.py)."""
    operations = json.dumps({"query": CREATE, "variables": {}})
    files = {"operations": (None, operations), "map": (None, "{}")}
    realm = {k: v for k, v in prod.auth.items() if k.lower() == "x-auth-realm"}
    return prod.client.post("/graphql", files=files, headers=realm)


def _get(prod: Prod):
    return prod.client.get("/graphql", params={"query": CREATE}, headers=prod.auth)


def _get_query(prod: Prod):
    return prod.client.get("/graphql", params={"query": COUNT}, headers=prod.auth)


def _text_plain(prod: Prod):
    body = json.dumps({"query": CREATE})
    return prod.client.post(
        "/graphql", content=body, headers={**prod.auth, "content-type": "text/plain"}
    )


def _no_content_type(prod: Prod):
    return prod.client.post("/graphql", content=json.dumps({"query": CREATE}), headers=prod.auth)


def _graphql_body(prod: Prod):
    headers = {**prod.auth, "content-type": "application/graphql"}
    return prod.client.post("/graphql", content=CREATE, headers=headers)


def _batch(prod: Prod):
    return prod.client.post(
        "/graphql", json=[{"query": CREATE}, {"query": CREATE}], headers=prod.auth
    )


@pytest.mark.parametrize(
    "send",
    [_get, _get_query, _form, _multipart, _text_plain, _no_content_type, _graphql_body, _batch],
    ids=[
        "get-mutation",
        "get-query",
        "form",
        "multipart",
        "text-plain",
        "no-content-type",
        "application-graphql",
        "batch",
    ],
)
async def test_only_json_posts_execute(prod, send):
    response = await send(prod)
    assert 400 <= response.status_code < 500, response.text
    assert '"data"' not in response.text
    assert await prod.staff_count() == 1


async def test_a_json_post_of_the_same_mutation_writes(prod):
    """The twin of the refusals above: the mutation they carry does write."""
    response = await prod.client.post(
        "/graphql",
        content=json.dumps({"query": CREATE}),
        headers={**prod.auth, "content-type": "application/json; charset=utf-8"},
    )
    assert response.json()["data"]["staffCreate"]["staff"]["id"]
    assert await prod.staff_count() == 2


# --- request body limit -----------------------------------------------------------------------


async def test_body_over_the_limit_is_refused_with_413(production):
    prod = await production(max_body_bytes=4096)
    small = await prod.post(
        CREATE_VARS, {"input": {"firstName": "F", "lastName": "Small", "notes": "n" * 3000}}
    )
    assert small.json()["data"]["staffCreate"]["userErrors"] == []
    large = await prod.post(
        CREATE_VARS, {"input": {"firstName": "F", "lastName": "Large", "notes": "n" * 5000}}
    )
    assert large.status_code == 413
    assert error_codes(large.json()) == ["BAD_USER_INPUT"]
    assert await prod.staff_count() == 2  # the owner and "Small"


@pytest.mark.parametrize("streamed", [False, True])
async def test_the_413_answers_in_the_error_shape_of_the_surface_asked(database_url, streamed):
    """SCIM answers with its Error schema, BigTime's REST API with {"Message"}, GraphQL
    with its errors, whether the length is declared or the body streams past the limit."""
    app = create_app(make_settings(database_url, **{**PRODUCTION, "max_body_bytes": 4096}))
    tenant = await make_tenant(app.state.services)
    scim_key = await make_api_token(app.state.services, tenant, tenant.owner, [Scope.SCIM])
    headers = {
        "Authorization": f"Bearer {tenant.owner.token}",
        "X-Auth-Realm": tenant.slug,
        "Content-Type": "application/json",
    }
    large = b'{"SName": "' + b"x" * 5000 + b'"}'

    async def chunks():
        yield large[:2000]
        yield large[2000:]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://roster") as client:
        answers = {}
        for path in ("/scim/v2/Users", "/api/v2/staff/add", "/graphql"):
            token = scim_key if path.startswith("/scim/") else tenant.owner.token
            answers[path] = await client.post(
                path,
                content=chunks() if streamed else large,
                headers=headers | {"Authorization": f"Bearer {token}"},
            )
    await app.state.services.close()
    assert {a.status_code for a in answers.values()} == {413}
    scim = answers["/scim/v2/Users"]
    assert scim.headers["content-type"] == "application/scim+json"
    assert scim.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "413",
        "detail": "The request body is too large.",
    }
    assert answers["/api/v2/staff/add"].json() == {"Message": "The request body is too large."}
    assert error_codes(answers["/graphql"].json()) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("declared", [b"\xb2", b"1\xb2", b"-1", b"+5", b" ", b"1" * 5000])
async def test_a_content_length_that_is_no_number_is_refused(database_url, declared):
    """As the ASGI app sees the header (a server that passes it on): refused with 413,
    never a crash. "\xb2" is "²" in Latin-1, a digit to Python's isdigit()."""
    app = create_app(make_settings(database_url, **PRODUCTION))
    headers = {"content-type": "application/json", "content-length": declared}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://roster") as client:
        request = client.build_request("POST", "/graphql", content=b'{"query":"{ __typename }"}')
        for name, value in headers.items():
            request.headers[name] = value.decode("latin-1") if isinstance(value, bytes) else value
        answer = await client.send(request)
    await app.state.services.close()
    assert answer.status_code == 413
    assert error_codes(answer.json()) == ["BAD_USER_INPUT"]


async def test_chunked_body_without_content_length_is_refused(database_url):
    """Over real HTTP: a body streamed in chunks, never declaring its length."""
    settings = make_settings(database_url, **{**PRODUCTION, "max_body_bytes": 4096})
    services = Services.from_settings(settings)
    owner = (await make_tenant(services)).owner
    headers = {
        "Authorization": f"Bearer {owner.token}",
        "X-Auth-Realm": owner.realm,
        "content-type": "application/json",
    }

    def chunked(notes: str):
        payload = orjson.dumps(
            {
                "query": CREATE_VARS,
                "variables": {"input": {"firstName": "F", "lastName": "C", "notes": notes}},
            }
        )

        async def chunks():
            for start in range(0, len(payload), 1000):
                yield payload[start : start + 1000]

        return chunks()

    async with live_server(create_app(settings, services=services)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            request = client.build_request(
                "POST", "/graphql", content=chunked("n" * 20_000), headers=headers
            )
            assert "content-length" not in request.headers
            assert request.headers["transfer-encoding"] == "chunked"
            refused = await client.send(request)
            assert refused.status_code == 413
            assert error_codes(refused.json()) == ["BAD_USER_INPUT"]

            ok = await client.post("/graphql", content=chunked("short"), headers=headers)
            assert ok.json()["data"]["staffCreate"]["userErrors"] == []
            count = await Api(client).data(COUNT, as_=owner)
    assert count["staff"]["totalCount"] == 2  # the owner and the small one


# --- per-request time limit -------------------------------------------------------------------


async def test_a_request_past_the_time_limit_is_cut_off_and_writes_nothing(production, monkeypatch):
    prod = await production(request_timeout_seconds=0.3)
    real_create = staff_service.create_staff

    async def create_then_stall(*args, **kwargs):
        staff = await real_create(*args, **kwargs)
        await asyncio.sleep(30)
        return staff

    monkeypatch.setattr(staff_service, "create_staff", create_then_stall)
    response = await prod.post(CREATE)
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": response.headers["x-request-id"],
    }
    assert "sleep" not in response.text and "Traceback" not in response.text
    monkeypatch.undo()
    # Counting is an ordinary request: give it an ordinary time limit on a busy machine.
    prod.settings.request_timeout_seconds = 30
    assert await prod.staff_count() == 1


# --- limits hold through fragments and aliases ------------------------------------------------


def _deep(levels: int) -> str:
    """staffCreate { staff { manager { manager ... } } } via a chain of fragments."""
    fragments = [f"fragment L{i} on Staff {{ manager {{ ...L{i + 1} }} }}" for i in range(levels)]
    fragments.append(f"fragment L{levels} on Staff {{ id }}")
    return (
        'mutation { staffCreate(input: {firstName: "F", lastName: "Deep"}) { staff { ...L0 } } } '
        + " ".join(fragments)
    )


def _aliased(per_fragment: int) -> str:
    """One fragment of aliased fields, spread three times."""
    aliases = " ".join(f"a{i}: id" for i in range(per_fragment))
    return (
        'mutation { staffCreate(input: {firstName: "F", lastName: "Alias"}) { staff { ...A manager { ...A } '
        f"sharedWith {{ ...A }} }} }} }} fragment A on Staff {{ {aliases} }}"
    )


def _directives(count: int) -> str:
    pool = ["@include(if: true)", "@skip(if: false)"]
    directives = " ".join(pool[i % 2] for i in range(count))
    return (
        'mutation { staffCreate(input: {firstName: "F", lastName: "Directive"}) { staff { ...S '
        f"{directives} }} }} }} fragment S on Staff {{ id }}"
    )


WRITE = (
    'mutation Write { staffCreate(input: {firstName: "F", lastName: "Beside"}) { staff { id } } }'
)


def _tokens(count: int) -> str:
    """A document of ``count`` tokens: a mutation (run by operationName) beside a query
    padded with a long list."""
    roles = " ".join(["VIEWER"] * (count - 44))
    return (
        f"{WRITE} query Read {{ staff(first: 1, filter: {{roles: [{roles}]}}) {{ totalCount }} }}"
    )


# 313 a row: edges, node and 311 fields (the fragment's 3 fields counted per spread).
COSTLY = "staff(first: {}) {{ edges {{ node {{ " + "...N " * 103 + "id firstName }} }} }}"


def _cost(first: str) -> str:
    """A document whose mutation is run (operationName) beside a query priced by ``first``:
    1 + 313 * first."""
    params = "($n: Int!)" if first == "$n" else ""
    read = COSTLY.format(first)
    return (
        f"{WRITE} query Read{params} {{ {read} }} fragment N on Staff {{ id firstName lastName }}"
    )


# name -> (within the limit, over the limit, words of the error)
LIMITS = {
    "depth-through-fragments": (_deep(9), _deep(10), "13 levels deep (at most 12)"),
    "aliases-through-a-fragment": (_aliased(10), _aliased(11), "33 aliases (at most 30)"),
    "directives-per-location": (_directives(2), _directives(4), "4 directives in one place"),
    "cost-from-first": (_cost("79"), _cost("80"), "costs 25041 (at most 25000)"),
    "cost-from-first-variable": (_cost("79"), _cost("$n"), "costs 31301 (at most 25000)"),
    "tokens": (_tokens(3000), _tokens(3001), "more than 3000 tokens"),
}


@pytest.mark.parametrize("name", LIMITS)
async def test_over_a_limit_nothing_runs(prod, name):
    within, over, words = LIMITS[name]
    operation = {"operationName": "Write"} if "mutation Write" in over else {}
    messages = assert_rejected(await prod.post(over, {"n": 1}, **operation))
    assert any(words in m for m in messages), messages
    assert await prod.staff_count() == 1

    ran = (await prod.post(within, {}, **operation)).json()
    assert not ran.get("errors"), ran
    assert ran["data"]["staffCreate"]["staff"] is not None
    assert await prod.staff_count() == 2


async def test_first_as_a_variable_is_priced_as_the_largest_page(prod):
    fits = "{ " + COSTLY.format("1") + " } fragment N on Staff { id firstName lastName }"
    assert (await prod.post(fits)).json()["data"]["staff"]["edges"]
    query = "query($n: Int!) { " + COSTLY.format("$n") + " }"
    query += " fragment N on Staff { id firstName lastName }"
    messages = assert_rejected(await prod.post(query, {"n": 1}))
    assert any("costs 31301" in m for m in messages), messages


# --- masked errors and JSON logs --------------------------------------------------------------


async def test_unexpected_errors_are_masked_and_logged_as_json_with_the_request_id(
    production, monkeypatch
):
    prod = await production(log_format="json")
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(sys, "stderr", stream)
    configure(prod.settings)  # what `roster serve` does: JSON lines on stderr
    real_create = staff_service.create_staff

    async def create_then_fail(*args, **kwargs):
        await real_create(*args, **kwargs)
        raise ValueError("connection to db-primary.internal:5432 lost, password=hunter2")

    monkeypatch.setattr(staff_service, "create_staff", create_then_fail)
    try:
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        response = await prod.post(CREATE)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        monkeypatch.undo()

    request_id = response.headers["x-request-id"]
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    for secret in ("hunter2", "db-primary", "ValueError", "Traceback", "create_then_fail", ".py"):
        assert secret not in response.text

    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    [entry] = [
        e for e in entries if request_id in e["message"] and e["logger"] != "roster.access"
    ]
    assert entry["level"] == "ERROR"
    [access] = [e for e in entries if e["logger"] == "roster.access"]
    assert access["request_id"] == request_id
    assert access["outcome"] == "internal_server_error"
    assert "hunter2" not in json.dumps(access)
    assert "Traceback" in entry["exception"] and "hunter2" in entry["exception"]
    assert await prod.staff_count() == 1  # the failed mutation left nothing behind


# --- HTML pages and CORS ----------------------------------------------------------------------

PAGES = [
    "/invitations/accept?token=unknown",
    "/password/reset?token=unknown",
    "/password/forgot",
    "/email/verify?token=unknown",
    "/join/unknown",
]


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", PAGES)
async def test_every_html_page_has_security_headers(prod, path):
    shown = await prod.client.get(path)
    assert_security_headers(shown)
    refused = await prod.client.post(path, data={"csrf": "forged"})  # no CSRF cookie
    assert refused.status_code == 403
    assert_security_headers(refused)


async def test_a_successful_form_post_answers_with_security_headers(prod):
    form = await prod.client.get("/password/forgot")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    done = await prod.client.post(
        "/password/forgot",
        data={"csrf": csrf, "email": prod.owner.email},
        headers={"Origin": "http://roster.test"},  # as a browser sends from our page
    )
    assert done.status_code == 200 and "Check your email" in done.text
    assert_security_headers(done)


async def test_cors_only_for_configured_origins(production):
    prod = await production(cors_origins=[ORIGIN])
    allowed = await prod.client.post(
        "/graphql", json={"query": COUNT}, headers={**prod.auth, "Origin": ORIGIN}
    )
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    other = await prod.client.post(
        "/graphql",
        json={"query": COUNT},
        headers={**prod.auth, "Origin": "https://evil.example.com"},
    )
    assert "access-control-allow-origin" not in other.headers

    def preflight(origin):
        return prod.client.options(
            "/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )

    ok = await preflight(ORIGIN)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    denied = await preflight("https://evil.example.com")
    assert denied.status_code >= 400
    assert "access-control-allow-origin" not in denied.headers
