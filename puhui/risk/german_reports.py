"""The fairness report and the monitoring demonstration on the German Credit data.

Why here and not in the command: the figures a reviewer reads must be reproducible from Python
too, with the same seeds.  Both functions fit the scorecard only on rows they do not score, and
check that no fitted model uses a protected attribute (`refuse_protected`).

Fairness: out-of-fold probabilities of default from a stratified K-fold (every applicant is
scored by a scorecard that never saw them), applicants approved at or below a PD cut-off (by
default the 70th percentile of those probabilities, so about 70% are approved, the data's own
share of good loans), then the report across sex (from `personal_status_and_sex`), age band and
foreign-worker status.  Every German loan has an observed outcome.

Monitoring: a stratified 70/30 split; the scorecard is fitted on the 70% (the reference) and
its expected AUC/KS is the K-fold cross-validated figure on that same 70%.  Two recent samples
are compared with the reference: the 30% held out (the same population: little should move) and
a deliberately shifted one, drawn with replacement from the held-out rows with a probability
proportional to (duration / median duration) x (credit amount / median amount), i.e. towards
longer and larger loans, as a lender moving up-market would see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from puhui.risk import _inputs as check
from puhui.risk.errors import RiskDataError
from puhui.risk.evaluation import cross_validate, evaluate
from puhui.risk.fairness import (FairnessReport, FairnessTolerance, age_band, fairness_report,
                                 refuse_protected, sex_from_personal_status)
from puhui.risk.german import GermanCredit
from puhui.risk.monitoring import AlertThresholds, MonitoringReport, StabilityReference, monitor

SCORE = "score"


def out_of_fold_pd(model_factory: Callable[[], Any], X: pd.DataFrame, y: Any, *,
                   n_splits: int = 5, seed: int = 0) -> np.ndarray:
    """Each row's probability of default from a model fitted on the other folds only."""
    check.number(n_splits, "n_splits", low=2, integer=True)
    check.number(seed, "seed", low=0, integer=True)
    X = check.frame(X)
    target = check.target(y, len(X))
    if np.bincount(target).min() < n_splits:
        raise RiskDataError(f"each class needs at least {n_splits} rows for {n_splits} folds")
    p_bad = np.full(len(X), np.nan)
    for train, test in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, target):
        model = model_factory().fit(X.iloc[train], target[train])
        refuse_protected(model)
        p_bad[test] = model.predict_proba(X.iloc[test])[:, 1]
    return p_bad


def approval_cutoff(p_bad: Any, approval_rate: float = 0.7) -> float:
    """The PD at or below which `approval_rate` of the applicants fall (a PD of one of them)."""
    check.number(approval_rate, "approval_rate", low=0, high=1, low_open=True)
    return float(np.quantile(np.asarray(p_bad, dtype=np.float64), approval_rate,
                             method="inverted_cdf"))


def german_groups(protected: pd.DataFrame) -> pd.DataFrame:
    """Sex, age band and foreign-worker status from the German protected attributes."""
    return pd.DataFrame({"sex": sex_from_personal_status(protected["personal_status_and_sex"]),
                         "age_band": age_band(protected["age_in_years"]),
                         "foreign_worker": protected["foreign_worker"].astype(str).to_numpy()})


def german_fairness(data: GermanCredit, *, seed: int = 0, folds: int = 5,
                    approval_rate: float = 0.7, cutoff: float | None = None,
                    tolerance: FairnessTolerance = FairnessTolerance(),
                    model_factory: Callable[[], Any] | None = None) -> FairnessReport:
    """The fairness report of scorecard approvals on the German data (module docstring)."""
    from puhui.risk.scorecard import Scorecard

    p_bad = out_of_fold_pd(model_factory or Scorecard, data.X, data.y, n_splits=folds,
                           seed=seed)
    if cutoff is None:
        cutoff = approval_cutoff(p_bad, approval_rate)
        rule = f"the {approval_rate:.0%} quantile of the out-of-fold PDs"
    else:
        check.number(cutoff, "cutoff", low=0, high=1)
        rule = "given"
    approved = p_bad <= cutoff
    notes = (f"approved: PD <= {cutoff:.4f} ({rule}); out-of-fold PDs from a {folds}-fold "
             f"stratified split (seed {seed}); bad = observed default",)
    return fairness_report(approved, german_groups(data.protected), bad=data.y.to_numpy(),
                           tolerance=tolerance, notes=notes)


@dataclass(frozen=True)
class GermanMonitoring:
    reference: StabilityReference
    reports: dict[str, MonitoringReport]

    def to_dict(self) -> dict[str, Any]:
        import json

        return {"stability_reference": json.loads(self.reference.to_json()),
                "reports": {k: r.to_dict() for k, r in self.reports.items()}}


def shifted_sample(X: pd.DataFrame, size: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions drawn with replacement, weighted towards long and large loans."""
    duration = X["duration_in_month"].to_numpy(dtype=np.float64)
    amount = X["credit_amount"].to_numpy(dtype=np.float64)
    weight = (duration / np.median(duration)) * (amount / np.median(amount))
    return rng.choice(len(X), size=size, replace=True, p=weight / weight.sum())


def german_monitoring(data: GermanCredit, *, seed: int = 0, folds: int = 5,
                      test_size: float = 0.3,
                      thresholds: AlertThresholds = AlertThresholds()) -> GermanMonitoring:
    """The monitor on a held-out and a shifted sample of the German data (module docstring)."""
    from puhui.risk.scorecard import Scorecard

    check.number(test_size, "test_size", low=0, high=1, low_open=True)
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y.to_numpy(), test_size=test_size, stratify=data.y, random_state=seed)
    model = Scorecard().fit(X_train, y_train)
    refuse_protected(model)
    expected = cross_validate(Scorecard, X_train, y_train, n_splits=folds, n_repeats=1,
                              seed=seed).mean()
    features = [str(c) for c in data.X.columns]
    reference = StabilityReference.fit(X_train.assign(**{SCORE: model.score(X_train)}),
                                       [SCORE, *features])
    shifted = shifted_sample(X_test, len(X_test), np.random.default_rng(seed))
    samples = {"holdout": (X_test, y_test),
               "shifted": (X_test.iloc[shifted], y_test[shifted])}
    reports = {}
    for name, (X, y) in samples.items():
        recent = X.assign(**{SCORE: model.score(X)})
        reports[name] = monitor(reference, recent, subject=name, scores=[SCORE],
                                reference_metrics=expected,
                                metrics=evaluate(y, model.predict_proba(X)[:, 1]),
                                thresholds=thresholds)
    return GermanMonitoring(reference, reports)
