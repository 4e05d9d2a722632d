from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class CustomFieldType(enum.StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    DATE = "DATE"
    BOOLEAN = "BOOLEAN"
    CHOICE = "CHOICE"


class CustomField(Base):
    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("account_id", "name_key"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    type: Mapped[CustomFieldType] = mapped_column(
        Enum(CustomFieldType, native_enum=False, length=16)
    )
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    personal: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomFieldValue(Base):
    """One staffer's value of one field, in canonical text form (see service.normalise)."""

    __tablename__ = "custom_field_values"
    # An account's values, counted by the cost check (app.accounts.sizes) and read by
    # field name, without reading the other accounts' (migration 0023).
    __table_args__ = (
        Index("ix_custom_field_values_account_field", "account_id", "field_id"),
    )

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    field_id: Mapped[int] = mapped_column(
        ForeignKey("custom_fields.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(Text)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
