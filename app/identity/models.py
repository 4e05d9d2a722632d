from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class User(Base):
    """A global login identity; membership of accounts is through staff records."""

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Trimmed and casefolded, so it is unique case-insensitively."""
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    first_name: Mapped[str | None] = mapped_column(String(100), default=None)
    last_name: Mapped[str | None] = mapped_column(String(100), default=None)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TokenKind(enum.StrEnum):
    SESSION = "SESSION"
    API = "API"
    IMPERSONATION = "IMPERSONATION"


class AuthToken(Base):
    """A session or API token. Only the SHA-256 digest of the token is stored."""

    __tablename__ = "auth_tokens"
    __table_args__ = (
        CheckConstraint("kind != 'API' OR scopes IS NOT NULL", name="api_scopes"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None, index=True
    )
    """API tokens are bound to one account; session tokens are not."""
    kind: Mapped[TokenKind] = mapped_column(Enum(TokenKind, native_enum=False, length=16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    impersonator_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    """Set on IMPERSONATION tokens: who acts as ``user_id`` (in ``account_id`` only)."""
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    scopes: Mapped[str | None] = mapped_column(String(200), default=None)
    """An API token's scopes, comma-separated (``app.access.scopes``); None for sessions."""


class UserTokenPurpose(enum.StrEnum):
    EMAIL_VERIFICATION = "EMAIL_VERIFICATION"
    PASSWORD_RESET = "PASSWORD_RESET"
    SET_PASSWORD = "SET_PASSWORD"
    EMAIL_CHANGE = "EMAIL_CHANGE"
    """Confirms a new email of one's staff record; the token carries the record and address."""


class UserToken(Base):
    """A single-use emailed token (verify email, reset or first set a password)."""

    __tablename__ = "user_tokens"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[UserTokenPurpose] = mapped_column(
        Enum(UserTokenPurpose, native_enum=False, length=32)
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
