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
from sqlalchemy import func, select

from app.events.models import Event
from app.projects.models import ProjectMember
from app.staff.models import StaffPermitGrant, StaffShare
from tests.db.test_primary_key_races import (
    GRANT,
    MEMBER_ADD,
    MEMBERS_SET,
    PROJECT_CREATE,
    SHARE,
    N,
    logged,
    payload,
    scalar,
)
from tests.factories import gid, make_staff, make_tenant

MEMBER_REMOVE = """mutation($project: ID!, $staff: ID!) {
  projectMemberRemove(input: {projectId: $project, staffId: $staff}) {
    project { id members { staff { id } } } userErrors { field code } } }"""
UNSHARE = SHARE.replace("staffShare", "staffUnshare")
REVOKE = GRANT.replace("staffPermitGrant", "staffPermitRevoke")


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


@pytest.mark.parametrize(
    ("query", "field", "setup", "table", "events", "again_is_success"),
    [
        (MEMBER_REMOVE, "projectMemberRemove", member_case, "project_members", 0, False),
        (MEMBERS_SET, "projectMembersSet", members_set_case, "project_members", 0, True),
        (UNSHARE, "staffUnshare", unshare_case, "staff_shares", 1, True),
        (REVOKE, "staffPermitRevoke", revoke_case, "staff_permit_grants", 1, True),
    ],
    ids=["projectMemberRemove", "projectMembersSet", "staffUnshare", "staffPermitRevoke"],
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
