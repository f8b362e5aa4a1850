"""The line decision records: every re-evaluation of a credit line, kept to replay it.

Why a table of its own beside `decision_records`: those belong to an application, these to a
line, many per line over its life.  The record (canonical JSON with its SHA-256) holds the
line as it stood, the rules engaged before, the facts the line policy read, the policy version
and SHA-256, the model versions, the payloads the facts came from, and the decision; a few of
its values are columns too, for the reads the re-evaluation makes (the line's latest decision
gives its engaged rules, kept as the column `engaged`; its latest re-pricing starts the on-time
count).  `input_sha256` fingerprints what went in: (line_id, input_sha256) is unique, so the
same re-evaluation run twice is recorded once; that index serves the reads by line too (a
book's write keeps to two indexes).  Rows are append-only (triggers of migration 0015).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CHAR, BigInteger, Boolean, Date, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from puhui.store.models import Base, BigKey, UTCDateTime


class LineDecisionRow(Base):
    """One re-evaluation of one credit line, replayable from its own content."""

    __tablename__ = "line_decisions"
    __table_args__ = (UniqueConstraint("line_id", "input_sha256"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(String(32), unique=True)
    line_id: Mapped[str] = mapped_column(String(32))
    applicant_id: Mapped[str] = mapped_column(String(32))
    decided_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    trigger: Mapped[str] = mapped_column(String(40))
    policy_version: Mapped[str] = mapped_column(String(200))
    policy_sha256: Mapped[str] = mapped_column(CHAR(64))
    changes: Mapped[bool] = mapped_column(Boolean)
    limit_after: Mapped[int | None] = mapped_column(BigInteger)   # the new limit, fen
    rate_after: Mapped[str | None] = mapped_column(String(20))    # the new price, decimal text
    freeze: Mapped[bool | None] = mapped_column(Boolean)          # True frozen, False unfrozen
    engaged: Mapped[str] = mapped_column(Text)  # JSON {code: "YYYY-MM-DD"} engaged after it
    input_sha256: Mapped[str] = mapped_column(CHAR(64))
    record: Mapped[str] = mapped_column(Text)
    record_sha256: Mapped[str] = mapped_column(CHAR(64))


LINE_TABLES = ("line_decisions",)
APPEND_ONLY_LINE_TABLES = ("line_decisions",)
