"""Review: hostile graphql-transport-ws messages get the protocol's answers, never a crash.

A reviewer's fuzzing got only ``complete`` (and a RuntimeError in the log) for a subscribe
whose document did not parse, whose query was null or whose operationName was not a
string, and an abnormal close (1006, a traceback) for a NUL in connection_init's realm, a
text frame that is not JSON and a subscribe whose payload is a string. A document that
does not parse or validate gets an ``error`` message (BAD_USER_INPUT); a message the
protocol does not allow (or that holds NUL, which no field accepts) closes the socket with
4400.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.factories import make_tenant
from tests.graphql.test_subscriptions import serving
from tests.graphql.ws import WsClient

STAFF_CHANGED = "subscription { staffChanged { kind } }"


@pytest.fixture
async def live(app, caplog):
    """The server, which must log no error (no traceback) for anything a client sends."""
    caplog.set_level(logging.WARNING)
    async with serving(app) as base:
        yield base
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    "query",
    [
        "subscription { ",
        "subscription { staffChanged { kind } ",
        "subscription { nothingHere }",
        "",
    ],
    ids=["syntax", "unclosed", "invalid", "empty"],
)
async def test_a_document_that_does_not_parse_or_validate_gets_an_error(services, live, query):
    tenant = await make_tenant(services)
    async with WsClient.open(live) as ws:
        assert (await ws.init(tenant.owner))["type"] == "connection_ack"
        await ws.send({"id": "1", "type": "subscribe", "payload": {"query": query}})
        message = await ws.receive()
        assert (message["id"], message["type"]) == ("1", "error"), message
        assert [e["extensions"]["code"] for e in message["payload"]] == ["BAD_USER_INPUT"]
        # the connection is still good for a valid subscription
        op = await ws.subscribe(STAFF_CHANGED)
        await ws.send({"id": op, "type": "complete"})
        await ws.send({"type": "ping"})
        assert (await ws.ws.recv()) == '{"type":"pong"}'


# Each on a socket of its own, one server for all (a server per case was most of this
# module's time).
INVALID_MESSAGES = [
        {"id": "1", "type": "subscribe", "payload": {"query": None}},
        {"id": "1", "type": "subscribe", "payload": {}},
        {"id": "1", "type": "subscribe", "payload": {"query": 5}},
        {"id": "1", "type": "subscribe", "payload": "x"},
        {"id": "1", "type": "subscribe", "payload": None},
        {"id": "1", "type": "subscribe"},
        {"id": 1, "type": "subscribe", "payload": {"query": STAFF_CHANGED}},
        {"type": "subscribe", "payload": {"query": STAFF_CHANGED}},
        {"id": "1", "type": "subscribe",
         "payload": {"query": STAFF_CHANGED, "operationName": 5}},
        {"id": "1", "type": "subscribe", "payload": {"query": STAFF_CHANGED, "variables": [1]}},
        {"id": "1", "type": "subscribe",
         "payload": {"query": STAFF_CHANGED, "extensions": "zz"}},
        {"type": 5},
        {"type": None},
        [1, 2],
        "a string",
        5,
]


async def test_an_invalid_protocol_message_closes_4400(services, live):
    tenant = await make_tenant(services)
    for message in INVALID_MESSAGES:
        async with WsClient.open(live) as ws:
            assert (await ws.init(tenant.owner))["type"] == "connection_ack"
            await ws.send(message)
            assert await ws.closed() == 4400, message


async def test_a_complete_with_extra_members_is_ignored(services, live):
    tenant = await make_tenant(services)
    async with WsClient.open(live) as ws:
        await ws.init(tenant.owner)
        await ws.send({"id": "9", "type": "complete", "extra": []})
        await ws.send({"type": "ping"})
        assert (await ws.receive())["type"] == "pong"


async def test_a_text_frame_that_is_not_json_closes_4400(services, live):
    tenant = await make_tenant(services)
    for frame in ["{not json", "", "\x00", '{"type": "connection_init"']:
        async with WsClient.open(live) as ws:
            assert (await ws.init(tenant.owner))["type"] == "connection_ack"
            await ws.ws.send(frame)
            assert await ws.closed() == 4400, frame


async def test_a_text_frame_that_is_not_json_before_init_closes_4400(services, live):
    async with WsClient.open(live) as ws:
        await ws.ws.send("{not json")
        assert await ws.closed() == 4400


ODD_CREDENTIALS = [
    # No field accepts NUL (as over HTTP, ``app.graphql.request_body``): the frame is no
    # message the server can read.
    ("de\x00mo", None, 4400),
    ("\x00", None, 4400),
    (None, "\x00", 4400),
    (None, "rs_\x00abc", 4400),
    # Readable credentials that name no member are refused.
    ("a" * 10_000, None, 4403),
    (None, "a" * 10_000, 4403),
    ("demo", None, 4403),
    (" ", None, 4403),
]


async def test_odd_credentials_in_connection_init_close_the_socket(services, live):
    tenant = await make_tenant(services)
    for realm, token, code in ODD_CREDENTIALS:
        payload = {
            "Authorization": f"Bearer {token or tenant.owner.token}",
            "X-Auth-Realm": realm or tenant.owner.realm,
        }
        async with WsClient.open(live) as ws:
            await ws.send({"type": "connection_init", "payload": payload})
            assert await ws.closed() == code, (realm and realm[:20], token and token[:20])


async def test_a_binary_frame_closes_4400(services, live):
    tenant = await make_tenant(services)
    async with WsClient.open(live) as ws:
        assert (await ws.init(tenant.owner))["type"] == "connection_ack"
        await ws.ws.send(b'{"type": "ping"}')
        assert await ws.closed() == 4400


@pytest.mark.parametrize("signed_in", [False, True], ids=["before-init", "after-init"])
async def test_a_message_longer_than_a_request_body_closes_4400(settings, services, live, signed_in):
    """A frame is a request body: past max_body_bytes it is refused before it is decoded
    (a review sent 16 MB of ``[0,0,...]`` before connection_init, which was decoded and
    walked whole)."""
    tenant = await make_tenant(services)
    longest = settings.max_body_bytes

    def ping(length: int) -> str:
        frame = '{"type": "ping", "payload": {"x": "%s"}}'
        return frame % ("a" * (length - len(frame) + 2))

    assert len(ping(longest)) == longest
    async with WsClient.open(live) as ws:
        if signed_in:
            assert (await ws.init(tenant.owner))["type"] == "connection_ack"
            await ws.ws.send(ping(longest))  # as long as a body may be: answered
            assert (await ws.receive())["type"] == "pong"
        await ws.ws.send(ping(longest + 1))
        assert await ws.closed() == 4400
    # counted in bytes, as a body is: fewer characters than the limit, more bytes
    async with WsClient.open(live) as ws:
        assert (await ws.init(tenant.owner))["type"] == "connection_ack"
        wide = '{"type": "ping", "payload": {"x": "%s"}}' % ("\u00e9" * (longest // 2))
        assert len(wide) < longest < len(wide.encode())
        await ws.ws.send(wide)
        assert await ws.closed() == 4400


async def test_operations_past_the_connections_cap_are_refused_before_they_run(
    settings, services, live, monkeypatch
):
    """A stream of subscribe messages on one socket used to start a task for each, every
    one parsed, validated and priced against the account before the subscriptions' cap
    refused it: past twice that cap in flight, an operation is refused at once
    (LIMIT_REACHED) and the connection stays good. (The operations in flight are held
    where they would read the subscriber, so that they stay in flight.)"""
    from app.graphql import subscriptions
    from app.graphql.socket import IN_FLIGHT_PER_SUBSCRIPTION

    held = asyncio.Event()
    subscriber = subscriptions._subscriber

    async def held_back(ctx):
        await held.wait()
        return await subscriber(ctx)

    monkeypatch.setattr(subscriptions, "_subscriber", held_back)
    cap = IN_FLIGHT_PER_SUBSCRIPTION * settings.subscriptions_per_connection
    tenant = await make_tenant(services)
    async with WsClient.open(live) as ws:
        assert (await ws.init(tenant.owner))["type"] == "connection_ack"
        for n in range(cap + 3):
            await ws.send({"id": f"q{n}", "type": "subscribe", "payload": {"query": STAFF_CHANGED}})
        refused = [await ws.receive() for _ in range(3)]
        assert [(m["id"], m["type"]) for m in refused] == [
            (f"q{n}", "error") for n in range(cap, cap + 3)
        ]
        assert {m["payload"][0]["extensions"]["code"] for m in refused} == {"LIMIT_REACHED"}
        held.set()
        await ws.send({"type": "ping"})  # still good: answered after what is in flight
        for _ in range(4 * cap):
            if await asyncio.wait_for(ws.ws.recv(), 10) == '{"type":"pong"}':
                break
        else:
            raise AssertionError("no pong")
