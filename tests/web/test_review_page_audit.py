"""The HTML forms are audited like their GraphQL twins (same action names), each entry in
the account whose rows the post changed."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.audit.models import AuditEntry
from tests.factories import mail_token, make_tenant, take_mail

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code } }
}"""
LINK = """mutation($input: JoinLinkCreateInput!) {
  joinLinkCreate(input: $input) { url userErrors { code } }
}"""
LOG = "{ auditLog(first: 100) { edges { node { action requestId diff } } } }"
PASSWORD = "a brand new passphrase"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def entries(services, action: str) -> list[AuditEntry]:
    async with services.db.session() as session:
        return list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        )


async def test_accepting_with_the_form_is_audited_in_the_inviting_account(api, client, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    data = await api.data(
        INVITE, {"input": {"email": "joiner@example.com", "role": "VIEWER"}}, as_=b.owner
    )
    assert data["invitationCreate"]["userErrors"] == []
    token = mail_token((await take_mail(services))[0])
    page = await client.get("/invitations/accept", params={"token": token})
    done = await client.post(
        "/invitations/accept",
        data={"csrf": csrf_of(page.text), "token": token, "first_name": "Jo",
              "last_name": "Iner", "password": PASSWORD},
    )
    assert done.status_code == 200 and "Welcome aboard" in done.text, done.text

    [entry] = await entries(services, "invitationAccept")
    assert entry.account_id == b.account_id
    assert entry.request_id == done.headers["x-request-id"]
    assert entry.diff and PASSWORD not in str(entry.diff)
    log = await api.data(LOG, as_=b.owner)
    assert [e["node"]["action"] for e in log["auditLog"]["edges"]][0] == "invitationAccept"
    other = await api.data(LOG, as_=a.owner)
    assert "invitationAccept" not in [e["node"]["action"] for e in other["auditLog"]["edges"]]


async def test_joining_with_the_form_is_audited_in_the_links_account(api, client, services):
    b = await make_tenant(services)
    created = await api.data(LINK, {"input": {"role": "VIEWER"}}, as_=b.owner)
    path = created["joinLinkCreate"]["url"].removeprefix("http://roster.test")
    page = await client.get(path)
    done = await client.post(
        path,
        data={"csrf": csrf_of(page.text), "email": "walkin@example.com", "first_name": "Walk",
              "last_name": "In", "password": PASSWORD},
    )
    assert done.status_code == 200, done.text
    [entry] = await entries(services, "joinLinkJoin")
    assert entry.account_id == b.account_id


async def test_a_refused_form_post_writes_no_entry(api, client, services):
    page = await client.get("/password/forgot")  # (a dead link's page has no form)
    refused = await client.post(
        "/password/reset",
        data={"csrf": csrf_of(page.text), "token": "nope", "password": PASSWORD,
              "confirm": PASSWORD},
    )
    assert refused.status_code == 200 and "Sign in with" not in refused.text
    async with services.db.session() as session:
        assert list(await session.scalars(select(AuditEntry))) == []
