"""Retention (app.background.prune_once): events, and webhook deliveries once finished,
are deleted after their retention, in short transactions, by one worker of many; what is
recent or still to be sent stays, and a delivery whose event is gone keeps its payload."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from app import background
from app.background import RETENTION_LEASE, prune_if_due, prune_once
from app.db.base import utcnow
from app.db.engine import Database
from app.events.models import Event
from app.ops.models import Lease
from app.webhooks import service as webhooks
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.conftest import make_settings
from tests.factories import make_tenant
from tests.staff.test_search_index import actor_of

DAY = timedelta(days=1)
NO_OTHERS = {"email_outbox": 0, "join_requests": 0, "rate_limit_buckets": 0}  # none is old here


async def _event(session, account_id: int, age: timedelta, n: int) -> Event:
    event = Event(
        uid=f"evt_{account_id}_{n}_{age.days}", account_id=account_id, type="staff.updated",
        subject_type="Staff", subject_id=1, data={"fields": ["title"]},
        occurred_at=utcnow() - age,
    )
    session.add(event)
    await session.flush()
    return event


async def _delivery(session, endpoint, event, status: DeliveryStatus, age: timedelta,
                    sent: timedelta | None = None) -> WebhookDelivery:
    at = utcnow() - age
    delivery = WebhookDelivery(
        uid=f"msg_{secrets.token_hex(8)}", account_id=endpoint.account_id,
        endpoint_id=endpoint.id, event_id=event.id, event_type=event.type,
        payload={"type": event.type, "n": event.id}, status=status, created_at=at,
        retry_from=utcnow() - (sent if sent is not None else age),
    )
    session.add(delivery)
    await session.flush()
    session.add(WebhookAttempt(account_id=endpoint.account_id, delivery_id=delivery.id,
                               started_at=at, status_code=200))
    await session.flush()
    return delivery


async def _world(services) -> dict:
    """Two accounts, each with events 40 and 2 days old and deliveries of every status."""
    made: dict = {"events": {}, "deliveries": {}}
    for _ in range(2):
        tenant = await make_tenant(services)
        async with services.db.session(write=True) as session:
            endpoint = WebhookEndpoint(
                account_id=tenant.account_id,
                url="https://hooks.example/x",
                created_by_staff_id=tenant.owner.staff_pk,  # vouched for (``standing``)
            )
            session.add(endpoint)
            await session.flush()
            last = {}
            for age in (40 * DAY, 2 * DAY):
                for n in range(3):
                    event = last[age] = await _event(session, tenant.account_id, age, n)
                    made["events"][event.id] = age
                for status in DeliveryStatus:
                    delivery = await _delivery(session, endpoint, event, status, age)
                    made["deliveries"][delivery.id] = (status, age, event.id)
            # of an event 40 days old, sent then, replayed yesterday: recent
            event = last[40 * DAY]
            replayed = await _delivery(session, endpoint, event, DeliveryStatus.DELIVERED,
                                       40 * DAY, sent=DAY)
            made["deliveries"][replayed.id] = ("replayed", 40 * DAY, event.id)
            await session.commit()
    return made


async def _ids(services, model) -> set[int]:
    async with services.db.session() as session:
        return set(await session.scalars(select(model.id)))


async def test_old_events_and_finished_deliveries_go_the_rest_stays(services):
    made = await _world(services)
    pruned = await prune_once(services.db, services.settings)  # 30 days each by default
    old_events = {i for i, age in made["events"].items() if age > 30 * DAY}
    gone = {
        i for i, (status, age, _) in made["deliveries"].items()
        if age > 30 * DAY and status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
    }
    assert pruned == {"webhook_deliveries": len(gone), "events": len(old_events), **NO_OTHERS}
    assert pruned == {"webhook_deliveries": 4, "events": 6, **NO_OTHERS}
    assert await _ids(services, Event) == set(made["events"]) - old_events
    assert await _ids(services, WebhookDelivery) == set(made["deliveries"]) - gone
    # attempts went with their deliveries
    async with services.db.session() as session:
        attempts = set(await session.scalars(select(WebhookAttempt.delivery_id)))
        assert attempts == set(made["deliveries"]) - gone
        # an old pending delivery (still being retried) and the replayed one keep their
        # payload; their event is gone, so they name none
        kept = (await session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id.in_(
                [i for i, (_, age, _) in made["deliveries"].items() if age > 30 * DAY]
            ))
        )).all()
    assert sorted(d.status for d in kept) == ["DELIVERED", "DELIVERED", "PENDING", "PENDING"]
    assert all(d.event_id is None and d.payload["type"] == "staff.updated" for d in kept)
    # a second run finds nothing more
    assert await prune_once(services.db, services.settings) == {
        "webhook_deliveries": 0, "events": 0, **NO_OTHERS
    }


async def test_pruning_runs_in_batches_until_done(services, monkeypatch):
    made = await _world(services)
    monkeypatch.setattr(background, "PRUNE_BATCH", 2)
    pruned = await prune_once(services.db, services.settings)
    assert pruned == {"webhook_deliveries": 4, "events": 6, **NO_OTHERS}
    assert len(await _ids(services, Event)) == len(made["events"]) - 6
    assert len(await _ids(services, WebhookDelivery)) == len(made["deliveries"]) - 4


async def test_a_retention_of_zero_keeps_everything(services):
    made = await _world(services)
    settings = services.settings.model_copy(
        update={"events_retention_days": 0, "webhook_deliveries_retention_days": 0}
    )
    assert await prune_once(services.db, settings) == {
        "webhook_deliveries": 0, "events": 0, **NO_OTHERS
    }
    assert await _ids(services, Event) == set(made["events"])
    assert await _ids(services, WebhookDelivery) == set(made["deliveries"])


@pytest.mark.parametrize("days, left", [(1, 0), (3, 6), (50, 12)])  # 1: every one goes
async def test_each_retention_is_its_own(services, days, left):
    made = await _world(services)
    settings = services.settings.model_copy(
        update={"events_retention_days": days, "webhook_deliveries_retention_days": 0}
    )
    await prune_once(services.db, settings)
    assert len(await _ids(services, Event)) == left
    assert await _ids(services, WebhookDelivery) == set(made["deliveries"])


async def test_one_of_many_workers_prunes(services, database_url):
    await _world(services)
    dbs = [Database(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(prune_if_due(db, services.settings) for db in dbs))
        done = [r for r in results if r is not None]
        assert done == [{"webhook_deliveries": 4, "events": 6, **NO_OTHERS}]
        # until the lease lapses, nobody prunes again
        assert [await prune_if_due(db, services.settings) for db in dbs] == [None] * 3
    finally:
        for db in dbs:
            await db.dispose()
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 6
    async with services.db.session() as session:
        lease = await session.get(Lease, RETENTION_LEASE)
        assert lease is not None and lease.expires_at > utcnow()


async def test_an_emptied_table_never_gives_its_ids_again(services):
    """Where every row is past its retention every row goes, the newest too, and the next
    row still gets a new id (SQLite's tables are AUTOINCREMENT, migration 0026): an id that
    clients, catch-ups and webhook consumers have seen never names another row."""
    tenant = await make_tenant(services)
    async with services.db.session(write=True) as session:
        endpoint = WebhookEndpoint(
            account_id=tenant.account_id,
            url="https://hooks.example/x",
            created_by_staff_id=tenant.owner.staff_pk,  # vouched for (``standing``)
        )
        session.add(endpoint)
        await session.flush()
        events = [await _event(session, tenant.account_id, 40 * DAY, n) for n in range(3)]
        deliveries = [
            await _delivery(session, endpoint, events[-1], DeliveryStatus.DELIVERED, 40 * DAY)
            for _ in range(2)
        ]
        await session.commit()
    assert await prune_once(services.db, services.settings) == {
        "webhook_deliveries": 2, "events": 3, **NO_OTHERS
    }
    assert await _ids(services, Event) == set()
    assert await _ids(services, WebhookDelivery) == set()
    async with services.db.session(write=True) as session:
        newer = await _event(session, tenant.account_id, DAY, 9)
        delivery = await _delivery(session, endpoint, newer, DeliveryStatus.PENDING, DAY)
        await session.commit()
    assert newer.id > events[-1].id
    assert delivery.id > deliveries[-1].id


async def test_a_delivery_being_replayed_is_not_pruned_under_it(services):
    """Replaying reads the delivery locked: a prune that found it old and finished waits
    for the replay's transaction, then finds it pending and leaves it (without the lock,
    on PostgreSQL, the prune deleted it in between and the replay's update failed)."""
    tenant = await make_tenant(services)
    async with services.db.session(write=True) as session:
        endpoint = WebhookEndpoint(
            account_id=tenant.account_id,
            url="https://hooks.example/x",
            created_by_staff_id=tenant.owner.staff_pk,  # vouched for (``standing``)
        )
        session.add(endpoint)
        await session.flush()
        event = await _event(session, tenant.account_id, 40 * DAY, 0)
        delivery = await _delivery(session, endpoint, event, DeliveryStatus.DELIVERED, 40 * DAY)
        await _delivery(session, endpoint, event, DeliveryStatus.PENDING, DAY)
        await session.commit()
    actor = await actor_of(services, tenant.owner)
    before = utcnow() - 30 * DAY
    async with services.db.session() as session:
        ids = await webhooks.RETENTION.batch(session, before, 10)
    assert ids == [delivery.id]

    async def prune() -> int:
        async with services.db.session(write=True) as session:
            count = await webhooks.RETENTION.delete(session, ids, before)
            await session.commit()
            return count

    async with services.db.session(write=True) as session:
        await webhooks.get_delivery(session, actor, delivery.id, lock=True)  # as replay reads
        pruning = asyncio.create_task(prune())
        await asyncio.sleep(0.3)
        assert not pruning.done()
        replayed = await webhooks.replay(session, actor, delivery.id)
        await session.commit()
    assert replayed.status == DeliveryStatus.PENDING
    assert await pruning == 0
    assert delivery.id in await _ids(services, WebhookDelivery)


async def test_pending_deliveries_of_a_disabled_endpoint_go_after_their_retention(services):
    """A disabled endpoint is never sent to, so its pending deliveries would wait for ever:
    past their retention they go like finished ones; recent ones stay, to be sent if the
    endpoint is enabled again, and an enabled endpoint's pending deliveries always stay."""
    tenant = await make_tenant(services)
    async with services.db.session(write=True) as session:
        enabled = WebhookEndpoint(account_id=tenant.account_id, url="https://hooks.example/a")
        disabled = WebhookEndpoint(account_id=tenant.account_id, url="https://hooks.example/b",
                                   enabled=False, disabled_reason="failing")
        session.add_all([enabled, disabled])
        await session.flush()
        event = await _event(session, tenant.account_id, 40 * DAY, 0)
        waiting_old = await _delivery(session, disabled, event, DeliveryStatus.PENDING, 40 * DAY)
        waiting_new = await _delivery(session, disabled, event, DeliveryStatus.PENDING, 2 * DAY)
        retrying = await _delivery(session, enabled, event, DeliveryStatus.PENDING, 40 * DAY)
        newest = await _delivery(session, enabled, event, DeliveryStatus.PENDING, DAY)
        await session.commit()
    pruned = await prune_once(services.db, services.settings)
    assert pruned["webhook_deliveries"] == 1
    assert await _ids(services, WebhookDelivery) == {waiting_new.id, retrying.id, newest.id}
    assert waiting_old.id not in await _ids(services, WebhookDelivery)


async def test_a_pending_delivery_stays_if_its_endpoint_is_enabled_before_the_prune(services):
    """The deletion checks the endpoint again: enabled between the search and the delete,
    its old pending delivery is kept (and will be sent)."""
    tenant = await make_tenant(services)
    async with services.db.session(write=True) as session:
        endpoint = WebhookEndpoint(account_id=tenant.account_id, url="https://hooks.example/b",
                                   enabled=False, disabled_reason="failing")
        session.add(endpoint)
        await session.flush()
        event = await _event(session, tenant.account_id, 40 * DAY, 0)
        old = await _delivery(session, endpoint, event, DeliveryStatus.PENDING, 40 * DAY)
        await _delivery(session, endpoint, event, DeliveryStatus.DELIVERED, DAY)
        await session.commit()
    before = utcnow() - 30 * DAY
    async with services.db.session() as session:
        assert await webhooks.RETENTION.batch(session, before, 10) == [old.id]
    actor = await actor_of(services, tenant.owner)
    async with services.db.session(write=True) as session:
        await webhooks.update_endpoint(session, actor, endpoint.id, {"enabled": True})
        await session.commit()
    async with services.db.session(write=True) as session:
        assert await webhooks.RETENTION.delete(session, [old.id], before) == 0
        await session.commit()
    assert old.id in await _ids(services, WebhookDelivery)


async def test_a_kind_that_fails_leaves_the_other_pruned(services, monkeypatch, caplog):
    made = await _world(services)

    def broken(*args):
        raise RuntimeError("the deliveries' table is away")

    retention = dataclasses.replace(background.webhooks.RETENTION, old=broken)
    monkeypatch.setattr(background.webhooks, "RETENTION", retention)
    pruned = await prune_once(services.db, services.settings)
    assert pruned == {"webhook_deliveries": 0, "events": 6, **NO_OTHERS}
    assert await _ids(services, WebhookDelivery) == set(made["deliveries"])
    assert "pruning webhook_deliveries failed" in caplog.text


@pytest.mark.parametrize("values", [
    {"events_retention_days": 0.5},
    {"events_retention_days": -1},
    {"events_retention_days": 1e9},
    {"webhook_deliveries_retention_days": 1},  # within the retry window and a day
    {"webhook_deliveries_retention_days": 3, "webhooks_retry_hours": 72},
    {"webhook_deliveries_retention_days": float("inf")},
])
def test_a_retention_shorter_than_its_readers_need_is_refused(database_url, values):
    with pytest.raises(ValidationError):
        make_settings(database_url, **values)


def test_retentions_that_are_kept(database_url):
    for values in ({"events_retention_days": 0, "webhook_deliveries_retention_days": 0},
                   {"events_retention_days": 1, "webhook_deliveries_retention_days": 2},
                   {"webhook_deliveries_retention_days": 4, "webhooks_retry_hours": 72}):
        settings = make_settings(database_url, **values)
        assert all(getattr(settings, k) == v for k, v in values.items())
