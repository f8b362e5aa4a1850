"""`puhui scheduler`: one tick with --once, the recorded runs as a table, bad settings refused;
`puhui serve` running the scheduler beside the API when asked."""

from __future__ import annotations

import time
from datetime import date, timedelta

from typer.testing import CliRunner

from puhui.cli import app
from puhui.services.clock import SystemClock, business_date
from puhui.services.platform import Platform
from puhui.services.scheduler import CLOSE, recent_runs

runner = CliRunner()


def _db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    Platform.open(url).close()  # the book the commands act on (they never create one)
    return url


def test_once_runs_the_due_close_and_runs_lists_it(tmp_path, monkeypatch) -> None:
    from rich.console import Console

    import puhui.cli.scheduler as cli_scheduler

    monkeypatch.setattr(cli_scheduler, "console", Console(width=250))
    url = _db(tmp_path)
    yesterday = business_date(SystemClock()) - timedelta(days=1)
    # a close time of 00:00 is always reached: yesterday is the day that ended
    env = {"PUHUI_SCHEDULE_CLOSE": "00:00", "PUHUI_SCHEDULE_AUTO_DEBIT": "off",
           "PUHUI_SCHEDULE_REMINDERS": "off"}
    result = runner.invoke(app, ["scheduler", "--once", "--db", url], env=env)
    assert result.exit_code == 0, result.output
    assert f"close {yesterday}: succeeded" in result.output
    again = runner.invoke(app, ["scheduler", "--once", "--db", url], env=env)
    assert again.exit_code == 0 and "succeeded" not in again.output  # not repeated
    listed = runner.invoke(app, ["scheduler", "runs", "--db", url])
    assert listed.exit_code == 0, listed.output
    assert "Job runs" in listed.output and "close" in listed.output
    assert yesterday.isoformat() in listed.output and "succeeded" in listed.output
    assert "days_closed" in listed.output
    none = runner.invoke(app, ["scheduler", "runs", "--db", url, "--job", "auto_debit"])
    assert none.exit_code == 0 and "no job runs recorded" in none.output


def test_once_exits_1_when_a_job_fails_and_records_why(tmp_path) -> None:
    url = _db(tmp_path)
    env = {"PUHUI_SCHEDULE_CLOSE": "00:00", "PUHUI_SCHEDULE_AUTO_DEBIT": "off",
           "PUHUI_SCHEDULE_REMINDERS": "off",
           "PUHUI_UNCONSENTED_RETENTION_DAYS": "forever"}  # the close refuses to start
    result = runner.invoke(app, ["scheduler", "--once", "--db", url], env=env)
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert ": failed (puhui.errors.InvalidBusinessDate: " in said
    assert "PUHUI_UNCONSENTED_RETENTION_DAYS must be a whole number" in said


def test_bad_settings_and_a_missing_database_exit_2_saying_why(tmp_path) -> None:
    url = _db(tmp_path)
    result = runner.invoke(app, ["scheduler", "--once", "--db", url],
                           env={"PUHUI_SCHEDULE_CLOSE": "25:00"})
    assert result.exit_code == 2
    assert "PUHUI_SCHEDULE_CLOSE must be a time of day HH:MM" in " ".join(result.output.split())
    missing = f"sqlite:///{tmp_path / 'nothing.sqlite'}"
    result = runner.invoke(app, ["scheduler", "runs", "--db", missing])
    assert result.exit_code == 2


def test_serve_runs_the_scheduler_beside_the_api_when_asked(tmp_path, monkeypatch) -> None:
    import uvicorn

    url = _db(tmp_path)
    seen: list[date] = []

    def serving(*_args, **_kwargs) -> None:
        """Stands for the server: returns once the scheduler has recorded the close."""
        platform = Platform.open(url, run_migrations=False)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not seen:
                seen.extend(r.business_date for r in recent_runs(platform)
                            if r.job == CLOSE and r.status == "succeeded")
                time.sleep(0.2)
        finally:
            platform.close()

    monkeypatch.setattr(uvicorn, "run", serving)
    env = {"PUHUI_SCHEDULER": "on", "PUHUI_SCHEDULE_CLOSE": "00:00",
           "PUHUI_SCHEDULE_AUTO_DEBIT": "off",
           "PUHUI_SCHEDULE_REMINDERS": "off", "PUHUI_SCHEDULE_TICK_SECONDS": "1"}
    result = runner.invoke(app, ["serve", "--decider", "default", "--db", url], env=env)
    assert result.exit_code == 0, result.output
    assert "scheduler on: close at 00:00" in result.output
    assert seen == [business_date(SystemClock()) - timedelta(days=1)]

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    refused = runner.invoke(app, ["serve", "--decider", "default", "--db", url],
                            env={"PUHUI_SCHEDULER": "maybe"})
    assert refused.exit_code == 2 and "PUHUI_SCHEDULER must be 'on' or 'off'" in refused.output
    off = runner.invoke(app, ["serve", "--decider", "default", "--db", url, "--no-scheduler"],
                        env={"PUHUI_SCHEDULE_CLOSE": "25:00"})  # not read when off
    assert off.exit_code == 1 and "scheduler on" not in off.output  # the stand-in server raised


def test_ctrl_c_stops_the_foreground_scheduler_cleanly(tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys

    url = _db(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PUHUI_SCHEDULE_TICK_SECONDS": "1",
           "PUHUI_SCHEDULE_CLOSE": "00:00", "PUHUI_SCHEDULE_AUTO_DEBIT": "off",
           "PUHUI_SCHEDULE_REMINDERS": "off", "PUHUI_SCHEDULE_COLLECTIONS": "off",
           "PUHUI_SCHEDULE_WARNINGS": "off", "PUHUI_SCHEDULE_PROVISION": "off",
           "PUHUI_SCHEDULE_LINE_REFRESH": "off", "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from puhui.cli import app; app()", "scheduler", "--db", url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "job close for" in line and "started" in line:
                break
        assert any("Ctrl-C stops" in line for line in seen), seen
        time.sleep(1)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, "".join(seen) + rest
    assert "stopping after the job in progress" in rest and "Traceback" not in rest
    platform = Platform.open(url, run_migrations=False)
    try:
        assert [r.status for r in recent_runs(platform)] == ["succeeded"]
    finally:
        platform.close()
