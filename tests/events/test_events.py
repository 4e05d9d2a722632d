"""Domain events: what each mutation emits, written in its transaction, and nothing else.

Every mutation of the schema runs once through the audit log's cases
(``tests.audit.test_audit_log.CASES``); ``EMITS`` says which events it must leave. A new
mutation without a row here fails ``test_every_mutation_says_what_it_emits``.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.access import Role
from app.background import sweep_once
from app.db.base import utcnow
from app.events.bus import HUB
from app.events.catalogue import RULES, STAFF_LINKS, EventType, Facts, derive, field_of
from app.events.models import Event
from app.fields import UnknownField, Visibility
from app.invitations.models import Invitation
from app.staff.fields import STAFF
from tests.audit.test_audit_log import (
    CASES,
    INTROSPECT,
    PROJECT_CREATE,
    STAFF_CREATE,
    World,
    invited,
    pk,
)
from tests.conftest import make_settings
from tests.factories import (
    gid,
    make_custom_field,
    make_member,
    make_staff,
    make_tenant,
    take_mail,
)

E = EventType

# mutation -> the events it emits (as many of each as listed)
EMITS: dict[str, list[EventType]] = {
    "accountOwnershipTransfer": [
        E.STAFF_ROLE_CHANGED,
        E.STAFF_ROLE_CHANGED,
        E.ACCOUNT_OWNER_CHANGED,
    ],
    "accountPlanChange": [E.ACCOUNT_PLAN_CHANGED],
    "accountSignup": [E.STAFF_CREATED],  # unconfirmed: joins when the email is verified
    "accountUpdate": [],
    "apiTokenCreate": [],
    "apiTokenRevoke": [],
    "customFieldArchive": [E.CUSTOM_FIELD_UPDATED],
    "customFieldCreate": [E.CUSTOM_FIELD_CREATED],
    "customFieldUpdate": [E.CUSTOM_FIELD_UPDATED],
    "emailVerificationResend": [],
    "emailVerify": [],
    "impersonationStart": [],
    "impersonationStop": [],
    "invitationAccept": [E.INVITATION_ACCEPTED, E.MEMBER_JOINED, E.STAFF_UPDATED],
    "invitationBulkCreate": [E.STAFF_CREATED, E.INVITATION_CREATED] * 2,
    "invitationCreate": [E.STAFF_CREATED, E.INVITATION_CREATED],
    "invitationResend": [E.INVITATION_RESENT],
    "invitationRevoke": [E.INVITATION_REVOKED],
    "joinLinkCreate": [],
    "joinLinkDisable": [],
    "joinLinkJoin": [E.STAFF_CREATED],  # unconfirmed
    "joinLinkRotate": [],
    "joinRequestApprove": [E.STAFF_CREATED, E.JOIN_REQUEST_DECIDED],
    "joinRequestReject": [E.JOIN_REQUEST_DECIDED],
    "login": [],
    "logout": [],
    "passwordChange": [],
    "passwordReset": [],
    "passwordResetRequest": [],
    "projectCreate": [],
    "projectDelete": [],
    "projectMemberAdd": [],
    "projectMemberRemove": [],
    "projectMembersSet": [],
    "projectTeamRoleCreate": [],
    "projectUpdate": [],
    "signup": [E.STAFF_CREATED, E.MEMBER_JOINED],
    "staffCreate": [E.STAFF_CREATED],
    "staffCustomFieldsSet": [E.STAFF_UPDATED],
    "staffDelete": [E.STAFF_DELETED],
    "staffDisable": [E.STAFF_DISABLED],
    "staffEmailConfirm": [E.STAFF_UPDATED],
    "staffEnable": [E.STAFF_ENABLED],
    "staffImport": [E.STAFF_CREATED],
    "staffPasswordResetSend": [],
    "staffPermitGrant": [E.STAFF_UPDATED],
    "staffPermitRevoke": [E.STAFF_UPDATED],
    "staffRegister": [E.STAFF_CREATED, E.MEMBER_JOINED],
    "staffRoleChange": [E.STAFF_ROLE_CHANGED],
    "staffShare": [E.STAFF_UPDATED],
    "staffStatusCreate": [],
    "staffStatusUpdate": [],
    "staffUnshare": [E.STAFF_UPDATED],
    "staffUpdate": [E.STAFF_UPDATED],
    "webhookDeliveryReplay": [],
    "webhookEndpointCreate": [],
    "webhookEndpointDelete": [],
    "webhookEndpointPing": [],
    "webhookEndpointSecretRotate": [],
    "webhookEndpointUpdate": [],
}


@pytest.fixture
def settings(database_url):
    return make_settings(
        database_url, invitation_resend_cooldown_seconds=0, password_reset_cooldown_seconds=0
    )


async def last_event_id(services) -> int:
    async with services.db.session() as session:
        return await session.scalar(select(func.coalesce(func.max(Event.id), 0)))


async def events_after(services, event_id: int) -> list[Event]:
    async with services.db.session() as session:
        return list(
            await session.scalars(select(Event).where(Event.id > event_id).order_by(Event.id))
        )


async def test_every_mutation_says_what_it_emits(api):
    data = await api.data(INTROSPECT)
    names = {f["name"] for f in data["__schema"]["mutationType"]["fields"]}
    assert names ^ EMITS.keys() == set()


@pytest.mark.parametrize("name", sorted(CASES))
async def test_each_mutation_emits_its_events_in_its_transaction(api, services, name):
    w = World(api, services, await make_tenant(services))
    call = await CASES[name](w)
    await take_mail(services)
    before = await last_event_id(services)

    response = await api.raw(call.query, call.variables, token=call.token, realm=call.realm)
    body = response.json()
    [payload] = body["data"].values()
    assert payload["userErrors"] == [], payload

    events = await events_after(services, before)
    assert Counter(e.type for e in events) == Counter(t.value for t in EMITS[name])
    actor = call.actor_user_id() if callable(call.actor_user_id) else call.actor_user_id
    actor = await actor if hasattr(actor, "__await__") else actor
    for event in events:
        assert event.uid.startswith("evt_") and len(event.uid) == 36
        assert event.request_id == response.headers["x-request-id"]
        assert event.actor_user_id == actor
        if call.account_id is not None and name not in ("signup", "accountSignup"):
            assert event.account_id == call.account_id
        # the actor's staff id only where they act in their own account
        assert event.actor_staff_id in (None, call.actor_staff_id)
        # thin: ids and field names, never a value
        for secret in w.secrets:
            assert secret not in str(event.data)
    assert len({e.uid for e in events}) == len(events)


async def test_a_staff_update_names_the_fields_it_changed(api, services):
    tenant = await make_tenant(services)
    created = await api.data(
        STAFF_CREATE, {"input": {"firstName": "Ada", "lastName": "Lovelace"}}, as_=tenant.owner
    )
    staff_id = created["staffCreate"]["staff"]["id"]
    before = await last_event_id(services)
    await api.data(
        "mutation($input: StaffUpdateInput!) { staffUpdate(input: $input) { userErrors { code } } }",
        {"input": {"id": staff_id, "title": "Countess", "ssn": "123-45-6789"}},
        as_=tenant.owner,
    )
    [event] = await events_after(services, before)
    assert (event.type, event.subject_type, event.subject_id) == (
        "staff.updated",
        "Staff",
        pk(staff_id),
    )
    assert event.data == {"fields": ["title", "ssn"]}
    assert "123-45-6789" not in str(event.data)


CUSTOM_FIELDS_SET = """mutation($input: StaffCustomFieldsSetInput!) {
  staffCustomFieldsSet(input: $input) { userErrors { code field } } }"""


@pytest.mark.parametrize(
    ("which", "named"),
    [
        (["personal"], ["personal_custom_fields"]),
        (["plain"], ["custom_fields"]),
        (["personal", "plain"], ["personal_custom_fields", "custom_fields"]),
    ],
)
async def test_a_custom_value_change_says_whether_its_field_is_personal(
    api, services, which, named
):
    """The field's own definition says (``personal``, as the directory hides values by):
    consumers tell those without personal data only of the fields they see."""
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    fields = {
        "personal": await make_custom_field(services, tenant, "Shoe size", personal=True),
        "plain": await make_custom_field(services, tenant, "Nickname"),
    }
    before = await last_event_id(services)
    values = [{"fieldId": gid("CustomField", fields[w].id), "value": "secret 42"} for w in which]
    body = await api.data(
        CUSTOM_FIELDS_SET,
        {"input": {"staffId": gid("Staff", staff.id), "values": values}},
        as_=tenant.owner,
    )
    assert body["staffCustomFieldsSet"]["userErrors"] == []
    [event] = await events_after(services, before)
    assert (event.type, event.subject_id) == ("staff.updated", staff.id)
    assert event.data == {"fields": named}
    assert "secret 42" not in str(event.data)


def test_a_custom_value_of_a_field_not_known_open_is_personal():
    """The rules are told which fields are open; any other (a definition not found, a
    caller that read nothing) is taken as personal, never as open."""
    change = {"table": "custom_field_values", "op": "insert", "id": None, "key": [7, 3],
              "account_id": 1, "fields": {"value": ["[redacted]", "[redacted]"]}}
    [(_, event)] = derive([change])
    assert event.fields == ["personal_custom_fields"]
    [(_, event)] = derive([change], Facts(open_custom_fields=frozenset({3})))
    assert event.fields == ["custom_fields"]
    [(_, event)] = derive([change], Facts(open_custom_fields=frozenset({4})))
    assert event.fields == ["personal_custom_fields"]


def test_every_name_an_event_carries_has_a_row_and_an_unknown_one_is_an_error():
    """Links (rows hanging off a staff record) have a class like the record's fields: a
    personal custom field's values are personal data needing the details (as SSN), other
    values are details, shares and permit grants are not personal. A name no table has is
    an error, never shown."""
    assert {row.name: row.visibility for row in STAFF_LINKS} == {
        "custom_fields": Visibility.DETAILED,
        "personal_custom_fields": Visibility.SECRET,
        "shared_with": Visibility.BASIC,
        "permits": Visibility.BASIC,
    }
    assert not {row.name for row in STAFF_LINKS} & {row.name for row in STAFF}
    for table in ("staff_shares", "staff_permit_grants", "custom_field_values"):
        assert table in RULES
        change = {"table": table, "op": "insert", "id": None, "key": [7, 3],
                  "account_id": 1, "fields": {}}
        for _, event in derive([change]):
            for name in event.fields:
                assert field_of("Staff", name).api
    assert field_of("Staff", "ssn").visibility is Visibility.SECRET
    for subject, name in [("Staff", "no_such_field"), ("Staff", "id"), ("Staff", "account_id"),
                          ("CustomField", "custom_fields"), ("Elsewhere", "name")]:
        with pytest.raises(UnknownField):
            field_of(subject, name)


async def test_a_change_that_fails_emits_nothing(api, services):
    """staffCreate writes the record, then refuses another account's project: the record
    and its event both go; a refused or invalid mutation emits nothing either."""
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    foreign = (await api.data(PROJECT_CREATE, {"name": "Theirs"}, as_=other.owner))[
        "projectCreate"
    ]["project"]["id"]
    before = await last_event_id(services)
    HUB_queue = HUB.listen()
    try:
        body = await api.data(
            STAFF_CREATE,
            {"input": {"firstName": "Gone", "lastName": "Again", "projectIds": [foreign]}},
            as_=tenant.owner,
        )
        assert [e["code"] for e in body["staffCreate"]["userErrors"]] == ["NOT_FOUND"]
        await api(STAFF_CREATE, {"input": {"firstName": "No", "lastName": "Way"}}, as_=viewer)
        await api.data(STAFF_CREATE, {"input": {"firstName": "Nameless"}}, as_=tenant.owner)
        assert await events_after(services, before) == []
        assert HUB_queue.empty()
    finally:
        HUB.forget(HUB_queue)


async def test_committed_events_reach_this_process_subscribers_after_commit(api, services, backend):
    if backend != "sqlite":
        pytest.skip("PostgreSQL announces with NOTIFY (tests/events/test_listen.py)")
    tenant = await make_tenant(services)
    queue = HUB.listen()
    try:
        created = await api.data(
            STAFF_CREATE, {"input": {"firstName": "Live", "lastName": "One"}}, as_=tenant.owner
        )
        [event_id] = [queue.get_nowait() for _ in range(queue.qsize())]
        async with services.db.session() as session:
            event = await session.get(Event, event_id)
        assert event.type == "staff.created"
        assert event.subject_id == pk(created["staffCreate"]["staff"]["id"])
    finally:
        HUB.forget(queue)


async def test_the_sweep_emits_expired_invitations_once_with_no_actor(api, services):
    tenant = await make_tenant(services)
    w = World(api, services, tenant)
    invitation_id = pk(await invited(w))
    async with services.db.session(write=True) as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.id == invitation_id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        await session.commit()
    before = await last_event_id(services)

    assert await sweep_once(services.db) == 1
    assert await sweep_once(services.db) == 0

    [event] = await events_after(services, before)
    assert (event.type, event.subject_id) == ("invitation.expired", invitation_id)
    assert event.account_id == tenant.account_id
    assert (event.actor_user_id, event.actor_staff_id, event.request_id) == (None, None, None)


async def test_a_burst_of_another_account_s_events_loses_none_of_this_one_s(api, services):
    """One commit may announce thousands of events (a staff import): the process's reader
    of announced ids keeps every one, so another account's event announced just before the
    burst still reaches that account's follower."""
    import asyncio

    from app.events.bus import QUEUE_LIMIT, Hub
    from app.events.live import Live

    tenant = await make_tenant(services)
    before = await last_event_id(services)
    await api.data(
        STAFF_CREATE, {"input": {"firstName": "Before", "lastName": "Burst"}}, as_=tenant.owner
    )
    [mine] = await events_after(services, before)
    hub = Hub()
    live = Live(services.db, hub)
    try:
        async with live.follow(
            tenant.account_id, frozenset({"Staff"}), user_id=1, role=Role.VIEWER
        ) as follower:
            # another account's burst: ids of events this account has nothing to do with
            burst = [mine.id + 1_000_000 + i for i in range(3 * QUEUE_LIMIT)]
            hub.publish([mine.id, *burst])
            note = await asyncio.wait_for(follower.queue.get(), 10)
        assert (note.id, note.subject_type) == (mine.id, "Staff")
    finally:
        await live.close()


async def test_a_failed_read_of_announced_events_tells_every_follower(tmp_path):
    """Whose the ids were is unknown once their read failed: every follower of the process
    is marked as having lost changes (its subscription ends saying so), rather than going
    on with a gap."""
    import asyncio

    from app.db.engine import Database
    from app.events.bus import Hub
    from app.events.live import WAKE, Live

    hub = Hub()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'roster.db'}")  # cannot open
    live = Live(db, hub, per_account=1)
    try:
        async with live.follow(1, frozenset({"Staff"}), user_id=1, role=Role.VIEWER) as staff, \
                live.follow(2, frozenset({"Invitation"}), user_id=2, role=Role.GUEST) as guest:
            # a guest may follow even where the account may have one follower only
            assert not staff.lost and not guest.lost
            hub.publish([1, 2, 3])
            for _ in range(200):
                if staff.lost and guest.lost:
                    break
                await asyncio.sleep(0.02)
            assert staff.lost and guest.lost
            # a subscriber waiting on its empty queue is woken to be told at once
            assert staff.queue.get_nowait() is WAKE and guest.queue.get_nowait() is WAKE
    finally:
        await live.close()
        await db.dispose()
