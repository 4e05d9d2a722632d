"""Field tables of projects, their team roles and members (see ``app.fields``)."""

from __future__ import annotations

from app.fields import Audit, Backup, Field, FieldTable, Visibility, derived_key, register, rows

PROJECT_TEAM_ROLES = FieldTable(
    "project_team_roles",
    [
        *rows(Visibility.INTERNAL, "id", "account_id"),
        *rows(Visibility.BASIC, "name", "archived", "created_at"),
        derived_key("name_key"),
    ],
)

PROJECTS = FieldTable(
    "projects",
    [
        *rows(Visibility.INTERNAL, "id", "account_id", "created_by_staff_id"),
        *rows(Visibility.BASIC, "name", "description", "external_id", "created_at"),
        Field("modified_at", Visibility.INTERNAL, audit=Audit.IGNORED, backup=Backup.LEFT_OUT),
        derived_key("name_key"),
    ],
)

PROJECT_MEMBERS = FieldTable(
    "project_members",
    [
        *rows(Visibility.INTERNAL, "project_id", "staff_id", "account_id", "team_role_id"),
        Field("added_at", Visibility.BASIC),
    ],
)

register(PROJECT_TEAM_ROLES, PROJECTS, PROJECT_MEMBERS)
