"""`puhui scheduler`: run the platform's daily jobs in the foreground, list their runs.

Registered on the main app (`puhui.cli`) with `add_typer`; `scheduler_beside` is what
`puhui serve --scheduler` (or PUHUI_SCHEDULER=on) runs beside the API.
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.table import Table

from puhui.cli.common import DECIDER_HELP, RISK
from puhui.errors import PuhuiError

scheduler_app = typer.Typer(
    help="The scheduled jobs (close, provision, auto-debit, warnings, collections, reminders, "
         "line refresh) at their configured times; without a command, run them in the "
         "foreground until Ctrl-C.", invoke_without_command=True)
console = Console()


def _schedule():
    from puhui.services.reminders import check_settings
    from puhui.services.scheduler import Schedule

    try:
        schedule = Schedule.from_env()
        check_settings()  # the notification settings the jobs and every tick use
        return schedule
    except PuhuiError as exc:
        console.print(f"[red]scheduler not started: {exc}[/red]")
        raise typer.Exit(2)


def _existing(db: Optional[str]) -> str:
    from puhui.services.database import require_existing

    try:
        return require_existing(db)
    except PuhuiError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2)


@scheduler_app.callback()
def scheduler(ctx: typer.Context,
              db: Optional[str] = typer.Option(None, help="database URL"),
              decider: str = typer.Option("risk", help=DECIDER_HELP),
              models: Path = typer.Option(RISK["models"], help="model registry directory"),
              policies: Path = typer.Option(RISK["policies"], help="policy registry directory"),
              once: bool = typer.Option(False, "--once", help="run the jobs due now, then exit "
                                                               "(for cron or a check); exit 1 "
                                                               "if one failed")) -> None:
    """Run the daily jobs at the times PUHUI_SCHEDULE_* configure (see docs/scheduler.md).
    Ctrl-C (or SIGTERM) stops after the job in progress; a second Ctrl-C interrupts it (the
    attempt is recorded failed)."""
    if ctx.invoked_subcommand is not None:
        return
    from puhui.cli.common import _platform, _risk_options
    from puhui.services.scheduler import Scheduler

    schedule = _schedule()
    platform = _platform(_existing(db), _risk_options(decider, models, policies))
    try:
        runner = Scheduler(platform, schedule)
        if once:
            ran = runner.tick()
            for run in ran:
                console.print(f"{run.job} {run.business_date}: {run.status}"
                              + (f" ({run.error})" if run.error else ""))
            if any(run.status != "succeeded" for run in ran):
                raise typer.Exit(1)
            return
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        console.print(f"scheduler {runner.runner}: {schedule.describe()}; Ctrl-C stops")
        stop = threading.Event()

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            console.print("stopping after the job in progress (Ctrl-C again interrupts it)")
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            runner.run(stop)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]")
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    finally:
        platform.close()


@scheduler_app.command("runs")
def runs(db: Optional[str] = typer.Option(None, help="database URL"),
         job: Optional[str] = typer.Option(
             None, help="only this job (close, provision, auto_debit, warnings, collections, "
                        "reminders, line_refresh@HHMM)"),
         limit: int = typer.Option(20, min=1, max=1000, help="how many, newest first")) -> None:
    """The recorded runs of the daily jobs, newest first."""
    from puhui.services.platform import Platform
    from puhui.services.scheduler import recent_runs

    platform = Platform.open(_existing(db), run_migrations=False)
    try:
        found = recent_runs(platform, limit, job)
    finally:
        platform.close()
    if not found:
        console.print("no job runs recorded")
        return
    wide = console.width >= 140  # the runner and the duration where there is room
    table = Table(title="Job runs")
    for column in ("job", "date", "#", "status", "started (UTC)") + (("took",) if wide else ()):
        table.add_column(column, no_wrap=True)
    if wide:
        table.add_column("runner", no_wrap=True)
    table.add_column("summary / error", overflow="fold", min_width=16)
    for run in found:
        took = "" if run.finished_at is None else \
            f"{(run.finished_at - run.started_at).total_seconds():.1f} s"
        detail = run.error or ", ".join(f"{k}={v}" for k, v in (run.summary or {}).items()
                                        if k not in ("business_date", "run_date"))
        colour = {"succeeded": "green", "failed": "red"}.get(run.status, "yellow")
        table.add_row(run.job, run.business_date.isoformat(), str(run.attempt),
                      f"[{colour}]{run.status}[/{colour}]",
                      run.started_at.strftime("%m-%d %H:%M:%S"),
                      *((took, run.runner) if wide else ()), detail)
    console.print(table)


@contextmanager
def scheduler_beside(db: Optional[str], enabled: Optional[bool],
                     risk: dict | None = None) -> Iterator[None]:
    """For `puhui serve`: run the scheduler in a thread of the serving process (with several
    workers, the supervisor: one scheduler per `serve`, not one per worker) while the block
    runs, if `enabled` (None: PUHUI_SCHEDULER decides), on a platform opened as the API's is
    (`risk`: the decider, models and policies; its data sources, change feeds and line
    monitor, which the line refresh needs).  Bad settings exit 2 before the API starts;
    leaving the block waits for a job in progress to end."""
    from puhui.cli.common import _platform
    from puhui.services.scheduler import scheduler_enabled, start_background

    try:
        on = scheduler_enabled() if enabled is None else enabled
    except PuhuiError as exc:
        console.print(f"[red]scheduler not started: {exc}[/red]")
        raise typer.Exit(2)
    if not on:
        yield
        return
    schedule = _schedule()
    platform = _platform(db, risk, run_migrations=False)
    console.print(f"scheduler on: {schedule.describe()}")
    stop = start_background(platform, schedule)
    try:
        yield
    finally:
        stop()
        platform.close()
