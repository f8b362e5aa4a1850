"""Building one business's panel columns from record fields with NumPy (see `_reduce`).

A column is (values, validity) of `ROWS` entries, oldest month first, the as_of row last: int64
values and a boolean validity (None when every row is set), the form the live feature
evaluation (`puhui.risk.expr_eval`) reads directly.

Why these helpers: on the live path the cost is per record and per NumPy call.  Each record
field is read once into an array; a day is placed in its panel row by one binary search over
the months' first days (`rows`), where row -1 gathers every earlier month and rows `ROWS - 1`
and beyond the month of as_of and later, so monthly totals are one exact int64 sum over all
records (`by_row`) with no filtering: a record dated after as_of can only fall in those last
rows, which are not totals.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import HISTORY_MONTHS, MONTHLY, ROWS, Column, month_of

Reduced = tuple[dict[str, Column], list[int]]
_LIMIT = 2 ** 63


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


#: Validity of a monthly total (the complete months), of a value measured at as_of, of nothing.
COMPLETE = _readonly(np.arange(ROWS) < HISTORY_MONTHS)
AT_AS_OF = _readonly(~COMPLETE)
NOWHERE = _readonly(np.zeros(ROWS, bool))


@lru_cache(maxsize=64)
def month_starts(top: int) -> np.ndarray:
    """Ordinals of the first days of the panel's months and of the month after as_of's."""
    first = top - HISTORY_MONTHS
    return _readonly(np.array([month_of(i).toordinal() for i in range(first, top + 2)]))


def days(dates: Iterable[date], n: int) -> np.ndarray:
    """Proleptic ordinals of `n` dates (of a datetime, its own date)."""
    return np.fromiter(map(date.toordinal, dates), np.int64, n)


def rows(ordinals: np.ndarray, top: int) -> np.ndarray:
    """Each day's panel row: -1 before the panel, `HISTORY_MONTHS` in as_of's month, one more
    after it."""
    return np.searchsorted(month_starts(top), ordinals, side="right") - 1


def complete(row_indices: np.ndarray) -> np.ndarray:
    """Which rows are complete months of the panel."""
    return (row_indices >= 0) & (row_indices < HISTORY_MONTHS)


def by_row(row_indices: np.ndarray, weights: np.ndarray | int = 1) -> np.ndarray:
    """Counts (or exact totals of `weights`) per complete month; 0 on the as_of row."""
    out = np.zeros(ROWS + 2, np.int64)  # slot 0: before the panel; the last two: as_of and after
    np.add.at(out, row_indices + 1, weights)
    out[HISTORY_MONTHS + 1:] = 0
    return out[1:ROWS + 1]


def money(values: Iterable[int], n: int, what: str) -> np.ndarray:
    """`n` amounts as int64, refused when a total of them could overflow int64."""
    try:
        out = np.fromiter(values, np.int64, n)
    except OverflowError:
        out = None
    if out is None or (n and max(int(out.max()), -int(out.min())) * n >= _LIMIT):
        raise RiskDataError(f"{what} too large to total exactly in int64")
    return out


def ints(values: list[int]) -> np.ndarray:
    """Totals kept as Python ints (the small sources) as int64, refused if they do not fit."""
    try:
        return np.array(values, np.int64)
    except OverflowError:
        raise RiskDataError("amounts too large to total exactly in int64") from None


def codes(keys: Sequence[str]) -> np.ndarray:
    """The same integer for equal keys (customers, devices, counterparties): the index of each
    key's last occurrence, found by C-level dict building rather than a Python loop."""
    last = dict(zip(keys, range(len(keys))))
    return np.fromiter(map(last.__getitem__, keys), np.int64, len(keys))


def monthly(scope: DataScope, **values: np.ndarray) -> dict[str, Column]:
    """The scope's monthly columns (zero where not given), valid on the complete months."""
    return {c: (values.get(c, np.zeros(ROWS, np.int64)), COMPLETE) for c in MONTHLY[scope]}


def first_month(ordinals: np.ndarray, as_of: date) -> list[int]:
    """The month index of the earliest day, if it is not after as_of (the reducers' activity)."""
    if not len(ordinals):
        return []
    first = date.fromordinal(int(ordinals.min()))
    return [first.year * 12 + first.month - 1] if first <= as_of else []
