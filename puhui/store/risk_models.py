"""Tables of the risk engine's data: the raw business-data payloads fetched for an applicant.

Why keep the raw payload, and beside its consent: a credit decision must be explainable and
reproducible from what the lender actually received, and PIPL asks the lender to show under
which consent each piece of personal data was obtained.  Rows are append-only (triggers of
migration 0004); a payload that failed validation is kept too, with its error, because it is
the evidence for referring the application.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CHAR, CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from puhui.store.models import Base, BigKey, UTCDateTime


class SourcePayloadRow(Base):
    """One connector payload as received: canonical JSON text and its SHA-256."""

    __tablename__ = "source_payloads"
    __table_args__ = (CheckConstraint("status IN ('accepted', 'rejected')", name="status"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    applicant_id: Mapped[str] = mapped_column(String(32), ForeignKey("applicants.applicant_id"),
                                              index=True)
    application_id: Mapped[str | None] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(32))
    consent_id: Mapped[str] = mapped_column(String(32))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    as_of: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    payload_sha256: Mapped[str] = mapped_column(CHAR(64))


RISK_TABLES = ("source_payloads",)
APPEND_ONLY_RISK_TABLES = ("source_payloads",)
