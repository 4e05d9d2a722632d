"""Webhooks as an administrator and a receiver see them: endpoints managed over GraphQL,
changes delivered to a real HTTP receiver that verifies the Standard Webhooks signature,
retries, replay, ping, secret rotation, the personal data an endpoint is told, and who may
do what (other accounts' ids are "not found")."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.access import Role
from app.access.scopes import Scope
from app.db.base import utcnow
from app.security.rate_limits import Limit
from app.webhooks import delivery as delivery_module
from app.webhooks import urls
from app.webhooks.delivery import UNVOUCHED, Deliverer
from app.webhooks.errors import UnsafeUrl
from app.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.webhooks.service import MAX_ENDPOINTS
from tests.audit.test_audit_log import STAFF_CREATE
from tests.conftest import make_settings
from tests.factories import (
    PERMIT_GRANT,
    error_codes,
    gid,
    make_api_token,
    make_custom_field,
    make_member,
    make_staff,
    make_tenant,
    take_mail,
)
from tests.webhooks.receiver import receiving

CREATE = """mutation($input: WebhookEndpointCreateInput!) {
  webhookEndpointCreate(input: $input) {
    webhookEndpoint { id url eventTypes enabled includesPersonalData }
    secret userErrors { code field message }
  }
}"""
UPDATE = """mutation($input: WebhookEndpointUpdateInput!) {
  webhookEndpointUpdate(input: $input) {
    webhookEndpoint { id url eventTypes enabled description } userErrors { code field }
  }
}"""
BY_ID = """mutation($id: ID!) { %s(input: {id: $id}) { userErrors { code field } } }"""
ROTATE = """mutation($id: ID!) {
  webhookEndpointSecretRotate(input: {id: $id}) {
    secret webhookEndpoint { previousSecretExpiresAt } userErrors { code }
  }
}"""
PING = """mutation($id: ID!) {
  webhookEndpointPing(input: {id: $id}) { delivery { id messageId } userErrors { code } }
}"""
REPLAY = """mutation($id: ID!) {
  webhookDeliveryReplay(input: {id: $id}) { delivery { id status } userErrors { code } }
}"""
ENDPOINTS = "{ webhookEndpoints(first: 10) { edges { node { id url enabled disabledReason } } } }"
DELIVERIES = """query($endpoint: ID) {
  webhookDeliveries(endpointId: $endpoint, first: 50) { edges { node {
    id messageId eventType payload status attemptCount deliveredAt
    attempts { statusCode ok durationMs error responseExcerpt }
  } } }
}"""
STAFF_UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { id } userErrors { code field } }
}"""
VALUES_SET = """mutation($input: StaffCustomFieldsSetInput!) {
  staffCustomFieldsSet(input: $input) { userErrors { code field } }
}"""


@pytest.fixture
def settings(database_url):
    return make_settings(
        database_url,
        webhooks_allow_private=True,
        webhooks_enabled=False,
        webhooks_timeout_seconds=10,
        webhooks_backoff_seconds=0.01,
        webhooks_max_backoff_seconds=0.05,
    )


async def create(api, member, url, **input) -> dict:
    body = await api.data(CREATE, {"input": {"url": url, **input}}, as_=member)
    payload = body["webhookEndpointCreate"]
    assert payload["userErrors"] == [], payload
    return payload


async def deliver_all(services) -> None:
    while await services.webhooks.run_once():
        pass


async def settled(api, services, member, endpoint, passes: int = 200) -> dict:
    """The endpoint's one delivery once passes of the worker took it out of PENDING (or
    after ``passes`` of them)."""
    for _ in range(passes):
        await services.webhooks.run_once()
        [delivery] = await deliveries(api, member, endpoint)
        if delivery["status"] != "PENDING":
            break
        await asyncio.sleep(0.02)
    return delivery


async def deliveries(api, member, endpoint=None) -> list[dict]:
    data = await api.data(DELIVERIES, {"endpoint": endpoint}, as_=member)
    return [e["node"] for e in data["webhookDeliveries"]["edges"]]


async def test_a_change_reaches_the_receiver_signed_with_its_delivery_logged(api, services):
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url, eventTypes=["staff.created"])
        receiver.secrets.append(made["secret"])
        assert made["secret"].startswith("whsec_")
        staff = await api.data(
            STAFF_CREATE, {"input": {"firstName": "Ada", "lastName": "Lovelace"}}, as_=tenant.owner
        )
        staff_id = staff["staffCreate"]["staff"]["id"]
        await deliver_all(services)

        [payload] = receiver.payloads
        assert receiver.received[0].verified_with == [made["secret"]]
        assert payload["type"] == "staff.created"
        assert payload["data"]["id"] == staff_id
        assert payload["data"]["type"] == "Staff"
        assert "Ada" not in receiver.received[0].body.decode()  # thin: ids, not values

        [delivery] = await deliveries(api, tenant.owner, made["webhookEndpoint"]["id"])
        assert delivery["messageId"] == receiver.ids[0]
        assert delivery["status"] == "DELIVERED"
        [attempt] = delivery["attempts"]
        assert attempt["statusCode"] == 200 and attempt["ok"] is True
        assert attempt["responseExcerpt"] == "thanks"
        assert attempt["durationMs"] >= 0

        # only the types asked for; a second pass sends nothing again
        await api.data(
            STAFF_UPDATE, {"input": {"id": staff_id, "title": "Countess"}}, as_=tenant.owner
        )
        await deliver_all(services)
        assert len(receiver.received) == 1


async def test_every_event_type_without_a_filter_and_changed_field_names(api, services):
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        receiver.secrets.append(made["secret"])
        staff = await api.data(
            STAFF_CREATE, {"input": {"firstName": "Ada", "lastName": "L"}}, as_=tenant.owner
        )
        staff_id = staff["staffCreate"]["staff"]["id"]
        await api.data(
            STAFF_UPDATE,
            {"input": {"id": staff_id, "title": "Countess", "homeTimezone": "Europe/London"}},
            as_=tenant.owner,
        )
        await deliver_all(services)
        # Deliveries due together go out in parallel: the order they arrive in is not theirs.
        by_type = {p["type"]: p for p in receiver.payloads}
        assert sorted(by_type) == ["staff.created", "staff.updated"]
        assert sorted(by_type["staff.updated"]["data"]["fields"]) == ["homeTimezone", "title"]
        created, updated = (by_type[t]["timestamp"] for t in ("staff.created", "staff.updated"))
        assert datetime.fromisoformat(created) < datetime.fromisoformat(updated)
        assert len(set(receiver.ids)) == 2


async def test_a_change_that_fails_queues_no_delivery(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        foreign = (
            await api.data(
                'mutation { projectCreate(input: {name: "Theirs"}) { project { id } } }',
                as_=other.owner,
            )
        )["projectCreate"]["project"]["id"]
        body = await api.data(
            STAFF_CREATE,
            {"input": {"firstName": "Gone", "lastName": "Again", "projectIds": [foreign]}},
            as_=tenant.owner,
        )
        assert error_codes_of(body["staffCreate"]) == ["NOT_FOUND"]
        assert await deliveries(api, tenant.owner, made["webhookEndpoint"]["id"]) == []
        await deliver_all(services)
        assert receiver.received == []


def error_codes_of(payload: dict) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def test_event_types_come_from_the_catalogue(api, services):
    tenant = await make_tenant(services)
    body = await api.data(
        CREATE,
        {"input": {"url": "https://93.184.215.14/x", "eventTypes": ["staff.created", "nope"]}},
        as_=tenant.owner,
    )
    [error] = body["webhookEndpointCreate"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["input", "eventTypes", "1"])
    assert body["webhookEndpointCreate"]["secret"] is None


async def test_ping_and_replay_resend_with_the_same_webhook_id(api, services):
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        receiver.secrets.append(made["secret"])
        endpoint = made["webhookEndpoint"]["id"]
        ping = (await api.data(PING, {"id": endpoint}, as_=tenant.owner))["webhookEndpointPing"]
        await deliver_all(services)
        [payload] = receiver.payloads
        assert payload["type"] == "webhook.ping"
        assert payload["data"]["endpointId"] == endpoint
        assert receiver.ids == [ping["delivery"]["messageId"]]

        replayed = await api.data(REPLAY, {"id": ping["delivery"]["id"]}, as_=tenant.owner)
        assert replayed["webhookDeliveryReplay"]["delivery"]["status"] == "PENDING"
        await deliver_all(services)
        assert receiver.ids == [ping["delivery"]["messageId"]] * 2
        [delivery] = await deliveries(api, tenant.owner, endpoint)
        assert delivery["status"] == "DELIVERED" and len(delivery["attempts"]) == 2


async def test_a_rotated_secret_signs_beside_the_old_one_for_the_overlap(api, services):
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        endpoint = made["webhookEndpoint"]["id"]
        old = made["secret"]
        rotated = (await api.data(ROTATE, {"id": endpoint}, as_=tenant.owner))[
            "webhookEndpointSecretRotate"
        ]
        new = rotated["secret"]
        assert new != old and new.startswith("whsec_")
        assert rotated["webhookEndpoint"]["previousSecretExpiresAt"] is not None
        receiver.secrets += [old, new]
        await api.data(PING, {"id": endpoint}, as_=tenant.owner)
        await deliver_all(services)
        assert receiver.received[-1].verified_with == [old, new]

        async with services.db.session(write=True) as session:  # the overlap has ended
            await session.execute(
                update(WebhookEndpoint).values(previous_secret_expires_at=utcnow())
            )
            await session.commit()
        await api.data(PING, {"id": endpoint}, as_=tenant.owner)
        await deliver_all(services)
        assert receiver.received[-1].verified_with == [new]


async def test_the_secret_is_sealed_at_rest_and_never_readable_again(api, services):
    tenant = await make_tenant(services)
    made = await create(api, tenant.owner, "https://93.184.215.14/x")
    async with services.db.session() as session:
        row = await session.scalar(select(WebhookEndpoint))
    assert made["secret"] not in row.secret_sealed
    assert made["secret"].removeprefix("whsec_") not in row.secret_sealed
    schema = await api.data('{ __type(name: "WebhookEndpoint") { fields { name } } }')
    assert not [
        f
        for f in schema["__type"]["fields"]
        if "secret" in f["name"].lower() and f["name"] != "previousSecretExpiresAt"
    ]


async def test_one_delivery_refused_for_a_day_fails_alone_while_others_are_taken(api, services):
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        receiver.secrets.append(made["secret"])
        receiver.refused_types.add("webhook.ping")
        endpoint = made["webhookEndpoint"]["id"]
        await take_mail(services)
        services.webhooks.retry_window = timedelta(seconds=1)
        await api.data(PING, {"id": endpoint}, as_=tenant.owner)
        await services.webhooks.run_once()  # refused, to be retried
        await api.data(
            STAFF_CREATE, {"input": {"firstName": "A", "lastName": "B"}}, as_=tenant.owner
        )
        for _ in range(200):
            await services.webhooks.run_once()
            statuses = {d["status"] for d in await deliveries(api, tenant.owner, endpoint)}
            if "PENDING" not in statuses:
                break
            await asyncio.sleep(0.02)
        assert statuses == {"FAILED", "DELIVERED"}
        [node] = [
            e["node"]
            for e in (await api.data(ENDPOINTS, as_=tenant.owner))["webhookEndpoints"]["edges"]
        ]
        assert node["enabled"] is True and node["disabledReason"] is None
        assert await take_mail(services) == []


async def test_failures_are_retried_then_the_endpoint_is_disabled_and_admins_emailed(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    await make_member(services, tenant, Role.EDITOR)
    async with receiving() as receiver:
        receiver.status, receiver.answer = 503, "down for maintenance"
        made = await create(api, tenant.owner, receiver.url)
        receiver.secrets.append(made["secret"])
        endpoint = made["webhookEndpoint"]["id"]
        await take_mail(services)
        # a day, scaled down to a second
        services.webhooks.retry_window = timedelta(seconds=1)
        await api.data(PING, {"id": endpoint}, as_=tenant.owner)
        delivery = await settled(api, services, tenant.owner, endpoint)
        assert delivery["status"] == "FAILED"
        assert delivery["attemptCount"] >= 3  # retried, with backoff between
        assert {a["statusCode"] for a in delivery["attempts"]} == {503}
        assert delivery["attempts"][0]["responseExcerpt"] == "down for maintenance"
        assert len(set(receiver.ids)) == 1  # the same webhook-id every time
        [node] = [
            e["node"]
            for e in (await api.data(ENDPOINTS, as_=tenant.owner))["webhookEndpoints"]["edges"]
        ]
        assert node["enabled"] is False and node["disabledReason"]

        mail = await take_mail(services)
        assert sorted(m["To"] for m in mail) == sorted([tenant.owner.email, admin.email])
        assert receiver.url in mail[0].get_body(("plain",)).get_content()

        # a disabled endpoint gets nothing new; enabled again, a replay goes through
        await api.data(
            STAFF_CREATE, {"input": {"firstName": "A", "lastName": "B"}}, as_=tenant.owner
        )
        count = len(receiver.received)
        await deliver_all(services)
        assert len(receiver.received) == count
        receiver.status = 200
        await api.data(UPDATE, {"input": {"id": endpoint, "enabled": True}}, as_=tenant.owner)
        await api.data(REPLAY, {"id": delivery["id"]}, as_=tenant.owner)
        await deliver_all(services)
        assert receiver.received[-1].headers["webhook-id"] == receiver.ids[0]


async def test_an_answer_is_read_as_sent_never_inflated(api, services):
    """A receiver answering with 64 MB of gzip (64 kB sent) had each chunk inflated whole
    before the excerpt's few kilobytes were kept: Roster asks for the answer as it is
    (accept-encoding: identity) and reads its raw bytes."""
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        receiver.inflating = 64 * 1024 * 1024
        endpoint = (await create(api, tenant.owner, receiver.url))["webhookEndpoint"]
        await api.data(PING, {"id": endpoint["id"]}, as_=tenant.owner)
        await deliver_all(services)
        [request] = receiver.received
    assert request.headers["accept-encoding"] == "identity"
    [delivery] = await deliveries(api, tenant.owner, endpoint["id"])
    [attempt] = delivery["attempts"]
    assert attempt["ok"] and attempt["statusCode"] == 200
    assert "a" * 100 not in (attempt["responseExcerpt"] or "")  # as sent: gzip's bytes


async def test_an_answer_holding_nul_is_kept(api, services):
    """An answer's excerpt holding NUL was refused by PostgreSQL: the attempt went
    unrecorded. It is kept, NUL shown as the replacement character."""
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        receiver.answer = "ok\x00then"
        endpoint = (await create(api, tenant.owner, receiver.url))["webhookEndpoint"]
        await api.data(PING, {"id": endpoint["id"]}, as_=tenant.owner)
        await deliver_all(services)
    [delivery] = await deliveries(api, tenant.owner, endpoint["id"])
    assert delivery["status"] == "DELIVERED"
    assert [a["responseExcerpt"] for a in delivery["attempts"]] == ["ok\ufffdthen"]


async def test_pings_and_replays_are_rate_limited_per_account(api, services):
    """Sent by hand, they share one per-account limit: a loop of them cannot fill the
    delivery queue every account's endpoints share."""
    services.limiter.limits["webhook_sends_account"] = Limit(3, timedelta(hours=1))
    tenant, other = await make_tenant(services), await make_tenant(services)
    async with receiving() as receiver:
        endpoint = (await create(api, tenant.owner, receiver.url))["webhookEndpoint"]
        theirs = (await create(api, other.owner, receiver.url))["webhookEndpoint"]
        for _ in range(3):
            body = await api.data(PING, {"id": endpoint["id"]}, as_=tenant.owner)
            assert body["webhookEndpointPing"]["userErrors"] == []
        await deliver_all(services)
        [delivery, *_] = await deliveries(api, tenant.owner, endpoint["id"])
        for query, variables in ((PING, {"id": endpoint["id"]}), (REPLAY, {"id": delivery["id"]})):
            refused = await api(query, variables, as_=tenant.owner)
            assert error_codes(refused) == ["RATE_LIMITED"], refused
        # another account's are its own
        body = await api.data(PING, {"id": theirs["id"]}, as_=other.owner)
        assert body["webhookEndpointPing"]["userErrors"] == []


async def test_backoff_grows_exponentially_with_jitter():
    deliverer = Deliverer(None, None, backoff_seconds=10, max_backoff_seconds=3600)  # type: ignore[arg-type]
    for attempts, step in [(1, 10), (2, 20), (5, 160), (20, 3600)]:
        waits = {deliverer.backoff(attempts).total_seconds() for _ in range(20)}
        assert all(step / 2 <= w <= step for w in waits)
        assert len(waits) > 1


# --- who may do what ---------------------------------------------------------------------

OPERATIONS = ["create", "update", "delete", "rotate", "ping", "replay", "endpoints", "deliveries"]


async def run_operation(api, member, name, endpoint, delivery) -> dict:
    if name == "create":
        return await api(CREATE, {"input": {"url": "https://93.184.215.14/y"}}, as_=member)
    if name == "update":
        return await api(UPDATE, {"input": {"id": endpoint, "description": "d"}}, as_=member)
    if name == "delete":
        return await api(BY_ID % "webhookEndpointDelete", {"id": endpoint}, as_=member)
    if name == "rotate":
        return await api(ROTATE, {"id": endpoint}, as_=member)
    if name == "ping":
        return await api(PING, {"id": endpoint}, as_=member)
    if name == "replay":
        return await api(REPLAY, {"id": delivery}, as_=member)
    if name == "endpoints":
        return await api(ENDPOINTS, as_=member)
    return await api(DELIVERIES, {"endpoint": None}, as_=member)


async def setup_endpoint(api, tenant) -> tuple[str, str]:
    made = await create(api, tenant.owner, "https://93.184.215.14/x")
    endpoint = made["webhookEndpoint"]["id"]
    ping = await api.data(PING, {"id": endpoint}, as_=tenant.owner)
    return endpoint, ping["webhookEndpointPing"]["delivery"]["id"]


@pytest.mark.parametrize("role", [Role.GUEST, Role.VIEWER, Role.EDITOR])
async def test_members_below_administrator_are_refused_every_operation(api, services, role):
    tenant = await make_tenant(services)
    endpoint, delivery = await setup_endpoint(api, tenant)
    member = await make_member(services, tenant, role)
    for name in OPERATIONS:
        body = await run_operation(api, member, name, endpoint, delivery)
        assert error_codes(body) == ["FORBIDDEN"], (role, name, body)
    assert len((await api.data(ENDPOINTS, as_=tenant.owner))["webhookEndpoints"]["edges"]) == 1


async def may_do_every_operation(api, tenant, caller) -> None:
    """``caller`` (a member, or an API key's token) runs every operation without an error;
    a deleted endpoint is set up again for the operations after it."""
    endpoint, delivery = await setup_endpoint(api, tenant)
    for name in OPERATIONS:
        body = await run_operation(api, caller, name, endpoint, delivery)
        assert not body.get("errors"), (name, body)
        [payload] = body["data"].values()
        assert payload.get("userErrors", []) == [], (name, payload)
        if name == "delete":
            endpoint, delivery = await setup_endpoint(api, tenant)


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.OWNER])
async def test_administrators_may_do_every_operation(api, services, role):
    tenant = await make_tenant(services)
    member = tenant.owner if role is Role.OWNER else await make_member(services, tenant, role)
    await may_do_every_operation(api, tenant, member)


async def test_another_accounts_endpoints_and_deliveries_are_not_found(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    endpoint, delivery = await setup_endpoint(api, tenant)
    for name in ["update", "delete", "rotate", "ping", "replay"]:
        body = await run_operation(api, other.owner, name, endpoint, delivery)
        [payload] = body["data"].values()
        assert error_codes_of(payload) == ["NOT_FOUND"], (name, payload)
    assert (await api.data(ENDPOINTS, as_=other.owner))["webhookEndpoints"]["edges"] == []
    assert await deliveries(api, other.owner) == []
    assert await deliveries(api, other.owner, endpoint) == []
    # and nothing of theirs changed
    [node] = [
        e["node"]
        for e in (await api.data(ENDPOINTS, as_=tenant.owner))["webhookEndpoints"]["edges"]
    ]
    assert node["id"] == endpoint


PAGES = """query($after: String) {
  webhookDeliveries(first: 1, after: $after) {
    edges { node { id } } pageInfo { endCursor hasNextPage }
  }
}"""


async def test_an_accounts_deliveries_are_paged_by_index_not_by_every_accounts(api, services):
    """Each page of ``webhookDeliveries`` finds the account's deliveries by index (it once
    walked every account's deliveries from the newest until it had a page of its own)."""
    if services.db.dialect != "sqlite":
        pytest.skip("SQLite's query plan")
    import sqlite3

    from app.db.statements import StatementCounter

    tenant = await make_tenant(services)
    endpoint, first_ping = await setup_endpoint(api, tenant)
    await api.data(PING, {"id": endpoint}, as_=tenant.owner)
    with StatementCounter(services.db.engine) as sent:
        page = (await api.data(PAGES, as_=tenant.owner))["webhookDeliveries"]
        assert page["pageInfo"]["hasNextPage"]
        after = {"after": page["pageInfo"]["endCursor"]}
        page = (await api.data(PAGES, after, as_=tenant.owner))["webhookDeliveries"]
    assert [e["node"]["id"] for e in page["edges"]] == [first_ping]
    pages = [s for s in sent.statements if re.search(r"FROM webhook_deliveries\s+WHERE", s)]
    assert len(pages) == 2, sent.statements
    connection = sqlite3.connect(services.db.engine.url.database)
    try:
        for statement in pages:
            plan = connection.execute(
                "EXPLAIN QUERY PLAN " + statement, [None] * statement.count("?")
            ).fetchall()
            details = " / ".join(row[-1] for row in plan)
            assert "USING INDEX ix_webhook_deliveries_account_id_id" in details, details
    finally:
        connection.close()


NODE = """query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on WebhookEndpoint { url enabled disabledReason }
    ... on WebhookDelivery {
      messageId eventType payload status attemptCount deliveredAt
      attempts { statusCode ok durationMs error responseExcerpt }
    }
  }
}"""


async def test_node_finds_endpoints_and_deliveries_for_administrators_only(api, services):
    """``node(id:)`` answers an endpoint or delivery id as the lists do, to the account's
    administrators; to a member below them, or another account's owner, it is null, as
    for an id that does not exist (no error)."""
    tenant = await make_tenant(services)
    endpoint, delivery = await setup_endpoint(api, tenant)
    [listed_endpoint] = [
        e["node"]
        for e in (await api.data(ENDPOINTS, as_=tenant.owner))["webhookEndpoints"]["edges"]
    ]
    [listed_delivery] = await deliveries(api, tenant.owner, endpoint)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    for member in (tenant.owner, admin):
        found = (await api.data(NODE, {"id": endpoint}, as_=member))["node"]
        assert found == {"__typename": "WebhookEndpoint", **listed_endpoint}
        found = (await api.data(NODE, {"id": delivery}, as_=member))["node"]
        assert found == {"__typename": "WebhookDelivery", **listed_delivery}
    other = await make_tenant(services)
    below = [
        await make_member(services, tenant, role) for role in (Role.GUEST, Role.VIEWER, Role.EDITOR)
    ]
    missing = [gid("WebhookEndpoint", 10**9), gid("WebhookDelivery", 10**9)]
    for member in (*below, other.owner):
        for theirs in (endpoint, delivery):
            body = await api(NODE, {"id": theirs}, as_=member)
            assert body == {"data": {"node": None}}, (member, theirs, body)
    for absent in missing:
        assert await api(NODE, {"id": absent}, as_=tenant.owner) == {"data": {"node": None}}


async def test_another_accounts_changes_never_reach_an_endpoint(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    async with receiving() as receiver:
        await create(api, tenant.owner, receiver.url)
        await api.data(
            STAFF_CREATE, {"input": {"firstName": "X", "lastName": "Y"}}, as_=other.owner
        )
        await deliver_all(services)
        assert receiver.received == []


# --- personal data ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "sees_personal"),
    [("owner", True), ("administrator", True), ("admin key without personal_data", False)],
)
async def test_personal_field_names_only_for_endpoints_set_up_with_the_permit(
    api, services, who, sees_personal
):
    tenant = await make_tenant(services)
    if who == "owner":
        token = tenant.owner.token
    elif who == "administrator":
        token = (await make_member(services, tenant, Role.ADMINISTRATOR)).token
    else:
        admin = await make_member(services, tenant, Role.ADMINISTRATOR)
        token = await make_api_token(
            services, tenant, admin, scopes=[Scope.ADMIN, Scope.STAFF_READ]
        )
    async with receiving() as receiver:
        body = await api(
            CREATE,
            {"input": {"url": receiver.url, "eventTypes": ["staff.updated"]}},
            token=token,
            realm=tenant.slug,
        )
        made = body["data"]["webhookEndpointCreate"]
        assert made["userErrors"] == []
        assert made["webhookEndpoint"]["includesPersonalData"] is sees_personal
        receiver.secrets.append(made["secret"])
        await api.data(
            STAFF_UPDATE,
            {"input": {"id": tenant.owner.staff_id, "title": "Boss", "phoneCell": "+1 555 0100"}},
            as_=tenant.owner,
        )
        await deliver_all(services)
        [payload] = receiver.payloads
        expected = ["phoneCell", "title"] if sees_personal else ["title"]
        assert sorted(payload["data"]["fields"]) == expected
        # the value never travels, in any spelling (the body's ids are random hex: they
        # may hold "555")
        assert not re.search(r"555\D*0100", receiver.received[0].body.decode())


async def test_an_echoed_answer_tells_personal_field_names_only_to_who_may_read_them(
    api, services
):
    """A receiver may answer with the request it was sent: where the payload named personal
    fields, a reader without ViewPersonalData (shown the payload without them) is not
    shown the answers' excerpts either; where it named none, they are shown."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    key = await make_api_token(services, tenant, admin, scopes=[Scope.ADMIN, Scope.STAFF_READ])
    async with receiving() as receiver:
        receiver.echo = True
        made = await create(api, tenant.owner, receiver.url, eventTypes=["staff.updated"])
        assert made["webhookEndpoint"]["includesPersonalData"] is True
        for change in ({"phoneCell": "+1 555 0100", "title": "Boss"}, {"title": "Chief"}):
            await api.data(STAFF_UPDATE, {"input": {"id": tenant.owner.staff_id, **change}},
                           as_=tenant.owner)  # fmt: skip
            await deliver_all(services)
        by_owner = await deliveries(api, tenant.owner)
        by_key = [
            e["node"]
            for e in (await api.data(DELIVERIES, {"endpoint": None}, token=key,
                                     realm=tenant.slug))["webhookDeliveries"]["edges"]
        ]  # fmt: skip
    # newest first: the title alone, then the title and the phone
    assert [sorted(d["payload"]["data"]["fields"]) for d in by_owner] == [
        ["title"], ["phoneCell", "title"]]  # fmt: skip
    assert "phoneCell" in by_owner[1]["attempts"][0]["responseExcerpt"]
    assert [d["payload"]["data"]["fields"] for d in by_key] == [["title"], ["title"]]
    assert by_key[1]["attempts"][0]["responseExcerpt"] is None
    assert by_key[0]["attempts"][0]["responseExcerpt"] == by_owner[0]["attempts"][0][
        "responseExcerpt"]  # fmt: skip
    assert "title" in by_key[0]["attempts"][0]["responseExcerpt"]
    # the same through node
    node = await api.data(
        "query($id: ID!) { node(id: $id) { ... on WebhookDelivery { attempts { responseExcerpt } } } }",
        {"id": by_owner[1]["id"]}, token=key, realm=tenant.slug,
    )  # fmt: skip
    assert node["node"]["attempts"] == [{"responseExcerpt": None}]


@pytest.mark.parametrize("sees_personal", [True, False])
async def test_custom_values_are_named_by_whether_their_field_is_personal(
    api, services, sees_personal
):
    """A personal custom field's values are personal data (the field's definition says):
    an endpoint without personal data is told of a change to them no more than of an SSN
    change: no delivery at all, which would say when hidden data changed. Values of other
    custom fields are ``customFields`` to every endpoint, named once however many
    changed."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    scopes = [Scope.ADMIN, Scope.STAFF_READ] + ([Scope.PERSONAL_DATA] if sees_personal else [])
    key = await make_api_token(services, tenant, admin, scopes=scopes)
    staff = await make_staff(services, tenant)
    shoe = await make_custom_field(services, tenant, "Shoe size", personal=True)
    nickname = await make_custom_field(services, tenant, "Nickname")

    async def values_set(*pairs) -> None:
        values = [{"fieldId": gid("CustomField", f.id), "value": v} for f, v in pairs]
        body = await api.data(
            VALUES_SET,
            {"input": {"staffId": gid("Staff", staff.id), "values": values}},
            as_=tenant.owner,
        )
        assert body["staffCustomFieldsSet"]["userErrors"] == []

    async with receiving() as receiver:
        body = await api(
            CREATE,
            {"input": {"url": receiver.url, "eventTypes": ["staff.updated"]}},
            token=key,
            realm=tenant.slug,
        )
        made = body["data"]["webhookEndpointCreate"]
        assert made["webhookEndpoint"]["includesPersonalData"] is sees_personal
        receiver.secrets.append(made["secret"])
        told = []
        for change in (
            lambda: values_set((shoe, "z4471")),
            lambda: api.data(
                STAFF_UPDATE,
                {"input": {"id": gid("Staff", staff.id), "ssn": "123-45-6789"}},
                as_=tenant.owner,
            ),
            lambda: values_set((nickname, "Nickz4472")),
            lambda: values_set((shoe, "z4473"), (nickname, "Nedz4474")),
        ):
            before = len(receiver.received)
            await change()
            await deliver_all(services)
            told.append([p["data"]["fields"] for p in receiver.payloads[before:]])
        if sees_personal:
            assert told == [[["customFields"]], [["ssn"]], [["customFields"]], [["customFields"]]]
        else:
            assert told == [[], [], [["customFields"]], [["customFields"]]]
        assert {p["data"]["id"] for p in receiver.payloads} == {gid("Staff", staff.id)}
        sent = b"".join(r.body for r in receiver.received).decode()
        # thin: never a value ("z": event ids are hex, and may hold "4474")
        assert not re.search(r"z447[1-4]|123-45", sent)


def test_an_event_naming_a_field_no_table_has_is_an_error_never_told():
    from app.events.models import Event
    from app.fields import UnknownField
    from app.webhooks.service import payload_of

    def event(*names: str) -> Event:
        return Event(
            uid="evt_" + "0" * 32,
            account_id=1,
            type="staff.updated",
            subject_type="Staff",
            subject_id=1,
            data={"fields": list(names)},
            occurred_at=utcnow(),
        )

    told = payload_of(event("title", "custom_fields", "personal_custom_fields"), True)
    assert told is not None and told["data"]["fields"] == ["title", "customFields"]
    told = payload_of(event("title", "personal_custom_fields"), False)
    assert told is not None and told["data"]["fields"] == ["title"]
    assert payload_of(event("personal_custom_fields", "ssn"), False) is None
    for name in ("no_such_field", "account_id"):
        with pytest.raises(UnknownField):
            payload_of(event("title", name), True)


# --- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[fd00:ec2::254]/x",
        "ftp://93.184.215.14/x",
        "http://user:pw@93.184.215.14/x",
    ],
)
async def test_inner_addresses_are_refused_at_creation(api, services, settings, url):
    settings.webhooks_allow_private = False
    tenant = await make_tenant(services)
    body = await api.data(CREATE, {"input": {"url": url}}, as_=tenant.owner)
    [error] = body["webhookEndpointCreate"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["input", "url"]), url


async def test_metadata_addresses_are_refused_even_when_private_ones_are_allowed():
    for url in ["http://169.254.169.254/", "http://[fe80::1]/", "http://[fd00:ec2::254]/",
                "http://168.63.129.16/machine"]:  # fmt: skip
        with pytest.raises(UnsafeUrl):
            await urls.check(url, allow_private=True)
    target = await urls.check("http://localhost:9/x?a=1", allow_private=True)
    assert target.address.is_loopback
    expected = "http://[::1]:9/x?a=1" if target.address.version == 6 else "http://127.0.0.1:9/x?a=1"
    assert target.pinned_url == expected
    assert target.host_header == "localhost:9"


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::ffff:169.254.169.254",  # IPv4-mapped
        "fec0::1",  # site-local
        "64:ff9b:1::a00:1",  # local-use NAT64
    ],
)
async def test_ipv6_forms_of_inner_ipv4_addresses_are_refused(address):
    with pytest.raises(UnsafeUrl):
        await urls.check(f"http://[{address}]/hook", allow_private=False)


async def test_public_ipv6_and_nat64_of_public_addresses_are_allowed():
    for address in ["2606:4700:4700::1111", "64:ff9b::808:808"]:
        target = await urls.check(f"http://[{address}]/hook", allow_private=False)
        assert str(target.address) == address


def test_an_international_host_name_is_called_by_its_ascii_form():
    assert urls.parse("https://bücher.example/in")[1] == "xn--bcher-kva.example"
    with pytest.raises(UnsafeUrl):
        urls.parse("http://a\udcff.example/")


async def test_an_address_that_turns_inner_is_refused_at_delivery(api, services):
    """Allowed when created, refused when sent (as a name re-pointed by DNS would be): the
    attempt is logged and the receiver is never called."""
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        await api.data(PING, {"id": made["webhookEndpoint"]["id"]}, as_=tenant.owner)
        services.webhooks.allow_private = False
        await services.webhooks.run_once()
        assert receiver.received == []
        [delivery] = await deliveries(api, tenant.owner)
        [attempt] = delivery["attempts"]
        assert attempt["statusCode"] is None and "loopback" in attempt["error"]
        assert delivery["status"] == "PENDING"


async def test_an_unexpected_failure_is_a_logged_attempt_not_an_endless_retry(
    api, services, monkeypatch
):
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        await api.data(PING, {"id": made["webhookEndpoint"]["id"]}, as_=tenant.owner)

        def broken(*args, **kwargs):
            raise RuntimeError("a key went missing")

        monkeypatch.setattr(delivery_module, "signing_secrets", broken)
        await services.webhooks.run_once()
        assert receiver.received == []
        [delivery] = await deliveries(api, tenant.owner)
        [attempt] = delivery["attempts"]
        assert attempt["statusCode"] is None and "RuntimeError" in attempt["error"]
        assert "a key went missing" not in attempt["error"]  # details stay in the log
        assert delivery["status"] == "PENDING"  # retried later, counted against the window


async def test_delivery_connects_to_the_address_it_checked(monkeypatch):
    """The name is resolved once, for the check; the connection goes to that address."""
    calls = []

    async def resolve(host):
        calls.append(host)
        return (
            [urls.ipaddress.ip_address("93.184.215.14")]
            if len(calls) == 1
            else [urls.ipaddress.ip_address("127.0.0.1")]
        )

    monkeypatch.setattr(urls, "resolve", resolve)
    target = await urls.check("https://hooks.example.com/in", allow_private=False)
    assert target.pinned_url == "https://93.184.215.14:443/in"
    assert target.host_header == "hooks.example.com"
    assert calls == ["hooks.example.com"]
    with pytest.raises(UnsafeUrl):  # the next check sees the new answer and refuses it
        await urls.check("https://hooks.example.com/in", allow_private=False)


# --- claims --------------------------------------------------------------------------------


async def test_two_workers_never_send_one_delivery_twice(api, services, settings):
    from app.services import Services

    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        receiver.secrets.append(made["secret"])
        for _ in range(30):
            await api.data(PING, {"id": made["webhookEndpoint"]["id"]}, as_=tenant.owner)
        second = Services.from_settings(settings)
        try:
            second.webhooks.batch = services.webhooks.batch = 4

            async def drain(deliverer):
                while await deliverer.run_once():
                    pass

            await asyncio.gather(drain(services.webhooks), drain(second.webhooks))
        finally:
            await second.close()
        async with services.db.session() as session:
            statuses = set(await session.scalars(select(WebhookDelivery.status)))
            errors = list(await session.scalars(select(WebhookAttempt.error)))
        assert errors == [None] * 30, errors  # one attempt each, all answered
        assert statuses == {DeliveryStatus.DELIVERED}
        assert sorted(receiver.ids) == sorted(set(receiver.ids)) and len(receiver.ids) == 30


async def test_a_worker_with_nothing_due_writes_nothing(api, services):
    """The worker wakes on every committed event; with nothing due it only reads (on
    SQLite a claim would take the one writer's turn from the requests)."""
    from sqlalchemy import event

    from app.db import prepared

    tenant = await make_tenant(services)
    await api.data(STAFF_CREATE, {"input": {"firstName": "A", "lastName": "B"}}, as_=tenant.owner)
    sent: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        sent.append(" ".join(statement.split()[:2]).upper())

    def record_prepared(pool, statement: str) -> None:
        record(None, None, statement)

    event.listen(services.db.engine.sync_engine, "before_cursor_execute", record)
    prepared.sent.append(record_prepared)
    try:
        assert await services.webhooks.run_once() == 0
    finally:
        event.remove(services.db.engine.sync_engine, "before_cursor_execute", record)
        prepared.sent.remove(record_prepared)
    assert sent, "the worker reads what is due"
    assert not [s for s in sent if s.startswith(("UPDATE", "INSERT", "BEGIN IMMEDIATE"))], sent


def gid_of(kind: str, pk: int) -> str:
    return gid(kind, pk)


async def test_the_server_loop_delivers_a_change_as_it_commits(api, services):
    """The background loop wakes on committed events (in process on SQLite, by NOTIFY on
    PostgreSQL), not at its next poll."""
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        receiver.secrets.append(made["secret"])
        stop = asyncio.Event()
        loop = asyncio.create_task(services.webhooks.run_forever(stop, poll_seconds=60))
        try:
            await asyncio.sleep(0.5)  # listening
            await api.data(
                STAFF_CREATE, {"input": {"firstName": "A", "lastName": "B"}}, as_=tenant.owner
            )
            await asyncio.wait_for(receiver.arrived.wait(), timeout=20)
        finally:
            stop.set()
            await loop
        assert [p["type"] for p in receiver.payloads] == ["staff.created"]


async def test_keys_rotate_reseals_signing_secrets_and_deliveries_still_verify(
    api, services, settings, database_url
):
    from app.security.crypto import Keyring
    from app.security.key_rotation import rotate_keys

    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        endpoint = made["webhookEndpoint"]["id"]
        rotated = (await api.data(ROTATE, {"id": endpoint}, as_=tenant.owner))[
            "webhookEndpointSecretRotate"
        ]
        receiver.secrets += [made["secret"], rotated["secret"]]
        new_key = Keyring.generate_key()
        keys = f"k2:{new_key},{settings.encryption_keys}"
        assert await rotate_keys(make_settings(database_url, encryption_keys=keys)) == 1
        assert await rotate_keys(make_settings(database_url, encryption_keys=keys)) == 0
        async with services.db.session() as session:
            row = await session.scalar(select(WebhookEndpoint))
        assert row.secret_sealed.startswith("k2:") and row.previous_secret_sealed.startswith("k2:")

        services.webhooks.keyring = make_settings(
            database_url, encryption_keys=f"k2:{new_key}"
        ).keyring
        await api.data(PING, {"id": endpoint}, as_=tenant.owner)
        await deliver_all(services)
        assert receiver.received[-1].verified_with == [made["secret"], rotated["secret"]]


async def test_an_endpoint_changed_without_the_permit_stops_naming_personal_fields(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    key = await make_api_token(services, tenant, admin, scopes=[Scope.ADMIN, Scope.STAFF_READ])
    made = await create(api, tenant.owner, "https://93.184.215.14/x")
    assert made["webhookEndpoint"]["includesPersonalData"] is True
    body = await api(
        UPDATE.replace("description }", "description includesPersonalData }"),
        {"input": {"id": made["webhookEndpoint"]["id"], "description": "CRM"}},
        token=key,
        realm=tenant.slug,
    )
    payload = body["data"]["webhookEndpointUpdate"]
    assert payload["userErrors"] == []
    assert payload["webhookEndpoint"]["includesPersonalData"] is False


async def test_concurrent_creates_never_pass_the_endpoint_limit(api, services):
    tenant = await make_tenant(services)
    for i in range(MAX_ENDPOINTS - 2):
        await create(api, tenant.owner, f"https://93.184.215.14/{i}")
    answers = await asyncio.gather(
        *(
            api.data(CREATE, {"input": {"url": f"https://93.184.215.14/c{i}"}}, as_=tenant.owner)
            for i in range(6)
        )
    )
    codes = sorted(
        (a["webhookEndpointCreate"]["userErrors"] or [{"code": "OK"}])[0]["code"] for a in answers
    )
    assert codes == ["LIMIT_REACHED"] * 4 + ["OK"] * 2
    async with services.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(WebhookEndpoint))
    assert count == MAX_ENDPOINTS


ENDPOINT_PERSONAL = """query($id: ID!) {
  node(id: $id) { ... on WebhookEndpoint { includesPersonalData receivesEvents } }
}"""
LOWER_ROLE = """mutation($id: ID!) {
  staffRoleChange(input: {staffId: $id, role: EDITOR}) { userErrors { code } }
}"""
CREATOR_CHANGES = {
    "role lowered": [LOWER_ROLE],
    # still granted ViewPersonalData, but no longer seeing restricted records whole
    "role lowered, keeping the permit by a grant": [LOWER_ROLE, PERMIT_GRANT],
    "disabled": [
        "mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }"
    ],
    "deleted": [
        "mutation($id: ID!) { staffDelete(input: {staffId: $id}) { userErrors { code } } }"
    ],
}


@pytest.mark.parametrize("change", sorted(CREATOR_CHANGES))
async def test_an_endpoint_is_told_nothing_more_once_its_creator_loses_their_standing(
    api, services, change
):
    """An endpoint reaches no further than its creator, as an API key does: once they can
    no longer manage webhooks as an active member (nor hold ViewPersonalData), a delivery
    already queued is not sent (it fails at once, saying why) and nothing new is queued
    (``test_an_endpoint_whose_creator_left_waits_to_be_vouched_for``). The endpoint says
    both."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    async with receiving() as receiver:
        made = await create(api, admin, receiver.url, eventTypes=["staff.updated"])
        endpoint_id = made["webhookEndpoint"]["id"]
        receiver.secrets.append(made["secret"])
        assert made["webhookEndpoint"]["includesPersonalData"] is True
        update_ = {"id": tenant.owner.staff_id, "title": "Boss", "phoneCell": "+1 555 0100"}
        await api.data(STAFF_UPDATE, {"input": update_}, as_=tenant.owner)
        # queued while the creator held the permit, sent after they lost it
        for document in CREATOR_CHANGES[change]:
            data = await api.data(document, {"id": admin.staff_id}, as_=tenant.owner)
            assert next(iter(data.values()))["userErrors"] == []
        update_ = {"id": tenant.owner.staff_id, "title": "Chief", "phoneCell": "+1 555 0101"}
        await api.data(STAFF_UPDATE, {"input": update_}, as_=tenant.owner)
        await deliver_all(services)
        assert receiver.payloads == []
    [queued] = await deliveries(api, tenant.owner, endpoint_id)
    assert queued["status"] == "FAILED"
    assert [a["error"] for a in queued["attempts"]] == [UNVOUCHED]
    shown = await api.data(ENDPOINT_PERSONAL, {"id": endpoint_id}, as_=tenant.owner)
    assert shown["node"] == {"includesPersonalData": False, "receivesEvents": False}


@pytest.mark.parametrize("change", sorted(CREATOR_CHANGES))
async def test_an_endpoint_whose_creator_left_waits_to_be_vouched_for(api, services, change):
    """An endpoint whose creator can no longer manage webhooks (disabled, deleted, given a
    lower role) is sent none of the account's changes, and its deliveries are not sent
    again, until an administrator changes it: from then on it is theirs, and the
    changes flow again (with personal fields' names: the owner holds ViewPersonalData)."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    async with receiving() as receiver:
        made = await create(api, admin, receiver.url, eventTypes=["staff.updated"])
        endpoint_id = made["webhookEndpoint"]["id"]
        receiver.secrets.append(made["secret"])
        update_ = {"id": tenant.owner.staff_id, "title": "Boss"}
        await api.data(STAFF_UPDATE, {"input": update_}, as_=tenant.owner)
        await deliver_all(services)
        [sent] = await deliveries(api, tenant.owner, endpoint_id)
        for document in CREATOR_CHANGES[change]:
            data = await api.data(document, {"id": admin.staff_id}, as_=tenant.owner)
            assert next(iter(data.values()))["userErrors"] == []

        update_ = {"id": tenant.owner.staff_id, "title": "Chief"}
        await api.data(STAFF_UPDATE, {"input": update_}, as_=tenant.owner)
        assert [d["id"] for d in await deliveries(api, tenant.owner, endpoint_id)] == [sent["id"]]
        replayed = await api.data(REPLAY, {"id": sent["id"]}, as_=tenant.owner)
        assert replayed["webhookDeliveryReplay"]["userErrors"] == [{"code": "INVALID_STATE"}]
        shown = await api.data(ENDPOINT_PERSONAL, {"id": endpoint_id}, as_=tenant.owner)
        assert shown["node"]["receivesEvents"] is False

        changed = await api.data(
            UPDATE, {"input": {"id": endpoint_id, "description": "ours"}}, as_=tenant.owner
        )
        assert changed["webhookEndpointUpdate"]["userErrors"] == []
        shown = await api.data(ENDPOINT_PERSONAL, {"id": endpoint_id}, as_=tenant.owner)
        assert shown["node"] == {"includesPersonalData": True, "receivesEvents": True}
        update_ = {"id": tenant.owner.staff_id, "title": "Head", "phoneCell": "+1 555 0102"}
        await api.data(STAFF_UPDATE, {"input": update_}, as_=tenant.owner)
        await deliver_all(services)
        fields = [sorted(p["data"]["fields"]) for p in receiver.payloads]
        assert fields == [["title"], ["phoneCell", "title"]]


async def test_an_endpoint_names_personal_fields_while_its_creator_holds_the_permit(api, services):
    """The same endpoint, its creator keeping the permit: both deliveries name them."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    async with receiving() as receiver:
        made = await create(api, admin, receiver.url, eventTypes=["staff.updated"])
        receiver.secrets.append(made["secret"])
        for phone in ("+1 555 0100", "+1 555 0101"):
            update_ = {"id": tenant.owner.staff_id, "title": phone[-4:], "phoneCell": phone}
            await api.data(STAFF_UPDATE, {"input": update_}, as_=tenant.owner)
        await deliver_all(services)
        expected = [["phoneCell", "title"]] * 2
        assert [sorted(p["data"]["fields"]) for p in receiver.payloads] == expected
    listed = await api.data(
        "{ webhookEndpoints(first: 10) { edges { node { includesPersonalData } } } }",
        as_=tenant.owner,
    )
    assert [e["node"]["includesPersonalData"] for e in listed["webhookEndpoints"]["edges"]] == [
        True
    ]


async def test_a_write_reads_its_endpoints_standing_once(api, services):
    """Whether an endpoint is vouched for and whether it is told personal data come from
    one read of its members' permits (``webhooks.service.standing``), not one each."""
    from app.db.statements import StatementCounter

    tenant = await make_tenant(services)
    made = await create(api, tenant.owner, "http://127.0.0.1:9/hook")
    assert made["webhookEndpoint"]["includesPersonalData"] is True
    variables = {"input": {"firstName": "Ada", "lastName": "Lovelace"}}
    await api.data(STAFF_CREATE, variables, as_=tenant.owner)  # the document parsed once
    with StatementCounter(services.db.engine) as counter:
        made = await api.data(STAFF_CREATE, variables, as_=tenant.owner)
    assert made["staffCreate"]["staff"]["id"]
    members_read = [
        s for s in counter.statements if s.lstrip().upper().startswith("SELECT STAFF.ID, STAFF.ROLE")
    ]
    assert len(members_read) == 1, counter.statements
    assert len(await deliveries(api, tenant.owner)) == 2  # both writes were queued


async def test_an_endpoints_two_standing_fields_read_it_once(api, services):
    """receivesEvents and includesPersonalData share one read of the members' permits."""
    from app.db.statements import StatementCounter

    tenant = await make_tenant(services)
    for port in (9, 10):
        await create(api, tenant.owner, f"http://127.0.0.1:{port}/hook")
    query = "{ webhookEndpoints { edges { node { receivesEvents includesPersonalData } } } }"
    await api.data(query, as_=tenant.owner)  # the document parsed once
    with StatementCounter(services.db.engine) as counter:
        data = await api.data(query, as_=tenant.owner)
    assert [e["node"] for e in data["webhookEndpoints"]["edges"]] == [
        {"receivesEvents": True, "includesPersonalData": True}
    ] * 2
    members_read = [
        s for s in counter.statements if s.lstrip().upper().startswith("SELECT STAFF.ID, STAFF.ROLE")
    ]
    assert len(members_read) == 1, counter.statements


async def test_an_audit_entry_holds_no_other_mutation_s_deliveries(api, services):
    """Two mutations in one request: each entry's diff is its own change, never the
    webhook deliveries another mutation's event queued (their payloads name the fields
    that changed, personal ones too, which an administrator without ViewPersonalData does
    not read in the log)."""
    from app.audit.models import AuditEntry

    tenant = await make_tenant(services)
    owner = tenant.owner
    await create(api, owner, "http://127.0.0.1:9/hook")
    staff = await make_staff(services, tenant, first_name="Two", last_name="Changes")
    document = """mutation($a: StaffUpdateInput!, $b: StaffUpdateInput!) {
      a: staffUpdate(input: $a) { userErrors { code } }
      b: staffUpdate(input: $b) { userErrors { code } }
    }"""
    sid = gid("Staff", staff.id)
    data = await api.data(
        document, {"a": {"id": sid, "title": "First"}, "b": {"id": sid, "notes": "Second"}},
        as_=owner,
    )  # fmt: skip
    assert data == {"a": {"userErrors": []}, "b": {"userErrors": []}}
    async with services.db.session() as session:
        entries = list(await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staffUpdate").order_by(AuditEntry.id)
        ))  # fmt: skip
    assert len(entries) == 2
    assert [sorted({c["table"] for c in e.diff}) for e in entries] == [["staff"], ["staff"]]
