"""Projects, their members and the account's project team roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, require_project_management
from app.accounts.service import refuse_past_cap
from app.db.base import Records, utcnow
from app.db.prepared import Prepared
from app.db.removal import remove, remove_all
from app.db.turns import all_in_turns
from app.db.unique import ALREADY_THERE, claim
from app.errors import DomainError, ErrorCode, NotFound, ValidationFailed
from app.projects.models import Project, ProjectMember, ProjectTeamRole
from app.staff import access
from app.staff import queries as staff_queries
from app.staff.models import AccountStatus, Staff
from app.validation import FieldPath, clean_text, name_key, path_of

MAX_PROJECTS = 10_000
# Team roles are a picklist every reader of a role loads whole (``loaders.team_roles``).
# (The cost model counts them: accounts may hold more, made before the cap.)
MAX_TEAM_ROLES = 100


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


async def get_project(
    session: AsyncSession,
    actor: Actor,
    project_id: int,
    field: FieldPath = "project_id",
    *,
    to_change: bool = False,
):
    """The project, or NotFound. ``to_change``: its row held until commit (PostgreSQL), for
    a change of it or of its members: one deleted by a concurrent request is then waited
    for and not found, where a plain look found it and the change failed on its foreign
    key or its vanished row (an unexpected error)."""
    statement = select(Project).where(Project.id == project_id, *_visible(actor))
    if to_change:
        statement = statement.with_for_update(key_share=True, of=Project)
    project = await session.scalar(statement)
    if project is None:
        raise NotFound("Project", field=path_of(field))
    return project


def _held_staff(actor: Actor, *conditions):
    """The visible records matching ``conditions``, each held against deletion until
    commit (PostgreSQL's FOR KEY SHARE: what a row that refers to it needs): a record
    deleted meanwhile is not found rather than failing the change on its foreign key."""
    return (
        select(Staff)
        .where(*conditions, *staff_queries.visible(actor))
        .with_for_update(read=True, key_share=True, of=Staff)
    )


async def lock_project(session: AsyncSession, actor: Actor, project_id: int) -> None:
    """Hold the project's row until commit (PostgreSQL; SQLite's writers take turns): a
    change that reads the members and writes them back whole (SCIM's PATCH) does not
    interleave with another one."""
    require_project_management(actor)
    await session.execute(
        select(Project.id)
        .where(Project.id == project_id, Project.account_id == actor.account_id)
        .with_for_update()
    )


async def find_team_role(
    session: AsyncSession, account_id: int, role_id: int
) -> ProjectTeamRole | None:
    """A team role of the account by id (archived ones too, as the picklists show them);
    another account's is not found."""
    role = await session.get(ProjectTeamRole, role_id)
    return role if role is not None and role.account_id == account_id else None


async def get_team_role(session: AsyncSession, account_id: int, role_id: int, field: str):
    role = await find_team_role(session, account_id, role_id)
    if role is None:
        raise NotFound("Project team role", field=[field])
    if role.archived:
        raise DomainError("That team role is archived.", field=[field], code=ErrorCode.ARCHIVED)
    return role


def touch(project: Project) -> None:
    """Note that the project or its members changed now (its ``modified_at``)."""
    project.modified_at = utcnow()


# A concurrent request may add the same member between ``_add``'s look and its insert:
# then they are on the project, as the look would have found them (``claim``).
MEMBER_THERE = {"pk_project_members": ALREADY_THERE}


async def _add(session: AsyncSession, project: Project, staff: Staff, team_role_id=None):
    key = (project.id, staff.id)
    existing = await session.get(ProjectMember, key)
    if existing is not None:
        return existing
    member = ProjectMember(
        project_id=project.id,
        staff_id=staff.id,
        account_id=project.account_id,
        team_role_id=team_role_id or staff.default_project_role_id,
        added_at=utcnow(),
    )
    async with claim(session, MEMBER_THERE) as claimed:
        session.add(member)
    if claimed.already_there:
        return await session.get_one(ProjectMember, key)  # theirs, committed by now
    touch(project)
    await session.flush()
    return member


async def create_project(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    description: str | None,
    member_ids: list[int],
    external_id: str | None = None,
    with_administrators: bool = True,
) -> Project:
    """Administrators are added to every new project automatically (unless
    ``with_administrators`` is False: a SCIM Group holds the members its identity provider
    names, nobody else)."""
    require_project_management(actor)
    name = clean_text(name, "name", max_length=200, required=True, label="Project name", keyed=True)
    description = clean_text(description, "description", max_length=5000, multiline=True)
    external_id = clean_text(external_id, "external_id", max_length=255)
    await _refuse_taken(session, actor, None, name=name, external_id=external_id)
    await refuse_past_cap(
        session,
        actor.account_id,
        Project,
        MAX_PROJECTS,
        f"An account holds at most {MAX_PROJECTS} projects; delete one first.",
    )
    members = await _staff_of(session, actor, member_ids)
    project = Project(
        account_id=actor.account_id,
        name=name,
        name_key=name_key(name),
        description=description,
        external_id=external_id,
        created_by_staff_id=actor.staff_id,
        created_at=utcnow(),
    )
    async with claim(session, PROJECT_KEYS_TAKEN):
        session.add(project)
    if with_administrators:
        await add_administrators(session, project)
    for staff in members:
        await _add(session, project, staff)
    project.modified_at = project.created_at  # created with its members: one change
    return project


async def _refuse_taken(
    session: AsyncSession,
    actor: Actor,
    project_id: int | None,
    *,
    name: str | None = None,
    external_id: str | None = None,
) -> None:
    """TAKEN when another project of the account has this name or externalId."""
    others = [Project.account_id == actor.account_id]
    if project_id is not None:
        others.append(Project.id != project_id)
    if name is not None and await session.scalar(
        select(Project.id).where(*others, Project.name_key == name_key(name))
    ):
        raise project_name_taken()
    if external_id is not None and await session.scalar(
        select(Project.id).where(*others, Project.external_id == external_id)
    ):
        raise project_external_id_taken()


def project_name_taken() -> DomainError:
    return DomainError("A project with this name exists.", field=["name"], code=ErrorCode.TAKEN)


def project_external_id_taken() -> DomainError:
    return DomainError(
        "A project with this externalId exists.", field=["external_id"], code=ErrorCode.TAKEN
    )


# A project's unique keys a concurrent write may take after ``_refuse_taken`` looked:
# answered as that check answers (``claim``).
PROJECT_KEYS_TAKEN = {
    "uq_projects_account_id_name_key": project_name_taken,
    "uq_projects_account_id_external_id": project_external_id_taken,
}


IDS_PER_READ = 500


async def _staff_of(
    session: AsyncSession, actor: Actor, staff_ids: list[int], field: str = "member_ids"
) -> list[Staff]:
    """The records with these ids that the actor sees (``visible``), in order; any other id
    (another account's, or one an API key without staff:read does not see) is not found:
    putting a record on a project makes its person a peer of the project's members."""
    wanted = list(dict.fromkeys(staff_ids))
    found: dict[int, Staff] = {}
    # a project of tens of thousands of members (a SCIM group of everyone): PostgreSQL
    # takes at most 32,767 parameters a statement
    for start in range(0, len(wanted), IDS_PER_READ):
        chunk = wanted[start : start + IDS_PER_READ]
        found.update(
            (s.id, s) for s in await session.scalars(_held_staff(actor, Staff.id.in_(chunk)))
        )
    errors = [
        NotFound("Staff member", field=[field, str(index)])
        for index, staff_id in enumerate(staff_ids)
        if staff_id not in found
    ]
    if errors:
        raise ValidationFailed(errors)
    return [found[i] for i in wanted]


UNCHANGED: Any = object()


async def update_project(
    session: AsyncSession,
    actor: Actor,
    project_id: int,
    *,
    name: str | None = UNCHANGED,
    description: str | None = UNCHANGED,
    external_id: str | None = UNCHANGED,
) -> Project:
    """Rename a project, change its description or externalId (arguments left out stay)."""
    require_project_management(actor)
    project = await get_project(session, actor, project_id, to_change=True)
    before = (project.name, project.description, project.external_id)
    if name is not UNCHANGED:
        name = clean_text(
            name, "name", max_length=200, required=True, label="Project name", keyed=True
        )
        await _refuse_taken(session, actor, project.id, name=name)
    if description is not UNCHANGED:
        description = clean_text(description, "description", max_length=5000, multiline=True)
    if external_id is not UNCHANGED:
        external_id = clean_text(external_id, "external_id", max_length=255)
        await _refuse_taken(session, actor, project.id, external_id=external_id)
    # written after every check (whose queries would flush a change early), at once
    async with claim(session, PROJECT_KEYS_TAKEN):
        if name is not UNCHANGED and name != project.name:
            project.name, project.name_key = name, name_key(name)
        if description is not UNCHANGED and description != project.description:
            project.description = description
        if external_id is not UNCHANGED and external_id != project.external_id:
            project.external_id = external_id
        if (project.name, project.description, project.external_id) != before:
            touch(project)
    return project


async def delete_project(session: AsyncSession, actor: Actor, project_id: int) -> Project:
    """Delete a project and its memberships (the people stay). The project's row is held
    first, as every change of its members holds it (``get_project``): a deletion that took
    the members' rows before waiting for the project's would deadlock with one of them."""
    require_project_management(actor)
    project = await get_project(session, actor, project_id, to_change=True)
    members = await session.scalars(
        select(ProjectMember).where(ProjectMember.project_id == project.id)
    )
    # the memberships first, each audited (the database's cascade would not be)
    await remove_all(session, members)
    # deleted by a concurrent request since the look: not found, as the look would say
    if not await remove(session, project):
        raise NotFound("Project", field=["project_id"])
    return project


async def set_members(
    session: AsyncSession, actor: Actor, project_id: int, staff_ids: list[int]
) -> Project:
    """Make the project's members exactly ``staff_ids``: those not named leave, those new
    join (with their default project role); those who stay keep their team role."""
    require_project_management(actor)
    project = await get_project(session, actor, project_id, to_change=True)
    wanted = await _staff_of(session, actor, staff_ids, "staff_ids")
    keep = {s.id for s in wanted}
    current = list(
        await session.scalars(select(ProjectMember).where(ProjectMember.project_id == project.id))
    )
    for member in current:
        # one a concurrent request removed first is gone, as wanted: not removed again here
        if member.staff_id not in keep and await remove(session, member):
            touch(project)
    # in id order: two requests adding the same people, named in different orders, insert
    # them in one order, so that one waits for the other rather than each for the other
    # (a deadlock on PostgreSQL)
    for staff in sorted(wanted, key=lambda s: s.id):
        await _add(session, project, staff)
    await session.flush()
    return project


@dataclass(frozen=True)
class FoundProjects:
    total: int
    rows: list[Project]


async def find_projects(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str | None = None,
    external_id: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> FoundProjects:
    """The projects the actor sees matching every criterion given (name compared as names
    are unique: trimmed, case-insensitively), oldest first (a stable order for paging)."""
    conditions = _visible(actor)
    if name is not None:
        conditions.append(Project.name_key == name_key(name))
    if external_id is not None:
        conditions.append(Project.external_id == external_id)
    total = await session.scalar(select(func.count()).select_from(Project).where(*conditions))
    rows = (
        list(
            await session.scalars(
                select(Project)
                .where(*conditions)
                .order_by(Project.id)
                .offset(max(0, offset))
                .limit(limit)
            )
        )
        if limit > 0
        else []
    )
    return FoundProjects(total or 0, rows)


async def add_administrators(session: AsyncSession, project: Project) -> None:
    admins = await session.scalars(staff_queries.administrators(project.account_id))
    for admin in list(admins):
        await _add(session, project, admin)


async def add_member(
    session: AsyncSession,
    actor: Actor,
    project_id: int,
    staff_id: int,
    team_role_id: int | None,
) -> Project:
    require_project_management(actor)
    project = await get_project(session, actor, project_id, to_change=True)
    staff = await session.scalar(_held_staff(actor, Staff.id == staff_id))
    if staff is None:  # another account's, or one the actor does not see (``_staff_of``)
        raise NotFound("Staff member", field=["staff_id"])
    if team_role_id is not None:
        await get_team_role(session, actor.account_id, team_role_id, "team_role_id")
    member = await _add(session, project, staff, team_role_id)
    if team_role_id is not None and member.team_role_id != team_role_id:
        member.team_role_id = team_role_id
        touch(project)
    await session.flush()
    return project


async def remove_member(session: AsyncSession, actor: Actor, project_id: int, staff_id: int):
    require_project_management(actor)
    project = await get_project(session, actor, project_id, to_change=True)
    member = await session.get(ProjectMember, (project.id, staff_id))
    # removed by a concurrent request since the look: not a member, as the look would say
    if member is None or not await remove(session, member):
        raise NotFound("Project member", field=["staff_id"])
    touch(project)
    await session.flush()
    return project


async def add_to_projects(
    session: AsyncSession, actor: Actor, staff: Staff, project_ids: list[int]
) -> None:
    """``staffCreate(input: {projectIds})``: needs the right to manage projects."""
    if not project_ids:
        return
    require_project_management(actor)
    errors: list[tuple[int, DomainError]] = []
    projects = []
    # each held for the change (``get_project``), in the order of their ids: two records
    # made at once onto the same projects never wait for each other's
    for index, project_id in sorted(enumerate(project_ids), key=lambda pair: pair[1]):
        try:
            projects.append(
                await get_project(
                    session, actor, project_id, field=["project_ids", str(index)], to_change=True
                )
            )
        except DomainError as exc:
            errors.append((index, exc))
    if errors:
        raise ValidationFailed([exc for _, exc in sorted(errors, key=lambda pair: pair[0])])
    for project in projects:
        await _add(session, project, staff)


async def list_projects(session: AsyncSession, actor: Actor) -> list[Project]:
    return list(
        await session.scalars(select(Project).where(*_visible(actor)).order_by(Project.name_key))
    )


async def members_of(
    session: AsyncSession, account_id: int, project_ids: list[int], *, limit: int | None = None
):
    """The members of each project, (membership, record) pairs; with ``limit``, at most
    that many rows over all the projects (a caller bounding its answer reads one past)."""
    statement = (
        select(ProjectMember, Staff)
        .join(Staff, Staff.id == ProjectMember.staff_id)
        .where(ProjectMember.account_id == account_id, ProjectMember.project_id.in_(project_ids))
        .order_by(Staff.last_name_key, Staff.id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    rows = await all_in_turns(session, statement, few_first=True)
    out: dict[int, list] = {pid: [] for pid in project_ids}
    for member, staff in rows:
        out[member.project_id].append((member, staff))
    return out


def members_seen(actor: Actor, rows: list) -> list:
    """Of a project's (membership, record) pairs, those ``actor`` is shown. Everyone who
    sees the directory sees every member; a guest, who sees a colleague's status as null
    and whose directory never lists disabled or inactive records, is not shown those
    members either: the list beside the directory would name them."""
    if access.sees_directory(actor):
        return rows
    return [
        (member, staff)
        for member, staff in rows
        if staff.account_status != AccountStatus.DISABLED and not staff.is_inactive
    ]


async def projects_of(session: AsyncSession, account_id: int, staff_ids: list[int]):
    rows = await all_in_turns(
        session,
        select(ProjectMember, Project)
        .join(Project, Project.id == ProjectMember.project_id)
        .where(ProjectMember.account_id == account_id, ProjectMember.staff_id.in_(staff_ids))
        .order_by(Project.name_key),
        few_first=True,
    )
    out: dict[int, list] = {sid: [] for sid in staff_ids}
    for member, project in rows:
        out[member.staff_id].append((member, project))
    return out


# The account's team roles as read-only records, read on the driver (the picklists and
# every record showing its default project role read them).
TEAM_ROLE_RECORDS = Records(ProjectTeamRole, "team_role")
ACCOUNT_TEAM_ROLES = Prepared(
    select(*TEAM_ROLE_RECORDS.columns)
    .where(ProjectTeamRole.account_id == bindparam("account_id"))
    .order_by(ProjectTeamRole.name_key)
)


async def team_roles(session: AsyncSession, account_id: int) -> list:
    """The account's team roles (read-only records), by name; the session's changes are
    flushed first, as the ORM's own queries would."""
    rows = await ACCOUNT_TEAM_ROLES.read(session, {"account_id": account_id})
    return [TEAM_ROLE_RECORDS.take(row) for row in rows]


async def create_team_role(session: AsyncSession, actor: Actor, name: str) -> ProjectTeamRole:
    require_project_management(actor)
    name = clean_text(
        name, "name", max_length=100, required=True, label="Team role name", keyed=True
    )
    await refuse_past_cap(
        session,
        actor.account_id,
        ProjectTeamRole,
        MAX_TEAM_ROLES,
        f"An account has at most {MAX_TEAM_ROLES} team roles.",
    )
    if await session.scalar(
        select(ProjectTeamRole.id).where(
            ProjectTeamRole.account_id == actor.account_id,
            ProjectTeamRole.name_key == name_key(name),
        )
    ):
        raise team_role_name_taken()
    role = ProjectTeamRole(account_id=actor.account_id, name=name, name_key=name_key(name))
    async with claim(session, TEAM_ROLE_NAME_TAKEN):
        session.add(role)
    return role


def team_role_name_taken() -> DomainError:
    return DomainError("A team role with this name exists.", field=["name"], code=ErrorCode.TAKEN)


# a concurrent create that took the name after ``create_team_role`` looked
TEAM_ROLE_NAME_TAKEN = {"uq_project_team_roles_account_id_name_key": team_role_name_taken}
