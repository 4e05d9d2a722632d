"""Subscriptions over a real websocket: authentication in connection_init, what each
subscriber receives, lost access, limits and caps."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from app.access import Role
from app.main import create_app
from tests.conftest import make_settings
from tests.factories import Api, gid, make_member, make_staff, make_tenant
from tests.graphql.ws import WsClient
from tests.security.live import live_server
from tests.staff.test_bulk_import import IMPORT, to_csv

STAFF_CHANGED = """subscription {
  staffChanged { eventId kind staffId changedFields staff { id firstName title email } }
}"""
STAFF_UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { userErrors { code field } }
}"""
STAFF_DISABLE = """mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }"""


@contextlib.asynccontextmanager
async def serving(app):
    async with live_server(app) as base:
        listener = getattr(app.state, "events_listener", None)
        if listener is not None:  # PostgreSQL: events come through LISTEN
            await asyncio.wait_for(listener.connected.wait(), 10)
        yield base


@pytest.fixture
async def live(app):
    async with serving(app) as base:
        yield base


async def test_a_subscriber_receives_a_change_as_they_may_see_it(api, services, live):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    target = await make_staff(services, tenant, email="hidden@example.com")
    async with WsClient.open(live) as ws:
        assert (await ws.init(viewer))["type"] == "connection_ack"
        await ws.subscribe(STAFF_CHANGED)
        await asyncio.sleep(0.2)
        body = await api.data(
            STAFF_UPDATE,
            {"input": {"id": gid("Staff", target.id), "title": "Chief", "email": "new@example.com"}},
            as_=tenant.owner,
        )
        assert body["staffUpdate"]["userErrors"] == []
        change = (await ws.next())["data"]["staffChanged"]
    assert change["kind"] == "UPDATED"
    assert change["eventId"].startswith("evt_")
    assert change["staffId"] == gid("Staff", target.id)
    assert change["changedFields"] == ["title"]  # not email: the viewer may not see it
    assert change["staff"] == {
        "id": gid("Staff", target.id), "firstName": target.first_name, "title": "Chief",
        "email": None,
    }


@pytest.mark.parametrize(
    "payload",
    [{}, {"Authorization": "Bearer nonsense"}, {"authorization": 42}],
    ids=["none", "bad-token", "not-a-string"],
)
async def test_connection_init_without_valid_credentials_is_closed_4403(live, payload):
    async with WsClient.open(live) as ws:
        await ws.send({"type": "connection_init", "payload": payload})
        assert await ws.closed() == 4403


async def test_a_token_of_another_realm_is_refused(services, live):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    async with WsClient.open(live) as ws:
        await ws.send({"type": "connection_init", "payload": {
            "Authorization": f"Bearer {tenant.owner.token}", "X-Auth-Realm": other.slug}})
        assert await ws.closed() == 4403


async def test_x_auth_token_is_accepted_like_over_http(services, live):
    tenant = await make_tenant(services)
    async with WsClient.open(live) as ws:
        ack = await ws.init(payload={"x-auth-token": tenant.owner.token})
        assert ack["type"] == "connection_ack"


async def test_events_of_another_account_never_arrive(api, services, live):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    target = await make_staff(services, other)
    mine = await make_staff(services, tenant)
    async with WsClient.open(live) as ws:
        await ws.init(tenant.owner)
        await ws.subscribe(STAFF_CHANGED)
        await asyncio.sleep(0.2)
        # a change of one's own arrives first: the subscription is live before the other's
        await api.data(STAFF_UPDATE, {"input": {"id": gid("Staff", mine.id), "title": "W"}},
                       as_=tenant.owner)
        assert (await ws.next())["data"]["staffChanged"]["staffId"] == gid("Staff", mine.id)
        await api.data(STAFF_UPDATE, {"input": {"id": gid("Staff", target.id), "title": "X"}},
                       as_=other.owner)
        await api.data(STAFF_UPDATE, {"input": {"id": gid("Staff", mine.id), "title": "Y"}},
                       as_=tenant.owner)
        change = (await ws.next())["data"]["staffChanged"]
        assert change["staffId"] == gid("Staff", mine.id)
        assert change["staff"]["title"] == "Y"
        assert await ws.drain(0.3) == []


async def test_a_disabled_members_socket_is_closed_4403(api, services, live):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    async with WsClient.open(live) as ws:
        await ws.init(editor)
        await ws.subscribe(STAFF_CHANGED)
        await asyncio.sleep(0.2)
        body = await api.data(STAFF_DISABLE, {"id": editor.staff_id}, as_=tenant.owner)
        assert body["staffDisable"]["userErrors"] == []
        assert await ws.closed() == 4403


async def test_access_is_checked_again_without_events(database_url):
    """A token ended meanwhile closes the socket at the next periodic check."""
    from app.services import Services
    from tests.factories import set_token_columns

    settings = make_settings(database_url, subscription_recheck_seconds=0.3)
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        tenant = await make_tenant(services)
        async with serving(app) as base, WsClient.open(base) as ws:
            await ws.init(tenant.owner)
            await ws.subscribe(STAFF_CHANGED)
            await asyncio.sleep(0.2)
            from app.db.base import utcnow

            await set_token_columns(services, tenant.owner.token, revoked_at=utcnow())
            assert await ws.closed(5) == 4403
    finally:
        await services.close()


async def test_queries_and_mutations_are_refused_over_the_socket(services, live):
    tenant = await make_tenant(services)
    async with WsClient.open(live) as ws:
        await ws.init(tenant.owner)
        op = await ws.subscribe("{ viewer { user { email } } }")
        message = await ws.receive()
        assert message["id"] == op
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
        assert "data" not in message["payload"] or message["payload"]["data"] is None


async def test_query_limits_apply_to_subscription_documents(services, live):
    tenant = await make_tenant(services)
    deep = "manager { " * 14 + "id" + " }" * 14
    aliases = " ".join(f"a{i}: eventId" for i in range(40))
    async with WsClient.open(live) as ws:
        await ws.init(tenant.owner)
        for document in (
            f"subscription {{ staffChanged {{ staff {{ {deep} }} }} }}",
            f"subscription {{ staffChanged {{ {aliases} }} }}",
        ):
            op = await ws.subscribe(document)
            message = await ws.receive()
            assert (message["id"], message["type"]) == (op, "error"), message
            assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_subscriptions_per_connection_are_capped(database_url):
    from app.services import Services

    settings = make_settings(database_url, subscriptions_per_connection=2)
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        tenant = await make_tenant(services)
        async with serving(app) as base, WsClient.open(base) as ws:
            await ws.init(tenant.owner)
            await ws.subscribe(STAFF_CHANGED)
            await ws.subscribe(STAFF_CHANGED)
            await asyncio.sleep(0.3)
            third = await ws.subscribe(STAFF_CHANGED)
            message = await ws.receive()
            assert message["id"] == third
            assert message["payload"]["errors"][0]["extensions"]["code"] == "LIMIT_REACHED"
    finally:
        await services.close()


async def test_subscriptions_per_account_are_capped(database_url):
    from app.services import Services

    settings = make_settings(database_url, subscriptions_per_account=1)
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        tenant = await make_tenant(services)
        other = await make_tenant(services)
        viewer = await make_member(services, tenant, Role.VIEWER)
        async with serving(app) as base, WsClient.open(base) as first, \
                WsClient.open(base) as second, WsClient.open(base) as third:
            await first.init(tenant.owner)
            await first.subscribe(STAFF_CHANGED)
            await asyncio.sleep(0.3)
            await second.init(viewer)
            op = await second.subscribe(STAFF_CHANGED)
            message = await second.receive()
            assert message["id"] == op
            assert message["payload"]["errors"][0]["extensions"]["code"] == "LIMIT_REACHED"
            await third.init(other.owner)  # another account has a cap of its own
            await third.subscribe(STAFF_CHANGED)
            assert await third.drain(0.3) == []
    finally:
        await services.close()


async def test_one_member_cannot_take_every_subscription_of_the_account(database_url):
    """Over all their sockets, a member holds at most subscriptions_per_member; the rest of
    the account's stay for the others."""
    from app.services import Services

    settings = make_settings(database_url, subscriptions_per_member=2)
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        tenant = await make_tenant(services)
        guest = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
        async with serving(app) as base, WsClient.open(base) as first, \
                WsClient.open(base) as second, WsClient.open(base) as other:
            await first.init(guest)
            await first.subscribe(STAFF_CHANGED)
            await second.init(guest)  # another socket of the same member
            await second.subscribe(STAFF_CHANGED)
            await asyncio.sleep(0.3)
            op = await second.subscribe(STAFF_CHANGED)
            message = await second.receive()
            assert message["id"] == op
            assert message["payload"]["errors"][0]["extensions"]["code"] == "LIMIT_REACHED"
            assert "as one member may" in message["payload"]["errors"][0]["message"]
            await other.init(tenant.owner)  # another member of the account still may
            await other.subscribe(STAFF_CHANGED)
            assert await other.drain(0.3) == []
        # the sockets closed, their subscriptions went with them
        async with serving(app) as base, WsClient.open(base) as again:
            await again.init(guest)
            await again.subscribe(STAFF_CHANGED)
            await again.subscribe(STAFF_CHANGED)
            assert await again.drain(0.3) == []
    finally:
        await services.close()


async def test_a_connection_that_does_not_initialise_is_closed_4408(database_url):
    from app.services import Services

    settings = make_settings(database_url, subscription_init_timeout_seconds=0.3)
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        async with serving(app) as base, WsClient.open(base) as ws:
            assert await ws.closed(5) == 4408
    finally:
        await services.close()


async def test_a_browser_on_another_origin_is_refused(services, live):
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        async with WsClient.open(live, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    host = live.removeprefix("http://")
    async with WsClient.open(live, origin=f"http://{host}") as ws:  # the server's own page
        tenant = await make_tenant(services)
        assert (await ws.init(tenant.owner))["type"] == "connection_ack"


async def test_allowed_origins_are_the_cors_origins(database_url):
    from app.services import Services

    settings = make_settings(database_url, cors_origins=["https://app.example"])
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        tenant = await make_tenant(services)
        async with serving(app) as base, WsClient.open(base, origin="https://app.example") as ws:
            assert (await ws.init(tenant.owner))["type"] == "connection_ack"
    finally:
        await services.close()


def test_changed_fields_hold_every_field_an_event_can_name():
    """The query limits count ``changedFields`` as at most ``_CHANGED_FIELDS`` items."""
    from app.custom_fields.fields import CUSTOM_FIELDS
    from app.graphql.limits import _CHANGED_FIELDS
    from app.staff.fields import STAFF

    assert len(list(STAFF)) + 3 <= _CHANGED_FIELDS  # and custom fields, shares, permits
    assert len(list(CUSTOM_FIELDS)) <= _CHANGED_FIELDS


NESTED = """subscription { staffChanged { kind staff {
  projects { project { members { staff { projects { project { members { staff { id } } } } } } } }
} } }"""


async def test_a_subscription_is_priced_again_for_each_event(api, services, live):
    """Priced at subscribe time in an empty account it costs nothing; once a project of
    200 members is there, each event would build 40,000 objects: the next event ends it
    with the cost limit's error instead (found in review)."""
    from tests.graphql.test_review_query_cost import _large_account

    tenant = await make_tenant(services, seats=500)
    target = await make_staff(services, tenant)
    async with WsClient.open(live) as ws:
        assert (await ws.init(tenant.owner))["type"] == "connection_ack"
        op = await ws.subscribe(NESTED)
        await asyncio.sleep(0.2)
        rename = {"input": {"id": gid("Staff", target.id), "title": "First"}}
        await api.data(STAFF_UPDATE, rename, as_=tenant.owner)
        first = await ws.next()
        assert first["data"]["staffChanged"]["kind"] == "UPDATED"

        await _large_account(services, tenant, staff=200, projects_count=1, each=1)
        rename["input"]["title"] = "Second"
        await api.data(STAFF_UPDATE, rename, as_=tenant.owner)
        message = await ws.receive()
        assert (message["id"], message["type"], message["payload"]["data"]) == (op, "next", None)
        [error] = message["payload"]["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "too large" in error["message"]
        assert await ws.drain(0.5) == [{"id": op, "type": "complete"}]  # it has ended


async def test_a_subscriber_that_falls_behind_is_told_it_lost_changes(database_url):
    """Past its backlog a subscription takes no more changes: it is sent those it holds, in
    order, then an error saying changes came after, and ends; before, it lost the oldest
    and went on with a gap it could not see."""
    from app.services import Services

    settings = make_settings(database_url, subscription_backlog=5)
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        tenant = await make_tenant(services)
        people = [{"firstName": f"New{i}", "lastName": "Hire", "kind": "employee"} for i in range(8)]
        async with serving(app) as base, WsClient.open(base) as ws:
            await ws.init(tenant.owner)
            op = await ws.subscribe("subscription { staffChanged { kind staff { firstName } } }")
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient(base_url=base) as client:
                done = await Api(client).data(
                    IMPORT, {"csv": to_csv(people), "apply": True}, as_=tenant.owner
                )  # eight changes in one commit
            assert done["staffImport"]["created"] == 8
            messages = await ws.drain(1.0)
        assert [m["id"] for m in messages] == [op] * len(messages)
        assert [m["type"] for m in messages] == ["next"] * 6 + ["complete"]
        sent = [m["payload"]["data"]["staffChanged"] for m in messages[:5]]
        assert sent == [{"kind": "CREATED", "staff": {"firstName": f"New{i}"}} for i in range(5)]
        told = messages[5]["payload"]
        assert told["data"] is None and len(told["errors"]) == 1
        # that changes were lost, not how many: some of them the subscriber may not see
        assert told["errors"][0]["extensions"] == {"code": "LIMIT_REACHED", "eventsLost": True}
        assert "more than 5 were waiting" in told["errors"][0]["message"]
    finally:
        await services.close()


async def test_guests_cannot_take_every_subscription_of_the_account(database_url):
    """The account's guests hold at most half of its subscriptions together: however many
    guests there are, the members keep the other half."""
    from app.services import Services

    settings = make_settings(database_url, subscriptions_per_account=4)
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        tenant = await make_tenant(services)
        guests = [await make_member(services, tenant, Role.GUEST, kind="CUSTOMER") for _ in range(2)]
        viewer = await make_member(services, tenant, Role.VIEWER)
        async with serving(app) as base, WsClient.open(base) as first, \
                WsClient.open(base) as second, WsClient.open(base) as members:
            await first.init(guests[0])
            await first.subscribe(STAFF_CHANGED)
            await first.subscribe(STAFF_CHANGED)
            await asyncio.sleep(0.3)
            assert await first.drain(0.3) == []
            await second.init(guests[1])  # another guest: the guests' half is taken
            op = await second.subscribe(STAFF_CHANGED)
            message = await second.receive()
            assert message["id"] == op
            assert message["payload"]["errors"][0]["extensions"]["code"] == "LIMIT_REACHED"
            assert "guests" in message["payload"]["errors"][0]["message"]
            await members.init(viewer)  # the members' half is still there
            await members.subscribe(STAFF_CHANGED)
            await members.subscribe(STAFF_CHANGED)
            assert await members.drain(0.3) == []
        async with serving(app) as base, WsClient.open(base) as again:
            await again.init(guests[1])  # the first guest's ended with their socket
            await again.subscribe(STAFF_CHANGED)
            assert await again.drain(0.3) == []
    finally:
        await services.close()


async def test_one_client_holds_a_bounded_number_of_websockets(database_url):
    """Sockets cost the server whether or not they subscribe: a client address holds at most
    websockets_per_client open; past it a handshake is refused until one closes, and the
    other clients' are not counted against it."""
    from websockets.exceptions import InvalidStatus

    from app.services import Services

    settings = make_settings(database_url, websockets_per_client=2)
    services = Services.from_settings(settings)
    try:
        app = create_app(settings, services=services)
        tenant = await make_tenant(services)
        async with serving(app) as base:
            async with WsClient.open(base) as first, WsClient.open(base):
                with pytest.raises(InvalidStatus) as refused:
                    async with WsClient.open(base):
                        pass
                assert refused.value.response.status_code == 403
                assert (await first.init(tenant.owner))["type"] == "connection_ack"
            # both closed: the client may open again
            async with WsClient.open(base) as again:
                assert (await again.init(tenant.owner))["type"] == "connection_ack"
        # counted per client address: a request through a trusted proxy for another client
        # is that client's
        proxied = make_settings(database_url, websockets_per_client=1,
                                trusted_proxies=["127.0.0.1"])  # fmt: skip
        app = create_app(proxied, services=services)
        async with serving(app) as base:
            url = base.replace("http://", "ws://") + "/graphql"
            from websockets.asyncio.client import connect

            def as_client(address: str):
                return connect(url, subprotocols=["graphql-transport-ws"],
                               additional_headers={"X-Forwarded-For": address})  # fmt: skip

            async with as_client("203.0.113.7"), as_client("198.51.100.9"):
                with pytest.raises(InvalidStatus):
                    async with as_client("203.0.113.7"):
                        pass
    finally:
        await services.close()


async def test_a_subscriber_whose_token_ended_is_closed_4403_not_priced(api, services, live):
    """A subscriber whose token ended is told so (4403) at the next event, even where the
    price of their document, with no account of theirs to size it by, would be over the
    limit: the sizes of the largest account on the server (found in review)."""
    from app.db.base import utcnow
    from tests.factories import set_token_columns
    from tests.graphql.test_review_query_cost import _large_account

    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    target = await make_staff(services, tenant)
    other = await make_tenant(services, seats=500)
    await _large_account(services, other, staff=200, projects_count=1, each=1)
    async with WsClient.open(live) as ws:
        assert (await ws.init(tenant.owner))["type"] == "connection_ack"
        await ws.subscribe(NESTED)
        await asyncio.sleep(0.2)
        await set_token_columns(services, tenant.owner.token, revoked_at=utcnow())
        rename = {"input": {"id": gid("Staff", target.id), "title": "Renamed"}}
        await api.data(STAFF_UPDATE, rename, as_=admin)
        assert await ws.closed(5) == 4403


async def test_an_api_key_used_only_over_the_websocket_shows_its_use(services, live):
    """Administrators prune keys by ``lastUsedAt``: a key that only subscribes is in use."""
    from sqlalchemy import select

    from app.access.scopes import Scope
    from app.identity.models import AuthToken
    from app.security.tokens import token_digest
    from tests.factories import make_api_token

    tenant = await make_tenant(services)
    key = await make_api_token(services, tenant, tenant.owner, scopes=[Scope.STAFF_READ])

    async def last_used():
        async with services.db.session() as session:
            return await session.scalar(
                select(AuthToken.last_used_at).where(AuthToken.digest == token_digest(key))
            )

    assert await last_used() is None
    async with WsClient.open(live) as ws:
        payload = {"Authorization": f"Bearer {key}", "X-Auth-Realm": tenant.owner.realm}
        assert (await ws.init(payload=payload))["type"] == "connection_ack"
        await ws.subscribe(STAFF_CHANGED)
        for _ in range(100):
            if await last_used() is not None:
                break
            await asyncio.sleep(0.05)
    assert await last_used() is not None
