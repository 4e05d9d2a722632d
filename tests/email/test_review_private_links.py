"""A link that accepts an invitation or sets a password reaches its owner alone.

"Copy to me" (``bccSender``) gives the sender a separate notice without the link, on every
path that offers it: invitationCreate, invitationResend, staffCreate with an invitation,
and staffRegister's welcome email. Delivered over a real SMTP server (aiosmtpd) where the
envelope matters (test_review_private_links_smtp.py), and through the memory backend here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.email.links import build_link
from app.email.outbox import PrivateMessageCopied, enqueue
from app.invitations.models import Invitation
from tests.factories import (
    mail_text,
    mail_token,
    make_tenant,
    outbox_bcc,
    take_mail,
    update_row,
)

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { field code } }
}"""
RESEND = """mutation($id: ID!) {
  invitationResend(input: {id: $id}) { invitation { id } userErrors { field code } }
}"""
STAFF_CREATE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id } userErrors { field code } }
}"""
REGISTER = """mutation($input: StaffRegisterInput!) {
  staffRegister(input: $input) { staff { id } userErrors { field code } }
}"""
ACCEPT = """mutation($input: InvitationAcceptInput!) {
  invitationAccept(input: $input) { token staff { accountStatus } userErrors { field code } }
}"""
RESET = """mutation($t: String!, $pw: String!) {
  passwordReset(input: {token: $t, newPassword: $pw}) {
    token user { email emailVerified } userErrors { field code }
  }
}"""
NEW_PASSWORD = "a brand new passphrase"


def no_secret(message) -> None:
    whole = message.as_string()
    assert "token=" not in whole and "/invitations/accept" not in whole, whole
    assert "/password/reset" not in whole, whole


def by_recipient(messages) -> dict:
    found: dict = {}
    for message in messages:
        assert message["To"] not in found, "one message per recipient"
        found[message["To"]] = message
    return found


async def test_invitation_copy_to_the_inviter_has_no_link(api, services):
    tenant = await make_tenant(services, "Copy Co")
    data = await api.data(
        INVITE,
        {"input": {"email": "guest@example.com", "message": "Welcome aboard", "bccSender": True}},
        as_=tenant.owner,
    )
    assert data["invitationCreate"]["userErrors"] == []
    mail = by_recipient(await take_mail(services))
    assert set(mail) == {"guest@example.com", tenant.owner.email}
    assert set(map(tuple, (await outbox_bcc(services)).values())) == {()}  # no BCC anywhere

    copy = mail[tenant.owner.email]
    no_secret(copy)
    assert copy["Subject"] == "Copy: you invited guest@example.com to Copy Co on Roster"
    assert "Welcome aboard" in mail_text(copy)
    assert "guest@example.com" in copy.get_body(("html",)).get_content()

    # The invitee's own message still has the working link.
    invitation = mail["guest@example.com"]
    assert "Bcc" not in invitation and tenant.owner.email not in invitation.as_string()
    accepted = await api.data(
        ACCEPT,
        {
            "input": {
                "token": mail_token(invitation),
                "password": NEW_PASSWORD,
                "firstName": "Guest",
                "lastName": "Person",
            }
        },
    )
    assert accepted["invitationAccept"]["userErrors"] == []
    assert accepted["invitationAccept"]["staff"]["accountStatus"] == "ACTIVE"


async def test_resend_and_staff_create_invite_copies_have_no_link(api, services):
    tenant = await make_tenant(services, "Resend Co")
    data = await api.data(
        INVITE, {"input": {"email": "again@example.com", "bccSender": True}}, as_=tenant.owner
    )
    invitation_id = data["invitationCreate"]["invitation"]["id"]
    await take_mail(services)
    from app.graphql.ids import decode_id

    await update_row(
        services,
        Invitation,
        decode_id(invitation_id, "Invitation"),
        last_sent_at=datetime.now(UTC) - timedelta(hours=1),
    )
    resent = await api.data(RESEND, {"id": invitation_id}, as_=tenant.owner)
    assert resent["invitationResend"]["userErrors"] == []
    mail = by_recipient(await take_mail(services))
    assert set(mail) == {"again@example.com", tenant.owner.email}
    no_secret(mail[tenant.owner.email])
    assert "reminded again@example.com" in mail_text(mail[tenant.owner.email])
    assert "token=" in mail_text(mail["again@example.com"])

    created = await api.data(
        STAFF_CREATE,
        {
            "input": {
                "firstName": "Ada",
                "lastName": "Added",
                "email": "ada@example.com",
                "invite": True,
                "invitation": {"bccSender": True},
            }
        },
        as_=tenant.owner,
    )
    assert created["staffCreate"]["userErrors"] == []
    mail = by_recipient(await take_mail(services))
    assert set(mail) == {"ada@example.com", tenant.owner.email}
    no_secret(mail[tenant.owner.email])
    assert "token=" in mail_text(mail["ada@example.com"])


async def test_register_welcome_link_goes_to_the_person_alone(api, services):
    tenant = await make_tenant(services, "Reg Co")
    data = await api.data(
        REGISTER,
        {
            "input": {
                "firstName": "Bo",
                "lastName": "New",
                "email": "bo@example.com",
                "welcome": {"message": "See you Monday", "bccSender": True},
            }
        },
        as_=tenant.owner,
    )
    assert data["staffRegister"]["userErrors"] == []
    mail = by_recipient(await take_mail(services))
    assert set(mail) == {"bo@example.com", tenant.owner.email}
    assert set(map(tuple, (await outbox_bcc(services)).values())) == {()}
    copy = mail[tenant.owner.email]
    no_secret(copy)
    assert copy["Subject"] == "Copy: you added bo@example.com to Reg Co on Roster"
    assert "See you Monday" in mail_text(copy)

    # The administrator cannot become Bo; Bo can, with the link that reached Bo alone.
    token = mail_token(mail["bo@example.com"])
    done = (await api.data(RESET, {"t": token, "pw": NEW_PASSWORD}))["passwordReset"]
    assert done["userErrors"] == []
    assert done["user"] == {"email": "bo@example.com", "emailVerified": True}


# --- the rule lives in the outbox ------------------------------------------------------


@pytest.mark.parametrize(
    "template", ["invitation", "invitation_resent", "welcome", "password_reset"]
)
async def test_enqueue_refuses_to_copy_a_private_message(services, template):
    settings = services.settings
    context = {
        "inviter": "Ann",
        "account": "Acme",
        "role_name": "a viewer",
        "message": None,
        "first_name": "Zoe",
        "expires": "soon",
        "email": "zoe@example.com",
        "link": build_link(settings, "/x", "secret-token"),
    }
    async with services.db.session(write=True) as session:
        with pytest.raises(PrivateMessageCopied):
            await enqueue(
                session,
                settings.keyring,
                template=template,
                to="zoe@example.com",
                context=context,
                bcc=["boss@example.com"],
            )
        # Any message carrying a secret link is private, whatever its template.
        with pytest.raises(PrivateMessageCopied):
            await enqueue(
                session,
                settings.keyring,
                template="account_exists",
                to="zoe@example.com",
                context={"email": "zoe@example.com", "link": context["link"]},
                bcc=["boss@example.com"],
            )
        await session.rollback()


@pytest.mark.parametrize(
    ("template", "extra", "subject"),
    [
        ("invitation_copy", {"expires": "2030-01-01", "reminder": False}, "Copy: you invited"),
        ("invitation_copy", {"expires": "2030-01-01", "reminder": True}, "Copy: you invited"),
        ("welcome_copy", {"link_sent": True}, "Copy: you added"),
        ("welcome_copy", {"link_sent": False}, "Copy: you added"),
    ],
)
def test_copy_templates_render_both_parts_and_escape_the_message(template, extra, subject):
    from app.email.render import render

    evil = '<script>alert("x")</script>'
    context = {
        "email": "zoe@example.com",
        "account": "Acme",
        "role_name": "a viewer",
        "message": evil,
        **extra,
    }
    rendered = render(template, context)
    assert rendered.subject == f"{subject} zoe@example.com to Acme on Roster"
    assert rendered.html.lstrip().startswith("<!doctype html>")
    assert "zoe@example.com" in rendered.text and "Acme" in rendered.text
    assert evil in rendered.text and "<script>" not in rendered.html
    assert "href" not in rendered.html and "http" not in rendered.text
