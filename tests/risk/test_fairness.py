"""Fairness: group rates and differences by hand and against fairlearn, flags, helpers, guard."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (demographic_parity_difference, demographic_parity_ratio,
                               equal_opportunity_difference)
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.cli.risk import fairness_tables
from puhui.risk.errors import InvalidParameter, ProtectedAttributeUsed, RiskDataError
from puhui.risk.fairness import (FairnessTolerance, age_band, attribute_fairness,
                                 fairness_report, refuse_protected, sex_from_personal_status)
from puhui.risk.scorecard import Scorecard
from risk_samples import constructed

SEX = ["m"] * 4 + ["f"] * 6
APPROVED = [1, 1, 1, 0, 1, 1, 0, 0, 0, 1]
BAD = [0, 1, 0, 0, 0, 1, 0, 1, 0, 0]


def test_group_rates_by_hand():
    sex = attribute_fairness("sex", SEX, APPROVED, BAD)
    female, male = sex.groups  # sorted by label
    assert (female.group, female.applicants, female.approved) == ("f", 6, 3)
    assert female.approval_rate == 0.5 and male.approval_rate == 0.75
    assert female.default_rate == pytest.approx(1 / 3) and male.default_rate == pytest.approx(1 / 3)
    assert (female.goods, female.goods_approved) == (4, 2) and female.true_positive_rate == 0.5
    assert (male.goods, male.goods_approved) == (3, 2)
    assert male.true_positive_rate == pytest.approx(2 / 3)
    assert sex.parity_difference == 0.25 and sex.parity_ratio == pytest.approx(2 / 3)
    assert sex.equal_opportunity_difference == pytest.approx(1 / 6)
    assert len(sex.flags) == 3 and sex.flagged  # difference, four-fifths rule, opportunity
    assert "f 50.0% vs m 75.0%" in sex.flags[0]


def test_unobserved_outcomes_are_left_out_of_outcome_rates():
    observed = [True] * 9 + [False]  # the last woman, approved and good, has no outcome yet
    female = attribute_fairness("sex", SEX, APPROVED, BAD, observed).groups[0]
    assert female.approval_rate == 0.5  # still an applicant who was approved
    assert (female.approved_observed, female.defaults) == (2, 1) and female.default_rate == 0.5
    assert (female.goods, female.goods_approved) == (3, 1)


def test_tolerance_controls_the_flags():
    loose = FairnessTolerance(parity_difference=0.3, equal_opportunity_difference=0.2,
                              parity_ratio=0.6)
    assert attribute_fairness("sex", SEX, APPROVED, BAD, tolerance=loose).flags == ()
    with pytest.raises(InvalidParameter):
        FairnessTolerance(parity_difference=1.5)


def test_group_without_goods_has_no_true_positive_rate():
    groups = ["a", "a", "b", "b", "c", "c"]
    result = attribute_fairness("g", groups, [1, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1])
    tpr = {g.group: g.true_positive_rate for g in result.groups}
    assert tpr == {"a": 0.5, "b": 1.0, "c": None}
    assert result.equal_opportunity_difference == 0.5  # c is left out, not counted as 0


def test_without_outcomes_only_approvals_are_reported():
    report = fairness_report(APPROVED, {"sex": SEX, "region": ["north"] * 5 + [None] * 5})
    sex, region = report.attributes
    assert sex.equal_opportunity_difference is None
    assert all(g.default_rate is None and g.true_positive_rate is None for g in sex.groups)
    assert [g.group for g in region.groups] == ["north", "(missing)"]
    assert report.applicants == 10 and report.approval_rate == 0.6
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["attributes"][0]["flagged"] is True
    assert "sex: parity difference 0.250" in report.summary()
    assert len(fairness_tables(report)) == 2


def test_bad_input():
    with pytest.raises(RiskDataError, match="one value per loan"):
        fairness_report([1, 0], {"sex": ["m"]})
    with pytest.raises(RiskDataError):
        fairness_report([1, 2], {"sex": ["m", "f"]})
    with pytest.raises(RiskDataError):
        fairness_report([1, 0], {})
    with pytest.raises(RiskDataError):
        fairness_report([1, 0], ["m", "f"])


@st.composite
def decisions(draw):
    n = draw(st.integers(6, 80))
    groups = draw(st.lists(st.sampled_from("abc"), min_size=n, max_size=n))
    approved = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    bad = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return np.array(groups), np.array(approved), np.array(bad)


@settings(max_examples=30, deadline=None)
@given(decisions())
def test_agrees_with_fairlearn(case):
    groups, approved, bad = case
    result = attribute_fairness("g", groups, approved, bad)
    good = ~bad
    assert result.parity_difference == pytest.approx(
        demographic_parity_difference(good, approved, sensitive_features=groups))
    if approved.any():
        assert result.parity_ratio == pytest.approx(
            demographic_parity_ratio(good, approved, sensitive_features=groups))
    if all(good[groups == g].any() for g in set(groups)):  # fairlearn counts no goods as 0
        assert result.equal_opportunity_difference == pytest.approx(
            equal_opportunity_difference(good, approved, sensitive_features=groups))


def test_age_bands():
    bands = age_band([19, 24.9, 25, 34, 35, 49, 50, 64, 65, 90, None])
    assert list(bands) == ["<25", "<25", "25-34", "25-34", "35-49", "35-49", "50-64", "50-64",
                           "65+", "65+", "(missing)"]
    assert list(bands.categories[:5]) == ["<25", "25-34", "35-49", "50-64", "65+"]
    assert list(age_band([20, 40, 70], bounds=(30, 60))) == ["<30", "30-59", "60+"]
    report = fairness_report([1, 1, 0], {"age": age_band([70, 20, 40])})
    assert [g.group for g in report.attributes[0].groups] == ["<25", "35-49", "65+"]
    with pytest.raises(RiskDataError):
        age_band([-1])
    with pytest.raises(RiskDataError):
        age_band([30], bounds=(40, 30))


def test_sex_from_personal_status():
    values = ["A91", "A92", "A93", "A94", "A95", "male : single",
              "female : divorced/separated/married", "male : married/widowed"]
    assert list(sex_from_personal_status(values)) == [
        "male", "female", "male", "male", "female", "male", "female", "male"]
    with pytest.raises(RiskDataError, match="A99"):
        sex_from_personal_status(["A91", "A99"])
    with pytest.raises(RiskDataError):
        sex_from_personal_status(["A91", None])


def test_guard_refuses_protected_inputs():
    refuse_protected(["duration_in_month", "purpose"])
    with pytest.raises(ProtectedAttributeUsed, match="age_in_years"):
        refuse_protected(["duration_in_month", "age_in_years"])
    with pytest.raises(ProtectedAttributeUsed):
        refuse_protected(pd.DataFrame(columns=["foreign_worker", "purpose"]))
    with pytest.raises(ProtectedAttributeUsed):
        refuse_protected(["region"], protected=["region"])
    with pytest.raises(RiskDataError):
        refuse_protected(42)
    X, y = constructed(n=400)
    refuse_protected(Scorecard().fit(X, y))
    with_protected = X.assign(foreign_worker=np.where(np.arange(400) % 7 == 0, "no", "yes"))
    deliberate = Scorecard(protected=()).fit(with_protected, y)  # e.g. for a fairness study
    with pytest.raises(ProtectedAttributeUsed, match="foreign_worker"):
        refuse_protected(deliberate)
