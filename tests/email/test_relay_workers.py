"""Several relays on one outbox: each message is sent once while they live, and again
after the lease of one that died has lapsed. Relays run in their own processes
(``roster email relay``) or on their own engines, against a real SMTP server (aiosmtpd),
with the lease scaled down to fractions of a second."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app.db.base import utcnow
from app.email.models import OutboxMessage, OutboxStatus
from app.email.outbox import enqueue
from app.email.senders import SmtpSender
from app.services import Services
from tests.conftest import make_settings
from tests.factories import SmtpSink

ROOT = Path(__file__).resolve().parents[2]


class SlowSink(SmtpSink):
    """An SMTP server that takes ``delay`` seconds to accept each message; with ``stall``
    set it holds the first recipient of the first session until ``release`` is set, and
    then turns it away (the client that sent it is gone by then)."""

    def __init__(self, delay: float = 0.0, stall: bool = False):
        super().__init__()
        self.delay = delay
        self.stall = stall
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.receiving = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.stall and not self.stalled.is_set():
            self.stalled.set()
            await asyncio.to_thread(self.release.wait)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.receiving.set()
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


class CountingSender(SmtpSender):
    def __init__(self, settings):
        super().__init__(settings)
        self.sent = 0

    async def send(self, message) -> None:
        await super().send(message)
        self.sent += 1


@pytest.fixture
def sinks():
    started: list[SmtpSink] = []

    def start(sink: SmtpSink) -> SmtpSink:
        started.append(sink.start())
        return sink

    yield start
    for sink in started:
        if isinstance(sink, SlowSink):
            sink.release.set()
        sink.stop()


def relay_settings(database_url: str, sink: SmtpSink, lease: float, **overrides):
    return make_settings(
        database_url,
        email_backend="smtp",
        smtp_port=sink.port,
        smtp_timeout_seconds=10,
        email_lease_seconds=lease,
        email_backoff_seconds=30,
        **overrides,
    )


def relay_process(database_url: str, sink: SmtpSink, lease: float, log: Path) -> subprocess.Popen:
    """``roster email relay`` in a process of its own, logging to ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env.update(
        ROSTER_DATABASE_URL=database_url,
        ROSTER_EMAIL_BACKEND="smtp",
        ROSTER_SMTP_PORT=str(sink.port),
        ROSTER_SMTP_TIMEOUT_SECONDS="10",
        ROSTER_EMAIL_LEASE_SECONDS=str(lease),
        ROSTER_EMAIL_RELAY_POLL_SECONDS="0.05",
        ROSTER_PUBLIC_URL="http://roster.test",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "app", "email", "relay"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def queue(services, addresses: list[str]) -> list[int]:
    async with services.db.session(write=True) as session:
        ids = []
        for address in addresses:
            message = await enqueue(
                session,
                services.settings.keyring,
                template="password_changed",
                to=address,
                context={
                    "email": address,
                    "when": "today",
                    "ended": "your other sessions were ended",
                    "link": "http://roster.test/password-reset",
                },
            )
            ids.append(message.id)
        await session.commit()
        return ids


async def rows(services) -> list[OutboxMessage]:
    async with services.db.session() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def until(predicate, seconds: float, what) -> float:
    """Waits until ``predicate()`` holds; returns how long it took. ``what``: what was
    awaited, or a function that says what became of it."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started >= seconds:
            raise AssertionError(f"not within {seconds}s: {what() if callable(what) else what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_two_relay_processes_deliver_each_of_40_messages_exactly_once(
    database_url, sinks, tmp_path
):
    sink = sinks(SlowSink(delay=0.02))
    lease = 3.0  # renewed in time even on a machine busy with other work
    services = Services.from_settings(relay_settings(database_url, sink, lease))
    services.relay.sender = counting = CountingSender(services.settings)
    log = tmp_path / "relay.log"
    other = relay_process(database_url, sink, lease, log)
    stop = asyncio.Event()
    try:
        # the other process is relaying once it has sent a first message
        await queue(services, ["first@example.com"])
        await until(lambda: len(sink.envelopes) == 1, 30, "the relay process started")

        here = asyncio.create_task(services.relay.run_forever(stop, poll_seconds=0.05))
        addresses = [f"person{i}@example.com" for i in range(40)]
        await queue(services, addresses)
        await until(
            lambda: len(sink.envelopes) >= 41,
            300,  # a bound, not a speed: a few seconds on an idle machine
            lambda: (
                f"{len(sink.envelopes)} of 41 delivered; the other relay said: "
                + log.read_text()[-2000:]
            ),
        )
        await asyncio.sleep(lease + 1)  # time enough for a second copy, were one coming
        stop.set()
        await here
        outbox = await rows(services)
    finally:
        stop_process(other)
        await services.close()

    delivered = Counter(r for e in sink.envelopes for r in e.rcpt_tos)
    assert delivered == Counter(["first@example.com", *addresses])
    assert {m.status for m in outbox} == {OutboxStatus.SENT}
    assert {m.lease_token for m in outbox} == {None}
    assert 0 < counting.sent < 40, "both relays took part"


async def test_a_relay_killed_mid_send_leaves_the_message_to_another_after_its_lease(
    database_url, sinks, tmp_path
):
    sink = sinks(SlowSink(stall=True))
    lease = 2.0
    services = Services.from_settings(relay_settings(database_url, sink, lease))
    doomed = relay_process(database_url, sink, lease, tmp_path / "relay.log")
    try:
        [message_id] = await queue(services, ["once@example.com"])
        await until(sink.stalled.is_set, 30, "the relay process started sending")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        killed_at = time.monotonic()
        sink.release.set()

        [claimed] = await rows(services)
        assert claimed.lease_token is not None and claimed.status is OutboxStatus.PENDING
        assert await services.relay.run_once() == 0  # the dead relay's lease still holds

        sent = 0
        while not sent:
            assert time.monotonic() - killed_at < 10 * lease, "never sent after the lease"
            await asyncio.sleep(0.1)
            sent = await services.relay.run_once()
        assert time.monotonic() - killed_at >= lease / 2
        [done] = await rows(services)
    finally:
        stop_process(doomed)
        await services.close()

    assert [e.rcpt_tos for e in sink.envelopes] == [["once@example.com"]]
    assert (done.id, done.status, done.attempts) == (message_id, OutboxStatus.SENT, 0)
    assert done.lease_token is None and done.locked_until is None


async def test_a_renewed_lease_keeps_a_slow_send_claimed(database_url, sinks):
    sink = sinks(SlowSink(delay=4.0))
    lease = 1.0  # four leases pass while the mail server takes its time
    one = Services.from_settings(relay_settings(database_url, sink, lease))
    two = Services.from_settings(relay_settings(database_url, sink, lease))
    try:
        await queue(one, ["slow@example.com"])
        sending = asyncio.create_task(one.relay.run_once())
        await until(sink.receiving.is_set, 10, "the slow send began")
        tokens = set()
        while not sending.done():
            assert await two.relay.run_once() == 0
            [row] = await rows(two)
            if row.status is OutboxStatus.PENDING:  # else it has been sent meanwhile
                tokens.add(row.lease_token)
            await asyncio.sleep(lease / 4)
        assert await sending == 1
        assert len(tokens) == 1 and None not in tokens  # one claim all along
        assert await two.relay.run_once() == 0
        [row] = await rows(two)
    finally:
        await one.close()
        await two.close()

    assert [e.rcpt_tos for e in sink.envelopes] == [["slow@example.com"]]
    assert row.status is OutboxStatus.SENT


async def test_a_relay_whose_lease_was_taken_records_nothing(database_url, sinks):
    sink = sinks(SlowSink(delay=1.5))
    lease = 0.3
    services = Services.from_settings(relay_settings(database_url, sink, lease))
    try:
        [message_id] = await queue(services, ["taken@example.com"])
        sending = asyncio.create_task(services.relay.run_once())
        await until(sink.receiving.is_set, 10, "the send began")
        # as if the lease had lapsed and another relay had claimed the message
        later = utcnow() + timedelta(minutes=5)
        async with services.db.session(write=True) as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(lease_token="another relay's token", locked_until=later)
            )
            await session.commit()
        assert await asyncio.wait_for(sending, 5) == 0
        [row] = await rows(services)
    finally:
        await services.close()

    assert row.status is OutboxStatus.PENDING and row.sent_at is None
    assert (row.lease_token, row.attempts) == ("another relay's token", 0)
