"""Named leases (app.ops.leases) and the invitation-expiry sweep that runs under one: many
workers, each on its own engine, and the work is done once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from app.background import SWEEP_LEASE, sweep_if_due, sweep_once
from app.db.base import utcnow
from app.db.engine import Database
from app.db.statements import StatementCounter
from app.events.models import Event
from app.invitations.models import Invitation, InvitationStatus
from app.ops import leases
from app.ops.models import Lease
from tests.factories import make_tenant

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code } }
}"""


async def workers(url: str, count: int) -> list[Database]:
    return [Database(url) for _ in range(count)]


async def close(databases: list[Database]) -> None:
    for db in databases:
        await db.dispose()


async def test_one_of_many_workers_takes_a_free_lease(database_url):
    dbs = await workers(database_url, 4)
    try:
        taken = await asyncio.gather(*(leases.acquire(db, "job", 30) for db in dbs))
        held = [h for h in taken if h is not None]
        assert len(held) == 1
        # while it holds, nobody else gets it; its holder may renew it, nobody else
        assert await leases.acquire(dbs[0], "job", 30) is None
        stranger = leases.Held("job", leases.new_token(), utcnow())
        assert await leases.renew(dbs[1], stranger, 30) is None
        assert await leases.release(dbs[1], stranger) is False
        renewed = await leases.renew(dbs[2], held[0], 60)
        assert renewed is not None and renewed.expires_at > held[0].expires_at
        # leases by other names are other leases
        assert await leases.acquire(dbs[3], "another job", 30) is not None
        # released, the next worker takes it at once
        assert await leases.release(dbs[3], held[0]) is True
        again = await leases.acquire(dbs[1], "job", 30)
        assert again is not None and again.token != held[0].token
        # the old holder can neither renew nor release the new holder's lease
        assert await leases.renew(dbs[0], held[0], 30) is None
        assert await leases.release(dbs[0], held[0]) is False
    finally:
        await close(dbs)


async def test_a_held_lease_is_refused_by_a_read_alone(database_url):
    """Workers ask for their sweeps' leases every few seconds; while one is held the
    others read it and write nothing (no write transaction: SQLite's write lock stays
    free for requests)."""
    dbs = await workers(database_url, 2)
    try:
        assert await leases.acquire(dbs[0], "job", 30) is not None
        with StatementCounter(dbs[1].engine) as counter:
            assert await leases.acquire(dbs[1], "job", 30) is None
        assert len(counter.statements) == 1
        assert counter.statements[0].lstrip().upper().startswith("SELECT")
    finally:
        await close(dbs)


async def test_a_lapsed_lease_goes_to_the_next_worker(database_url):
    dbs = await workers(database_url, 2)
    try:
        first = await leases.acquire(dbs[0], "job", 1)
        assert first is not None
        assert await leases.acquire(dbs[1], "job", 1) is None
        await asyncio.sleep(1.1)
        second = await leases.acquire(dbs[1], "job", 30)
        assert second is not None
        assert await leases.renew(dbs[0], first, 30) is None  # it is the other's now
    finally:
        await close(dbs)


async def lapsed_invitations(api, services, count: int) -> list[int]:
    tenant = await make_tenant(services)
    for i in range(count):
        data = await api.data(
            INVITE, {"input": {"email": f"late{i}@example.com"}}, as_=tenant.owner
        )
        assert data["invitationCreate"]["userErrors"] == []
    async with services.db.session(write=True) as session:
        await session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(minutes=1)))
        await session.commit()
        return list(await session.scalars(select(Invitation.id).order_by(Invitation.id)))


async def expired_events(services) -> list[tuple[str, int]]:
    async with services.db.session() as session:
        found = await session.execute(
            select(Event.type, Event.subject_id).where(Event.type == "invitation.expired")
        )
        return sorted((t, i) for t, i in found)


async def test_concurrent_sweepers_expire_each_invitation_once(api, services, database_url):
    ids = await lapsed_invitations(api, services, 5)
    dbs = await workers(database_url, 3)
    try:
        swept = await asyncio.gather(*(sweep_if_due(db, 60) for db in dbs))
        # the lease holds for a minute: nobody sweeps again before
        assert [await sweep_if_due(db, 60) for db in dbs] == [None, None, None]
    finally:
        await close(dbs)

    assert sorted(swept, key=str) == [5, None, None]
    assert await expired_events(services) == [("invitation.expired", i) for i in ids]
    async with services.db.session() as session:
        statuses = set(await session.scalars(select(Invitation.status)))
        lease = await session.get(Lease, SWEEP_LEASE)
    assert statuses == {InvitationStatus.EXPIRED}
    assert lease is not None and lease.expires_at > utcnow() + timedelta(seconds=50)


async def test_the_sweep_is_due_again_once_its_lease_has_lapsed(api, services, database_url):
    # a lease long enough that a loaded machine's scheduling does not outlast it between
    # the first two sweeps (2 s did, once, under a full test run)
    lease = 6
    dbs = await workers(database_url, 2)
    try:
        assert await sweep_if_due(dbs[0], lease) == 0
        assert await sweep_if_due(dbs[1], lease) is None
        ids = await lapsed_invitations(api, services, 2)
        await asyncio.sleep(lease + 0.1)
        assert await sweep_if_due(dbs[1], lease) == 2
    finally:
        await close(dbs)
    assert await expired_events(services) == [("invitation.expired", i) for i in ids]


async def test_two_sweeps_at_once_expire_each_invitation_once_even_without_the_lease(
    api, services, database_url
):
    ids = await lapsed_invitations(api, services, 20)
    dbs = await workers(database_url, 2)
    try:
        counts = await asyncio.gather(*(sweep_once(db) for db in dbs))
    finally:
        await close(dbs)
    assert sum(counts) == 20
    assert await expired_events(services) == [("invitation.expired", i) for i in ids]
