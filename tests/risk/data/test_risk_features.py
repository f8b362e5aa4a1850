"""Features: the fixed names, batch equals live, None for absent sources, values by hand."""

from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import parse_payload
from puhui.risk.errors import RiskDataError
from puhui.risk.features import FEATURE_SET_VERSION, FEATURES, feature_frame, features_for
from puhui.risk.panel import monthly_panel
from risk_data_samples import AS_OF, bill, envelope, fetched, filing, line, order, report, world

FIXED = ("months_of_history", "revenue_avg_3m_fen", "verified_revenue_monthly_fen",
         "revenue_trend_12m", "revenue_cv_6m", "tax_sales_consistency", "bureau_open_loans",
         "bureau_total_balance_fen", "bureau_overdue_months_12m", "bureau_max_overdue_days",
         "bureau_enquiries_3m", "bureau_enquiries_6m", "utility_late_payments_12m",
         "electricity_growth_yoy", "bank_inflow_outflow_ratio_3m", "bank_min_balance_3m_fen",
         "app_new_devices_30d", "app_logins_30d")


def test_catalogue_holds_the_agreed_names_and_says_what_each_is():
    assert set(FIXED) <= set(FEATURES) and 25 <= len(FEATURES) <= 35
    assert FEATURE_SET_VERSION
    for name, feature in FEATURES.items():
        assert feature.description and feature.source and feature.unit
        assert name.endswith("_fen") == (feature.unit == "fen")


def _same(a: float | None, b: float | None, name: str) -> bool:
    if a is None or b is None:
        return a is b
    if name.endswith("_fen") or FEATURES[name].unit in ("months", "filings", "bills", "loans",
                                                        "days", "enquiries", "logins", "devices",
                                                        "waybills"):
        return a == b and a == round(a)
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def test_batch_equals_live_for_a_sample_of_businesses():
    w = world()
    batch = feature_frame(w.panel(AS_OF), AS_OF)
    assert batch.columns == ["business_id", *FEATURES]
    assert batch.height == len(w.observed(AS_OF))
    rows = {r["business_id"]: r for r in batch.iter_rows(named=True)}
    for business_id in list(rows)[:: len(rows) // 8][:8]:
        live = features_for(fetched(w, business_id), AS_OF)
        assert list(live) == list(FEATURES)
        for name, value in live.items():
            assert _same(value, rows[business_id][name], name), (business_id, name)


def test_absent_sources_give_none_not_zero():
    w = world()
    business_id = str(w.ids[w.observed(AS_OF)[0]])
    data = fetched(w, business_id, AS_OF, [DataScope.BANK_STATEMENT])
    f = features_for(data, AS_OF)
    assert f["bank_inflow_outflow_ratio_3m"] is not None and f["months_of_history"] > 0
    for name in ("revenue_avg_3m_fen", "verified_revenue_monthly_fen", "tax_sales_consistency",
                 "bureau_open_loans", "bureau_enquiries_3m", "utility_late_payments_12m",
                 "app_logins_30d", "logistics_waybills_3m"):
        assert f[name] is None, name
    assert features_for({}, AS_OF) == {n: (0.0 if n == "months_of_history" else None)
                                       for n in FEATURES}
    # a batch panel built from partial data gives the same Nones
    batch = feature_frame(monthly_panel(data, AS_OF), AS_OF).row(0, named=True)
    assert all(_same(batch[n], f[n], n) for n in FEATURES)


def _hand_made(as_of: str = "2026-05-20") -> dict:
    orders = []
    for m, amount in zip(range(1, 5), (100_000, 200_000, 300_000, 400_000)):
        orders += [order(f"2026-{m:02d}-05", amount, f"c{m}", order_id=f"o{m}"),
                   order(f"2026-{m:02d}-06", 1_000, "c1", order_id=f"r{m}",
                         channel="ecommerce", refunded_on=f"2026-{m:02d}-07")]
    return {DataScope(k): parse_payload(k, envelope(v, as_of)) for k, v in dict(
        sales=orders,
        tax=[filing("2026-01-01", "2026-03-31", "2026-04-10", 450_000, 4_500)],
        bank_statement=[line("2026-03-02", 90_000, 100_000, "a1"),
                        line("2026-04-02", 300_000, 400_000, "a1"),
                        line("2026-04-03", -150_000, 250_000, "b1")],
        bureau=[report("2026-05-01", loans=[
            {"loan_ref": "ab" * 8, "lender_type": "bank", "opened_on": "2025-05-01",
             "limit_fen": 1_000_000, "balance_fen": 400_000, "status": "open"},
            {"loan_ref": "cd" * 8, "lender_type": "other", "opened_on": "2024-05-01",
             "limit_fen": 500_000, "balance_fen": 0, "status": "closed"}],
            history=[{"month": "2026-02", "overdue_days": 0},
                     {"month": "2026-03", "overdue_days": 45},
                     {"month": "2025-04", "overdue_days": 90}])],
        utility=[bill("2026-03", "2026-04-03", "2026-04-18", "2026-04-10", 150),
                 bill("2026-04", "2026-05-03", "2026-05-18", None, 10)],
    ).items()}


def test_values_by_hand():
    f = features_for(_hand_made(), date(2026, 5, 20))
    # first data: the tax period from January; Jan..Apr are complete months before May
    assert f["months_of_history"] == 4.0
    assert f["revenue_avg_3m_fen"] == 300_000.0          # (200k + 300k + 400k) / 3, net of refunds
    assert f["revenue_avg_12m_fen"] == 250_000.0         # clipped to the 4 months of history
    assert f["avg_order_value_3m_fen"] == 150_500.0      # (903,000) / 6 orders
    assert f["refund_rate_12m"] == pytest.approx(4_000 / 1_004_000)
    assert f["ecommerce_share_12m"] == pytest.approx(4_000 / 1_004_000)
    assert f["repeat_customer_rate_12m"] == pytest.approx(3 / 8)  # c1 again in Feb, Mar, Apr
    assert f["verified_revenue_monthly_fen"] == 150_000.0  # tax 450k/3 < sales 250k
    assert f["tax_sales_consistency"] == pytest.approx(450_000 / 600_000)
    assert f["tax_effective_rate_12m"] == pytest.approx(0.01)
    assert f["tax_months_covered_12m"] == 3.0 and f["tax_late_filings_12m"] == 0.0
    assert f["bank_inflow_outflow_ratio_3m"] == pytest.approx(390_000 / 150_000)
    assert f["bank_min_balance_3m_fen"] == 100_000.0      # March's only line; Feb before data
    assert f["bank_inflow_to_sales_3m"] == pytest.approx(390_000 / 900_000)
    assert (f["bureau_open_loans"], f["bureau_total_balance_fen"]) == (1.0, 400_000.0)
    assert f["bureau_utilisation"] == pytest.approx(0.4)
    assert (f["bureau_overdue_months_12m"], f["bureau_max_overdue_days"]) == (1.0, 45.0)
    assert f["utility_late_payments_12m"] == 1.0         # April's bill, unpaid past due
    assert f["electricity_growth_yoy"] is None          # no bill a year earlier
    assert f["electricity_per_revenue_3m"] == pytest.approx((150 + 10) / 0.7)
    assert f["revenue_trend_12m"] is None and f["revenue_cv_6m"] == pytest.approx(
        pl.Series([100_000, 200_000, 300_000, 400_000]).std() / 250_000)


def test_electricity_growth_compares_the_same_months_a_year_apart():
    data = {DataScope.UTILITY: parse_payload("utility", envelope(
        [bill(f"2025-{m:02d}", f"2025-{m + 1:02d}-03", f"2025-{m + 1:02d}-18", None, 100)
         for m in range(1, 11)]
        + [bill(f"2026-{m:02d}", f"2026-{m + 1:02d}-03", f"2026-{m + 1:02d}-18", None, 130)
           for m in range(1, 4)], "2026-04-20"))}
    f = features_for(data, date(2026, 4, 20))
    assert f["electricity_growth_yoy"] == pytest.approx(0.3)
    assert f["utility_late_payments_12m"] == 10.0  # Apr-Oct 2025 and Jan-Mar 2026, all unpaid


def test_feature_frame_refuses_what_is_not_a_panel_of_that_date():
    panel = world().panel(AS_OF)
    with pytest.raises(RiskDataError, match="months before 2025-12"):
        feature_frame(panel, date(2025, 12, 12))
    with pytest.raises(RiskDataError, match="built for as_of 2025-11-20"):
        feature_frame(panel, date(2025, 11, 20))  # same months, other trailing windows
    with pytest.raises(RiskDataError, match=r"missing \['elec_kwh'\]"):
        feature_frame(panel.drop("elec_kwh"), AS_OF)
    with pytest.raises(RiskDataError, match="rows per business"):
        feature_frame(panel.head(17), AS_OF)
    with pytest.raises(RiskDataError, match="polars DataFrame"):
        feature_frame(panel.to_dicts(), AS_OF)


@settings(max_examples=15, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(2, 30))
def test_each_business_is_computed_alone_whatever_the_order(rng, n):
    """Shuffling businesses, or computing a subset, does not change anyone's features."""
    panel = world().panel(AS_OF)
    full = feature_frame(panel, AS_OF)
    ids = full["business_id"].to_list()
    chosen = rng.sample(ids, n)
    parts = panel.filter(pl.col("business_id").is_in(chosen))
    shuffled = pl.concat([parts.filter(pl.col("business_id") == b) for b in chosen])
    sub = feature_frame(shuffled.sample(fraction=1.0, shuffle=True, seed=rng.randint(0, 99)),
                        AS_OF)
    expected = full.filter(pl.col("business_id").is_in(chosen)).sort("business_id")
    got = sub.sort("business_id")
    for name in FEATURES:
        for a, b in zip(got[name].to_list(), expected[name].to_list()):
            assert _same(a, b, name), name
