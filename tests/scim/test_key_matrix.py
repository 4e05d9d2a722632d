"""SCIM under API keys: every role (guests included) × the scope combinations that
change an answer × every SCIM endpoint. SCIM opens only to a key naming the scim scope
whose creator holds everything it needs *now* (administrators and the owner); managing
Groups (projects) takes the admin scope too. Anything else is 403 on every endpoint,
401 without a valid key; a demoted creator's key loses SCIM on the next request and a
disabled creator's key stops; another account's Users and Groups are not found.

Each key is probed on every endpoint and what it could do is written as letters:
U discovery and reading Users, W writing Users, g reading Groups, G writing Groups.
"""

from __future__ import annotations

import itertools

import pytest

from app.access import Role
from app.access.scopes import Scope
from app.staff.models import AccountStatus, Staff
from tests.factories import make_api_token, make_member, make_tenant, member_as, update_row
from tests.scim.helpers import GROUP, GROUP_SCOPES, USER, Scim, user_body

ROLES = ("GUEST", "VIEWER", "EDITOR", "ADMINISTRATOR", "OWNER")
EVERY_OTHER = (
    Scope.STAFF_READ,
    Scope.STAFF_WRITE,
    Scope.PERSONAL_DATA,
    Scope.INVITATIONS_WRITE,
    Scope.ADMIN,
)
SCOPES: dict[str, tuple[Scope, ...] | None] = {
    "scim": (Scope.SCIM,),
    "scim+admin": GROUP_SCOPES,
    "scim+everything": tuple(Scope),
    "everything but scim": EVERY_OTHER,
    "session": None,  # a login session, not a key
}
# fmt: off
EXPECTED = {
    #                     GUEST VIEWER EDITOR ADMIN    OWNER
    "scim":              ("",   "",    "",    "UWg",   "UWg"),
    "scim+admin":        ("",   "",    "",    "UWgG",  "UWgG"),
    "scim+everything":   ("",   "",    "",    "UWgG",  "UWgG"),
    "everything but scim": ("", "",    "",    "",      ""),
    "session":           ("",   "",    "",    "",      ""),
}
# fmt: on
_n = itertools.count()


class World:
    def __init__(
        self, setup: Scim, user_id: str, spare_user_id: str, group_id: str, spare_group_id: str
    ) -> None:
        self.setup, self.user_id, self.spare_user_id = setup, user_id, spare_user_id
        self.group_id, self.spare_group_id = group_id, spare_group_id


async def _world(services, client) -> World:
    tenant = await make_tenant(services, seats=500)
    setup = Scim(
        client,
        tenant,
        await make_api_token(services, tenant, tenant.owner, scopes=list(GROUP_SCOPES)),
    )
    users = []
    for _ in range(2):
        made = await setup.post("/Users", user_body(f"u{next(_n)}@example.com"))
        assert made.status_code == 201, made.text
        users.append(made.json()["id"])
    groups = []
    for _ in range(2):
        made = await setup.post(
            "/Groups",
            {"schemas": [GROUP], "displayName": f"G{next(_n)}", "members": [{"value": users[0]}]},
        )
        assert made.status_code == 201, made.text
        groups.append(made.json()["id"])
    return World(setup, users[0], users[1], groups[0], groups[1])


def _all_or_none(answers: list, ok: set[int], label: str) -> bool:
    """Whether every answer succeeded; otherwise every one is a SCIM 403."""
    codes = [a.status_code for a in answers]
    if all(c in ok for c in codes):
        return True
    assert codes == [403] * len(codes), (
        label,
        [(a.request.url, a.status_code, a.text) for a in answers],
    )
    assert all(a.json()["status"] == "403" for a in answers)
    return False


async def probe(s: Scim, w: World) -> str:
    did = ""
    reads = [
        await s.get("/ServiceProviderConfig"),
        await s.get("/ResourceTypes"),
        await s.get("/ResourceTypes/User"),
        await s.get("/ResourceTypes/Group"),
        await s.get("/Schemas"),
        await s.get(f"/Schemas/{USER}"),
        await s.get("/Users"),
        await s.get("/Users", filter='userName eq "nobody@example.com"'),
        await s.get(f"/Users/{w.user_id}"),
        await s.post(
            "/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
        ),
        await s.post(
            "/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
        ),
    ]
    if _all_or_none(reads, {200}, "U"):
        did += "U"
    created = await s.post("/Users", user_body(f"new{next(_n)}@example.com"))
    writes = [
        created,
        await s.put(f"/Users/{w.user_id}", user_body("renamed@example.com")),
        await s.patch(f"/Users/{w.user_id}", {"op": "replace", "path": "title", "value": "Lead"}),
        await s.patch(f"/Users/{w.user_id}", {"op": "replace", "path": "active", "value": False}),
        await s.delete(f"/Users/{w.spare_user_id}"),
    ]
    if _all_or_none(writes, {200, 201, 204}, "W"):
        did += "W"
    if _all_or_none([await s.get("/Groups"), await s.get(f"/Groups/{w.group_id}")], {200}, "g"):
        did += "g"
    group_writes = [
        await s.post("/Groups", {"schemas": [GROUP], "displayName": f"New {next(_n)}"}),
        await s.put(f"/Groups/{w.group_id}", {"schemas": [GROUP], "displayName": "Renamed"}),
        await s.patch(
            f"/Groups/{w.group_id}",
            {"op": "add", "path": "members", "value": [{"value": w.user_id}]},
        ),
        await s.delete(f"/Groups/{w.spare_group_id}"),
    ]
    if _all_or_none(group_writes, {200, 201, 204}, "G"):
        did += "G"
    return did


CASES = [
    pytest.param(scopes, role, expected, id=f"{scopes}-{role}")
    for scopes, row in EXPECTED.items()
    for role, expected in zip(ROLES, row, strict=True)
]


@pytest.mark.parametrize(("scopes", "role", "expected"), CASES)
async def test_a_key_opens_scim_as_its_scopes_and_its_creators_role_allow(
    services, client, api, scopes, role, expected
):
    w = await _world(services, client)
    tenant = w.setup.tenant
    if role == "GUEST":
        creator = await make_member(services, tenant, Role.GUEST, kind="CUSTOMER")
    else:
        creator = await member_as(api, services, tenant, role)
    named = SCOPES[scopes]
    token = (
        creator.token
        if named is None
        else await make_api_token(services, tenant, creator, scopes=list(named))
    )
    assert await probe(Scim(client, tenant, token), w) == expected


async def test_without_a_valid_key_every_endpoint_is_401(services, client):
    w = await _world(services, client)
    for token in ("", "not-a-key"):
        s = Scim(client, w.setup.tenant, token)
        answers = [
            await s.get("/ServiceProviderConfig"),
            await s.get("/Users"),
            await s.get(f"/Users/{w.user_id}"),
            await s.post("/Users", user_body("x@example.com")),
            await s.get("/Groups"),
            await s.delete(f"/Groups/{w.group_id}"),
        ]
        assert {a.status_code for a in answers} == {401}


async def test_a_demoted_creators_key_loses_scim_and_a_disabled_creators_key_stops(
    services, client
):
    w = await _world(services, client)
    tenant = w.setup.tenant
    admin = await make_member(services, tenant, Role.ADMINISTRATOR)
    s = Scim(
        client, tenant, await make_api_token(services, tenant, admin, scopes=list(GROUP_SCOPES))
    )
    assert (await s.get(f"/Groups/{w.group_id}")).status_code == 200
    await update_row(services, Staff, admin.staff_pk, role=Role.EDITOR)
    assert await probe(s, w) == ""
    await update_row(services, Staff, admin.staff_pk, role=Role.ADMINISTRATOR)
    assert (await s.get(f"/Groups/{w.group_id}")).status_code == 200
    await update_row(services, Staff, admin.staff_pk, account_status=AccountStatus.DISABLED)
    assert (await s.get("/ServiceProviderConfig")).status_code == 401
    assert (await s.get(f"/Users/{w.user_id}")).status_code == 401
    assert (await s.post("/Groups", {"schemas": [GROUP], "displayName": "Late"})).status_code == 401


async def test_another_accounts_users_and_groups_are_not_found_on_every_endpoint(services, client):
    mine = await _world(services, client)
    theirs = await _world(services, client)
    s = mine.setup
    user, group = theirs.user_id, theirs.group_id
    # the ids are numbers and "p<number>": make sure mine do not happen to share them
    await update_row(
        services, Staff, (await _staff_pk(services, theirs, user)), sid=int(user) + 1000
    )
    user = str(int(user) + 1000)
    group = await _foreign_group(theirs)
    answers = {
        "GET user": await s.get(f"/Users/{user}"),
        "PUT user": await s.put(f"/Users/{user}", user_body("mine@example.com")),
        "PATCH user": await s.patch(
            f"/Users/{user}", {"op": "replace", "path": "title", "value": "x"}
        ),
        "DELETE user": await s.delete(f"/Users/{user}"),
        "GET group": await s.get(f"/Groups/{group}"),
        "PUT group": await s.put(f"/Groups/{group}", {"schemas": [GROUP], "displayName": "Mine"}),
        "PATCH group": await s.patch(
            f"/Groups/{group}", {"op": "replace", "path": "displayName", "value": "Mine"}
        ),
        "DELETE group": await s.delete(f"/Groups/{group}"),
    }
    for label, answer in answers.items():
        assert answer.status_code == 404, (label, answer.text)
        assert answer.json()["status"] == "404"
    # theirs are untouched and absent from my lists and searches
    assert (await theirs.setup.get(f"/Groups/{group}")).json()["displayName"] != "Mine"
    ids = {r["id"] for r in (await s.post("/.search", {})).json()["Resources"]}
    assert user not in ids and group not in ids
    # a member from another account is refused, not added
    answer = await s.patch(
        f"/Groups/{mine.group_id}", {"op": "add", "path": "members", "value": [{"value": user}]}
    )
    assert answer.status_code == 400


async def _staff_pk(services, w: World, sid: str) -> int:
    from sqlalchemy import select

    async with services.db.session() as session:
        return await session.scalar(
            select(Staff.id).where(
                Staff.account_id == w.setup.tenant.account_id, Staff.sid == int(sid)
            )
        )


async def _foreign_group(w: World) -> str:
    """A group of ``w`` whose id no group of another test world shares: a new one."""
    made = await w.setup.post("/Groups", {"schemas": [GROUP], "displayName": "Theirs"})
    return made.json()["id"]
