"""Webhook endpoints and their deliveries, as administrators see them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.graphql import loaders
from app.graphql.ids import encode_id
from app.graphql.types.common import Node, PageInfo
from app.webhooks.models import DeliveryStatus
from app.webhooks.models import WebhookAttempt as AttemptRow
from app.webhooks.models import WebhookDelivery as DeliveryRow
from app.webhooks.models import WebhookEndpoint as EndpointRow
from app.webhooks.service import MAX_ATTEMPTS_SHOWN

strawberry.enum(
    DeliveryStatus, name="WebhookDeliveryStatus", description="Where a delivery stands."
)


@strawberry.type(description="A URL the account's events are sent to, signed.")
class WebhookEndpoint(Node):
    _row: strawberry.Private[EndpointRow]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("WebhookEndpoint", self._row.id))

    @strawberry.field(description="Where deliveries are POSTed.")
    def url(self) -> str:
        return self._row.url

    @strawberry.field(description="What the endpoint is for.")
    def description(self) -> str | None:
        return self._row.description

    @strawberry.field(description="Event types sent to it (empty: every event).")
    def event_types(self) -> list[str]:
        return list(self._row.event_types or [])

    @strawberry.field(description="Whether deliveries are sent to it.")
    def enabled(self) -> bool:
        return self._row.enabled

    @strawberry.field(
        description="Whether the account's changes are queued for it: whoever created or "
        "last changed it is still an active member who may manage webhooks, and the API "
        "key they did it through, if any, is neither revoked nor expired. False once they "
        "were disabled, deleted or given a lower role, or that key was revoked or ran "
        "out, until an administrator changes it (webhookEndpointUpdate) and so vouches "
        "for it."
    )
    async def receives_events(self, info: Info) -> bool:
        vouched, _ = await loaders.endpoint_standing(info.context).load(self._row)
        return vouched

    @strawberry.field(description="Why Roster disabled it, if it did.")
    def disabled_reason(self) -> str | None:
        return self._row.disabled_reason

    @strawberry.field(
        description="Its payloads name changed personal fields too: it was set up or last "
        "changed by a holder of ViewPersonalData who still holds it as an active member "
        "(through an API key still valid, if through one)."
    )
    async def includes_personal_data(self, info: Info) -> bool:
        _, personal = await loaders.endpoint_standing(info.context).load(self._row)
        return personal

    @strawberry.field(description="Until when the secret replaced last still signs too.")
    def previous_secret_expires_at(self) -> datetime | None:
        return self._row.previous_secret_expires_at

    @strawberry.field(description="When it was created.")
    def created_at(self) -> datetime:
        return self._row.created_at


@strawberry.type(description="One HTTP request of a delivery.")
class WebhookAttempt:
    _row: strawberry.Private[AttemptRow]
    _excerpt_shown: strawberry.Private[bool]  # ``app.webhooks.service.excerpts_shown``

    @strawberry.field(description="When it was sent.")
    def started_at(self) -> datetime:
        return self._row.started_at

    @strawberry.field(description="How long the endpoint took, in milliseconds.")
    def duration_ms(self) -> int:
        return self._row.duration_ms

    @strawberry.field(description="The HTTP status of the answer (none if there was none).")
    def status_code(self) -> int | None:
        return self._row.status_code

    @strawberry.field(description="The endpoint accepted it (a 2xx answer).")
    def ok(self) -> bool:
        return self._row.ok

    @strawberry.field(description="What went wrong, if anything.")
    def error(self) -> str | None:
        return self._row.error

    @strawberry.field(
        description="The start of the answer's body (only to readers who may see personal "
        "data, when the payload named personal fields: an endpoint may echo it)."
    )
    def response_excerpt(self) -> str | None:
        return self._row.response_excerpt if self._excerpt_shown else None


@strawberry.type(description="One message to one endpoint, with its attempts.")
class WebhookDelivery(Node):
    _row: strawberry.Private[DeliveryRow]
    _attempts: strawberry.Private[list[AttemptRow]]
    # the payload as the reader may see it (``app.webhooks.service.shown_payload``)
    _payload: strawberry.Private[dict]
    # whether the reader sees the answers' excerpts (``app.webhooks.service.excerpts_shown``)
    _excerpts_shown: strawberry.Private[bool]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("WebhookDelivery", self._row.id))

    @strawberry.field(description="The webhook-id header: the same on every attempt.")
    def message_id(self) -> str:
        return self._row.uid

    @strawberry.field(description="The endpoint.")
    def endpoint_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("WebhookEndpoint", self._row.endpoint_id))

    @strawberry.field(description="The event type (webhook.ping for a ping).")
    def event_type(self) -> str:
        return self._row.event_type

    @strawberry.field(
        description="The body sent (the names of personal fields only to readers who may "
        "see personal data)."
    )
    def payload(self) -> JSON:
        return JSON(self._payload)

    @strawberry.field(description="Where it stands.")
    def status(self) -> DeliveryStatus:
        return self._row.status

    @strawberry.field(description="Attempts made.")
    def attempt_count(self) -> int:
        return self._row.attempts

    @strawberry.field(description="When the next attempt is due (while pending).")
    def next_attempt_at(self) -> datetime | None:
        return self._row.next_attempt_at if self._row.status == DeliveryStatus.PENDING else None

    @strawberry.field(description="When the endpoint accepted it.")
    def delivered_at(self) -> datetime | None:
        return self._row.delivered_at

    @strawberry.field(description="When it was queued.")
    def created_at(self) -> datetime:
        return self._row.created_at

    @strawberry.field(description=f"Its attempts, oldest first (the last {MAX_ATTEMPTS_SHOWN}).")
    def attempts(self) -> list[WebhookAttempt]:
        return [
            WebhookAttempt(_row=a, _excerpt_shown=self._excerpts_shown)
            for a in self._attempts[-MAX_ATTEMPTS_SHOWN:]
        ]


@strawberry.type(description="An edge of the webhook endpoints.")
class WebhookEndpointEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: WebhookEndpoint = strawberry.field(description="The endpoint.")


@strawberry.type(description="A page of webhook endpoints, oldest first.")
class WebhookEndpointConnection:
    edges: list[WebhookEndpointEdge] = strawberry.field(description="This page.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="The account's endpoints, across all pages.")
    async def total_count(self) -> int:
        return await self._count()


@strawberry.type(description="An edge of the webhook deliveries.")
class WebhookDeliveryEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: WebhookDelivery = strawberry.field(description="The delivery.")


@strawberry.type(description="A page of webhook deliveries, newest first.")
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge] = strawberry.field(description="This page.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Deliveries matching the filters, across all pages.")
    async def total_count(self) -> int:
        return await self._count()
