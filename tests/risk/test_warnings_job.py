"""The daily early-warning run over a book: one status per loan and day however often it runs,
statuses with their signals, hysteresis across days, actions stored once and applied once
through the handlers (collections' calls and tightening for real), and the watch list for
staff only."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from puhui.collections.strategy import DEFAULT_STRATEGY as STRATEGY
from puhui.services import collections
from puhui.services import warnings as svc
from puhui.services.access import SYSTEM, Principal, Role
from puhui.services.errors import AccessDenied, InvalidRequest
from puhui.store import application_repo
from warning_book_samples import (OFFICER, PARTNER, book_loan, due_dates, open_platform,
                                  pay_due)

TODAY = date(2026, 12, 7)
PAID_OUT = date(2026, 9, 1)


@pytest.fixture
def platform(db_url: str):
    p = open_platform(db_url, TODAY)
    try:
        for loan_id in ("LN-LATE", "LN-GOOD", "LN-BOUNCE"):
            book_loan(p, loan_id, PAID_OUT)
        for loan_id in ("LN-GOOD", "LN-BOUNCE"):
            for due in due_dates(p, loan_id, TODAY):
                pay_due(p, loan_id, due)
        with p.unit() as session:  # LN-BOUNCE's auto-debits failed three times this month
            for n in (1, 2, 3):
                application_repo.add_auto_debit(
                    session, loan_id="LN-BOUNCE", run_date=TODAY - timedelta(days=n), amount=1,
                    collected=0, status="failed", reason="insufficient funds", gateway_ref=None,
                    created_at=datetime(2026, 12, 1, tzinfo=timezone.utc))
        yield p
    finally:
        p.close()


def run(p, day=None) -> dict:
    with p.unit() as session:
        return svc.assess_book(p, session, SYSTEM, day)


def listing(p, status=None, on=None) -> dict:
    with p.read() as session:
        return svc.watch_list(p, session, OFFICER, status, on)


def test_statuses_with_their_signals_once_per_day(platform) -> None:
    first = run(platform)
    assert first["assessed"] == 3 and first["statuses"] == {"normal": 1, "watch": 1, "alert": 1}
    again = run(platform)  # the job run twice: nothing new
    assert again["assessed"] == 0 and again["already_assessed"] == 3 and again["actions"] == 0
    book = listing(platform)
    assert book["as_of"] == TODAY.isoformat()
    assert book["counts"] == {"normal": 1, "watch": 1, "alert": 1}
    assert len(book["items"]) == 3  # one record per loan for the day
    by_loan = {i["loan_id"]: i for i in book["items"]}
    late = by_loan["LN-LATE"]
    assert late["status"] == "alert" and late["previous"] == "normal"
    [signal] = late["signals"]
    assert signal["signal"] == "missed_instalment" and signal["severity"] == "high"
    assert signal["value"] == (TODAY - due_dates(platform, "LN-LATE", TODAY)[0]).days
    assert {a["kind"] for a in late["actions"]} == {"freeze_line", "reduce_limit", "call",
                                                    "tighten_collection"}
    assert all(a["status"] == "pending" for a in late["actions"])
    bounce = by_loan["LN-BOUNCE"]
    assert bounce["status"] == "watch"
    assert [s["signal"] for s in bounce["signals"]] == ["auto_debit_failed"]
    assert by_loan["LN-GOOD"]["signals"] == [] and by_loan["LN-GOOD"]["actions"] == []
    alerts = listing(platform, "alert")["items"]
    assert [i["loan_id"] for i in alerts] == ["LN-LATE"]


def test_hysteresis_across_days(platform) -> None:
    run(platform)
    # the late loan pays up the next day: calm, but it stays on alert for 13 more days
    day = TODAY + timedelta(days=1)
    platform.clock.advance(timedelta(days=1))
    # what is due, and a little more: the penalty accrues up to the payment before it settles
    pay_due(platform, "LN-LATE", day, share=1.05)
    for n in range(1, 15):
        day = TODAY + timedelta(days=n)
        if n > 1:
            platform.clock.advance(timedelta(days=1))
        if day == date(2026, 12, 20):  # the next instalment is paid when it falls due
            pay_due(platform, "LN-LATE", day, share=1.05)
        run(platform)
        status = {i["loan_id"]: i["status"] for i in listing(platform, on=day)["items"]}
        assert status["LN-LATE"] == ("alert" if n < 14 else "normal"), n
    left = next(i for i in listing(platform, on=day)["items"] if i["loan_id"] == "LN-LATE")
    assert [a["kind"] for a in left["actions"]] == ["unfreeze_line"]


class Line:
    def __init__(self, line_id: str, limit: int, drawn: int, status: str) -> None:
        self.line_id, self.limit, self.drawn, self.status = line_id, limit, drawn, status


def test_actions_are_applied_once_through_the_handlers(platform) -> None:
    calls: list[tuple] = []

    def change_line(p, session, actor, line_id, *, key, reason, limit=None, annual_rate=None,
                    freeze=None, decision_id=None):
        calls.append(("line", line_id, key, limit, freeze))
        return {"line_id": line_id}

    def escalate(p, session, actor, *, loan_id, kind, key, reason):
        calls.append(("collect", loan_id, kind, key))
        return {"case": loan_id}

    lines = {"LN-LATE": [Line("L1", 1_000_000, 700_000, "active"),
                         Line("L2", 1_000_000, 0, "active")]}
    run(platform)
    # the loans have no applicant here: line actions are skipped, collection ones applied
    handlers = svc.ActionHandlers(change_line, lambda s, a: lines.get(a, []), escalate)
    with platform.unit() as session:
        counts = svc.apply_actions(platform, session, SYSTEM, handlers)
    assert counts == {"applied": 3, "skipped": 2, "failed": 0, "pending": 0}
    day = TODAY.isoformat()
    assert sorted(c for c in calls if c[0] == "collect") == [
        ("collect", "LN-BOUNCE", "call", f"warn:LN-BOUNCE:{day}:call"),
        ("collect", "LN-LATE", "call", f"warn:LN-LATE:{day}:call"),
        ("collect", "LN-LATE", "tighten_collection", f"warn:LN-LATE:{day}:tighten_collection")]
    with platform.unit() as session:
        assert svc.apply_actions(platform, session, SYSTEM, handlers)["applied"] == 0
    assert len(calls) == 3


def test_line_actions_for_a_borrower_with_lines() -> None:
    from puhui.risk.warnings import Action
    from types import SimpleNamespace

    calls = []

    def change_line(p, session, actor, line_id, *, key, reason, **change):
        calls.append((line_id, key, change))
        return {}
    lines = [Line("L1", 1_000_000, 700_000, "active"), Line("L2", 1_000_000, 0, "frozen"),
             Line("L3", 1_000_000, 0, "closed")]
    handlers = svc.ActionHandlers(change_line, lambda s, a: lines)

    def act(kind, params="{}"):
        row = SimpleNamespace(kind=kind.value, params=params, applicant_id="AP1",
                              loan_id="LN1", key=f"k:{kind.value}", reason="r")
        return svc._apply_one(None, None, SYSTEM, row, handlers)
    assert act(Action.FREEZE_LINE)[0] == "applied"
    assert act(Action.REDUCE_LIMIT, '{"factor": 0.5}')[0] == "applied"
    assert act(Action.UNFREEZE_LINE)[0] == "applied"
    assert calls == [("L1", "k:freeze_line:L1", {"freeze": True}),
                     ("L1", "k:reduce_limit:L1", {"limit": 700_000}),   # never below drawn
                     ("L2", "k:reduce_limit:L2", {"limit": 500_000}),
                     ("L2", "k:unfreeze_line:L2", {"freeze": False})]
    unwired = svc.ActionHandlers()
    row = SimpleNamespace(kind="call", params="{}", applicant_id="AP1", loan_id="LN1",
                          key="k", reason="r")
    assert svc._apply_one(None, None, SYSTEM, row, unwired) is None


def test_the_watch_list_is_for_staff_and_checks_its_input(platform) -> None:
    run(platform)
    with platform.read() as session:
        with pytest.raises(AccessDenied):
            svc.watch_list(platform, session, PARTNER)
        with pytest.raises(InvalidRequest, match="unknown status"):
            svc.watch_list(platform, session, OFFICER, "panic")
    with platform.unit() as session, pytest.raises(InvalidRequest, match="after today"):
        svc.assess_book(platform, session, SYSTEM, TODAY + timedelta(days=1))


def test_an_empty_watch_list(db_url) -> None:
    p = open_platform(db_url, TODAY)
    try:
        assert listing(p) == {"as_of": None, "counts": {"normal": 0, "watch": 0, "alert": 0},
                              "items": []}
    finally:
        p.close()


def test_the_daily_job_under_the_scheduler_stores_one_status_per_loan_and_day(platform) -> None:
    from datetime import time

    from puhui.services.clock import BUSINESS_ZONE
    from puhui.services.scheduler import JobSpec, Schedule, Scheduler

    schedule = Schedule((JobSpec("warnings", time(7, 0)),))
    scheduler = Scheduler(platform, schedule, jobs={"warnings": svc.run_warnings})
    platform.clock.advance(datetime(2026, 12, 8, 7, 0, tzinfo=BUSINESS_ZONE) - platform.clock.now())
    [ran] = scheduler.tick()
    assert ran.status == "succeeded" and ran.summary["assessed"] == 3
    # the line actions find no credit line on these loans (skipped); the calls and the
    # tightened collection are collections' (LN-LATE's call and tightening, LN-BOUNCE's call)
    assert ran.summary["applied"] == {"applied": 3, "failed": 0, "pending": 0, "skipped": 2}
    assert scheduler.tick() == []                    # done for the day
    assert scheduler.run_one("warnings", date(2026, 12, 8)) is None  # not claimed twice
    with platform.read() as session:
        queued = collections.queue(platform, session, OFFICER)
        trail = collections.audit_trail(platform, session, OFFICER, queued[0]["case_id"])
    again = svc.run_warnings(platform, date(2026, 12, 8))  # run again by hand
    assert again["assessed"] == 0 and again["already_assessed"] == 3
    assert again["applied"] == {"applied": 0, "failed": 0, "pending": 0, "skipped": 0}
    book = listing(platform, on=date(2026, 12, 8))
    assert len(book["items"]) == 3
    # the collectors' queue shows the calls, the past-due loan's case one stage stricter
    late, bounce = queued
    assert (late["loan_id"], bounce["loan_id"]) == ("LN-LATE", "LN-BOUNCE")
    assert late["origin"] == "delinquency" and late["escalations"] == 1
    assert late["stage"]["index"] == STRATEGY.stage_index(late["days_past_due"]) + 1
    assert late["call"]["requested_on"] == "2026-12-08" and "alert" in late["call"]["reason"]
    assert bounce["origin"] == "early_warning" and bounce["days_past_due"] == 0
    assert bounce["stage"]["name"] == "call" and bounce["call"]["urgent"] is False
    assert [(a["action"], a["detail"].get("key")) for a in trail] == [
        ("case_opened", None), ("call_requested", "warn:LN-LATE:2026-12-08:call"),
        ("stage_changed", "warn:LN-LATE:2026-12-08:tighten_collection")]
    with platform.read() as session:  # the second run changed nothing
        assert collections.queue(platform, session, OFFICER) == queued
        assert collections.audit_trail(platform, session, OFFICER, late["case_id"]) == trail


def test_a_loan_that_cannot_be_read_does_not_stop_the_run(platform, monkeypatch) -> None:
    from puhui.errors import InvalidEvent
    from puhui.services.scheduler import JobIncomplete

    real = svc.facts_of

    def flaky(p, session, loan_id, *rest):
        if loan_id == "LN-GOOD":
            raise InvalidEvent("snapshot unreadable")
        return real(p, session, loan_id, *rest)
    monkeypatch.setattr(svc, "facts_of", flaky)
    with pytest.raises(JobIncomplete) as failed:
        svc.run_warnings(platform, TODAY)
    assert failed.value.summary["failures"] == {"LN-GOOD": "InvalidEvent: snapshot unreadable"}
    assert failed.value.summary["assessed"] == 2
    monkeypatch.setattr(svc, "facts_of", real)
    again = svc.run_warnings(platform, TODAY)  # the retry assesses what is left
    assert (again["assessed"], again["already_assessed"]) == (1, 2)
    assert len(listing(platform)["items"]) == 3


# -- collections take the call and tighten_collection actions ---------------------------------
COLLECTOR = Principal("collector-key", Role.CREDIT_OFFICER, frozenset(), None)


def _watch(p, loan_id: str, day: date, status: str) -> None:
    """A stored watch status of the loan for `day` (what the daily warnings run writes)."""
    from puhui.store import warnings_repo

    with p.unit() as session:
        warnings_repo.add_statuses(session, [{
            "loan_id": loan_id, "as_of": day, "status": status, "previous": "watch",
            "since": day, "calm_since": None, "score": "0", "signals": "[]", "actions": "[]",
            "rules_version": "test", "rules_sha256": "0" * 64,
            "recorded_at": datetime(2026, 12, 1, tzinfo=timezone.utc)}])


def _escalate(p, loan_id: str, kind: str, key: str, reason: str = "normal -> watch") -> dict:
    with p.unit() as session:
        return collections.escalate(p, session, SYSTEM, loan_id=loan_id, kind=kind, key=key,
                                    reason=reason)


def _queue(p) -> list[dict]:
    with p.read() as session:
        return collections.queue(p, session, OFFICER)


def test_a_call_is_queued_once_per_key_and_an_urgent_one_comes_first(platform) -> None:
    first = _escalate(platform, "LN-BOUNCE", "call", "k1")
    assert first["opened"] is True and first["replayed"] is False
    assert _escalate(platform, "LN-BOUNCE", "call", "k1")["replayed"] is True
    [case] = _queue(platform)
    assert case["origin"] == "early_warning" and case["stage"]["name"] == "call"
    assert case["call"] == {"requested_on": TODAY.isoformat(), "reason": "normal -> watch",
                            "urgent": False}
    with platform.read() as session:
        trail = collections.audit_trail(platform, session, OFFICER, case["case_id"])
    assert [a["action"] for a in trail] == ["case_opened", "call_requested"]  # once

    # a past-due loan's call: an ordinary case, ahead of the early one by its priority
    late = _escalate(platform, "LN-LATE", "call", "k2", "normal -> alert")
    assert [c["loan_id"] for c in _queue(platform)] == ["LN-LATE", "LN-BOUNCE"]
    # tightening a loan not past due makes its call urgent: first in the queue
    tightened = _escalate(platform, "LN-BOUNCE", "tighten_collection", "k3")
    assert tightened["act"] == "call_requested" and tightened["urgent"] is True
    queued = _queue(platform)
    assert [c["loan_id"] for c in queued] == ["LN-BOUNCE", "LN-LATE"]
    assert queued[0]["stage"]["name"] == "call" and queued[0]["call"]["urgent"] is True
    # tightening a past-due loan moves its case one stage, once
    before = queued[1]["stage"]["index"]
    assert _escalate(platform, "LN-LATE", "tighten_collection", "k4")["act"] == "stage_changed"
    _escalate(platform, "LN-LATE", "tighten_collection", "k4")
    after = next(c for c in _queue(platform) if c["loan_id"] == "LN-LATE")
    assert after["stage"]["index"] == before + 1 and after["escalations"] == 1
    assert after["case_id"] == late["case_id"]


def test_the_call_made_clears_the_task(platform) -> None:
    _escalate(platform, "LN-BOUNCE", "call", "k1")
    [case] = _queue(platform)
    with platform.unit() as session:
        collections.record_attempt(platform, session, COLLECTOR, case["case_id"],
                                   channel="sms", party="borrower", outcome="no_answer",
                                   key="a1")
    assert _queue(platform)[0]["call"] is not None  # a message is not the call
    with platform.unit() as session:
        collections.record_attempt(platform, session, COLLECTOR, case["case_id"],
                                   channel="phone_call", party="borrower",
                                   outcome="left_message", key="a2")
    [case] = _queue(platform)
    assert case["call"] is None and case["status"] == "open"


def test_the_review_keeps_an_early_warning_case_while_the_warning_holds(platform) -> None:
    run(platform)  # LN-BOUNCE on watch today
    _escalate(platform, "LN-BOUNCE", "call", "k1")
    with platform.unit() as session:
        summary = collections.run_daily(platform, session, SYSTEM, TODAY)
    assert summary["closed"] == 0 and summary["reminders"] == 1  # LN-LATE's case, not LN-BOUNCE's
    [bounce] = [c for c in _queue(platform) if c["loan_id"] == "LN-BOUNCE"]
    assert bounce["status"] == "open" and bounce["stage"]["name"] == "call"
    day = TODAY + timedelta(days=1)
    platform.clock.advance(timedelta(days=1))
    _watch(platform, "LN-BOUNCE", day, "normal")  # the warning cleared
    with platform.unit() as session:
        collections.run_daily(platform, session, SYSTEM, day)
        [closed] = collections.cases_of_loan(platform, session, OFFICER, "LN-BOUNCE")
    assert closed["status"] == "closed" and closed["close_reason"] == "warning_cleared"


def test_a_warning_action_on_an_unknown_loan_or_kind_is_refused(platform) -> None:
    from puhui.collections.errors import InvalidCollectionsInput
    from puhui.services.errors import NotFound

    with pytest.raises(NotFound):
        _escalate(platform, "LN-NONE", "call", "k1")
    with pytest.raises(InvalidCollectionsInput):
        _escalate(platform, "LN-BOUNCE", "freeze_line", "k1")
    assert _queue(platform) == []


def test_leaving_alert_lifts_only_the_freezes_the_warning_made() -> None:
    """A line frozen by the line policy (its sales collapsed) or by staff stays frozen when the
    loan leaves alert: only the rule or person that froze it lets it go."""
    from puhui.risk.warnings import Action
    from types import SimpleNamespace

    calls = []

    def change_line(p, session, actor, line_id, *, key, reason, **change):
        calls.append((line_id, change))
        return {}
    lines = [Line("L1", 1_000_000, 0, "frozen"), Line("L2", 1_000_000, 0, "frozen"),
             Line("L3", 1_000_000, 0, "frozen")]
    froze = {"L1": "warn:LN1:2026-05-22:freeze_line:L1", "L2": "line-decision:LD9",
             "L3": "ops-freeze-7"}
    handlers = svc.ActionHandlers(change_line, lambda s, a: lines,
                                  freezer_of=lambda s, line_id: froze[line_id])
    row = SimpleNamespace(kind=Action.UNFREEZE_LINE.value, params="{}", applicant_id="AP1",
                          loan_id="LN1", key="warn:LN1:2026-06-16:unfreeze_line", reason="r")
    assert svc._apply_one(None, None, SYSTEM, row, handlers)[0] == "applied"
    assert calls == [("L1", {"freeze": False})]
    calls.clear()
    froze["L1"] = "line-decision:LD10"  # frozen again since, by the line policy
    assert svc._apply_one(None, None, SYSTEM, row, handlers) == (
        "skipped", "no line in a state this action changes")
    assert calls == []
