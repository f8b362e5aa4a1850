"""Exact integer money arithmetic on int64 NumPy arrays.

These are the array twins of `puhui.money.div_round`, `puhui.loans.schedule.period_interest` and
`puhui.loans.accrual`: same names, same rounding rules, element for element the same results, so a
batch run and the scalar servicing engine never disagree by a fen.  Nothing here goes through
float; the callers keep every product of integers inside int64 by checking input ranges first
(`check_range`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from puhui.calendar import RATE_SCALE
from puhui.money import Rounding

Int64Array = NDArray[np.int64]

INT64_MAX = int(np.iinfo(np.int64).max)


def as_int64(values: ArrayLike, what: str) -> Int64Array:
    """`values` as an int64 array; floats are refused because money and rates are exact counts."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must be an integer array (fen, micro-units or days), "
                        f"got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > INT64_MAX:
        raise ValueError(f"{what} does not fit in int64")
    return arr.astype(np.int64, copy=False)


def check_range(arr: Int64Array, low: int, high: int, what: str) -> None:
    """Raise ValueError unless low <= arr <= high: the bounds are what keeps products in int64."""
    if arr.size and (int(arr.min()) < low or int(arr.max()) > high):
        raise ValueError(f"{what} must lie in {low}..{high}, "
                         f"got {int(arr.min())}..{int(arr.max())}")


def div_round(numerator: ArrayLike, denominator: ArrayLike | int,
              rounding: Rounding = Rounding.HALF_UP) -> Int64Array:
    """Element-wise exact division with the product's rounding rule (`puhui.money.div_round`).

    Floor division leaves 0 <= r < d, exactly as Python's `divmod`, so each rule is one
    comparison on the remainder; `2 * r` cannot overflow while the denominator is below 2**62.
    """
    num = np.asarray(numerator, dtype=np.int64)
    den = np.asarray(denominator, dtype=np.int64)
    if den.size and int(den.min()) <= 0:
        raise ValueError("denominator must be positive")
    if den.size and int(den.max()) >= 2 ** 62:
        raise ValueError("denominator too large for exact int64 rounding")
    q, r = np.divmod(num, den)
    rounding = Rounding(rounding)
    if rounding is Rounding.HALF_UP:  # half away from zero
        twice = 2 * r
        up = np.where(num >= 0, twice >= den, twice > den)
    elif rounding is Rounding.HALF_EVEN:
        twice = 2 * r
        up = (twice > den) | ((twice == den) & ((q & 1) == 1))
    elif rounding is Rounding.DOWN:  # towards zero
        up = (r != 0) & (num < 0)
    else:  # UP: away from zero
        up = (r != 0) & (num >= 0)
    return q + up


def period_interest(balance: ArrayLike, annual_rate_micros: ArrayLike, days: ArrayLike,
                    basis: ArrayLike | int, rounding: Rounding = Rounding.HALF_UP) -> Int64Array:
    """balance x rate x days / basis, rounded once (`puhui.loans.schedule.period_interest`).

    The caller guarantees balance x rate x days < 2**63 (see `puhui.batch.schedules` limits).
    """
    num = (np.asarray(balance, dtype=np.int64) * np.asarray(annual_rate_micros, dtype=np.int64)
           * np.asarray(days, dtype=np.int64))
    return div_round(num, np.asarray(basis, dtype=np.int64) * RATE_SCALE, rounding)


def accrued_to(period_interest_: ArrayLike, period_days: ArrayLike, elapsed_days: ArrayLike,
               rounding: Rounding = Rounding.HALF_UP) -> Int64Array:
    """Interest of a period recognised after `elapsed_days` (`puhui.loans.accrual.accrued_to`)."""
    interest = np.asarray(period_interest_, dtype=np.int64)
    days = np.asarray(period_days, dtype=np.int64)
    elapsed = np.asarray(elapsed_days, dtype=np.int64)
    full = (elapsed >= days) | (days <= 0)
    partial = div_round(interest * np.clip(elapsed, 0, None), np.maximum(days, 1), rounding)
    out = np.where(full, interest, partial)
    return np.where(elapsed <= 0, 0, out).astype(np.int64, copy=False)


def daily_penalty(overdue_principal: ArrayLike, penalty_rate_micros: ArrayLike,
                  basis: ArrayLike | int, rounding: Rounding = Rounding.HALF_UP) -> Int64Array:
    """One day's penalty interest on overdue principal (`puhui.loans.accrual.daily_penalty`)."""
    overdue = np.asarray(overdue_principal, dtype=np.int64)
    rate = np.asarray(penalty_rate_micros, dtype=np.int64)
    penalty = div_round(overdue * rate, np.asarray(basis, dtype=np.int64) * RATE_SCALE, rounding)
    return np.where(overdue <= 0, 0, penalty).astype(np.int64, copy=False)
