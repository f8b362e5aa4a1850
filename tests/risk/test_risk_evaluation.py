"""AUC, KS and Gini against known values; repeated CV is out of sample and reaches the target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from puhui.risk.errors import InvalidParameter, RiskDataError
from puhui.risk.evaluation import CVResult, auc, cross_validate, evaluate, gini, ks
from puhui.risk.german import load_german, resolve_path
from puhui.risk.scorecard import Scorecard


def test_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.random(500) + 0.3 * y, 1)  # rounded: many ties
    assert auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert gini(y, p) == pytest.approx(2 * roc_auc_score(y, p) - 1, abs=1e-12)


def test_known_values_by_hand():
    y = [0, 0, 1, 0, 1, 1]
    p = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    # bad/good pairs ranked right: 3 + 3 + 2 of 9
    assert auc(y, p) == pytest.approx(8 / 9)
    # cumulative shares (bad, good) after each score: (0,1/3) (0,2/3) (1/3,2/3) (1/3,1) ...
    assert ks(y, p) == pytest.approx(2 / 3)
    assert evaluate(y, p) == pytest.approx({"auc": 8 / 9, "ks": 2 / 3, "gini": 7 / 9})
    assert auc([0, 1], [0.2, 0.9]) == 1.0 and ks([0, 1], [0.2, 0.9]) == 1.0
    assert auc([1, 0], [0.2, 0.9]) == 0.0


def test_ties_move_together():
    assert ks([0, 1, 0, 1], [0.5] * 4) == 0.0 and auc([0, 1, 0, 1], [0.5] * 4) == 0.5
    # with ties inside a score, no cut may split them: KS 0.5, not 1
    assert ks([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == pytest.approx(0.5)


def test_ks_matches_two_sample_statistic():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    p = rng.normal(size=400) + 0.5 * y
    assert ks(y, p) == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic, abs=1e-12)


def test_metric_inputs_checked():
    with pytest.raises(RiskDataError):
        auc([1, 1, 1], [0.1, 0.2, 0.3])  # one class only
    with pytest.raises(RiskDataError):
        ks([0, 1], [0.1])
    with pytest.raises(RiskDataError):
        auc([0, 1], [0.1, float("nan")])


class Memoriser:
    """Predicts each training row's own label and 0.5 for rows it has not seen."""

    def fit(self, X, y):
        self.seen = dict(zip(X["row"], y))
        return self

    def predict_proba(self, X):
        p = np.array([self.seen.get(r, 0.5) for r in X["row"]], dtype=float)
        return np.column_stack([1 - p, p])


def test_cross_validation_is_out_of_sample():
    y = pd.Series([0, 1] * 50)
    X = pd.DataFrame({"row": range(100)})
    result = cross_validate(Memoriser, X, y, n_splits=5, n_repeats=3, seed=1)
    assert len(result.folds) == 15
    assert result.mean()["auc"] == 0.5 and result.std()["auc"] == 0.0  # nothing leaked
    with pytest.raises(InvalidParameter):
        cross_validate(Memoriser, X, y, n_splits=1)
    assert result.to_dict()["cv"] == {"n_splits": 5, "n_repeats": 3, "seed": 1, "folds": 15}


def test_mean_and_std():
    folds = ({"auc": 0.7, "ks": 0.3, "gini": 0.4}, {"auc": 0.8, "ks": 0.5, "gini": 0.6})
    result = CVResult(folds, 2, 1, 0)
    assert result.mean() == pytest.approx({"auc": 0.75, "ks": 0.4, "gini": 0.5})
    assert result.std()["auc"] == pytest.approx(np.std([0.7, 0.8], ddof=1))


@pytest.mark.skipif(not resolve_path().is_file(), reason="German Credit data not available")
def test_scorecard_cv_on_german_credit():
    data = load_german()
    result = cross_validate(Scorecard, data.X, data.y, n_splits=5, n_repeats=1, seed=0)
    assert len(result.folds) == 5
    assert result.mean()["auc"] >= 0.76
    assert result.mean()["gini"] == pytest.approx(2 * result.mean()["auc"] - 1)
