"""Webhook endpoints of an account, the deliveries queued for them, and every attempt."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime, utcnow


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class WebhookEndpoint(Base):
    """A URL an account's administrators asked to be told about events at.

    The signing secret is stored only sealed (AES-GCM with the field-encryption keys, bound
    to this row: ``app.webhooks.service``); after a rotation the previous one keeps signing
    beside it until ``previous_secret_expires_at``. ``personal_data``: its creator held
    ViewPersonalData, so its payloads name changed personal fields too while they still
    hold it (``app.webhooks.service.standing``). Whoever created or last changed it
    (``created_by_staff_id``), and the API key they did it through if any
    (``created_by_token_id``), vouch for it: it receives events while both still may.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_account_id", "account_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    personal_data: Mapped[bool] = mapped_column(Boolean, default=False)
    secret_sealed: Mapped[str] = mapped_column(Text, default="")
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by_staff_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # The API key it was created or last changed through (None: a signed-in session, the
    # member alone vouches): while that key lives (``standing``). No foreign key: a key
    # deleted is gone as one revoked is.
    created_by_token_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One message to one endpoint: an event, a ping. ``uid`` is its ``webhook-id``, the
    same on every attempt (retries, a worker's crash, replays) so receivers de-duplicate.
    Workers claim a due row with a lease (``locked_until``, ``lease``) by a conditional
    UPDATE, so two never send it at once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # an account's deliveries newest first, a keyset page at a time (the connection)
        Index("ix_webhook_deliveries_account_id_id", "account_id", "id"),
        # the list and its count for readers without ViewPersonalData (``personal_only``)
        Index("ix_webhook_deliveries_account_listed", "account_id", "personal_only", "id"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # each endpoint's oldest due delivery (a claim's first turn: app.webhooks.delivery)
        Index("ix_webhook_deliveries_endpoint_due", "endpoint_id", "status", "next_attempt_at"),
        # the deliveries an event's deletion sets NULL (pruning: app.background)
        Index("ix_webhook_deliveries_event_id", "event_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(40), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="SET NULL"), default=None
    )
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=16), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lease: Mapped[str | None] = mapped_column(String(40), default=None)
    retry_from: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # retried a day from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # It names personal fields alone: not listed to readers without ViewPersonalData (a
    # delivery of no field would tell them when, and whose, personal data changed)
    personal_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class WebhookAttempt(Base):
    """One HTTP request of a delivery, as the endpoint answered it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_delivery_id", "delivery_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    response_excerpt: Mapped[str | None] = mapped_column(String(1000), default=None)
