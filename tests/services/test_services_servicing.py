"""Staff servicing with maker-checker, end to end on the book: each operation posts what it
should, the ledger balances, the sub-ledger reconciles, snapshots agree with the history, and a
request or decision sent again changes nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Iterator

import pytest

from puhui.errors import InvalidAmount, InvalidEvent, LoanClosed, RateCapExceeded
from puhui.ledger.accounts import Acct
from puhui.loans.approvals import DEFAULT_APPROVALS, ApprovalRules, Operation
from puhui.loans.events import Repayment
from puhui.loans.state import LoanStatus
from puhui.services import servicing
from puhui.services.errors import AccessDenied, InvalidRequest, NotFound
from puhui.services.servicing import ApplyFailed, RequestExpired, RequestNotPending, SelfApproval

from puhui.book import LoanBook
from puhui.loans.snapshot import to_state

from servicing_samples import ADMIN, CHECKER, LINE, MAKER, PARTNER, PENALTY_LAST, Desk, desk

ALWAYS = ApprovalRules.from_dict({"operations": {op.value: "always" for op in Operation}})
NEVER = ApprovalRules.from_dict({"operations": {op.value: "never" for op in Operation}})
OVERDUE = date(2026, 4, 22)   # twenty days after the first instalment fell due unpaid


@pytest.fixture
def d(db_url: str) -> Iterator[Desk]:
    made = desk(db_url)
    try:
        yield made
    finally:
        made.p.close()


def desk_again(d: Desk) -> LoanBook:
    """A book on the same database with nothing cached: it loads from the stored snapshots."""
    return LoanBook(d.p.engine)


def _overdue(d: Desk, principal: int = 600_000_00) -> str:
    loan_id = d.book_loan(principal)
    d.to_day(OVERDUE)
    return loan_id


def test_default_rules_are_the_documented_ones() -> None:
    rules = DEFAULT_APPROVALS
    assert rules.needs_approval(Operation.WRITE_OFF, 1)
    assert rules.needs_approval(Operation.RESCHEDULE, 1)
    assert not rules.needs_approval(Operation.RECOVERY, 10**9)
    assert not rules.needs_approval(Operation.WAIVE, 500_00)
    assert rules.needs_approval(Operation.WAIVE, 500_01)
    assert not rules.needs_approval(Operation.FREEZE, 0)
    assert rules.expires_after == timedelta(hours=72)
    # an operation the setting leaves out needs approval; bad settings are refused
    assert ApprovalRules.from_dict({}).needs_approval(Operation.RECOVERY, 1)
    for bad in ({"operations": {"waive": {"above": -1}}}, {"operations": {"mint": "never"}},
                {"expires_after_hours": 0}, {"operations": {"waive": "sometimes"}}, []):
        with pytest.raises(InvalidEvent):
            ApprovalRules.from_dict(bad)
    assert ApprovalRules.from_dict(rules.to_dict()) == rules


def test_a_small_waiver_is_applied_at_once_and_reverses_the_income(d: Desk) -> None:
    loan_id = _overdue(d)
    before = d.load(loan_id)
    penalty = before.penalty_receivable
    assert penalty > 500_00
    done = d.request(loan_id, "waive", {"charge": "penalty", "amount": 300_00,
                                        "reason": "hardship"}, "w1")
    assert (done["status"], done["needs_approval"], done["checker"]) == ("applied", False, None)
    assert done["amount"] == 300_00 and done["reason"] == "hardship"
    after = d.load(loan_id)
    assert after.penalty_receivable == penalty - 300_00
    # the waiver's own entry: Dr penalty income / Cr penalty receivable, 300 yuan each
    [seq] = done["result"]["journal_entries"]
    with d.p.book.sessions() as session:
        from puhui.store.ledger_repo import LedgerRepository
        entry = LedgerRepository(session).get(seq)
    assert sorted((p.account, p.amount) for p in entry.postings) == [
        (Acct.PENALTY_RECEIVABLE, -300_00), (Acct.PENALTY_INCOME, 300_00)]
    d.assert_consistent(loan_id)
    # the loan goes on through the close and stays consistent
    d.to_day(OVERDUE + timedelta(days=3))
    d.assert_consistent(loan_id)


def test_a_large_waiver_waits_for_a_second_person(d: Desk) -> None:
    loan_id = _overdue(d)
    penalty = d.load(loan_id).penalty_receivable
    req = d.request(loan_id, "waive", {"charge": "penalty", "amount": 600_00,
                                       "reason": "settlement"}, "w-big")
    assert (req["status"], req["needs_approval"], req["maker"]) == ("pending", True, "K-maker")
    assert d.load(loan_id).penalty_receivable == penalty  # nothing happened yet
    entries = d.entries()
    with pytest.raises(SelfApproval):
        d.approve(req["request_id"], "a0", who=MAKER)
    assert d.entries() == entries
    with pytest.raises(AccessDenied):
        d.approve(req["request_id"], "a0", who=PARTNER)
    done = d.approve(req["request_id"], "a1")
    assert (done["status"], done["checker"]) == ("applied", "K-checker")
    assert done["event_key"] == f"servicing:{req['request_id']}"
    assert d.load(loan_id).penalty_receivable == penalty - 600_00
    entries = d.entries()
    # the approval sent again answers as before and posts nothing; another approval is refused
    assert d.approve(req["request_id"], "a1") == done
    with pytest.raises(RequestNotPending):
        d.approve(req["request_id"], "a2", who=ADMIN)
    with pytest.raises(RequestNotPending):
        d.reject(req["request_id"], "r1", "too late")
    # the maker's request sent again is the same request
    assert d.request(loan_id, "waive", {"charge": "penalty", "amount": 600_00,
                                        "reason": "settlement"}, "w-big")["status"] == "applied"
    assert d.entries() == entries
    d.assert_consistent(loan_id)


def test_a_request_key_reused_for_another_request_is_refused(d: Desk) -> None:
    loan_id = _overdue(d)
    d.request(loan_id, "freeze", {"reason": "dispute"}, "k1")
    with pytest.raises(InvalidRequest):
        d.request(loan_id, "unfreeze", {"reason": "resolved"}, "k1")
    with pytest.raises(InvalidRequest):  # another maker under the same key
        d.request(loan_id, "freeze", {"reason": "dispute"}, "k1", who=CHECKER)


def test_bad_requests_are_refused_and_store_nothing(d: Desk) -> None:
    loan_id = _overdue(d)
    penalty = d.load(loan_id).penalty_receivable
    cases = [
        ("waive", {"charge": "penalty", "amount": penalty + 1_000_00, "reason": "x"}, InvalidAmount),
        ("waive", {"charge": "principal", "amount": 1, "reason": "x"}, InvalidRequest),
        ("waive", {"charge": "fee", "amount": 1}, InvalidRequest),          # no reason
        ("waive", {"charge": "fee", "amount": 1.5, "reason": "x"}, InvalidRequest),
        ("recovery", {"amount": 100, "reason": "x"}, InvalidEvent),         # not written off
        ("reverse_payment", {"target": "nope", "reason": "x"}, InvalidEvent),
        ("reschedule", {"periods": 0, "reason": "x"}, InvalidRequest),
        ("reschedule", {"periods": 6, "annual_rate": 0.1, "reason": "x"}, InvalidRequest),
        ("extend", {"extra_periods": 2, "rate": "0.1", "reason": "x"}, InvalidRequest),
        ("unfreeze", {"reason": "x"}, InvalidEvent),                        # not frozen
        ("mint", {"reason": "x"}, InvalidRequest),
    ]
    entries = d.entries()
    for n, (operation, params, error) in enumerate(cases):
        with pytest.raises(error):
            d.request(loan_id, operation, params, f"bad{n}")
    with pytest.raises(NotFound):
        d.request("LN-none", "freeze", {"reason": "x"}, "bad-none")
    with pytest.raises(AccessDenied):
        d.request(loan_id, "freeze", {"reason": "x"}, "bad-partner", who=PARTNER)
    assert d.requests() == [] and d.entries() == entries


def test_a_reschedule_above_the_rate_cap_is_refused_and_a_lawful_one_applied(d: Desk) -> None:
    loan_id = _overdue(d)
    principal = d.load(loan_id).principal_outstanding  # (a loaded loan is live: keep figures)
    with pytest.raises(RateCapExceeded):
        d.request(loan_id, "reschedule", {"periods": 12, "annual_rate": "0.30",
                                          "reason": "restructure"}, "rs-bad")
    assert d.requests() == []
    req = d.request(loan_id, "reschedule", {"periods": 12, "annual_rate": "0.10",
                                            "reason": "restructure"}, "rs")
    assert req["status"] == "pending" and req["amount"] == principal
    assert req["params"] == {"periods": 12, "annual_rate": "0.1", "capitalise_arrears": True,
                             "reason": "restructure"}
    done = d.approve(req["request_id"], "ok")
    assert done["status"] == "applied"
    after = d.load(loan_id)
    ahead = [i for i in after.instalments if i.due > OVERDUE]
    assert len(ahead) == 12 and str(after.product.annual_rate) == "0.1"
    # the arrears (interest, fee, penalty) were capitalised into the new principal
    assert after.penalty_receivable == 0 and after.days_past_due(OVERDUE) == 0
    assert after.principal_outstanding > principal
    d.to_day(OVERDUE + timedelta(days=40))
    d.assert_consistent(loan_id)


def test_a_reschedule_whose_fees_take_the_cost_above_the_cap_is_refused(d: Desk) -> None:
    """A nominal rate under the cap is not enough: the restructured instalments' fees count in
    the annualised cost, as in an offer's."""
    loan_id = _overdue(d, 6_000_00)
    with pytest.raises(RateCapExceeded) as refused:
        d.request(loan_id, "reschedule", {"periods": 12, "annual_rate": "0.235",
                                          "reason": "restructure"}, "rs")
    assert "fees included" in str(refused.value)
    assert d.requests() == []
    d.request(loan_id, "reschedule", {"periods": 12, "annual_rate": "0.2",
                                      "reason": "restructure"}, "rs-ok")


def test_a_cap_lowered_after_the_request_fails_the_approval_and_leaves_the_loan(d: Desk) -> None:
    from decimal import Decimal

    from puhui.loans.product import RateCap

    loan_id = _overdue(d)
    req = d.request(loan_id, "reschedule", {"periods": 6, "annual_rate": "0.2",
                                            "reason": "restructure"}, "rs")
    entries, state = d.entries(), d.load(loan_id).balances()
    d.p.rate_cap = RateCap(Decimal("0.15"), "15% cap")
    with pytest.raises(RateCapExceeded):
        d.approve(req["request_id"], "ok")
    assert d.entries() == entries and d.load(loan_id).balances() == state
    [failed] = d.requests(status="failed")
    assert failed["request_id"] == req["request_id"] and "RateCapExceeded" in failed["note"]
    assert failed["checker"] == "K-checker"
    with pytest.raises(ApplyFailed):  # the same approval again says why it failed
        d.approve(req["request_id"], "ok")


def test_extend_adds_periods_at_the_same_rate_and_keeps_arrears_due(d: Desk) -> None:
    loan_id = _overdue(d, 60_000_00)
    before = d.load(loan_id)
    ahead = sum(1 for i in before.instalments if i.due > OVERDUE)
    rate, penalty = before.product.annual_rate, before.penalty_receivable
    req = d.request(loan_id, "extend", {"extra_periods": 3, "reason": "seasonal"}, "ext",
                    rules=ALWAYS)
    d.approve(req["request_id"], "ok")
    after = d.load(loan_id)
    assert sum(1 for i in after.instalments if i.due > OVERDUE) == ahead + 3
    assert after.product.annual_rate == rate
    assert after.penalty_receivable == penalty  # not capitalised
    assert after.interest_receivable > 0  # the first instalment's unpaid interest stays due
    d.to_day(OVERDUE + timedelta(days=35))
    d.assert_consistent(loan_id)


def test_reversing_a_payment_restores_the_instalments_exactly(d: Desk) -> None:
    loan_id = _overdue(d, 60_000_00)
    before = [i.as_dict() for i in d.load(loan_id).instalments]
    penalty = d.load(loan_id).penalty_receivable
    d.apply(loan_id, Repayment("pay-1", OVERDUE, 5_000_00))
    assert [i.as_dict() for i in d.load(loan_id).instalments] != before
    req = d.request(loan_id, "reverse_payment", {"target": "pay-1", "reason": "bounced"}, "rv")
    assert req["amount"] == 5_000_00 and req["status"] == "pending"  # always approved
    d.approve(req["request_id"], "ok")
    after = d.load(loan_id)
    assert [i.as_dict() for i in after.instalments] == before
    assert after.penalty_receivable == penalty and "pay-1" in after.reversed
    with pytest.raises(InvalidEvent):  # twice is refused at the request
        d.request(loan_id, "reverse_payment", {"target": "pay-1", "reason": "again"}, "rv2")
    d.to_day(OVERDUE + timedelta(days=5))
    d.assert_consistent(loan_id)


def test_write_off_then_recoveries_up_to_what_was_lost(d: Desk) -> None:
    loan_id = _overdue(d, 60_000_00)
    owed = sum(v for k, v in d.load(loan_id).balances().items() if k != Acct.BORROWER_CREDIT)
    req = d.request(loan_id, "write_off", {"reason": "uncollectable"}, "wo", rules=NEVER)
    assert req["status"] == "applied"  # under rules that let it through
    loan = d.load(loan_id)
    assert loan.status is LoanStatus.WRITTEN_OFF and loan.written_off_amount == owed
    assert loan.balances() == {}
    d.to_day(OVERDUE + timedelta(days=10))
    part = d.request(loan_id, "recovery", {"amount": 10_000_00, "reason": "agency"}, "rc1")
    assert part["status"] == "applied" and d.load(loan_id).recovered == 10_000_00
    with pytest.raises(InvalidAmount):  # never more than what is still written off
        d.request(loan_id, "recovery", {"amount": owed, "reason": "agency"}, "rc2")
    d.request(loan_id, "recovery", {"amount": owed - 10_000_00, "reason": "agency"}, "rc3")
    assert d.load(loan_id).recovered == owed
    with pytest.raises(LoanClosed):  # nothing to waive or reschedule on a written-off loan
        d.request(loan_id, "waive", {"charge": "penalty", "amount": 1, "reason": "x"}, "w")
    recovered = d.p.book.trial_balance()
    assert all(v == 0 for v in recovered.values())
    d.assert_consistent(loan_id)


def test_the_default_rules_hold_a_write_off_for_approval(d: Desk) -> None:
    loan_id = _overdue(d, 60_000_00)
    req = d.request(loan_id, "write_off", {"reason": "uncollectable"}, "wo")
    assert req["status"] == "pending"
    assert d.load(loan_id).status is LoanStatus.ACTIVE
    rejected = d.reject(req["request_id"], "no", "collections are still in touch")
    assert (rejected["status"], rejected["note"]) == ("rejected", "collections are still in touch")
    assert d.reject(req["request_id"], "no", "collections are still in touch") == rejected
    with pytest.raises(RequestNotPending):
        d.approve(req["request_id"], "yes")
    assert d.load(loan_id).status is LoanStatus.ACTIVE


def test_an_approval_that_no_longer_fits_the_loan_fails_and_changes_nothing(d: Desk) -> None:
    loan_id = _overdue(d)
    penalty = d.load(loan_id).penalty_receivable
    req = d.request(loan_id, "waive", {"charge": "penalty", "amount": penalty,
                                       "reason": "goodwill"}, "w")
    d.apply(loan_id, Repayment("pay", OVERDUE, 5_000_00))  # pays the penalty first
    entries, balances = d.entries(), d.load(loan_id).balances()
    with pytest.raises(InvalidAmount):
        d.approve(req["request_id"], "ok")
    assert d.entries() == entries and d.load(loan_id).balances() == balances
    [row] = d.requests()
    assert row["status"] == "failed" and "InvalidAmount" in row["note"]
    with pytest.raises(ApplyFailed):
        d.approve(req["request_id"], "ok")
    with pytest.raises(RequestNotPending):
        d.approve(req["request_id"], "other")
    d.assert_consistent(loan_id)


def test_a_request_expires_when_nobody_decides_in_time(d: Desk) -> None:
    loan_id = _overdue(d)
    req = d.request(loan_id, "write_off", {"reason": "x"}, "wo")
    assert [r["request_id"] for r in d.requests(status="pending")] == [req["request_id"]]
    d.clock.advance(timedelta(hours=72, seconds=1))
    assert d.requests(status="pending") == []
    assert [r["status"] for r in d.requests(status="expired")] == ["expired"]
    with pytest.raises(RequestExpired):
        d.approve(req["request_id"], "late")
    with pytest.raises(RequestExpired):  # recorded as expired by the refused approval
        d.reject(req["request_id"], "late", "too late")
    with d.p.unit() as session:
        assert servicing.expire_requests(d.p, session, CHECKER) == []
    assert d.load(loan_id).status is LoanStatus.ACTIVE


def test_freeze_and_unfreeze_are_a_servicing_hold(d: Desk) -> None:
    loan_id = _overdue(d)
    other = d.book_loan()
    entries = d.entries()
    frozen = d.request(loan_id, "freeze", {"reason": "fraud review"}, "f1")
    assert frozen["status"] == "applied" and frozen["result"] == {"frozen": True}
    with d.p.read() as session:
        assert servicing.frozen(d.p, session, loan_id)
        assert not servicing.frozen(d.p, session, other)
    with pytest.raises(InvalidEvent):
        d.request(loan_id, "freeze", {"reason": "again"}, "f2")
    assert d.entries() == entries  # a hold posts nothing
    d.request(loan_id, "unfreeze", {"reason": "cleared"}, "u1")
    with d.p.read() as session:
        assert not servicing.frozen(d.p, session, loan_id)


def test_fee_waiver_and_partial_waivers_on_a_line(d: Desk) -> None:
    loan_id = _overdue(d, 60_000_00)
    fees = d.load(loan_id).fee_receivable
    assert fees == 300
    d.request(loan_id, "waive", {"charge": "fee", "amount": 100, "reason": "x"}, "f1")
    d.request(loan_id, "waive", {"charge": "fee", "amount": 200, "reason": "x"}, "f2")
    assert d.load(loan_id).fee_receivable == 0
    with pytest.raises(InvalidAmount):
        d.request(loan_id, "waive", {"charge": "fee", "amount": 1, "reason": "x"}, "f3")
    d.assert_consistent(loan_id)
    line = d.book_loan(20_000_00, LINE)
    d.to_day(OVERDUE + timedelta(days=45))  # the line matured 30 days after it opened
    owed_penalty = d.load(line).penalty_receivable
    assert owed_penalty > 0
    with pytest.raises(InvalidEvent):
        d.request(line, "waive", {"charge": "fee", "amount": 1, "reason": "x"}, "l0")
    with pytest.raises(InvalidEvent):
        d.request(line, "reschedule", {"periods": 3, "reason": "x"}, "l1")
    d.request(line, "waive", {"charge": "penalty", "amount": owed_penalty, "reason": "x"}, "l2")
    assert d.load(line).penalty_receivable == 0
    d.to_day(OVERDUE + timedelta(days=47))
    d.assert_consistent(line)
    d.assert_consistent(loan_id)


def test_waiving_the_last_penalty_settles_the_loan(d: Desk) -> None:
    loan_id = d.book_loan(30_000_00, PENALTY_LAST)
    d.to_day(date(2026, 4, 20))  # the one instalment fell due on 2 April
    inst = d.load(loan_id).instalments[0]
    d.apply(loan_id, Repayment("all-but-penalty", d.today,
                               inst.principal + inst.interest + inst.fee))
    loan = d.load(loan_id)
    assert loan.status is LoanStatus.ACTIVE and loan.principal_outstanding == 0
    penalty = loan.penalty_receivable
    assert penalty > 0
    done = d.request(loan_id, "waive", {"charge": "penalty", "amount": penalty,
                                        "reason": "settlement"}, "last")
    assert done["status"] == "applied"
    assert d.load(loan_id).status is LoanStatus.CLOSED
    d.to_day(date(2026, 4, 23))
    d.assert_consistent(loan_id)


def test_snapshots_are_rebuilt_from_the_history_of_every_operation(d: Desk) -> None:
    from sqlalchemy import delete

    from puhui.store.close_models import LoanSnapshotRow

    loan_id = _overdue(d)
    d.request(loan_id, "waive", {"charge": "penalty", "amount": 100_00, "reason": "x"}, "w")
    d.request(loan_id, "waive", {"charge": "fee", "amount": 100, "reason": "x"}, "f")
    d.approve(d.request(loan_id, "extend", {"extra_periods": 2, "reason": "x"},
                        "e")["request_id"], "ok")
    d.apply(loan_id, Repayment("pay", d.today, 1_000_00))
    d.approve(d.request(loan_id, "reverse_payment", {"target": "pay", "reason": "x"},
                        "r")["request_id"], "ok")
    d.to_day(d.today + timedelta(days=10))
    d.approve(d.request(loan_id, "write_off", {"reason": "x"}, "wo")["request_id"], "ok")
    d.request(loan_id, "recovery", {"amount": 1_000_00, "reason": "x"}, "rc")
    d.to_day(d.today + timedelta(days=2))
    expected = to_state(d.load(loan_id))
    with d.p.engine.begin() as conn:
        conn.execute(delete(LoanSnapshotRow))
    check = d.p.book.verify_snapshots(rebuild=True)
    assert check.missing == [loan_id] and check.rebuilt == 1
    assert d.p.book.verify_snapshots().agrees
    fresh = desk_again(d)
    assert to_state(fresh.load(loan_id)) == expected
    d.assert_consistent(loan_id)


def test_listing_filters_and_pages(d: Desk) -> None:
    loans = [d.book_loan() for _ in range(3)]
    made = [d.request(loan_id, "write_off", {"reason": "x"}, f"wo{n}")
            for n, loan_id in enumerate(loans)]
    d.reject(made[0]["request_id"], "r", "no")
    assert [r["request_id"] for r in d.requests(status="pending")] == \
        [m["request_id"] for m in made[1:]]
    assert [r["loan_id"] for r in d.requests(loan_id=loans[2])] == [loans[2]]
    first = d.requests(limit=2)
    rest = d.requests(after=first[-1]["request_id"])
    assert [r["request_id"] for r in first + rest] == [m["request_id"] for m in made]
    with pytest.raises(InvalidRequest):
        d.requests(status="nonsense")
    assert json.dumps(made[0])  # views are JSON


def test_rules_from_a_file_named_by_the_environment(tmp_path, monkeypatch) -> None:
    path = tmp_path / "approvals.json"
    path.write_text(json.dumps({"operations": {"waive": {"above": 10_00}}}))
    monkeypatch.setenv(servicing.APPROVALS_ENV, str(path))
    rules = servicing.approval_rules()
    assert rules.needs_approval(Operation.WAIVE, 10_01) and not rules.needs_approval(
        Operation.WAIVE, 10_00)
    path.write_text("{not json")
    with pytest.raises(InvalidEvent):
        servicing.approval_rules()
    monkeypatch.setenv(servicing.APPROVALS_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(InvalidEvent):
        servicing.approval_rules()


def test_an_event_key_conflict_cannot_arise_from_two_requests(d: Desk) -> None:
    """Each applied request posts under its own id's key, so two equal waivers are two events."""
    loan_id = _overdue(d)
    a = d.request(loan_id, "waive", {"charge": "penalty", "amount": 100, "reason": "x"}, "a")
    b = d.request(loan_id, "waive", {"charge": "penalty", "amount": 100, "reason": "x"}, "b")
    assert a["event_key"] != b["event_key"]
    d.assert_consistent(loan_id)


def test_the_daily_close_expires_requests_nobody_decided(d: Desk) -> None:
    from puhui.services.scheduler import run_close

    loan_id = _overdue(d)
    late = d.request(loan_id, "write_off", {"reason": "x"}, "wo")
    d.clock.advance(timedelta(hours=50))
    fresh = d.request(loan_id, "reschedule", {"periods": 6, "reason": "x"}, "rs")
    d.clock.advance(timedelta(hours=23))
    summary = run_close(d.p, d.today - timedelta(days=1))
    assert summary["expired_servicing_requests"] == 1
    statuses = {r["request_id"]: (r["status"], r["note"]) for r in d.requests()}
    assert statuses[late["request_id"]] == ("expired",
                                            "expired before a second person decided it")
    assert statuses[fresh["request_id"]] == ("pending", None)
    assert d.approve(fresh["request_id"], "ok")["status"] == "applied"
