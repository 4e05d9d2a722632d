"""The delivery worker: sends due webhook deliveries, signed per Standard Webhooks.

A pass claims a batch of due deliveries with one conditional UPDATE that sets a lease
(``locked_until`` and a random ``lease`` token); on PostgreSQL the rows are picked
``FOR UPDATE SKIP LOCKED``, on SQLite the single writer makes the statement atomic. A
batch takes endpoints in turns (``_in_turn``): one receiver's backlog does not hold up
every other endpoint's deliveries. So
workers in several processes never send one delivery at once. The batch is sent
concurrently and every request is cut off at the timeout, so the work always ends well
inside the lease. A worker that dies mid-send leaves its lease to expire; another worker
then sends the delivery again, with the same ``webhook-id``.

An attempt is logged with its status, duration and the start of the answer. A failure is
retried with exponential backoff and full jitter until the delivery has been failing for
the retry window (a day); then it is FAILED, its endpoint disabled and the account's
administrators emailed (through the outbox, in the same transaction).

Every attempt checks the URL again and connects to the address it checked
(``app.webhooks.urls``): a name that now resolves to an inner address is refused. One
that could not look the name up because Roster's own look-up threads were all busy
(``LookupsBusy``) sent nothing: it is tried again later without counting as an attempt,
so Roster's being busy never fails a delivery nor disables its endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import orjson
from sqlalchemy import BindParameter, and_, bindparam, or_, select, update
from standardwebhooks import Webhook

from app.accounts.models import Account
from app.db.base import UTCDateTime, utcnow
from app.db.prepared import Prepared
from app.email.outbox import enqueue
from app.events.bus import HUB
from app.events.service import NOTIFY_CHANNEL
from app.identity.models import User
from app.security.crypto import Keyring
from app.staff import queries as staff_queries
from app.staff.models import Staff
from app.validation import UNSTORABLE
from app.webhooks import urls
from app.webhooks.errors import LookupsBusy, UnsafeUrl
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.service import (
    event_of,
    signing_secrets,
    standing,
    told_payload,
)

log = logging.getLogger("roster.webhooks")

EXCERPT = 1000  # characters of an answer kept with its attempt
USER_AGENT = "Roster-Webhooks/1"
DISABLED_REASON = "Every delivery failed for the retry window."
# Attempts a delivery has at least before it fails for the retry window: one whose first
# tries were put off (Roster's look-up threads busy: ``Outcome.not_tried``) is not failed,
# nor its endpoint disabled, by its first real failure.
MIN_ATTEMPTS = 3
WITHHELD = "Not sent: it names only personal fields, which this endpoint is no longer told."
UNVOUCHED = (
    "Not sent: whoever set this endpoint up can no longer manage webhooks (or the API key "
    "they used was revoked or has expired); once an administrator changes the endpoint, "
    "it can be sent again."
)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    excerpt: str | None
    duration_ms: int
    # nothing was sent: Roster could not try (its look-up threads were all busy)
    not_tried: bool = False


def _due(now: datetime | BindParameter[datetime]):
    return and_(
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
    )


# Whether any delivery is due at ``now`` (to an enabled endpoint): read before a claim,
# which is a write. Built once and read on the driver (app.db.prepared).
_NOW: BindParameter[datetime] = bindparam("now", type_=UTCDateTime)
ANY_DUE = Prepared(
    select(WebhookDelivery.id)
    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
    .where(_due(_NOW), WebhookEndpoint.enabled.is_(True))
    .limit(1)
)


def _first_turn(now: datetime):
    """Each enabled endpoint's oldest due delivery (None for an endpoint with none): one
    probe of ``ix_webhook_deliveries_endpoint_due`` per endpoint, whatever the backlog."""
    oldest = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.endpoint_id == WebhookEndpoint.id, _due(now))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(1)
        .correlate(WebhookEndpoint)
        .scalar_subquery()
    )
    return select(oldest).where(WebhookEndpoint.enabled.is_(True))


def _oldest(now: datetime, batch: int, among: list[int] | None = None):
    """At most ``batch`` due deliveries to enabled endpoints, oldest first (of ``among``,
    if given), locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a second worker claiming
    at once takes the next ones."""
    chosen = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(_due(now), WebhookEndpoint.enabled.is_(True))
    )
    if among is not None:
        chosen = chosen.where(WebhookDelivery.id.in_(among))
    return (
        chosen.order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(batch)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )


async def _in_turn(session, now: datetime, batch: int) -> list[int]:
    """``batch`` due deliveries to claim: every endpoint's oldest first, oldest first,
    then the oldest of the rest. One receiver's backlog (a slow one's, one that was down)
    no longer fills every batch ahead of other endpoints' deliveries, which went out only
    once it was worked off; a lone endpoint still fills the batch. Neither step reads
    more than it takes (``_first_turn`` probes an index per endpoint, ``_oldest`` walks
    the due index): ranking every due delivery sorted the whole backlog at every claim."""
    firsts = [i for i in await session.scalars(_first_turn(now)) if i is not None]
    picked = list(await session.scalars(_oldest(now, batch, firsts))) if firsts else []
    if len(picked) < batch:
        more = await session.scalars(_oldest(now, batch))
        picked += [i for i in more if i not in picked][: batch - len(picked)]
    return picked


class Deliverer:
    def __init__(
        self,
        db,
        keyring: Keyring,
        *,
        allow_private: bool = False,
        timeout: float = 10,
        retry_window: timedelta = timedelta(hours=24),
        backoff_seconds: float = 5,
        max_backoff_seconds: float = 3600,
        batch: int = 10,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.db = db
        self.keyring = keyring
        self.allow_private = allow_private
        self.timeout = timeout
        self.retry_window = retry_window
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.batch = batch
        self.transport = transport
        # Longer than any batch can take: each request is cut off at the timeout.
        self.lease = timedelta(seconds=2 * timeout + 2)

    @classmethod
    def from_settings(cls, db, settings) -> Deliverer:
        return cls(
            db,
            settings.keyring,
            allow_private=settings.webhooks_allow_private,
            timeout=settings.webhooks_timeout_seconds,
            retry_window=timedelta(hours=settings.webhooks_retry_hours),
            backoff_seconds=settings.webhooks_backoff_seconds,
            max_backoff_seconds=settings.webhooks_max_backoff_seconds,
        )

    def backoff(self, attempts: int) -> timedelta:
        """Exponential, capped, with full jitter (half to all of the step)."""
        step = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** max(0, attempts - 1))
        return timedelta(seconds=step * random.uniform(0.5, 1.0))

    # --- claiming ---------------------------------------------------------------------

    async def claim(self) -> tuple[str, list[int]]:
        """A lease and the deliveries it holds (none when nothing is due).

        Whether anything is due is read first, without a write: the worker wakes on every
        committed event, and most events have no endpoint to go to. On SQLite a claim is a
        write transaction, which waits for (and holds up) the requests' writers."""
        now = utcnow()
        lease = secrets.token_hex(16)
        async with self.db.engine.connect() as connection:  # one read, no transaction
            if not await ANY_DUE.all(connection, {"now": now}):
                return lease, []
        async with self.db.session(write=True) as session:
            # Picked (and on PostgreSQL locked) first, then leased: with the pick as a
            # subquery of the UPDATE, PostgreSQL leased more than the batch (every due
            # delivery), all of them then sent at once.
            picked = await _in_turn(session, now, self.batch)
            claimed: list[int] = []
            if picked:
                claimed = list(
                    await session.scalars(
                        update(WebhookDelivery)
                        .where(WebhookDelivery.id.in_(picked), _due(now))
                        .values(locked_until=now + self.lease, lease=lease)
                        .returning(WebhookDelivery.id)
                        .execution_options(synchronize_session=False)
                    )
                )
            await session.commit()
        return lease, sorted(claimed)

    # --- sending ----------------------------------------------------------------------

    async def _load(self, delivery_id: int):
        """The delivery, its endpoint, and what the endpoint may be told of it now
        (``told_payload``), or why it is told nothing: nobody vouches for the endpoint any
        more (``standing``), or the delivery names only what it is no longer told."""
        async with self.db.session() as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            endpoint = (
                await session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
            )
            if delivery is None or endpoint is None:
                return delivery, endpoint, None, None
            now_standing = await standing(session, [endpoint])
            if endpoint.id not in now_standing.vouched:
                return delivery, endpoint, None, UNVOUCHED
            personal = endpoint.id in now_standing.personal
            told = told_payload(delivery.payload, personal, await event_of(session, delivery))
            return delivery, endpoint, told, WITHHELD if told is None else None

    def sign(self, secrets_: Sequence[str], message_id: str, when: datetime, body: bytes) -> str:
        return " ".join(Webhook(s).sign(message_id, when, body) for s in secrets_)

    async def post(self, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> Outcome:
        """One attempt: check the URL, sign, POST to the checked address."""
        started = time.perf_counter()

        def outcome(ok, status=None, error=None, excerpt=None, not_tried=False) -> Outcome:
            duration = int((time.perf_counter() - started) * 1000)
            return Outcome(ok, status, error, excerpt, duration, not_tried)

        try:
            async with asyncio.timeout(self.timeout):  # the look-up is inside the lease too
                return await self._attempt(endpoint, delivery, outcome)
        except LookupsBusy as exc:
            log.warning("webhook delivery %s put off: %s", delivery.uid, exc.message)
            return outcome(False, error=exc.message, not_tried=True)
        except UnsafeUrl as exc:
            return outcome(False, error=exc.message)
        except TimeoutError:
            return outcome(False, error=f"No answer within {self.timeout:g} s.")
        except httpx.HTTPError as exc:
            return outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
        except Exception as exc:  # logged, and counted as a failed attempt: never retried forever
            log.exception("webhook delivery %s failed unexpectedly", delivery.uid)
            return outcome(False, error=f"Roster could not send it ({type(exc).__name__}).")

    async def _attempt(
        self,
        endpoint: WebhookEndpoint,
        delivery: WebhookDelivery,
        outcome: Callable[..., Outcome],
    ) -> Outcome:
        target = await urls.check(endpoint.url, allow_private=self.allow_private)
        body = orjson.dumps(delivery.payload)
        now = utcnow()
        headers = {
            "host": target.host_header,
            "content-type": "application/json",
            # the answer is read as sent, never inflated: a few compressed kilobytes could
            # be gigabytes (only its first EXCERPT * 4 bytes are read, as they come)
            "accept-encoding": "identity",
            "user-agent": USER_AGENT,
            "webhook-id": delivery.uid,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.sign(
                signing_secrets(self.keyring, endpoint, now), delivery.uid, now, body
            ),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        async with httpx.AsyncClient(
            transport=self.transport,
            follow_redirects=False,
            trust_env=False,
            timeout=self.timeout,
        ) as client:
            request = client.build_request(
                "POST",
                target.pinned_url,
                content=body,
                headers=headers,
                extensions=extensions,
            )
            response = await client.send(request, stream=True)
            try:
                raw = b""
                async for chunk in response.aiter_raw():
                    raw += chunk
                    if len(raw) >= EXCERPT * 4:
                        break
            finally:
                await response.aclose()
        # kept as text any database stores: a receiver may answer with NUL (or gzip's bytes)
        excerpt = UNSTORABLE.sub("\ufffd", raw.decode("utf-8", "replace")[:EXCERPT]) or None
        ok = 200 <= response.status_code < 300
        error = None if ok else f"HTTP {response.status_code}"
        return outcome(ok, response.status_code, error, excerpt)

    async def _release(self, delivery_id: int, uid: str, lease: str) -> None:
        """Give a claimed delivery back, unsent and no attempt, if ``lease`` still holds it."""
        async with self.db.session(write=True) as session:
            await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.uid == uid,
                    WebhookDelivery.lease == lease,
                )
                .values(locked_until=None, lease=None)
                .execution_options(synchronize_session=False)
            )
            await session.commit()

    async def _finish(
        self, delivery_id: int, uid: str, lease: str, result: Outcome, *, final: bool = False
    ) -> None:
        """Record the attempt; ``final``: a delivery not sent (``WITHHELD``) fails at once,
        without counting against its endpoint. One not tried (``Outcome.not_tried``) is
        put off by the backoff its attempts so far call for, and is no attempt."""
        async with self.db.session(write=True) as session:
            # held until commit (PostgreSQL): a replay (which locks it too) between this
            # read of its lease and the write below would otherwise be written over
            delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
            # gone: its endpoint was deleted meanwhile; another uid: deleted, and SQLite
            # gave its id to a newer delivery (maybe another account's), which this
            # attempt must not be written to
            if delivery is None or delivery.uid != uid:
                return
            if result.not_tried:
                if delivery.lease == lease:
                    delivery.locked_until = None
                    delivery.lease = None
                    delivery.next_attempt_at = utcnow() + self.backoff(delivery.attempts + 1)
                    await session.commit()
                return
            session.add(
                WebhookAttempt(
                    account_id=delivery.account_id,
                    delivery_id=delivery.id,
                    started_at=utcnow() - timedelta(milliseconds=result.duration_ms),
                    duration_ms=result.duration_ms,
                    status_code=result.status_code,
                    ok=result.ok,
                    error=result.error,
                    response_excerpt=result.excerpt,
                )
            )
            if delivery.lease != lease:  # the lease ran out and another worker took it
                await session.commit()
                return
            now = utcnow()
            delivery.attempts += 1
            delivery.locked_until = None
            delivery.lease = None
            if result.ok:
                delivery.status = DeliveryStatus.DELIVERED
                delivery.delivered_at = now
            elif final:
                delivery.status = DeliveryStatus.FAILED
            elif (
                now - delivery.retry_from >= self.retry_window
                and delivery.attempts >= MIN_ATTEMPTS
            ):
                delivery.status = DeliveryStatus.FAILED
                if not await self._answered_since(
                    session, delivery.endpoint_id, delivery.retry_from
                ):
                    await self._disable(session, delivery.endpoint_id, result.error or "")
            else:
                delivery.next_attempt_at = now + self.backoff(delivery.attempts)
            await session.commit()

    async def _answered_since(self, session, endpoint_id: int, since: datetime) -> bool:
        """Whether the endpoint accepted any delivery since then: one delivery it keeps
        refusing (say, one event type it cannot take) fails alone, the endpoint stays on."""
        accepted = await session.scalar(
            select(WebhookAttempt.id)
            .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookAttempt.ok.is_(True),
                WebhookAttempt.started_at >= since,
            )
            .limit(1)
        )
        return accepted is not None

    async def _disable(self, session, endpoint_id: int, last_error: str) -> None:
        """Disable a failing endpoint and tell the account's administrators (once)."""
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None or not endpoint.enabled:
            return
        endpoint.enabled = False
        endpoint.disabled_reason = DISABLED_REASON
        account = await session.get(Account, endpoint.account_id)
        admins = await session.scalars(
            staff_queries.administrators(endpoint.account_id)
            .with_only_columns(User.email)
            .select_from(Staff)
            .join(User, User.id == Staff.user_id)
            .order_by(User.email)
        )
        hours = self.retry_window.total_seconds() / 3600
        for email in admins:
            await enqueue(
                session,
                self.keyring,
                template="webhook_endpoint_disabled",
                to=email,
                account_id=endpoint.account_id,
                subject=f"A webhook endpoint of {account.name if account else 'your account'} "
                "was disabled",
                context={
                    "url": endpoint.url,
                    "account": account.name if account else "",
                    "hours": f"{hours:g}",
                    "last_error": last_error,
                },
            )
        log.warning("webhook endpoint %s disabled after failing for %g h", endpoint_id, hours)

    async def deliver(self, delivery_id: int, lease: str) -> bool:
        delivery, endpoint, told, reason = await self._load(delivery_id)
        if delivery is None or endpoint is None or delivery.lease != lease:
            return False
        # Sent only with the whole attempt's time left in the lease: a delivery reached long
        # after its claim (its reads waited for the pool, say) would be sent past the lease,
        # when another worker may claim it and send it too. Given back to be claimed anew.
        left = (delivery.locked_until or utcnow()) - utcnow()
        if left < timedelta(seconds=self.timeout + 1):
            await self._release(delivery_id, delivery.uid, lease)
            return False
        if told is None:  # see ``_load``: sent to nobody, failed at once
            withheld = Outcome(False, None, reason, None, 0)
            await self._finish(delivery_id, delivery.uid, lease, withheld, final=True)
            return False
        delivery.payload = told  # detached: what this attempt sends, never written back
        result = await self.post(endpoint, delivery)
        await self._finish(delivery_id, delivery.uid, lease, result)
        return result.ok

    async def run_once(self) -> int:
        """Send what is due now; returns how many deliveries were claimed."""
        lease, claimed = await self.claim()
        if claimed:
            results = await asyncio.gather(
                *(self.deliver(i, lease) for i in claimed), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    log.error("webhook delivery failed", exc_info=result)
        return len(claimed)

    @contextlib.asynccontextmanager
    async def _notified(self, wake: asyncio.Event) -> AsyncIterator[None]:
        """On PostgreSQL, ``wake`` is set whenever any process commits events (the
        ``NOTIFY`` of ``app.events.service``); elsewhere (and if listening fails) the loop
        polls."""
        if self.db.dialect != "postgresql":
            yield
            return
        try:
            conn = await self.db.engine.connect()
            driver = (await conn.get_raw_connection()).driver_connection
            listener = lambda *_: wake.set()  # noqa: E731
            await driver.add_listener(NOTIFY_CHANNEL, listener)
        except Exception:
            log.warning("cannot LISTEN for new events; polling only", exc_info=True)
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await driver.remove_listener(NOTIFY_CHANNEL, listener)
            with contextlib.suppress(Exception):
                await conn.close()

    async def run_forever(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        """Deliver until ``stop``: at once when new events commit (this process's, and on
        PostgreSQL every process's), else every ``poll_seconds``."""
        queue = HUB.listen()
        wake = asyncio.Event()
        try:
            async with self._notified(wake):
                while not stop.is_set():
                    wake.clear()
                    try:
                        while await self.run_once() >= self.batch and not stop.is_set():
                            pass
                    except Exception:
                        log.exception("webhook delivery pass failed")
                    waits = [
                        asyncio.ensure_future(queue.get()),
                        asyncio.ensure_future(stop.wait()),
                        asyncio.ensure_future(wake.wait()),
                    ]
                    await asyncio.wait(
                        waits, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED
                    )
                    for waiting in waits:
                        waiting.cancel()
                    while not queue.empty():
                        queue.get_nowait()
        finally:
            HUB.forget(queue)
