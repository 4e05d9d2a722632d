"""An operation holds at most one root field that checks or sets a password: each such
hash runs inside the document's one write transaction (on SQLite the server's writer
lock), so thirty aliased ones held it through thirty hashes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.graphql import slow_fields
from app.graphql.schema import build_schema
from app.identity.models import User
from tests.factories import PASSWORD, error_codes


def signup(email: str) -> str:
    given = f'email: "{email}", password: "{PASSWORD}", firstName: "A", lastName: "B"'
    return f'signup(input: {{{given}, accountName: "Acme"}}) {{ userErrors {{ code }} }}'


def login(email: str) -> str:
    return f'login(input: {{email: "{email}", password: "{PASSWORD}"}}) {{ token }}'


async def users(services) -> int:
    async with services.db.session() as session:
        return await session.scalar(select(func.count()).select_from(User))


@pytest.mark.parametrize(
    "document",
    [
        # aliases
        f"mutation {{ a: {signup('a@example.com')} b: {signup('b@example.com')} }}",
        # two kinds
        f"mutation {{ {signup('a@example.com')} {login('b@example.com')} }}",
        # through fragments, inline and named
        f"mutation {{ ...F ... on Mutation {{ b: {login('b@example.com')} }} }} "
        f"fragment F on Mutation {{ a: {login('a@example.com')} }}",
    ],
    ids=["aliases", "two-kinds", "fragments"],
)
async def test_two_password_fields_in_one_operation_are_refused_before_anything_runs(
    api, services, document
):
    before = await users(services)
    body = await api(document)
    assert body.get("data") is None, body
    # refused by this rule alone (the fields themselves are valid: one at a time, they run)
    assert set(error_codes(body)) == {"BAD_USER_INPUT"}, body
    assert all("send them as separate requests" in e["message"] for e in body["errors"]), body
    assert await users(services) == before


async def test_one_password_field_beside_others_runs(api, services):
    reset = 'passwordResetRequest(input: {email: "x@example.com"}) { ok }'
    document = f"mutation {{ {signup('new@example.com')} {reset} }}"
    body = await api(document)
    assert not body.get("errors"), body
    assert body["data"]["signup"]["userErrors"] == []
    assert body["data"]["passwordResetRequest"]["ok"] is True


def test_every_password_field_is_a_mutation_of_the_schema(monkeypatch):
    schema = build_schema()._schema
    assert slow_fields.unknown_slow_fields(schema) == set()
    monkeypatch.setattr(
        slow_fields, "PASSWORD_FIELDS", slow_fields.PASSWORD_FIELDS | {"noSuchField"}
    )
    assert slow_fields.unknown_slow_fields(schema) == {"noSuchField"}


def chain(levels: int, bottom: str) -> str:
    """Each fragment spreads the next twice: 2**levels paths to ``bottom``."""
    fragments = [
        f"fragment F{i} on Mutation {{ ...F{i + 1} ...F{i + 1} }}" for i in range(1, levels)
    ]
    fragments.append(f"fragment F{levels} on Mutation {{ {bottom} }}")
    return "mutation { ...F1 }\n" + "\n".join(fragments)


def test_a_chain_of_fragments_is_walked_once_per_fragment(monkeypatch):
    """Spread twice at each of 60 levels, a fragment reaches the bottom 2**59 ways: walked
    path by path, validating it would never end (for anyone, signed in or not)."""
    from graphql import parse, validate

    walked = 0
    original = slow_fields._Keys.of

    def counted(self, *args):
        nonlocal walked
        walked += 1
        return original(self, *args)

    monkeypatch.setattr(slow_fields._Keys, "of", counted)
    schema = build_schema()._schema
    rule = [slow_fields.SlowFieldsPerOperation]
    two = f"a: {login('a@example.com')} b: {login('b@example.com')}"
    errors = validate(schema, parse(chain(60, two)), rule)
    assert [e.message.startswith("An operation may hold one field") for e in errors] == [True]
    assert walked <= 61  # once per fragment, and the operation
    walked = 0
    assert validate(schema, parse(chain(60, login("a@example.com"))), rule) == []
    assert walked <= 61


async def test_one_field_spread_twice_under_one_key_runs_once(api, services):
    """Fields of one response key are merged into one: the same login twice is one login."""
    document = f"mutation {{ {login('nobody@example.com')} ...F }} fragment F on Mutation {{ {login('nobody@example.com')} }}"
    body = await api(document)
    assert not body.get("errors"), body
    assert body["data"]["login"]["token"] is None
