"""Administering members: disable, enable, delete, role changes (the account's own
administration, ownership and plans: tests/accounts/test_admin_service.py).

The matrices have one row per role acting (VIEWER, EDITOR, ADMINISTRATOR, OWNER) and one column
per target (a member of each role, and oneself). Outcomes: OK = done; DENIED = the whole
operation is refused (top-level FORBIDDEN); REFUSED = a userError FORBIDDEN, nothing changed.
"""

from __future__ import annotations

import pytest

from app.access import Role
from app.staff.models import AccountStatus, Staff
from tests.factories import (
    DENIED,
    OK,
    PERMIT_GRANT,
    REFUSED,
    add_membership,
    error_codes,
    get_row,
    gid,
    mail_token,
    make_api_token,
    make_member,
    make_staff,
    make_tenant,
    outcome,
    set_staff_columns,
    take_mail,
    until_waiting_on_a_lock,
)

ACTORS = ("VIEWER", "EDITOR", "ADMINISTRATOR", "OWNER")
TARGETS = ("VIEWER", "EDITOR", "ADMINISTRATOR", "OWNER", "SELF")

# Who may disable / enable / delete / change the role of whom. For the owner, the OWNER
# column is themselves too.
# fmt: off
MANAGE = {
    #                   VIEWER   EDITOR   ADMIN    OWNER    SELF
    "VIEWER":          (DENIED,  DENIED,  DENIED,  DENIED,  DENIED),
    "EDITOR":          (DENIED,  DENIED,  DENIED,  DENIED,  DENIED),
    "ADMINISTRATOR":   (OK,      OK,      REFUSED, REFUSED, REFUSED),
    "OWNER":           (OK,      OK,      OK,      REFUSED, REFUSED),
}
# fmt: on

PAYLOAD = "userErrors { field code message }"
DISABLE = f"""mutation($id: ID!) {{
  staffDisable(input: {{staffId: $id}}) {{ staff {{ id accountStatus }} {PAYLOAD} }}
}}"""
ENABLE = DISABLE.replace("staffDisable", "staffEnable")
DELETE = f"""mutation($id: ID!) {{
  staffDelete(input: {{staffId: $id}}) {{ deletedStaffId {PAYLOAD} }}
}}"""
ROLE_CHANGE = f"""mutation($id: ID!, $role: Role!) {{
  staffRoleChange(input: {{staffId: $id, role: $role}}) {{ staff {{ id role }} {PAYLOAD} }}
}}"""
INVITE = f"""mutation($email: String!) {{
  invitationCreate(input: {{email: $email}}) {{ invitation {{ id expiresAt }} {PAYLOAD} }}
}}"""
SEATS = "{ account { seats { limit used reserved available } } }"
VIEWER = "{ viewer { role account { slug } accounts { slug } staff { id } } }"
NODE = """query($id: ID!) { node(id: $id) { ... on Staff {
  id lastName role accountStatus manager { id } } } }"""
LIST = """query($filter: StaffFilterInput) {
  staff(filter: $filter) { totalCount nodes { id accountStatus } } }"""


async def actor_and_target(services, tenant, actor_key: str, target_key: str):
    """The acting member and the member acted on (a new one, the owner, or oneself)."""
    actor = (
        tenant.owner
        if actor_key == "OWNER"
        else await make_member(services, tenant, Role(actor_key))
    )
    if target_key == "SELF":
        target = actor
    elif target_key == "OWNER":
        target = tenant.owner
    else:
        target = await make_member(services, tenant, Role(target_key))
    return actor, target


async def seats(api, member) -> dict:
    return (await api.data(SEATS, as_=member))["account"]["seats"]


def payload_errors(data: dict, field: str) -> list[dict]:
    return data[field]["userErrors"]


def matrix(table: dict) -> list:
    return [
        pytest.param(actor, target, expected, id=f"{actor}-on-{target}")
        for actor, row in table.items()
        for target, expected in zip(TARGETS, row, strict=True)
    ]


# --- the role x operation matrix -------------------------------------------------------------


@pytest.mark.parametrize(("actor_key", "target_key", "expected"), matrix(MANAGE))
async def test_disable_matrix(api, services, actor_key, target_key, expected):
    tenant = await make_tenant(services)
    actor, target = await actor_and_target(services, tenant, actor_key, target_key)
    body = await api(DISABLE, {"id": target.staff_id}, as_=actor)
    assert outcome(body, "staffDisable") == expected
    row = await get_row(services, Staff, target.staff_pk)
    if expected == OK:
        assert body["data"]["staffDisable"]["staff"]["accountStatus"] == "DISABLED"
        assert row.account_status == AccountStatus.DISABLED
    else:
        assert row.account_status == AccountStatus.ACTIVE
        # the person still gets in
        assert (await api.data(VIEWER, as_=target))["viewer"]["staff"]["id"] == target.staff_id


@pytest.mark.parametrize(("actor_key", "target_key", "expected"), matrix(MANAGE))
async def test_enable_matrix(api, services, actor_key, target_key, expected):
    tenant = await make_tenant(services)
    actor, target = await actor_and_target(services, tenant, actor_key, target_key)
    if target is not actor:  # one who is disabled cannot ask for anything
        await set_staff_columns(services, target.staff_pk, account_status=AccountStatus.DISABLED)
    body = await api(ENABLE, {"id": target.staff_id}, as_=actor)
    assert outcome(body, "staffEnable") == expected
    row = await get_row(services, Staff, target.staff_pk)
    if expected == OK:
        assert row.account_status == AccountStatus.ACTIVE
        assert (await api.data(VIEWER, as_=target))["viewer"]["role"] == target_key
    elif target is not actor:
        assert row.account_status == AccountStatus.DISABLED


@pytest.mark.parametrize(("actor_key", "target_key", "expected"), matrix(MANAGE))
async def test_delete_matrix(api, services, actor_key, target_key, expected):
    tenant = await make_tenant(services)
    actor, target = await actor_and_target(services, tenant, actor_key, target_key)
    body = await api(DELETE, {"id": target.staff_id}, as_=actor)
    assert outcome(body, "staffDelete") == expected
    row = await get_row(services, Staff, target.staff_pk)
    if expected == OK:
        assert body["data"]["staffDelete"]["deletedStaffId"] == target.staff_id
        assert row is None
    else:
        assert row is not None and row.role == Role(
            target_key if target_key != "SELF" else actor_key
        )


@pytest.mark.parametrize(("actor_key", "target_key", "expected"), matrix(MANAGE))
async def test_role_change_matrix(api, services, actor_key, target_key, expected):
    tenant = await make_tenant(services)
    actor, target = await actor_and_target(services, tenant, actor_key, target_key)
    # downwards for everyone (a viewer can only go up, to a role below every manager's)
    new_role = "EDITOR" if target.role == Role.VIEWER else "VIEWER"
    body = await api(ROLE_CHANGE, {"id": target.staff_id, "role": new_role}, as_=actor)
    assert outcome(body, "staffRoleChange") == expected
    row = await get_row(services, Staff, target.staff_pk)
    if expected == OK:
        assert body["data"]["staffRoleChange"]["staff"]["role"] == new_role
        assert row.role == Role(new_role)
        # read fresh on the target's very next request
        assert (await api.data(VIEWER, as_=target))["viewer"]["role"] == new_role
    else:
        assert row.role == target.role
        assert (await api.data(VIEWER, as_=target))["viewer"]["role"] == target.role.value


# --- role changes: how far up ----------------------------------------------------------------

# fmt: off
PROMOTIONS = [
    # actor,          target,     new role,        outcome
    ("OWNER",         "VIEWER",   "ADMINISTRATOR", OK),
    ("ADMINISTRATOR", "EDITOR",   "ADMINISTRATOR", OK),  # not above one's own
    ("ADMINISTRATOR", "VIEWER",   "OWNER",         REFUSED),
    ("OWNER",         "ADMINISTRATOR", "OWNER",    REFUSED),  # transfer ownership instead
    ("ADMINISTRATOR", "ADMINISTRATOR", "VIEWER",   REFUSED),  # other administrators: no
]
# fmt: on


@pytest.mark.parametrize(("actor_key", "target_key", "new_role", "expected"), PROMOTIONS)
async def test_role_change_never_above_own_role_nor_to_owner(
    api, services, actor_key, target_key, new_role, expected
):
    tenant = await make_tenant(services)
    actor, target = await actor_and_target(services, tenant, actor_key, target_key)
    body = await api(ROLE_CHANGE, {"id": target.staff_id, "role": new_role}, as_=actor)
    assert outcome(body, "staffRoleChange") == expected
    role = (await api.data(VIEWER, as_=target))["viewer"]["role"]
    assert role == (new_role if expected == OK else target_key)
    owners = await api.data(LIST, {"filter": {"roles": ["OWNER"]}}, as_=tenant.owner)
    assert [n["id"] for n in owners["staff"]["nodes"]] == [tenant.owner.staff_id]


async def test_promoted_member_gets_the_new_permits_on_the_next_request(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    victim = await make_member(services, tenant, Role.VIEWER)
    before = await api(DISABLE, {"id": victim.staff_id}, as_=member)
    assert error_codes(before) == ["FORBIDDEN"]
    await api.data(ROLE_CHANGE, {"id": member.staff_id, "role": "ADMINISTRATOR"}, as_=tenant.owner)
    after = await api.data(DISABLE, {"id": victim.staff_id}, as_=member)
    assert payload_errors(after, "staffDisable") == []
    await api.data(ROLE_CHANGE, {"id": member.staff_id, "role": "VIEWER"}, as_=tenant.owner)
    again = await api(ENABLE, {"id": victim.staff_id}, as_=member)
    assert error_codes(again) == ["FORBIDDEN"]


# --- disable / enable --------------------------------------------------------------------------


async def test_disabled_member_tokens_stop_at_once_other_account_unaffected(api, services):
    a = await make_tenant(services, "Alpha")
    b = await make_tenant(services, "Beta")
    person = await make_member(services, a, Role.EDITOR)
    in_b = await add_membership(services, b, person.user_id, Role.VIEWER)
    api_token = await make_api_token(services, a, person)
    # before: session token (realm A) and API token both work in A
    assert (await api.data(VIEWER, as_=person))["viewer"]["role"] == "EDITOR"
    assert (await api.data(VIEWER, token=api_token))["viewer"]["account"]["slug"] == a.slug

    done = await api.data(DISABLE, {"id": person.staff_id}, as_=a.owner)
    assert payload_errors(done, "staffDisable") == []

    for token, realm in [(person.token, a.slug), (api_token, None), (api_token, a.slug)]:
        body = await api("{ staff { totalCount } }", token=token, realm=realm)
        assert error_codes(body) == ["UNAUTHENTICATED"], (token, realm)
        assert body["data"] is None
    # same session token, other account: unaffected
    data = await api.data(VIEWER, token=person.token, realm=b.slug)
    assert data["viewer"]["role"] == "VIEWER"
    assert data["viewer"]["staff"]["id"] == in_b.staff_id
    assert [x["slug"] for x in data["viewer"]["accounts"]] == [b.slug]
    assert (await api.data("{ staff { totalCount } }", as_=in_b))["staff"]["totalCount"] == 2


async def test_disabled_member_keeps_data_and_is_hidden_from_the_list(api, services):
    tenant = await make_tenant(services)
    person = await make_member(services, tenant, Role.VIEWER, last_name="Quill")
    other = await make_member(services, tenant, Role.EDITOR)
    await api.data(DISABLE, {"id": person.staff_id}, as_=tenant.owner)

    for who in (tenant.owner, other):
        listed = await api.data(LIST, as_=who)
        ids = {n["id"] for n in listed["staff"]["nodes"]}
        assert ids == {tenant.owner.staff_id, other.staff_id}
        assert listed["staff"]["totalCount"] == 2
    included = await api.data(LIST, {"filter": {"includeDisabled": True}}, as_=tenant.owner)
    statuses = {n["id"]: n["accountStatus"] for n in included["staff"]["nodes"]}
    assert statuses[person.staff_id] == "DISABLED"
    assert included["staff"]["totalCount"] == 3
    only = await api.data(LIST, {"filter": {"accountStatuses": ["DISABLED"]}}, as_=tenant.owner)
    assert [n["id"] for n in only["staff"]["nodes"]] == [person.staff_id]
    # the record itself is kept as it was
    node = (await api.data(NODE, {"id": person.staff_id}, as_=tenant.owner))["node"]
    assert node["lastName"] == "Quill" and node["role"] == "VIEWER"


async def test_disable_frees_a_seat_and_enable_needs_one(api, services):
    tenant = await make_tenant(services, seats=3)
    person = await make_member(services, tenant, Role.VIEWER)
    await make_member(services, tenant, Role.VIEWER)
    assert await seats(api, tenant.owner) == {"limit": 3, "used": 3, "reserved": 0, "available": 0}
    await api.data(DISABLE, {"id": person.staff_id}, as_=tenant.owner)
    assert await seats(api, tenant.owner) == {"limit": 3, "used": 2, "reserved": 0, "available": 1}
    invited = await api.data(INVITE, {"email": "newcomer@example.com"}, as_=tenant.owner)
    assert payload_errors(invited, "invitationCreate") == []

    full = await api.data(ENABLE, {"id": person.staff_id}, as_=tenant.owner)
    [error] = payload_errors(full, "staffEnable")
    assert error["code"] == "SEAT_LIMIT_REACHED"
    assert (await get_row(services, Staff, person.staff_pk)).account_status == (
        AccountStatus.DISABLED
    )
    assert error_codes(await api(VIEWER, as_=person)) == ["UNAUTHENTICATED"]

    await api.data(
        "mutation($id: ID!) { invitationRevoke(input: {id: $id}) { userErrors { code } } }",
        {"id": invited["invitationCreate"]["invitation"]["id"]},
        as_=tenant.owner,
    )
    enabled = await api.data(ENABLE, {"id": person.staff_id}, as_=tenant.owner)
    assert payload_errors(enabled, "staffEnable") == []
    assert enabled["staffEnable"]["staff"]["accountStatus"] == "ACTIVE"
    assert await seats(api, tenant.owner) == {"limit": 3, "used": 3, "reserved": 0, "available": 0}
    # the session from before the disable does not come back (the person signs in again)
    assert error_codes(await api(VIEWER, as_=person)) == ["UNAUTHENTICATED"]


async def test_disable_twice_or_enable_an_active_member_is_invalid_state(api, services):
    tenant = await make_tenant(services)
    person = await make_member(services, tenant, Role.VIEWER)
    active = await api.data(ENABLE, {"id": person.staff_id}, as_=tenant.owner)
    assert [e["code"] for e in payload_errors(active, "staffEnable")] == ["INVALID_STATE"]
    await api.data(DISABLE, {"id": person.staff_id}, as_=tenant.owner)
    twice = await api.data(DISABLE, {"id": person.staff_id}, as_=tenant.owner)
    assert [e["code"] for e in payload_errors(twice, "staffDisable")] == ["INVALID_STATE"]


# --- delete ------------------------------------------------------------------------------------


async def test_delete_removes_record_membership_and_manager_links(api, services):
    tenant = await make_tenant(services)
    boss = await make_member(services, tenant, Role.EDITOR, last_name="Boss")
    report = await make_member(services, tenant, Role.VIEWER, manager_id=boss.staff_pk)
    record = await make_staff(services, tenant, manager_id=boss.staff_pk)
    before = await seats(api, tenant.owner)

    done = await api.data(DELETE, {"id": boss.staff_id}, as_=tenant.owner)
    assert done["staffDelete"] == {"deletedStaffId": boss.staff_id, "userErrors": []}

    assert (await api.data(NODE, {"id": boss.staff_id}, as_=tenant.owner))["node"] is None
    listed = await api.data(LIST, {"filter": {"includeDisabled": True}}, as_=tenant.owner)
    assert boss.staff_id not in {n["id"] for n in listed["staff"]["nodes"]}
    for pk in (report.staff_pk, record.id):
        node = (await api.data(NODE, {"id": gid("Staff", pk)}, as_=tenant.owner))["node"]
        assert node["manager"] is None
    # the membership is gone: their token no longer opens this account
    assert error_codes(await api(VIEWER, as_=boss)) == ["UNAUTHENTICATED"]
    assert (await seats(api, tenant.owner))["used"] == before["used"] - 1
    # deleting again: it is not there any more
    again = await api.data(DELETE, {"id": boss.staff_id}, as_=tenant.owner)
    assert [e["code"] for e in payload_errors(again, "staffDelete")] == ["NOT_FOUND"]
    # the audit log keeps what happened
    log = await api.data(
        "{ auditLog(first: 1) { edges { node { targetType targetId actorUserId } } } }",
        as_=tenant.owner,
    )
    [entry] = [e["node"] for e in log["auditLog"]["edges"]]
    assert entry["targetType"] == "Staff" and entry["targetId"] == boss.staff_id


async def test_delete_revokes_pending_invitations(api, services):
    tenant = await make_tenant(services)
    created = await api.data(
        """mutation { staffCreate(input: {firstName: "Ann", lastName: "Lee",
             email: "ann@example.com", invite: true}) {
             staff { id accountStatus } userErrors { code } } }""",
        as_=tenant.owner,
    )
    staff = created["staffCreate"]["staff"]
    assert staff["accountStatus"] == "INVITED"
    [message] = await take_mail(services)
    token = mail_token(message)
    assert (await seats(api, tenant.owner))["reserved"] == 1

    done = await api.data(DELETE, {"id": staff["id"]}, as_=tenant.owner)
    assert payload_errors(done, "staffDelete") == []
    assert (await seats(api, tenant.owner))["reserved"] == 0

    accepted = await api.data(
        """mutation($t: String!) { invitationAccept(input: {token: $t,
             password: "a good long password", firstName: "Ann", lastName: "Lee"}) {
             token userErrors { code } } }""",
        {"t": token},
    )
    assert accepted["invitationAccept"]["token"] is None
    [error] = accepted["invitationAccept"]["userErrors"]
    assert error["code"] in {"INVITATION_REVOKED", "INVALID_TOKEN"}
    pending = await api.data(
        "{ invitations(status: PENDING) { edges { node { id } } } }", as_=tenant.owner
    )
    assert pending["invitations"]["edges"] == []


async def test_an_invitation_never_takes_over_a_record_another_user_holds(api, services):
    tenant = await make_tenant(services)
    invited = await api.data(INVITE, {"email": "first@example.com"}, as_=tenant.owner)
    assert invited["invitationCreate"]["userErrors"] == []
    [message] = await take_mail(services)
    token = mail_token(message)
    [row] = await get_invited_staff(services, tenant)
    # the record became another login's membership behind the invitation's back
    holder = await make_member(services, await make_tenant(services))
    await set_staff_columns(
        services,
        row.id,
        user_id=holder.user_id,
        email=holder.email,
        account_status=AccountStatus.ACTIVE,
    )
    accepted = await api.data(
        """mutation($t: String!) { invitationAccept(input: {token: $t,
             password: "a good long password", firstName: "Fi", lastName: "Rst"}) {
             token userErrors { code } } }""",
        {"t": token},
    )
    payload = accepted["invitationAccept"]
    # the answer of a withdrawn invitation: nothing about whose record it is
    assert payload["token"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["INVITATION_REVOKED"]
    after = await get_row(services, Staff, row.id)
    assert (after.user_id, after.email) == (holder.user_id, holder.email)


async def get_invited_staff(services, tenant) -> list[Staff]:
    from sqlalchemy import select

    async with services.db.session() as session:
        return list(
            await session.scalars(
                select(Staff).where(
                    Staff.account_id == tenant.account_id,
                    Staff.account_status == AccountStatus.INVITED,
                )
            )
        )


GUEST_INVITE = """mutation($email: String!) {
  invitationCreate(input: {email: $email, kind: CUSTOMER}) {
    invitation { role staff { id } } userErrors { code } } }"""


async def test_an_invited_guest_made_a_viewer_needs_a_free_seat(api, services):
    tenant = await make_tenant(services, seats=2)  # the owner and one more
    guest = await api.data(GUEST_INVITE, {"email": "cust@example.com"}, as_=tenant.owner)
    assert guest["invitationCreate"]["invitation"]["role"] == "GUEST"
    guest_id = guest["invitationCreate"]["invitation"]["staff"]["id"]
    taken = await api.data(INVITE, {"email": "view@example.com"}, as_=tenant.owner)
    assert taken["invitationCreate"]["userErrors"] == []
    assert (await seats(api, tenant.owner))["available"] == 0

    refused = await api.data(ROLE_CHANGE, {"id": guest_id, "role": "VIEWER"}, as_=tenant.owner)
    assert [e["code"] for e in payload_errors(refused, "staffRoleChange")] == [
        "SEAT_LIMIT_REACHED"
    ]
    invitations = await api.data(
        "{ invitations(first: 5) { edges { node { email role } } } }", as_=tenant.owner
    )
    roles = {e["node"]["email"]: e["node"]["role"] for e in invitations["invitations"]["edges"]}
    assert roles == {"cust@example.com": "GUEST", "view@example.com": "VIEWER"}
    # a guest role is still given, and with a seat free the change is made
    await api.data(
        "mutation { accountPlanChange(input: {plan: CUSTOM, seatLimit: 3}) { userErrors { code } } }",
        as_=tenant.owner,
    )
    done = await api.data(ROLE_CHANGE, {"id": guest_id, "role": "VIEWER"}, as_=tenant.owner)
    assert payload_errors(done, "staffRoleChange") == []
    assert (await seats(api, tenant.owner))["available"] == 0


async def test_an_unconfirmed_guest_made_an_editor_needs_a_free_seat(api, services):
    from tests.invitations.test_join_links import create_ok, join

    tenant = await make_tenant(services, seats=2)
    link, _ = await create_ok(api, tenant.owner, role="GUEST", kind="CUSTOMER")
    joined = await join(api, link, "guest@example.com", firstName="G", lastName="Uest")
    assert joined["userErrors"] == [] and joined["emailVerificationRequired"] is True
    taken = await api.data(INVITE, {"email": "view@example.com"}, as_=tenant.owner)
    assert taken["invitationCreate"]["userErrors"] == []
    assert (await seats(api, tenant.owner))["available"] == 0
    listed = await api.data(LIST, {"filter": {"accountStatuses": ["UNCONFIRMED"]}},
                            as_=tenant.owner)
    [guest] = listed["staff"]["nodes"]

    refused = await api.data(ROLE_CHANGE, {"id": guest["id"], "role": "EDITOR"}, as_=tenant.owner)
    assert [e["code"] for e in payload_errors(refused, "staffRoleChange")] == [
        "SEAT_LIMIT_REACHED"
    ]
    node = await api.data(NODE, {"id": guest["id"]}, as_=tenant.owner)
    assert node["node"]["role"] == "GUEST"
    current = await seats(api, tenant.owner)
    assert current["used"] + current["reserved"] <= current["limit"]


async def test_an_administrator_demoted_meanwhile_grants_no_permit(api, services, backend):
    """staffPermitGrant waits for a role change under way in the account (``lock_members``)
    and then acts with the role its actor has: an administrator demoted to editor meanwhile
    grants nothing."""
    if backend == "sqlite":
        pytest.skip("SQLite's writer lock runs one write transaction at a time")
    import asyncio

    from sqlalchemy import select

    from app.accounts.service import lock_account
    from app.staff.models import StaffPermitGrant

    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    viewer = await make_member(services, tenant, Role.VIEWER)

    async with services.db.session(write=True) as other:
        # a role change under way, as staffRoleChange makes it (the account locked first)
        await lock_account(other, tenant.account_id)
        record = await other.get(Staff, admin.staff_pk)
        record.role = Role.EDITOR
        await other.flush()
        granting = asyncio.create_task(api(PERMIT_GRANT, {"id": viewer.staff_id}, as_=admin))
        await until_waiting_on_a_lock(services, granting)
        assert not granting.done(), "the grant did not wait for the role change"
        await other.commit()
    body = await granting

    assert error_codes(body) == ["FORBIDDEN"], body
    async with services.db.session() as session:
        grants = list(await session.scalars(
            select(StaffPermitGrant).where(StaffPermitGrant.staff_id == viewer.staff_pk)
        ))  # fmt: skip
    assert grants == []


async def test_what_a_delete_or_role_change_rewrites_in_bulk_is_logged(api, services):
    """The reports whose manager a delete clears, and the open invitations a role change
    re-offers, are changed by one statement each (no ORM flush): the audit entry still says
    so, and with it the events webhooks and subscribers are told."""
    from sqlalchemy import select

    from app.audit.models import AuditEntry
    from app.events.models import Event

    tenant = await make_tenant(services)
    boss = await make_member(services, tenant, Role.EDITOR, last_name="Boss")
    report = await make_staff(services, tenant, manager_id=boss.staff_pk)
    invited = await api.data(
        """mutation { invitationCreate(input: {email: "offer@example.com", role: VIEWER}) {
          invitation { id staff { id } } userErrors { code } } }""",
        as_=tenant.owner,
    )
    offer = invited["invitationCreate"]["invitation"]
    changed = await api.data(
        "mutation($id: ID!) { staffRoleChange(input: {staffId: $id, role: EDITOR}) "
        "{ userErrors { code } } }",
        {"id": offer["staff"]["id"]},
        as_=tenant.owner,
    )
    assert changed["staffRoleChange"]["userErrors"] == []
    done = await api.data(DELETE, {"id": boss.staff_id}, as_=tenant.owner)
    assert done["staffDelete"]["userErrors"] == []

    async with services.db.session() as session:
        diffs = {
            e.action: e.diff
            for e in await session.scalars(
                select(AuditEntry).where(AuditEntry.account_id == tenant.account_id)
            )
        }
        events = list(await session.scalars(select(Event).where(
            Event.account_id == tenant.account_id
        )))  # fmt: skip
    [cleared] = [c for c in diffs["staffDelete"] if c["id"] == report.id]
    assert (cleared["table"], cleared["fields"]) == ("staff", {"manager_id": [boss.staff_pk, None]})
    [reoffered] = [c for c in diffs["staffRoleChange"] if c["table"] == "invitations"]
    assert reoffered["fields"] == {"role": ["VIEWER", "EDITOR"]}
    told = [(e.type, e.data) for e in events if e.subject_id == report.id]
    assert told and all("manager" in str(data) for _, data in told), told
