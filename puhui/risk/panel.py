"""The canonical monthly panel: a business's records reduced to what was known on `as_of`.

Why a panel between records and features: the live decision (one business, its raw records) and
training (thousands of businesses, from `SyntheticWorld.panel` or a warehouse) must compute the
same numbers.  Both reduce to this frame, and the features are expressions over it
(`puhui.risk.features`), written once.  On the live path `panel_columns` gives the same panel as
NumPy columns, which the features read without a DataFrame being built.

Shape: per business (and the `as_of` it was built for), one row per calendar month for the
`HISTORY_MONTHS` complete months before `as_of` plus a last row for the month of `as_of` itself.  The complete-month rows carry monthly
totals; the last row carries what is measured *at* `as_of` (trailing-window counts, the bureau
snapshot) and no monthly totals, because its month is not over.  A column is null where its
source is absent (or, for the bureau, no report was available yet); zero means "present,
nothing happened".

The point-in-time rule: a record counts only from the day it became available to the lender,
which is not always the day it describes.  An order counts from its date and its refund from
`refunded_on`; a tax filing from `filed_on` (a period declared after `as_of` is simply not
covered yet); a utility bill from `billed_on`, and it is late if, as of `as_of`, it was paid
after `due_on` or is still unpaid past it; a waybill from `shipped_on`; a bank line from
`booked_on`; a bureau report from `reported_on` (the latest available report is used); an app
event from its UTC date.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import polars as pl

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData
from puhui.risk.errors import RiskDataError

HISTORY_MONTHS = 15
ROWS = HISTORY_MONTHS + 1
TRADING = (DataScope.TAX, DataScope.SALES, DataScope.UTILITY, DataScope.LOGISTICS,
           DataScope.BANK_STATEMENT, DataScope.APP_BEHAVIOUR)

#: A panel column of one business: values and validity (None when every row is set).
Column = tuple[np.ndarray, "np.ndarray | None"]
I32, I64 = pl.Int32, pl.Int64
#: Monthly totals per source (null on the as_of row).
MONTHLY: dict[DataScope, dict[str, pl.DataType]] = {
    DataScope.SALES: {"sales_orders": I32, "sales_gross_fen": I64, "sales_refunded_fen": I64,
                      "sales_ecommerce_fen": I64, "sales_repeat_orders": I32},
    DataScope.TAX: {"tax_vat_covered": I32, "tax_vat_revenue_fen": I64, "tax_vat_paid_fen": I64,
                    "tax_late_filings": I32},
    DataScope.UTILITY: {"elec_billed": I32, "elec_kwh": I64, "water_m3": I64, "utility_fen": I64,
                        "utility_late": I32},
    DataScope.LOGISTICS: {"waybills": I32, "shipped_weight_g": I64, "logistics_fee_fen": I64},
    DataScope.BANK_STATEMENT: {"bank_inflow_fen": I64, "bank_outflow_fen": I64,
                               "bank_round_trip_fen": I64, "bank_min_balance_fen": I64},
    DataScope.BUREAU: {"bureau_overdue_days": I32},
    DataScope.APP_BEHAVIOUR: {"app_logins": I32, "app_new_devices": I32},
}
#: Values measured at as_of (set on the as_of row only).
SNAPSHOT: dict[DataScope, dict[str, pl.DataType]] = {
    DataScope.BUREAU: {"bureau_open_loans": I32, "bureau_balance_fen": I64,
                       "bureau_limit_fen": I64, "bureau_enquiries_3m": I32,
                       "bureau_enquiries_6m": I32},
    DataScope.APP_BEHAVIOUR: {"app_logins_30d": I32, "app_new_devices_30d": I32},
}
PANEL_SCHEMA: dict[str, pl.DataType] = {
    "business_id": pl.String, "as_of": pl.Date, "month": pl.Date,
    "first_activity_month": pl.Date,
    **{c: t for cols in MONTHLY.values() for c, t in cols.items()},
    **{c: t for cols in SNAPSHOT.values() for c, t in cols.items()},
}


# -- calendar helpers shared with the synthetic world ---------------------------------------------
def month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def month_of(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def add_months(d: date, months: int) -> date:
    i = month_index(d) + months
    y, m = i // 12, i % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def window_starts(as_of: date) -> dict[str, date]:
    """Exclusive lower bounds of the trailing windows: d is inside when start < d <= as_of."""
    return {"30d": as_of - timedelta(days=30), "3m": add_months(as_of, -3),
            "6m": add_months(as_of, -6)}


@lru_cache(maxsize=4096)
def filing_deadline(period_start: date, period_end: date) -> date:
    """The 15th of the month after the period; 31 May of the next year for an annual return."""
    if month_index(period_end) - month_index(period_start) >= 11:
        return date(period_end.year + 1, 5, 31)
    return add_months(period_end, 1).replace(day=15)


# -- records -> panel -----------------------------------------------------------------------------
def _check(data: Mapping[DataScope, SourceData], as_of: date) -> str:
    if not isinstance(as_of, date):
        raise RiskDataError(f"as_of must be a date, got {type(as_of).__name__}")
    if not data:
        raise RiskDataError("no source data to build a panel from")
    owners = set()
    for scope, source in data.items():
        if not isinstance(source, SourceData) or source.scope is not DataScope(scope):
            raise RiskDataError(f"data[{scope!r}] must be the SourceData of that scope")
        if as_of > source.as_of:
            raise RiskDataError(f"{source.scope.value} data fetched as of {source.as_of} cannot "
                                f"describe {as_of}: fetch it again")
        owners.add(source.business_id)
    if len(owners) != 1:
        raise RiskDataError(f"the sources describe different businesses: {sorted(owners)}")
    return owners.pop()


def panel_columns(data: Mapping[DataScope, SourceData], as_of: date) -> dict[str, Column]:
    """One business's panel as of `as_of` as NumPy columns, name -> (values, validity), in
    `PANEL_SCHEMA` order: what `monthly_panel` puts in a frame and what the live feature
    evaluation reads directly.  Errors as `monthly_panel`."""
    from puhui.risk import _reduce  # the per-source reductions (they import this module)

    business_id = _check(data, as_of)
    top = month_index(as_of)
    return panel_from(business_id, as_of, {
        scope: _reduce.REDUCERS[scope](data[scope], as_of, top)
        for scope in MONTHLY if scope in data})


def panel_from(business_id: str, as_of: date,
               reduced: "Mapping[DataScope, tuple[dict[str, Column], list[int]]]"
               ) -> dict[str, Column]:
    """The panel of one business from each present source's reduction on `as_of` (what its
    reducer in `_reduce` gives, or a summary's equal: `puhui.risk.summaries`)."""
    top = month_index(as_of)
    columns: dict[str, Column] = {}
    activity: list[int] = []
    for scope in MONTHLY:
        if scope in reduced:
            found, active = reduced[scope]
            columns.update(found)
            activity.extend(active)
    first = [i for i in activity if i <= top]
    months, as_of_column, absent = fixed_columns(as_of)
    out: dict[str, Column] = {
        "business_id": (np.full(ROWS, business_id, dtype=object), None),
        "as_of": as_of_column, "month": months,
        "first_activity_month": (np.full(ROWS, np.datetime64(month_of(min(first)), "D")), None)
        if first else (np.full(ROWS, np.datetime64(0, "D")), absent[1]),
    }
    for name in PANEL_SCHEMA:
        if name not in out:
            out[name] = columns.get(name, absent)
    return out


@lru_cache(maxsize=64)
def fixed_columns(as_of: date) -> tuple[Column, Column, Column]:
    """The columns that depend on as_of alone (the months, as_of) and an absent source's,
    read-only and shared by every business's panel."""
    top = month_index(as_of)
    months = (np.arange(top - HISTORY_MONTHS, top + 1) - 1970 * 12).astype("datetime64[M]")
    arrays = (months.astype("datetime64[D]"), np.full(ROWS, np.datetime64(as_of, "D")),
              np.zeros(ROWS, np.int64), np.zeros(ROWS, bool))
    for a in arrays:
        a.flags.writeable = False
    return (arrays[0], None), (arrays[1], None), (arrays[2], arrays[3])


def monthly_panel(data: Mapping[DataScope, SourceData], as_of: date) -> pl.DataFrame:
    """One business's panel as of `as_of` (see the module doc), in `PANEL_SCHEMA`.

    `RiskDataError` if the sources belong to different businesses or were fetched before
    `as_of` (months after the fetch would look like months without activity).
    """
    series = []
    for name, (values, valid) in panel_columns(data, as_of).items():
        if valid is not None and not valid.all():
            values = [v if ok else None for v, ok in zip(values.tolist(), valid.tolist())]
        series.append(pl.Series(name, values, dtype=PANEL_SCHEMA[name]))
    return pl.DataFrame(series)


def panels_frame(panels: "list[dict[str, Column]]") -> pl.DataFrame:
    """Many businesses' panels (each `panel_columns`, all built for the same as_of) as one
    frame in `PANEL_SCHEMA`: the same rows `pl.concat` of their `monthly_panel`s gives, built
    with one NumPy concatenation per column instead of a frame per business (the batch
    re-evaluation of lines assembles thousands at once)."""
    if not panels:
        return pl.DataFrame(schema=PANEL_SCHEMA)
    series, masks = [], []
    for name, dtype in PANEL_SCHEMA.items():
        values = np.concatenate([p[name][0] for p in panels])
        series.append(pl.Series(name, values).cast(dtype))
        if any(p[name][1] is not None for p in panels):
            valid = np.concatenate([np.ones(ROWS, bool) if p[name][1] is None else p[name][1]
                                    for p in panels])
            masks.append(pl.Series(f"__valid_{name}", valid))
    frame = pl.DataFrame(series + masks)
    return frame.select(pl.when(pl.col(f"__valid_{name}")).then(pl.col(name)).alias(name)
                        if f"__valid_{name}" in frame.columns else pl.col(name)
                        for name in PANEL_SCHEMA)
