"""The daily jobs' scheduler: which jobs are due when, the lease across runners, failures and
retries, the settings; driven by a manual clock, nothing sleeps."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator

import pytest

from puhui.services.clock import BUSINESS_ZONE, ManualClock
from puhui.services.platform import Platform
from puhui.services.scheduler import (
    AUTO_DEBIT,
    CLOSE,
    COLLECTIONS,
    PROVISION,
    REMINDERS,
    WARNINGS,
    Due,
    JobSpec,
    Schedule,
    Scheduler,
    SchedulerSettingsError,
    due_jobs,
    retry_delay,
    run_auto_debit,
    run_close,
    run_collections,
    scheduler_enabled,
)
from puhui.store.db import make_engine, session_factory
from puhui.store.job_runs import FAILED, LEASE_EXPIRED, RUNNING, SUCCEEDED, JobRun, JobRunRepository

SCHEDULE = Schedule((JobSpec(CLOSE, time(0, 30)), JobSpec(AUTO_DEBIT, time(6, 0))),
                    lease=timedelta(minutes=120))


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    """A moment given in the business time zone, as UTC (what clocks return)."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=BUSINESS_ZONE).astimezone(timezone.utc)


def recorded(job: str, day: date, status: str, started: datetime, attempt: int = 1,
             finished: datetime | None = None) -> JobRun:
    return JobRun(attempt, job, day, attempt, status, "r", started,
                  finished if finished is not None or status == RUNNING else started,
                  None, None)


def done(*pairs: tuple[str, date]) -> dict:
    return {p: [recorded(*p, SUCCEEDED, local(2026, 1, 1))] for p in pairs}


# -- which jobs are due ---------------------------------------------------------------------------

def test_the_close_is_due_from_its_time_for_the_day_that_ended() -> None:
    runs = done((CLOSE, date(2026, 3, 6)))
    assert due_jobs(SCHEDULE, local(2026, 3, 8, 0, 29, 59), runs) == []
    assert due_jobs(SCHEDULE, local(2026, 3, 8, 0, 30), runs) == [Due(CLOSE, date(2026, 3, 7))]
    assert due_jobs(SCHEDULE, local(2026, 3, 8, 5, 59), runs) == [Due(CLOSE, date(2026, 3, 7))]


def test_the_business_time_zone_decides_not_utc() -> None:
    runs = done((CLOSE, date(2026, 3, 6)))
    # 16:30 UTC on 7 March is 00:30 on 8 March in Shanghai: 7 March has ended there
    at = datetime(2026, 3, 7, 16, 30, tzinfo=timezone.utc)
    assert due_jobs(SCHEDULE, at, runs) == [Due(CLOSE, date(2026, 3, 7))]
    assert due_jobs(SCHEDULE, at - timedelta(seconds=1), runs) == []


def test_the_auto_debit_is_due_from_its_time_for_today_only() -> None:
    runs = done((CLOSE, date(2026, 3, 7)))
    assert due_jobs(SCHEDULE, local(2026, 3, 8, 5, 59, 59), runs) == []
    today = [Due(AUTO_DEBIT, date(2026, 3, 8))]
    assert due_jobs(SCHEDULE, local(2026, 3, 8, 6, 0), runs) == today
    assert due_jobs(SCHEDULE, local(2026, 3, 8, 23, 59), runs) == today
    # after midnight yesterday's collection is not run late: today's pulls the arrears
    runs = done((CLOSE, date(2026, 3, 7)), (CLOSE, date(2026, 3, 8)))
    assert due_jobs(SCHEDULE, local(2026, 3, 9, 3, 0), runs) == []


def test_days_missed_while_down_make_one_close_of_the_latest_ended_day() -> None:
    runs = done((CLOSE, date(2026, 3, 3)), (AUTO_DEBIT, date(2026, 3, 3)))
    assert due_jobs(SCHEDULE, local(2026, 3, 9, 7, 0), runs) == [
        Due(CLOSE, date(2026, 3, 8)), Due(AUTO_DEBIT, date(2026, 3, 9))]


def test_a_succeeded_run_is_not_repeated_and_a_held_lease_is_respected() -> None:
    now = local(2026, 3, 8, 1, 0)
    day = date(2026, 3, 7)
    assert due_jobs(SCHEDULE, now, done((CLOSE, day))) == []
    running = {(CLOSE, day): [recorded(CLOSE, day, RUNNING, now - timedelta(minutes=119))]}
    assert due_jobs(SCHEDULE, now, running) == []
    stale = {(CLOSE, day): [recorded(CLOSE, day, RUNNING, now - timedelta(minutes=120))]}
    assert due_jobs(SCHEDULE, now, stale) == [Due(CLOSE, day, takes_over=1)]


def test_a_failed_run_is_retried_after_a_delay_that_doubles() -> None:
    day, failed_at = date(2026, 3, 7), local(2026, 3, 8, 0, 31)
    once = {(CLOSE, day): [recorded(CLOSE, day, FAILED, failed_at, finished=failed_at)]}
    assert due_jobs(SCHEDULE, failed_at + timedelta(seconds=59), once) == []
    assert due_jobs(SCHEDULE, failed_at + timedelta(minutes=1), once) == [Due(CLOSE, day)]
    twice = {(CLOSE, day): [recorded(CLOSE, day, FAILED, failed_at, 1, failed_at),
                            recorded(CLOSE, day, FAILED, failed_at, 2, failed_at)]}
    assert due_jobs(SCHEDULE, failed_at + timedelta(minutes=1), twice) == []
    assert due_jobs(SCHEDULE, failed_at + timedelta(minutes=2), twice) == [Due(CLOSE, day)]
    assert [retry_delay(n) for n in (1, 2, 3, 7, 30)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 60, 60)]


def test_a_job_switched_off_is_never_due() -> None:
    only_close = Schedule.from_env({"PUHUI_SCHEDULE_AUTO_DEBIT": "off",
                                    "PUHUI_SCHEDULE_REMINDERS": "off", "PUHUI_SCHEDULE_COLLECTIONS": "off",
                                    "PUHUI_SCHEDULE_WARNINGS": "off", "PUHUI_SCHEDULE_PROVISION": "off",
                                    "PUHUI_SCHEDULE_LINE_REFRESH": "off"})
    assert [j.name for j in only_close.jobs] == [CLOSE]
    assert due_jobs(only_close, local(2026, 3, 8, 7), done((CLOSE, date(2026, 3, 7)))) == []


# -- settings -------------------------------------------------------------------------------------

def test_default_settings() -> None:
    schedule = Schedule.from_env({})
    assert schedule.jobs == (JobSpec(CLOSE, time(0, 30)), JobSpec(PROVISION, time(1, 0)),
                             JobSpec(AUTO_DEBIT, time(6, 0)), JobSpec(WARNINGS, time(6, 30)), JobSpec(COLLECTIONS, time(7, 0)),
                             JobSpec(REMINDERS, time(9, 0)),
                             JobSpec("line_refresh", time(0), timedelta(minutes=15)))
    assert schedule.lease == timedelta(hours=2) and schedule.tick == timedelta(seconds=30)
    assert not scheduler_enabled({})
    assert scheduler_enabled({"PUHUI_SCHEDULER": "on"})
    assert not scheduler_enabled({"PUHUI_SCHEDULER": "off"})
    custom = Schedule.from_env({"PUHUI_SCHEDULE_CLOSE": "1:05",
                                "PUHUI_SCHEDULE_AUTO_DEBIT": "07:45",
                                "PUHUI_SCHEDULE_REMINDERS": "10:15",
                                "PUHUI_SCHEDULE_COLLECTIONS": "07:50",
                                "PUHUI_SCHEDULE_WARNINGS": "off", "PUHUI_SCHEDULE_PROVISION": "02:00",
                                "PUHUI_SCHEDULE_LEASE_MINUTES": "30",
                                "PUHUI_SCHEDULE_TICK_SECONDS": "5",
                                "PUHUI_SCHEDULE_LINE_REFRESH": "off"})
    assert custom.jobs == (JobSpec(CLOSE, time(1, 5)), JobSpec(PROVISION, time(2, 0)),
                           JobSpec(AUTO_DEBIT, time(7, 45)), JobSpec(COLLECTIONS, time(7, 50)),
                           JobSpec(REMINDERS, time(10, 15)))
    # with no auto-debit, the review and the warnings follow the close
    assert Schedule.from_env({"PUHUI_SCHEDULE_AUTO_DEBIT": "off",
                              "PUHUI_SCHEDULE_COLLECTIONS": "00:45",
                              "PUHUI_SCHEDULE_WARNINGS": "00:40",
                              "PUHUI_SCHEDULE_LINE_REFRESH": "off"}).jobs[2:4] == \
        (JobSpec(WARNINGS, time(0, 40)), JobSpec(COLLECTIONS, time(0, 45)))
    assert custom.lease == timedelta(minutes=30) and custom.tick == timedelta(seconds=5)


@pytest.mark.parametrize("env, says", [
    ({"PUHUI_SCHEDULE_CLOSE": "25:00"}, "PUHUI_SCHEDULE_CLOSE must be a time of day HH:MM"),
    ({"PUHUI_SCHEDULE_CLOSE": "6am"}, "PUHUI_SCHEDULE_CLOSE must be a time of day HH:MM"),
    ({"PUHUI_SCHEDULE_AUTO_DEBIT": "06:5"}, "PUHUI_SCHEDULE_AUTO_DEBIT must be a time of day"),
    ({"PUHUI_SCHEDULE_CLOSE": "23:30"}, "must be before 12:00"),
    ({"PUHUI_SCHEDULE_AUTO_DEBIT": "00:15"}, "must be after PUHUI_SCHEDULE_CLOSE"),
    ({"PUHUI_SCHEDULE_REMINDERS": "06:00"}, "must be after PUHUI_SCHEDULE_AUTO_DEBIT"),
    ({"PUHUI_SCHEDULE_REMINDERS": "9am"}, "PUHUI_SCHEDULE_REMINDERS must be a time of day"),
    ({"PUHUI_SCHEDULE_COLLECTIONS": "06:00"}, "must be after PUHUI_SCHEDULE_AUTO_DEBIT"),
    ({"PUHUI_SCHEDULE_AUTO_DEBIT": "off", "PUHUI_SCHEDULE_COLLECTIONS": "00:30"},
     "must be after PUHUI_SCHEDULE_CLOSE"),
    ({"PUHUI_SCHEDULE_WARNINGS": "06:00"}, "PUHUI_SCHEDULE_WARNINGS \\(06:00\\) must be after "
                                           "PUHUI_SCHEDULE_AUTO_DEBIT"),
    ({"PUHUI_SCHEDULE_PROVISION": "00:30"}, "PUHUI_SCHEDULE_PROVISION \\(00:30\\) must be after "
                                            "PUHUI_SCHEDULE_CLOSE"),
    ({"PUHUI_SCHEDULE_PROVISION": "1am"}, "PUHUI_SCHEDULE_PROVISION must be a time of day"),
    ({"PUHUI_SCHEDULE_LEASE_MINUTES": "1"}, "PUHUI_SCHEDULE_LEASE_MINUTES must be a whole number"),
    ({"PUHUI_SCHEDULE_TICK_SECONDS": "0.5"}, "PUHUI_SCHEDULE_TICK_SECONDS must be a whole number"),
])
def test_bad_settings_are_refused_naming_the_setting(env: dict, says: str) -> None:
    with pytest.raises(SchedulerSettingsError, match=says):
        Schedule.from_env(env)


def test_a_bad_on_off_setting_is_refused() -> None:
    with pytest.raises(SchedulerSettingsError, match="PUHUI_SCHEDULER must be 'on' or 'off'"):
        scheduler_enabled({"PUHUI_SCHEDULER": "maybe"})


# -- the lease, on SQLite and PostgreSQL ----------------------------------------------------------

@pytest.fixture
def platform(db_url: str) -> Iterator[Platform]:
    platform = Platform.open(db_url, clock=ManualClock(local(2026, 3, 8, 0, 30)))
    try:
        yield platform
    finally:
        platform.close()


def _claims(url: str, n: int, job: str, day: date, now: datetime,
            lease: timedelta) -> list[JobRun | None]:
    """`n` runners, each on its own engine, claiming (job, day) at once."""
    engines = [make_engine(url) for _ in range(n)]
    barrier = threading.Barrier(n)
    results: list[JobRun | None] = [None] * n
    errors: list[BaseException] = []

    def claim(i: int) -> None:
        try:
            with session_factory(engines[i]).begin() as session:
                barrier.wait()
                results[i] = JobRunRepository(session).claim(job, day, f"runner-{i}", now, lease)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for engine in engines:
        engine.dispose()
    assert errors == []
    return results


def test_racing_runners_claim_one_attempt_and_a_stale_one_is_taken_over_once(
        platform: Platform, db_url: str) -> None:
    day, now, lease = date(2026, 3, 7), local(2026, 3, 8, 0, 30), timedelta(minutes=120)
    first = [r for r in _claims(db_url, 6, CLOSE, day, now, lease) if r is not None]
    assert len(first) == 1 and first[0].attempt == 1
    # while it runs, nobody else gets it
    assert [r for r in _claims(db_url, 4, CLOSE, day, now + timedelta(minutes=119), lease)
            if r is not None] == []
    # its runner crashed: after the lease one runner takes it over
    later = now + timedelta(minutes=120)
    second = [r for r in _claims(db_url, 6, CLOSE, day, later, lease) if r is not None]
    assert len(second) == 1 and second[0].attempt == 2
    with platform.unit() as session:
        repo = JobRunRepository(session)
        # the crashed runner coming back cannot record a result over the new attempt
        assert not repo.finish(first[0].id, later, succeeded=True)
        assert repo.finish(second[0].id, later, succeeded=True, summary={"loans": 0})
        attempts = repo.attempts(CLOSE, day)
    assert [(a.attempt, a.status) for a in attempts] == [(1, FAILED), (2, SUCCEEDED)]
    assert attempts[0].error.startswith(LEASE_EXPIRED) and second[0].runner in attempts[0].error
    assert attempts[1].summary == {"loans": 0} and attempts[1].finished_at == later
    assert attempts[1].started_at.tzinfo is not None
    # a succeeded run is never claimed again
    assert [r for r in _claims(db_url, 3, CLOSE, day, later + timedelta(days=1), lease)
            if r is not None] == []


def test_jobs_run_one_at_a_time_whatever_their_date(platform: Platform) -> None:
    now, lease = local(2026, 3, 8, 6, 0), timedelta(minutes=120)
    with platform.unit() as session:
        late = JobRunRepository(session).claim(CLOSE, date(2026, 3, 6), "a", now, lease)
    assert late is not None
    with platform.unit() as session:
        repo = JobRunRepository(session)
        assert repo.claim(CLOSE, date(2026, 3, 7), "b", now, lease) is None
        assert repo.claim(AUTO_DEBIT, date(2026, 3, 8), "b", now, lease) is None
    after = now + lease
    with platform.unit() as session:
        repo = JobRunRepository(session)
        debit = repo.claim(AUTO_DEBIT, date(2026, 3, 8), "b", after, lease)
        assert debit is not None and debit.attempt == 1
        [crashed] = repo.attempts(CLOSE, date(2026, 3, 6))
    assert crashed.status == FAILED and crashed.error == f"{LEASE_EXPIRED} b"


def test_two_schedulers_ticking_together_run_the_close_once(platform: Platform) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[date] = []

    def slow_close(_p: Platform, day: date) -> dict:
        calls.append(day)
        started.set()
        assert release.wait(30)
        return {"closed": day.isoformat()}

    only_close = Schedule((JobSpec(CLOSE, time(0, 30)),))
    one = Scheduler(platform, only_close, "one", {CLOSE: slow_close})
    two = Scheduler(platform, only_close, "two", {CLOSE: slow_close})
    ran: list = []
    thread = threading.Thread(target=lambda: ran.extend(one.tick()))
    thread.start()
    assert started.wait(30)
    assert two.tick() == []  # the lease is held
    release.set()
    thread.join(30)
    assert calls == [date(2026, 3, 7)]
    assert [(r.runner, r.status, r.summary) for r in ran] == [
        ("one", SUCCEEDED, {"closed": "2026-03-07"})]
    assert two.tick() == [] and one.tick() == []  # succeeded: not repeated


def test_a_failing_job_is_recorded_and_retried_at_the_next_tick(platform: Platform) -> None:
    outcomes = [RuntimeError("gateway unreachable"), {"attempted": 0}]

    def flaky(_p: Platform, _day: date) -> dict:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    clock = platform.clock
    clock.set(local(2026, 3, 8, 6, 0))
    scheduler = Scheduler(platform, Schedule((JobSpec(AUTO_DEBIT, time(6)),)), "r",
                          {AUTO_DEBIT: flaky})
    [failed] = scheduler.tick()
    assert failed.status == FAILED and "RuntimeError: gateway unreachable" in failed.error
    assert failed.summary is None and failed.finished_at == clock.now()
    assert scheduler.tick() == []  # not before the retry delay
    clock.advance(timedelta(minutes=1))
    [retried] = scheduler.tick()
    assert (retried.attempt, retried.status, retried.summary) == (2, SUCCEEDED, {"attempted": 0})
    clock.advance(timedelta(hours=3))
    assert scheduler.tick() == []


def test_an_interrupted_job_is_recorded_failed_and_the_interrupt_goes_on(
        platform: Platform) -> None:
    def interrupted(_p: Platform, _day: date) -> dict:
        raise KeyboardInterrupt

    scheduler = Scheduler(platform, Schedule((JobSpec(CLOSE, time(0, 30)),)), "r",
                          {CLOSE: interrupted})
    with pytest.raises(KeyboardInterrupt):
        scheduler.tick()
    with platform.read() as session:
        [run] = JobRunRepository(session).attempts(CLOSE, date(2026, 3, 7))
    assert run.status == FAILED and run.error == "KeyboardInterrupt"


def test_the_loop_stops_when_told(platform: Platform) -> None:
    ticks: list[date] = []

    def close(_p: Platform, day: date) -> dict:
        ticks.append(day)
        stop.set()
        return {}

    stop = threading.Event()
    scheduler = Scheduler(platform, Schedule((JobSpec(CLOSE, time(0, 30)),),
                                             tick=timedelta(seconds=3600)), "r", {CLOSE: close})
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and ticks == [date(2026, 3, 7)]


# -- the real jobs --------------------------------------------------------------------------------

def test_the_close_job_closes_the_ended_day_and_skips_a_day_closed_past(
        platform: Platform) -> None:
    scheduler = Scheduler(platform, Schedule((JobSpec(CLOSE, time(0, 30)),)), "r")
    [run] = scheduler.tick()
    assert run.status == SUCCEEDED, run.error
    assert run.summary["business_date"] == "2026-03-07"
    assert run.summary["days_closed"] == ["2026-03-07"] and run.summary["failures"] == 0
    assert run_close(platform, date(2026, 3, 6))["skipped"] is True


def test_the_collections_job_reviews_the_book_for_today(platform: Platform) -> None:
    platform.clock.set(local(2026, 3, 8, 7, 0))
    summary = run_collections(platform, date(2026, 3, 8))
    assert summary["business_date"] == "2026-03-08" and summary["open_cases"] == 0


def test_the_auto_debit_job_runs_the_collection_for_today(platform: Platform) -> None:
    platform.clock.set(local(2026, 3, 8, 6, 0))
    summary = run_auto_debit(platform, date(2026, 3, 8))
    assert summary["run_date"] == "2026-03-08" and summary["attempted"] == 0
