"""Reminders and notifications end to end: a real SMTP server the test starts (aiosmtpd), the
reminder job run twice and killed mid-run, an unreachable server, quiet hours and the cap at
their edges, a signed partner webhook, and the API's views (borrower, partner, staff)."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterator

import httpx
import pytest
from aiosmtpd.controller import Controller

from puhui.notify.channels import Delivery, Envelope
from puhui.services import access
from puhui.services import reminders as reminders_service
from puhui.services.channels import SmtpChannel, WebhookChannel
from puhui.services.clock import BUSINESS_ZONE
from puhui.services.errors import InvalidRequest, NotFound
from puhui.services.notifications import Notifier, dispatch, notify
from puhui.services.reminders import run_reminders
from puhui.services.scheduler import Schedule, Scheduler
from puhui.notify.settings import SmtpSettings, WebhookSettings

SENDER = "reminders@puhui.example"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What the test's SMTP server received: (envelope sender, recipients, parsed message)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Any]] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 - aiosmtpd's hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Any]:
        return [m for _, rcpts, m in self.messages if address in rcpts]


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def smtp_env(port: int, **more: str) -> dict[str, str]:
    return {"PUHUI_SMTP_HOST": "127.0.0.1", "PUHUI_SMTP_PORT": str(port),
            "PUHUI_SMTP_STARTTLS": "off", "PUHUI_SMTP_FROM": SENDER,
            "PUHUI_NOTIFY_CHANNELS": "email,sms", **more}


def use(api, port: int, **env: str) -> Notifier:
    notifier = Notifier.from_env(smtp_env(port, **env))
    api.platform.notifications = notifier
    return notifier


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=BUSINESS_ZONE).astimezone(timezone.utc)


def borrower_with_loan(api, address: str) -> dict:
    """A paid-out loan whose borrower gave `address` for e-mail; the first due date and amount."""
    for _ in range(10):  # a synthetic business too young for the policy is declined: next one
        try:
            loan = api.disbursed()
            break
        except AssertionError as exc:
            if "declined" not in str(exc):
                raise
    applicant_id = loan["applicant_id"]
    r = api.post(f"/v1/applicants/{applicant_id}/notification-contacts",
                 {"channel": "email", "address": address})
    assert r.status_code == 201, r.text
    assert r.json()["address"] != address and r.json()["address"].endswith("@shop.example")
    loan_id = loan["disbursement"]["loan_id"]
    view = api.get(f"/v1/loans/{loan_id}").json()
    first = view["schedule"][0]
    return {"applicant_id": applicant_id, "loan_id": loan_id,
            "due": date.fromisoformat(first["due_date"]),
            "amount": first["principal"] + first["interest"] + first["fee"]}


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def statuses(api, applicant_id: str) -> list[tuple[str, str, str]]:
    r = api.get(f"/v1/notifications?applicant_id={applicant_id}", who="officer")
    assert r.status_code == 200, r.text
    return [(n["kind"], n["channel"], n["status"]) for n in r.json()["items"]]


def deliveries(api, **query: str) -> list[dict]:
    r = api.get("/v1/notifications/deliveries", who="officer", params=query)
    assert r.status_code == 200, r.text
    return r.json()["items"]


# -- SMTP -------------------------------------------------------------------------------------------

def test_a_reminder_reaches_a_real_smtp_server_and_every_log_is_masked(api, inbox, caplog) -> None:
    use(api, inbox.port)
    b = borrower_with_loan(api, "owner.wang@shop.example")
    day = b["due"] - timedelta(days=3)
    api.clock.set(local(day, 9))
    caplog.set_level(logging.INFO, logger="puhui")
    summary = run_reminders(api.platform, day)
    assert summary["recorded"] == 1 and summary["dispatch"]["sent"] == 1
    assert summary["dispatch"]["not_configured"] == 1  # SMS: an adapter to fill in

    [(sender, rcpts, message)] = inbox.messages
    assert sender == SENDER and rcpts == ["owner.wang@shop.example"]
    assert message["To"] == "owner.wang@shop.example" and message["From"] == SENDER
    assert yuan(b["amount"]) in message["Subject"] and b["due"].isoformat() in message["Subject"]
    text = message.get_content()
    assert b["loan_id"] in text and "in 3 days" in text and yuan(b["amount"]) in text
    assert message["X-Puhui-Kind"] == "reminder.before_due"

    log = deliveries(api, applicant_id=b["applicant_id"])
    by_channel = {d["channel"]: d for d in log}
    assert by_channel["email"]["outcome"] == "sent"
    assert by_channel["email"]["recipient"] == "o*********@shop.example"
    assert by_channel["email"]["channel_message_id"] == message["Message-ID"]
    assert by_channel["sms"]["outcome"] == "not_configured"
    assert "adapter" in by_channel["sms"]["error"]
    assert "****" in by_channel["sms"]["recipient"]
    with api.platform.read() as session:
        from puhui.services.applicants import load_applicant
        mobile = load_applicant(session, access.SYSTEM, b["applicant_id"])[1].owner.mobile
    shown = json.dumps(log) + api.get("/v1/notifications", who="officer").text + caplog.text
    assert "owner.wang@" not in shown and mobile not in shown
    assert by_channel["sms"]["recipient"] == mobile[:3] + "****" + mobile[-4:]


def test_the_job_run_twice_sends_each_step_once(api, inbox) -> None:
    use(api, inbox.port)
    b = borrower_with_loan(api, "owner@shop.example")
    only_reminders = Schedule.from_env({
        "PUHUI_SCHEDULE_CLOSE": "off", "PUHUI_SCHEDULE_AUTO_DEBIT": "off",
        "PUHUI_SCHEDULE_PROVISION": "off", "PUHUI_SCHEDULE_WARNINGS": "off",
        "PUHUI_SCHEDULE_COLLECTIONS": "off", "PUHUI_SCHEDULE_LINE_REFRESH": "off"})
    scheduler = Scheduler(api.platform, only_reminders)
    day = b["due"] - timedelta(days=1)
    api.clock.set(local(day, 8, 59))
    assert scheduler.tick() == []  # 09:00 not reached
    api.clock.set(local(day, 9))
    [run] = scheduler.tick()
    assert run.status == "succeeded" and run.summary["recorded"] == 1
    assert scheduler.tick() == []  # a succeeded run is not repeated
    again = run_reminders(api.platform, day)  # and by hand, the same day
    assert again["recorded"] == 0 and again["already_recorded"] == 1
    assert again["dispatch"]["sent"] == 0
    assert len(inbox.messages) == 1
    # the next step on its day
    api.clock.set(local(b["due"], 9, 30))
    [run] = scheduler.tick()
    assert run.summary["recorded"] == 1 and len(inbox.messages) == 2
    subjects = [m["Subject"] for _, _, m in inbox.messages]
    assert all(b["due"].isoformat() in s for s in subjects)
    keys = {n["key"] for n in api.get(f"/v1/notifications?applicant_id={b['applicant_id']}",
                                      who="officer").json()["items"]}
    assert keys == {f"reminder:{b['loan_id']}:{b['due']}:D-1",
                    f"reminder:{b['loan_id']}:{b['due']}:D0"}


class KilledOnSend:
    """Stands for a process killed while sending the `at`-th message (before it went out)."""

    def __init__(self, inner: SmtpChannel, at: int) -> None:
        self.inner, self.at, self.calls, self.name = inner, at, 0, inner.name

    def send(self, envelope: Envelope) -> Delivery:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.inner.send(envelope)


def test_a_run_killed_mid_send_then_run_again_sends_each_once(api, inbox) -> None:
    notifier = use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email")
    addresses = [f"owner{i}@shop.example" for i in range(3)]
    borrowers = [borrower_with_loan(api, a) for a in addresses]
    day = borrowers[0]["due"] - timedelta(days=3)
    assert all(b["due"] == borrowers[0]["due"] for b in borrowers)
    api.clock.set(local(day, 9))
    smtp = notifier.channels["email"]
    notifier.channels = {"email": KilledOnSend(smtp, at=2)}
    with pytest.raises(KeyboardInterrupt):
        run_reminders(api.platform, day)
    assert len(inbox.messages) == 1
    notifier.channels = {"email": smtp}  # the process is started again
    rerun = run_reminders(api.platform, day)
    assert rerun["recorded"] == 0 and rerun["already_recorded"] == 3
    assert rerun["dispatch"]["sent"] == 1  # the one never tried; the one cut off is leased
    api.clock.advance(notifier.lease)
    assert run_reminders(api.platform, day)["dispatch"]["sent"] == 1
    assert run_reminders(api.platform, day)["dispatch"]["sent"] == 0
    assert sorted(r for _, rcpts, _ in inbox.messages for r in rcpts) == addresses
    # the attempt cut off left no delivery record; the retry is attempt 2 under the same id
    attempts = sorted(d["attempt"] for d in deliveries(api))
    assert attempts == [1, 1, 2]


def test_a_run_killed_while_recording_then_run_again_sends_each_once(api, inbox,
                                                                       monkeypatch) -> None:
    monkeypatch.setattr(reminders_service, "RECORD_CHUNK", 2)
    use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email")
    addresses = [f"owner{i}@shop.example" for i in range(3)]
    borrowers = [borrower_with_loan(api, a) for a in addresses]
    day = borrowers[0]["due"]
    api.clock.set(local(day, 10))
    real, calls = reminders_service.notify, []

    def killed_on_third(*args: Any, **kw: Any) -> None:
        calls.append(kw["key"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(*args, **kw)
    monkeypatch.setattr(reminders_service, "notify", killed_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_reminders(api.platform, day)
    assert inbox.messages == []  # killed before sending anything
    monkeypatch.setattr(reminders_service, "notify", real)
    # the first chunk (two reminders) was committed; the one cut off was rolled back
    kept = api.get("/v1/notifications", who="officer").json()["items"]
    assert sorted(n["key"] for n in kept) == sorted(calls[:2])
    rerun = run_reminders(api.platform, day)
    assert rerun["recorded"] == 1 and rerun["already_recorded"] == 2
    assert rerun["dispatch"]["sent"] == 3
    assert run_reminders(api.platform, day)["dispatch"]["sent"] == 0
    assert sorted(r for _, rcpts, _ in inbox.messages for r in rcpts) == addresses


def test_an_unreachable_smtp_server_is_a_failed_delivery_retried_by_the_next_run(api,
                                                                                  inbox) -> None:
    notifier = use(api, free_port(), PUHUI_NOTIFY_CHANNELS="email")  # nothing listens there
    b = borrower_with_loan(api, "owner@shop.example")
    day = b["due"] + timedelta(days=1)  # missed: D+1
    api.clock.set(local(day, 9))
    summary = run_reminders(api.platform, day)
    assert summary["dispatch"]["failed"] == 1 and summary["dispatch"]["sent"] == 0
    [failed] = deliveries(api)
    assert failed["outcome"] == "failed" and "Connection" in failed["error"]
    assert "owner@" not in failed["error"]
    r = api.get(f"/v1/notifications?applicant_id={b['applicant_id']}", who="officer")
    assert r.status_code == 200 and r.json()["items"][0]["status"] == "failed"
    assert r.json()["items"][0]["kind"] == "reminder.overdue"
    # the server is back (the relay's address fixed); the retry waits its delay
    notifier.channels = {"email": SmtpChannel(SmtpSettings.from_env(smtp_env(inbox.port)))}
    api.clock.advance(timedelta(seconds=59))
    assert run_reminders(api.platform, day)["dispatch"]["sent"] == 0
    api.clock.advance(timedelta(seconds=1))
    again = run_reminders(api.platform, day)
    assert again["recorded"] == 0 and again["dispatch"]["sent"] == 1
    assert [m["Subject"] for m in inbox.to("owner@shop.example")] and len(inbox.messages) == 1
    assert [(d["attempt"], d["outcome"]) for d in deliveries(api)] == [(1, "failed"),
                                                                        (2, "sent")]


def test_a_delivery_is_abandoned_after_its_last_attempt(api) -> None:
    notifier = use(api, free_port(), PUHUI_NOTIFY_CHANNELS="email",
                   PUHUI_NOTIFY_MAX_ATTEMPTS="2")
    b = borrower_with_loan(api, "owner@shop.example")
    api.clock.set(local(b["due"], 10))
    with api.platform.unit() as session:
        notify(api.platform, session, applicant_id=b["applicant_id"], kind="line.changed",
               key="line:1", subject="s", body="b", context={})
    assert dispatch(api.platform)["failed"] == 1
    api.clock.advance(timedelta(minutes=1))
    assert dispatch(api.platform)["abandoned"] == 1
    api.clock.advance(timedelta(hours=2))
    assert dispatch(api.platform) == {"sent": 0, "failed": 0, "not_configured": 0,
                                      "abandoned": 0}
    assert notifier.settings.max_attempts == 2


# -- quiet hours and the cap ------------------------------------------------------------------------

@pytest.mark.parametrize("at, sent_at_once", [((20, 59), True), ((21, 0), False)])
def test_quiet_hours_defer_to_eight_in_the_morning(api, inbox, at, sent_at_once) -> None:
    use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email")
    b = borrower_with_loan(api, "owner@shop.example")
    day = b["due"] - timedelta(days=10)
    api.clock.set(local(day, *at))
    with api.platform.unit() as session:
        notify(api.platform, session, applicant_id=b["applicant_id"], kind="line.changed",
               key="line:raise:1", subject="额度调整 Your line was raised", body="+20%",
               context={"limit": 1})
    dispatch(api.platform)
    assert len(inbox.messages) == (1 if sent_at_once else 0)
    if sent_at_once:
        return
    [n] = api.get(f"/v1/notifications?applicant_id={b['applicant_id']}",
                  who="officer").json()["items"]
    assert datetime.fromisoformat(n["not_before"]) == local(day + timedelta(days=1), 8)
    api.clock.set(local(day + timedelta(days=1), 7, 59))
    assert dispatch(api.platform).get("quiet_hours") == 1 and inbox.messages == []
    api.clock.set(local(day + timedelta(days=1), 8, 0))
    assert dispatch(api.platform)["sent"] == 1 and len(inbox.messages) == 1


def test_quiet_hours_beginning_during_a_dispatch_stop_it(api, inbox) -> None:
    notifier = use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email")
    b = borrower_with_loan(api, "owner@shop.example")
    day = b["due"] - timedelta(days=10)
    api.clock.set(local(day, 20, 59))
    for key in ("notice:1", "notice:2"):
        with api.platform.unit() as session:
            notify(api.platform, session, applicant_id=b["applicant_id"], kind="line.changed",
                   key=key, subject=key, body="b", context={})
    smtp = notifier.channels["email"]

    class SlowServer:
        name = "email"

        def send(self, envelope: Envelope) -> Delivery:
            delivery = smtp.send(envelope)
            api.clock.set(local(day, 21, 0))  # the first send took a minute
            return delivery

    notifier.channels = {"email": SlowServer()}
    summary = dispatch(api.platform)
    assert summary["sent"] == 1 and summary["quiet_hours"] == 1
    assert [m["Subject"] for _, _, m in inbox.messages] == ["notice:1"]
    notifier.channels = {"email": smtp}
    api.clock.set(local(day + timedelta(days=1), 8, 0))
    assert dispatch(api.platform)["sent"] == 1 and len(inbox.messages) == 2


def test_a_scheduler_tick_sends_a_notice_once_quiet_hours_end(api, inbox) -> None:
    use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email")
    b = borrower_with_loan(api, "owner@shop.example")
    day = b["due"] - timedelta(days=10)
    no_jobs = Schedule.from_env({"PUHUI_SCHEDULE_CLOSE": "off", "PUHUI_SCHEDULE_AUTO_DEBIT": "off",
                                 "PUHUI_SCHEDULE_REMINDERS": "off"})
    scheduler = Scheduler(api.platform, no_jobs)
    api.clock.set(local(day, 22, 30))
    with api.platform.unit() as session:
        notify(api.platform, session, applicant_id=b["applicant_id"], kind="warning.freeze",
               key="freeze:night", subject="额度冻结 Line frozen", body="b", context={})
    scheduler.tick()
    api.clock.set(local(day + timedelta(days=1), 7, 59))
    scheduler.tick()
    assert inbox.messages == []
    api.clock.set(local(day + timedelta(days=1), 8, 0))
    scheduler.tick()
    scheduler.tick()
    assert [m["Subject"] for _, _, m in inbox.messages] == ["额度冻结 Line frozen"]


def test_reminders_recorded_in_quiet_hours_go_out_when_they_end(api, inbox) -> None:
    use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email")
    b = borrower_with_loan(api, "owner@shop.example")
    day = b["due"]
    api.clock.set(local(day, 7, 0))  # a run early in the morning (quiet until 08:00)
    summary = run_reminders(api.platform, day)
    assert summary["recorded"] == 1 and summary["dispatch"].get("quiet_hours") == 1
    assert inbox.messages == []
    api.clock.set(local(day, 8, 0))
    assert dispatch(api.platform)["sent"] == 1 and len(inbox.messages) == 1


def test_the_cap_refuses_a_reminder_beyond_it_and_admits_again_the_next_day(api, inbox) -> None:
    use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email", PUHUI_NOTIFY_CAP_PER_DAY="2",
        PUHUI_NOTIFY_CAP_PER_WEEK="3")
    b = borrower_with_loan(api, "owner@shop.example")
    day = b["due"] - timedelta(days=20)
    api.clock.set(local(day, 10))

    def send(key: str, kind: str = "collection.reminder") -> None:
        with api.platform.unit() as session:
            notify(api.platform, session, applicant_id=b["applicant_id"], kind=kind, key=key,
                   subject=key, body="b", context={})

    send("c1")
    send("c2")
    send("c3")  # the third of the day: capped
    send("line", kind="line.changed")  # not a capped kind
    dispatch(api.platform)
    assert sorted(m["Subject"] for _, _, m in inbox.messages) == ["c1", "c2", "line"]
    assert ("collection.reminder", "email", "capped") in statuses(api, b["applicant_id"])
    api.clock.set(local(day + timedelta(days=1), 10))
    send("c4")  # a new day: the daily cap admits it (3 in the week)
    send("c5")  # the fourth in 7 days: the weekly cap refuses it
    dispatch(api.platform)
    assert sorted(m["Subject"] for _, _, m in inbox.messages) == ["c1", "c2", "c4", "line"]
    api.clock.set(local(day + timedelta(days=7), 10))
    send("c6")  # the first day's two have left the 7-day window
    dispatch(api.platform)
    assert len(inbox.messages) == 5
    assert [s for _, _, s in statuses(api, b["applicant_id"])].count("capped") == 2


def test_notify_is_idempotent_on_its_key_and_refuses_bad_input(api, inbox) -> None:
    use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email")
    b = borrower_with_loan(api, "owner@shop.example")
    api.clock.set(local(b["due"] - timedelta(days=10), 10))
    for _ in range(2):
        with api.platform.unit() as session:
            notify(api.platform, session, applicant_id=b["applicant_id"], kind="warning.freeze",
                   key="freeze:1", subject="冻结 Line frozen", body="b", context={"x": 1})
        dispatch(api.platform)
    assert len(inbox.messages) == 1 and len(statuses(api, b["applicant_id"])) == 1
    with api.platform.unit() as session:
        with pytest.raises(InvalidRequest):
            notify(api.platform, session, applicant_id=b["applicant_id"], kind="k", key="",
                   subject="s", body="b", context={})
        with pytest.raises(NotFound):
            notify(api.platform, session, applicant_id="AP000", kind="k", key="k1",
                   subject="s", body="b", context={})
        with pytest.raises(InvalidRequest):
            notify(api.platform, session, applicant_id=b["applicant_id"], kind="k", key="k2",
                   subject="s", body="b", context={"x": object()})
    with api.platform.unit() as session:  # dates and decimals are kept as text
        notify(api.platform, session, applicant_id=b["applicant_id"], kind="line.repriced",
               key="line:rate:1", subject="s", body="b",
               context={"annual_rate": Decimal("0.0935"), "from": date(2026, 4, 1)})
    [n] = [x for x in api.get(f"/v1/notifications?applicant_id={b['applicant_id']}",
                              who="officer").json()["items"] if x["kind"] == "line.repriced"]
    assert n["context"] == {"annual_rate": "0.0935", "from": "2026-04-01"}


def test_a_notice_rolled_back_with_its_change_is_never_sent(api, inbox) -> None:
    use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email")
    b = borrower_with_loan(api, "owner@shop.example")
    api.clock.set(local(b["due"] - timedelta(days=10), 10))
    with pytest.raises(RuntimeError):
        with api.platform.unit() as session:
            notify(api.platform, session, applicant_id=b["applicant_id"], kind="line.changed",
                   key="line:rolled-back", subject="s", body="b", context={})
            raise RuntimeError("the line change failed")
    assert dispatch(api.platform)["sent"] == 0 and inbox.messages == []
    assert statuses(api, b["applicant_id"]) == []


# -- the partner webhook ----------------------------------------------------------------------------

def test_the_partner_webhook_is_signed_and_the_signature_verifies(api) -> None:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    received: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204 if len(received) == 1 else 500)

    settings = WebhookSettings.from_env({"PUHUI_WEBHOOK_URL": "https://hooks.pos.example/puhui",
                                         "PUHUI_WEBHOOK_SECRET": SECRET})
    notifier = Notifier.from_env({"PUHUI_NOTIFY_CHANNELS": "webhook"})
    notifier.channels = {"webhook": WebhookChannel(settings, httpx.MockTransport(endpoint))}
    api.platform.notifications = notifier
    applicant_id, _, _ = api.onboard()  # registered by the partner P-POS
    api.clock.set(local(date(2026, 3, 3), 10))
    for key in ("line:raise:7", "line:raise:8"):
        with api.platform.unit() as session:
            notify(api.platform, session, applicant_id=applicant_id, kind="line.changed",
                   key=key, subject="额度上调 Line raised", body="+20%",
                   context={"limit": 120_000_00})
    summary = dispatch(api.platform)
    assert summary["sent"] == 1 and summary["failed"] == 1  # the endpoint's 500 is a failure
    request = received[0]
    body = request.read()
    payload = Webhook(SECRET).verify(body, dict(request.headers))
    assert payload["type"] == "line.changed" and payload["data"]["partner_id"] == "P-POS"
    assert payload["data"]["applicant_id"] == applicant_id
    assert payload["data"]["context"] == {"limit": 120_000_00}
    assert request.headers["webhook-id"] == payload["id"]
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"P-POS", b"P-ERP"), dict(request.headers))
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(body, dict(request.headers))
    log = deliveries(api)
    assert {d["recipient"] for d in log} == {"partner P-POS"}
    assert sorted(d["outcome"] for d in log) == ["failed", "sent"]


# -- the API ----------------------------------------------------------------------------------------

def test_who_sees_which_notifications_and_the_delivery_log(api, inbox) -> None:
    use(api, inbox.port)
    b = borrower_with_loan(api, "owner@shop.example")
    other = borrower_with_loan(api, "other@shop.example")
    day = b["due"] - timedelta(days=3)
    api.clock.set(local(day, 9))
    run_reminders(api.platform, day)
    with api.platform.unit() as session:
        api.keys["borrower"] = access.issue_key(session, "b", "borrower", b["applicant_id"]).token
    own = api.get("/v1/notifications", who="borrower").json()["items"]
    assert {n["applicant_id"] for n in own} == {b["applicant_id"]} and len(own) == 2
    assert "key" not in own[0] and "last_error" not in own[0]
    assert api.get(f"/v1/notifications?applicant_id={other['applicant_id']}",
                   who="borrower").status_code == 404
    assert len(api.get("/v1/notifications", who="partner").json()["items"]) == 4
    assert api.get("/v1/notifications", who="other").json()["items"] == []
    staff = api.get("/v1/notifications?status=sent&limit=1", who="officer").json()
    assert len(staff["items"]) == 1 and staff["next_cursor"] and staff["items"][0]["key"]
    page2 = api.get(f"/v1/notifications?status=sent&limit=1&cursor={staff['next_cursor']}",
                    who="officer").json()
    assert page2["items"][0]["notification_id"] > staff["items"][0]["notification_id"]
    for who in ("partner", "borrower"):
        r = api.get("/v1/notifications/deliveries", who=who)
        assert r.status_code == 403 and r.headers["content-type"].startswith(
            "application/problem+json")
    assert len(deliveries(api)) == 4 and len(deliveries(api, applicant_id=b["applicant_id"])) == 2


def test_contacts_are_checked_and_scoped(api) -> None:
    applicant_id, _, _ = api.onboard()
    path = f"/v1/applicants/{applicant_id}/notification-contacts"
    assert api.post(path, {"channel": "email", "address": "not an address"}).status_code == 422
    assert api.post(path, {"channel": "sms", "address": "13800000000"}).status_code == 422
    assert api.post(path, {"channel": "email", "address": "a@b.example"},
                    who="other").status_code == 404
    r = api.post(path, {"channel": "push", "address": "device-token-0123456789"})
    assert r.status_code == 201 and r.json()["address"] == "devi***************6789"
    assert api.post(path, {"channel": "email", "address": "a@b.example"},
                    who="officer").status_code == 403  # staff do not apply on a borrower's behalf


def test_the_data_export_holds_the_notifications_and_the_contact_in_full(api, inbox) -> None:
    use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email")
    b = borrower_with_loan(api, "owner@shop.example")
    api.clock.set(local(b["due"] - timedelta(days=3), 9))
    run_reminders(api.platform, b["due"] - timedelta(days=3))
    r = api.get(f"/v1/applicants/{b['applicant_id']}/export", who="admin")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["notification_contacts"][0]["address"] == "owner@shop.example"
    [notice] = out["notifications"]
    assert notice["status"] == "sent" and notice["kind"] == "reminder.before_due"


def test_a_borrower_who_repaid_is_not_reminded(api, inbox) -> None:
    use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email")
    b = borrower_with_loan(api, "owner@shop.example")
    day = b["due"] - timedelta(days=1)
    api.clock.set(local(day, 9))
    r = api.post(f"/v1/loans/{b['loan_id']}/repayments", {"amount": b["amount"]}, key="early")
    assert r.status_code == 201, r.text
    summary = run_reminders(api.platform, day)
    assert summary["due"] == 0 and inbox.messages == []
    # the next instalment is reminded on its own D-3
    schedule = api.get(f"/v1/loans/{b['loan_id']}").json()["schedule"]
    second = date.fromisoformat(schedule[1]["due_date"])
    api.clock.set(local(second - timedelta(days=3), 9))
    assert run_reminders(api.platform, second - timedelta(days=3))["recorded"] == 1
    assert second.isoformat() in inbox.messages[0][2]["Subject"]


def test_a_notice_for_an_erased_borrower_is_abandoned_not_sent(api, inbox) -> None:
    use(api, inbox.port, PUHUI_NOTIFY_CHANNELS="email,sms")
    applicant_id, _, _ = api.onboard()
    r = api.post(f"/v1/applicants/{applicant_id}/notification-contacts",
                 {"channel": "email", "address": "gone@shop.example"})
    assert r.status_code == 201, r.text
    api.clock.set(local(date(2026, 3, 3), 10))
    with api.platform.unit() as session:
        notify(api.platform, session, applicant_id=applicant_id, kind="line.changed",
               key="before-erasure", subject="s", body="b", context={})
    r = api.post(f"/v1/applicants/{applicant_id}/erasure", {"reason": "request"}, who="admin")
    assert r.status_code == 200, r.text
    summary = dispatch(api.platform)
    assert summary["abandoned"] == 2 and summary["sent"] == 0 and inbox.messages == []
    with api.platform.unit() as session:
        notify(api.platform, session, applicant_id=applicant_id, kind="line.changed",
               key="after-erasure", subject="s", body="b", context={})
    assert ("line.changed", "email", "no_address") in statuses(api, applicant_id)
    assert dispatch(api.platform)["sent"] == 0


def test_only_loans_near_a_due_date_or_in_arrears_are_read(api) -> None:
    from puhui.services.reminders import loans_due

    b = borrower_with_loan(api, "owner@shop.example")
    far = b["due"] - timedelta(days=20)
    with api.platform.read() as session:
        assert loans_due(api.platform, session, far, lead_days=3) == []
        [near] = loans_due(api.platform, session, b["due"] - timedelta(days=3), lead_days=3)
        [late] = loans_due(api.platform, session, b["due"] + timedelta(days=40), lead_days=3)
    assert near.loan_id == late.loan_id == b["loan_id"]
    assert near.instalments[0].unpaid == b["amount"] and late.days_past_due == 40
    # paid off: no longer a candidate
    api.clock.set(local(b["due"] - timedelta(days=5), 10))
    payoff = api.get(f"/v1/loans/{b['loan_id']}").json()["payoff_amount"]
    r = api.post(f"/v1/loans/{b['loan_id']}/repayments", {"amount": payoff, "prepayment": "full"},
                 key="payoff")
    assert r.status_code == 201 and r.json()["status"] != "active", r.text
    with api.platform.read() as session:
        assert loans_due(api.platform, session, b["due"] - timedelta(days=3), lead_days=3) == []
