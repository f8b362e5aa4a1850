"""The platform's own daily jobs, run at configured times in the business time zone.

The jobs:

* **close**: the daily close (`close_day`, after expiring stale offers as the API's end of day
  does) of the business date that has *ended*.  It fires after midnight: at 00:30 on 8 March
  it closes 7 March.  A close time must therefore be before noon.  A platform that was down for
  days runs one close, of the latest ended day: the close itself closes the skipped days first,
  in order.  A day the book has already closed past (an operator closed ahead) is not closed
  again: the run succeeds saying so.
* **auto_debit**: the collection run (`services.loans.auto_debit`) for *today's* business date,
  at its own time, which must be after the close time (so it sees yesterday closed).  A day
  missed entirely is not collected afterwards: the next day's run pulls what is due then,
  arrears included.
* **reminders**: the reminder run (`services.reminders.run_reminders`) for today's business
  date, after the auto-debit (a borrower whose instalment was collected gets no "due today"
  reminder); each reminder step is recorded once, whatever the runs.
* **line_refresh**: every `PUHUI_SCHEDULE_LINE_REFRESH` minutes (default 15), the pull of
  fresh monitoring data for every business with a monitoring consent in force and an open
  credit line, and the re-evaluation of those lines (`services.reevaluation.refresh_lines`).
  Each slot of the day is a target of its own, recorded as ``line_refresh@HHMM`` (10:15 is the
  slot from 10:15 to 10:29 with a 15-minute interval); a slot missed is not run afterwards,
  the next slot asks for everything anyway.
* **collections**: the collections review (`services.collections.run_daily`) for *today's*
  business date, after the auto-debit (so a loan it collected opens no case): cases opened on
  the first day past due, moved between stages, closed when cured, settled or written off;
  promises checked.  Like the auto-debit, a day missed is not reviewed afterwards: the next
  review sees the book as it is then.
* **warnings**: the early-warning assessment (`services.warnings.run_warnings`) of today,
  after the auto-debit (a failed debit is one of its signals): each active loan's watch-list
  status stored once a day, the actions of a change applied once.
* **provision**: the month-end loan-loss provision (`services.portfolio.run_provision`), after
  the close; it runs daily and posts once, for the last month that has ended.

Besides the jobs, every tick sends the notifications due (`services.notifications.dispatch`):
a notice recorded at night goes out when quiet hours end, a failed delivery is retried.

Every attempt is a row of `job_runs` (`puhui.store.job_runs`), which is also the lease: one
runner at a time per job and business date, and one job at a time, across threads, `puhui
serve` processes, a separate `puhui scheduler` process or several hosts on one database.  A succeeded run is never repeated.
A failed run is retried at the first tick one minute after it failed, then after 2, 4, ... up to
60 minutes, for as long as its business date is the one due.  A running attempt older than the
lease timeout (its runner crashed or hangs) is marked failed and taken over.

The core is a pure function, `due_jobs(schedule, now, runs)`: which jobs are due at `now`
given the runs recorded; `Scheduler.tick` reads the runs, asks it, claims and runs; the loop
(`Scheduler.run`) only calls `tick` and sleeps, so tests drive it with a `ManualClock`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import traceback
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy.orm import Session

from puhui.errors import PuhuiError
from puhui.services.access import SYSTEM, Perm, Principal
from puhui.services.clock import BUSINESS_ZONE
from puhui.services.platform import Platform
from puhui.store.business_days import BusinessDayRepository
from puhui.store.job_runs import FAILED, RUNNING, SUCCEEDED, JobRun, JobRunRepository

log = logging.getLogger("puhui.scheduler")

#: Environment: whether `puhui serve` runs the scheduler ("on"/"off", default off).
ENABLED_ENV = "PUHUI_SCHEDULER"
#: Environment: the close's time of day (HH:MM, business time zone, before 12:00) or "off".
CLOSE_ENV = "PUHUI_SCHEDULE_CLOSE"
#: Environment: the auto-debit's time of day (HH:MM, after the close's) or "off".
AUTO_DEBIT_ENV = "PUHUI_SCHEDULE_AUTO_DEBIT"
#: Environment: the reminder run's time of day (HH:MM, after the auto-debit's) or "off".
REMINDERS_ENV = "PUHUI_SCHEDULE_REMINDERS"
#: Environment: the collections review's time of day (HH:MM, after the auto-debit's) or "off".
COLLECTIONS_ENV = "PUHUI_SCHEDULE_COLLECTIONS"
#: Environment: the early-warning run's time of day (HH:MM, after the auto-debit's) or "off".
WARNINGS_ENV = "PUHUI_SCHEDULE_WARNINGS"
#: Environment: the provision run's time of day (HH:MM, after the close's) or "off".
PROVISION_ENV = "PUHUI_SCHEDULE_PROVISION"
#: Environment: minutes after which a running attempt is taken as crashed (5-1440).
LEASE_ENV = "PUHUI_SCHEDULE_LEASE_MINUTES"
#: Environment: seconds between two looks at the clock (1-3600).
TICK_ENV = "PUHUI_SCHEDULE_TICK_SECONDS"
#: Environment: minutes between two pulls of monitoring data for credit lines (1-1440, a
#: divisor of a day's 1440 minutes), or "off".
LINE_REFRESH_ENV = "PUHUI_SCHEDULE_LINE_REFRESH"

CLOSE, AUTO_DEBIT, REMINDERS, LINE_REFRESH = "close", "auto_debit", "reminders", "line_refresh"
COLLECTIONS, WARNINGS, PROVISION = "collections", "warnings", "provision"
DEFAULTS = {CLOSE_ENV: "00:30", PROVISION_ENV: "01:00", AUTO_DEBIT_ENV: "06:00",
            WARNINGS_ENV: "06:30", COLLECTIONS_ENV: "07:00", REMINDERS_ENV: "09:00",
            LEASE_ENV: "120", TICK_ENV: "30", LINE_REFRESH_ENV: "15"}
#: What separates an interval job's name from its slot in `job_runs.job`.
SLOT = "@"
#: First retry delay after a failure; it doubles with each failure up to `RETRY_MAX`.
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(minutes=60)

_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


class SchedulerSettingsError(PuhuiError, ValueError):
    """A scheduler setting that cannot be used; the message names it and says what it takes."""


def _clock_time(name: str, text: str) -> time | None:
    text = text.strip().lower()
    if text in _OFF:
        return None
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2
            and 1 <= len(hours) <= 2 and int(hours) < 24 and int(minutes) < 60):
        raise SchedulerSettingsError(f"{name} must be a time of day HH:MM (e.g. 00:30) in the "
                                     f"business time zone, or 'off', not {text!r}")
    return time(int(hours), int(minutes))


def _whole(name: str, text: str, low: int, high: int, unit: str) -> int:
    text = text.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise SchedulerSettingsError(f"{name} must be a whole number of {unit} from {low} to "
                                     f"{high}, not {text!r}")
    return int(text)


def scheduler_enabled(env: Mapping[str, str] | None = None) -> bool:
    """`PUHUI_SCHEDULER`: whether `puhui serve` runs the scheduler (default off)."""
    text = (os.environ if env is None else env).get(ENABLED_ENV, "").strip().lower()
    if text in ("",) + _OFF:
        return False
    if text in _ON:
        return True
    raise SchedulerSettingsError(f"{ENABLED_ENV} must be 'on' or 'off', not {text!r}")


@dataclass(frozen=True)
class JobSpec:
    """A job's name and its time of day in the business time zone, or, for a job that runs
    through the day, its interval (`every`: one target per slot of the day)."""

    name: str
    at: time
    every: timedelta | None = None

    def slot(self, local: datetime) -> str:
        """The run name of the slot `local` falls in: ``<name>@HHMM``."""
        assert self.every is not None
        minutes = local.hour * 60 + local.minute
        step = int(self.every.total_seconds() // 60)
        start = minutes - minutes % step
        return f"{self.name}{SLOT}{start // 60:02d}{start % 60:02d}"

    def business_date_due(self, local: datetime) -> date | None:
        """The business date this job is due for at the business-zone moment `local`, or None.

        The close is due, from its time on, for the day before (the day that has ended); before
        its time, still for the day before yesterday (if that close has not succeeded).  The
        auto-debit is due from its time on for today, and not before it."""
        fired_today = local.time() >= self.at
        if self.every is not None:
            return local.date()
        if self.name == CLOSE:
            return local.date() - timedelta(days=1 if fired_today else 2)
        return local.date() if fired_today else None


def _after_collection(name: str, text: str, debit: time | None, close: time | None,
                      why: str) -> time | None:
    """A daily job's time (`name` = `text`), which must come after the auto-debit's, or after
    the close's when the auto-debit is off."""
    at = _clock_time(name, text)
    before = [(env, t) for env, t in ((AUTO_DEBIT_ENV, debit), (CLOSE_ENV, close))
              if t is not None]
    if at is not None and before and at <= before[0][1]:
        raise SchedulerSettingsError(f"{name} ({at:%H:%M}) must be after {before[0][0]} "
                                     f"({before[0][1]:%H:%M}): {why}")
    return at


@dataclass(frozen=True)
class Schedule:
    """The jobs switched on, the lease timeout and the loop's tick."""

    jobs: tuple[JobSpec, ...]
    lease: timedelta = timedelta(minutes=120)
    tick: timedelta = timedelta(seconds=30)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Schedule":
        """The schedule the environment configures; `SchedulerSettingsError` naming the first
        bad setting, before anything runs."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, "").strip() or DEFAULTS[name]

        close = _clock_time(CLOSE_ENV, get(CLOSE_ENV))
        debit = _clock_time(AUTO_DEBIT_ENV, get(AUTO_DEBIT_ENV))
        if close is not None and close >= time(12):
            raise SchedulerSettingsError(
                f"{CLOSE_ENV} must be before 12:00: the close runs after midnight and closes the "
                f"day that has ended (00:30 on 8 March closes 7 March); got {close:%H:%M}")
        if close is not None and debit is not None and debit <= close:
            raise SchedulerSettingsError(
                f"{AUTO_DEBIT_ENV} ({debit:%H:%M}) must be after {CLOSE_ENV} ({close:%H:%M}): "
                f"the day's collection runs once the previous day is closed")
        reminders = _clock_time(REMINDERS_ENV, get(REMINDERS_ENV))
        if reminders is not None and debit is not None and reminders <= debit:
            raise SchedulerSettingsError(
                f"{REMINDERS_ENV} ({reminders:%H:%M}) must be after {AUTO_DEBIT_ENV} "
                f"({debit:%H:%M}): a borrower whose instalment was collected is not reminded")
        review = _after_collection(COLLECTIONS_ENV, get(COLLECTIONS_ENV), debit, close,
                                   "the review sees the day's collection first")
        warn = _after_collection(WARNINGS_ENV, get(WARNINGS_ENV), debit, close,
                                 "a failed debit is one of the warning signals")
        provision = _clock_time(PROVISION_ENV, get(PROVISION_ENV))
        if provision is not None and close is not None and provision <= close:
            raise SchedulerSettingsError(
                f"{PROVISION_ENV} ({provision:%H:%M}) must be after {CLOSE_ENV} "
                f"({close:%H:%M}): a month is provisioned once its last day is closed")
        lease = _whole(LEASE_ENV, get(LEASE_ENV), 5, 1440, "minutes")
        tick = _whole(TICK_ENV, get(TICK_ENV), 1, 3600, "seconds")
        jobs = tuple(JobSpec(name, at) for name, at in (
            (CLOSE, close), (PROVISION, provision), (AUTO_DEBIT, debit), (WARNINGS, warn),
            (COLLECTIONS, review), (REMINDERS, reminders))
                     if at is not None)
        refresh = get(LINE_REFRESH_ENV).lower()
        if refresh not in _OFF:
            every = _whole(LINE_REFRESH_ENV, refresh, 1, 1440, "minutes")
            if 1440 % every:
                raise SchedulerSettingsError(
                    f"{LINE_REFRESH_ENV} must divide a day's 1440 minutes (5, 10, 15, 30, 60 "
                    f"...), so the slots fall at the same times every day; got {every}")
            jobs += (JobSpec(LINE_REFRESH, time(0), timedelta(minutes=every)),)
        return cls(jobs, timedelta(minutes=lease), timedelta(seconds=tick))

    def describe(self) -> str:
        jobs = ", ".join(f"{j.name} at {j.at:%H:%M}" if j.every is None else
                         f"{j.name} every {int(j.every.total_seconds() // 60)} min"
                         for j in self.jobs) or "no jobs"
        return (f"{jobs} ({BUSINESS_ZONE.key}); lease {self.lease}; "
                f"tick {int(self.tick.total_seconds())} s")


@dataclass(frozen=True)
class Due:
    """A job due for a business date; `takes_over` the attempt whose lease expired, if any."""

    job: str
    business_date: date
    takes_over: int | None = None


def retry_delay(failures: int) -> timedelta:
    """How long after its `failures`-th failure in a row a job is retried: 1, 2, 4 ... 60 min."""
    return min(RETRY_FIRST * (2 ** max(0, failures - 1)), RETRY_MAX)


def targets(schedule: Schedule, now: datetime) -> list[tuple[str, date]]:
    """The (job, business date) pairs the schedule has reached at `now`, whatever was run."""
    local = now.astimezone(BUSINESS_ZONE)
    out = []
    for spec in schedule.jobs:
        day = spec.business_date_due(local)
        if day is not None:
            out.append((spec.name if spec.every is None else spec.slot(local), day))
    return out


def due_jobs(schedule: Schedule, now: datetime,
             runs: Mapping[tuple[str, date], Sequence[JobRun]]) -> list[Due]:
    """Which jobs are due at `now` (UTC-aware), given the attempts recorded for each (job,
    business date) target (oldest first; a target absent from `runs` has none)."""
    due = []
    for job, day in targets(schedule, now):
        attempts = list(runs.get((job, day), ()))
        if not attempts:
            due.append(Due(job, day))
            continue
        latest = attempts[-1]
        if latest.status == SUCCEEDED:
            continue
        if latest.status == RUNNING:
            if not latest.held_at(now, schedule.lease):
                due.append(Due(job, day, takes_over=latest.id))
            continue
        failures = 0
        for run in reversed(attempts):
            if run.status != FAILED:
                break
            failures += 1
        if latest.finished_at is None or now >= latest.finished_at + retry_delay(failures):
            due.append(Due(job, day))
    return due


# -- the jobs --------------------------------------------------------------------------------

def run_close(platform: Platform, day: date) -> dict[str, Any]:
    """The daily close of `day` as the API's end of day runs it: stale offers and servicing
    requests expired, then
    `close_day` (skipped days first).  Loans that failed to close make the run fail (it is
    retried; a repeated close picks up what the first missed), with the summary kept."""
    from puhui.services import applications as apps
    from puhui.services.business_day import close_day

    with platform.read() as session:
        last = BusinessDayRepository(session).last_closed()
    if last is not None and last > day:
        return {"business_date": day.isoformat(), "skipped": True,
                "reason": f"the book is already closed through {last.isoformat()}"}
    from puhui.services.servicing import expire_stale_requests

    with platform.unit() as session:
        expired = apps.expire_stale(platform, session, SYSTEM)
        lapsed = expire_stale_requests(platform, session)
    closed = close_day(platform, SYSTEM, day)
    report = closed.report
    summary = {"business_date": day.isoformat(), "loans": report.loans,
               "entries": report.entries, "failures": len(report.failures),
               "days_closed": [d.isoformat() for d in report.days],
               "expired_applications": len(expired),
               "expired_servicing_requests": len(lapsed),
               "unconsented_erased": len(closed.unconsented_erased)}
    if report.failures:
        raise JobIncomplete(f"{len(report.failures)} loan(s) failed to close: "
                            + "; ".join(f"{k}: {v}" for k, v in
                                        sorted(report.failures.items())[:20]), summary)
    return summary


def run_auto_debit(platform: Platform, day: date) -> dict[str, Any]:
    """Today's collection run, as `POST /v1/operations/auto-debit` runs it."""
    from puhui.services import loans

    with platform.unit() as session:
        return loans.auto_debit(platform, session, SYSTEM, day)


def run_reminders(platform: Platform, day: date) -> dict[str, Any]:
    """Today's reminders, recorded once per step, then the notifications due sent."""
    from puhui.services import reminders

    return reminders.run_reminders(platform, day)


def send_due_notifications(platform: Platform) -> dict[str, int]:
    """The notifications due now (quiet hours over, retries due), at every tick."""
    from puhui.services.notifications import dispatch

    return dispatch(platform)


def run_line_refresh(platform: Platform, day: date) -> dict[str, Any]:
    """The monitoring data taken in from the sources' change feeds (and asked of the sources
    without one) and the re-evaluation of the lines it concerns
    (`services.line_refresh.refresh_cycle`), on the platform's line monitor; a platform
    without one (credit lines not installed) has nothing to watch."""
    from puhui.services.line_refresh import refresh_cycle

    if platform.line_monitor is None:
        return {"business_date": day.isoformat(), "skipped": True,
                "reason": "no credit lines to watch on this platform"}
    return refresh_cycle(platform, platform.line_monitor, day)


def run_collections(platform: Platform, day: date) -> dict[str, Any]:
    """Today's collections review, as `POST /v1/collections/run` runs it."""
    from puhui.services import collections, notifications

    with platform.unit() as session:
        return collections.run_daily(
            platform, session, SYSTEM, day,
            remind=collections.notifying_reminder(platform, notifications.notify))


def run_warnings(platform: Platform, day: date) -> dict[str, Any]:
    """Today's early-warning assessment and its actions (`services.warnings.run_warnings`)."""
    from puhui.services import warnings

    return warnings.run_warnings(platform, day)


def run_provision(platform: Platform, day: date) -> dict[str, Any]:
    """The provision of the last month ended before `day`, once (`services.portfolio`)."""
    from puhui.services import portfolio

    return portfolio.run_provision(platform, day)


JobFunction = Callable[[Platform, date], dict[str, Any]]
JOBS: dict[str, JobFunction] = {CLOSE: run_close, AUTO_DEBIT: run_auto_debit,
                                REMINDERS: run_reminders, LINE_REFRESH: run_line_refresh,
                                COLLECTIONS: run_collections, WARNINGS: run_warnings,
                                PROVISION: run_provision}


class JobIncomplete(Exception):
    """A job that ran to its end but left work undone: recorded failed, with its summary."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


def runner_id() -> str:
    """This process's name in `job_runs.runner`: host, process id and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class Scheduler:
    """Runs the due jobs on `platform` at each tick (see the module's doc)."""

    platform: Platform
    schedule: Schedule
    runner: str = field(default_factory=runner_id)
    jobs: Mapping[str, JobFunction] = field(default_factory=lambda: dict(JOBS))
    #: Work done at every tick after the jobs (the notification outbox); a failure is logged.
    every_tick: Sequence[Callable[[Platform], Any]] = (send_due_notifications,)

    def due(self) -> list[Due]:
        """The jobs due now, from the runs recorded."""
        now = self.platform.clock.now()
        schedule = self.schedule
        if self.platform.line_monitor is None:  # no credit lines to watch: no line refresh
            schedule = replace(schedule, jobs=tuple(j for j in schedule.jobs
                                                    if j.name != LINE_REFRESH))
        with self.platform.read() as session:
            repo = JobRunRepository(session)
            runs = {(job, day): repo.attempts(job, day) for job, day in targets(schedule, now)}
        return due_jobs(schedule, now, runs)

    def tick(self) -> list[JobRun]:
        """Claim and run every job due now, one after another; the attempts this runner ran
        (as recorded when they ended).  A job claimed by another runner is left to it."""
        done = []
        for item in self.due():
            run = self.run_one(item.job, item.business_date)
            if run is not None:
                done.append(run)
        for work in self.every_tick:
            try:
                work(self.platform)
            except Exception:  # noqa: BLE001 - the outbox is tried again at the next tick
                log.exception("scheduler tick: %s failed", getattr(work, "__name__", work))
        return done

    def run_one(self, job: str, day: date) -> JobRun | None:
        """Claim `job` for `day` and run it; None if it could not be claimed."""
        with self.platform.unit() as session:
            run = JobRunRepository(session).claim(job, day, self.runner,
                                                  self.platform.clock.now(), self.schedule.lease)
        if run is None:
            return None
        log.info("job %s for %s: attempt %s started by %s", job, day, run.attempt, self.runner)
        summary: dict[str, Any] | None = None
        error: str | None = None
        try:
            summary = self.jobs[job.split(SLOT, 1)[0]](self.platform, day)
        except JobIncomplete as exc:
            summary, error = exc.summary, str(exc)
        except BaseException as exc:  # noqa: BLE001 - recorded, and re-raised if not an Exception
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip() \
                or type(exc).__name__
            self._finish(run, summary, error)
            if not isinstance(exc, Exception):
                raise
            log.error("job %s for %s failed: %s", job, day, error)
            return self._read(run)
        self._finish(run, summary, error)
        return self._read(run)

    def _finish(self, run: JobRun, summary: dict[str, Any] | None, error: str | None) -> None:
        with self.platform.unit() as session:
            kept = JobRunRepository(session).finish(run.id, self.platform.clock.now(),
                                                    succeeded=error is None, summary=summary,
                                                    error=error)
        if not kept:
            log.warning("job %s for %s: attempt %s ended after its lease was taken over; its "
                        "result was not recorded", run.job, run.business_date, run.attempt)

    def _read(self, run: JobRun) -> JobRun:
        with self.platform.read() as session:
            return next(r for r in JobRunRepository(session).attempts(run.job, run.business_date)
                        if r.id == run.id)

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set; a tick that fails (the database unreachable) is logged
        and the next tick tries again.  A job in progress is finished before stopping."""
        log.info("scheduler %s: %s", self.runner, self.schedule.describe())
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the loop outlives a failed tick
                log.exception("scheduler tick failed; trying again at the next tick")
            stop.wait(self.schedule.tick.total_seconds())


def start_background(platform: Platform, schedule: Schedule) -> Callable[[], None]:
    """Run the scheduler in a daemon thread of this process; returns the function that stops
    it (waiting for a job in progress to end)."""
    stop = threading.Event()
    scheduler = Scheduler(platform, schedule)
    thread = threading.Thread(target=scheduler.run, args=(stop,), name="puhui-scheduler",
                              daemon=True)
    thread.start()

    def stopper() -> None:
        stop.set()
        thread.join()
    return stopper


def recent_runs(platform: Platform, limit: int = 50, job: str | None = None) -> list[JobRun]:
    """The latest recorded attempts, newest first."""
    with platform.read() as session:
        return JobRunRepository(session).recent(limit, job)


def list_job_runs(session: Session, actor: Principal, job: str | None = None,
                  limit: int = 50) -> list[dict[str, Any]]:
    """The latest recorded attempts (of `job`, or of every job), newest first, for an operator."""
    actor.require(Perm.OPERATE)
    return [run.to_dict() for run in JobRunRepository(session).recent(limit, job)]
