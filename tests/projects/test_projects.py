"""Projects, their members and the account's project team roles, through GraphQL."""

from __future__ import annotations

import pytest

from app.access import Role
from app.staff.models import AccountStatus
from tests.factories import (
    DENIED,
    OK,
    error_codes,
    gid,
    make_member,
    make_staff,
    make_tenant,
    member_as,
    outcome,
    role_matrix,
    set_staff_columns,
)

PROJECT_FIELDS = """id name description
  members { staff { id fullName } teamRole { name } }"""
CREATE = f"""mutation($input: ProjectCreateInput!) {{
  projectCreate(input: $input) {{ project {{ {PROJECT_FIELDS} }} userErrors {{ field code }} }}
}}"""
ADD = f"""mutation($input: ProjectMemberAddInput!) {{
  projectMemberAdd(input: $input) {{ project {{ {PROJECT_FIELDS} }} userErrors {{ field code }} }}
}}"""
REMOVE = f"""mutation($input: ProjectMemberRemoveInput!) {{
  projectMemberRemove(input: $input) {{
    project {{ {PROJECT_FIELDS} }} userErrors {{ field code }}
  }}
}}"""
ROLE_CREATE = """mutation($name: String!) {
  projectTeamRoleCreate(input: {name: $name}) { teamRole { id name archived } userErrors { field code } }
}"""
UPDATE = """mutation($input: ProjectUpdateInput!) {
  projectUpdate(input: $input) { project { id name description externalId } userErrors { field code } }
}"""
DELETE = """mutation($input: ProjectDeleteInput!) {
  projectDelete(input: $input) { deletedProjectId userErrors { field code } }
}"""
MEMBERS_SET = f"""mutation($input: ProjectMembersSetInput!) {{
  projectMembersSet(input: $input) {{ project {{ {PROJECT_FIELDS} }} userErrors {{ field code }} }}
}}"""
PROJECTS = f"{{ projects {{ {PROJECT_FIELDS} }} }}"
TEAM_ROLES = "{ picklists { projectTeamRoles { id name } } }"
STAFF_PROJECTS = """query($id: ID!) {
  node(id: $id) { ... on Staff { fullName projects { project { name } teamRole { name } } } }
}"""
STAFF_CREATE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) {
    staff { id fullName projects { project { name } teamRole { name } } }
    userErrors { field code }
  }
}"""
STAFF_UPDATE = """mutation($input: StaffUpdateInput!) {
  staffUpdate(input: $input) { staff { defaultProjectRole { name } } userErrors { field code } }
}"""


async def create(api, member, name="Apollo", **fields) -> dict:
    data = await api.data(CREATE, {"input": {"name": name, **fields}}, as_=member)
    return data["projectCreate"]


async def create_ok(api, member, name="Apollo", **fields) -> dict:
    payload = await create(api, member, name, **fields)
    assert payload["userErrors"] == [], payload
    return payload["project"]


async def team_role(api, member, name) -> str:
    data = await api.data(ROLE_CREATE, {"name": name}, as_=member)
    assert data["projectTeamRoleCreate"]["userErrors"] == []
    return data["projectTeamRoleCreate"]["teamRole"]["id"]


async def add(api, member, project_id, staff_id, team_role_id=None) -> dict:
    variables = {"input": {"projectId": project_id, "staffId": staff_id}}
    if team_role_id is not None:
        variables["input"]["teamRoleId"] = team_role_id
    return (await api.data(ADD, variables, as_=member))["projectMemberAdd"]


def members(project: dict) -> dict[str, str | None]:
    """fullName -> team role name."""
    return {m["staff"]["fullName"]: (m["teamRole"] or {}).get("name") for m in project["members"]}


def codes(payload: dict) -> list[tuple]:
    return [(tuple(e["field"] or ()), e["code"]) for e in payload["userErrors"]]


async def projects(api, member) -> dict[str, dict]:
    return {p["name"]: p for p in (await api.data(PROJECTS, as_=member))["projects"]}


# --- projectCreate ---


async def test_create_adds_administrators_the_owner_and_the_chosen_members(api, services):
    tenant = await make_tenant(services)
    admin = await make_member(services, tenant, Role.ADMINISTRATOR, first_name="Ada",
                              last_name="Admin")  # fmt: skip
    gone = await make_member(services, tenant, Role.ADMINISTRATOR, first_name="Gil",
                             last_name="Gone")  # fmt: skip
    await set_staff_columns(services, gone.staff_pk, account_status=AccountStatus.DISABLED)
    await make_member(services, tenant, Role.EDITOR, first_name="Ed", last_name="Editor")
    viewer = await make_member(services, tenant, Role.VIEWER, first_name="Vi", last_name="Viewer")
    plain = await make_staff(services, tenant, first_name="Pat", last_name="Plain")

    project = await create_ok(
        api,
        admin,
        " Apollo ",
        description="Moon",
        memberIds=[viewer.staff_id, gid("Staff", plain.id)],
    )
    assert project["name"] == "Apollo" and project["description"] == "Moon"
    owner_name = next(
        m["staff"]["fullName"]
        for m in project["members"]
        if m["staff"]["id"] == tenant.owner.staff_id
    )
    assert set(members(project)) == {owner_name, "Ada Admin", "Vi Viewer", "Pat Plain"}
    listed = await projects(api, viewer)
    assert set(members(listed["Apollo"])) == set(members(project))


async def test_project_names_are_unique_per_account_case_insensitively(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    await create_ok(api, tenant.owner, "Apollo")
    taken = await create(api, tenant.owner, "  APOLLO ")
    assert (
        codes(taken)
        == [
            (
                (
                    "input",
                    "name",
                ),
                "TAKEN",
            )
        ]
        and taken["project"] is None
    )
    blank = await create(api, tenant.owner, "   ")
    assert [c[0] for c in codes(blank)] == [("input", "name")]
    await create_ok(api, other.owner, "apollo")  # another account may use it
    assert list(await projects(api, tenant.owner)) == ["Apollo"]


async def test_create_with_an_unknown_or_foreign_member_creates_nothing(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    payload = await create(api, tenant.owner, memberIds=[other.owner.staff_id, gid("Staff", 99999)])
    assert codes(payload) == [
        (("input", "memberIds", "0"), "NOT_FOUND"),
        (("input", "memberIds", "1"), "NOT_FOUND"),
    ]
    assert await projects(api, tenant.owner) == {}


# --- members and team roles ---


async def test_team_roles_picklist(api, services):
    tenant = await make_tenant(services)
    other = await make_tenant(services)
    await team_role(api, tenant.owner, "Reviewer")
    await team_role(api, tenant.owner, "Lead")
    again = await api.data(ROLE_CREATE, {"name": " lead "}, as_=tenant.owner)
    assert codes(again["projectTeamRoleCreate"]) == [
        (
            (
                "input",
                "name",
            ),
            "TAKEN",
        )
    ]
    await team_role(api, other.owner, "Other account role")
    viewer = await make_member(services, tenant, Role.VIEWER)
    data = await api.data(TEAM_ROLES, as_=viewer)
    assert [r["name"] for r in data["picklists"]["projectTeamRoles"]] == ["Lead", "Reviewer"]


async def test_member_add_with_a_role_or_the_staff_default_role(api, services):
    tenant = await make_tenant(services)
    lead = await team_role(api, tenant.owner, "Lead")
    dev = await team_role(api, tenant.owner, "Developer")
    project = await create_ok(api, tenant.owner)
    anna = await make_staff(services, tenant, first_name="Anna", last_name="Lead")
    bob = await make_staff(services, tenant, first_name="Bob", last_name="Default")
    cy = await make_staff(services, tenant, first_name="Cy", last_name="None")
    updated = await api.data(
        STAFF_UPDATE,
        {"input": {"id": gid("Staff", bob.id), "defaultProjectRoleId": dev}},
        as_=tenant.owner,
    )
    assert updated["staffUpdate"]["staff"]["defaultProjectRole"] == {"name": "Developer"}

    payload = await add(api, tenant.owner, project["id"], gid("Staff", anna.id), lead)
    assert payload["userErrors"] == []
    assert members(payload["project"])["Anna Lead"] == "Lead"
    await add(api, tenant.owner, project["id"], gid("Staff", bob.id))
    await add(api, tenant.owner, project["id"], gid("Staff", cy.id))
    again = await add(api, tenant.owner, project["id"], gid("Staff", cy.id))
    assert again["userErrors"] == []

    listed = (await projects(api, tenant.owner))["Apollo"]
    names = [m["staff"]["fullName"] for m in listed["members"]]
    assert names.count("Cy None") == 1
    got = members(listed)
    assert got["Anna Lead"] == "Lead"
    assert got["Bob Default"] == "Developer"
    assert got["Cy None"] is None

    mine = await api.data(STAFF_PROJECTS, {"id": gid("Staff", bob.id)}, as_=tenant.owner)
    assert mine["node"]["projects"] == [
        {"project": {"name": "Apollo"}, "teamRole": {"name": "Developer"}}
    ]


async def test_member_remove(api, services):
    tenant = await make_tenant(services)
    project = await create_ok(api, tenant.owner)
    staff = await make_staff(services, tenant, first_name="Rem", last_name="Oved")
    staff_id = gid("Staff", staff.id)
    await add(api, tenant.owner, project["id"], staff_id)
    variables = {"input": {"projectId": project["id"], "staffId": staff_id}}
    removed = (await api.data(REMOVE, variables, as_=tenant.owner))["projectMemberRemove"]
    assert removed["userErrors"] == []
    assert "Rem Oved" not in members(removed["project"])
    assert "Rem Oved" not in members((await projects(api, tenant.owner))["Apollo"])
    mine = await api.data(STAFF_PROJECTS, {"id": staff_id}, as_=tenant.owner)
    assert mine["node"]["projects"] == []

    again = (await api.data(REMOVE, variables, as_=tenant.owner))["projectMemberRemove"]
    assert codes(again) == [
        (
            (
                "input",
                "staffId",
            ),
            "NOT_FOUND",
        )
    ]


async def test_staff_projects_lists_each_project_with_the_role(api, services):
    tenant = await make_tenant(services)
    lead = await team_role(api, tenant.owner, "Lead")
    apollo = await create_ok(api, tenant.owner, "Apollo")
    await create_ok(api, tenant.owner, "Zeta")
    gemini = await create_ok(api, tenant.owner, "Gemini")
    member = await make_member(services, tenant, Role.VIEWER)
    await add(api, tenant.owner, apollo["id"], member.staff_id, lead)
    await add(api, tenant.owner, gemini["id"], member.staff_id)
    # the member reads their own projects
    data = await api.data(STAFF_PROJECTS, {"id": member.staff_id}, as_=member)
    assert data["node"]["projects"] == [
        {"project": {"name": "Apollo"}, "teamRole": {"name": "Lead"}},
        {"project": {"name": "Gemini"}, "teamRole": None},
    ]
    # the owner was added to all three automatically
    owner = await api.data(STAFF_PROJECTS, {"id": tenant.owner.staff_id}, as_=member)
    assert [p["project"]["name"] for p in owner["node"]["projects"]] == [
        "Apollo",
        "Gemini",
        "Zeta",
    ]


async def test_staff_create_with_project_ids(api, services):
    tenant = await make_tenant(services)
    apollo = await create_ok(api, tenant.owner, "Apollo")
    gemini = await create_ok(api, tenant.owner, "Gemini")
    await create_ok(api, tenant.owner, "Zeta")
    data = await api.data(
        STAFF_CREATE,
        {
            "input": {
                "firstName": "Nia",
                "lastName": "New",
                "projectIds": [apollo["id"], gemini["id"]],
            }
        },
        as_=tenant.owner,
    )
    payload = data["staffCreate"]
    assert payload["userErrors"] == []
    assert [p["project"]["name"] for p in payload["staff"]["projects"]] == ["Apollo", "Gemini"]
    listed = await projects(api, tenant.owner)
    assert "Nia New" in members(listed["Apollo"]) and "Nia New" in members(listed["Gemini"])
    assert "Nia New" not in members(listed["Zeta"])


async def test_staff_create_with_project_ids_needs_the_right_to_manage_projects(api, services):
    tenant = await make_tenant(services)
    editor = await make_member(services, tenant, Role.EDITOR)
    apollo = await create_ok(api, tenant.owner, "Apollo")
    body = await api(
        STAFF_CREATE,
        {"input": {"firstName": "Ed", "lastName": "Added", "projectIds": [apollo["id"]]}},
        as_=editor,
    )
    assert error_codes(body) == ["FORBIDDEN"]
    names = await api.data("{ staff(first: 100) { edges { node { lastName } } } }", as_=editor)
    assert "Added" not in {e["node"]["lastName"] for e in names["staff"]["edges"]}
    # without projects the editor may add staff
    ok = await api.data(STAFF_CREATE, {"input": {"firstName": "Ed", "lastName": "Added"}},
                        as_=editor)  # fmt: skip
    assert ok["staffCreate"]["userErrors"] == []


# --- other accounts' ids are "not found" ---


async def test_cross_account_ids_are_not_found(api, services):
    mine = await make_tenant(services)
    theirs = await make_tenant(services)
    my_project = await create_ok(api, mine.owner, "Mine")
    their_project = await create_ok(api, theirs.owner, "Theirs")
    their_role = await team_role(api, theirs.owner, "Their role")
    their_staff = theirs.owner.staff_id
    my_staff = (await make_member(services, mine, Role.VIEWER)).staff_id

    payload = await add(api, mine.owner, their_project["id"], my_staff)
    assert codes(payload) == [
        (
            (
                "input",
                "projectId",
            ),
            "NOT_FOUND",
        )
    ]
    payload = await add(api, mine.owner, my_project["id"], their_staff)
    assert codes(payload) == [
        (
            (
                "input",
                "staffId",
            ),
            "NOT_FOUND",
        )
    ]
    payload = await add(api, mine.owner, my_project["id"], my_staff, their_role)
    assert codes(payload) == [
        (
            (
                "input",
                "teamRoleId",
            ),
            "NOT_FOUND",
        )
    ]

    variables = {"input": {"projectId": their_project["id"], "staffId": their_staff}}
    removed = (await api.data(REMOVE, variables, as_=mine.owner))["projectMemberRemove"]
    assert codes(removed) == [
        (
            (
                "input",
                "projectId",
            ),
            "NOT_FOUND",
        )
    ]

    created = await api.data(
        STAFF_CREATE,
        {"input": {"firstName": "A", "lastName": "B", "projectIds": [their_project["id"]]}},
        as_=mine.owner,
    )
    assert [e["code"] for e in created["staffCreate"]["userErrors"]] == ["NOT_FOUND"]
    updated = await api.data(
        STAFF_UPDATE,
        {"input": {"id": my_staff, "defaultProjectRoleId": their_role}},
        as_=mine.owner,
    )
    assert codes(updated["staffUpdate"]) == [
        (
            (
                "input",
                "defaultProjectRoleId",
            ),
            "NOT_FOUND",
        )
    ]

    node = await api.data(
        "query($id: ID!) { node(id: $id) { id } }", {"id": their_project["id"]}, as_=mine.owner
    )
    assert node["node"] is None
    assert list(await projects(api, mine.owner)) == ["Mine"]
    # nothing of theirs changed
    theirs_now = (await projects(api, theirs.owner))["Theirs"]
    assert [m["staff"]["id"] for m in theirs_now["members"]] == [their_staff]


TEAM_ROLE_NODE = """query($id: ID!) {
  node(id: $id) { __typename id ... on ProjectTeamRole { name archived } }
}"""


async def test_node_finds_a_team_role_for_the_accounts_members_only(api, services):
    """``node(id:)`` answers a team role id to every member of its account, as the
    picklists show it (a guest too); another account's id is null, as a missing one is."""
    mine = await make_tenant(services)
    theirs = await make_tenant(services)
    role = await team_role(api, mine.owner, "Lead")
    expected = {"__typename": "ProjectTeamRole", "id": role, "name": "Lead", "archived": False}
    for member_role in (Role.GUEST, Role.VIEWER, Role.EDITOR, Role.ADMINISTRATOR):
        member = await make_member(services, mine, member_role)
        node = await api.data(TEAM_ROLE_NODE, {"id": role}, as_=member)
        assert node["node"] == expected, member_role
    assert (await api.data(TEAM_ROLE_NODE, {"id": role}, as_=mine.owner))["node"] == expected
    missing = gid("ProjectTeamRole", 10**9)
    for gid_, member in ((role, theirs.owner), (missing, mine.owner)):
        body = await api(TEAM_ROLE_NODE, {"id": gid_}, as_=member)
        assert body == {"data": {"node": None}}


# --- who may manage projects ---

MATRIX = {
    # VIEWER, VIEWER+PD, EDITOR, EDITOR+PD, ADMINISTRATOR, OWNER
    "projectCreate": (DENIED, DENIED, DENIED, DENIED, OK, OK),
    "projectMemberAdd": (DENIED, DENIED, DENIED, DENIED, OK, OK),
    "projectMemberRemove": (DENIED, DENIED, DENIED, DENIED, OK, OK),
    "projectTeamRoleCreate": (DENIED, DENIED, DENIED, DENIED, OK, OK),
    "projectUpdate": (DENIED, DENIED, DENIED, DENIED, OK, OK),
    "projectDelete": (DENIED, DENIED, DENIED, DENIED, OK, OK),
    "projectMembersSet": (DENIED, DENIED, DENIED, DENIED, OK, OK),
}


@pytest.mark.parametrize(("operation", "key", "expected"), role_matrix(MATRIX))
async def test_who_manages_projects(api, services, operation, key, expected):
    tenant = await make_tenant(services)
    actor = await member_as(api, services, tenant, key)
    project = await create_ok(api, tenant.owner, "Apollo")
    staff = await make_member(services, tenant, Role.VIEWER)
    if operation == "projectMemberRemove":
        await add(api, tenant.owner, project["id"], staff.staff_id)
    query, variables = {
        "projectCreate": (CREATE, {"input": {"name": "Gemini"}}),
        "projectMemberAdd": (
            ADD,
            {"input": {"projectId": project["id"], "staffId": staff.staff_id}},
        ),
        "projectMemberRemove": (
            REMOVE,
            {"input": {"projectId": project["id"], "staffId": staff.staff_id}},
        ),
        "projectTeamRoleCreate": (ROLE_CREATE, {"name": "Lead"}),
        "projectUpdate": (UPDATE, {"input": {"projectId": project["id"], "name": "Gemini"}}),
        "projectDelete": (DELETE, {"input": {"projectId": project["id"]}}),
        "projectMembersSet": (
            MEMBERS_SET,
            {"input": {"projectId": project["id"], "staffIds": [staff.staff_id]}},
        ),
    }[operation]
    body = await api(query, variables, as_=actor)
    assert outcome(body, operation) == expected

    after = await projects(api, tenant.owner)
    apollo = after.get("Apollo") or after.get("Gemini") or {"members": []}
    on_project = staff.staff_id in {m["staff"]["id"] for m in apollo["members"]}
    roles = await api.data(TEAM_ROLES, as_=tenant.owner)
    happened = {
        "projectCreate": "Gemini" in after,
        "projectMemberAdd": on_project,
        "projectMemberRemove": not on_project,
        "projectTeamRoleCreate": bool(roles["picklists"]["projectTeamRoles"]),
        "projectUpdate": "Gemini" in after and "Apollo" not in after,
        "projectDelete": after == {},
        "projectMembersSet": [m["staff"]["id"] for m in apollo["members"]] == [staff.staff_id],
    }[operation]
    assert happened == (expected == OK)


# --- projectUpdate, projectDelete, projectMembersSet ---


async def test_update_renames_and_keeps_names_and_external_ids_unique(api, services):
    tenant = await make_tenant(services)
    apollo = await create_ok(api, tenant.owner, "Apollo")
    await create_ok(api, tenant.owner, "Gemini", externalId="g-1")
    update = {"projectId": apollo["id"], "name": "Artemis", "externalId": "a-1"}
    changed = (await api.data(UPDATE, {"input": update}, as_=tenant.owner))["projectUpdate"]
    assert changed["userErrors"] == []
    assert changed["project"]["name"] == "Artemis" and changed["project"]["externalId"] == "a-1"
    # left out: unchanged
    described = {"projectId": apollo["id"], "description": "To the moon"}
    changed = (await api.data(UPDATE, {"input": described}, as_=tenant.owner))["projectUpdate"]
    assert changed["project"] | {"id": None} == {
        "id": None,
        "name": "Artemis",
        "description": "To the moon",
        "externalId": "a-1",
    }
    for taken, field in ((" gemini ", "name"), ("g-1", "externalId")):
        key = "name" if field == "name" else "externalId"
        payload = (
            await api.data(
                UPDATE, {"input": {"projectId": apollo["id"], key: taken}}, as_=tenant.owner
            )
        )["projectUpdate"]
        assert [e["code"] for e in payload["userErrors"]] == ["TAKEN"]
    blank = {"projectId": apollo["id"], "name": "  "}
    payload = (await api.data(UPDATE, {"input": blank}, as_=tenant.owner))["projectUpdate"]
    assert [e["code"] for e in payload["userErrors"]] == ["REQUIRED"]
    assert set(await projects(api, tenant.owner)) == {"Artemis", "Gemini"}


async def test_members_set_makes_the_members_exactly_those_given(api, services):
    tenant = await make_tenant(services)
    a = await make_member(services, tenant, Role.VIEWER, last_name="Alpha")
    b = await make_member(services, tenant, Role.VIEWER, last_name="Beta")
    lead = await team_role(api, tenant.owner, "Lead")
    project = await create_ok(api, tenant.owner, "Apollo")
    await add(api, tenant.owner, project["id"], a.staff_id, lead)
    variables = {"input": {"projectId": project["id"], "staffIds": [a.staff_id, b.staff_id]}}
    payload = (await api.data(MEMBERS_SET, variables, as_=tenant.owner))["projectMembersSet"]
    assert payload["userErrors"] == []
    # the owner, added at creation and not named, left; Alpha kept the team role
    assert members(payload["project"]) == {"Viewer Alpha": "Lead", "Viewer Beta": None}
    variables = {"input": {"projectId": project["id"], "staffIds": []}}
    payload = (await api.data(MEMBERS_SET, variables, as_=tenant.owner))["projectMembersSet"]
    assert payload["project"]["members"] == []


async def test_delete_removes_the_project_not_the_people(api, services):
    tenant = await make_tenant(services)
    viewer = await make_member(services, tenant, Role.VIEWER)
    project = await create_ok(api, tenant.owner, "Apollo", memberIds=[viewer.staff_id])
    payload = (await api.data(DELETE, {"input": {"projectId": project["id"]}}, as_=tenant.owner))[
        "projectDelete"
    ]
    assert payload == {"deletedProjectId": project["id"], "userErrors": []}
    assert await projects(api, tenant.owner) == {}
    seen = await api.data(STAFF_PROJECTS, {"id": viewer.staff_id}, as_=tenant.owner)
    assert seen["node"]["projects"] == []
    again = (await api.data(DELETE, {"input": {"projectId": project["id"]}}, as_=tenant.owner))[
        "projectDelete"
    ]
    assert codes(again) == [(("input", "projectId"), "NOT_FOUND")]


async def test_update_delete_and_members_set_of_another_account_are_not_found(api, services):
    mine = await make_tenant(services)
    theirs = await make_tenant(services)
    mine_project = await create_ok(api, mine.owner, "Mine")
    their_project = await create_ok(api, theirs.owner, "Theirs")
    calls = [
        (UPDATE, "projectUpdate", {"projectId": their_project["id"], "name": "Taken over"}),
        (DELETE, "projectDelete", {"projectId": their_project["id"]}),
        (MEMBERS_SET, "projectMembersSet", {"projectId": their_project["id"], "staffIds": []}),
    ]
    for query, field, variables in calls:
        payload = (await api.data(query, {"input": variables}, as_=mine.owner))[field]
        assert codes(payload) == [(("input", "projectId"), "NOT_FOUND")], field
    # their staff cannot be put on my project
    variables = {"projectId": mine_project["id"], "staffIds": [theirs.owner.staff_id]}
    payload = (await api.data(MEMBERS_SET, {"input": variables}, as_=mine.owner))[
        "projectMembersSet"
    ]
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    theirs_now = (await projects(api, theirs.owner))["Theirs"]
    assert [m["staff"]["id"] for m in theirs_now["members"]] == [theirs.owner.staff_id]


async def test_a_refusal_names_at_most_fifty_problems(api, services):
    """Ten thousand unknown ids (a 256 kB body holds them) gave ten thousand userErrors,
    where the query's cost counts fifty: the first fifty are named, and nothing changes."""
    from app.errors import MAX_REPORTED

    tenant = await make_tenant(services)
    project = await create_ok(api, tenant.owner)
    unknown = [gid("Staff", 10_000_000 + i) for i in range(2_000)]
    body = await api.data(MEMBERS_SET, {"input": {"projectId": project["id"], "staffIds": unknown}},
                          as_=tenant.owner)  # fmt: skip
    errors = body["projectMembersSet"]["userErrors"]
    assert len(errors) == MAX_REPORTED == 50
    assert errors[0] == {"field": ["input", "staffIds", "0"], "code": "NOT_FOUND"}
    assert body["projectMembersSet"]["project"] is None


async def test_a_key_puts_on_projects_only_the_records_it_sees(api, services):
    """Putting a record on a project makes its person a peer of the project's members, and a
    key without staff:read sees its creator's record and their project peers alone: it
    cannot make everyone its peer, nor invite a record it does not see (as not found)."""
    from tests.identity.test_api_key_scopes import create_key
    from tests.invitations.test_service import INVITE

    tenant = await make_tenant(services)
    other = await make_staff(services, tenant, last_name="Unseen", email="unseen@example.com")
    token = (await create_key(api, tenant.owner, "ADMIN", "INVITATIONS_WRITE", "STAFF_WRITE",
                              "PERSONAL_DATA"))["token"]  # fmt: skip
    as_key = {"token": token, "realm": tenant.slug}
    create = """mutation($ids: [ID!]) {
      projectCreate(input: {name: "Everyone", memberIds: $ids}) {
        project { id members { staff { id } } } userErrors { code field } } }"""
    body = await api(create, {"ids": [gid("Staff", other.id)]}, **as_key)
    payload = body["data"]["projectCreate"]
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["input", "memberIds", "0"])
    ], body
    # its creator's own record it sees
    body = await api(create, {"ids": [tenant.owner.staff_id]}, **as_key)
    project = body["data"]["projectCreate"]["project"]
    assert body["data"]["projectCreate"]["userErrors"] == [], body
    add = """mutation($p: ID!, $s: ID!) { projectMemberAdd(input: {projectId: $p, staffId: $s}) {
      userErrors { code field } } }"""
    body = await api(add, {"p": project["id"], "s": gid("Staff", other.id)}, **as_key)
    assert [e["code"] for e in body["data"]["projectMemberAdd"]["userErrors"]] == ["NOT_FOUND"]
    invite = {"staffId": gid("Staff", other.id), "email": "unseen@example.com", "role": "GUEST"}
    body = await api(INVITE, {"input": invite}, **as_key)
    assert [e["code"] for e in body["data"]["invitationCreate"]["userErrors"]] == ["NOT_FOUND"]
    # the owner, who sees everyone, may
    data = await api.data(add, {"p": project["id"], "s": gid("Staff", other.id)}, as_=tenant.owner)
    assert data["projectMemberAdd"]["userErrors"] == []


async def test_an_account_holds_a_bounded_number_of_team_roles(api, services):
    """Every reader of a role loads the account's team roles whole, and the cost model
    prices them at the cap: past it, creating one is refused (found in review: thirty
    aliased creations a request grew them without end)."""
    from sqlalchemy import insert

    from app.projects.models import ProjectTeamRole
    from app.projects.service import MAX_TEAM_ROLES
    from app.validation import name_key

    tenant = await make_tenant(services)
    async with services.db.session(write=True) as session:
        await session.execute(
            insert(ProjectTeamRole),
            [
                {"account_id": tenant.account_id, "name": f"R{i}", "name_key": name_key(f"R{i}")}
                for i in range(MAX_TEAM_ROLES - 1)
            ],
        )
        await session.commit()
    await team_role(api, tenant.owner, "The last one")
    data = await api.data(ROLE_CREATE, {"name": "One too many"}, as_=tenant.owner)
    assert [e["code"] for e in data["projectTeamRoleCreate"]["userErrors"]] == ["LIMIT_REACHED"]
    assert data["projectTeamRoleCreate"]["teamRole"] is None


@pytest.mark.parametrize("deleted", ["project", "staff"])
async def test_a_member_added_as_the_project_or_the_record_is_deleted_is_not_found(
    api, services, database_url, deleted
):
    """A project or record deleted by a transaction that commits while the addition waits
    for it: the addition answers not found, never an unexpected error from its foreign key
    (PostgreSQL, where the two run at once; SQLite's writers take turns)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers are PostgreSQL's")
    from app.graphql.ids import decode_id
    from tests.factories import answered_across_a_delete

    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant)
    project = await create_ok(api, tenant.owner)
    pk = decode_id(project["id"], "Project")
    deletes = (
        [
            ("DELETE FROM project_members WHERE project_id = $1", pk),
            ("DELETE FROM projects WHERE id = $1", pk),
        ]
        if deleted == "project"
        else [("DELETE FROM staff WHERE id = $1", staff.id)]
    )
    variables = {"input": {"projectId": project["id"], "staffId": gid("Staff", staff.id)}}
    body = await answered_across_a_delete(
        database_url, deletes, lambda: api(ADD, variables, as_=tenant.owner)
    )
    assert "errors" not in body, body
    [error] = body["data"]["projectMemberAdd"]["userErrors"]
    assert error["code"] == "NOT_FOUND"


async def test_a_guest_is_not_shown_the_disabled_or_inactive_members_of_their_projects(
    api, services
):
    """A guest's directory never lists a disabled or inactive colleague, and shows their
    status as null: the members of the guest's project beside it would name them (found
    in review). Whoever sees the directory sees every member."""
    from app.staff.models import AccountStatus

    tenant = await make_tenant(services)
    guest = await make_member(services, tenant, Role.GUEST)
    active, gone, idle = [await make_staff(services, tenant, last_name=n) for n in "ABC"]
    project = await create_ok(
        api, tenant.owner,
        memberIds=[guest.staff_id] + [gid("Staff", s.id) for s in (active, gone, idle)],
    )  # fmt: skip
    await set_staff_columns(services, gone.id, account_status=AccountStatus.DISABLED)
    await set_staff_columns(services, idle.id, is_inactive=True)
    query = "query($id: ID!) { node(id: $id) { ... on Project { members { staff { id } } } } }"

    def ids(data) -> set[str]:
        return {m["staff"]["id"] for m in data["node"]["members"]}

    shown = ids(await api.data(query, {"id": project["id"]}, as_=guest))
    assert {guest.staff_id, gid("Staff", active.id)} <= shown
    assert not {gid("Staff", gone.id), gid("Staff", idle.id)} & shown
    directory = await api.data("{ staff(first: 100) { nodes { id } } }", as_=guest)
    assert shown == {n["id"] for n in directory["staff"]["nodes"]}
    everyone = ids(await api.data(query, {"id": project["id"]}, as_=tenant.owner))
    assert everyone >= {gid("Staff", s.id) for s in (active, gone, idle)}
