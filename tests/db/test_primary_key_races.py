"""Races on composite primary keys: identical writes fired at once through the app.

Adding a project member (``projects._add``, which projectMembersSet and SCIM Groups share),
sharing a restricted record, granting a permit and setting a custom value each check
whether their row exists, then insert it. On PostgreSQL every
request checks before any commits, so all but one meet the primary key at the insert.
Adding what is there is a no-op, so each loser must answer what the check would have
answered once the winner committed (the same success), and a value's loser must write its
value over the winner's (last writer wins); never an internal error. The audit log records
the one insert (and each value's overwrite), nothing of the refused inserts. On SQLite the
writer lock serialises the requests, so the check answers every loser there.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.access import Permit
from app.audit.models import AuditEntry
from app.custom_fields.errors import FieldNameTaken
from app.custom_fields.models import CustomFieldValue
from app.db.unique import ALREADY_THERE, claim
from app.projects.models import ProjectMember
from app.staff.models import StaffPermitGrant, StaffShare
from tests.factories import gid, make_custom_field, make_staff, make_tenant

N = 10

PROJECT_CREATE = """mutation {
  projectCreate(input: {name: "Apollo"}) { project { id } userErrors { code } } }"""
MEMBER_ADD = """mutation($project: ID!, $staff: ID!) {
  projectMemberAdd(input: {projectId: $project, staffId: $staff}) {
    project { id members { staff { id } } } userErrors { field code } } }"""
SHARE = """mutation($staff: ID!, $other: ID!) {
  staffShare(input: {staffId: $staff, sharedWithId: $other}) {
    staff { id } userErrors { field code } } }"""
GRANT = """mutation($staff: ID!) {
  staffPermitGrant(input: {staffId: $staff, permit: VIEW_PERSONAL_DATA}) {
    staff { id } userErrors { field code } } }"""
VALUE_SET = """mutation($staff: ID!, $field: ID!, $value: String) {
  staffCustomFieldsSet(input: {staffId: $staff, values: [{fieldId: $field, value: $value}]}) {
    staff { id } userErrors { field code } } }"""


def payload(body: dict, field: str) -> dict:
    """The mutation's payload; a top-level error (INTERNAL_SERVER_ERROR) fails here."""
    assert not body.get("errors"), body["errors"]
    return body["data"][field]


async def scalar(services, statement):
    async with services.db.session() as session:
        return await session.scalar(statement)


async def logged(services, account_id: int, table: str) -> Counter:
    """How many inserts, updates and deletes of ``table`` the account's audit log holds."""
    async with services.db.session() as session:
        diffs = await session.scalars(
            select(AuditEntry.diff).where(AuditEntry.account_id == account_id)
        )
        return Counter(c["op"] for diff in diffs for c in diff if c["table"] == table)


async def project_member_case(api, services, tenant):
    body = await api(PROJECT_CREATE, as_=tenant.owner)
    project = payload(body, "projectCreate")["project"]["id"]
    staff = await make_staff(services, tenant, first_name="Pat", last_name="Joiner")
    variables = {"project": project, "staff": gid("Staff", staff.id)}
    return variables, ProjectMember, ProjectMember.staff_id == staff.id


async def share_case(api, services, tenant):
    staff = await make_staff(services, tenant, first_name="Rita", last_name="Hidden",
                             restricted=True)
    other = await make_staff(services, tenant, first_name="Sam", last_name="Sees")
    variables = {"staff": gid("Staff", staff.id), "other": gid("Staff", other.id)}
    return variables, StaffShare, StaffShare.staff_id == staff.id


async def grant_case(api, services, tenant):
    staff = await make_staff(services, tenant, first_name="Gil", last_name="Granted")
    return {"staff": gid("Staff", staff.id)}, StaffPermitGrant, StaffPermitGrant.staff_id == staff.id


@pytest.mark.parametrize(
    ("query", "field", "setup", "table"),
    [
        (MEMBER_ADD, "projectMemberAdd", project_member_case, "project_members"),
        (SHARE, "staffShare", share_case, "staff_shares"),
        (GRANT, "staffPermitGrant", grant_case, "staff_permit_grants"),
    ],
    ids=["projectMemberAdd", "staffShare", "staffPermitGrant"],
)
async def test_identical_adds_at_once_make_one_row_and_all_succeed(
    api, services, query, field, setup, table
):
    tenant = await make_tenant(services)
    variables, model, where = await setup(api, services, tenant)
    before = await logged(services, tenant.account_id, table)

    bodies = await asyncio.gather(*(api(query, variables, as_=tenant.owner) for _ in range(N)))

    # every loser got what adding it again answers once the winner is committed: success
    sequential = payload(await api(query, variables, as_=tenant.owner), field)
    assert sequential["userErrors"] == []
    assert [payload(body, field) for body in bodies] == [sequential] * N
    assert await scalar(services, select(func.count()).select_from(model).where(where)) == 1
    assert await logged(services, tenant.account_id, table) - before == {"insert": 1}


async def test_one_value_set_at_once_by_many_ends_as_one_of_them(api, services):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant, first_name="Val", last_name="Ues")
    field = await make_custom_field(services, tenant, "Shirt size")
    values = [f"size {i}" for i in range(N)]

    bodies = await asyncio.gather(
        *(
            api(VALUE_SET, {"staff": gid("Staff", staff.id), "field": gid("CustomField", field.id),
                            "value": value}, as_=tenant.owner)
            for value in values
        )
    )

    assert [payload(body, "staffCustomFieldsSet")["userErrors"] for body in bodies] == [[]] * N
    rows = select(CustomFieldValue.value).where(
        CustomFieldValue.staff_id == staff.id, CustomFieldValue.field_id == field.id
    )
    async with services.db.session() as session:
        assert list(await session.scalars(rows)) in ([v] for v in values)
    # one insert, then each later writer's overwrite of the value before it: nothing of the
    # inserts the primary key refused
    assert await logged(services, tenant.account_id, "custom_field_values") == {
        "insert": 1,
        "update": N - 1,
    }


# --- the helper -----------------------------------------------------------------------------


async def test_claim_answers_a_primary_key_as_it_is_told(services):
    tenant = await make_tenant(services)
    staff = await make_staff(services, tenant, first_name="Gil", last_name="Granted")

    def grant():
        return StaffPermitGrant(
            staff_id=staff.id, permit=Permit.VIEW_PERSONAL_DATA, account_id=tenant.account_id
        )

    async with services.db.session(write=True) as session:
        session.add(grant())
        await session.commit()
    async with services.db.session(write=True) as session:
        async with claim(session, {"pk_staff_permit_grants": ALREADY_THERE}) as claimed:
            session.add(grant())
        assert claimed.already_there == "pk_staff_permit_grants"
        with pytest.raises(FieldNameTaken):
            async with claim(session, {"pk_staff_permit_grants": FieldNameTaken}):
                session.add(grant())
        # another key's refusal is neither: it is raised as it came
        with pytest.raises(IntegrityError):
            async with claim(session, {"pk_staff_shares": ALREADY_THERE}):
                session.add(grant())
        async with claim(session, {"pk_staff_shares": ALREADY_THERE}) as claimed:
            session.add(StaffShare(staff_id=staff.id, shared_with_id=tenant.owner.staff_pk,
                                   account_id=tenant.account_id))
        assert claimed.already_there is None
        # the savepoints were rolled back: the transaction goes on and commits
        await session.commit()
    counted = select(func.count()).select_from(StaffPermitGrant)
    assert await scalar(services, counted.where(StaffPermitGrant.staff_id == staff.id)) == 1
    assert await scalar(services, select(func.count()).select_from(StaffShare).where(
        StaffShare.staff_id == staff.id)) == 1


async def test_claim_refuses_a_primary_key_the_models_do_not_declare(services):
    async with services.db.session() as session:
        with pytest.raises(KeyError):
            async with claim(session, {"pk_project_member": ALREADY_THERE}):
                pass


MEMBERS_SET = """mutation($project: ID!, $staff: [ID!]!) {
  projectMembersSet(input: {projectId: $project, staffIds: $staff}) {
    project { id } userErrors { field code } } }"""
VALUES_SET = """mutation($staff: ID!, $values: [CustomFieldValueInput!]!) {
  staffCustomFieldsSet(input: {staffId: $staff, values: $values}) {
    staff { id } userErrors { field code } } }"""


async def test_the_same_rows_named_in_different_orders_at_once_never_deadlock(api, services):
    """Requests adding the same members, or setting the same new values, each naming them
    in its own order: every one succeeds (on PostgreSQL, inserts in the order each request
    named them made two requests wait each for the other: a deadlock, answered 500)."""
    tenant = await make_tenant(services)
    project = payload(await api(PROJECT_CREATE, as_=tenant.owner), "projectCreate")["project"]
    # the owner, who made the project and is on it, and three more: nobody leaves
    ids = [tenant.owner.staff_pk] + [
        (await make_staff(services, tenant, first_name=f"P{i}", last_name="M")).id
        for i in range(3)
    ]
    people = [gid("Staff", i) for i in ids]
    fields = [
        gid("CustomField", (await make_custom_field(services, tenant, f"Field {i}")).id)
        for i in range(4)
    ]
    staff = people[0]
    orders = [people, people[::-1], people[1:] + people[:1], people[2:] + people[:2]]

    bodies = await asyncio.gather(
        *(
            api(MEMBERS_SET, {"project": project["id"], "staff": orders[i % 4]}, as_=tenant.owner)
            for i in range(N)
        ),
    )
    assert [payload(b, "projectMembersSet")["userErrors"] for b in bodies] == [[]] * N
    members = select(func.count()).select_from(ProjectMember)
    assert await scalar(services, members.where(ProjectMember.staff_id.in_(ids))) == 4

    field_orders = [fields, fields[::-1], fields[1:] + fields[:1], fields[2:] + fields[:2]]
    bodies = await asyncio.gather(
        *(
            api(VALUES_SET, {"staff": staff, "values": [
                {"fieldId": f, "value": f"v{i}"} for f in field_orders[i % 4]
            ]}, as_=tenant.owner)
            for i in range(N)
        ),
    )
    assert [payload(b, "staffCustomFieldsSet")["userErrors"] for b in bodies] == [[]] * N
    values = select(CustomFieldValue.value).where(CustomFieldValue.account_id == tenant.account_id)
    async with services.db.session() as session:
        held = list(await session.scalars(values))
    assert len(held) == 4 and all(v.startswith("v") for v in held)

