"""Per-source reductions of one business's records to panel columns (see `puhui.risk.panel`).

Each reducer takes a source's validated data, `as_of` and the month index of `as_of`, applies the
point-in-time rule of its source, and returns the panel columns it owns (`panel.Column`) and
the month indices in which it saw activity (the earliest such month is enough: the panel takes
the minimum).  Every reducer but the bureau's works with NumPy over whole fields, read through
`SourceData`'s typed accessors (`days`, `ints`, `codes`, `among`): no Python step per record,
because the batch re-evaluation of lines reduces thousands of businesses' data per chunk, and
a merged monitoring state hands its fields over as arrays, never as Python values.  The
bureau's (one nested report) loops over its few entries.
"""

from __future__ import annotations

from datetime import date
from typing import Callable

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk import _columns as c
from puhui.risk.data.payload import SourceData
from puhui.risk.panel import (
    HISTORY_MONTHS, ROWS, SNAPSHOT, month_index, window_starts,
)

Reduced = c.Reduced
_NEVER = np.iinfo(np.int64).max
_ONLINE, _LOGIN = frozenset({"ecommerce"}), frozenset({"login"})
_VAT, _WATER = frozenset({"vat"}), frozenset({"water"})
_PANEL = np.arange(HISTORY_MONTHS)


def sales(source: SourceData, as_of: date, top: int) -> Reduced:
    n = source.record_count
    if not n:
        return c.monthly(DataScope.SALES), []
    day = source.days("ordered_on")
    row = c.rows(day, top)
    # a repeat order: its customer ordered in an earlier month (all earlier months share
    # row -1; orders after as_of fall after every complete month, so they never count)
    customer = source.codes("customer_hash")
    first = np.full(n, _NEVER)
    np.minimum.at(first, customer, row)
    inside = c.complete(row)
    r = row[inside]
    repeat = (row > first[customer])[inside]
    amounts = source.ints("amount_fen")
    amount = c.summable(amounts[inside], "sales amounts")
    online = source.among("channel", _ONLINE)[inside]
    # a refund counts in the month it was made, once made (refunded_on is set exactly when
    # the order was refunded: 0 otherwise)
    back = source.days("refunded_on")
    made = (back > 0) & (back <= as_of.toordinal())
    back_row = c.rows(back[made], top)
    counted = c.complete(back_row)
    refunds = c.summable(amounts[made][counted], "sales refunds")
    return c.monthly(DataScope.SALES, sales_orders=c.by_row(r),
                     sales_gross_fen=c.by_row(r, amount),
                     sales_ecommerce_fen=c.by_row(r[online], amount[online]),
                     sales_repeat_orders=c.by_row(r[repeat]),
                     sales_refunded_fen=c.by_row(back_row[counted], refunds)), \
        c.first_month(day, as_of)


def tax(source: SourceData, as_of: date, top: int) -> Reduced:
    """Filings known by as_of (filed_on), in filing order (by day, ties as listed): a later VAT
    filing for the same months (an amendment) replaces the earlier one month by month, its
    revenue and tax spread evenly over its period's months, the remainder in the last; a
    filing of any tax type after its deadline (`panel.filing_deadline`) is late in the row
    of its period's end.  Few records: the work is kept to few NumPy calls over all of them."""
    n = source.record_count
    filed = source.days("filed_on")
    known = filed <= as_of.toordinal()
    if not n or not known.any():
        return c.monthly(DataScope.TAX), []
    end = source.days("period_end")
    first, last = c.months(np.concatenate((source.days("period_start"), end)).reshape(2, n))
    # the deadline (`panel.filing_deadline`): the 15th of the month after the period (which
    # ends on its month's last day); 31 May of the next year for an annual return
    deadline = end + 15
    annual = last - first >= 11
    if annual.any():
        deadline = np.where(annual, c.month_firsts(last // 12 * 12 + 16) + 30, deadline)
    late = c.by_row(c.rows(end[known & (filed > deadline)], top))
    # each panel month's VAT filing: the latest covering it by (filed_on, position), -1 if none
    order = np.where(known & source.among("tax_type", _VAT), filed * (n + 1) + np.arange(n), -1)
    month = top - HISTORY_MONTHS + _PANEL
    best = np.where((first[:, None] <= month) & (last[:, None] >= month), order[:, None],
                    -1).max(axis=0)
    covered = best >= 0
    winner = np.maximum(best, 0) % (n + 1)
    spread = (last - first + 1)[winner]
    total = np.concatenate((source.ints("declared_revenue_fen"), source.ints("tax_paid_fen"))
                           ).reshape(2, n)[:, winner]
    share = total // spread  # spread evenly, the remainder in the period's last month
    out = np.zeros((3, ROWS), np.int64)
    out[0, :HISTORY_MONTHS] = covered
    out[1:, :HISTORY_MONTHS] = np.where(
        covered, share + np.where(month == last[winner], total - share * spread, 0), 0)
    return c.monthly(DataScope.TAX, tax_vat_covered=out[0], tax_vat_revenue_fen=out[1],
                     tax_vat_paid_fen=out[2], tax_late_filings=late), [int(first[known].min())]


def utility(source: SourceData, as_of: date, top: int) -> Reduced:
    """Bills known by as_of (billed_on), in the row of their period month: electricity (the
    month is billed, its kWh) or water (its m3), the amount, and late bills: paid after due
    when paid by as_of, else unpaid past due as of as_of."""
    end = as_of.toordinal()
    billed = source.days("billed_on") <= end
    period = source.days("period_month")
    row = np.where(billed, c.rows(period, top), -1)  # a bill not known yet: never counted
    inside = c.complete(row)
    water = source.among("utility", _WATER)
    paid, due = source.days("paid_on"), source.days("due_on")  # paid: 0 if unpaid
    late = np.where((paid > 0) & (paid <= end), paid > due, end > due)
    # usage per (kind, row) as `c.by_row` places it: kind 0 electricity (kWh), 1 water (m3)
    cells = np.zeros((2, ROWS + 2), np.int64)
    np.add.at(cells, (water.astype(np.int64), row + 1),
              c.summable(source.ints("usage"), "utility usage", inside))
    cells[:, HISTORY_MONTHS + 1:] = 0
    billed_elec = c.by_row(row[~water]) > 0
    return c.monthly(DataScope.UTILITY, elec_billed=billed_elec.astype(np.int64),
                     elec_kwh=cells[0, 1:ROWS + 1], water_m3=cells[1, 1:ROWS + 1],
                     utility_fen=c.by_row(row, c.summable(source.ints("amount_fen"),
                                                          "utility amounts", inside)),
                     utility_late=c.by_row(row[late])), c.first_month(period[billed], as_of)


def logistics(source: SourceData, as_of: date, top: int) -> Reduced:
    if not source.record_count:
        return c.monthly(DataScope.LOGISTICS), []
    day = source.days("shipped_on")
    row = c.rows(day, top)
    inside = c.complete(row)
    r = row[inside]
    grams = c.summable(source.ints("weight_g")[inside], "waybill weights")
    fees = c.summable(source.ints("fee_fen")[inside], "waybill fees")
    return c.monthly(DataScope.LOGISTICS, waybills=c.by_row(r),
                     shipped_weight_g=c.by_row(r, grams), logistics_fee_fen=c.by_row(r, fees)), \
        c.first_month(day, as_of)


def bank(source: SourceData, as_of: date, top: int) -> Reduced:
    """Bank lines known by as_of, in booking order (by day, ties as listed): monthly inflow,
    outflow, round trips (an inflow from a counterparty the business paid in the same month)
    and the lowest balance after a line; a quiet month carries the last balance before it, once
    there is one.  With NumPy over the columns: a statement holds hundreds of lines, and the
    batch re-evaluation of lines reduces thousands of businesses' statements per chunk."""
    n = source.record_count
    day = source.days("booked_on")
    known = int(np.count_nonzero(day <= as_of.toordinal()))
    order = np.argsort(day, kind="stable")[:known]  # booking order, ties as listed
    w = c.rows(day, top)[order]  # non-decreasing: -1 before the panel, HISTORY_MONTHS in as_of's
    amount = c.summable(source.ints("amount_fen"), "bank amounts")[order]
    balance = c.summable(source.ints("balance_after_fen"), "bank balances")[order]
    party = source.codes("counterparty_hash")[order]
    inside = (w >= 0) & (w < HISTORY_MONTHS)
    incoming = amount > 0
    key = (w + 1) * (n + 1) + party  # (month, counterparty), both non-negative
    paid = np.isin(key, key[amount < 0])
    inflow, outflow, trip = (np.zeros(ROWS, np.int64) for _ in range(3))
    np.add.at(inflow, w[inside & incoming], amount[inside & incoming])
    np.add.at(outflow, w[inside & ~incoming], -amount[inside & ~incoming])
    np.add.at(trip, w[inside & incoming & paid], amount[inside & incoming & paid])
    low = np.full(ROWS, _NEVER)
    np.minimum.at(low, w[inside], balance[inside])
    lined = np.zeros(ROWS, bool)
    lined[w[inside]] = True
    last = np.flatnonzero(np.append(w[1:] != w[:-1], True)) if known else np.array([], int)
    end = dict(zip(w[last].tolist(), balance[last].tolist()))  # each month's closing balance
    carried = end.get(-1)
    valid = np.zeros(ROWS, bool)
    for m in range(HISTORY_MONTHS):
        if lined[m]:
            valid[m] = True
        elif carried is not None:
            low[m], valid[m] = carried, True
        carried = end.get(m, carried)
    low[~valid] = 0
    out = c.monthly(DataScope.BANK_STATEMENT, bank_inflow_fen=inflow, bank_outflow_fen=outflow,
                    bank_round_trip_fen=trip)
    out["bank_min_balance_fen"] = low, valid & c.COMPLETE
    return out, c.first_month(day, as_of)


def bureau(source: SourceData, as_of: date, top: int) -> Reduced:
    available = [r for r in source.rows() if r.reported_on <= as_of]
    if not available:
        return {}, []
    report = max(enumerate(available), key=lambda p: (p[1].reported_on, p[0]))[1]
    overdue = [0] * ROWS
    lo = top - HISTORY_MONTHS
    for h in report.overdue_history:
        row = month_index(h.month) - lo
        if 0 <= row < HISTORY_MONTHS:
            overdue[row] = max(overdue[row], h.overdue_days)
    open_loans = [loan for loan in report.loans if loan.status == "open"]
    starts = window_starts(as_of)
    asked = [e.enquired_on for e in report.enquiries if e.reason == "loan_approval"]
    snap = {"bureau_open_loans": len(open_loans),
            "bureau_balance_fen": sum(loan.balance_fen for loan in open_loans),
            "bureau_limit_fen": sum(loan.limit_fen for loan in open_loans),
            "bureau_enquiries_3m": sum(starts["3m"] < d <= as_of for d in asked),
            "bureau_enquiries_6m": sum(starts["6m"] < d <= as_of for d in asked)}
    out = c.monthly(DataScope.BUREAU, bureau_overdue_days=c.ints(overdue))
    for name in SNAPSHOT[DataScope.BUREAU]:
        out[name] = _at_as_of(snap[name])
    return out, []


def _at_as_of(value: int) -> c.Column:
    return c.ints([0] * HISTORY_MONTHS + [value]), c.AT_AS_OF


def app(source: SourceData, as_of: date, top: int) -> Reduced:
    n = source.record_count
    if not n:
        out = c.monthly(DataScope.APP_BEHAVIOUR)
        return {**out, "app_logins_30d": _at_as_of(0), "app_new_devices_30d": _at_as_of(0)}, []
    day = source.days("occurred_at")  # UTC timestamps: their UTC date
    row = c.rows(day, top)
    login = source.among("event_type", _LOGIN)
    # a device is new on the day of its first event (events after as_of: never inside)
    first = np.full(n, _NEVER)
    np.minimum.at(first, source.codes("device_id"), day)
    first = first[first != _NEVER]
    start, end = window_starts(as_of)["30d"].toordinal(), as_of.toordinal()
    out = c.monthly(DataScope.APP_BEHAVIOUR, app_logins=c.by_row(row[login]),
                    app_new_devices=c.by_row(c.rows(first, top)))
    recent = (day > start) & (day <= end)
    out["app_logins_30d"] = _at_as_of(int(np.count_nonzero(recent & login)))
    out["app_new_devices_30d"] = _at_as_of(int(np.count_nonzero((first > start) &
                                                                (first <= end))))
    return out, c.first_month(day, as_of)


REDUCERS: dict[DataScope, Callable[[SourceData, date, int], Reduced]] = {
    DataScope.SALES: sales, DataScope.TAX: tax, DataScope.UTILITY: utility,
    DataScope.LOGISTICS: logistics, DataScope.BANK_STATEMENT: bank, DataScope.BUREAU: bureau,
    DataScope.APP_BEHAVIOUR: app,
}
