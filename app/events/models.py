from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class Event(Base):
    """Something that changed in an account, written in the transaction that changed it.

    Rows are inserted (by ``app.events.service.record``), so a rolled-back change leaves
    none and a committed one is never lost; webhooks and subscriptions read them. They are
    never changed, and deleted only after their retention (``app.background.prune_once``).
    ``uid`` is the stable id a receiver de-duplicates by (the webhook-id of every delivery
    attempt of it). ``data`` is thin: the ids involved and the names of changed fields,
    never their values.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_account_id_id", "account_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(40), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column(Integer)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    actor_staff_id: Mapped[int | None] = mapped_column(Integer, default=None)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
