"""Revolving lines (随借随还): daily interest, draws within the limit, repay any time, maturity."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.errors import InvalidAmount, InvalidEvent, InvalidProduct, LoanClosed, PuhuiError
from puhui.ledger.journal import Journal
from puhui.loans.delinquency import RiskClass
from puhui.loans.events import (
    CreditRefund, Draw, EndOfDay, LineOpening, PaymentReversal, Prepayment, Recovery, Repayment,
    Reschedule, WriteOff,
)
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.revolving import RevolvingLine
from puhui.loans.state import LoanStatus

OPEN = date(2026, 1, 1)
# 18.25% a year on ACT/365F is exactly 0.05% a day: 500 fen a day on 10,000 yuan
LINE = LoanProduct("RV30", RepaymentMethod.REVOLVING, Decimal("0.1825"), term_days=30,
                   day_count="ACT/365F")
RECEIVABLES = ("1301", "1302", "1304", "2241")


class Harness:
    """A line and its journal, advanced together."""

    def __init__(self, product: LoanProduct = LINE, limit: int = 20_000_00) -> None:
        self.line = RevolvingLine("R1", product)
        self.journal = Journal()
        self.apply(LineOpening("open", OPEN, limit))
        self.day = OPEN

    def apply(self, event) -> None:
        for draft in self.line.apply(event):
            self.journal.post(draft)

    def close_days(self, n: int) -> None:
        for _ in range(n):
            self.apply(EndOfDay(f"eod:{self.day}", self.day))
            self.day += timedelta(days=1)

    def sub_ledger(self) -> dict[str, int]:
        return {a: v for (a, _), v in self.journal.balances("R1").items() if a in RECEIVABLES}


def test_daily_interest_on_the_drawn_balance() -> None:
    h = Harness()
    h.apply(Draw("d1", OPEN, 10_000_00))
    h.close_days(10)
    assert h.line.interest_receivable == 10 * 500
    h.apply(Draw("d2", h.day, 10_000_00))  # doubles the balance from today
    h.close_days(5)
    assert h.line.interest_receivable == 10 * 500 + 5 * 1000
    assert h.sub_ledger() == h.line.balances()
    assert h.line.risk_class(h.day) is RiskClass.NORMAL and h.line.days_past_due(h.day) == 0


def test_repay_any_time_interest_first_then_principal_and_no_more_than_is_owed() -> None:
    h = Harness()
    h.apply(Draw("d1", OPEN, 10_000_00))
    h.close_days(4)  # 2,000 fen interest
    h.apply(Repayment("r1", h.day, 3_000_00))
    assert h.line.interest_receivable == 0
    assert h.line.principal_outstanding == 10_000_00 - (3_000_00 - 2_000)
    balances = h.line.balances()
    with pytest.raises(InvalidAmount, match="exceeds everything owed"):
        h.apply(Repayment("r2", h.day, 7_020_01))  # one fen more than is owed
    assert h.line.balances() == balances and h.line.credit == 0
    h.apply(Repayment("r2", h.day, 7_020_00))
    assert h.line.principal_outstanding == 0 and h.line.credit == 0 and h.sub_ledger() == {}
    with pytest.raises(InvalidEvent, match="exceeds the credit balance"):
        h.apply(CreditRefund("refund", h.day, 1))
    assert h.journal.trial_balance() == {"CNY": 0}


def test_limit_maturity_and_closing() -> None:
    h = Harness(limit=10_000_00)
    h.apply(Draw("d1", OPEN, 6_000_00))
    balances = h.line.balances()
    with pytest.raises(InvalidEvent, match="exceeds the available"):
        h.apply(Draw("too-much", OPEN, 4_000_01))
    assert h.line.balances() == balances and h.line.available == 4_000_00
    h.close_days(30)  # the line matures on day 30
    with pytest.raises(InvalidEvent, match="matured"):
        h.apply(Draw("late", h.day, 100_00))
    interest = h.line.interest_receivable
    assert interest == 30 * 300
    h.close_days(11)  # the maturity day itself is free; 10 overdue days bear penalty, no interest
    assert h.line.interest_receivable == interest
    daily_penalty = 6_000_00 * Decimal("0.27375") / 365  # 1.5 x 18.25%
    assert h.line.penalty_receivable == 10 * int(daily_penalty.to_integral_value())
    last_closed = h.day - timedelta(days=1)
    assert h.line.days_past_due(last_closed) == 10
    assert h.line.risk_class(last_closed) is RiskClass.SPECIAL_MENTION
    h.apply(Repayment("all", h.day, h.line.owed()))
    assert h.line.status is LoanStatus.CLOSED and h.sub_ledger() == {}
    with pytest.raises(LoanClosed):
        h.apply(Repayment("after", h.day, 100))
    with pytest.raises(LoanClosed):
        h.apply(Draw("after-draw", h.day, 100))


def test_draw_fee_is_withheld_and_booked_as_income() -> None:
    product = LINE.with_terms(upfront_fee_rate=Decimal("0.01"))
    h = Harness(product)
    h.apply(Draw("d1", OPEN, 10_000_00))
    balances = h.journal.balances("R1")
    assert balances[("1301", "CNY")] == 10_000_00
    assert balances[("1001", "CNY")] == -9_900_00 and balances[("6021", "CNY")] == -100_00


def test_reversal_restores_the_debt_and_its_interest() -> None:
    h = Harness()
    h.apply(Draw("d1", OPEN, 10_000_00))
    h.close_days(2)
    h.apply(Repayment("r1", h.day, 5_000_00))
    h.close_days(3)
    h.apply(PaymentReversal("x", h.day, target="r1", reason="bounced"))
    assert h.line.principal_outstanding == 10_000_00
    assert h.line.interest_receivable == 5 * 500  # as if the payment had never come
    assert h.sub_ledger() == h.line.balances() and h.journal.trial_balance() == {"CNY": 0}


def test_write_off_and_recovery() -> None:
    h = Harness()
    h.apply(Draw("d1", OPEN, 10_000_00))
    h.close_days(40)
    owed = h.line.owed()
    h.apply(WriteOff("wo", h.day, "fled"))
    assert h.line.status is LoanStatus.WRITTEN_OFF and h.sub_ledger() == {}
    assert h.journal.balances("R1")[("6701", "CNY")] == owed
    assert h.line.risk_class(h.day) is RiskClass.LOSS
    with pytest.raises(LoanClosed):
        h.apply(Repayment("r", h.day, 100))
    with pytest.raises(InvalidAmount, match="still written off"):
        h.apply(Recovery("rec", h.day, owed + 1))
    h.apply(Recovery("rec", h.day, owed))
    assert h.journal.balances("R1")[("6051", "CNY")] == -owed and h.line.credit == 0


def test_term_loan_events_and_products_are_refused() -> None:
    h = Harness()
    with pytest.raises(InvalidEvent):
        h.apply(Prepayment("pp", OPEN, 100))
    with pytest.raises(InvalidEvent):
        h.apply(Reschedule("rs", OPEN, 6))
    with pytest.raises(InvalidEvent, match="already open"):
        h.apply(LineOpening("open-2", OPEN, 100_00))
    with pytest.raises(InvalidProduct):
        RevolvingLine("R2", LoanProduct("EI", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.1"),
                                        term_periods=3))
    with pytest.raises(InvalidEvent, match="not open"):
        RevolvingLine("R3", LINE).apply(Draw("d", OPEN, 100))


steps = st.lists(st.tuples(st.sampled_from(["draw", "repay", "eod", "reverse", "refund"]),
                           st.integers(1, 2_000_000), st.integers(0, 3)), max_size=40)


@settings(max_examples=80, deadline=None)
@given(steps=steps)
def test_any_sequence_keeps_line_and_journal_in_step(steps) -> None:
    h = Harness()
    receipts: list[str] = []
    for n, (kind, amount, gap) in enumerate(steps):
        h.day += timedelta(days=gap)
        event = {
            "draw": lambda: Draw(f"d{n}", h.day, amount),
            "repay": lambda: Repayment(f"r{n}", h.day, amount),
            "eod": lambda: EndOfDay(f"e{n}", h.day),
            "reverse": lambda: PaymentReversal(f"x{n}", h.day, receipts[amount % len(receipts)]
                                               if receipts else "none"),
            "refund": lambda: CreditRefund(f"f{n}", h.day, amount),
        }[kind]()
        before = (h.line.balances(), h.line.status, len(h.journal.entries))
        try:
            h.apply(event)
        except PuhuiError:
            assert (h.line.balances(), h.line.status, len(h.journal.entries)) == before
        else:
            if kind == "repay":
                receipts.append(event.key)
            assert h.line.apply(event) == []  # a replayed event is a no-op
        assert h.journal.trial_balance() in ({}, {"CNY": 0})
        assert h.sub_ledger() == h.line.balances()
    h.journal.verify()
    again = RevolvingLine.replay("R1", LINE, [e for e, _ in h.line.history])
    assert again.posted() == h.line.posted() and again.status is h.line.status
