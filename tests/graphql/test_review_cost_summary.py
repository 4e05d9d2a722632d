"""Review: pricing a document must not cost more than running it would.

The cost of an operation is a polynomial in the account's sizes, one term per way its lists
nest. A reviewer's chain of fragments, each spread under five lists of the next, fits in
the token limit and gives tens of millions of terms: summing them up held gigabytes and
the event loop for minutes, for anyone, signed in or not, before any limit refused the
document. A part is now summed only as far as it can change the answer: the answer is the
same, the work bounded by the document's size.
"""

from __future__ import annotations

from graphql import parse, validate
from graphql.utilities import get_operation_ast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.graphql import limits
from app.graphql.limits import MAX_TERMS, QueryLimits, make_rule, summarize
from app.graphql.schema import build_schema

SCHEMA = build_schema()._schema
LIMITS = QueryLimits()


def bomb(levels: int) -> str:
    """The reviewer's document: each fragment spreads the next under five lists."""
    fragments = []
    for i in range(1, levels + 1):
        inner = f"...F{i + 1}" if i < levels else "id"
        fragments.append(
            f"fragment F{i} on Staff {{ reportingChain {{ {inner} }} sharedWith {{ {inner} }} "
            f"projects {{ project {{ members {{ staff {{ {inner} }} }} }} }} "
            f"a: directReports(first: $a) {{ nodes {{ {inner} }} }} "
            f"b: directReports(first: $b) {{ nodes {{ {inner} }} }} }}"
        )
    return "query($a: Int, $b: Int) { viewer { staff { ...F1 } } }\n" + "\n".join(fragments)


def summed(text: str, **limits):
    document = parse(text)
    return summarize(SCHEMA, document, get_operation_ast(document), **limits)


def test_the_fragment_chain_is_summed_in_few_terms():
    # 20 levels: 95,634 terms before (seconds of work); 48 levels, tens of millions
    for levels in (20, 48):
        summary = summed(bomb(levels), budget=LIMITS.max_cost)
        assert summary.cut in ("cost", "depth")  # summed until refused, then cut
        errors = validate(SCHEMA, parse(bomb(levels)), [make_rule(LIMITS)])
        assert errors, levels  # refused (at 48 levels, graphql-core stops at its own bound)
    [error] = validate(SCHEMA, parse(bomb(20)), [make_rule(LIMITS)])
    assert error.message.startswith("The query is too large: it is 83 levels deep")


async def test_the_fragment_chain_is_refused_to_anyone(api):
    body = await api(bomb(20), {"a": 1, "b": 1})
    assert "data" not in body
    assert any("too large" in error["message"] for error in body["errors"]), body


def test_a_document_nesting_lists_in_too_many_ways_is_refused(monkeypatch):
    """A safety net behind the depth limit: past MAX_TERMS terms a part is cut, and the
    operation refused for it (here with the depth limit lifted, which alone keeps such a
    document out)."""
    levels = 30  # 30 x 30 products STAFF^i x SHARES^j, each reached by one path
    fragments = [
        f"fragment A{i} on Staff {{ id reportingChain {{ ...A{i + 1} }} ...B1 }}"
        for i in range(1, levels)
    ] + [f"fragment B{j} on Staff {{ id sharedWith {{ ...B{j + 1} }} }}" for j in range(1, levels)]
    fragments += [f"fragment A{levels} on Staff {{ id }}", f"fragment B{levels} on Staff {{ id }}"]
    text = "{ viewer { staff { ...A1 } } }\n" + "\n".join(fragments)
    with monkeypatch.context() as patched:
        patched.setattr(limits, "MAX_TERMS", 10**9)
        whole = summed(text, limit=10**60, max_depth=10**6)
    assert len(whole.cost) > MAX_TERMS and whole.evaluate() <= LIMITS.max_cost
    lifted = QueryLimits(max_depth=10**6)
    errors = validate(SCHEMA, parse(text), [make_rule(lifted)])
    assert [e.message for e in errors] == [
        f"The query is too large: it nests its lists in more than {MAX_TERMS} different "
        "ways; ask for fewer nested lists."
    ]


# --- the same answer as the whole polynomial, for generated documents -----------------------

_SCALARS = ("id", "fullName", "title")
_PAGES = ("0", "1", "7", "$n")


def _selection(depth: int):
    scalar = st.sampled_from(_SCALARS)
    if depth == 0:
        return scalar
    inner = st.deferred(lambda: _selections(depth - 1))
    return st.one_of(
        scalar,
        inner.map(lambda s: f"manager {{ {s} }}"),
        inner.map(lambda s: f"reportingChain {{ {s} }}"),
        inner.map(lambda s: f"sharedWith {{ {s} }}"),
        inner.map(lambda s: f"customFields {{ staff {{ {s} }} }}"),
        inner.map(lambda s: f"projects {{ project {{ members {{ staff {{ {s} }} }} }} }}"),
        st.tuples(st.sampled_from(_PAGES), inner).map(
            lambda p: f"directReports(first: {p[0]}) {{ nodes {{ {p[1]} }} }}"
        ),
        inner.map(lambda s: f"... on Staff {{ {s} }}"),
        st.integers(1, 3).map(lambda k: f"...H{k}"),
    )


def _selections(depth: int):
    return st.lists(_selection(depth), min_size=1, max_size=4).map(" ".join)


@st.composite
def documents(draw) -> str:
    # H1..H3 spread only later fragments (no cycles); H3 spreads none
    bodies = {}
    for k in (3, 2, 1):
        body = draw(_selections(3))
        for later in range(1, k + 1):  # an earlier or own fragment: drop the spread
            body = body.replace(f"...H{later}", "id")
        bodies[k] = body
    root = draw(_selections(4))
    fragments = " ".join(f"fragment H{k} on Staff {{ {bodies[k]} }}" for k in (1, 2, 3))
    return (
        f"query($n: Int) {{ viewer {{ staff {{ {root} }} }} "
        f"staff(first: {draw(st.sampled_from(_PAGES))}) {{ nodes {{ {root} }} }} }} {fragments}"
    )


def _refused(summary) -> bool:
    return (
        summary.depth > LIMITS.max_depth
        or summary.cut == "terms"
        or summary.evaluate() > LIMITS.max_cost
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents(), sizes=st.lists(st.integers(0, 400), min_size=16, max_size=16))
def test_a_document_is_priced_as_its_whole_polynomial_prices_it(text, sizes):
    bounded = summed(text, budget=LIMITS.max_cost, max_depth=LIMITS.max_depth)
    whole = summed(text, budget=LIMITS.max_cost, limit=10**60, max_depth=10**6)
    assert bounded.depth == whole.depth
    if bounded.cut == "terms":
        assert len(whole.cost) > MAX_TERMS
        return
    assert _refused(bounded) == _refused(whole)
    if not _refused(whole):
        # what the execution-time check uses: the same polynomial, whatever the sizes
        assert dict(bounded.cost) == dict(whole.cost)
        from app.accounts.sizes import Size

        values = dict(zip(Size, sizes, strict=False)) | {"$n": sizes[-1] % 101}
        assert bounded.evaluate(values, default=0) == whole.evaluate(values, default=0)


async def test_a_deeper_limit_prices_deep_documents_with_the_accounts_sizes(database_url):
    """With MAX_QUERY_DEPTH above 12, the summary made before execution cut parts deeper
    than 12 (the default), so a document validation accepted (one item a list) ran on a
    large account unpriced (found in review)."""
    import httpx

    from app.main import create_app
    from app.services import Services
    from tests.conftest import make_settings
    from tests.factories import make_tenant
    from tests.graphql.test_review_query_cost import _large_account

    settings = make_settings(database_url, max_query_depth=16)
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        tenant = await make_tenant(services, seats=500)
        await _large_account(services, tenant, staff=300, projects_count=3, each=2)
        path = ["staff(first: 1)", "nodes"] + ["projects", "project", "members", "staff"] * 2
        path += ["projects", "project"]
        deep = "{ " + " { ".join(path) + " { name" + " }" * len(path) + " }"
        assert 12 < summed(deep, max_depth=16).depth <= 16
        headers = {"Authorization": f"Bearer {tenant.owner.token}", "X-Auth-Realm": tenant.slug}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://roster.test") as client:
            body = (await client.post("/graphql", json={"query": deep}, headers=headers)).json()
        assert body.get("data") is None, str(body)[:300]
        [error] = body["errors"]
        assert "too large for this account's data" in error["message"]
    finally:
        await services.close()
