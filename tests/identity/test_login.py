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


# --- hashing holds no lock --------------------------------------------------------------

RENAME = """mutation($id: ID!) {
  staffUpdate(input: {id: $id, title: "Renamed"}) { staff { title } userErrors { code } }
}"""


async def _hold_verification(services, monkeypatch):
    """Make the next password checks wait until released; returns (started, release)."""
    import asyncio

    started, release = asyncio.Event(), asyncio.Event()
    original = services.passwords.verify

    async def held(stored, password, **lane):
        started.set()
        await release.wait()
        return await original(stored, password, **lane)

    monkeypatch.setattr(services.passwords, "verify", held)
    return started, release


async def test_other_writes_go_on_while_a_login_hashes(api, services, monkeypatch):
    """The login's rate-limit hits are committed before argon2 runs, so no transaction (on
    SQLite: the database's write lock) waits for the hash."""
    import asyncio

    tenant = await make_tenant(services)
    member = await make_member(services, tenant, Role.EDITOR)
    started, release = await _hold_verification(services, monkeypatch)
    login = asyncio.create_task(api(LOGIN, {"email": member.email, "password": PASSWORD}))
    await asyncio.wait_for(started.wait(), 10)
    renamed = await asyncio.wait_for(api(RENAME, {"id": member.staff_id}, as_=tenant.owner), 5)
    assert renamed["data"]["staffUpdate"]["staff"]["title"] == "Renamed"
    assert not login.done()
    release.set()
    body = await login
    assert body["data"]["login"]["token"] and body["data"]["login"]["userErrors"] == []


async def test_a_password_changed_while_hashing_wins(api, services, monkeypatch):
    from app.identity.models import User
    from tests.factories import update_row

    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    started, release = await _hold_verification(services, monkeypatch)
    import asyncio

    login = asyncio.create_task(api(LOGIN, {"email": member.email, "password": PASSWORD}))
    await asyncio.wait_for(started.wait(), 10)
    new_hash = await services.passwords.hash("a different password 1", held=False)
    await update_row(services, User, member.user_id, password_hash=new_hash)
    release.set()
    body = await login
    assert body["data"]["login"]["token"] is None
    assert body["data"]["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_a_malformed_email_is_a_field_error(api, services):
    body = await api(LOGIN, {"email": "not an email", "password": PASSWORD})
    assert "errors" not in body, body
    payload = body["data"]["login"]
    assert payload["token"] is None
    assert payload["userErrors"] == [
        {"code": "INVALID", "message": "Enter a valid email address.", "field": ["input", "email"]}
    ]
