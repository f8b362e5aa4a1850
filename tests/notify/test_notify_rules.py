"""The pure notification rules: quiet hours to the second, the per-borrower cap at its edges,
masking, the settings' validation and the reminder schedules as data."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from puhui.notify.channels import (NotificationSettingsError, check_email, mask_email,
                                   mask_recipient)
from puhui.notify.reminders import (InvalidReminderSchedule, LoanDue, ReminderSchedules,
                                    UnpaidInstalment, reminder_for, reminders_due, step_label)
from puhui.notify.rules import ContactCap, QuietHours, retry_delay
from puhui.notify.settings import NotifySettings, SmtpSettings, WebhookSettings

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours(time(21), time(8), SHANGHAI)


def local(y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI).astimezone(timezone.utc)


# -- quiet hours ------------------------------------------------------------------------------------

@pytest.mark.parametrize("moment, quiet", [
    (local(2026, 4, 17, 20, 59, 59), False),
    (local(2026, 4, 17, 21, 0, 0), True),
    (local(2026, 4, 17, 23, 59, 59), True),
    (local(2026, 4, 18, 0, 0, 0), True),
    (local(2026, 4, 18, 7, 59, 59), True),
    (local(2026, 4, 18, 8, 0, 0), False),
    (local(2026, 4, 18, 12, 0, 0), False),
])
def test_quiet_hours_edges_in_the_business_zone(moment: datetime, quiet: bool) -> None:
    assert QUIET.quiet(moment) is quiet


def test_a_moment_in_quiet_hours_is_deferred_to_eight_the_next_morning() -> None:
    assert QUIET.next_allowed(local(2026, 4, 17, 20, 59)) == local(2026, 4, 17, 20, 59)
    assert QUIET.next_allowed(local(2026, 4, 17, 21, 0)) == local(2026, 4, 18, 8, 0)
    assert QUIET.next_allowed(local(2026, 4, 17, 23, 30)) == local(2026, 4, 18, 8, 0)
    # after midnight: the same morning, not the next one
    assert QUIET.next_allowed(local(2026, 4, 18, 7, 59)) == local(2026, 4, 18, 8, 0)
    assert QUIET.next_allowed(local(2026, 4, 18, 8, 0)) == local(2026, 4, 18, 8, 0)
    # 21:00 Shanghai is 13:00 UTC: the zone decides, not UTC
    assert QUIET.quiet(datetime(2026, 4, 17, 13, 0, tzinfo=timezone.utc))
    assert not QUIET.quiet(datetime(2026, 4, 17, 12, 59, 59, tzinfo=timezone.utc))


def test_a_daytime_window_and_no_window() -> None:
    lunch = QuietHours(time(12), time(14), SHANGHAI)
    assert not lunch.quiet(local(2026, 4, 17, 11, 59, 59)) and lunch.quiet(local(2026, 4, 17, 12))
    assert lunch.next_allowed(local(2026, 4, 17, 13)) == local(2026, 4, 17, 14)
    never = QuietHours(time(0), time(0), SHANGHAI)
    assert not never.quiet(local(2026, 4, 17, 3)) and never.describe() == "none"


# -- the cap ----------------------------------------------------------------------------------------

def test_the_daily_cap_admits_up_to_n_on_a_day_and_the_next_day_again() -> None:
    cap = ContactCap(per_day=2, per_week=0)
    day = date(2026, 4, 17)
    assert cap.admits([], day)
    assert cap.admits([day], day)
    assert not cap.admits([day, day], day)
    assert cap.admits([day, day], day + timedelta(days=1))


def test_the_weekly_cap_counts_seven_local_days_ending_today() -> None:
    cap = ContactCap(per_day=0, per_week=3)
    day = date(2026, 4, 17)
    three = [day - timedelta(days=6), day - timedelta(days=3), day - timedelta(days=1)]
    assert not cap.admits(three, day)
    # the oldest drops out of the window the day after: 7 days back is outside
    assert cap.admits(three, day + timedelta(days=1))
    assert cap.admits(three[1:], day)
    start, end = cap.window(day, SHANGHAI)
    assert start == local(2026, 4, 11, 0) and end == local(2026, 4, 18, 0)


def test_retry_delays_double_up_to_an_hour() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 6, 7, 20)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 32, 60, 60)]


# -- masking ----------------------------------------------------------------------------------------

def test_recipients_are_masked_per_channel() -> None:
    assert mask_recipient("sms", "13812345678") == "138****5678"
    assert mask_recipient("log", "13812345678") == "138****5678"
    assert mask_email("zhang.wei@example.com") == "z********@example.com"
    assert mask_recipient("email", "a@b.cn") == "a*@b.cn"
    assert mask_recipient("webhook", "https://hooks.partner.example/t/SECRET") == \
        "https://hooks.partner.example/…"
    assert "SECRET" not in mask_recipient("webhook", "https://u:SECRET@h.example/x")
    token = "abcd1234efgh5678"
    assert mask_recipient("push", token) == "abcd********5678"


@pytest.mark.parametrize("address", ["no-at-sign", "Name <a@b.cn>", "a@b", "a b@c.cn",
                                     "x" * 250 + "@b.cn", ""])
def test_malformed_emails_are_refused(address: str) -> None:
    with pytest.raises(ValueError):
        check_email(address)


# -- settings ---------------------------------------------------------------------------------------

def test_default_settings() -> None:
    s = NotifySettings.from_env({}, SHANGHAI)
    assert s.channels == ("log", "email", "sms", "push", "webhook")
    assert s.quiet == QUIET and s.cap == ContactCap(2, 6) and s.max_attempts == 8
    assert s.is_capped("reminder.overdue") and s.is_capped("collection.call")
    assert not s.is_capped("line.changed") and not s.is_capped("reminders.x")
    assert SmtpSettings.from_env({}) is None and WebhookSettings.from_env({}) is None
    smtp = SmtpSettings.from_env({"PUHUI_SMTP_HOST": "mail.example", "PUHUI_SMTP_FROM":
                                  "reminders@lender.example"})
    assert smtp is not None and smtp.port == 587 and smtp.starttls and smtp.user is None
    plain = SmtpSettings.from_env({"PUHUI_SMTP_HOST": "mail.example", "PUHUI_SMTP_STARTTLS": "off",
                                   "PUHUI_SMTP_FROM": "r@l.example"})
    assert plain is not None and plain.port == 25


@pytest.mark.parametrize("env, says", [
    ({"PUHUI_NOTIFY_CHANNELS": "email,fax"}, "PUHUI_NOTIFY_CHANNELS must list channels"),
    ({"PUHUI_NOTIFY_CHANNELS": "email,email"}, "each once"),
    ({"PUHUI_NOTIFY_QUIET_HOURS": "21-8"}, "PUHUI_NOTIFY_QUIET_HOURS must be HH:MM-HH:MM"),
    ({"PUHUI_NOTIFY_QUIET_HOURS": "21:00"}, "PUHUI_NOTIFY_QUIET_HOURS must be HH:MM-HH:MM"),
    ({"PUHUI_NOTIFY_CAP_PER_DAY": "-1"}, "PUHUI_NOTIFY_CAP_PER_DAY must be a whole number"),
    ({"PUHUI_NOTIFY_CAP_PER_DAY": "5", "PUHUI_NOTIFY_CAP_PER_WEEK": "3"}, "cannot be below"),
    ({"PUHUI_NOTIFY_MAX_ATTEMPTS": "0"}, "PUHUI_NOTIFY_MAX_ATTEMPTS must be a whole number"),
])
def test_bad_notification_settings_name_the_setting(env: dict, says: str) -> None:
    with pytest.raises(NotificationSettingsError, match=says):
        NotifySettings.from_env(env, SHANGHAI)


@pytest.mark.parametrize("env, says", [
    ({"PUHUI_SMTP_HOST": "mail.example"}, "PUHUI_SMTP_FROM must name the sender"),
    ({"PUHUI_SMTP_HOST": "mail.example", "PUHUI_SMTP_FROM": "nobody"},
     "PUHUI_SMTP_FROM must be an e-mail address"),
    ({"PUHUI_SMTP_HOST": "mail.example", "PUHUI_SMTP_FROM": "r@l.example",
      "PUHUI_SMTP_PORT": "70000"}, "PUHUI_SMTP_PORT must be a whole number"),
    ({"PUHUI_SMTP_HOST": "mail.example", "PUHUI_SMTP_FROM": "r@l.example",
      "PUHUI_SMTP_USER": "u"}, "set both or neither"),
    ({"PUHUI_SMTP_HOST": "mail.example", "PUHUI_SMTP_FROM": "r@l.example",
      "PUHUI_SMTP_STARTTLS": "maybe"}, "PUHUI_SMTP_STARTTLS must be 'on' or 'off'"),
    ({"PUHUI_SMTP_HOST": "bad host", "PUHUI_SMTP_FROM": "r@l.example"},
     "PUHUI_SMTP_HOST must be a host name"),
])
def test_bad_smtp_settings_name_the_setting(env: dict, says: str) -> None:
    with pytest.raises(NotificationSettingsError, match=says):
        SmtpSettings.from_env(env)


@pytest.mark.parametrize("env, says", [
    ({"PUHUI_WEBHOOK_URL": "ftp://x"}, "PUHUI_WEBHOOK_URL must be an http"),
    ({"PUHUI_WEBHOOK_URL": "https://x.example"}, "PUHUI_WEBHOOK_SECRET must be a Standard"),
    ({"PUHUI_WEBHOOK_URL": "https://x.example",
      "PUHUI_WEBHOOK_SECRET": "whsec_" + "!" * 30}, "must be base64"),
])
def test_bad_webhook_settings_name_the_setting(env: dict, says: str) -> None:
    with pytest.raises(NotificationSettingsError, match=says):
        WebhookSettings.from_env(env)


# -- reminder schedules -----------------------------------------------------------------------------

SCHEDULES = ReminderSchedules.load()
DUE = date(2026, 4, 20)


def loan(*instalments: UnpaidInstalment, dpd: int = 0, product: str = "SME-EI-12",
         amount_due: int = 0) -> LoanDue:
    return LoanDue("LN1", "AP1", product, instalments, dpd, amount_due)


def test_step_labels() -> None:
    assert [step_label(o) for o in (-3, -1, 0, 1, 30)] == ["D-3", "D-1", "D0", "D+1", "D+30"]


def test_before_due_steps_fire_from_their_day_latest_reached_only() -> None:
    one = loan(UnpaidInstalment(1, DUE, 123_45))
    steps = {d: reminder_for(SCHEDULES, one, DUE + timedelta(days=d)) for d in range(-5, 2)}
    assert steps[-5] is None and steps[-4] is None
    assert steps[-3].key == "reminder:LN1:2026-04-20:D-3"
    assert steps[-2].key == "reminder:LN1:2026-04-20:D-3"  # a missed day sends no backlog
    assert steps[-1].key == "reminder:LN1:2026-04-20:D-1"
    assert steps[0].key == "reminder:LN1:2026-04-20:D0" and steps[0].kind == "reminder.before_due"
    assert steps[1].key == "reminder:LN1:2026-04-20:D+1" and steps[1].kind == "reminder.overdue"
    assert "123.45" in steps[-3].subject and "2026-04-20" in steps[-3].body
    assert steps[-3].context["step"] == "D-3" and steps[-3].context["amount"] == 123_45


def test_after_miss_steps_follow_the_bucket_of_the_oldest_unpaid_instalment() -> None:
    two = loan(UnpaidInstalment(1, DUE, 100_00), UnpaidInstalment(2, DUE + timedelta(days=30),
                                                                  100_00))
    on = DUE + timedelta(days=31)  # 31 days past due: bucket 31-60, step D+31
    r = reminder_for(SCHEDULES, two, on)
    assert r.key == "reminder:LN1:2026-04-20:D+31" and "31 days overdue" in r.body
    assert reminder_for(SCHEDULES, two, DUE + timedelta(days=30)).step == "D+15"
    paid = loan(UnpaidInstalment(1, DUE, 0), UnpaidInstalment(2, DUE + timedelta(days=30), 5))
    assert reminder_for(SCHEDULES, paid, DUE + timedelta(days=27)).key.endswith("2026-05-20:D-3")


def test_a_product_has_its_own_schedule() -> None:
    bullet = loan(UnpaidInstalment(1, DUE, 1_00), product="SME-BUL-90")
    assert reminder_for(SCHEDULES, bullet, DUE - timedelta(days=7)).step == "D-7"
    assert reminder_for(SCHEDULES, loan(UnpaidInstalment(1, DUE, 1_00)),
                        DUE - timedelta(days=7)) is None
    assert reminders_due(SCHEDULES, [bullet, loan()], DUE) == [reminder_for(SCHEDULES, bullet,
                                                                            DUE)]


def _doc(**changes) -> dict:
    doc = json.loads(json.dumps({"version": SCHEDULES.version,
                                 "products": {"*": {"before_due": [-1],
                                                    "after_miss": {"1-30": [1]}}},
                                 "templates": SCHEDULES.templates}))
    doc.update(changes)
    return doc


@pytest.mark.parametrize("change, says", [
    ({"products": {"X": {"before_due": [-1], "after_miss": {}}}}, "include '\\*'"),
    ({"products": {"*": {"before_due": [2], "after_miss": {}}}}, "before_due lists"),
    ({"products": {"*": {"before_due": [], "after_miss": {"1-30": [31]}}}}, "fall in it"),
    ({"products": {"*": {"before_due": [], "after_miss": {"2-30": [3]}}}}, "maps buckets"),
    ({"version": ""}, "version must be"),
    ({"extra": 1}, "nothing else"),
])
def test_bad_schedules_are_refused_saying_where(change: dict, says: str) -> None:
    with pytest.raises(InvalidReminderSchedule, match=says):
        ReminderSchedules.parse(_doc(**change))


def test_a_template_with_an_unknown_field_is_refused(tmp_path) -> None:
    doc = _doc()
    doc["templates"]["before_due"] = {"subject": "{nope}", "body": "b"}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidReminderSchedule, match="unknown field"):
        ReminderSchedules.load(path)
    with pytest.raises(InvalidReminderSchedule, match="cannot read"):
        ReminderSchedules.load(tmp_path / "missing.json")


def test_the_longest_lead_is_the_earliest_before_due_step_of_any_product() -> None:
    assert SCHEDULES.longest_lead == 7  # SME-BUL-90's D-7
    assert ReminderSchedules.parse(_doc()).longest_lead == 1
