"""Day counts, month arithmetic, due dates and rate parsing."""

from __future__ import annotations

import calendar as pycal
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.calendar import (
    MAX_ANNUAL_RATE, DayCount, Frequency, add_months, days_30_360, days_30_360_us, days_30e_360,
    due_dates, parse_rate, rate_micros, whole_months,
)
from puhui.errors import CalendarError, DateOrderError, InvalidRate, PuhuiError


# -- day counts -------------------------------------------------------------------------------
@pytest.mark.parametrize("start,end,days", [
    (date(2024, 1, 15), date(2024, 2, 15), 30),
    (date(2024, 1, 1), date(2025, 1, 1), 360),
    (date(2024, 1, 31), date(2024, 2, 29), 29),   # D1 31 -> 30; Feb end is not special
    (date(2024, 1, 30), date(2024, 3, 31), 60),   # D1 30 and D2 31 -> D2 30
    (date(2024, 1, 31), date(2024, 3, 31), 60),   # D1 31 -> 30, then D2 31 -> 30
    (date(2024, 1, 15), date(2024, 3, 31), 76),   # D1 < 30: D2 31 stays 31
    (date(2024, 2, 29), date(2024, 3, 31), 32),   # Feb end stays 29 under the bond basis
    (date(2023, 2, 28), date(2023, 3, 28), 30),
    (date(2024, 3, 31), date(2024, 4, 30), 30),
    (date(2024, 5, 31), date(2024, 6, 1), 1),
    (date(2024, 6, 10), date(2024, 6, 10), 0),
    (date(2023, 12, 31), date(2024, 1, 31), 30),
])
def test_thirty_360_bond_basis(start, end, days):
    assert days_30_360(start, end) == days
    assert DayCount.THIRTY_360.days(start, end) == days
    assert DayCount.THIRTY_360.fraction(start, end) == (days, 360)


def test_actual_day_counts_and_bases():
    start, end = date(2024, 2, 1), date(2024, 3, 1)  # leap February: 29 actual days
    assert DayCount.ACT_365F.days(start, end) == 29
    assert DayCount.ACT_360.days(start, end) == 29
    assert DayCount.THIRTY_360.days(start, end) == 30
    assert DayCount.ACT_365F.fraction(date(2024, 1, 1), date(2025, 1, 1)) == (366, 365)
    assert DayCount.ACT_360.fraction(date(2023, 1, 1), date(2024, 1, 1)) == (365, 360)
    assert (DayCount.ACT_365F.basis, DayCount.ACT_360.basis, DayCount.THIRTY_360.basis) == \
        (365, 360, 360)
    assert DayCount.THIRTY_360_US.basis == DayCount.THIRTY_E_360.basis == 360
    assert DayCount("30/360") is DayCount.THIRTY_360  # stored products still parse


# 30/360 US (SIA, end of February) and 30E/360 (Eurobond) against the published rules
@pytest.mark.parametrize("start,end,us,e", [
    (date(2026, 1, 15), date(2026, 2, 15), 30, 30),
    (date(2026, 1, 31), date(2026, 2, 28), 28, 28),   # D1 31 -> 30; Feb end is an end date only
    (date(2026, 2, 28), date(2026, 3, 31), 30, 32),   # US: Feb end start -> 30, then D2 31 -> 30
    (date(2028, 2, 29), date(2028, 3, 31), 30, 31),   # leap year: 29 Feb is the end of February
    (date(2028, 2, 28), date(2028, 3, 31), 33, 32),   # 28 Feb 2028 is not
    (date(2026, 2, 28), date(2027, 2, 28), 360, 360),  # Feb end to Feb end: both 30 under US
    (date(2027, 2, 28), date(2028, 2, 29), 360, 361),
    (date(2026, 1, 30), date(2026, 3, 31), 60, 60),
    (date(2026, 1, 15), date(2026, 3, 31), 76, 75),   # US: D2 31 stays 31 when D1 < 30
    (date(2026, 8, 31), date(2026, 9, 30), 30, 30),
    (date(2026, 8, 30), date(2026, 8, 31), 0, 0),
    (date(2026, 5, 31), date(2026, 6, 1), 1, 1),
    (date(2026, 1, 21), date(2026, 2, 1), 10, 10),
    (date(2025, 12, 31), date(2026, 1, 31), 30, 30),
])
def test_thirty_360_us_and_30e_360(start, end, us, e):
    assert days_30_360_us(start, end) == DayCount.THIRTY_360_US.days(start, end) == us
    assert days_30e_360(start, end) == DayCount.THIRTY_E_360.days(start, end) == e


@pytest.mark.parametrize("start,end,months", [
    (date(2026, 1, 31), date(2026, 2, 28), 1),
    (date(2026, 2, 28), date(2026, 3, 31), 1),
    (date(2026, 2, 28), date(2026, 3, 28), 1),
    (date(2026, 2, 28), date(2026, 3, 30), 1),
    (date(2028, 1, 31), date(2028, 2, 29), 1),
    (date(2028, 2, 29), date(2028, 3, 29), 1),
    (date(2026, 4, 30), date(2026, 5, 31), 1),
    (date(2026, 1, 15), date(2026, 4, 15), 3),
    (date(2026, 1, 31), date(2026, 4, 30), 3),
    (date(2026, 1, 30), date(2026, 2, 28), 1),
    (date(2026, 1, 28), date(2026, 2, 28), 1),
    (date(2026, 1, 29), date(2026, 3, 1), None),
    (date(2026, 1, 21), date(2026, 2, 1), None),
    (date(2026, 1, 30), date(2026, 3, 31), None),     # 30th then a 31st: no day names both
    (date(2028, 2, 28), date(2028, 3, 31), None),     # 28 Feb 2028 is not a month end
    (date(2026, 3, 1), date(2026, 3, 31), None),
    (date(2026, 3, 1), date(2026, 3, 1), None),
])
def test_whole_months(start, end, months):
    assert whole_months(start, end) == months


@settings(max_examples=300, deadline=None)
@given(st.dates(date(2000, 1, 1), date(2060, 12, 31)), st.integers(1, 31), st.integers(1, 120))
def test_whole_months_of_the_level_conventions_are_30_days(start, day, n):
    """Consecutive monthly dates on one day of month are one month apart and count 30 days under
    30/360 US and 30E/360 (so monthly payments are level), whatever the month ends."""
    dates = [add_months(start, k, day) for k in range(1, n + 2)]
    for a, b in zip(dates, dates[1:]):
        assert whole_months(a, b) == 1
        assert DayCount.THIRTY_360_US.period_days(a, b) == 30
        assert DayCount.THIRTY_E_360.period_days(a, b) == 30
    assert DayCount.THIRTY_360_US.period_days(dates[0], dates[-1]) == 30 * n
    # the bond basis and the actual counts are untouched by the rule
    a, b = dates[0], dates[1]
    assert DayCount.THIRTY_360.period_days(a, b) == days_30_360(a, b)
    assert DayCount.ACT_365F.period_days(a, b) == (b - a).days


@pytest.mark.parametrize("dc", list(DayCount))
def test_a_period_ending_before_it_starts_is_refused(dc):
    with pytest.raises(DateOrderError):
        dc.days(date(2024, 3, 2), date(2024, 3, 1))
    assert issubclass(DateOrderError, CalendarError) and issubclass(CalendarError, PuhuiError)


@settings(max_examples=300, deadline=None)
@given(st.dates(date(2000, 1, 1), date(2060, 12, 31)), st.integers(0, 3000),
       st.integers(0, 3000))
def test_day_counts_are_additive_where_they_should_be(start, a, b):
    mid, end = start + timedelta(days=a), start + timedelta(days=a + b)
    for dc in (DayCount.ACT_365F, DayCount.ACT_360):
        assert dc.days(start, end) == dc.days(start, mid) + dc.days(mid, end) == a + b
    # 30/360 is additive between dates that are not month ends
    if all(d.day < 30 for d in (start, mid, end)):
        assert days_30_360(start, end) == days_30_360(start, mid) + days_30_360(mid, end)
    # and never far from the actual count: at most 3 days a month off
    assert abs(days_30_360(start, end) - (a + b)) <= 3 * ((a + b) // 28 + 1)


# -- month arithmetic -------------------------------------------------------------------------
@pytest.mark.parametrize("d,months,day,expected", [
    (date(2024, 1, 31), 1, None, date(2024, 2, 29)),
    (date(2023, 1, 31), 1, None, date(2023, 2, 28)),
    (date(2024, 1, 31), 2, None, date(2024, 3, 31)),   # clamps per target month, no drift
    (date(2024, 1, 31), 3, None, date(2024, 4, 30)),
    (date(2024, 11, 30), 3, None, date(2025, 2, 28)),
    (date(2024, 12, 15), 1, None, date(2025, 1, 15)),
    (date(2024, 3, 31), -1, None, date(2024, 2, 29)),
    (date(2024, 1, 15), -13, None, date(2022, 12, 15)),
    (date(2024, 1, 15), 0, 31, date(2024, 1, 31)),
    (date(2024, 1, 15), 1, 31, date(2024, 2, 29)),
    (date(2024, 1, 15), 1, 30, date(2024, 2, 29)),
    (date(2024, 5, 20), 1, 5, date(2024, 6, 5)),
    (date(2024, 1, 15), 24, None, date(2026, 1, 15)),
])
def test_add_months_clamps_to_month_end(d, months, day, expected):
    assert add_months(d, months, day) == expected


@settings(max_examples=300, deadline=None)
@given(st.dates(date(1990, 1, 1), date(2080, 12, 31)), st.integers(-240, 240))
def test_add_months_lands_in_the_right_month(d, months):
    got = add_months(d, months)
    assert (got.year * 12 + got.month) - (d.year * 12 + d.month) == months
    assert got.day == min(d.day, pycal.monthrange(got.year, got.month)[1])


# -- due dates --------------------------------------------------------------------------------
def test_monthly_due_dates_follow_the_anniversary_without_drifting():
    assert due_dates(date(2024, 1, 31), 4, Frequency.MONTHLY) == [
        date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30), date(2024, 5, 31)]
    assert due_dates(date(2024, 11, 15), 3, Frequency.MONTHLY) == [
        date(2024, 12, 15), date(2025, 1, 15), date(2025, 2, 15)]


def test_repayment_day_and_minimum_first_period():
    start = date(2024, 1, 15)
    # Jan 20 is only 5 days away: with a 10-day minimum the first due date rolls to Feb 20
    assert due_dates(start, 3, Frequency.MONTHLY, 20, 10) == [
        date(2024, 2, 20), date(2024, 3, 20), date(2024, 4, 20)]
    assert due_dates(start, 2, Frequency.MONTHLY, 20, 0) == [date(2024, 1, 20), date(2024, 2, 20)]
    assert due_dates(start, 2, Frequency.MONTHLY, 20, 5) == [date(2024, 1, 20), date(2024, 2, 20)]
    assert due_dates(start, 2, Frequency.MONTHLY, 20, 6) == [date(2024, 2, 20), date(2024, 3, 20)]
    # the repayment day itself is not a due date for a loan starting on it
    assert due_dates(start, 1, Frequency.MONTHLY, 15, 0) == [date(2024, 2, 15)]
    # a day already past this month starts next month
    assert due_dates(start, 2, Frequency.MONTHLY, 5, 0) == [date(2024, 2, 5), date(2024, 3, 5)]
    # day 31 clamps to every month's end
    assert due_dates(date(2024, 1, 10), 4, Frequency.MONTHLY, 31, 0) == [
        date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]
    # a long minimum can skip more than one month
    assert due_dates(start, 1, Frequency.MONTHLY, 20, 40)[0] == date(2024, 3, 20)


@pytest.mark.parametrize("freq,step", [(Frequency.WEEKLY, 7), (Frequency.BIWEEKLY, 14),
                                       (Frequency.DAILY, 1)])
def test_fixed_step_frequencies(freq, step):
    start = date(2024, 2, 26)
    assert due_dates(start, 5, freq) == [start + timedelta(days=step * k) for k in range(1, 6)]
    assert freq.step_days == step


def test_periods_per_year():
    assert [f.periods_per_year for f in Frequency] == [12, 26, 52, 365]
    assert Frequency.MONTHLY.step_days is None


def test_due_dates_need_a_period():
    with pytest.raises(ValueError):
        due_dates(date(2024, 1, 1), 0, Frequency.MONTHLY)


@settings(max_examples=300, deadline=None)
@given(st.dates(date(2020, 1, 1), date(2040, 12, 31)), st.integers(1, 36),
       st.one_of(st.none(), st.integers(1, 31)), st.integers(0, 28))
def test_monthly_due_dates_are_increasing_and_respect_the_minimum(start, n, day, minimum):
    dues = due_dates(start, n, Frequency.MONTHLY, day, minimum)
    assert len(dues) == n
    assert all(a < b for a, b in zip([start] + dues, dues))
    if day is not None:
        assert (dues[0] - start).days >= minimum
        for d in dues:
            assert d.day == min(day, pycal.monthrange(d.year, d.month)[1])
        # and the first due date is the earliest such day that qualifies
        earlier = add_months(dues[0], -1, day)
        assert earlier <= start or (earlier - start).days < minimum
    for a, b in zip(dues, dues[1:]):
        assert (b.year * 12 + b.month) - (a.year * 12 + a.month) == 1


# -- rates ------------------------------------------------------------------------------------
def test_parse_rate_accepts_exact_fractions():
    assert parse_rate("0.0435") == Decimal("0.0435")
    assert parse_rate(Decimal("0.120000")) == Decimal("0.12")
    assert parse_rate("0") == Decimal(0)
    assert parse_rate(0) == Decimal(0)
    assert parse_rate(1) == Decimal(1)
    assert parse_rate("0.000001") == Decimal("0.000001")
    assert parse_rate(MAX_ANNUAL_RATE) == MAX_ANNUAL_RATE
    assert rate_micros(Decimal("0.0435")) == 43_500
    assert rate_micros(Decimal("0.24")) == 240_000


@pytest.mark.parametrize("bad", [0.12, 1.0, True, False, "-0.01", Decimal("-0.000001"), "NaN",
                                 "sNaN", "Infinity", "-Infinity", "0.0000001", "0.12345678",
                                 "10.000001", "11", "abc", "", None, [0.1], "12%"])
def test_parse_rate_refuses_what_is_not_an_exact_rate(bad):
    with pytest.raises(InvalidRate):
        parse_rate(bad)  # type: ignore[arg-type]
