"""An administrator's notices and a sender's copies go to their login's address, which
only they change: an editor holding ViewPersonalData may change the email on another
member's record, and with it redirected the administrator's join-request notices (the
requester's name and address) and the copies of what they sent (invitees' addresses and
messages the editor may not read)."""

from __future__ import annotations

from app.access import Role
from tests.factories import PERMIT_GRANT, make_member, make_tenant, take_mail
from tests.invitations.test_join_links import create_ok, join

MOVE = """mutation($id: ID!) { staffUpdate(input: {id: $id, email: "elsewhere@evil.test"}) {
  staff { id } userErrors { code } } }"""
INVITE = """mutation { invitationCreate(input: {email: "guest@example.com",
  message: "Welcome aboard", bccSender: true}) { userErrors { code } } }"""


async def test_notices_and_copies_go_to_the_login_not_to_the_record(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    editor = await make_member(services, tenant, Role.EDITOR)
    granted = await api.data(PERMIT_GRANT, {"id": editor.staff_id}, as_=tenant.owner)
    assert granted["staffPermitGrant"]["userErrors"] == []
    moved = await api.data(MOVE, {"id": admin.staff_id}, as_=editor)
    assert moved["staffUpdate"]["userErrors"] == []  # what an editor may do to a record
    await take_mail(services)

    invited = await api.data(INVITE, as_=admin)
    assert invited["invitationCreate"]["userErrors"] == []
    token, _ = await create_ok(api, tenant.owner, role="EDITOR", requiresApproval=True)
    assert (await join(api, token, "asks@example.com"))["outcome"] == "PENDING_APPROVAL"

    mail = await take_mail(services)
    sent_to = {(m["X-Roster-Template"], m["To"]) for m in mail}
    assert ("invitation_copy", admin.email) in sent_to
    assert ("join_request", admin.email) in sent_to
    assert all(to != "elsewhere@evil.test" for _, to in sent_to), sent_to
