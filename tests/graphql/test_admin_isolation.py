"""Administration across accounts: a staff id of another account is "not found".

Every administrative mutation that takes a staff id is sent by an administrator (or the owner)
of account A with the id of a member of account B, with a well-formed id that exists nowhere and
with a malformed one. The three answers must be the same JSON (a NOT_FOUND userError), and
nothing of account B may change. The same request by B's owner then works, so the id is real.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from app.access import Role
from app.identity.models import AuthToken, TokenKind
from app.staff.models import AccountStatus
from tests.factories import (
    PASSWORD,
    Member,
    Tenant,
    add_membership,
    error_codes,
    gid,
    make_member,
    make_tenant,
    set_staff_columns,
)

MISSING_PK = 2_000_000_000
PAYLOAD = "userErrors { field code message }"


@dataclass(frozen=True)
class Op:
    field: str
    query: str
    extra: dict  # variables besides $id
    target: str  # which member of B is named
    owner_only: bool = False


OPS = {
    "staffDisable": Op(
        "staffDisable",
        f"mutation($id: ID!) {{ staffDisable(input: {{staffId: $id}}) {{ staff {{ id }} {PAYLOAD} }} }}",
        {},
        "viewer",
    ),
    "staffEnable": Op(
        "staffEnable",
        f"mutation($id: ID!) {{ staffEnable(input: {{staffId: $id}}) {{ staff {{ id }} {PAYLOAD} }} }}",
        {},
        "disabled",
    ),
    "staffDelete": Op(
        "staffDelete",
        f"mutation($id: ID!) {{ staffDelete(input: {{staffId: $id}}) {{ deletedStaffId {PAYLOAD} }} }}",
        {},
        "viewer",
    ),
    "staffRoleChange": Op(
        "staffRoleChange",
        f"""mutation($id: ID!, $role: Role!) {{
          staffRoleChange(input: {{staffId: $id, role: $role}}) {{ staff {{ id role }} {PAYLOAD} }}
        }}""",
        {"role": "EDITOR"},
        "viewer",
    ),
    "accountOwnershipTransfer": Op(
        "accountOwnershipTransfer",
        f"""mutation($id: ID!, $password: String!) {{
          accountOwnershipTransfer(input: {{staffId: $id, password: $password}}) {{
            previousOwner {{ id }} owner {{ id }} {PAYLOAD} }}
        }}""",
        {"password": PASSWORD},
        "admin",
        owner_only=True,
    ),
    "impersonationStart": Op(
        "impersonationStart",
        f"""mutation($id: ID!, $reason: String!) {{
          impersonationStart(input: {{staffId: $id, reason: $reason, minutes: 5}}) {{
            token staff {{ id }} {PAYLOAD} }}
        }}""",
        {"reason": "Support ticket"},
        "viewer",
    ),
}
CASES = [
    pytest.param(name, actor, id=f"{name}-{actor}")
    for name, op in OPS.items()
    for actor in (("OWNER",) if op.owner_only else ("OWNER", "ADMINISTRATOR"))
]

B_STATE = """{
  account { name plan seats { limit used reserved available } }
  staff(filter: {includeDisabled: true}) {
    totalCount nodes { id role accountStatus manager { id } }
  }
}"""
AUDIT_COUNT = "{ auditLog(first: 100) { edges { cursor } } }"


@dataclass
class World:
    a: Tenant
    a_admin: Member
    b: Tenant
    b_members: dict[str, Member]


async def build_world(services) -> World:
    a = await make_tenant(services, "Alpha")
    b = await make_tenant(services, "Beta")
    a_admin = await make_member(services, a, Role.ADMINISTRATOR)
    # a manager of B, so that B's snapshot also shows manager links
    b_admin = await make_member(services, b, Role.ADMINISTRATOR)
    b_viewer = await make_member(services, b, Role.VIEWER, manager_id=b_admin.staff_pk)
    b_disabled = await make_member(services, b, Role.VIEWER)
    await set_staff_columns(services, b_disabled.staff_pk, account_status=AccountStatus.DISABLED)
    return World(a, a_admin, b, {"admin": b_admin, "viewer": b_viewer, "disabled": b_disabled})


async def snapshot_b(api, services, w: World) -> dict:
    state = await api.data(B_STATE, as_=w.b.owner)
    roles = {}
    for key, member in w.b_members.items():
        if key != "disabled":
            body = await api("{ viewer { role } }", as_=member)
            roles[key] = error_codes(body) or body["data"]["viewer"]["role"]
    async with services.db.session() as session:
        impersonations = await session.scalar(
            select(func.count())
            .select_from(AuthToken)
            .where(AuthToken.kind == TokenKind.IMPERSONATION)
        )
    return {"state": state, "roles": roles, "impersonations": impersonations}


@pytest.mark.parametrize(("name", "actor_key"), CASES)
async def test_foreign_staff_id_answers_like_a_missing_id(api, services, name, actor_key):
    op = OPS[name]
    w = await build_world(services)
    actor = w.a.owner if actor_key == "OWNER" else w.a_admin
    foreign = w.b_members[op.target]
    before = await snapshot_b(api, services, w)
    a_audit = len((await api.data(AUDIT_COUNT, as_=w.a.owner))["auditLog"]["edges"])

    answers = {}
    for label, the_id in {
        "foreign": foreign.staff_id,
        "missing": gid("Staff", MISSING_PK),
        "malformed": "not-a-staff-id",
    }.items():
        response = await api.raw(
            op.query, {"id": the_id, **op.extra}, token=actor.token, realm=actor.realm
        )
        assert response.status_code == 200
        answers[label] = response.json()

    assert answers["foreign"] == answers["missing"] == answers["malformed"]
    body = answers["foreign"]
    assert error_codes(body) == []
    payload = body["data"][op.field]
    [error] = payload["userErrors"]
    assert error["code"] == "NOT_FOUND"
    assert error["field"] == ["input", "staffId"]
    assert all(v is None for k, v in payload.items() if k != "userErrors"), payload

    assert await snapshot_b(api, services, w) == before
    # nothing happened in A either, so nothing was audited
    after = len((await api.data(AUDIT_COUNT, as_=w.a.owner))["auditLog"]["edges"])
    assert after == a_audit

    # the id is real: B's owner gets through with it
    own = await api.data(op.query, {"id": foreign.staff_id, **op.extra}, as_=w.b.owner)
    assert own[op.field]["userErrors"] == []
    assert await snapshot_b(api, services, w) != before


async def test_a_staff_id_of_b_cannot_be_impersonated_even_by_bs_members_token(api, services):
    """Tokens are bound too: A's impersonation token never opens B, even for a person in both."""
    w = await build_world(services)

    person = await make_member(services, w.a, Role.VIEWER)
    await add_membership(services, w.b, person.user_id, Role.ADMINISTRATOR)
    data = await api.data(
        OPS["impersonationStart"].query,
        {"id": person.staff_id, "reason": "Support ticket"},
        as_=w.a.owner,
    )
    token = data["impersonationStart"]["token"]
    assert token
    body = await api("{ staff { totalCount } }", token=token, realm=w.b.slug)
    assert error_codes(body) == ["UNAUTHENTICATED"]
    # B's staff ids do not resolve through it either (it acts in A only)
    body = await api.data(
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": w.b_members["viewer"].staff_id},
        token=token,
    )
    assert body["node"] is None
