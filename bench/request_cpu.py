"""CPU per request, in process, of the benchmark's staff page and a tour-like document
(with totalCount): run it from two checkouts, alternating, to compare them side by side.

    python -m bench.request_cpu
"""

import asyncio
import os
import statistics
import sys
import tempfile
import time

import httpx

sys.path.insert(0, os.getcwd())
from app.main import create_app  # noqa: E402
from app.services import Services  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.queries import PAGE_QUERY  # noqa: E402
from bench.seed import seed  # noqa: E402

TOUR = """{ staff(first: 50) { totalCount
  edges { node { id fullName title email manager { fullName } } }
  pageInfo { hasNextPage endCursor } } }"""

D = tempfile.mkdtemp()
URL = f"sqlite+aiosqlite:///{D}/b.db"
[ACCT] = seed(URL, [500])


async def main():
    url, acct = URL, ACCT
    s = Settings(
        database_url=url, env="development", email_backend="memory", rate_limited_delay_seconds=0
    )
    services = Services.from_settings(s)
    app = create_app(s, services=services)
    h = {"Authorization": f"Bearer {acct.admin_token}", "X-Auth-Realm": acct.slug}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        for name, q, v in (("page50", PAGE_QUERY, {"first": 50}), ("tour", TOUR, {})):
            for _ in range(20):
                r = await c.post("/graphql", json={"query": q, "variables": v}, headers=h)
                assert "errors" not in r.json(), r.json()
            ts = []
            for _ in range(5):
                t = time.process_time()
                for _ in range(40):
                    await c.post("/graphql", json={"query": q, "variables": v}, headers=h)
                ts.append((time.process_time() - t) / 40 * 1000)
            print(
                f"{os.path.basename(os.getcwd())} {name}: "
                f"{statistics.median(ts):.2f} ms CPU/request (median of 5x40)"
            )
    await services.close()


asyncio.run(main())
