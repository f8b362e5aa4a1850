"""`puhui reminders run` and `puhui notifications dispatch|list|log` on a book: what they
print (recipients masked), and what they refuse."""

from __future__ import annotations

import random
from datetime import date, timedelta

from rich.console import Console
from typer.testing import CliRunner

from puhui.cli import app
from puhui.parties.synthetic import small_business
from puhui.services import applicants
from puhui.services.access import SYSTEM
from puhui.services.clock import SystemClock, business_date
from puhui.services.notifications import Notifier, notify
from puhui.services.platform import Platform

runner = CliRunner()
ENV = {"PUHUI_NOTIFY_CHANNELS": "log,email", "PUHUI_NOTIFY_QUIET_HOURS": "off"}


def _book_with_a_notice(tmp_path) -> tuple[str, str]:
    """A book with one applicant and one notice recorded for them: (url, mobile)."""
    url = f"sqlite:///{tmp_path / 'notify.sqlite'}"
    platform = Platform.open(url, notifications=Notifier.from_env(ENV))
    try:
        applicant = small_business(random.Random(5), date(2026, 1, 5))
        with platform.unit() as session:
            applicant_id = applicants.register_applicant(platform, session, SYSTEM,
                                                         applicant)["applicant_id"]
            notify(platform, session, applicant_id=applicant_id, kind="line.changed",
                   key="line:1", subject="额度上调 Line raised", body="+20%", context={})
    finally:
        platform.close()
    return url, applicant.owner.mobile


def test_dispatch_then_the_log_shows_each_attempt_masked(tmp_path, monkeypatch) -> None:
    import puhui.cli.notifications as cli

    monkeypatch.setattr(cli, "console", Console(width=300))
    url, mobile = _book_with_a_notice(tmp_path)
    listed = runner.invoke(app, ["notifications", "list", "--db", url], env=ENV)
    assert listed.exit_code == 0, listed.output
    assert "pending" in listed.output and "line.changed" in listed.output
    sent = runner.invoke(app, ["notifications", "dispatch", "--db", url], env=ENV)
    assert sent.exit_code == 0, sent.output
    assert '"sent": 1' in sent.output  # the log channel; no e-mail address was given
    log = runner.invoke(app, ["notifications", "log", "--db", url], env=ENV)
    assert log.exit_code == 0, log.output
    assert "Delivery log" in log.output and "sent" in log.output
    assert mobile[:3] + "****" + mobile[-4:] in log.output and mobile not in log.output
    again = runner.invoke(app, ["notifications", "dispatch", "--db", url], env=ENV)
    assert '"sent": 0' in again.output


def test_reminders_run_on_a_book_and_what_it_refuses(tmp_path) -> None:
    url, _ = _book_with_a_notice(tmp_path)
    today = business_date(SystemClock())
    ran = runner.invoke(app, ["reminders", "run", "--db", url], env=ENV)
    assert ran.exit_code == 0, ran.output
    assert f'"business_date": "{today}"' in ran.output and '"recorded": 0' in ran.output
    earlier = runner.invoke(app, ["reminders", "run", "--date",
                                  (today - timedelta(days=2)).isoformat(), "--db", url], env=ENV)
    assert earlier.exit_code == 0, earlier.output
    later = runner.invoke(app, ["reminders", "run", "--date",
                                (today + timedelta(days=1)).isoformat(), "--db", url], env=ENV)
    assert later.exit_code == 2 and "not" in later.output
    bad = runner.invoke(app, ["reminders", "run", "--db", url],
                        env={**ENV, "PUHUI_NOTIFY_QUIET_HOURS": "late"})
    assert bad.exit_code == 2 and "PUHUI_NOTIFY_QUIET_HOURS" in bad.output
    schedules = tmp_path / "s.json"
    schedules.write_text("{}")
    refused = runner.invoke(app, ["reminders", "run", "--db", url],
                            env={**ENV, "PUHUI_REMINDER_SCHEDULES": str(schedules)})
    assert refused.exit_code == 2 and "s.json" in refused.output
    missing = runner.invoke(app, ["notifications", "log", "--db",
                                  f"sqlite:///{tmp_path / 'nope.sqlite'}"])
    assert missing.exit_code == 2


def test_the_scheduler_refuses_to_start_on_bad_notification_settings(tmp_path) -> None:
    url, _ = _book_with_a_notice(tmp_path)
    bad = runner.invoke(app, ["scheduler", "--once", "--db", url],
                        env={**ENV, "PUHUI_SMTP_HOST": "mail.example"})
    assert bad.exit_code == 2 and "PUHUI_SMTP_FROM" in " ".join(bad.output.split())
    schedules = tmp_path / "s.json"
    schedules.write_text("[]")
    bad = runner.invoke(app, ["scheduler", "--once", "--db", url],
                        env={**ENV, "PUHUI_REMINDER_SCHEDULES": str(schedules)})
    assert bad.exit_code == 2 and "s.json" in " ".join(bad.output.split())
