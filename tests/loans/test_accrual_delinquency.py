"""Daily accrual adds up to the period; aging buckets and risk classes switch on the right day."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.errors import InvalidProduct
from puhui.loans.accrual import accrued_to, daily_interest, daily_penalty
from puhui.loans.delinquency import DEFAULT_POLICY, DelinquencyPolicy, RiskClass, days_past_due
from puhui.money import Rounding

DECIMAL_MODE = {Rounding.HALF_UP: ROUND_HALF_UP, Rounding.HALF_EVEN: ROUND_HALF_EVEN,
                Rounding.DOWN: ROUND_DOWN, Rounding.UP: ROUND_UP}


@given(st.integers(0, 10_000_000_00), st.integers(1, 400), st.sampled_from(list(Rounding)))
@settings(max_examples=300, deadline=None)
def test_daily_accruals_sum_exactly_to_the_period_interest(interest: int, days: int,
                                                           rounding: Rounding) -> None:
    cumulative = [accrued_to(interest, days, e, rounding) for e in range(days + 1)]
    daily = [b - a for a, b in zip(cumulative, cumulative[1:])]
    assert sum(daily) == interest
    assert all(d >= 0 for d in daily)
    assert cumulative[0] == 0 and cumulative[-1] == interest
    assert accrued_to(interest, days, days + 5, rounding) == interest
    assert accrued_to(interest, days, -3, rounding) == 0
    # pro rata, rounded once per day-end with the product's rule
    for e in (1, days // 2, days - 1):
        if 0 < e < days:
            exact = Decimal(interest) * e / days
            assert cumulative[e] == int(exact.to_integral_value(rounding=DECIMAL_MODE[rounding]))


def test_daily_accrual_of_a_31_day_period_spreads_the_remainder() -> None:
    daily = [accrued_to(1000, 31, e) - accrued_to(1000, 31, e - 1) for e in range(1, 32)]
    assert sum(daily) == 1000
    assert set(daily) == {32, 33}


@given(st.integers(-1_000, 10_000_000_00), st.integers(0, 10_000_000), st.sampled_from([360, 365]),
       st.sampled_from(list(Rounding)))
def test_daily_penalty_and_interest_round_balance_times_rate_over_basis(
        amount: int, micros: int, basis: int, rounding: Rounding) -> None:
    expected = 0 if amount <= 0 else int((Decimal(amount) * micros / (basis * 1_000_000))
                                         .to_integral_value(rounding=DECIMAL_MODE[rounding]))
    assert daily_penalty(amount, micros, basis, rounding) == expected
    assert daily_interest(amount, micros, basis, rounding) == expected


def test_penalty_example() -> None:
    # 10,000 yuan overdue at 18% a year on ACT/360: 5.00 yuan a day
    assert daily_penalty(1_000_000, 180_000, 360) == 500


# -- delinquency ----------------------------------------------------------------------------
THRESHOLDS = [  # dpd, bucket, risk class
    (0, "current", RiskClass.NORMAL),
    (1, "1-30", RiskClass.SPECIAL_MENTION),
    (30, "1-30", RiskClass.SPECIAL_MENTION),
    (31, "31-60", RiskClass.SPECIAL_MENTION),
    (90, "61-90", RiskClass.SPECIAL_MENTION),
    (91, "90+", RiskClass.SUBSTANDARD),
    (270, "90+", RiskClass.SUBSTANDARD),
    (271, "90+", RiskClass.DOUBTFUL),
    (360, "90+", RiskClass.DOUBTFUL),
    (361, "90+", RiskClass.LOSS),
]


@pytest.mark.parametrize("dpd,bucket,risk", THRESHOLDS)
def test_buckets_and_classes_at_the_thresholds(dpd: int, bucket: str, risk: RiskClass) -> None:
    due = date(2024, 1, 31)
    as_of = due + timedelta(days=dpd)
    assert days_past_due(due, as_of) == dpd
    assert DEFAULT_POLICY.bucket(dpd) == bucket
    assert DEFAULT_POLICY.risk_class(dpd) is risk
    assert risk.non_performing == (dpd > 90)


def test_days_past_due_is_zero_when_nothing_is_late() -> None:
    due = date(2024, 3, 10)
    assert days_past_due(None, due) == 0
    assert days_past_due(due, due) == 0  # paying on the due date is on time
    assert days_past_due(due, due - timedelta(days=5)) == 0
    assert days_past_due(due, due + timedelta(days=1)) == 1


def test_bucket_labels_cover_every_bucket() -> None:
    assert DEFAULT_POLICY.bucket_labels == ("current", "1-30", "31-60", "61-90", "90+")


def test_stricter_policy() -> None:
    policy = DelinquencyPolicy(bucket_starts=(1, 8, 31), class_starts=(1, 31, 61, 181))
    assert [policy.bucket_index(d) for d in (0, 1, 7, 8, 30, 31)] == [0, 1, 1, 2, 2, 3]
    assert policy.risk_class(61) is RiskClass.DOUBTFUL


@pytest.mark.parametrize("kwargs", [
    {"bucket_starts": ()}, {"bucket_starts": (0, 30)}, {"bucket_starts": (30, 30)},
    {"class_starts": (1, 91, 271)}, {"class_starts": (1, 271, 91, 361)},
])
def test_bad_policies_are_refused(kwargs: dict[str, tuple[int, ...]]) -> None:
    with pytest.raises(InvalidProduct):
        DelinquencyPolicy(**kwargs)
