"""Tables of the notifications: the outbox (one row per notification and channel), the delivery
log (one row per attempt, append-only) and the borrowers' contact addresses (sealed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from puhui.store.models import Base, UTCDateTime


class NotificationRow(Base):
    """A notification to one borrower through one channel.  `key` (with the channel) is
    unique: a second notify with the same key records nothing.  `recipient` is sealed under the
    applicant's data key (or, for the partner webhook, the partner id); `recipient_masked` is
    what views and logs show.  `not_before` is when it may go (quiet hours, retries)."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("key", "channel"),
                      Index("ix_notifications_status_not_before", "status", "not_before"),)

    notification_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    applicant_id: Mapped[str] = mapped_column(String(32), index=True)
    partner_id: Mapped[str | None] = mapped_column(String(64))
    loan_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str | None] = mapped_column(Text)
    recipient_masked: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    channel_message_id: Mapped[str | None] = mapped_column(String(300))
    last_error: Mapped[str | None] = mapped_column(Text)


class NotificationDeliveryRow(Base):
    """One attempt to deliver a notification (append-only): how it ended and what the channel
    said; the recipient only masked."""

    __tablename__ = "notification_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(32), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    recipient_masked: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    channel_message_id: Mapped[str | None] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationContactRow(Base):
    """A borrower's address on a channel that the applicant record does not hold (e-mail, an
    app's push token), sealed under the applicant's data key."""

    __tablename__ = "notification_contacts"

    applicant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    address: Mapped[str] = mapped_column(Text)
    address_masked: Mapped[str] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


__all__ = ["NotificationContactRow", "NotificationDeliveryRow", "NotificationRow"]
