"""A record without a login goes, with its permit grants and the records shared with it, to
whoever next joins at its address: only who could give those may choose that address
(``access.handover_denial``), by changing the record's email (``staffUpdate``, SCIM, the
import: there only with external ids, which need EditRestrictedStaff, and so the right to
share) or by inviting it at another one."""

from __future__ import annotations

from sqlalchemy import select

from app.access import Role
from app.invitations.models import Invitation
from tests.factories import (
    gid,
    make_member,
    make_staff,
    make_tenant,
    member_as,
    share_staff_with,
)
from tests.invitations.test_service import INVITE

UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { email } userErrors { code field message } }
}"""


async def _world(api, services):
    """An editor who may write emails (ViewPersonalData granted) and invite (every member
    may), a record without a login that a restricted record is shared with, and a record
    that holds nothing."""
    tenant = await make_tenant(services, seats=20)
    await api.data(
        "mutation { accountUpdate(input: {everyoneCanInvite: true}) { userErrors { code } } }",
        as_=tenant.owner,
    )
    editor = await member_as(api, services, tenant, "EDITOR+PD")
    secret = await make_staff(services, tenant, last_name="Secret", restricted=True)
    manager = await make_staff(services, tenant, last_name="Manager", email="m@example.com")
    plain = await make_staff(services, tenant, last_name="Plain", email="n@example.com")
    await share_staff_with(services, tenant, secret.id, manager.id)
    return tenant, editor, manager, plain


def _codes(payload: dict) -> list[tuple[str, list]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def test_an_editor_cannot_point_a_record_with_shares_at_their_own_address(api, services):
    tenant, editor, manager, plain = await _world(api, services)
    # staffUpdate: the email of the record that a restricted record is shared with
    data = await api.data(
        UPDATE, {"input": {"id": gid("Staff", manager.id), "email": "me2@example.com"}},
        as_=editor,
    )  # fmt: skip
    assert _codes(data["staffUpdate"]) == [("FORBIDDEN", ["input", "email"])]
    # invitationCreate: the record, at another address
    data = await api.data(
        INVITE,
        {"input": {"staffId": gid("Staff", manager.id), "email": "me2@example.com",
                   "role": "EDITOR"}},
        as_=editor,
    )  # fmt: skip
    assert [e["code"] for e in data["invitationCreate"]["userErrors"]] == ["FORBIDDEN"]
    # at its own address, the record with shares may still be invited
    data = await api.data(
        INVITE,
        {"input": {"staffId": gid("Staff", manager.id), "email": "m@example.com",
                   "role": "EDITOR"}},
        as_=editor,
    )  # fmt: skip
    assert data["invitationCreate"]["userErrors"] == []
    # a record holding nothing: the editor may readdress it
    data = await api.data(
        UPDATE, {"input": {"id": gid("Staff", plain.id), "email": "n2@example.com"}}, as_=editor
    )
    assert data["staffUpdate"]["userErrors"] == []
    # clearing an email hands the record to nobody: that the editor may do
    data = await api.data(
        UPDATE, {"input": {"id": gid("Staff", manager.id), "email": None}}, as_=editor
    )
    assert data["staffUpdate"]["userErrors"] == []
    assert data["staffUpdate"]["staff"]["email"] is None
    # whoever may share records may choose its address
    data = await api.data(
        UPDATE, {"input": {"id": gid("Staff", manager.id), "email": "m2@example.com"}},
        as_=tenant.owner,
    )  # fmt: skip
    assert data["staffUpdate"]["userErrors"] == []


def test_nobody_hands_over_a_grant_they_could_not_give():
    """Through the API, whoever may write an email holds ViewPersonalData (the one permit
    granted today), so the rule is held here, as data: a grant of any permit the actor
    lacks refuses the handover."""
    from app.access import ROLE_PERMITS, Actor, Permit
    from app.staff.access import Carried, handover_denial

    def actor(*permits: Permit) -> Actor:
        return Actor(user_id=1, account_id=1, staff_id=1, role=Role.EDITOR,
                     permits=ROLE_PERMITS[Role.EDITOR] | set(permits))  # fmt: skip

    granted = Carried(grants=frozenset({Permit.VIEW_PERSONAL_DATA}))
    # granting takes MANAGE_STAFF and the permit itself (staffPermitGrant): so does this
    assert "may not give" in handover_denial(actor(), granted)
    assert "may not give" in handover_denial(actor(Permit.VIEW_PERSONAL_DATA), granted)
    assert "may not give" in handover_denial(actor(Permit.MANAGE_STAFF), granted)
    assert handover_denial(actor(Permit.MANAGE_STAFF, Permit.VIEW_PERSONAL_DATA), granted) is None
    shared = Carried(shared=True)
    assert "may not give" in handover_denial(actor(), shared)
    assert handover_denial(actor(Permit.EDIT_RESTRICTED_STAFF), shared) is None
    assert handover_denial(actor(), None) is None
    assert handover_denial(actor(), Carried()) is None


async def test_a_record_with_a_login_is_no_handover(api, services):
    """A member's email is their record's, not their login's: changing it hands nothing
    over, whatever is shared with them."""
    tenant, editor, _, _ = await _world(api, services)
    member = await make_member(services, tenant, Role.VIEWER)
    secret = await make_staff(services, tenant, last_name="Other secret", restricted=True)
    await share_staff_with(services, tenant, secret.id, member.staff_pk)
    data = await api.data(
        UPDATE, {"input": {"id": member.staff_id, "email": "moved@example.com"}}, as_=editor
    )
    assert data["staffUpdate"]["userErrors"] == []


async def test_a_key_without_staff_read_invites_what_it_adds_and_learns_nothing_else(api, services):
    """A key that does not read the directory (staff:write, invitations:write,
    personal_data) may add a record and invite it at once (staffCreate's invite), and gets
    the one answer every address of the account gets when it invites an address taken by
    a record it does not see."""
    from tests.identity.test_api_key_scopes import create_key

    tenant = await make_tenant(services, seats=20)
    member = await make_member(services, tenant, Role.VIEWER)
    token = (await create_key(api, tenant.owner, "STAFF_WRITE", "INVITATIONS_WRITE",
                              "PERSONAL_DATA"))["token"]  # fmt: skip
    as_key = {"token": token, "realm": tenant.slug}
    body = await api(
        """mutation { staffCreate(input: {firstName: "Cy", lastName: "Customer", kind: CUSTOMER,
             email: "cy@example.com", invite: true}) {
             staff { accountStatus } userErrors { code field message } } }""",
        **as_key,
    )
    assert body["data"]["staffCreate"]["userErrors"] == [], body
    async with services.db.session() as session:
        [invited] = await session.scalars(
            select(Invitation).where(Invitation.account_id == tenant.account_id)
        )
    assert (invited.email, invited.role) == ("cy@example.com", Role.GUEST)
    answers = []
    for email in (member.email, "cy@example.com"):  # a member; a record already invited
        body = await api(INVITE, {"input": {"email": email, "role": "GUEST"}}, **as_key)
        answers.append(
            [(e["code"], e["message"]) for e in body["data"]["invitationCreate"]["userErrors"]]
        )
    assert answers[0] == answers[1] and answers[0][0][0] == "FORBIDDEN", answers


async def test_a_registered_members_unused_login_is_no_cover_for_a_handover(api, services):
    """A member registered by an administrator whose welcome link is unread has a login
    that a change of address takes away with the old address (``readdress``): the record
    is then one without a login, and whoever joins at the new address gets what it holds.
    So choosing that address is a handover like any other: an editor who could not give
    the record's shares or grants may not, and so cannot join as the member at an address
    of their own."""
    from app.graphql.ids import decode_id
    from tests.factories import PERMIT_GRANT
    from tests.identity.test_onboarding import register

    tenant, editor, _, _ = await _world(api, services)
    shared = (await register(api, tenant.owner, email="new.hire@example.com"))["staff"]["id"]
    granted = (await register(api, tenant.owner, email="other.hire@example.com"))["staff"]["id"]
    secret = await make_staff(services, tenant, last_name="Payroll", restricted=True)
    await share_staff_with(services, tenant, secret.id, decode_id(shared, "Staff"))
    data = await api.data(PERMIT_GRANT, {"id": granted}, as_=tenant.owner)
    assert data["staffPermitGrant"]["userErrors"] == []
    for staff_id in (shared, granted):
        data = await api.data(
            UPDATE, {"input": {"id": staff_id, "email": "me.again@example.com"}}, as_=editor
        )
        assert _codes(data["staffUpdate"]) == [("FORBIDDEN", ["input", "email"])], staff_id
    # the records are as they were: their logins, at the addresses the owner chose
    shown = await api.data(
        "query($a: ID!, $b: ID!) { a: node(id: $a) { ... on Staff { email hasLogin } } "
        "b: node(id: $b) { ... on Staff { email hasLogin } } }",
        {"a": shared, "b": granted}, as_=tenant.owner,
    )  # fmt: skip
    assert shown == {"a": {"email": "new.hire@example.com", "hasLogin": True},
                     "b": {"email": "other.hire@example.com", "hasLogin": True}}  # fmt: skip
    # inviting a record with a login is refused whatever its address, and alike whether
    # the login was used (the editor's own record) or not: nothing tells them apart
    refusals = []
    for staff_id in (shared, editor.staff_id):
        data = await api.data(
            INVITE,
            {"input": {"staffId": staff_id, "email": "me.again@example.com", "role": "VIEWER"}},
            as_=editor,
        )
        refusals.append([e["code"] for e in data["invitationCreate"]["userErrors"]])
    assert refusals[0] == refusals[1] and refusals[0] and "FORBIDDEN" not in refusals[0]
    # whoever may give them may correct the address (the login goes with the old one)
    data = await api.data(
        UPDATE, {"input": {"id": shared, "email": "new.hire2@example.com"}}, as_=tenant.owner
    )
    assert data["staffUpdate"]["userErrors"] == []
