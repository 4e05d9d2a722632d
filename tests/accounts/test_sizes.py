"""The account's sizes the cost check reads: a count stops at the cap it is given, and the
check decides as the exact sizes would, without counting a large account's every row."""

import httpx
import pytest

from app.accounts.sizes import Size, sizes
from app.main import create_app
from app.services import Services
from tests.conftest import make_settings
from tests.factories import insert_staff_rows, make_tenant

CHAIN = "{ staffBySid(sid: 1) { reportingChain { id } } }"
WANTED = {Size.STAFF, Size.CUSTOM_VALUES, Size.PROJECTS_PER_STAFF}


async def _staff(services, tenant, count: int) -> None:
    await insert_staff_rows(
        services, tenant, [dict(first_name=f"F{i}", last_name=f"L{i}") for i in range(count)]
    )


async def _chain_under_a_limit_of_20(database_url: str, headers_by_name: dict) -> dict:
    """``CHAIN``'s answer under a cost limit of 20, sent with each of the headers."""
    limited = Services.from_settings(make_settings(database_url, max_query_cost=20))
    try:
        transport = httpx.ASGITransport(app=create_app(limited.settings, services=limited))
        async with httpx.AsyncClient(transport=transport, base_url="http://roster.test") as c:
            answers = {}
            for name, headers in headers_by_name.items():
                response = await c.post("/graphql", json={"query": CHAIN}, headers=headers)
                answers[name] = response.json()
    finally:
        await limited.close()
    return answers


async def test_a_count_stops_at_the_cap(services):
    tenant = await make_tenant(services)
    await _staff(services, tenant, 30)
    async with services.db.session() as session:
        exact = await sizes(session, WANTED, account_id=tenant.account_id, user_id=None)
        capped = await sizes(session, WANTED, account_id=tenant.account_id, user_id=None, cap=10)
        roomy = await sizes(session, WANTED, account_id=tenant.account_id, user_id=None, cap=99)
    assert exact[Size.STAFF] == 31  # the owner and 30
    assert capped == {**exact, Size.STAFF: 10}
    assert roomy == exact


async def test_the_cost_check_decides_as_with_exact_sizes(services, database_url):
    """The chain is bounded by the account's staff: over the limit on an account larger
    than it (said to cost "more than" the limit: the count stopped), answered on a smaller
    one."""
    small, large = await make_tenant(services), await make_tenant(services, seats=60)
    await _staff(services, small, 5)
    await _staff(services, large, 40)
    tenants = {"small": small, "large": large}
    answers = await _chain_under_a_limit_of_20(
        database_url,
        {name: {"Authorization": f"Bearer {t.owner.token}"} for name, t in tenants.items()},
    )
    assert "errors" not in answers["small"], answers["small"]
    [error] = answers["large"]["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "(it may cost at most 20)" in error["message"], error


async def test_an_accounts_custom_values_are_counted_without_the_other_accounts(services):
    """The count of ``customFieldValues``'s bound reads the account's own values by index
    (it once scanned the table: every account's values)."""
    if services.db.dialect != "sqlite":
        pytest.skip("SQLite's query plan")
    import sqlite3

    from app.db.statements import StatementCounter

    tenant = await make_tenant(services)
    with StatementCounter(services.db.engine) as sent:
        async with services.db.session() as session:
            await sizes(session, {Size.CUSTOM_VALUES}, account_id=tenant.account_id, user_id=None)
    [statement] = sent.statements
    connection = sqlite3.connect(services.db.engine.url.database)
    try:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN " + statement, [None] * statement.count("?")
        ).fetchall()
    finally:
        connection.close()
    details = " / ".join(row[-1] for row in plan)
    assert "custom_field_values" in details, details
    assert "SCAN custom_field_values" not in details, details


# --- sizes read with the token -------------------------------------------------------------

ALL_SIZES = set(Size)


async def _with_token(services, token: str, realm: str | None, wanted=ALL_SIZES, cap=None):
    """What the authentication's statement counted for the actor (or None), the actor, and
    the same sizes read on their own for the actor's account and the token's user."""
    from app.accounts.sizes import counted, counting
    from app.identity.service import authenticate_counting

    cap = cap or 10_000
    async with services.db.session() as session:
        principal, actor, values = await authenticate_counting(
            session, token, realm, counting(wanted, cap)
        )
        alone = None
        if actor is not None:
            alone = await sizes(
                session, wanted, account_id=actor.account_id, user_id=principal.user_id, cap=cap
            )
    return (None if values is None else counted(wanted, values)), actor, alone


async def _two_accounts(services):
    """A user in two accounts of different sizes (staff, custom values, projects, API
    keys...), by realm."""
    from app.access import Role
    from tests.factories import (
        add_membership,
        make_api_token,
        make_custom_field,
        set_custom_value,
    )

    big, small = await make_tenant(services), await make_tenant(services)
    ids = await insert_staff_rows(
        services, big, [dict(first_name=f"F{i}", last_name=f"L{i}") for i in range(12)]
    )
    field = await make_custom_field(services, big, "Shirt")
    for staff_id in ids[:5]:
        await set_custom_value(services, big, staff_id, field.id, "M")
    await _staff(services, small, 2)
    member = await add_membership(services, big, small.owner.user_id, Role.ADMINISTRATOR)
    await make_api_token(services, big, member)
    return big, small, member


async def test_sizes_counted_with_the_token_are_the_accounts_own(services):
    """For every size, what the token's statement counts is what the sizes' own statement
    counts for the account the request acts in, chosen by slug or by id; never the other
    account's."""
    big, small, member = await _two_accounts(services)
    for tenant in (big, small):
        for realm in (tenant.slug, str(tenant.account_id), f" {tenant.slug.upper()} "):
            got, actor, alone = await _with_token(services, member.token, realm)
            assert actor is not None and actor.account_id == tenant.account_id, realm
            assert got == alone, (realm, got, alone)
    got_big, _, _ = await _with_token(services, member.token, big.slug)
    got_small, _, _ = await _with_token(services, member.token, small.slug)
    assert got_big[Size.STAFF] > got_small[Size.STAFF]
    assert got_big[Size.CUSTOM_VALUES] == 5 and got_small[Size.CUSTOM_VALUES] == 0


async def test_sizes_counted_with_the_token_stop_at_the_cap(services):
    big, _, member = await _two_accounts(services)
    got, _, alone = await _with_token(services, member.token, big.slug, cap=3)
    assert got == alone and got[Size.STAFF] == 3 and got[Size.CUSTOM_VALUES] == 3


async def test_without_a_realm_only_an_only_account_or_a_keys_account_is_counted(services):
    """No realm: the user's only account is counted; a user of two accounts has no actor,
    so nothing is counted (the cost check then reads the sizes itself)."""
    big, small, member = await _two_accounts(services)
    got, actor, alone = await _with_token(services, big.owner.token, None)
    assert actor is not None and got == alone
    got, actor, _ = await _with_token(services, member.token, None)
    assert actor is None and got is None


async def test_a_key_bound_to_an_account_counts_that_account(services):
    from app.access import Role
    from tests.factories import add_membership, make_api_token

    big, small = await make_tenant(services), await make_tenant(services)
    await _staff(services, big, 7)
    member = await add_membership(services, big, small.owner.user_id, Role.ADMINISTRATOR)
    key = await make_api_token(services, big, member)
    got, actor, alone = await _with_token(services, key, None)
    assert actor is not None and actor.account_id == big.account_id
    assert got == alone and got[Size.STAFF] == 9  # the owner, 7 and the member


async def test_the_cost_check_refuses_on_sizes_read_with_the_token(services, database_url):
    """The same document, the same user: refused in the larger account (its staff bound
    the chain), answered in the smaller; the decision is made on the realm's account."""
    from app.access import Role
    from tests.factories import add_membership

    small, large = await make_tenant(services), await make_tenant(services, seats=60)
    await _staff(services, small, 5)
    await _staff(services, large, 40)
    tenants = {"small": small, "large": large}
    member = await add_membership(services, large, small.owner.user_id, Role.VIEWER)
    answers = await _chain_under_a_limit_of_20(
        database_url,
        {
            name: {"Authorization": f"Bearer {member.token}", "X-Auth-Realm": t.slug}
            for name, t in tenants.items()
        },
    )
    assert "errors" not in answers["small"], answers["small"]
    [error] = answers["large"]["errors"]
    assert "(it may cost at most 20)" in error["message"], error


async def test_a_request_without_an_account_is_priced_with_no_tenants_sizes(
    services, database_url
):
    """A request without an account (no token; a user of two accounts naming none) reads no
    list of one, and is priced so: never with another tenant's sizes, which told anyone
    how large the largest customer is. A refusal names no cost either: made of the
    account's sizes, it would tell a reader counts they may not see (disabled and
    restricted records, say)."""
    large = await make_tenant(services, seats=60)
    await _staff(services, large, 40)
    _, _, member = await _two_accounts(services)
    answers = await _chain_under_a_limit_of_20(
        database_url,
        {
            "anonymous": {},
            "no realm": {"Authorization": f"Bearer {member.token}"},
            "large": {"Authorization": f"Bearer {large.owner.token}"},
        },
    )
    assert [e["extensions"]["code"] for e in answers["anonymous"]["errors"]] == [
        "UNAUTHENTICATED"
    ]
    assert [e["extensions"]["code"] for e in answers["no realm"]["errors"]] == ["FORBIDDEN"]
    [error] = answers["large"]["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert not any(ch.isdigit() for ch in error["message"].replace("at most 20", "")), error


async def test_a_mutation_without_an_account_is_priced_with_the_largest_accounts_sizes(
    services, database_url
):
    """A public mutation whose answer is a record of the account it joins
    (``invitationAccept``) reads that account's lists once it has run, in an account not
    known before: it is priced with the largest account's sizes, and refused so before
    anything runs."""
    large = await make_tenant(services, seats=60)
    await _staff(services, large, 40)
    accept = """mutation { invitationAccept(input: {token: "not a token", password: "x"}) {
      staff { reportingChain { id } } userErrors { code } } }"""
    limited = Services.from_settings(make_settings(database_url, max_query_cost=20))
    try:
        transport = httpx.ASGITransport(app=create_app(limited.settings, services=limited))
        async with httpx.AsyncClient(transport=transport, base_url="http://roster.test") as c:
            body = (await c.post("/graphql", json={"query": accept})).json()
    finally:
        await limited.close()
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "too large" in error["message"], error


async def test_realms_that_name_no_account_are_refused_not_failed(services, database_url):
    """A realm that is not an account's slug or id, however odd ("²" passes isdigit, a
    number past the ids' column, a NUL), is answered as an unknown realm (401) when the
    sizes are counted with the token, as it is everywhere else, never as a failure."""
    from app.accounts.sizes import counting
    from app.errors import Unauthenticated
    from app.identity.service import authenticate_counting

    tenant = await make_tenant(services)
    await _staff(services, tenant, 3)
    transport = httpx.ASGITransport(app=create_app(services.settings, services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://roster.test") as c:
        for realm in (b"\xb2", b"3000000000", b"99999999999999999999999", b"0001", b"-1"):
            headers = {"Authorization": f"Bearer {tenant.owner.token}", "X-Auth-Realm": realm}
            response = await c.post("/graphql", json={"query": CHAIN}, headers=headers)
            body = response.json()
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", (realm, body)
        headers = {"Authorization": f"Bearer {tenant.owner.token}"}
        headers["X-Auth-Realm"] = str(tenant.account_id)
        response = await c.post("/graphql", json={"query": CHAIN}, headers=headers)
        assert "errors" not in response.json(), response.json()
    async with services.db.session() as session:
        with pytest.raises(Unauthenticated):
            await authenticate_counting(
                session, tenant.owner.token, "a\x00b", counting({Size.STAFF}, 10)
            )
