"""Webhook endpoints (administrators manage them) and the deliveries queued for them.

Endpoints and deliveries tell of changes to every record, restricted ones too, so they
need what the audit log needs (``require_whole_records``: ManageAccount, ViewStaff and
ViewRestrictedStaff; an API key needs the ``admin`` and ``staff:read`` scopes).

``queue_deliveries`` is a consumer of ``app.events.service.IN_TRANSACTION``: in the
transaction that writes an account's events it queues one delivery per enabled endpoint
that asked for the event's type, so a rolled-back change queues nothing and a committed
one is delivered (``app.webhooks.delivery``). A payload is thin: the event's type and id,
the record's global id and the names of the fields that changed; the names of personal
fields only for endpoints created by a holder of ViewPersonalData.

Signing secrets are shown once (at creation and rotation) and stored sealed with the
field-encryption keys, bound to their endpoint, account and column.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.access import Actor, Permit, refuse_impersonation
from app.access.require import WHOLE_RECORDS, require_whole_records
from app.accounts.service import refuse_past_cap
from app.audit import changes
from app.db.base import utcnow
from app.db.removal import remove
from app.db.retention import Retention
from app.db.unindexed import SqliteUnindexed
from app.errors import NotFound
from app.events.catalogue import STAFF_LINKS, SUBJECT_TABLES, EventType, field_of, is_personal
from app.events.models import Event
from app.fields import camel
from app.fields import table as field_table
from app.graphql.ids import encode_id
from app.identity.models import AuthToken
from app.security.crypto import Keyring
from app.staff import service as staff_service
from app.validation import clean_text
from app.webhooks import urls
from app.webhooks.errors import (
    DeliveryInFlight,
    EndpointDisabled,
    EndpointUnvouched,
    NothingToTell,
    UnknownEventType,
    UnsafeUrl,
)
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

PING = "webhook.ping"
EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)
MAX_ENDPOINTS = 20
MAX_PAGE = 100
MAX_ATTEMPTS_SHOWN = 50  # the latest attempts of a delivery a page shows
SECRET_PREFIX = "whsec_"

def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(16)


def _associated(endpoint: WebhookEndpoint, column: str) -> str:
    return f"roster:webhook_endpoints.{column}:{endpoint.account_id}:{endpoint.id}"


def _seal(keyring: Keyring, endpoint: WebhookEndpoint, column: str, secret: str) -> str:
    return keyring.encrypt(secret, _associated(endpoint, column))


def signing_secrets(
    keyring: Keyring, endpoint: WebhookEndpoint, now: datetime | None = None
) -> list[str]:
    """The secrets a delivery is signed with: the current one, and the previous one while
    its overlap lasts (receivers that still hold it keep verifying)."""
    found = [keyring.decrypt(endpoint.secret_sealed, _associated(endpoint, "secret_sealed"))]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_sealed and expires and expires > (now or utcnow()):
        found.append(
            keyring.decrypt(
                endpoint.previous_secret_sealed, _associated(endpoint, "previous_secret_sealed")
            )
        )
    return found


def _clean_event_types(names: Sequence[str] | None) -> list[str]:
    """Event types from the catalogue, each once (none: every event)."""
    cleaned: list[str] = []
    for index, name in enumerate(names or []):
        name = (name or "").strip()
        if name not in EVENT_TYPES:
            raise UnknownEventType(name, index)
        if name not in cleaned:
            cleaned.append(name)
    return cleaned


async def endpoint_found(session: AsyncSession, actor: Actor, endpoint_id: int) -> bool:
    """Whether ``get_endpoint`` finds the endpoint (it raises NotFound otherwise)."""
    try:
        await get_endpoint(session, actor, endpoint_id)
    except NotFound:
        return False
    return True


async def get_endpoint(
    session: AsyncSession, actor: Actor, endpoint_id: int, path: str = "id"
) -> WebhookEndpoint:
    require_whole_records(actor)
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.account_id != actor.account_id:
        raise NotFound("Webhook endpoint", field=[path])
    return endpoint


async def create_endpoint(
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    *,
    url: CheckedUrl,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (the only time it is shown), at a URL
    ``check_url`` resolved."""
    require_whole_records(actor)
    refuse_impersonation(actor)  # a standing feed is vouched for by its maker
    types = _clean_event_types(event_types)
    description = clean_text(description, "description", max_length=500)
    clean = url.clean()
    await refuse_past_cap(
        session,
        actor.account_id,
        WebhookEndpoint,
        MAX_ENDPOINTS,
        f"An account has at most {MAX_ENDPOINTS} webhook endpoints.",
    )
    endpoint = WebhookEndpoint(
        account_id=actor.account_id,
        url=clean,
        description=description,
        event_types=types,
        enabled=enabled,
        personal_data=actor.can(Permit.VIEW_PERSONAL_DATA),
        created_by_staff_id=actor.staff_id,
        created_by_token_id=_vouching_key(actor),
    )
    session.add(endpoint)
    await session.flush()  # the id is part of the sealed secret's associated data
    secret = new_secret()
    endpoint.secret_sealed = _seal(keyring, endpoint, "secret_sealed", secret)
    await session.flush()
    return endpoint, secret


def _vouching_key(actor: Actor) -> int | None:
    """The API key ``actor`` acts through (None for a signed-in session): an endpoint set
    up or changed through a key is vouched for only while that key lives (``standing``),
    as a credential never outlives-by-proxy the one that made it."""
    return actor.api_key_id


async def update_endpoint(
    session: AsyncSession,
    actor: Actor,
    endpoint_id: int,
    changes_: dict,
) -> WebhookEndpoint:
    """Change the URL (a ``CheckedUrl``), event types, description or enabled flag.
    Whoever changes an
    endpoint vouches for it from then on (``standing``): an endpoint whose creator has
    left is taken over by changing it, and it includes personal data exactly when they
    hold ViewPersonalData (changed by someone without it, it no longer receives the names
    of personal fields; changed again by a holder, it does again)."""
    refuse_impersonation(actor)  # so it is vouched for by its maker, not whom they act as
    endpoint = await get_endpoint(session, actor, endpoint_id)
    if "url" in changes_:
        endpoint.url = changes_["url"].clean()
    if "event_types" in changes_:
        endpoint.event_types = _clean_event_types(changes_["event_types"])
    if "description" in changes_:
        endpoint.description = clean_text(changes_["description"], "description", max_length=500)
    if changes_.get("enabled") is not None:
        endpoint.enabled = bool(changes_["enabled"])
        if endpoint.enabled:
            endpoint.disabled_reason = None
    endpoint.personal_data = actor.can(Permit.VIEW_PERSONAL_DATA)
    endpoint.created_by_staff_id = actor.staff_id
    endpoint.created_by_token_id = _vouching_key(actor)
    await session.flush()
    return endpoint


# What an endpoint's creator must hold for it to be told the names of personal fields.
TOLD_PERSONAL_DATA = frozenset({*WHOLE_RECORDS, Permit.VIEW_PERSONAL_DATA})


@dataclass(frozen=True, slots=True)
class Standing:
    """What the members behind some endpoints let them receive now (``standing``)."""

    vouched: frozenset[int]
    """The ids of the endpoints someone still vouches for (``standing``)."""
    personal: frozenset[int]
    """The ids of those whose payloads name personal fields (``standing``)."""


async def standing(session: AsyncSession, endpoints: Sequence[WebhookEndpoint]) -> Standing:
    """Both answers for ``endpoints`` from one read of their members' permits per account
    (``staff_service.permits_held``), and one read of their API keys (``_live_keys``,
    only when some endpoint was set up through one): every write in an account with
    endpoints asks both.

    Vouched for: whoever created or last changed the endpoint (``update_endpoint``) is an
    active member holding what setting one up takes (``WHOLE_RECORDS``), and the API key
    they did it through, if any (``created_by_token_id``), is neither revoked nor expired
    (nor deleted). Events are queued for these alone. An endpoint reaches no further than
    the member and the credential behind it, as an API key does: one whose member was
    disabled, deleted or given a lower role, or whose key was revoked or ran out, stops
    receiving the account's changes until an administrator changes it, and so vouches
    for it.

    Told personal data: made by someone holding ViewPersonalData (``personal_data``) who
    still holds it, with what reading whole records takes (a restricted record's SSN or
    salary is named too), as an active member of the account, through a key that still
    lives if through one. A creator since disabled, deleted, given a lower role or
    stripped of a grant takes the personal fields' names away from it; made again by
    someone who holds them, an endpoint is told them again."""
    members: dict[int, set[int]] = {}
    for endpoint in endpoints:
        if endpoint.created_by_staff_id is not None:
            members.setdefault(endpoint.account_id, set()).add(endpoint.created_by_staff_id)
    held: dict[tuple[int, int | None], frozenset[Permit]] = {}
    for account_id, staff_ids in members.items():
        theirs = await staff_service.permits_held(
            session, account_id, staff_ids, TOLD_PERSONAL_DATA  # WHOLE_RECORDS and more
        )
        held.update(((account_id, staff_id), p) for staff_id, p in theirs.items())
    live_keys = await _live_keys(session, endpoints)

    def holds(endpoint: WebhookEndpoint, needed: Iterable[Permit]) -> bool:
        key = endpoint.created_by_token_id
        if key is not None and (endpoint.account_id, key) not in live_keys:
            return False
        theirs = held.get((endpoint.account_id, endpoint.created_by_staff_id), frozenset())
        return theirs.issuperset(needed)

    vouched = frozenset(e.id for e in endpoints if holds(e, WHOLE_RECORDS))
    personal = frozenset(
        e.id for e in endpoints if e.personal_data and holds(e, TOLD_PERSONAL_DATA)
    )
    return Standing(vouched, personal)


async def _live_keys(
    session: AsyncSession, endpoints: Sequence[WebhookEndpoint]
) -> frozenset[tuple[int, int]]:
    """(account id, key id) of the API keys ``endpoints`` were set up or last changed
    through that are neither revoked nor expired: one statement for them all, none when
    no endpoint was set up through a key. A key deleted since is not among them."""
    wanted = {
        (e.account_id, e.created_by_token_id)
        for e in endpoints
        if e.created_by_token_id is not None
    }
    if not wanted:
        return frozenset()
    rows = await session.execute(
        select(AuthToken.account_id, AuthToken.id).where(
            AuthToken.id.in_(sorted({key for _, key in wanted})),
            AuthToken.revoked_at.is_(None),
            AuthToken.expires_at > utcnow(),
        )
    )
    # a key of another account (never one an endpoint names) is not among them
    return frozenset(pair for pair in map(tuple, rows.all()) if pair in wanted)


async def delete_endpoint(session: AsyncSession, actor: Actor, endpoint_id: int) -> int:
    endpoint = await get_endpoint(session, actor, endpoint_id)
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    # deleted by a concurrent request since the look: not found, as the look would say
    if not await remove(session, endpoint):
        raise NotFound("Webhook endpoint", field=["id"])
    return endpoint_id


async def rotate_secret(
    session: AsyncSession,
    actor: Actor,
    keyring: Keyring,
    endpoint_id: int,
    *,
    overlap: timedelta,
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret (shown once); the one it replaces keeps signing beside it for
    ``overlap``, so receivers can switch without losing a message."""
    refuse_impersonation(actor)  # a secret is shown to its maker alone
    endpoint = await get_endpoint(session, actor, endpoint_id)
    current = keyring.decrypt(endpoint.secret_sealed, _associated(endpoint, "secret_sealed"))
    endpoint.previous_secret_sealed = _seal(keyring, endpoint, "previous_secret_sealed", current)
    endpoint.previous_secret_expires_at = utcnow() + overlap
    secret = new_secret()
    endpoint.secret_sealed = _seal(keyring, endpoint, "secret_sealed", secret)
    await session.flush()
    return endpoint, secret


def _delivery(
    endpoint: WebhookEndpoint, event_type: str, payload: dict, event_id: int | None = None
) -> WebhookDelivery:
    now = utcnow()
    return WebhookDelivery(
        uid=new_message_id(),
        account_id=endpoint.account_id,
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        next_attempt_at=now,
        retry_from=now,
        created_at=now,
    )


BY_HAND_LIMIT = "webhook_sends_account"
"""The per-account rate limit of what an administrator does to webhooks by hand that
costs the server more than a row (``count_by_hand``)."""


URL_LIMIT = "webhook_urls_account"
"""The per-account rate limit of endpoint URLs resolved (``check_url``)."""


async def count_by_hand(session: AsyncSession, limiter, actor: Actor) -> None:
    """A ping or a replay counts against one per-account limit (``BY_HAND_LIMIT``):
    they fill the delivery queue every account shares. Counted before anything else (the
    hits stay counted when the request then fails), but only for who may manage webhooks:
    anyone else's refused tries would use up the administrators' allowance."""
    require_whole_records(actor)
    await limiter.hit(session, BY_HAND_LIMIT, actor.account_id)


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """An endpoint URL as ``check_url`` found it: its clean form, or why it is refused,
    raised where a change uses it (``clean``), so the refusal is that change's userError
    while the count stays."""

    url: str | None
    refusal: UnsafeUrl | None = None

    def clean(self) -> str:
        if self.refusal is not None:
            raise self.refusal
        assert self.url is not None
        return self.url


async def count_url(session: AsyncSession, limiter, actor: Actor) -> None:
    """An endpoint URL to resolve (``check_url``) counts against its own per-account
    limit (``URL_LIMIT``), refused or not: apart from pings and replays, so that a run of
    those never keeps an administrator from disabling or mending an endpoint; and as
    ``count_by_hand``, only for who may manage webhooks."""
    require_whole_records(actor)
    await limiter.hit(session, URL_LIMIT, actor.account_id)


async def check_url(url: str | None, *, allow_private: bool = False) -> CheckedUrl:
    """An endpoint's new URL resolved and checked (``urls.check``, up to
    ``urls.LOOKUP_SECONDS``), once counted (``count_url``) and with no transaction held:
    inside a write, a slow DNS server held the account's rate-limit row on PostgreSQL
    and, on SQLite, the one writer lock every account's writes wait for."""
    try:
        return CheckedUrl((await urls.check(url or "", allow_private=allow_private)).url)
    except UnsafeUrl as exc:
        return CheckedUrl(None, exc)


async def ping(session: AsyncSession, actor: Actor, endpoint_id: int) -> WebhookDelivery:
    """Queue a test message (``webhook.ping``) to the endpoint."""
    endpoint = await get_endpoint(session, actor, endpoint_id)
    if not endpoint.enabled:
        raise EndpointDisabled()
    payload = {
        "type": PING,
        "timestamp": utcnow().isoformat(),
        "data": {"endpointId": encode_id("WebhookEndpoint", endpoint.id)},
    }
    delivery = _delivery(endpoint, PING, payload)
    session.add(delivery)
    await session.flush()
    return delivery


async def get_delivery(
    session: AsyncSession, actor: Actor, delivery_id: int, path: str = "id", *, lock: bool = False
) -> WebhookDelivery:
    """``lock``: the row locked until the transaction ends (PostgreSQL; SQLite's writers
    take turns), so that pruning (``RETENTION``) cannot delete it in between."""
    require_whole_records(actor)
    # the account in the statement: another account's row is never read, nor locked
    mine = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.account_id == actor.account_id
    )
    if not actor.can(Permit.VIEW_PERSONAL_DATA):  # as the list leaves it out
        mine = mine.where(WebhookDelivery.personal_only.is_(False))
    delivery = await session.scalar(mine.with_for_update() if lock else mine)
    if delivery is None:
        raise NotFound("Webhook delivery", field=[path])
    return delivery


async def replay(session: AsyncSession, actor: Actor, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again, with the same webhook-id and body: at once, and retried as a
    new one would be. A delivery being sent right now cannot be replayed until it ends."""
    # locked: a delivery pruned between this read and its update would fail the update
    delivery = await get_delivery(session, actor, delivery_id, lock=True)
    now = utcnow()
    if (
        delivery.status == DeliveryStatus.PENDING
        and delivery.locked_until
        and (delivery.locked_until > now)
    ):
        raise DeliveryInFlight()
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        raise EndpointDisabled()
    now_standing = await standing(session, [endpoint])
    if endpoint.id not in now_standing.vouched:
        raise EndpointUnvouched()
    event = await event_of(session, delivery)
    personal = endpoint.id in now_standing.personal
    if told_payload(delivery.payload, personal, event) is None:
        raise NothingToTell()  # it would be sent without a field to tell
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now
    delivery.retry_from = now
    delivery.locked_until = None
    delivery.lease = None
    await session.flush()
    return delivery


async def list_endpoints(
    session: AsyncSession, actor: Actor, *, first: int, after: int | None
) -> tuple[list[WebhookEndpoint], bool]:
    require_whole_records(actor)
    first = max(0, min(first, MAX_PAGE))
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.account_id == actor.account_id)
        .order_by(WebhookEndpoint.id)
        .limit(first + 1)
    )
    if after is not None:
        stmt = stmt.where(WebhookEndpoint.id > after)
    rows = list(await session.scalars(stmt))
    return rows[:first], len(rows) > first


async def count_endpoints(session: AsyncSession, actor: Actor) -> int:
    """How many endpoints ``list_endpoints`` lists across all its pages (one COUNT on the
    account's index)."""
    require_whole_records(actor)
    stmt = select(func.count()).where(WebhookEndpoint.account_id == actor.account_id)
    return (await session.execute(stmt)).scalar_one()


def _deliveries(
    actor: Actor,
    endpoint_id: int | None,
    status: DeliveryStatus | None,
    *,
    by_endpoints: bool = False,
) -> list[ColumnElement[bool]]:
    """The conditions of the deliveries ``actor`` may list with these filters (the list's
    and its count's), refused without the permit. ``by_endpoints``: read through the
    account's endpoints, when no endpoint is given (see ``count_deliveries``)."""
    require_whole_records(actor)
    conditions = [WebhookDelivery.account_id == actor.account_id]
    if not actor.can(Permit.VIEW_PERSONAL_DATA):
        # not those of personal fields alone: when, and whose, personal data changed
        conditions.append(WebhookDelivery.personal_only.is_(False))
    if endpoint_id is not None:
        conditions.append(WebhookDelivery.endpoint_id == endpoint_id)
    elif by_endpoints:
        endpoints = select(WebhookEndpoint.id).where(
            WebhookEndpoint.account_id == actor.account_id
        )
        conditions.append(WebhookDelivery.endpoint_id.in_(endpoints))
    if status is not None:
        # through the endpoints, SQLite must not read every account's deliveries of the
        # status (``ix_webhook_deliveries_due``) instead
        column = SqliteUnindexed(WebhookDelivery.status) if by_endpoints else WebhookDelivery.status
        conditions.append(column == status)
    return conditions


async def list_deliveries(
    session: AsyncSession,
    actor: Actor,
    *,
    endpoint_id: int | None,
    first: int,
    after: int | None,
    status: DeliveryStatus | None = None,
) -> tuple[list[WebhookDelivery], dict[int, list[WebhookAttempt]], bool]:
    """Deliveries newest first, with their attempts (two statements for a page)."""
    conditions = _deliveries(actor, endpoint_id, status)
    first = max(0, min(first, MAX_PAGE))
    if after is not None:
        conditions.append(WebhookDelivery.id < after)
    stmt = (
        select(WebhookDelivery)
        .where(*conditions)
        .order_by(WebhookDelivery.id.desc())
        .limit(first + 1)
    )
    rows = list(await session.scalars(stmt))
    rows, has_next = rows[:first], len(rows) > first
    attempts = await attempts_of(session, actor.account_id, [row.id for row in rows])
    return rows, attempts, has_next


async def attempts_of(
    session: AsyncSession, account_id: int, delivery_ids: list[int]
) -> dict[int, list[WebhookAttempt]]:
    """The latest ``MAX_ATTEMPTS_SHOWN`` attempts of each of these deliveries of the
    account (what a page shows), oldest first, by delivery: one statement, which ranks
    each delivery's attempts newest first and reads no more of them (none for no
    deliveries). A delivery retried for a day holds hundreds."""
    attempts: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        newest_first = (
            func.row_number()
            .over(partition_by=WebhookAttempt.delivery_id, order_by=WebhookAttempt.id.desc())
            .label("newest_first")
        )
        ranked = (
            select(WebhookAttempt, newest_first)
            .where(
                WebhookAttempt.account_id == account_id,
                WebhookAttempt.delivery_id.in_(list(attempts)),
            )
            .subquery()
        )
        attempt = aliased(WebhookAttempt, ranked)
        for row in await session.scalars(
            select(attempt)
            .where(ranked.c.newest_first <= MAX_ATTEMPTS_SHOWN)
            .order_by(ranked.c.id)
        ):
            attempts[row.delivery_id].append(row)
    return attempts


async def count_deliveries(
    session: AsyncSession,
    actor: Actor,
    *,
    endpoint_id: int | None,
    status: DeliveryStatus | None = None,
) -> int:
    """How many deliveries ``list_deliveries`` lists with these filters, across all its
    pages (one COUNT). No index of the deliveries starts with the account: without an
    endpoint they are counted through the account's endpoints (its index, then each one's
    deliveries by ``ix_webhook_deliveries_endpoint_id_id``), never by a walk of every
    account's; a delivery's endpoint is always of its account (``_delivery``)."""
    conditions = _deliveries(actor, endpoint_id, status, by_endpoints=True)
    stmt = select(func.count()).select_from(WebhookDelivery).where(*conditions)
    return (await session.execute(stmt)).scalar_one()


async def reseal_secrets(
    session: AsyncSession, keyring: Keyring, after_id: int, limit: int
) -> tuple[int, int | None]:
    """Re-encrypt a batch of endpoints' secrets under the primary key (``roster keys
    rotate``). Returns (rows changed, last id looked at)."""
    prefix = f"{keyring.primary}:"
    rows = list(
        await session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.id > after_id)
            .order_by(WebhookEndpoint.id)
            .limit(limit)
        )
    )
    changed = 0
    for endpoint in rows:
        stale = False
        for column in ("secret_sealed", "previous_secret_sealed"):
            sealed = getattr(endpoint, column)
            if sealed and not sealed.startswith(prefix):
                plain = keyring.decrypt(sealed, _associated(endpoint, column))
                setattr(endpoint, column, _seal(keyring, endpoint, column, plain))
                stale = True
        changed += stale
    return changed, (rows[-1].id if rows else None)


# --- queueing, in the transaction of the change ------------------------------------------


def _field_names(subject_type: str, names: list[str], personal: bool) -> list[str]:
    """Field names as the API spells them, each once; personal ones only when ``personal``
    (each name's class is its row in the events catalogue, ``field_of``: a personal custom
    field's values are personal, other custom fields' are not). An unknown name is an
    error (UnknownField), never told."""
    shown: list[str] = []
    for name in names:
        row = field_of(subject_type, name)
        if is_personal(row) and not personal:
            continue
        api = row.api or camel(name)
        if api not in shown:
            shown.append(api)
    return shown


def payload_of(event: Event, personal: bool) -> dict | None:
    """What an endpoint is told about an event: ids, type, changed field names. An event
    that names changed fields, none of which the endpoint may be told (an SSN or a
    personal custom field's value, to an endpoint without personal data), is not told at
    all (None): even an empty list would say when hidden data changed."""
    data = dict(event.data or {})
    body: dict = {
        "id": encode_id(event.subject_type, event.subject_id),
        "type": event.subject_type,
        "eventId": event.uid,
    }
    if "fields" in data:
        body["fields"] = _field_names(event.subject_type, list(data.pop("fields")), personal)
        if not body["fields"]:
            return None
    body.update(data)
    return {"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": body}


def _maybe_personal(subject_type: str) -> frozenset[str]:
    """The API names an event about ``subject_type`` may carry that any personal row spells
    (``customFields`` is a personal custom field's values as well as an open one's)."""
    table = SUBJECT_TABLES.get(subject_type)
    rows = list(field_table(table)) if table else []
    if subject_type == "Staff":
        rows += list(STAFF_LINKS)
    return frozenset(
        row.api or camel(row.name) for row in rows if is_personal(row)
    )


def told_payload(payload: dict, personal: bool, event: Event | None = None) -> dict | None:
    """A stored delivery's payload as it may be told now, to an endpoint (sending, replay)
    or a reader (``shown_payloads``) that includes personal data (``personal``) or not:
    the one rule for all three. Without personal data, the names of personal fields are
    dropped: those the event (when not yet pruned) names only through personal fields
    (``payload_of``), or without the event every name a personal field may spell. A
    payload left with no field to tell is not told at all (None), as ``payload_of``
    decides; the stored payload is never changed."""
    data = payload.get("data")
    if personal or not isinstance(data, dict) or "fields" not in data:
        return payload
    if event is not None:
        names = list((event.data or {}).get("fields", []))
        allowed = set(_field_names(event.subject_type, names, False))
        kept = [name for name in data["fields"] if name in allowed]
    else:
        hidden = _maybe_personal(str(data.get("type")))
        kept = [name for name in data["fields"] if name not in hidden]
    if not kept:
        return None
    return {**payload, "data": {**data, "fields": kept}}


async def event_of(session: AsyncSession, delivery: WebhookDelivery) -> Event | None:
    """The event a delivery tells of, unless it was pruned (or the delivery is a ping)."""
    if delivery.event_id is None:
        return None
    event = await session.get(Event, delivery.event_id)
    return event if event is not None and event.account_id == delivery.account_id else None


async def shown_payloads(
    session: AsyncSession, actor: Actor, rows: Sequence[WebhookDelivery]
) -> dict[int, dict]:
    """The payloads of deliveries as ``actor`` may read them: whole with ViewPersonalData,
    else without the names of personal fields (``told_payload``; one statement reads the
    page's events). A delivery not told at all shows its fields as an empty list."""
    if actor.can(Permit.VIEW_PERSONAL_DATA):
        return {row.id: row.payload for row in rows}
    ids = {row.event_id for row in rows if row.event_id is not None}
    events: dict[int, Event] = {}
    if ids:
        events = {
            e.id: e
            for e in await session.scalars(
                select(Event).where(Event.account_id == actor.account_id, Event.id.in_(ids))
            )
        }
    return {row.id: shown_payload(actor, row, events.get(row.event_id or 0)) for row in rows}


def shown_payload(actor: Actor, row: WebhookDelivery, event: Event | None = None) -> dict:
    """One delivery's payload as ``actor`` may read it (``shown_payloads``; without the
    event, by the names alone)."""
    personal = actor.can(Permit.VIEW_PERSONAL_DATA)
    told = told_payload(row.payload, personal, event)
    if told is None:
        told = {**row.payload, "data": {**row.payload["data"], "fields": []}}
    return told


def excerpts_shown(actor: Actor, row: WebhookDelivery, shown: dict) -> bool:
    """Whether ``actor``, shown the payload ``shown`` (``shown_payload``), may read the
    start of the endpoint's answers to the delivery: a receiver may echo the request it
    was sent, the names of personal fields included, so a reader shown the payload without
    some of them is not shown the answers either."""
    return actor.can(Permit.VIEW_PERSONAL_DATA) or shown == row.payload


def _wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.event_types or event_type in endpoint.event_types


async def queue_deliveries(session: AsyncSession, events: list[Event]) -> None:
    """One delivery per enabled endpoint that wants the event and may be told of it, in
    the event's transaction.

    The rows are the deliveries' own bookkeeping, not part of the change: they are left out
    of the change's audit entry."""
    accounts = sorted({e.account_id for e in events})
    endpoints = list(
        await session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.account_id.in_(accounts), WebhookEndpoint.enabled.is_(True))
            .order_by(WebhookEndpoint.id)
        )
    )
    if not endpoints:
        return
    now_standing = await standing(session, endpoints)
    endpoints = [e for e in endpoints if e.id in now_standing.vouched]
    if not endpoints:
        return
    personal = now_standing.personal
    position = changes.mark(session)
    for event in events:
        for endpoint in endpoints:
            if endpoint.account_id != event.account_id or not _wants(endpoint, event.type):
                continue
            payload = payload_of(event, endpoint.id in personal)
            if payload is not None:
                delivery = _delivery(endpoint, event.type, payload, event.id)
                delivery.personal_only = told_payload(payload, False, event) is None
                session.add(delivery)
    await session.flush()
    changes.rollback_to(session, position)


def _done_with_before(before: datetime) -> tuple[ColumnElement[bool], ...]:
    """Done with, and created or last replayed (``retry_from``) before ``before``: delivered
    or failed, or still pending for an endpoint that is disabled. A pending delivery to an
    enabled endpoint is kept whatever its age; one to a disabled endpoint is sent if the
    endpoint is enabled within the retention, and otherwise would wait for ever."""
    disabled = select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(False))
    return (
        or_(
            WebhookDelivery.status != DeliveryStatus.PENDING,
            WebhookDelivery.endpoint_id.in_(disabled),
        ),
        WebhookDelivery.retry_from < before,
    )


# Deliveries done with (``_done_with_before``), deleted with their attempts; one replayed
# meanwhile, or whose endpoint was enabled again, stays.
RETENTION = Retention(WebhookDelivery.id, _done_with_before)
