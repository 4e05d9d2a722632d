"""Sign-up answers the same for a known and an unknown email whatever else is wrong with
the input: every field (the account's name and slug included) is checked before the email
is looked up."""

from __future__ import annotations

import pytest

from app.access import Role
from tests.factories import mail_text, mail_token, make_member, make_tenant, take_mail

SIGNUP = """mutation($input: SignupInput!) { signup(input: $input) {
  ok userErrors { field code message } } }"""


async def signup(api, email, **fields) -> dict:
    variables = {
        "input": {
            "email": email,
            "password": "a long enough password",
            "firstName": "Fay",
            "lastName": "Founder",
            "accountName": "Fay Co",
            **fields,
        }
    }
    return (await api.data(SIGNUP, variables))["signup"]


@pytest.mark.parametrize(
    "fields",
    [
        {"accountSlug": "NOT A SLUG!"},
        {"accountSlug": "12345"},
        {"accountSlug": "x"},
        {"accountName": " "},
        {"accountName": "x" * 201},
        "taken slug",
    ],
    ids=["bad-slug", "digits-slug", "short-slug", "blank-name", "long-name", "taken-slug"],
)
async def test_signup_answers_the_same_for_known_and_unknown_emails(api, services, fields):
    tenant = await make_tenant(services)
    person = await make_member(services, tenant, Role.EDITOR)
    if fields == "taken slug":
        fields = {"accountSlug": tenant.slug}
    known = await signup(api, person.email, **fields)
    unknown = await signup(api, "nobody.yet@example.com", **fields)
    assert known == unknown
    assert known["ok"] is False and known["userErrors"], known


VERIFY = """mutation($t: String!, $p: String = "a long enough password") {
  emailVerify(input: {token: $t, password: $p}) { userErrors { code } } }"""


async def test_what_a_signup_leaves_behind_does_not_tell_who_has_a_login(api, services):
    """A reviewer signed up a known and an unknown address, each asking for a slug, then
    asked for each slug again: only the unknown address's account had taken its slug, so
    TAKEN told which address had no login. A signed-up account takes its slug only once
    its founder confirms their email: until then every slug asked for is still free."""
    tenant = await make_tenant(services)
    person = await make_member(services, tenant, Role.EDITOR)
    assert (await signup(api, person.email, accountSlug="probe-known"))["ok"] is True
    assert (await signup(api, "nobody.yet@example.com", accountSlug="probe-new"))["ok"] is True
    again = [await signup(api, person.email, accountSlug=s) for s in ("probe-known", "probe-new")]
    assert again == [{"ok": True, "userErrors": []}] * 2
    # nor does the name's slug tell, for an account asking for none
    assert (await signup(api, "another.one@example.com", accountName="Named Co"))["ok"] is True
    assert (await signup(api, person.email, accountSlug="named-co"))["ok"] is True

    # the founder confirms: the account takes the slug asked for, which is then taken
    messages = await take_mail(services)
    [verification] = [
        m for m in messages
        if m["To"] == "nobody.yet@example.com" and "/email/verify" in mail_text(m)
    ]
    confirmed = await api.data(VERIFY, {"t": mail_token(verification)})
    assert confirmed["emailVerify"]["userErrors"] == []
    taken = await signup(api, person.email, accountSlug="probe-new")
    assert [e["code"] for e in taken["userErrors"]] == ["TAKEN"]
