"""The synthetic world's panel: every observed business's monthly panel, from the cells.

Why apart from `world_sources`: the cells describe what happened; this module applies the
point-in-time rule of `puhui.risk.panel` to them (what was billed, filed, paid by `as_of`) for all
businesses at once, so the frame equals `monthly_panel` of each business's raw payloads.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from puhui.risk.data import _hashrng as hr
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.data.world_sources import (
    EPOCH_ORDINAL, bank_slots, bills, days_in, enquiries, first_ord, late_as_of, loans, logins,
    opening_of, overdue, sales_cells, tax_columns, waybills,
)
from puhui.risk.panel import HISTORY_MONTHS, PANEL_SCHEMA, month_index, window_starts


def _windowed(as_of: date, start: date) -> tuple[list[int], dict]:
    """Months overlapping the window (start, as_of] and their 0-based day bounds."""
    top, first = month_index(as_of), month_index(start)
    bounds = {}
    for t in range(first, top + 1):
        lo = start.day if t == first else 0
        hi = as_of.day - 1 if t == top else int(days_in(t)) - 1
        bounds[t] = (lo, hi)
    return list(bounds), bounds


def panel(w: SyntheticWorld, b: np.ndarray, as_of: date) -> pl.DataFrame:
    top = month_index(as_of)
    as_of_ord = as_of.toordinal()
    nb, span = len(b), range(top - HISTORY_MONTHS, top)
    cols: dict[str, np.ndarray] = {}

    def monthly(name: str, values: list[np.ndarray], present: np.ndarray | None = None) -> None:
        data = np.stack(values, axis=1).astype(np.float64)
        data = np.concatenate([data, np.full((nb, 1), np.nan)], axis=1)
        if present is not None:
            data[~present] = np.nan
        cols[name] = data

    def snapshot(name: str, values: np.ndarray) -> None:
        data = np.full((nb, HISTORY_MONTHS + 1), np.nan)
        data[:, -1] = values
        cols[name] = data

    sales = [sales_cells(w, b, t) for t in span]
    for name, key in (("sales_orders", None), ("sales_gross_fen", "gross"),
                      ("sales_refunded_fen", "refunded"), ("sales_repeat_orders", "repeat")):
        values = [c[key] if key else c["pos_n"] + c["pos_rn"] + c["ecom_n"] + c["ecom_rn"]
                  for c in sales]
        monthly(name, values, w.has_sales[b])
    monthly("sales_ecommerce_fen", [c["ecom_g"] + c["ecom_rg"] for c in sales], w.has_sales[b])
    for name, values in tax_columns(w, b, top, as_of_ord).items():
        monthly(name, list(values.T))
    elec = [bills(w, b, t, 0) for t in span]
    water = [bills(w, b, t, 1) for t in span]
    avail = [[x["exists"] & (x["billed"] <= as_of_ord) for x in z] for z in (elec, water)]
    monthly("elec_billed", avail[0])
    monthly("elec_kwh", [x["usage"] * a for x, a in zip(elec, avail[0])])
    monthly("water_m3", [x["usage"] * a for x, a in zip(water, avail[1])])
    monthly("utility_fen", [e["amount"] * a + x["amount"] * c
                            for e, a, x, c in zip(elec, avail[0], water, avail[1])])
    monthly("utility_late", [(late_as_of(e, as_of_ord) & a).astype(int)
                             + (late_as_of(x, as_of_ord) & c).astype(int)
                             for e, a, x, c in zip(elec, avail[0], water, avail[1])])
    ships = [waybills(w, b, t) for t in span]
    for name, key in (("waybills", "n"), ("shipped_weight_g", "weight"),
                      ("logistics_fee_fen", "fee")):
        monthly(name, [s[key] for s in ships], w.has_logistics[b])
    flows = {k: [] for k in ("in", "out", "trip", "low")}
    for t in span:
        opening = opening_of(w, b, t)
        slots = bank_slots(w, b, t, opening)
        balances = opening[:, None] + np.cumsum(slots, axis=1)
        lows = np.where(slots != 0, balances, np.iinfo(np.int64).max).min(axis=1)
        flows["in"].append(np.where(slots > 0, slots, 0).sum(axis=1))
        flows["out"].append(np.where(slots < 0, -slots, 0).sum(axis=1))
        flows["trip"].append(np.where(slots[:, 0] < 0, slots[:, 8], 0))
        flows["low"].append(np.where(t >= w.d0[b], lows, np.nan))
    monthly("bank_inflow_fen", flows["in"])
    monthly("bank_outflow_fen", flows["out"])
    monthly("bank_round_trip_fen", flows["trip"])
    monthly("bank_min_balance_fen", flows["low"])
    book = loans(w, b)
    monthly("bureau_overdue_days", [overdue(w, b, t, book)[1] for t in span])
    listed = book["exists"] & ((book["opened"] < top) | ((book["opened"] == top)
                                                         & (book["day"] <= as_of.day)))
    is_open = listed & (top < book["opened"] + book["term"])
    balance = np.where(is_open, book["limit"] * (book["opened"] + book["term"] - top)
                       // book["term"], 0)
    snapshot("bureau_open_loans", is_open.sum(axis=1))
    snapshot("bureau_balance_fen", balance.sum(axis=1))
    snapshot("bureau_limit_fen", np.where(is_open, book["limit"], 0).sum(axis=1))
    starts = window_starts(as_of)
    for label in ("3m", "6m"):
        months, bounds = _windowed(as_of, starts[label])
        total = np.zeros(nb, np.int64)
        for t in months:
            n, phase = enquiries(w, b, t)
            total += hr.count_in_days(n, n, phase, int(days_in(t)), *bounds[t])
        snapshot(f"bureau_enquiries_{label}", total)
    app = [logins(w, b, t) for t in span]
    monthly("app_logins", [a["n"] for a in app])
    monthly("app_new_devices", [a["new"] for a in app])
    months, bounds = _windowed(as_of, starts["30d"])
    n30 = np.zeros(nb, np.int64)
    new30 = np.zeros(nb, np.int64)
    for t in months:
        a = logins(w, b, t)
        n30 += hr.count_in_days(a["n"], a["n"], a["phase"], int(days_in(t)), *bounds[t])
        new30 += hr.count_in_days(a["new"], a["n"], a["phase"], int(days_in(t)), *bounds[t])
    snapshot("app_logins_30d", n30)
    snapshot("app_new_devices_30d", new30)
    return _frame(w, b, as_of, cols)


def _frame(w: SyntheticWorld, b: np.ndarray, as_of: date, cols: dict[str, np.ndarray]
           ) -> pl.DataFrame:
    top = month_index(as_of)
    rows = HISTORY_MONTHS + 1
    months = first_ord(np.arange(top - HISTORY_MONTHS, top + 1)) - EPOCH_ORDINAL
    first = first_ord(w.d0[b]) - EPOCH_ORDINAL
    data: dict[str, pl.Series] = {
        "business_id": pl.Series(np.repeat(w.ids[b], rows), dtype=pl.String),
        "as_of": pl.Series(np.full(rows * len(b), as_of.toordinal() - EPOCH_ORDINAL,
                                   np.int32)).cast(pl.Date),
        "month": pl.Series(np.tile(months, len(b)).astype(np.int32)).cast(pl.Date),
        "first_activity_month": pl.Series(np.repeat(first, rows).astype(np.int32)).cast(pl.Date),
    }
    for name, dtype in PANEL_SCHEMA.items():
        if name in data:
            continue
        flat = cols[name].reshape(-1)
        data[name] = pl.Series(name, flat, nan_to_null=True).cast(dtype)
    return pl.DataFrame(data).select(list(PANEL_SCHEMA))
