"""How well a model ranks risk: AUC, KS and Gini, measured out of sample by repeated CV.

Why these three: they are what credit-risk validation reports use, and all three look only at
the ranking (who is riskier than whom), which is what a cut-off policy acts on.
AUC is the chance that a random bad loan scores riskier than a random good one (ties count
half); Gini = 2 * AUC - 1; KS is the largest gap between the cumulative distributions of bad
and good loans over the score.  Calibration (whether a 10% probability means 10% defaults) is
a separate question.

Why repeated stratified K-fold: with 1,000 rows and 300 defaults a single split's AUC moves by
several points with the seed; repeating 5-fold CV with different shuffles and reporting the
mean and the standard deviation of the fold figures shows both the level and its noise.  Every
figure is computed on rows the model did not see in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.model_selection import RepeatedStratifiedKFold

from puhui.risk import _inputs as check
from puhui.risk.errors import RiskDataError

METRICS: tuple[str, ...] = ("auc", "ks", "gini")


class Classifier(Protocol):
    """What cross-validation needs from a model: fit, then probabilities of (good, bad)."""

    def fit(self, X: pd.DataFrame, y: Any) -> Any: ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...


def _pair(y_true: Any, p_bad: Any) -> tuple[np.ndarray, np.ndarray]:
    y = check.target(y_true, len(np.asarray(y_true)))
    p = np.asarray(p_bad, dtype=np.float64)
    if p.shape != y.shape:
        raise RiskDataError(f"{len(y)} labels but scores of shape {p.shape}")
    if not np.isfinite(p).all():
        raise RiskDataError("scores must be finite")
    return y, p


def auc(y_true: Any, p_bad: Any) -> float:
    """Area under the ROC curve; `p_bad` is higher for riskier rows (the Mann-Whitney U form)."""
    y, p = _pair(y_true, p_bad)
    ranks = rankdata(p)  # ties share the average rank: they count half
    bads = int(y.sum())
    goods = len(y) - bads
    return float((ranks[y == 1].sum() - bads * (bads + 1) / 2) / (bads * goods))


def gini(y_true: Any, p_bad: Any) -> float:
    """The Gini coefficient (accuracy ratio): 2 * AUC - 1."""
    return 2.0 * auc(y_true, p_bad) - 1.0


def ks(y_true: Any, p_bad: Any) -> float:
    """Kolmogorov-Smirnov: the largest gap between the share of bads and the share of goods at
    or below a score, over every score threshold (tied scores move together)."""
    y, p = _pair(y_true, p_bad)
    order = np.argsort(p, kind="stable")
    p, y = p[order], y[order]
    last_of_value = np.append(p[1:] != p[:-1], True)  # cut only between distinct scores
    bad_share = np.cumsum(y)[last_of_value] / y.sum()
    good_share = np.cumsum(1 - y)[last_of_value] / (len(y) - y.sum())
    return float(np.max(np.abs(bad_share - good_share)))


def evaluate(y_true: Any, p_bad: Any) -> dict[str, float]:
    """AUC, KS and Gini of one set of predictions."""
    return {"auc": auc(y_true, p_bad), "ks": ks(y_true, p_bad), "gini": gini(y_true, p_bad)}


@dataclass(frozen=True)
class CVResult:
    """Out-of-sample figures of every fold of every repeat, and their mean and spread.

    `std` is the sample standard deviation (ddof=1) of the fold figures."""

    folds: tuple[dict[str, float], ...]
    n_splits: int
    n_repeats: int
    seed: int

    def mean(self) -> dict[str, float]:
        return {m: float(np.mean([f[m] for f in self.folds])) for m in METRICS}

    def std(self) -> dict[str, float]:
        ddof = 1 if len(self.folds) > 1 else 0
        return {m: float(np.std([f[m] for f in self.folds], ddof=ddof)) for m in METRICS}

    def to_dict(self) -> dict[str, Any]:
        """For a model registry: settings, mean and std per metric."""
        return {"cv": {"n_splits": self.n_splits, "n_repeats": self.n_repeats,
                       "seed": self.seed, "folds": len(self.folds)},
                "mean": self.mean(), "std": self.std()}


def cross_validate(model_factory: Callable[[], Classifier], X: pd.DataFrame, y: Any, *,
                   n_splits: int = 5, n_repeats: int = 5, seed: int = 0,
                   progress: Callable[[int], None] | None = None) -> CVResult:
    """Repeated stratified K-fold: a fresh model from `model_factory` per fold, fitted on the
    training part, measured on the held-out part only.  `progress(1)` is called per fold."""
    check.number(n_splits, "n_splits", low=2, integer=True)
    check.number(n_repeats, "n_repeats", low=1, integer=True)
    check.number(seed, "seed", low=0, integer=True)
    X = check.frame(X)
    target = check.target(y, len(X))
    if np.bincount(target).min() < n_splits:
        raise RiskDataError(f"each class needs at least {n_splits} rows for {n_splits} folds")
    splitter = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats,
                                       random_state=seed)
    folds = []
    for train, test in splitter.split(X, target):
        model = model_factory()
        model.fit(X.iloc[train], target[train])
        p_bad = model.predict_proba(X.iloc[test])[:, 1]
        folds.append(evaluate(target[test], p_bad))
        if progress is not None:
            progress(1)
    return CVResult(tuple(folds), n_splits, n_repeats, seed)
