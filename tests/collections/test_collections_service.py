"""Collections over a real book, on SQLite and PostgreSQL: cases opened on the right day once,
stages by bucket, promises kept and broken against real receipts, contact rules, restructuring
within the cap, and the audit trail."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from puhui.book import amount_due
from puhui.collections.errors import (CaseClosed, ContactRefused, InvalidCollectionsInput,
                                      OfferNotOpen, RestructuringRefused)
from puhui.errors import InvalidBusinessDate, RateCapExceeded
from puhui.ledger.accounts import Acct
from puhui.loans.product import RateCap
from puhui.services import collections as svc
from puhui.services import servicing
from puhui.services.access import SYSTEM
from puhui.services.errors import AccessDenied, NotFound
from puhui.services.platform import Platform

from collections_samples import (CHECKER, FIRST_DUE, OFFICER, OTHER_OFFICER, PARTNER, book_loan, repay,
                                 set_day)


def run(p: Platform, day: date) -> dict[str, Any]:
    set_day(p, day, 7, 0)
    with p.unit() as s:
        return svc.run_daily(p, s, SYSTEM, day)


def the_case(p: Platform, loan_id: str) -> dict[str, Any]:
    with p.read() as s:
        [case] = [c for c in svc.cases_of_loan(p, s, OFFICER, loan_id) if c["status"] == "open"]
        return svc.show_case(p, s, OFFICER, case["case_id"])


def trail(p: Platform, case_id: str) -> list[dict[str, Any]]:
    with p.read() as s:
        return svc.audit_trail(p, s, OFFICER, case_id)


def act(p: Platform, fn, *args: Any, actor=OFFICER, **kw: Any) -> Any:
    with p.unit() as s:
        return fn(p, s, actor, *args, **kw)


def due_now(p: Platform, loan_id: str, day: date) -> int:
    """What the borrower must pay on `day` to be current, penalty to that day included (the
    book here is never closed, so the loan as loaded has accrued nothing since its last event)."""
    with p.read() as s:
        probe = copy.deepcopy(p.book.load_in(s, loan_id))
    probe._catch_up(day, day)
    return amount_due(probe, day)


# -- cases open on the right day, once, and follow the bucket ----------------------------------

def test_a_loan_going_overdue_opens_one_case_on_its_first_day_past_due(platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    book_loan(p, "LN-B")
    repay(p, "LN-B", due_now(p, "LN-B", FIRST_DUE), FIRST_DUE, "pay-b-1")
    assert run(p, FIRST_DUE)["opened"] == 0  # due today is not past due
    summary = run(p, FIRST_DUE + timedelta(days=1))
    assert summary["opened"] == 1 and summary["open_cases"] == 1
    again = run(p, FIRST_DUE + timedelta(days=1))  # the job run twice: nothing new
    assert again["opened"] == 0 and again["open_cases"] == 1
    with p.read() as s:
        assert svc.cases_of_loan(p, s, OFFICER, "LN-B") == []
        [case] = svc.cases_of_loan(p, s, OFFICER, "LN-A")
    assert case["opened_on"] == "2026-01-21" and case["days_past_due"] == 1
    assert case["bucket"] == "1-30" and case["stage"]["name"] == "reminder"
    assert case["risk_class"] == "special_mention"
    assert case["amount_overdue"] == due_now(p, "LN-A", date(2026, 1, 21)) > 0
    assert case["priority"] == case["amount_overdue"] * 1
    assert [e["action"] for e in trail(p, case["case_id"])] == ["case_opened"]


def test_stages_escalate_with_the_bucket_and_a_cured_loan_closes_its_case(platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    seen = []
    for dpd in (1, 30, 31, 60, 61, 91, 180, 181):
        run(p, FIRST_DUE + timedelta(days=dpd))
        case = the_case(p, "LN-A")
        seen.append((case["days_past_due"], case["stage"]["name"]))
    assert seen == [(1, "reminder"), (30, "reminder"), (31, "call"), (60, "call"),
                    (61, "field_visit"), (91, "legal"), (180, "legal"), (181, "agency")]
    assert case["stage"]["actions"] == ["legal_letter", "agency_handoff"]
    changes = [(e["detail"]["from_stage"], e["detail"]["to_stage"])
               for e in trail(p, case["case_id"]) if e["action"] == "stage_changed"]
    assert changes == [("reminder", "call"), ("call", "field_visit"), ("field_visit", "legal"),
                       ("legal", "agency")]
    # paying everything past due cures the loan: the case closes, a later miss opens a new one
    day = FIRST_DUE + timedelta(days=182)
    set_day(p, day)
    repay(p, "LN-A", due_now(p, "LN-A", day), day, "catch-up")
    assert run(p, day)["closed"] == 1
    with p.read() as s:
        [closed] = svc.cases_of_loan(p, s, OFFICER, "LN-A")
    assert closed["status"] == "closed" and closed["close_reason"] == "cured"
    next_due = date(2026, 8, 20)
    assert run(p, next_due + timedelta(days=1))["opened"] == 1
    with p.read() as s:
        episodes = svc.cases_of_loan(p, s, OFFICER, "LN-A")
    assert [c["status"] for c in episodes] == ["closed", "open"]


def test_the_review_runs_forward_only_and_not_ahead_of_today(platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    run(p, FIRST_DUE + timedelta(days=3))
    with pytest.raises(InvalidBusinessDate, match="forward only"):
        run(p, FIRST_DUE + timedelta(days=2))
    set_day(p, FIRST_DUE + timedelta(days=3))
    with p.unit() as s, pytest.raises(InvalidBusinessDate):
        svc.run_daily(p, s, SYSTEM, FIRST_DUE + timedelta(days=4))


# -- promises ---------------------------------------------------------------------------------

def _promise(p: Platform, day: date, amount: int, due_on: date, key: str) -> dict[str, Any]:
    set_day(p, day)
    case = the_case(p, "LN-A")
    return act(p, svc.record_promise, case["case_id"], amount=amount, due_on=due_on, key=key)


@pytest.mark.parametrize("short", [0, 1])
def test_a_promise_paid_on_its_day_is_kept_and_one_fen_short_is_broken(platform,
                                                                        short: int) -> None:
    p = platform
    book_loan(p, "LN-A")
    opened = FIRST_DUE + timedelta(days=1)
    run(p, opened)
    promised_for = opened + timedelta(days=3)
    amount = due_now(p, "LN-A", promised_for)
    promise = _promise(p, opened, amount, promised_for, "promise-1")
    assert promise["status"] == "pending"
    run(p, promised_for - timedelta(days=1))
    assert the_case(p, "LN-A")["promises"][0]["status"] == "pending"
    set_day(p, promised_for, 18)
    repay(p, "LN-A", amount - short, promised_for, "pay-on-the-day")
    summary = run(p, promised_for)  # the due day itself: a short payment is not broken yet
    assert summary["promises_broken"] == 0 and summary["promises_kept"] == (1 - short)
    summary = run(p, promised_for + timedelta(days=1))
    if short:
        assert summary["promises_broken"] == 1
        case = the_case(p, "LN-A")  # one fen short leaves the loan past due
        [checked] = case["promises"]
        assert checked["status"] == "broken" and checked["paid"] == amount - 1
        assert case["escalations"] == 1 and case["stage"]["name"] == "call"  # 1-30 dpd, raised
        actions = [e["action"] for e in trail(p, case["case_id"])]
        assert actions[-2:] == ["promise_broken", "stage_changed"]
    else:
        with p.read() as s:
            [case] = svc.cases_of_loan(p, s, OFFICER, "LN-A")
            detail = svc.show_case(p, s, OFFICER, case["case_id"])
        assert detail["promises"][0]["status"] == "kept"
        assert detail["promises"][0]["paid"] == amount
        assert case["status"] == "closed" and case["close_reason"] == "cured"


def test_a_payment_before_the_promise_or_reversed_does_not_keep_it(platform) -> None:
    from puhui.loans.events import PaymentReversal

    p = platform
    book_loan(p, "LN-A")
    opened = FIRST_DUE + timedelta(days=1)
    run(p, opened)
    repay(p, "LN-A", 100, opened, "small-before")  # before the promise is made: not counted
    amount = due_now(p, "LN-A", opened)
    _promise(p, opened + timedelta(days=1), amount, opened + timedelta(days=2), "promise-1")
    day = opened + timedelta(days=2)
    set_day(p, day)
    repay(p, "LN-A", amount, day, "bounced")
    with p.unit() as s:
        p.book.apply_in(s, [("LN-A", PaymentReversal("reverse-bounced", day, target="bounced",
                                                     reason="debit bounced"))])
    assert run(p, day + timedelta(days=1))["promises_broken"] == 1


def test_a_promise_must_be_positive_and_due_within_30_days(platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    opened = FIRST_DUE + timedelta(days=1)
    run(p, opened)
    for amount, due in ((0, opened), (-5, opened), (100, opened - timedelta(days=1)),
                        (100, opened + timedelta(days=31))):
        with pytest.raises(InvalidCollectionsInput):
            _promise(p, opened, amount, due, f"bad-{amount}-{due}")
    assert the_case(p, "LN-A")["promises"] == []


# -- contact rules ---------------------------------------------------------------------------

def _attempt(p: Platform, case_id: str, key: str, party: str = "borrower",
             outcome: str = "no_answer", **kw: Any) -> dict[str, Any]:
    return act(p, svc.record_attempt, case_id, channel="phone_call", party=party,
               outcome=outcome, key=key, **kw)


@pytest.mark.parametrize("hh, mm, allowed", [(7, 59, False), (8, 0, True), (20, 59, True),
                                             (21, 0, False)])
def test_contact_hours_are_enforced_to_the_minute(platform, hh: int, mm: int,
                                                  allowed: bool) -> None:
    p = platform
    book_loan(p, "LN-A")
    day = FIRST_DUE + timedelta(days=2)
    run(p, day)
    case_id = the_case(p, "LN-A")["case_id"]
    set_day(p, day, hh, mm)
    if allowed:
        attempt = _attempt(p, case_id, "call-1")
        assert attempt["collector"] == OFFICER.key_id and attempt["outcome"] == "no_answer"
    else:
        with pytest.raises(ContactRefused, match="outside the contact hours") as refused:
            _attempt(p, case_id, "call-1")
        assert refused.value.rule == "contact_hours"
    case = the_case(p, "LN-A")
    assert len(case["attempts"]) == (1 if allowed else 0)
    last = trail(p, case_id)[-1]
    assert last["action"] == "contact_attempt" and last["actor"] == OFFICER.key_id
    assert last["outcome"] == ("done" if allowed else "refused")
    if not allowed:
        assert last["detail"]["rule"] == "contact_hours"


def test_a_borrower_is_contacted_at_most_three_times_a_day(platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    day = FIRST_DUE + timedelta(days=2)
    run(p, day)
    case_id = the_case(p, "LN-A")["case_id"]
    for n in range(3):
        set_day(p, day, 9 + n)
        _attempt(p, case_id, f"call-{n}")
    set_day(p, day, 15)
    with pytest.raises(ContactRefused, match="at most 3 contacts a day"):
        _attempt(p, case_id, "call-3")
    # the same request sent again is answered, not refused nor recorded twice
    assert _attempt(p, case_id, "call-0")["attempt_id"] == the_case(p, "LN-A")["attempts"][0][
        "attempt_id"]
    set_day(p, day + timedelta(days=1), 9)
    _attempt(p, case_id, "call-next-day")
    assert len(the_case(p, "LN-A")["attempts"]) == 4
    refusals = [e for e in trail(p, case_id) if e["outcome"] == "refused"]
    assert [e["detail"]["rule"] for e in refusals] == ["daily_cap"]


def test_third_parties_are_never_contacted(platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    run(p, FIRST_DUE + timedelta(days=2))
    case_id = the_case(p, "LN-A")["case_id"]
    for party in ("relative", "employer_or_colleague", "guarantor", "other"):
        with pytest.raises(ContactRefused, match="only the borrower is contacted"):
            _attempt(p, case_id, f"call-{party}", party=party)
    assert the_case(p, "LN-A")["attempts"] == []
    assert {e["detail"]["rule"] for e in trail(p, case_id) if e["outcome"] == "refused"} == \
        {"third_party"}


def test_a_promise_made_on_a_call_is_recorded_with_it(platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    day = FIRST_DUE + timedelta(days=2)
    run(p, day)
    case_id = the_case(p, "LN-A")["case_id"]
    set_day(p, day, 10)
    with pytest.raises(InvalidCollectionsInput, match="promise_to_pay needs"):
        _attempt(p, case_id, "call-1", outcome="promise_to_pay")
    with pytest.raises(InvalidCollectionsInput, match="unknown outcome"):
        _attempt(p, case_id, "call-1", outcome="threatened")
    attempt = _attempt(p, case_id, "call-1", outcome="promise_to_pay", promise_amount=500_00,
                       promise_due=day + timedelta(days=5), note="will pay after a big order")
    assert attempt["promise"]["amount"] == 500_00 and attempt["promise"]["status"] == "pending"
    assert [e["action"] for e in trail(p, case_id)][-2:] == ["contact_attempt", "promise_made"]


# -- restructuring ------------------------------------------------------------------------------

def _loan_state(p: Platform, loan_id: str) -> tuple:
    with p.read() as s:
        account = p.book.load_in(s, loan_id)
        return (len(account.applied), [(i.due, i.principal, i.interest) for i in
                                       account.instalments], account.balances())


def test_a_restructuring_above_the_rate_cap_is_refused_and_changes_nothing(platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    day = FIRST_DUE + timedelta(days=40)
    run(p, day)
    case_id = the_case(p, "LN-A")["case_id"]
    before = _loan_state(p, "LN-A")
    with pytest.raises(RateCapExceeded, match="above the"):
        act(p, svc.propose_restructuring, case_id, kind="reschedule", periods=12,
            annual_rate="0.30", affordable_instalment=50_000_00, key="r-1")
    p.rate_cap = RateCap(Decimal("0.08"), "8% what-if cap")  # the cap fell below the loan's price
    with pytest.raises(RateCapExceeded, match="8% what-if cap"):
        act(p, svc.propose_restructuring, case_id, kind="extend", extra_periods=6,
            affordable_instalment=50_000_00, key="r-2")
    p.rate_cap = None
    with pytest.raises(RestructuringRefused, match="cannot afford"):
        act(p, svc.propose_restructuring, case_id, kind="extend", extra_periods=1,
            affordable_instalment=1_00, key="r-3")
    with pytest.raises(RestructuringRefused, match="may not raise the rate"):
        act(p, svc.propose_restructuring, case_id, kind="reschedule", periods=12,
            annual_rate="0.12", affordable_instalment=50_000_00, key="r-4")
    assert _loan_state(p, "LN-A") == before
    case = the_case(p, "LN-A")
    assert case["offers"] == [] and case["status"] == "open"
    refused = [e for e in trail(p, case_id) if e["outcome"] == "refused"]
    assert [e["detail"]["rule"] for e in refused] == [
        "RateCapExceeded", "RateCapExceeded", "RestructuringRefused", "RestructuringRefused"]


def test_an_accepted_restructuring_reschedules_the_loan_and_the_ledger_balances(
        platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    day = FIRST_DUE + timedelta(days=40)
    run(p, day)
    case_id = the_case(p, "LN-A")["case_id"]
    set_day(p, day)
    offer = act(p, svc.propose_restructuring, case_id, kind="extend", extra_periods=6,
                affordable_instalment=9_000_00, key="r-1")
    assert offer["status"] == "proposed" and offer["terms"]["periods"] == 10 + 6
    assert offer["terms"]["new_instalment"] <= 9_000_00
    assert offer["terms"]["new_instalment"] < offer["terms"]["current_instalment"]
    assert Decimal(offer["terms"]["apr"]) <= Decimal("0.24")
    assert offer["rate_cap"]["annual_limit"] == "0.24"
    # proposing changes nothing on the loan; the same request again is the same offer
    assert act(p, svc.propose_restructuring, case_id, kind="extend", extra_periods=6,
               affordable_instalment=9_000_00, key="r-1")["offer_id"] == offer["offer_id"]
    accept_day = day + timedelta(days=2)
    set_day(p, accept_day)
    accepted = act(p, svc.accept_offer, offer["offer_id"])
    # the reschedule is a staff servicing request, which waits for a second officer
    request = accepted["operation"]
    assert accepted["status"] == "accepted" and request["applied"] is False
    assert request["status"] == "pending" and request["operation"] == "reschedule"
    assert request["maker"] == OFFICER.key_id and request["needs_approval"] is True
    with p.read() as s:
        assert p.book.load_in(s, "LN-A").days_past_due(accept_day) > 0  # nothing yet
    with p.unit() as s:
        approved = servicing.approve(p, s, CHECKER, request["request_id"], "approve-r-1")
    assert approved["status"] == "applied" and approved["checker"] == CHECKER.key_id
    with p.read() as s:
        loan = p.book.load_in(s, "LN-A")
        assert loan.days_past_due(accept_day) == 0
        assert loan.product.term_periods == 16
        new = [i for i in loan.instalments if i.due > accept_day]
        assert len(new) == 16 and max(i.principal + i.interest + i.fee for i in new) <= 9_000_00
        assert sum(1 for e in loan.history if e[0].kind == "reschedule") <= 1
    assert sum(p.book.trial_balance().values()) == 0
    loan_accounts = {Acct.LOAN_PRINCIPAL, Acct.INTEREST_RECEIVABLE, Acct.FEE_RECEIVABLE,
                     Acct.PENALTY_RECEIVABLE, Acct.BORROWER_CREDIT}
    own = {a: v for (a, _), v in p.book.sub_ledger("LN-A").items() if v and a in loan_accounts}
    assert own == loan.balances() and own[Acct.LOAN_PRINCIPAL] > 0
    # accepted twice: the loan changes once
    events = _loan_state(p, "LN-A")[0]
    assert act(p, svc.accept_offer, offer["offer_id"])["status"] == "accepted"
    assert _loan_state(p, "LN-A")[0] == events
    run(p, accept_day)  # the day's review finds the loan cured
    with p.read() as s:
        [case] = svc.cases_of_loan(p, s, OFFICER, "LN-A")
    assert case["status"] == "closed" and case["close_reason"] == "cured"
    actions = [e["action"] for e in trail(p, case_id)]
    assert actions.index("restructuring_proposed") < actions.index("restructuring_accepted") \
        < actions.index("case_closed") == len(actions) - 1


def test_acceptance_goes_through_the_operation_given_and_expired_offers_stay_shut(
        platform) -> None:
    """How staff servicing (maker-checker) plugs in: the loan changes only when it says so."""
    p = platform
    book_loan(p, "LN-A")
    day = FIRST_DUE + timedelta(days=40)
    run(p, day)
    case_id = the_case(p, "LN-A")["case_id"]
    set_day(p, day)
    first = act(p, svc.propose_restructuring, case_id, kind="reduce_instalment",
                affordable_instalment=6_000_00, key="r-1")
    second = act(p, svc.propose_restructuring, case_id, kind="reschedule", periods=24,
                 affordable_instalment=9_000_00, key="r-2")
    assert first["terms"]["new_instalment"] <= 6_000_00
    calls = []

    def maker(session, loan_id, operation, params, key):
        calls.append((loan_id, operation, params, key))
        return {"applied": False, "status": "pending_approval", "request_id": "SR-1"}

    before = _loan_state(p, "LN-A")
    accepted = act(p, svc.accept_offer, first["offer_id"], apply_operation=maker)
    assert calls == [("LN-A", "reschedule", {"periods": first["terms"]["periods"],
                                             "annual_rate": "0.0985", "on": day.isoformat()},
                      f"collections:restructure:{first['offer_id']}")]
    assert accepted["operation"]["status"] == "pending_approval"
    assert _loan_state(p, "LN-A") == before and the_case(p, "LN-A")["status"] == "open"
    # the other offer was withdrawn when this one was accepted
    with pytest.raises(OfferNotOpen, match="withdrawn"):
        act(p, svc.accept_offer, second["offer_id"])
    third = act(p, svc.propose_restructuring, case_id, kind="extend", extra_periods=2,
                affordable_instalment=9_000_00, key="r-3")
    run(p, day + timedelta(days=8))
    with pytest.raises(OfferNotOpen, match="expired"):
        act(p, svc.accept_offer, third["offer_id"])


# -- write-off advice, access, the trail ---------------------------------------------------------

def test_write_off_is_recommended_after_180_days_with_little_to_recover(platform) -> None:
    p = platform
    book_loan(p, "LN-SMALL", principal=20_000_00)
    book_loan(p, "LN-BIG", principal=5_000_000_00)
    run(p, FIRST_DUE + timedelta(days=179))
    with p.read() as s:
        assert svc.write_off_recommendations(p, s, OFFICER) == []
    run(p, FIRST_DUE + timedelta(days=181))
    with p.read() as s:
        [advice] = svc.write_off_recommendations(p, s, OFFICER)
    assert advice["loan_id"] == "LN-SMALL" and advice["write_off"]["recommended"]
    assert advice["write_off"]["expected_recovery"] < advice["write_off"]["cost_to_collect"]
    big = the_case(p, "LN-BIG")["write_off"]
    assert not big["recommended"] and "expected recovery" in big["unmet"][0]


def test_only_staff_collect_and_every_act_is_in_the_trail(platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    day = FIRST_DUE + timedelta(days=2)
    run(p, day)
    case_id = the_case(p, "LN-A")["case_id"]
    with p.read() as s:
        with pytest.raises(AccessDenied):
            svc.queue(p, s, PARTNER)
        with pytest.raises(NotFound):
            svc.show_case(p, s, OFFICER, "CC-nothing")
    set_day(p, day, 9)
    act(p, svc.assign, case_id, "me")
    act(p, svc.assign, case_id, OTHER_OFFICER.key_id)
    act(p, svc.assign, case_id, OTHER_OFFICER.key_id)  # no change, nothing audited
    _attempt(p, case_id, "call-1")
    with p.read() as s:
        assert [c["case_id"] for c in svc.queue(p, s, OTHER_OFFICER, "me")] == [case_id]
        assert svc.queue(p, s, OFFICER, "me") == []
    got = trail(p, case_id)
    assert [(e["action"], e["actor"]) for e in got] == [
        ("case_opened", "system"), ("case_assigned", OFFICER.key_id),
        ("case_assigned", OFFICER.key_id), ("contact_attempt", OFFICER.key_id)]
    assert got[2]["detail"] == {"from": OFFICER.key_id, "to": OTHER_OFFICER.key_id}
    assert all(e["at"] for e in got)


def test_the_queue_puts_the_largest_amount_times_days_first(platform) -> None:
    p = platform
    book_loan(p, "LN-OLD", principal=50_000_00)
    book_loan(p, "LN-BIG", principal=1_000_000_00, on=date(2026, 2, 5))
    book_loan(p, "LN-SMALL", principal=10_000_00, on=date(2026, 2, 5))
    day = date(2026, 2, 25)  # LN-OLD 36 days past due, the others 5
    run(p, day)
    with p.read() as s:
        ordered = svc.queue(p, s, OFFICER)
    assert [c["loan_id"] for c in ordered] == ["LN-BIG", "LN-OLD", "LN-SMALL"]
    assert [c["priority"] for c in ordered] == sorted((c["priority"] for c in ordered),
                                                      reverse=True)
    assert all(c["priority"] == c["amount_overdue"] * c["days_past_due"] for c in ordered)


def test_a_settled_loan_closes_its_case_and_closed_cases_take_no_acts(platform) -> None:
    from puhui.loans.events import Prepayment, PrepaymentMode

    p = platform
    book_loan(p, "LN-A")
    day = FIRST_DUE + timedelta(days=3)
    run(p, day)
    case_id = the_case(p, "LN-A")["case_id"]
    set_day(p, day)
    with p.unit() as s:
        payoff = p.book.load_in(s, "LN-A").payoff_amount(day)
        p.book.apply_in(s, [("LN-A", Prepayment("payoff", day, payoff, PrepaymentMode.FULL))])
    assert run(p, day)["closed"] == 1
    with p.read() as s:
        assert svc.show_case(p, s, OFFICER, case_id)["close_reason"] == "settled"
    set_day(p, day, 10)
    with pytest.raises(CaseClosed):
        _attempt(p, case_id, "late-call")


def test_the_scheduler_runs_the_review_once_a_day_after_the_auto_debit(platform) -> None:
    from datetime import time

    from puhui.services.scheduler import (AUTO_DEBIT, COLLECTIONS, JobSpec, Schedule, Scheduler,
                                          run_collections)
    from puhui.store.job_runs import SUCCEEDED

    p = platform
    book_loan(p, "LN-A")
    day = FIRST_DUE + timedelta(days=1)
    scheduler = Scheduler(p, Schedule((JobSpec(AUTO_DEBIT, time(6)),
                                       JobSpec(COLLECTIONS, time(7)))), "r")
    set_day(p, day, 6, 59)
    assert [r.job for r in scheduler.tick()] == [AUTO_DEBIT]
    set_day(p, day, 7, 0)
    [run_] = scheduler.tick()
    assert run_.job == COLLECTIONS and run_.status == SUCCEEDED, run_.error
    assert run_.summary["opened"] == 1 and run_.summary["business_date"] == day.isoformat()
    set_day(p, day, 9, 0)
    assert scheduler.tick() == []  # done for the day
    assert run_collections(p, day)["opened"] == 0  # and run by hand again: nothing new
    with p.read() as s:
        assert len(svc.cases_of_loan(p, s, OFFICER, "LN-A")) == 1


def test_reminders_follow_the_stage_cadence_with_one_key_per_case_and_day(platform) -> None:
    p = platform
    book_loan(p, "LN-A")
    sent: dict[str, dict] = {}

    def notify(_p, _session, *, applicant_id, kind, key, subject, body, context):
        sent[key] = {"applicant_id": applicant_id, "kind": kind, "body": body, **context}

    remind = svc.notifying_reminder(p, notify)
    calls: list[str] = []

    def recording(session, case, stage, key):
        calls.append(key)
        remind(session, case, stage, key)

    opened = FIRST_DUE + timedelta(days=1)
    for offset in range(0, 8):
        day = opened + timedelta(days=offset)
        set_day(p, day, 7)
        with p.unit() as s:
            svc.run_daily(p, s, SYSTEM, day, remind=recording)
    case_id = the_case(p, "LN-A")["case_id"]
    assert calls == [f"collections-reminder:{case_id}:{opened + timedelta(days=d)}"
                     for d in (0, 3, 6)]  # every 3 days in the first stage
    assert sent == {}  # a loan booked outside origination has nobody to notify
    # a borrower's case: the notification names the loan and the amount, with the case's key
    from dataclasses import replace

    from puhui.store.collections_repo import get_case

    with p.read() as s:
        case = replace(get_case(s, case_id), applicant_id="AP-1")
        remind(s, case, {"name": "reminder"}, "collections-reminder:k")
    [(key, note)] = sent.items()
    assert key == "collections-reminder:k" and note["applicant_id"] == "AP-1"
    assert note["kind"] == "collections_reminder" and note["loan_id"] == "LN-A"
    assert f"{case.dpd} days past due" in note["body"] and note["stage"] == "reminder"


def test_the_review_finds_overdue_loans_on_a_closed_book_and_skips_current_ones(platform) -> None:
    """After closes, loans are looked at from their due positions: one in arrears is reviewed
    every day, one paid up is not a candidate at all."""
    from puhui.store.collections_repo import review_candidates

    p = platform
    book_loan(p, "LN-LATE")
    book_loan(p, "LN-PAID")
    repay(p, "LN-PAID", due_now(p, "LN-PAID", FIRST_DUE), FIRST_DUE, "on-time")
    for offset in range(0, 5):
        day = FIRST_DUE + timedelta(days=offset)
        set_day(p, day + timedelta(days=1), 1)
        p.book.end_of_day(day)
        summary = run(p, day + timedelta(days=1))
        assert summary["open_cases"] == 1
        with p.read() as s:
            assert [loan for loan, _ in review_candidates(s, day + timedelta(days=1))] == [
                "LN-LATE"]
    case = the_case(p, "LN-LATE")
    assert case["days_past_due"] == 5 and case["opened_on"] == "2026-01-21"
    assert case["amount_overdue"] > due_now(p, "LN-PAID", FIRST_DUE)  # penalty accrued


def test_two_collectors_at_once_cannot_pass_the_borrowers_daily_cap_together(platform) -> None:
    import threading

    from puhui.store.collections_repo import update_case

    p = platform
    book_loan(p, "LN-A")
    book_loan(p, "LN-B")
    day = FIRST_DUE + timedelta(days=2)
    run(p, day)
    cases = [the_case(p, loan)["case_id"] for loan in ("LN-A", "LN-B")]
    with p.unit() as s:  # one borrower's two loans
        for case_id in cases:
            update_case(s, case_id, applicant_id="AP-SAME")
    set_day(p, day, 9)
    _attempt(p, cases[0], "first")
    _attempt(p, cases[1], "second")
    set_day(p, day, 10)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def collector(case_id: str, actor) -> None:
        barrier.wait()
        try:
            act(p, svc.record_attempt, case_id, channel="phone_call", party="borrower",
                outcome="no_answer", key=f"race-{case_id}", actor=actor)
            outcomes.append("recorded")
        except ContactRefused as exc:
            outcomes.append(exc.rule)

    threads = [threading.Thread(target=collector, args=(case_id, actor))
               for case_id, actor in zip(cases, (OFFICER, OTHER_OFFICER))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["daily_cap", "recorded"]
