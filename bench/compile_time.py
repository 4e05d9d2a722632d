"""What a new document costs the compiled executor the first time, and what its cache holds.

    python -m bench.compile_time [--repeat 20]

For each document (the README tour's queries verbatim, the benchmark's page, a wide page,
and larger documents written with fragments, aliases and directives), prints the
milliseconds graphql-core takes to parse and validate it (paid once per distinct text by
``DocumentCache``) and the compile time of its plan (``HotPaths.document`` and
``HotPaths.plan_for`` on an empty cache: collecting the fields, generating and compiling
the completion functions), best of ``--repeat``, or that graphql-core answers it. No
database is involved: compiling reads only the document and the schema.

Then the cache's bounds: how many documents and plans it keeps, the memory one document
with its plan holds (``tracemalloc`` over a sample: its text, its parsed operation, its
plan) beside the cache's own estimate of it, and what that would come to at the bound in
entries, with documents like the wide page and with the largest documents it keeps
(``MAX_CACHED_DOCUMENT`` characters). Last, the memory budget (``DEFAULT_BUDGET``, the
``ROSTER_HOT_PATHS_CACHE_BYTES`` setting's default) and what the cache holds once filled
with each kind under it: documents kept, its estimate and what tracemalloc measures.
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import time
import tracemalloc
from pathlib import Path

from graphql import parse, validate
from graphql.execution.values import get_variable_values

from app.graphql.extensions import MAX_CACHED_DOCUMENT
from app.graphql.hot import DEFAULT_BUDGET, MAX_PLANS, MAX_VARIANTS, HotPaths, selection_code
from app.graphql.schema import build_schema
from bench.queries import PAGE_QUERY

SAMPLE = 16  # documents compiled to measure what one holds (the cache holds MAX_PLANS)
README = Path(__file__).resolve().parent.parent / "README.md"

STAFF_FIELDS = (
    "__typename id sid firstName lastName fullName title company notes isInactive restricted "
    "role kind accountStatus hasLogin createdAt modifiedAt email phoneCell phoneWork phoneHome "
    "startDate termDate capacity costFactor hourRateType rate1 rate2 rate3 rate4 rate5 "
    "homeTimezone effectiveTimezone viewerCanSeeDetails viewerCanSeePersonalData "
    "viewerCanEdit viewerCanDelete"
)
WIDE = f"""query Wide($first: Int = 50, $after: String, $search: String) {{
  staff(first: $first, after: $after, search: $search) {{
    totalCount
    nodes {{
      {STAFF_FIELDS}
      address {{ street city state zip country __typename }}
      boss: manager {{ id fullName email startDate rate1 viewerCanSeeDetails address {{ city }} }}
      customFields {{ value field {{ __typename id name type options personal archived }} }}
    }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}"""


def _fragments(copies: int) -> str:
    """A frontend's document: the page's rows through several named fragments spreading
    each other, aliases, inline fragments, @include/@skip on variables, and records by sid."""
    fragments = [
        f"fragment Card{i} on Staff {{ id fullName title_{i}: title company "
        f"... on Node {{ id }} manager {{ id fullName ...Name{i} }} }}\n"
        f"fragment Name{i} on Staff {{ firstName lastName email @include(if: $personal) }}\n"
        f"fragment Row{i} on Staff {{ ...Card{i} {STAFF_FIELDS} "
        f"address @skip(if: $short) {{ city country }} "
        f"customFields {{ value field {{ name type }} }} }}"
        for i in range(copies)
    ]
    rows = " ".join(f"...Row{i}" for i in range(copies))
    records = " ".join(
        f"r{i}: staffBySid(sid: {i + 1}) {{ ...Row{i} }}" for i in range(min(copies, 8))
    )
    return (
        "query Big($first: Int!, $personal: Boolean!, $short: Boolean!) {\n"
        f"  staff(first: $first) {{ totalCount pageInfo {{ hasNextPage endCursor }} "
        f"edges {{ cursor node {{ {rows} }} }} nodes {{ ...Row0 }} }}\n"
        f"  {records}\n}}\n" + "\n".join(fragments)
    )


BIG_VARIABLES = {"first": 50, "personal": True, "short": False}


def largest(i: int, size: int = MAX_CACHED_DOCUMENT) -> str:
    """The largest fragment document padded with comments to ``size`` characters (the
    largest a cache keeps), the i-th of distinct ones."""
    big = _fragments(12)
    lines = max(1, (size - len(big)) // len(f"# {i} 0\n")) + 1
    return "\n".join([big] + [f"# {i} {j}" for j in range(lines)])[:size]


def documents() -> list[tuple[str, str, dict]]:
    blocks = re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.S)
    tour = [b for b in blocks if not b.lstrip().startswith("mutation")]
    found = [(f"README tour query {i + 1}", text, {}) for i, text in enumerate(tour)]
    found += [
        ("benchmark page", PAGE_QUERY, {"first": 50}),
        ("wide page", WIDE, {}),
        ("fragments, 2 copies", _fragments(2), BIG_VARIABLES),
        ("fragments, 6 copies", _fragments(6), BIG_VARIABLES),
        ("fragments, 12 copies", _fragments(12), BIG_VARIABLES),
    ]
    return found


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def compile_once(hot: HotPaths, text: str, document, variables: dict):
    """A first compile: no plan cached, and no selection's code either (``selection_code``)."""
    hot.clear()
    selection_code.cache_clear()
    started = time.perf_counter()
    prepared = hot.document(text, None, document)
    plan = None
    if prepared is not None:
        coerced = get_variable_values(
            hot.schema, prepared.operation.variable_definitions or (), variables
        )
        assert not isinstance(coerced, list), coerced
        plan = hot.plan_for(prepared, coerced)
    return time.perf_counter() - started, plan


def timings(repeat: int) -> None:
    schema = build_schema()
    gschema = schema._schema
    hot = HotPaths(gschema)
    # as the server does once started (app.main): what lives as long as it does (the
    # schema) is out of the cyclic collector's sight
    gc.collect()
    gc.freeze()
    print(f"{'document':<24} {'chars':>6} {'parse ms':>8} {'valid ms':>8} {'compile':>8}  by")
    worst = 0.0
    for name, text, variables in documents():
        parse_s = min(_timed(lambda t=text: parse(t)) for _ in range(repeat))
        document = parse(text)
        assert not validate(gschema, document), (name, validate(gschema, document))
        valid_s = min(_timed(lambda d=document: validate(gschema, d)) for _ in range(repeat))
        runs = [compile_once(hot, text, document, variables) for _ in range(repeat)]
        compile_s = min(seconds for seconds, _ in runs)
        plan = runs[-1][1]
        if plan is not None:
            worst = max(worst, compile_s)
        by = "compiled plan" if plan is not None else "graphql-core"
        print(
            f"{name:<24} {len(text):>6} {_ms(parse_s)} {_ms(valid_s)} "
            f"{_ms(compile_s) if plan is not None else '       -'}  {by}"
        )
    print(f"\nslowest compile of a covered document: {worst * 1000:.2f} ms (target 20 ms)")


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _fill(hot: HotPaths, texts: list[str], variables: dict) -> int:
    """Bytes the cache holds once these documents were parsed and compiled into it (the
    parsed documents are counted, as the cache keeps their operations alive; what it
    forgot is not). The texts are allocated beforehand: they are counted as the keys."""
    hot.clear()
    selection_code.cache_clear()  # what it keeps of these documents is counted too
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for text in texts:
        prepared = hot.document(text, None, parse(text))
        assert prepared is not None
        coerced = get_variable_values(
            hot.schema, prepared.operation.variable_definitions or (), variables
        )
        hot.plan_for(prepared, coerced)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return held + sum(sys.getsizeof(q) for q, _ in hot.plans)


def _mib(size: float) -> str:
    return f"{size / 2**20:.1f} MiB"


def bounds() -> None:
    hot = HotPaths(build_schema()._schema, budget=2**40)
    print(
        f"\ncache: at most {MAX_PLANS} documents of up to {MAX_CACHED_DOCUMENT} characters, "
        f"{MAX_VARIANTS} plans each (one per set of @skip/@include values), and "
        f"{_mib(DEFAULT_BUDGET)} by its estimate (the default budget)"
    )
    wide = [WIDE.replace("boss:", f"boss{i}:") for i in range(MAX_PLANS + SAMPLE)]
    big = _fragments(12)
    large = [largest(i) for i in range(MAX_PLANS)]
    kinds = [
        (f"wide pages ({len(WIDE)} chars)", wide, {}),
        (
            f"largest fragment documents ({len(big)} chars, padded to {MAX_CACHED_DOCUMENT})",
            large,
            BIG_VARIABLES,
        ),
    ]
    for name, texts, variables in kinds:
        hot.budget = 2**40
        each = _fill(hot, texts[:SAMPLE], variables) / SAMPLE
        estimate = hot.held / SAMPLE
        print(
            f"{name}: {each / 1024:.0f} KiB each (estimated {estimate / 1024:.0f} KiB, "
            f"{estimate / each:.2f} of it); {MAX_PLANS} documents: {_mib(each * MAX_PLANS)}"
        )
        hot.budget = DEFAULT_BUDGET
        # enough to fill it: the budget's worth and more, or the bound in entries and more
        wanted = min(len(texts), int(DEFAULT_BUDGET / estimate) + SAMPLE)
        held = _fill(hot, texts[:wanted], variables)
        print(
            f"  under the budget, after {wanted} of them: {len(hot.plans)} documents kept, "
            f"estimated {_mib(hot.held)}, measured {_mib(held)}"
        )
    print(
        "(each further plan of a document, for another set of @skip/@include values, adds "
        "its plan again, within the same budget)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    timings(args.repeat)
    bounds()


if __name__ == "__main__":
    main()
