"""Annualised cost by the IRR method, XIRR, and rate caps (incl. a multiple of the LPR)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.calendar import DayCount
from puhui.errors import InvalidRate, ProductError, RateCapExceeded
from puhui.loans.cost import cash_flows, effective_annual_rate, irr_apr, quote
from puhui.loans.product import LoanProduct, RateCap, RepaymentMethod
from puhui.loans.schedule import build_schedule

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
