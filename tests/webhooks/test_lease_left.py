"""A claimed delivery is sent only while its lease has the whole attempt's time left: one
reached long after its claim (its reads waited for the pool, say) would be sent past the
lease, when another worker may claim and send it too. It is given back instead, unsent and
no attempt, and the next claim sends it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.db.base import utcnow
from app.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.factories import make_tenant
from tests.webhooks.receiver import receiving
from tests.webhooks.test_webhooks import PING, create
from tests.webhooks.test_webhooks import settings as settings  # noqa: F401 (fixture)
from tests.webhooks.test_worker_crash import delivery_row


async def test_a_delivery_whose_lease_runs_short_is_given_back_unsent(api, services):
    tenant = await make_tenant(services)
    deliverer = services.webhooks
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        receiver.secrets.append(made["secret"])
        await api.data(PING, {"id": made["webhookEndpoint"]["id"]}, as_=tenant.owner)
        lease, [claimed] = await deliverer.claim()
        short = utcnow() + timedelta(seconds=deliverer.timeout / 2)
        async with services.db.session(write=True) as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == claimed)
                .values(locked_until=short)
            )
            await session.commit()

        assert await deliverer.deliver(claimed, lease) is False
        assert receiver.ids == []
        row = await delivery_row(services)
        assert (row.status, row.lease, row.locked_until, row.attempts) == (
            DeliveryStatus.PENDING, None, None, 0,
        )  # fmt: skip

        assert await deliverer.run_once() == 1  # claimed anew, and sent
        assert len(receiver.ids) == 1
        assert (await delivery_row(services)).status == DeliveryStatus.DELIVERED
