"""Tables of the daily close: loan snapshots, due positions and the record of each close.

Snapshots and positions are derived data (rebuilt from the loan events and the close records by
`puhui.store.close_repo`); the close records are part of the book's history: a loan's state is
the fold of its events and of the closes of its range, in chain order (docs/ledger.md,
"The daily close").
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from puhui.store.models import Base, BigKey, UTCDateTime


class LoanSnapshotRow(Base):
    """A loan's state (JSON, `puhui.loans.snapshot.to_state`) after its event `seq`, with every
    close through `closed_through` applied."""

    __tablename__ = "loan_snapshots"

    loan_id: Mapped[str] = mapped_column(String(64), ForeignKey("loans.loan_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    closed_through: Mapped[date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(Text)


class LoanPositionRow(Base):
    """A loan's due position: the narrow row the daily close reads as columns
    (`puhui.loans.snapshot.position`).  `closed_through` is the last close applied to the loan;
    a plain close moves it and `charged_to` without touching the snapshot."""

    __tablename__ = "loan_positions"

    loan_id: Mapped[str] = mapped_column(String(64), ForeignKey("loans.loan_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(32))
    product: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    rounding: Mapped[str] = mapped_column(String(16))
    basis: Mapped[int] = mapped_column(Integer)
    rate_micros: Mapped[int] = mapped_column(BigInteger)
    penalty_rate_micros: Mapped[int] = mapped_column(BigInteger)
    opened_on: Mapped[date | None] = mapped_column(Date)
    closed_through: Mapped[date | None] = mapped_column(Date)
    charged_to: Mapped[date | None] = mapped_column(Date)
    last_date: Mapped[date | None] = mapped_column(Date)
    next_break: Mapped[date] = mapped_column(Date)
    outstanding: Mapped[int] = mapped_column(BigInteger)
    credit: Mapped[int] = mapped_column(BigInteger)
    cur_start: Mapped[date | None] = mapped_column(Date)
    cur_due: Mapped[date | None] = mapped_column(Date)
    cur_interest: Mapped[int] = mapped_column(BigInteger)
    overdue_principal: Mapped[int] = mapped_column(BigInteger)
    arrears_since: Mapped[date | None] = mapped_column(Date)
    balance: Mapped[int] = mapped_column(BigInteger)
    expires_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_loan_positions_status_loan_id", "status", "loan_id"),)


class BookCloseRow(Base):
    """One partition of one day's close: the loans `lo`..`hi` (by id) that were active and paid
    out by `business_date`, closed in one transaction when the event chain stood at
    `events_seq`.  `failures` lists (JSON) the loans the close could not close that day."""

    __tablename__ = "book_closes"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    lo: Mapped[str] = mapped_column(String(64))
    hi: Mapped[str] = mapped_column(String(64))
    events_seq: Mapped[int] = mapped_column(BigInteger)
    loans: Mapped[int] = mapped_column(Integer)
    plain: Mapped[int] = mapped_column(Integer)
    entries: Mapped[int] = mapped_column(Integer)
    failures: Mapped[str] = mapped_column(Text)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())


__all__ = ["BookCloseRow", "LoanPositionRow", "LoanSnapshotRow"]
