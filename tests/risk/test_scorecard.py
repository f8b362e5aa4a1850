"""The WoE scorecard: the estimator contract, scaling, reason codes and the JSON artefact."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sklearn.exceptions
from sklearn.base import clone

from puhui.decision.outcome import Reason
from puhui.errors import PuhuiError
from puhui.risk.errors import ArtefactError, InvalidParameter, NotFittedError, RiskDataError
from puhui.risk.scorecard import Scorecard
from risk_samples import applicant, constructed


@pytest.fixture(scope="module")
def data():
    return constructed()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return Scorecard().fit(X, y)


def test_not_fitted_error_before_fit(data):
    X, _ = data
    card = Scorecard()
    for call in (lambda: card.predict_proba(X), lambda: card.score(X), card.to_json,
                 lambda: card.reason_codes(X.iloc[0]), card.points_table):
        with pytest.raises(NotFittedError) as err:
            call()
        assert isinstance(err.value, sklearn.exceptions.NotFittedError)
        assert isinstance(err.value, PuhuiError)


@pytest.mark.parametrize("params", [
    {"pdo": 0}, {"base_odds": -1}, {"min_prebin_size": 0.7}, {"max_n_prebins": 1.5},
    {"monotonic_trend": "upwards"}, {"C": 0}, {"min_iv": -0.1}, {"protected": "age"},
    {"max_n_bins": 1}, {"base_points": float("nan")}, {"max_iter": True}])
def test_parameters_validated_in_fit(data, params):
    X, y = data
    card = Scorecard(**params)  # __init__ only stores (scikit-learn contract)
    assert card.get_params()[next(iter(params))] is params[next(iter(params))]
    with pytest.raises(InvalidParameter):
        card.fit(X, y)


def test_bad_inputs_refused(data):
    X, y = data
    with pytest.raises(RiskDataError):
        Scorecard().fit(X.to_numpy(), y)
    with pytest.raises(RiskDataError):
        Scorecard().fit(X, y.replace(1, 2))
    with pytest.raises(RiskDataError):
        Scorecard().fit(X, y[:-1])
    with pytest.raises(RiskDataError):
        Scorecard().fit(X, np.zeros(len(X)))


def test_clone_and_params_untouched(fitted):
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params()
    assert not hasattr(twin, "characteristics_")


def test_selects_informative_characteristics(fitted):
    names = [c.name for c in fitted.characteristics_]
    assert set(names) == {"months", "account"}  # noise has no information value
    assert all(k < 0 for k in fitted.coef_)
    months = next(c for c in fitted.characteristics_ if c.name == "months")
    assert list(months.woe) == sorted(months.woe, reverse=True)  # monotonic: longer is riskier


def test_points_to_double_odds_scaling(data, fitted):
    X, _ = data
    p_bad = fitted.predict_proba(X)[:, 1]
    odds = (1 - p_bad) / p_bad
    expected = 600 + 20 * np.log2(odds / 50)  # 600 points at 50:1, +20 per doubling
    assert np.allclose(fitted.score(X), expected, rtol=0, atol=1e-9)
    assert fitted.factor == pytest.approx(20 / math.log(2))
    table = fitted.points_table()
    by_char = table.groupby("characteristic")["points"]
    # the points table adds up: best bins together give the top score
    assert by_char.max().sum() == pytest.approx(fitted.score(applicant(6, "none")).item())


def test_json_round_trip_scores_bit_for_bit(data, fitted):
    X, _ = data
    text = fitted.to_json()
    loaded = Scorecard.from_json(text)
    assert np.array_equal(loaded.score(X), fitted.score(X))
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded.to_json() == text
    assert Scorecard.from_bytes(fitted.to_bytes()).get_params() == fitted.get_params()
    row = applicant(55, "overdrawn")
    assert loaded.reason_codes(row) == fitted.reason_codes(row)
    # the artefact is plain data: bins, WoE, coefficients, scaling
    doc = json.loads(text)
    assert doc["scaling"] == {"base_points": 600.0, "base_odds": 50.0, "pdo": 20.0,
                              "factor": fitted.factor, "offset": fitted.offset}
    assert {"splits", "groups", "woe", "coefficient"} <= set(doc["characteristics"][0])


@pytest.mark.parametrize("text", ["not json", "[]", '{"format": "other"}',
                                  '{"format": "puhui.scorecard/1", "params": {}}'])
def test_malformed_artefact_refused(text):
    with pytest.raises(ArtefactError):
        Scorecard.from_json(text)


def test_reason_codes_name_the_features_that_cost_points(fitted):
    risky = fitted.reason_codes(applicant(58, "overdrawn", noise=3.0), top=4)
    assert {r.feature for r in risky} == {"months", "account"}
    assert risky[0].impact >= risky[1].impact > 0
    assert all(r.unit == "points" and r.code.startswith("RISK_") for r in risky)
    assert "overdrawn" in next(r for r in risky if r.feature == "account").message
    # points lost = best bin's points - this bin's points, read off the points table
    table = fitted.points_table().set_index(["characteristic", "bin"])["points"]
    months = next(r for r in risky if r.feature == "months")
    assert months.impact == pytest.approx(table["months"].max() - table["months"].iloc[-2])
    assert fitted.reason_codes(applicant(58, "overdrawn"), top=1) == risky[:1]
    # an applicant in the best bin everywhere has nothing to explain
    assert fitted.reason_codes(applicant(6, "none")) == []
    only_account = fitted.reason_codes(applicant(6, "overdrawn"))
    assert [r.feature for r in only_account] == ["account"]
    reason = Reason.of(only_account[0])
    assert reason.code == "RISK_ACCOUNT" and reason.message == only_account[0].message


def test_reason_codes_input_checks(data, fitted):
    X, _ = data
    with pytest.raises(RiskDataError):
        fitted.reason_codes(X.iloc[:2])
    with pytest.raises(InvalidParameter):
        fitted.reason_codes(X.iloc[0], top=0)
    assert fitted.reason_codes({"months": 60, "account": "overdrawn"})  # a mapping is one row


def test_missing_and_unseen_values_score_neutral(fitted):
    unseen = fitted.score(applicant(20, "frozen"))
    missing = fitted.score(applicant(20, None))
    assert np.isfinite(unseen).all() and unseen == missing
    with pytest.raises(RiskDataError):
        fitted.score(applicant(20, "none").drop(columns=["months"]))
