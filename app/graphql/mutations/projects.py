"""Projects, their members, and the project team role picklist."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.graphql.ids import decode_id
from app.graphql.mutations.base import Payload, as_actor, mutation
from app.graphql.types.projects import Project, ProjectTeamRole
from app.projects import service as projects


@strawberry.input(description="A new project (administrators are added automatically).")
class ProjectCreateInput:
    name: str = strawberry.field(description="Name, unique in the account.")
    description: str | None = strawberry.field(default=None, description="Description.")
    member_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Staff to add at creation."
    )
    external_id: str | None = strawberry.field(
        default=None, description="An identity provider's id for it, unique in the account."
    )


UNSET = strawberry.UNSET


@strawberry.input(description="Change a project; fields left out stay as they are.")
class ProjectUpdateInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    name: str | None = strawberry.field(default=UNSET, description="Name, unique in the account.")
    description: str | None = strawberry.field(default=UNSET, description="Description.")
    external_id: str | None = strawberry.field(
        default=UNSET, description="An identity provider's id for it, unique in the account."
    )


@strawberry.input(description="Delete a project (its members stay in the account).")
class ProjectDeleteInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")


@strawberry.type(description="The deleted project's id, or userErrors.")
class ProjectDeletePayload(Payload):
    deleted_project_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the project deleted."
    )


@strawberry.input(description="Make a project's members exactly these staff members.")
class ProjectMembersSetInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    staff_ids: list[strawberry.ID] = strawberry.field(
        description="Everyone who is to be on it (those left out leave; those who stay keep "
        "their team role)."
    )


@strawberry.type(description="The project, or userErrors.")
class ProjectPayload(Payload):
    project: Project | None = strawberry.field(
        default=None, description="The project after the change."
    )


@strawberry.input(description="Add a staff member to a project.")
class ProjectMemberAddInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    staff_id: strawberry.ID = strawberry.field(description="The staff member.")
    team_role_id: strawberry.ID | None = strawberry.field(
        default=None, description="Their role (default: their default project role)."
    )


@strawberry.input(description="Remove a staff member from a project.")
class ProjectMemberRemoveInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    staff_id: strawberry.ID = strawberry.field(description="The staff member.")


@strawberry.input(description="A new project team role.")
class ProjectTeamRoleCreateInput:
    name: str = strawberry.field(description="Name, unique in the account.")


@strawberry.type(description="The team role, or userErrors.")
class ProjectTeamRolePayload(Payload):
    team_role: ProjectTeamRole | None = strawberry.field(default=None, description="The role.")


def _project(row, actor) -> ProjectPayload:
    return ProjectPayload(project=Project(_row=row, _actor=actor))


@strawberry.type
class ProjectMutations:
    @mutation(description="Create a project (administrators).")
    async def project_create(self, info: Info, input: ProjectCreateInput) -> ProjectPayload:
        member_ids = [decode_id(m, "Staff") for m in input.member_ids or []]
        return await as_actor(
            info,
            lambda session, actor: projects.create_project(
                session,
                actor,
                name=input.name,
                description=input.description,
                member_ids=member_ids,
                external_id=input.external_id,
            ),
            _project,
        )

    @mutation(description="Rename a project or change its description (administrators).")
    async def project_update(self, info: Info, input: ProjectUpdateInput) -> ProjectPayload:
        project_id = decode_id(input.project_id, "Project")
        changes = {
            key: value
            for key, value in (
                ("name", input.name),
                ("description", input.description),
                ("external_id", input.external_id),
            )
            if value is not UNSET
        }
        return await as_actor(
            info,
            lambda session, actor: projects.update_project(session, actor, project_id, **changes),
            _project,
        )

    @mutation(description="Delete a project; its members stay in the account (administrators).")
    async def project_delete(self, info: Info, input: ProjectDeleteInput) -> ProjectDeletePayload:
        project_id = decode_id(input.project_id, "Project")
        return await as_actor(
            info,
            lambda session, actor: projects.delete_project(session, actor, project_id),
            lambda _, actor: ProjectDeletePayload(deleted_project_id=input.project_id),
        )

    @mutation(description="Make a project's members exactly the staff given (administrators).")
    async def project_members_set(
        self, info: Info, input: ProjectMembersSetInput
    ) -> ProjectPayload:
        project_id = decode_id(input.project_id, "Project")
        staff_ids = [decode_id(s, "Staff") for s in input.staff_ids]
        return await as_actor(
            info,
            lambda session, actor: projects.set_members(session, actor, project_id, staff_ids),
            _project,
        )

    @mutation(description="Add a staff member to a project (administrators).")
    async def project_member_add(self, info: Info, input: ProjectMemberAddInput) -> ProjectPayload:
        project_id = decode_id(input.project_id, "Project")
        staff_id = decode_id(input.staff_id, "Staff")
        team_role_id = decode_id(input.team_role_id, "ProjectTeamRole")
        return await as_actor(
            info,
            lambda session, actor: projects.add_member(
                session, actor, project_id, staff_id, team_role_id
            ),
            _project,
        )

    @mutation(description="Remove a staff member from a project (administrators).")
    async def project_member_remove(
        self, info: Info, input: ProjectMemberRemoveInput
    ) -> ProjectPayload:
        project_id = decode_id(input.project_id, "Project")
        staff_id = decode_id(input.staff_id, "Staff")
        return await as_actor(
            info,
            lambda session, actor: projects.remove_member(session, actor, project_id, staff_id),
            _project,
        )

    @mutation(description="Add a project team role to the picklist (administrators).")
    async def project_team_role_create(
        self, info: Info, input: ProjectTeamRoleCreateInput
    ) -> ProjectTeamRolePayload:
        return await as_actor(
            info,
            lambda session, actor: projects.create_team_role(session, actor, input.name),
            lambda row, actor: ProjectTeamRolePayload(team_role=ProjectTeamRole(_row=row)),
        )
