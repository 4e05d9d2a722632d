"""Sign-up answers the same for a known and an unknown email whatever else is wrong with
the input: every field (the account's name and slug included) is checked before the email
is looked up."""

from __future__ import annotations

import pytest

from app.access import Role
from tests.factories import make_member, make_tenant

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
