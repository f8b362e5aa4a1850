"""The servicing engine on hand-checked examples: closing, waterfall, penalty, prepayment,
delinquency, write-off and recovery, and refusal of bad input without side effects."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy_financial as npf
import pytest

from puhui.calendar import DayCount, Frequency
from puhui.errors import (
    DateOrderError, IdempotencyConflict, InvalidAmount, InvalidEvent, InvalidProduct, InvalidRate,
    LoanClosed, PuhuiError, RateCapExceeded, ServicingError, UnknownCurrency,
)
from puhui.ledger.accounts import Acct
from puhui.ledger.journal import Journal
from puhui.loans.cost import quote
from puhui.loans.delinquency import RiskClass
from puhui.loans.events import (
    CreditRefund, Disbursement, Draw, EndOfDay, LineOpening, PaymentReversal, Prepayment, PrepaymentMode, Recovery,
    Repayment, Reschedule, WriteOff,
)
from puhui.loans.product import AllocationRule, Component, LoanProduct, RateCap, RepaymentMethod
from puhui.loans.schedule import build_schedule
from puhui.loans.servicing import Loan
from puhui.loans.state import LoanStatus

ONE = timedelta(days=1)
RECEIVABLE_ACCOUNTS = (Acct.LOAN_PRINCIPAL, Acct.INTEREST_RECEIVABLE, Acct.FEE_RECEIVABLE,
                       Acct.PENALTY_RECEIVABLE)
PEN, FEE, INT, PRIN = Component.PENALTY, Component.FEE, Component.INTEREST, Component.PRINCIPAL


def half_up(x: Fraction | Decimal | int | str) -> int:
    """Round half away from zero, exactly, independently of puhui.money."""
    x = Fraction(x)
    q, r = divmod(abs(x.numerator), x.denominator)
    if 2 * r >= x.denominator:
        q += 1
    return q if x >= 0 else -q


class Book:
    """One loan posting into one journal, with a daily end-of-day driver."""

    def __init__(self, product: LoanProduct, loan_id: str = "L-1") -> None:
        self.loan = Loan(loan_id, product)
        self.journal = Journal()
        self.product = product
        self.next_eod: date | None = None
        self.n = 0

    def key(self, prefix: str = "e") -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def apply(self, event):
        drafts = self.loan.apply(event)
        for d in drafts:
            self.journal.post(d)
        return drafts

    def disburse(self, on: date, principal: int):
        self.next_eod = on
        return self.apply(Disbursement("disb", on, principal))

    def eod_through(self, last: date, pay: dict[date, int] | None = None) -> None:
        """Run end-of-day for every day up to `last`, paying `pay[d]` on day d before its run."""
        while self.next_eod <= last:
            d = self.next_eod
            if pay and pay.get(d):
                self.apply(Repayment(f"pay-{d}", d, pay[d]))
            self.apply(EndOfDay(f"eod-{d}", d))
            self.next_eod = d + ONE

    def bal(self, account: str) -> int:
        return self.journal.balances(self.loan.loan_id).get((account, self.product.currency), 0)

    def receivables(self) -> dict[str, int]:
        return {a: self.bal(a) for a in RECEIVABLE_ACCOUNTS}

    def principal_credited(self) -> int:
        """Principal repaid or written off: every credit ever posted to loan principal."""
        return -sum(p.amount for e in self.journal.entries for p in e.postings
                    if p.account == Acct.LOAN_PRINCIPAL and p.amount < 0)

    def snapshot(self) -> tuple:
        loan = self.loan
        return (loan.balances(), loan.status, loan.credit, loan.last_date, loan.product,
                [i.as_dict() for i in loan.instalments], len(loan.history), dict(loan.applied),
                set(loan.reversed), len(self.journal.entries), self.journal.head_hash)

    def refused(self, event, error: type[PuhuiError]) -> PuhuiError:
        """Apply `event`, expect `error`, and check that nothing changed."""
        before = self.snapshot()
        with pytest.raises(error) as info:
            self.apply(event)
        assert self.snapshot() == before
        return info.value

    def check_books(self) -> None:
        assert all(v == 0 for v in self.journal.trial_balance().values())
        own = self.loan.balances()
        for a in RECEIVABLE_ACCOUNTS + (Acct.BORROWER_CREDIT,):
            assert own.get(a, 0) == self.bal(a), a
        assert self.journal.verify() == len(self.journal.entries)


def monthly(method=RepaymentMethod.EQUAL_INSTALMENT, rate="0.12", term=12, **kw) -> LoanProduct:
    return LoanProduct("TEST", method, Decimal(rate), term_periods=term, **kw)


@pytest.mark.parametrize("day_count", [DayCount.THIRTY_360_US, DayCount.THIRTY_E_360])
@pytest.mark.parametrize("start", [date(2026, 1, 31), date(2028, 2, 29), date(2026, 8, 30)])
def test_month_end_30_360_loan_accrues_and_closes_on_its_level_schedule(day_count, start):
    """Whole months count 30 days in the schedule; accrual spreads each period's interest over its
    calendar days (28 in February, 31 in March), and the two agree to the fen at every due date."""
    product = monthly(day_count=day_count)
    principal = 1_000_000
    schedule = build_schedule(product, principal, start)
    balance = principal
    for inst in schedule.instalments:
        assert inst.interest == half_up(Fraction(balance, 100))  # 1% a month, whatever its days
        balance -= inst.principal
    assert len({i.total for i in schedule.instalments[:-1]}) == 1
    book = Book(product)
    book.disburse(start, principal)
    first = schedule.instalments[0]
    book.eod_through(first.due - ONE)
    assert -book.bal(Acct.INTEREST_INCOME) == first.interest  # all of it by the due date
    pay = {i.due: i.total for i in schedule.instalments}
    book.eod_through(schedule.maturity + timedelta(days=3), pay)
    assert book.loan.status is LoanStatus.CLOSED
    assert book.receivables() == {a: 0 for a in RECEIVABLE_ACCOUNTS}
    assert -book.bal(Acct.INTEREST_INCOME) == schedule.total_interest
    assert book.bal(Acct.PENALTY_INCOME) == 0


# -- 2. closing -------------------------------------------------------------------------------
def test_loan_repaid_exactly_per_schedule_closes_with_scheduled_income_and_no_penalty():
    product = monthly(upfront_fee_rate=Decimal("0.01"), instalment_fee_fixed=300)
    principal, start = 1_000_000, date(2024, 1, 15)
    schedule = build_schedule(product, principal, start)

    # the schedule itself, checked against an independent annuity computation
    level = half_up(Decimal(repr(float(npf.pmt(0.01, 12, -principal)))))
    assert level == 88849
    balance = principal
    for k, inst in enumerate(schedule.instalments):
        interest = half_up(Fraction(balance, 100))  # 12% / 12 on 30/360 monthly periods
        assert inst.interest == interest
        assert inst.principal == (balance if k == 11 else level - interest)
        assert inst.fee == 300
        assert inst.due == date(2024 + (k + 1) // 12, (k + 1) % 12 + 1, 15)
        balance -= inst.principal
    assert balance == 0

    book = Book(product)
    drafts = book.disburse(start, principal)
    assert book.bal(Acct.CASH) == -(principal - 10_000)  # 1% withheld
    assert book.bal(Acct.FEE_INCOME) == -10_000
    assert len(drafts) == 1
    pay = {i.due: i.total for i in schedule.instalments}
    book.eod_through(schedule.maturity + timedelta(days=10), pay)

    assert book.loan.status is LoanStatus.CLOSED
    assert book.receivables() == {a: 0 for a in RECEIVABLE_ACCOUNTS}
    assert book.bal(Acct.BORROWER_CREDIT) == 0 and book.loan.credit == 0
    assert -book.bal(Acct.INTEREST_INCOME) == schedule.total_interest
    assert -book.bal(Acct.FEE_INCOME) == schedule.total_fees == 10_000 + 12 * 300
    assert book.bal(Acct.PENALTY_INCOME) == 0 and book.bal(Acct.PENALTY_RECEIVABLE) == 0
    assert book.principal_credited() == principal
    assert book.bal(Acct.CASH) == schedule.total_repayment - (principal - 10_000)
    book.check_books()
    # nothing accrues on a closed loan
    entries = len(book.journal.entries)
    assert book.apply(EndOfDay("late-eod", schedule.maturity + timedelta(days=30))) == []
    assert len(book.journal.entries) == entries


def test_interest_is_recognised_daily_and_reaches_the_instalment_by_its_due_date():
    product = monthly(term=3)
    book = Book(product)
    book.disburse(date(2024, 1, 15), 300_000)
    first = build_schedule(product, 300_000, date(2024, 1, 15)).instalments[0]
    assert first.interest == 3_000
    book.eod_through(date(2024, 1, 24))  # 10 of the 31 days from Jan 15 to Feb 15
    assert book.bal(Acct.INTEREST_RECEIVABLE) == half_up(Fraction(3_000 * 10, 31))
    book.eod_through(date(2024, 2, 14))  # every day of the period has now been recognised
    assert book.bal(Acct.INTEREST_RECEIVABLE) == 3_000
    assert book.bal(Acct.INTEREST_INCOME) == -3_000


# -- 3. waterfall -----------------------------------------------------------------------------
def _waterfall_book(rule: AllocationRule | None = None) -> Book:
    """120000 fen over 3 months, equal principal, 12%, 30/360, 500 fen fee per instalment.

    Instalments (principal/interest/fee): 1) 40000/1200/500 due Feb 15, 2) 40000/800/500 due
    Mar 15, 3) 40000/400/500 due Apr 15.  Nothing is paid until Mar 20.  Penalty at 18%/360 a
    day: 40000 overdue for the 29 days Feb 16..Mar 15 at 20 fen, 80000 for Mar 16..19 at 40 fen,
    so 580 + 160 = 740 fen.
    """
    kw = {"allocation": rule} if rule else {}
    product = monthly(RepaymentMethod.EQUAL_PRINCIPAL, term=3, instalment_fee_fixed=500, **kw)
    book = Book(product)
    book.disburse(date(2024, 1, 15), 120_000)
    sched = [(i.principal, i.interest, i.fee) for i in book.loan.instalments]
    assert sched == [(40_000, 1_200, 500), (40_000, 800, 500), (40_000, 400, 500)]
    book.eod_through(date(2024, 3, 19))
    assert book.bal(Acct.PENALTY_RECEIVABLE) == 740
    assert book.bal(Acct.FEE_RECEIVABLE) == 1_000
    # 1200 + 800, plus 5 of the 31 days of the third period's 400 (64.5 -> 65)
    assert book.bal(Acct.INTEREST_RECEIVABLE) == 2_000 + 65
    return book


def _receipt_lines(drafts) -> dict[str, int]:
    (entry,) = [d for d in drafts if d.description == "repayment"]
    return {p.account: p.amount for p in entry.postings}


def _unpaid(book: Book) -> list[tuple[int, int, int]]:
    return [(i.unpaid(PRIN), i.unpaid(INT), i.unpaid(FEE)) for i in book.loan.instalments[:2]]


def test_default_waterfall_clears_the_oldest_instalment_penalty_fee_interest_principal():
    book = _waterfall_book()
    lines = _receipt_lines(book.apply(Repayment("pay", date(2024, 3, 20), 42_000)))
    assert lines == {Acct.CASH: 42_000, Acct.PENALTY_RECEIVABLE: -740, Acct.FEE_RECEIVABLE: -500,
                     Acct.INTEREST_RECEIVABLE: -1_200, Acct.LOAN_PRINCIPAL: -39_560}
    assert _unpaid(book) == [(440, 0, 0), (40_000, 800, 500)]
    assert book.loan.penalty_receivable == 0
    book.check_books()


def test_component_first_waterfall_clears_each_component_across_instalments():
    book = _waterfall_book(AllocationRule(oldest_first=False))
    lines = _receipt_lines(book.apply(Repayment("pay", date(2024, 3, 20), 42_000)))
    # penalty 740, both fees 1000, both interests 2000, the rest 38260 to the oldest principal
    assert lines == {Acct.CASH: 42_000, Acct.PENALTY_RECEIVABLE: -740, Acct.FEE_RECEIVABLE: -1_000,
                     Acct.INTEREST_RECEIVABLE: -2_000, Acct.LOAN_PRINCIPAL: -38_260}
    assert _unpaid(book) == [(1_740, 0, 0), (40_000, 0, 0)]
    book.check_books()


def test_custom_component_order_interest_then_principal_leaves_fees_and_penalty():
    rule = AllocationRule(order=(INT, PRIN, FEE, PEN), oldest_first=False)
    book = _waterfall_book(rule)
    lines = _receipt_lines(book.apply(Repayment("pay", date(2024, 3, 20), 42_000)))
    assert lines == {Acct.CASH: 42_000, Acct.INTEREST_RECEIVABLE: -2_000,
                     Acct.LOAN_PRINCIPAL: -40_000}
    assert _unpaid(book) == [(0, 0, 500), (40_000, 0, 500)]
    assert book.bal(Acct.PENALTY_RECEIVABLE) == 740
    book.check_books()


def test_custom_order_oldest_first_settles_penalty_with_the_oldest_instalment():
    rule = AllocationRule(order=(INT, PRIN, FEE, PEN), oldest_first=True)
    book = _waterfall_book(rule)
    lines = _receipt_lines(book.apply(Repayment("pay", date(2024, 3, 20), 42_000)))
    # instalment 1: interest 1200, principal 40000, fee 500, then 300 of the 740 penalty
    assert lines == {Acct.CASH: 42_000, Acct.INTEREST_RECEIVABLE: -1_200,
                     Acct.LOAN_PRINCIPAL: -40_000, Acct.FEE_RECEIVABLE: -500,
                     Acct.PENALTY_RECEIVABLE: -300}
    assert _unpaid(book) == [(0, 0, 0), (40_000, 800, 500)]
    assert book.bal(Acct.PENALTY_RECEIVABLE) == 440
    book.check_books()


# Payments that stop strictly inside one component, so the order of the waterfall decides who
# gets paid (a payment that clears every component passes whatever the order).  The book is
# `_waterfall_book`'s: penalty 740; instalment 1 fee 500, interest 1200, principal 40000;
# instalment 2 fee 500, interest 800, principal 40000.  Each case: amount paid, fen per
# component, then (principal, interest, fee) unpaid on instalments 1 and 2, and penalty left.
DEFAULT_ORDER = (PEN, FEE, INT, PRIN)
CONFIGURED_ORDER = (INT, PRIN, FEE, PEN)
PARTIAL_PAYMENTS = {
    (DEFAULT_ORDER, True): [
        # inside the penalty, the fee, the interest and the principal of instalment 1
        (300, {PEN: 300}, [(40_000, 1_200, 500), (40_000, 800, 500)], 440),
        (940, {PEN: 740, FEE: 200}, [(40_000, 1_200, 300), (40_000, 800, 500)], 0),
        (1_940, {PEN: 740, FEE: 500, INT: 700}, [(40_000, 500, 0), (40_000, 800, 500)], 0),
        (3_440, {PEN: 740, FEE: 500, INT: 1_200, PRIN: 1_000},
         [(39_000, 0, 0), (40_000, 800, 500)], 0),
        # instalment 1 cleared (42440), then inside instalment 2's fee and interest
        (42_740, {PEN: 740, FEE: 800, INT: 1_200, PRIN: 40_000}, [(0, 0, 0), (40_000, 800, 200)],
         0),
        (43_340, {PEN: 740, FEE: 1_000, INT: 1_600, PRIN: 40_000}, [(0, 0, 0), (40_000, 400, 0)],
         0),
    ],
    (DEFAULT_ORDER, False): [
        (300, {PEN: 300}, [(40_000, 1_200, 500), (40_000, 800, 500)], 440),
        (1_440, {PEN: 740, FEE: 700}, [(40_000, 1_200, 0), (40_000, 800, 300)], 0),
        (3_240, {PEN: 740, FEE: 1_000, INT: 1_500}, [(40_000, 0, 0), (40_000, 500, 0)], 0),
        (53_740, {PEN: 740, FEE: 1_000, INT: 2_000, PRIN: 50_000},
         [(0, 0, 0), (30_000, 0, 0)], 0),
    ],
    (CONFIGURED_ORDER, True): [
        (700, {INT: 700}, [(40_000, 500, 500), (40_000, 800, 500)], 740),
        (2_200, {INT: 1_200, PRIN: 1_000}, [(39_000, 0, 500), (40_000, 800, 500)], 740),
        (41_400, {INT: 1_200, PRIN: 40_000, FEE: 200}, [(0, 0, 300), (40_000, 800, 500)], 740),
        (42_000, {INT: 1_200, PRIN: 40_000, FEE: 500, PEN: 300}, [(0, 0, 0), (40_000, 800, 500)],
         440),
        # instalment 1 and the penalty cleared (42440), then inside instalment 2's interest
        (42_940, {INT: 1_700, PRIN: 40_000, FEE: 500, PEN: 740}, [(0, 0, 0), (40_000, 300, 500)],
         0),
    ],
    (CONFIGURED_ORDER, False): [
        (1_500, {INT: 1_500}, [(40_000, 0, 500), (40_000, 500, 500)], 740),
        (52_000, {INT: 2_000, PRIN: 50_000}, [(0, 0, 500), (30_000, 0, 500)], 740),
        (82_700, {INT: 2_000, PRIN: 80_000, FEE: 700}, [(0, 0, 0), (0, 0, 300)], 740),
        (83_300, {INT: 2_000, PRIN: 80_000, FEE: 1_000, PEN: 300}, [(0, 0, 0), (0, 0, 0)], 440),
    ],
}
ACCOUNT_OF = {PEN: Acct.PENALTY_RECEIVABLE, FEE: Acct.FEE_RECEIVABLE,
              INT: Acct.INTEREST_RECEIVABLE, PRIN: Acct.LOAN_PRINCIPAL}


def test_the_default_allocation_order_is_penalty_fee_interest_principal_oldest_first():
    assert AllocationRule().order == DEFAULT_ORDER and AllocationRule().oldest_first is True
    assert monthly().allocation == AllocationRule()


@pytest.mark.parametrize("rule, amount, paid, unpaid, penalty_left", [
    pytest.param(None if order == DEFAULT_ORDER and oldest else AllocationRule(order, oldest),
                 amount, paid, unpaid, penalty_left,
                 id=f"{'default' if order == DEFAULT_ORDER else 'configured'}-"
                    f"{'oldest' if oldest else 'component'}-first-{amount}")
    for (order, oldest), cases in PARTIAL_PAYMENTS.items()
    for amount, paid, unpaid, penalty_left in cases])
def test_a_payment_stopping_inside_a_component_pays_exactly_the_components_before_it(
        rule, amount, paid, unpaid, penalty_left):
    book = _waterfall_book(rule)  # None: the product's default waterfall
    assert sum(paid.values()) == amount
    lines = _receipt_lines(book.apply(Repayment("pay", date(2024, 3, 20), amount)))
    assert lines == {Acct.CASH: amount, **{ACCOUNT_OF[c]: -fen for c, fen in paid.items()}}
    assert _unpaid(book) == unpaid
    assert book.loan.penalty_receivable == penalty_left == book.bal(Acct.PENALTY_RECEIVABLE)
    assert book.loan.credit == 0
    book.check_books()


def test_overpayment_is_held_as_credit_and_applied_when_instalments_fall_due():
    product = monthly(term=3)
    schedule = build_schedule(product, 300_000, date(2024, 1, 15))
    book = Book(product)
    book.disburse(date(2024, 1, 15), 300_000)
    book.eod_through(date(2024, 1, 20))
    advance = schedule.instalments[0].total + 5_000
    drafts = book.apply(Repayment("early", date(2024, 1, 20), advance))
    assert _receipt_lines(drafts) == {Acct.CASH: advance, Acct.BORROWER_CREDIT: -advance}
    assert book.loan.credit == advance
    book.eod_through(date(2024, 2, 15))  # the first instalment falls due and is paid from credit
    assert book.loan.instalments[0].in_arrears() is False
    assert book.loan.credit == 5_000 and book.bal(Acct.BORROWER_CREDIT) == -5_000
    assert book.loan.days_past_due(date(2024, 3, 1)) == 0
    book.check_books()
    book.apply(CreditRefund("refund", date(2024, 2, 16), 5_000))
    assert book.loan.credit == 0 and book.bal(Acct.BORROWER_CREDIT) == 0
    book.check_books()


# -- 4. penalty interest ----------------------------------------------------------------------
@pytest.mark.parametrize("day_count", list(DayCount))
def test_unpaid_instalment_accrues_exactly_n_days_of_penalty(day_count):
    product = monthly(rate="0.0435", day_count=day_count)
    principal, start = 1_000_000, date(2024, 3, 10)
    book = Book(product)
    book.disburse(start, principal)
    first = book.loan.instalments[0]
    due, overdue = first.due, first.principal
    # 4.35% x 1.5 = 6.525% a year on the overdue principal, one basis-day at a time, half-up
    daily = half_up(Fraction(overdue) * Fraction("0.0435") * Fraction("1.5") / day_count.basis)
    assert daily > 0
    book.eod_through(due)
    assert book.bal(Acct.PENALTY_RECEIVABLE) == 0  # not overdue on its due date
    for n in range(1, 26):  # the second instalment falls due only after 30 days
        book.eod_through(due + timedelta(days=n))
        assert book.bal(Acct.PENALTY_RECEIVABLE) == n * daily
        assert book.bal(Acct.PENALTY_INCOME) == -n * daily
        assert book.loan.days_past_due(due + timedelta(days=n)) == n
    # paying the arrears stops the penalty
    owed = first.principal + first.interest + first.fee + 25 * daily
    book.apply(Repayment("catch-up", due + timedelta(days=26), owed))
    assert book.receivables()[Acct.PENALTY_RECEIVABLE] == 0
    book.eod_through(due + timedelta(days=28))
    assert book.bal(Acct.PENALTY_INCOME) == -25 * daily
    book.check_books()


def test_bullet_left_unpaid_accrues_penalty_on_the_whole_principal():
    product = LoanProduct("BUL", RepaymentMethod.BULLET, Decimal("0.08"), term_days=90,
                          day_count=DayCount.ACT_365F)
    principal, start = 2_500_000, date(2024, 1, 1)
    book = Book(product)
    book.disburse(start, principal)
    maturity = start + timedelta(days=90)
    interest = half_up(Fraction(principal) * Fraction("0.08") * 90 / 365)
    assert book.loan.instalments[0].interest == interest
    book.eod_through(maturity + timedelta(days=100))
    daily = half_up(Fraction(principal) * Fraction("0.12") / 365)  # 8% x 1.5
    assert book.bal(Acct.PENALTY_RECEIVABLE) == 100 * daily
    assert book.bal(Acct.INTEREST_RECEIVABLE) == interest  # no normal interest after maturity
    assert book.loan.days_past_due(maturity + timedelta(days=100)) == 100
    # a payoff quote includes the penalty of every day before the payoff date
    assert book.loan.payoff_amount(maturity + timedelta(days=101)) == \
        principal + interest + 100 * daily
    assert book.loan.payoff_amount(maturity + timedelta(days=111)) == \
        principal + interest + 110 * daily
    book.check_books()


# -- 5. prepayment ----------------------------------------------------------------------------
def _paid_three(product: LoanProduct | None = None) -> tuple[Book, list]:
    """1 200 000 fen, 12 months, equal instalments, 12% 30/360 from Jan 10.

    The first three instalments are paid on their due dates, the third on Apr 10 before that
    day's end-of-day run, so the fourth period (Apr 10 -> May 10) has accrued nothing yet.
    """
    product = product or monthly()
    book = Book(product)
    book.disburse(date(2024, 1, 10), 1_200_000)
    schedule = build_schedule(product, 1_200_000, date(2024, 1, 10)).instalments
    book.eod_through(date(2024, 4, 9), {i.due: i.total for i in schedule[:2]})
    book.apply(Repayment("third", date(2024, 4, 10), schedule[2].total))
    assert book.loan.status is LoanStatus.ACTIVE
    assert book.loan.due_instalments(date(2024, 4, 10)) == []
    assert book.receivables() == {Acct.LOAN_PRINCIPAL: sum(i.principal for i in schedule[3:]),
                                  Acct.INTEREST_RECEIVABLE: 0, Acct.FEE_RECEIVABLE: 0,
                                  Acct.PENALTY_RECEIVABLE: 0}
    return book, list(schedule)


def test_full_prepayment_mid_period_charges_interest_to_the_prepayment_date_only():
    book, schedule = _paid_three()
    on = date(2024, 4, 25)
    book.eod_through(on - ONE)
    remaining = sum(i.principal for i in schedule[3:])
    fourth = schedule[3]  # Apr 10 -> May 10: 30 days, 15 of them elapsed on Apr 25
    to_date = half_up(Fraction(fourth.interest * 15, 30))
    assert book.loan.payoff_amount(on) == remaining + to_date

    book.refused(Prepayment("short", on, remaining + to_date - 1, PrepaymentMode.FULL), InvalidEvent)
    # more than the payoff is refused (the lender holds no money beyond the debt)
    book.refused(Prepayment("over", on, remaining + to_date + 1, PrepaymentMode.FULL), InvalidAmount)
    drafts = book.apply(Prepayment("payoff", on, remaining + to_date, PrepaymentMode.FULL))
    assert drafts
    assert book.loan.status is LoanStatus.CLOSED
    assert book.loan.credit == 0
    assert book.receivables() == {a: 0 for a in RECEIVABLE_ACCOUNTS}
    assert -book.bal(Acct.INTEREST_INCOME) == sum(i.interest for i in schedule[:3]) + to_date
    assert -book.bal(Acct.INTEREST_INCOME) < sum(i.interest for i in schedule)
    assert book.principal_credited() == 1_200_000
    assert book.apply(EndOfDay("after", on + ONE)) == []  # nothing accrues any more
    book.refused(CreditRefund("refund", on + ONE, 1), InvalidEvent)  # no credit to refund
    assert book.bal(Acct.BORROWER_CREDIT) == 0
    book.check_books()


def test_partial_prepayment_reduce_instalment_keeps_the_count_and_lowers_the_instalments():
    book, schedule = _paid_three()
    on = date(2024, 4, 10)  # the third instalment was paid today; the fourth period starts today
    before = [i for i in book.loan.instalments if i.due > on]
    assert len(before) == 9
    book.apply(Prepayment("part", on, 300_000, PrepaymentMode.REDUCE_INSTALMENT))
    after = [i for i in book.loan.instalments if i.due > on]
    assert len(after) == 9
    assert [i.due for i in after] == [i.due for i in before]
    balance = sum(i.principal for i in schedule[3:]) - 300_000
    assert sum(i.principal for i in after) == balance
    # the new level instalment re-amortises the lower balance over the same 9 months
    level = half_up(Decimal(repr(float(npf.pmt(0.01, 9, -balance)))))
    expected, b = [], balance
    for k in range(9):
        interest = half_up(Fraction(b, 100))
        part = b if k == 8 else level - interest  # rounding residue goes to the last one
        expected.append((part, interest))
        b -= part
    assert [(i.principal, i.interest) for i in after] == expected
    for new, old in zip(after, before):
        assert new.principal + new.interest < old.principal + old.interest
    book.check_books()

    book.eod_through(schedule[-1].due, {i.due: i.principal + i.interest for i in after})
    assert book.loan.status is LoanStatus.CLOSED
    assert book.principal_credited() == 1_200_000
    assert -book.bal(Acct.INTEREST_INCOME) < sum(i.interest for i in schedule)
    book.check_books()


def test_partial_prepayment_shorten_term_keeps_the_instalment_and_ends_earlier():
    book, schedule = _paid_three()
    on = date(2024, 4, 10)
    level = schedule[0].principal + schedule[0].interest
    book.apply(Prepayment("part", on, 300_000, PrepaymentMode.SHORTEN_TERM))
    after = [i for i in book.loan.instalments if i.due > on]
    balance = sum(i.principal for i in schedule[3:]) - 300_000
    # independent amortisation of the lower balance at the old instalment, 1% a month
    expected, b = [], balance
    while b > 0:
        interest = half_up(Fraction(b, 100))
        part = min(level - interest, b)
        expected.append((part, interest))
        b -= part
    assert [(i.principal, i.interest) for i in after] == expected
    assert len(after) < 9
    assert all(i.principal + i.interest == level for i in after[:-1])
    assert after[-1].due < schedule[-1].due
    assert [i.due for i in after] == [i.due for i in schedule[3:3 + len(after)]]
    book.check_books()

    book.eod_through(after[-1].due, {i.due: i.principal + i.interest for i in after})
    assert book.loan.status is LoanStatus.CLOSED
    assert book.principal_credited() == 1_200_000
    book.check_books()


def test_partial_prepayment_must_exceed_arrears_and_accrued_interest():
    book, schedule = _paid_three()
    on = date(2024, 4, 25)
    book.eod_through(on - ONE)
    accrued = half_up(Fraction(schedule[3].interest * 15, 30))
    book.refused(Prepayment("p1", on, accrued, PrepaymentMode.REDUCE_INSTALMENT), InvalidEvent)
    book.apply(Prepayment("p2", on, accrued + 50_000, PrepaymentMode.REDUCE_INSTALMENT))
    assert book.loan.principal_outstanding == sum(i.principal for i in schedule[3:]) - 50_000
    assert book.receivables()[Acct.INTEREST_RECEIVABLE] == 0
    book.check_books()


# -- 6. delinquency ---------------------------------------------------------------------------
def _expected_class(dpd: int) -> tuple[str, RiskClass]:
    bucket = ("current" if dpd == 0 else "1-30" if dpd <= 30 else "31-60" if dpd <= 60
              else "61-90" if dpd <= 90 else "90+")
    risk = (RiskClass.NORMAL if dpd == 0 else RiskClass.SPECIAL_MENTION if dpd <= 90
            else RiskClass.SUBSTANDARD if dpd <= 270 else RiskClass.DOUBTFUL if dpd <= 360
            else RiskClass.LOSS)
    return bucket, risk


def test_delinquency_ages_through_buckets_and_five_risk_classes_over_400_days():
    product = monthly(term=6)
    book = Book(product)
    start = date(2024, 1, 15)
    book.disburse(start, 600_000)
    first_due = date(2024, 2, 15)
    seen = []
    d = start
    while d <= first_due + timedelta(days=400):
        book.apply(EndOfDay(f"eod-{d}", d))
        dpd = book.loan.days_past_due(d)
        assert dpd == max(0, (d - first_due).days)
        assert (book.loan.bucket(d), book.loan.risk_class(d)) == _expected_class(dpd)
        if not seen or seen[-1][1] != book.loan.risk_class(d):
            seen.append((dpd, book.loan.risk_class(d)))
        d += ONE
    assert seen == [(0, RiskClass.NORMAL), (1, RiskClass.SPECIAL_MENTION),
                    (91, RiskClass.SUBSTANDARD), (271, RiskClass.DOUBTFUL), (361, RiskClass.LOSS)]
    assert [r.non_performing for _, r in seen] == [False, False, True, True, True]
    book.next_eod = d
    book.check_books()

    # paying the oldest instalment ages the loan from the next oldest one instead
    first = book.loan.instalments[0]
    owed = first.unpaid(PRIN) + first.unpaid(INT) + first.unpaid(FEE) + book.loan.penalty_receivable
    book.apply(Repayment("oldest", d, owed))
    assert not book.loan.instalments[0].in_arrears()
    assert book.loan.days_past_due(d) == (d - date(2024, 3, 15)).days
    # a written-off loan is a loss whatever its age
    book.apply(WriteOff("wo", d))
    assert book.loan.risk_class(d) is RiskClass.LOSS


# -- 7. write-off and recovery ----------------------------------------------------------------
def test_write_off_moves_every_receivable_to_loan_losses_and_recovery_books_income():
    product = monthly(RepaymentMethod.EQUAL_PRINCIPAL, term=6, instalment_fee_fixed=400)
    book = Book(product)
    book.disburse(date(2024, 1, 15), 600_000)
    book.eod_through(date(2024, 5, 1))
    owed = book.receivables()
    assert all(v > 0 for v in owed.values())
    assert owed[Acct.LOAN_PRINCIPAL] == 600_000
    drafts = book.apply(WriteOff("wo", date(2024, 5, 2), "borrower absconded"))
    (entry,) = drafts[-1:]
    # catch-up for May 1 (already run) adds nothing; the write-off is one entry
    lines = {p.account: p.amount for p in entry.postings}
    assert lines == {Acct.LOAN_LOSS: sum(owed.values()),
                     **{a: -v for a, v in owed.items()}}
    assert book.loan.status is LoanStatus.WRITTEN_OFF
    assert book.receivables() == {a: 0 for a in RECEIVABLE_ACCOUNTS}
    assert book.bal(Acct.LOAN_LOSS) == sum(owed.values())
    book.check_books()

    # nothing accrues after a write-off
    entries = len(book.journal.entries)
    for k in range(3, 10):
        assert book.apply(EndOfDay(f"eod-after-{k}", date(2024, 5, k))) == []
    assert len(book.journal.entries) == entries

    book.apply(Recovery("rec1", date(2024, 6, 1), 50_000))
    assert book.bal(Acct.RECOVERY_INCOME) == -50_000
    assert book.bal(Acct.CASH) == -600_000 + 50_000
    # a recovery beyond what is still written off is refused: it is not the lender's to hold
    loss = sum(owed.values())
    book.refused(Recovery("rec2", date(2024, 6, 2), loss - 50_000 + 1), InvalidAmount)
    book.apply(Recovery("rec2", date(2024, 6, 2), loss - 50_000))
    assert book.bal(Acct.RECOVERY_INCOME) == -loss
    assert book.loan.credit == 0 and book.bal(Acct.BORROWER_CREDIT) == 0
    book.refused(Recovery("rec3", date(2024, 6, 3), 1), InvalidAmount)
    book.check_books()

    for event in (Repayment("r", date(2024, 6, 4), 1_000),
                  Prepayment("p", date(2024, 6, 4), 1_000, PrepaymentMode.FULL),
                  Reschedule("s", date(2024, 6, 4), 6),
                  WriteOff("wo2", date(2024, 6, 4))):
        book.refused(event, LoanClosed)


def test_money_events_on_a_closed_loan_are_refused():
    product = monthly(term=2)
    schedule = build_schedule(product, 200_000, date(2024, 1, 15))
    book = Book(product)
    book.disburse(date(2024, 1, 15), 200_000)
    book.eod_through(schedule.maturity, {i.due: i.total for i in schedule.instalments})
    assert book.loan.status is LoanStatus.CLOSED
    d = schedule.maturity + ONE
    for event in (Repayment("r", d, 1_000),
                  Prepayment("p", d, 1_000, PrepaymentMode.FULL),
                  Prepayment("p2", d, 1_000, PrepaymentMode.REDUCE_INSTALMENT),
                  Prepayment("p3", d, 1_000, PrepaymentMode.SHORTEN_TERM),
                  Reschedule("s", d, 6),
                  WriteOff("wo", d)):
        book.refused(event, LoanClosed)
    # a recovery only follows a write-off; a closed loan refuses it too
    book.refused(Recovery("rec", d, 1_000), ServicingError)


def test_write_off_leaves_an_unused_credit_balance_owed_to_the_borrower():
    product = monthly(term=3)
    schedule = build_schedule(product, 300_000, date(2024, 1, 15))
    book = Book(product)
    book.disburse(date(2024, 1, 15), 300_000)
    book.eod_through(date(2024, 1, 31))
    book.apply(Repayment("advance", date(2024, 2, 1), 10_000))  # nothing due yet: all credit
    owed = book.receivables()
    book.apply(WriteOff("wo", date(2024, 2, 1)))
    assert book.bal(Acct.LOAN_LOSS) == sum(owed.values())
    assert book.loan.credit == 10_000 and book.bal(Acct.BORROWER_CREDIT) == -10_000
    assert schedule.instalments[0].due == date(2024, 2, 15)
    book.check_books()


# -- reversal and reschedule ------------------------------------------------------------------
def test_reversing_a_bounced_repayment_restores_the_arrears_and_the_penalty_it_stopped():
    product = monthly(term=3)
    schedule = build_schedule(product, 300_000, date(2024, 1, 15))
    first = schedule.instalments[0]
    book = Book(product)
    book.disburse(date(2024, 1, 15), 300_000)
    book.eod_through(date(2024, 3, 10), {first.due: first.total})
    assert book.bal(Acct.PENALTY_RECEIVABLE) == 0
    book.apply(PaymentReversal("bounce", date(2024, 3, 11), f"pay-{first.due}", "NSF"))
    # as if never paid: 24 days of penalty on the first instalment's principal (Feb 16..Mar 10)
    daily = half_up(Fraction(first.principal) * Fraction("0.18") / 360)
    assert book.bal(Acct.PENALTY_RECEIVABLE) == 24 * daily
    assert book.bal(Acct.CASH) == -300_000
    assert book.loan.instalments[0].unpaid(PRIN) == first.principal
    assert book.loan.days_past_due(date(2024, 3, 11)) == 25
    book.check_books()
    twin = Book(product)
    twin.disburse(date(2024, 1, 15), 300_000)
    twin.eod_through(date(2024, 3, 10))
    assert {a: twin.bal(a) for a in (Acct.INTEREST_INCOME, Acct.PENALTY_INCOME, Acct.FEE_INCOME)} \
        == {a: book.bal(a) for a in (Acct.INTEREST_INCOME, Acct.PENALTY_INCOME, Acct.FEE_INCOME)}
    # a receipt is reversed once; a reversal of nothing or of a non-receipt is refused
    book.refused(PaymentReversal("again", date(2024, 3, 11), f"pay-{first.due}"), InvalidEvent)
    book.refused(PaymentReversal("ghost", date(2024, 3, 11), "no-such-key"), InvalidEvent)
    book.refused(PaymentReversal("eod", date(2024, 3, 11), "eod-2024-03-01"), InvalidEvent)


def test_reschedule_capitalises_arrears_into_a_new_schedule():
    product = monthly(term=6)
    book = Book(product)
    book.disburse(date(2024, 1, 15), 600_000)
    book.eod_through(date(2024, 4, 1))
    owed = book.receivables()
    on = date(2024, 4, 1)
    book.apply(Reschedule("rs", on, 12, Decimal("0.06"), RepaymentMethod.EQUAL_PRINCIPAL, True))
    after = book.receivables()
    assert after[Acct.LOAN_PRINCIPAL] == sum(owed.values())
    assert after[Acct.INTEREST_RECEIVABLE] == after[Acct.FEE_RECEIVABLE] \
        == after[Acct.PENALTY_RECEIVABLE] == 0
    fresh = [i for i in book.loan.instalments if i.due > on]
    assert len(fresh) == 12 and fresh[0].due == date(2024, 5, 1)
    assert sum(i.principal for i in fresh) == sum(owed.values())
    assert book.loan.days_past_due(on + ONE) == 0
    assert book.loan.product.annual_rate == Decimal("0.06")
    book.check_books()
    # the new terms are serviced to the end
    book.eod_through(fresh[-1].due, {i.due: i.principal + i.interest for i in fresh})
    assert book.loan.status is LoanStatus.CLOSED
    book.check_books()


def test_bullet_loan_can_be_rescheduled_onto_equal_instalments():
    product = LoanProduct("BUL", RepaymentMethod.BULLET, Decimal("0.10"), term_days=90)
    book = Book(product)
    book.disburse(date(2024, 1, 1), 100_000)
    book.eod_through(date(2024, 4, 30))  # matured Mar 31 and unpaid
    # regression: with_terms used to keep term_days, so the new product was refused
    owed = book.receivables()
    book.apply(Reschedule("rs", date(2024, 4, 30), 6, None, RepaymentMethod.EQUAL_INSTALMENT))
    fresh = [i for i in book.loan.instalments if i.due > date(2024, 4, 30)]
    assert len(fresh) == 6
    assert sum(i.principal for i in fresh) == sum(owed.values())  # arrears capitalised
    assert book.loan.product.term_days is None and book.loan.product.term_periods == 6
    book.check_books()
    book.eod_through(fresh[-1].due, {i.due: i.principal + i.interest for i in fresh})
    assert book.loan.status is LoanStatus.CLOSED
    book.check_books()


# -- 8. bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("amount", [0, -1, -10_000, 1.5, 100.0, True, Decimal("10"), "100", None])
def test_non_positive_or_non_integer_amounts_are_refused(amount):
    d = date(2024, 1, 15)
    for make in (lambda: Repayment("r", d, amount), lambda: Disbursement("d", d, amount),
                 lambda: Prepayment("p", d, amount), lambda: Recovery("c", d, amount),
                 lambda: CreditRefund("f", d, amount)):
        with pytest.raises(InvalidAmount):
            make()


def test_every_event_amount_is_bounded_by_the_one_platform_bound():
    """MAX_AMOUNT (10^10 fen) is the bound the API's schemas declare and the events keep."""
    from puhui.money import MAX_AMOUNT

    assert MAX_AMOUNT == 10**10
    d = date(2024, 1, 15)
    for make in (lambda a: Repayment("r", d, a), lambda a: Disbursement("d", d, a),
                 lambda a: Prepayment("p", d, a), lambda a: Recovery("c", d, a),
                 lambda a: CreditRefund("f", d, a)):
        make(MAX_AMOUNT)  # the bound itself is an amount an event may carry
        with pytest.raises(InvalidAmount, match="largest amount"):
            make(MAX_AMOUNT + 1)


def test_unknown_currency_is_refused_by_products():
    with pytest.raises(UnknownCurrency):
        monthly(currency="RMB")


def test_rate_above_cap_is_refused_by_quote():
    cap = RateCap(Decimal("0.24"))
    with pytest.raises(RateCapExceeded):
        quote(monthly(rate="0.25"), 1_000_000, date(2024, 1, 15), cap)
    # within the nominal cap, but fees push the IRR cost over it
    with pytest.raises(RateCapExceeded):
        quote(monthly(rate="0.20", upfront_fee_rate=Decimal("0.05")), 1_000_000,
              date(2024, 1, 15), cap)
    assert quote(monthly(rate="0.20"), 1_000_000, date(2024, 1, 15), cap).apr < Decimal("0.24")


def test_bad_product_terms_are_refused():
    bad = [dict(rate="-0.01"), dict(rate="0.0000001"), dict(term=0), dict(grace_periods=12),
           dict(repayment_day=32), dict(repayment_day=5, frequency=Frequency.WEEKLY),
           dict(upfront_fee_rate=Decimal(1)), dict(instalment_fee_fixed=-1),
           dict(penalty_multiplier=Decimal("0.5")), dict(penalty_multiplier=1.5),
           dict(method="weird"), dict(day_count="ACT/ACT")]
    for kw in bad:
        with pytest.raises((InvalidProduct, InvalidRate)):
            monthly(**kw)
    with pytest.raises(InvalidRate):
        monthly(rate=0.12)  # floats are not rates


def _active_book() -> Book:
    book = Book(monthly(term=6))
    book.disburse(date(2024, 1, 15), 600_000)
    book.eod_through(date(2024, 2, 20))
    return book


def test_events_dated_before_the_last_event_are_refused():
    book = _active_book()
    for event in (Repayment("old", date(2024, 2, 19), 1_000), EndOfDay("old-eod", date(2024, 1, 20)),
                  WriteOff("old-wo", date(2024, 2, 1)),
                  Prepayment("old-p", date(2024, 2, 19), 700_000)):
        book.refused(event, DateOrderError)
    book.apply(Repayment("same-day", date(2024, 2, 20), 1_000))  # the same day is fine


def test_idempotency_key_reuse():
    book = _active_book()
    first = Repayment("pay-1", date(2024, 2, 21), 5_000)
    assert book.apply(first)
    before = book.snapshot()
    assert book.apply(Repayment("pay-1", date(2024, 2, 21), 5_000)) == []  # a retry is a no-op
    assert book.snapshot() == before
    book.refused(Repayment("pay-1", date(2024, 2, 21), 5_001), IdempotencyConflict)
    book.refused(Prepayment("pay-1", date(2024, 2, 21), 5_000), IdempotencyConflict)
    book.refused(EndOfDay("eod-2024-02-01", date(2024, 2, 22)), IdempotencyConflict)


def test_invalid_servicing_events_change_nothing():
    book = _active_book()
    d = date(2024, 2, 21)
    book.refused(Disbursement("disb-2", d, 100_000), InvalidEvent)  # disbursing twice
    book.refused(CreditRefund("refund", d, 1), InvalidEvent)  # no credit to refund
    book.apply(Repayment("over", d, 500_000))  # far more than is due: the rest is credit
    credit = book.loan.credit
    assert credit > 0
    book.refused(CreditRefund("too-much", d, credit + 1), InvalidEvent)
    book.refused(PaymentReversal("rev-none", d, "nope"), InvalidEvent)
    book.refused(PaymentReversal("rev-disb", d, "disb"), InvalidEvent)
    book.refused(Recovery("rec", d, 100), InvalidEvent)  # not written off
    book.refused(Reschedule("rs", d, 6, None, RepaymentMethod.BULLET), InvalidEvent)
    with pytest.raises(InvalidRate):  # refused as soon as the event is made
        Reschedule("rs2", d, 6, Decimal("-0.01"))
    book.refused(Prepayment("pp", d, 1, PrepaymentMode.SHORTEN_TERM), InvalidEvent)
    book.refused(Draw("draw", d, 1_000), InvalidEvent)  # revolving-line events on a term loan
    book.refused(LineOpening("open", d, 1_000_000), InvalidEvent)
    book.apply(PaymentReversal("rev-over", d, "over"))
    book.refused(PaymentReversal("rev-over-2", d, "over"), InvalidEvent)
    book.check_books()


def test_a_second_end_of_day_for_the_same_date_posts_nothing():
    book = _active_book()
    before = book.snapshot()
    assert book.apply(EndOfDay("rerun-with-new-key", date(2024, 2, 20))) == []
    assert book.snapshot()[:6] == before[:6]  # only the event log grew
    assert len(book.journal.entries) == before[-2]


def test_events_before_disbursement_and_bad_disbursements_are_refused():
    book = Book(monthly(term=6))
    d = date(2024, 1, 15)
    book.refused(Repayment("early", d, 1_000), InvalidEvent)
    book.refused(EndOfDay("eod", d), InvalidEvent)
    book.refused(WriteOff("wo", d), InvalidEvent)
    book.refused(Disbursement("tiny", d, 99_99), InvalidAmount)  # below the product minimum
    assert book.loan.status is LoanStatus.PENDING
    with pytest.raises(InvalidEvent):
        Repayment("", d, 100)
    with pytest.raises(InvalidEvent):
        Repayment("k", "2024-01-15", 100)  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent):
        Prepayment("k", d, 100, "bogus")  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent):
        Reschedule("k", d, 0)



def test_a_loan_opens_on_the_contracted_schedule_and_refuses_any_other():
    from dataclasses import replace

    product, d = monthly(term=6), date(2024, 1, 15)
    contracted = build_schedule(product, 600_000, d)
    book = Book(product)
    first = contracted.instalments[0]
    wrong = replace(contracted, instalments=(replace(first, interest=first.interest + 1),)
                    + contracted.instalments[1:])
    for other in (wrong, build_schedule(product, 600_000, d + ONE),
                  build_schedule(product, 500_000, d)):
        book.refused(Disbursement("d", d, 600_000, contracted=other), InvalidEvent)
    assert book.loan.status is LoanStatus.PENDING
    book.refused(Disbursement("tiny", d, 99_99, contracted=contracted), InvalidAmount)
    book.apply(Disbursement("d", d, 600_000, contracted=contracted))
    assert [(i.number, i.start, i.due, i.principal, i.interest, i.fee)
            for i in book.loan.instalments] == \
        [(i.number, i.start, i.due, i.principal, i.interest, i.fee)
         for i in contracted.instalments]


def test_the_contracted_schedule_is_carried_not_stored():
    from puhui.loans.events import event_from_content

    product, d = monthly(term=6), date(2024, 1, 15)
    carried = Disbursement("d", d, 600_000, contracted=build_schedule(product, 600_000, d))
    plain = Disbursement("d", d, 600_000)
    assert carried == plain and carried.content() == plain.content()
    assert carried.content_hash() == plain.content_hash()
    assert "contracted" not in carried.content()
    assert event_from_content(carried.content()) == plain
    with pytest.raises(InvalidEvent, match="unexpected fields"):
        event_from_content({**plain.content(), "contracted": None})


@pytest.mark.parametrize("terms", [dict(instalment_fee_fixed=0.5), dict(upfront_fee_fixed=100.5),
                                   dict(term_periods=2.5), dict(repayment_day=15.5),
                                   dict(term_periods=True), dict(min_first_period_days=2.5),
                                   dict(term_periods="3"), dict(min_principal=100.0),
                                   dict(max_principal=Decimal(10**9)), dict(grace_periods=True)])
def test_products_refuse_non_integer_whole_number_terms(terms):
    # regression: instalment_fee_fixed=0.5 used to be accepted, the loan disbursed, and every
    # end-of-day run from the first due date on raised UnbalancedEntry
    kw = {"term_periods": 3, **terms}
    with pytest.raises(InvalidProduct):
        LoanProduct("TEST", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"), **kw)


def test_reschedule_rates_are_exact_and_normalised() -> None:
    from puhui.loans.events import Reschedule

    d = date(2026, 3, 1)
    assert Reschedule("k", d, 6, Decimal("0.10")).content_hash() == \
        Reschedule("k", d, 6, Decimal("0.1")).content_hash()
    with pytest.raises(InvalidRate):
        Reschedule("k", d, 6, 0.1)  # type: ignore[arg-type]


def test_credit_reduces_the_payoff_and_paying_it_leaves_no_credit_behind():
    """22 advance repayments of 10 yuan once left the payoff unchanged, and paying it left the
    220 yuan behind as credit while the loan closed."""
    book, _ = _paid_three()
    on = date(2024, 4, 25)
    book.eod_through(on - ONE)
    before = book.loan.payoff_amount(on)
    for n in range(22):
        book.apply(Repayment(f"ten-{n}", on, 10_00))
    assert book.loan.credit == 220_00
    net = book.loan.payoff_amount(on)
    assert net == before - 220_00
    book.refused(Prepayment("over", on, net + 1, PrepaymentMode.FULL), InvalidAmount)
    book.refused(Repayment("over", on, net + 1), InvalidAmount)
    book.refused(Prepayment("short", on, net - 1, PrepaymentMode.FULL), InvalidEvent)
    book.apply(Prepayment("payoff", on, net, PrepaymentMode.FULL))
    assert book.loan.status is LoanStatus.CLOSED
    assert book.loan.credit == 0 and book.bal(Acct.BORROWER_CREDIT) == 0
    assert book.receivables() == {a: 0 for a in RECEIVABLE_ACCOUNTS}
    book.check_books()


def test_a_repayment_of_the_payoff_settles_the_loan_the_same_day():
    """A plain repayment that, with the credit, covers everything owed closes the loan: the
    rest is not held as credit while the principal keeps bearing interest."""
    book, schedule = _paid_three()
    on = date(2024, 4, 25)
    book.eod_through(on - ONE)
    book.apply(Repayment("advance", on, 500_00))
    net = book.loan.payoff_amount(on)
    book.apply(Repayment("rest", on, net))
    assert book.loan.status is LoanStatus.CLOSED and book.loan.credit == 0
    remaining = sum(i.principal for i in schedule[3:])
    to_date = half_up(Fraction(schedule[3].interest * 15, 30))
    assert net + 500_00 == remaining + to_date  # interest only to the day of settlement
    assert book.apply(EndOfDay("after", on)) == []
    book.check_books()


def test_a_credit_balance_is_refunded_in_part_or_whole_and_never_beyond_it():
    book, _ = _paid_three()
    on = date(2024, 4, 20)
    book.eod_through(on - ONE)
    book.apply(Repayment("advance", on, 300_00))  # nothing due: all of it is credit
    assert book.loan.credit == 300_00
    book.refused(CreditRefund("too-much", on, 300_01), InvalidEvent)
    drafts = book.apply(CreditRefund("part", on, 100_00))
    (entry,) = drafts
    assert {p.account: p.amount for p in entry.postings} == {Acct.BORROWER_CREDIT: 100_00,
                                                             Acct.CASH: -100_00}
    assert book.loan.credit == 200_00 and book.bal(Acct.BORROWER_CREDIT) == -200_00
    book.apply(CreditRefund("rest", on, 200_00))
    assert book.loan.credit == 0 and book.bal(Acct.BORROWER_CREDIT) == 0
    book.check_books()


def test_rules_for_new_receipts_do_not_refuse_stored_history():
    """A receipt above what is owed is refused when it is new, but one accepted before that rule
    (stored history) replays, booked as it was then: the excess held as credit."""
    from puhui.loans.revolving import RevolvingLine

    product = monthly(term=6)
    start = date(2024, 1, 15)
    old = [Disbursement("d", start, 600_000), Repayment("r1", start + ONE, 10_000),
           Repayment("over", start + 2 * ONE, 700_000)]
    fresh = Loan("L-new", product)
    fresh.apply(old[0])
    fresh.apply(old[1])
    with pytest.raises(InvalidAmount):
        fresh.apply(old[2])
    loan = Loan.replay("L-old", product, old)
    # nothing was due: both receipts are credit, the loan stays open as the old rules left it
    assert loan.status is LoanStatus.ACTIVE and loan.credit == 710_000
    assert loan.principal_outstanding == 600_000
    assert loan.balances()[Acct.BORROWER_CREDIT] == -710_000
    # a new event on top of it is still held to the new rules
    with pytest.raises(InvalidAmount):
        loan.apply(Repayment("more", start + 3 * ONE, 1))
    # reversing the earlier receipt re-runs the stored over-payment, which still replays
    loan.apply(PaymentReversal("rev", start + 3 * ONE, "r1"))
    assert loan.credit == 700_000 and "r1" in loan.reversed
    # a recovery above what was written off, and an over-repaid line, replay likewise
    written = Loan.replay("L-wo", product, [Disbursement("d", start, 600_000),
                                           WriteOff("wo", start + ONE),
                                           Recovery("rec", start + 2 * ONE, 700_000)])
    assert written.credit == 700_000 - written.written_off_amount > 0
    line = RevolvingLine.replay("LN", LoanProduct(
        "RV30", RepaymentMethod.REVOLVING, Decimal("0.1825"), term_days=30, day_count="ACT/365F"),
        [LineOpening("o", start, 1_000_000), Draw("dr", start, 100_000),
         Repayment("over", start + ONE, 300_000)])
    assert line.credit == 300_000 - 100_000 - 50 and line.owed() == 0


# -- each stored event replays under the servicing rules it was accepted under -----------------
def _as_stored_before_versions(event):
    """`event` as the code before rules versions stored it: its content without a `rules`
    field, read back as stored history (so it names rules 1)."""
    from puhui.loans.events import event_from_content

    content = {k: v for k, v in event.content().items() if k != "rules"}
    return event_from_content(content, stored=True)


def _history_to(on: date) -> tuple[list, list]:
    """The events of `_paid_three` run to the day before `on`, and the schedule."""
    book, schedule = _paid_three()
    book.eod_through(on - ONE)
    return [e for e, _ in book.loan.history], schedule


def _receipt(cash: int) -> dict[str, int]:
    return {Acct.CASH: cash, Acct.BORROWER_CREDIT: -cash}


def _figures(loan: Loan) -> list[dict]:
    return [i.as_dict() for i in loan.instalments]


def _by_account(loan: Loan) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in loan.posted():
        out[p.account] = out.get(p.account, 0) + p.amount
    return {a: v for a, v in out.items() if v}


def test_events_name_the_rules_they_are_accepted_under_and_new_ones_only_the_current():
    from puhui.loans.events import RULES, event_from_content

    new = Repayment("r", date(2024, 4, 25), 100_00)
    assert RULES == 2 and new.rules == 2 and new.content()["rules"] == 2
    # stored content keeps its version; content from before versions is rules 1
    assert event_from_content(new.content(), stored=True).rules == 2
    old = _as_stored_before_versions(new)
    assert old.rules == 1 and old.content()["rules"] == 1
    # the version is how the event was booked, not what happened: one identity for both
    assert old.content_hash() == new.content_hash()
    assert Repayment("r", date(2024, 4, 25), 100_01).content_hash() != new.content_hash()
    # a new event cannot name older (or unknown) rules, and history cannot name unknown ones
    for bad in (1, 3, 0, True, "2"):
        with pytest.raises(InvalidEvent):
            Repayment("r", date(2024, 4, 25), 100_00, rules=bad)
        with pytest.raises(InvalidEvent):
            event_from_content({**new.content(), "rules": bad})
    for bad in (3, 0, True, "1"):
        with pytest.raises(InvalidEvent):
            event_from_content({**new.content(), "rules": bad}, stored=True)
    # and a rules-1 event from history is not accepted as a new event
    loan = Loan("L-v", monthly())
    loan.apply(Disbursement("d", date(2024, 4, 1), 1_200_000))
    with pytest.raises(InvalidEvent):
        loan.apply(old)
    assert loan.apply(old, replay=True)  # as history it is booked
    # the same command sent again is recognised, whichever rules the stored copy names
    assert loan.apply(new) == []


def test_a_stored_rules_1_repayment_covering_the_payoff_leaves_the_loan_open_with_credit():
    """Rules 1 held a receipt beyond what was due as credit, even one that with the credit
    covered everything owed; the loan stayed open and kept accruing.  Replayed, such a receipt
    is booked so again (the journal posted then says so), while the same receipt new settles."""
    on = date(2024, 4, 25)
    history, schedule = _history_to(on)
    advance = Repayment("advance", on, 500_00)  # nothing due: held as credit under both rules
    probe = Loan.replay("L-1", monthly(), history + [advance])
    net = probe.payoff_amount(on)
    assert net + 500_00 == sum(i.principal for i in schedule[3:]) + half_up(
        Fraction(schedule[3].interest * 15, 30))
    rest = Repayment("rest", on, net)  # with the credit, exactly the payoff

    old = Loan.replay("L-1", monthly(), history + [advance, _as_stored_before_versions(rest)])
    twin = Loan.replay("L-1", monthly(), history + [advance])
    assert old.status is LoanStatus.ACTIVE and old.credit == net + 500_00
    assert [i.as_dict() for i in old.instalments] == [i.as_dict() for i in twin.instalments]
    # exactly the receipt was posted, all of it to the borrower's credit
    (entry,) = old.history[-1][1]
    assert {p.account: p.amount for p in entry.postings} == _receipt(net)
    assert old.balances() == {**twin.balances(), Acct.BORROWER_CREDIT: -(net + 500_00)}
    # the credit settles instalments as they fall due, as it did under rules 1
    old.apply(EndOfDay("eod", date(2024, 5, 10)))
    assert not old.instalments[3].in_arrears() and old.credit < net + 500_00
    assert old.status is LoanStatus.ACTIVE

    new = Loan.replay("L-1", monthly(), history + [advance])
    new.apply(rest)
    assert new.status is LoanStatus.CLOSED and new.credit == 0 and new.balances() == {}
    # both replay as they were first booked
    assert Loan.replay("L-1", monthly(), [e for e, _ in new.history]).posted() == new.posted()


def test_a_stored_rules_1_partial_prepayment_covering_the_payoff_with_credit_re_amortises():
    """Rules 1 settled the loan only on a prepayment covering the payoff by itself; a partial
    one that only with the credit covered it was re-amortised, the credit left held."""
    on = date(2024, 4, 25)
    history, _ = _history_to(on)
    advance = Repayment("advance", on, 500_00)
    net = Loan.replay("L-1", monthly(), history + [advance]).payoff_amount(on)
    part = Prepayment("part", on, net, PrepaymentMode.REDUCE_INSTALMENT)

    old = Loan.replay("L-1", monthly(), history + [advance, _as_stored_before_versions(part)])
    # booked as the same prepayment on the loan without the credit, which rules 1 ignored
    without_credit = Loan.replay("L-1", monthly(), history + [part])
    assert without_credit.status is LoanStatus.ACTIVE
    assert old.status is LoanStatus.ACTIVE and old.credit == 500_00
    assert _figures(old) == _figures(without_credit)
    assert old.principal_outstanding > 0 and old.instalments[-1].due > on  # re-amortised
    assert old.balances() == {**without_credit.balances(), Acct.BORROWER_CREDIT: -500_00}
    twin, receipt = _by_account(without_credit), _receipt(500_00)
    assert _by_account(old) == {a: twin.get(a, 0) + receipt.get(a, 0)
                                for a in set(twin) | set(receipt)}

    new = Loan.replay("L-1", monthly(), history + [advance])
    new.apply(part)
    assert new.status is LoanStatus.CLOSED and new.credit == 0 and new.balances() == {}
    # a reversal re-runs history: the rules-1 prepayment is re-run under rules 1 again
    old.apply(PaymentReversal("rev", on, "advance"))
    assert old.credit == 0 and old.status is LoanStatus.ACTIVE
    assert _figures(old) == _figures(without_credit)


def test_a_stored_rules_1_full_prepayment_needs_the_credit_as_it_did():
    """A full prepayment was always settled with the credit; rules 1 books it the same way."""
    on = date(2024, 4, 25)
    history, _ = _history_to(on)
    advance = Repayment("advance", on, 500_00)
    net = Loan.replay("L-1", monthly(), history + [advance]).payoff_amount(on)
    full = Prepayment("full", on, net, PrepaymentMode.FULL)
    old = Loan.replay("L-1", monthly(), history + [advance, _as_stored_before_versions(full)])
    new = Loan.replay("L-1", monthly(), history + [advance, full])
    assert old.status is new.status is LoanStatus.CLOSED and old.credit == new.credit == 0
    assert old.posted() == new.posted()
