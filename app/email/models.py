from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class OutboxStatus(enum.StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class OutboxMessage(Base):
    """An email written in the same transaction as the change that causes it.

    The relay claims one due row at a time with a lease (``locked_until``, and the random
    ``lease_token`` of the claim), renewed while it sends, so several server processes can
    relay from one database without sending a message twice.

    What the message says (subject, text and HTML parts: links with live tokens, personal
    messages) is kept only in ``sealed``, encrypted with the field-encryption keys and bound
    to this row and its recipients (``app.email.outbox``), and only until the message is
    sent or fails for good; then it is wiped and the row keeps its metadata, until the
    retention sweep deletes the row (``email_outbox_retention_days``, ``app.background``).
    ``subject``, ``text_body`` and ``html_body`` are plaintext only in rows queued before
    migration 0008 (null otherwise) and are wiped the same way.
    """

    __tablename__ = "email_outbox"
    __table_args__ = (
        Index("ix_email_outbox_due", "status", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), default=None
    )
    template: Mapped[str] = mapped_column(String(64))
    to_addrs: Mapped[list[str]] = mapped_column(JSON)
    bcc_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    sealed: Mapped[str | None] = mapped_column(Text, default=None)
    subject: Mapped[str | None] = mapped_column(String(300), default=None)
    text_body: Mapped[str | None] = mapped_column(Text, default=None)
    html_body: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=16), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The random token of the relay whose claim ``locked_until`` is (app.email.relay).
    lease_token: Mapped[str | None] = mapped_column(String(64), default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
