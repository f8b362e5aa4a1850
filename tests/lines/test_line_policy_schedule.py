"""The scheduled pull of monitoring data: a 15-minute slot is one target, run once, configurable
through the scheduler's settings; a platform without credit lines has nothing to watch."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from puhui.parties.consent import DataScope
from puhui.risk.data.connectors import ConnectorSet
from puhui.services.clock import BUSINESS_ZONE
from puhui.services.scheduler import (LINE_REFRESH, Due, JobSpec, Schedule, Scheduler,
                                      SchedulerSettingsError, due_jobs, recent_runs)
from puhui.store.job_runs import SUCCEEDED, JobRun

from line_policy_samples import TODAY
from line_service_samples import FakeLine, LineRecorder, applicant, electricity, monitor

EVERY_15 = Schedule((JobSpec(LINE_REFRESH, time(0), timedelta(minutes=15)),))


def local(hh: int, mm: int, day: date = TODAY) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=BUSINESS_ZONE).astimezone(
        timezone.utc)


def test_each_quarter_hour_is_a_target_of_its_own() -> None:
    assert due_jobs(EVERY_15, local(10, 14), {}) == [Due("line_refresh@1000", TODAY)]
    assert due_jobs(EVERY_15, local(10, 15), {}) == [Due("line_refresh@1015", TODAY)]
    ran = {("line_refresh@1015", TODAY): [JobRun(1, "line_refresh@1015", TODAY, 1, SUCCEEDED,
                                                 "r", local(10, 15), local(10, 16), None,
                                                 None)]}
    assert due_jobs(EVERY_15, local(10, 29), ran) == []  # once per slot
    assert due_jobs(EVERY_15, local(10, 30), ran) == [Due("line_refresh@1030", TODAY)]
    assert due_jobs(EVERY_15, local(0, 3, TODAY + timedelta(days=1)), ran) == [
        Due("line_refresh@0000", TODAY + timedelta(days=1))]


def test_the_interval_is_a_scheduler_setting() -> None:
    assert Schedule.from_env({}).jobs[-1] == JobSpec(LINE_REFRESH, time(0),
                                                     timedelta(minutes=15))
    hourly = Schedule.from_env({"PUHUI_SCHEDULE_LINE_REFRESH": "60"})
    assert hourly.jobs[-1].every == timedelta(hours=1)
    assert "line_refresh every 60 min" in hourly.describe()
    off = Schedule.from_env({"PUHUI_SCHEDULE_LINE_REFRESH": "off"})
    assert LINE_REFRESH not in [j.name for j in off.jobs]


@pytest.mark.parametrize("value, says", [("7", "divide a day"), ("1441", "from 1 to 1440"),
                                         ("quarter", "whole number of minutes")])
def test_a_bad_interval_is_refused_naming_the_setting(value: str, says: str) -> None:
    with pytest.raises(SchedulerSettingsError, match="PUHUI_SCHEDULE_LINE_REFRESH") as info:
        Schedule.from_env({"PUHUI_SCHEDULE_LINE_REFRESH": value})
    assert says in str(info.value)


def test_the_scheduler_pulls_and_reevaluates_once_per_slot(monitored) -> None:
    class Fixed:
        scope = DataScope.UTILITY

        def fetch(self, business_id: str, as_of: date) -> dict:
            return electricity([1000, 1010, 1420])

    applicant_id = applicant(monitored)
    lines = LineRecorder()
    lines.add(FakeLine("LN1", applicant_id))
    monitored.connectors = ConnectorSet([Fixed()])
    monitored.line_monitor = monitor(lines)
    monitored.clock.set(local(10, 20))
    scheduler = Scheduler(monitored, EVERY_15)
    [run] = scheduler.tick()
    assert run.job == "line_refresh@1015" and run.status == SUCCEEDED, run.error
    assert run.summary["lines_changed"] == 1 and run.summary["payloads_stored"] == 1
    assert scheduler.tick() == []  # the slot is done
    monitored.clock.set(local(10, 31))
    [run] = scheduler.tick()  # the next slot: the same data, nothing new
    assert run.job == "line_refresh@1030" and run.summary["payloads_stored"] == 0
    assert len(lines.calls) == 1
    assert [r.job for r in recent_runs(monitored)] == ["line_refresh@1030", "line_refresh@1015"]


def test_a_platform_without_lines_runs_no_refresh(monitored) -> None:
    monitored.clock.set(local(10, 20))
    assert Scheduler(monitored, EVERY_15).tick() == []
