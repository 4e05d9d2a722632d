"""A delivery's attempt is written to that delivery alone: where its endpoint is deleted
while the request is out, SQLite may give the freed id to the next delivery, maybe another
account's, which must not receive the first endpoint's answer."""

from __future__ import annotations

from sqlalchemy import delete, select

from app.webhooks.delivery import Outcome
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.factories import make_tenant


def _delivery(endpoint: WebhookEndpoint, uid: str, **extra) -> WebhookDelivery:
    return WebhookDelivery(uid=uid, account_id=endpoint.account_id, endpoint_id=endpoint.id,
                           event_type="staff.updated", payload={"type": "staff.updated"},
                           **extra)


async def test_an_attempt_never_lands_on_the_delivery_that_took_its_id(services, monkeypatch):
    mine, theirs = await make_tenant(services), await make_tenant(services)
    async with services.db.session(write=True) as session:
        endpoint = WebhookEndpoint(
            account_id=mine.account_id,
            url="https://hooks.example/a",
            created_by_staff_id=mine.owner.staff_pk,  # vouched for (``standing``)
        )
        session.add(endpoint)
        await session.flush()
        sent = _delivery(endpoint, "msg_mine")
        session.add(sent)
        await session.commit()
    deliverer = services.webhooks
    lease, claimed = await deliverer.claim()
    assert claimed == [sent.id]

    async def post(to, delivery) -> Outcome:
        # while the request is out: the endpoint is deleted (its deliveries with it), and
        # another account's new delivery takes the freed id (as SQLite may number it)
        async with services.db.session(write=True) as session:
            await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == to.id))
            other = WebhookEndpoint(account_id=theirs.account_id, url="https://hooks.example/b")
            session.add(other)
            await session.flush()
            session.add(_delivery(other, "msg_theirs", id=delivery.id))
            await session.commit()
        return Outcome(True, 200, None, "the first endpoint's answer", 5)

    monkeypatch.setattr(deliverer, "post", post)
    await deliverer.deliver(sent.id, lease)
    async with services.db.session() as session:
        attempts = (await session.scalars(select(WebhookAttempt))).all()
        took = await session.get(WebhookDelivery, sent.id)
    assert attempts == []
    assert took is not None and took.uid == "msg_theirs" and took.account_id == theirs.account_id
    assert took.status == DeliveryStatus.PENDING and took.attempts == 0
