"""Property tests of the servicing engine against the double-entry journal.

Random products (every instalment method, rate, term, fee, grace, repayment day, day count and
rounding rule) are driven through random event sequences: daily end-of-day runs interleaved with
repayments, prepayments, reversals, reschedules, write-offs, recoveries and refunds, plus events
that must be refused.  After every step the loan and the ledger must agree to the fen.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from puhui.errors import (
    DateOrderError, IdempotencyConflict, InvalidAmount, InvalidEvent, LedgerError, LoanClosed, PuhuiError,
)
from puhui.ledger.accounts import Acct
from puhui.ledger.journal import Journal, balances_of
from puhui.loans.events import (
    CreditRefund, Disbursement, EndOfDay, PaymentReversal, Prepayment, PrepaymentMode, Recovery,
    Repayment, Reschedule, WriteOff, event_from_content,
)
from puhui.loans.product import AllocationRule, Component, LoanProduct, RepaymentMethod
from puhui.loans.schedule import build_schedule
from puhui.loans.servicing import Loan
from puhui.loans.delinquency import RiskClass
from puhui.loans.state import LoanStatus
from puhui.calendar import DayCount, Frequency
from puhui.money import Rounding

RECEIVABLES = (Acct.LOAN_PRINCIPAL, Acct.INTEREST_RECEIVABLE, Acct.FEE_RECEIVABLE,
               Acct.PENALTY_RECEIVABLE, Acct.BORROWER_CREDIT)
P, I, F = Component.PRINCIPAL, Component.INTEREST, Component.FEE
ONE = timedelta(days=1)
METHODS = (RepaymentMethod.EQUAL_INSTALMENT, RepaymentMethod.EQUAL_PRINCIPAL,
           RepaymentMethod.INTEREST_FIRST, RepaymentMethod.BULLET)

SETTINGS = dict(deadline=None, derandomize=False, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


# -- strategies -------------------------------------------------------------------------------
def micros(lo: int, hi: int) -> st.SearchStrategy[Decimal]:
    """A rate in [lo, hi] micro-units as an exact Decimal fraction, with the round ends likely."""
    return st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi)).map(
        lambda m: Decimal(m) / 1_000_000)


@st.composite
def products(draw, methods=METHODS) -> LoanProduct:
    method = draw(st.sampled_from(methods))
    kw: dict = dict(
        annual_rate=draw(micros(0, 240_000)),
        day_count=draw(st.sampled_from(list(DayCount))),
        rounding=draw(st.sampled_from(list(Rounding))),
        currency=draw(st.sampled_from(["CNY", "CNY", "USD", "JPY"])),
        upfront_fee_rate=draw(st.one_of(st.just(Decimal(0)), micros(0, 50_000))),
        upfront_fee_fixed=draw(st.one_of(st.just(0), st.integers(0, 5_000))),
        instalment_fee_rate=draw(st.one_of(st.just(Decimal(0)), micros(0, 10_000))),
        instalment_fee_fixed=draw(st.one_of(st.just(0), st.integers(0, 2_000))),
        penalty_multiplier=draw(st.sampled_from([Decimal("1.5"), Decimal(1), Decimal("1.3"),
                                                 Decimal(2)])),
    )
    if draw(st.booleans()):
        order = tuple(draw(st.permutations(list(Component))))
        kw["allocation"] = AllocationRule(order=order, oldest_first=draw(st.booleans()))
    if method is RepaymentMethod.BULLET:
        kw["term_days"] = draw(st.integers(1, 400))
    else:
        term = draw(st.integers(1, 24))
        kw["term_periods"] = term
        kw["frequency"] = draw(st.sampled_from([Frequency.MONTHLY, Frequency.MONTHLY,
                                                Frequency.BIWEEKLY, Frequency.WEEKLY,
                                                Frequency.DAILY]))
        if method in (RepaymentMethod.EQUAL_INSTALMENT, RepaymentMethod.EQUAL_PRINCIPAL):
            kw["grace_periods"] = draw(st.integers(0, term - 1))
        if kw["frequency"] is Frequency.MONTHLY and draw(st.booleans()):
            kw["repayment_day"] = draw(st.integers(1, 31))
        kw["min_first_period_days"] = draw(st.integers(0, 20))
    return LoanProduct("P", method, **kw)


starts = st.dates(min_value=date(2023, 1, 1), max_value=date(2026, 12, 31))


@st.composite
def principals(draw, product: LoanProduct) -> int:
    principal = draw(st.one_of(st.integers(100_00, 50_000_00), st.integers(100_00, 2_000_000_00)))
    assume(product.upfront_fee(principal) < principal)
    return principal


# -- observation helpers ----------------------------------------------------------------------
def snapshot(loan: Loan, journal: Journal) -> tuple:
    """Everything an event may change, for 'refused events change nothing' checks."""
    return (
        loan.balances(), loan.status, loan.credit, loan.last_date, loan.product,
        tuple(tuple(sorted(i.as_dict().items())) for i in loan.instalments),
        len(loan.history), dict(loan.applied), frozenset(loan.reversed),
        loan.penalty_receivable, loan.accrued_until, loan.penalty_until,
        len(journal.entries), journal.head_hash,
    )


def instalment_figures(loan: Loan) -> list[dict]:
    return [i.as_dict() for i in loan.instalments]


def subledger(journal: Journal, loan: Loan) -> dict[str, int]:
    cur = loan.contract_product.currency
    got = journal.balances(loan.loan_id)
    assert all(c == cur for _, c in got), f"loan postings in a foreign currency: {got}"
    return {a: got.get((a, cur), 0) for a in RECEIVABLES}


def loan_view(loan: Loan) -> dict[str, int]:
    own = loan.balances()
    return {a: own.get(a, 0) for a in RECEIVABLES}


def ledger(journal: Journal, loan: Loan) -> dict[str, int]:
    """The loan's sub-ledger per account (signed, debit > 0) in the loan's currency."""
    cur = loan.contract_product.currency
    return {a: v for (a, c), v in journal.balances(loan.loan_id).items() if c == cur}


def expected_cash(loan: Loan) -> int:
    """Net cash of the loan from the event log alone: receipts in, proceeds and refunds out."""
    cash = 0
    for e, _ in loan.history:
        if e.key in loan.reversed:
            continue
        if isinstance(e, Disbursement):
            cash -= e.principal - loan.contract_product.upfront_fee(e.principal)
        elif isinstance(e, (Repayment, Prepayment, Recovery)):
            cash += e.amount
        elif isinstance(e, CreditRefund):
            cash -= e.amount
    return cash


def check_invariants(loan: Loan, journal: Journal) -> None:
    tb = journal.trial_balance()
    assert all(v == 0 for v in tb.values()), f"trial balance off: {tb}"
    assert loan_view(loan) == subledger(journal, loan)
    assert journal.verify() == len(journal.entries)
    led = ledger(journal, loan)
    # cash moved exactly as the receipts, proceeds and refunds in the event log say
    assert led.get(Acct.CASH, 0) == expected_cash(loan)
    # income recognised in the ledger matches what the instalments say was recognised
    assert -led.get(Acct.INTEREST_INCOME, 0) == sum(i.interest_accrued for i in loan.instalments)
    upfront = loan.contract_product.upfront_fee(loan.principal) if loan.principal else 0
    assert -led.get(Acct.FEE_INCOME, 0) == upfront + sum(
        i.fee for i in loan.instalments if i.fee_charged)
    # the loan's receivables are never negative, and a finished loan owes nothing
    view = loan_view(loan)
    for acct in RECEIVABLES[:4]:
        assert view[acct] >= 0, (acct, view)
    assert view[Acct.BORROWER_CREDIT] <= 0 and loan.credit >= 0
    for inst in loan.instalments:
        for c in (P, I, F):
            assert inst.unpaid(c) >= 0, (inst, c)
        assert 0 <= inst.interest_accrued <= inst.interest, inst
        assert inst.interest_receivable() >= 0, inst
    if loan.status in (LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF):
        assert all(view[a] == 0 for a in RECEIVABLES[:4]), (loan.status, view)
    if loan.status is LoanStatus.WRITTEN_OFF:
        assert loan.risk_class(loan.last_date) is RiskClass.LOSS
    assert loan.days_past_due(loan.last_date) >= 0


def check_counterfactual(loan: Loan, journal: Journal) -> None:
    """A reversed receipt is as if it never happened: same loan, same sub-ledger balances."""
    kept = [e for e, _ in loan.history
            if e.key not in loan.reversed and not isinstance(e, PaymentReversal)]
    twin = Loan.replay(loan.loan_id, loan.contract_product, kept)
    assert twin.balances() == loan.balances()
    assert twin.status is loan.status
    assert instalment_figures(twin) == instalment_figures(loan)
    assert balances_of(twin.posted()) == journal.balances(loan.loan_id)


def ref_div(num: int, den: int, rounding: Rounding) -> int:
    """Reference rounding of num/den through Decimal (independent of puhui.money.div_round)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return int((Decimal(num) / Decimal(den)).to_integral_value(rounding=rounding.decimal_mode))


def run_end_of_day(drv: "Driver", on: date) -> None:
    """One end-of-day run, checking the day's penalty and what must have fallen due."""
    loan = drv.loan
    active = loan.status is LoanStatus.ACTIVE
    overdue = sum(i.principal_unpaid() for i in loan.instalments if i.due < on)
    pen_before = ledger(drv.journal, loan).get(Acct.PENALTY_INCOME, 0)
    drv.apply(EndOfDay(drv.key(), on), check=False)
    if not active:
        return
    product = loan.product
    rate = int(product.penalty_rate * 1_000_000)
    want = ref_div(overdue * rate, product.day_count.basis * 1_000_000, product.rounding)
    got = pen_before - ledger(drv.journal, loan).get(Acct.PENALTY_INCOME, 0)
    assert got == want, f"penalty on {on}: {got} != one day on {overdue} overdue ({want})"
    for inst in loan.instalments:
        assert inst.fee_charged == (inst.due <= on), (on, inst)
        if inst.due <= on + ONE:
            assert inst.interest_accrued == inst.interest, (on, inst)


def note_accepted(ev) -> None:
    label = ev.kind + (f":{ev.mode.value}" if isinstance(ev, Prepayment) else "")
    if not isinstance(ev, EndOfDay):
        event(f"accepted {label}")


class Driver:
    """Applies events to one loan and one journal, checking the contract of `Loan.apply`."""

    def __init__(self, loan: Loan) -> None:
        self.loan = loan
        self.journal = Journal()
        self.n = 0
        self.refused = 0
        self.accepted: list = []

    def key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def apply(self, ev, *, check: bool = True, expect: type[Exception] | None = None) -> bool:
        before = snapshot(self.loan, self.journal)
        try:
            drafts = self.loan.apply(ev)
        except PuhuiError as exc:
            # the engine validates its own entries: a ledger error from apply is an engine bug
            assert not isinstance(exc, LedgerError), f"{ev!r} produced a bad entry: {exc!r}"
            if expect is not None:
                assert isinstance(exc, expect), f"{ev!r} raised {exc!r}, expected {expect}"
            assert snapshot(self.loan, self.journal) == before, f"refused {ev!r} changed the loan"
            event(f"refused {type(exc).__name__} {ev.kind}")
            self.refused += 1
            return False
        assert expect is None, f"{ev!r} was accepted, expected {expect.__name__}"
        note_accepted(ev)
        for d in drafts:
            assert d.loan_id == self.loan.loan_id
            self.journal.post(d)
        self.accepted.append(ev)
        # the same event again is a no-op
        after = snapshot(self.loan, self.journal)
        assert self.loan.apply(ev) == []
        assert snapshot(self.loan, self.journal) == after
        if check:
            check_invariants(self.loan, self.journal)
        return True


def arrears(loan: Loan, on: date) -> int:
    return sum(i.unpaid(c) for i in loan.due_instalments(on) for c in (P, I, F)) \
        + loan.penalty_receivable


def payment_keys(loan: Loan) -> list[str]:
    kinds = (Repayment, Prepayment, Recovery, CreditRefund)
    return [e.key for e, _ in loan.history if isinstance(e, kinds)]


ACTIONS = ("eod",) * 5 + ("repay",) * 4 + ("prepay_partial",) * 3 + ("reverse",) * 2 \
    + ("reschedule",) * 2 + ("prepay_full", "write_off", "recovery", "refund", "stale", "conflict")
# once written off, what is left to do is mostly collecting recoveries (and getting them wrong)
ACTIONS_WRITTEN_OFF = ("recovery",) * 4 + ("refund", "reverse", "eod", "repay", "stale", "conflict")


def partial_floor(loan: Loan, on: date) -> int:
    """What a partial prepayment on `on` (already caught up) must exceed: arrears, penalty and
    the interest accrued in the running period."""
    ahead = [i for i in loan.instalments if i.due > on]
    return arrears(loan, on) + (ahead[0].interest_accrued if ahead else 0)


def receivable(view: dict[str, int]) -> int:
    return sum(view[a] for a in RECEIVABLES[:4])


def future(loan: Loan, on: date) -> list:
    return [i for i in loan.instalments if i.due > on]


@settings(max_examples=120, **SETTINGS)
@given(data=st.data(), product=products(), start=starts)
def test_random_event_sequences_keep_loan_and_ledger_in_step(data, product, start):
    principal = data.draw(principals(product), label="principal")
    loan = Loan("L-1", product)
    drv = Driver(loan)
    assert drv.apply(Disbursement(drv.key(), start, principal))
    assert loan.status is LoanStatus.ACTIVE
    assert loan_view(loan)[Acct.LOAN_PRINCIPAL] == principal
    next_eod = start
    steps = data.draw(st.integers(1, 30), label="steps")
    for _ in range(steps):
        pool = ACTIONS_WRITTEN_OFF if loan.status is LoanStatus.WRITTEN_OFF else ACTIONS
        action = data.draw(st.sampled_from(pool), label="action")
        today = loan.last_date
        # an action happens after the last end-of-day run, or on the next day before its run
        on = data.draw(st.sampled_from([today, next_eod]), label="on") if next_eod >= today else today
        # once the day's end-of-day run is done, an action that day triggers no accrual, fee or
        # penalty first, so its effect on the balances is exactly predictable
        caught_up = on < next_eod
        active = loan.status is LoanStatus.ACTIVE
        view, credit = loan_view(loan), loan.credit
        led = ledger(drv.journal, loan)
        if action == "eod":
            for _ in range(data.draw(st.one_of(st.integers(1, 40), st.integers(1, 200)),
                                     label="days")):
                run_end_of_day(drv, next_eod)
                next_eod += ONE
            check_invariants(loan, drv.journal)
        elif action == "repay":
            due = arrears(loan, on)
            net = loan.payoff_amount(on) if active else 0
            kind = data.draw(st.sampled_from(["partial", "exact", "over", "payoff", "any"]),
                             label="repay")
            if kind == "exact" and due > 0:
                amount = due
            elif kind == "partial" and due > 1:
                amount = data.draw(st.integers(1, due - 1), label="amount")
            elif kind == "over":
                amount = due + data.draw(st.integers(1, 200_000), label="extra")
            elif kind == "payoff" and net > 0:
                amount = net + data.draw(st.sampled_from([0, 0, 1]), label="d")
            else:
                amount = data.draw(st.integers(1, 10_000_000), label="amount")
            # no receipt may exceed the payoff (what is owed less the credit already held)
            expect = LoanClosed if not active else InvalidAmount if amount > net else None
            ok = drv.apply(Repayment(drv.key(), on, amount), expect=expect)
            assert ok == (active and amount <= net)
            if ok and amount == net:
                # with the credit it covers everything: the loan is settled, nothing is held
                assert loan.status is LoanStatus.CLOSED and loan.credit == 0
            elif ok and caught_up and credit == 0:
                # the waterfall takes what is due, and only the excess becomes credit
                assert arrears(loan, on) == max(0, due - amount)
                assert loan.credit == max(0, amount - due)
                assert receivable(loan_view(loan)) == receivable(view) - min(due, amount)
        elif action == "prepay_full":
            if active:
                owed = loan.payoff_amount(on)
                if caught_up:
                    assert owed == max(0, receivable(view) - credit)
                amount = max(1, owed + data.draw(st.sampled_from([0, 0, 1, 5_000, -1]), label="d"))
            else:
                owed, amount = 0, data.draw(st.integers(1, 100_000), label="amount")
            ok = drv.apply(Prepayment(drv.key(), on, amount, PrepaymentMode.FULL),
                           expect=None if active and amount == owed
                           else InvalidAmount if active and amount > owed
                           else InvalidEvent if active else LoanClosed)
            assert ok == (active and amount == owed)
            if ok:
                # the payoff already counts the credit: settling leaves none behind
                assert loan.status is LoanStatus.CLOSED and loan.credit == 0
        elif action == "prepay_partial":
            mode = data.draw(st.sampled_from([PrepaymentMode.REDUCE_INSTALMENT,
                                              PrepaymentMode.SHORTEN_TERM]), label="mode")
            owed = 0
            if active and today < next_eod and data.draw(st.booleans(), label="sensible"):
                on, caught_up = today, True
                floor, owed = partial_floor(loan, on), loan.payoff_amount(on)
                amount = data.draw(st.integers(floor + 1, max(floor + 1, owed - 1)), label="amount")
            elif active:
                owed = loan.payoff_amount(on)
                amount = data.draw(st.integers(1, owed + 1000), label="amount")
            else:
                amount = data.draw(st.integers(1, 100_000), label="amount")
            floor = partial_floor(loan, on) if active and caught_up else None
            principal_due = sum(i.unpaid(P) for i in loan.due_instalments(on))
            ahead = len(future(loan, on))
            ok = drv.apply(Prepayment(drv.key(), on, amount, mode),
                           expect=None if active else LoanClosed)
            if ok and amount >= owed:  # enough to settle everything: a full prepayment
                assert loan.status is LoanStatus.CLOSED
            elif ok and floor is not None:
                # arrears and the running period's interest are settled, the rest is principal
                assert amount > floor
                after = loan_view(loan)
                assert loan.status is LoanStatus.ACTIVE and loan.credit == credit
                assert after[Acct.INTEREST_RECEIVABLE] == after[Acct.FEE_RECEIVABLE] \
                    == after[Acct.PENALTY_RECEIVABLE] == 0
                assert after[Acct.LOAN_PRINCIPAL] == \
                    view[Acct.LOAN_PRINCIPAL] - principal_due - (amount - floor)
                if mode is PrepaymentMode.REDUCE_INSTALMENT:
                    assert len(future(loan, on)) == ahead
                else:
                    assert 1 <= len(future(loan, on)) <= ahead
            elif floor is not None and active:
                assert amount <= floor or amount >= owed, "a sensible partial prepayment was refused"
        elif action == "reverse":
            keys = payment_keys(loan)
            target = data.draw(st.sampled_from(keys + ["no-such-receipt"]), label="target")
            feasible = target in keys and target not in loan.reversed
            if feasible:
                # a reversal is refused only if the history without the receipt does not replay
                skip = loan.reversed | {target}
                try:
                    Loan.replay(loan.loan_id, product, [
                        e for e, _ in loan.history
                        if e.key not in skip and not isinstance(e, PaymentReversal)])
                except PuhuiError:
                    feasible = False
            ok = drv.apply(PaymentReversal(drv.key(), on, target, "bounced"),
                           expect=None if feasible else InvalidEvent)
            assert ok == feasible
            if ok:
                check_counterfactual(loan, drv.journal)
        elif action == "reschedule":
            method = data.draw(st.sampled_from([None, *METHODS]), label="method")
            rate = data.draw(st.one_of(st.none(), micros(0, 240_000)), label="rate")
            periods = data.draw(st.integers(1, 24), label="periods")
            capitalise = data.draw(st.booleans(), label="capitalise")
            ok = drv.apply(Reschedule(drv.key(), on, periods, rate, method, capitalise))
            if ok:
                assert len(future(loan, on)) == periods
                assert loan.product.term_periods == periods
                if rate is not None:
                    assert loan.product.annual_rate == rate
            if ok and caught_up:
                after = loan_view(loan)
                if capitalise:
                    assert after[Acct.LOAN_PRINCIPAL] == receivable(view)
                    assert receivable(after) == after[Acct.LOAN_PRINCIPAL]
                else:
                    assert after == view
        elif action == "write_off":
            if data.draw(st.integers(0, 2), label="really") == 0:
                ok = drv.apply(WriteOff(drv.key(), on, "uncollectable"),
                               expect=None if active else LoanClosed)
                assert ok == active
                if ok and caught_up:
                    loss = ledger(drv.journal, loan).get(Acct.LOAN_LOSS, 0)
                    assert loss == receivable(view) - (credit - loan.credit)
                    assert loan.status is LoanStatus.WRITTEN_OFF
        elif action == "recovery":
            room = led.get(Acct.LOAN_LOSS, 0) + led.get(Acct.RECOVERY_INCOME, 0)
            amount = data.draw(st.one_of(st.integers(1, 5_000_000), st.just(max(1, room)),
                                         st.just(room + 1)), label="amt")
            written_off = loan.status is LoanStatus.WRITTEN_OFF
            ok = drv.apply(Recovery(drv.key(), on, amount),
                           expect=InvalidAmount if written_off and amount > room else None)
            # a recovery beyond what is still written off is refused, never held as credit
            assert ok == (written_off and amount <= room)
            if ok:
                got = -ledger(drv.journal, loan).get(Acct.RECOVERY_INCOME, 0) \
                    + led.get(Acct.RECOVERY_INCOME, 0)
                assert got == amount and loan.credit == credit
        elif action == "refund":
            amount = data.draw(st.integers(1, max(1, credit) + 10), label="amount")
            ok = drv.apply(CreditRefund(drv.key(), on, amount))
            assert ok == (amount <= credit)
            if ok:
                assert loan.credit == credit - amount
        elif action == "stale":
            if today > start:
                back = today - timedelta(days=data.draw(st.integers(1, 30), label="back"))
                drv.apply(Repayment(drv.key(), back, 100), expect=DateOrderError)
        elif action == "conflict":
            old = loan.history[-1][0]
            clash = Repayment(old.key, on, 12_345)
            if clash.content_hash() != old.content_hash():
                drv.apply(clash, expect=IdempotencyConflict)

    check_invariants(loan, drv.journal)
    if loan.reversed:
        check_counterfactual(loan, drv.journal)
    # replaying the event log rebuilds the same loan and the same postings
    replayed = Loan.replay(loan.loan_id, product, [e for e, _ in loan.history])
    assert replayed.balances() == loan.balances()
    assert replayed.status is loan.status
    assert replayed.credit == loan.credit
    assert instalment_figures(replayed) == instalment_figures(loan)
    assert replayed.posted() == loan.posted()
    # and every posting the loan made is in the journal, in order
    assert [p for e in drv.journal.entries for p in e.postings] == loan.posted()
    # the event log survives storage as JSON and replays to the same postings
    stored = [json.loads(json.dumps(e.content())) for e, _ in loan.history]
    restored = [event_from_content(c) for c in stored]
    assert restored == [e for e, _ in loan.history]
    assert Loan.replay(loan.loan_id, product, restored).posted() == loan.posted()


@settings(max_examples=60, **SETTINGS)
@given(product=products(), start=starts, data=st.data())
def test_paying_the_schedule_on_time_closes_with_scheduled_income(product, start, data):
    principal = data.draw(principals(product), label="principal")
    schedule = build_schedule(product, principal, start)
    loan = Loan("L-2", product)
    drv = Driver(loan)
    drv.apply(Disbursement("disb", start, principal))
    by_due: dict[date, int] = {}
    for inst in schedule.instalments:
        by_due[inst.due] = by_due.get(inst.due, 0) + inst.total
    d = start
    while d <= schedule.maturity:
        if by_due.get(d):  # a zero-rate grace instalment owes nothing
            assert loan.status is LoanStatus.ACTIVE
            drv.apply(Repayment(f"pay-{d}", d, by_due[d]), check=False)
            assert loan.credit == 0, "an exact scheduled payment left a credit"
        drv.apply(EndOfDay(f"eod-{d}", d), check=False)
        d += ONE
    check_invariants(loan, drv.journal)
    assert loan.status is LoanStatus.CLOSED
    bal = drv.journal.balances(loan.loan_id)
    cur = product.currency
    assert all(bal.get((a, cur), 0) == 0 for a in RECEIVABLES)
    assert -bal.get((Acct.INTEREST_INCOME, cur), 0) == schedule.total_interest
    assert -bal.get((Acct.FEE_INCOME, cur), 0) == schedule.total_fees
    assert bal.get((Acct.PENALTY_INCOME, cur), 0) == 0
    assert bal.get((Acct.CASH, cur), 0) == schedule.total_repayment - schedule.net_disbursed
    assert sum(i.paid[P] for i in loan.instalments) == principal


@settings(max_examples=60, **SETTINGS)
@given(product=products(), start=starts, data=st.data())
def test_full_prepayment_at_any_date_closes_and_repays_exactly_the_principal(product, start, data):
    principal = data.draw(principals(product), label="principal")
    schedule = build_schedule(product, principal, start)
    loan = Loan("L-3", product)
    drv = Driver(loan)
    drv.apply(Disbursement("disb", start, principal))
    days = data.draw(st.integers(0, (schedule.maturity - start).days + 40), label="days")
    on = start + timedelta(days=days)
    d = start
    while d < on:
        for inst in schedule.instalments:
            if inst.due == d and inst.total and data.draw(st.booleans(), label="pay"):
                drv.apply(Repayment(f"pay-{d}-{inst.number}", d, inst.total), check=False)
        drv.apply(EndOfDay(f"eod-{d}", d), check=False)
        d += ONE
    if loan.status is LoanStatus.CLOSED:  # every instalment was paid on time
        assert on > schedule.maturity
        return
    owed = loan.payoff_amount(on)
    assert drv.apply(Prepayment("payoff", on, owed, PrepaymentMode.FULL))
    assert loan.status is LoanStatus.CLOSED
    assert loan.credit == 0
    cur = product.currency
    bal = drv.journal.balances(loan.loan_id)
    assert all(bal.get((a, cur), 0) == 0 for a in RECEIVABLES)
    assert sum(i.paid[P] for i in loan.instalments) == principal
    # interest is never more than the contract's total unless the loan ran past maturity
    if on <= schedule.maturity:
        assert -bal.get((Acct.INTEREST_INCOME, cur), 0) <= schedule.total_interest
    # everything is over: a closed loan takes no more money events
    with pytest.raises(LoanClosed):
        loan.apply(Repayment("late", on, 100))


@settings(max_examples=60, **SETTINGS)
@given(product=products(), start=starts, data=st.data())
def test_end_of_day_gaps_catch_up_to_the_same_books_as_daily_runs(product, start, data):
    """A loan whose end-of-day runs are skipped for days at a time (a batch outage) ends up with
    the same interest, fees, penalty and balances as one run every day, once it catches up."""
    principal = data.draw(principals(product), label="principal")
    horizon = (build_schedule(product, principal, start).maturity - start).days + 60
    daily, gappy = Driver(Loan("L-D", product)), Driver(Loan("L-G", product))
    for drv in (daily, gappy):
        drv.apply(Disbursement("disb", start, principal), check=False)
    pay_days = data.draw(st.sets(st.integers(1, horizon), max_size=8), label="pay days")
    run_days = data.draw(st.sets(st.integers(0, horizon), max_size=12), label="gappy runs")
    payoff_day = data.draw(st.one_of(st.none(), st.integers(1, horizon)), label="payoff")
    for offset in range(horizon + 1):
        d = start + timedelta(days=offset)
        if daily.loan.status is LoanStatus.ACTIVE and offset == payoff_day:
            owed = daily.loan.payoff_amount(d)
            assert gappy.loan.payoff_amount(d) == owed
            for drv in (daily, gappy):
                assert drv.apply(Prepayment(f"payoff-{d}", d, owed, PrepaymentMode.FULL))
        elif daily.loan.status is LoanStatus.ACTIVE and offset in pay_days:
            owed = arrears(daily.loan, d)  # never more than is due: no credit balance arises
            if owed > 0:
                amount = data.draw(st.integers(1, owed), label="amount")
                for drv in (daily, gappy):
                    assert drv.apply(Repayment(f"pay-{d}", d, amount), check=False)
        daily.apply(EndOfDay(f"eod-{d}", d), check=False)
        if offset in run_days or offset == horizon:
            gappy.apply(EndOfDay(f"eod-{d}", d), check=False)
    for drv in (daily, gappy):
        check_invariants(drv.loan, drv.journal)
    assert gappy.loan.status is daily.loan.status
    assert gappy.loan.balances() == daily.loan.balances()
    assert instalment_figures(gappy.loan) == instalment_figures(daily.loan)
    assert gappy.journal.balances("L-G") == daily.journal.balances("L-D")
