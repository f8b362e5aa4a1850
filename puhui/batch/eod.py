"""End of day for a whole book at once: interest accrual, penalty interest and delinquency aging.

A pure function of the book (see `puhui.batch.book` for its columns) and the business date D.  At
the end of day D interest is recognised for every day up to and including D, each loan exactly as
the scalar rules in `puhui.loans.accrual` and `puhui.loans.delinquency` would have it:

- interest today = accrued_to(period_interest, due - start, min(D + 1, due) - start)
  - accrued_interest;
- penalty = (days after the oldest unpaid due date, up to D, not yet charged)
  x daily_penalty(overdue_principal, penalty_rate_micros, basis);
- days past due = D - oldest unpaid due (0 if none or not yet late), bucketed and classified with
  the same edges as `DelinquencyPolicy` (searchsorted "right" is bisect_right).

Posting the results to the ledger is the caller's job; nothing here has side effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from puhui.batch.arith import Int64Array, accrued_to, as_int64, check_range, daily_penalty
from puhui.batch.book import (NULL_DAY, book_arrays, date_series, day_number, day_numbers,
                              synthetic_book)
from puhui.loans.delinquency import DEFAULT_POLICY, RISK_CLASSES, DelinquencyPolicy
from puhui.money import MAX_AMOUNT, Rounding

# Keep every product in int64: interest x elapsed days and overdue principal x rate stay < 2**63
# for amounts up to MAX_AMOUNT (10**10 fen, the one bound on every amount: puhui/money.py).
MAX_PENALTY_RATE_MICROS = 10_000_000  #: 1000% a year


@dataclass(frozen=True, slots=True)
class EodArrays:
    """Per-loan results of one end of day, aligned with the book's rows (int64 arrays)."""

    interest: Int64Array        # interest recognised today (negative only if over-accrued before)
    accrued_interest: Int64Array  # accrued for the current period after today
    penalty: Int64Array         # penalty interest charged today
    penalty_days: Int64Array    # overdue days charged today
    penalty_through: Int64Array  # day number penalty is now charged through (NULL_DAY if never)
    dpd: Int64Array             # days past due at the end of D
    bucket: Int64Array          # index into policy.bucket_labels
    risk_class: Int64Array      # index into RISK_CLASSES


@dataclass(frozen=True, slots=True)
class EodResult:
    """One end of day: per-loan figures plus the portfolio summaries a risk report needs."""

    as_of: date
    loans: pl.DataFrame
    by_bucket: pl.DataFrame
    by_class: pl.DataFrame
    interest_total: int
    penalty_total: int


def eod_arrays(as_of: int, period_start: Int64Array, due: Int64Array,
               period_interest: Int64Array, accrued_interest: Int64Array,
               overdue_principal: Int64Array, oldest_unpaid_due: Int64Array,
               penalty_rate_micros: Int64Array, basis: Int64Array, penalty_through: Int64Array,
               policy: DelinquencyPolicy = DEFAULT_POLICY,
               rounding: Rounding = Rounding.HALF_UP) -> EodArrays:
    """The end-of-day kernel; dates are day numbers (`NULL_DAY` for null) or datetime64 (NaT)."""
    period_start, due = day_numbers(period_start), day_numbers(due)
    oldest_unpaid_due = day_numbers(oldest_unpaid_due)
    penalty_through = day_numbers(penalty_through)
    period_interest = as_int64(period_interest, "period_interest")
    accrued_interest = as_int64(accrued_interest, "accrued_interest")
    overdue_principal = as_int64(overdue_principal, "overdue_principal")
    penalty_rate_micros = as_int64(penalty_rate_micros, "penalty_rate_micros")
    basis = as_int64(basis, "basis")
    check_range(period_interest, 0, MAX_AMOUNT, "period_interest")
    check_range(overdue_principal, 0, MAX_AMOUNT, "overdue_principal")
    check_range(penalty_rate_micros, 0, MAX_PENALTY_RATE_MICROS, "penalty_rate_micros")
    check_range(basis, 360, 366, "basis")
    check_range(due - period_start, 0, 1_000, "period length (days)")

    period_days = due - period_start
    elapsed = np.minimum(as_of + 1, due) - period_start
    target = accrued_to(period_interest, period_days, elapsed, rounding)
    interest = target - accrued_interest

    overdue = oldest_unpaid_due != NULL_DAY
    charged_to = np.maximum(oldest_unpaid_due, penalty_through)  # NULL_DAY loses every max
    penalty_days = np.where(overdue, np.maximum(as_of - charged_to, 0), 0)
    penalty = penalty_days * daily_penalty(overdue_principal, penalty_rate_micros, basis, rounding)
    through = np.where(penalty_days > 0, as_of, penalty_through)

    dpd = np.where(overdue, np.maximum(as_of - oldest_unpaid_due, 0), 0)
    bucket = np.searchsorted(np.asarray(policy.bucket_starts), dpd, side="right")
    risk_class = np.searchsorted(np.asarray(policy.class_starts), dpd, side="right")
    return EodArrays(interest, target, penalty, penalty_days, through, dpd,
                     bucket.astype(np.int64), risk_class.astype(np.int64))


def run_eod(book: pl.DataFrame, as_of: date, policy: DelinquencyPolicy = DEFAULT_POLICY,
            rounding: Rounding = Rounding.HALF_UP) -> EodResult:
    """End of day `as_of` over a book (one Polars row per loan, columns in `puhui.batch.book`)."""
    cols = book_arrays(book)
    res = eod_arrays(day_number(as_of), cols["period_start"], cols["due"],
                     cols["period_interest"], cols["accrued_interest"],
                     cols["overdue_principal"], cols["oldest_unpaid_due"],
                     cols["penalty_rate_micros"], cols["basis"], cols["penalty_through"],
                     policy, rounding)
    ids = book["loan_id"] if "loan_id" in book.columns else pl.Series(
        "loan_id", np.arange(book.height, dtype=np.int64))
    loans = pl.DataFrame({
        "loan_id": ids,
        "interest": res.interest,
        "accrued_interest": res.accrued_interest,
        "penalty": res.penalty,
        "penalty_days": res.penalty_days,
        "penalty_through": date_series("penalty_through", res.penalty_through),
        "dpd": res.dpd,
        "bucket": res.bucket,
        "risk_class": res.risk_class,
    })
    outstanding, overdue = cols["outstanding_principal"], cols["overdue_principal"]
    by_bucket = summarise(res.bucket, policy.bucket_labels, outstanding, overdue, "bucket")
    by_class = summarise(res.risk_class, tuple(c.value for c in RISK_CLASSES), outstanding,
                         overdue, "risk_class")
    return EodResult(as_of, loans, by_bucket, by_class, int(res.interest.sum()),
                     int(res.penalty.sum()))


def summarise(index: Int64Array, labels: tuple[str, ...], outstanding: Int64Array,
              overdue: Int64Array, name: str) -> pl.DataFrame:
    """Loans, outstanding and overdue principal per category, summed exactly in int64."""
    k = len(labels)
    count = np.bincount(index, minlength=k)[:k].astype(np.int64)
    sums = np.zeros((2, k), dtype=np.int64)
    np.add.at(sums[0], index, outstanding)  # integer scatter-add: no float on the way
    np.add.at(sums[1], index, overdue)
    return pl.DataFrame({name: list(labels), "loans": count, "outstanding_principal": sums[0],
                         "overdue_principal": sums[1]})


__all__ = ["EodArrays", "EodResult", "eod_arrays", "run_eod", "summarise", "synthetic_book"]
