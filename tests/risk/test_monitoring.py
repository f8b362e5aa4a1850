"""Monitoring: PSI, matured-loan discrimination, vintage curves, alerts and the report."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.cli.risk import render_monitoring
from puhui.errors import PuhuiError
from puhui.risk.errors import ArtefactError, InvalidParameter, RiskDataError
from puhui.risk.evaluation import auc
from puhui.risk.monitoring import (EPSILON, AlertLevel, AlertThresholds, MonitoringReport,
                                   PsiResult, StabilityReference, drop_alerts,
                                   matured_discrimination, monitor, psi, psi_alerts,
                                   psi_from_counts, psi_table, vintage_curves, vintage_figure)

LN2 = math.log(2)


# --- PSI -------------------------------------------------------------------------------------

def test_identical_samples_have_zero_psi():
    x = np.random.default_rng(0).normal(size=2000)
    assert psi(x, x).value == 0.0
    assert psi(["a", "b", "b", None], ["b", None, "a", "b"]).value == 0.0


def test_two_bin_case_by_hand():
    result = psi([1, 1, 2, 2], [1, 2, 2, 2], bins=2)
    assert result.value == pytest.approx(0.25 * LN2 + 0.25 * math.log(1.5), rel=1e-12)
    table = result.to_frame()
    assert table["label"].to_list() == ["<= 1", "> 1", "missing"]
    assert table["reference_count"].to_list() == [2, 2, 0]
    assert table["recent_count"].to_list() == [1, 3, 0]
    assert table["contribution"][2] == 0.0  # empty in both: floored shares cancel
    assert result.reference_count == 4 and result.recent_count == 4


def test_shift_raises_psi():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=5000)
    values = [psi(reference, rng.normal(loc=shift, size=5000)).value
              for shift in (0.0, 0.2, 0.5, 1.0)]
    assert values == sorted(values) and values[0] < 0.02 and values[-1] > 0.25


def test_new_category_gets_its_own_floored_bin():
    result = psi(["a", "a", "b", "b"], ["a", "b", "c", "c"])
    expected = 2 * (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.5 - EPSILON) * math.log(0.5 / EPSILON)
    assert result.value == pytest.approx(expected, rel=1e-12)
    rows = {b.label: b for b in result.bins}
    assert rows["c"].new and rows["c"].reference_count == 0 and rows["c"].recent_count == 2
    assert result.kind == "categorical" and not rows["a"].new


def test_missing_values_are_a_bin_of_their_own():
    result = psi([1.0, 2.0, np.nan, np.nan], [1.0, 2.0, 2.0, np.nan], bins=2)
    rows = {b.label: b for b in result.bins}
    assert rows["missing"].reference_share == 0.5 and rows["missing"].recent_share == 0.25
    assert result.value == pytest.approx(0.5 * LN2, rel=1e-12)
    only_missing = psi([None, None], [None, None])
    assert only_missing.value == 0.0


def test_tied_data_never_leaves_a_reference_bin_empty():
    reference = np.repeat([0, 0, 0, 0, 0, 1, 2, 2, 3, 10], 50)
    result = psi(reference, reference + 1, bins=10)
    counts = [b.reference_count for b in result.bins if b.label != "missing"]
    assert min(counts) > 0 and len(counts) == 5  # 0, 1, 2, 3, 10


def test_reference_round_trips_through_json():
    rng = np.random.default_rng(2)
    train = pd.DataFrame({"score": rng.normal(600, 40, 800),
                          "months": rng.integers(6, 60, 800).astype(float),
                          "purpose": rng.choice(["car", "tv", "business"], 800)})
    train.loc[::17, "months"] = np.nan
    recent = pl.DataFrame({"score": rng.normal(590, 45, 300),
                           "months": rng.integers(12, 72, 300),
                           "purpose": rng.choice(["car", "tv", "education"], 300)})
    reference = StabilityReference.fit(train, ["score", "months", "purpose"])
    loaded = StabilityReference.from_json(reference.to_json())
    assert loaded.columns == ("score", "months", "purpose")
    assert [r.to_dict() for r in loaded.psi(recent)] == [r.to_dict() for r in reference.psi(recent)]
    direct = psi_table(train, recent, ["score", "months", "purpose"])
    assert [r.value for r in direct] == [r.value for r in reference.psi(recent)]
    json.dumps([r.to_dict() for r in direct])  # JSON-ready


def test_bad_input_is_a_typed_error():
    with pytest.raises(RiskDataError):
        psi([], [1.0])
    with pytest.raises(RiskDataError):
        psi([1.0, 2.0], ["x", "y"])  # text in a numeric column
    with pytest.raises(RiskDataError):
        psi([1.0, np.inf], [1.0])
    with pytest.raises(InvalidParameter):
        psi([1.0, 2.0], [1.0], bins=0)
    with pytest.raises(RiskDataError, match="no column 'b'"):
        psi_table({"a": [1.0]}, {"a": [1.0]}, ["b"])
    with pytest.raises(ArtefactError):
        StabilityReference.from_json('{"format": "something else"}')
    with pytest.raises(ArtefactError):
        StabilityReference.from_json("not json")
    with pytest.raises(RiskDataError):
        psi_from_counts([1, -1], [1, 1])
    with pytest.raises(PuhuiError):
        psi_from_counts([1, 2], [1, 2, 3])


values = st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=1,
                  max_size=60)


@settings(max_examples=60, deadline=None)
@given(values, values, st.integers(1, 12))
def test_psi_is_never_negative(reference, recent, bins):
    result = psi(reference, recent, bins=bins)
    assert result.value >= 0.0
    assert all(b.contribution >= 0.0 for b in result.bins)
    assert psi(reference, reference, bins=bins).value == 0.0


counts = st.lists(st.integers(0, 1000), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_psi_from_counts_is_symmetric(data):
    a = data.draw(counts.filter(lambda c: sum(c) > 0))
    b = data.draw(st.lists(st.integers(0, 1000), min_size=len(a), max_size=len(a))
                  .filter(lambda c: sum(c) > 0))
    assert psi_from_counts(a, b) == pytest.approx(psi_from_counts(b, a), rel=1e-12, abs=1e-15)
    assert psi_from_counts(a, a) == 0.0


# --- discrimination on matured loans ----------------------------------------------------------

def test_only_matured_loans_count():
    as_of = date(2025, 6, 30)
    # matured: originated 2024-01 and 2024-02, scores rank them perfectly
    origination = [date(2024, 1, 10)] * 4 + [date(2024, 2, 5)] * 4
    bad = [0, 0, 1, 1, 0, 1, 0, 1]
    scores = [0.1, 0.2, 0.8, 0.9, 0.15, 0.7, 0.25, 0.95]
    # immature (originated 2025-03): no time to default yet, and high scores
    origination += [date(2025, 3, 1)] * 3
    bad += [np.nan, 0, 0]
    scores += [0.99, 0.97, 0.96]
    result = matured_discrimination(origination, scores, bad, as_of)
    assert result.matured == 8 and result.loans == 11 and result.bads == 4
    assert result.auc == 1.0 and result.ks == 1.0
    everyone = np.nan_to_num(np.asarray(bad, dtype=float)).astype(int)
    assert auc(everyone, scores) < 0.9  # counting the young loans would change the answer
    cohorts = result.by_cohort
    assert cohorts["cohort"].to_list() == [date(2024, 1, 1), date(2024, 2, 1), date(2025, 3, 1)]
    assert cohorts["matured"].to_list() == [4, 4, 0]
    assert cohorts["auc"].to_list() == [1.0, 1.0, None]
    json.dumps(result.to_dict())


def test_maturity_rule_months_flags_and_outcome_dates():
    as_of = date(2025, 1, 15)
    origination = [date(2024, 1, 15), date(2024, 1, 16), date(2024, 1, 1), date(2024, 1, 1)]
    scores, bad = [0.9, 0.1, 0.2, 0.8], [1, 0, 0, 1]
    # 2024-01-16 is one day short of 12 full months
    assert matured_discrimination(origination, scores, bad, as_of).matured == 3
    known = [True, True, False, True]
    assert matured_discrimination(origination, scores, bad, as_of,
                                  outcome_known=known).matured == 2
    when = [date(2025, 1, 15), None, date(2025, 1, 1), date(2025, 1, 16)]
    result = matured_discrimination(origination, scores, bad, as_of, outcome_dates=when,
                                    window_months=6)
    assert result.matured == 2 and result.auc == 1.0
    points = matured_discrimination(origination, [-s for s in scores], bad, as_of,
                                    higher_is_riskier=False)
    assert points.auc == matured_discrimination(origination, scores, bad, as_of).auc


def test_discrimination_bad_input():
    with pytest.raises(RiskDataError, match="0 or 1"):
        matured_discrimination([date(2020, 1, 1)] * 2, [0.1, 0.2], [1, np.nan], date(2022, 1, 1))
    with pytest.raises(RiskDataError, match="after the as-of"):
        matured_discrimination([date(2023, 1, 1)], [0.1], [1], date(2022, 1, 1))
    with pytest.raises(RiskDataError, match="one value per loan"):
        matured_discrimination([date(2020, 1, 1)] * 2, [0.1], [1, 0], date(2022, 1, 1))
    with pytest.raises(RiskDataError, match="date"):
        matured_discrimination([date(2020, 1, 1)], [0.1], [1], "June")


# --- vintage curves ---------------------------------------------------------------------------

def test_vintage_table_by_hand():
    origination = [date(2024, 1, 5), date(2024, 1, 20), date(2024, 2, 1), date(2024, 3, 31)]
    defaults = [None, date(2024, 3, 4), date(2024, 2, 10), None]
    table = vintage_curves(origination, defaults, date(2024, 6, 15))
    # January: youngest loan (20 Jan) has 4 full months; its default on 4 Mar is in month 2
    # February: 4 months, default in month 1; March (31 Mar): 2 full months, no default
    expected = ([(date(2024, 1, 1), k, 2, 0 if k == 1 else 1) for k in range(1, 5)]
                + [(date(2024, 2, 1), k, 1, 1) for k in range(1, 5)]
                + [(date(2024, 3, 1), k, 1, 0) for k in range(1, 3)])
    assert table.select("cohort", "months_on_book", "loans", "defaults").rows() == expected
    assert table["cumulative_default_rate"].to_list() == [d / n for _, _, n, d in expected]
    assert table.schema["cohort"] == pl.Date


def test_young_cohort_and_empty_input():
    assert vintage_curves([date(2024, 6, 1)], [None], date(2024, 6, 30)).is_empty()
    empty = vintage_curves([], [], date(2024, 6, 30))
    assert empty.is_empty() and empty.columns == ["cohort", "months_on_book", "loans",
                                                  "defaults", "cumulative_default_rate"]


def test_vintage_bad_input():
    with pytest.raises(RiskDataError, match="before origination"):
        vintage_curves([date(2024, 3, 1)], [date(2024, 2, 1)], date(2024, 6, 1))
    with pytest.raises(RiskDataError, match="after the as-of"):
        vintage_curves([date(2024, 3, 1)], [date(2024, 7, 1)], date(2024, 6, 1))
    with pytest.raises(RiskDataError, match="dates"):
        vintage_curves(["not a date"], [None], date(2024, 6, 1))
    with pytest.raises(RiskDataError):
        vintage_figure(pl.DataFrame({"x": [1]}))


loans = st.lists(st.tuples(st.dates(date(2024, 1, 1), date(2024, 8, 31)),
                           st.one_of(st.none(), st.integers(0, 700))), min_size=1, max_size=40)


@settings(max_examples=50, deadline=None)
@given(loans, st.integers(0, 400))
def test_vintages_are_censored_and_never_fall(rows, extra_days):
    as_of = max(o for o, _ in rows) + timedelta(days=extra_days)
    origination = [o for o, _ in rows]
    defaults = [None if d is None or o + timedelta(days=d) > as_of else o + timedelta(days=d)
                for o, d in rows]
    table = vintage_curves(origination, defaults, as_of)

    def months(a: date, b: date) -> int:
        delta = relativedelta(b, a)
        return delta.years * 12 + delta.months

    for (cohort,), group in table.group_by("cohort"):
        members = [i for i, o in enumerate(origination) if o.replace(day=1) == cohort]
        age = min(months(origination[i], as_of) for i in members)
        assert group["months_on_book"].sort().to_list() == list(range(1, age + 1))
        assert set(group["loans"]) == {len(members)}
        rates = group.sort("months_on_book")["cumulative_default_rate"].to_list()
        assert rates == sorted(rates)
        last = sum(1 for i in members if defaults[i] is not None
                   and months(origination[i], defaults[i]) < age)
        assert group["defaults"].max() == last
    shown = set(table["cohort"].to_list())
    for o in origination:  # a cohort is missing only when it is younger than a month
        if o.replace(day=1) not in shown:
            assert min(months(x, as_of) for x in origination
                       if x.replace(day=1) == o.replace(day=1)) == 0


def test_vintage_figure_has_a_line_per_cohort():
    table = vintage_curves([date(2024, 1, 5), date(2024, 2, 1)], [None, date(2024, 3, 1)],
                           date(2024, 6, 15))
    figure = vintage_figure(table, title="Book")
    assert [t.name for t in figure.data] == ["2024-01", "2024-02"]
    assert list(figure.data[1].y) == [0.0, 1.0, 1.0, 1.0]


# --- alerts and the report --------------------------------------------------------------------

def _psi_result(subject: str, value: float) -> PsiResult:
    return PsiResult(subject, "numeric", value, ())


def test_psi_alerts_fire_exactly_at_the_thresholds():
    results = [_psi_result(n, v) for n, v in
               (("a", 0.0999), ("b", 0.10), ("c", 0.2499), ("d", 0.25), ("e", 3.0))]
    alerts = {a.subject: a for a in psi_alerts(results)}
    assert set(alerts) == {"b", "c", "d", "e"}
    assert alerts["b"].level is AlertLevel.WARN and alerts["b"].threshold == 0.10
    assert alerts["c"].level is AlertLevel.WARN
    assert alerts["d"].level is AlertLevel.ALERT and alerts["d"].threshold == 0.25
    assert alerts["d"].metric == "psi" and "0.25" in alerts["d"].message


def test_drop_alerts_fire_exactly_at_the_thresholds():
    reference = {"auc": 0.80, "ks": 0.45}
    at = drop_alerts("book", reference, {"auc": 0.75, "ks": 0.40})
    assert [(a.metric, a.level) for a in at] == [("auc_drop", AlertLevel.ALERT),
                                                 ("ks_drop", AlertLevel.WARN)]
    assert at[0].value == pytest.approx(0.05)
    assert drop_alerts("book", reference, {"auc": 0.7501, "ks": 0.4001}) == []
    assert drop_alerts("book", reference, {"auc": 0.90}) == []  # a rise is no alert
    custom = AlertThresholds(auc_drop_warn=0.02, ks_drop_alert=0.10)
    levels = [(a.metric, a.level) for a in drop_alerts("book", reference,
                                                       {"auc": 0.78, "ks": 0.35}, custom)]
    assert levels == [("auc_drop", AlertLevel.WARN), ("ks_drop", AlertLevel.ALERT)]


def test_thresholds_are_checked():
    with pytest.raises(InvalidParameter):
        AlertThresholds(psi_warn=0.3, psi_alert=0.2)
    with pytest.raises(InvalidParameter):
        AlertThresholds(ks_drop_warn=-0.1)
    assert psi_alerts([_psi_result("x", 9.0)], AlertThresholds(psi_warn=None,
                                                              psi_alert=None)) == []


def test_monitoring_report():
    rng = np.random.default_rng(4)
    train = pd.DataFrame({"p_bad": rng.beta(2, 5, 1000), "months": rng.integers(6, 48, 1000)})
    reference = StabilityReference.fit(train, ["p_bad", "months"])
    recent = pd.DataFrame({"p_bad": rng.beta(2, 5, 400), "months": rng.integers(24, 72, 400)})
    vintages = vintage_curves([date(2024, 1, 5)], [None], date(2024, 4, 1))
    report = monitor(StabilityReference.from_json(reference.to_json()), recent,
                     subject="2024-06", scores=["p_bad"],
                     reference_metrics={"auc": 0.80, "ks": 0.45, "gini": 0.60},
                     metrics={"auc": 0.74, "ks": 0.44, "gini": 0.48}, vintages=vintages,
                     as_of=date(2024, 6, 30))
    assert isinstance(report, MonitoringReport)
    assert [r.subject for r in report.score_psi] == ["p_bad"]
    assert [r.subject for r in report.feature_psi] == ["months"]
    assert report.score_psi[0].value < 0.1 < report.feature_psi[0].value
    assert {(a.metric, a.subject) for a in report.alerts} == {("psi", "months"),
                                                               ("auc_drop", "2024-06")}
    assert report.worst_level == "alert"
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["status"] == "alert" and doc["as_of"] == "2024-06-30"
    assert doc["vintages"][0]["cohort"] == "2024-01-01"
    text = report.summary()
    assert "ALERT" in text and "months" in text and "AUC  0.7400 (reference 0.8000)" in text
    assert render_monitoring(report) is not None
    with pytest.raises(RiskDataError):
        monitor(reference, recent, scores=["nope"])


def test_report_takes_matured_figures():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"p": rng.random(200)})
    bad = (rng.random(200) < frame["p"]).astype(int)
    matured = matured_discrimination([date(2023, 1, 1)] * 200, frame["p"], bad,
                                     date(2024, 6, 1))
    report = monitor(StabilityReference.fit(frame), frame, scores=["p"], matured=matured,
                     reference_metrics={"auc": matured.auc, "ks": matured.ks})
    assert report.metrics == matured.metrics() and report.alerts == ()
    assert report.as_of == date(2024, 6, 1) and report.worst_level == "ok"
    assert "no alerts" in report.summary()


@settings(max_examples=300, deadline=None)
@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(0, 2000))
def test_months_on_book_are_counted_as_relativedelta_counts_them(start, days):
    """Month ends included: 31 Mar -> 30 Jun is 3 full months, 31 Jan -> 28 Feb is 1."""
    from puhui.risk import _arrays

    end = start + timedelta(days=days)
    delta = relativedelta(end, start)
    counted = _arrays.months_between(np.array([start], dtype="datetime64[D]"),
                                     np.datetime64(end, "D"))
    assert counted.tolist() == [delta.years * 12 + delta.months]


# --- the minimum sample for PSI alerts --------------------------------------------------------

def _shifted_report(n: int, thresholds: AlertThresholds = AlertThresholds()) -> MonitoringReport:
    """A report on `n` recent rows whose `months` has really moved (all above the reference)."""
    rng = np.random.default_rng(7)
    train = pd.DataFrame({"p_bad": rng.beta(2, 5, 1000), "months": rng.integers(6, 48, 1000)})
    reference = StabilityReference.fit(train, ["p_bad", "months"])
    recent = pd.DataFrame({"p_bad": rng.beta(2, 5, n), "months": np.full(n, 60)})
    return monitor(reference, recent, subject="book", scores=["p_bad"], thresholds=thresholds)


def test_the_default_psi_minimum_sample_is_100():
    assert AlertThresholds().psi_min_sample == 100
    assert AlertThresholds().to_dict()["psi_min_sample"] == 100


@pytest.mark.parametrize("minimum", [100, 5])
def test_no_psi_alert_below_the_minimum_sample_and_alerts_at_it(minimum):
    thresholds = AlertThresholds(psi_min_sample=minimum)
    below = _shifted_report(minimum - 1, thresholds)
    assert below.sample == minimum - 1
    assert below.feature_psi[0].value > 0.25  # the shift is there, but too few rows to trust
    assert [a for a in below.alerts if a.metric == "psi"] == []
    assert below.worst_level == "ok"
    note = f"insufficient sample (n={minimum - 1} < {minimum})"
    assert below.psi_note == note and below.to_dict()["psi_note"] == note
    assert note in below.summary()
    at = _shifted_report(minimum, thresholds)
    assert at.sample == minimum and at.psi_note is None
    assert ("psi", "months", AlertLevel.ALERT) in {(a.metric, a.subject, a.level)
                                                   for a in at.alerts}
    assert at.worst_level == "alert" and "insufficient" not in at.summary()


def test_a_three_application_book_raises_no_psi_alert():
    report = _shifted_report(3)
    assert report.feature_psi[0].value > 1  # a PSI of several units on three rows is noise
    assert report.alerts == () and report.psi_note == "insufficient sample (n=3 < 100)"


def test_psi_alerts_take_the_sample_size_into_account():
    results = [_psi_result("x", 9.0)]
    assert psi_alerts(results, sample=99) == []
    assert [a.level for a in psi_alerts(results, sample=100)] == [AlertLevel.ALERT]
    assert [a.level for a in psi_alerts(results, AlertThresholds(psi_min_sample=0), 0)] == [
        AlertLevel.ALERT]
    for bad in (-1, 1.5, True, "100"):
        with pytest.raises(InvalidParameter, match="psi_min_sample"):
            AlertThresholds(psi_min_sample=bad)
