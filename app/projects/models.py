from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class ProjectTeamRole(Base):
    """Account-defined roles people play on projects (BigTime's LookupProjectTeamRoles)."""

    __tablename__ = "project_team_roles"
    __table_args__ = (UniqueConstraint("account_id", "name_key"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        UniqueConstraint("account_id", "name_key"),
        Index("uq_projects_account_id_external_id", "account_id", "external_id", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    """An identity provider's id for the project (SCIM Group externalId)."""
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    """When the project or its members last changed (``service.touch``): a SCIM Group's
    ``meta.lastModified``. Members who leave because their record is deleted do not move
    it; None on rows restored from a backup (read as ``created_at``)."""


class ProjectMember(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    team_role_id: Mapped[int | None] = mapped_column(
        ForeignKey("project_team_roles.id", ondelete="SET NULL"), default=None
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
