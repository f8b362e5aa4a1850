"""Monthly tables shared by the sales and logistics summaries: per absolute month, a few totals
and the largest value totalled.

Why a table of fields by month: a summary keeps, per month that has records, the counts and
totals its panel columns need; the panel of any as_of is then a slice of at most 15 months.  The
largest value per month is kept beside each total so the panel can refuse exactly where the
reducer's `_columns.summable` would (largest magnitude times count over the panel's 15 months).
A month's total may wrap when that bound is passed; the panel then never reads it, since every
window holding that month is refused.

A table is a `(fields, months)` int64 array whose first `sums` fields are added and the rest
maxed when records are gathered; in a summary it is stored flat (`ravel`), with its sorted month
indexes (`panel.month_index`) beside it.  Values gathered must be non-negative (record
validation guarantees it for amounts, weights and fees), so a field's max is its magnitude.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from puhui.risk.panel import HISTORY_MONTHS

_LIMIT = 2 ** 63
NO_MONTHS = np.zeros(0, np.int64)


def tally(month: np.ndarray, values: np.ndarray, sums: int) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct months and, per month, `values`' columns (one per record) added
    (the first `sums` fields) or maxed (the rest)."""
    fields = len(values)
    if not len(month):
        return NO_MONTHS, np.zeros((fields, 0), np.int64)
    if len(month) > 1 and (month[1:] < month[:-1]).any():
        order = np.argsort(month, kind="stable")
        month, values = month[order], values[:, order]
    starts = np.flatnonzero(np.concatenate(([True], month[1:] != month[:-1])))
    out = np.empty((fields, len(starts)), np.int64)
    out[:sums] = np.add.reduceat(values[:sums], starts, axis=1)
    out[sums:] = np.maximum.reduceat(values[sums:], starts, axis=1)
    return month[starts], out


def combine(months: np.ndarray, table: np.ndarray, more_months: np.ndarray,
            more: np.ndarray, sums: int) -> tuple[np.ndarray, np.ndarray]:
    """Two tallies as one (new arrays: neither given is changed); `more_months` distinct."""
    if not len(more_months):
        return months, table
    at = np.searchsorted(months, more_months)
    if at[-1] < len(months) and np.array_equal(months[at], more_months):
        out = table.copy()
    else:  # a month not tallied yet
        union = np.union1d(months, more_months)
        out = np.zeros((len(table), len(union)), np.int64)
        out[:, np.searchsorted(union, months)] = table
        months, at = union, np.searchsorted(union, more_months)
    out[:sums, at] += more[:sums]
    out[sums:, at] = np.maximum(out[sums:, at], more[sums:])
    return months, out


def window(months: np.ndarray, table: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """The panel rows (0..14) of the complete months before month `top`, and their columns."""
    lo = top - HISTORY_MONTHS
    a, b = np.searchsorted(months, (lo, top))
    return months[a:b] - lo, table[:, a:b]


def fits(count: int, largest: int) -> bool:
    """Whether `_columns.summable` accepts `count` values whose largest magnitude is
    `largest`."""
    return largest * count < _LIMIT


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
    low = days.min()
    return np.array([min(low, first_day[0]) if len(first_day) else low], np.int64)
