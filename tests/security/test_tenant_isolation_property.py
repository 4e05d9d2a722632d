"""Tenant isolation, property-based: hypothesis drives random sequences of operations by
members (every role, guests included) of two accounts, A and B, against one database.

Every value a step writes carries a marker unique to its account (names, titles, emails,
custom field values, status and project names), and every id an account's members are
shown is remembered as that account's. After each step the response must hold no id, email
or marker of the other account, however the step got there: listing, searching by the
other account's markers, looking up ids seen anywhere, or writing with them. A guest's
responses hold, besides, no email of anyone in their own account but their own (guests
see only the name card of others). No step may end in INTERNAL_SERVER_ERROR either.

One database serves all examples of a test (a fresh one per example would be far too
slow); the world of members is built on the first example and markers never repeat.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.access import Role
from app.graphql.ids import decode_any
from tests.factories import Api, Member, error_codes, gid, make_member, make_tenant

ROLES = (Role.OWNER, Role.ADMINISTRATOR, Role.EDITOR, Role.VIEWER, Role.GUEST)
_markers = itertools.count(1)

STAFF = """fragment S on Staff {
  id sid firstName lastName fullName title company notes email phoneCell role accountStatus
  manager { id fullName email }
  status { id name }
  customFields { field { id name } value }
  sharedWith { id fullName email }
  permits
  projects { project { id name } }
}"""
INVITATION = """fragment I on Invitation {
  id email role status message inviter { id fullName } staff { id fullName email }
}"""

QUERIES = {
    "staff": "{ staff(first: 100) { totalCount edges { cursor node { ...S } } } }\n" + STAFF,
    "customFieldValues": """{ customFieldValues {
        staff { id fullName email } field { id name } value } }""",
    "customFields": "{ customFields(includeArchived: true) { id name options description } }",
    "auditLog": """{ auditLog(first: 100) { edges { node {
        id action actorStaffId actorUserId targetType targetId diff } } } }""",
    "invitations": "{ invitations(first: 100) { edges { node { ...I } } } }\n" + INVITATION,
    "viewer": """{ viewer {
        user { id email firstName lastName } accounts { id slug name role }
        account { id name slug } staff { ...S } apiTokens { id name } } }\n"""
    + STAFF,
    "projects": "{ projects { id name members { staff { id fullName email } } } }",
    "picklists": "{ picklists { staffStatuses { id name } projectTeamRoles { id name } } }",
    "account": "{ account { id name slug seats { used reserved } } }",
}
NODE = (
    """query($id: ID!) { node(id: $id) {
  id
  ...S
  ...I
  ... on CustomField { name options }
  ... on StaffStatus { name }
  ... on Project { name members { staff { id email } } }
  ... on Account { name slug }
  ... on User { email firstName lastName }
  ... on AuditEntry { action targetId diff }
} }
"""
    + STAFF
    + INVITATION
)
SEARCH = """query($q: String!) { staff(first: 100, search: $q) {
  totalCount edges { node { id fullName email } } } }"""
STAFF_CREATE = (
    """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { ...S } userErrors { code } } }\n"""
    + STAFF
)
STAFF_UPDATE = (
    """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { ...S } userErrors { code } } }\n"""
    + STAFF
)
SHARE = (
    """mutation($s: ID!, $w: ID!) {
  staffShare(input: {staffId: $s, sharedWithId: $w}) { staff { ...S } userErrors { code } } }
"""
    + STAFF
)
INVITE = (
    """mutation($input: InvitationCreateInput!) {
  invitationCreate(input: $input) { invitation { ...I } userErrors { code } } }\n"""
    + INVITATION
)
FIELD_CREATE = """mutation($name: String!) {
  customFieldCreate(input: {name: $name, type: TEXT}) {
    customField { id name } userErrors { code } } }"""
VALUES_SET = (
    """mutation($s: ID!, $f: ID!, $v: String!) {
  staffCustomFieldsSet(input: {staffId: $s, values: [{fieldId: $f, value: $v}]}) {
    staff { ...S } userErrors { code } } }\n"""
    + STAFF
)
STATUS_CREATE = """mutation($name: String!) {
  staffStatusCreate(input: {name: $name}) { status { id name } userErrors { code } } }"""
PROJECT_CREATE = """mutation($name: String!, $members: [ID!]) {
  projectCreate(input: {name: $name, memberIds: $members}) {
    project { id name members { staff { id fullName email } } } userErrors { code } } }"""
MEMBER_ADD = """mutation($p: ID!, $s: ID!) {
  projectMemberAdd(input: {projectId: $p, staffId: $s}) {
    project { id name members { staff { id email } } } userErrors { code } } }"""

WRITES = (
    "staffCreate",
    "staffUpdate",
    "staffShare",
    "invitationCreate",
    "customFieldCreate",
    "staffCustomFieldsSet",
    "staffStatusCreate",
    "projectCreate",
    "projectMemberAdd",
)
OPERATIONS = (*WRITES, *QUERIES, "node", "search")


@dataclass
class Side:
    """What one account owns: its members, and every id, email and marker of it."""

    name: str
    members: list[Member]
    ids: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)  # emails, markers, slug, account name
    markers: list[str] = field(default_factory=list)
    staff_ids: list[str] = field(default_factory=list)
    emails: set[str] = field(default_factory=set)  # of the account's people

    def marker(self) -> str:
        value = f"q{self.name}{next(_markers):05d}z"
        self.markers.append(value)
        self.texts.add(value)
        return value


@dataclass
class World:
    sides: list[Side]
    seen: list[str] = field(default_factory=list)  # every id any response has shown
    steps: int = 0


async def build_world(services) -> World:
    sides = []
    for name in ("a", "b"):
        side = Side(name, [])
        tenant = await make_tenant(services, f"Tenant {side.marker()}", seats=1000)
        side.members.append(tenant.owner)
        for role in ROLES[1:]:
            side.members.append(
                await make_member(
                    services,
                    tenant,
                    role,
                    email=f"{side.marker()}@example.com",
                    first_name=side.marker(),
                    last_name=side.marker(),
                    kind="CUSTOMER" if role == Role.GUEST else "EMPLOYEE",
                )
            )
        side.texts |= {tenant.slug, tenant.owner.email} | {m.email for m in side.members}
        side.emails |= {m.email for m in side.members}
        side.ids |= {gid("Account", tenant.account_id)}
        side.ids |= {m.staff_id for m in side.members} | {
            gid("User", m.user_id) for m in side.members
        }
        side.staff_ids += [m.staff_id for m in side.members]
        sides.append(side)
    world = World(sides)
    world.seen += sorted(sides[0].ids | sides[1].ids)
    return world


def strings(value, key: str | None = None):
    """Every (key, string) in a JSON value, recursively (keys of objects too)."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield None, k
            yield from strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v, key)


def is_id_key(key: str | None) -> bool:
    return key is not None and (key == "id" or key.endswith("Id"))


def check_and_learn(world: World, side: Side, other: Side, step: str, body: dict) -> None:
    assert "INTERNAL_SERVER_ERROR" not in error_codes(body), (step, body)
    text = json.dumps(body).lower()
    pattern = "|".join(re.escape(t.lower()) for t in sorted(other.texts))
    found = re.search(rf"(?<![\w.+-])({pattern})(?![\w-])", text)
    assert found is None, f"{step}: {side.name} was shown {found.group(1)!r} of {other.name}"
    for key, value in strings(body):
        assert value not in other.ids, f"{step}: {side.name} was shown {other.name}'s id {value}"
        if is_id_key(key) and decode_any(value) is not None and value not in side.ids:
            side.ids.add(value)
            world.seen.append(value)
            if decode_any(value)[0] == "Staff":
                side.staff_ids.append(value)


def pick(values: list[str], choice: int) -> str:
    return values[choice % len(values)]


def target(world: World, side: Side, kind: str, c1: int, c2: int) -> str:
    """An id to write with: one of the account's own of that kind (c2 even), or any id
    seen anywhere, very likely of the other account or of another kind (c2 odd)."""
    own = sorted(i for i in side.ids if decode_any(i)[0] == kind)
    return pick(world.seen, c1) if c2 % 2 or not own else pick(own, c1)


async def run_step(api: Api, world: World, step: tuple) -> None:
    side_no, member_no, op, c1, c2 = step
    side, other = world.sides[side_no], world.sides[1 - side_no]
    member = side.members[member_no]
    seen = world.seen

    if op in QUERIES:
        call = (QUERIES[op], {})
    elif op == "node":
        call = (NODE, {"id": pick(seen, c1)})
    elif op == "search":
        call = (SEARCH, {"q": pick(other.markers, c1)})
    elif op == "staffCreate":
        m = side.marker()
        fields = {"firstName": m, "lastName": side.marker(), "title": side.marker()}
        fields |= {"email": f"{m}@example.com", "notes": side.marker()}
        side.emails.add(f"{m}@example.com".lower())
        if c1 % 3 == 0:
            fields["managerId"] = target(world, side, "Staff", c1, c2)
        if c1 % 4 == 1:
            fields["restricted"] = True
        call = (STAFF_CREATE, {"input": fields})
    elif op == "staffUpdate":
        staff = target(world, side, "Staff", c1, c2)
        call = (STAFF_UPDATE, {"input": {"id": staff, "title": side.marker()}})
    elif op == "staffShare":
        shared = target(world, side, "Staff", c1, 0)
        call = (SHARE, {"s": shared, "w": target(world, side, "Staff", c1 + 1, c2)})
    elif op == "invitationCreate":
        m = side.marker()
        side.emails.add(f"{m}@example.com".lower())
        call = (INVITE, {"input": {"email": f"{m}@example.com", "firstName": side.marker()}})
    elif op == "customFieldCreate":
        call = (FIELD_CREATE, {"name": side.marker()})
    elif op == "staffCustomFieldsSet":
        staff = target(world, side, "Staff", c1, 0)
        value = side.marker()
        call = (
            VALUES_SET,
            {"s": staff, "f": target(world, side, "CustomField", c1, c2), "v": value},
        )
    elif op == "staffStatusCreate":
        call = (STATUS_CREATE, {"name": side.marker()})
    elif op == "projectCreate":
        members = [target(world, side, "Staff", c1, c2)]
        call = (PROJECT_CREATE, {"name": side.marker(), "members": members})
    elif op == "projectMemberAdd":
        project = target(world, side, "Project", c1, 0)
        call = (MEMBER_ADD, {"p": project, "s": target(world, side, "Staff", c1 + 2, c2)})
    else:  # pragma: no cover
        raise AssertionError(op)

    query, variables = call
    body = await api(query, variables, as_=member)
    check_and_learn(world, side, other, op, body)
    if member.role == Role.GUEST:
        text = json.dumps(body).lower()
        shown = {e for e in side.emails - {member.email.lower()} if e in text}
        assert not shown, f"{op}: a guest was shown {sorted(shown)}"
    if op == "search":
        assert body["data"]["staff"]["totalCount"] == 0, body
    world.steps += 1


STEP = st.tuples(
    st.integers(0, 1),  # which account
    st.integers(0, len(ROLES) - 1),  # which member (owner, administrator, editor, viewer, guest)
    st.sampled_from(OPERATIONS),
    st.integers(0, 10_000),  # choices among ids seen so far
    st.integers(0, 10_000),
)


@pytest.fixture
async def world(services) -> World:
    return await build_world(services)


@settings(max_examples=25)
@given(steps=st.lists(STEP, min_size=5, max_size=30))
async def test_no_response_to_one_account_holds_anything_of_the_other(api, world, steps):
    for step in steps:
        await run_step(api, world, step)


async def test_the_random_runs_reach_both_accounts_data(api, world):
    """The property above is only worth something if the steps create data and the
    lookups name the other account's ids: a fixed run shows they do."""
    plan = [
        (side, 0, op, n, foreign)
        for foreign in (0, 1)  # the account's own ids, then ids seen anywhere
        for side in (0, 1)
        for n, op in enumerate(WRITES + ("node",) * 6 + ("search",))
    ]
    for step in plan:
        await run_step(api, world, step)
    a, b = world.sides
    assert len(a.staff_ids) > 4 and len(b.staff_ids) > 4
    for kind in ("CustomField", "StaffStatus", "Project", "Invitation"):
        assert any(decode_any(i)[0] == kind for i in a.ids), kind
        assert any(decode_any(i)[0] == kind for i in b.ids), kind
    # and a detector that would notice: B's data in a response to A fails the check
    with pytest.raises(AssertionError):
        check_and_learn(world, a, b, "planted", {"data": {"x": b.markers[-1]}})
    with pytest.raises(AssertionError):
        check_and_learn(world, a, b, "planted", {"data": {"id": sorted(b.ids)[0]}})
