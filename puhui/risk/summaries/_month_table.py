"""Monthly tables shared by the sales and logistics summaries: per absolute month, a few totals
and the largest value totalled.

Why a table of fields by month: a summary keeps, per month that has records, the counts and
totals its panel columns need; the panel of any as_of is then a slice of at most 15 months.  The
largest value per month is kept beside each total so the panel can refuse exactly where the
reducer's `_columns.summable` would (largest magnitude times count over the panel's 15 months).
A month's total may wrap when that bound is passed; the panel then never reads it, since every
window holding that month is refused.

A table is a `(fields, months)` int64 array, stored flat in a summary (`ravel`) beside its
sorted month indexes (`panel.month_index`).  Records are added into it (`add`) at their months'
positions: over a dense range of months when building (then the months without records are
dropped), into a copy of the table when extending.  Values
maxed must be non-negative (record validation guarantees it for amounts, weights and fees),
so a field's max is its magnitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from puhui.risk import _columns as c
from puhui.risk.panel import HISTORY_MONTHS
from puhui.risk.stacked import NO_MONTH

_LIMIT = 2 ** 63
NO_MONTHS = np.zeros(0, np.int64)
NO_MONTHS.flags.writeable = False
_DENSE = 1200  # months: a wider span is tallied by its distinct months, not densely
_FIELD = np.arange(16)[:, None]
_MAX = np.iinfo(np.int64).max


def months_of(days: np.ndarray) -> np.ndarray:
    """`_columns.months` of proleptic ordinals; for many days, one binary search over the
    first days of their few months (NumPy's datetime casts cost more than the search)."""
    if len(days) < 32:
        return c.months(days)
    lo, hi = c.months(np.array((days.min(), days.max())))
    if hi - lo > _DENSE:
        return c.months(days)
    return np.searchsorted(c.month_firsts(np.arange(lo, hi + 1)), days, side="right") + (lo - 1)


def dense(fields: int, months: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A zero table over the range of `months` (non-empty), its months, and the positions of
    `months` in it (a range too wide: over the distinct months instead)."""
    lo, hi = int(months.min()), int(months.max())
    if hi - lo <= _DENSE:
        return np.zeros((fields, hi - lo + 1), np.int64), np.arange(lo, hi + 1), months - lo
    span = np.unique(months)
    return np.zeros((fields, len(span)), np.int64), span, np.searchsorted(span, months)


def compact(table: np.ndarray, span: np.ndarray, present: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Only the months `present` says have records."""
    if present.all():
        return span, table
    keep = np.flatnonzero(present)
    return span[keep], table[:, keep]


def widened(months: np.ndarray, flat: np.ndarray, fields: int, more: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A copy of the stored table, with columns for any of the months `more` (non-empty) it
    lacks; the months, the table and the positions of `more` in it."""
    k = len(months)
    at = np.searchsorted(months, more)
    if k and (months.take(at, mode="clip") == more).all():
        return months, flat.reshape(fields, k).copy(), at
    union = np.union1d(months, more)
    table = np.zeros((fields, len(union)), np.int64)
    table[:, np.searchsorted(union, months)] = flat.reshape(fields, k)
    return union, table, np.searchsorted(union, more)


def add(table: np.ndarray, at: np.ndarray, values: np.ndarray, sums: int) -> None:
    """Add records into `table` (contiguous): record i's `values[:, i]` at column `at[i]`, its
    first `sums` fields added, the rest maxed.  Two `ufunc.at` calls over the flat table,
    whatever the number of fields: on a delta of a few records each NumPy call counts."""
    fields, k = table.shape
    flat = table.reshape(-1)
    assert flat.base is table, "a table is added into in place (contiguous)"
    where = (_FIELD[:fields] * k + at).ravel()
    cut = sums * len(at)
    np.add.at(flat, where[:cut], values[:sums].ravel())
    np.maximum.at(flat, where[cut:], values[sums:].ravel())


def window(months: np.ndarray, flat: np.ndarray, fields: int, top: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """The panel rows (0..14) of the complete months before month `top`, and their columns."""
    lo = top - HISTORY_MONTHS
    a, b = np.searchsorted(months, (lo, top))
    return months[a:b] - lo, flat.reshape(fields, len(months))[:, a:b]


def fits(counts: np.ndarray, largest: np.ndarray) -> bool:
    """Whether `_columns.summable` accepts the values counted by month in `counts` whose
    largest magnitude by month is `largest` (read as Python ints: exact, and cheaper than
    NumPy's reductions over a few months)."""
    return max(largest.tolist(), default=0) * sum(counts.tolist()) < _LIMIT


def first_month(first_day: np.ndarray, as_of: date) -> list[int]:
    """`_columns.first_month` from the earliest day kept (an empty array: no records)."""
    if not len(first_day):
        return []
    d = date.fromordinal(int(first_day[0]))
    return [d.year * 12 + d.month - 1] if d <= as_of else []


def earliest(first_day: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The earliest day of both, as a summary keeps it (empty when there is none)."""
    if not len(days):
        return first_day
    low = int(days.min())
    return np.array([min(low, int(first_day[0])) if len(first_day) else low], np.int64)


# -- many businesses at once (the chunk-wide panels) -------------------------------------------------
def windows(months: Sequence[np.ndarray], flats: Sequence[np.ndarray], fields: int, top: int
            ) -> np.ndarray:
    """`window` of many stored tables at once: a `(fields, B * HISTORY_MONTHS)` block, business
    b's panel row r at column `b * HISTORY_MONTHS + r` (zero where it has no month).  Why one
    gather over the tables laid end to end: its NumPy calls do not grow with B."""
    count = len(months)
    out = np.zeros((fields, count * HISTORY_MONTHS), np.int64)
    if not count:
        return out
    k = np.fromiter(map(len, months), np.int64, count)
    every = np.concatenate(months)
    lo = top - HISTORY_MONTHS
    at = np.flatnonzero((every >= lo) & (every < top))
    if not len(at):
        return out
    start = np.cumsum(k) - k  # each table's first month among all of them
    owner = np.searchsorted(start, at, side="right") - 1
    # field f of a table's month j lies at fields * start + f * k + j in the tables end to end
    base = (fields - 1) * start[owner] + at
    out[:, owner * HISTORY_MONTHS + (every[at] - lo)] = \
        np.concatenate(flats)[base + _FIELD[:fields] * k[owner]]
    return out


def fits_many(counts: np.ndarray, largest: np.ndarray) -> np.ndarray:
    """`fits` of each business's row of `(B, HISTORY_MONTHS)` blocks (months without values
    zero): largest x count < 2**63 as largest <= (2**63 - 1) // count, exact in int64."""
    n = counts.sum(axis=1)
    return (n == 0) | (largest.max(axis=1, initial=0) <= _MAX // np.maximum(n, 1))


def first_months(first_days: Sequence[np.ndarray], more: np.ndarray, owner: np.ndarray,
                 as_of: date, top: int) -> np.ndarray:
    """Each business's `first_month` of its summary's `first_day` and the days `more` added
    (`owner`: each day's business), as `stacked.stack` keeps it (`NO_MONTH`: none by top)."""
    count = len(first_days)
    day = np.full(count, _MAX, np.int64)
    if count:
        has = np.fromiter(map(len, first_days), np.int64, count) > 0
        if has.any():
            day[has] = np.concatenate(first_days)
    np.minimum.at(day, owner, more)
    out = np.full(count, NO_MONTH, np.int64)
    seen = np.flatnonzero(day <= as_of.toordinal())
    month = c.months(day[seen])
    keep = month <= top
    out[seen[keep]] = month[keep]
    return out
