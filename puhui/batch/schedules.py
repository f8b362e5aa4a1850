"""Repayment schedules for many loans at once, identical to the fen to `build_schedule`.

Why: quoting a campaign, re-pricing a book or stress-testing needs millions of schedules, and one
Python `build_schedule` per loan is far too slow.  Here loans are rows of int64 arrays and the only
Python loop is over instalment numbers.  The rules are those of `puhui.loans.schedule`:

- principal parts follow the nominal periodic rate (annual / periods per year), the last part
  taking the rounding residue, so the principal repaid equals the principal lent exactly;
- interest is balance x rate x days / basis for each period's charged `days`, rounded once: the
  caller passes `puhui.loans.schedule.period_days` of each period, or nothing when every period
  is a whole month under 30/360 US or 30E/360 (30 days each, from any start, month ends
  included).

All interest arithmetic is exact int64.  Only the level payment needs (1+r)^n: it is computed in
float64 and rounded, and any payment whose float value lies so close to a rounding boundary that
the float error could matter is recomputed exactly with `puhui.loans.schedule.level_payment`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from puhui.batch.arith import Int64Array, as_int64, check_range, div_round, period_interest
from puhui.calendar import RATE_SCALE
from puhui.loans.schedule import level_payment
from puhui.money import MAX_AMOUNT, Rounding

# balance x rate x days <= 1e10 x 1e6 x 400 = 4e18 < 2**63 - 1 (about 9.22e18): no int64 overflow.
MAX_PRINCIPAL = MAX_AMOUNT  #: fen (100 million yuan, the one bound: puhui/money.py)
MAX_RATE_MICROS = 1_000_000  #: 100% a year
MAX_PERIOD_DAYS = 400
MAX_PERIODS = 1_200

# Relative error bound used to trust a float level payment.  The float formula below is a handful
# of correctly-rounded-or-nearly operations (a few ulp, 2**-52 each, independent of n); 2**-40 is
# thousands of times that, and 1e-6 fen covers tiny payments.
_FLOAT_REL_TOL = 2.0 ** -40
_FLOAT_ABS_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class ScheduleBatch:
    """Schedules of n loans over the same number of periods; every array is int64 fen.

    `principal`, `interest` and `payment` have shape (n, periods); `level` has shape (n,) and is
    the level payment (equal instalment) or level principal part (equal principal).
    """

    principal: Int64Array
    interest: Int64Array
    payment: Int64Array
    level: Int64Array

    @property
    def n_loans(self) -> int:
        return int(self.principal.shape[0])

    @property
    def periods(self) -> int:
        return int(self.principal.shape[1])

    @property
    def total_interest(self) -> Int64Array:
        return self.interest.sum(axis=1)


def level_payments(principal: ArrayLike, annual_rate_micros: ArrayLike, periods: int,
                   periods_per_year: int = 12,
                   rounding: Rounding = Rounding.HALF_UP) -> Int64Array:
    """The level payment of each loan, equal to `level_payment` for every element.

    Float path: pay = B.r / (1 - (1+r)^-n) via log1p/expm1, which never overflows and keeps a
    relative error of a few ulp for any n.  Payments within the error bound of a rounding boundary
    (a half fen for the half rules, a whole fen for up/down) are redone exactly, a few per million.
    """
    balance = as_int64(principal, "principal")
    rate = as_int64(annual_rate_micros, "annual_rate_micros")
    check_range(balance, -MAX_PRINCIPAL, MAX_PRINCIPAL, "principal (fen)")
    check_range(rate, 0, MAX_RATE_MICROS, "annual_rate_micros")
    if not 1 <= periods <= MAX_PERIODS or not 1 <= periods_per_year <= 366:
        raise ValueError("need 1 <= periods <= MAX_PERIODS and 1 <= periods_per_year <= 366")
    rounding = Rounding(rounding)
    out = np.empty(balance.shape, dtype=np.int64)
    zero = rate == 0
    out[zero] = div_round(balance[zero], periods, rounding)
    live = ~zero
    b = balance[live].astype(np.float64)  # exact: |b| <= 1e10 < 2**53
    r = rate[live] / float(periods_per_year * RATE_SCALE)
    pay = b * r / -np.expm1(-periods * np.log1p(r))
    whole = np.floor(pay)
    frac = pay - whole  # exact (Sterbenz) for the magnitudes allowed here
    tol = _FLOAT_ABS_TOL + np.abs(pay) * _FLOAT_REL_TOL
    if rounding in (Rounding.HALF_UP, Rounding.HALF_EVEN):
        rounded = whole + (frac > 0.5)
        doubtful = np.abs(frac - 0.5) <= tol
    else:
        rounded = whole + ((frac > 0) if rounding is Rounding.UP else 0)
        doubtful = np.minimum(frac, 1.0 - frac) <= tol
    doubtful |= ~np.isfinite(pay)
    result = np.where(np.isfinite(rounded), rounded, 0).astype(np.int64)
    live_index = np.flatnonzero(live)
    for i in np.flatnonzero(doubtful):  # a handful of loans per million, by construction
        j = int(live_index[i])
        result[i] = level_payment(int(balance[j]), int(rate[j]), periods_per_year, periods,
                                  rounding)
    out[live] = result
    return out


def equal_instalment_batch(principal: ArrayLike, annual_rate_micros: ArrayLike, periods: int,
                           periods_per_year: int = 12, days: ArrayLike | None = None,
                           basis: int = 360, rounding: Rounding = Rounding.HALF_UP,
                           grace: int = 0) -> ScheduleBatch:
    """等额本息 schedules: level payments after `grace` interest-only periods."""
    balance, rate, days_, rounding = _validate(principal, annual_rate_micros, periods,
                                               periods_per_year, days, basis, rounding, grace)
    level = level_payments(balance, rate, periods - grace, periods_per_year, rounding)
    out = _empty(balance.shape[0], periods, level)
    for rows in _chunks(balance.shape[0]):
        b, m = balance[rows], rate[rows]
        parts = np.zeros((periods, b.shape[0]), dtype=np.int64)
        remaining = b.copy()
        for k in range(grace, periods - 1):  # the last part is the residue
            nominal = div_round(remaining * m, periods_per_year * RATE_SCALE, rounding)
            part = np.minimum(np.maximum(level[rows] - nominal, 0), remaining)
            parts[k] = part
            remaining -= part
        parts[periods - 1] = remaining
        _fill(out, rows, b, m, parts, days_, basis, rounding)
    return out


def equal_principal_batch(principal: ArrayLike, annual_rate_micros: ArrayLike, periods: int,
                          periods_per_year: int = 12, days: ArrayLike | None = None,
                          basis: int = 360, rounding: Rounding = Rounding.HALF_UP,
                          grace: int = 0) -> ScheduleBatch:
    """等额本金 schedules: level principal parts after `grace` interest-only periods."""
    balance, rate, days_, rounding = _validate(principal, annual_rate_micros, periods,
                                               periods_per_year, days, basis, rounding, grace)
    amortising = periods - grace
    per = div_round(balance, amortising, rounding)
    per = np.where(per * (amortising - 1) > balance, balance // amortising, per)
    out = _empty(balance.shape[0], periods, per)
    for rows in _chunks(balance.shape[0]):
        parts = np.zeros((periods, rows.stop - rows.start), dtype=np.int64)
        parts[grace:periods - 1] = per[rows]
        parts[periods - 1] = balance[rows] - per[rows] * (amortising - 1)
        _fill(out, rows, balance[rows], rate[rows], parts, days_, basis, rounding)
    return out


# Loans are processed in blocks so the (periods x block) temporaries stay in cache.
_BLOCK = 16_384


def _chunks(n: int) -> list[slice]:
    return [slice(i, min(i + _BLOCK, n)) for i in range(0, n, _BLOCK)]


def _empty(n: int, periods: int, level: Int64Array) -> ScheduleBatch:
    return ScheduleBatch(*(np.empty((n, periods), dtype=np.int64) for _ in range(3)), level)


def _fill(out: ScheduleBatch, rows: slice, balance: Int64Array, rate: Int64Array,
          parts: Int64Array, days: Int64Array, basis: int, rounding: Rounding) -> None:
    """Interest on the balance outstanding over each period; `parts` is (periods, block)."""
    outstanding = balance - np.cumsum(parts, axis=0) + parts  # balance at each period start
    interest = period_interest(outstanding, rate, days[rows].T, basis, rounding)
    out.principal[rows] = parts.T
    out.interest[rows] = interest.T
    np.add(out.principal[rows], out.interest[rows], out=out.payment[rows])


def _validate(principal: ArrayLike, annual_rate_micros: ArrayLike, periods: int,
              periods_per_year: int, days: ArrayLike | None, basis: int, rounding: Rounding,
              grace: int) -> tuple[Int64Array, Int64Array, Int64Array, Rounding]:
    """Shapes and ranges; the ranges are what make int64 arithmetic exact (see the limits)."""
    balance = as_int64(principal, "principal")
    rate = as_int64(annual_rate_micros, "annual_rate_micros")
    if balance.ndim != 1 or rate.shape != balance.shape:
        raise ValueError("principal and annual_rate_micros must be 1-d arrays of the same length")
    check_range(balance, 1, MAX_PRINCIPAL, "principal (fen)")
    check_range(rate, 0, MAX_RATE_MICROS, "annual_rate_micros")
    for name, value, low, high in (("periods", periods, 1, MAX_PERIODS),
                                   ("periods_per_year", periods_per_year, 1, 366),
                                   ("basis", basis, 1, 366), ("grace", grace, 0, periods - 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or not low <= value <= high:
            raise ValueError(f"{name} must be an int in {low}..{high}, got {value!r}")
    if days is None:
        if basis % periods_per_year:
            raise ValueError("pass `days`: the period length is not a whole number of days")
        days_ = np.full((balance.shape[0], periods), basis // periods_per_year, dtype=np.int64)
    else:
        days_ = as_int64(days, "days")
        if days_.shape == (periods,):
            days_ = np.broadcast_to(days_, (balance.shape[0], periods))
        elif days_.shape != (balance.shape[0], periods):
            raise ValueError(f"days must have shape ({periods},) "
                             f"or ({balance.shape[0]}, {periods})")
    check_range(days_, 0, MAX_PERIOD_DAYS, "days")
    return balance, rate, days_, Rounding(rounding)
