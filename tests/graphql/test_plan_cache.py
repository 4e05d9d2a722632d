"""The compiled plans' cache is bounded in memory as well as in entries: its estimate of
what it holds is calibrated against tracemalloc, stays within the budget as documents and
plans are added (the least recently used are forgotten), and a plan forgotten is compiled
again and answers the same."""

from __future__ import annotations

import gc
import tracemalloc

from graphql import parse
from graphql.execution.values import get_variable_values

from app.graphql import hot as hot_module
from app.graphql.schema import build_schema
from app.main import create_app
from app.settings import Settings
from bench.compile_time import BIG_VARIABLES, documents, largest
from tests.conftest import make_settings
from tests.documents import PAGE_QUERY
from tests.graphql.test_hot import (
    WIDE_QUERY,
    _directory,
    _headers,
    cold_client,
    cold_services,
)

__all__ = ["cold_client", "cold_services"]  # fixtures, used by name

# The estimate of a document with its plan is within this factor of what tracemalloc
# measures it holds (the text, its parsed operation, the plan's generated functions), and
# never below its inverse.
FACTOR = 1.5
COPIES = 4  # of each document, told apart by a comment, measured together


def _variables(hot, prepared, variables: dict):
    coerced = get_variable_values(
        hot.schema, prepared.operation.variable_definitions or (), variables
    )
    assert not isinstance(coerced, list), coerced
    return coerced


def _measured(hot, text: str, variables: dict) -> tuple[float, float] | None:
    """(bytes tracemalloc counts, bytes estimated) per copy of a document kept with its
    plan: parsed, prepared and compiled into an empty cache."""
    texts = [f"{text}\n# {i}" for i in range(COPIES)]
    hot.clear()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = []
        for t in texts:
            document = parse(t)
            kept.append(document)
            prepared = hot.document(t, None, document)
            if prepared is None:
                return None
            if hot.plan_for(prepared, _variables(hot, prepared, variables)) is None:
                return None
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    held += sum(len(t) + 49 for t in texts)  # the texts, allocated before: the keys
    return held / COPIES, hot.held / COPIES


def test_the_estimate_is_calibrated_against_tracemalloc():
    hot = build_schema(plan_budget=2**40).hot_paths
    checked = 0
    padded = ("largest, padded", largest(0, hot_module.MAX_CACHED_DOCUMENT - 8), BIG_VARIABLES)
    for name, text, variables in [*documents(), padded]:
        measured = _measured(hot, text, variables)
        if measured is None:
            continue  # graphql-core's: nothing of it is kept
        real, estimate = measured
        assert real / FACTOR <= estimate <= real * FACTOR, (name, real, estimate)
        checked += 1
    assert checked >= 6


def _fill(hot, texts: list[str]) -> None:
    for text in texts:
        prepared = hot.document(text, None, parse(text))
        assert prepared is not None
        hot.plan_for(prepared, _variables(hot, prepared, {}))
        assert hot.held <= hot.budget
        kept = sum(
            hot_module._document_size(q) if d is None else d.size for (q, _), d in hot.plans.items()
        )
        assert kept == hot.held  # the running total is the sum of what is kept
        for d in hot.plans.values():
            if d is not None:
                plans = sum(hot_module._plan_size(p) for p in d.variants.values())
                assert d.size == hot_module._document_size(_text(hot, d)) + plans


def _text(hot, document) -> str:
    return next(q for (q, _), d in hot.plans.items() if d is document)


def test_a_small_budget_forgets_the_least_recently_used_documents():
    texts = [WIDE_QUERY.replace("boss:", f"boss{i}:") for i in range(8)]
    hot = build_schema(plan_budget=10**9).hot_paths
    _fill(hot, texts[:1])
    one = hot.held
    hot.budget = 3 * one + one // 2  # room for three of them
    hot.clear()
    _fill(hot, texts)
    assert [q for q, _ in hot.plans] == texts[-3:]
    # one used again is the most recent: the next one added forgets another
    _fill(hot, [texts[-3], texts[0]])
    assert [q for q, _ in hot.plans] == [texts[-1], texts[-3], texts[0]]
    # a budget smaller than one document keeps nothing, and still answers
    hot.budget = one // 2
    hot.clear()
    _fill(hot, texts[:2])
    assert not hot.plans and hot.held == 0
    prepared = hot.document(texts[0], None, parse(texts[0]))
    assert prepared is not None and hot.plan_for(prepared, _variables(hot, prepared, {}))


def test_a_documents_plans_are_forgotten_oldest_first_within_the_budget():
    names = [f"c{i}" for i in range(4)]
    query = (
        "query("
        + ", ".join(f"${n}: Boolean!" for n in names)
        + ") { staff { nodes { id "
        + " ".join(f"{n}: sid @include(if: ${n})" for n in names)
        + " } } }"
    )
    hot = build_schema(plan_budget=10**9).hot_paths
    prepared = hot.document(query, None, parse(query))
    assert prepared is not None
    first = hot.held
    all_off = {n: False for n in names}
    hot.plan_for(prepared, _variables(hot, prepared, all_off))
    plan = hot.held - first
    hot.budget = first + 2 * plan + plan // 2  # the document and two of its plans
    for n in names:
        hot.plan_for(prepared, _variables(hot, prepared, {**all_off, n: True}))
        assert hot.held <= hot.budget
    assert len(prepared.variants) == 2
    assert list(prepared.variants) == [
        tuple(j == len(names) - 2 for j in range(len(names))),
        tuple(j == len(names) - 1 for j in range(len(names))),
    ]


def test_the_entry_bounds_still_hold(monkeypatch):
    monkeypatch.setattr(hot_module, "MAX_PLANS", 3)
    hot = build_schema(plan_budget=10**9).hot_paths
    texts = [f"{{ staff(first: {i}) {{ nodes {{ id }} }} }}" for i in range(5)]
    _fill(hot, texts)
    assert [q for q, _ in hot.plans] == texts[-3:]


def test_the_budget_is_a_setting():
    assert Settings.model_fields["hot_paths_cache_bytes"].default == hot_module.DEFAULT_BUDGET
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db", hot_paths_cache_bytes=4096))
    assert app.state.graphql.schema.hot_paths.budget == 4096


async def test_a_plan_forgotten_is_compiled_again_and_answers_the_same(app, services, api, client):
    _, members, _ = await _directory(services, api)
    headers = _headers(members["OWNER"])
    hot = app.state.graphql.schema.hot_paths
    pages = [
        (WIDE_QUERY, {"first": 10}),
        (PAGE_QUERY, {"first": 10}),
        (WIDE_QUERY.replace("boss:", "chief:"), {"first": 10}),
    ]
    first = await client.post(
        "/graphql", json={"query": pages[0][0], "variables": pages[0][1]}, headers=headers
    )
    assert first.status_code == 200 and "errors" not in first.json()
    (query, _), prepared = next(reversed(hot.plans.items()))
    assert query == pages[0][0] and prepared is not None
    hot.budget = prepared.size + prepared.size // 2  # room for one of them
    for text, variables in pages[1:]:
        response = await client.post(
            "/graphql", json={"query": text, "variables": variables}, headers=headers
        )
        assert response.status_code == 200 and "errors" not in response.json()
        assert hot.held <= hot.budget
    assert (pages[0][0], None) not in hot.plans  # forgotten
    compiled, answered = hot.compiled, hot.answered
    again = await client.post(
        "/graphql", json={"query": pages[0][0], "variables": pages[0][1]}, headers=headers
    )
    assert hot.compiled == compiled + 1 and hot.answered == answered + 1
    assert again.content == first.content


async def test_a_selection_repeated_is_compiled_once_and_each_function_has_its_own_code(
    app, services, api, client, cold_client
):
    """A fragment spread under several roots reads the same way in each: its source is
    compiled once, each spread's function gets a copy of the code of its own (functions
    sharing one code object would undo each other's specialization, call after call), and
    each answers with its own record, as graphql-core does."""
    _, members, _ = await _directory(services, api)
    headers = _headers(members["OWNER"])
    sids = [1, 2, 3]
    roots = " ".join(f"r{sid}: staffBySid(sid: {sid}) {{ ...Card }}" for sid in sids)
    query = (
        f"{{ {roots} }} fragment Card on Staff {{ sid fullName title "
        "address { city } manager { sid fullName } }"
    )
    hot_module.selection_code.cache_clear()
    made = []
    generate = hot_module._generate

    def generated(*args, **kwargs):
        made.append(generate(*args, **kwargs))
        return made[-1]

    hot_module._generate = generated
    try:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
    finally:
        hot_module._generate = generate
    assert response.status_code == 200, response.text
    info = hot_module.selection_code.cache_info()
    assert info.hits >= 2 * (len(sids) - 1)  # each spread after the first: Card, address
    assert info.misses < len(made)
    assert len({id(f.__code__) for f in made}) == len(made)  # a code object each
    data = response.json()["data"]
    assert [data[f"r{sid}"]["sid"] for sid in sids] == sids
    assert len({data[f"r{sid}"]["fullName"] for sid in sids}) == len(sids)
    reference = await cold_client.post("/graphql", json={"query": query}, headers=headers)
    assert reference.content == response.content
