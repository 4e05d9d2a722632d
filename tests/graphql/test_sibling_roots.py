"""A root field that fails takes its siblings' work with it before the session closes.

When a non-null root field fails, graphql-core answers ``data: null`` at once and cancels
the sibling root fields; what they had started on their own (a DataLoader's batch, which
runs as a task of its own) must not outlive the request: the request's session is closed
only once nothing uses it, and nothing opens it again afterwards.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import event, text

from app.access import Role
from app.graphql import loaders
from app.staff import service as staff_service
from tests.factories import make_member, make_staff_many, make_tenant

DOCUMENT = """{
  staff(first: 100) { nodes { id reportingChain { id } } }
  customFieldValues { value }
}"""

# A statement that takes a while (about a quarter of a second).
SLOW = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000)"
    " SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(0.25)",
}


async def test_a_failed_root_field_leaves_no_sibling_work_on_the_session(
    api, services, monkeypatch, caplog
):
    tenant = await make_tenant(services)
    [boss] = await make_staff_many(services, tenant, [{"first_name": "Boss"}])
    await make_staff_many(services, tenant, [{"manager_id": boss.id} for _ in range(20)])
    viewer = await make_member(services, tenant, Role.VIEWER)

    # The staff field's reporting chains load in a batch of their own, slowly; the
    # customFieldValues field (non-null) fails while that batch holds the session.
    batch_started = asyncio.Event()
    real_chains = staff_service.reporting_chains

    async def slow_chains(session, *args, **kwargs):
        batch_started.set()  # the failing field goes on while this statement runs
        await session.execute(text(SLOW[session.bind.dialect.name]))
        return await real_chains(session, *args, **kwargs)

    real_loader = loaders.staff_by_id

    class FailingLoader:
        """The records loader, whose ``load_many`` (customFieldValues') fails."""

        def __init__(self, ctx, actor):
            self.loader = real_loader(ctx, actor)

        def __getattr__(self, name):
            return getattr(self.loader, name)

        async def load_many(self, keys):
            await batch_started.wait()
            raise RuntimeError("lost the staff records")

    monkeypatch.setattr(staff_service, "reporting_chains", slow_chains)
    monkeypatch.setattr(loaders, "staff_by_id", FailingLoader)

    answered = False
    late: list[str] = []

    def after_the_answer(conn, cursor, statement, *args):
        if answered:
            late.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", after_the_answer)
    caplog.set_level(logging.ERROR)
    try:
        response = await api.raw(DOCUMENT, **viewer.auth)
        answered = True
        await asyncio.sleep(0.4)  # past the batch, had it been left running
    finally:
        event.remove(engine, "before_cursor_execute", after_the_answer)

    body = response.json()
    # graphql-core's answer: the failed non-null root nulls the whole data, masked
    assert body["data"] is None
    [error] = body["errors"]
    assert error["path"] == ["customFieldValues"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "lost the staff records" not in response.text
    # nothing ran on the database after the answer, and no connection was left open
    assert late == []
    assert services.db.engine.pool.checkedout() == 0
    assert "no active connection" not in caplog.text
    # the next request is answered as usual
    assert (await api.data("{ staff { totalCount } }", as_=viewer))["staff"]["totalCount"] == 23
