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
  refund), then the largest order amount and the largest refund (for the overflow rule);
- ``customers``: uint64, the sorted digests (`_digest.text_digests`) of the customers;
- ``customer_month``, ``customer_orders``: int64, each customer's first month and its number
  of orders in that month;
- ``first_day``: int64, the earliest `ordered_on` ordinal (empty: no orders).

`build` and `extend` give None only when an amount does not fit int64 (the reducer refuses
such data for every as_of); `panel` gives None exactly where the reducer's overflow rule
refuses the order or refund totals of its 15 months.
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
from puhui.risk.summaries._digest import text_digests

Body = dict[str, np.ndarray]
SCOPE = DataScope.SALES
_ONLINE = frozenset({"ecommerce"})
# the table's fields: added, then maxed
_ORDERS, _GROSS, _ONLINE_FEN, _REPEAT, _REFUNDED, _REFUNDS, _LARGEST, _LARGEST_REFUND = range(8)
_FIELDS, _SUMS, _COLUMNS = 8, 6, 5  # the first _COLUMNS fields are the panel's columns
_NEVER = np.iinfo(np.int64).max


class _Orders:
    """The fields of a source's orders the summary reads (None: an amount not in int64)."""

    __slots__ = ("amount", "back", "customer", "day", "month", "online")

    def __init__(self, source: SourceData) -> None:
        self.amount = source.ints("amount_fen")
        self.day = source.days("ordered_on")
        self.month = c.months(self.day)
        self.online = source.among("channel", _ONLINE)
        self.back = source.days("refunded_on")  # 0: not refunded
        self.customer = text_digests(source.typed("customer_hash"))

    @classmethod
    def of(cls, source: SourceData) -> _Orders | None:
        try:
            return cls(source)
        except RiskDataError:
            return None

    def tally(self, repeat: np.ndarray, again: tuple[np.ndarray, np.ndarray] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """The orders' and refunds' table, `repeat` marking repeat orders; `again`: (months,
        counts) of earlier orders that became repeats."""
        made = self.back > 0
        refunded = self.amount[made]
        n, m = len(self.amount), len(refunded)
        k = n + m + (0 if again is None else len(again[0]))
        values = np.zeros((_FIELDS, k), np.int64)
        values[_ORDERS, :n] = 1
        values[_GROSS, :n] = values[_LARGEST, :n] = self.amount
        values[_ONLINE_FEN, :n] = np.where(self.online, self.amount, 0)
        values[_REPEAT, :n] = repeat
        values[_REFUNDED, n:n + m] = values[_LARGEST_REFUND, n:n + m] = refunded
        values[_REFUNDS, n:n + m] = 1
        month = [self.month, c.months(self.back[made])]
        if again is not None:
            month.append(again[0])
            values[_REPEAT, n + m:] = again[1]
        return t.tally(np.concatenate(month), values, _SUMS)


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order sorting `keys`, the start of each run of equal keys in it, each sorted key's
    run number)."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    head = np.concatenate(([True], k[1:] != k[:-1]))
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
    months, table = orders.tally(repeat)
    return {"months": months, "monthly": table.ravel(),
            "customers": orders.customer[order][starts], "customer_month": first,
            "customer_orders": np.add.reduceat(at_first.astype(np.int64), starts),
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
    digest = orders.customer[order][starts]
    customers = body["customers"]
    was_month, was_orders = body["customer_month"], body["customer_orders"]
    at = np.searchsorted(customers, digest)
    known = at < len(customers)
    known[known] = customers[at[known]] == digest[known]
    here = np.where(known, at, 0)
    old = np.where(known, was_month[here] if len(customers) else 0, _NEVER)
    first = np.minimum(old, np.minimum.reduceat(month, starts))
    at_first = month == first[run]
    count = np.where(first == old, np.where(known, was_orders[here] if len(customers) else 0, 0),
                     0) + np.add.reduceat(at_first.astype(np.int64), starts)
    repeat = np.empty(len(month), bool)
    repeat[order] = ~at_first
    earlier = known & (first < old)  # these customers' orders of their old first month repeat
    again = (old[earlier], was_orders[here[earlier]]) if earlier.any() else None
    more_months, more = orders.tally(repeat, again)
    months = body["months"]
    months, table = t.combine(months, body["monthly"].reshape(_FIELDS, len(months)),
                              more_months, more, _SUMS)
    new = ~known
    if new.any():
        customers = np.insert(customers, at[new], digest[new])
        was_month = np.insert(was_month, at[new], 0)
        was_orders = np.insert(was_orders, at[new], 0)
    else:
        was_month, was_orders = was_month.copy(), was_orders.copy()
    where = np.searchsorted(customers, digest)
    was_month[where] = first
    was_orders[where] = count
    return {"months": months, "monthly": table.ravel(), "customers": customers,
            "customer_month": was_month, "customer_orders": was_orders,
            "first_day": t.earliest(body["first_day"], orders.day)}


def panel(body: Body, as_of: date, top: int) -> Reduced | None:
    """`_reduce.sales` on the summarised orders; None where it would refuse a total (the
    orders' or the refunds' amounts of the 15 months could overflow int64)."""
    months = body["months"]
    rows, w = t.window(months, body["monthly"].reshape(_FIELDS, len(months)), top)
    out = np.zeros((_COLUMNS, ROWS), np.int64)
    if len(rows):
        if not (t.fits(int(w[_ORDERS].sum()), int(w[_LARGEST].max()))
                and t.fits(int(w[_REFUNDS].sum()), int(w[_LARGEST_REFUND].max()))):
            return None
        out[:, rows] = w[:_COLUMNS]
    return c.monthly(SCOPE, sales_orders=out[_ORDERS], sales_gross_fen=out[_GROSS],
                     sales_ecommerce_fen=out[_ONLINE_FEN], sales_repeat_orders=out[_REPEAT],
                     sales_refunded_fen=out[_REFUNDED]), t.first_month(body["first_day"], as_of)


__all__ = ["build", "extend", "panel"]
