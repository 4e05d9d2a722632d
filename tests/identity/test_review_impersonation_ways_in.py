"""Review: nothing that lets someone in, or feeds data out, is made while impersonating.

An invitation, a join link, a registered login or a webhook endpoint is its maker's: it is
withdrawn when they leave or lose the standing to make it (``withdraw_ways_in``), and an
endpoint is vouched for by whoever made or changed it. Made through an impersonation
token, it was the impersonated member's: the real maker, later disabled, kept a way back
in (an invitation to their other address) or a feed of personal data. So these are made
with one's own session only, by every door: GraphQL, the staff import and REST's
``inviteUser``. Emails do not change while impersonating, by the import either.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.access import Role
from app.db.base import utcnow
from app.invitations.models import Invitation, JoinLink
from app.staff.models import Staff
from app.webhooks.models import WebhookEndpoint
from tests.factories import error_codes, make_member, make_staff, make_tenant
from tests.identity.test_impersonation import start_token
from tests.staff.test_bulk_import import IMPORT, to_csv

PUBLIC_URL = "https://93.184.215.14/hooks/roster"  # a public address: no lookup needed

CREATE_ENDPOINT = """mutation($url: String!) {
  webhookEndpointCreate(input: {url: $url, eventTypes: ["staff.updated"]}) {
    secret userErrors { code } } }"""
# name -> (document, variables of the world)
WAYS_IN = {
    "invitationCreate": (
        """mutation { invitationCreate(input: {email: "alt@elsewhere.test", role: EDITOR}) {
             invitation { id } userErrors { code } } }""",
        lambda w: {},
    ),
    "invitationBulkCreate": (
        """mutation { invitationBulkCreate(input: {rows: [{email: "alt@elsewhere.test"}]}) {
             userErrors { code } } }""",
        lambda w: {},
    ),
    "invitationResend": (
        """mutation($id: ID!) { invitationResend(input: {id: $id}) {
             invitation { id } userErrors { code } } }""",
        lambda w: {"id": w.invitation_id},
    ),
    "joinLinkCreate": (
        """mutation { joinLinkCreate(input: {role: EDITOR}) { url userErrors { code } } }""",
        lambda w: {},
    ),
    "joinLinkRotate": (
        """mutation($id: ID!) { joinLinkRotate(input: {id: $id}) { url userErrors { code } } }""",
        lambda w: {"id": w.link_id},
    ),
    "staffRegister": (
        """mutation { staffRegister(input: {firstName: "Alt", lastName: "Ego",
             email: "alt@elsewhere.test", role: EDITOR}) { staff { id } userErrors { code } } }""",
        lambda w: {},
    ),
    "staffCreate with an invitation": (
        """mutation { staffCreate(input: {firstName: "Alt", lastName: "Ego",
             email: "alt@elsewhere.test", role: EDITOR, invite: true}) {
             staff { id } userErrors { code } } }""",
        lambda w: {},
    ),
    "joinRequestApprove": (
        """mutation($id: ID!) { joinRequestApprove(input: {id: $id}) {
             staff { id } userErrors { code } } }""",
        lambda w: {"id": w.request_id},
    ),
    "staffEnable": (
        """mutation($id: ID!) { staffEnable(input: {staffId: $id}) {
             staff { accountStatus } userErrors { code } } }""",
        lambda w: {"id": w.disabled.staff_id},
    ),
    "webhookEndpointCreate": (CREATE_ENDPOINT, lambda w: {"url": PUBLIC_URL}),
    "webhookEndpointUpdate": (
        """mutation($id: ID!) { webhookEndpointUpdate(input: {id: $id,
             eventTypes: ["staff.created", "staff.updated"]}) { userErrors { code } } }""",
        lambda w: {"id": w.endpoint_id},
    ),
    "webhookEndpointSecretRotate": (
        """mutation($id: ID!) { webhookEndpointSecretRotate(input: {id: $id}) {
             secret userErrors { code } } }""",
        lambda w: {"id": w.endpoint_id},
    ),
}


class World:
    pass


async def world(api, services) -> World:
    """The owner impersonates an administrator, who holds everything these need."""
    w = World()
    w.tenant = await make_tenant(services, seats=20)
    w.admin = await make_member(services, w.tenant, Role.ADMINISTRATOR)
    owner = w.tenant.owner
    made = await api.data(
        """mutation { invitationCreate(input: {email: "first@example.com"}) {
             invitation { id } } }""",
        as_=owner,
    )
    w.invitation_id = made["invitationCreate"]["invitation"]["id"]
    async with services.db.session(write=True) as session:  # past the resend cooldown
        await session.execute(
            update(Invitation).values(last_sent_at=utcnow() - timedelta(days=1))
        )
        await session.commit()
    link = await api.data(
        "mutation { joinLinkCreate(input: {role: VIEWER}) { joinLink { id } } }", as_=owner
    )
    w.link_id = link["joinLinkCreate"]["joinLink"]["id"]
    endpoint = await api.data(
        CREATE_ENDPOINT.replace("secret", "webhookEndpoint { id } secret"),
        {"url": PUBLIC_URL},
        as_=owner,
    )
    w.endpoint_id = endpoint["webhookEndpointCreate"]["webhookEndpoint"]["id"]
    asking = await api.data(
        "mutation { joinLinkCreate(input: {role: VIEWER, requiresApproval: true}) { url } }",
        as_=owner,
    )
    await api.data(
        """mutation($token: String!) { joinLinkJoin(input: {token: $token,
             email: "asker@example.com", password: "a good long password",
             firstName: "Ask", lastName: "Er"}) { outcome } }""",
        {"token": asking["joinLinkCreate"]["url"].rsplit("/", 1)[1]},
    )
    asked = await api.data("{ joinRequests(status: PENDING) { id } }", as_=owner)
    [w.request_id] = [r["id"] for r in asked["joinRequests"]]
    w.disabled = await make_member(services, w.tenant, Role.EDITOR)
    await api.data(
        "mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }",
        {"id": w.disabled.staff_id},
        as_=owner,
    )
    w.token = await start_token(api, owner, w.admin)
    return w


async def made(services) -> dict:
    async with services.db.session() as session:
        counts = {}
        for model in (Invitation, JoinLink, WebhookEndpoint, Staff):
            counts[model.__name__] = await session.scalar(select(func.count()).select_from(model))
        counts["statuses"] = tuple(
            await session.scalars(select(Staff.account_status).order_by(Staff.id))
        )
        counts["tokens"] = tuple(
            await session.scalars(select(JoinLink.token_digest).order_by(JoinLink.id))
        )
        counts["endpoints"] = tuple(
            (e.event_types, e.secret_sealed, e.created_by_staff_id)
            for e in await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
        )
        counts["invitations"] = tuple(
            (i.token_digest, i.status)
            for i in await session.scalars(select(Invitation).order_by(Invitation.id))
        )
        return counts


@pytest.mark.parametrize("name", list(WAYS_IN))
async def test_no_way_in_is_made_while_impersonating(api, services, name):
    query, variables = WAYS_IN[name]
    w = await world(api, services)
    before = await made(services)

    body = await api(query, variables(w), token=w.token, realm=w.tenant.slug)
    assert error_codes(body) == ["FORBIDDEN"], body
    assert await made(services) == before

    # the same request with the administrator's own session goes through
    own = await api.data(query, variables(w), as_=w.admin)
    assert next(iter(own.values()))["userErrors"] == []
    assert await made(services) != before


async def test_the_import_neither_invites_nor_changes_emails_while_impersonating(api, services):
    w = await world(api, services)
    colleague = await make_staff(
        services, w.tenant, first_name="Col", last_name="League", email="col@example.com",
        external_id="E-1",
    )
    before = await made(services)
    readdress = to_csv([{"externalId": "E-1", "firstName": "Col", "lastName": "League",
                         "email": "col@elsewhere.test"}])
    body = await api(IMPORT, {"csv": readdress, "apply": True}, token=w.token, realm=w.tenant.slug)
    result = body["data"]["staffImport"]
    assert result["applied"] is False and result["updated"] == 0
    assert [(e["column"], e["code"]) for e in result["errors"]] == [("email", "FORBIDDEN")]
    newcomer = to_csv([{"firstName": "Alt", "lastName": "Ego", "email": "alt@elsewhere.test"}])
    body = await api(
        IMPORT, {"csv": newcomer, "apply": True, "invite": True}, token=w.token,
        realm=w.tenant.slug,
    )
    assert error_codes(body) == ["FORBIDDEN"] and body["data"] is None, body
    assert await made(services) == before
    async with services.db.session() as session:
        assert (await session.get(Staff, colleague.id)).email == "col@example.com"

    # the administrator's own session may do both
    own = await api.data(IMPORT, {"csv": readdress, "apply": True}, as_=w.admin)
    assert own["staffImport"]["updated"] == 1


async def test_rest_refuses_an_add_that_invites_while_impersonating(client, api, services):
    w = await world(api, services)
    headers = {"X-Auth-Token": w.token, "X-Auth-Realm": w.tenant.slug}
    body = {"FName": "Alt", "SName": "Ego", "EMail": "alt@elsewhere.test"}
    before = await made(services)
    answer = await client.post("/api/v2/staff/add?inviteUser=true", json=body, headers=headers)
    assert answer.status_code == 405, answer.text  # the BigTime API's "not allowed"
    assert await made(services) == before
    own = {"X-Auth-Token": w.admin.token, "X-Auth-Realm": w.tenant.slug}
    answer = await client.post("/api/v2/staff/add?inviteUser=true", json=body, headers=own)
    assert answer.status_code == 200, answer.text
