from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from app.access import Actor
from app.graphql.ids import encode_id
from app.graphql.types.common import Node
from app.projects.models import Project as ProjectRow
from app.projects.models import ProjectTeamRole as ProjectTeamRoleRow

if TYPE_CHECKING:
    from app.graphql.types.staff import Staff


@strawberry.type(description="A role people play on projects (an account-defined picklist).")
class ProjectTeamRole(Node):
    _row: strawberry.Private[ProjectTeamRoleRow]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("ProjectTeamRole", self._row.id))

    @strawberry.field(description="Name.")
    def name(self) -> str:
        return self._row.name

    @strawberry.field(description="Archived roles are no longer given out.")
    def archived(self) -> bool:
        return self._row.archived


async def team_role_of(info: Info, account_id: int, role_id: int | None):
    """The project team role with this id, from the roles loaded once per request."""
    from app.graphql import loaders

    if role_id is None:
        return None
    found = (await loaders.team_roles(info.context, account_id)).get(role_id)
    return ProjectTeamRole(_row=found) if found else None


@strawberry.type(description="A project of the account.")
class Project(Node):
    _row: strawberry.Private[ProjectRow]
    _actor: strawberry.Private[Actor]

    @strawberry.field(description="Global id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Project", self._row.id))

    @strawberry.field(description="Name, unique in the account.")
    def name(self) -> str:
        return self._row.name

    @strawberry.field(description="Description.")
    def description(self) -> str | None:
        return self._row.description

    @strawberry.field(
        description="An identity provider's id for the project (its SCIM Group's externalId)."
    )
    def external_id(self) -> str | None:
        return self._row.external_id

    @strawberry.field(description="When it was created.")
    def created_at(self) -> datetime:
        return self._row.created_at

    @strawberry.field(description="Members and their team roles.")
    async def members(self, info: Info) -> list[ProjectMember]:
        from app.graphql import loaders
        from app.graphql.types.staff import Staff
        from app.projects.service import members_seen

        rows = await loaders.project_members(info.context, self._actor.account_id).load(
            self._row.id
        )
        return [
            ProjectMember(
                staff=Staff.build(staff, self._actor),
                _team_role_id=member.team_role_id,
                _account_id=self._actor.account_id,
            )
            for member, staff in members_seen(self._actor, rows)
        ]


@strawberry.type(description="A staff member on a project.")
class ProjectMember:
    staff: Annotated[Staff, strawberry.lazy("app.graphql.types.staff")] = strawberry.field(
        description="The member."
    )
    _team_role_id: strawberry.Private[int | None]
    _account_id: strawberry.Private[int]

    @strawberry.field(description="Their role on this project.")
    async def team_role(self, info: Info) -> ProjectTeamRole | None:
        return await team_role_of(info, self._account_id, self._team_role_id)


@strawberry.type(description="A project a staff member is on, with their role there.")
class StaffProject:
    project: Project = strawberry.field(description="The project.")
    _team_role_id: strawberry.Private[int | None]
    _account_id: strawberry.Private[int]

    @strawberry.field(description="Their role on this project.")
    async def team_role(self, info: Info) -> ProjectTeamRole | None:
        return await team_role_of(info, self._account_id, self._team_role_id)
