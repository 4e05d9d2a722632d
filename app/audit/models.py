from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    """Append-only: who did what to which record, with a redacted before/after diff.

    Rows are only ever inserted (the service has no update or delete path), and an
    account's deletion is the only thing that removes its entries. The one exception is
    an entry written whole before diffs were cut at ``DIFF_ROWS_PER_ENTRY`` rows: migration
    0034, and a restore of an older backup (``service.continuations``), cut its diff and
    continue it in new entries; nothing of it is lost.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_account_id", "account_id", "id"),
        # the log and its count for readers without ViewPersonalData (``personal_only``)
        Index("ix_audit_account_listed", "account_id", "personal_only", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), default=None
    )
    actor_user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    actor_staff_id: Mapped[int | None] = mapped_column(Integer, default=None)
    actor_name: Mapped[str | None] = mapped_column(String(300), default=None)
    impersonator_user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64), default=None)
    target_id: Mapped[int | None] = mapped_column(Integer, default=None)
    diff: Mapped[list] = mapped_column(JSON, default=list)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    client_address: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The diff names personal data alone: not listed to readers without ViewPersonalData
    # (an empty diff would tell them when, and whose, personal data changed)
    personal_only: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
