"""Annualised cost by the IRR method, XIRR, and rate caps (incl. a multiple of the LPR)."""

from __future__ import annotations

import calendar as _calendar
import itertools
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.calendar import DayCount
from puhui.errors import InvalidRate, ProductError, RateCapExceeded
from puhui.loans.cost import (
    APR_CONVENTION, LEGACY_APR_CONVENTION, cash_flows, effective_annual_rate, exact_payments,
    irr_apr, quote, quote_schedule, within_cap,
)
from puhui.loans.product import LoanProduct, RateCap, RepaymentMethod
from puhui.loans.schedule import build_schedule
from puhui.money import Rounding

START = date(2024, 1, 15)


def ei(rate: str | Decimal, term: int = 12, **kw) -> LoanProduct:
    return LoanProduct("EI", RepaymentMethod.EQUAL_INSTALMENT, Decimal(rate), term_periods=term, **kw)


def bullet(rate: str, days: int, day_count: DayCount, **kw) -> LoanProduct:
    return LoanProduct("BUL", RepaymentMethod.BULLET, Decimal(rate), term_days=days,
                       day_count=day_count, **kw)


def solve(f, lo: float = -0.99, hi: float = 10.0) -> float:
    """Root of an increasing-then-decreasing NPV by bisection (independent of numpy-financial)."""
    flo = f(lo)
    for _ in range(200):
        mid = (lo + hi) / 2
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return (lo + hi) / 2


def reference_irr(amounts: list[int]) -> float:
    return solve(lambda r: sum(a / (1 + r) ** k for k, a in enumerate(amounts)))


def reference_xirr(dates: list[date], amounts: list[int]) -> float:
    t0 = dates[0]
    return solve(lambda r: sum(a / (1 + r) ** ((d - t0).days / 365) for d, a in zip(dates, amounts)))


def near(value: Decimal, expected: float, tol: str = "0.000001") -> bool:
    return abs(value - Decimal(repr(expected))) <= Decimal(tol)


@settings(max_examples=80, deadline=None)
@given(rate_micros=st.integers(1_000, 240_000), term=st.integers(1, 24),
       principal=st.integers(100_000_000, 1_000_000_000))
def test_fee_free_30_360_equal_instalment_apr_equals_the_nominal_rate(rate_micros, term, principal):
    rate = Decimal(rate_micros) / 1_000_000
    q = quote(ei(rate, term), principal, START)
    assert q.apr == rate
    assert q.principal == principal
    dates, amounts = cash_flows(q.schedule)
    assert near(q.effective_annual_rate, reference_xirr(dates, amounts), "0.000002")


def test_apr_and_xirr_match_an_independent_solver():
    product = ei("0.12", 12, upfront_fee_rate=Decimal("0.02"), instalment_fee_fixed=1_000)
    schedule = build_schedule(product, 1_000_000, START)
    dates, amounts = cash_flows(schedule)
    assert amounts[0] == 1_000_000 - 20_000
    assert amounts[1:] == [-(i.principal + i.interest + 1_000) for i in schedule.instalments]
    assert dates == [START] + [i.due for i in schedule.instalments]
    apr = irr_apr(schedule)
    assert near(apr, reference_irr(amounts) * 12)
    assert near(effective_annual_rate(schedule), reference_xirr(dates, amounts))


@settings(max_examples=60, deadline=None)
@given(rate_micros=st.integers(1_000, 240_000), term=st.integers(1, 36),
       fee_bp=st.integers(0, 500), instalment_fee=st.integers(0, 5_000),
       principal=st.integers(1_000_000, 500_000_000))
def test_apr_with_fees_matches_an_independent_solver(rate_micros, term, fee_bp, instalment_fee,
                                                     principal):
    product = ei(Decimal(rate_micros) / 1_000_000, term,
                 upfront_fee_rate=Decimal(fee_bp) / 10_000, instalment_fee_fixed=instalment_fee)
    schedule = build_schedule(product, principal, START)
    _, amounts = cash_flows(schedule)
    assert near(irr_apr(schedule), reference_irr(amounts) * 12)


def test_plain_monthly_loan_effective_rate_compounds_the_monthly_rate():
    q = quote(ei("0.12"), 1_000_000_000, START)
    assert q.apr == Decimal("0.12")
    # XIRR on actual dates, compared with an independent solve (1.01^12 - 1 = 12.68% on 30/360)
    dates, amounts = cash_flows(q.schedule)
    assert near(q.effective_annual_rate, reference_xirr(dates, amounts))
    assert Decimal("0.125") < q.effective_annual_rate < Decimal("0.128")


@pytest.mark.parametrize("fees", [
    dict(upfront_fee_rate=Decimal("0.01")), dict(upfront_fee_fixed=10_000),
    dict(instalment_fee_rate=Decimal("0.001")), dict(instalment_fee_fixed=500),
])
def test_fees_raise_the_apr_above_the_nominal_rate(fees):
    plain = quote(ei("0.10"), 10_000_000, START).apr
    loaded = quote(ei("0.10", **fees), 10_000_000, START).apr
    assert plain == Decimal("0.10")
    assert loaded > plain + Decimal("0.001")


def test_apr_rises_with_the_fee():
    aprs = [quote(ei("0.08", upfront_fee_rate=Decimal(f)), 10_000_000, START).apr
            for f in ("0", "0.005", "0.01", "0.02", "0.05")]
    assert aprs == sorted(aprs) and len(set(aprs)) == len(aprs)


def test_a_known_fee_loaded_apr():
    # 1% of the principal withheld on a 10% 12-month loan costs about 11.9% a year
    product = ei("0.10", upfront_fee_rate=Decimal("0.01"))
    schedule = build_schedule(product, 100_000_000, START)
    _, amounts = cash_flows(schedule)
    apr = quote(product, 100_000_000, START).apr
    assert near(apr, reference_irr(amounts) * 12)
    assert Decimal("0.1185") < apr < Decimal("0.1195")


@pytest.mark.parametrize("day_count,principal", [(DayCount.ACT_360, 1_000_000),
                                                 (DayCount.ACT_365F, 3_650_000)])
def test_fee_free_bullet_apr_equals_the_nominal_rate(day_count, principal):
    q = quote(bullet("0.10", 90, day_count), principal, START)
    (only,) = q.schedule.instalments
    assert only.principal == principal
    assert only.interest == principal * 10 * 90 // (100 * day_count.basis)  # exact by choice
    assert q.apr == Decimal("0.1")
    # one payment after 90 days: XIRR is (1 + i)^(365/90) - 1
    expected = (1 + only.interest / principal) ** (365 / 90) - 1
    assert near(q.effective_annual_rate, expected)


def test_bullet_with_an_upfront_fee():
    # 1% withheld, 10% for 90 days ACT/360: 990 000 in, 1 025 000 out after a quarter
    q = quote(bullet("0.10", 90, DayCount.ACT_360, upfront_fee_rate=Decimal("0.01")),
              1_000_000, START)
    assert q.schedule.net_disbursed == 990_000
    assert q.schedule.instalments[0].total == 1_025_000
    assert q.apr == Decimal("0.141414")  # (1 025 000 / 990 000 - 1) x 4, to 1e-6


# regression: irr_apr used to annualise a bullet by basis / term_days (actual days) while the
# interest ran on 30/360 days, misstating the cost both ways (and tripping a cap at the rate)
@pytest.mark.parametrize("rate,start,days,interest", [
    ("0.10", date(2024, 1, 15), 90, 89_000),    # 3 600 000 x 10% x 89/360
    ("0.24", date(2023, 2, 1), 31, 79_200),     # 3 600 000 x 24% x 33/360
])
def test_fee_free_30_360_bullet_apr_equals_the_nominal_rate(rate, start, days, interest):
    product = bullet(rate, days, DayCount.THIRTY_360)
    assert build_schedule(product, 3_600_000, start).instalments[0].interest == interest
    q = quote(product, 3_600_000, start, RateCap(Decimal(rate)))
    assert q.apr == Decimal(rate)


def test_zero_cost_loan_has_zero_apr():
    q = quote(ei("0"), 1_200_000, START)
    assert q.apr == 0 and q.effective_annual_rate == 0


# -- caps -------------------------------------------------------------------------------------
def test_nominal_rate_above_the_cap_is_refused():
    cap = RateCap(Decimal("0.24"), "judicial 24% cap")
    with pytest.raises(RateCapExceeded, match="judicial 24% cap"):
        quote(ei("0.240001"), 100_000_000, START, cap)
    with pytest.raises(RateCapExceeded):
        ei("0.30").check_cap(cap)
    assert issubclass(RateCapExceeded, ProductError)


def test_fees_that_push_the_irr_cost_over_the_cap_are_refused():
    cap = RateCap(Decimal("0.24"))
    ok = quote(ei("0.20"), 10_000_000, START, cap)
    assert ok.apr == Decimal("0.2")
    with pytest.raises(RateCapExceeded, match="IRR"):
        quote(ei("0.20", upfront_fee_rate=Decimal("0.03")), 10_000_000, START, cap)
    with pytest.raises(RateCapExceeded):
        quote(ei("0.20", instalment_fee_rate=Decimal("0.004")), 10_000_000, START, cap)
    # without a cap the same loan is only disclosed
    assert quote(ei("0.20", upfront_fee_rate=Decimal("0.03")), 10_000_000, START).apr > cap.annual_limit


def test_a_rate_exactly_at_the_cap_is_allowed():
    cap = RateCap(Decimal("0.24"))
    assert quote(ei("0.24"), 1_000_000_000, START, cap).apr == Decimal("0.24")


def test_lpr_multiple_cap():
    cap = RateCap.lpr_multiple("0.0345")  # 4 x the one-year LPR
    assert cap.annual_limit == Decimal("0.1380")
    assert "4x LPR" in cap.label
    assert quote(ei("0.138"), 1_000_000_000, START, cap).apr == Decimal("0.138")
    with pytest.raises(RateCapExceeded, match="LPR"):
        quote(ei("0.1381"), 1_000_000_000, START, cap)
    with pytest.raises(RateCapExceeded):
        quote(ei("0.12", upfront_fee_rate=Decimal("0.02")), 10_000_000, START, cap)
    assert RateCap.lpr_multiple("0.0345", Decimal("3.5")).annual_limit == Decimal("0.12075")
    assert RateCap.lpr_multiple(Decimal("0.031"), 2).annual_limit == Decimal("0.062")


@pytest.mark.parametrize("lpr", [0.0345, "-0.01", "abc", "0.00000001"])
def test_lpr_must_be_an_exact_rate(lpr):
    with pytest.raises(InvalidRate):
        RateCap.lpr_multiple(lpr)  # type: ignore[arg-type]


# -- the APR convention: unit periods, a broken first period by its length ----------------------
US, E30 = DayCount.THIRTY_360_US, DayCount.THIRTY_E_360
CAP24 = RateCap(Decimal("0.24"), "24% cap")


def reference_apr(net: int, payments: list, first: Fraction, per_year: int) -> Decimal:
    """The v2 APR solved by bisection in 60-digit Decimal: the first period (of `first` unit
    periods) at simple interest, each later one a whole period compounded."""
    first_d = Decimal(first.numerator) / Decimal(first.denominator)

    def value(i: Decimal) -> Decimal:
        acc = Decimal(0)
        for p in reversed(payments[1:]):
            acc = (acc + Decimal(p)) / (1 + i)
        return (acc + Decimal(payments[0])) / (1 + first_d * i)

    with localcontext() as ctx:
        ctx.prec = 60
        lo, hi = Decimal("-0.5"), Decimal(2)
        for _ in range(130):
            mid = (lo + hi) / 2
            if value(mid) > net:  # payments worth more than the proceeds: the rate is higher
                lo = mid
            else:
                hi = mid
        return ((lo + hi) / 2 * per_year).quantize(Decimal("0.000001"), ROUND_HALF_UP)


def textbook_days(start: date, end: date, day_count: DayCount) -> int:
    """Charged days of a broken period, from the published rules (not puhui's code)."""
    if day_count in (DayCount.ACT_365F, DayCount.ACT_360):
        return (end - start).days
    d1, d2 = start.day, end.day
    if day_count is US:
        feb_end = [d.month == 2 and d.day == _calendar.monthrange(d.year, 2)[1] for d in (start, end)]
        if feb_end[0] and feb_end[1]:
            d2 = 30
        if feb_end[0]:
            d1 = 30
        if d2 == 31 and d1 >= 30:
            d2 = 30
    else:
        d2 = min(d2, 30)
    d1 = min(d1, 30)
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + d2 - d1


def first_period(schedule) -> Fraction:
    """Unit periods of the first period: 1 when it is a whole month (the dates share a day of
    month), else charged days x 12 / basis."""
    first = schedule.instalments[0]
    start, due = first.start, first.due
    lengths = [_calendar.monthrange(d.year, d.month)[1] for d in (start, due)]
    same_day = any(all(d.day == min(k, n) for d, n in zip((start, due), lengths))
                   for k in range(1, 32))
    months = 12 * (due.year - start.year) + due.month - start.month
    if same_day and months == 1:
        return Fraction(1)
    day_count = schedule.product.day_count
    return Fraction(textbook_days(start, due, day_count) * 12, day_count.basis)


def v2_reference(schedule) -> Decimal:
    return reference_apr(schedule.net_disbursed, [i.total for i in schedule.instalments],
                         first_period(schedule), 12)


def test_a_broken_first_period_weighs_its_days_not_a_whole_month():
    """The issue's case: a 10-day (30/360) stub used to count as a month, so the loan disclosed
    22.59% and passed a 24% cap while the same loan without a stub was refused at 24.95%."""
    product = LoanProduct("X", "equal_instalment", Decimal("0.22"), term_periods=12,
                          upfront_fee_rate=Decimal("0.015"), repayment_day=1)
    stub = quote(product, 100_000_00, date(2026, 1, 21))
    whole = quote(product, 100_000_00, date(2026, 1, 1))
    assert stub.schedule.instalments[0].due == date(2026, 2, 1)
    assert whole.apr == v2_reference(whole.schedule) == Decimal("0.249495")
    assert stub.apr == v2_reference(stub.schedule)
    assert stub.apr > whole.apr  # the stub loan is dearer: the same fee over a shorter loan
    assert stub.effective_annual_rate > whole.effective_annual_rate
    assert stub.convention == APR_CONVENTION == "irr-unit-period/v2"
    for start in (date(2026, 1, 21), date(2026, 1, 1)):
        with pytest.raises(RateCapExceeded, match="24% cap"):
            quote(product, 100_000_00, start, CAP24)


@pytest.mark.parametrize("day_count", [US, E30, DayCount.THIRTY_360])
@pytest.mark.parametrize("start,repayment_day", [
    (date(2026, 1, 21), 1), (date(2026, 1, 9), 20), (date(2026, 3, 5), 16), (date(2026, 1, 2), 1),
    (date(2026, 1, 25), 1),  # a first period of a month and a week (the 1 Feb is too close)
])
def test_a_fee_free_loan_with_a_broken_period_discloses_its_nominal_rate(day_count, start,
                                                                         repayment_day):
    """A fee-free 24% loan with an 11-day stub used to disclose 21.46%."""
    product = ei("0.24", 12, repayment_day=repayment_day, day_count=day_count)
    q = quote(product, 100_000_00, start, CAP24)
    assert q.schedule.instalments[0].start == start
    assert abs(q.apr - Decimal("0.24")) <= Decimal("0.000001")
    assert q.apr == v2_reference(q.schedule)


@settings(max_examples=60, deadline=None)
@given(rate_micros=st.integers(1_000, 360_000), term=st.integers(1, 36),
       fee_bp=st.integers(0, 500), instalment_fee=st.integers(0, 5_000),
       principal=st.integers(1_000_000, 500_000_000), repayment_day=st.none() | st.integers(1, 31),
       start=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
       day_count=st.sampled_from([US, E30, DayCount.ACT_365F, DayCount.ACT_360]))
def test_apr_with_broken_periods_matches_an_independent_solver(rate_micros, term, fee_bp,
                                                               instalment_fee, principal,
                                                               repayment_day, start, day_count):
    product = ei(Decimal(rate_micros) / 1_000_000, term, repayment_day=repayment_day,
                 day_count=day_count, upfront_fee_rate=Decimal(fee_bp) / 10_000,
                 instalment_fee_fixed=instalment_fee)
    schedule = build_schedule(product, principal, start)
    assert abs(irr_apr(schedule) - v2_reference(schedule)) <= Decimal("0.000001")


def test_stored_offers_keep_the_figure_they_disclosed():
    """The earlier convention stays computable: an offer disclosed under it is checked against it."""
    product = ei("0.24", 12, repayment_day=1)
    old = quote(product, 100_000_00, date(2026, 1, 21), convention=LEGACY_APR_CONVENTION)
    assert old.apr == Decimal("0.214648") and old.convention == LEGACY_APR_CONVENTION
    assert quote(product, 100_000_00, date(2026, 1, 21)).apr == Decimal("0.24")
    with pytest.raises(ProductError):
        irr_apr(old.schedule, "xirr")


# -- the cap: sub-fen rounding is not a breach, any fee is -------------------------------------
def test_a_loan_exactly_at_the_cap_is_not_refused_for_rounding():
    """10 000.00 yuan at 24% over 12 months: the instalment rounded to the fen gives 24.0001%."""
    q = quote(ei("0.24"), 10_000_00, START, CAP24)
    assert q.apr > CAP24.annual_limit  # what the rounded schedule costs is still disclosed
    with pytest.raises(RateCapExceeded):
        quote(ei("0.24", upfront_fee_fixed=1), 10_000_00, START, CAP24)


PRINCIPALS = [100_00, 1_234_56, 10_000_00, 33_333_33, 99_999_99, 1_000_000_00, 10_000_000_00]
TERMS = [1, 2, 3, 6, 11, 12, 24, 36]


@pytest.mark.parametrize("method", [RepaymentMethod.EQUAL_INSTALMENT,
                                    RepaymentMethod.EQUAL_PRINCIPAL,
                                    RepaymentMethod.INTEREST_FIRST])
@pytest.mark.parametrize("day_count,start,repayment_day", [
    (US, date(2026, 1, 15), None), (US, date(2026, 1, 31), None), (E30, date(2028, 2, 29), None),
    (US, date(2026, 1, 21), 1), (E30, date(2026, 8, 31), 15), (DayCount.THIRTY_360, START, None),
])
def test_grid_at_the_cap_passes_and_any_excess_is_refused(method, day_count, start,
                                                          repayment_day):
    cap = RateCap(Decimal("0.24"))
    refused_before = 0
    for principal, term in itertools.product(PRINCIPALS, TERMS):
        terms = dict(term_periods=term, day_count=day_count, repayment_day=repayment_day)
        at_cap = LoanProduct("G", method, Decimal("0.24"), **terms)
        schedule = build_schedule(at_cap, principal, start)
        quote_schedule(schedule, cap)  # never refused
        refused_before += irr_apr(schedule) > cap.annual_limit
        for dearer in (LoanProduct("G", method, Decimal("0.24"), upfront_fee_fixed=1, **terms),
                       LoanProduct("G", method, Decimal("0.24"), instalment_fee_fixed=1, **terms),
                       LoanProduct("G", method, Decimal("0.240001"), **terms)):
            with pytest.raises(RateCapExceeded):
                quote(dearer, principal, start, cap)
        # and a cap a micro-unit below the rate refuses the fee-free loan
        with pytest.raises(RateCapExceeded):
            quote(at_cap, principal, start, RateCap(Decimal("0.239999")))
    if method is not RepaymentMethod.INTEREST_FIRST:
        assert refused_before  # the grid does hold loans whose rounded APR is above the cap


@settings(max_examples=80, deadline=None)
@given(method=st.sampled_from([RepaymentMethod.EQUAL_INSTALMENT, RepaymentMethod.EQUAL_PRINCIPAL,
                               RepaymentMethod.INTEREST_FIRST]),
       rate_micros=st.integers(1, 360_000), term=st.integers(1, 60),
       principal=st.integers(100_00, 10_000_000_00), rounding=st.sampled_from(list(Rounding)),
       day_count=st.sampled_from([US, E30]), repayment_day=st.none() | st.integers(1, 31),
       start=st.dates(date(2024, 1, 1), date(2030, 12, 31)), grace=st.integers(0, 5))
def test_any_loan_at_its_own_rate_is_within_a_cap_at_that_rate(method, rate_micros, term,
                                                                principal, rounding, day_count,
                                                                repayment_day, start, grace):
    rate = Decimal(rate_micros) / 1_000_000
    grace = 0 if method is RepaymentMethod.INTEREST_FIRST else min(grace, term - 1)
    terms = dict(term_periods=term, day_count=day_count, repayment_day=repayment_day,
                 rounding=rounding, grace_periods=grace)
    product = LoanProduct("H", method, rate, **terms)
    quote(product, principal, start, RateCap(rate))
    schedule = build_schedule(product, principal, start)
    exact = exact_payments(schedule)
    assert abs(sum(exact) - schedule.total_repayment) <= len(exact)  # rounding only
    with pytest.raises(RateCapExceeded):
        quote(LoanProduct("H", method, rate, upfront_fee_fixed=1, **terms), principal, start,
              RateCap(rate))


def test_within_cap_agrees_with_the_solved_apr_of_a_fee_loaded_loan():
    schedule = build_schedule(ei("0.18", 12, upfront_fee_rate=Decimal("0.01"), repayment_day=5),
                              1_000_000_00, date(2026, 3, 20))
    apr = irr_apr(schedule)
    assert within_cap(schedule, apr + Decimal("0.000001"))
    assert not within_cap(schedule, apr - Decimal("0.000001"))


# -- 30/360 at month ends ------------------------------------------------------------------------
@pytest.mark.parametrize("day_count", [US, E30])
@pytest.mark.parametrize("start", [date(2026, 1, 31), date(2026, 1, 30), date(2026, 8, 30),
                                   date(2026, 8, 31), date(2027, 2, 28), date(2028, 2, 28),
                                   date(2028, 2, 29), date(2026, 12, 31), date(2027, 1, 29)])
@pytest.mark.parametrize("repayment_day", [None, 31, 30, 29])
def test_month_end_30_360_loans_are_level_and_cost_their_rate(day_count, start, repayment_day):
    """Disbursed on 31 January, a 12% loan used to pay 8818.21 / 8977.00 / 8884.88 and disclose
    12.046%, which a 12% cap refused."""
    product = ei("0.12", 12, day_count=day_count, repayment_day=repayment_day,
                 min_first_period_days=0)
    q = quote(product, 100_000_00, start, RateCap(Decimal("0.12")))
    whole_month = first_period(q.schedule) == 1
    totals = [i.total for i in q.schedule.instalments]
    later = totals[1:-1] if not whole_month else totals[:-1]
    assert len(set(later)) == 1  # level, whatever the month ends
    assert abs(totals[-1] - later[0]) <= 12
    if repayment_day is None:
        assert whole_month and set(totals[:-1]) == {888488}
        assert q.apr == Decimal("0.12")
    assert abs(q.apr - Decimal("0.12")) <= Decimal("0.000001")
    assert q.apr == v2_reference(q.schedule)


def test_the_bond_basis_30_360_replays_as_it_was_contracted():
    """Loans and offers made under "30/360" keep their figures to the fen."""
    product = ei("0.12", 12, day_count=DayCount.THIRTY_360)
    q = quote(product, 100_000_00, date(2026, 1, 31))
    assert [i.total for i in q.schedule.instalments[:3]] == [881821, 897700, 888488]
    assert quote(product, 100_000_00, date(2026, 1, 31),
                 convention=LEGACY_APR_CONVENTION).apr == Decimal("0.120461")


# -- bullet loans: a term in days is that many days ------------------------------------------------
@pytest.mark.parametrize("day_count", [US, E30, DayCount.ACT_360, DayCount.ACT_365F])
@pytest.mark.parametrize("days", [1, 29, 30, 31, 90, 365])
def test_bullet_interest_and_apr_count_the_term_whatever_the_start(day_count, days):
    basis = day_count.basis
    principal = 100 * basis * 100  # interest of 10% is a whole 1000 fen a day
    fee_free = bullet("0.10", days, day_count)
    loaded = bullet("0.10", days, day_count, upfront_fee_fixed=12_345)
    start = date(2027, 1, 1)
    while start < date(2029, 1, 1):
        q = quote(fee_free, principal, start, RateCap(Decimal("0.10")))
        assert q.schedule.instalments[0].interest == 1000 * days
        assert q.apr == Decimal("0.1")
        apr = quote(loaded, principal, start).apr
        expected = (Fraction(principal + 1000 * days, principal - 12_345) - 1) * Fraction(basis,
                                                                                          days)
        assert abs(Fraction(apr) - expected) <= Fraction(1, 2_000_000)
        start += timedelta(days=3 if days != 30 else 1)


# -- large amounts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("principal", [10_000_000_00, 10 ** 10, 10 ** 11, 10 ** 12, 10 ** 13])
@pytest.mark.parametrize("repayment_day", [None, 1])
def test_large_principals_over_long_terms_have_an_apr(principal, repayment_day):
    product = ei("0.12", 360, max_principal=10 ** 13, upfront_fee_rate=Decimal("0.01"),
                 repayment_day=repayment_day)
    q = quote(product, principal, date(2026, 1, 21))
    assert q.apr == v2_reference(q.schedule)
    assert Decimal("0.12") < q.apr < Decimal("0.125")
    dates, amounts = cash_flows(q.schedule)
    assert near(q.effective_annual_rate,
                reference_xirr(dates, [a / principal for a in amounts]), "0.000002")
    fee_free = ei("0.12", 360, max_principal=10 ** 13, repayment_day=repayment_day)
    assert abs(quote(fee_free, principal, date(2026, 1, 21), RateCap(Decimal("0.12"))).apr
               - Decimal("0.12")) <= Decimal("0.000001")


def test_the_default_maximum_principal_is_quoted():
    product = ei("0.2", 360)
    q = quote(product, product.max_principal, START, CAP24)
    assert q.apr == Decimal("0.2")
