"""A loan book as one Polars DataFrame (one row per loan), and a synthetic one for benchmarks.

Why Polars: a book is loaded from the store or a file, filtered and reported on as a table, and
nullable dates ("no unpaid instalment", "no penalty charged yet") are native.  The end-of-day
kernel itself works on NumPy int64 arrays of day numbers (days since 1970-01-01), which
`book_arrays` extracts with nulls as `NULL_DAY`.

Columns of a book (money in fen, rates in micro-units, dates as `pl.Date`):

    loan_id               Int64
    outstanding_principal Int64   principal not yet repaid (due or not)
    period_start          Date    start of the current scheduled period
    due                   Date    due date of the current period
    period_interest       Int64   scheduled interest of the current period
    accrued_interest      Int64   interest of the current period already recognised
    overdue_principal     Int64   principal past its due date and unpaid
    oldest_unpaid_due     Date?   due date of the oldest unpaid instalment, null if none
    penalty_rate_micros   Int64   annual penalty (罚息) rate
    basis                 Int64   day-count year: 360 or 365
    penalty_through       Date?   last day penalty has been charged for, null if never
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from puhui.batch.arith import Int64Array, accrued_to, div_round, period_interest

NULL_DAY = int(np.iinfo(np.int32).min)  #: stands for a null date in day-number arrays
EPOCH = date(1970, 1, 1)

DATE_COLUMNS = ("period_start", "due", "oldest_unpaid_due", "penalty_through")
INT_COLUMNS = ("outstanding_principal", "period_interest", "accrued_interest",
               "overdue_principal", "penalty_rate_micros", "basis")


def day_number(d: date) -> int:
    """Days since 1970-01-01, the integer form of a date in every batch array."""
    return (d - EPOCH).days


def day_numbers(values: np.ndarray) -> Int64Array:
    """Day numbers from int day numbers or `datetime64` dates (NaT becoming `NULL_DAY`)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        days = arr.astype("datetime64[D]")
        return np.where(np.isnat(days), NULL_DAY, days.astype(np.int64))
    if arr.dtype.kind not in "iu":
        raise TypeError(f"dates must be day numbers or datetime64, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def date_series(name: str, days: Int64Array) -> pl.Series:
    """A `pl.Date` series from day numbers, `NULL_DAY` becoming null."""
    values = pl.Series(name, days.astype(np.int32)).cast(pl.Date)
    return pl.select(pl.when(pl.lit(pl.Series(days != NULL_DAY))).then(values)
                     .otherwise(None).alias(name)).to_series()


def book_arrays(book: pl.DataFrame) -> dict[str, Int64Array]:
    """The book's columns as int64 arrays: dates as day numbers with nulls as `NULL_DAY`."""
    missing = [c for c in DATE_COLUMNS + INT_COLUMNS if c not in book.columns]
    if missing:
        raise ValueError(f"book lacks columns {missing}")
    out: dict[str, Int64Array] = {}
    for name in DATE_COLUMNS:
        col = book[name].cast(pl.Date).cast(pl.Int32).fill_null(NULL_DAY)
        out[name] = col.to_numpy().astype(np.int64)
    for name in INT_COLUMNS:
        col = book[name]
        if not col.dtype.is_integer():
            raise TypeError(f"book column {name} must be integer, got {col.dtype}")
        if col.null_count():
            raise ValueError(f"book column {name} has nulls")
        out[name] = col.cast(pl.Int64).to_numpy()
    return out


def synthetic_book(n: int, as_of: date, seed: int) -> pl.DataFrame:
    """A plausible book of `n` loans serviced up to the end of the day before `as_of`.

    Principal 10k-5M yuan (lognormal), rates 4-24%, 3-36 monthly periods, 30/360 or ACT/365F,
    repayment days 1-28; about 8% delinquent with days past due spread from 1 to 400 and penalty
    charged through the previous day for most of them.  Floats appear only while drawing random
    numbers; every amount is then an integer computed by the exact batch arithmetic.
    """
    rng = np.random.default_rng(seed)
    today = day_number(as_of)
    yuan = np.clip(rng.lognormal(np.log(200_000), 1.0, n), 10_000, 5_000_000)
    principal = yuan.astype(np.int64) * 100
    rate = rng.integers(400, 2_401, n, dtype=np.int64) * 100  # 4.00%..24.00% in 0.01% steps
    term = rng.integers(3, 37, n, dtype=np.int64)
    paid_periods = (rng.random(n) * term).astype(np.int64)  # 0..term-1
    basis = np.where(rng.random(n) < 0.6, 360, 365).astype(np.int64)
    repay_day = rng.integers(1, 29, n, dtype=np.int64)

    month = np.datetime64(as_of, "M")
    start_month = month - (repay_day > as_of.day).astype(np.int64)
    start = (start_month.astype("datetime64[D]").astype(np.int64) + repay_day - 1)
    due = ((start_month + 1).astype("datetime64[D]").astype(np.int64) + repay_day - 1)
    outstanding = principal * (term - paid_periods) // term
    days = np.where(basis == 360, 30, due - start)
    interest = period_interest(outstanding, rate, days, basis)
    accrued = accrued_to(interest, due - start, np.minimum(today, due) - start)

    late = rng.random(n) < 0.08
    band = rng.choice(3, n, p=[0.5, 0.2, 0.3])
    dpd = np.select([band == 0, band == 1],
                    [rng.integers(1, 31, n), rng.integers(31, 91, n)], rng.integers(91, 401, n))
    missed = np.minimum(-(-dpd // 30), term - paid_periods)
    overdue = np.where(late, np.minimum(outstanding, missed * principal // term), 0)
    oldest = np.where(late, today - dpd, NULL_DAY)
    lag = np.select([rng.random(n) < 0.85, rng.random(n) < 0.5], [1, rng.integers(2, 11, n)], 0)
    through = np.where(late & (lag > 0), np.maximum(today - lag, oldest), NULL_DAY)
    penalty_rate = div_round(rate * 3, 2)  # penalty_multiplier 1.5

    return pl.DataFrame({
        "loan_id": np.arange(1, n + 1, dtype=np.int64),
        "principal": principal,
        "annual_rate_micros": rate,
        "term_periods": term,
        "outstanding_principal": outstanding,
        "period_start": date_series("period_start", start),
        "due": date_series("due", due),
        "period_interest": interest,
        "accrued_interest": accrued,
        "overdue_principal": overdue.astype(np.int64),
        "oldest_unpaid_due": date_series("oldest_unpaid_due", oldest),
        "penalty_rate_micros": penalty_rate,
        "basis": basis,
        "penalty_through": date_series("penalty_through", through),
    })
