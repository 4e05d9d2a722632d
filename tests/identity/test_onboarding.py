"""Direct registration, sign-up, email verification and every password path, through GraphQL."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.access import Role
from app.identity.models import User, UserToken
from tests.factories import (
    add_membership,
    error_codes,
    gid,
    mail_text,
    mail_token,
    make_member,
    make_staff,
    make_tenant,
    make_user,
    outbox_bcc,
    take_mail,
)

REGISTER = """mutation($input: StaffRegisterInput!) {
  staffRegister(input: $input) {
    staff { id email role accountStatus hasLogin }
    userErrors { field code }
  }
}"""
SIGNUP = (
    """mutation($input: SignupInput!) { signup(input: $input) { ok userErrors { field code } } }"""
)
VERIFY = """mutation($t: String!, $p: String = "a brand new passphrase") {
  emailVerify(input: {token: $t, password: $p}) {
    token user { email emailVerified } userErrors { field code } }
}"""
VERIFY_RESEND = """mutation($email: String!) {
  emailVerificationResend(input: {email: $email}) { ok userErrors { code } }
}"""
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token accounts { slug name role } userErrors { code }
  }
}"""
RESET_REQUEST = """mutation($email: String!) {
  passwordResetRequest(input: {email: $email}) { ok userErrors { field code } }
}"""
RESET = """mutation($t: String!, $pw: String!) {
  passwordReset(input: {token: $t, newPassword: $pw}) {
    token user { email emailVerified } userErrors { field code }
  }
}"""
CHANGE = """mutation($current: String!, $new: String!) {
  passwordChange(input: {currentPassword: $current, newPassword: $new}) {
    ok userErrors { field code }
  }
}"""
ADMIN_RESET = """mutation($id: ID!) {
  staffPasswordResetSend(input: {staffId: $id}) { ok userErrors { field code } }
}"""
VIEWER = "{ viewer { user { email } accounts { slug role } } }"
SEATS = "{ account { seats { limit used reserved available } } }"
OLD_PASSWORD = "correct horse battery"  # tests.factories.PASSWORD
NEW_PASSWORD = "a brand new passphrase"


def codes(payload) -> list[tuple]:
    return [(tuple(e["field"] or ()), e["code"]) for e in payload["userErrors"]]


async def login(api, email, password) -> dict:
    return (await api.data(LOGIN, {"email": email, "password": password}))["login"]


async def login_codes(api, email, password) -> list[str]:
    return [e["code"] for e in (await login(api, email, password))["userErrors"]]


async def register(api, member, **fields) -> dict:
    variables = {"input": {"firstName": "Reg", "lastName": "Istered", **fields}}
    return (await api.data(REGISTER, variables, as_=member))["staffRegister"]


async def signup(api, email, password=NEW_PASSWORD, **fields) -> dict:
    variables = {
        "input": {
            "email": email,
            "password": password,
            "firstName": "Fay",
            "lastName": "Founder",
            "accountName": "Fay Co",
            **fields,
        }
    }
    return (await api.data(SIGNUP, variables))["signup"]


async def reset(api, token, password) -> dict:
    return (await api.data(RESET, {"t": token, "pw": password}))["passwordReset"]


async def is_signed_in(api, token) -> bool:
    body = await api(VIEWER, token=token)
    if error_codes(body) == ["UNAUTHENTICATED"]:
        return False
    assert not body.get("errors"), body
    return True


async def backdate_user_tokens(services, email: str, seconds: int = 3600) -> None:
    """Move every emailed token of a user out of its cooldown."""
    from sqlalchemy import select

    from app.identity.models import User

    async with services.db.session(write=True) as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
        await session.execute(
            update(UserToken)
            .where(UserToken.user_id == user_id)
            .values(created_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )
        await session.commit()


def template(message) -> str:
    return message["X-Roster-Template"]


# --- staffRegister ---


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
async def test_only_administrators_register_members(api, services, role):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, role)
    body = await api(
        REGISTER,
        {"input": {"firstName": "A", "lastName": "B", "email": "a@example.com"}},
        as_=member,
    )
    assert error_codes(body) == ["FORBIDDEN"]
    assert await take_mail(services) == []
    assert (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]["used"] == 2


async def test_register_creates_an_active_member_with_a_set_password_link(api, services):
    tenant = await make_tenant(services, "Reg Co")
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    payload = await register(api, admin, email=" New@Example.com ", role="EDITOR")
    assert payload["userErrors"] == []
    assert payload["staff"] == {
        "id": payload["staff"]["id"],
        "email": "new@example.com",
        "role": "EDITOR",
        "accountStatus": "ACTIVE",
        "hasLogin": True,
    }
    seats = (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]
    assert seats["used"] == 3 and seats["reserved"] == 0

    [welcome] = await take_mail(services)
    assert welcome["To"] == "new@example.com"
    assert welcome["Subject"] == "Welcome to Reg Co on Roster"
    text = mail_text(welcome)
    assert "http://roster.test/password/reset?token=" in text
    assert "/password/reset?token=" in welcome.get_body(("html",)).get_content()
    assert "as an editor" in text
    # No password travels by email: there is none yet, so none can log in.
    assert await login_codes(api, "new@example.com", "") == ["INVALID_CREDENTIALS"]
    assert "password:" not in text.lower()

    token = mail_token(welcome)
    done = await reset(api, token, NEW_PASSWORD)
    assert done["userErrors"] == []
    assert done["user"] == {"email": "new@example.com", "emailVerified": True}
    viewer = await api.data(VIEWER, token=done["token"])
    assert viewer["viewer"]["accounts"] == [{"slug": tenant.slug, "role": "EDITOR"}]
    ok = await login(api, "new@example.com", NEW_PASSWORD)
    assert ok["userErrors"] == [] and ok["accounts"][0]["slug"] == tenant.slug

    again = await reset(api, token, "yet another password")
    assert codes(again) == [(("input", "token"), "TOKEN_USED")]
    assert await login_codes(api, "new@example.com", "yet another password") == [
        "INVALID_CREDENTIALS"
    ]


async def test_register_welcome_options_subject_message_and_bcc(api, services):
    tenant = await make_tenant(services)
    await register(
        api,
        tenant.owner,
        email="bo@example.com",
        welcome={"subject": "Hi Bo", "message": "See you on Monday", "bccSender": True},
    )
    await register(api, tenant.owner, email="cy@example.com", welcome={"message": "Hello Cy"})
    mail = {m["To"]: m for m in await take_mail(services)}
    bo, cy, copy = mail["bo@example.com"], mail["cy@example.com"], mail[tenant.owner.email]
    assert copy["Subject"].startswith("Copy: you added bo@example.com to ")
    assert "See you on Monday" in mail_text(copy) and "token=" not in copy.as_string()
    assert bo["Subject"] == "Hi Bo"
    assert "See you on Monday" in mail_text(bo)
    assert "See you on Monday" in bo.get_body(("html",)).get_content()
    assert "Hello Cy" in mail_text(cy) and "See you on Monday" not in mail_text(cy)
    assert "Bcc" not in bo and "Bcc" not in cy
    # The welcome (with its set-password link) is never copied; the copy is its own message.
    assert set(map(tuple, (await outbox_bcc(services)).values())) == {()}


async def test_register_validates_email_and_redirect(api, services):
    tenant = await make_tenant(services)
    missing = await register(api, tenant.owner)
    assert codes(missing) == [(("input", "email"), "REQUIRED")]
    bad = await register(api, tenant.owner, email="nope", redirectUrl="https://evil.example/x")
    assert sorted(codes(bad)) == [
        (("input", "email"), "INVALID"),
        (("input", "redirectUrl"), "INVALID"),
    ]
    member = await make_member(services, tenant, Role.VIEWER)
    taken = await register(api, tenant.owner, email=member.email.upper())
    assert codes(taken) == [(("input", "email"), "ALREADY_MEMBER")]
    assert await take_mail(services) == []


async def test_register_needs_a_free_seat(api, services):
    tenant = await make_tenant(services, seats=2)
    assert (await register(api, tenant.owner, email="a@example.com"))["userErrors"] == []
    full = await register(api, tenant.owner, email="b@example.com")
    assert [e["code"] for e in full["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    assert full["staff"] is None
    assert [m["To"] for m in await take_mail(services)] == ["a@example.com"]
    assert await login_codes(api, "b@example.com", NEW_PASSWORD) == ["INVALID_CREDENTIALS"]


async def test_register_invites_an_existing_user_instead_of_enrolling_them(api, services):
    here = await make_tenant(services, "Here Inc")
    there = await make_tenant(services)
    person = await make_member(services, there, Role.VIEWER)
    payload = await register(api, here.owner, email=person.email, role="EDITOR")
    assert payload["userErrors"] == []
    assert payload["staff"]["accountStatus"] == "INVITED"
    assert payload["staff"]["hasLogin"] is False
    seats = (await api.data(SEATS, as_=here.owner))["account"]["seats"]
    assert seats["used"] == 1 and seats["reserved"] == 1

    # Nothing joined them: their login and sessions see only the account they chose.
    ok = await login(api, person.email, OLD_PASSWORD)
    assert [a["slug"] for a in ok["accounts"]] == [there.slug]
    assert await is_signed_in(api, person.token)

    [invitation] = await take_mail(services)
    assert invitation["To"] == person.email
    assert template(invitation) == "invitation"
    assert "/invitations/accept?token=" in mail_text(invitation)
    assert "/password/reset" not in mail_text(invitation)
    accepted = await api.data(
        """mutation($t: String!) { invitationAccept(input: {token: $t}) {
             account { slug } staff { role accountStatus } userErrors { code } } }""",
        {"t": mail_token(invitation)},
        token=person.token,
    )
    assert accepted["invitationAccept"] == {
        "account": {"slug": here.slug},
        "staff": {"role": "EDITOR", "accountStatus": "ACTIVE"},
        "userErrors": [],
    }
    ok = await login(api, person.email, OLD_PASSWORD)
    assert {(a["slug"], a["role"]) for a in ok["accounts"]} == {
        (there.slug, "VIEWER"),
        (here.slug, "EDITOR"),
    }


async def test_register_existing_user_is_invited_even_without_welcome(api, services):
    here = await make_tenant(services)
    user = await make_user(services)
    payload = await register(api, here.owner, email=user.email, sendWelcome=False)
    assert payload["userErrors"] == []
    assert payload["staff"]["accountStatus"] == "INVITED"
    # The invitation is how they join, so it is always sent.
    [invitation] = await take_mail(services)
    assert invitation["To"] == user.email and template(invitation) == "invitation"
    # A brand-new login always gets its set-password link (there is no other way in).
    fresh = await register(api, here.owner, email="fresh@example.com", sendWelcome=False)
    assert fresh["userErrors"] == []
    [welcome] = await take_mail(services)
    assert welcome["To"] == "fresh@example.com" and "/password/reset?token=" in mail_text(welcome)


# --- signup and email verification ---


async def test_signup_creates_an_owned_account_that_needs_verification(api, services):
    result = await signup(api, " Founder@Example.com ", accountName="Fay Co")
    assert result == {"ok": True, "userErrors": []}
    assert await login_codes(api, "founder@example.com", NEW_PASSWORD) == ["INVALID_CREDENTIALS"]

    [message] = await take_mail(services)
    assert message["To"] == "founder@example.com"
    assert template(message) == "email_verification"
    assert "http://roster.test/email/verify?token=" in mail_text(message)
    token = mail_token(message)
    verified = (await api.data(VERIFY, {"t": token}))["emailVerify"]
    assert verified["userErrors"] == []
    assert verified["user"] == {"email": "founder@example.com", "emailVerified": True}
    viewer = await api.data(VIEWER, token=verified["token"])
    assert [a["role"] for a in viewer["viewer"]["accounts"]] == ["OWNER"]

    ok = await login(api, "FOUNDER@example.com", NEW_PASSWORD)
    assert ok["userErrors"] == []
    assert [(a["name"], a["role"]) for a in ok["accounts"]] == [("Fay Co", "OWNER")]
    again = (await api.data(VERIFY, {"t": token}))["emailVerify"]
    assert codes(again) == [(("input", "token"), "TOKEN_USED")]
    wrong = (await api.data(VERIFY, {"t": "rt_nothing"}))["emailVerify"]
    assert codes(wrong) == [(("input", "token"), "INVALID_TOKEN")]


async def test_only_who_chose_the_password_confirms_the_address(api, services):
    """Someone signs up with an address that is not theirs. Its owner, finding "confirm your
    address" in their mail, clicks: without the password nothing is confirmed, so the
    stranger never gets a confirmed login at their address (nor the places it takes)."""
    await signup(api, "victim@example.com", accountName="Stranger Co")
    [message] = await take_mail(services)
    token = mail_token(message)
    for password in (None, "", "not what the stranger chose"):
        refused = (await api.data(VERIFY, {"t": token, "p": password}))["emailVerify"]
        assert codes(refused) == [(("input", "password"), "INVALID_CREDENTIALS")], password
        assert refused["token"] is None
    assert await login_codes(api, "victim@example.com", NEW_PASSWORD) == ["INVALID_CREDENTIALS"]
    # the link is still good, for whoever knows the password
    verified = (await api.data(VERIFY, {"t": token}))["emailVerify"]
    assert verified["userErrors"] == []
    assert verified["user"] == {"email": "victim@example.com", "emailVerified": True}


async def test_a_login_without_a_password_confirms_with_none(api, services):
    """A registered member's login has no password until its set-password link is used;
    asked for a confirmation link meanwhile, it confirms without one."""
    tenant = await make_tenant(services)
    registered = await register(api, tenant.owner, email="reg@example.com")
    assert registered["userErrors"] == []
    await take_mail(services)  # the welcome
    await api.data(VERIFY_RESEND, {"email": "reg@example.com"})
    [message] = await take_mail(services)
    assert template(message) == "email_verification"
    verified = (await api.data(VERIFY, {"t": mail_token(message), "p": None}))["emailVerify"]
    assert verified["userErrors"] == []
    assert verified["user"] == {"email": "reg@example.com", "emailVerified": True}


async def test_passwords_tried_on_a_confirmation_link_count_as_logins(api, services):
    await signup(api, "guessed@example.com")
    token = mail_token((await take_mail(services))[0])
    answers = [await api(VERIFY, {"t": token, "p": f"guess number {i}"}) for i in range(11)]
    wrong = answers[0]["data"]["emailVerify"]
    assert codes(wrong) == [(("input", "password"), "INVALID_CREDENTIALS")]
    assert error_codes(answers[-1]) == ["RATE_LIMITED"]
    # the right password is refused too, until the limit lapses, at login as here
    login_body = await api(LOGIN, {"email": "guessed@example.com", "password": NEW_PASSWORD})
    assert error_codes(login_body) == ["RATE_LIMITED"]
    assert error_codes(await api(VERIFY, {"t": token})) == ["RATE_LIMITED"]


async def test_signup_refuses_a_weak_password_and_missing_names(api, services):
    weak = await signup(api, "w@example.com", password="too short")
    assert codes(weak) == [(("input", "password"), "WEAK_PASSWORD")] and weak["ok"] is False
    nameless = await signup(api, "w@example.com", firstName=" ")
    assert codes(nameless) == [(("input", "firstName"), "REQUIRED")]
    assert await take_mail(services) == []
    assert await login_codes(api, "w@example.com", NEW_PASSWORD) == ["INVALID_CREDENTIALS"]


async def test_verification_can_be_resent(api, services):
    await signup(api, "slow@example.com")
    [first] = await take_mail(services)
    # Within the cooldown a resend sends nothing (and says the same).
    resend = (await api.data(VERIFY_RESEND, {"email": "slow@example.com"}))[
        "emailVerificationResend"
    ]
    assert resend == {"ok": True, "userErrors": []}
    assert await take_mail(services) == []

    await backdate_user_tokens(services, "slow@example.com")
    await api.data(VERIFY_RESEND, {"email": "Slow@Example.com"})
    [second] = await take_mail(services)
    assert template(second) == "email_verification" and second["To"] == "slow@example.com"
    assert mail_token(second) != mail_token(first)
    # The older link is retired; the new one verifies.
    old = (await api.data(VERIFY, {"t": mail_token(first)}))["emailVerify"]
    assert old["token"] is None and old["userErrors"]
    new = (await api.data(VERIFY, {"t": mail_token(second)}))["emailVerify"]
    assert new["userErrors"] == []
    assert (await login(api, "slow@example.com", NEW_PASSWORD))["userErrors"] == []

    # Same answer for a verified user and an unknown email, and no email for either.
    await backdate_user_tokens(services, "slow@example.com")
    for email in ("slow@example.com", "nobody@example.com"):
        same = (await api.data(VERIFY_RESEND, {"email": email}))["emailVerificationResend"]
        assert same == {"ok": True, "userErrors": []}
    assert await take_mail(services) == []


async def test_signup_with_an_existing_email_answers_the_same_and_creates_nothing(api, services):
    tenant = await make_tenant(services)
    person = await make_member(services, tenant, Role.EDITOR)
    fresh = await signup(api, "someone.new@example.com")
    taken = await signup(api, person.email.upper(), accountName="Second Co")
    assert taken == fresh == {"ok": True, "userErrors": []}

    mail = {m["To"]: m for m in await take_mail(services)}
    note = mail[person.email]
    assert template(note) == "account_exists"
    assert note["Subject"] == "You already have a Roster account"
    assert "token=" not in mail_text(note)
    # No second user: the new password does not work, the old one does, no new account.
    assert await login_codes(api, person.email, NEW_PASSWORD) == ["INVALID_CREDENTIALS"]
    ok = await login(api, person.email, OLD_PASSWORD)
    assert [a["slug"] for a in ok["accounts"]] == [tenant.slug]


LOGIN_ANSWER = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { field code message } }
}"""


async def test_a_login_after_signing_up_tells_no_one_whether_the_address_was_taken(
    api, services
):
    """Signing up answers alike for a new and a taken address; logging in afterwards
    with the password offered must too. A new address's login took that password (it
    answered "confirm your address first"), a taken one's did not (a wrong password):
    anyone could learn whether an address has a Roster login. Both are a wrong password
    now, until the address is confirmed."""
    tenant = await make_tenant(services)
    person = await make_member(services, tenant, Role.EDITOR)
    answers = []
    for email in ("someone.new@example.com", person.email):
        assert (await signup(api, email)) == {"ok": True, "userErrors": []}
        body = await api.data(LOGIN_ANSWER, {"email": email, "password": NEW_PASSWORD})
        answers.append(body["login"])
    assert answers[0] == answers[1]
    assert answers[0]["token"] is None
    assert [e["code"] for e in answers[0]["userErrors"]] == ["INVALID_CREDENTIALS"]
    # once the address is confirmed, its password logs in
    [welcome, _note] = sorted(await take_mail(services), key=lambda m: m["To"] == person.email)
    verified = await api.data(VERIFY, {"t": mail_token(welcome), "p": NEW_PASSWORD})
    assert verified["emailVerify"]["userErrors"] == []
    assert (await login(api, "someone.new@example.com", NEW_PASSWORD))["token"]


# --- passwordResetRequest ---


async def test_reset_request_answers_the_same_for_known_and_unknown_email(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    known = await api.data(RESET_REQUEST, {"email": member.email.upper()})
    unknown = await api.data(RESET_REQUEST, {"email": "nobody@example.com"})
    assert known == unknown == {"passwordResetRequest": {"ok": True, "userErrors": []}}
    [message] = await take_mail(services)
    assert message["To"] == member.email
    assert template(message) == "password_reset"
    assert message["Subject"] == "Reset your Roster password"
    assert "http://roster.test/password/reset?token=" in mail_text(message)


async def test_reset_request_cooldown(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    await api.data(RESET_REQUEST, {"email": member.email})
    again = await api.data(RESET_REQUEST, {"email": member.email})
    assert again == {"passwordResetRequest": {"ok": True, "userErrors": []}}
    [first] = await take_mail(services)
    # The first link still works after the refused second request.
    await backdate_user_tokens(services, member.email)
    await api.data(RESET_REQUEST, {"email": member.email})
    [second] = await take_mail(services)
    assert mail_token(second) != mail_token(first)
    assert (await reset(api, mail_token(first), NEW_PASSWORD))["userErrors"] == []


# --- passwordReset ---


async def request_reset_token(api, services, email) -> str:
    await api.data(RESET_REQUEST, {"email": email})
    [message] = [m for m in await take_mail(services) if template(m) == "password_reset"]
    return mail_token(message)


async def test_reset_is_single_use_and_ends_every_session(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    other_session = (await login(api, member.email, OLD_PASSWORD))["token"]
    assert await is_signed_in(api, member.token) and await is_signed_in(api, other_session)
    token = await request_reset_token(api, services, member.email)

    done = await reset(api, token, NEW_PASSWORD)
    assert done["userErrors"] == []
    assert not await is_signed_in(api, member.token)
    assert not await is_signed_in(api, other_session)
    assert await is_signed_in(api, done["token"])
    assert await login_codes(api, member.email, OLD_PASSWORD) == ["INVALID_CREDENTIALS"]
    assert (await login(api, member.email, NEW_PASSWORD))["userErrors"] == []

    [changed] = await take_mail(services)
    assert template(changed) == "password_changed" and changed["To"] == member.email
    assert changed["Subject"] == "Your Roster password was changed"

    again = await reset(api, token, "one more new password")
    assert codes(again) == [(("input", "token"), "TOKEN_USED")]
    assert (await login(api, member.email, NEW_PASSWORD))["userErrors"] == []


@pytest.mark.parametrize(
    "password",
    ["123456789", "x" * 257, "EMAIL"],
    ids=["9-chars", "257-chars", "the-email"],
)
async def test_reset_password_rules(api, services, password):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    token = await request_reset_token(api, services, member.email)
    if password == "EMAIL":
        password = f" {member.email.upper()} "
    weak = await reset(api, token, password)
    assert codes(weak) == [(("input", "newPassword"), "WEAK_PASSWORD")]
    assert weak["token"] is None
    # Nothing happened: the old password and session still work, and so does the link.
    assert await is_signed_in(api, member.token)
    assert await take_mail(services) == []
    ok = await reset(api, token, "0123456789")  # exactly 10 characters
    assert ok["userErrors"] == []
    assert (await login(api, member.email, "0123456789"))["userErrors"] == []


async def test_reset_accepts_256_characters(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    token = await request_reset_token(api, services, member.email)
    assert (await reset(api, token, "p" * 256))["userErrors"] == []
    assert (await login(api, member.email, "p" * 256))["userErrors"] == []


async def test_reset_with_a_wrong_expired_or_foreign_token(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    wrong = await reset(api, "rt_nothing", NEW_PASSWORD)
    assert codes(wrong) == [(("input", "token"), "INVALID_TOKEN")]

    token = await request_reset_token(api, services, member.email)
    async with services.db.session(write=True) as session:
        await session.execute(
            update(UserToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    expired = await reset(api, token, NEW_PASSWORD)
    assert codes(expired) == [(("input", "token"), "TOKEN_EXPIRED")]

    await signup(api, "v@example.com")
    [verification] = await take_mail(services)
    not_a_reset = await reset(api, mail_token(verification), NEW_PASSWORD)
    assert codes(not_a_reset) == [(("input", "token"), "INVALID_TOKEN")]
    assert await login_codes(api, member.email, NEW_PASSWORD) == ["INVALID_CREDENTIALS"]


# --- passwordChange ---


async def test_password_change(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.VIEWER)
    other_session = (await login(api, member.email, OLD_PASSWORD))["token"]

    wrong = (
        await api.data(CHANGE, {"current": "not my password", "new": NEW_PASSWORD}, as_=member)
    )["passwordChange"]
    assert codes(wrong) == [(("input", "currentPassword"), "INVALID_CREDENTIALS")]
    weak = (await api.data(CHANGE, {"current": OLD_PASSWORD, "new": "short"}, as_=member))[
        "passwordChange"
    ]
    assert codes(weak) == [(("input", "newPassword"), "WEAK_PASSWORD")]
    assert await is_signed_in(api, other_session)
    assert await take_mail(services) == []

    done = (await api.data(CHANGE, {"current": OLD_PASSWORD, "new": NEW_PASSWORD}, as_=member))[
        "passwordChange"
    ]
    assert done == {"ok": True, "userErrors": []}
    assert await is_signed_in(api, member.token)
    assert not await is_signed_in(api, other_session)
    assert await login_codes(api, member.email, OLD_PASSWORD) == ["INVALID_CREDENTIALS"]
    assert (await login(api, member.email, NEW_PASSWORD))["userErrors"] == []
    [changed] = await take_mail(services)
    assert template(changed) == "password_changed" and changed["To"] == member.email


async def test_password_change_needs_a_session(api, services):
    body = await api(CHANGE, {"current": OLD_PASSWORD, "new": NEW_PASSWORD})
    assert error_codes(body) == ["UNAUTHENTICATED"]


# --- staffPasswordResetSend ---


async def test_administrator_sends_a_member_a_reset_link(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    viewer = await make_member(services, tenant, Role.VIEWER)
    data = await api.data(ADMIN_RESET, {"id": viewer.staff_id}, as_=admin)
    assert data["staffPasswordResetSend"] == {"ok": True, "userErrors": []}
    [message] = await take_mail(services)
    assert message["To"] == viewer.email and template(message) == "password_reset"
    # The admin never sees the password; the member sets it with the link.
    assert (await reset(api, mail_token(message), NEW_PASSWORD))["userErrors"] == []
    assert (await login(api, viewer.email, NEW_PASSWORD))["userErrors"] == []


async def test_owner_sends_an_administrator_a_reset_link(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    data = await api.data(ADMIN_RESET, {"id": admin.staff_id}, as_=tenant.owner)
    assert data["staffPasswordResetSend"]["userErrors"] == []
    assert [m["To"] for m in await take_mail(services)] == [admin.email]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
async def test_only_administrators_send_reset_links(api, services, role):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, role)
    target = await make_member(services, tenant, Role.VIEWER)
    body = await api(ADMIN_RESET, {"id": target.staff_id}, as_=member)
    assert error_codes(body) == ["FORBIDDEN"]
    assert await take_mail(services) == []


async def test_reset_send_refusals(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    other_admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    no_login = await make_staff(services, tenant, email="nologin@example.com")
    elsewhere = await make_tenant(services)
    stranger = await add_membership(services, elsewhere, (await make_user(services)).id)

    async def refused(staff_id, member=admin):
        data = await api.data(ADMIN_RESET, {"id": staff_id}, as_=member)
        return codes(data["staffPasswordResetSend"])

    assert await refused(tenant.owner.staff_id) == [(("input", "staffId"), "FORBIDDEN")]
    assert await refused(admin.staff_id) == [(("input", "staffId"), "FORBIDDEN")]
    assert await refused(other_admin.staff_id) == [(("input", "staffId"), "FORBIDDEN")]
    assert await refused(tenant.owner.staff_id, tenant.owner) == [
        (("input", "staffId"), "FORBIDDEN")
    ]
    assert await refused(gid("Staff", no_login.id), tenant.owner) == [
        (("input", "staffId"), "INVALID_STATE")
    ]
    assert await refused(stranger.staff_id) == [(("input", "staffId"), "NOT_FOUND")]
    assert await take_mail(services) == []


INVITE = """mutation($email: String!) {
  invitationCreate(input: {email: $email}) { userErrors { code } } }"""
ACCEPT = """mutation($t: String!, $p: String) {
  invitationAccept(input: {token: $t, password: $p}) { token userErrors { code } } }"""


async def test_a_confirmation_link_left_unused_is_spent_once_the_address_is_confirmed(
    api, services
):
    """Someone signs up and leaves the confirmation email unread, then accepts an
    invitation with their password, which confirms the address. The old link is spent: a
    link left in a shared inbox or a forwarded mail never signs anyone in."""
    await signup(api, "later@example.com", accountName="Later Co")
    [message] = await take_mail(services)
    old = mail_token(message)
    tenant = await make_tenant(services)
    await api.data(INVITE, {"email": "later@example.com"}, as_=tenant.owner)
    [invitation] = await take_mail(services)
    accepted = (await api.data(ACCEPT, {"t": mail_token(invitation), "p": NEW_PASSWORD}))
    assert accepted["invitationAccept"]["token"]
    for password in (None, NEW_PASSWORD):
        again = (await api.data(VERIFY, {"t": old, "p": password}))["emailVerify"]
        assert again["token"] is None
        assert codes(again) == [(("input", "token"), "TOKEN_USED")]


async def test_a_confirmed_login_is_signed_in_by_a_confirmation_link_only_with_its_password(
    api, services
):
    """However the address came to be confirmed while a confirmation link was still live,
    the link signs the login in only with its password, as login does."""
    await signup(api, "confirmed@example.com", accountName="Confirmed Co")
    [message] = await take_mail(services)
    token = mail_token(message)
    async with services.db.session(write=True) as session:
        await session.execute(
            update(User).where(User.email == "confirmed@example.com")
            .values(email_verified_at=datetime.now(UTC))
        )
        await session.commit()
    for password in (None, "", "not the password"):
        refused = (await api.data(VERIFY, {"t": token, "p": password}))["emailVerify"]
        assert codes(refused) == [(("input", "password"), "INVALID_CREDENTIALS")], password
        assert refused["token"] is None
    verified = (await api.data(VERIFY, {"t": token}))["emailVerify"]
    assert verified["userErrors"] == [] and verified["token"]


CORRECT = """mutation($id: ID!, $email: String!) {
  staffUpdate(input: {id: $id, email: $email}) {
    staff { email accountStatus hasLogin } userErrors { code } } }"""


async def test_a_registered_address_corrected_takes_its_unused_login_away(api, services):
    """An administrator registers a member at a mistyped address, then corrects it. The
    login made for the mistyped address and never used is that address's: its welcome
    link, or a password reset there, signs in as nobody of the account, and the record
    (NOT_INVITED, its seat free) can be invited at its right address. A login in use stays."""
    tenant = await make_tenant(services)
    typo = await register(api, tenant.owner, email="bob@exmaple.com", role="ADMINISTRATOR")
    used = await register(api, tenant.owner, email="used@example.com")
    [first, second] = await take_mail(services)
    welcome = first if first["To"] == "bob@exmaple.com" else second
    kept = second if welcome is first else first
    done = await reset(api, mail_token(kept), NEW_PASSWORD)  # this one is used
    assert done["userErrors"] == []

    corrected = await api.data(CORRECT, {"id": typo["staff"]["id"], "email": "bob@example.com"},
                               as_=tenant.owner)
    assert corrected["staffUpdate"]["staff"] == {
        "email": "bob@example.com", "accountStatus": "NOT_INVITED", "hasLogin": False}
    signed_in = await reset(api, mail_token(welcome), "the typo squatter's password")
    assert signed_in["userErrors"] == []  # the login is the mistyped address's own
    viewer = await api.data(VIEWER, token=signed_in["token"])
    assert viewer["viewer"]["accounts"] == []
    invited = await api.data(INVITE, {"email": "bob@example.com"}, as_=tenant.owner)
    assert invited["invitationCreate"]["userErrors"] == []

    moved = await api.data(CORRECT, {"id": used["staff"]["id"], "email": "other@example.com"},
                           as_=tenant.owner)
    assert moved["staffUpdate"]["staff"] == {
        "email": "other@example.com", "accountStatus": "ACTIVE", "hasLogin": True}


DISABLE = """mutation($id: ID!) { staffDisable(input: {staffId: $id}) { userErrors { code } } }"""
ENABLE = """mutation($id: ID!) { staffEnable(input: {staffId: $id}) {
  staff { accountStatus } userErrors { code } } }"""


async def test_a_registered_member_disabled_and_enabled_before_signing_in_is_active(
    api, services
):
    """Registration makes a member ACTIVE at once (an administrator vouches for the
    address); disabled and enabled before the welcome link is used, they are ACTIVE again,
    and no sweep lapses them as a membership waiting for its confirmation."""
    from app.background import sweep_once

    tenant = await make_tenant(services)
    staff_id = (await register(api, tenant.owner, email="later.in@example.com"))["staff"]["id"]
    await api.data(DISABLE, {"id": staff_id}, as_=tenant.owner)
    enabled = await api.data(ENABLE, {"id": staff_id}, as_=tenant.owner)
    assert enabled["staffEnable"]["staff"] == {"accountStatus": "ACTIVE"}
    assert await sweep_once(services.db, timedelta(0)) == 0


async def test_a_disabled_registered_members_address_corrected_stays_disabled(api, services):
    """The unused login goes with the old address; the administrator's disable stays."""
    tenant = await make_tenant(services)
    staff_id = (await register(api, tenant.owner, email="off@exmaple.com"))["staff"]["id"]
    await api.data(DISABLE, {"id": staff_id}, as_=tenant.owner)
    corrected = await api.data(CORRECT, {"id": staff_id, "email": "off@example.com"},
                               as_=tenant.owner)
    assert corrected["staffUpdate"]["staff"] == {
        "email": "off@example.com", "accountStatus": "DISABLED", "hasLogin": False}
