"""The rate cap setting's history: cap versions and the LPR publications operators record.

Why tables and not configuration: which cap applied on which day is evidence.  Each decision
record and offer names the version (and LPR publication) it was checked against, and these rows
are what those names resolve to.  Both tables are append-only (triggers of migration 0007): a
new setting supersedes from its effective date, nothing is edited.  Rates and multiples are
exact decimal text, as everywhere else in the store.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, String
from sqlalchemy.orm import Mapped, mapped_column

from puhui.store.models import Base, BigKey, UTCDateTime


class RateCapVersionRow(Base):
    """One version of the cap setting: a fixed rate or a multiple of the one-year LPR."""

    __tablename__ = "rate_cap_versions"

    version: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    effective_from: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    rate: Mapped[str | None] = mapped_column(String(32))
    multiple: Mapped[str | None] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


class LprPublicationRow(Base):
    """A one-year LPR as published, with the date it takes effect for the cap."""

    __tablename__ = "lpr_publications"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    rate: Mapped[str] = mapped_column(String(32))
    published_on: Mapped[date] = mapped_column(Date)
    effective_from: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


APPEND_ONLY_CAP_TABLES = ("rate_cap_versions", "lpr_publications")
