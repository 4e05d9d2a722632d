"""``all_in_turns`` (app/db/turns.py): a long ORM result is built in parts, with the event
loop given back between them, and holds what ``execute(...).all()`` holds."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, select

from app.db.turns import ROWS_PER_TURN, all_in_turns
from app.projects import service as projects
from app.projects.models import Project, ProjectMember
from app.staff.models import Staff
from tests.factories import insert_staff_rows, make_tenant

ROWS = ROWS_PER_TURN * 3 + 7


async def _built_in_one_turn(awaitable) -> tuple[object, int]:
    """What ``awaitable`` gives, and the most Staff objects it built without a task beside
    it getting a turn of the event loop (SQLAlchemy's ``load`` event: one per object)."""
    built = longest = 0
    done = False

    def loaded(_target, _context) -> None:
        nonlocal built, longest
        built += 1
        longest = max(longest, built)

    async def tick():
        nonlocal built
        while not done:
            built = 0
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    event.listen(Staff, "load", loaded)
    try:
        return await awaitable, longest
    finally:
        event.remove(Staff, "load", loaded)
        done = True
        await ticker


async def test_a_long_result_is_built_in_turns_and_holds_every_row(services):
    tenant = await make_tenant(services, seats=ROWS + 10)
    await insert_staff_rows(
        services, tenant, [{"first_name": "P", "last_name": f"Person{i:04d}"} for i in range(ROWS)]
    )
    statement = select(Staff).where(Staff.account_id == tenant.account_id).order_by(Staff.id)
    async with services.db.session() as session:
        expected = [s.id for s in (await session.scalars(statement)).all()]
    async with services.db.session() as session:
        rows, in_one_go = await _built_in_one_turn(session.scalars(statement))
        rows = [s.id for s in rows]
    async with services.db.session() as session:
        built, in_turns = await _built_in_one_turn(all_in_turns(session, statement))
    assert [row.id for (row,) in built] == expected == rows
    assert len(expected) == ROWS + 1  # and the owner's record
    assert in_one_go == len(expected)  # what all_in_turns is for
    assert in_turns == ROWS_PER_TURN


async def test_a_projects_members_are_read_in_turns_as_they_were_in_one_go(services):
    tenant = await make_tenant(services, seats=ROWS + 10)
    sids = await insert_staff_rows(
        services, tenant, [{"first_name": "P", "last_name": f"Person{i:04d}"} for i in range(ROWS)]
    )
    async with services.db.session(write=True) as session:
        ids = list(
            (
                await session.scalars(
                    select(Staff.id).where(
                        Staff.account_id == tenant.account_id, Staff.sid.in_(sids)
                    )
                )
            ).all()
        )
        project = Project(account_id=tenant.account_id, name="Big", name_key="big")
        session.add(project)
        await session.flush()
        session.add_all(
            ProjectMember(project_id=project.id, staff_id=i, account_id=tenant.account_id)
            for i in ids
        )
        await session.commit()
        project_id = project.id
    async with services.db.session() as session:
        found, in_one_turn = await _built_in_one_turn(
            projects.members_of(session, tenant.account_id, [project_id])
        )
        of_staff = await projects.projects_of(session, tenant.account_id, ids[:3])
    members = found[project_id]
    assert [staff.last_name for _member, staff in members] == sorted(
        f"Person{i:04d}" for i in range(ROWS)
    )
    assert {m.staff_id for m, _staff in members} == set(ids)
    # (the first ROWS_PER_TURN + 1 in one go: whether they are all, few_first's question)
    assert in_one_turn == ROWS_PER_TURN + 1
    assert {sid: [p.name for _m, p in found] for sid, found in of_staff.items()} == {
        i: ["Big"] for i in ids[:3]
    }
    async with services.db.session() as session:  # a few rows: one plain statement
        few, in_one_turn = await _built_in_one_turn(
            projects.members_of(session, tenant.account_id, [project_id + 1])
        )
    assert few == {project_id + 1: []} and in_one_turn == 0
