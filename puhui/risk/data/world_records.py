"""One business's raw records, as its providers would return them on `as_of`.

Each month's cells (`world_sources`) are split into records whose totals are exactly the cells;
records dated after `as_of` are left out and later facts (a refund, a payment, a delivery after
`as_of`) are reported as not having happened yet, as a real provider queried that day would.

Why a history per business: the world is deterministic, so a business's records over its months
(up to the month first asked for; to the world's end once a later month is asked for) are
computed once, as columns, with NumPy over all its months and records at once (a Python loop
per record made a demo application spend ~130 ms here), and kept in a small cache per world
(`HISTORY_CACHE` businesses, the least recently asked for dropped first).  Records up to a month
do not depend on later months, so a payload is that history cut at `as_of`: a mask, the
point-in-time fields (refunded, paid, delivered by then), and one dict comprehension per source
over columns turned into Python lists in bulk.  The records are exactly those the
month-by-month generation gave, field by field and in the same order
(`tests/risk/data/test_risk_world_payloads.py` freezes them by digest).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import numpy as np

from puhui.parties.consent import DataScope
from puhui.parties.synthetic import REGIONS
from puhui.risk.data import _hashrng as hr
from puhui.risk.data import world_sources as ws
from puhui.risk.data.world import Stream, SyntheticWorld
from puhui.risk.errors import SourceUnavailable
from puhui.risk.panel import month_index, month_of

#: How many businesses' histories a world keeps (0.3 to 1.2 MB each on the demo's live world).
HISTORY_CACHE = 64
_LENDERS = ("bank", "microfinance", "consumer_finance", "other")
_FOLLOW_UPS = ("view_dashboard", "view_loan", "apply", "repay")
_CHANNELS = np.array(["pos", "ecommerce"], dtype=object)
_UTILITIES = np.array(["electricity", "water"], dtype=object)
_TAXES = np.array(["vat", "income_tax"], dtype=object)
_REGIONS = np.array(REGIONS, dtype=object)
_ROLES = ("trip", "supplier_a", "payer_0", "landlord", "payer_1", "payroll", "supplier_b",
          "payer_0", "trip", "payer_1", "owner")
#: An app event's time of day (always on the login's day) by minute of the day.
_CLOCK = np.array([f"T{m // 60:02d}:{m % 60:02d}:00+00:00" for m in range(24 * 60)],
                  dtype=object)


def _hash(*parts: object) -> str:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).hexdigest()


def _hashes(prefix: tuple, suffixes: Iterable[str]) -> list[str]:
    """`_hash(*prefix, suffix)` of each suffix (the prefix hashed once)."""
    start = hashlib.blake2b(f"{':'.join(map(str, prefix))}:".encode(), digest_size=8)
    out = []
    for suffix in suffixes:
        h = start.copy()
        h.update(suffix.encode())
        out.append(h.hexdigest())
    return out


class _Numbers:
    """Decimal texts of 0, 1, 2... (zero-padded to `width`), looked up in bulk."""

    def __init__(self, width: int = 0) -> None:
        self.width, self.texts = width, np.zeros(0, dtype=object)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        texts = self.texts
        if len(values) and values.max() >= len(texts):
            size = max(2 * len(texts), int(values.max()) + 1, 1024)
            texts = np.array([f"{x:0{self.width}d}" for x in range(size)], dtype=object)
            self.texts = texts  # replaced whole: a concurrent reader keeps the old one
        return texts[values]


_NUMBERS, _PADDED = _Numbers(), _Numbers(4)


def _u(w: SyntheticWorld, stream: int, *keys) -> np.ndarray:
    return hr.uniform(w.seed, stream, *keys)


def _split(totals: np.ndarray, counts: np.ndarray, floor_each: int, weights: np.ndarray
           ) -> np.ndarray:
    """Each cell's `counts[c]` integers of at least `floor_each` summing exactly to `totals[c]`,
    in proportion to its weights (`weights`: every cell's, one cell after another)."""
    ends = np.cumsum(counts)
    starts = ends - counts
    cells = np.flatnonzero(counts)
    if not len(cells):
        return np.zeros(0, np.int64)
    # each cell's weights summed on their own, as NumPy sums one array (pairwise): a segmented
    # sum (reduceat) adds in another order and moves a fen now and then
    sums = np.array([weights[s:e].sum() for s, e in zip(starts[cells].tolist(),
                                                        ends[cells].tolist())])
    spare = (totals - floor_each * counts)[cells]
    counts_kept = counts[cells]
    parts = np.floor(np.repeat(spare, counts_kept) * weights
                     / np.repeat(sums, counts_kept)).astype(np.int64)
    last = ends[cells] - 1
    parts[last] += spare - np.add.reduceat(parts, starts[cells])
    return parts + floor_each


def _spread(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For `counts[m]` items in each month m: each item's month, its index in its month, and
    each month's first item."""
    month = np.repeat(np.arange(len(counts)), counts)
    start = np.cumsum(counts) - counts
    return month, np.arange(int(counts.sum())) - start[month], start


class _Calendar:
    """ISO texts of the days and months around a world's data, looked up in bulk."""

    def __init__(self, w: SyntheticWorld) -> None:
        self.t0, t1 = w.s0 - 48, w.end + 12
        self.d0 = int(ws.first_ord(self.t0))
        ordinals = np.arange(self.d0, int(ws.first_ord(t1))) - ws.EPOCH_ORDINAL
        days = ordinals.astype("datetime64[D]").astype(str).tolist()
        self.days = np.array(days + [None], dtype=object)  # the last one: not (yet) known
        months = (np.arange(self.t0, t1) - 1970 * 12).astype("datetime64[M]").astype(str)
        self.months = np.array(months.tolist(), dtype=object)

    def day(self, ordinals: np.ndarray, known: np.ndarray | None = None) -> list[str | None]:
        index = ordinals - self.d0
        if known is not None:
            index = np.where(known, index, len(self.days) - 1)
        return self.days[index].tolist()

    def month(self, t: np.ndarray) -> list[str]:
        return self.months[t - self.t0].tolist()


class _History:
    """One business's records over its months up to `last`, as columns, built once per source
    (records up to a month do not depend on the months after it)."""

    def __init__(self, w: SyntheticWorld, i: int, last: int) -> None:
        self.i, self.business_id = i, str(w.ids[i])
        self.t = np.arange(int(w.d0[i]), max(last, int(w.d0[i])) + 1)  # its months to `last`
        self.b = np.full(len(self.t), i)
        self.first, self.days = ws.first_ord(self.t), ws.days_in(self.t)
        self._built: dict[str, Any] = {}
        self._hashes: dict[str, list[str]] = {}

    def hashes(self, w: SyntheticWorld, kind: str, suffixes: np.ndarray, count: int) -> list[str]:
        """The first `count` of the business's `kind` hashes (`suffixes`: all of them), made
        when first needed."""
        made = self._hashes.get(kind, [])
        if len(made) < count:  # a new list, so that a concurrent caller keeps a whole one
            made = made + _hashes((kind, w.seed, self.i), suffixes[len(made):count].tolist())
            self._hashes[kind] = made
        return made

    def get(self, w: SyntheticWorld, part: str) -> Any:
        try:
            return self._built[part]
        except KeyError:
            built = self._built[part] = _BUILDERS[part](w, self)
            return built


class _State:
    def __init__(self, w: SyntheticWorld) -> None:
        self.calendar = _Calendar(w)
        self.histories: OrderedDict[int, _History] = OrderedDict()


_STATES: weakref.WeakKeyDictionary[SyntheticWorld, _State] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _state(w: SyntheticWorld) -> _State:
    with _LOCK:
        state = _STATES.get(w)
        if state is None:
            state = _STATES[w] = _State(w)
        return state


def _history(w: SyntheticWorld, i: int, top: int) -> _History:
    """The business's history up to month `top` at least: up to `top` when first asked (the
    months after it are usually never asked for), then to the world's last month."""
    state = _state(w)
    with _LOCK:
        history = state.histories.get(i)
        if history is None or history.t[-1] < top:
            last = top if history is None else w.end - 1
            history = state.histories[i] = _History(w, i, last)
        state.histories.move_to_end(i)
        while len(state.histories) > HISTORY_CACHE:
            state.histories.popitem(last=False)
        return history


# -- histories (the months of one business) -------------------------------------------------------
def _cells(w: SyntheticWorld, h: _History) -> dict[str, np.ndarray]:
    return ws.sales_cells(w, h.b, h.t)


def _sales_history(w: SyntheticWorld, h: _History) -> dict[str, Any]:
    c, i = h.get(w, "cells"), h.i
    n = np.stack([c["pos_n"], c["pos_rn"], c["ecom_n"], c["ecom_rn"]], axis=1)
    gross = np.stack([c["pos_g"], c["pos_rg"], c["ecom_g"], c["ecom_rg"]], axis=1)
    total = n.sum(axis=1)
    month, j, _ = _spread(total)
    t = h.t[month]
    cell, k, _ = _spread(n.ravel())
    cell %= 4
    # the day of each order: its rank among the month's orders by a uniform draw, sorted as the
    # draw's 53 bits under the month's index (one radix sort instead of one sort per month)
    draws = hr.bits(w.seed, Stream.ORDER_PHASE, i, t, j) >> np.uint64(11)
    order = np.argsort(month.astype(np.uint64) << np.uint64(53) | draws, kind="stable")
    position = np.empty(len(j), np.int64)
    position[order] = j
    phase = (_u(w, Stream.ORDER_PHASE, i, h.t, -1) * 1000).astype(np.int64)
    on = h.first[month] + hr.spread_days(position, total[month], phase[month], h.days[month])
    pick = _u(w, Stream.ORDER_SPLIT, i, t, -2, j)
    lag = 1 + (_u(w, Stream.ORDER_SPLIT, i, t, -3, j) * 7).astype(np.int64)
    weights = 0.5 + _u(w, Stream.ORDER_SPLIT, i, t, cell, k)
    # the month's first `repeat` orders come from customers seen before, the others are new
    new = total - c["repeat"]
    known = (np.cumsum(new) - new)[month]
    customer = np.where(j < c["repeat"][month], (pick * known).astype(np.int64),
                        known + j - c["repeat"][month])
    prefixes = np.array([f"{h.business_id}-{x}-" for x in h.t.tolist()], dtype=object)
    return {"on": on, "order_id": (prefixes, month, j), "ecommerce": cell >= 2,
            "amount": _split(gross.ravel(), n.ravel(), ws.MIN_ORDER_FEN, weights),
            "customer": customer, "customers": _NUMBERS(np.arange(int(new.sum()))),
            "refunded": cell % 2 == 1,
            "refund_on": np.minimum(on + lag, h.first[month] + h.days[month] - 1)}


def _tax_history(w: SyntheticWorld, h: _History) -> dict[str, np.ndarray]:
    i, e, d0 = h.i, h.t, int(h.t[0])
    cum = np.concatenate([[0], np.cumsum(ws.declared(w, h.b, e, h.get(w, "cells")["net"]))])
    vat = np.flatnonzero(~w.quarterly[i] | (e % 3 == 2))
    income = np.flatnonzero(e % 3 == 2)
    m = np.concatenate([vat, income])
    kind = np.concatenate([np.zeros(len(vat), np.int64), np.ones(len(income), np.int64)])
    order = np.lexsort((kind, m))
    m, kind = m[order], kind[order]
    first = np.where(kind == 1, np.maximum(e - 2, d0)[m], ws.vat_period(w, h.b, e)[0][m])
    revenue = cum[m + 1] - cum[first - d0]
    paid = np.where(kind == 1, revenue // 200, revenue * int(w.vat_bp[i]) // 10000)
    end = h.first[m] + h.days[m] - 1
    lag = np.where(kind == 1, ws.filing_lag(w, h.b, e, income=True)[m],
                   ws.filing_lag(w, h.b, e, income=False)[m])
    return {"kind": kind, "first": ws.first_ord(first), "end": end, "filed": end + lag,
            "revenue": revenue, "paid": paid}


def _utility_history(w: SyntheticWorld, h: _History) -> dict[str, np.ndarray]:
    bills = [ws.bills(w, h.b, h.t, code) for code in (0, 1)]
    # month by month, electricity then water
    columns = {k: np.stack([bill[k] for bill in bills], axis=1).ravel() for k in bills[0]}
    columns["t"], columns["kind"] = np.repeat(h.t, 2), np.tile([0, 1], len(h.t))
    keep = np.flatnonzero(columns.pop("exists"))
    return {k: v[keep] for k, v in columns.items()}


def _logistics_history(w: SyntheticWorld, h: _History) -> dict[str, np.ndarray]:
    c, i = ws.waybills(w, h.b, h.t), h.i
    n = c["n"]
    month, k, start = _spread(n)
    t = h.t[month]
    u = _u(w, Stream.WEIGHT, i, t, k, 7)
    reverse = start[month] + n[month] - 1 - k  # the month's draws in reverse order
    phase = (_u(w, Stream.WAYBILL, i, h.t, -1) * 1000).astype(np.int64)
    shipped = h.first[month] + hr.spread_days(k, n[month], phase[month], h.days[month])
    prefixes = np.array([f"WB{h.business_id}{x}" for x in h.t.tolist()], dtype=object)
    return {"waybill_id": (prefixes, month, k), "shipped": shipped,
            "delivered": shipped + 1 + (u * 5).astype(np.int64),
            "grams": _split(c["weight"], n, 1, 0.5 + u),
            "fees": _split(c["fee"], n, 0, 0.5 + u[reverse]),
            "region": _REGIONS[(u * 997).astype(np.int64) % len(REGIONS)]}


def _bank_history(w: SyntheticWorld, h: _History) -> dict[str, np.ndarray]:
    i = h.i
    opening = ws.opening_of(w, h.b, h.t)
    slots = ws.bank_slots(w, h.b, h.t, opening, h.get(w, "cells")["net"])
    balances = opening[:, None] + np.cumsum(slots, axis=1)
    booked = h.first[:, None] + ws.BANK_DAYS[None, :] - 1
    month, slot = np.nonzero(slots)  # month by month, in booking order
    parties = {role: _hash("party", w.seed, i, role) for role in set(_ROLES) - {"trip"}}
    counterparty = [parties[_ROLES[k]] if _ROLES[k] != "trip" else
                    _hash("party", w.seed, i, f"trip-{t}")
                    for k, t in zip(slot.tolist(), h.t[month].tolist())]
    return {"booked": booked[month, slot], "amount": slots[month, slot],
            "balance": balances[month, slot], "counterparty": np.array(counterparty, object)}


def _app_history(w: SyntheticWorld, h: _History) -> dict[str, np.ndarray]:
    a, i = ws.logins(w, h.b, h.t), h.i
    n, new = a["n"], a["new"]
    month, k, _ = _spread(n)
    t = h.t[month]
    u = _u(w, Stream.LOGIN, i, t[:, None], k[:, None], np.arange(4)[None, :])
    before = (np.cumsum(new) - new)[month]  # devices seen in earlier months
    device = np.where(k < new[month], before + k,
                      (u[:, 0] * (before + new[month])).astype(np.int64))
    day = h.first[month] + hr.spread_days(k, n[month], a["phase"][month], h.days[month])
    minute = 60 * (1 + (u[:, 1] * 11).astype(np.int64)) + (u[:, 2] * 60).astype(np.int64)
    seen = np.unique(device)
    devices = dict(zip(seen.tolist(), _hashes(("device", w.seed, i), _NUMBERS(seen).tolist())))
    session = np.array([f"{x}:" for x in h.t.tolist()], dtype=object)[month] + _NUMBERS(k)
    # each login is followed by 0-2 more events, three minutes apart
    login, m, _ = _spread(1 + (u[:, 3] * 3).astype(np.int64))
    kind = np.where(m == 0, 0, 1 + (k[login] + m) % len(_FOLLOW_UPS))
    return {"day": day[login], "clock": _CLOCK[minute[login] + 3 * m],
            "kind": np.array(("login",) + _FOLLOW_UPS, dtype=object)[kind],
            "login": login, "sessions": session,
            "device": np.array([devices[x] for x in device.tolist()], dtype=object)[login]}


_BUILDERS: dict[str, Callable[[SyntheticWorld, _History], Any]] = {
    "cells": _cells, "sales": _sales_history, "tax": _tax_history, "utility": _utility_history,
    "logistics": _logistics_history, "bank": _bank_history, "app": _app_history,
    "loans": lambda w, h: ws.loans(w, np.array([h.i])),
}


# -- payloads (a history cut at as_of) ------------------------------------------------------------
def sales(w: SyntheticWorld, h: _History, as_of: date, cal: _Calendar) -> list[dict]:
    if not w.has_sales[h.i]:
        raise SourceUnavailable(f"no POS or e-commerce platform serves {h.business_id}")
    s, today = h.get(w, "sales"), as_of.toordinal()
    sel = np.flatnonzero(s["on"] <= today)
    refund_on = s["refund_on"][sel]
    refunded = s["refunded"][sel] & (refund_on <= today)
    prefixes, month, j = s["order_id"]
    order_ids = prefixes[month[sel]] + _NUMBERS(j[sel])
    customer = s["customer"][sel]
    hashes = np.array(h.hashes(w, "customer", s["customers"],
                               int(customer.max()) + 1 if len(sel) else 0), dtype=object)
    channels = _CHANNELS[s["ecommerce"][sel].view(np.int8)].tolist()
    return [{"order_id": o, "ordered_on": on, "channel": channel, "amount_fen": amount,
             "customer_hash": customer, "refunded": r, "refunded_on": r_on}
            for o, on, channel, amount, customer, r, r_on in zip(
                order_ids.tolist(), cal.day(s["on"][sel]), channels,
                s["amount"][sel].tolist(), hashes[customer].tolist(),
                refunded.tolist(), cal.day(refund_on, refunded))]


def tax(w: SyntheticWorld, h: _History, as_of: date, cal: _Calendar) -> list[dict]:
    x = h.get(w, "tax")
    sel = np.flatnonzero(x["filed"] <= as_of.toordinal())
    return [{"tax_type": kind, "period_start": start, "period_end": end, "filed_on": filed,
             "declared_revenue_fen": revenue, "tax_paid_fen": paid}
            for kind, start, end, filed, revenue, paid in zip(
                _TAXES[x["kind"][sel]].tolist(), cal.day(x["first"][sel]), cal.day(x["end"][sel]),
                cal.day(x["filed"][sel]), x["revenue"][sel].tolist(), x["paid"][sel].tolist())]


def utility(w: SyntheticWorld, h: _History, as_of: date, cal: _Calendar) -> list[dict]:
    x, today = h.get(w, "utility"), as_of.toordinal()
    sel = np.flatnonzero(x["billed"] <= today)
    paid = x["paid"][sel]
    return [{"utility": kind, "period_month": month, "usage": usage, "amount_fen": amount,
             "billed_on": billed, "due_on": due, "paid_on": paid_on}
            for kind, month, usage, amount, billed, due, paid_on in zip(
                _UTILITIES[x["kind"][sel]].tolist(), cal.month(x["t"][sel]),
                x["usage"][sel].tolist(), x["amount"][sel].tolist(), cal.day(x["billed"][sel]),
                cal.day(x["due"][sel]), cal.day(paid, (paid >= 0) & (paid <= today)))]


def logistics(w: SyntheticWorld, h: _History, as_of: date, cal: _Calendar) -> list[dict]:
    if not w.has_logistics[h.i]:
        raise SourceUnavailable(f"no logistics partner ships for {h.business_id}")
    x, today = h.get(w, "logistics"), as_of.toordinal()
    sel = np.flatnonzero(x["shipped"] <= today)
    delivered = x["delivered"][sel]
    prefixes, month, k = x["waybill_id"]
    ids = (prefixes[month[sel]] + _PADDED(k[sel])).tolist()
    return [{"waybill_id": waybill, "shipped_on": shipped, "delivered_on": on,
             "weight_g": grams, "fee_fen": fee, "destination_region": region}
            for waybill, shipped, on, grams, fee, region in zip(
                ids, cal.day(x["shipped"][sel]), cal.day(delivered, delivered <= today),
                x["grams"][sel].tolist(), x["fees"][sel].tolist(), x["region"][sel].tolist())]


def bank(w: SyntheticWorld, h: _History, as_of: date, cal: _Calendar) -> list[dict]:
    x = h.get(w, "bank")
    sel = np.flatnonzero(x["booked"] <= as_of.toordinal())
    return [{"booked_on": booked, "amount_fen": amount, "counterparty_hash": party,
             "balance_after_fen": balance}
            for booked, amount, party, balance in zip(
                cal.day(x["booked"][sel]), x["amount"][sel].tolist(),
                x["counterparty"][sel].tolist(), x["balance"][sel].tolist())]


def bureau(w: SyntheticWorld, h: _History, as_of: date, cal: _Calendar) -> list[dict]:
    i, top, today = h.i, month_index(as_of), as_of.toordinal()
    full = h.get(w, "loans")
    book = {k: v[0].tolist() for k, v in full.items()}
    loans = []
    for k in range(ws.LOAN_SLOTS):
        opened, term = book["opened"][k], book["term"][k]
        opened_on = month_of(opened).replace(day=book["day"][k])
        if not book["exists"][k] or opened_on > as_of:
            continue
        end = opened + term
        is_open = top < end
        loans.append({"loan_ref": _hash("loan", w.seed, i, k),
                      "lender_type": _LENDERS[book["lender"][k]],
                      "opened_on": opened_on.isoformat(), "limit_fen": book["limit"][k],
                      "balance_fen": book["limit"][k] * (end - top) // term if is_open else 0,
                      "status": "open" if is_open else "closed"})
    months = np.arange(top - 24, top)
    open_, days = ws.overdue(w, np.full(len(months), i), months, full)
    owing = np.flatnonzero(open_)
    history = [{"month": month, "overdue_days": d}
               for month, d in zip(cal.month(months[owing]), days[owing].tolist())]
    months = np.arange(top - 24, top + 1)
    n, phase = ws.enquiries(w, np.full(len(months), i), months)
    month, k, _ = _spread(n)
    on = ws.first_ord(months)[month] + hr.spread_days(k, n[month], phase[month],
                                                      ws.days_in(months)[month])
    asked = [{"enquired_on": day, "reason": "loan_approval"} for day in cal.day(on[on <= today])]
    return [{"reported_on": as_of.isoformat(), "loans": loans, "overdue_history": history,
             "enquiries": asked}]


def app(w: SyntheticWorld, h: _History, as_of: date, cal: _Calendar) -> list[dict]:
    x = h.get(w, "app")
    sel = np.flatnonzero(x["day"] <= as_of.toordinal())
    login = x["login"][sel]
    sessions = np.array(h.hashes(w, "session", x["sessions"],
                                 int(login.max()) + 1 if len(sel) else 0), dtype=object)
    return [{"occurred_at": day + clock, "event_type": kind, "session_id": session,
             "device_id": device}
            for day, clock, kind, session, device in zip(
                cal.day(x["day"][sel]), x["clock"][sel].tolist(), x["kind"][sel].tolist(),
                sessions[login].tolist(), x["device"][sel].tolist())]


_SOURCES = {DataScope.SALES: sales, DataScope.TAX: tax, DataScope.UTILITY: utility,
            DataScope.LOGISTICS: logistics, DataScope.BANK_STATEMENT: bank,
            DataScope.BUREAU: bureau, DataScope.APP_BEHAVIOUR: app}


def payload(w: SyntheticWorld, scope: DataScope, i: int, as_of: date) -> dict:
    if scope not in _SOURCES:
        raise SourceUnavailable(f"the synthetic world has no {scope.value} provider")
    records = _SOURCES[scope](w, _history(w, i, month_index(as_of)), as_of, _state(w).calendar)
    return {"business_id": str(w.ids[i]), "as_of": as_of.isoformat(), "records": records}
