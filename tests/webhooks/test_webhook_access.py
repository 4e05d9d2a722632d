"""Who may manage webhooks, and what a delivery tells whom: endpoints and deliveries need
what the audit log needs (ManageAccount, ViewStaff, ViewRestrictedStaff), and the names of
personal fields in a stored delivery are told only to an endpoint that includes personal
data now, and shown only to readers who hold ViewPersonalData."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import delete, select

from app.access import Role
from app.access.scopes import Scope
from app.events.models import Event
from app.webhooks.models import WebhookEndpoint
from tests.factories import error_codes, gid, make_api_token, make_member, make_staff, make_tenant
from tests.webhooks.receiver import receiving
from tests.webhooks.test_webhooks import (
    OPERATIONS,
    REPLAY,
    ROTATE,
    STAFF_UPDATE,
    UPDATE,
    create,
    deliver_all,
    deliveries,
    may_do_every_operation,
    run_operation,
    settings,  # noqa: F401  (the fixture: webhooks sent by the test, to a local receiver)
    setup_endpoint,
)


async def key_of(services, tenant, scopes):
    """An administrator's API key with ``scopes``, as a Member the helpers can send as."""
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    token = await make_api_token(services, tenant, admin, scopes=scopes)
    return dataclasses.replace(admin, token=token)


# --- who may -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scopes",
    [[Scope.ADMIN], [Scope.ADMIN, Scope.PERSONAL_DATA], [Scope.STAFF_READ, Scope.PERSONAL_DATA]],
    ids=["admin", "admin+personal_data", "staff:read+personal_data"],
)
async def test_a_key_that_cannot_read_every_record_is_refused_every_operation(
    api, services, scopes
):
    """A key with ``admin`` but not ``staff:read`` reads the directory like a guest (and
    may not read the audit log): it may neither set up an endpoint, which would tell it of
    changes to records it cannot read, nor list, replay or manage any."""
    tenant = await make_tenant(services)
    endpoint, delivery = await setup_endpoint(api, tenant)
    key = await key_of(services, tenant, scopes)
    for name in OPERATIONS:
        body = await run_operation(api, key, name, endpoint, delivery)
        assert error_codes(body) == ["FORBIDDEN"], (scopes, name, body)
    async with services.db.session() as session:
        assert len(list(await session.scalars(select(WebhookEndpoint)))) == 1


async def test_a_key_with_admin_and_staff_read_may_do_every_operation(api, services):
    tenant = await make_tenant(services)
    key = await key_of(services, tenant, [Scope.ADMIN, Scope.STAFF_READ])
    await may_do_every_operation(api, tenant, key)


# --- personal field names in stored deliveries ----------------------------------------------


async def test_a_repointed_endpoint_is_not_sent_stored_personal_field_names(api, services):
    """An endpoint set up by a holder of ViewPersonalData, re-pointed by a key without it,
    no longer includes personal data: deliveries already queued for it are told without
    the names of personal fields, one that names nothing else is not sent at all, and it
    cannot be replayed; the key's delivery log hides the names too, and a delivery of
    personal fields alone altogether (it would tell when, and whose, they changed)."""
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    staff_id = gid("Staff", staff.id)
    key = await key_of(services, tenant, [Scope.ADMIN, Scope.STAFF_READ])
    async with receiving() as receiver:
        made = await create(
            api, tenant.owner, "https://93.184.215.14/hr", eventTypes=["staff.updated"]
        )
        assert made["webhookEndpoint"]["includesPersonalData"] is True
        endpoint = made["webhookEndpoint"]["id"]
        receiver.secrets.append(made["secret"])
        for change in ({"ssn": "987-65-4321"}, {"ssn": "987-65-4322", "title": "Boss"}):
            body = await api.data(
                STAFF_UPDATE, {"input": {"id": staff_id, **change}}, as_=tenant.owner
            )
            assert body["staffUpdate"]["userErrors"] == []
        # the owner's log names them (as the endpoint was set up to be told)
        logged = await deliveries(api, tenant.owner, endpoint)
        assert [sorted(d["payload"]["data"]["fields"]) for d in logged] == [
            ["ssn", "title"],
            ["ssn"],
        ]

        body = await api.data(
            UPDATE.replace("description }", "description includesPersonalData }"),
            {"input": {"id": endpoint, "url": receiver.url}},
            as_=key,
        )
        updated = body["webhookEndpointUpdate"]
        assert updated["userErrors"] == []
        assert updated["webhookEndpoint"]["includesPersonalData"] is False

        shown = await deliveries(api, key, endpoint)
        assert [d["payload"]["data"]["fields"] for d in shown] == [["title"]]
        assert "ssn" not in str(shown)
        # node() shows a delivery as the list does
        node = "query($id: ID!) { node(id: $id) { ... on WebhookDelivery { payload } } }"
        for delivery in shown:
            found = (await api.data(node, {"id": delivery["id"]}, as_=key))["node"]
            assert found == {"payload": delivery["payload"]}
        only_ssn = logged[1]
        assert (await api.data(node, {"id": only_ssn["id"]}, as_=key))["node"] is None
        counted = "query($e: ID) { webhookDeliveries(endpointId: $e) { totalCount } }"
        for member, count in ((key, 1), (tenant.owner, 2)):
            data = await api.data(counted, {"e": endpoint}, as_=member)
            assert data["webhookDeliveries"]["totalCount"] == count

        await deliver_all(services)
        assert [p["data"]["fields"] for p in receiver.payloads] == [["title"]]
        after = {d["id"]: d for d in await deliveries(api, tenant.owner, endpoint)}
        assert after[only_ssn["id"]]["status"] == "FAILED"
        assert after[only_ssn["id"]]["attempts"][0]["statusCode"] is None

        body = await api.data(REPLAY, {"id": only_ssn["id"]}, as_=key)
        assert error_codes_of(body["webhookDeliveryReplay"]) == ["NOT_FOUND"]
        body = await api.data(REPLAY, {"id": only_ssn["id"]}, as_=tenant.owner)
        assert error_codes_of(body["webhookDeliveryReplay"]) == ["INVALID_STATE"]
        body = await api.data(REPLAY, {"id": shown[0]["id"]}, as_=key)
        assert body["webhookDeliveryReplay"]["userErrors"] == []
        await deliver_all(services)
        assert [p["data"]["fields"] for p in receiver.payloads] == [["title"], ["title"]]
        assert "987-65" not in b"".join(r.body for r in receiver.received).decode()


async def test_replay_refilters_a_stored_payload_whose_event_was_pruned(api, services):
    """Without its event (pruned), a stored payload is judged by its names alone: a name
    that may be personal (``customFields`` may be a personal custom field's values) is
    withheld from an endpoint without personal data."""
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url, eventTypes=["staff.updated"])
        receiver.secrets.append(made["secret"])
        await api.data(
            STAFF_UPDATE,
            {"input": {"id": gid("Staff", staff.id), "phoneCell": "+1 555 0100", "title": "T"}},
            as_=tenant.owner,
        )
        async with services.db.session(write=True) as session:
            await session.execute(delete(Event))
            await session.execute(
                WebhookEndpoint.__table__.update().values(personal_data=False)
            )
            await session.commit()
        await deliver_all(services)
        assert [sorted(p["data"]["fields"]) for p in receiver.payloads] == [["title"]]


def test_told_payload_names_only_what_the_endpoint_may_be_told():
    from app.db.base import utcnow
    from app.webhooks.service import payload_of, told_payload

    def event(*names: str) -> Event:
        return Event(uid="evt_" + "0" * 32, account_id=1, type="staff.updated",
                     subject_type="Staff", subject_id=1, data={"fields": list(names)},
                     occurred_at=utcnow())

    both = event("title", "ssn", "custom_fields")
    stored = payload_of(both, True)
    assert stored is not None and stored["data"]["fields"] == ["title", "ssn", "customFields"]
    assert told_payload(stored, True) == stored
    told = told_payload(stored, False, both)
    assert told is not None and told["data"]["fields"] == ["title", "customFields"]
    assert stored["data"]["fields"] == ["title", "ssn", "customFields"]  # not changed
    told = told_payload(stored, False)  # the event pruned: by names alone
    assert told is not None and told["data"]["fields"] == ["title"]
    hidden = event("ssn", "personal_custom_fields")
    stored = payload_of(hidden, True)
    assert stored is not None and stored["data"]["fields"] == ["ssn", "customFields"]
    assert told_payload(stored, False, hidden) is None
    assert told_payload(stored, False) is None
    ping = {"type": "webhook.ping", "timestamp": "t", "data": {"endpointId": "x"}}
    assert told_payload(ping, False) == ping


# --- secret rotation ------------------------------------------------------------------------


async def test_rotating_twice_within_the_overlap_keeps_only_the_latest_previous_secret(
    api, services
):
    """One previous secret is kept: rotating again within the overlap drops the first at
    once (README, Webhooks)."""
    tenant = await make_tenant(services)
    async with receiving() as receiver:
        made = await create(api, tenant.owner, receiver.url)
        endpoint = made["webhookEndpoint"]["id"]
        first = made["secret"]
        second = (await api.data(ROTATE, {"id": endpoint}, as_=tenant.owner))[
            "webhookEndpointSecretRotate"
        ]["secret"]
        third = (await api.data(ROTATE, {"id": endpoint}, as_=tenant.owner))[
            "webhookEndpointSecretRotate"
        ]["secret"]
        receiver.secrets += [first, second, third]
        from tests.webhooks.test_webhooks import PING

        await api.data(PING, {"id": endpoint}, as_=tenant.owner)
        await deliver_all(services)
        assert receiver.received[-1].verified_with == [second, third]


def error_codes_of(payload: dict) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]
