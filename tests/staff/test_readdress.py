"""A record's email changing away from the address its invitation went to revokes that
invitation (app.staff.readdress), on every path that writes the email: staffUpdate, SCIM's
userName, the bulk import, and an invitation naming the record with another address."""

from __future__ import annotations

from tests.factories import PASSWORD, mail_token, make_tenant, make_user, take_mail
from tests.invitations.test_join_links import create_ok, join
from tests.invitations.test_service import (
    REVOKE,
    accept_new,
    codes_of,
    invite,
    invite_ok,
    lapse,
    listed,
    seats,
    staff_of,
)
from tests.scim.helpers import scim_for, user_body
from tests.staff.test_bulk_import import run, to_csv

UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { id email accountStatus } userErrors { field code } }
}"""
RESEND = """mutation($id: ID!) { invitationResend(input: {id: $id}) {
  invitation { status } userErrors { code } } }"""
AUDIT = """{ auditLog(first: 1) { edges { node { action diff } } } }"""
ME = "{ viewer { staff { id email } } }"


async def invited(api, services, tenant, email="typo@example.com", **fields):
    """An invitation to ``email`` (on a new record) and the token its email carries."""
    invitation = await invite_ok(api, tenant.owner, email, **fields)
    [message] = await take_mail(services)
    return invitation, mail_token(message)


async def update(api, member, staff_id, **values) -> dict:
    data = await api.data(UPDATE, {"input": {"id": staff_id, **values}}, as_=member)
    return data["staffUpdate"]


async def test_editing_the_address_revokes_the_pending_invitation(api, services):
    tenant = await make_tenant(services, seats=2)
    invitation, old_token = await invited(api, services, tenant, role="EDITOR")
    staff_id = invitation["staff"]["id"]
    assert (await seats(api, tenant))["available"] == 0

    fixed = await update(api, tenant.owner, staff_id, email="right@example.com")
    assert fixed["userErrors"] == []
    assert fixed["staff"]["email"] == "right@example.com"
    assert fixed["staff"]["accountStatus"] == "NOT_INVITED"
    # in the same transaction, logged with the change as a revocation is
    [entry] = [e["node"] for e in (await api.data(AUDIT, as_=tenant.owner))["auditLog"]["edges"]]
    assert entry["action"] == "staffUpdate"
    [change] = [c for c in entry["diff"] if c["table"] == "invitations"]
    assert change["fields"]["status"] == ["PENDING", "REVOKED"]
    assert [i["status"] for i in await listed(api, tenant.owner)] == ["REVOKED"]
    assert (await seats(api, tenant))["available"] == 1  # the seat it held is free

    # the link in the old mailbox no longer joins
    stale = await accept_new(api, old_token)
    assert await codes_of(stale) == [(["input", "token"], "INVITATION_REVOKED")]
    # the corrected address is invited, and joins as the record
    again = await invite_ok(api, tenant.owner, "right@example.com", role="EDITOR")
    assert again["staff"]["id"] == staff_id
    [message] = await take_mail(services)
    assert message["To"] == "right@example.com"
    joined = await accept_new(api, mail_token(message))
    assert joined["userErrors"] == [] and joined["staff"]["id"] == staff_id


async def test_an_old_link_never_takes_over_the_record_its_right_person_joined(api, services):
    tenant = await make_tenant(services)
    invitation, old_token = await invited(api, services, tenant, role="EDITOR")
    staff_id = invitation["staff"]["id"]
    assert (await update(api, tenant.owner, staff_id, email="right@example.com"))[
        "userErrors"
    ] == []
    # the right person (a Roster login) joins through a join link: linked to the record
    await make_user(services, "right@example.com", PASSWORD)
    link, _ = await create_ok(api, tenant.owner, role="VIEWER")
    joined = await join(api, link, "right@example.com", PASSWORD, firstName="R", lastName="Ight")
    assert joined["outcome"] == "JOINED" and joined["userErrors"] == [], joined
    login = await api.data(
        "mutation($p: String!) { login(input: {email: \"right@example.com\", password: $p})"
        " { token } }",
        {"p": PASSWORD},
    )
    right = login["login"]["token"]
    assert (await api.data(ME, token=right, realm=tenant.slug))["viewer"]["staff"]["id"] == staff_id

    stale = await accept_new(api, old_token)
    assert await codes_of(stale) == [(["input", "token"], "INVITATION_REVOKED")]
    me = await api.data(ME, token=right, realm=tenant.slug)
    assert me["viewer"]["staff"] == {"id": staff_id, "email": "right@example.com"}


async def test_an_expired_invitation_to_the_old_address_is_revoked_too(api, services):
    tenant = await make_tenant(services)
    invitation, old_token = await invited(api, services, tenant)
    await lapse(services, invitation["id"])
    fixed = await update(api, tenant.owner, invitation["staff"]["id"], email="right@example.com")
    assert fixed["userErrors"] == [] and fixed["staff"]["accountStatus"] == "NOT_INVITED"
    # a resend would have sent the old address a fresh link
    resent = await api.data(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    assert [e["code"] for e in resent["invitationResend"]["userErrors"]] == ["INVALID_STATE"]
    assert await take_mail(services) == []


async def test_other_edits_and_the_same_address_keep_the_invitation(api, services):
    tenant = await make_tenant(services)
    invitation, token = await invited(api, services, tenant)
    staff_id = invitation["staff"]["id"]
    kept = await update(api, tenant.owner, staff_id, title="Lead", email="typo@example.com")
    assert kept["userErrors"] == [] and kept["staff"]["accountStatus"] == "INVITED"
    assert [i["status"] for i in await listed(api, tenant.owner)] == ["PENDING"]
    assert (await accept_new(api, token))["userErrors"] == []


async def test_clearing_the_address_revokes_the_invitation(api, services):
    tenant = await make_tenant(services)
    invitation, token = await invited(api, services, tenant)
    cleared = await update(api, tenant.owner, invitation["staff"]["id"], email=None)
    assert cleared["userErrors"] == [] and cleared["staff"]["accountStatus"] == "NOT_INVITED"
    assert await codes_of(await accept_new(api, token)) == [
        (["input", "token"], "INVITATION_REVOKED")
    ]


async def test_scim_username_change_revokes_the_invitation(api, services, client):
    s = await scim_for(services, client)
    invitation, token = await invited(api, services, s.tenant, email="scim.typo@example.com")
    listed_users = (await s.get("/Users", filter='userName eq "scim.typo@example.com"')).json()
    [user] = listed_users["Resources"]
    response = await s.put(f"/Users/{user['id']}", user_body("scim.right@example.com"))
    assert response.status_code == 200, response.text
    assert response.json()["userName"] == "scim.right@example.com"
    node = await staff_of(api, s.tenant, invitation["staff"]["id"])
    assert node["accountStatus"] == "NOT_INVITED"
    assert await codes_of(await accept_new(api, token)) == [
        (["input", "token"], "INVITATION_REVOKED")
    ]


async def test_bulk_import_of_a_new_address_revokes_the_invitation(api, services):
    tenant = await make_tenant(services)
    invitation, token = await invited(
        api, services, tenant, email="bulk.typo@example.com", firstName="Bo", lastName="Ulk"
    )
    staff_id = invitation["staff"]["id"]
    # matched by its email; the externalId names it so that the email can change
    await update(api, tenant.owner, staff_id, externalId="hr-7")
    rows = [{"externalId": "hr-7", "firstName": "Bo", "lastName": "Ulk",
             "email": "bulk.right@example.com"}]
    report = await run(api, tenant.owner, to_csv(rows), apply=True)
    assert report["userErrors"] == [] and report["applied"] is True, report
    assert (report["updated"], report["errors"]) == (1, [])
    assert (await staff_of(api, tenant, staff_id))["accountStatus"] == "NOT_INVITED"
    assert await codes_of(await accept_new(api, token)) == [
        (["input", "token"], "INVITATION_REVOKED")
    ]


async def test_inviting_the_record_at_a_new_address_revokes_the_old_expired_one(api, services):
    tenant = await make_tenant(services)
    invitation, _ = await invited(api, services, tenant)
    await lapse(services, invitation["id"])
    again = await invite_ok(
        api, tenant.owner, "right@example.com", staffId=invitation["staff"]["id"]
    )
    assert again["staff"]["accountStatus"] == "INVITED"
    await take_mail(services)
    statuses = {i["email"]: i["status"] for i in await listed(api, tenant.owner)}
    assert statuses == {"typo@example.com": "REVOKED", "right@example.com": "PENDING"}
    # the old one cannot be sent again to the old mailbox
    resent = await api.data(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    assert [e["code"] for e in resent["invitationResend"]["userErrors"]] == ["INVALID_STATE"]


async def test_a_revoked_invitation_stays_revoked_when_the_address_changes(api, services):
    tenant = await make_tenant(services)
    invitation, _ = await invited(api, services, tenant)
    await api.data(REVOKE, {"id": invitation["id"]}, as_=tenant.owner)
    fixed = await update(api, tenant.owner, invitation["staff"]["id"], email="right@example.com")
    assert fixed["userErrors"] == [] and fixed["staff"]["accountStatus"] == "NOT_INVITED"
    assert [i["status"] for i in await listed(api, tenant.owner)] == ["REVOKED"]
    assert (await invite(api, tenant.owner, "right@example.com"))["userErrors"] == []
