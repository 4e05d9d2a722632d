from app.access import Role
from tests.factories import PASSWORD, error_codes, make_member, make_tenant

LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token user { email } accounts { slug role } userErrors { code message field }
  }
}"""
VIEWER = "{ viewer { user { email } role permits accounts { slug role } } }"


async def test_login_returns_token_and_accounts(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    data = await api.data(LOGIN, {"email": member.email, "password": PASSWORD})
    payload = data["login"]
    assert payload["userErrors"] == []
    assert payload["accounts"] == [{"slug": tenant.slug, "role": "EDITOR"}]
    viewer = await api.data(VIEWER, token=payload["token"])
    assert viewer["viewer"]["role"] == "EDITOR"
    assert viewer["viewer"]["user"]["email"] == member.email


async def test_email_is_case_and_space_insensitive(api, services):
    tenant = await make_tenant(services)
    await make_member(services, tenant, email="Ann@Example.com")
    data = await api.data(LOGIN, {"email": "  ann@EXAMPLE.com ", "password": PASSWORD})
    assert data["login"]["token"]
    assert data["login"]["user"]["email"] == "ann@example.com"


async def test_unknown_email_and_wrong_password_answer_alike(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    wrong = await api.data(LOGIN, {"email": member.email, "password": "not the password"})
    unknown = await api.data(LOGIN, {"email": "nobody@example.com", "password": PASSWORD})
    assert wrong == unknown
    assert wrong["login"]["token"] is None
    assert wrong["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_logout_revokes_token_immediately(api, services):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    assert (await api.data("mutation { logout { ok } }", as_=member))["logout"]["ok"]
    body = await api(VIEWER, as_=member)
    assert error_codes(body) == ["UNAUTHENTICATED"]
