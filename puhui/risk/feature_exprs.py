"""The expressions behind `puhui.risk.features`, in three passes.

Written in `puhui.risk.expr` (Polars' vocabulary): the batch path lowers them to Polars, the
live path evaluates them for one business with NumPy; one definition either way.

1. `row_columns`: per panel row, each quantity masked to its window (null outside it), so
   absence (null) and zero stay distinct;
2. `aggregations`: per business, only plain sums, counts, means, minima, maxima and standard
   deviations of those columns (Polars' fast grouped kernels: a portfolio in seconds);
3. `derived`: the features from the aggregates, with None where a source is absent or a
   denominator is not positive.
"""

from __future__ import annotations

import polars as pl

from puhui.risk.expr import Expr, col, lit, min_horizontal, when
TEN_THOUSAND_YUAN_FEN = 1_000_000


def _base(top: int) -> list[Expr]:
    """Pass 0: months before as_of (k), the activity clip, net sales, the window masks."""
    index = (col("month").dt.year().cast(pl.Int64) * 12
             + col("month").dt.month().cast(pl.Int64) - 1)
    k = (lit(top) - index).alias("_k")
    active = (col("first_activity_month").is_not_null()
              & (col("month") >= col("first_activity_month")) & (k >= 1)).alias("_act")
    net = (col("sales_gross_fen") - col("sales_refunded_fen")).alias("_net")
    return [k, active, net]


def _masks() -> list[Expr]:
    k, act = col("_k"), col("_act")
    billed = col("elec_billed") == 1
    return [(act & (k <= 3)).alias("_w3"), (act & (k <= 6)).alias("_w6"),
            (act & (k <= 12)).alias("_w12"), ((k >= 1) & (k <= 12)).alias("_b12"),
            (col("tax_vat_covered") == 1).alias("_cov"), billed.alias("_billed"),
            (billed & (col("elec_billed").shift(12) == 1) & act.shift(12) & (k <= 3) & act)
            .alias("_paired")]


def row_columns() -> list[Expr]:
    """Pass 1: each quantity masked to its window."""
    def win(mask: str, expr: Expr | str, name: str) -> Expr:
        return when(col(mask)).then(col(expr) if isinstance(expr, str) else expr).alias(name)

    cov, billed = col("_cov"), col("_billed")
    return [
        win("_w3", "_net", "_net3"), win("_w6", "_net", "_net6"),
        win("_w12", col("_net").cast(pl.Float64), "_y12"),
        win("_w12", -col("_k").cast(pl.Float64), "_x12"),
        win("_w3", "sales_gross_fen", "_gross3"), win("_w3", "sales_orders", "_orders3"),
        win("_w12", "sales_gross_fen", "_gross12"), win("_w12", "sales_orders", "_orders12"),
        win("_w12", "sales_repeat_orders", "_repeat12"),
        win("_w12", "sales_ecommerce_fen", "_ecom12"),
        win("_w12", "sales_refunded_fen", "_refund12"),
        win("_w6", when(cov).then(col("tax_vat_revenue_fen")), "_tax6"),
        win("_w12", when(cov).then(col("tax_vat_revenue_fen")), "_tax12"),
        win("_w12", when(cov).then(col("_net")), "_taxnet12"),
        win("_w12", when(cov).then(col("tax_vat_paid_fen")), "_taxpaid12"),
        win("_w12", "tax_late_filings", "_late_tax12"), win("_w12", "tax_vat_covered", "_cov12"),
        win("_w12", "utility_late", "_late_bill12"),
        win("_paired", "elec_kwh", "_kwh_now"),
        win("_paired", col("elec_kwh").shift(12), "_kwh_before"),
        win("_w3", when(billed).then(col("elec_kwh")), "_kwh3"),
        win("_w3", when(billed).then(col("_net")), "_kwhnet3"),
        win("_w3", "waybills", "_waybills3"), win("_w3", "logistics_fee_fen", "_fee3"),
        win("_w3", "bank_inflow_fen", "_in3"), win("_w3", "bank_outflow_fen", "_out3"),
        win("_w3", "bank_round_trip_fen", "_trip3"), win("_w3", "bank_min_balance_fen", "_low3"),
        win("_b12", "bureau_overdue_days", "_od12"), win("_w3", "app_logins", "_logins3"),
    ]


_SUMMED = ("_net3", "_gross3", "_orders3", "_gross12", "_orders12", "_repeat12", "_ecom12",
           "_refund12", "_tax12", "_taxnet12", "_taxpaid12", "_late_tax12", "_cov12",
           "_late_bill12", "_kwh_now", "_kwh_before", "_kwh3", "_kwhnet3", "_waybills3", "_fee3",
           "_in3", "_out3", "_trip3", "_y12")
_SNAPSHOTS = ("bureau_open_loans", "bureau_balance_fen", "bureau_limit_fen",
              "bureau_enquiries_3m", "bureau_enquiries_6m", "app_logins_30d",
              "app_new_devices_30d")


def aggregations() -> list[Expr]:
    out = [col("first_activity_month").first().alias("first_activity")]
    for name in _SUMMED:
        out += [col(name).sum().alias(f"s{name}"), col(name).count().alias(f"n{name}")]
    out += [col("_net6").mean().alias("m_net6"), col("_net6").std().alias("sd_net6"),
            col("_net6").count().alias("n_net6"), col("_tax6").mean().alias("m_tax6"),
            col("_x12").sum().alias("sx"), (col("_x12") * col("_x12")).sum().alias("sxx"),
            (col("_x12") * col("_y12")).sum().alias("sxy"),
            col("_low3").min().alias("min_low3"), col("_logins3").mean().alias("m_logins3"),
            col("_od12").max().alias("max_od12"), (col("_od12") > 0).sum().alias("od_months12"),
            col("_od12").count().alias("n_od12")]
    out += [col(name).max().alias(f"snap_{name}") for name in _SNAPSHOTS]
    return out


def _s(name: str) -> Expr:
    """A window's sum, or null when nothing was observed in it (absent source)."""
    return when(col(f"n{name}") > 0).then(col(f"s{name}"))


def _ratio(num: Expr, den: Expr, scale: float = 1.0) -> Expr:
    return when(den > 0).then(num.cast(pl.Float64) / (den.cast(pl.Float64) / scale))


def _fen(expr: Expr) -> Expr:
    return expr.cast(pl.Float64).round(0)


def derived(top: int) -> list[Expr]:
    first = (col("first_activity").dt.year().cast(pl.Int64) * 12
             + col("first_activity").dt.month() - 1)
    n, mean12 = col("n_y12").cast(pl.Float64), col("s_y12") / col("n_y12")
    slope = (n * col("sxy") - col("sx") * col("s_y12")) / (n * col("sxx") - col("sx") ** 2)
    sales6, tax6 = _fen(col("m_net6")), _fen(col("m_tax6"))
    return [
        when(first.is_not_null()).then(lit(top) - first).otherwise(0).alias("months_of_history"),
        _fen(_s("_net3") / col("n_net3")).alias("revenue_avg_3m_fen"),
        _fen(_s("_y12") / col("n_y12")).alias("revenue_avg_12m_fen"),
        when((col("n_y12") >= 6) & (mean12 > 0)).then(slope / mean12).alias("revenue_trend_12m"),
        when((col("n_net6") >= 3) & (col("m_net6") > 0)).then(col("sd_net6") / col("m_net6"))
        .alias("revenue_cv_6m"),
        _ratio(_s("_repeat12"), _s("_orders12")).alias("repeat_customer_rate_12m"),
        _ratio(_s("_ecom12"), _s("_gross12")).alias("ecommerce_share_12m"),
        _ratio(_s("_refund12"), _s("_gross12")).alias("refund_rate_12m"),
        _fen(_ratio(_s("_gross3"), _s("_orders3"))).alias("avg_order_value_3m_fen"),
        _ratio(_s("_tax12"), _s("_taxnet12")).alias("tax_sales_consistency"),
        _ratio(_s("_taxpaid12"), _s("_tax12")).alias("tax_effective_rate_12m"),
        _s("_late_tax12").alias("tax_late_filings_12m"),
        _s("_cov12").alias("tax_months_covered_12m"),
        _s("_late_bill12").alias("utility_late_payments_12m"),
        (_ratio(_s("_kwh_now"), _s("_kwh_before")) - 1).alias("electricity_growth_yoy"),
        _ratio(_s("_kwh3"), _s("_kwhnet3"), TEN_THOUSAND_YUAN_FEN)
        .alias("electricity_per_revenue_3m"),
        _s("_waybills3").alias("logistics_waybills_3m"),
        _ratio(_s("_waybills3"), _s("_net3"), TEN_THOUSAND_YUAN_FEN)
        .alias("inventory_turnover_proxy_3m"),
        _ratio(_s("_fee3"), _s("_net3")).alias("logistics_fee_share_3m"),
        _ratio(_s("_in3"), _s("_out3")).alias("bank_inflow_outflow_ratio_3m"),
        col("min_low3").alias("bank_min_balance_3m_fen"),
        _ratio(_s("_trip3"), _s("_in3")).alias("bank_round_trip_share_3m"),
        _ratio(_s("_in3"), _s("_net3")).alias("bank_inflow_to_sales_3m"),
        col("snap_bureau_open_loans").alias("bureau_open_loans"),
        col("snap_bureau_balance_fen").alias("bureau_total_balance_fen"),
        _ratio(col("snap_bureau_balance_fen"), col("snap_bureau_limit_fen"))
        .alias("bureau_utilisation"),
        when(col("n_od12") > 0).then(col("od_months12")).alias("bureau_overdue_months_12m"),
        col("max_od12").alias("bureau_max_overdue_days"),
        col("snap_bureau_enquiries_3m").alias("bureau_enquiries_3m"),
        col("snap_bureau_enquiries_6m").alias("bureau_enquiries_6m"),
        col("snap_app_logins_30d").alias("app_logins_30d"),
        col("snap_app_new_devices_30d").alias("app_new_devices_30d"),
        col("m_logins3").alias("app_logins_monthly_avg_3m"),
    ] + [when(sales6.is_not_null() & tax6.is_not_null()).then(min_horizontal(sales6, tax6))
         .alias("verified_revenue_monthly_fen")]
