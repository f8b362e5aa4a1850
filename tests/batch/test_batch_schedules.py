"""Vectorised schedules equal `build_schedule` to the fen, loan for loan."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from puhui.batch import arith
from puhui.batch.schedules import (ScheduleBatch, equal_instalment_batch, equal_principal_batch,
                                   level_payments)
from puhui.calendar import DayCount
from puhui.loans.accrual import accrued_to, daily_penalty
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.schedule import build_schedule, level_payment, period_days
from puhui.money import Rounding, div_round

M = RepaymentMethod
BATCH = {M.EQUAL_INSTALMENT: equal_instalment_batch, M.EQUAL_PRINCIPAL: equal_principal_batch}


def assert_same(batch: ScheduleBatch, products: list[LoanProduct], principals: list[int],
                starts: list[date]) -> None:
    for row, (product, principal, start) in enumerate(zip(products, principals, starts)):
        sched = build_schedule(product, principal, start)
        assert batch.principal[row].tolist() == [i.principal for i in sched.instalments]
        assert batch.interest[row].tolist() == [i.interest for i in sched.instalments]
        assert batch.payment[row].tolist() == [i.principal + i.interest
                                               for i in sched.instalments]


def day_counts(products: list[LoanProduct], principals: list[int],
               starts: list[date]) -> np.ndarray:
    """Each period's day-count days, read off the scalar schedule's dates."""
    rows = []
    for product, principal, start in zip(products, principals, starts):
        sched = build_schedule(product, principal, start)
        rows.append([period_days(product, i.start, i.due) for i in sched.instalments])
    return np.array(rows, dtype=np.int64)


# -- the regular 30/360 monthly case -------------------------------------------------------------
@given(st.sampled_from(list(BATCH)), st.integers(1, 60), st.sampled_from(list(Rounding)),
       st.lists(st.tuples(st.integers(100_00, 10_000_000_00), st.integers(0, 360_000),
                          st.integers(1, 28)), min_size=1, max_size=20),
       st.data())
@example(M.EQUAL_INSTALMENT, 2, Rounding.HALF_EVEN, [(14_460, 100_000, 1)], None)  # tie
@example(M.EQUAL_INSTALMENT, 2, Rounding.UP, [(1_446_000, 100_000, 5)], None)  # whole fen
@settings(max_examples=200, deadline=None)
def test_regular_monthly_batch_equals_build_schedule(method: M, term: int, rounding: Rounding,
                                                     loans: list[tuple[int, int, int]],
                                                     data: st.DataObject | None) -> None:
    grace = data.draw(st.integers(0, term - 1)) if data is not None else 0
    principals = [p for p, _, _ in loans]
    micros = [m for _, m, _ in loans]
    starts = [date(2024, 1 + i % 12, d) for i, (_, _, d) in enumerate(loans)]
    products = [LoanProduct("B", method, Decimal(m) / 1_000_000, term_periods=term,
                            grace_periods=grace, rounding=rounding) for m in micros]
    batch = BATCH[method](np.array(principals), np.array(micros), term, rounding=rounding,
                          grace=grace)
    assert_same(batch, products, principals, starts)


# 30/360 US and 30E/360 loans from a month end (or 29 February) need no day table either: every
# whole-month period counts 30 days, so the batch default (basis / 12) is the scalar schedule.
@pytest.mark.parametrize("day_count", [DayCount.THIRTY_360_US, DayCount.THIRTY_E_360])
@pytest.mark.parametrize("method", list(BATCH))
@pytest.mark.parametrize("start", [date(2026, 1, 31), date(2026, 1, 29), date(2026, 8, 30),
                                   date(2026, 8, 31), date(2027, 2, 28), date(2028, 2, 28),
                                   date(2028, 2, 29), date(2026, 12, 31)])
def test_month_end_starts_need_no_day_table(day_count: DayCount, method: M, start: date) -> None:
    principals = [100_00, 1_234_567, 100_000_00, 10_000_000_00]
    micros = [120_000, 240_000, 43_500, 1]
    products = [LoanProduct("E", method, Decimal(m) / 1_000_000, term_periods=14,
                            day_count=day_count) for m in micros]
    batch = BATCH[method](np.array(principals), np.array(micros), 14)
    assert_same(batch, products, principals, [start] * len(products))


AMOUNTS_YUAN = [100, 101.01, 999.99, 12_345.67, 100_000, 333_333.33, 1_000_000, 9_999_999.99,
                10_000_000]
RATES = [0, 1, 10_000, 43_500, 100_000, 120_000, 180_000, 240_000, 333_333, 360_000]


@pytest.mark.parametrize("rounding", list(Rounding))
@pytest.mark.parametrize("method", list(BATCH))
def test_grid_equals_build_schedule(method: M, rounding: Rounding) -> None:
    grid = list(itertools.product(AMOUNTS_YUAN, RATES))
    principals = [round(a * 100) for a, _ in grid]
    micros = [m for _, m in grid]
    for term in (1, 2, 3, 6, 12, 24, 36, 60):
        products = [LoanProduct("G", method, Decimal(m) / 1_000_000, term_periods=term,
                                rounding=rounding) for m in micros]
        starts = [date(2025, 1 + k % 12, 1 + k % 28) for k in range(len(grid))]
        batch = BATCH[method](np.array(principals), np.array(micros), term, rounding=rounding)
        assert_same(batch, products, principals, starts)


# -- actual day counts: ACT/365F, and broken first periods ----------------------------------------
@given(st.sampled_from(list(BATCH)), st.integers(1, 36), st.sampled_from(list(Rounding)),
       st.sampled_from(list(DayCount)),
       st.none() | st.integers(1, 31),
       st.lists(st.tuples(st.integers(100_00, 10_000_000_00), st.integers(0, 360_000),
                          st.dates(date(2020, 1, 1), date(2030, 12, 31))), min_size=1, max_size=8))
@settings(max_examples=150, deadline=None)
def test_actual_day_counts_equal_build_schedule(method: M, term: int, rounding: Rounding,
                                                day_count: DayCount, repayment_day: int | None,
                                                loans: list[tuple[int, int, date]]) -> None:
    principals = [p for p, _, _ in loans]
    micros = [m for _, m, _ in loans]
    starts = [s for _, _, s in loans]
    products = [LoanProduct("A", method, Decimal(m) / 1_000_000, term_periods=term,
                            day_count=day_count, repayment_day=repayment_day, rounding=rounding)
                for m in micros]
    days = day_counts(products, principals, starts)
    batch = BATCH[method](np.array(principals), np.array(micros), term, days=days,
                          basis=day_count.basis, rounding=rounding)
    assert_same(batch, products, principals, starts)


def test_days_may_be_shared_by_every_loan() -> None:
    batch = equal_instalment_batch(np.array([1_000_000, 2_000_000]), np.array([120_000, 0]), 3,
                                   days=np.array([31, 28, 31]), basis=365)
    first_balance, second_balance = 1_000_000, 1_000_000 - int(batch.principal[0, 0])
    assert batch.interest[0, 0] == div_round(first_balance * 120_000 * 31, 365_000_000)
    assert batch.interest[0, 1] == div_round(second_balance * 120_000 * 28, 365_000_000)
    assert batch.interest[1].tolist() == [0, 0, 0]
    assert batch.principal.sum(axis=1).tolist() == [1_000_000, 2_000_000]


# -- level payments, including exact ties --------------------------------------------------------
@given(st.lists(st.integers(1, 10_000_000_000), min_size=1, max_size=50),
       st.integers(0, 1_000_000), st.integers(1, 360), st.sampled_from([1, 4, 12, 26, 52]),
       st.sampled_from(list(Rounding)))
@settings(max_examples=300, deadline=None)
def test_level_payments_equal_the_scalar(principals: list[int], micros: int, periods: int,
                                         per_year: int, rounding: Rounding) -> None:
    got = level_payments(np.array(principals), np.full(len(principals), micros), periods,
                         per_year, rounding)
    assert got.tolist() == [level_payment(p, micros, per_year, periods, rounding)
                            for p in principals]


def test_level_payments_on_rounding_boundaries() -> None:
    # 14,460 fen at 10% over two months is exactly 7,320.5 fen a month; 1,446,000 fen exactly
    # 732,050.  Multiples land on the same boundaries: every one must go the scalar's way.
    k = np.arange(1, 2_001, dtype=np.int64)
    for base in (14_460, 1_446_000):
        principal = base * k
        rate = np.full(k.shape, 100_000)
        for rounding in Rounding:
            expected = [level_payment(int(p), 100_000, 12, 2, rounding) for p in principal]
            assert level_payments(principal, rate, 2, 12, rounding).tolist() == expected


# -- the integer kernels -------------------------------------------------------------------------
@given(st.lists(st.integers(-(2 ** 62), 2 ** 62), min_size=1, max_size=40),
       st.integers(1, 2 ** 40), st.sampled_from(list(Rounding)))
def test_vectorised_div_round_equals_scalar(nums: list[int], den: int, rounding: Rounding) -> None:
    got = arith.div_round(np.array(nums, dtype=np.int64), den, rounding)
    assert got.tolist() == [div_round(n, den, rounding) for n in nums]


@given(st.lists(st.tuples(st.integers(0, 10_000_000_000), st.integers(-5, 400),
                          st.integers(-3, 410)), min_size=1, max_size=40),
       st.sampled_from(list(Rounding)))
def test_vectorised_accrual_equals_scalar(rows: list[tuple[int, int, int]],
                                          rounding: Rounding) -> None:
    interest, days, elapsed = (np.array(c, dtype=np.int64) for c in zip(*rows))
    assert arith.accrued_to(interest, days, elapsed, rounding).tolist() == \
        [accrued_to(i, d, e, rounding) for i, d, e in rows]
    assert arith.daily_penalty(interest, elapsed.clip(0) * 1000, 365, rounding).tolist() == \
        [daily_penalty(i, max(e, 0) * 1000, 365, rounding) for i, _, e in rows]


# -- guards --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,error", [
    ({"principal": [10_000_000_001]}, ValueError),
    ({"principal": [0]}, ValueError),
    ({"annual_rate_micros": [1_000_001]}, ValueError),
    ({"annual_rate_micros": [-1]}, ValueError),
    ({"days": [401, 30]}, ValueError),
    ({"days": [30, 30, 30]}, ValueError),
    ({"principal": [100.0]}, TypeError),
    ({"annual_rate_micros": [0.12]}, TypeError),
    ({"periods": 0}, ValueError),
    ({"grace": 2}, ValueError),
])
def test_out_of_range_input_is_refused(kwargs: dict[str, object], error: type) -> None:
    args: dict[str, object] = {"principal": [100_000], "annual_rate_micros": [120_000],
                               "periods": 2}
    args.update(kwargs)
    for key in ("principal", "annual_rate_micros", "days"):
        if key in args:
            args[key] = np.array(args[key])
    with pytest.raises(error):
        equal_instalment_batch(**args)  # type: ignore[arg-type]


def test_days_are_required_when_the_period_is_not_whole_days() -> None:
    with pytest.raises(ValueError):
        equal_instalment_batch(np.array([100_000]), np.array([120_000]), 4, periods_per_year=26,
                               basis=365)
