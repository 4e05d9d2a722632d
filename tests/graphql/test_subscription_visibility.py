"""What each subscriber receives: every role x event x field.

One connection per role follows staff, invitations and custom fields while the owner
changes things. Every record a subscriber receives is compared with what the same
subscriber's ``node`` query answers over HTTP (the same fields, hidden ones null), and the
table below says which events reach which role and which changed fields they are told of.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import (
    ROLE_KEYS,
    gid,
    make_custom_field,
    make_staff,
    make_tenant,
    member_as,
    set_staff_secrets,
    share_staff_with,
)
from tests.graphql.test_subscriptions import serving
from tests.graphql.ws import WsClient

STAFF_FIELDS = (
    "id email ssn salary capacity notes viewerCanSeePersonalData customFields { field { name } value }"
)
SUBSCRIPTIONS = {
    "staff": "subscription { staffChanged { kind staffId changedFields staff { "
    + STAFF_FIELDS
    + " } } }",
    "invitation": "subscription { invitationChanged { kind invitationId invitation "
    "{ id email role status } } }",
    "field": "subscription { customFieldChanged { kind customFieldId changedFields "
    "customField { id name personal } } }",
}
NODE = (
    "query($id: ID!) { node(id: $id) { ... on Staff { " + STAFF_FIELDS + " } "
    "... on Invitation { id email role status } ... on CustomField { id name personal } } }"
)
UPDATE = """mutation($input: StaffUpdateInput!) { staffUpdate(input: $input) { userErrors { code field } } }"""
INVITE = """mutation($input: InvitationCreateInput!) { invitationCreate(input: $input) { invitation { id staff { id } } userErrors { code } } }"""
FIELD_CREATE = """mutation { customFieldCreate(input: {name: "Badge", type: TEXT}) { customField { id } userErrors { code } } }"""
DELETE = """mutation($id: ID!) { staffDelete(input: {staffId: $id}) { userErrors { code } } }"""
VALUES_SET = """mutation($input: StaffCustomFieldsSetInput!) { staffCustomFieldsSet(input: $input) { userErrors { code field } } }"""

KEYS = [*ROLE_KEYS, "EDITOR+SHARED"]
ALL = frozenset(KEYS)
ADMINS = frozenset({"ADMINISTRATOR", "OWNER"})
WITH_PD = frozenset({"VIEWER+PD", "EDITOR+PD"}) | ADMINS

# event -> (who receives it, changed fields told to those with personal data, to the others)
EXPECTED = {
    "open record updated": (ALL, ["title", "email", "ssn", "salary"], ["title"]),
    "restricted record's details updated": (ADMINS | {"EDITOR+SHARED"}, ["capacity"], ["capacity"]),
    "restricted record's name updated": (ALL, ["firstName"], ["firstName"]),
    "invitee's record created": (ALL, [], []),
    "invitation created": (ADMINS, None, None),
    "custom field created": (ALL, [], []),
    "record deleted": (ALL, [], []),
    # values of a personal custom field are personal data: without the permit, one learns
    # neither what nor that (nor when) they changed
    "personal custom value set": (WITH_PD, ["customFields"], None),
    "open custom value set": (ALL, ["customFields"], ["customFields"]),
    "both custom values set": (ALL, ["customFields"], ["customFields"]),
}


async def _ok(api, document, variables, owner) -> dict:
    data = await api.data(document, variables, as_=owner)
    payload = next(iter(data.values()))
    assert payload["userErrors"] == [], payload
    return payload


@pytest.mark.parametrize("key", KEYS)
async def test_every_role_receives_each_event_as_its_queries_show_it(api, services, app, key):
    tenant = await make_tenant(services)
    owner = tenant.owner
    member = await member_as(api, services, tenant, key.replace("+SHARED", ""))
    open_record = await make_staff(services, tenant, email="open@example.com", notes="n")
    await set_staff_secrets(services, open_record.id, ssn="111-22-3333", salary=1000)
    restricted = await make_staff(services, tenant, restricted=True, email="r@example.com")
    doomed = await make_staff(services, tenant)
    shoe = await make_custom_field(services, tenant, "Shoe size", personal=True)
    nickname = await make_custom_field(services, tenant, "Nickname")
    custom_values = {  # event -> the values the owner sets on a record of its own
        "personal custom value set": [(shoe, "44")],
        "open custom value set": [(nickname, "Nick")],
        "both custom values set": [(shoe, "45"), (nickname, "Ned")],
    }
    valued = {event: await make_staff(services, tenant) for event in custom_values}
    if key == "EDITOR+SHARED":
        await share_staff_with(services, tenant, restricted.id, member.staff_pk)

    async with serving(app) as base, WsClient.open(base) as ws:
        assert (await ws.init(member))["type"] == "connection_ack"
        ops = {await ws.subscribe(doc): name for name, doc in SUBSCRIPTIONS.items()}
        await asyncio.sleep(0.3)
        await _ok(api, UPDATE, {"input": {
            "id": gid("Staff", open_record.id), "title": "Chief", "email": "o2@example.com",
            "ssn": "999-88-7777", "salary": 2000.0}}, owner)
        await _ok(api, UPDATE, {"input": {"id": gid("Staff", restricted.id), "capacity": 120}}, owner)
        await _ok(api, UPDATE, {"input": {"id": gid("Staff", restricted.id), "firstName": "Renamed"}}, owner)
        invited = await _ok(api, INVITE, {"input": {"email": "invitee@example.com", "role": "VIEWER"}}, owner)
        field = await _ok(api, FIELD_CREATE, None, owner)
        await _ok(api, DELETE, {"id": gid("Staff", doomed.id)}, owner)
        for event, pairs in custom_values.items():
            await _ok(api, VALUES_SET, {"input": {"staffId": gid("Staff", valued[event].id), "values": [
                {"fieldId": gid("CustomField", f.id), "value": v} for f, v in pairs]}}, owner)
        messages = await ws.drain(1.5)

    received: dict[str, list[dict]] = {name: [] for name in SUBSCRIPTIONS}
    for message in messages:
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        received[ops[message["id"]]].append(next(iter(message["payload"]["data"].values())))

    def staff_events(staff_pk: int, kind: str) -> list[dict]:
        return [e for e in received["staff"]
                if e["staffId"] == gid("Staff", staff_pk) and e["kind"] == kind]

    got = {
        "open record updated": staff_events(open_record.id, "UPDATED"),
        "restricted record's details updated": [
            e for e in staff_events(restricted.id, "UPDATED") if "capacity" in e["changedFields"]],
        "restricted record's name updated": [
            e for e in staff_events(restricted.id, "UPDATED") if "firstName" in e["changedFields"]],
        "invitee's record created": [
            e for e in received["staff"]
            if e["kind"] == "CREATED" and e["staffId"] == invited["invitation"]["staff"]["id"]],
        "invitation created": [e for e in received["invitation"] if e["kind"] == "CREATED"],
        "custom field created": [e for e in received["field"] if e["kind"] == "CREATED"],
        "record deleted": staff_events(doomed.id, "DELETED"),
        **{event: staff_events(valued[event].id, "UPDATED") for event in custom_values},
    }
    for event, (who, personal_fields, other_fields) in EXPECTED.items():
        events = got[event]
        if key not in who:
            assert events == [], (event, events)
            continue
        assert len(events) == 1, (event, received)
        if personal_fields is not None:
            expected_fields = personal_fields if key in WITH_PD else other_fields
            assert events[0]["changedFields"] == expected_fields, event
    # nothing else arrived
    assert sum(len(v) for v in got.values()) == sum(len(v) for v in received.values()), received

    # Each record as received is the record as the subscriber's own query shows it.
    for event in received["staff"]:
        if event["kind"] == "DELETED":
            assert event["staff"] is None
            continue
        node = (await api.data(NODE, {"id": event["staffId"]}, as_=member))["node"]
        assert event["staff"] == node, event
    for event in received["invitation"]:
        node = (await api.data(NODE, {"id": event["invitationId"]}, as_=member))["node"]
        assert event["invitation"] == node
    for event in received["field"]:
        node = (await api.data(NODE, {"id": event["customFieldId"]}, as_=member))["node"]
        assert event["customField"] == node
        assert event["customFieldId"] == field["customField"]["id"]

    # The facts the table stands for, spelled out.
    [open_event] = got["open record updated"]
    if key in WITH_PD:
        assert open_event["staff"]["email"] == "o2@example.com"
        assert open_event["staff"]["ssn"] == "999-88-7777"
    else:
        assert open_event["staff"]["email"] is None
        assert open_event["staff"]["ssn"] is None
        assert open_event["staff"]["salary"] is None
        assert open_event["staff"]["viewerCanSeePersonalData"] is False
    for event in got["restricted record's name updated"]:
        if key in ADMINS | {"EDITOR+SHARED"}:
            assert event["staff"]["capacity"] == 120
        else:
            assert event["staff"]["capacity"] is None
    for event in got["both custom values set"]:
        values = {v["field"]["name"]: v["value"] for v in event["staff"]["customFields"] if v["value"]}
        if key in WITH_PD:
            assert values == {"Shoe size": "45", "Nickname": "Ned"}
        else:
            assert values == {"Nickname": "Ned"}
