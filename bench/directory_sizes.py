"""How the directory's queries grow with the size of an account.

    python -m bench.directory_sizes [--sizes 1000,10000,100000] [--db sqlite,postgresql]
                                    [--repeat 25] [--postgres-url URL]

For each database and size, seeds a fresh database with one account of that many staff
(``bench.seed`` without custom fields: bulk inserts, a manager for nine in ten records,
then ``ANALYZE``; PostgreSQL's database ``bench_directory`` on 127.0.0.1:5432, or the one
``--postgres-url`` names, dropped and re-created), then runs each directory query below
through the staff service as a request does after checking its token (a session, the
statement, the rows as records), one at a time, as the administrator and (the searches)
as a viewer without ViewPersonalData, and prints the median milliseconds of each as a
table per database with a column per size. GraphQL and HTTP add the same few
milliseconds at every size (``bench.run``, ``bench.hot_paths`` measure those).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.seed import seed

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_directory"

SORT_KEYS = ("LAST_NAME", "FIRST_NAME", "TITLE", "COMPANY", "CREATED_AT", "EMAIL", "ROLE")
FEW_ROLES = ["OWNER", "ADMINISTRATOR"]  # the owner and the administrator: two rows

# (label, kind, arguments): kind "page" reads a page of 50 (``after``: the page after the
# first), "count" the totalCount of the same query. The seeded names (bench/seed.py):
# first names of nine, last names "<First>son<5 digits>", titles Engineer/Designer,
# companies Acme or none, emails person<i>@bench.example.
CASES: list[tuple[str, str, dict]] = [("default page", "page", {})]
for _key in SORT_KEYS:
    CASES.append((f"sort {_key}", "page", {"sort": _key}))
    CASES.append((f"sort {_key}, after page 1", "page", {"sort": _key, "after": True}))
CASES += [
    ("sort FIRST_NAME DESC", "page", {"sort": "FIRST_NAME", "direction": "DESC"}),
    ("search 1 word, 1 match", "page", {"search": "son00421"}),
    ("search 1 word, 1 in 9", "page", {"search": "grace"}),
    ("search 1 word, 2 in 3", "page", {"search": "engineer"}),
    ("search 1 word, 1 in 9, sort TITLE", "page", {"search": "grace", "sort": "TITLE"}),
    ("search 1 word, email", "page", {"search": "person00"}),
    ("search 2 words, few", "page", {"search": "ada son0042"}),
    ("search 2 words, many", "page", {"search": "grace engineer"}),
    ("search 2 words, none", "page", {"search": "grace designerx"}),
    ("search 2-char word, none", "page", {"search": "xy"}),
    ("search + sort TITLE", "page", {"search": "son0042", "sort": "TITLE"}),
    ("filter roles (2 rows)", "page", {"roles": FEW_ROLES}),
    ("filter company (none)", "page", {"company": "Initech"}),
    ("totalCount", "count", {}),
    ("totalCount, search", "count", {"search": "son0042"}),
    ("totalCount, roles filter", "count", {"roles": FEW_ROLES}),
]
# The searches again as a viewer without ViewPersonalData, who searches fewer fields (no
# email): the administrator's token with a viewer's role and permits.
CASES += [
    (f"viewer: {label}", kind, {**arguments, "viewer": True})
    for label, kind, arguments in list(CASES)
    if kind == "page" and "search" in arguments
]


def _query(arguments: dict, after: str | None = None):
    from app.access import Role
    from app.staff.queries import SortDirection, StaffFilter, StaffQuery, StaffSortKey

    return StaffQuery(
        first=50,
        after=after,
        search=arguments.get("search"),
        sort=StaffSortKey(arguments.get("sort", "LAST_NAME")),
        direction=SortDirection(arguments.get("direction", "ASC")),
        filter=StaffFilter(
            roles=[Role(r) for r in arguments["roles"]] if "roles" in arguments else None,
            company=arguments.get("company"),
        ),
    )


async def measure(url: str, slug: str, token: str, repeat: int) -> dict[str, float]:
    """Median milliseconds of each case: the directory's service call (a session, its
    statement, the rows made into records), as a request runs it after the token check."""
    from app.access import ROLE_PERMITS, Permit, Role
    from app.db.engine import Database
    from app.identity.service import authenticate_actor
    from app.staff.service import count_staff, list_staff

    db = Database(url)
    try:
        async with db.session() as session:
            _, actor = await authenticate_actor(session, token, slug)
        assert actor is not None
        viewer = replace(actor, role=Role.VIEWER, permits=ROLE_PERMITS[Role.VIEWER])
        assert Permit.VIEW_PERSONAL_DATA not in viewer.permits
        medians: dict[str, float] = {}
        for label, kind, arguments in CASES:
            who = viewer if arguments.get("viewer") else actor
            query = _query(arguments)
            if arguments.get("after"):
                async with db.session() as session:
                    first_page = await list_staff(session, who, query)
                query = _query(arguments, after=first_page.cursors[-1])
            call = count_staff if kind == "count" else list_staff
            times = []
            for i in range(repeat + 1):  # the first builds the statement: not counted
                started = time.perf_counter()
                async with db.session() as session:
                    await call(session, who, query)
                if i:
                    times.append((time.perf_counter() - started) * 1000)
            medians[label] = statistics.median(times)
        return medians
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    for db in args.db.split(","):
        results: dict[int, dict[str, float]] = {}
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="roster-sizes-") as work:
                url = (
                    f"sqlite+aiosqlite:///{Path(work) / 'bench.db'}"
                    if db == "sqlite"
                    else args.postgres_url
                )
                started = time.perf_counter()
                account = seed(url, [size], extras=False)[0]
                print(f"{db}: seeded {size} staff in {time.perf_counter() - started:.0f} s")
                results[size] = asyncio.run(
                    measure(url, account.slug, account.admin_token, args.repeat)
                )
        print(f"\n{db}: p50 ms per directory call (one client)\n")
        print("| query | " + " | ".join(f"{s:,}" for s in sizes) + " |")
        print("| --- |" + " ---: |" * len(sizes))
        for label, _kind, _arguments in CASES:
            print(
                f"| {label} | "
                + " | ".join(f"{results[s][label]:.1f}" for s in sizes)
                + " |"
            )
        print()


if __name__ == "__main__":
    main()
