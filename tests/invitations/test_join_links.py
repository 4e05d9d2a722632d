"""Join links ("quick registration") and join requests, through GraphQL."""

from datetime import UTC, datetime, timedelta

import pytest

from app.access import Role
from app.access.scopes import Scope
from app.graphql.ids import decode_id
from app.invitations.models import JoinLink
from tests.factories import (
    add_membership,
    error_codes,
    mail_token,
    make_api_token,
    make_member,
    make_tenant,
    make_user,
    take_mail,
    update_row,
)

CREATE = """mutation($input: JoinLinkCreateInput!) {
  joinLinkCreate(input: $input) {
    joinLink { id role expiresAt maxUses uses allowedDomains requiresApproval disabled }
    url
    userErrors { field code }
  }
}"""
ROTATE = """mutation($id: ID!) {
  joinLinkRotate(input: {id: $id}) { joinLink { id } url userErrors { field code } }
}"""
DISABLE = """mutation($id: ID!) {
  joinLinkDisable(input: {id: $id}) { joinLink { id disabled } userErrors { field code } }
}"""
JOIN = """mutation($input: JoinLinkJoinInput!) {
  joinLinkJoin(input: $input) {
    outcome accountName emailVerificationRequired userErrors { field code }
  }
}"""
LINKS = "{ joinLinks { id uses disabled allowedDomains } }"
REQUESTS = """query($status: JoinRequestStatus) {
  joinRequests(status: $status) { id email firstName lastName role status }
}"""
APPROVE = """mutation($id: ID!) {
  joinRequestApprove(input: {id: $id}) {
    joinRequest { status } staff { accountStatus role hasLogin } userErrors { field code }
  }
}"""
REJECT = """mutation($id: ID!) {
  joinRequestReject(input: {id: $id}) {
    joinRequest { status } staff { accountStatus } userErrors { field code }
  }
}"""
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token accounts { slug role } userErrors { code }
  }
}"""
VERIFY = """mutation($t: String!, $p: String = "a good long password") {
  emailVerify(input: {token: $t, password: $p}) { token userErrors { code } } }"""
SEATS = "{ account { seats { limit used reserved available } } }"
MEMBERS = """query($statuses: [AccountStatus!]) {
  staff(first: 100, filter: {accountStatuses: $statuses}) { edges { node { email role } } } }"""
PASSWORD = "a good long password"


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def create(api, member, **fields) -> dict:
    return (await api.data(CREATE, {"input": fields}, as_=member))["joinLinkCreate"]


async def create_ok(api, member, **fields) -> tuple[str, dict]:
    payload = await create(api, member, **fields)
    assert payload["userErrors"] == [], payload
    return token_of(payload["url"]), payload["joinLink"]


async def join(api, token, email, password=PASSWORD, auth=None, **names) -> dict:
    variables = {
        "input": {
            "token": token,
            "email": email,
            "password": password,
            "firstName": names.get("firstName", "Jo"),
            "lastName": names.get("lastName", "Joiner"),
        }
    }
    return (await api.data(JOIN, variables, token=auth))["joinLinkJoin"]


def codes(payload) -> list[tuple]:
    return [(tuple(e["field"] or ()), e["code"]) for e in payload["userErrors"]]


async def login(api, email, password=PASSWORD) -> dict:
    return (await api.data(LOGIN, {"email": email, "password": password}))["login"]


async def members(api, tenant, *statuses: str) -> dict[str, str]:
    """email -> role of the records in ``statuses`` (ACTIVE unless told)."""
    data = await api.data(MEMBERS, {"statuses": list(statuses or ["ACTIVE"])}, as_=tenant.owner)
    return {e["node"]["email"]: e["node"]["role"] for e in data["staff"]["edges"]}


async def seats(api, tenant) -> dict:
    return (await api.data(SEATS, as_=tenant.owner))["account"]["seats"]


# --- joinLinkCreate ---


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
async def test_only_administrators_create_join_links(api, services, role):
    tenant = await make_tenant(services)
    member = await make_member(services, tenant, role)
    body = await api(CREATE, {"input": {}}, as_=member)
    assert error_codes(body) == ["FORBIDDEN"]
    assert (await api.data(LINKS, as_=tenant.owner))["joinLinks"] == []
    assert error_codes(await api(LINKS, as_=member)) == ["FORBIDDEN"]


async def test_administrator_creates_a_link_with_a_url(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    payload = await create(
        api,
        admin,
        role="EDITOR",
        expiresInDays=10,
        maxUses=5,
        allowedDomains=[" @Example.ORG", "example.net"],
        requiresApproval=True,
    )
    assert payload["userErrors"] == []
    assert payload["url"].startswith("http://roster.test/join/")
    assert len(token_of(payload["url"])) > 30
    link = payload["joinLink"]
    assert link["role"] == "EDITOR" and link["maxUses"] == 5 and link["uses"] == 0
    assert link["allowedDomains"] == ["example.net", "example.org"]
    assert link["requiresApproval"] is True and link["disabled"] is False
    left = datetime.fromisoformat(link["expiresAt"]) - datetime.now(UTC)
    assert timedelta(days=10) - timedelta(minutes=1) < left < timedelta(days=10, minutes=1)
    listed = (await api.data(LINKS, as_=tenant.owner))["joinLinks"]
    assert [x["id"] for x in listed] == [link["id"]]

    admin_link = await create(api, admin, role="ADMINISTRATOR")
    assert admin_link["userErrors"] == []


@pytest.mark.parametrize("who", ["ADMINISTRATOR", "OWNER"])
async def test_no_join_link_hands_out_a_role_above_own_or_owner(api, services, who):
    tenant = await make_tenant(services)
    member = tenant.owner if who == "OWNER" else await make_member(services, tenant, Role(who))
    payload = await create(api, member, role="OWNER")
    assert codes(payload) == [(("input", "role"), "FORBIDDEN")]
    assert payload["url"] is None
    assert (await api.data(LINKS, as_=tenant.owner))["joinLinks"] == []


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"expiresInDays": 0}, "expiresInDays"),
        ({"expiresInDays": 366}, "expiresInDays"),
        ({"maxUses": 0}, "maxUses"),
        ({"allowedDomains": ["not a domain"]}, "allowedDomains"),
    ],
)
async def test_join_link_options_are_validated(api, services, fields, field):
    tenant = await make_tenant(services)
    payload = await create(api, tenant.owner, **fields)
    assert [(e["field"][1], e["code"]) for e in payload["userErrors"]] == [(field, "INVALID")]
    assert (await api.data(LINKS, as_=tenant.owner))["joinLinks"] == []


# --- joinLinkJoin ---


async def test_new_user_joins_and_must_verify_email_before_login(api, services):
    tenant = await make_tenant(services, "Join Co")
    token, _ = await create_ok(api, tenant.owner, role="EDITOR")
    before = await seats(api, tenant)
    result = await join(api, token, " Jo@Example.com ")
    assert result == {
        "outcome": "JOINED",
        "accountName": "Join Co",
        "emailVerificationRequired": True,
        "userErrors": [],
    }
    # not a member until the email is confirmed, but the seat is held for them
    assert "jo@example.com" not in await members(api, tenant)
    after = await seats(api, tenant)
    assert after["used"] == before["used"]
    assert after["reserved"] == before["reserved"] + 1
    assert after["available"] == before["available"] - 1

    refused = await login(api, "jo@example.com")
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_CREDENTIALS"]
    assert refused["token"] is None
    [message] = await take_mail(services)
    assert message["To"] == "jo@example.com"
    assert "/email/verify?token=" in message.get_body(("plain",)).get_content()
    verified = await api.data(VERIFY, {"t": mail_token(message)})
    assert verified["emailVerify"]["userErrors"] == []
    assert (await members(api, tenant))["jo@example.com"] == "EDITOR"
    confirmed = await seats(api, tenant)
    assert confirmed["used"] == before["used"] + 1 and confirmed["reserved"] == before["reserved"]
    ok = await login(api, "jo@example.com")
    assert ok["userErrors"] == []
    assert ok["accounts"] == [{"slug": tenant.slug, "role": "EDITOR"}]
    links = (await api.data(LINKS, as_=tenant.owner))["joinLinks"]
    assert links[0]["uses"] == 1


async def test_new_user_needs_names_and_a_good_password(api, services):
    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner)
    missing = await join(api, token, "jo@example.com", password=None)
    assert codes(missing) == [(("input", "password"), "REQUIRED")]
    weak = await join(api, token, "jo@example.com", password="short")
    assert codes(weak) == [(("input", "password"), "WEAK_PASSWORD")]
    same = await join(api, token, "jo@example.com", password="JO@example.com")
    assert codes(same) == [(("input", "password"), "WEAK_PASSWORD")]
    nameless = await join(api, token, "jo@example.com", lastName=" ")
    assert codes(nameless) == [(("input", "lastName"), "REQUIRED")]
    bad_email = await join(api, token, "nope")
    assert codes(bad_email) == [(("input", "email"), "INVALID")]
    assert "jo@example.com" not in await members(api, tenant)
    assert (await api.data(LINKS, as_=tenant.owner))["joinLinks"][0]["uses"] == 0
    assert await take_mail(services) == []


async def test_allowed_domains(api, services):
    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner, allowedDomains=["example.org"])
    refused = await join(api, token, "jo@example.com")
    assert codes(refused) == [(("input", "email"), "DOMAIN_NOT_ALLOWED")]
    sub = await join(api, token, "jo@mail.example.org")
    assert codes(sub) == [(("input", "email"), "DOMAIN_NOT_ALLOWED")]
    ok = await join(api, token, "Jo@EXAMPLE.org")
    assert ok["outcome"] == "JOINED"
    assert set(await members(api, tenant, "UNCONFIRMED")) == {"jo@example.org"}
    assert "jo@example.com" not in await members(api, tenant, "ACTIVE", "UNCONFIRMED")


async def test_max_uses(api, services):
    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner, maxUses=2)
    assert (await join(api, token, "a@example.com"))["outcome"] == "JOINED"
    assert (await join(api, token, "b@example.com"))["outcome"] == "JOINED"
    third = await join(api, token, "c@example.com")
    assert codes(third) == [(("input", "token"), "LIMIT_REACHED")]
    assert "c@example.com" not in await members(api, tenant)
    assert (await api.data(LINKS, as_=tenant.owner))["joinLinks"][0]["uses"] == 2


async def test_expired_link(api, services):
    tenant = await make_tenant(services)
    token, link = await create_ok(api, tenant.owner, expiresInDays=1)
    await update_row(
        services,
        JoinLink,
        decode_id(link["id"], "JoinLink"),
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    expired = await join(api, token, "late@example.com")
    assert codes(expired) == [(("input", "token"), "TOKEN_EXPIRED")]
    assert "late@example.com" not in await members(api, tenant)


async def test_unknown_token_is_invalid(api, services):
    await make_tenant(services)
    result = await join(api, "rj_not-a-link", "jo@example.com")
    assert codes(result) == [(("input", "token"), "INVALID_TOKEN")]


async def test_rotate_retires_the_old_url(api, services):
    tenant = await make_tenant(services)
    old, link = await create_ok(api, tenant.owner)
    data = await api.data(ROTATE, {"id": link["id"]}, as_=tenant.owner)
    rotated = data["joinLinkRotate"]
    assert rotated["userErrors"] == [] and rotated["joinLink"]["id"] == link["id"]
    new = token_of(rotated["url"])
    assert new != old
    stale = await join(api, old, "a@example.com")
    assert codes(stale) == [(("input", "token"), "INVALID_TOKEN")]
    assert (await join(api, new, "a@example.com"))["outcome"] == "JOINED"


async def test_disable_turns_the_link_off(api, services):
    tenant = await make_tenant(services)
    token, link = await create_ok(api, tenant.owner)
    data = await api.data(DISABLE, {"id": link["id"]}, as_=tenant.owner)
    assert data["joinLinkDisable"] == {
        "joinLink": {"id": link["id"], "disabled": True},
        "userErrors": [],
    }
    result = await join(api, token, "a@example.com")
    assert codes(result) == [(("input", "token"), "LINK_DISABLED")]
    # Rotating does not bring a disabled link back.
    rotated = await api.data(ROTATE, {"id": link["id"]}, as_=tenant.owner)
    again = await join(api, token_of(rotated["joinLinkRotate"]["url"]), "a@example.com")
    assert codes(again) == [(("input", "token"), "LINK_DISABLED")]


async def test_rotate_and_disable_need_an_administrator_of_the_same_account(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    token, link = await create_ok(api, tenant.owner)
    for mutation in (ROTATE, DISABLE):
        assert error_codes(await api(mutation, {"id": link["id"]}, as_=editor)) == ["FORBIDDEN"]
    for mutation, field in ((ROTATE, "joinLinkRotate"), (DISABLE, "joinLinkDisable")):
        data = await api.data(mutation, {"id": link["id"]}, as_=other.owner)
        assert codes(data[field]) == [(("input", "id"), "NOT_FOUND")]
    assert (await join(api, token, "a@example.com"))["outcome"] == "JOINED"


async def test_join_needs_a_free_seat(api, services):
    tenant = await make_tenant(services, seats=1)
    token, _ = await create_ok(api, tenant.owner)
    result = await join(api, token, "a@example.com")
    assert [e["code"] for e in result["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    assert result["outcome"] is None
    assert list(await members(api, tenant)) == [tenant.owner.email]
    assert (await api.data(LINKS, as_=tenant.owner))["joinLinks"][0]["uses"] == 0
    # No login was created either.
    assert [e["code"] for e in (await login(api, "a@example.com"))["userErrors"]] == [
        "INVALID_CREDENTIALS"
    ]
    assert await take_mail(services) == []


async def test_existing_user_must_be_signed_in_or_give_their_password(api, services):
    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner, role="EDITOR")
    user = await make_user(services, "known@example.com")
    elsewhere = await add_membership(services, await make_tenant(services), user.id)

    anonymous = await join(api, token, "Known@Example.com", password=None)
    assert codes(anonymous) == [(("input", "password"), "REQUIRED")]
    # A wrong password, or another person's session, gets the answer a newcomer would get
    # (so the link does not reveal who has a login), but nothing joins; the owner of the
    # address is told how to join instead, once a day however often it is tried.
    newcomer = await join(api, token, "brand.new@example.com", password="a fine password")
    wrong = await join(api, token, "known@example.com", password="a wrong password")
    assert wrong == newcomer
    stranger = await make_member(services, tenant, Role.VIEWER)
    as_other = await join(
        api, token, "known@example.com", password="another password", auth=stranger.token
    )
    assert as_other == newcomer
    assert "known@example.com" not in await members(api, tenant)
    mail = await take_mail(services)
    told = [m for m in mail if m["To"] == "known@example.com"]
    assert len(told) == 1 and "Sign in to join" in told[0]["Subject"]

    joined = await join(api, token, "known@example.com", password=None, auth=elsewhere.token)
    assert joined["outcome"] == "JOINED"
    assert joined["emailVerificationRequired"] is False
    accounts = await api.data("{ viewer { accounts { slug role } } }", token=elsewhere.token)
    assert {(a["slug"], a["role"]) for a in accounts["viewer"]["accounts"]} == {
        (elsewhere.realm, "VIEWER"),
        (tenant.slug, "EDITOR"),
    }
    again = await join(api, token, "known@example.com", password=None, auth=elsewhere.token)
    assert codes(again) == [(("input", "email"), "ALREADY_MEMBER")]

    other = await make_user(services, "other@example.com")
    with_password = await join(api, token, "other@example.com", password="correct horse battery")
    assert with_password["outcome"] == "JOINED"
    assert (await members(api, tenant))[other.email] == "EDITOR"
    # Nobody else was sent a verification email: both were verified already.
    assert await take_mail(services) == []


# --- requiresApproval and join requests ---


async def test_approval_flow(api, services):
    tenant = await make_tenant(services, "Gatekeepers")
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    viewer = await make_member(services, tenant, Role.VIEWER)
    token, _ = await create_ok(api, tenant.owner, role="EDITOR", requiresApproval=True)
    before = await seats(api, tenant)

    result = await join(api, token, "wait@example.com", firstName="Wai", lastName="Ting")
    assert result["outcome"] == "PENDING_APPROVAL"
    assert result["emailVerificationRequired"] is True
    assert await seats(api, tenant) == before
    assert "wait@example.com" not in await members(api, tenant)

    mail = await take_mail(services)
    notes = [m for m in mail if m["X-Roster-Template"] == "join_request"]
    assert sorted(m["To"] for m in notes) == sorted([tenant.owner.email, admin.email])
    assert notes[0]["Subject"] == "Wai Ting asks to join Gatekeepers on Roster"
    assert "wait@example.com" in notes[0].get_body(("plain",)).get_content()
    [verification] = [m for m in mail if m["X-Roster-Template"] == "email_verification"]

    assert error_codes(await api(REQUESTS, as_=viewer)) == ["FORBIDDEN"]
    [request] = (await api.data(REQUESTS, {"status": "PENDING"}, as_=admin))["joinRequests"]
    assert {k: v for k, v in request.items() if k != "id"} == {
        "email": "wait@example.com",
        "firstName": "Wai",
        "lastName": "Ting",
        "role": "EDITOR",
        "status": "PENDING",
    }
    # asking twice, even with the right password, gets the answer a wrong password gets
    # (a link holder learns nothing of the password) and no second request
    twice = await join(api, token, "wait@example.com", password=PASSWORD)
    assert codes(twice) == [] and twice["outcome"] == "PENDING_APPROVAL"
    assert len((await api.data(REQUESTS, {"status": "PENDING"}, as_=admin))["joinRequests"]) == 1

    assert error_codes(await api(APPROVE, {"id": request["id"]}, as_=viewer)) == ["FORBIDDEN"]
    approved = (await api.data(APPROVE, {"id": request["id"]}, as_=admin))["joinRequestApprove"]
    assert approved["userErrors"] == []
    assert approved["joinRequest"]["status"] == "APPROVED"
    # approved before confirming the email: the seat is held until they do
    assert approved["staff"] == {
        "accountStatus": "UNCONFIRMED",
        "role": "EDITOR",
        "hasLogin": True,
    }
    assert (await members(api, tenant, "UNCONFIRMED"))["wait@example.com"] == "EDITOR"
    assert (await seats(api, tenant))["reserved"] == before["reserved"] + 1
    assert (await seats(api, tenant))["used"] == before["used"]
    assert (await api.data(REQUESTS, {"status": "PENDING"}, as_=admin))["joinRequests"] == []

    for mutation, field in ((APPROVE, "joinRequestApprove"), (REJECT, "joinRequestReject")):
        data = await api.data(mutation, {"id": request["id"]}, as_=admin)
        assert codes(data[field]) == [(("input", "id"), "INVALID_STATE")]

    await api.data(VERIFY, {"t": mail_token(verification)})
    assert (await members(api, tenant))["wait@example.com"] == "EDITOR"
    assert (await seats(api, tenant))["used"] == before["used"] + 1
    assert (await login(api, "wait@example.com"))["accounts"] == [
        {"slug": tenant.slug, "role": "EDITOR"}
    ]


async def test_join_requests_waiting_are_capped_alike_for_every_address(
    api, services, monkeypatch
):
    """Anyone holding a link that needs approval may ask to join, and each request emails
    every administrator: past ``MAX_WAITING`` requests waiting through the link, asking
    there is refused (LIMIT_REACHED) until administrators decide some, with the same
    answer for a new address and for one that has a login (which a wrong password turns
    into a newcomer's answer), so the cap tells nothing of who has a login. Another link
    of the account still takes requests."""
    from app.invitations import join_links

    monkeypatch.setattr(join_links, "MAX_WAITING", 2)
    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner, requiresApproval=True)
    for n in (1, 2):
        assert (await join(api, token, f"asker{n}@example.com"))["outcome"] == "PENDING_APPROVAL"
    await take_mail(services)
    refused = [
        await join(api, token, "asker3@example.com"),
        await join(api, token, tenant.owner.email, password="not the owner's password"),
    ]
    assert [codes(r) for r in refused] == [[((), "LIMIT_REACHED")]] * 2
    assert [m["X-Roster-Template"] for m in await take_mail(services)] == []
    listed = (await api.data(REQUESTS, {"status": "PENDING"}, as_=tenant.owner))["joinRequests"]
    assert [r["email"] for r in listed] == ["asker1@example.com", "asker2@example.com"]
    rejected = await api.data(REJECT, {"id": listed[0]["id"]}, as_=tenant.owner)
    assert rejected["joinRequestReject"]["userErrors"] == []
    assert (await join(api, token, "asker3@example.com"))["outcome"] == "PENDING_APPROVAL"
    assert codes(await join(api, token, "asker4@example.com")) == [((), "LIMIT_REACHED")]
    other, _ = await create_ok(api, tenant.owner, requiresApproval=True)
    assert (await join(api, other, "asker4@example.com"))["outcome"] == "PENDING_APPROVAL"


async def test_decided_join_requests_go_after_their_retention_waiting_ones_stay(api, services):
    """Decided requests would make ``joinRequests`` (and its cost) grow for ever: the
    retention sweep deletes those decided longer ago than ``join_requests_retention_days``,
    counted from the decision; a waiting request stays however old, and so do the
    decisions in the audit log."""
    from sqlalchemy import select

    from app.background import prune_once
    from app.db.base import utcnow
    from app.invitations.models import JoinRequest

    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner, requiresApproval=True)
    emails = [f"asker{n}@example.com" for n in range(4)]
    for email in emails:
        assert (await join(api, token, email))["outcome"] == "PENDING_APPROVAL"
    listed = (await api.data(REQUESTS, as_=tenant.owner))["joinRequests"]
    ids = {r["email"]: r["id"] for r in listed}
    for email, mutation in ((emails[0], APPROVE), (emails[1], REJECT), (emails[2], REJECT)):
        await api.data(mutation, {"id": ids[email]}, as_=tenant.owner)
    # decided long ago: asker0 and asker1; asker2 decided lately; asker3 waits, asked long ago
    long_ago = utcnow() - timedelta(days=100)
    old = {decode_id(ids[email], "JoinRequest") for email in emails[:2]}
    async with services.db.session(write=True) as session:
        for request in await session.scalars(select(JoinRequest)):
            if request.id in old:
                request.decided_at = long_ago
            request.created_at = long_ago
        await session.commit()

    keep = services.settings.model_copy(update={"join_requests_retention_days": 0})
    assert (await prune_once(services.db, keep))["join_requests"] == 0
    assert (await prune_once(services.db, services.settings))["join_requests"] == 2  # 90 days
    left = (await api.data(REQUESTS, as_=tenant.owner))["joinRequests"]
    assert {r["email"]: r["status"] for r in left} == {
        emails[2]: "REJECTED",
        emails[3]: "PENDING",
    }
    # the approved member stays a member, and the waiting request can still be decided
    assert emails[0] in await members(api, tenant, "UNCONFIRMED")
    approved = await api.data(APPROVE, {"id": ids[emails[3]]}, as_=tenant.owner)
    assert approved["joinRequestApprove"]["userErrors"] == []
    audit = await api.data(
        "{ auditLog(first: 100) { edges { node { action targetType } } } }", as_=tenant.owner
    )
    decisions = [
        e["node"]["action"]
        for e in audit["auditLog"]["edges"]
        if e["node"]["targetType"] == "JoinRequest" and e["node"]["action"] != "joinLinkJoin"
    ]
    assert sorted(decisions) == ["joinRequestApprove"] * 2 + ["joinRequestReject"] * 2


async def test_a_requesters_email_is_personal_data(api, services):
    """An administrator's API key without the personal_data scope sees who asks to join by
    name, as the directory and the invitations show people to it, and not their address:
    in the list and in the decision's payload."""
    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner, requiresApproval=True)
    for n in (1, 2):
        await join(api, token, f"asker{n}@example.com", firstName=f"Ask{n}", lastName="Er")
    blind = await make_api_token(services, tenant, tenant.owner, scopes=[Scope.ADMIN])
    seeing = await make_api_token(services, tenant, tenant.owner,
                                  scopes=[Scope.ADMIN, Scope.PERSONAL_DATA])
    listed = (await api(REQUESTS, token=blind))["data"]["joinRequests"]
    assert [(r["firstName"], r["email"]) for r in listed] == [("Ask1", None), ("Ask2", None)]
    listed = (await api(REQUESTS, token=seeing))["data"]["joinRequests"]
    assert [r["email"] for r in listed] == ["asker1@example.com", "asker2@example.com"]
    decide = """mutation($id: ID!) { joinRequestReject(input: {id: $id}) {
      joinRequest { email status } userErrors { code } } }"""
    rejected = (await api(decide, {"id": listed[0]["id"]}, token=blind))["data"]
    assert rejected["joinRequestReject"]["joinRequest"] == {"email": None, "status": "REJECTED"}
    rejected = (await api(decide, {"id": listed[1]["id"]}, token=seeing))["data"]
    assert rejected["joinRequestReject"]["joinRequest"] == {
        "email": "asker2@example.com", "status": "REJECTED"
    }


async def test_rejected_request_leaves_no_member(api, services):
    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner, requiresApproval=True)
    await join(api, token, "no@example.com")
    [request] = (await api.data(REQUESTS, as_=tenant.owner))["joinRequests"]
    rejected = (await api.data(REJECT, {"id": request["id"]}, as_=tenant.owner))[
        "joinRequestReject"
    ]
    assert rejected["userErrors"] == []
    assert rejected["joinRequest"]["status"] == "REJECTED" and rejected["staff"] is None
    assert "no@example.com" not in await members(api, tenant)
    for mutation, field in ((REJECT, "joinRequestReject"), (APPROVE, "joinRequestApprove")):
        data = await api.data(mutation, {"id": request["id"]}, as_=tenant.owner)
        assert codes(data[field]) == [(("input", "id"), "INVALID_STATE")]
    assert "no@example.com" not in await members(api, tenant)
    statuses = [r["status"] for r in (await api.data(REQUESTS, as_=tenant.owner))["joinRequests"]]
    assert statuses == ["REJECTED"]


async def test_approving_needs_a_free_seat(api, services):
    tenant = await make_tenant(services, seats=2)
    token, _ = await create_ok(api, tenant.owner, requiresApproval=True)
    await join(api, token, "one@example.com")
    await join(api, token, "two@example.com")
    first, second = (await api.data(REQUESTS, as_=tenant.owner))["joinRequests"]
    ok = await api.data(APPROVE, {"id": first["id"]}, as_=tenant.owner)
    assert ok["joinRequestApprove"]["userErrors"] == []
    full = await api.data(APPROVE, {"id": second["id"]}, as_=tenant.owner)
    assert [e["code"] for e in full["joinRequestApprove"]["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    statuses = {
        r["email"]: r["status"]
        for r in (await api.data(REQUESTS, as_=tenant.owner))["joinRequests"]
    }
    assert statuses == {"one@example.com": "APPROVED", "two@example.com": "PENDING"}


async def test_join_request_of_another_account_is_not_found(api, services):
    a = await make_tenant(services)
    b = await make_tenant(services)
    token, _ = await create_ok(api, b.owner, requiresApproval=True)
    await join(api, token, "x@example.com")
    [request] = (await api.data(REQUESTS, as_=b.owner))["joinRequests"]
    assert (await api.data(REQUESTS, as_=a.owner))["joinRequests"] == []
    data = await api.data(APPROVE, {"id": request["id"]}, as_=a.owner)
    assert codes(data["joinRequestApprove"]) == [(("input", "id"), "NOT_FOUND")]
    assert "x@example.com" not in await members(api, a)
    [still] = (await api.data(REQUESTS, as_=b.owner))["joinRequests"]
    assert still["status"] == "PENDING"


async def test_join_links_take_the_accounts_defaults_unless_told_otherwise(api, services):
    from tests.factories import make_tenant as _make_tenant

    tenant = await _make_tenant(services)
    updated = await api.data(
        """mutation { accountUpdate(input: {joinLinkRole: EDITOR, joinLinkExpiryDays: 3,
             joinLinkRequiresApproval: true}) {
             account { settings { joinLinkRole joinLinkExpiryDays joinLinkRequiresApproval } }
             userErrors { code } } }""",
        as_=tenant.owner,
    )
    assert updated["accountUpdate"]["account"]["settings"] == {
        "joinLinkRole": "EDITOR", "joinLinkExpiryDays": 3, "joinLinkRequiresApproval": True,
    }
    made = await api.data(
        "mutation { joinLinkCreate(input: {}) { joinLink { role expiresAt requiresApproval } } }",
        as_=tenant.owner,
    )
    link = made["joinLinkCreate"]["joinLink"]
    assert link["role"] == "EDITOR" and link["requiresApproval"] is True
    assert link["expiresAt"] is not None
    explicit = await api.data(
        "mutation { joinLinkCreate(input: {role: VIEWER, requiresApproval: false}) {"
        " joinLink { role requiresApproval } } }",
        as_=tenant.owner,
    )
    assert explicit["joinLinkCreate"]["joinLink"] == {"role": "VIEWER", "requiresApproval": False}
    owner_role = await api.data(
        "mutation { accountUpdate(input: {joinLinkRole: OWNER}) { userErrors { code field } } }",
        as_=tenant.owner,
    )
    assert owner_role["accountUpdate"]["userErrors"] == [
        {"code": "FORBIDDEN", "field": ["input", "joinLinkRole"]}
    ]


# --- joining a record that has an invitation ---

INVITE = """mutation($email: String!, $role: Role) {
  invitationCreate(input: {email: $email, role: $role}) {
    invitation { id staff { id } } userErrors { code } } }"""
INVITATIONS = "{ invitations(first: 10) { edges { node { email role status } } } }"
ACCEPT = """mutation($t: String!) { invitationAccept(input: {token: $t,
  password: "a good long password", firstName: "In", lastName: "Vited"}) {
  token userErrors { code } } }"""
RESEND = """mutation($id: ID!) {
  invitationResend(input: {id: $id}) { userErrors { code } } }"""
AUDIT = """{ auditLog(first: 1) { edges { node { action diff } } } }"""


async def invite_record(api, services, tenant, email, role="EDITOR") -> tuple[dict, str]:
    """A pending invitation of a new record at ``email``, and its link's token."""
    data = await api.data(INVITE, {"email": email, "role": role}, as_=tenant.owner)
    assert data["invitationCreate"]["userErrors"] == []
    [message] = await take_mail(services)
    return data["invitationCreate"]["invitation"], mail_token(message)


async def invitation_events(services, since: int) -> list[tuple[str, str]]:
    from tests.events.test_events import events_after

    return [(e.type, e.subject_type) for e in await events_after(services, since)]


async def test_joining_an_invited_record_through_a_link_closes_its_invitation(api, services):
    from tests.events.test_events import last_event_id

    tenant = await make_tenant(services, seats=3)
    invitation, old_token = await invite_record(api, services, tenant, "inv@example.com")
    assert await seats(api, tenant) == {"limit": 3, "used": 1, "reserved": 1, "available": 1}
    # the invitee has a (verified) login, and joins through a link instead
    await make_user(services, "inv@example.com", PASSWORD)
    link, _ = await create_ok(api, tenant.owner, role="VIEWER")
    before = await last_event_id(services)

    joined = await join(api, link, "inv@example.com", firstName="In", lastName="Vited")
    assert joined["outcome"] == "JOINED" and codes(joined) == [], joined
    assert await members(api, tenant) == {tenant.owner.email: "OWNER", "inv@example.com": "VIEWER"}
    # one seat for the member, none still reserved for its invitation
    assert await seats(api, tenant) == {"limit": 3, "used": 2, "reserved": 0, "available": 1}
    listed = (await api.data(INVITATIONS, as_=tenant.owner))["invitations"]["edges"]
    assert [e["node"]["status"] for e in listed] == ["REVOKED"]
    # in the join's own change, told as a revocation (nobody accepted it)
    [entry] = [e["node"] for e in (await api.data(AUDIT, as_=tenant.owner))["auditLog"]["edges"]]
    assert entry["action"] == "joinLinkJoin"
    [change] = [c for c in entry["diff"] if c["table"] == "invitations"]
    assert change["fields"]["status"] == ["PENDING", "REVOKED"]
    events = await invitation_events(services, before)
    assert ("invitation.revoked", "Invitation") in events
    assert ("member.joined", "Staff") in events
    assert ("invitation.accepted", "Invitation") not in events

    # the old link is a withdrawn invitation, and cannot be revived
    stale = (await api.data(ACCEPT, {"t": old_token}))["invitationAccept"]
    assert stale["token"] is None
    assert [e["code"] for e in stale["userErrors"]] == ["INVITATION_REVOKED"]
    resent = await api.data(RESEND, {"id": invitation["id"]}, as_=tenant.owner)
    assert [e["code"] for e in resent["invitationResend"]["userErrors"]] == ["INVALID_STATE"]
    assert await take_mail(services) == []
    assert await members(api, tenant) == {tenant.owner.email: "OWNER", "inv@example.com": "VIEWER"}


async def test_a_login_joining_an_invited_record_takes_its_seat(api, services):
    tenant = await make_tenant(services, seats=3)
    _, old_token = await invite_record(api, services, tenant, "new@example.com")
    await make_user(services, "new@example.com", PASSWORD)  # a confirmed login
    link, _ = await create_ok(api, tenant.owner, role="EDITOR")

    joined = await join(api, link, "new@example.com")
    assert joined["outcome"] == "JOINED" and joined["emailVerificationRequired"] is False
    assert await members(api, tenant) == {tenant.owner.email: "OWNER", "new@example.com": "EDITOR"}
    # the membership is the record's one seat
    assert await seats(api, tenant) == {"limit": 3, "used": 2, "reserved": 0, "available": 1}
    stale = (await api.data(ACCEPT, {"t": old_token}))["invitationAccept"]
    assert [e["code"] for e in stale["userErrors"]] == ["INVITATION_REVOKED"]


async def test_approving_a_join_request_of_an_invited_record_closes_its_invitation(api, services):
    tenant = await make_tenant(services, seats=3)
    _, old_token = await invite_record(api, services, tenant, "ask@example.com", role="VIEWER")
    await make_user(services, "ask@example.com", PASSWORD)
    link, _ = await create_ok(api, tenant.owner, role="EDITOR", requiresApproval=True)
    asked = await join(api, link, "ask@example.com")
    assert asked["outcome"] == "PENDING_APPROVAL" and codes(asked) == []
    [request] = (await api.data(REQUESTS, {"status": "PENDING"}, as_=tenant.owner))["joinRequests"]
    assert await seats(api, tenant) == {"limit": 3, "used": 1, "reserved": 1, "available": 1}

    approved = await api.data(APPROVE, {"id": request["id"]}, as_=tenant.owner)
    assert approved["joinRequestApprove"]["userErrors"] == []
    assert approved["joinRequestApprove"]["staff"]["accountStatus"] == "ACTIVE"
    assert await seats(api, tenant) == {"limit": 3, "used": 2, "reserved": 0, "available": 1}
    [entry] = [e["node"] for e in (await api.data(AUDIT, as_=tenant.owner))["auditLog"]["edges"]]
    assert entry["action"] == "joinRequestApprove"
    [change] = [c for c in entry["diff"] if c["table"] == "invitations"]
    assert change["fields"]["status"] == ["PENDING", "REVOKED"]
    stale = (await api.data(ACCEPT, {"t": old_token}))["invitationAccept"]
    assert [e["code"] for e in stale["userErrors"]] == ["INVITATION_REVOKED"]


# --- the seat an invitation holds is its invitee's ---

INVITE_AS = """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { id } userErrors { code } } }"""


@pytest.mark.parametrize("has_login", [False, True], ids=["newcomer", "login"])
async def test_an_invited_person_joins_a_full_account_on_their_invitations_seat(
    api, services, has_login
):
    tenant = await make_tenant(services, seats=2)
    _, old_token = await invite_record(api, services, tenant, "inv@example.com")
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 1, "available": 0}
    if has_login:
        await make_user(services, "inv@example.com", PASSWORD)
    link, _ = await create_ok(api, tenant.owner, role="VIEWER")
    # anyone else finds the account full
    other = await join(api, link, "else@example.com")
    assert [e["code"] for e in other["userErrors"]] == ["SEAT_LIMIT_REACHED"]

    joined = await join(api, link, "Inv@Example.com")
    listed = (await api.data(INVITATIONS, as_=tenant.owner))["invitations"]["edges"]
    if not has_login:
        # a newcomer has not shown the address is theirs: answered as anyone new (a full
        # account), the record, its invitation and its seat are left as they were
        # (tests/invitations/test_unproven_joiners.py)
        assert joined == other
        assert "inv@example.com" not in await members(api, tenant, "ACTIVE", "UNCONFIRMED")
        assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 1, "available": 0}
        assert [e["node"]["status"] for e in listed] == ["PENDING"]
        accepted = (await api.data(ACCEPT, {"t": old_token}))["invitationAccept"]
        assert accepted["userErrors"] == []  # the invitation still lets its invitee in
        assert "inv@example.com" in await members(api, tenant)
        return
    assert joined["outcome"] == "JOINED" and codes(joined) == [], joined
    assert (await members(api, tenant))["inv@example.com"] == "VIEWER"
    # the invitation's reserved seat became the member's: still one each way, and full
    assert await seats(api, tenant) == {"limit": 2, "used": 2, "reserved": 0, "available": 0}
    assert [e["node"]["status"] for e in listed] == ["REVOKED"]
    stale = (await api.data(ACCEPT, {"t": old_token}))["invitationAccept"]
    assert [e["code"] for e in stale["userErrors"]] == ["INVITATION_REVOKED"]


@pytest.mark.parametrize("held", ["expired", "guest"])
async def test_an_invitation_holding_no_seat_gives_the_joiner_none(api, services, held):
    if held == "expired":  # its seat went to another invitation
        tenant = await make_tenant(services, seats=2)
        invitation, _ = await invite_record(api, services, tenant, "inv@example.com")
        from tests.invitations.test_service import lapse

        await lapse(services, invitation["id"])
        await invite_record(api, services, tenant, "other@example.com")
    else:  # a guest's invitation, and guests take no seat
        tenant = await make_tenant(services, seats=1)
        data = await api.data(
            INVITE_AS, {"input": {"email": "inv@example.com", "kind": "VENDOR"}}, as_=tenant.owner
        )
        assert data["invitationCreate"]["userErrors"] == []
        await take_mail(services)
    assert (await seats(api, tenant))["available"] == 0
    link, _ = await create_ok(api, tenant.owner, role="VIEWER")
    refused = await join(api, link, "inv@example.com")
    assert [e["code"] for e in refused["userErrors"]] == ["SEAT_LIMIT_REACHED"]
    assert "inv@example.com" not in await members(api, tenant, "ACTIVE", "UNCONFIRMED")


async def test_a_login_without_its_password_at_an_invited_address_gets_a_newcomers_answer(
    api, services
):
    tenant = await make_tenant(services, seats=3)
    await invite_record(api, services, tenant, "inv@example.com")
    await invite_record(api, services, tenant, "new@example.com")
    await make_user(services, "inv@example.com", PASSWORD)
    link, _ = await create_ok(api, tenant.owner, role="VIEWER")
    # a full account: someone new finds no seat, at an invited address too (which is not
    # shown to be theirs), and so does the known address with a wrong password
    newcomer = await join(api, link, "new@example.com", password="a fine password")
    assert codes(newcomer) == [((), "SEAT_LIMIT_REACHED")]
    assert await join(api, link, "else@example.com") == newcomer
    wrong = await join(api, link, "inv@example.com", password="a wrong password")
    assert wrong == newcomer
    # and nothing joined: the invitations still hold their seats
    assert not {"inv@example.com", "new@example.com"} & set(
        await members(api, tenant, "ACTIVE", "UNCONFIRMED")
    )
    listed = (await api.data(INVITATIONS, as_=tenant.owner))["invitations"]["edges"]
    assert sorted((e["node"]["email"], e["node"]["status"]) for e in listed) == [
        ("inv@example.com", "PENDING"), ("new@example.com", "PENDING")
    ]
    assert await seats(api, tenant) == {"limit": 3, "used": 1, "reserved": 2, "available": 0}


async def test_approving_an_invited_persons_request_in_a_full_account(api, services):
    tenant = await make_tenant(services, seats=2)
    await invite_record(api, services, tenant, "ask@example.com", role="VIEWER")
    await make_user(services, "ask@example.com", PASSWORD)
    link, _ = await create_ok(api, tenant.owner, role="EDITOR", requiresApproval=True)
    assert (await join(api, link, "ask@example.com"))["outcome"] == "PENDING_APPROVAL"
    await join(api, link, "else@example.com")
    requests = (await api.data(REQUESTS, {"status": "PENDING"}, as_=tenant.owner))["joinRequests"]
    by_email = {r["email"]: r["id"] for r in requests}
    assert await seats(api, tenant) == {"limit": 2, "used": 1, "reserved": 1, "available": 0}

    other = await api.data(APPROVE, {"id": by_email["else@example.com"]}, as_=tenant.owner)
    codes_ = [e["code"] for e in other["joinRequestApprove"]["userErrors"]]
    assert codes_ == ["SEAT_LIMIT_REACHED"]
    approved = await api.data(APPROVE, {"id": by_email["ask@example.com"]}, as_=tenant.owner)
    assert approved["joinRequestApprove"]["userErrors"] == []
    assert approved["joinRequestApprove"]["staff"]["role"] == "EDITOR"
    assert await seats(api, tenant) == {"limit": 2, "used": 2, "reserved": 0, "available": 0}


class Argon2Work:
    """Counts argon2 hashes and verifications (the work a request's time is made of)."""

    def __init__(self, services, monkeypatch):
        self.calls = 0
        passwords = services.passwords
        for name in ("hash", "verify"):
            original = getattr(passwords, name)

            async def counted(*args, _original=original, **kwargs):
                self.calls += 1
                return await _original(*args, **kwargs)

            monkeypatch.setattr(passwords, name, counted)

    def taken(self) -> int:
        calls, self.calls = self.calls, 0
        return calls


@pytest.mark.parametrize("password", [None, "short"])
async def test_a_refused_password_costs_the_same_whether_the_address_has_a_login(
    api, services, monkeypatch, password
):
    """The answer (REQUIRED, WEAK_PASSWORD) is the same for an address with a login and a
    new one; so is the argon2 work before it, or the time would tell them apart."""
    tenant = await make_tenant(services)
    token, _ = await create_ok(api, tenant.owner)
    known = await make_user(services, "known@example.com")
    work = Argon2Work(services, monkeypatch)
    answers, costs = [], []
    for email in (known.email, "unknown@example.com"):
        answers.append(codes(await join(api, token, email, password=password)))
        costs.append(work.taken())
    assert answers[0] == answers[1] and answers[0][0][1] in ("REQUIRED", "WEAK_PASSWORD")
    assert costs[0] == costs[1] >= 1


async def test_a_newcomers_password_is_hashed_before_the_account_is_locked(
    api, services, monkeypatch, database_url
):
    """PostgreSQL: a join takes its seat under the account's row lock. Hashing the
    newcomer's password after it held that lock through argon2, so one account's joins, and
    every change of its members, waited one hash after another. (SQLite's writer lock is
    the whole transaction's, whatever the order.)"""
    import asyncio

    from sqlalchemy import text

    if not database_url.startswith("postgresql"):
        pytest.skip("a row lock: PostgreSQL")
    tenant = await make_tenant(services, seats=10)
    token, _ = await create_ok(api, tenant.owner, role="VIEWER")
    started, release = asyncio.Event(), asyncio.Event()
    original = services.passwords.hash

    async def held(password, **lane):
        started.set()
        await release.wait()
        return await original(password, **lane)

    monkeypatch.setattr(services.passwords, "hash", held)
    joining = asyncio.create_task(join(api, token, "newcomer@example.com"))
    try:
        await asyncio.wait_for(started.wait(), 10)
        # while the newcomer's password hashes, the account is not locked
        async with services.db.session(write=True) as session:
            await session.execute(
                text("SELECT id FROM accounts WHERE id = :id FOR UPDATE NOWAIT"),
                {"id": tenant.account_id},
            )
            await session.rollback()
    finally:
        release.set()
    joined = await asyncio.wait_for(joining, 30)
    assert joined["userErrors"] == [] and joined["outcome"] == "JOINED", joined
