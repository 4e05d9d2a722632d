"""The server-rendered pages behind the links in emails, driven with httpx like a browser:
the CSRF cookie set by the GET comes back with the form post."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from app.db.base import utcnow
from app.invitations.models import Invitation
from app.staff.models import AccountStatus, Staff
from tests.factories import (
    PASSWORD,
    error_codes,
    mail_token,
    make_member,
    make_tenant,
    take_mail,
    update_row,
)

INVITE = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code } }
}"""
PREVIEW = "query($t: String!) { invitationPreview(token: $t) { status } }"
LOGIN = """mutation($e: String!, $p: String!) {
  login(input: {email: $e, password: $p}) { token accounts { slug role } userErrors { code } }
}"""
NEW_PASSWORD = "a brand new passphrase"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def result_text(html: str) -> str:
    found = re.search(r'id="result">([^<]*)<', html)
    assert found, html
    return found.group(1)


async def invitation_token(api, services, tenant, email="joiner@example.com", **fields):
    data = await api.data(INVITE, {"input": {"email": email, **fields}}, as_=tenant.owner)
    assert data["invitationCreate"]["userErrors"] == []
    [message] = await take_mail(services)
    return mail_token(message), data["invitationCreate"]["invitation"]["id"]


async def status_of(api, token: str) -> str:
    return (await api.data(PREVIEW, {"t": token}))["invitationPreview"]["status"]


async def open_accept(client, token: str):
    page = await client.get("/invitations/accept", params={"token": token})
    assert page.status_code == 200, page.text
    return page, csrf_of(page.text)


def accept_form(token: str, csrf: str, **extra) -> dict:
    return {
        "csrf": csrf,
        "token": token,
        "first_name": "Jo",
        "last_name": "Iner",
        "password": NEW_PASSWORD,
        **extra,
    }


# --- accepting an invitation ----------------------------------------------------------------


async def test_accept_page_shows_the_account_and_a_form(api, client, services):
    tenant = await make_tenant(services, "Blue Widgets")
    token, _ = await invitation_token(api, services, tenant, role="EDITOR")
    page, csrf = await open_accept(client, token)
    assert "Blue Widgets" in page.text and "an editor" in page.text
    assert '<form method="post" action="/invitations/accept">' in page.text
    assert f'name="token" value="{token}"' in page.text
    for field in ("first_name", "last_name", "password"):
        assert f'name="{field}"' in page.text
    assert client.cookies.get("roster_csrf") == csrf
    assert (
        "HttpOnly" in page.headers["set-cookie"] and "SameSite=strict" in page.headers["set-cookie"]
    )


async def test_accept_post_without_csrf_or_from_another_origin_is_refused(api, client, services):
    tenant = await make_tenant(services)
    token, _ = await invitation_token(api, services, tenant)
    _, csrf = await open_accept(client, token)

    no_field = accept_form(token, csrf)
    del no_field["csrf"]
    wrong_field = accept_form(token, "x" * 43)
    not_ascii = accept_form(token, "é" * 43)  # a str compare_digest cannot take: was a 500
    foreign = await client.post(
        "/invitations/accept",
        data=accept_form(token, csrf),
        headers={"Origin": "https://evil.example"},
    )
    responses = [
        foreign,
        await client.post("/invitations/accept", data=no_field),
        await client.post("/invitations/accept", data=wrong_field),
        await client.post("/invitations/accept", data=not_ascii),
    ]
    client.cookies.clear()
    responses.append(await client.post("/invitations/accept", data=accept_form(token, csrf)))
    for response in responses:
        assert response.status_code == 403
        assert "Please try again" in response.text
        assert "Welcome aboard" not in response.text
    assert await status_of(api, token) == "PENDING"
    login = await api.data(LOGIN, {"e": "joiner@example.com", "p": NEW_PASSWORD})
    assert login["login"]["token"] is None


async def test_accept_with_the_form_joins_the_account(api, client, services):
    tenant = await make_tenant(services, "Green Gadgets")
    token, _ = await invitation_token(api, services, tenant, role="EDITOR")
    _, csrf = await open_accept(client, token)
    done = await client.post(
        "/invitations/accept",
        data=accept_form(token, csrf),
        headers={"Origin": "http://roster.test"},
    )
    assert done.status_code == 200, done.text
    assert "Welcome aboard" in done.text
    assert result_text(done.text) == ("You joined Green Gadgets. Sign in with joiner@example.com.")
    assert await status_of(api, token) == "ACCEPTED"
    login = await api.data(LOGIN, {"e": "joiner@example.com", "p": NEW_PASSWORD})
    assert login["login"]["accounts"] == [{"slug": tenant.slug, "role": "EDITOR"}]


async def test_accept_with_a_weak_password_shows_the_form_again(api, client, services):
    tenant = await make_tenant(services)
    token, _ = await invitation_token(api, services, tenant)
    _, csrf = await open_accept(client, token)
    weak = accept_form(token, csrf, password="short")
    again = await client.post("/invitations/accept", data=weak)
    assert again.status_code == 200
    assert 'role="alert"' in again.text
    assert 'value="Jo"' in again.text and 'value="Iner"' in again.text
    assert await status_of(api, token) == "PENDING"


async def test_unusable_invitation_links_show_a_clear_error(api, client, services):
    tenant = await make_tenant(services)
    used, _ = await invitation_token(api, services, tenant, "used@example.com")
    revoked, revoked_id = await invitation_token(api, services, tenant, "revoked@example.com")
    expired, expired_id = await invitation_token(api, services, tenant, "expired@example.com")

    _, csrf = await open_accept(client, used)
    assert (
        "Welcome aboard"
        in (await client.post("/invitations/accept", data=accept_form(used, csrf))).text
    )
    body = await api.data(
        "mutation($id: ID!) { invitationRevoke(input: {id: $id}) { userErrors { code } } }",
        {"id": revoked_id},
        as_=tenant.owner,
    )
    assert body["invitationRevoke"]["userErrors"] == []
    async with services.db.session() as session:
        expired_pk = await session.scalar(
            select(Invitation.id).where(Invitation.email == "expired@example.com")
        )
    await update_row(services, Invitation, expired_pk, expires_at=utcnow() - timedelta(minutes=1))

    cases = {
        "ri_not-a-real-token": (404, "This invitation link is not valid."),
        "": (404, "This invitation link is not valid."),
        used: (410, "This invitation was already accepted."),
        revoked: (410, "This invitation was withdrawn."),
        expired: (410, "This invitation has expired; ask for a new one."),
    }
    for token, (status, text) in cases.items():
        page = await client.get("/invitations/accept", params={"token": token})
        assert page.status_code == status, (token, page.text)
        assert result_text(page.text) == text
        assert "<form" not in page.text
    # Posting to a dead link gives the same page, and changes nothing.
    csrf = client.cookies.get("roster_csrf")
    post = await client.post("/invitations/accept", data=accept_form(revoked, csrf))
    assert post.status_code == 410 and "withdrawn" in post.text
    assert await status_of(api, revoked) == "REVOKED"


async def test_every_page_sends_the_security_headers(api, client, services):
    tenant = await make_tenant(services)
    token, _ = await invitation_token(api, services, tenant)
    responses = [
        await client.get("/invitations/accept", params={"token": token}),
        await client.get("/invitations/accept", params={"token": "nope"}),
        await client.get("/password/reset", params={"token": "x"}),
        await client.get("/password/forgot"),
        await client.get("/email/verify", params={"token": "x"}),
        await client.get("/join/whatever"),
        await client.post("/password/forgot", data={"email": "a@example.com"}),  # 403
        await client.post(
            "/email/verify",
            data={"token": "x", "csrf": csrf_of((await client.get("/password/forgot")).text)},
        ),  # 400
    ]
    assert {r.status_code for r in responses} == {200, 400, 403, 404}
    for response in responses:
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["content-type"].startswith("text/html")


# --- password reset -------------------------------------------------------------------------


async def test_password_reset_page_sets_the_password_and_ends_old_sessions(api, client, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    assert (await api.data("{ viewer { user { email } } }", as_=member))["viewer"]
    body = await api.data(
        "mutation($e: String!) { passwordResetRequest(input: {email: $e}) { ok } }",
        {"e": member.email.upper()},
    )
    assert body["passwordResetRequest"]["ok"]
    [message] = await take_mail(services)
    assert message["To"] == member.email
    token = mail_token(message)

    page = await client.get("/password/reset", params={"token": token})
    assert page.status_code == 200 and f'name="token" value="{token}"' in page.text
    csrf = csrf_of(page.text)
    differ = await client.post(
        "/password/reset",
        data={"csrf": csrf, "token": token, "password": NEW_PASSWORD, "confirm": "something else"},
    )
    assert "The two passwords differ." in differ.text
    done = await client.post(
        "/password/reset",
        data={"csrf": csrf, "token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        # What browsers send from our page (Referrer-Policy: same-origin).
        headers={"Origin": "http://roster.test"},
    )
    assert done.status_code == 200, done.text
    assert result_text(done.text) == f"Your password is set. Sign in with {member.email}."

    old_session = await api("{ viewer { user { email } } }", as_=member)
    assert error_codes(old_session) == ["UNAUTHENTICATED"]
    old = await api.data(LOGIN, {"e": member.email, "p": PASSWORD})
    assert old["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    new = await api.data(LOGIN, {"e": member.email, "p": NEW_PASSWORD})
    assert new["login"]["userErrors"] == [] and new["login"]["token"]
    [changed] = await take_mail(services)
    assert changed["Subject"] == "Your Roster password was changed"

    again = await client.post(
        "/password/reset",
        data={
            "csrf": csrf,
            "token": token,
            "password": "another passphrase",
            "confirm": "another passphrase",
        },
    )
    assert 'role="alert"' in again.text and "Password set" not in again.text
    assert (await api.data(LOGIN, {"e": member.email, "p": NEW_PASSWORD}))["login"]["token"]


async def test_forgot_password_gives_the_same_page_whether_or_not_the_email_exists(
    client, services
):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    csrf = csrf_of((await client.get("/password/forgot")).text)
    known = await client.post("/password/forgot", data={"csrf": csrf, "email": member.email})
    unknown = await client.post(
        "/password/forgot", data={"csrf": csrf, "email": "nobody@example.com"}
    )
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert "If that address has a Roster login" in known.text
    [message] = await take_mail(services)
    assert message["To"] == member.email and "/password/reset?token=" in str(message)


# --- email verification ---------------------------------------------------------------------


async def test_verify_page_get_does_not_use_the_token_post_does(api, client, services):
    body = await api.data(
        """mutation { signup(input: {email: "fresh@example.com", password: "a very good password",
             firstName: "Fay", lastName: "Fresh", accountName: "Fresh Co"}) { ok } }"""
    )
    assert body["signup"]["ok"]
    [message] = await take_mail(services)
    token = mail_token(message)
    login = {"e": "fresh@example.com", "p": "a very good password"}

    for _ in range(2):  # a link scanner fetching the page twice
        page = await client.get("/email/verify", params={"token": token})
        assert page.status_code == 200 and f'name="token" value="{token}"' in page.text
    still = await api.data(LOGIN, login)
    assert still["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"

    csrf = csrf_of(page.text)
    # without the password chosen at sign-up, nothing is confirmed
    refused = await client.post("/email/verify", data={"csrf": csrf, "token": token})
    assert refused.status_code == 400 and "Enter the password chosen" in refused.text
    # the form again, to try once more: the link is still good
    assert 'name="password"' in page.text and 'name="password"' in refused.text
    assert f'name="token" value="{token}"' in refused.text
    form = {"csrf": csrf, "token": token, "password": "a very good password"}
    done = await client.post("/email/verify", data=form)
    assert done.status_code == 200
    assert result_text(done.text) == "fresh@example.com is confirmed. You can sign in now."
    assert (await api.data(LOGIN, login))["login"]["accounts"][0]["role"] == "OWNER"
    again = await client.post("/email/verify", data=form)
    assert again.status_code == 400 and "Could not confirm" in again.text


# --- join links -----------------------------------------------------------------------------


async def test_join_link_page_adds_the_person(api, client, services):
    tenant = await make_tenant(services, "Join Co")
    created = await api.data(
        "mutation { joinLinkCreate(input: {role: VIEWER}) { url userErrors { code } } }",
        as_=tenant.owner,
    )
    url = created["joinLinkCreate"]["url"]
    assert url.startswith("http://roster.test/join/")
    path = url.removeprefix("http://roster.test")

    page = await client.get(path)
    assert page.status_code == 200 and f'action="{path}"' in page.text
    form = {
        "csrf": csrf_of(page.text),
        "email": "walkin@example.com",
        "first_name": "Walk",
        "last_name": "In",
        "password": NEW_PASSWORD,
    }
    refused = await client.post(path, data=form, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    done = await client.post(path, data=form)
    assert done.status_code == 200, done.text
    assert result_text(done.text) == "You joined Join Co."
    assert "Confirm your email" in done.text
    async with services.db.session() as session:
        staff = await session.scalar(
            select(Staff).where(
                Staff.account_id == tenant.account_id, Staff.email == "walkin@example.com"
            )
        )
    # a member once the email is confirmed; until then the record holds a seat
    assert staff is not None and staff.account_status == AccountStatus.UNCONFIRMED
    assert staff.first_name == "Walk" and staff.user_id is not None
    [verification] = await take_mail(services)
    assert verification["To"] == "walkin@example.com"
    assert "/email/verify?token=" in verification.get_body(("plain",)).get_content()

    # again, now a member: the right password gets a wrong one's (newcomer's) answer
    twice = await client.post(path, data=form)
    assert twice.status_code == 200 and result_text(twice.text) == "You joined Join Co."
    async with services.db.session() as session:
        rows = await session.scalars(
            select(Staff).where(
                Staff.account_id == tenant.account_id, Staff.email == "walkin@example.com"
            )
        )
        assert len(list(rows)) == 1


# --- opened links say at once whether they can be used ----------------------------------------


def sign_in_link(html: str) -> str:
    found = re.search(r'<a id="sign-in" href="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def test_accept_form_starts_with_the_names_the_inviter_gave(api, client, services):
    tenant = await make_tenant(services, "Named Co")
    token, _ = await invitation_token(
        api, services, tenant, "named@example.com", firstName="Nora", lastName="Named"
    )
    page, csrf = await open_accept(client, token)
    assert 'name="first_name" value="Nora"' in page.text
    assert 'name="last_name" value="Named"' in page.text

    # after a refused post the form keeps what was typed, not the inviter's names
    weak = await client.post(
        "/invitations/accept",
        data=accept_form(token, csrf, first_name="Norah", password="short"),
    )
    assert 'role="alert"' in weak.text and 'name="first_name" value="Norah"' in weak.text

    # the names are left as given: the new member is the inviter's Nora Named
    done = await client.post(
        "/invitations/accept",
        data={"csrf": csrf, "token": token, "first_name": "Nora", "last_name": "Named",
              "password": NEW_PASSWORD},
    )  # fmt: skip
    assert result_text(done.text) == "You joined Named Co. Sign in with named@example.com."
    assert sign_in_link(done.text) == "/signin"


async def test_reset_page_says_at_once_that_its_link_is_dead_and_does_not_use_a_good_one(
    api, client, services
):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    await api.data(
        "mutation($e: String!) { passwordResetRequest(input: {email: $e}) { ok } }",
        {"e": member.email},
    )
    token = mail_token((await take_mail(services))[0])

    for _ in range(2):  # opening the page (or a scanner's prefetch) leaves the link usable
        page = await client.get("/password/reset", params={"token": token})
        assert page.status_code == 200 and "<form" in page.text
    done = await client.post(
        "/password/reset",
        data={"csrf": csrf_of(page.text), "token": token, "password": NEW_PASSWORD,
              "confirm": NEW_PASSWORD},
    )  # fmt: skip
    assert result_text(done.text) == f"Your password is set. Sign in with {member.email}."
    assert sign_in_link(done.text) == "/signin"

    used = await client.get("/password/reset", params={"token": token})
    assert used.status_code == 410 and "<form" not in used.text
    assert result_text(used.text) == "This link was already used."
    bogus = await client.get("/password/reset", params={"token": "rt_nothing-like-it"})
    assert bogus.status_code == 404 and "<form" not in bogus.text
    assert result_text(bogus.text) == "This link is not valid."
    missing = await client.get("/password/reset")
    assert missing.status_code == 404 and result_text(missing.text) == "This link is not valid."


async def test_verify_page_says_at_once_that_its_link_is_used_or_expired(api, client, services):
    from app.identity.models import UserToken

    await api.data(
        """mutation { signup(input: {email: "twice@example.com", password: "a very good password",
             firstName: "Tw", lastName: "Ice", accountName: "Twice Co"}) { ok } }"""
    )
    token = mail_token((await take_mail(services))[0])
    page = await client.get("/email/verify", params={"token": token})
    form = {"csrf": csrf_of(page.text), "token": token, "password": "a very good password"}
    done = await client.post("/email/verify", data=form)
    assert sign_in_link(done.text) == "/signin"

    again = await client.get("/email/verify", params={"token": token})
    assert again.status_code == 410 and "<form" not in again.text
    assert result_text(again.text) == "This link was already used."

    await api.data(
        """mutation { signup(input: {email: "late@example.com", password: "a very good password",
             firstName: "La", lastName: "Te", accountName: "Late Co"}) { ok } }"""
    )
    late = mail_token((await take_mail(services))[0])
    async with services.db.session() as session:
        rows = list(await session.scalars(select(UserToken).where(UserToken.used_at.is_(None))))
    for row in rows:
        await update_row(services, UserToken, row.id, expires_at=utcnow() - timedelta(minutes=1))
    expired = await client.get("/email/verify", params={"token": late})
    assert expired.status_code == 410 and result_text(expired.text) == "This link has expired."


async def test_email_change_page_says_at_once_that_its_link_is_dead(api, client, services):
    from tests.staff.test_review_email_change import change_own, setup

    _, member, _ = await setup(services)
    await change_own(api, member, "moved@example.com")
    token = mail_token((await take_mail(services))[0])
    page = await client.get("/email/change", params={"token": token})
    assert page.status_code == 200 and "<form" in page.text

    await update_row(services, Staff, member.staff_pk, account_status=AccountStatus.DISABLED)
    refused = await client.get("/email/change", params={"token": token})
    assert refused.status_code == 404 and "<form" not in refused.text
    assert result_text(refused.text) == "This link is not valid."
    # as the post would answer: the address is never named
    assert "moved@example.com" not in refused.text


async def test_join_page_says_at_once_that_its_link_is_off(api, client, services):
    tenant = await make_tenant(services, "Door Co")
    created = await api.data(
        "mutation { joinLinkCreate(input: {role: VIEWER}) { url joinLink { id } } }",
        as_=tenant.owner,
    )
    path = created["joinLinkCreate"]["url"].removeprefix("http://roster.test")
    assert (await client.get(path)).status_code == 200
    await api.data(
        "mutation($id: ID!) { joinLinkDisable(input: {id: $id}) { userErrors { code } } }",
        {"id": created["joinLinkCreate"]["joinLink"]["id"]},
        as_=tenant.owner,
    )
    off = await client.get(path)
    assert off.status_code == 410 and "<form" not in off.text
    assert result_text(off.text) == "This join link was turned off."
    assert "Door Co" not in off.text  # the link's account is not named to strangers
    unknown = await client.get("/join/rj_no-such-link")
    assert unknown.status_code == 404 and "<form" not in unknown.text


# --- what the server is, and how to sign in ---------------------------------------------------


async def test_home_page_says_what_the_server_is_in_html_or_json(client):
    from app.version import roster_version

    page = await client.get("/", headers={"accept": "text/html,application/xhtml+xml,*/*"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"Roster {roster_version()}" in page.text
    assert 'href="/graphql"' in page.text and 'href="/signin"' in page.text
    assert page.headers["x-frame-options"] == "DENY"

    about = await client.get("/", headers={"accept": "application/json"})
    assert about.headers["content-type"] == "application/json"
    assert about.json() == {
        "name": "Roster",
        "description": "A multi-tenant GraphQL API for an organisation's people.",
        "version": roster_version(),
        "graphql": "/graphql",
        "graphiql": True,
        "signIn": "/signin",
        "health": "/healthz",
        "ready": "/readyz",
    }
    assert page.headers["vary"] == about.headers["vary"] == "Accept"


async def test_sign_in_page_explains_and_a_configured_sign_in_url_is_linked(
    api, client, services, settings
):
    page = await client.get("/signin")
    assert page.status_code == 200
    assert "sign in in that app" in page.text and "login(input:" in page.text

    from app.main import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(settings.database_url, sign_in_url="https://app.example/login"))
    tenant = await make_tenant(app.state.services, "Front Co")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://roster.test",
        headers={"Origin": "http://roster.test"},
    ) as other:
        created = await other.post(
            "/graphql",
            json={"query": INVITE, "variables": {"input": {"email": "fc@example.com"}}},
            headers={"authorization": f"Bearer {tenant.owner.token}",
                     "x-auth-realm": tenant.owner.realm},
        )  # fmt: skip
        assert created.json()["data"]["invitationCreate"]["userErrors"] == []
        token = mail_token((await take_mail(app.state.services))[0])
        page = await other.get("/invitations/accept", params={"token": token})
        done = await other.post("/invitations/accept", data=accept_form(token, csrf_of(page.text)))
        assert sign_in_link(done.text) == "https://app.example/login"
    await app.state.services.close()
