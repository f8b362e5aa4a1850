"""The summary of a business's waybills: per month of `shipped_on`, what `_reduce.logistics`
totals (waybills, weight, fees), so a refresh need not reduce the whole merged history.

Body:
- ``months``: int64, the sorted month indexes (`panel.month_index`) holding waybills;
- ``monthly``: int64, the flat `(5, len(months))` table (`_month_table`) of, per month, the
  waybills, the total weight and fee, then the largest weight and fee (for the overflow rule);
- ``first_day``: int64, the earliest `shipped_on` ordinal (empty: no waybills).

Every column is a total by month of the shipping day, so nothing depends on as_of but which
15 months the panel reads.  `build` and `extend` give None only when a weight or fee does not
fit int64 (the reducer refuses such data for every as_of); `panel` gives None exactly where
the reducer's overflow rule refuses the totals of its 15 months.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk import _columns as c
from puhui.risk._reduce import Reduced
from puhui.risk.data.payload import SourceData
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import ROWS
from puhui.risk.summaries import _month_table as t

Body = dict[str, np.ndarray]
SCOPE = DataScope.LOGISTICS
_FIELDS, _SUMS = 5, 3  # waybills, weight, fee | largest weight, largest fee


def _tally(source: SourceData) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(months, table, shipping days) of the source's waybills; None if a value is not int64."""
    try:
        weight, fee = source.ints("weight_g"), source.ints("fee_fen")
    except RiskDataError:
        return None
    day = source.days("shipped_on")
    values = np.empty((_FIELDS, len(day)), np.int64)
    values[0] = 1
    values[1] = values[3] = weight
    values[2] = values[4] = fee
    months, table = t.tally(c.months(day), values, _SUMS)
    return months, table, day


def _body(months: np.ndarray, table: np.ndarray, first_day: np.ndarray) -> Body:
    return {"months": months, "monthly": table.ravel(), "first_day": first_day}


def build(source: SourceData) -> Body | None:
    """The summary of all of `source`'s waybills (as_of-free)."""
    tallied = _tally(source)
    if tallied is None:
        return None
    months, table, day = tallied
    return _body(months, table, t.earliest(np.zeros(0, np.int64), day))


def extend(body: Body, added: SourceData) -> Body | None:
    """`body`'s waybills followed by `added`'s (new keys): totals simply add up."""
    if not added.record_count:
        return dict(body)
    tallied = _tally(added)
    if tallied is None:
        return None
    more_months, more, day = tallied
    months = body["months"]
    table = body["monthly"].reshape(_FIELDS, len(months))
    months, table = t.combine(months, table, more_months, more, _SUMS)
    return _body(months, table, t.earliest(body["first_day"], day))


def panel(body: Body, as_of: date, top: int) -> Reduced | None:
    """`_reduce.logistics` on the summarised waybills; None where it would refuse a total
    (a weight or fee total of the 15 months that could overflow int64)."""
    months = body["months"]
    rows, w = t.window(months, body["monthly"].reshape(_FIELDS, len(months)), top)
    out = np.zeros((_SUMS, ROWS), np.int64)
    if len(rows):
        n = int(w[0].sum())
        if not (t.fits(n, int(w[3].max())) and t.fits(n, int(w[4].max()))):
            return None
        out[:, rows] = w[:_SUMS]
    return c.monthly(SCOPE, waybills=out[0], shipped_weight_g=out[1],
                     logistics_fee_fen=out[2]), t.first_month(body["first_day"], as_of)


__all__ = ["build", "extend", "panel"]
