from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.access import Role
from app.db.base import Base, UTCDateTime, utcnow
from app.staff.models import StaffKind

# The longest an invitation lasts, in days: an account's default (``invitation_expiry_days``,
# 1 to this) and one invitation's ``expiresInDays`` alike.
MAX_EXPIRY_DAYS = 30


class InvitationStatus(enum.StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


def _enum(cls, length=16):
    return Enum(cls, native_enum=False, length=length)


# The partial indexes' conditions, written as the migration (0039) writes them.
OPEN_BY_KEY = "created_by_token_id IS NOT NULL AND status IN ('PENDING', 'EXPIRED')"
ENABLED_BY_KEY = "created_by_token_id IS NOT NULL AND disabled_at IS NULL"


def _by_key(name: str, where: str) -> Index:
    """The rows made through an API key that are still open (``withdraw_ways_in_of_keys``),
    by the key: a partial index holding those alone."""
    return Index(
        name, "created_by_token_id", sqlite_where=text(where), postgresql_where=text(where)
    )


class Invitation(Base):
    """An emailed invitation to join an account with a role; it holds a seat while pending.

    Only the SHA-256 digest of the token is stored. A PENDING invitation past its
    ``expires_at`` counts as EXPIRED everywhere (the sweeper also records it).
    """

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_account_status", "account_id", "status"),
        _by_key("ix_invitations_open_by_key", OPEN_BY_KEY),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), default=None, index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(_enum(Role))
    inviter_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), default=None
    )
    message: Mapped[str | None] = mapped_column(Text, default=None)
    subject: Mapped[str | None] = mapped_column(String(200), default=None)
    bcc_inviter: Mapped[bool] = mapped_column(Boolean, default=False)
    redirect_url: Mapped[str | None] = mapped_column(String(500), default=None)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[InvitationStatus] = mapped_column(
        _enum(InvitationStatus), default=InvitationStatus.PENDING
    )
    expiry_days: Mapped[int] = mapped_column(Integer, default=7)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_count: Mapped[int] = mapped_column(Integer, default=1)
    last_sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    accepted_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The API key it was sent (or last resent) through; None through a session. It lasts
    # only as long as the key (``app.staff.membership.withdraw_ways_in_of_keys``).
    created_by_token_id: Mapped[int | None] = mapped_column(Integer, default=None)


class JoinLink(Base):
    """A shareable "quick registration" link into an account."""

    __tablename__ = "join_links"
    __table_args__ = (
        _by_key("ix_join_links_open_by_key", ENABLED_BY_KEY),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.VIEWER)
    kind: Mapped[StaffKind] = mapped_column(
        _enum(StaffKind), default=StaffKind.EMPLOYEE, server_default="EMPLOYEE"
    )
    """The kind of record a newcomer gets (customers and vendors join as guests)."""
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    max_uses: Mapped[int | None] = mapped_column(Integer, default=None)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    allowed_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), default=None
    )
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The API key it was made (or last rotated) through; None through a session. It lasts
    # only as long as the key (``app.staff.membership.withdraw_ways_in_of_keys``).
    created_by_token_id: Mapped[int | None] = mapped_column(Integer, default=None)


class JoinRequestStatus(enum.StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class JoinRequest(Base):
    """Someone who used a join link that needs an administrator's approval."""

    __tablename__ = "join_requests"
    __table_args__ = (
        # the account's requests by status (joinRequests), a link's waiting ones (its cap)
        Index("ix_join_requests_account_status", "account_id", "status", "id"),
        Index("ix_join_requests_link_status", "join_link_id", "status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    join_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("join_links.id", ondelete="SET NULL"), default=None
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(_enum(Role))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[JoinRequestStatus] = mapped_column(
        _enum(JoinRequestStatus), default=JoinRequestStatus.PENDING
    )
    decided_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
