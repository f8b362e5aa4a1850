"""Tables of the risk engine's data: the raw business-data payloads fetched for an applicant.

Why keep the raw payload, and beside its consent: a credit decision must be explainable and
reproducible from what the lender actually received, and PIPL asks the lender to show under
which consent each piece of personal data was obtained.  Rows are append-only (triggers of
migration 0004); a payload that failed validation is kept too, with its error, because it is
the evidence for referring the application.

Since revision 0013 a payload is kept packed (`payload_codec`, `payload_blob`: see
`puhui.store.payload_codec`) with its size as received; rows stored before keep their text in
`payload`.  The one deletion allowed is the retention purge: a row may be deleted only once a
`purged_payloads` row (its tombstone: what was purged, when and why) names it, which the
database checks (triggers of 0013).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CHAR, CheckConstraint, Date, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from puhui.store.models import Base, BigKey, UTCDateTime


class SourcePayloadRow(Base):
    """One connector payload as received: its bytes packed (or, before 0013, its text) and the
    SHA-256 of the bytes as received."""

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
    payload: Mapped[str | None] = mapped_column(Text)   # rows stored before 0013
    payload_sha256: Mapped[str] = mapped_column(CHAR(64))
    payload_codec: Mapped[str | None] = mapped_column(String(16))
    payload_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    payload_bytes: Mapped[int | None] = mapped_column(Integer)  # size as received


class PurgedPayloadRow(Base):
    """The tombstone of a payload deleted by the retention rule: which payload (same id), under
    which consent, its hash and size, when it was purged and until when it had to be kept."""

    __tablename__ = "purged_payloads"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=False)
    applicant_id: Mapped[str] = mapped_column(String(32), index=True)
    application_id: Mapped[str | None] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(32))
    consent_id: Mapped[str] = mapped_column(String(32))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload_sha256: Mapped[str] = mapped_column(CHAR(64))
    payload_bytes: Mapped[int | None] = mapped_column(Integer)
    kept_until: Mapped[date] = mapped_column(Date)
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)


RISK_TABLES = ("source_payloads", "purged_payloads")
APPEND_ONLY_RISK_TABLES = ("source_payloads", "purged_payloads")
