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

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import HISTORY_MONTHS, MONTHLY, ROWS, Column, month_of

Reduced = tuple[dict[str, Column], list[int]]
_LIMIT = 2 ** 63
_EPOCH_DAY = date(1970, 1, 1).toordinal()


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


def summable(values: np.ndarray, what: str, where: np.ndarray | None = None) -> np.ndarray:
    """`values` (int64), refused when a total of them (of those `where` says, if given) could
    overflow int64: NumPy's sums wrap silently, so every total is bounded first by the largest
    magnitude times the count."""
    summed = values if where is None else values[where]
    n = len(summed)
    if n and max(int(summed.max()), -int(summed.min())) * n >= _LIMIT:
        raise RiskDataError(f"{what} too large to total exactly in int64")
    return values


def months(ordinals: np.ndarray) -> np.ndarray:
    """The month index (`panel.month_index`) of each day given as a proleptic ordinal."""
    return (ordinals - _EPOCH_DAY).astype("datetime64[D]").astype("datetime64[M]") \
        .astype(np.int64) + 1970 * 12


def month_firsts(month_indices: np.ndarray) -> np.ndarray:
    """The proleptic ordinal of the first day of each month index."""
    return (month_indices - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]") \
        .astype(np.int64) + _EPOCH_DAY


def ints(values: list[int]) -> np.ndarray:
    """Values kept as Python ints (the bureau's) as int64, refused if they do not fit."""
    try:
        return np.array(values, np.int64)
    except OverflowError:
        raise RiskDataError("amounts too large to total exactly in int64") from None


def monthly(scope: DataScope, **values: np.ndarray) -> dict[str, Column]:
    """The scope's monthly columns (zero where not given), valid on the complete months."""
    return {c: (values.get(c, np.zeros(ROWS, np.int64)), COMPLETE) for c in MONTHLY[scope]}


def first_month(ordinals: np.ndarray, as_of: date) -> list[int]:
    """The month index of the earliest day, if it is not after as_of (the reducers' activity)."""
    if not len(ordinals):
        return []
    first = date.fromordinal(int(ordinals.min()))
    return [first.year * 12 + first.month - 1] if first <= as_of else []
