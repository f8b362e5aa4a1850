"""Per-source reductions of one business's records to panel columns (see `puhui.risk.panel`).

Each reducer takes the validated records, `as_of` and the month index of `as_of`, applies the
point-in-time rule of its source, and returns the panel columns it owns (lists of `ROWS` values,
oldest month first, the as_of row last) and the month indices in which it saw activity.  Plain
loops are fine here: this is one business's data on the live path, a few thousand records.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Callable, Sequence

from puhui.origination.consent import DataScope
from puhui.risk.data.records import (
    AppEvent, BankTransaction, BureauReport, Record, SalesOrder, TaxFiling, UtilityBill, Waybill,
)
from puhui.risk.panel import (
    HISTORY_MONTHS, MONTHLY, ROWS, SNAPSHOT, filing_deadline, month_index, window_starts,
)

Reduced = tuple[dict[str, list], list[int]]


def _blank(scope: DataScope) -> dict[str, list]:
    """Monthly columns at zero on complete months (null on the as_of row); snapshots null."""
    out = {c: [0] * HISTORY_MONTHS + [None] for c in MONTHLY[scope]}
    out.update({c: [None] * ROWS for c in SNAPSHOT.get(scope, {})})
    return out


def _row(index: int, top: int) -> int | None:
    """Row of a complete month inside the panel, else None."""
    pos = index - (top - HISTORY_MONTHS)
    return pos if 0 <= pos < HISTORY_MONTHS else None


def sales(records: Sequence[SalesOrder], as_of: date, top: int) -> Reduced:
    out = _blank(DataScope.SALES)
    orders = sorted((r for r in records if r.ordered_on <= as_of), key=lambda r: r.ordered_on)
    counts, gross, ecom = out["sales_orders"], out["sales_gross_fen"], out["sales_ecommerce_fen"]
    repeat, refunded = out["sales_repeat_orders"], out["sales_refunded_fen"]
    lo = top - HISTORY_MONTHS
    seen: set[str] = set()
    month_customers: set[str] = set()
    current = None
    for r in orders:
        day = r.ordered_on
        i = day.year * 12 + day.month - 1
        if i != current:
            seen |= month_customers
            month_customers, current = set(), i
        month_customers.add(r.customer_hash)
        row = i - lo
        if 0 <= row < HISTORY_MONTHS:
            counts[row] += 1
            gross[row] += r.amount_fen
            if r.channel == "ecommerce":
                ecom[row] += r.amount_fen
            if r.customer_hash in seen:
                repeat[row] += 1
        back = r.refunded_on
        if back is not None and back <= as_of:
            refund_row = back.year * 12 + back.month - 1 - lo
            if 0 <= refund_row < HISTORY_MONTHS:
                refunded[refund_row] += r.amount_fen
    return out, [month_index(orders[0].ordered_on)] if orders else []


def tax(records: Sequence[TaxFiling], as_of: date, top: int) -> Reduced:
    out = _blank(DataScope.TAX)
    filed = sorted((r for r in records if r.filed_on <= as_of), key=lambda r: r.filed_on)
    winner: dict[int, TaxFiling] = {}
    for r in filed:  # a later filing for the same months (an amendment) replaces the earlier one
        if r.tax_type == "vat":
            for i in range(month_index(r.period_start), month_index(r.period_end) + 1):
                winner[i] = r
        row = _row(month_index(r.period_end), top)
        if row is not None and r.filed_on > filing_deadline(r.period_start, r.period_end):
            out["tax_late_filings"][row] += 1
    for i, r in winner.items():
        row = _row(i, top)
        if row is None:
            continue
        first, last = month_index(r.period_start), month_index(r.period_end)
        n = last - first + 1
        out["tax_vat_covered"][row] = 1
        for name, total in (("tax_vat_revenue_fen", r.declared_revenue_fen),
                            ("tax_vat_paid_fen", r.tax_paid_fen)):
            share = total // n
            out[name][row] = share + (total - share * n if i == last else 0)
    return out, [month_index(r.period_start) for r in filed]


def _late(bill: UtilityBill, as_of: date) -> bool:
    if bill.paid_on is not None and bill.paid_on <= as_of:
        return bill.paid_on > bill.due_on
    return as_of > bill.due_on


def utility(records: Sequence[UtilityBill], as_of: date, top: int) -> Reduced:
    out = _blank(DataScope.UTILITY)
    billed = [r for r in records if r.billed_on <= as_of]
    for r in billed:
        row = _row(month_index(r.period_month), top)
        if row is None:
            continue
        if r.utility == "electricity":
            out["elec_billed"][row] = 1
            out["elec_kwh"][row] += r.usage
        else:
            out["water_m3"][row] += r.usage
        out["utility_fen"][row] += r.amount_fen
        out["utility_late"][row] += int(_late(r, as_of))
    return out, [month_index(min(r.period_month for r in billed))] if billed else []


def logistics(records: Sequence[Waybill], as_of: date, top: int) -> Reduced:
    out = _blank(DataScope.LOGISTICS)
    counts, grams, fees = out["waybills"], out["shipped_weight_g"], out["logistics_fee_fen"]
    lo, first = top - HISTORY_MONTHS, None
    for r in records:
        day = r.shipped_on
        if day > as_of:
            continue
        if first is None or day < first:
            first = day
        row = day.year * 12 + day.month - 1 - lo
        if 0 <= row < HISTORY_MONTHS:
            counts[row] += 1
            grams[row] += r.weight_g
            fees[row] += r.fee_fen
    return out, [month_index(first)] if first else []


def bank(records: Sequence[BankTransaction], as_of: date, top: int) -> Reduced:
    out = _blank(DataScope.BANK_STATEMENT)
    out["bank_min_balance_fen"] = [None] * ROWS  # unknown until the first statement line
    booked = sorted((r for r in records if r.booked_on <= as_of), key=lambda r: r.booked_on)
    by_month: dict[int, list[BankTransaction]] = defaultdict(list)
    for r in booked:
        by_month[month_index(r.booked_on)].append(r)
    balance = None  # the last balance known before each month, carried over quiet months
    for i in range(min(by_month, default=top), top):
        lines = by_month.get(i, [])
        row = _row(i, top)
        if row is not None:
            paid_to = {r.counterparty_hash for r in lines if r.amount_fen < 0}
            for r in lines:
                if r.amount_fen > 0:
                    out["bank_inflow_fen"][row] += r.amount_fen
                    if r.counterparty_hash in paid_to:
                        out["bank_round_trip_fen"][row] += r.amount_fen
                else:
                    out["bank_outflow_fen"][row] -= r.amount_fen
            lows = [r.balance_after_fen for r in lines] + ([balance] if not lines and
                                                           balance is not None else [])
            out["bank_min_balance_fen"][row] = min(lows) if lows else None
        if lines:
            balance = lines[-1].balance_after_fen
    return out, [month_index(r.booked_on) for r in booked[:1]]


def bureau(records: Sequence[BureauReport], as_of: date, top: int) -> Reduced:
    available = [r for r in records if r.reported_on <= as_of]
    if not available:
        return {}, []
    report = max(enumerate(available), key=lambda p: (p[1].reported_on, p[0]))[1]
    out = _blank(DataScope.BUREAU)
    for h in report.overdue_history:
        row = _row(month_index(h.month), top)
        if row is not None:
            out["bureau_overdue_days"][row] = max(out["bureau_overdue_days"][row], h.overdue_days)
    open_loans = [loan for loan in report.loans if loan.status == "open"]
    starts = window_starts(as_of)
    asked = [e.enquired_on for e in report.enquiries if e.reason == "loan_approval"]
    snap = {"bureau_open_loans": len(open_loans),
            "bureau_balance_fen": sum(loan.balance_fen for loan in open_loans),
            "bureau_limit_fen": sum(loan.limit_fen for loan in open_loans),
            "bureau_enquiries_3m": sum(starts["3m"] < d <= as_of for d in asked),
            "bureau_enquiries_6m": sum(starts["6m"] < d <= as_of for d in asked)}
    for name, value in snap.items():
        out[name][HISTORY_MONTHS] = value
    return out, []


def app(records: Sequence[AppEvent], as_of: date, top: int) -> Reduced:
    out = _blank(DataScope.APP_BEHAVIOUR)
    events = sorted((r for r in records if r.occurred_at.date() <= as_of),
                    key=lambda r: r.occurred_at)
    first_seen: dict[str, date] = {}
    start = window_starts(as_of)["30d"]
    logins, new_devices = out["app_logins"], out["app_new_devices"]
    lo = top - HISTORY_MONTHS
    logins_30d = 0
    for r in events:
        day = r.occurred_at.date()
        row = day.year * 12 + day.month - 1 - lo
        inside = 0 <= row < HISTORY_MONTHS
        if r.device_id not in first_seen:
            first_seen[r.device_id] = day
            if inside:
                new_devices[row] += 1
        if r.event_type == "login":
            logins_30d += start < day
            if inside:
                logins[row] += 1
    out["app_logins_30d"][HISTORY_MONTHS] = logins_30d
    out["app_new_devices_30d"][HISTORY_MONTHS] = sum(start < d for d in first_seen.values())
    return out, [month_index(events[0].occurred_at.date())] if events else []


REDUCERS: dict[DataScope, Callable[[Sequence[Record], date, int], Reduced]] = {
    DataScope.SALES: sales, DataScope.TAX: tax, DataScope.UTILITY: utility,
    DataScope.LOGISTICS: logistics, DataScope.BANK_STATEMENT: bank, DataScope.BUREAU: bureau,
    DataScope.APP_BEHAVIOUR: app,
}
