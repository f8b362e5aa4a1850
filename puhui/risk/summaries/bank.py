"""The bank statement's summary: what `_reduce.bank` needs of the lines, per absolute month.

Why these fields: every panel column of the bank is a function of whole months -- a complete
month's lines are all booked on or before any as_of whose panel holds that month, and lines after
as_of fall in as_of's month or later, which no column reads -- so per month (only months with
lines, `months`, sorted) the summary keeps the inflow, the outflow, the round trips, the lowest
balance after a line and the closing balance (after the month's last line in booking order) with
the day it was booked on.  A quiet month of a panel carries the closing balance of the latest
earlier month with lines, however far before the panel (the carried balance into row 0).

Round trips need a little cross-record state, because an outflow booked later can turn earlier
inflows of its month into round trips: per (month, counterparty) pair (`pair_key`, sorted), the
inflow from that counterparty and whether the business paid it in that month.

Body (every array 1-D):
- ``head`` int64 [record count, largest |amount|, largest |balance|, earliest booked_on ordinal
  (0 when there is no line)]: the reducer's overflow guard (`_columns.summable` over ALL lines:
  largest magnitude times the count) and its activity month;
- per month with lines: ``months`` (month indexes, sorted), ``inflow``, ``outflow``, ``trip``,
  ``low``, ``close``, ``close_day`` (int64);
- per (month, counterparty): ``pair_key`` (uint64, sorted; the counterparty's digest mixed with
  the month: two pairs share one as unlikely as two texts share a digest), ``pair_month``
  (int64), ``pair_in`` (int64), ``pair_paid`` (bool).

When None: `build` and `extend` where the reducer raises `RiskDataError` (an amount or balance
beyond int64, or totals that could overflow it: the guard depends on the count of all lines, so
on the merged count in `extend`).  Otherwise extending is exact: a line added on the day of its
month's last line comes after it (added later), one added on an earlier day goes before it and
leaves the closing balance alone, and the lowest balance and the round trips do not depend on
order.  `panel` is never None.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk import _columns as c
from puhui.risk._reduce import Reduced
from puhui.risk.data.payload import SourceData
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import HISTORY_MONTHS, ROWS, month_index
from puhui.risk.summaries._digest import text_digests

Body = dict[str, np.ndarray]
_LIMIT = 2 ** 63
_MIX = np.uint64(0x9E3779B97F4A7C15)
_PANEL = np.arange(HISTORY_MONTHS)
_MONTHLY = ("inflow", "outflow", "trip", "low", "close", "close_day")
_PAIRS = ("pair_key", "pair_month", "pair_in", "pair_paid")


# -- building --------------------------------------------------------------------------------------
def _peak(values: np.ndarray) -> int:
    return max(int(values.max()), -int(values.min())) if len(values) else 0


def _lines(source: SourceData) -> tuple | None:
    """(days, amounts, balances, counterparty digests, amount peak, balance peak), None where
    the reducer would refuse the values themselves."""
    try:
        amount = source.ints("amount_fen")
        balance = source.ints("balance_after_fen")
    except RiskDataError:
        return None
    return (source.days("booked_on"), amount, balance,
            text_digests(source.typed("counterparty_hash")), _peak(amount), _peak(balance))


def _pair_keys(party: np.ndarray, month: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return party ^ (month.astype(np.uint64) * _MIX)


def _summarise(day: np.ndarray, amount: np.ndarray, balance: np.ndarray, party: np.ndarray,
               head: list[int]) -> Body:
    """The body of these lines (amounts and balances already within the guard)."""
    n = len(day)
    body: Body = {"head": np.array(head, np.int64)}
    if not n:
        for name in ("months",) + _MONTHLY + _PAIRS:
            body[name] = np.zeros(0, np.uint64 if name == "pair_key" else
                                  bool if name == "pair_paid" else np.int64)
        return body
    order = np.argsort(day, kind="stable")  # booking order, ties as listed
    d, a, b, p = day[order], amount[order], balance[order], party[order]
    month = c.months(d)
    starts = np.flatnonzero(np.concatenate(([True], month[1:] != month[:-1])))
    ends = np.append(starts[1:], n) - 1
    months = month[starts]
    incoming = np.where(a > 0, a, 0)
    body.update(months=months, inflow=np.add.reduceat(incoming, starts),
                outflow=np.add.reduceat(np.where(a < 0, -a, 0), starts),
                low=np.minimum.reduceat(b, starts), close=b[ends], close_day=d[ends])
    key = _pair_keys(p, month)
    by = np.argsort(key, kind="stable")
    k = key[by]
    first = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    pair_in = np.add.reduceat(incoming[by], first)
    pair_paid = np.logical_or.reduceat(a[by] < 0, first)
    pair_month = month[by][first]
    trip = np.zeros(len(months), np.int64)
    np.add.at(trip, np.searchsorted(months, pair_month[pair_paid]), pair_in[pair_paid])
    body.update(trip=trip, pair_key=k[first], pair_month=pair_month, pair_in=pair_in,
                pair_paid=pair_paid)
    return body


def build(source: SourceData) -> Body | None:
    """The summary of all of `source`'s lines (independent of any as_of)."""
    lines = _lines(source)
    if lines is None:
        return None
    day, amount, balance, party, a_peak, b_peak = lines
    n = len(day)
    if n and max(a_peak, b_peak) * n >= _LIMIT:
        return None
    first = int(day.min()) if n else 0
    return _summarise(day, amount, balance, party, [n, a_peak, b_peak, first])


# -- extending -------------------------------------------------------------------------------------
def _upsert(keys: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Where the sorted distinct `new` keys go among the sorted distinct `keys`: which of them
    are missing, each new key's position among the merged keys, and which merged positions
    hold the old keys (None when none is missing: the positions are the old ones)."""
    pos = np.searchsorted(keys, new)
    if not len(keys):
        missing = np.ones(len(new), bool)
    else:
        missing = keys[np.minimum(pos, len(keys) - 1)] != new
        if not missing.any():
            return missing, pos, None
    at = pos + np.cumsum(missing) - missing
    old = np.ones(len(keys) + int(np.count_nonzero(missing)), bool)
    old[at[missing]] = False
    return missing, at, old


def _merged(values: np.ndarray, old: np.ndarray | None, fill: np.ndarray | int,
            copy: bool = True) -> np.ndarray:
    """`values` spread to the merged positions `old` (`_upsert`), `fill` in the new ones; a
    copy (or `values` itself, not to be changed, when nothing is inserted and not `copy`)."""
    if old is None:
        return values.copy() if copy else values
    out = np.empty(len(old), values.dtype)
    out[old] = values
    out[~old] = fill
    return out


def extend(body: Body, added: SourceData) -> Body | None:
    """`body`'s lines followed by `added`'s (booked after them on a tie), or None where the
    reducer would refuse the merged lines (see the module doc).  `body` is not changed."""
    if not added.record_count:
        return dict(body)
    lines = _lines(added)
    if lines is None:
        return None
    day, amount, balance, party, a_peak, b_peak = lines
    n0, a0, b0, first0 = body["head"].tolist()
    n = n0 + len(day)
    a_peak, b_peak = max(a0, a_peak), max(b0, b_peak)
    if max(a_peak, b_peak) * n >= _LIMIT:
        return None
    first = int(day.min()) if not n0 else min(first0, int(day.min()))
    out: Body = {"head": np.array([n, a_peak, b_peak, first], np.int64)}
    order = np.argsort(day, kind="stable")  # the new lines in booking order
    day, amount, balance, party = day[order], amount[order], balance[order], party[order]
    month = c.months(day)
    # months: add the new lines' totals, keep the lower low, move the close when the month's
    # last new line is booked on or after its last summarised one (a tie: added later)
    last = np.flatnonzero(np.append(month[1:] != month[:-1], True))  # each month's last line
    missing, _, old = _upsert(body["months"], month[last])
    months = out["months"] = _merged(body["months"], old, month[last][missing], copy=False)
    for name, fill in _FILLS.items():
        out[name] = _merged(body[name], old, fill)
    at = np.searchsorted(months, month)
    incoming = amount > 0
    np.add.at(out["inflow"], at[incoming], amount[incoming])
    np.add.at(out["outflow"], at[~incoming], -amount[~incoming])
    np.minimum.at(out["low"], at, balance)
    at, day, balance = at[last], day[last], balance[last]
    later = day >= out["close_day"][at]
    out["close"][at[later]] = balance[later]
    out["close_day"][at[later]] = day[later]
    # pairs: a pair's round trips are its inflow once it is paid; its month's total changes
    # by the difference
    key, first_line, line_pair = np.unique(_pair_keys(party, month), return_index=True,
                                           return_inverse=True)
    missing, at, old = _upsert(body["pair_key"], key)
    out["pair_key"] = _merged(body["pair_key"], old, key[missing], copy=False)
    pair_month = month[first_line]
    out["pair_month"] = _merged(body["pair_month"], old, pair_month[missing], copy=False)
    pair_in = out["pair_in"] = _merged(body["pair_in"], old, 0)
    paid = out["pair_paid"] = _merged(body["pair_paid"], old, False)
    was = np.where(paid[at], pair_in[at], 0)
    line_pair = at[line_pair.reshape(-1)]
    np.add.at(pair_in, line_pair[incoming], amount[incoming])
    paid[line_pair[~incoming]] = True
    np.add.at(out["trip"], np.searchsorted(months, pair_month),
              np.where(paid[at], pair_in[at], 0) - was)
    return out


#: What a month new to the summary starts from.
_FILLS = {"inflow": 0, "outflow": 0, "trip": 0, "low": np.iinfo(np.int64).max, "close": 0,
          "close_day": -1}


# -- the panel -------------------------------------------------------------------------------------
def panel(body: Body, as_of: date, top: int) -> Reduced:
    """`_reduce.bank` of the summarised lines for as_of (never None: see the module doc)."""
    n, _, _, first = body["head"].tolist()
    months = body["months"]
    inflow, outflow, trip, low = (np.zeros(ROWS, np.int64) for _ in range(4))
    valid = np.zeros(ROWS, bool)
    if len(months):
        target = _PANEL + (top - HISTORY_MONTHS)
        latest = np.searchsorted(months, target, side="right") - 1  # the latest month <= it
        has = latest >= 0
        j = np.maximum(latest, 0)
        same = has & (months[j] == target)
        inflow[:HISTORY_MONTHS] = np.where(same, body["inflow"][j], 0)
        outflow[:HISTORY_MONTHS] = np.where(same, body["outflow"][j], 0)
        trip[:HISTORY_MONTHS] = np.where(same, body["trip"][j], 0)
        low[:HISTORY_MONTHS] = np.where(same, body["low"][j], np.where(has, body["close"][j], 0))
        valid[:HISTORY_MONTHS] = has
    out = c.monthly(DataScope.BANK_STATEMENT, bank_inflow_fen=inflow, bank_outflow_fen=outflow,
                    bank_round_trip_fen=trip)
    out["bank_min_balance_fen"] = low, valid
    if not n or first > as_of.toordinal():
        return out, []
    return out, [month_index(date.fromordinal(first))]
