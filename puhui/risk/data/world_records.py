"""One business's raw records, as its providers would return them on `as_of`.

Each month's cells (`world_sources`) are split into records whose totals are exactly the cells;
records dated after `as_of` are left out and later facts (a refund, a payment, a delivery after
`as_of`) are reported as not having happened yet, as a real provider queried that day would.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta, timezone

import numpy as np

from puhui.parties.consent import DataScope
from puhui.parties.synthetic import REGIONS
from puhui.risk.data import _hashrng as hr
from puhui.risk.data import world_sources as ws
from puhui.risk.data.world import Stream, SyntheticWorld
from puhui.risk.errors import SourceUnavailable
from puhui.risk.panel import month_index, month_of

_LENDERS = ("bank", "microfinance", "consumer_finance", "other")
_FOLLOW_UPS = ("view_dashboard", "view_loan", "apply", "repay")


def _hash(*parts: object) -> str:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).hexdigest()


def _u(w: SyntheticWorld, stream: int, *keys) -> np.ndarray:
    return hr.uniform(w.seed, stream, *keys)


def _split(total: int, n: int, floor_each: int, weights: np.ndarray) -> list[int]:
    """`n` integers of at least `floor_each` summing exactly to `total`."""
    if n == 0:
        return []
    spare = total - floor_each * n
    parts = np.floor(spare * weights / weights.sum()).astype(np.int64)
    parts[-1] += spare - parts.sum()
    return [int(p) + floor_each for p in parts]


def _day(t: int, index: int) -> date:
    return date.fromordinal(int(ws.first_ord(t)) + int(index))


def _scalar(cells: dict[str, np.ndarray]) -> dict[str, int]:
    return {k: int(v[0]) for k, v in cells.items()}


def sales(w: SyntheticWorld, i: int, as_of: date) -> list[dict]:
    if not w.has_sales[i]:
        raise SourceUnavailable(f"no POS or e-commerce platform serves {w.ids[i]}")
    b, top, out, customers = np.array([i]), month_index(as_of), [], 0
    for t in range(int(w.d0[i]), top + 1):
        c = _scalar(ws.sales_cells(w, b, t))
        cells = [("pos", False, c["pos_n"], c["pos_g"]), ("pos", True, c["pos_rn"], c["pos_rg"]),
                 ("ecommerce", False, c["ecom_n"], c["ecom_g"]),
                 ("ecommerce", True, c["ecom_rn"], c["ecom_rg"])]
        total = sum(cell[2] for cell in cells)
        days = int(ws.days_in(t))
        rank = np.argsort(_u(w, Stream.ORDER_PHASE, i, t, np.arange(total)), kind="stable")
        position = np.empty(total, np.int64)
        position[rank] = np.arange(total)
        phase = int(_u(w, Stream.ORDER_PHASE, i, t, -1)[0] * 1000)
        pick = _u(w, Stream.ORDER_SPLIT, i, t, -2, np.arange(total))
        lag = 1 + (_u(w, Stream.ORDER_SPLIT, i, t, -3, np.arange(total)) * 7).astype(int)
        known, j = customers, 0
        for cell_no, (channel, refunded, n, gross) in enumerate(cells):
            weights = 0.5 + _u(w, Stream.ORDER_SPLIT, i, t, cell_no, np.arange(n))
            for amount in _split(gross, n, ws.MIN_ORDER_FEN, weights):
                on = _day(t, hr.spread_days(position[j], total, phase, days))
                if j < c["repeat"]:
                    customer = int(pick[j] * known)
                else:
                    customer, customers = customers, customers + 1
                refund_day = min(on + timedelta(days=int(lag[j])), _day(t, days - 1))
                refunded_on = refund_day if refunded and refund_day <= as_of else None
                if on <= as_of:
                    out.append({"order_id": f"{w.ids[i]}-{t}-{j}", "ordered_on": on.isoformat(),
                                "channel": channel, "amount_fen": amount,
                                "customer_hash": _hash("customer", w.seed, i, customer),
                                "refunded": refunded_on is not None,
                                "refunded_on": refunded_on and refunded_on.isoformat()})
                j += 1
    return out


def tax(w: SyntheticWorld, i: int, as_of: date) -> list[dict]:
    b, top, out = np.array([i]), month_index(as_of), []
    d0 = int(w.d0[i])
    for e in range(d0, top):
        periods = []
        if not w.quarterly[i] or e % 3 == 2:
            first = int(ws.vat_period(w, b, e)[0][0])
            periods.append(("vat", first))
        if e % 3 == 2:
            periods.append(("income_tax", max(e - 2, d0)))
        for kind, first in periods:
            revenue = sum(int(ws.declared(w, b, t)[0]) for t in range(first, e + 1))
            income = kind == "income_tax"
            paid = revenue // 200 if income else revenue * int(w.vat_bp[i]) // 10000
            end = _day(e + 1, -1)
            filed = end + timedelta(days=int(ws.filing_lag(w, b, np.array([e]), income)[0]))
            if filed <= as_of:
                out.append({"tax_type": kind, "period_start": month_of(first).isoformat(),
                            "period_end": end.isoformat(), "filed_on": filed.isoformat(),
                            "declared_revenue_fen": revenue, "tax_paid_fen": paid})
    return out


def utility(w: SyntheticWorld, i: int, as_of: date) -> list[dict]:
    b, top, out, today = np.array([i]), month_index(as_of), [], as_of.toordinal()
    for t in range(int(w.d0[i]), top):
        for kind, code in (("electricity", 0), ("water", 1)):
            bill = _scalar(ws.bills(w, b, t, code))
            if not bill["exists"] or bill["billed"] > today:
                continue
            paid = bill["paid"] if 0 <= bill["paid"] <= today else None
            out.append({"utility": kind, "period_month": f"{month_of(t):%Y-%m}",
                        "usage": bill["usage"], "amount_fen": bill["amount"],
                        "billed_on": date.fromordinal(bill["billed"]).isoformat(),
                        "due_on": date.fromordinal(bill["due"]).isoformat(),
                        "paid_on": paid and date.fromordinal(paid).isoformat()})
    return out


def logistics(w: SyntheticWorld, i: int, as_of: date) -> list[dict]:
    if not w.has_logistics[i]:
        raise SourceUnavailable(f"no logistics partner ships for {w.ids[i]}")
    b, top, out = np.array([i]), month_index(as_of), []
    for t in range(int(w.d0[i]), top + 1):
        c = _scalar(ws.waybills(w, b, t))
        n, days = c["n"], int(ws.days_in(t))
        u = _u(w, Stream.WEIGHT, i, t, np.arange(n), 7)
        grams = _split(c["weight"], n, 1, 0.5 + u)
        fees = _split(c["fee"], n, 0, 0.5 + u[::-1])
        phase = int(_u(w, Stream.WAYBILL, i, t, -1)[0] * 1000)
        for k in range(n):
            shipped = _day(t, hr.spread_days(k, n, phase, days))
            if shipped > as_of:
                break
            delivered = shipped + timedelta(days=1 + int(u[k] * 5))
            out.append({"waybill_id": f"WB{w.ids[i]}{t}{k:04d}",
                        "shipped_on": shipped.isoformat(),
                        "delivered_on": delivered.isoformat() if delivered <= as_of else None,
                        "weight_g": grams[k], "fee_fen": fees[k],
                        "destination_region": REGIONS[int(u[k] * 997) % len(REGIONS)]})
    return out


def bank(w: SyntheticWorld, i: int, as_of: date) -> list[dict]:
    b, top, out = np.array([i]), month_index(as_of), []
    roles = ("trip", "supplier_a", "payer_0", "landlord", "payer_1", "payroll", "supplier_b",
             "payer_0", "trip", "payer_1", "owner")
    for t in range(int(w.d0[i]), top + 1):
        opening = ws.opening_of(w, b, t)
        slots = ws.bank_slots(w, b, t, opening)[0]
        balances = int(opening[0]) + np.cumsum(slots)
        for k, amount in enumerate(slots):
            booked = _day(t, ws.BANK_DAYS[k] - 1)
            if amount == 0 or booked > as_of:
                continue
            who = roles[k] if roles[k] != "trip" else f"trip-{t}"
            out.append({"booked_on": booked.isoformat(), "amount_fen": int(amount),
                        "counterparty_hash": _hash("party", w.seed, i, who),
                        "balance_after_fen": int(balances[k])})
    return out


def bureau(w: SyntheticWorld, i: int, as_of: date) -> list[dict]:
    b, top = np.array([i]), month_index(as_of)
    book = {k: v[0] for k, v in ws.loans(w, b).items()}
    loans = []
    for k in range(ws.LOAN_SLOTS):
        opened, end = int(book["opened"][k]), int(book["opened"][k] + book["term"][k])
        opened_on = month_of(opened).replace(day=int(book["day"][k]))
        if not book["exists"][k] or opened_on > as_of:
            continue
        is_open = top < end
        loans.append({"loan_ref": _hash("loan", w.seed, i, k),
                      "lender_type": _LENDERS[int(book["lender"][k])],
                      "opened_on": opened_on.isoformat(), "limit_fen": int(book["limit"][k]),
                      "balance_fen": int(book["limit"][k]) * (end - top) // int(book["term"][k])
                      if is_open else 0, "status": "open" if is_open else "closed"})
    full = {k: v for k, v in ws.loans(w, b).items()}
    history, asked = [], []
    for t in range(top - 24, top + 1):
        if t < top:
            open_, days = ws.overdue(w, b, t, full)
            if open_[0]:
                history.append({"month": f"{month_of(t):%Y-%m}", "overdue_days": int(days[0])})
        n, phase = (int(x[0]) for x in ws.enquiries(w, b, t))
        for k in range(n):
            on = _day(t, hr.spread_days(k, n, phase, int(ws.days_in(t))))
            if on <= as_of:
                asked.append({"enquired_on": on.isoformat(), "reason": "loan_approval"})
    return [{"reported_on": as_of.isoformat(), "loans": loans, "overdue_history": history,
             "enquiries": asked}]


def app(w: SyntheticWorld, i: int, as_of: date) -> list[dict]:
    b, top, out, devices = np.array([i]), month_index(as_of), [], 0
    for t in range(int(w.d0[i]), top + 1):
        a = _scalar(ws.logins(w, b, t))
        days = int(ws.days_in(t))
        u = _u(w, Stream.LOGIN, i, t, np.arange(a["n"])[:, None], np.arange(4)[None, :])
        for k in range(a["n"]):
            day = _day(t, hr.spread_days(k, a["n"], a["phase"], days))
            if day > as_of:
                break
            device = devices + k if k < a["new"] else int(u[k, 0] * (devices + a["new"]))
            at = datetime(day.year, day.month, day.day, 1 + int(u[k, 1] * 11),
                          int(u[k, 2] * 60), tzinfo=timezone.utc)
            session = _hash("session", w.seed, i, t, k)
            device_id = _hash("device", w.seed, i, device)
            for m in range(1 + int(u[k, 3] * 3)):
                kind = "login" if m == 0 else _FOLLOW_UPS[(k + m) % len(_FOLLOW_UPS)]
                out.append({"occurred_at": (at + timedelta(minutes=3 * m)).isoformat(),
                            "event_type": kind, "session_id": session, "device_id": device_id})
        devices += a["new"]
    return out


_SOURCES = {DataScope.SALES: sales, DataScope.TAX: tax, DataScope.UTILITY: utility,
            DataScope.LOGISTICS: logistics, DataScope.BANK_STATEMENT: bank,
            DataScope.BUREAU: bureau, DataScope.APP_BEHAVIOUR: app}


def payload(w: SyntheticWorld, scope: DataScope, i: int, as_of: date) -> dict:
    if scope not in _SOURCES:
        raise SourceUnavailable(f"the synthetic world has no {scope.value} provider")
    return {"business_id": str(w.ids[i]), "as_of": as_of.isoformat(),
            "records": _SOURCES[scope](w, i, as_of)}
