"""Tables of the monitoring data kept merged: each applicant's current data per scope, and where
each change feed was read up to.

Why a table of merged data beside the payloads: the payloads (`source_payloads`) are the record
of truth, kept as received; re-evaluating a line needs them merged and validated, which costs
milliseconds a business when redone from the payloads each time.  `monitoring_state` keeps that
merge (`puhui.risk.data.merged_state`): a compacted, compressed base (`monitoring_bases`) and a
tail of the deltas taken in since, each with its SHA-256 (a state that fails it is rebuilt from the payloads), and
what the window of the features needs to cut it (the first and latest `as_of` merged, whether
they came in date order).  `feed_cursors` holds each feed's cursor, written in the transaction
that stores what the page delivered.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CHAR, Boolean, Date, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from puhui.store.models import Base, UTCDateTime


class MonitoringStateRow(Base):
    """One applicant's merged data of one scope."""

    __tablename__ = "monitoring_state"

    applicant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    business_id: Mapped[str] = mapped_column(String(128), index=True)
    as_of: Mapped[date] = mapped_column(Date)           # the latest as_of merged
    first_as_of: Mapped[date] = mapped_column(Date)     # the earliest as_of merged
    in_order: Mapped[bool] = mapped_column(Boolean)     # merged in as_of order
    #: the payloads merged are those describing a day from this one on (None: all of them)
    covers_from: Mapped[date | None] = mapped_column(Date)
    records: Mapped[int] = mapped_column(Integer)       # base records + tail records
    payloads: Mapped[int] = mapped_column(Integer)      # payloads merged
    payload_sha256: Mapped[str] = mapped_column(CHAR(64))  # of the latest payload merged
    tail_sha256: Mapped[str | None] = mapped_column(CHAR(64))
    tail: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MonitoringBaseRow(Base):
    """The compacted base of a state, in a table of its own.  Why not a column of the state:
    taking in a delta rewrites the state's head and tail, and a database rewrites a row whole,
    so a base beside them (tens of kilobytes for a shop's orders) would be rewritten with every
    delta, and read past to reach the tail: 40 times the cost of updating a head alone.  The
    store writes and deletes a state's two rows together (`monitoring_repo`); a state whose
    base is missing reads as damaged and is rebuilt from its payloads, as any damaged one."""

    __tablename__ = "monitoring_bases"

    applicant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    codec: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(CHAR(64))       # of `blob`
    blob: Mapped[bytes] = mapped_column(LargeBinary)


class MonitoringSummaryRow(Base):
    """The summary of a state's base (`puhui.risk.summaries`): what the panel needs of the
    records merged, so that a refresh reads a few kilobytes instead of the whole base.  It
    names the base it summarises (`base_sha256`) and the window it was cut to (`window_from`):
    a summary of another base or window is not used, only replaced.  Deleted with its state."""

    __tablename__ = "monitoring_summaries"

    applicant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    base_sha256: Mapped[str] = mapped_column(CHAR(64))
    window_from: Mapped[date] = mapped_column(Date)
    blob: Mapped[bytes] = mapped_column(LargeBinary)


class MonitoredApplicantRow(Base):
    """An applicant whose states cover every accepted payload stored for it (a scope with
    payloads and no state row is then one to build); a new payload stored outside the states'
    upkeep (an application's) or a purge deletes the row."""

    __tablename__ = "monitoring_applicants"

    applicant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FeedCursorRow(Base):
    """Where a change feed was read up to."""

    __tablename__ = "feed_cursors"

    feed: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


MONITORING_TABLES = ("monitoring_state", "monitoring_bases", "monitoring_summaries",
                     "monitoring_applicants",
                     "feed_cursors")
