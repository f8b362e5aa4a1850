"""The LightGBM challenger: contract, determinism, calibration, SHAP reasons, artefact."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sklearn.exceptions
from sklearn.base import clone

from puhui.risk.errors import ArtefactError, InvalidParameter, NotFittedError, RiskDataError
from puhui.risk.gbm import GradientBoostingModel
from risk_samples import applicant, constructed

SMALL = {"n_estimators": 60, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def data():
    return constructed()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return GradientBoostingModel(**SMALL).fit(X, y)


def test_not_fitted_error_before_fit(data):
    X, _ = data
    model = GradientBoostingModel()
    for call in (lambda: model.predict_proba(X), model.to_json,
                 lambda: model.reason_codes(X.iloc[0])):
        with pytest.raises(NotFittedError) as err:
            call()
        assert isinstance(err.value, sklearn.exceptions.NotFittedError)


@pytest.mark.parametrize("params", [
    {"n_estimators": 0}, {"learning_rate": 0}, {"num_leaves": 1}, {"max_depth": 0},
    {"subsample": 1.5}, {"calibration": "platt"}, {"calibration_folds": 1},
    {"random_state": -1}, {"colsample_bytree": "all"}, {"protected": "age"}])
def test_parameters_validated_in_fit(data, params):
    X, y = data
    with pytest.raises(InvalidParameter):
        GradientBoostingModel(**params).fit(X, y)


def test_deterministic(data, fitted):
    X, y = data
    again = clone(fitted).fit(X, y)
    assert np.array_equal(again.predict_proba(X), fitted.predict_proba(X))
    assert again.to_json() == fitted.to_json()


def test_probabilities_are_calibrated_and_rank(data, fitted):
    X, y = data
    p_bad = fitted.predict_proba(X)[:, 1]
    assert np.allclose(fitted.predict_proba(X).sum(axis=1), 1.0)
    assert abs(p_bad.mean() - y.mean()) < 0.02  # sigmoid calibration keeps the base rate
    assert p_bad[(X.account == "overdrawn") & (X.months > 40)].mean() > 0.6
    assert p_bad[(X.account == "none") & (X.months < 12)].mean() < 0.25


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic", None])
def test_json_round_trip_bit_for_bit(data, calibration):
    X, y = data
    model = GradientBoostingModel(calibration=calibration, **SMALL).fit(X, y)
    loaded = GradientBoostingModel.from_json(model.to_json())
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.to_json() == model.to_json()
    assert GradientBoostingModel.from_bytes(model.to_bytes()).get_params() == model.get_params()
    row = applicant(55, "overdrawn")
    assert loaded.reason_codes(row) == model.reason_codes(row)


def test_matches_scikit_learn_calibration(data, fitted):
    """Scoring with the extracted calibrator gives what CalibratedClassifierCV would."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    import pandas as pd

    X, y = data
    matrix = pd.DataFrame(fitted._encode(X), columns=list(X.columns))
    cal = CalibratedClassifierCV(fitted._estimator(), method="sigmoid", ensemble=False,
                                 cv=StratifiedKFold(5, shuffle=True, random_state=0))
    cal.fit(matrix, y, categorical_feature=[1])
    assert np.allclose(cal.predict_proba(matrix)[:, 1], fitted.predict_proba(X)[:, 1],
                       rtol=0, atol=1e-12)


def test_reason_codes_from_shap_values(fitted):
    risky = fitted.reason_codes(applicant(58, "overdrawn"), top=2)
    assert {r.feature for r in risky} == {"months", "account"}
    assert risky[0].impact >= risky[1].impact > 0 and risky[0].unit == "log-odds"
    row = applicant(58, "overdrawn")
    contrib = fitted.booster_.predict(fitted._encode(row), pred_contrib=True)[0]
    raw = fitted.booster_.predict(fitted._encode(row), raw_score=True)[0]
    assert contrib.sum() == pytest.approx(raw)  # SHAP values add up to the log-odds
    by_name = dict(zip(fitted.feature_names_in_, contrib))
    assert all(r.impact == by_name[r.feature] for r in risky)
    safe = fitted.reason_codes(applicant(6, "none"))
    assert "months" not in {r.feature for r in safe} and "account" not in {
        r.feature for r in safe}
    with pytest.raises(RiskDataError):
        fitted.reason_codes(applicant(6, "none").drop(columns=["account"]))


def test_unseen_category_is_missing(fitted):
    p = fitted.predict_proba(applicant(20, "frozen"))[:, 1]
    assert np.isfinite(p).all()
    assert p == fitted.predict_proba(applicant(20, None))[:, 1]


def test_malformed_artefact_refused(fitted):
    doc = json.loads(fitted.to_json())
    for broken in (dict(doc, booster="garbage"), dict(doc, format="puhui.scorecard/1"),
                   dict(doc, calibrator={"method": "magic", "input": "raw_score"})):
        with pytest.raises(ArtefactError):
            GradientBoostingModel.from_json(json.dumps(broken))
