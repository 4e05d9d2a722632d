"""SCIM Groups over projects: create, read, list with the filters identity providers use
(displayName, externalId), paging, replace, PATCH of members as Okta and Entra ID send
it, delete; ids never read as a User's; what managing Groups takes; audit entries."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from app.access.scopes import Scope
from app.errors import ErrorCode, ValidationFailed
from app.projects.models import Project, ProjectMember
from tests.factories import audit_actions, make_staff, make_tenant
from tests.scim.helpers import GROUP, GROUP_SCOPES, scim_error, scim_for, user_body


async def _user(s, email: str) -> str:
    response = await s.post("/Users", user_body(email))
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _group(s, name: str, *member_ids: str, **extra) -> dict:
    body = {
        "schemas": [GROUP],
        "displayName": name,
        "members": [{"value": m} for m in member_ids],
        **extra,
    }
    response = await s.post("/Groups", body)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == response.json()["meta"]["location"]
    return response.json()


def _members(group: dict) -> set[str]:
    return {m["value"] for m in group.get("members", [])}


async def _member_rows(services, project_id: int) -> int:
    async with services.db.session() as session:
        return len(
            list(
                await session.scalars(
                    select(ProjectMember).where(ProjectMember.project_id == project_id)
                )
            )
        )


async def test_create_makes_a_project_with_exactly_its_members(services, client):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    alice = await _user(s, "alice@example.com")
    group = await _group(s, "Apollo", alice, externalId="okta-g1")
    assert group["id"].startswith("p") and group["id"][1:].isdigit()
    assert group["displayName"] == "Apollo"
    assert group["externalId"] == "okta-g1"
    assert group["schemas"] == [GROUP]
    assert group["meta"]["resourceType"] == "Group"
    [member] = group["members"]
    assert member["value"] == alice
    assert member["type"] == "User"
    assert member["$ref"].endswith(f"/scim/v2/Users/{alice}")
    async with services.db.session() as session:
        project = await session.get(Project, int(group["id"][1:]))
        assert project.name == "Apollo" and project.external_id == "okta-g1"
    # the owner is not added as on projectCreate: the group is what the provider says
    assert await _member_rows(services, int(group["id"][1:])) == 1
    again = await s.get(f"/Groups/{group['id']}")
    assert again.status_code == 200 and again.json() == group


async def test_a_taken_display_name_or_external_id_is_a_uniqueness_error(services, client):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    await _group(s, "Apollo", externalId="g1")
    scim_error(
        await s.post("/Groups", {"schemas": [GROUP], "displayName": " apollo "}), 409, "uniqueness"
    )
    scim_error(
        await s.post("/Groups", {"schemas": [GROUP], "displayName": "Other", "externalId": "g1"}),
        409,
        "uniqueness",
    )


async def test_members_must_be_users_of_the_account(services, client):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    other = await scim_for(services, client, scopes=GROUP_SCOPES)
    theirs = await _user(other, "theirs@example.com")
    mine = await _user(s, "mine@example.com")
    for value in (theirs if theirs != mine else "99999", "p1", "nobody"):
        body = {"schemas": [GROUP], "displayName": "X", "members": [{"value": value}]}
        scim_error(await s.post("/Groups", body), 400, "invalidValue")


async def test_list_filters_and_pages(services, client):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    made = [await _group(s, f"Team {n}", externalId=f"ext-{n}") for n in range(5)]
    listed = (await s.get("/Groups")).json()
    assert listed["totalResults"] == 5
    assert [g["id"] for g in listed["Resources"]] == [g["id"] for g in made]
    page = (await s.get("/Groups", startIndex=2, count=2)).json()
    assert page["startIndex"] == 2 and page["itemsPerPage"] == 2 and page["totalResults"] == 5
    assert [g["id"] for g in page["Resources"]] == [made[1]["id"], made[2]["id"]]
    by_name = (await s.get("/Groups", filter='displayName eq "team 3"')).json()
    assert [g["id"] for g in by_name["Resources"]] == [made[3]["id"]]
    by_ext = (await s.get("/Groups", filter='externalId eq "ext-4"')).json()
    assert [g["id"] for g in by_ext["Resources"]] == [made[4]["id"]]
    none = (await s.get("/Groups", filter='externalId eq "nope"')).json()
    assert none["totalResults"] == 0 and none["Resources"] == []
    scim_error(await s.get("/Groups", filter='members.value eq "1"'), 400, "invalidFilter")
    slim = (await s.get("/Groups", excludedAttributes="members")).json()
    assert all("members" not in g for g in slim["Resources"])


async def test_replace_sets_name_external_id_and_exactly_the_members(services, client):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    a, b, c = [await _user(s, f"{n}@example.com") for n in "abc"]
    group = await _group(s, "Apollo", a, b)
    response = await s.put(
        f"/Groups/{group['id']}",
        {
            "schemas": [GROUP],
            "displayName": "Artemis",
            "externalId": "e2",
            "members": [{"value": b}, {"value": c}],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["displayName"] == "Artemis"
    assert response.json()["externalId"] == "e2"
    assert _members(response.json()) == {b, c}


async def test_okta_patch_sequence(services, client):
    """Okta's group push: add members, remove one by a value filter, rename."""
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    a, b = [await _user(s, f"{n}@example.com") for n in "ab"]
    group = await _group(s, "Apollo")
    path = f"/Groups/{group['id']}"
    added = await s.patch(
        path, {"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}
    )
    assert added.status_code == 200, added.text
    assert _members(added.json()) == {a, b}
    removed = await s.patch(path, {"op": "remove", "path": f'members[value eq "{a}"]'})
    assert _members(removed.json()) == {b}
    renamed = await s.patch(
        path, {"op": "replace", "value": {"id": group["id"], "displayName": "Zeus"}}
    )
    assert renamed.json()["displayName"] == "Zeus"
    assert _members(renamed.json()) == {b}


async def test_entra_patch_sequence(services, client):
    """Entra ID: Add / Remove with capitalised ops and a value list; Replace of members."""
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    a, b, c = [await _user(s, f"{n}@example.com") for n in "abc"]
    group = await _group(s, "Apollo", a)
    path = f"/Groups/{group['id']}"
    added = await s.patch(
        path, {"op": "Add", "path": "members", "value": [{"value": b}, {"value": c}]}
    )
    assert _members(added.json()) == {a, b, c}
    removed = await s.patch(
        path, {"op": "Remove", "path": "members", "value": [{"value": a}, {"value": c}]}
    )
    assert removed.status_code == 200, removed.text
    assert _members(removed.json()) == {b}
    replaced = await s.patch(path, {"op": "Replace", "path": "members", "value": [{"value": c}]})
    assert _members(replaced.json()) == {c}
    renamed = await s.patch(path, {"op": "Replace", "path": "displayName", "value": "Hera"})
    assert renamed.json()["displayName"] == "Hera"
    cleared = await s.patch(path, {"op": "remove", "path": "members"})
    assert cleared.status_code == 200 and "members" not in cleared.json()


async def test_patch_adding_a_stranger_changes_nothing(services, client):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    a = await _user(s, "a@example.com")
    group = await _group(s, "Apollo", a)
    path = f"/Groups/{group['id']}"
    scim_error(
        await s.patch(path, {"op": "add", "path": "members", "value": [{"value": "424242"}]}),
        400,
        "invalidValue",
    )
    assert _members((await s.get(path)).json()) == {a}


async def test_delete_removes_the_project_and_keeps_the_people(services, client):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    a = await _user(s, "a@example.com")
    group = await _group(s, "Apollo", a)
    assert (await s.delete(f"/Groups/{group['id']}")).status_code == 204
    scim_error(await s.get(f"/Groups/{group['id']}"), 404)
    assert (await s.get(f"/Users/{a}")).status_code == 200
    scim_error(await s.delete(f"/Groups/{group['id']}"), 404)


async def test_group_ids_never_read_as_user_ids(services, client):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    a = await _user(s, "a@example.com")
    group = await _group(s, "Apollo")
    scim_error(await s.get(f"/Users/{group['id']}"), 404)
    scim_error(await s.get(f"/Groups/{a}"), 404)
    scim_error(await s.get("/Groups/p"), 404)
    scim_error(await s.get("/Groups/p99999999999"), 404)


async def test_another_accounts_group_is_not_found(services, client):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    other = await scim_for(services, client, scopes=GROUP_SCOPES)
    theirs = await _group(other, "Theirs")
    path = f"/Groups/{theirs['id']}"
    scim_error(await s.get(path), 404)
    scim_error(await s.put(path, {"schemas": [GROUP], "displayName": "Mine"}), 404)
    scim_error(await s.patch(path, {"op": "replace", "path": "displayName", "value": "Mine"}), 404)
    scim_error(await s.delete(path), 404)
    assert (await s.get("/Groups")).json()["totalResults"] == 0
    assert (await other.get(path)).json()["displayName"] == "Theirs"


async def test_a_scim_key_without_the_admin_scope_reads_groups_but_changes_none(services, client):
    tenant = await make_tenant(services)
    admin = await scim_for(services, client, tenant=tenant, scopes=GROUP_SCOPES)
    group = await _group(admin, "Apollo")
    s = await scim_for(services, client, tenant=tenant, scopes=(Scope.SCIM,))
    assert (await s.get("/Groups")).json()["totalResults"] == 1
    assert (await s.get(f"/Groups/{group['id']}")).status_code == 200
    scim_error(await s.post("/Groups", {"schemas": [GROUP], "displayName": "New"}), 403)
    path = f"/Groups/{group['id']}"
    scim_error(await s.put(path, {"schemas": [GROUP], "displayName": "Mine"}), 403)
    scim_error(await s.patch(path, {"op": "replace", "path": "displayName", "value": "Mine"}), 403)
    scim_error(await s.delete(path), 403)
    assert (await s.get(path)).json()["displayName"] == "Apollo"


async def test_discovery_advertises_groups(services, client):
    s = await scim_for(services, client)
    types = (await s.get("/ResourceTypes")).json()
    assert {r["id"] for r in types["Resources"]} == {"User", "Group"}
    group_type = (await s.get("/ResourceTypes/Group")).json()
    assert group_type["endpoint"] == "/Groups" and group_type["schema"] == GROUP
    schema = (await s.get(f"/Schemas/{GROUP}")).json()
    assert {a["name"] for a in schema["attributes"]} >= {"displayName", "members"}


async def test_group_changes_are_audited(services, client):
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    staff = await make_staff(services, s.tenant)
    group = await _group(s, "Apollo", str(staff.sid))
    path = f"/Groups/{group['id']}"
    await s.patch(path, {"op": "replace", "path": "displayName", "value": "Zeus"})
    await s.put(path, {"schemas": [GROUP], "displayName": "Zeus", "members": []})
    await s.delete(path)
    actions = await audit_actions(services, s.tenant.account_id)
    assert actions == ["scimGroupCreate", "scimGroupPatch", "scimGroupReplace", "scimGroupDelete"]


async def test_last_modified_is_the_last_change(services, client):
    from datetime import UTC, datetime

    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    alice = await _user(s, "lm-alice@example.com")
    group = await _group(s, "Timed", alice)
    assert group["meta"]["lastModified"] == group["meta"]["created"]
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)

    async def age() -> None:
        async with services.db.session(write=True) as session:
            project = await session.get(Project, int(group["id"][1:]))
            project.created_at = project.modified_at = long_ago
            await session.commit()

    async def last_modified(response) -> datetime:
        assert response.status_code == 200, response.text
        meta = response.json()["meta"]
        assert meta["created"] == long_ago.isoformat()
        got = (await s.get(f"/Groups/{group['id']}")).json()["meta"]
        assert got == meta
        return datetime.fromisoformat(meta["lastModified"])

    path = f"/Groups/{group['id']}"
    rename = {"op": "replace", "path": "displayName", "value": "Renamed"}
    await age()
    assert await last_modified(await s.patch(path, rename)) > long_ago
    # members joining or leaving move it too
    await age()
    bob = await _user(s, "lm-bob@example.com")
    add = {"op": "add", "path": "members", "value": [{"value": bob}]}
    assert await last_modified(await s.patch(path, add)) > long_ago
    await age()
    leave = {"op": "remove", "path": f'members[value eq "{alice}"]'}
    assert await last_modified(await s.patch(path, leave)) > long_ago
    # what changes nothing moves nothing
    await age()
    same = {"schemas": [GROUP], "displayName": "Renamed", "members": [{"value": bob}]}
    assert await last_modified(await s.put(path, same)) == long_ago



async def test_members_are_looked_up_in_chunks_past_the_databases_parameter_limit(
    services, client
):
    """A group of everyone holds tens of thousands of members: more than PostgreSQL takes
    parameters in one statement (32,767). Looking them up (a group's PUT or PATCH) reads
    them a chunk at a time, and finds and refuses alike across the chunks."""
    from app.access.scopes import Scope as KeyScope
    from app.projects import service as projects
    from app.staff import provisioning
    from tests.staff.test_search_index import actor_of

    tenant = await make_tenant(services)
    s = await scim_for(services, client, scopes=GROUP_SCOPES)
    users = [await _user(s, f"u{n}@example.com") for n in range(3)]
    # the owner as their scim key acts on the SCIM endpoint
    actor = replace(await actor_of(services, tenant.owner), scopes=frozenset({KeyScope.SCIM}))
    many = 33_000
    async with services.db.session() as session:
        own = await provisioning.by_sids(session, actor, [*range(10_000, 10_000 + many)])
        assert own == {}  # none of these numbers is issued: nothing found, nothing failed
        with pytest.raises(ValidationFailed) as refused:
            await projects._staff_of(session, actor, [*range(10_000, 10_000 + many)])
        errors = refused.value.errors  # each unknown id NOT_FOUND (the first 50 told)
        assert errors[0].field == ["member_ids", "0"]
        assert {e.code for e in errors} == {ErrorCode.NOT_FOUND}
    group = await _group(s, "Everyone", *users)
    assert _members(group) == set(users)
