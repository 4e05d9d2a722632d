"""Review fixes of endpoints as administrators and receivers see them: a URL's look-up is
cut off and refused in time (one per operation, counted against the account's limit, and
resolved with no transaction held); an endpoint set up through an API key stops
receiving once that key is revoked or runs out; personal data follows whoever changed the
endpoint last, both ways; and a delivery's log reads only the attempts it shows."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select

from app.access import Role
from app.access.scopes import Scope
from app.db.base import utcnow
from app.security.rate_limits import Limit
from app.webhooks import urls
from app.webhooks.delivery import UNVOUCHED
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.service import MAX_ATTEMPTS_SHOWN
from tests.factories import (
    error_codes,
    gid,
    make_member,
    make_staff,
    make_tenant,
    set_token_columns,
)
from tests.webhooks.receiver import receiving
from tests.webhooks.test_webhook_access import key_of
from tests.webhooks.test_webhooks import (
    CREATE,
    ENDPOINT_PERSONAL,
    PING,
    STAFF_UPDATE,
    UPDATE,
    create,
    deliver_all,
    deliveries,
    settings,  # noqa: F401  (the fixture: webhooks sent by the test, to a local receiver)
    settled,
)

SLOW_HOST = "hooks.slow.example"
PUBLIC = "93.184.215.14"


def slow_dns(monkeypatch, request, answer_after: float | None) -> asyncio.Event:
    """The system's resolver, as a DNS server that answers ``SLOW_HOST`` only after
    ``answer_after`` seconds (None: not before the test ends) stands in for; other names
    as before. The event is set when the look-up of ``SLOW_HOST`` begins (in a look-up
    thread: ``urls.LOOKUP_THREADS``)."""
    loop = asyncio.get_running_loop()
    original = socket.getaddrinfo
    asked = asyncio.Event()
    ended = threading.Event()
    request.addfinalizer(ended.set)  # a look-up never answered ends with the test

    def getaddrinfo(host, *args, **kwargs):
        if host != SLOW_HOST:
            return original(host, *args, **kwargs)
        loop.call_soon_threadsafe(asked.set)
        ended.wait(answer_after)
        return [(2, 1, 6, "", (PUBLIC, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


async def endpoint_rows(services) -> list[WebhookEndpoint]:
    async with services.db.session() as session:
        return list(await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


# --- 1. a URL's look-up ----------------------------------------------------------------------


@pytest.mark.parametrize("mutation", ["create", "update"])
async def test_a_look_up_that_never_answers_is_refused_in_time_and_changes_nothing(
    api, services, monkeypatch, request, mutation
):
    """A URL whose DNS server never answers held the request's write transaction (on
    SQLite every account's writes) until the request's own time limit: it is refused as
    an unsafe URL once ``LOOKUP_SECONDS`` have passed, and nothing is written."""
    tenant = await make_tenant(services)
    made = await create(api, tenant.owner, f"https://{PUBLIC}/before")
    before = [(e.id, e.url) for e in await endpoint_rows(services)]
    slow_dns(monkeypatch, request, answer_after=None)
    url = f"https://{SLOW_HOST}/in"
    if mutation == "create":
        document, variables = CREATE, {"input": {"url": url}}
    else:
        document, variables = UPDATE, {"input": {"id": made["webhookEndpoint"]["id"], "url": url}}
    started = time.monotonic()
    body = await asyncio.wait_for(
        api.data(document, variables, as_=tenant.owner), urls.LOOKUP_SECONDS + 3
    )
    took = time.monotonic() - started
    payload = next(iter(body.values()))
    errors = [(e["code"], e["field"]) for e in payload["userErrors"]]
    assert errors == [("INVALID", ["input", "url"])]
    if mutation == "create":
        assert "did not resolve within" in payload["userErrors"][0]["message"]
    assert urls.LOOKUP_SECONDS - 0.1 <= took < urls.LOOKUP_SECONDS + 1.5
    assert [(e.id, e.url) for e in await endpoint_rows(services)] == before


PROJECT_CREATE = (
    'mutation { projectCreate(input: {name: "Meanwhile"}) { userErrors { code } } }'
)


@pytest.mark.parametrize("mutation", ["create", "update"])
async def test_a_slow_look_up_holds_up_no_other_write(api, services, monkeypatch, request, mutation):
    """A URL is resolved before its request writes anything: while a DNS server is slow
    to answer, the account's other writes that lock it (a project created), another
    endpoint's URL (the same rate-limit row, on PostgreSQL) and another account's writes
    (on SQLite, the one writer lock) go on."""
    tenant, other = await make_tenant(services), await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    made = await create(api, admin, f"https://{PUBLIC}/before")
    asked = slow_dns(monkeypatch, request, answer_after=2.5)
    url = f"https://{SLOW_HOST}/in"
    if mutation == "create":
        document, variables = CREATE, {"input": {"url": url}}
    else:
        document, variables = UPDATE, {"input": {"id": made["webhookEndpoint"]["id"], "url": url}}
    slow = asyncio.create_task(api.data(document, variables, as_=admin))
    await asyncio.wait_for(asked.wait(), 10)
    meanwhile = [
        api.data(PROJECT_CREATE, as_=tenant.owner),
        api.data(CREATE, {"input": {"url": f"https://{PUBLIC}/meanwhile"}}, as_=tenant.owner),
        api.data(PROJECT_CREATE, as_=other.owner),
    ]
    for done in await asyncio.wait_for(asyncio.gather(*meanwhile), 10):
        [payload] = done.values()
        assert payload["userErrors"] == [], done
    assert not slow.done(), "the other writes waited for the look-up"
    [payload] = (await slow).values()
    assert payload["userErrors"] == [] and payload["webhookEndpoint"]["url"] == url


SECOND = (
    "b: webhookEndpointUpdate(input: {id: $id, description: \"two\"}) { userErrors { code } }"
)
SLOW_PAIRS = {
    "two updates": f"a: webhookEndpointUpdate(input: {{id: $id, description: \"one\"}}) "
    f"{{ userErrors {{ code }} }} {SECOND}",
    "a create and an update": 'a: webhookEndpointCreate(input: {url: "https://93.184.215.14/2"}) '
    f"{{ userErrors {{ code }} }} {SECOND}",
    "an update and a login": 'a: login(input: {email: "x@example.com", password: "xxxxxxxxxxxx"}) '
    f"{{ token }} {SECOND}",
}


@pytest.mark.parametrize("pair", sorted(SLOW_PAIRS))
async def test_one_url_resolving_field_per_operation(api, services, pair):
    """Thirty aliased webhookEndpointUpdate fields chained thirty look-ups in one write
    transaction: like fields that check a password, an operation holds one of them; more
    are refused before anything runs."""
    tenant = await make_tenant(services)
    made = await create(api, tenant.owner, f"https://{PUBLIC}/1", description="zero")
    endpoint = made["webhookEndpoint"]["id"]
    document = f"mutation($id: ID!) {{ {SLOW_PAIRS[pair]} }}"
    body = await api(document, {"id": endpoint}, as_=tenant.owner)
    assert body.get("data") is None, body
    assert set(error_codes(body)) == {"BAD_USER_INPUT"}, body
    assert all("send them as separate requests" in e["message"] for e in body["errors"])
    [row] = await endpoint_rows(services)
    assert row.description == "zero"
    # one of them beside other fields runs
    ping = "c: webhookEndpointPing(input: {id: $id}) { userErrors { code } }"
    one = f"mutation($id: ID!) {{ {SECOND} {ping} }}"
    data = await api.data(one, {"id": endpoint}, as_=tenant.owner)
    assert data == {"b": {"userErrors": []}, "c": {"userErrors": []}}


async def test_endpoint_urls_resolved_are_rate_limited_per_account(api, services):
    """Each URL is resolved inside a write transaction: endpoints created or given a new
    URL count against a per-account limit of their own. Other changes do not count: an
    administrator past the limit, or past the pings' and replays' limit, still disables
    or mends an endpoint."""
    services.limiter.limits["webhook_urls_account"] = Limit(3, timedelta(hours=1))
    services.limiter.limits["webhook_sends_account"] = Limit(1, timedelta(hours=1))
    tenant, other = await make_tenant(services), await make_tenant(services)
    made = await create(api, tenant.owner, f"https://{PUBLIC}/1")
    endpoint = made["webhookEndpoint"]["id"]
    for n in range(2):
        variables = {"input": {"id": endpoint, "url": f"https://{PUBLIC}/moved{n}"}}
        body = await api.data(UPDATE, variables, as_=tenant.owner)
        assert body["webhookEndpointUpdate"]["userErrors"] == []
    for document, variables in (
        (UPDATE, {"input": {"id": endpoint, "url": f"https://{PUBLIC}/over"}}),
        (CREATE, {"input": {"url": f"https://{PUBLIC}/2"}}),
    ):
        refused = await api(document, variables, as_=tenant.owner)
        assert error_codes(refused) == ["RATE_LIMITED"], refused
    for _ in range(2):  # the pings' limit used up too
        await api(PING_ONE, {"id": endpoint}, as_=tenant.owner)
    mended = await api.data(
        UPDATE, {"input": {"id": endpoint, "enabled": False, "description": "off"}},
        as_=tenant.owner,
    )  # fmt: skip
    assert mended["webhookEndpointUpdate"]["userErrors"] == []
    [row] = [e for e in await endpoint_rows(services) if e.account_id == tenant.account_id]
    assert (row.url, row.enabled, row.description) == (f"https://{PUBLIC}/moved1", False, "off")
    # another account's are its own
    await create(api, other.owner, f"https://{PUBLIC}/theirs")


async def test_who_may_not_manage_webhooks_uses_up_no_allowance(api, services):
    """The limits count only who may manage webhooks: a viewer's refused tries used up
    the administrators' allowance for the hour."""
    services.limiter.limits["webhook_urls_account"] = Limit(2, timedelta(hours=1))
    services.limiter.limits["webhook_sends_account"] = Limit(2, timedelta(hours=1))
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    made = await create(api, tenant.owner, f"https://{PUBLIC}/1")
    endpoint = made["webhookEndpoint"]["id"]
    for _ in range(3):
        refused = await api(CREATE, {"input": {"url": f"https://{PUBLIC}/x"}}, as_=viewer)
        assert error_codes(refused) == ["FORBIDDEN"], refused
        refused = await api(PING_ONE, {"id": endpoint}, as_=viewer)
        assert error_codes(refused) == ["FORBIDDEN"], refused
    again = await api.data(CREATE, {"input": {"url": f"https://{PUBLIC}/2"}}, as_=tenant.owner)
    assert again["webhookEndpointCreate"]["userErrors"] == []
    pinged = await api.data(PING_ONE, {"id": endpoint}, as_=tenant.owner)
    assert pinged["webhookEndpointPing"]["userErrors"] == []


PING_ONE = "mutation($id: ID!) { webhookEndpointPing(input: {id: $id}) { userErrors { code } } }"


# --- 2. an endpoint set up through an API key --------------------------------------------------

KEY_CREATE = """mutation($scopes: [ApiScope!]) {
  apiTokenCreate(input: {name: "crm", scopes: $scopes}) {
    token apiToken { id } userErrors { code }
  }
}"""
KEY_REVOKE = """mutation($id: ID!) {
  apiTokenRevoke(input: {id: $id}) { userErrors { code } }
}"""


@pytest.mark.parametrize("ending", ["revoked", "expired"])
async def test_an_endpoint_set_up_through_a_key_stops_receiving_once_the_key_ends(
    api, services, ending
):
    """A credential never outlives-by-proxy another: an endpoint a key set up receives
    the account's changes while the key lives. Once it is revoked or has run out, a
    delivery already queued is not sent (it fails at once, saying why), nothing new is
    queued, and the endpoint says so, until an administrator's session changes it and so
    vouches for it."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    made_key = (
        await api.data(KEY_CREATE, {"scopes": ["ADMIN", "STAFF_READ"]}, as_=admin)
    )["apiTokenCreate"]
    key = made_key["token"]
    title = iter(f"Title {n}" for n in range(10))

    async def change_someone():
        update_ = {"id": tenant.owner.staff_id, "title": next(title)}
        body = await api.data(STAFF_UPDATE, {"input": update_}, as_=tenant.owner)
        assert body["staffUpdate"]["userErrors"] == []

    async with receiving() as receiver:
        body = await api.data(
            CREATE,
            {"input": {"url": receiver.url, "eventTypes": ["staff.updated"]}},
            token=key,
            realm=tenant.slug,
        )
        made = body["webhookEndpointCreate"]
        assert made["userErrors"] == []
        endpoint = made["webhookEndpoint"]["id"]
        receiver.secrets.append(made["secret"])
        await change_someone()
        await deliver_all(services)
        assert len(receiver.payloads) == 1

        await change_someone()  # queued while the key lives, sent after it ended
        if ending == "revoked":
            revoked = await api.data(KEY_REVOKE, {"id": made_key["apiToken"]["id"]}, as_=admin)
            assert revoked["apiTokenRevoke"]["userErrors"] == []
        else:
            await set_token_columns(services, key, expires_at=utcnow() - timedelta(seconds=1))
        shown = await api.data(ENDPOINT_PERSONAL, {"id": endpoint}, as_=tenant.owner)
        assert shown["node"]["receivesEvents"] is False
        await deliver_all(services)
        assert len(receiver.payloads) == 1
        [queued, sent] = await deliveries(api, tenant.owner, endpoint)
        assert sent["status"] == "DELIVERED" and queued["status"] == "FAILED"
        assert [a["error"] for a in queued["attempts"]] == [UNVOUCHED]
        await change_someone()
        assert len(await deliveries(api, tenant.owner, endpoint)) == 2  # nothing new queued

        changed = await api.data(
            UPDATE, {"input": {"id": endpoint, "description": "ours now"}}, as_=tenant.owner
        )
        assert changed["webhookEndpointUpdate"]["userErrors"] == []
        shown = await api.data(ENDPOINT_PERSONAL, {"id": endpoint}, as_=tenant.owner)
        assert shown["node"]["receivesEvents"] is True
        await change_someone()
        await deliver_all(services)
        assert len(receiver.payloads) == 2


async def test_an_endpoint_set_up_through_a_session_outlives_the_sessions_end(api, services):
    """Made through a signed-in session, the member alone vouches for it (as before): it
    keeps receiving after that session ends."""
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    made = await create(api, admin, f"https://{PUBLIC}/x")
    await set_token_columns(services, admin.token, revoked_at=utcnow())
    shown = await api.data(
        ENDPOINT_PERSONAL, {"id": made["webhookEndpoint"]["id"]}, as_=tenant.owner
    )
    assert shown["node"] == {"includesPersonalData": True, "receivesEvents": True}


# --- 4. personal data follows the last change, both ways -----------------------------------


async def test_personal_data_follows_whoever_changed_the_endpoint_last(api, services):
    """Changed by a key without ViewPersonalData, an endpoint is no longer told personal
    fields' names; changed again by a holder, it is told them again (it was off for
    good)."""
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    key = await key_of(services, tenant, [Scope.ADMIN, Scope.STAFF_READ])
    personal = UPDATE.replace("description }", "description includesPersonalData }")
    phone = iter(f"+1 555 010{n}" for n in range(10))

    async def change_phone_and_title():
        number = next(phone)
        update_ = {"id": gid("Staff", staff.id), "title": number[-4:], "phoneCell": number}
        body = await api.data(STAFF_UPDATE, {"input": update_}, as_=tenant.owner)
        assert body["staffUpdate"]["userErrors"] == []

    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url, eventTypes=["staff.updated"])
        endpoint = made["webhookEndpoint"]["id"]
        receiver.secrets.append(made["secret"])
        assert made["webhookEndpoint"]["includesPersonalData"] is True
        told = []
        for who, expected in ((key, False), (tenant.owner, True)):
            variables = {"input": {"id": endpoint, "description": "d"}}
            changed = (await api.data(personal, variables, as_=who))["webhookEndpointUpdate"]
            assert changed["userErrors"] == []
            assert changed["webhookEndpoint"]["includesPersonalData"] is expected
            shown = await api.data(ENDPOINT_PERSONAL, {"id": endpoint}, as_=tenant.owner)
            assert shown["node"]["includesPersonalData"] is expected
            await change_phone_and_title()
            await deliver_all(services)
            told.append(sorted(receiver.payloads[-1]["data"].get("fields", [])))
        # the first change's title alone, then with the phone again
        assert told == [["title"], ["phoneCell", "title"]]


# --- 3. a delivery's attempts --------------------------------------------------------------


async def test_a_delivery_lists_its_latest_attempts_and_reads_no_more(api, services):
    """A delivery retried for a day holds hundreds of attempts, of which the log shows the
    last ``MAX_ATTEMPTS_SHOWN``, oldest first: those are all that is read, per delivery,
    in the list and by node()."""
    tenant = await make_tenant(services)
    made = await create(api, tenant.owner, f"https://{PUBLIC}/x")
    endpoint = made["webhookEndpoint"]["id"]
    for _ in range(2):
        ping = await api.data(PING, {"id": endpoint}, as_=tenant.owner)
        assert ping["webhookEndpointPing"]["userErrors"] == []
    async with services.db.session(write=True) as session:
        many, few = sorted(
            await session.scalars(
                select(WebhookDelivery.id).where(WebhookDelivery.account_id == tenant.account_id)
            )
        )
        total = MAX_ATTEMPTS_SHOWN + 12
        rows = [
            {"account_id": tenant.account_id, "delivery_id": many, "duration_ms": n,
             "started_at": utcnow(), "ok": False, "status_code": 500}
            for n in range(total)
        ] + [
            {"account_id": tenant.account_id, "delivery_id": few, "duration_ms": n,
             "started_at": utcnow(), "ok": False, "status_code": 503}
            for n in range(3)
        ]  # fmt: skip
        await session.execute(insert(WebhookAttempt), rows)
        await session.commit()

    loaded = []

    def count(target, context) -> None:
        loaded.append(target.delivery_id)

    event.listen(WebhookAttempt, "load", count)
    try:
        listed = {d["id"]: d for d in await deliveries(api, tenant.owner, endpoint)}
        read_by_list = list(loaded)
        loaded.clear()
        node = """query($id: ID!) { node(id: $id) { ... on WebhookDelivery {
          attempts { durationMs statusCode } } } }"""
        found = await api.data(node, {"id": gid("WebhookDelivery", many)}, as_=tenant.owner)
        read_by_node = list(loaded)
    finally:
        event.remove(WebhookAttempt, "load", count)
    newest = list(range(total - MAX_ATTEMPTS_SHOWN, total))
    shown = listed[gid("WebhookDelivery", many)]["attempts"]
    assert [a["durationMs"] for a in shown] == newest
    assert [a["durationMs"] for a in listed[gid("WebhookDelivery", few)]["attempts"]] == [0, 1, 2]
    assert [a["durationMs"] for a in found["node"]["attempts"]] == newest
    assert sorted(read_by_list) == sorted([many] * MAX_ATTEMPTS_SHOWN + [few] * 3)
    assert read_by_node == [many] * MAX_ATTEMPTS_SHOWN


# --- 5. fairness between receivers ---------------------------------------------------------


async def test_one_receivers_backlog_does_not_hold_up_other_endpoints(api, services):
    """A pass claimed the oldest due deliveries of the whole server: a receiver with a
    backlog (slow, or back from being down) filled every pass, and another account's
    endpoint waited until it was worked off. Endpoints now take turns: the other one's
    delivery goes out in the first pass, while the slow one still answers; and a pass
    sends no more than its batch at once (on PostgreSQL a claim leased every due one)."""
    tenant, other = await make_tenant(services), await make_tenant(services)
    backlog = services.webhooks.batch + 5
    async with receiving() as slow, receiving() as prompt:
        behind = (await create(api, tenant.owner, slow.url))["webhookEndpoint"]["id"]
        made = await create(api, other.owner, prompt.url)
        prompt.secrets.append(made["secret"])
        for _ in range(backlog):  # older than the other account's
            await api.data(PING, {"id": behind}, as_=tenant.owner)
        await api.data(PING, {"id": made["webhookEndpoint"]["id"]}, as_=other.owner)
        slow.hold = asyncio.Event()  # it answers once the test lets it
        passing = asyncio.create_task(services.webhooks.run_once())
        try:
            await asyncio.wait_for(prompt.arrived.wait(), 30)  # generous: a loaded machine
            for _ in range(600):  # the slow one's requests of this pass, arriving together
                await asyncio.sleep(0.05)
                if len(slow.received) >= services.webhooks.batch - 1:
                    break
            await asyncio.sleep(0.2)
            assert len(slow.received) == services.webhooks.batch - 1
        finally:
            slow.hold.set()
            await passing
        await deliver_all(services)
        assert [p["type"] for p in prompt.payloads] == ["webhook.ping"]
        assert len(slow.received) == backlog


async def test_look_ups_that_never_answer_leave_the_default_threads_free(
    api, services, monkeypatch, request
):
    """A look-up cut off goes on in its thread until the system's resolver gives up: run
    on the event loop's default threads, a few of them held every thread that database
    connections and email relays resolve their hosts on. They run on threads of their
    own (``urls.LOOKUP_THREADS``)."""
    tenant = await make_tenant(services)
    slow_dns(monkeypatch, request, answer_after=None)
    threads: list[str] = []
    stand_in = socket.getaddrinfo

    def noted(host, *args, **kwargs):
        if host == SLOW_HOST:
            threads.append(threading.current_thread().name)
        return stand_in(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", noted)
    bodies = await asyncio.gather(
        *(
            api.data(CREATE, {"input": {"url": f"https://{SLOW_HOST}/{i}"}}, as_=tenant.owner)
            for i in range(2)
        )
    )
    for body in bodies:
        assert [e["code"] for e in body["webhookEndpointCreate"]["userErrors"]] == ["INVALID"]
    assert len(threads) == 2
    assert all(name.startswith("roster-webhook-dns") for name in threads), threads


async def test_a_look_up_that_finds_no_free_thread_blames_no_host(monkeypatch, request):
    """Look-ups of a host whose name server never answers hold every look-up thread: one
    of another host that waits its whole time for a thread is refused as Roster's being
    busy (to be tried again), not as that host's name server failing to answer."""
    from app.webhooks.errors import LookupsBusy, LookupTimedOut

    slow_dns(monkeypatch, request, answer_after=None)
    stuck = [
        asyncio.create_task(urls.resolve(SLOW_HOST)) for _ in range(urls.LOOKUP_THREADS)
    ]
    await asyncio.sleep(0.1)  # they hold every thread
    with pytest.raises(LookupsBusy):
        await urls.resolve("elsewhere.example")
    for task in stuck:
        with pytest.raises(LookupTimedOut) as refused:
            await task
        assert not isinstance(refused.value, LookupsBusy)


async def test_a_delivery_roster_could_not_look_up_is_put_off_and_never_fails_its_endpoint(
    api, services, monkeypatch
):
    """Roster's look-up threads all busy (``LookupsBusy``) is Roster's doing, not the
    receiver's: the delivery sent nothing, so it is tried again later without counting as
    an attempt, even past the retry window; it neither fails nor disables its endpoint,
    not even at its first real failure then, and once a thread is free it is delivered."""
    from app.webhooks.errors import LookupsBusy

    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        receiver.secrets.append(made["secret"])
        endpoint = made["webhookEndpoint"]["id"]
        checked = urls.check

        async def busy(url, **kwargs):
            raise LookupsBusy(urls.LOOKUP_SECONDS)

        monkeypatch.setattr(urls, "check", busy)
        services.webhooks.retry_window = timedelta(milliseconds=300)
        await api.data(PING, {"id": endpoint}, as_=tenant.owner)
        put_off = 0
        ends = time.monotonic() + 1.0  # well past the retry window
        while time.monotonic() < ends:
            put_off += await services.webhooks.run_once()
            await asyncio.sleep(0.02)
        assert put_off >= 3  # claimed again and again
        [delivery] = await deliveries(api, tenant.owner, endpoint)
        assert delivery["status"] == "PENDING"
        assert delivery["attemptCount"] == 0 and delivery["attempts"] == []
        [row] = await endpoint_rows(services)
        assert row.enabled and row.disabled_reason is None
        assert receiver.received == []

        # its first real try, past the window, fails: not the delivery, nor its endpoint
        monkeypatch.setattr(urls, "check", checked)
        receiver.status = 503
        await services.webhooks.run_once()
        [delivery] = await deliveries(api, tenant.owner, endpoint)
        assert delivery["status"] == "PENDING" and delivery["attemptCount"] == 1
        [row] = await endpoint_rows(services)
        assert row.enabled
        receiver.status = 200
        delivery = await settled(api, services, tenant.owner, endpoint)
        assert delivery["status"] == "DELIVERED" and delivery["attemptCount"] == 2
        assert [p["type"] for p in receiver.payloads] == ["webhook.ping"] * 2  # 503, then 200
