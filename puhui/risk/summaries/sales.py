"""The summary of a business's orders: per absolute month, what `_reduce.sales` totals, and per
customer what a repeat order needs, so a refresh need not reduce the whole merged history.

Why this is exact for every as_of: the panel's complete months all end before as_of's month,
so an order counts in the month it was placed and a refund in the month of `refunded_on`
(always <= as_of there) whatever as_of is.  A repeat order is one whose customer ordered in an
earlier month (the reducer's rows keep the order of months, and every month before the panel
shares row -1, which is still earlier): it is a property of the order alone, given its
customer's first month.  So the summary keeps the customer's first month and how many of its
orders fell in it: an order older than that month turns those into repeats.

Body:
- ``months``: int64, the sorted month indexes holding orders or refunds;
- ``monthly``: int64, the flat `(8, len(months))` table (`_month_table`) of, per month, the
  orders, gross, e-commerce amount, repeat orders, refunded amount and refunds (by month of
  refund), and the largest order amount and the largest refund (for the overflow rule);
- ``customers``: uint64, the sorted digests (`_digest.text_digests`) of the customers;
- ``customer_month``, ``customer_orders``: int64, each customer's first month and its number
  of orders in that month;
- ``first_day``: int64, the earliest `ordered_on` ordinal (empty: no orders).

`build` and `extend` give None only when an amount does not fit int64 (the reducer refuses
such data for every as_of); `panel` gives None exactly where the reducer's overflow rule
refuses the order or refund totals of its 15 months.
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
from puhui.risk.stacked import Stacked, found_in_runs
from puhui.risk.summaries import _month_table as t
from puhui.risk.summaries._digest import column_words, text_digests, text_digests_many

Body = dict[str, np.ndarray]
SCOPE = DataScope.SALES
_ONLINE = frozenset({"ecommerce"})
# the table's fields (the first five are the panel's columns)
_ORDERS, _GROSS, _ONLINE_FEN, _REPEAT, _REFUNDED, _REFUNDS, _LARGEST, _LARGEST_REFUND = range(8)
_FIELDS, _SUMS, _COLUMNS = 8, 6, 5  # fields added (the rest maxed), panel columns
_NEVER = np.iinfo(np.int64).max


class _Orders:
    """The fields of a source's orders the summary reads."""

    __slots__ = ("amount", "back", "customer", "day", "month", "online", "refunded")

    def __init__(self, source: SourceData) -> None:
        self.amount = source.ints("amount_fen")  # RiskDataError: an amount not in int64
        self.day = source.days("ordered_on")
        back = source.days("refunded_on")  # 0: not refunded
        made = back > 0
        n = len(self.day)
        months = t.months_of(np.concatenate((self.day, back[made])))
        self.month, self.back = months[:n], months[n:]  # the orders' and refunds' months
        self.online = source.among("channel", _ONLINE)
        self.refunded = self.amount[made]
        self.customer = text_digests(source.typed("customer_hash"))

    @classmethod
    def of(cls, source: SourceData) -> _Orders | None:
        try:
            return cls(source)
        except RiskDataError:
            return None

    def add(self, table: np.ndarray, at: np.ndarray, repeat: np.ndarray,
            again: np.ndarray | None = None) -> None:
        """Add the orders and their refunds into `table`, at the positions `at` of their
        months then their refunds' months (then of `again`'s: counts of earlier orders that
        became repeats), `repeat` marking repeat orders."""
        n, m = len(self.amount), len(self.refunded)
        values = np.zeros((_FIELDS, len(at)), np.int64)
        values[_ORDERS, :n] = 1
        values[_GROSS, :n] = values[_LARGEST, :n] = self.amount
        values[_ONLINE_FEN, :n] = self.amount * self.online
        values[_REPEAT, :n] = repeat
        values[_REFUNDED, n:n + m] = values[_LARGEST_REFUND, n:n + m] = self.refunded
        values[_REFUNDS, n:n + m] = 1
        if again is not None:
            values[_REPEAT, n + m:] = again
        t.add(table, at, values, _SUMS)


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(an order sorting `keys`, the start of each run of equal keys in it, each sorted key's
    run number)."""
    order = np.argsort(keys)
    k = keys[order]
    head = np.empty(len(k), bool)
    head[:1] = True
    np.not_equal(k[1:], k[:-1], out=head[1:])
    return order, np.flatnonzero(head), np.cumsum(head) - 1


def build(source: SourceData) -> Body | None:
    """The summary of all of `source`'s orders (as_of-free)."""
    if not source.record_count:
        return {"months": t.NO_MONTHS, "monthly": t.NO_MONTHS,
                "customers": np.zeros(0, np.uint64), "customer_month": t.NO_MONTHS,
                "customer_orders": t.NO_MONTHS, "first_day": t.NO_MONTHS}
    orders = _Orders.of(source)
    if orders is None:
        return None
    order, starts, run = _groups(orders.customer)
    month = orders.month[order]
    first = np.minimum.reduceat(month, starts)
    at_first = month == first[run]
    repeat = np.empty(len(month), bool)
    repeat[order] = ~at_first
    table, span, at = t.dense(_FIELDS, np.concatenate((orders.month, orders.back)))
    orders.add(table, at, repeat)
    months, table = t.compact(table, span, (table[_ORDERS] > 0) | (table[_REFUNDS] > 0))
    return {"months": months, "monthly": table.ravel(),
            "customers": orders.customer[order[starts]], "customer_month": first,
            "customer_orders": np.add.reduceat(at_first, starts, dtype=np.int64),
            "first_day": t.earliest(t.NO_MONTHS, orders.day)}


def extend(body: Body, added: SourceData) -> Body | None:
    """`body`'s orders followed by `added`'s (new keys).  An added order of a customer who
    first ordered in a later month makes that customer's orders of that month repeats."""
    if not added.record_count:
        return dict(body)
    orders = _Orders.of(added)
    if orders is None:
        return None
    order, starts, run = _groups(orders.customer)
    month = orders.month[order]
    digest = orders.customer[order[starts]]
    customers = body["customers"]
    n = len(customers)
    at = np.searchsorted(customers, digest)
    if n:
        known = customers.take(at, mode="clip") == digest
        old = np.where(known, body["customer_month"].take(at, mode="clip"), _NEVER)
        old_count = np.where(known, body["customer_orders"].take(at, mode="clip"), 0)
    else:
        known, old = np.zeros(len(digest), bool), np.full(len(digest), _NEVER)
        old_count = np.zeros(len(digest), np.int64)
    first = np.minimum(old, np.minimum.reduceat(month, starts))
    at_first = month == first[run]
    back = first < old  # a first order older than the customer's first one so far (if any)
    count = np.where(back, 0, old_count) + np.add.reduceat(at_first, starts, dtype=np.int64)
    repeat = np.empty(len(month), bool)
    repeat[order] = ~at_first
    # these customers' orders of their old first month become repeats
    earlier = np.flatnonzero(back & known)
    months, table, at_month = t.widened(body["months"], body["monthly"], _FIELDS, np.concatenate(
        (orders.month, orders.back, old[earlier])))
    orders.add(table, at_month, repeat, old_count[earlier])
    # the customers: new ones inserted in order, each added one's first month and count set
    new = ~known
    if new.any():
        fresh = at[new]
        fresh += np.arange(len(fresh))  # the i-th new one (in digest order) lands i further
        size = n + len(fresh)
        kept = np.ones(size, bool)
        kept[fresh] = False
        customers = np.empty(size, np.uint64)
        customers[kept], customers[fresh] = body["customers"], digest[new]
        month_of, count_of = np.empty(size, np.int64), np.empty(size, np.int64)
        month_of[kept], count_of[kept] = body["customer_month"], body["customer_orders"]
        at = np.searchsorted(customers, digest)
    else:
        month_of, count_of = body["customer_month"].copy(), body["customer_orders"].copy()
    month_of[at], count_of[at] = first, count
    return {"months": months, "monthly": table.ravel(), "customers": customers,
            "customer_month": month_of, "customer_orders": count_of,
            "first_day": t.earliest(body["first_day"], orders.day)}


def panel(body: Body, as_of: date, top: int) -> Reduced | None:
    """`_reduce.sales` on the summarised orders; None where it would refuse a total (the
    orders' or the refunds' amounts of the 15 months could overflow int64)."""
    rows, w = t.window(body["months"], body["monthly"], _FIELDS, top)
    out = np.zeros((_COLUMNS, ROWS), np.int64)
    if len(rows):
        if not (t.fits(w[_ORDERS], w[_LARGEST]) and t.fits(w[_REFUNDS], w[_LARGEST_REFUND])):
            return None
        out[:, rows] = w[:_COLUMNS]
    return c.monthly(SCOPE, sales_orders=out[_ORDERS], sales_gross_fen=out[_GROSS],
                     sales_ecommerce_fen=out[_ONLINE_FEN], sales_repeat_orders=out[_REPEAT],
                     sales_refunded_fen=out[_REFUNDED]), t.first_month(body["first_day"], as_of)


# -- many businesses at once -----------------------------------------------------------------------
_H = HISTORY_MONTHS
_PANEL_FIELDS = {"sales_orders": _ORDERS, "sales_gross_fen": _GROSS,
                 "sales_refunded_fen": _REFUNDED, "sales_ecommerce_fen": _ONLINE_FEN,
                 "sales_repeat_orders": _REPEAT}


def _tails(added: Sequence[SourceData], ok: np.ndarray
           ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The tails' order fields read per business with `_Orders`' accessors (a business whose
    amount is not an int64 is marked not `ok`, as `extend` refuses it), the text ones
    (`among`, the digests) answered for all the tails at once: the businesses read, the
    fields laid end to end (amount, ordered day, refund day, online, customer digest), and
    each order's business."""
    who, fields, customers = [], ([], [], [], []), []
    for b, source in enumerate(added):
        if not source.record_count:
            continue
        try:
            amount = source.ints("amount_fen")
        except RiskDataError:
            ok[b] = False
            continue
        who.append(b)
        for into, value in zip(fields, (amount, source.days("ordered_on"),
                                        source.days("refunded_on"), source.typed("channel"))):
            into.append(value)
        customers.append(source.typed("customer_hash"))
    businesses = np.array(who, np.int64)
    if not who:
        empty = [np.zeros(0, d) for d in (np.int64, np.int64, np.int64, bool, np.uint64)]
        return businesses, empty, np.zeros(0, np.int64)
    lengths = np.fromiter(map(len, fields[0]), np.int64, len(who))
    # `among` and `text_digests` asked once per word of all the tails' columns
    words, index = column_words(fields[3])
    online = np.fromiter(map(_ONLINE.__contains__, words), bool, len(words))[index]
    return businesses, [*(np.concatenate(f) for f in fields[:3]), online,
                        text_digests_many(customers)], np.repeat(businesses, lengths)


def _repeats(bodies: Sequence[Body], who: np.ndarray, owner: np.ndarray,
             customer: np.ndarray, month: np.ndarray
             ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`extend`'s repeat rule for all the tails at once: which tail orders are repeats, and
    (month, business, count) of the stored first-month orders that become repeats (of the
    customers a tail order takes back to an earlier month)."""
    # the tails' customers, per business, each with its earliest month in the tail
    order = np.lexsort((customer, owner))
    o, d, m = owner[order], customer[order], month[order]
    head = np.empty(len(o), bool)
    head[:1] = True
    np.not_equal(o[1:], o[:-1], out=head[1:])
    head[1:] |= d[1:] != d[:-1]
    starts = np.flatnonzero(head)
    run = np.cumsum(head) - 1
    group_owner, digest = o[starts], d[starts]
    # ...and its first month and orders in it so far: the stored customers of the businesses
    # with a tail laid end to end, each looked up in its own business's run
    held = [bodies[b]["customers"] for b in who.tolist()]
    sizes = np.fromiter(map(len, held), np.int64, len(held))
    end = np.cumsum(sizes)
    run_of = np.zeros(int(who.max()) + 1, np.int64)
    run_of[who] = np.arange(len(who))
    r = run_of[group_owner]
    known, at = found_in_runs(np.concatenate(held), (end - sizes)[r], end[r], digest)
    old = np.full(len(starts), _NEVER)
    old_count = np.zeros(len(starts), np.int64)
    if known.any():
        at = at[known]
        old[known] = np.concatenate([bodies[b]["customer_month"] for b in who.tolist()])[at]
        old_count[known] = np.concatenate(
            [bodies[b]["customer_orders"] for b in who.tolist()])[at]
    first = np.minimum(old, np.minimum.reduceat(m, starts))
    repeat = np.empty(len(m), np.int64)
    repeat[order] = m != first[run]
    earlier = np.flatnonzero((first < old) & known)
    return repeat, (old[earlier], group_owner[earlier], old_count[earlier])


def _into(win: np.ndarray, top: int, months: np.ndarray, owners: np.ndarray,
          *values: tuple[int, np.ndarray | int]) -> None:
    """Add records into the windows (`t.windows`' block) as `t.add` adds them into a table:
    record i's value of each (field, values) at its month's row of its business's window
    (the records of months outside the window skipped), the first `_SUMS` fields added, the
    rest maxed."""
    lo = top - _H
    inside = np.flatnonzero((months >= lo) & (months < top))
    cell = owners[inside] * _H + (months[inside] - lo)
    flat = win.reshape(-1)
    cells = win.shape[1]
    for field, value in values:
        v = value if np.isscalar(value) else value[inside]
        if field < _SUMS:
            np.add.at(flat, field * cells + cell, v)
        else:
            np.maximum.at(flat, field * cells + cell, v)


def panel_many(bodies: Sequence[Body], added: Sequence[SourceData], as_of: date, top: int
               ) -> Stacked:
    """`panel` of each `extend(bodies[b], added[b])` (of the body alone when the tail is
    empty), stacked (`stacked.stack`): equal to it, refusals included, with NumPy calls whose
    number does not grow with the number of businesses.

    Why it needs no extended body: the panel reads the 15 months before `top` of the extended
    table, which is the stored table plus the tail's orders and refunds, plus -- per customer
    of the tail whose first month moves earlier -- its orders of its old first month turned
    repeats.  So the stored windows are gathered at once, and the tails' additions, found with
    each customer looked up in its own business's sorted customers, are added into them."""
    count = len(bodies)
    out = Stacked.empty(SCOPE, count)
    if not count:
        return out
    ok = out.ok
    who, (amount, day, back, online, customer), owner = _tails(added, ok)
    win = t.windows([body["months"] for body in bodies], [body["monthly"] for body in bodies],
                    _FIELDS, top)
    if len(who):
        made = back > 0
        months = t.months_of(np.concatenate((day, back[made])))
        month, refund_month = months[:len(day)], months[len(day):]
        repeat, (again, again_owner, again_count) = _repeats(bodies, who, owner, customer,
                                                             month)
        _into(win, top, month, owner, (_ORDERS, 1), (_GROSS, amount),
              (_ONLINE_FEN, amount * online), (_REPEAT, repeat), (_LARGEST, amount))
        refunded = amount[made]
        _into(win, top, refund_month, owner[made], (_REFUNDED, refunded), (_REFUNDS, 1),
              (_LARGEST_REFUND, refunded))
        _into(win, top, again, again_owner, (_REPEAT, again_count))
    blocks = win.reshape(_FIELDS, count, _H)
    ok &= t.fits_many(blocks[_ORDERS], blocks[_LARGEST])
    ok &= t.fits_many(blocks[_REFUNDS], blocks[_LARGEST_REFUND])
    for name, field in _PANEL_FIELDS.items():
        values, valid = out.columns[name]
        values[:, :_H] = blocks[field]
        valid[:, :_H] = ok[:, None]
    out.first_month[:] = t.first_months([body["first_day"] for body in bodies], day, owner,
                                        as_of, top)
    return out


__all__ = ["build", "extend", "panel", "panel_many"]
