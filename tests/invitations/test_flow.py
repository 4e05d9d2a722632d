"""The invitation path end to end through GraphQL, with the email caught in memory."""

import re

from app.access import Role
from tests.factories import error_codes, make_member, make_tenant

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) {
    invitation { id email role status sentCount inviter { fullName } staff { accountStatus } }
    userErrors { field code message }
  }
}"""
ACCEPT = """mutation($input: InvitationAcceptInput!) {
  invitationAccept(input: $input) {
    token account { slug } staff { accountStatus role email }
    userErrors { field code message }
  }
}"""
SEATS = "{ account { seats { limit used reserved available } } }"


async def sent_links(services) -> list[str]:
    await services.relay.run_once()
    return [
        re.search(r"token=([\w-]+)", m.get_body(("plain",)).get_content()).group(1)
        for m in services.sender.sent
    ]


async def test_invite_accept_as_new_user(api, services):
    tenant = await make_tenant(services, seats=3)
    data = await api.data(
        INVITE,
        {
            "input": {
                "email": " New.Person@Example.com ",
                "role": "EDITOR",
                "message": "Welcome!",
                "bccSender": True,
            }
        },
        as_=tenant.owner,
    )
    payload = data["invitationCreate"]
    assert payload["userErrors"] == []
    assert payload["invitation"]["email"] == "new.person@example.com"
    assert payload["invitation"]["status"] == "PENDING"
    assert payload["invitation"]["staff"]["accountStatus"] == "INVITED"
    seats = (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]
    assert seats == {"limit": 3, "used": 1, "reserved": 1, "available": 1}

    await services.relay.run_once()
    copy, message = sorted(services.sender.sent, key=lambda m: m["To"] != tenant.owner.email)
    services.sender.sent.remove(copy)  # the sender's copy carries no link
    assert copy["To"] == tenant.owner.email and "token=" not in copy.as_string()
    [token] = await sent_links(services)
    assert message["To"] == "new.person@example.com"
    assert "Welcome!" in message.get_body(("plain",)).get_content()
    assert (
        "http://roster.test/invitations/accept?token=" in message.get_body(("html",)).get_content()
    )

    preview = await api.data(
        "query($t: String!) { invitationPreview(token: $t) { accountName role status } }",
        {"t": token},
    )
    assert preview["invitationPreview"]["role"] == "EDITOR"

    accepted = await api.data(
        ACCEPT,
        {
            "input": {
                "token": token,
                "password": "a good long password",
                "firstName": "New",
                "lastName": "Person",
            }
        },
    )
    result = accepted["invitationAccept"]
    assert result["userErrors"] == []
    assert result["staff"]["accountStatus"] == "ACTIVE" and result["staff"]["role"] == "EDITOR"
    viewer = await api.data("{ viewer { role accounts { slug } } }", token=result["token"])
    assert viewer["viewer"]["role"] == "EDITOR"
    seats = (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]
    assert seats == {"limit": 3, "used": 2, "reserved": 0, "available": 1}

    again = await api.data(ACCEPT, {"input": {"token": token, "password": "a good long password"}})
    assert again["invitationAccept"]["userErrors"][0]["code"] == "TOKEN_USED"


async def test_existing_member_of_another_account_joins_without_new_password(api, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    person = await make_member(services, b, Role.VIEWER)
    await api.data(
        INVITE, {"input": {"email": person.email.upper(), "role": "VIEWER"}}, as_=a.owner
    )
    [token] = await sent_links(services)
    refused = await api.data(ACCEPT, {"input": {"token": token}})
    assert refused["invitationAccept"]["userErrors"][0]["code"] == "LOGIN_REQUIRED"
    accepted = await api.data(ACCEPT, {"input": {"token": token}}, token=person.token)
    assert accepted["invitationAccept"]["userErrors"] == []
    viewer = await api.data("{ viewer { accounts { slug } } }", token=person.token)
    assert {x["slug"] for x in viewer["viewer"]["accounts"]} == {a.slug, b.slug}


async def test_seat_limit_and_revoke_frees_a_seat(api, services):
    tenant = await make_tenant(services, seats=2)
    ok = await api.data(INVITE, {"input": {"email": "one@example.com"}}, as_=tenant.owner)
    full = await api.data(INVITE, {"input": {"email": "two@example.com"}}, as_=tenant.owner)
    assert full["invitationCreate"]["userErrors"][0]["code"] == "SEAT_LIMIT_REACHED"
    revoke = await api.data(
        "mutation($id: ID!) { invitationRevoke(input: {id: $id}) { invitation { status } userErrors { code } } }",
        {"id": ok["invitationCreate"]["invitation"]["id"]},
        as_=tenant.owner,
    )
    assert revoke["invitationRevoke"]["invitation"]["status"] == "REVOKED"
    again = await api.data(INVITE, {"input": {"email": "two@example.com"}}, as_=tenant.owner)
    assert again["invitationCreate"]["userErrors"] == []


async def test_resend_cooldown_is_rate_limited(api, services):
    tenant = await make_tenant(services)
    created = await api.data(INVITE, {"input": {"email": "x@example.com"}}, as_=tenant.owner)
    body = await api(
        "mutation($id: ID!) { invitationResend(input: {id: $id}) { invitation { sentCount } } }",
        {"id": created["invitationCreate"]["invitation"]["id"]},
        as_=tenant.owner,
    )
    assert error_codes(body) == ["RATE_LIMITED"]
    assert body["errors"][0]["extensions"]["retryAfter"] > 0


async def test_staff_create_with_invite_and_staff_register(api, services):
    tenant = await make_tenant(services)
    data = await api.data(
        """mutation { staffCreate(input: {firstName: "Ann", lastName: "Lee", email: "ann@example.com", invite: true}) {
             staff { accountStatus } userErrors { code field } } }""",
        as_=tenant.owner,
    )
    assert data["staffCreate"]["staff"]["accountStatus"] == "INVITED"
    reg = await api.data(
        """mutation { staffRegister(input: {firstName: "Bo", lastName: "Ng", email: "bo@example.com",
             welcome: {subject: "Hi Bo", message: "See you Monday"}}) {
             staff { accountStatus hasLogin } userErrors { code field message } } }""",
        as_=tenant.owner,
    )
    assert reg["staffRegister"]["userErrors"] == []
    assert reg["staffRegister"]["staff"] == {"accountStatus": "ACTIVE", "hasLogin": True}
    await services.relay.run_once()
    subjects = sorted(m["Subject"] for m in services.sender.sent)
    account_name = "Tenant " + tenant.slug.split("-")[1]
    assert subjects[0] == "Hi Bo"
    assert subjects[1].endswith(f"invited you to {account_name} on Roster")
    welcome = next(m for m in services.sender.sent if m["Subject"] == "Hi Bo")
    text = welcome.get_body(("plain",)).get_content()
    assert "/password/reset?token=" in text and "See you Monday" in text


async def test_signup_verify_login(api, services):
    body = await api.data("""mutation { signup(input: {email: "Founder@Example.com", password: "a very good password",
        firstName: "Fay", lastName: "Founder", accountName: "Fay Co"}) { ok userErrors { code } } }""")
    assert body["signup"]["ok"]
    login = await api.data("""mutation { login(input: {email: "founder@example.com", password: "a very good password"}) {
        token userErrors { code } } }""")
    assert login["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    [token] = await sent_links(services)
    verified = await api.data(
        'mutation($t: String!) { emailVerify(input: {token: $t, password: "a very good password"})'
        " { token userErrors { code } } }",
        {"t": token},
    )
    assert verified["emailVerify"]["token"]
    login = await api.data("""mutation { login(input: {email: "founder@example.com", password: "a very good password"}) {
        token accounts { role } userErrors { code } } }""")
    assert login["login"]["accounts"] == [{"role": "OWNER"}]
