"""The vectorised end of day equals the scalar accrual and delinquency rules row by row."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from puhui.batch.book import NULL_DAY, book_arrays, date_series, day_number
from puhui.batch.eod import eod_arrays, run_eod, synthetic_book
from puhui.loans.accrual import accrued_to, daily_penalty
from puhui.loans.delinquency import (DEFAULT_POLICY, RISK_CLASSES, DelinquencyPolicy,
                                     days_past_due)
from puhui.money import Rounding

AS_OF = date(2025, 3, 31)


def random_book(n: int, seed: int, as_of: date = AS_OF) -> pl.DataFrame:
    """A book crowded with edge cases: due today or tomorrow, nothing elapsed, zero interest,
    nothing overdue, overdue since yesterday, penalty already charged through today..."""
    rng = np.random.default_rng(seed)
    today = day_number(as_of)
    length = rng.choice([0, 1, 7, 14, 28, 30, 31, 92, 365], n)
    # period start from 400 days ago to 2 days ahead: due in the past, today, tomorrow, later
    start = today - rng.integers(-2, 400, n)
    start = np.where(rng.random(n) < 0.1, today + 1, start)  # elapsed 0
    due = start + length
    due = np.where(rng.random(n) < 0.1, today, due)  # due today
    due = np.where(rng.random(n) < 0.1, today + 1, due)  # due tomorrow
    due = np.maximum(due, start)
    interest = np.where(rng.random(n) < 0.1, 0, rng.integers(0, 5_000_000, n))
    full = accrued_to_np(interest, due - start, np.minimum(today, due) - start)
    accrued = np.where(rng.random(n) < 0.8, full, rng.integers(0, 1_000, n))
    late = rng.random(n) < 0.5
    oldest = np.where(late, today - rng.integers(-3, 420, n), NULL_DAY)
    overdue = np.where(late & (rng.random(n) < 0.9), rng.integers(0, 10_000_000_000, n), 0)
    through = np.where(late & (rng.random(n) < 0.7), oldest + rng.integers(-5, 30, n), NULL_DAY)
    through = np.where(late & (rng.random(n) < 0.1), today, through)  # already charged today
    return pl.DataFrame({
        "loan_id": np.arange(n, dtype=np.int64),
        "outstanding_principal": overdue + rng.integers(0, 1_000_000_000, n),
        "period_start": date_series("period_start", start),
        "due": date_series("due", due),
        "period_interest": interest,
        "accrued_interest": accrued,
        "overdue_principal": overdue,
        "oldest_unpaid_due": date_series("oldest_unpaid_due", oldest),
        "penalty_rate_micros": rng.integers(0, 10_000_000, n),
        "basis": rng.choice([360, 365], n),
        "penalty_through": date_series("penalty_through", through),
    })


def accrued_to_np(interest: np.ndarray, days: np.ndarray, elapsed: np.ndarray) -> np.ndarray:
    rows = zip(interest.tolist(), days.tolist(), elapsed.tolist())
    return np.array([accrued_to(i, d, e) for i, d, e in rows], dtype=np.int64)


def scalar_eod(row: dict, as_of: date, policy: DelinquencyPolicy,
               rounding: Rounding) -> tuple[int, ...]:
    """One loan's end of day written with the scalar rules only."""
    start, due = row["period_start"], row["due"]
    elapsed = (min(as_of + timedelta(days=1), due) - start).days
    target = accrued_to(row["period_interest"], (due - start).days, elapsed, rounding)
    oldest, through = row["oldest_unpaid_due"], row["penalty_through"]
    if oldest is None:
        penalty_days = 0
    else:  # days oldest+1 .. as_of, less those already charged
        last_charged = max(oldest, through) if through is not None else oldest
        penalty_days = max(0, (as_of - last_charged).days)
    penalty = penalty_days * daily_penalty(row["overdue_principal"], row["penalty_rate_micros"],
                                           row["basis"], rounding)
    dpd = days_past_due(oldest, as_of)
    return (target - row["accrued_interest"], target, penalty, penalty_days, dpd,
            policy.bucket_index(dpd), RISK_CLASSES.index(policy.risk_class(dpd)))


@pytest.mark.parametrize("seed,rounding", [(1, Rounding.HALF_UP), (2, Rounding.HALF_EVEN),
                                           (3, Rounding.DOWN), (4, Rounding.UP)])
def test_eod_equals_scalar_rules_on_a_random_book(seed: int, rounding: Rounding) -> None:
    book = random_book(10_000, seed)
    policy = DEFAULT_POLICY if seed % 2 else DelinquencyPolicy((1, 8, 31), (1, 31, 61, 181))
    result = run_eod(book, AS_OF, policy, rounding)
    got = result.loans.select("interest", "accrued_interest", "penalty", "penalty_days", "dpd",
                              "bucket", "risk_class").rows()
    expected = [scalar_eod(row, AS_OF, policy, rounding) for row in book.iter_rows(named=True)]
    assert got == expected
    assert result.interest_total == sum(r[0] for r in expected)
    assert result.penalty_total == sum(r[2] for r in expected)


def test_edge_cases_are_present_in_the_random_book() -> None:
    cols = book_arrays(random_book(10_000, 1))
    today = day_number(AS_OF)
    assert (cols["due"] == today).any() and (cols["due"] == today + 1).any()
    assert (cols["period_start"] == today + 1).any()  # nothing elapsed yet
    assert (cols["period_interest"] == 0).any()
    assert (cols["oldest_unpaid_due"] == NULL_DAY).any()
    assert (cols["oldest_unpaid_due"] == today).any()  # due today, not late yet
    assert (cols["penalty_through"] == today).any()


def test_single_loan_by_hand() -> None:
    # 30-day period from 1 March, 3,000.00 yuan of interest; accrued through 30 March.
    # Oldest unpaid instalment fell due 28 February with 10,000 yuan overdue at 18%/360.
    book = pl.DataFrame({
        "outstanding_principal": [50_000_00], "period_start": [date(2025, 3, 1)],
        "due": [date(2025, 3, 31)], "period_interest": [3_000_00],
        "accrued_interest": [2_900_00], "overdue_principal": [10_000_00],
        "oldest_unpaid_due": [date(2025, 2, 28)], "penalty_rate_micros": [180_000],
        "basis": [360], "penalty_through": [date(2025, 3, 29)],
    })
    loan = run_eod(book, AS_OF).loans.row(0, named=True)
    assert loan["interest"] == 100_00 and loan["accrued_interest"] == 3_000_00
    assert loan["penalty_days"] == 2 and loan["penalty"] == 2 * 5_00
    assert loan["penalty_through"] == AS_OF
    assert loan["dpd"] == 31 and loan["bucket"] == 2 and loan["risk_class"] == 1


def test_running_the_same_day_twice_charges_nothing_more() -> None:
    book = synthetic_book(20_000, AS_OF, seed=3)
    first = run_eod(book, AS_OF)
    rolled = book.with_columns(first.loans["accrued_interest"],
                               first.loans["penalty_through"])
    again = run_eod(rolled, AS_OF)
    assert again.interest_total == 0 and again.penalty_total == 0
    assert (again.loans["interest"] == 0).all()


def test_summaries_add_up() -> None:
    book = synthetic_book(50_000, AS_OF, seed=11)
    result = run_eod(book, AS_OF)
    for summary in (result.by_bucket, result.by_class):
        assert summary["loans"].sum() == book.height
        assert summary["outstanding_principal"].sum() == book["outstanding_principal"].sum()
        assert summary["overdue_principal"].sum() == book["overdue_principal"].sum()
        assert summary["outstanding_principal"].dtype == pl.Int64
    assert result.by_bucket["bucket"].to_list() == list(DEFAULT_POLICY.bucket_labels)
    current = result.by_bucket.row(0, named=True)
    assert current["overdue_principal"] == 0


def test_synthetic_book_is_plausible() -> None:
    book = synthetic_book(50_000, AS_OF, seed=5)
    cols = book_arrays(book)
    today = day_number(AS_OF)
    assert book.height == 50_000
    assert book["principal"].min() >= 10_000_00 and book["principal"].max() <= 5_000_000_00
    assert book["annual_rate_micros"].min() >= 40_000
    assert book["annual_rate_micros"].max() <= 240_000
    assert book["term_periods"].min() >= 3 and book["term_periods"].max() <= 36
    assert (cols["period_start"] <= today).all() and (cols["due"] > today).all()
    late = cols["oldest_unpaid_due"] != NULL_DAY
    assert 0.07 < late.mean() < 0.09
    dpd = today - cols["oldest_unpaid_due"][late]
    assert dpd.min() >= 1 and dpd.max() <= 400 and (dpd > 90).any() and (dpd <= 30).any()
    assert (cols["overdue_principal"][late] > 0).all()
    assert (cols["overdue_principal"][~late] == 0).all()
    assert (cols["overdue_principal"] <= cols["outstanding_principal"]).all()
    assert all(book[c].dtype == pl.Int64 for c in ("principal", "period_interest",
                                                   "accrued_interest", "overdue_principal"))
    # yesterday's end of day has run: accrued is what the scalar rule gives through yesterday
    sample = book.head(500).iter_rows(named=True)
    for row in sample:
        elapsed = (min(AS_OF, row["due"]) - row["period_start"]).days
        days = (row["due"] - row["period_start"]).days
        assert row["accrued_interest"] == accrued_to(row["period_interest"], days, elapsed)


def test_same_seed_same_book() -> None:
    assert synthetic_book(1_000, AS_OF, 9).equals(synthetic_book(1_000, AS_OF, 9))


def test_eod_arrays_refuses_out_of_range_input() -> None:
    one = np.array([0], dtype=np.int64)
    args = dict(as_of=10, period_start=one, due=one + 30, period_interest=one + 100,
                accrued_interest=one, overdue_principal=one, oldest_unpaid_due=one + NULL_DAY,
                penalty_rate_micros=one, basis=one + 360, penalty_through=one + NULL_DAY)
    eod_arrays(**args)  # type: ignore[arg-type]
    for key, bad in (("basis", one + 100), ("overdue_principal", one + 10 ** 11),
                     ("penalty_rate_micros", one - 1), ("due", one - 1)):
        with pytest.raises(ValueError):
            eod_arrays(**{**args, key: bad})  # type: ignore[arg-type]


def test_eod_arrays_takes_datetime64_dates() -> None:
    book = random_book(2_000, 8)
    cols = book_arrays(book)
    as_dates = {k: book[k].to_numpy().astype("datetime64[D]")
                for k in ("period_start", "due", "oldest_unpaid_due", "penalty_through")}
    base = {k: v for k, v in cols.items() if k != "outstanding_principal"}
    by_days = eod_arrays(day_number(AS_OF), **base)  # type: ignore[arg-type]
    by_dates = eod_arrays(day_number(AS_OF), **{**base, **as_dates})  # type: ignore[arg-type]
    for field in ("interest", "penalty", "dpd", "penalty_through", "risk_class"):
        assert np.array_equal(getattr(by_days, field), getattr(by_dates, field))
