"""The benchmark's floor (bench/floor.py) answers exactly what Roster answers, byte for byte,
for every document of the suite it serves, as an administrator and as a viewer, on each
database; and the suite's tour documents are the README's, verbatim."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import orjson
import pytest

from bench import floor
from bench.seed import _seed_account
from bench.suite import Caller, add_viewer, cases, context_of, through_the_api
from bench.suite_documents import ADMIN, SUITE, TOUR, VIEWER

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
async def callers(services) -> dict[str, Caller]:
    account = await _seed_account(services.db, services.passwords, 120)
    viewer_token = await add_viewer(services.db, services.passwords, account)
    return {
        ADMIN: Caller(ADMIN, account.admin_token, account.slug),
        VIEWER: Caller(VIEWER, viewer_token, account.slug),
    }


@pytest.fixture
async def floor_client(database_url, callers):
    """Opened once Roster has set the database up (SQLite: in WAL mode, as Roster runs it)."""
    app = floor.create_app(database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
            yield client


async def test_floor_answers_what_roster_answers(client, floor_client, callers):
    await through_the_api(client, callers[ADMIN])
    context = await context_of(client, callers[ADMIN])
    served = [
        (doc, caller, body)
        for doc, caller, body in cases(context, callers)
        if floor.serves(orjson.loads(body))
    ]
    assert {doc.name for doc, _, _ in served} >= {
        "page",
        "page + totalCount",
        "two fields",
        "fragments + variables",
        "page 3 (after)",
        "search",
        "node",
        "viewer",
        "invitations",
        "audit log",
        *(doc.name for doc in SUITE if doc.query in TOUR),
    }
    for doc, caller, body in served:
        headers = {**caller.headers, "Content-Type": "application/json"}
        roster = await client.post("/graphql", content=body, headers=headers)
        by_hand = await floor_client.post("/graphql", content=body, headers=headers)
        assert b'"errors"' not in roster.content, (doc.name, caller.role, roster.text)
        assert roster.content == by_hand.content, (doc.name, caller.role)
        assert int(by_hand.headers["x-floor-statements"]) >= 1


async def test_the_viewer_sees_less_than_the_administrator(client, floor_client, callers):
    """The suite's two roles differ where the field rules say: the viewer's page has no
    personal data and no details of restricted records (so the floor does that work too)."""
    page = next(doc for doc in SUITE if doc.name == "page")
    answers = {}
    for role, caller in callers.items():
        body = orjson.dumps(page.body({}))
        out = await floor_client.post("/graphql", content=body, headers=caller.headers)
        answers[role] = out.json()["data"]["staff"]["edges"]
    admin = [e["node"] for e in answers[ADMIN]]
    viewer = [e["node"] for e in answers[VIEWER]]
    assert all(n["email"] for n in admin)
    assert not any(n["email"] for n in viewer)
    restricted = [n for n in viewer if n["restricted"]]
    assert restricted and all(n["customFields"] is None for n in restricted)
    assert all(n["customFields"] is not None for n in viewer if not n["restricted"])


def test_the_tour_documents_are_the_readmes():
    blocks = re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S)
    for document in TOUR:
        assert document + "\n" in blocks
