"""Point-in-time features of a small business, one definition for training and live scoring.

Why expressions over the monthly panel (`puhui.risk.panel`), written once in `feature_exprs`:
`feature_frame` runs them with Polars over a whole portfolio's panel at once (training,
monitoring); `features_for` runs the same expression trees over one business's panel built from
its raw records (the live decision) with the NumPy engine of `puhui.risk.expr_eval`, because on
16 rows Polars' fixed cost per expression would take most of a 20 ms decision.  The engines are
held equal by tests, exactly, so a model sees in production the numbers it was trained on.

Conventions: every feature is a float or None.  None means the source is absent or the feature
is undefined (no complete month, a zero denominator), never a made-up 0.  `_fen` features are
whole numbers of fen carried as float (averages are rounded half to even to whole fen).
Windows count complete calendar months before `as_of`'s month ("3m" = the last three), clipped
to months from the business's first month with trading data; bureau and app windows ending on
`as_of` itself are counted in days (see `panel.window_starts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from datetime import date

import polars as pl

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData
from puhui.risk.errors import RiskDataError
from puhui.risk import feature_exprs as fx
from puhui.risk.expr_eval import Program, Stage, compile_stages
from puhui.risk.panel import HISTORY_MONTHS, PANEL_SCHEMA, ROWS, month_index, panel_columns

FEATURE_SET_VERSION = "sme-pit-2026.11.1"


@dataclass(frozen=True, slots=True)
class Feature:
    description: str
    source: str
    unit: str


_S, _T, _U, _L = "sales", "tax", "utility", "logistics"
_B, _C, _A, _X = "bank_statement", "bureau", "app_behaviour", "any"
#: The catalogue: every feature's meaning, source and unit, in output order.
FEATURES: dict[str, Feature] = {
    "months_of_history": Feature("whole months from the first month with trading data of any "
                                 "source to the month of as_of (0 without such data)", _X,
                                 "months"),
    "revenue_avg_3m_fen": Feature("average monthly net sales (orders minus refunds, all "
                                  "channels) over the last 3 complete months", _S, "fen"),
    "revenue_avg_12m_fen": Feature("average monthly net sales over the last 12 complete months",
                                   _S, "fen"),
    "revenue_trend_12m": Feature("least-squares slope of monthly net sales over the last 12 "
                                 "complete months divided by their mean (>= 6 months)", _S,
                                 "relative change per month"),
    "revenue_cv_6m": Feature("coefficient of variation (sample std / mean) of monthly net sales "
                             "over the last 6 complete months (>= 3 months)", _S, "ratio"),
    "repeat_customer_rate_12m": Feature("share of orders from customers who ordered in an "
                                        "earlier month, last 12 months", _S, "ratio"),
    "ecommerce_share_12m": Feature("e-commerce share of gross sales, last 12 months", _S, "ratio"),
    "refund_rate_12m": Feature("refunds / gross sales, last 12 months", _S, "ratio"),
    "avg_order_value_3m_fen": Feature("gross sales per order, last 3 months", _S, "fen"),
    "verified_revenue_monthly_fen": Feature(
        "the lower of the average monthly net sales over the last 6 complete months and the "
        "average monthly revenue declared on VAT filings available by as_of for those months "
        "(None when either source is missing)", f"{_S}+{_T}", "fen"),
    "tax_sales_consistency": Feature("VAT-declared revenue / net sales over the months of the "
                                     "last 12 covered by an available filing (about 1 for an "
                                     "honest business)", f"{_T}+{_S}", "ratio"),
    "tax_effective_rate_12m": Feature("VAT paid / VAT-declared revenue over covered months of "
                                      "the last 12", _T, "ratio"),
    "tax_late_filings_12m": Feature("filings for periods ending in the last 12 months filed "
                                    "after their deadline", _T, "filings"),
    "tax_months_covered_12m": Feature("months of the last 12 covered by a VAT filing available "
                                      "by as_of", _T, "months"),
    "utility_late_payments_12m": Feature("bills for the last 12 months paid after their due "
                                         "date or unpaid past it, as of as_of", _U, "bills"),
    "electricity_growth_yoy": Feature("electricity use of the last 3 billed complete months / "
                                      "use in the same months a year earlier, minus 1", _U,
                                      "ratio"),
    "electricity_per_revenue_3m": Feature("kWh per 10,000 yuan of net sales over the billed "
                                          "months of the last 3", f"{_U}+{_S}", "kWh/10k yuan"),
    "logistics_waybills_3m": Feature("waybills shipped in the last 3 months", _L, "waybills"),
    "inventory_turnover_proxy_3m": Feature("waybills per 10,000 yuan of net sales, last 3 "
                                           "months (goods moved against goods sold)",
                                           f"{_L}+{_S}", "waybills/10k yuan"),
    "logistics_fee_share_3m": Feature("logistics fees / net sales, last 3 months", f"{_L}+{_S}",
                                      "ratio"),
    "bank_inflow_outflow_ratio_3m": Feature("bank inflows / outflows, last 3 months", _B,
                                            "ratio"),
    "bank_min_balance_3m_fen": Feature("lowest balance after any statement line in the last 3 "
                                       "months (quiet months carry the last balance)", _B, "fen"),
    "bank_round_trip_share_3m": Feature("share of inflows from counterparties paid in the same "
                                        "month (round-tripping), last 3 months", _B, "ratio"),
    "bank_inflow_to_sales_3m": Feature("bank inflows / net sales, last 3 months", f"{_B}+{_S}",
                                       "ratio"),
    "bureau_open_loans": Feature("open loans on the latest bureau report", _C, "loans"),
    "bureau_total_balance_fen": Feature("outstanding balance of those loans", _C, "fen"),
    "bureau_utilisation": Feature("balance / limit of the open loans", _C, "ratio"),
    "bureau_overdue_months_12m": Feature("months of the last 12 with any overdue days", _C,
                                         "months"),
    "bureau_max_overdue_days": Feature("most days overdue in any of the last 12 months", _C,
                                       "days"),
    "bureau_enquiries_3m": Feature("loan-approval enquiries dated in the 3 months up to as_of",
                                   _C, "enquiries"),
    "bureau_enquiries_6m": Feature("loan-approval enquiries dated in the 6 months up to as_of",
                                   _C, "enquiries"),
    "app_logins_30d": Feature("app logins in the 30 days up to as_of", _A, "logins"),
    "app_new_devices_30d": Feature("devices first seen in the 30 days up to as_of", _A,
                                   "devices"),
    "app_logins_monthly_avg_3m": Feature("average app logins per month, last 3 complete months",
                                         _A, "logins/month"),
}


def _canonical(panel: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """The panel checked: schema, and ROWS consecutive months per business ending at as_of."""
    if not isinstance(panel, pl.DataFrame):
        raise RiskDataError(f"panel must be a polars DataFrame, got {type(panel).__name__}")
    if not isinstance(as_of, date):
        raise RiskDataError(f"as_of must be a date, got {type(as_of).__name__}")
    missing = [c for c in PANEL_SCHEMA if c not in panel.columns]
    wrong = [c for c, t in PANEL_SCHEMA.items() if c in panel.columns and panel.schema[c] != t]
    if missing or wrong:
        raise RiskDataError(f"not a monthly panel: missing {missing}, wrong types {wrong}")
    panel = panel.select(list(PANEL_SCHEMA))
    if panel.height % ROWS:
        raise RiskDataError(f"a panel has {ROWS} rows per business; got {panel.height} rows")
    for attempt in range(2):
        if _in_order(panel, as_of):
            return panel
        panel = panel.sort(["business_id", "month"])
    raise RiskDataError(f"the panel must hold, per business, the {HISTORY_MONTHS} months before "
                        f"{as_of:%Y-%m} and that month, once each, built for as_of {as_of}")


def _in_order(panel: pl.DataFrame, as_of: date) -> bool:
    top = month_index(as_of)
    expected = pl.int_range(0, pl.len()) % ROWS + (top - HISTORY_MONTHS)
    index = pl.col("month").dt.year().cast(pl.Int64) * 12 + pl.col("month").dt.month() - 1
    starts = pl.col("business_id") != pl.col("business_id").shift(1)
    check = panel.select(
        (index == expected).all().alias("months"),
        (starts.fill_null(True) == (pl.int_range(0, pl.len()) % ROWS == 0)).all().alias("ids"),
        (pl.col("month").dt.day() == 1).all().alias("firsts"),
        (pl.col("as_of") == as_of).all().alias("as_of"))
    return all(check.row(0))


def feature_frame(panel: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """One row per business of the panel: `business_id` and every feature of `FEATURES`."""
    return _compute(_canonical(panel, as_of), month_index(as_of))


@lru_cache(maxsize=64)
def _stages(top: int) -> tuple[Stage, ...]:
    """The computation for one as_of month, as the stages both engines run: the three passes
    of `feature_exprs`, then the features in catalogue order as floats."""
    derived = {e.name: e for e in fx.derived(top)}
    finals = [derived[n].cast(pl.Float64).alias(n) for n in FEATURES]
    return (("with_columns", fx._base(top)), ("with_columns", fx._masks()),
            ("with_columns", fx.row_columns()), ("agg", fx.aggregations()),
            ("select", finals))


@lru_cache(maxsize=64)
def _polars_plan(top: int) -> tuple[tuple[str, list[pl.Expr]], ...]:
    """The stages lowered to Polars, built once (building them costs as much as running them
    on one business)."""
    return tuple((kind, [e.polars() for e in exprs]) for kind, exprs in _stages(top))


@lru_cache(maxsize=64)
def _one_business(top: int) -> Program:
    """The stages compiled for one business's columns (the live path)."""
    return compile_stages(_stages(top))


def _compute(panel: pl.DataFrame, top: int) -> pl.DataFrame:
    frame = panel
    for kind, exprs in _polars_plan(top):
        if kind == "with_columns":
            frame = frame.with_columns(exprs)
        elif kind == "agg":
            frame = frame.group_by("business_id", maintain_order=True).agg(exprs)
        else:
            frame = frame.select(pl.col("business_id"), *exprs)
    return frame


def features_for(data: Mapping[DataScope, SourceData], as_of: date) -> dict[str, float | None]:
    """The features of one business as of `as_of` from its sources' data (live scoring)."""
    if not data:
        return {name: (0.0 if name == "months_of_history" else None) for name in FEATURES}
    columns = panel_columns(data, as_of)  # canonical by construction
    return _one_business(month_index(as_of))(columns)
