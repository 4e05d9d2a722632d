"""A frontend's ``redirectUrl`` for emailed links: only a plain link to an allow-listed origin
is taken, and it is emailed as Roster writes it out, never as the request spelt it."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.access import Role
from app.db.base import utcnow
from app.graphql.ids import decode_id
from app.invitations.models import Invitation
from tests.factories import make_member, make_tenant, take_mail

ORIGIN = "https://app.example"
RESET_REQUEST = """mutation($email: String!, $url: String) {
  passwordResetRequest(input: {email: $email, redirectUrl: $url}) { ok userErrors { field code } }
}"""
INVITE = """mutation($email: String!, $url: String) {
  invitationCreate(input: {email: $email, redirectUrl: $url}) {
    invitation { id } userErrors { field code }
  }
}"""
REGISTER = """mutation($email: String!, $url: String) {
  staffRegister(input: {firstName: "Reg", lastName: "Istered", email: $email, redirectUrl: $url}) {
    staff { id } userErrors { field code }
  }
}"""
CREATE_AND_INVITE = """mutation($email: String!, $url: String) {
  staffCreate(input: {firstName: "Cy", lastName: "Invited", email: $email, invite: true,
                      invitation: {redirectUrl: $url}}) {
    staff { id } userErrors { field code }
  }
}"""
RESEND = """mutation($id: ID!) {
  invitationResend(input: {id: $id}) { invitation { id } userErrors { field code } }
}"""

# Each of these passed the origin check before, and reached the email as written.
HOSTILE = [
    # urlsplit drops line breaks and tabs before parsing: lines of text under a real link
    f"{ORIGIN}/reset\n\nSECURITY NOTICE: your account is locked. Call +1 555 0100.\n\n",
    f"{ORIGIN}/reset\r\nCall us",
    f"{ORIGIN}/reset\tCall us",
    f"{ORIGIN}/reset Call us on +1 555 0100",  # a space is legal in a path to urlsplit
    f"{ORIGIN}/reset\u2028Call us",  # a line separator
    f"{ORIGIN}/reset\u202etxt.exe",  # a direction override
    f"{ORIGIN}/reset\x1b[2J",  # a terminal escape
    # the link's token would come second, after one the asker chose
    f"{ORIGIN}/reset?token=ATTACKERS",
    f"{ORIGIN}/reset?next=%2F&token",
    f"{ORIGIN}/reset?%74oken=ATTACKERS",
    # the token would land in the fragment, which is never sent to the frontend's server
    f"{ORIGIN}/reset#",
    f"{ORIGIN}/reset#top",
    "https://someone:secret@app.example/reset",
]
FLOWS = {
    "passwordResetRequest": (RESET_REQUEST, ["input", "redirectUrl"]),
    "invitationCreate": (INVITE, ["input", "redirectUrl"]),
    "staffRegister": (REGISTER, ["input", "redirectUrl"]),
    "staffCreate": (CREATE_AND_INVITE, ["input", "invitation", "redirectUrl"]),
}


@pytest.fixture
async def tenant(services, settings):
    settings.redirect_origins = [ORIGIN]
    tenant = await make_tenant(services)
    await make_member(services, tenant, Role.VIEWER, email="known@example.com")
    await take_mail(services)
    return tenant


async def ask(api, tenant, flow: str, url: str, email: str = "known@example.com") -> dict:
    document, _ = FLOWS[flow]
    as_ = None if flow == "passwordResetRequest" else tenant.owner
    if flow != "passwordResetRequest":
        email = f"new-{flow.lower()}@example.com"
    data = await api.data(document, {"email": email, "url": url}, as_=as_)
    return data[flow]


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("url", HOSTILE)
async def test_a_redirect_that_could_change_the_email_is_refused(api, services, tenant, flow, url):
    payload = await ask(api, tenant, flow, url)
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(FLOWS[flow][1], "INVALID")]
    assert await take_mail(services) == []


@pytest.mark.parametrize("flow", FLOWS)
async def test_the_emailed_link_is_the_url_as_roster_writes_it(api, services, tenant, flow):
    payload = await ask(api, tenant, flow, " HTTPS://App.Example/welcome/équipe?next=/home&a=\"b\" ")
    assert payload["userErrors"] == []
    [message] = await take_mail(services)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = "https://app.example/welcome/%C3%A9quipe?next=/home&a=%22b%22&token="
    assert link in text
    assert 'href="' + link.replace("&", "&amp;") in html
    assert "équipe" not in text and '"b"' not in text


async def test_an_invitation_keeps_the_url_it_emailed(api, services, tenant):
    payload = await ask(api, tenant, "invitationCreate", "https://APP.example/join?x=1")
    assert payload["userErrors"] == []
    async with services.db.session() as session:
        stored = await session.scalar(select(Invitation.redirect_url))
    assert stored == "https://app.example/join?x=1"


async def test_a_stored_redirect_the_rules_refuse_gets_roster_s_own_page(
    api, services, settings, tenant
):
    """An invitation made before these rules (or restored from a backup) keeps its redirect
    in the database; a resend checks it again and, refused, links to Roster's page."""
    payload = await ask(api, tenant, "invitationCreate", f"{ORIGIN}/join")
    await take_mail(services)
    invitation_id = decode_id(payload["invitation"]["id"], "Invitation")
    async with services.db.session(write=True) as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.id == invitation_id)
            .values(
                redirect_url=f"{ORIGIN}/join\n\nSECURITY NOTICE: call +1 555 0100",
                last_sent_at=utcnow().replace(year=2000),  # past the resend cooldown
            )
        )
        await session.commit()
    resent = await api.data(RESEND, {"id": payload["invitation"]["id"]}, as_=tenant.owner)
    assert resent["invitationResend"]["userErrors"] == []
    [message] = await take_mail(services)
    text = message.get_body(("plain",)).get_content()
    assert f"{settings.public_url}/invitations/accept?token=" in text
    assert "SECURITY NOTICE" not in text and "app.example" not in text
