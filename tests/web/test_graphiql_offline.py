"""GraphiQL at /graphql works with no network: every file it needs comes from Roster itself.

The browser test runs the real server (uvicorn) and headless Chromium whose every request
to another origin is refused and recorded; a person types a query into the editor, runs it,
reads the answer and opens the documentation explorer."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from app.main import create_app
from app.services import Services
from app.web.ide import ASSETS_PATH, pinned_versions
from tests.conftest import make_settings
from tests.factories import make_staff, make_tenant
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, live_server

QUERY = '{ staff(search: "Lovelace") { totalCount edges { node { firstName lastName } } } }'
URL = re.compile(r"""(?:src|href)="([^"]+)\"""")


async def test_graphiql_runs_a_query_and_shows_the_docs_with_no_network(database_url):
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium")
    from playwright.async_api import async_playwright

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(database_url, public_url=base)
    services = Services.from_settings(settings)
    try:
        tenant = await make_tenant(services, "Offline & Co")
        await make_staff(services, tenant, first_name="Ada", last_name="Lovelace")
        async with live_server(create_app(settings, services=services), sock):
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                try:
                    await _use_graphiql(browser, base, tenant)
                finally:
                    await browser.close()
    finally:
        sock.close()
        await services.close()


async def _use_graphiql(browser, base: str, tenant) -> None:
    context = await browser.new_context()
    requested: list[str] = []
    blocked: list[str] = []

    async def only_our_server(route):
        url = route.request.url
        requested.append(url)
        if url == base or url.startswith(base + "/"):
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_our_server)
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))

    response = await page.goto(f"{base}/graphql")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    query_editor = page.locator(".graphiql-query-editor .CodeMirror")
    await query_editor.wait_for(timeout=20_000)
    assert "login" in await page.inner_text(".roster-note")

    # The headers editor comes filled with the template a person completes.
    headers_editor = page.locator(".graphiql-editor-tool .CodeMirror:visible")
    await headers_editor.wait_for()
    template = await headers_editor.inner_text()
    assert '"Authorization": "Bearer <token>"' in template
    assert '"X-Auth-Realm": "<account slug>"' in template

    # Type the owner's credentials into the headers editor, then the query, key by key.
    await headers_editor.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    await page.keyboard.type(
        f'{{"Authorization": "Bearer {tenant.owner.token}", "X-Auth-Realm": "{tenant.slug}"}}'
    )
    await query_editor.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    await page.keyboard.type(QUERY)
    await page.keyboard.press("Escape")  # closes the autocompletion's hints, if any
    # GraphiQL reads the document's operations 100 ms after the last keystroke (debounced);
    # run before that, it would still ask for the default document's first operation. The
    # same step saves the query's text: once it is saved, the operations are known.
    await page.wait_for_function(
        "q => localStorage.getItem('graphiql:query') === q", arg=QUERY, timeout=10_000
    )
    await page.keyboard.press("Control+Enter")

    result = page.locator(".graphiql-response")
    await page.wait_for_function(
        "() => document.querySelector('.graphiql-response').innerText.includes('totalCount')",
        timeout=20_000,
    )
    text = await result.inner_text()
    assert '"totalCount": 1' in text, text
    assert '"firstName": "Ada"' in text and '"lastName": "Lovelace"' in text, text
    assert "errors" not in text, text

    # The documentation explorer lists the Query type's fields (from introspection).
    await page.get_by_label("Show Documentation Explorer").click()
    docs = page.locator(".graphiql-doc-explorer")
    await docs.wait_for()
    await docs.get_by_text("Query", exact=True).first.click()
    await page.wait_for_function(
        "() => document.querySelector('.graphiql-doc-explorer').innerText.includes('staff')",
        timeout=10_000,
    )
    fields = await docs.inner_text()
    assert "viewer" in fields and "staff" in fields, fields

    # The token typed into the headers is not kept in the browser's storage.
    stored = await page.evaluate("JSON.stringify(localStorage)")
    assert tenant.owner.token not in stored, stored
    assert blocked == []
    assert problems == []
    assert requested and all(u.startswith(base + "/") for u in requested)
    assert any(ASSETS_PATH in u for u in requested)
    await context.close()


async def test_the_page_names_no_other_origin_and_its_files_are_cacheable(client):
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp
    assert "connect-src 'self'" in csp
    assert "http://" not in page.text and "https://" not in page.text and "//" not in page.text
    assert "<script>" not in page.text  # no inline script: only Roster's files

    urls = URL.findall(page.text)
    assert {u.rsplit("/", 1)[1] for u in urls} == {
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "graphiql.min.css",
        "roster-graphiql.js",
        "roster-graphiql.css",
    }
    for url in urls:
        assert url.startswith(ASSETS_PATH + "/")
        asset = await client.get(url)
        assert asset.status_code == 200, url
        kind = "text/css" if url.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"] == f"{kind}; charset=utf-8"
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        again = await client.get(url, headers={"if-none-match": asset.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        # The URL names the content: another digest is not this file.
        digest = url.split("/")[-2]
        stale = await client.get(url.replace(digest, "0" * len(digest)))
        assert stale.status_code == 404

    graphiql_js = next(u for u in urls if u.endswith("/graphiql.min.js"))
    body = (await client.get(graphiql_js)).text
    assert body.startswith("!function") and "GraphiQL" in body
    assert pinned_versions()["graphiql"] == "4.1.2"
    assert (await client.get(f"{ASSETS_PATH}/x/package.json")).status_code == 404
    assert (await client.get(f"{ASSETS_PATH}/x/..%2Fpackage.json")).status_code == 404


async def test_without_its_files_the_page_says_how_to_install_them(client, monkeypatch):
    """(The assets are read on the first page; this client has not asked for one yet.)"""
    import app.web.ide as ide

    monkeypatch.setattr(ide, "MODULES", ide.MODULES.parent / "not-installed")
    monkeypatch.setattr(
        ide,
        "FILES",
        {n: (p, ide.MODULES / path.name) for n, (p, path) in ide.FILES.items()},
    )
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 503
    assert "npm ci --prefix app/web/graphiql" in page.text
    assert "<script" not in page.text
    # the API itself does not need them
    answer = await client.post("/graphql", json={"query": "{ __typename }"})
    assert answer.json() == {"data": {"__typename": "Query"}}


async def test_production_serves_neither_the_page_nor_its_files(database_url):
    from tests.test_app import PRODUCTION_SECRETS

    dev = create_app(make_settings(database_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dev), base_url="http://t") as c:
        urls = URL.findall((await c.get("/graphql", headers={"accept": "text/html"})).text)
    app = create_app(make_settings(database_url, **PRODUCTION_SECRETS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        page = await c.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code >= 400 and "graphiql" not in page.text.lower()
        for url in urls:
            assert (await c.get(url)).status_code == 404
