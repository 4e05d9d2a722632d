"""A delivery worker process killed mid-delivery: the delivery is not lost, no other worker
takes it while its lease holds, and it is delivered again with the same webhook-id."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import select

from app.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.factories import make_tenant
from tests.webhooks.receiver import receiving
from tests.webhooks.test_webhooks import PING, create
from tests.webhooks.test_webhooks import settings as settings  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT = 2  # seconds: its lease is 2 * 2 + 2 = 6 s


async def start_worker(database_url: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env.update(
        ROSTER_DATABASE_URL=database_url,
        ROSTER_WEBHOOKS_ALLOW_PRIVATE="true",
        ROSTER_WEBHOOKS_TIMEOUT_SECONDS=str(WORKER_TIMEOUT),
        ROSTER_WEBHOOKS_POLL_SECONDS="0.1",
        ROSTER_EMAIL_BACKEND="memory",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "webhooks",
        "deliver",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def delivery_row(services) -> WebhookDelivery:
    async with services.db.session() as session:
        return (await session.scalars(select(WebhookDelivery))).one()


async def test_a_killed_worker_s_delivery_is_sent_again_with_the_same_webhook_id(
    api, services, database_url
):
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        receiver.secrets.append(made["secret"])
        held = receiver.hold = asyncio.Event()  # the first request gets no answer
        ping = await api.data(PING, {"id": made["webhookEndpoint"]["id"]}, as_=tenant.owner)
        message_id = ping["webhookEndpointPing"]["delivery"]["messageId"]

        worker = await start_worker(database_url)
        try:
            await asyncio.wait_for(receiver.arrived.wait(), timeout=60)
        finally:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
        receiver.hold = None
        held.set()
        assert receiver.ids == [message_id]

        row = await delivery_row(services)
        assert row.status == DeliveryStatus.PENDING and row.locked_until is not None
        # while the dead worker's lease holds, nobody else sends it
        assert await services.webhooks.run_once() == 0
        for _ in range(300):
            if await services.webhooks.run_once():
                break
            await asyncio.sleep(0.05)

        assert receiver.ids == [message_id, message_id]
        assert receiver.received[-1].verified_with == [made["secret"]]
        row = await delivery_row(services)
        assert row.status == DeliveryStatus.DELIVERED
        # delivered: nothing is sent a third time
        assert await services.webhooks.run_once() == 0
        assert len(receiver.received) == 2
