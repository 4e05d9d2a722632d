"""A request past its time limit is answered at once, while work of it may still be on its
way: a DataLoader's batch runs in a task of its own, which the time limit does not cancel.
Such a straggler must not open a database session after the request closed its own:
nothing would close that one, and its connection would stay out of the pool."""

from __future__ import annotations

import asyncio

import pytest

from app.graphql.context import Context
from app.staff import service as staff_service
from tests.conftest import make_settings
from tests.factories import make_tenant

SLOW = "{ staffBySid(sid: 1) { fullName directReports(first: 3) { nodes { sid } } } }"


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, request_timeout_seconds=0.3)


async def test_a_request_past_its_time_limit_opens_no_session_for_what_is_left_of_it(
    api, services, monkeypatch
):
    tenant = await make_tenant(services)
    closed: list[Context] = []
    close = Context.close

    async def noting(self, *, commit):
        closed.append(self)
        await close(self, commit=commit)

    async def never_done(session, actor, query, columns=None):
        await asyncio.sleep(30)

    monkeypatch.setattr(Context, "close", noting)
    monkeypatch.setattr(staff_service, "list_staff", never_done)
    body = await api(SLOW, as_=tenant.owner)
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == ["The request took too long."]
    ctx = closed[-1]
    assert not ctx.has_session
    # what is left of the request (a batch dispatched just before the limit) asks for the
    # session: refused, so none is opened that nobody would close
    opened = None
    with pytest.raises(RuntimeError, match="the request has ended"):
        async with ctx.db() as opened:
            pass
    assert opened is None and not ctx.has_session
