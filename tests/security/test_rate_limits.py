"""Rate limits live in the database: they count every root field, survive failed
attempts, grow back-off for logins, and hold across server processes."""

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from app.db.base import utcnow
from app.main import create_app
from app.security.rate_limits import Limit
from app.services import Services
from tests.conftest import make_settings
from tests.factories import PASSWORD, Api, error_codes, make_member, make_tenant

LOGIN = 'login(input: {email: "%s", password: "%s"}) { token userErrors { code } }'


PASSWORD_CHANGE = """mutation($current: String!, $new: String!) {
  passwordChange(input: {currentPassword: $current, newPassword: $new}) { userErrors { code } }
}"""


def aliased_logins(email: str, password: str, count: int) -> str:
    fields = " ".join(f"a{i}: " + LOGIN % (email, password) for i in range(count))
    return "mutation { " + fields + " }"


def retry_afters(body: dict) -> list[int]:
    return [
        e["extensions"]["retryAfter"]
        for e in body.get("errors") or []
        if e["extensions"]["code"] == "RATE_LIMITED"
    ]


async def test_aliased_logins_are_refused_and_each_login_counts_as_an_attempt(api, services):
    """Fifteen aliased logins are refused before anything runs (one field that checks a
    password per operation: ``app.graphql.slow_fields``), so none is counted; one at a
    time, three attempts are allowed, the fourth is refused, and then even the right
    password is refused while locked out."""
    services.limiter.limits["login_email"] = Limit(
        3, timedelta(minutes=15), backoff=timedelta(seconds=30)
    )
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    body = await api(aliased_logins(member.email, "wrong password!", 15))
    assert body.get("data") is None and set(error_codes(body)) == {"BAD_USER_INPUT"}, body
    for _ in range(3):
        body = await api(aliased_logins(member.email, "wrong password!", 1))
        assert body["data"]["a0"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS", body
    body = await api(aliased_logins(member.email, "wrong password!", 1))
    assert error_codes(body) == ["RATE_LIMITED"]
    body = await api(aliased_logins(member.email, PASSWORD, 1))
    assert error_codes(body) == ["RATE_LIMITED"]


async def test_login_back_off_grows_and_a_lockout_never_blocks_password_reset(api, services):
    services.limiter.limits["login_email"] = Limit(
        2, timedelta(minutes=15), backoff=timedelta(seconds=30)
    )
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    waits = []
    for _ in range(2):
        await api(aliased_logins(member.email, "wrong password!", 1))
    for _ in range(3):
        body = await api(aliased_logins(member.email, "wrong password!", 1))
        waits += retry_afters(body)
    assert waits[0] >= 30 and waits[1] > waits[0] and waits[2] > waits[1]
    reset = await api.data(
        "mutation($e: String!) { passwordResetRequest(input: {email: $e}) "
        "{ ok userErrors { code } } }",
        {"e": member.email},
    )
    assert reset["passwordResetRequest"]["ok"] is True


async def test_successful_login_resets_the_email_counter(api, services):
    services.limiter.limits["login_email"] = Limit(
        3, timedelta(minutes=15), backoff=timedelta(seconds=30)
    )
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    for _ in range(2):
        await api(aliased_logins(member.email, "wrong password!", 1))
    ok = await api.data(aliased_logins(member.email, PASSWORD, 1))
    assert ok["a0"]["token"]
    for _ in range(3):
        body = await api(aliased_logins(member.email, "wrong password!", 1))
        assert error_codes(body) == []


def _from_address(app, address: str) -> Api:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return Api(httpx.AsyncClient(transport=transport, base_url="http://roster.test"))


async def test_a_stranger_guessing_an_email_locks_out_only_themselves(app, services):
    """The lock-out with back-off is of the email from one address: a stranger who tries
    the owner's email until locked out does not lock the owner out of their login."""
    services.limiter.limits["login_email"] = Limit(
        3, timedelta(minutes=15), backoff=timedelta(seconds=30)
    )
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    stranger, owner = _from_address(app, "203.0.113.9"), _from_address(app, "198.51.100.7")
    async with stranger.client, owner.client:
        for _ in range(6):
            await stranger(aliased_logins(member.email, "wrong password!", 1))
        body = await stranger(aliased_logins(member.email, PASSWORD, 1))
        assert error_codes(body) == ["RATE_LIMITED"]  # locked out, right password or not
        signed_in = await owner.data(aliased_logins(member.email, PASSWORD, 1))
        assert signed_in["a0"]["token"]


async def test_guesses_from_many_addresses_meet_a_ceiling_per_email(app, services):
    services.limiter.limits["login_email_total"] = Limit(4, timedelta(hours=1))
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    for i in range(4):
        async with _from_address(app, f"203.0.113.{i}").client as client:
            body = await Api(client)(aliased_logins(member.email, "wrong password!", 1))
            assert error_codes(body) == []
    async with _from_address(app, "198.51.100.7").client as client:
        body = await Api(client)(aliased_logins(member.email, PASSWORD, 1))
    assert error_codes(body) == ["RATE_LIMITED"]


async def test_guesses_spread_over_many_addresses_lock_none_of_the_owners_clients_out(
    app, services
):
    """The ceiling from anywhere holds back strangers' guesses spread over many
    addresses, but a client the owner logged in from lately is not held back by it: a
    hundred guesses an hour no longer keep the owner out of their own login, nor out of
    another password check (changing the password). Their own limits still hold there."""
    services.limiter.limits["login_email_total"] = Limit(3, timedelta(hours=1))
    services.limiter.limits["login_email"] = Limit(
        4, timedelta(minutes=15), backoff=timedelta(seconds=30)
    )
    tenant = await make_tenant(services)
    member = await make_member(services, tenant)
    owner = _from_address(app, "198.51.100.7")
    async with owner.client:
        signed_in = await owner.data(aliased_logins(member.email, PASSWORD, 1))
        assert signed_in["a0"]["token"]
        for i in range(5):  # strangers, each from an address of their own
            async with _from_address(app, f"203.0.113.{i}").client as client:
                await Api(client)(aliased_logins(member.email, "wrong password!", 1))
        async with _from_address(app, "192.0.2.1").client as client:
            body = await Api(client)(aliased_logins(member.email, PASSWORD, 1))
        assert error_codes(body) == ["RATE_LIMITED"]  # a new client: the ceiling holds
        again = await owner.data(aliased_logins(member.email, PASSWORD, 1))
        assert again["a0"]["token"]
        changed = await owner.data(
            PASSWORD_CHANGE,
            {"current": PASSWORD, "new": "another long passphrase"},
            token=again["a0"]["token"],
        )
        assert changed["passwordChange"]["userErrors"] == []
        for _ in range(4):  # the owner's own client is still limited on its own
            await owner(aliased_logins(member.email, "wrong password!", 1))
        body = await owner(aliased_logins(member.email, "another long passphrase", 1))
        assert error_codes(body) == ["RATE_LIMITED"]


async def test_limits_hold_across_server_processes(api, services, settings):
    """Two app instances (as two workers would be) share one count in the database."""
    services.limiter.limits["signup_address"] = Limit(3, timedelta(hours=1))
    other_services = Services.from_settings(settings)
    other_services.limiter.limits["signup_address"] = Limit(3, timedelta(hours=1))
    other = create_app(settings, services=other_services)
    signup = (
        'mutation { signup(input: {email: "p%d@example.com", password: "a long password",'
        ' firstName: "P", lastName: "Q", accountName: "P%d"}) { ok } }'
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://roster.test"
        ) as client:
            second = Api(client)
            assert error_codes(await api(signup % (1, 1))) == []
            assert error_codes(await second(signup % (2, 2))) == []
            assert error_codes(await api(signup % (3, 3))) == []
            body = await second(signup % (4, 4))
            assert error_codes(body) == ["RATE_LIMITED"]
            assert retry_afters(body)[0] > 3000
    finally:
        await other_services.close()


async def test_password_reset_join_and_verification_are_limited_per_address(api, services):
    for name in ("password_reset_address", "join_address", "verification_address"):
        services.limiter.limits[name] = Limit(2, timedelta(hours=1))
    reset = 'mutation { passwordResetRequest(input: {email: "x%d@example.com"}) { ok } }'
    verify = 'mutation { emailVerificationResend(input: {email: "x%d@example.com"}) { ok } }'
    join = (
        'mutation { joinLinkJoin(input: {token: "nope%d", email: "j@example.com", '
        'firstName: "J", lastName: "K", password: "a long password"}) '
        "{ outcome userErrors { code } } }"
    )
    for template in (reset, verify, join):
        codes = [error_codes(await api(template % i)) for i in range(3)]
        assert codes == [[], [], ["RATE_LIMITED"]], template


async def test_invitation_sends_are_limited_per_account_per_day(api, services):
    services.limiter.limits["invitations_account"] = Limit(3, timedelta(days=1))
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    bulk = await api(
        """mutation { invitationBulkCreate(input: {rows: [
        {email: "a@example.com"}, {email: "b@example.com"}]}) { createdCount } }""",
        as_=tenant.owner,
    )
    assert bulk["data"]["invitationBulkCreate"]["createdCount"] == 2
    one = 'mutation { invitationCreate(input: {email: "%s"}) { invitation { id } } }'
    assert error_codes(await api(one % "c@example.com", as_=tenant.owner)) == []
    assert error_codes(await api(one % "d@example.com", as_=tenant.owner)) == ["RATE_LIMITED"]
    # another account has its own allowance
    assert error_codes(await api(one % "d@example.com", as_=other.owner)) == []


async def test_only_who_may_invite_spends_the_accounts_invitation_allowance(
    api, client, services
):
    """The allowance is the account's, and a refused request's hits stay counted: asked of
    someone who may not invite (a viewer, an editor while everyoneCanInvite is off, a
    guest, a key without invitations:write), every way of sending an invitation is refused
    before it counts (a registration, which sends a welcome or an invitation: someone who
    may not register), so none of them can use up the day's invitations of the account. A
    bulk of more rows than it takes is refused without counting, whoever sends it."""
    from app.access import Role
    from app.access.scopes import Scope
    from app.invitations.service import MAX_BULK
    from tests.factories import make_api_token

    services.limiter.limits["invitations_account"] = Limit(3, timedelta(days=1))
    tenant = await make_tenant(services)
    callers = [
        await make_member(services, tenant, role) for role in (Role.VIEWER, Role.EDITOR, Role.GUEST)
    ]
    key = await make_api_token(
        services, tenant, tenant.owner, scopes=[Scope.STAFF_READ, Scope.STAFF_WRITE]
    )
    one = 'mutation { invitationCreate(input: {email: "%s"}) { userErrors { code } } }'
    def bulk_of(emails, selected: str) -> str:
        rows = ", ".join(f'{{email: "{e}"}}' for e in emails)
        return "mutation { invitationBulkCreate(input: {rows: [" + rows + "]}) " + selected + " }"

    bulk = bulk_of([f"b{n}@example.com" for n in range(3)], "{ createdCount }")
    create = """mutation { staffCreate(input: {firstName: "S", lastName: "C",
      email: "s@example.com", invite: true}) { userErrors { code } } }"""
    register = """mutation { staffRegister(input: {firstName: "R", lastName: "G",
      email: "r@example.com"}) { userErrors { code } } }"""
    for n in range(3):
        for caller in callers:
            for document in (one % f"x{n}@example.com", bulk, create, register):
                assert error_codes(await api(document, as_=caller)) == ["FORBIDDEN"]
        for document in (one % f"k{n}@example.com", bulk, create, register):
            body = await api(document, token=key)
            assert error_codes(body) == ["FORBIDDEN"], body
        added = await client.post(
            "/api/v2/staff/add?inviteUser=true",
            json={"FName": "R", "SName": "Est", "EMail": f"r{n}@example.com"},
            headers={"X-Auth-Token": callers[1].token, "X-Auth-Realm": tenant.slug},
        )
        assert added.status_code == 405 and "InviteUsers" in added.text, added.text
    too_many = [f"m{n}@example.com" for n in range(MAX_BULK + 1)]
    refused = await api(bulk_of(too_many, "{ userErrors { code } }"), as_=tenant.owner)
    assert refused["data"]["invitationBulkCreate"]["userErrors"] == [{"code": "LIMIT_REACHED"}]

    # the account's three invitations are all still there
    sent = await api(bulk, as_=tenant.owner)
    assert error_codes(sent) == [] and sent["data"]["invitationBulkCreate"]["createdCount"] == 3
    assert error_codes(await api(one % "z@example.com", as_=tenant.owner)) == ["RATE_LIMITED"]


async def test_registrations_count_as_invitation_sends(api, services):
    """staffRegister emails a welcome (a new address) or an invitation (an address with a
    login): either counts against the account's allowance of invitation emails, which
    also bounds how many addresses one account can try it with."""
    services.limiter.limits["invitations_account"] = Limit(2, timedelta(days=1))
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    register = """mutation($email: String!) { staffRegister(input: {email: $email,
      firstName: "R", lastName: "Egister"}) { staff { id } userErrors { code } } }"""
    for email in ("new@example.com", other.owner.email):  # a new address, an existing login
        body = await api(register, {"email": email}, as_=tenant.owner)
        assert error_codes(body) == [] and body["data"]["staffRegister"]["userErrors"] == []
    body = await api(register, {"email": "third@example.com"}, as_=tenant.owner)
    assert error_codes(body) == ["RATE_LIMITED"]


async def test_a_refused_request_waits_without_holding_anything(database_url):
    """With RATE_LIMITED_DELAY_SECONDS, a refused login is answered only after the delay;
    its hit is already committed and other requests, writes included, go on meanwhile."""
    services = Services.from_settings(make_settings(database_url, rate_limited_delay_seconds=0.6))
    app = create_app(services.settings, services=services)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://roster.test"
        ) as client:
            api = Api(client)
            services.limiter.limits["login_email"] = Limit(
                1, timedelta(minutes=15), backoff=timedelta(seconds=30)
            )
            tenant = await make_tenant(services)
            member = await make_member(services, tenant)
            await api(aliased_logins(member.email, "wrong password!", 1))  # the one allowed

            started = time.perf_counter()
            refused = asyncio.create_task(api(aliased_logins(member.email, PASSWORD, 1)))
            await asyncio.sleep(0.15)
            rename = await api(
                'mutation($id: ID!) { staffUpdate(input: {id: $id, title: "T"}) '
                "{ userErrors { code } } }",
                {"id": member.staff_id},
                as_=tenant.owner,
            )
            assert rename["data"]["staffUpdate"]["userErrors"] == []
            assert not refused.done(), "the refusal came before its delay"
            body = await refused
            assert error_codes(body) == ["RATE_LIMITED"]
            assert time.perf_counter() - started >= 0.6
            again = await api(aliased_logins(member.email, PASSWORD, 1))  # the hit counted
            assert error_codes(again) == ["RATE_LIMITED"]
    finally:
        await services.close()


async def test_an_operator_can_raise_or_lower_a_ceiling(database_url, monkeypatch):
    """ROSTER_RATE_LIMITS (JSON) replaces ceilings by name; windows and back-off stay."""
    monkeypatch.setenv("ROSTER_RATE_LIMITS", '{"password_reset_address": 2}')
    settings = make_settings(database_url, environment=True)
    assert settings.rate_limits == {"password_reset_address": 2}
    reset = 'mutation { passwordResetRequest(input: {email: "x%d@example.com"}) { ok } }'
    app = create_app(settings)
    limits = app.state.services.limiter.limits
    assert limits["password_reset_address"].max == 2
    assert limits["password_reset_address"].window == timedelta(hours=1)
    assert limits["login_address"].max == 50  # the others keep their defaults
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://roster.test"
        ) as client:
            codes = [error_codes(await Api(client)(reset % i)) for i in range(3)]
        assert codes == [[], [], ["RATE_LIMITED"]]
    finally:
        await app.state.services.close()
    for bad in ({"login_adress": 5}, {"login_address": 0}):
        with pytest.raises(ValidationError):
            make_settings(database_url, rate_limits=bad)


async def test_spent_buckets_are_pruned_and_known_clients_kept_for_their_time(
    services, settings
):
    """The prune deletes buckets that count for nothing (``SPENT_AFTER``); a client
    known to have logged in (``login_known``) is kept for its own time, thirty days,
    then deleted too: a client that logged in a week ago is still its owner's."""
    from app.background import prune_once
    from app.security.models import RateLimitBucket
    from app.security.rate_limits import MARKS, SPENT_AFTER

    now = utcnow()
    kept_for = MARKS["login_known"]
    ages = {
        "login_email:spent": SPENT_AFTER + timedelta(hours=1),
        "login_email:counting": timedelta(minutes=5),
        "login_known:last-week": timedelta(days=7),
        "login_known:long-ago": kept_for + timedelta(days=1),
    }
    async with services.db.session(write=True) as session:
        for key, age in ages.items():
            session.add(RateLimitBucket(key=key, window_start=now - age, count=1))
        await session.commit()
    pruned = await prune_once(services.db, settings)
    assert pruned["rate_limit_buckets"] == 2
    async with services.db.session() as session:
        left = set(await session.scalars(select(RateLimitBucket.key)))
    assert left == {"login_email:counting", "login_known:last-week"}
