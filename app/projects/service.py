"""Projects, their members and the account's project team roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, Permit, Role, require
from app.db.base import utcnow
from app.errors import DomainError, ErrorCode, NotFound, ValidationFailed
from app.projects.models import Project, ProjectMember, ProjectTeamRole
from app.staff import access
from app.staff.models import AccountStatus, Staff
from app.validation import clean_text, name_key

MAX_PROJECTS = 10_000


def _visible(actor: Actor) -> list:
    """The projects ``actor`` sees: their account's; a guest's, only those they are on."""
    conditions = [Project.account_id == actor.account_id]
    if not access.sees_directory(actor):
        conditions.append(
            Project.id.in_(
                select(ProjectMember.project_id).where(ProjectMember.staff_id == actor.staff_id)
            )
        )
    return conditions


async def find_project(session: AsyncSession, actor: Actor, project_id: int) -> Project | None:
    """A project by id, as the actor may look it up: another account's (or for a guest,
    one they are not on) is not found."""
    return await session.scalar(select(Project).where(Project.id == project_id, *_visible(actor)))


async def get_project(session: AsyncSession, actor: Actor, project_id: int, field="project_id"):
    project = await find_project(session, actor, project_id)
    if project is None:
        raise NotFound("Project", field=[field])
    return project


async def get_team_role(session: AsyncSession, account_id: int, role_id: int, field: str):
    role = await session.get(ProjectTeamRole, role_id)
    if role is None or role.account_id != account_id:
        raise NotFound("Project team role", field=[field])
    if role.archived:
        raise DomainError("That team role is archived.", field=[field], code=ErrorCode.ARCHIVED)
    return role


async def _add(session: AsyncSession, project: Project, staff: Staff, team_role_id=None):
    existing = await session.get(ProjectMember, (project.id, staff.id))
    if existing is not None:
        return existing
    member = ProjectMember(
        project_id=project.id,
        staff_id=staff.id,
        account_id=project.account_id,
        team_role_id=team_role_id or staff.default_project_role_id,
        added_at=utcnow(),
    )
    session.add(member)
    await session.flush()
    return member


async def create_project(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    description: str | None,
    member_ids: list[int],
) -> Project:
    """Administrators are added to every new project automatically."""
    require(actor, Permit.MANAGE_ACCOUNT)
    name = clean_text(name, "name", max_length=200, required=True, label="Project name")
    description = clean_text(description, "description", max_length=5000, multiline=True)
    if await session.scalar(
        select(Project.id).where(
            Project.account_id == actor.account_id, Project.name_key == name_key(name)
        )
    ):
        raise DomainError("A project with this name exists.", field=["name"], code=ErrorCode.TAKEN)
    members = []
    errors = []
    for index, staff_id in enumerate(member_ids):
        staff = await session.scalar(
            select(Staff).where(Staff.id == staff_id, Staff.account_id == actor.account_id)
        )
        if staff is None:
            errors.append(NotFound("Staff member", field=["member_ids", str(index)]))
        else:
            members.append(staff)
    if errors:
        raise ValidationFailed(errors)
    project = Project(
        account_id=actor.account_id,
        name=name,
        name_key=name_key(name),
        description=description,
        created_by_staff_id=actor.staff_id,
        created_at=utcnow(),
    )
    session.add(project)
    await session.flush()
    await add_administrators(session, project)
    for staff in members:
        await _add(session, project, staff)
    return project


async def add_administrators(session: AsyncSession, project: Project) -> None:
    admins = await session.scalars(
        select(Staff).where(
            Staff.account_id == project.account_id,
            Staff.role.in_([Role.ADMINISTRATOR, Role.OWNER]),
            Staff.account_status == AccountStatus.ACTIVE,
        )
    )
    for admin in list(admins):
        await _add(session, project, admin)


async def add_member(
    session: AsyncSession,
    actor: Actor,
    project_id: int,
    staff_id: int,
    team_role_id: int | None,
) -> Project:
    require(actor, Permit.MANAGE_ACCOUNT)
    project = await get_project(session, actor, project_id)
    staff = await session.scalar(
        select(Staff).where(Staff.id == staff_id, Staff.account_id == actor.account_id)
    )
    if staff is None:
        raise NotFound("Staff member", field=["staff_id"])
    if team_role_id is not None:
        await get_team_role(session, actor.account_id, team_role_id, "team_role_id")
    member = await _add(session, project, staff, team_role_id)
    if team_role_id is not None:
        member.team_role_id = team_role_id
    await session.flush()
    return project


async def remove_member(session: AsyncSession, actor: Actor, project_id: int, staff_id: int):
    require(actor, Permit.MANAGE_ACCOUNT)
    project = await get_project(session, actor, project_id)
    member = await session.get(ProjectMember, (project.id, staff_id))
    if member is None:
        raise NotFound("Project member", field=["staff_id"])
    await session.delete(member)
    await session.flush()
    return project


async def add_to_projects(
    session: AsyncSession, actor: Actor, staff: Staff, project_ids: list[int]
) -> None:
    """``staffCreate(input: {projectIds})``: needs the right to manage projects."""
    if not project_ids:
        return
    require(actor, Permit.MANAGE_ACCOUNT)
    errors = []
    projects = []
    for index, project_id in enumerate(project_ids):
        try:
            projects.append(
                await get_project(session, actor, project_id, field=f"project_ids.{index}")
            )
        except DomainError as exc:
            errors.append(exc)
    if errors:
        raise ValidationFailed(errors)
    for project in projects:
        await _add(session, project, staff)


async def list_projects(session: AsyncSession, actor: Actor) -> list[Project]:
    return list(
        await session.scalars(select(Project).where(*_visible(actor)).order_by(Project.name_key))
    )


async def members_of(session: AsyncSession, account_id: int, project_ids: list[int]):
    rows = await session.execute(
        select(ProjectMember, Staff)
        .join(Staff, Staff.id == ProjectMember.staff_id)
        .where(ProjectMember.account_id == account_id, ProjectMember.project_id.in_(project_ids))
        .order_by(Staff.last_name_key, Staff.id)
    )
    out: dict[int, list] = {pid: [] for pid in project_ids}
    for member, staff in rows.all():
        out[member.project_id].append((member, staff))
    return out


async def projects_of(session: AsyncSession, account_id: int, staff_ids: list[int]):
    rows = await session.execute(
        select(ProjectMember, Project)
        .join(Project, Project.id == ProjectMember.project_id)
        .where(ProjectMember.account_id == account_id, ProjectMember.staff_id.in_(staff_ids))
        .order_by(Project.name_key)
    )
    out: dict[int, list] = {sid: [] for sid in staff_ids}
    for member, project in rows.all():
        out[member.staff_id].append((member, project))
    return out


async def team_roles(session: AsyncSession, account_id: int) -> list[ProjectTeamRole]:
    return list(
        await session.scalars(
            select(ProjectTeamRole)
            .where(ProjectTeamRole.account_id == account_id)
            .order_by(ProjectTeamRole.name_key)
        )
    )


async def create_team_role(session: AsyncSession, actor: Actor, name: str) -> ProjectTeamRole:
    require(actor, Permit.MANAGE_ACCOUNT)
    name = clean_text(name, "name", max_length=100, required=True, label="Team role name")
    if await session.scalar(
        select(ProjectTeamRole.id).where(
            ProjectTeamRole.account_id == actor.account_id,
            ProjectTeamRole.name_key == name_key(name),
        )
    ):
        raise DomainError(
            "A team role with this name exists.", field=["name"], code=ErrorCode.TAKEN
        )
    role = ProjectTeamRole(account_id=actor.account_id, name=name, name_key=name_key(name))
    session.add(role)
    await session.flush()
    return role
