"""Waivers of penalty and fees: a reversing posting of the income charged, never an edit;
never more than is receivable; replayed from history to the same state."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from puhui.errors import IdempotencyConflict, InvalidAmount, InvalidEvent, LoanClosed
from puhui.ledger.accounts import Acct
from puhui.ledger.journal import Journal
from puhui.loans.events import (
    Disbursement, Draw, EndOfDay, LineOpening, PaymentReversal, Repayment, WaivedCharge, Waiver,
    event_from_content,
)
from puhui.loans.product import AllocationRule, Component, LoanProduct, RepaymentMethod
from puhui.loans.revolving import RevolvingLine
from puhui.loans.servicing import Loan
from puhui.loans.snapshot import from_state, to_state
from puhui.loans.state import LoanStatus

ONE = timedelta(days=1)
START = date(2026, 1, 10)
TERM = LoanProduct("EI3", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"), term_periods=3,
                   instalment_fee_fixed=300)
#: penalty settled last, so a receipt can clear everything else and leave only penalty owed
PENALTY_LAST = LoanProduct(
    "EI1", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"), term_periods=1,
    allocation=AllocationRule((Component.PRINCIPAL, Component.INTEREST, Component.FEE,
                               Component.PENALTY), oldest_first=False))
LINE = LoanProduct("RV", RepaymentMethod.REVOLVING, Decimal("0.1825"), term_days=20)
PEN, FEE = WaivedCharge.PENALTY, WaivedCharge.FEE


class Desk:
    """One account posting into one journal, closed day by day."""

    def __init__(self, account) -> None:
        self.account, self.journal, self.day = account, Journal(), START

    def apply(self, event):
        drafts = self.account.apply(event)
        for d in drafts:
            self.journal.post(d)
        return drafts

    def close_through(self, last: date) -> None:
        while self.day <= last:
            self.apply(EndOfDay(f"eod-{self.day}", self.day))
            self.day += ONE

    def balance(self, account: str) -> int:
        return self.journal.balances(self.account.loan_id).get((account, "CNY"), 0)

    def check(self) -> None:
        assert all(v == 0 for v in self.journal.trial_balance().values())
        for acct, amount in self.account.balances().items():
            assert self.balance(acct) == amount, acct
        replayed = type(self.account).replay(self.account.loan_id, self.account.contract_product,
                                             [e for e, _ in self.account.history])
        assert to_state(replayed) == to_state(self.account)
        assert to_state(from_state(to_state(self.account))) == to_state(self.account)


def _overdue_loan(product: LoanProduct = TERM, through: date = date(2026, 4, 25)) -> Desk:
    desk = Desk(Loan("L1", product))
    desk.apply(Disbursement("d", START, 30_000_00))
    desk.close_through(through)
    return desk


def test_a_penalty_waiver_reverses_penalty_income() -> None:
    desk = _overdue_loan()
    loan = desk.account
    owed, income = loan.penalty_receivable, desk.balance(Acct.PENALTY_INCOME)
    assert owed > 1_000
    [entry] = desk.apply(Waiver("w1", desk.day, PEN, 1_000, reason="hardship"))
    assert sorted((p.account, p.amount) for p in entry.postings) == [
        (Acct.PENALTY_RECEIVABLE, -1_000), (Acct.PENALTY_INCOME, 1_000)]
    assert entry.description == "penalty waived: hardship"
    assert loan.penalty_receivable == owed - 1_000
    assert desk.balance(Acct.PENALTY_INCOME) == income + 1_000
    desk.close_through(desk.day + 5 * ONE)  # penalty goes on accruing as usual
    assert loan.penalty_receivable > owed - 1_000
    desk.check()


def test_a_fee_waiver_takes_the_oldest_instalment_first() -> None:
    desk = _overdue_loan()
    loan = desk.account
    assert [i.fee_receivable() for i in loan.instalments] == [300, 300, 300]
    desk.apply(Waiver("w1", desk.day, FEE, 450))
    assert [i.written_off[Component.FEE] for i in loan.instalments] == [300, 150, 0]
    assert loan.fee_receivable == 450 and desk.balance(Acct.FEE_RECEIVABLE) == 450
    assert desk.balance(Acct.FEE_INCOME) == -450  # 900 charged, 450 of it reversed
    desk.check()


@pytest.mark.parametrize("charge", [PEN, FEE])
def test_more_than_is_receivable_is_refused_and_changes_nothing(charge) -> None:
    desk = _overdue_loan()
    before = (to_state(desk.account), len(desk.journal.entries))
    owed = desk.account.penalty_receivable if charge is PEN else desk.account.fee_receivable
    # what is receivable on the day: the catch-up to the waiver's date comes first
    day = desk.day
    with pytest.raises(InvalidAmount):
        desk.apply(Waiver("w1", day, charge, owed + 10_000))
    assert (to_state(desk.account), len(desk.journal.entries)) == before
    with pytest.raises(InvalidAmount):
        Waiver("w2", day, charge, 0)
    with pytest.raises(InvalidEvent):
        Waiver("w3", day, "principal", 1)


def test_a_waiver_is_idempotent_and_replays_from_its_content() -> None:
    desk = _overdue_loan()
    event = Waiver("w1", desk.day, PEN, 500, reason="goodwill")
    assert desk.apply(event)
    assert desk.apply(event) == []  # the same event again posts nothing
    with pytest.raises(IdempotencyConflict):
        desk.apply(Waiver("w1", desk.day, PEN, 501, reason="goodwill"))
    content = event.content()
    assert content == {"kind": "waiver", "key": "w1", "on": desk.day.isoformat(), "rules": 2,
                       "charge": "penalty", "amount": 500, "reason": "goodwill"}
    assert event_from_content(content) == event
    assert event_from_content(content, stored=True) == event
    desk.check()


def test_waiving_the_last_penalty_settles_the_loan() -> None:
    desk = _overdue_loan(PENALTY_LAST, date(2026, 2, 25))
    loan = desk.account
    inst = loan.instalments[0]
    rest = inst.principal + inst.interest + inst.fee
    desk.apply(Repayment("pay", desk.day, rest))
    assert loan.status is LoanStatus.ACTIVE and loan.principal_outstanding == 0
    penalty = loan.penalty_receivable
    assert penalty > 0
    desk.apply(Waiver("w", desk.day, PEN, penalty))
    assert loan.status is LoanStatus.CLOSED and loan.balances() == {}
    with pytest.raises(LoanClosed):
        desk.apply(Waiver("w2", desk.day, PEN, 1))
    desk.check()


def test_a_waiver_needs_a_disbursed_open_loan() -> None:
    pending = Loan("L2", TERM)
    with pytest.raises(InvalidEvent):
        pending.apply(Waiver("w", START, PEN, 1))


def test_a_receipt_reversed_after_a_waiver_keeps_the_waiver() -> None:
    desk = _overdue_loan()
    loan = desk.account
    desk.apply(Repayment("pay", desk.day, 5_000_00))
    desk.apply(Waiver("w", desk.day, FEE, 100))
    desk.close_through(desk.day + 3 * ONE)
    desk.apply(PaymentReversal("rev", desk.day, target="pay", reason="bounced"))
    assert sum(i.written_off[Component.FEE] for i in loan.instalments) == 100
    desk.check()


def test_a_line_waives_penalty_but_has_no_fees_to_waive() -> None:
    desk = Desk(RevolvingLine("R1", LINE))
    desk.apply(LineOpening("open", START, 10_000_00))
    desk.apply(Draw("draw", START, 5_000_00))
    desk.close_through(START + 30 * ONE)  # matured after 20 days: penalty since
    line = desk.account
    owed = line.penalty_receivable
    assert owed > 0
    with pytest.raises(InvalidEvent):
        desk.apply(Waiver("f", desk.day, FEE, 1))
    [entry] = desk.apply(Waiver("w", desk.day, PEN, owed))
    assert sorted((p.account, p.amount) for p in entry.postings) == [
        (Acct.PENALTY_RECEIVABLE, -owed), (Acct.PENALTY_INCOME, owed)]
    assert line.penalty_receivable == 0
    with pytest.raises(InvalidAmount):
        desk.apply(Waiver("w2", desk.day, PEN, 1))
    desk.check()
