"""Per-source reductions of one business's records to panel columns (see `puhui.risk.panel`).

Each reducer takes a source's validated data, `as_of` and the month index of `as_of`, applies the
point-in-time rule of its source, and returns the panel columns it owns (`panel.Column`) and
the month indices in which it saw activity.  The large sources (orders, waybills, app events:
thousands of records on the live path) are reduced with NumPy (`_columns`), reading each needed
field's column (`SourceData.column`) once and sorting nothing; the small ones (bank lines, tax
filings, bills, the bureau report) with loops over their rows (`SourceData.rows`), which beat
NumPy's fixed cost per call at a few hundred records.
"""

from __future__ import annotations

from datetime import date
from itertools import compress
from typing import Callable

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk import _columns as c
from puhui.risk.data.payload import SourceData
from puhui.risk.data.records import TaxFiling, UtilityBill
from puhui.risk.panel import (
    HISTORY_MONTHS, ROWS, SNAPSHOT, filing_deadline, month_index, window_starts,
)

Reduced = c.Reduced
_NEVER = np.iinfo(np.int64).max
_ONLINE = {"pos": False, "ecommerce": True}
_LOGIN = frozenset({"login"})


def sales(source: SourceData, as_of: date, top: int) -> Reduced:
    n = source.record_count
    if not n:
        return c.monthly(DataScope.SALES), []
    day = c.days(source.column("ordered_on"), n)
    row = c.rows(day, top)
    # a repeat order: its customer ordered in an earlier month (all earlier months share
    # row -1; orders after as_of fall after every complete month, so they never count)
    customer = c.codes(source.column("customer_hash"))
    first = np.full(n, _NEVER)
    np.minimum.at(first, customer, row)
    inside = c.complete(row)
    r = row[inside]
    repeat = (row > first[customer])[inside]
    m = len(r)  # read amounts of the panel's orders only
    amounts = source.column("amount_fen")
    amount = c.money(compress(amounts, inside), m, "sales amounts")
    online = np.fromiter(map(_ONLINE.__getitem__, compress(source.column("channel"), inside)),
                         bool, m)
    refunded = [0] * ROWS
    lo = top - HISTORY_MONTHS
    for back, fen in compress(zip(source.column("refunded_on"), amounts),
                              source.column("refunded")):
        # a refund counts in the month it was made, once made
        if back <= as_of and 0 <= month_index(back) - lo < HISTORY_MONTHS:
            refunded[month_index(back) - lo] += fen
    return c.monthly(DataScope.SALES, sales_orders=c.by_row(r),
                     sales_gross_fen=c.by_row(r, amount),
                     sales_ecommerce_fen=c.by_row(r[online], amount[online]),
                     sales_repeat_orders=c.by_row(r[repeat]),
                     sales_refunded_fen=c.ints(refunded)), c.first_month(day, as_of)


def tax(source: SourceData, as_of: date, top: int) -> Reduced:
    records = source.rows()
    covered, revenue, paid, late = ([0] * ROWS for _ in range(4))
    filed = sorted((r for r in records if r.filed_on <= as_of), key=lambda r: r.filed_on)
    winner: dict[int, TaxFiling] = {}
    lo = top - HISTORY_MONTHS
    for r in filed:  # a later filing for the same months (an amendment) replaces the earlier one
        if r.tax_type == "vat":
            for i in range(month_index(r.period_start), month_index(r.period_end) + 1):
                winner[i] = r
        row = month_index(r.period_end) - lo
        if 0 <= row < HISTORY_MONTHS and r.filed_on > filing_deadline(r.period_start,
                                                                      r.period_end):
            late[row] += 1
    for i, r in winner.items():
        row = i - lo
        if not 0 <= row < HISTORY_MONTHS:
            continue
        first, last = month_index(r.period_start), month_index(r.period_end)
        n = last - first + 1
        covered[row] = 1
        for out, total in ((revenue, r.declared_revenue_fen), (paid, r.tax_paid_fen)):
            share = total // n  # spread evenly, the remainder in the period's last month
            out[row] = share + (total - share * n if i == last else 0)
    return c.monthly(DataScope.TAX, tax_vat_covered=c.ints(covered),
                     tax_vat_revenue_fen=c.ints(revenue), tax_vat_paid_fen=c.ints(paid),
                     tax_late_filings=c.ints(late)), \
        [month_index(r.period_start) for r in filed]


def _late(bill: UtilityBill, as_of: date) -> bool:
    if bill.paid_on is not None and bill.paid_on <= as_of:
        return bill.paid_on > bill.due_on
    return as_of > bill.due_on


def utility(source: SourceData, as_of: date, top: int) -> Reduced:
    records = source.rows()
    billed_flag, kwh, water, amount, late = ([0] * ROWS for _ in range(5))
    billed = [r for r in records if r.billed_on <= as_of]
    lo = top - HISTORY_MONTHS
    for r in billed:
        row = month_index(r.period_month) - lo
        if not 0 <= row < HISTORY_MONTHS:
            continue
        if r.utility == "electricity":
            billed_flag[row] = 1
            kwh[row] += r.usage
        else:
            water[row] += r.usage
        amount[row] += r.amount_fen
        late[row] += _late(r, as_of)
    return c.monthly(DataScope.UTILITY, elec_billed=c.ints(billed_flag), elec_kwh=c.ints(kwh),
                     water_m3=c.ints(water), utility_fen=c.ints(amount),
                     utility_late=c.ints(late)), \
        [month_index(min(r.period_month for r in billed))] if billed else []


def logistics(source: SourceData, as_of: date, top: int) -> Reduced:
    if not source.record_count:
        return c.monthly(DataScope.LOGISTICS), []
    day = c.days(source.column("shipped_on"), source.record_count)
    row = c.rows(day, top)
    inside = c.complete(row)
    r = row[inside]
    m = len(r)  # read the panel's waybills only
    grams = c.money(compress(source.column("weight_g"), inside), m, "waybill weights")
    fees = c.money(compress(source.column("fee_fen"), inside), m, "waybill fees")
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
    day = c.days(source.column("booked_on"), n)
    known = int(np.count_nonzero(day <= as_of.toordinal()))
    order = np.argsort(day, kind="stable")[:known]  # booking order, ties as listed
    w = c.rows(day, top)[order]  # non-decreasing: -1 before the panel, HISTORY_MONTHS in as_of's
    amount = c.money(source.column("amount_fen"), n, "bank amounts")[order]
    balance = c.money(source.column("balance_after_fen"), n, "bank balances")[order]
    party = c.codes(source.column("counterparty_hash"))[order]
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
    day = c.days(source.column("occurred_at"), n)  # UTC timestamps: their UTC date
    row = c.rows(day, top)
    login = np.fromiter(map(_LOGIN.__contains__, source.column("event_type")), bool, n)
    # a device is new on the day of its first event (events after as_of: never inside)
    first = np.full(n, _NEVER)
    np.minimum.at(first, c.codes(source.column("device_id")), day)
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
