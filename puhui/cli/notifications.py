"""`puhui reminders run` and `puhui notifications log|list|dispatch`: the reminder run by hand
and what the outbox and the delivery log hold (recipients masked)."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from puhui.cli.common import _date, _existing, _platform, console
from puhui.errors import PuhuiError

reminders_app = typer.Typer(help="Repayment reminders before a due date and after a miss "
                                 "(docs/notifications.md).", no_args_is_help=True)
notifications_app = typer.Typer(help="Notifications to borrowers: the outbox and the delivery "
                                     "log (docs/notifications.md).", no_args_is_help=True)


def _run(db: Optional[str], work):
    from puhui.notify.channels import NotificationSettingsError

    platform = _platform(_existing(db))
    try:
        return work(platform)
    except NotificationSettingsError as exc:
        console.print(f"[red]notification settings: {exc}[/red]")
        raise typer.Exit(2)
    except PuhuiError as exc:
        console.print(f"[red]refused: {exc}[/red]")
        raise typer.Exit(2)
    finally:
        platform.close()


@reminders_app.command("run")
def reminders_run(date: Optional[str] = typer.Option(
                      None, "--date", help="business date YYYY-MM-DD (default: today; not "
                                           "after today)"),
                  db: Optional[str] = typer.Option(None, help="database URL")) -> None:
    """Record the reminders due on the date, each schedule step once, and send what is due
    now (outside quiet hours).  Running it again records and sends nothing more."""
    from puhui.services.access import SYSTEM
    from puhui.services.reminders import run_for

    day = _date(date) if date else None
    summary = _run(db, lambda p: run_for(p, SYSTEM, day))
    console.print(json.dumps(summary, indent=2, ensure_ascii=False))


@notifications_app.command("dispatch")
def notifications_dispatch(db: Optional[str] = typer.Option(None, help="database URL")) -> None:
    """Send the notifications due now (the scheduler does this at every tick)."""
    from puhui.services.notifications import dispatch

    console.print(json.dumps(_run(db, dispatch), indent=2))


@notifications_app.command("log")
def notifications_log(limit: int = typer.Option(50, min=1, max=1000),
                      applicant: Optional[str] = typer.Option(None, help="an applicant id"),
                      notification: Optional[str] = typer.Option(None, help="a notification id"),
                      db: Optional[str] = typer.Option(None, help="database URL")) -> None:
    """The delivery log, newest last: every attempt, its outcome and error, recipient masked."""
    from puhui.services.access import SYSTEM
    from puhui.services.notifications import delivery_log

    rows = _run(db, lambda p: delivery_log(p, SYSTEM, limit, notification, applicant))
    if not rows:
        console.print("no deliveries recorded")
        return
    table = Table("delivery", "notification", "applicant", "kind", "try", "channel",
                  "recipient", "outcome", "channel message id / error", "at (UTC)",
                  title="Delivery log")
    for r in rows:
        table.add_row(r["delivery_id"], r["notification_id"], r["applicant_id"], r["kind"],
                      str(r["attempt"]), r["channel"], r["recipient"], r["outcome"],
                      r["error"] or r["channel_message_id"] or "", r["finished_at"][:19])
    console.print(table)


@notifications_app.command("list")
def notifications_list(limit: int = typer.Option(50, min=1, max=1000),
                       applicant: Optional[str] = typer.Option(None, help="an applicant id"),
                       status: Optional[str] = typer.Option(None, help="pending, sent, failed, "
                                                                       "capped ..."),
                       db: Optional[str] = typer.Option(None, help="database URL")) -> None:
    """The outbox: each notification per channel, its status and when it may go."""
    from puhui.services.access import SYSTEM
    from puhui.services.notifications import outbox

    rows = _run(db, lambda p: outbox(p, SYSTEM, limit, applicant, status))
    if not rows:
        console.print("no notifications recorded")
        return
    table = Table("notification", "applicant", "kind", "channel", "recipient", "status",
                  "tries", "not before (UTC)", "subject", title="Notifications")
    for r in rows:
        table.add_row(r["notification_id"], r["applicant_id"], r["kind"], r["channel"],
                      r["recipient"], r["status"], str(r["attempts"]), r["not_before"][:19],
                      r["subject"][:60])
    console.print(table)
