"""The monthly panel: the world's vectorised panel equals the panel of its raw payloads, and
records that were not available on as_of change nothing."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SOURCES, parse_payload
from puhui.risk.errors import RiskDataError
from puhui.risk.features import features_for
from puhui.risk.panel import HISTORY_MONTHS, PANEL_SCHEMA, ROWS, monthly_panel
from puhui.risk.panel import month_index as date_index
from risk_data_samples import (
    AS_OF, bill, envelope, event, fetched, filing, line, order, report, world,
)


def _sample_ids(n: int) -> list[str]:
    """Businesses of every kind: fraudsters, defaulters, no sales, no logistics, young ones."""
    w = world()
    observed = set(w.ids[w.observed(AS_OF)])
    b = w.businesses().filter(pl.col("business_id").is_in(sorted(observed)))
    picks = [b.filter(pl.col("fraud") == f)["business_id"][0] for f in
             ("round_trip", "tax_inflate", "brushing", "bust_out")]
    for i in range(w.n):
        if len(picks) >= n:
            break
        if w.ids[i] in observed and w.ids[i] not in picks:
            picks.append(str(w.ids[i]))
    return picks


@pytest.mark.parametrize("business_id", _sample_ids(14))
def test_world_panel_equals_the_panel_of_its_raw_records(business_id):
    w = world()
    theirs = w.panel(AS_OF).filter(pl.col("business_id") == business_id)
    mine = monthly_panel(fetched(w, business_id), AS_OF)
    assert mine.height == ROWS
    assert_frame_equal(mine, theirs)


def test_the_sample_covers_absent_sources_and_young_businesses():
    w = world()
    ids = [w.index_of(b) for b in _sample_ids(14)]
    assert not all(w.has_sales[ids]) and not all(w.has_logistics[ids])
    panel = w.panel(AS_OF)
    assert panel.schema == pl.Schema(PANEL_SCHEMA)
    assert panel["sales_orders"].null_count() > ROWS and panel["waybills"].null_count() > ROWS
    first = panel.group_by("business_id").agg(pl.col("first_activity_month").first())
    assert first["first_activity_month"].n_unique() > 5  # businesses started at different times


@pytest.mark.parametrize("business_id", _sample_ids(5)[::2])
@pytest.mark.parametrize("scope", SOURCES, ids=lambda s: s.value)
def test_connectors_never_return_records_after_as_of(business_id, scope):
    data = fetched(world(), business_id, AS_OF, [scope])
    for source in data.values():
        assert source.as_of == AS_OF
        assert all(d <= AS_OF for r in source.records for _, d in r.dated())


def test_later_fetches_do_not_change_earlier_features():
    """Data fetched later holds records after the earlier as_of (new orders, a tax filing for an
    earlier period filed after it, refunds and bill payments made after it); features as of the
    earlier date are those computed from data fetched on that date - bureau aside, whose later
    report cannot be used before it was pulled."""
    w = world()
    later = date(2026, 2, 20)
    filed_after = 0
    monthly_filers = [str(w.ids[i]) for i in w.observed(AS_OF) if not w.quarterly[i]][:3]
    for business_id in _sample_ids(5) + monthly_filers:
        early = fetched(w, business_id, AS_OF)
        late = fetched(w, business_id, later)
        base = features_for(early, AS_OF)
        without_bureau = {s: d for s, d in late.items() if s is not DataScope.BUREAU}
        mixed = {**without_bureau, DataScope.BUREAU: early[DataScope.BUREAU]}
        assert features_for(mixed, AS_OF) == base
        filed_after += sum(r.filed_on > AS_OF and r.period_end < AS_OF
                           for r in late[DataScope.TAX].records)
    assert filed_after > 0  # the case the rule is for did occur


def _data(as_of: str = "2026-05-20", **records) -> dict:
    return {DataScope(scope): parse_payload(scope, envelope(rs, as_of))
            for scope, rs in records.items()}


def test_late_records_are_ignored_point_in_time():
    as_of = date(2026, 5, 20)
    base = dict(
        sales=[order("2026-02-10", 50_000, "c1"), order("2026-03-10", 60_000, "c1"),
               order("2026-04-10", 70_000, "c2", refunded_on="2026-04-12")],
        tax=[filing("2026-01-01", "2026-03-31", "2026-04-10", 180_000)],
        utility=[bill("2026-04", "2026-05-03", "2026-05-18", None)],
        bank_statement=[line("2026-04-02", 1_000, 5_000), line("2026-04-09", -3_000, 2_000)],
        bureau=[report("2026-05-01", enquiries=[{"enquired_on": "2026-04-30",
                                                 "reason": "loan_approval"}])],
        app_behaviour=[event("2026-05-10T02:00:00+00:00", device="d1")])
    later = {k: list(v) for k, v in base.items()}
    later["sales"] += [order("2026-05-25", 99_000, "c3"), order("2026-06-02", 1, "c1")]
    later["sales"][2] = order("2026-04-10", 70_000, "c2", refunded_on="2026-04-12")
    later["sales"][1] = order("2026-03-10", 60_000, "c1", refunded_on="2026-05-28")
    later["tax"] += [filing("2026-04-01", "2026-04-30", "2026-05-30", 999_999),  # earlier period
                     filing("2026-01-01", "2026-03-31", "2026-06-01", 1)]        # amended later
    later["utility"][0] = bill("2026-04", "2026-05-03", "2026-05-18", "2026-05-25")
    later["utility"] += [bill("2026-05", "2026-06-03", "2026-06-18", None)]
    later["bank_statement"] += [line("2026-05-25", -9_000, -7_000)]
    later["bureau"] += [report("2026-06-01", enquiries=[{"enquired_on": "2026-05-30",
                                                         "reason": "loan_approval"}] * 5)]
    later["app_behaviour"] += [event("2026-05-21T01:00:00+00:00", device="d9")]
    early = _data(**base)
    late = _data("2026-06-10", **later)
    assert_frame_equal(monthly_panel(late, as_of), monthly_panel(early, as_of))
    assert features_for(late, as_of) == features_for(early, as_of)
    assert features_for(late, date(2026, 6, 10)) != features_for(late, as_of)


def test_availability_rules_by_hand():
    as_of = date(2026, 5, 20)
    data = _data(
        sales=[order("2026-03-05", 10_000, "a"), order("2026-04-05", 20_000, "a"),
               order("2026-04-06", 30_000, "b", refunded_on="2026-04-08")],
        tax=[filing("2026-01-01", "2026-03-31", "2026-04-10", 300_001, 3_000),
             filing("2026-01-01", "2026-03-31", "2026-04-20", 90_000, 900),     # amendment wins
             filing("2026-04-01", "2026-06-30", "2026-07-10", 1, 1)][:2],
        utility=[bill("2026-03", "2026-04-03", "2026-04-18", "2026-04-30"),    # paid late
                 bill("2026-04", "2026-05-03", "2026-05-18", None),            # unpaid, past due
                 bill("2026-04", "2026-05-04", "2026-05-25", None, 7, "water")],  # not yet due
        bank_statement=[line("2026-02-02", 5_000, 5_000), line("2026-02-03", -4_000, 1_000, "bb"),
                        line("2026-04-02", 700, 1_700, "bb")],
    )
    p = monthly_panel(data, as_of)
    assert p.height == ROWS and p["month"][-1] == date(2026, 5, 1)
    assert p["month"][0] == date(2025, 2, 1)
    row = {m: r for m, r in zip(p["month"], p.iter_rows(named=True))}
    mar, apr, may = row[date(2026, 3, 1)], row[date(2026, 4, 1)], row[date(2026, 5, 1)]
    assert (apr["sales_orders"], apr["sales_gross_fen"]) == (2, 50_000)
    assert apr["sales_refunded_fen"] == 30_000
    assert (mar["sales_repeat_orders"], apr["sales_repeat_orders"]) == (0, 1)
    assert may["sales_orders"] is None  # the month of as_of is not complete
    jan = row[date(2026, 1, 1)]
    assert [row[date(2026, m, 1)]["tax_vat_revenue_fen"] for m in (1, 2, 3)] == [30_000] * 3
    assert jan["tax_vat_covered"] == 1 and apr["tax_vat_covered"] == 0
    assert row[date(2026, 3, 1)]["tax_late_filings"] == 1  # amended on the 20th: after the 15th
    assert (mar["utility_late"], apr["utility_late"]) == (1, 1)
    assert (apr["elec_kwh"], apr["water_m3"], apr["elec_billed"]) == (100, 7, 1)
    feb = row[date(2026, 2, 1)]
    assert (feb["bank_inflow_fen"], feb["bank_outflow_fen"]) == (5_000, 4_000)
    assert feb["bank_min_balance_fen"] == 1_000
    assert mar["bank_min_balance_fen"] == 1_000  # a quiet month carries the balance
    assert apr["bank_round_trip_fen"] == 0 and row[date(2026, 1, 1)]["bank_min_balance_fen"] is None
    assert p["first_activity_month"][0] == date(2026, 1, 1)  # the tax period's first month
    assert p["bureau_open_loans"].null_count() == ROWS  # no bureau data: null, not zero


def test_a_source_present_without_records_is_zero_not_null():
    p = monthly_panel(_data(sales=[], logistics=[], app_behaviour=[], bank_statement=[]),
                      date(2026, 5, 20))
    complete = p.head(HISTORY_MONTHS)
    for name in ("sales_orders", "sales_gross_fen", "sales_repeat_orders", "waybills",
                 "logistics_fee_fen", "app_logins", "app_new_devices", "bank_inflow_fen"):
        assert complete[name].to_list() == [0] * HISTORY_MONTHS and p[name][-1] is None, name
    assert (p["app_logins_30d"][-1], p["app_new_devices_30d"][-1]) == (0, 0)
    assert p["bank_min_balance_fen"].null_count() == ROWS  # no balance known yet
    assert p["first_activity_month"].null_count() == ROWS
    assert features_for(_data(sales=[]), date(2026, 5, 20))["revenue_avg_3m_fen"] is None


@pytest.mark.parametrize("records", [
    dict(sales=[order("2026-03-05", 2 ** 62, order_id=f"o{k}") for k in range(3)]),
    dict(sales=[order("2026-03-05", 2 ** 64)]),
    dict(tax=[filing("2026-01-01", "2026-03-31", "2026-04-10", 2 ** 70)]),
    dict(bank_statement=[line("2026-03-02", 2 ** 63 - 1, 0), line("2026-03-03", 5, 0)]),
], ids=["sales-total", "sales-amount", "tax", "bank"])
def test_totals_that_do_not_fit_int64_are_refused_not_wrapped(records):
    with pytest.raises(RiskDataError, match="too large to total exactly"):
        monthly_panel(_data(**records), date(2026, 5, 20))


def test_round_trips_are_inflows_from_those_paid_the_same_month():
    data = _data(bank_statement=[line("2026-04-02", -5_000, 0, "cc"),
                                 line("2026-04-20", 5_000, 5_000, "cc"),
                                 line("2026-04-21", 1_000, 6_000, "dd")])
    apr = monthly_panel(data, date(2026, 5, 20)).row(HISTORY_MONTHS - 1, named=True)
    assert (apr["bank_round_trip_fen"], apr["bank_inflow_fen"]) == (5_000, 6_000)


def test_windows_ending_on_as_of():
    as_of = date(2026, 5, 20)
    data = _data(app_behaviour=[event("2026-04-20T08:00:00+00:00", device="old"),
                                event("2026-04-21T08:00:00+00:00", device="new1"),
                                event("2026-05-20T23:00:00+00:00", device="new2"),
                                event("2026-05-20T23:30:00+00:00", "view_loan", "old")],
                 bureau=[report("2026-05-20", enquiries=[
                     {"enquired_on": d, "reason": r} for d, r in
                     (("2026-02-20", "loan_approval"), ("2026-02-21", "loan_approval"),
                      ("2025-11-20", "loan_approval"), ("2026-05-01", "post_loan_management"))])])
    f = features_for(data, as_of)
    assert (f["app_logins_30d"], f["app_new_devices_30d"]) == (2.0, 2.0)
    assert (f["bureau_enquiries_3m"], f["bureau_enquiries_6m"]) == (1.0, 2.0)


def test_monthly_panel_refuses_data_it_cannot_describe():
    data = _data(sales=[order()])
    with pytest.raises(RiskDataError, match="fetched as of 2026-05-20 cannot describe 2026-06-01"):
        monthly_panel(data, date(2026, 6, 1))
    other = parse_payload("tax", envelope([], business_id="B2"))
    with pytest.raises(RiskDataError, match="different businesses"):
        monthly_panel({**data, DataScope.TAX: other}, date(2026, 5, 1))
    with pytest.raises(RiskDataError, match="SourceData of that scope"):
        monthly_panel({DataScope.TAX: data[DataScope.SALES]}, date(2026, 5, 1))
    with pytest.raises(RiskDataError, match="no source data"):
        monthly_panel({}, date(2026, 5, 1))


@settings(max_examples=8, deadline=None)
@given(st.dates(min_value=date(2024, 2, 1), max_value=date(2026, 12, 31)),
       st.integers(0, 119))
def test_world_and_raw_panels_agree_on_any_day(as_of, index):
    """Month ends, February, the first and last day of the data: any as_of, any business."""
    w = world(120, seed=11)
    business_id = str(w.ids[index])
    theirs = w.panel(as_of).filter(pl.col("business_id") == business_id)
    if theirs.height == 0:
        assert w.d0[index] >= date_index(as_of)
        return
    assert_frame_equal(monthly_panel(fetched(w, business_id, as_of), as_of), theirs)


@settings(max_examples=6, deadline=None)
@given(st.dates(min_value=date(2024, 3, 1), max_value=date(2026, 6, 30)),
       st.integers(1, 180), st.integers(0, 119))
def test_features_never_see_what_came_later(as_of, days_later, index):
    w = world(120, seed=11)
    business_id = str(w.ids[index])
    if w.d0[index] >= date_index(as_of):
        return
    later = min(as_of + timedelta(days=days_later), date(2026, 12, 31))
    early, late = fetched(w, business_id, as_of), fetched(w, business_id, later)
    late[DataScope.BUREAU] = early[DataScope.BUREAU]  # a report pulled later is a later fact
    assert features_for(late, as_of) == features_for(early, as_of)
