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
