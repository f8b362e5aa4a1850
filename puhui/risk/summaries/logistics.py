"""The summary of a business's waybills: per month of `shipped_on`, what `_reduce.logistics`
totals (waybills, weight, fees), so a refresh need not reduce the whole merged history.

Body:
- ``months``: int64, the sorted month indexes (`panel.month_index`) holding waybills;
- ``monthly``: int64, the flat `(5, len(months))` table (`_month_table`) of, per month, the
  waybills, the total weight and fee, and the largest weight and fee (for the overflow rule);
- ``first_day``: int64, the earliest `shipped_on` ordinal (empty: no waybills).

Every column is a total by month of the shipping day, so nothing depends on as_of but which
15 months the panel reads.  `build` and `extend` give None only when a weight or fee does not
fit int64 (the reducer refuses such data for every as_of); `panel` gives None exactly where
the reducer's overflow rule refuses the totals of its 15 months.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk import _columns as c
from puhui.risk._reduce import Reduced
from puhui.risk.data.payload import SourceData
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import HISTORY_MONTHS, ROWS
from puhui.risk.stacked import Stacked
from puhui.risk.summaries import _month_table as t

Body = dict[str, np.ndarray]
SCOPE = DataScope.LOGISTICS
_FIELDS = 5  # waybills, weight, fee, largest weight, largest fee


def _read(source: SourceData) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(shipping days, weights, fees); None if a weight or fee is not an int64."""
    try:
        weight, fee = source.ints("weight_g"), source.ints("fee_fen")
    except RiskDataError:
        return None
    return source.days("shipped_on"), weight, fee


def _add(table: np.ndarray, at: np.ndarray, weight: np.ndarray, fee: np.ndarray) -> None:
    values = np.empty((_FIELDS, len(at)), np.int64)
    values[0] = 1
    values[1] = values[3] = weight
    values[2] = values[4] = fee
    t.add(table, at, values, 3)


def build(source: SourceData) -> Body | None:
    """The summary of all of `source`'s waybills (as_of-free)."""
    if not source.record_count:
        return {"months": t.NO_MONTHS, "monthly": t.NO_MONTHS, "first_day": t.NO_MONTHS}
    read = _read(source)
    if read is None:
        return None
    day, weight, fee = read
    table, span, at = t.dense(_FIELDS, t.months_of(day))
    _add(table, at, weight, fee)
    months, table = t.compact(table, span, table[0] > 0)
    return {"months": months, "monthly": table.ravel(),
            "first_day": t.earliest(t.NO_MONTHS, day)}


def extend(body: Body, added: SourceData) -> Body | None:
    """`body`'s waybills followed by `added`'s (new keys): totals simply add up."""
    if not added.record_count:
        return dict(body)
    read = _read(added)
    if read is None:
        return None
    day, weight, fee = read
    months, table, at = t.widened(body["months"], body["monthly"], _FIELDS, t.months_of(day))
    _add(table, at, weight, fee)
    return {"months": months, "monthly": table.ravel(),
            "first_day": t.earliest(body["first_day"], day)}


def panel(body: Body, as_of: date, top: int) -> Reduced | None:
    """`_reduce.logistics` on the summarised waybills; None where it would refuse a total
    (a weight or fee total of the 15 months that could overflow int64)."""
    rows, w = t.window(body["months"], body["monthly"], _FIELDS, top)
    out = np.zeros((3, ROWS), np.int64)
    if len(rows):
        if not (t.fits(w[0], w[3]) and t.fits(w[0], w[4])):
            return None
        out[:, rows] = w[:3]
    return c.monthly(SCOPE, waybills=out[0], shipped_weight_g=out[1],
                     logistics_fee_fen=out[2]), t.first_month(body["first_day"], as_of)


def panel_many(bodies: Sequence[Body], added: Sequence[SourceData], as_of: date, top: int
               ) -> Stacked:
    """`panel` of each `extend(bodies[b], added[b])` (of the body alone when the tail is
    empty), stacked (`stacked.stack`): equal to it, refusals included, with NumPy calls whose
    number does not grow with the number of businesses.  Why no extended body is made: the
    panel reads the 15 months before `top` of the stored table plus the tail's waybills, so
    the stored windows are gathered at once and the tails' waybills added into them."""
    count = len(bodies)
    out = Stacked.empty(SCOPE, count)
    if not count:
        return out
    ok = out.ok
    who, days, weights, fees = [], [], [], []
    for b, source in enumerate(added):
        if not source.record_count:
            continue
        read = _read(source)
        if read is None:
            ok[b] = False  # `extend` refuses a weight or fee beyond int64
            continue
        who.append(b)
        days.append(read[0])
        weights.append(read[1])
        fees.append(read[2])
    win = t.windows([body["months"] for body in bodies], [body["monthly"] for body in bodies],
                    _FIELDS, top)
    day = np.concatenate(days) if who else t.NO_MONTHS
    owner = np.repeat(np.array(who, np.int64), np.fromiter(map(len, days), np.int64, len(who)))
    if who:
        month = t.months_of(day)
        lo = top - HISTORY_MONTHS
        inside = np.flatnonzero((month >= lo) & (month < top))
        cell = owner[inside] * HISTORY_MONTHS + (month[inside] - lo)
        weight, fee = np.concatenate(weights)[inside], np.concatenate(fees)[inside]
        for field, values in ((0, 1), (1, weight), (2, fee)):
            np.add.at(win[field], cell, values)
        np.maximum.at(win[3], cell, weight)
        np.maximum.at(win[4], cell, fee)
    blocks = win.reshape(_FIELDS, count, HISTORY_MONTHS)
    ok &= t.fits_many(blocks[0], blocks[3])
    ok &= t.fits_many(blocks[0], blocks[4])
    for name, field in (("waybills", 0), ("shipped_weight_g", 1), ("logistics_fee_fen", 2)):
        values, valid = out.columns[name]
        values[:, :HISTORY_MONTHS] = blocks[field]
        valid[:, :HISTORY_MONTHS] = ok[:, None]
    out.first_month[:] = t.first_months([body["first_day"] for body in bodies], day, owner,
                                        as_of, top)
    return out


__all__ = ["build", "extend", "panel", "panel_many"]
