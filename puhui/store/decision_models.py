"""The decision records: everything an automated credit decision used, kept to replay it.

Why a table of its own: an auditor (or the applicant, under PIPL art. 24) may ask why an
application was declined years later.  The record holds the facts the policy read (features and
model scores included), the policy version and its SHA-256, the model versions, the trace of
every rule and the outcome, as canonical JSON with its SHA-256.  Rows are append-only (triggers
of migration 0005): a decision is never rewritten, a manual review is a new event elsewhere.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CHAR, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from puhui.store.models import Base, BigKey, UTCDateTime


class DecisionRecordRow(Base):
    """One automated decision of one application, replayable from its own content."""

    __tablename__ = "decision_records"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("applications.application_id"), index=True)
    decided_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    policy_version: Mapped[str] = mapped_column(String(200))
    policy_sha256: Mapped[str] = mapped_column(CHAR(64))
    model_version: Mapped[str | None] = mapped_column(String(200))
    record: Mapped[str] = mapped_column(Text)
    record_sha256: Mapped[str] = mapped_column(CHAR(64))


APPEND_ONLY_DECISION_TABLES = ("decision_records",)
