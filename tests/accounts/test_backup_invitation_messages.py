"""An invitation's personal message is personal data (it may name an offer or a salary),
as the address it goes to is: the account backup holds it only when made with
ViewPersonalData, as GraphQL shows it only to those who hold it."""

from __future__ import annotations

import pytest

from app.access.scopes import Scope
from tests.factories import make_api_token, make_tenant

INVITE = """mutation($email: String!, $message: String) {
  invitationCreate(input: {email: $email, role: VIEWER, message: $message}) {
    invitation { id } userErrors { code } } }"""
NODE = "query($id: ID!) { node(id: $id) { ... on Invitation { email message } } }"
SECRET = "Offer: 95k, please keep it quiet"


@pytest.mark.parametrize("personal", [False, True])
async def test_the_backup_holds_messages_only_for_who_may_read_them(
    api, services, client, personal
):
    tenant = await make_tenant(services)
    body = await api.data(
        INVITE, {"email": "hire@example.com", "message": SECRET}, as_=tenant.owner
    )
    invitation_id = body["invitationCreate"]["invitation"]["id"]
    scopes = [Scope.ADMIN, Scope.STAFF_READ, Scope.INVITATIONS_WRITE] + ([Scope.PERSONAL_DATA] if personal else [])
    key = await make_api_token(services, tenant, tenant.owner, scopes=scopes)
    headers = {"Authorization": f"Bearer {key}", "X-Auth-Realm": tenant.slug}

    seen = (await api.data(NODE, {"id": invitation_id}, token=key, realm=tenant.slug))["node"]
    assert seen == (
        {"email": "hire@example.com", "message": SECRET}
        if personal
        else {"email": None, "message": None}
    )
    response = await client.get("/export/account.json", headers=headers)
    assert response.status_code == 200, response.text
    [invitation] = response.json()["invitations"]
    assert invitation.get("message") == (SECRET if personal else None)
    assert invitation.get("email") == ("hire@example.com" if personal else None)
