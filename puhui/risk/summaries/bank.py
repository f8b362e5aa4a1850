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

from collections.abc import Sequence
from datetime import date

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk import _columns as c
from puhui.risk._reduce import Reduced
from puhui.risk.data.payload import SourceData
from puhui.risk.data.typed import TypedColumn
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import HISTORY_MONTHS, ROWS, month_index
from puhui.risk.stacked import NO_MONTH, Stacked, begun, found_in_runs
from puhui.risk.summaries._digest import text_digests

Body = dict[str, np.ndarray]
SCOPE = DataScope.BANK_STATEMENT
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


# -- many businesses at once -----------------------------------------------------------------------
#: A chunk's block of months per business: slot 0 the months before the panel, then its months.
_SLOTS = HISTORY_MONTHS + 1
_MAX = np.iinfo(np.int64).max
_EMPTY: Body = _summarise(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                          np.zeros(0, np.uint64), [0, 0, 0, 0])


def _magnitude(values: np.ndarray) -> np.ndarray:
    """|values| as uint64 (exact for -2**63 too)."""
    bits = values.view(np.uint64)
    with np.errstate(over="ignore"):
        return np.where(values < 0, np.uint64(0) - bits, bits)


def _runs(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each element's owner and each owner's start, for owners' runs of `lengths`."""
    starts = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return np.repeat(np.arange(len(lengths)), lengths), starts


def _cat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype)


def _found(keys: np.ndarray, start: np.ndarray, end: np.ndarray, wanted: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Where each wanted key is in its own sorted run `keys[start:end]` (clipped to the last
    key, for `take`), and whether it is there (`stacked.found_in_runs`)."""
    hit, lo = found_in_runs(keys, start, end, wanted)
    return np.minimum(lo, max(len(keys) - 1, 0)), hit


def panel_many(bodies: Sequence[Body | None], added: Sequence[SourceData], as_of: date,
               top: int) -> Stacked:
    """`panel(extend(body, tail))` (the body itself for an empty tail) of every business at
    once, stacked (`stacked.stack`; refused where `extend` gives None, or the body is None).

    Why: the refresh extends and reads thousands of businesses' summaries per chunk; this
    costs a number of NumPy calls that does not grow with them.  Only what the panel reads is
    merged: the months of the panel, the latest month before it (its closing balance is
    carried into quiet rows), the head, and the (month, counterparty) pairs the tail's lines
    in the panel's months touch.  The per-business loop only collects arrays."""
    out, bodies = begun(SCOPE, bodies, added, _EMPTY)
    count = len(bodies)
    if not count:
        return out
    ok = out.ok
    lo = top - HISTORY_MONTHS
    # -- collect: each business's body arrays and its tail's lines -----------------------------
    fine = ok.tolist()
    t_owner, t_day, t_amount, t_balance, t_party = [], [], [], [], []
    for b, tail in enumerate(added):
        if tail.record_count and fine[b]:
            try:
                amounts, balances = tail.ints("amount_fen"), tail.ints("balance_after_fen")
            except RiskDataError:
                ok[b] = False
                continue
            t_amount.append(amounts)
            t_balance.append(balances)
            t_day.append(tail.days("booked_on"))
            t_party.extend(tail.column("counterparty_hash"))
            t_owner.append(b)
    head = np.concatenate([body["head"] for body in bodies]).reshape(count, 4)
    n0, first0 = head[:, 0], head[:, 3]
    # -- the tail's lines: the merged head and its overflow guard ------------------------------
    t_lengths = np.array([len(d) for d in t_day], np.int64)
    owner = np.repeat(np.array(t_owner, np.int64), t_lengths)
    day, amount = _cat(t_day, np.int64), _cat(t_amount, np.int64)
    balance = _cat(t_balance, np.int64)
    party = text_digests(TypedColumn("L", t_party))  # a text's digest is the text's alone
    n = n0.copy()
    np.add.at(n, owner, 1)
    peak = np.maximum(head[:, 1], head[:, 2]).astype(np.uint64)
    np.maximum.at(peak, owner, np.maximum(_magnitude(amount), _magnitude(balance)))
    tailed = n > n0
    limit = np.uint64(_LIMIT)
    safe_n = np.maximum(n, 1).astype(np.uint64)
    ok &= ~(tailed & (peak >= (limit + safe_n - np.uint64(1)) // safe_n))  # peak * n >= 2**63
    first = np.where(n0 > 0, first0, _MAX)
    np.minimum.at(first, owner, day)
    keep = ok[owner]
    owner, day, amount, balance, party = (a[keep] for a in (owner, day, amount, balance, party))
    # -- the body's months into a block: slot 0 the latest month before the panel -------------
    months = [body["months"] for body in bodies]
    lengths = np.array([len(m) for m in months], np.int64)
    b_owner, b_start = _runs(lengths)
    b_month = _cat(months, np.int64)
    b_close = _cat([body["close"] for body in bodies], np.int64)
    b_close_day = _cat([body["close_day"] for body in bodies], np.int64)
    before = np.bincount(b_owner[b_month < lo], minlength=count)
    carry = np.maximum(b_start + before - 1, 0)
    has = before > 0
    shape = (count, _SLOTS)
    present = np.zeros(shape, bool)
    block = {name: np.zeros(shape, np.int64) for name in ("inflow", "outflow", "trip")}
    block["low"] = np.full(shape, _MAX)
    block["close"] = np.zeros(shape, np.int64)
    block["close_day"] = np.full(shape, -1, np.int64)
    if len(b_month):
        present[:, 0] = has
        block["close"][:, 0] = np.where(has, b_close[carry], 0)
        block["close_day"][:, 0] = np.where(has, b_close_day[carry], -1)
        inside = (b_month >= lo) & (b_month < top)
        at = b_owner[inside] * _SLOTS + (b_month[inside] - lo + 1)
        present.reshape(-1)[at] = True
        for name in ("inflow", "outflow", "trip", "low"):
            block[name].reshape(-1)[at] = _cat([body[name] for body in bodies], np.int64)[inside]
        block["close"].reshape(-1)[at] = b_close[inside]
        block["close_day"].reshape(-1)[at] = b_close_day[inside]
    # -- the tail's lines merged into the block ------------------------------------------------
    month = c.months(day)
    order = np.lexsort((day, owner))  # by business, then booking order (ties as listed)
    owner, day, amount, balance, party, month = (
        a[order] for a in (owner, day, amount, balance, party, month))
    slot = np.clip(month - lo + 1, 0, _SLOTS)  # 0: before the panel, _SLOTS: as_of's or later
    used = slot < _SLOTS
    owner, day, amount, balance, party, month, slot = (
        a[used] for a in (owner, day, amount, balance, party, month, slot))
    # each slot's last line (slot 0's is the latest month before the panel's last line)
    cell = owner * _SLOTS + slot
    last = np.flatnonzero(np.append(cell[1:] != cell[:-1], True)) if len(cell) else owner
    lw, lm, ld, lb = cell[last], month[last], day[last], balance[last]
    # slot 0: a later month than the body's latest before the panel closes it; the same month
    # as the body's closes it on or after its closing day
    zero = slot[last] == 0
    b_latest = np.where(has, b_month[carry] if len(b_month) else 0, -1)[owner[last]]
    flat_day = block["close_day"].reshape(-1)
    later = np.where(zero, (lm > b_latest) | ((lm == b_latest) & (ld >= flat_day[lw])),
                     ld >= flat_day[lw])
    block["close"].reshape(-1)[lw[later]] = lb[later]
    flat_day[lw[later]] = ld[later]
    present.reshape(-1)[lw] = True
    panel_line = slot > 0
    incoming = amount > 0
    np.add.at(block["inflow"].reshape(-1), cell[panel_line & incoming],
              amount[panel_line & incoming])
    np.add.at(block["outflow"].reshape(-1), cell[panel_line & ~incoming],
              -amount[panel_line & ~incoming])
    np.minimum.at(block["low"].reshape(-1), cell[panel_line], balance[panel_line])
    # -- round trips: the tail's (month, counterparty) pairs of the panel's months -------------
    p_owner, p_where = owner[panel_line], cell[panel_line]
    p_in = np.where(incoming, amount, 0)[panel_line]
    p_out = ~incoming[panel_line]
    key = _pair_keys(party[panel_line], month[panel_line])
    by = np.lexsort((key, p_owner))
    p_owner, p_where, p_in, p_out, key = (a[by] for a in (p_owner, p_where, p_in, p_out, key))
    if len(key):
        starts = np.flatnonzero(np.concatenate(
            ([True], (p_owner[1:] != p_owner[:-1]) | (key[1:] != key[:-1]))))
        g_owner, g_where, g_key = p_owner[starts], p_where[starts], key[starts]
        g_in = np.add.reduceat(p_in, starts)
        g_paid = np.logical_or.reduceat(p_out, starts)
        touched, run = np.unique(g_owner, return_inverse=True)
        keys = [bodies[b]["pair_key"] for b in touched.tolist()]
        k_end = np.cumsum([len(k) for k in keys], dtype=np.int64).reshape(-1)
        k_start = k_end - [len(k) for k in keys]
        all_keys = _cat(keys, np.uint64)
        run = run.reshape(-1)
        at, hit = _found(all_keys, k_start[run], k_end[run], g_key)
        if len(all_keys):
            old_in = np.where(hit, _cat([bodies[b]["pair_in"] for b in touched.tolist()],
                                        np.int64)[at], 0)
            old_paid = hit & _cat([bodies[b]["pair_paid"] for b in touched.tolist()], bool)[at]
        else:
            old_in, old_paid = np.zeros(len(g_key), np.int64), np.zeros(len(g_key), bool)
        now_in, now_paid = old_in + g_in, old_paid | g_paid
        np.add.at(block["trip"].reshape(-1), g_where,
                  np.where(now_paid, now_in, 0) - np.where(old_paid, old_in, 0))
    # -- the panel: a quiet month carries the latest earlier month's closing balance -----------
    latest = np.maximum.accumulate(np.where(present, np.arange(_SLOTS), -1), axis=1)
    valid = latest[:, 1:] >= 0
    carried = np.take_along_axis(block["close"], np.maximum(latest[:, 1:], 0), axis=1)
    lined = present[:, 1:]
    for name, column in (("inflow", "bank_inflow_fen"), ("outflow", "bank_outflow_fen"),
                         ("trip", "bank_round_trip_fen")):
        values, validity = out.columns[column]
        values[:, :HISTORY_MONTHS] = np.where(lined, block[name][:, 1:], 0)
        validity[:, :HISTORY_MONTHS] = True
    values, validity = out.columns["bank_min_balance_fen"]
    values[:, :HISTORY_MONTHS] = np.where(lined, block["low"][:, 1:],
                                          np.where(valid, carried, 0))
    validity[:, :HISTORY_MONTHS] = valid
    # -- activity: the earliest line's month, if it is booked by as_of -------------------------
    active = (n > 0) & (first <= as_of.toordinal())
    first_month = c.months(np.where(active, first, 1))
    out.first_month[:] = np.where(active & (first_month <= top), first_month, NO_MONTH)
    return out
