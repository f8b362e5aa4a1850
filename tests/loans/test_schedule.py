"""Independent checks of the scalar schedule builder.

Nothing here reuses puhui's own interest or day-count code: interest is re-accrued day by day in
Decimal, 30/360 days are counted from the textbook rule, the level payment is the exact rational
annuity (and numpy_financial.pmt for the float cross-check).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal, localcontext
from fractions import Fraction
from math import floor

import numpy_financial as npf
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from puhui.calendar import DayCount, Frequency
from puhui.errors import InvalidAmount, InvalidProduct, InvalidRate, UnknownCurrency
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.schedule import build_schedule, level_payment
from puhui.money import Rounding

M = RepaymentMethod
DECIMAL_MODE = {Rounding.HALF_UP: ROUND_HALF_UP, Rounding.HALF_EVEN: ROUND_HALF_EVEN,
                Rounding.DOWN: ROUND_DOWN, Rounding.UP: ROUND_UP}


# -- independent reference arithmetic ----------------------------------------------------------
def days_30_360(start: date, end: date) -> int:
    """30/360 bond basis as the textbook states it: D1 31 -> 30; D2 31 -> 30 if D1 is 30 or 31."""
    d1, d2 = start.day, end.day
    if d1 == 31:
        d1 = 30
    if d2 == 31 and d1 == 30:
        d2 = 30
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + d2 - d1


def last_of_february(d: date) -> bool:
    return d.month == 2 and d.day == calendar.monthrange(d.year, 2)[1]


def days_30_360_us(start: date, end: date) -> int:
    """30/360 US as the SIA textbook orders its four rules."""
    d1, d2 = start.day, end.day
    if last_of_february(start) and last_of_february(end):
        d2 = 30
    if last_of_february(start):
        d1 = 30
    if d2 == 31 and d1 in (30, 31):
        d2 = 30
    if d1 == 31:
        d1 = 30
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + d2 - d1


def days_30e_360(start: date, end: date) -> int:
    """30E/360: day 31 is 30 at both ends, nothing else."""
    d1, d2 = (30 if d.day == 31 else d.day for d in (start, end))
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + d2 - d1


def months_apart(start: date, end: date) -> int | None:
    """k if some day of month (clamped to month end) names both dates k >= 1 months apart."""
    k = 12 * (end.year - start.year) + end.month - start.month
    for day in range(1, 32):
        if all(d.day == min(day, calendar.monthrange(d.year, d.month)[1]) for d in (start, end)):
            return k if k >= 1 else None
    return None


def charged_days(start: date, end: date, day_count: DayCount, bullet: bool = False) -> int | None:
    """30/360-family days of a period (None: count calendar days)."""
    if day_count is DayCount.THIRTY_360:
        return days_30_360(start, end)
    if day_count in (DayCount.ACT_365F, DayCount.ACT_360) or bullet:
        return None
    k = months_apart(start, end)
    if k:
        return 30 * k
    return (days_30_360_us if day_count is DayCount.THIRTY_360_US else days_30e_360)(start, end)


def expected_interest(balance: int, rate: Decimal, start: date, end: date, day_count: DayCount,
                      rounding: Rounding, bullet: bool = False) -> int:
    """Accrue balance x rate for each day of the period, divide by the basis, round once."""
    basis = 365 if day_count is DayCount.ACT_365F else 360
    with localcontext() as ctx:
        ctx.prec = 60
        days = charged_days(start, end, day_count, bullet)
        if days is not None:
            accrued = Decimal(balance) * rate * days
        else:
            accrued, day = Decimal(0), start
            while day < end:  # one calendar day at a time
                accrued += Decimal(balance) * rate
                day += timedelta(days=1)
        # Exact: a half-way quotient terminates, so Decimal never misplaces a tie.
        return int((accrued / basis).to_integral_value(rounding=DECIMAL_MODE[rounding]))


def exact_round(value: Fraction, rounding: Rounding) -> int:
    """Round a rational with Decimal's rules applied to its exact floor and remainder."""
    whole = floor(value)
    rest = value - whole
    if rest == 0:
        return whole
    up = {Rounding.HALF_UP: rest >= Fraction(1, 2), Rounding.DOWN: False, Rounding.UP: True,
          Rounding.HALF_EVEN: rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1)}
    return whole + int(up[rounding])


def exact_annuity(balance: int, rate: Decimal, periods_per_year: int, periods: int) -> Fraction:
    r = Fraction(rate) / periods_per_year
    if r == 0:
        return Fraction(balance, periods)
    return balance * r / (1 - (1 + r) ** -periods)


# -- level payment against numpy_financial ------------------------------------------------------
AMOUNTS = [100_00, 1_234_56, 10_000_00, 99_999_99, 150_000_00, 1_000_000_00, 3_333_333_33,
           10_000_000_00]
# No micro-unit rates here: npf.pmt forms (1+r)^n - 1 directly and at r ~ 1e-7 loses ~1e-9 of
# the payment (0.03 fen on 1.1 million yuan); the exact-annuity test below covers tiny rates.
RATES = ["0", "0.0001", "0.0435", "0.08", "0.12", "0.1825", "0.24", "0.3333", "0.36"]
TERMS = [1, 2, 3, 6, 12, 18, 24, 36, 48, 60]


@pytest.mark.parametrize("term", TERMS)
def test_equal_instalment_payment_matches_numpy_financial_pmt(term: int) -> None:
    for rate in RATES:
        product = LoanProduct("EI", M.EQUAL_INSTALMENT, Decimal(rate), term_periods=term)
        for amount in AMOUNTS:
            pmt = -npf.pmt(float(rate) / 12, term, amount)
            if rate != "0":  # at 0% pmt is amount / term, a correctly rounded float: ties are real
                frac = pmt - floor(pmt)
                assert abs(frac - 0.5) > 1e-6, "grid point on a half fen: float pmt cannot decide"
            expected = floor(pmt + 0.5)
            sched = build_schedule(product, amount, date(2024, 3, 15))
            first = sched.instalments[0]
            assert first.principal + first.interest == expected
            for inst in sched.instalments[:-1]:  # level all the way, residue in the last
                assert inst.principal + inst.interest == expected
            assert sched.total_principal == amount


@given(st.integers(100_00, 10_000_000_00), st.integers(0, 360_000), st.integers(1, 60),
       st.sampled_from(list(Rounding)))
@example(1_446_000, 100_000, 2, Rounding.UP)       # exactly 7,320.50 yuan: a whole-fen payment
@example(14_460, 100_000, 2, Rounding.HALF_EVEN)   # exactly 73.205 yuan: a half-fen tie
@example(10_500, 4_000_000, 2, Rounding.UP)
@settings(max_examples=400, deadline=None)
def test_level_payment_is_the_exactly_rounded_annuity(principal: int, micros: int, term: int,
                                                      rounding: Rounding) -> None:
    rate = Decimal(micros) / 1_000_000
    assert level_payment(principal, micros, 12, term, rounding) == \
        exact_round(exact_annuity(principal, rate, 12, term), rounding)


# -- every method against an independent accrual -----------------------------------------------
@st.composite
def loans(draw: st.DrawFn) -> tuple[LoanProduct, int, date]:
    method = draw(st.sampled_from(list(M)[:4]))
    frequency = draw(st.sampled_from([Frequency.MONTHLY, Frequency.BIWEEKLY, Frequency.WEEKLY]))
    terms: dict[str, object] = {}
    if method is M.BULLET:
        terms["term_days"] = draw(st.integers(1, 1_000))
    else:
        terms["term_periods"] = term = draw(st.integers(1, 60))
        if method in (M.EQUAL_INSTALMENT, M.EQUAL_PRINCIPAL):
            terms["grace_periods"] = draw(st.integers(0, term - 1))
        if frequency is Frequency.MONTHLY:
            terms["repayment_day"] = draw(st.none() | st.integers(1, 31))
            terms["min_first_period_days"] = draw(st.integers(0, 20))
    product = LoanProduct(
        "P", method, Decimal(draw(st.integers(0, 360_000))) / 1_000_000, frequency=frequency,
        day_count=draw(st.sampled_from(list(DayCount))),
        rounding=draw(st.sampled_from(list(Rounding))), **terms)  # type: ignore[arg-type]
    principal = draw(st.integers(100_00, 10_000_000_00))
    start = draw(st.dates(date(2020, 1, 1), date(2030, 12, 31)))
    return product, principal, start


@given(loans())
@settings(max_examples=300, deadline=None)
def test_schedule_repays_principal_and_charges_independently_accrued_interest(
        loan: tuple[LoanProduct, int, date]) -> None:
    product, principal, start = loan
    sched = build_schedule(product, principal, start)
    inst = sched.instalments

    assert sum(i.principal for i in inst) == principal
    assert all(i.principal >= 0 for i in inst)
    assert inst[0].start == start
    assert all(b.start == a.due and b.due > b.start for a, b in zip(inst, inst[1:]))

    balance = principal
    for i in inst:
        assert i.interest == expected_interest(balance, product.annual_rate, i.start, i.due,
                                               product.day_count, product.rounding,
                                               product.method is M.BULLET)
        balance -= i.principal
    assert balance == 0

    if product.method in (M.INTEREST_FIRST, M.BULLET):
        assert all(i.principal == 0 for i in inst[:-1])
    else:
        assert all(i.principal == 0 for i in inst[:product.grace_periods])
        assert len(inst) == product.term_periods
    _check_dates(product, start, [i.due for i in inst])
    _check_amortisation(product, principal, inst)


def _check_dates(product: LoanProduct, start: date, dues: list[date]) -> None:
    if product.method is M.BULLET:
        assert dues == [start + timedelta(days=product.term_days or 0)]
        return
    step = {Frequency.WEEKLY: 7, Frequency.BIWEEKLY: 14}.get(product.frequency)
    if step:
        assert all((d - start).days == step * (k + 1) for k, d in enumerate(dues))
        return
    for k, due in enumerate(dues[1:], 1):  # one due date per calendar month
        assert (due.year * 12 + due.month) - (dues[0].year * 12 + dues[0].month) == k
    target = product.repayment_day or start.day
    assert all(d.day == min(target, calendar.monthrange(d.year, d.month)[1]) for d in dues)
    if product.repayment_day is None:
        assert (dues[0].year * 12 + dues[0].month) - (start.year * 12 + start.month) == 1
    else:  # broken first period: the first repayment day at least the minimum days away
        day = start + timedelta(days=1)
        while day.day != min(target, calendar.monthrange(day.year, day.month)[1]) \
                or (day - start).days < product.min_first_period_days:
            day += timedelta(days=1)
        assert dues[0] == day


def _check_amortisation(product: LoanProduct, principal: int, inst: tuple) -> None:
    grace = product.grace_periods
    amortising = inst[grace:]
    if product.method is M.EQUAL_PRINCIPAL and len(amortising) > 1:
        parts = {i.principal for i in amortising[:-1]}
        assert len(parts) == 1
        assert parts.pop() == exact_round(Fraction(principal, len(amortising)), product.rounding)
    if product.method is M.EQUAL_INSTALMENT and len(amortising) > 1:
        level = exact_round(exact_annuity(principal, product.annual_rate,
                                          product.frequency.periods_per_year, len(amortising)),
                            product.rounding)
        r = Fraction(product.annual_rate) / product.frequency.periods_per_year
        balance = principal
        for i in amortising[:-1]:  # principal part = level - nominal periodic interest
            nominal = exact_round(balance * r, product.rounding)
            assert i.principal == max(0, min(level - nominal, balance))
            balance -= i.principal


# -- bad input -----------------------------------------------------------------------------------
def _product(**changes: object) -> LoanProduct:
    terms: dict[str, object] = dict(code="P", method=M.EQUAL_INSTALMENT,
                                    annual_rate=Decimal("0.12"), term_periods=12)
    terms.update(changes)
    return LoanProduct(**terms)  # type: ignore[arg-type]


@pytest.mark.parametrize("principal", [0, -1, -100_00])
def test_non_positive_principal_is_refused(principal: int) -> None:
    with pytest.raises(InvalidAmount):
        build_schedule(_product(), principal, date(2024, 1, 1))


def test_float_principal_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        build_schedule(_product(), 10_000.0, date(2024, 1, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0.12, "10.000001", "11", "0.1234567", "-0.01", "NaN", "abc"])
def test_bad_rates_are_refused(rate: object) -> None:
    with pytest.raises(InvalidRate):
        _product(annual_rate=rate)


@pytest.mark.parametrize("changes", [
    {"term_periods": 0}, {"term_periods": None}, {"grace_periods": 12}, {"grace_periods": 13},
    {"repayment_day": 32}, {"repayment_day": 0}, {"method": "balloon"},
    {"penalty_multiplier": 1.5}, {"frequency": Frequency.WEEKLY, "repayment_day": 5},
    {"method": M.BULLET, "term_periods": None, "term_days": 0},
])
def test_bad_terms_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidProduct):
        _product(**changes)


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(UnknownCurrency):
        _product(currency="XYZ")
