from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class Account(Base):
    """A tenant: its staff, custom fields and seats belong to it and to nothing else."""

    __tablename__ = "accounts"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    pending_slug: Mapped[str | None] = mapped_column(String(63), nullable=True, deferred=True)
    """The slug a signed-up account takes once its owner confirms their email; until then
    its ``slug`` is a random placeholder (``app.accounts.service.create_pending_account``).
    Deferred: only those two functions read or write it; an account's usual loads don't."""
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(32), default="FREE")
    seat_limit: Mapped[int] = mapped_column(Integer, default=5)
    everyone_can_invite: Mapped[bool] = mapped_column(Boolean, default=False)
    invitation_expiry_days: Mapped[int] = mapped_column(Integer, default=7)
    join_link_role: Mapped[str] = mapped_column(String(16), default="VIEWER")
    """Defaults for new join links."""
    join_link_expiry_days: Mapped[int | None] = mapped_column(Integer, default=None)
    join_link_requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    guests_take_seats: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Whether guests (customers and vendors) count against the seat limit."""
    self_signup: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Whether anyone may sign up into this account as a customer (a guest)."""
    scim_invites: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Whether a person provisioned through SCIM is invited (and so emailed) as well."""
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    """The firm's time zone (IANA): a staff record's when it has none of its own."""
    staff_seq: Mapped[int] = mapped_column(Integer, default=0)
    """Last staff sid handed out in this account (sids are per account)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
