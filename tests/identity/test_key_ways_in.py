"""What an API key opened the account to lasts only as long as the key, as what a member
opened it to lasts only while they stay: the invitations not yet accepted sent through a
key, and the join links made through one, are withdrawn when the key is revoked (at
once) or runs out (by the invitations' sweep; refused from the key's end). A leaked key,
once revoked, leaves its holder no way in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.background import sweep_once
from app.db.base import utcnow
from app.invitations.models import Invitation, JoinLink
from tests.factories import mail_token, make_tenant, set_token_columns, take_mail

KEY = """mutation { apiTokenCreate(input: {name: "integration"}) {
  token apiToken { id } userErrors { code } } }"""
INVITE = """mutation($email: String!) {
  invitationCreate(input: {email: $email, role: VIEWER}) { invitation { id } userErrors { code } } }"""
RESEND = """mutation($id: ID!) { invitationResend(input: {id: $id}) { userErrors { code } } }"""
LINK = """mutation { joinLinkCreate(input: {role: VIEWER}) { joinLink { id } userErrors { code } } }"""
ROTATE = """mutation($id: ID!) { joinLinkRotate(input: {id: $id}) { url userErrors { code } } }"""
REVOKE = """mutation($id: ID!) { apiTokenRevoke(input: {id: $id}) { userErrors { code } } }"""
STATE = """{ invitations(first: 20) { edges { node { email status } } }
  joinLinks { id disabled } account { seats { reserved } } }"""


async def _key(api, member) -> tuple[str, str]:
    made = (await api.data(KEY, as_=member))["apiTokenCreate"]
    return made["token"], made["apiToken"]["id"]


async def _made(api, services, tenant, token=None, member=None, tag="") -> tuple[str, str]:
    """An invitation and a join link, through the key ``token`` or as ``member``."""
    who = {"token": token, "realm": tenant.owner.realm} if token else {"as_": member}
    invited = await api.data(INVITE, {"email": f"{tag}@example.com"}, **who)
    assert invited["invitationCreate"]["userErrors"] == []
    link = await api.data(LINK, **who)
    assert link["joinLinkCreate"]["userErrors"] == []
    return (invited["invitationCreate"]["invitation"]["id"],
            link["joinLinkCreate"]["joinLink"]["id"])


async def _state(api, tenant) -> tuple[dict, dict, int]:
    data = await api.data(STATE, as_=tenant.owner)
    statuses = {e["node"]["email"]: e["node"]["status"] for e in data["invitations"]["edges"]}
    links = {link["id"]: link["disabled"] for link in data["joinLinks"]}
    return statuses, links, data["account"]["seats"]["reserved"]


async def test_revoking_a_key_withdraws_what_it_opened_and_nothing_else(api, services):
    tenant = await make_tenant(services, seats=20)
    token, key_id = await _key(api, tenant.owner)
    other, _ = await _key(api, tenant.owner)
    _, by_key = await _made(api, services, tenant, token=token, tag="by-key")
    _, by_other = await _made(api, services, tenant, token=other, tag="by-other")
    _, by_session = await _made(api, services, tenant, member=tenant.owner, tag="by-session")
    _, _, reserved = await _state(api, tenant)

    done = await api.data(REVOKE, {"id": key_id}, as_=tenant.owner)
    assert done["apiTokenRevoke"]["userErrors"] == []

    statuses, links, now_reserved = await _state(api, tenant)
    assert statuses == {"by-key@example.com": "REVOKED", "by-other@example.com": "PENDING",
                        "by-session@example.com": "PENDING"}
    assert links == {by_key: True, by_other: False, by_session: False}
    assert now_reserved == reserved - 1  # the withdrawn invitation's seat is free
    # the withdrawals are in the audit log, with the revocation
    log = await api.data("{ auditLog(first: 5) { edges { node { action diff } } } }",
                         as_=tenant.owner)
    revoke = next(e["node"] for e in log["auditLog"]["edges"]
                  if e["node"]["action"] == "apiTokenRevoke")
    assert {"invitations", "join_links", "auth_tokens"} <= {d["table"] for d in revoke["diff"]}


async def test_what_was_resent_or_rotated_through_a_session_outlives_the_key(api, services):
    """Resending an invitation or rotating a link issues a new secret link: it lasts as
    long as the credential that issued it, here the owner's session."""
    tenant = await make_tenant(services, seats=20)
    token, key_id = await _key(api, tenant.owner)
    invitation, link = await _made(api, services, tenant, token=token, tag="resent")
    _, left = await _made(api, services, tenant, token=token, tag="left")
    async with services.db.session(write=True) as session:  # past the resend cooldown
        for found in await session.scalars(select(Invitation)):
            found.last_sent_at = utcnow() - timedelta(days=1)
        await session.commit()
    assert (await api.data(RESEND, {"id": invitation}, as_=tenant.owner))[
        "invitationResend"]["userErrors"] == []
    assert (await api.data(ROTATE, {"id": link}, as_=tenant.owner))[
        "joinLinkRotate"]["userErrors"] == []
    await api.data(REVOKE, {"id": key_id}, as_=tenant.owner)
    statuses, links, _ = await _state(api, tenant)
    # what the key made and nobody issued again goes; what the session issued stays
    assert statuses == {"resent@example.com": "PENDING", "left@example.com": "REVOKED"}
    assert links == {link: False, left: True}


async def test_keys_ended_with_a_password_change_lose_what_they_opened_at_the_sweep(
    api, services
):
    """A password changed with revokeApiTokens ends the user's keys in every account: what
    they opened is withdrawn by the next sweep."""
    tenant = await make_tenant(services, seats=20)
    token, _ = await _key(api, tenant.owner)
    _, link = await _made(api, services, tenant, token=token, tag="changed")
    changed = await api.data(
        """mutation { passwordChange(input: {currentPassword: "correct horse battery",
             newPassword: "a brand new passphrase", revokeApiTokens: true}) {
             userErrors { code } } }""",
        as_=tenant.owner,
    )
    assert changed["passwordChange"]["userErrors"] == []
    assert await sweep_once(services.db) == 2
    statuses, links, _ = await _state(api, tenant)
    assert statuses == {"changed@example.com": "REVOKED"} and links == {link: True}


async def test_a_key_that_runs_out_loses_what_it_opened_at_the_next_sweep(api, services):
    tenant = await make_tenant(services, seats=20)
    token, _ = await _key(api, tenant.owner)
    _, link = await _made(api, services, tenant, token=token, tag="expiring")
    assert await sweep_once(services.db) == 0  # a live key: nothing to withdraw
    await set_token_columns(services, token, expires_at=utcnow() - timedelta(seconds=1))
    assert await sweep_once(services.db) == 2
    statuses, links, _ = await _state(api, tenant)
    assert statuses == {"expiring@example.com": "REVOKED"} and links == {link: True}
    assert await sweep_once(services.db) == 0
    async with services.db.session() as session:
        assert (await session.scalar(select(JoinLink.disabled_at))) is not None


PREVIEW = """query($t: String!) { invitationPreview(token: $t) { status } }"""
ACCEPT = """mutation($t: String!) { invitationAccept(input: {token: $t,
  password: "a good long password", firstName: "Kay", lastName: "Late"}) {
  token userErrors { code } } }"""
JOIN = """mutation($t: String!) { joinLinkJoin(input: {token: $t, email: "joiner@example.com",
  password: "a good long password", firstName: "Jo", lastName: "Joiner"}) {
  outcome userErrors { code } } }"""
LINK_URL = """mutation { joinLinkCreate(input: {role: VIEWER}) { url userErrors { code } } }"""


async def _secrets_by_key(api, services) -> tuple:
    """A tenant, an API key of its owner, and the secrets of an invitation (to
    late@example.com) and of a join link made through the key."""
    tenant = await make_tenant(services, seats=20)
    token, _ = await _key(api, tenant.owner)
    who = {"token": token, "realm": tenant.owner.realm}
    invited = await api.data(INVITE, {"email": "late@example.com"}, **who)
    assert invited["invitationCreate"]["userErrors"] == []
    link = (await api.data(LINK_URL, **who))["joinLinkCreate"]["url"].rsplit("/", 1)[1]
    [message] = await take_mail(services)
    return tenant, token, mail_token(message), link


@pytest.mark.parametrize("ended_by", ["running out", "a password change"])
async def test_ways_in_of_an_ended_key_are_refused_before_the_sweep(api, services, ended_by):
    """Between a key's end and the sweep that withdraws what it opened, its invitation and
    its join link are refused as withdrawn ones are: otherwise a leaked key's holder,
    after the owner changed their password to end it, had a way in until the sweep."""
    tenant, token, invitation, link = await _secrets_by_key(api, services)
    assert (await api.data(PREVIEW, {"t": invitation}))["invitationPreview"] == {
        "status": "PENDING"}

    if ended_by == "running out":
        await set_token_columns(services, token, expires_at=utcnow() - timedelta(seconds=1))
    else:
        changed = await api.data(
            """mutation { passwordChange(input: {currentPassword: "correct horse battery",
                 newPassword: "a brand new passphrase", revokeApiTokens: true}) {
                 userErrors { code } } }""",
            as_=tenant.owner,
        )
        assert changed["passwordChange"]["userErrors"] == []

    assert (await api.data(PREVIEW, {"t": invitation}))["invitationPreview"] == {
        "status": "REVOKED"}
    accepted = (await api.data(ACCEPT, {"t": invitation}))["invitationAccept"]
    assert [e["code"] for e in accepted["userErrors"]] == ["INVITATION_REVOKED"]
    assert accepted["token"] is None
    joined = (await api.data(JOIN, {"t": link}))["joinLinkJoin"]
    assert [e["code"] for e in joined["userErrors"]] == ["LINK_DISABLED"]
    # nothing was written: the sweep withdraws both, as before
    assert await sweep_once(services.db) == 2


async def test_a_key_that_ends_while_its_way_in_is_used_stops_the_use(
    api, services, monkeypatch
):
    """The look at the key comes before the password's hash; the use's own UPDATE asks
    again, so a key that ends between the two (a password change elsewhere, its time up)
    lets nothing through. The look is made to miss the end here, as a race would."""
    from app.invitations import join_links
    from app.invitations import service as invitations

    tenant, token, invitation, link = await _secrets_by_key(api, services)
    await set_token_columns(services, token, expires_at=utcnow() - timedelta(seconds=1))

    for module in (invitations, join_links):
        real, looks = module.key_ended, []

        async def late_look(session, key_id, real=real, looks=looks):
            looks.append(key_id)
            return False if len(looks) == 1 else await real(session, key_id)

        monkeypatch.setattr(module, "key_ended", late_look)
    accepted = (await api.data(ACCEPT, {"t": invitation}))["invitationAccept"]
    assert [e["code"] for e in accepted["userErrors"]] == ["INVITATION_REVOKED"]
    joined = (await api.data(JOIN, {"t": link}))["joinLinkJoin"]
    assert [e["code"] for e in joined["userErrors"]] == ["LINK_DISABLED"]
    statuses, links, _ = await _state(api, tenant)
    assert statuses == {"late@example.com": "PENDING"} and list(links.values()) == [False]


async def test_a_lapsed_invitation_of_an_ended_key_is_withdrawn_not_expired(api, services):
    """Its preview and its acceptance say the same: withdrawn, as the sweep will have it."""
    tenant = await make_tenant(services, seats=20)
    token, _ = await _key(api, tenant.owner)
    invited = await api.data(INVITE, {"email": "lapsed@example.com"},
                             token=token, realm=tenant.owner.realm)  # fmt: skip
    [message] = await take_mail(services)
    await set_token_columns(services, token, expires_at=utcnow() - timedelta(seconds=1))
    async with services.db.session(write=True) as session:
        found = await session.get(Invitation, _pk(invited["invitationCreate"]["invitation"]["id"]))
        found.expires_at = utcnow() - timedelta(seconds=1)
        await session.commit()
    t = mail_token(message)
    assert (await api.data(PREVIEW, {"t": t}))["invitationPreview"] == {"status": "REVOKED"}
    accepted = (await api.data(ACCEPT, {"t": t}))["invitationAccept"]
    assert [e["code"] for e in accepted["userErrors"]] == ["INVITATION_REVOKED"]


def _pk(global_id: str) -> int:
    from app.graphql.ids import decode_any

    return decode_any(global_id)[1]
