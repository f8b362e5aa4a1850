"""The scheduled jobs' runs: one row per attempt of a job for a business date.

The row is also the lease.  Attempts of one (job, business date) are numbered 1, 2, ... and
(job, business_date, attempt) is unique, so of two processes that both see attempt n as the
latest and try to start attempt n+1, the database lets exactly one insert it.  Claims queue
besides (SQLite's single writer; a transaction-scoped advisory lock on PostgreSQL), and a claim
is refused while any job's attempt is running within its lease: the jobs run one at a time,
never a close beside another close or beside the auto-debit.  An attempt still 'running' after
the lease timeout is marked failed ("lease expired") in the transaction that claims next, and
the next attempt of its job and date takes it over.  A runner that finishes an
attempt someone else took over is told so (`finish` returns False) and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Date,
    Integer,
    String,
    Text,
    UniqueConstraint,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from puhui.store.models import Base, BigKey, UTCDateTime

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
STATUSES = (RUNNING, SUCCEEDED, FAILED)
#: The error recorded on an attempt whose lease was taken over.
LEASE_EXPIRED = "lease expired: the runner did not finish within the lease; taken over by"


class JobRunRow(Base):
    """One attempt of a scheduled job for one business date."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "business_date", "attempt"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(40))
    business_date: Mapped[date] = mapped_column(Date)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    runner: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: What the job did, as JSON text (succeeded runs, and a close that left failures).
    summary: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


#: pg_advisory_xact_lock key the claims queue on ("jobs" in ASCII).
JOBS_LOCK_ID = 0x6A6F6273
_LOCK = text(f"SELECT pg_advisory_xact_lock({JOBS_LOCK_ID})")
#: The longest error text kept (a traceback's last line is what an operator needs).
MAX_ERROR = 4000


@dataclass(frozen=True)
class JobRun:
    """A recorded attempt, detached from the session."""

    id: int
    job: str
    business_date: date
    attempt: int
    status: str
    runner: str
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any] | None
    error: str | None

    def held_at(self, now: datetime, lease: timedelta) -> bool:
        """Whether this attempt still holds the lease at `now` (running, and younger than it)."""
        return self.status == RUNNING and now < self.started_at + lease

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "job": self.job, "business_date": self.business_date.isoformat(),
                "attempt": self.attempt, "status": self.status, "runner": self.runner,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "summary": self.summary, "error": self.error}


def _run(row: Any) -> JobRun:
    return JobRun(id=row.id, job=row.job, business_date=row.business_date, attempt=row.attempt,
                  status=row.status, runner=row.runner, started_at=row.started_at,
                  finished_at=row.finished_at,
                  summary=json.loads(row.summary) if row.summary else None, error=row.error)


class JobRunRepository:
    """Read the runs, claim a lease, record how an attempt ended; the caller commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def attempts(self, job: str, day: date) -> list[JobRun]:
        """Every attempt of `job` for `day`, oldest first."""
        rows = self.session.execute(select(JobRunRow)
                                    .where(JobRunRow.job == job, JobRunRow.business_date == day)
                                    .order_by(JobRunRow.attempt)).scalars()
        return [_run(r) for r in rows]

    def recent(self, limit: int = 50, job: str | None = None) -> list[JobRun]:
        """The latest `limit` attempts (of `job`, or of every job), newest first."""
        query = select(JobRunRow).order_by(JobRunRow.id.desc()).limit(limit)
        if job is not None:
            query = query.where(JobRunRow.job == job)
        return [_run(r) for r in self.session.execute(query).scalars()]

    def claim(self, job: str, day: date, runner: str, now: datetime,
              lease: timedelta) -> JobRun | None:
        """Start the next attempt of `job` for `day` as `runner`, or None if it may not start:
        an attempt of it succeeded, any job's attempt holds the lease (jobs run one at a time,
        never side by side), or another runner claimed it first.  Running attempts older than
        `lease` are marked failed; this job and date's is taken over."""
        if self.session.connection().dialect.name == "postgresql":
            self.session.execute(_LOCK)  # claims queue here; SQLite's single writer does this
        for other in self.session.execute(
                select(JobRunRow).where(JobRunRow.status == RUNNING)).scalars():
            if other.job == job and other.business_date == day:
                continue  # this job and date: see below
            if now < other.started_at + lease:
                return None  # one job at a time: another holds the lease
            self._update(other.id, status=FAILED, finished_at=now,
                         error=f"{LEASE_EXPIRED} {runner}")
        latest = self.session.execute(
            select(JobRunRow).where(JobRunRow.job == job, JobRunRow.business_date == day)
            .order_by(JobRunRow.attempt.desc()).limit(1).with_for_update()).scalar_one_or_none()
        attempt = 1
        if latest is not None:
            if latest.status == SUCCEEDED:
                return None
            if latest.status == RUNNING:
                if now < latest.started_at + lease:
                    return None
                taken = self._update(latest.id, status=FAILED, finished_at=now,
                                     error=f"{LEASE_EXPIRED} {runner}")
                if taken != 1:
                    return None
            attempt = latest.attempt + 1
        try:
            with self.session.begin_nested():
                new_id = self.session.execute(insert(JobRunRow).values(
                    job=job, business_date=day, attempt=attempt, status=RUNNING, runner=runner,
                    started_at=now).returning(JobRunRow.id)).scalar_one()
        except IntegrityError:
            return None  # another runner inserted this attempt first
        return JobRun(new_id, job, day, attempt, RUNNING, runner, now, None, None, None)

    def finish(self, run_id: int, now: datetime, *, succeeded: bool,
               summary: dict[str, Any] | None = None, error: str | None = None) -> bool:
        """Record how attempt `run_id` ended; False (and nothing written) if it is no longer
        running, i.e. its lease was taken over."""
        return self._update(
            run_id, status=SUCCEEDED if succeeded else FAILED, finished_at=now,
            summary=json.dumps(summary, sort_keys=True, default=str) if summary else None,
            error=error[:MAX_ERROR] if error else None) == 1

    def _update(self, run_id: int, **values: Any) -> int:
        """Set `values` on attempt `run_id` if it is still running; the rows changed (0 or 1)."""
        result = self.session.execute(
            update(JobRunRow).where(JobRunRow.id == run_id, JobRunRow.status == RUNNING)
            .values(**values).execution_options(synchronize_session=False))
        return cast(CursorResult[Any], result).rowcount
