"""Webhook endpoints and deliveries (administrators): the adapter of ``app.webhooks``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import strawberry
from strawberry.types import Info

from app.errors import RateLimited
from app.graphql.errors import bad_input, rate_limited
from app.graphql.ids import decode_after, decode_id, encode_id
from app.graphql.mutations.base import Payload, as_actor, commit_if_alone, mutation, provided
from app.graphql.types.common import after_page_info
from app.graphql.types.webhooks import (
    WebhookDelivery,
    WebhookDeliveryConnection,
    WebhookDeliveryEdge,
    WebhookEndpoint,
    WebhookEndpointConnection,
    WebhookEndpointEdge,
)
from app.webhooks import service as webhooks
from app.webhooks.models import DeliveryStatus

UNSET = strawberry.UNSET


@strawberry.input(description="A new webhook endpoint.")
class WebhookEndpointCreateInput:
    url: str = strawberry.field(description="http(s) URL deliveries are POSTed to.")
    event_types: list[str] = strawberry.field(
        default_factory=list,
        description="Event types to send (e.g. staff.updated); empty: every event.",
    )
    description: str | None = strawberry.field(default=None, description="What it is for.")
    enabled: bool = strawberry.field(default=True, description="Send deliveries to it.")


@strawberry.input(description="Changes to a webhook endpoint.")
class WebhookEndpointUpdateInput:
    id: strawberry.ID = strawberry.field(description="The endpoint.")
    url: str | None = strawberry.field(default=UNSET, description="New URL.")
    event_types: list[str] | None = strawberry.field(default=UNSET, description="Event types.")
    description: str | None = strawberry.field(default=UNSET, description="Description.")
    enabled: bool | None = strawberry.field(
        default=UNSET, description="Enable (also after Roster disabled it) or disable."
    )


@strawberry.input(description="The webhook endpoint.")
class WebhookEndpointIdInput:
    id: strawberry.ID = strawberry.field(description="The endpoint.")


@strawberry.input(description="The delivery to send again.")
class WebhookDeliveryReplayInput:
    id: strawberry.ID = strawberry.field(description="The delivery.")


@strawberry.type(description="The endpoint, or userErrors.")
class WebhookEndpointPayload(Payload):
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint after the change."
    )


@strawberry.type(description="The endpoint and its new signing secret, or userErrors.")
class WebhookEndpointSecretPayload(Payload):
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint."
    )
    secret: str | None = strawberry.field(
        default=None,
        description="The signing secret (whsec_...): shown this once, never readable again.",
    )


@strawberry.type(description="The id of the deleted endpoint, or userErrors.")
class WebhookEndpointDeletePayload(Payload):
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="The endpoint deleted, with its deliveries."
    )


@strawberry.type(description="The delivery queued, or userErrors.")
class WebhookDeliveryPayload(Payload):
    delivery: WebhookDelivery | None = strawberry.field(
        default=None, description="The delivery, due at once."
    )


def _endpoint_id(value: str) -> int:
    return decode_id(value, "WebhookEndpoint")


def _with_secret(result, actor) -> WebhookEndpointSecretPayload:
    endpoint, secret = result
    return WebhookEndpointSecretPayload(
        webhook_endpoint=WebhookEndpoint(_row=endpoint), secret=secret
    )


def _endpoint(row, actor) -> WebhookEndpointPayload:
    return WebhookEndpointPayload(webhook_endpoint=WebhookEndpoint(_row=row))


def _delivery(row, actor) -> WebhookDeliveryPayload:
    shown = webhooks.shown_payload(actor, row)
    return WebhookDeliveryPayload(
        delivery=WebhookDelivery(
            _row=row,
            _attempts=[],
            _payload=shown,
            _excerpts_shown=webhooks.excerpts_shown(actor, row, shown),
        )
    )


def _by_hand(info: Info):
    """Counts the request against the account's limit of what is done to webhooks by
    hand (``webhooks.count_by_hand``): pings, replays."""
    limiter = info.context.services.limiter
    return lambda session, actor: webhooks.count_by_hand(session, limiter, actor)


async def _url_checked(
    info: Info, url: str | None, endpoint_id: int | None = None
) -> webhooks.CheckedUrl | None:
    """The URL given, counted against the account's limit (``webhooks.count_url``) in a
    transaction committed at once (``commit_if_alone``), then resolved
    (``webhooks.check_url``) with no transaction held, as ``login`` runs argon2: a slow
    DNS server holds up no write. None for an endpoint (``endpoint_id``) the actor does not
    find: nothing is counted or resolved, and the change answers NOT_FOUND."""
    ctx = info.context
    async with ctx.as_actor() as (session, actor):
        if endpoint_id is not None and not await webhooks.endpoint_found(
            session, actor, endpoint_id
        ):
            return None
        try:
            await webhooks.count_url(session, ctx.services.limiter, actor)
        except RateLimited as exc:
            raise rate_limited(exc) from None
        await commit_if_alone(session)
    return await webhooks.check_url(url, allow_private=ctx.settings.webhooks_allow_private)


@strawberry.type
class WebhookMutations:
    @mutation(
        description="Add a webhook endpoint; its signing secret is in the answer, "
        "once (administrators).",
        while_impersonating=False,
    )
    async def webhook_endpoint_create(
        self, info: Info, input: WebhookEndpointCreateInput
    ) -> WebhookEndpointSecretPayload:
        settings = info.context.settings
        checked = await _url_checked(info, input.url)
        assert checked is not None  # None only for an endpoint not found (an update)
        return await as_actor(
            info,
            lambda session, actor: webhooks.create_endpoint(
                session,
                actor,
                settings.keyring,
                url=checked,
                event_types=input.event_types,
                description=input.description,
                enabled=input.enabled,
            ),
            _with_secret,
        )

    @mutation(
        description="Change a webhook endpoint (administrators).", while_impersonating=False
    )
    async def webhook_endpoint_update(
        self, info: Info, input: WebhookEndpointUpdateInput
    ) -> WebhookEndpointPayload:
        changes = provided(input)
        endpoint_id = _endpoint_id(changes.pop("id"))
        if "url" in changes:
            checked = await _url_checked(info, changes["url"], endpoint_id)
            if checked is None:  # not found: the change answers so, before the URL
                del changes["url"]
            else:
                changes["url"] = checked
        return await as_actor(
            info,
            lambda session, actor: webhooks.update_endpoint(session, actor, endpoint_id, changes),
            _endpoint,
        )

    @mutation(description="Delete a webhook endpoint and its deliveries (administrators).")
    async def webhook_endpoint_delete(
        self, info: Info, input: WebhookEndpointIdInput
    ) -> WebhookEndpointDeletePayload:
        endpoint_id = _endpoint_id(input.id)
        return await as_actor(
            info,
            lambda session, actor: webhooks.delete_endpoint(session, actor, endpoint_id),
            lambda pk, actor: WebhookEndpointDeletePayload(
                deleted_id=strawberry.ID(encode_id("WebhookEndpoint", pk))
            ),
        )

    @mutation(
        description="Give a webhook endpoint a new signing secret (in the answer, "
        "once); the old one keeps signing beside it for the overlap period "
        "(administrators).",
        while_impersonating=False,
    )
    async def webhook_endpoint_secret_rotate(
        self, info: Info, input: WebhookEndpointIdInput
    ) -> WebhookEndpointSecretPayload:
        settings = info.context.settings
        endpoint_id = _endpoint_id(input.id)
        overlap = timedelta(hours=settings.webhooks_secret_overlap_hours)
        return await as_actor(
            info,
            lambda session, actor: webhooks.rotate_secret(
                session, actor, settings.keyring, endpoint_id, overlap=overlap
            ),
            _with_secret,
        )

    @mutation(description="Send a test message (webhook.ping) to an endpoint (administrators).")
    async def webhook_endpoint_ping(
        self, info: Info, input: WebhookEndpointIdInput
    ) -> WebhookDeliveryPayload:
        endpoint_id = _endpoint_id(input.id)
        return await as_actor(
            info,
            lambda session, actor: webhooks.ping(session, actor, endpoint_id),
            _delivery,
            before=_by_hand(info),
        )

    @mutation(description="Send a delivery again, with the same webhook-id (administrators).")
    async def webhook_delivery_replay(
        self, info: Info, input: WebhookDeliveryReplayInput
    ) -> WebhookDeliveryPayload:
        delivery_id = decode_id(input.id, "WebhookDelivery")
        return await as_actor(
            info,
            lambda session, actor: webhooks.replay(session, actor, delivery_id),
            _delivery,
            before=_by_hand(info),
        )


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="The account's webhook endpoints (administrators).")
    async def webhook_endpoints(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="Page size, 0 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="endCursor.")] = None,
    ) -> WebhookEndpointConnection:
        if not 0 <= first <= webhooks.MAX_PAGE:
            raise bad_input(f"first must be between 0 and {webhooks.MAX_PAGE}.")
        async with info.context.as_actor() as (session, actor):
            rows, has_next = await webhooks.list_endpoints(
                session,
                actor,
                first=first,
                after=decode_after(after, "WebhookEndpoint"),
            )
        edges = [
            WebhookEndpointEdge(
                cursor=encode_id("WebhookEndpoint", r.id), node=WebhookEndpoint(_row=r)
            )
            for r in rows
        ]

        async def count() -> int:  # awaited only if totalCount is selected
            async with info.context.db() as counting:
                return await webhooks.count_endpoints(counting, actor)

        return WebhookEndpointConnection(
            edges=edges,
            page_info=after_page_info(edges, has_next, after),
            _count=count,
        )

    @strawberry.field(
        description="Webhook deliveries, newest first, with their attempts (administrators)."
    )
    async def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this endpoint's.")
        ] = None,
        status: Annotated[
            DeliveryStatus | None, strawberry.argument(description="Only these.")
        ] = None,
        first: Annotated[int, strawberry.argument(description="Page size, 0 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="endCursor.")] = None,
    ) -> WebhookDeliveryConnection:
        if not 0 <= first <= webhooks.MAX_PAGE:
            raise bad_input(f"first must be between 0 and {webhooks.MAX_PAGE}.")
        async with info.context.as_actor() as (session, actor):
            endpoint = _endpoint_id(endpoint_id) if endpoint_id else None
            rows, attempts, has_next = await webhooks.list_deliveries(
                session,
                actor,
                endpoint_id=endpoint,
                first=first,
                after=decode_after(after, "WebhookDelivery"),
                status=status,
            )
            shown = await webhooks.shown_payloads(session, actor, rows)
        edges = [
            WebhookDeliveryEdge(
                cursor=encode_id("WebhookDelivery", r.id),
                node=WebhookDelivery(
                    _row=r,
                    _attempts=attempts[r.id],
                    _payload=shown[r.id],
                    _excerpts_shown=webhooks.excerpts_shown(actor, r, shown[r.id]),
                ),
            )
            for r in rows
        ]

        async def count() -> int:  # awaited only if totalCount is selected
            async with info.context.db() as counting:
                return await webhooks.count_deliveries(
                    counting, actor, endpoint_id=endpoint, status=status
                )

        return WebhookDeliveryConnection(
            edges=edges,
            page_info=after_page_info(edges, has_next, after),
            _count=count,
        )
