"""The synthetic world's sources as monthly cells, vectorised over businesses.

Why cells: a month of a source is described by a few totals (orders and their sum per channel,
a filing's declared revenue and the day it was filed, a bill's usage and payment day, the bank's
statement slots).  The panel (`world_panel`) is computed from the cells for all businesses at
once; the raw records of one business (`world_records`) are the same cells split into records
whose sums are exactly the cells, so the two cannot disagree.

Every cell function takes the businesses `b` and either one month `t` (the panel: a month of
every business) or an array of months aligned with `b` (the records: every month of one
business at once); both give the very same numbers, element by element.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from puhui.risk.data import _hashrng as hr
from puhui.risk.data.world import (
    KWH_PER_YUAN, WAYBILL_G, Stream, SyntheticWorld,
)
from puhui.risk.panel import HISTORY_MONTHS

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: One month for every business, or an array of months aligned with the businesses.
Months = np.ndarray | int
MIN_ORDER_FEN = 100
KWH_FEN, WATER_FEN = 85, 520
BANK_SLOTS = 11
#: Day of the month of each bank statement slot, in booking order.
BANK_DAYS = np.array([3, 4, 6, 9, 13, 14, 17, 20, 24, 27, 28])


def first_ord(t: Months) -> np.ndarray:
    """Proleptic ordinal of the first day of month index t."""
    months = (np.asarray(t, dtype=np.int64) - 1970 * 12).astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64) + EPOCH_ORDINAL


def days_in(t: Months) -> np.ndarray:
    return first_ord(np.asarray(t) + 1) - first_ord(t)


def _u(w: SyntheticWorld, stream: int, *keys) -> np.ndarray:
    return hr.uniform(w.seed, stream, *keys)


def _activity(w: SyntheticWorld, b: np.ndarray, t: Months) -> np.ndarray:
    if np.ndim(t) == 0:
        return w.activity[b, t - w.s0] if w.s0 <= t < w.end else np.zeros(len(b))
    inside = (t >= w.s0) & (t < w.end)
    return np.where(inside, w.activity[b, np.clip(t - w.s0, 0, w.months - 1)], 0.0)


def _distress(w: SyntheticWorld, b: np.ndarray, t: Months) -> np.ndarray:
    return w.distress(b, np.reshape(t, (-1, 1)))[:, 0]


def _column(t: Months) -> np.ndarray:
    """t as a column: one month for every business, or each business's own month."""
    return np.reshape(t, (-1, 1))


def _burst(w: SyntheticWorld, b: np.ndarray, t: Months) -> np.ndarray:
    """Bust-out fraud: the three months before the default."""
    return (w.fraud[b] == 3) & (t >= w.tau[b] - 3) & (t < w.tau[b])


# -- SALES ----------------------------------------------------------------------------------------
def sales_cells(w: SyntheticWorld, b: np.ndarray, t: Months) -> dict[str, np.ndarray]:
    """Per channel: orders kept and refunded, with their gross (refunds fall in the same month)."""
    act = _activity(w, b, t)
    pos_f, ecom_f = w.season(b, t)
    fake = np.where(w.fraud[b] == 2, 0.6, 0.0)
    revenue = {"pos": act * (1 - w.ecom[b]) * pos_f,
               "ecom": act * (w.ecom[b] + fake) * ecom_f}
    out: dict[str, np.ndarray] = {}
    for c, (channel, rev) in enumerate(revenue.items()):
        n = np.where(rev > 0, np.maximum(1, np.floor(rev / w.ticket[b]
                                                     + _u(w, Stream.POS_N + c, b, t))), 0)
        n = n.astype(np.int64)
        gross = np.maximum(np.round(rev), MIN_ORDER_FEN * n).astype(np.int64)
        rate = w.refund[b] * (2.0 if channel == "ecom" else 1.0)
        rn = np.minimum(n, np.floor(n * rate + _u(w, Stream.POS_R + c, b, t))).astype(np.int64)
        share = gross * rn / np.maximum(n, 1) * (0.7 + 0.6 * _u(w, Stream.REFUND_G + c, b, t))
        rg = np.clip(np.round(share).astype(np.int64), MIN_ORDER_FEN * rn,
                     gross - MIN_ORDER_FEN * (n - rn))
        rg = np.where(rn == n, gross, np.where(rn > 0, rg, 0))  # no kept order, no kept gross
        out[f"{channel}_n"], out[f"{channel}_rn"] = n - rn, rn
        out[f"{channel}_g"], out[f"{channel}_rg"] = gross - rg, rg
    total = out["pos_n"] + out["pos_rn"] + out["ecom_n"] + out["ecom_rn"]
    out["repeat"] = np.where(t > w.d0[b], np.minimum(
        total, np.floor(total * w.repeat[b] + _u(w, Stream.REPEAT, b, t))), 0).astype(np.int64)
    out["gross"] = out["pos_g"] + out["pos_rg"] + out["ecom_g"] + out["ecom_rg"]
    out["refunded"] = out["pos_rg"] + out["ecom_rg"]
    out["net"] = out["gross"] - out["refunded"]
    return out


# -- TAX ------------------------------------------------------------------------------------------
def declared(w: SyntheticWorld, b: np.ndarray, t: Months, net: np.ndarray | None = None
             ) -> np.ndarray:
    """VAT-declared revenue of month t: net sales times the business's honesty (fake orders are
    not declared).  `net`: the month's net sales when the caller has its cells already."""
    net = sales_cells(w, b, t)["net"] if net is None else net
    return np.floor(net * w.honesty[b] / np.where(w.fraud[b] == 2, 1.6, 1.0)).astype(np.int64)


def filing_lag(w: SyntheticWorld, b: np.ndarray, end: np.ndarray, income: bool) -> np.ndarray:
    """Days after the period's last day on which it was filed (more than 15 is late)."""
    late_p = w.late_tax[b] + 0.4 * w.distress(b, np.asarray(end).reshape(len(b), -1))[:, 0]
    s_late, s_lag = (Stream.INC_LATE, Stream.INC_LAG) if income else (Stream.VAT_LATE,
                                                                       Stream.VAT_LAG)
    u = _u(w, s_lag, b, end)
    return np.where(_u(w, s_late, b, end) < late_p, 16 + np.floor(u * 30),
                    1 + np.floor(u * 15)).astype(np.int64)


def vat_period(w: SyntheticWorld, b: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) month of the VAT period containing month t."""
    q_start = t - t % 3
    first = np.where(w.quarterly[b], np.maximum(q_start, w.d0[b]), t)
    last = np.where(w.quarterly[b], q_start + 2, t)
    return first, last


def tax_columns(w: SyntheticWorld, b: np.ndarray, top: int, as_of_ord: int
                ) -> dict[str, np.ndarray]:
    """The panel's tax columns for the complete months before `top`, as filed by as_of."""
    lo = top - HISTORY_MONTHS - 3
    months = list(range(lo, top + 3))
    dv = np.stack([declared(w, b, t) for t in months], axis=1)
    cum = np.concatenate([np.zeros((len(b), 1), np.int64), np.cumsum(dv, axis=1)], axis=1)
    rows = np.arange(len(b))
    out = {k: np.zeros((len(b), HISTORY_MONTHS), np.int64) for k in
           ("tax_vat_covered", "tax_vat_revenue_fen", "tax_vat_paid_fen", "tax_late_filings")}
    for j, t in enumerate(range(top - HISTORY_MONTHS, top)):
        first, last = vat_period(w, b, t)
        filed = first_ord(last + 1) - 1 + filing_lag(w, b, last, income=False)
        ok = (t >= w.d0[b]) & (last < top) & (filed <= as_of_ord)
        total = cum[rows, np.clip(last - lo + 1, 0, len(months))] - cum[rows, first - lo]
        n = np.maximum(last - first + 1, 1)
        paid = total * w.vat_bp[b] // 10000
        for name, amount in (("tax_vat_revenue_fen", total), ("tax_vat_paid_fen", paid)):
            share = amount // n
            out[name][:, j] = np.where(ok, share + np.where(t == last, amount - share * n, 0), 0)
        out["tax_vat_covered"][:, j] = ok
        late = ok & (t == last) & (filed - first_ord(last + 1) + 1 > 15)
        inc_lag = filing_lag(w, b, np.full(len(b), t), income=True)
        inc_ok = (t % 3 == 2) & (t >= w.d0[b]) & (first_ord(t + 1) - 1 + inc_lag <= as_of_ord)
        out["tax_late_filings"][:, j] = late.astype(int) + (inc_ok & (inc_lag > 15))
    return out


# -- UTILITY --------------------------------------------------------------------------------------
def bills(w: SyntheticWorld, b: np.ndarray, t: Months, utility: int) -> dict[str, np.ndarray]:
    """A month's bill (utility 0 electricity, 1 water): usage, amount and its dates (ordinals;
    paid -1 while unpaid); `exists` is False where there is no such bill."""
    act = _activity(w, b, t)
    noise = _u(w, Stream.KWH + utility, b, t)
    if utility == 0:
        usage = np.round(act / 100 * KWH_PER_YUAN[w.sector[b]] * (0.9 + 0.2 * noise) + 50)
        exists, price = t >= w.d0[b], KWH_FEN
    else:
        usage = np.round(act / 100 * 0.002 * (0.8 + 0.4 * noise) + 3)
        exists, price = (t >= w.d0[b]) & w.has_water[b], WATER_FEN
    billed = first_ord(t + 1) + np.floor(_u(w, Stream.BILL_DAY, b, t, utility) * 6).astype(int)
    d = _distress(w, b, t)
    p_unpaid, p_late = 0.01 + 0.35 * d ** 2, w.late_bill[b] + 0.4 * d
    u1, u2 = _u(w, Stream.PAY, b, t, utility), _u(w, Stream.PAY_LAG, b, t, utility)
    lag = np.where(u1 < p_unpaid + p_late, 16 + np.floor(u2 * 45), 1 + np.floor(u2 * 14))
    paid = np.where(u1 < p_unpaid, -1, billed + lag.astype(np.int64))
    usage = usage.astype(np.int64)
    return {"exists": exists, "usage": usage, "amount": usage * price, "billed": billed,
            "due": billed + 15, "paid": paid}


def late_as_of(bill: dict[str, np.ndarray], as_of_ord: int) -> np.ndarray:
    paid_known = (bill["paid"] >= 0) & (bill["paid"] <= as_of_ord)
    return np.where(paid_known, bill["paid"] > bill["due"], as_of_ord > bill["due"])


# -- LOGISTICS ------------------------------------------------------------------------------------
def waybills(w: SyntheticWorld, b: np.ndarray, t: Months) -> dict[str, np.ndarray]:
    act = _activity(w, b, t)
    n = np.floor(act / w.waybill_value[b] + _u(w, Stream.WAYBILL, b, t))
    n = n.astype(np.int64)
    weight = np.maximum(n, np.round(n * WAYBILL_G[w.sector[b]]
                                    * (0.8 + 0.4 * _u(w, Stream.WEIGHT, b, t)))).astype(np.int64)
    return {"n": n, "weight": weight, "fee": n * 800 + weight // 1000 * 150}


# -- BANK_STATEMENT -------------------------------------------------------------------------------
def bank_slots(w: SyntheticWorld, b: np.ndarray, t: Months, opening: np.ndarray,
               net: np.ndarray | None = None) -> np.ndarray:
    """Signed amounts of the month's statement slots (0 = no line), `BANK_DAYS` order."""
    net = sales_cells(w, b, t)["net"] if net is None else net
    live = t >= w.d0[b]
    settle = np.round(net * w.bank_share[b]).astype(np.int64)
    weights = 0.5 + _u(w, Stream.BANK_W, b[:, None], _column(t), np.arange(4)[None, :])
    parts = np.floor(settle[:, None] * weights / weights.sum(axis=1, keepdims=True))
    parts = parts.astype(np.int64)
    parts[:, 3] = settle - parts[:, :3].sum(axis=1)
    cost = w.cost[b] + 0.25 * _distress(w, b, t) + 0.05 * hr.normal(w.seed, Stream.COST, b, t)
    outflow = np.round(settle * np.maximum(cost, 0.3)).astype(np.int64)
    payroll = np.round(outflow * 0.3).astype(np.int64)
    split = _u(w, Stream.BANK_W, b, t, 9)
    supply_a = np.floor((outflow - payroll) * split).astype(np.int64)
    supply_b = outflow - payroll - supply_a
    rent = np.maximum(np.round(w.base[b] * 0.08), 1).astype(np.int64)
    trip = np.where(w.fraud[b] == 0, np.round(settle * 0.6 * (0.8 + 0.4 * _u(
        w, Stream.MISC, b, t))), 0).astype(np.int64)
    slots = np.stack([-trip, -supply_a, parts[:, 0], -rent, parts[:, 1], -payroll, -supply_b,
                      parts[:, 2], trip, parts[:, 3], np.zeros(len(b), np.int64)], axis=1)
    before = opening + slots.sum(axis=1)
    target = np.round(w.buffer[b]).astype(np.int64)
    sweep = np.where(before > 1.5 * target, target - before,
                     np.where((before < 0.3 * target) & (_distress(w, b, t) < 0.5),
                              target - before, 0))
    slots[:, 10] = sweep
    return np.where(live[:, None], slots, 0)


def opening_balance(w: SyntheticWorld, b: np.ndarray) -> np.ndarray:
    return np.round(w.buffer[b] * (0.5 + _u(w, Stream.MISC, b, -1))).astype(np.int64)


def bank_closings(w: SyntheticWorld) -> np.ndarray:
    """Closing balance of every business at the end of every world month."""
    b = np.arange(w.n)
    balance = opening_balance(w, b)
    out = np.empty((w.n, w.months), np.int64)
    for t in range(w.s0, w.end):
        balance = balance + bank_slots(w, b, t, balance).sum(axis=1)
        out[:, t - w.s0] = balance
    return out


def opening_of(w: SyntheticWorld, b: np.ndarray, t: Months) -> np.ndarray:
    if np.ndim(t) == 0:
        return opening_balance(w, b) if t == w.s0 else np.where(
            t <= w.d0[b], opening_balance(w, b), w.closing[b, t - 1 - w.s0])
    before = w.closing[b, np.clip(t - 1 - w.s0, 0, w.months - 1)]
    return np.where((t == w.s0) | (t <= w.d0[b]), opening_balance(w, b), before)


# -- BUREAU ---------------------------------------------------------------------------------------
LOAN_SLOTS = 4


def loans(w: SyntheticWorld, b: np.ndarray) -> dict[str, np.ndarray]:
    """Each business's (up to four) bureau loans: shape (len(b), LOAN_SLOTS)."""
    k = np.arange(LOAN_SLOTS)[None, :]
    bb = b[:, None]
    u = _u(w, Stream.MISC, bb, 1000 + np.arange(5)[:, None, None], k)  # u[i]: draw i
    return {"exists": k < w.n_loans[bb],
            "opened": w.s0 - 36 + np.floor(u[0] * (36 + w.months)).astype(np.int64),
            "day": 1 + np.floor(u[1] * 28).astype(np.int64),
            "term": np.array([12, 24, 36])[np.floor(u[2] * 3).astype(int)],
            "limit": (np.maximum(1, np.round(w.base[bb] * (1 + 5 * u[3]) / 100_000))
                      * 100_000).astype(np.int64),
            "lender": np.floor(u[4] * 4).astype(int)}


def overdue(w: SyntheticWorld, b: np.ndarray, t: Months, book: dict
            ) -> tuple[np.ndarray, np.ndarray]:
    """(any loan open in month t, overdue days in month t)."""
    tt = _column(t)
    open_ = (book["exists"] & (book["opened"] <= tt) & (tt < book["opened"] + book["term"])).any(1)
    d = _distress(w, b, t)
    hit = _u(w, Stream.OVERDUE, b, t) < w.max_overdue[b] + 0.5 * d
    days = 1 + np.floor(_u(w, Stream.OD_DAYS, b, t) * (30 + 90 * d)).astype(np.int64)
    return open_, np.where(open_ & hit, days, 0)


def enquiries(w: SyntheticWorld, b: np.ndarray, t: Months) -> tuple[np.ndarray, np.ndarray]:
    """(loan-approval enquiries in month t, their spreading phase)."""
    lam = (0.06 + 0.2 / (1 + np.exp(-w.z[b])) + 0.8 * _distress(w, b, t)
           + 2.5 * _burst(w, b, t))
    n = np.floor(lam + _u(w, Stream.QUERY, b, t)).astype(np.int64)
    return n, np.floor(_u(w, Stream.QUERY_PHASE, b, t) * 1000).astype(np.int64)


# -- APP_BEHAVIOUR --------------------------------------------------------------------------------
def logins(w: SyntheticWorld, b: np.ndarray, t: Months) -> dict[str, np.ndarray]:
    """Logins in month t, how many of the first ones came from new devices, their phase."""
    using = t >= w.app_start[b]
    burst = _burst(w, b, t)
    n = np.floor(w.engagement[b] * (1 + 0.5 * _distress(w, b, t)) + 8 * burst
                 + _u(w, Stream.LOGIN, b, t))
    new = np.where(t == w.app_start[b], 1, np.floor(
        0.03 + 0.1 * _distress(w, b, t) + _u(w, Stream.DEVICE, b, t)
        + burst * (2 + 4 * _u(w, Stream.DEVICE, b, t, 1))))
    n = np.where(using, np.maximum(n, new), 0).astype(np.int64)
    return {"n": n, "new": np.where(using, new, 0).astype(np.int64),
            "phase": np.floor(_u(w, Stream.LOGIN_PHASE, b, t) * 1000).astype(np.int64)}
