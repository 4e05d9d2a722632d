"""Races on removals: identical removals of one row fired at once through the app.

Removing a project member (``projectMemberRemove``, and ``projectMembersSet`` leaving
somebody out), unsharing a restricted record and revoking a permit each look the row up,
then delete it. On PostgreSQL every request looks before any commits, so all find the row
and all but one delete nothing: the ORM's DELETE then matched 0 rows (SQLAlchemy's "expected
to delete 1 row(s); 0 were matched", an error in this suite) and the loser's removal was
audited (and its event emitted) although it removed nothing. Each loser must answer what the
same removal sent again answers once the winner committed: success where removing what is
not there is a no-op, NOT_FOUND for ``projectMemberRemove`` (its contract,
``tests/projects/test_projects.py::test_member_remove``); never an internal error. The
audit log records the one delete, and the events table the one event. On SQLite the writer
lock serialises the requests, so the look answers every loser there.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, func, select

from app.access import Permit
from app.audit import changes
from app.custom_fields.models import CustomFieldValue
from app.db.removal import remove, remove_all
from app.events.models import Event
from app.projects.models import Project, ProjectMember
from app.staff.models import StaffPermitGrant, StaffShare
from app.webhooks.models import WebhookEndpoint
from tests.conftest import make_settings
from tests.db.test_primary_key_races import (
    GRANT,
    MEMBER_ADD,
    MEMBERS_SET,
    PROJECT_CREATE,
    SHARE,
    VALUE_SET,
    N,
    logged,
    payload,
    scalar,
)
from tests.factories import gid, make_custom_field, make_staff, make_tenant

MEMBER_REMOVE = """mutation($project: ID!, $staff: ID!) {
  projectMemberRemove(input: {projectId: $project, staffId: $staff}) {
    project { id members { staff { id } } } userErrors { field code } } }"""
UNSHARE = SHARE.replace("staffShare", "staffUnshare")
REVOKE = GRANT.replace("staffPermitGrant", "staffPermitRevoke")
PROJECT_DELETE = """mutation($project: ID!) {
  projectDelete(input: {projectId: $project}) { deletedProjectId userErrors { field code } } }"""
ENDPOINT_CREATE = """mutation {
  webhookEndpointCreate(input: {url: "http://127.0.0.1:9/hooks/roster"}) {
    webhookEndpoint { id } userErrors { field code } } }"""
ENDPOINT_DELETE = """mutation($id: ID!) {
  webhookEndpointDelete(input: {id: $id}) { deletedId userErrors { field code } } }"""


@pytest.fixture
def settings(database_url):
    # an endpoint at a local address (never called: no worker delivers here)
    return make_settings(database_url, webhooks_allow_private=True, webhooks_enabled=False)


async def member_case(api, services, tenant):
    body = await api(PROJECT_CREATE, as_=tenant.owner)
    project = payload(body, "projectCreate")["project"]["id"]
    staff = await make_staff(services, tenant, first_name="Pat", last_name="Leaver")
    variables = {"project": project, "staff": gid("Staff", staff.id)}
    payload(await api(MEMBER_ADD, variables, as_=tenant.owner), "projectMemberAdd")
    return variables, ProjectMember, ProjectMember.staff_id == staff.id


async def members_set_case(api, services, tenant):
    variables, model, where = await member_case(api, services, tenant)
    # the owner made the project and stays on it; Pat is left out
    return {"project": variables["project"], "staff": [tenant.owner.staff_id]}, model, where


async def unshare_case(api, services, tenant):
    staff = await make_staff(services, tenant, first_name="Rita", last_name="Hidden",
                             restricted=True)
    other = await make_staff(services, tenant, first_name="Sam", last_name="Sees")
    variables = {"staff": gid("Staff", staff.id), "other": gid("Staff", other.id)}
    payload(await api(SHARE, variables, as_=tenant.owner), "staffShare")
    return variables, StaffShare, StaffShare.staff_id == staff.id


async def revoke_case(api, services, tenant):
    staff = await make_staff(services, tenant, first_name="Gil", last_name="Granted")
    variables = {"staff": gid("Staff", staff.id)}
    payload(await api(GRANT, variables, as_=tenant.owner), "staffPermitGrant")
    return variables, StaffPermitGrant, StaffPermitGrant.staff_id == staff.id


async def value_clear_case(api, services, tenant):
    staff = await make_staff(services, tenant, first_name="Val", last_name="Ues")
    field = await make_custom_field(services, tenant, "Shirt size")
    variables = {"staff": gid("Staff", staff.id), "field": gid("CustomField", field.id)}
    payload(await api(VALUE_SET, {**variables, "value": "L"}, as_=tenant.owner),
            "staffCustomFieldsSet")
    return {**variables, "value": None}, CustomFieldValue, CustomFieldValue.staff_id == staff.id


async def project_delete_case(api, services, tenant):
    variables, _, _ = await member_case(api, services, tenant)
    project = variables["project"]
    return {"project": project}, Project, Project.account_id == tenant.account_id


async def endpoint_delete_case(api, services, tenant):
    made = payload(await api(ENDPOINT_CREATE, as_=tenant.owner), "webhookEndpointCreate")
    assert made["userErrors"] == []
    endpoint = made["webhookEndpoint"]["id"]
    return {"id": endpoint}, WebhookEndpoint, WebhookEndpoint.account_id == tenant.account_id


@pytest.mark.parametrize(
    ("query", "field", "setup", "table", "events", "again_is_success"),
    [
        (MEMBER_REMOVE, "projectMemberRemove", member_case, "project_members", 0, False),
        (MEMBERS_SET, "projectMembersSet", members_set_case, "project_members", 0, True),
        (UNSHARE, "staffUnshare", unshare_case, "staff_shares", 1, True),
        (REVOKE, "staffPermitRevoke", revoke_case, "staff_permit_grants", 1, True),
        (VALUE_SET, "staffCustomFieldsSet", value_clear_case, "custom_field_values", 1, True),
        (PROJECT_DELETE, "projectDelete", project_delete_case, "projects", 0, False),
        (ENDPOINT_DELETE, "webhookEndpointDelete", endpoint_delete_case, "webhook_endpoints",
         0, False),
    ],
    ids=["projectMemberRemove", "projectMembersSet", "staffUnshare", "staffPermitRevoke",
         "staffCustomFieldsSet", "projectDelete", "webhookEndpointDelete"],
)
async def test_identical_removals_at_once_remove_once_and_answer_as_sent_again(
    api, services, query, field, setup, table, events, again_is_success
):
    tenant = await make_tenant(services)
    variables, model, where = await setup(api, services, tenant)
    before = await logged(services, tenant.account_id, table)
    account_events = select(func.count()).select_from(Event).where(
        Event.account_id == tenant.account_id
    )
    events_before = await scalar(services, account_events)

    bodies = await asyncio.gather(*(api(query, variables, as_=tenant.owner) for _ in range(N)))

    answers = [payload(body, field) for body in bodies]  # no internal error
    assert await scalar(services, select(func.count()).select_from(model).where(where)) == 0
    assert await logged(services, tenant.account_id, table) - before == {"delete": 1}
    assert await scalar(services, account_events) - events_before == events
    # every loser got what removing it again answers once the winner is committed
    again = payload(await api(query, variables, as_=tenant.owner), field)
    if again_is_success:
        assert again["userErrors"] == []
        assert answers == [again] * N
    else:
        assert [e["code"] for e in again["userErrors"]] == ["NOT_FOUND"]
        removed = [a for a in answers if a != again]
        assert len(removed) == 1 and removed[0]["userErrors"] == []
    assert await logged(services, tenant.account_id, table) - before == {"delete": 1}


# --- the helper -----------------------------------------------------------------------------


async def test_remove_all_records_only_the_rows_its_statements_deleted(services):
    tenant = await make_tenant(services)
    people = [
        await make_staff(services, tenant, first_name=f"P{i}", last_name="Granted")
        for i in range(4)
    ]
    async with services.db.session(write=True) as session:
        for staff in people:
            session.add(StaffPermitGrant(staff_id=staff.id, permit=Permit.VIEW_PERSONAL_DATA,
                                         account_id=tenant.account_id))
        await session.commit()
    grants = select(StaffPermitGrant).where(StaffPermitGrant.account_id == tenant.account_id)

    def behind_its_back(staff):  # as a concurrent request would: the session cannot know
        return delete(StaffPermitGrant.__table__).where(
            StaffPermitGrant.staff_id == staff.id
        )

    async with services.db.session(write=True) as session:
        loaded = list(await session.scalars(grants.order_by(StaffPermitGrant.staff_id)))
        await session.execute(behind_its_back(people[1]))
        changes.forget(session)
        assert await remove_all(session, loaded[:3]) == 2
        assert [(c["op"], c["key"][0]) for c in changes.take(session)] == [
            ("delete", people[0].id),
            ("delete", people[2].id),
        ]
        await session.execute(behind_its_back(people[3]))
        assert not await remove(session, loaded[3])
        assert changes.take(session) == []
        assert all(row not in session for row in loaded)
        await session.commit()
    assert await scalar(services, select(func.count()).select_from(grants.subquery())) == 0
