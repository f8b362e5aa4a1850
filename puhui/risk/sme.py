"""The small-business models: a scorecard and a LightGBM challenger trained on point-in-time
features of small businesses, validated in time as well as across folds.

Why this shape: a lender scores an application with the data available on the decision date and
learns whether the loan defaulted in the following year.  The development sample is therefore
"features as of a decision date, outcome over the next `horizon_months`", and the models are
checked twice: by repeated stratified cross-validation on that sample, and out of time on a
later decision date they never saw (the test a regulator asks for, because a model that only
memorised one season fails it).  Until a lender has its own labelled book the sample comes from
`SyntheticWorld`, whose defaults are driven by the same latent risk as its data.

The features are `puhui.risk.features.FEATURES`, computed by `feature_frame`, the same
expressions the live decision runs through `features_for`, so the models see in production
exactly the numbers they were trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

import numpy as np
import pandas as pd
import polars as pl

from puhui.risk.data.world import SyntheticWorld
from puhui.risk.errors import InvalidParameter, RiskDataError
from puhui.risk.evaluation import CVResult, cross_validate, evaluate
from puhui.risk.features import FEATURE_SET_VERSION, FEATURES, feature_frame
from puhui.risk.panel import month_index, month_of

#: Registry names of the small-business models and their stability reference.
CHAMPION_NAME, CHALLENGER_NAME, STABILITY_NAME = "sme-scorecard", "sme-gbm", "sme-stability"
#: The training world: 36 months of data from January 2023, outcomes simulated beyond.
TRAINING_START, TRAINING_MONTHS = date(2023, 1, 1), 36
#: Decision dates: development sample, then the out-of-time check six months later.
DEVELOPMENT_AS_OF, OUT_OF_TIME_AS_OF = date(2024, 7, 1), date(2025, 1, 1)
HORIZON_MONTHS = 12
#: The days of the month a training sample's decisions fall on (see `spread_sample`).
DECISION_DAYS = (1, 11, 21)


@dataclass(frozen=True)
class SmeSample:
    """Features as of the decision date (float64, NaN where a feature is None) and the outcome: 1
    if the business defaulted within the horizon.  Businesses already in default are left out.
    `as_of` is the (first) decision date."""

    X: pd.DataFrame
    y: pd.Series
    business_ids: tuple[str, ...]
    as_of: date

    @property
    def bad_rate(self) -> float:
        return float(self.y.mean())


def model_inputs(features: pl.DataFrame) -> pd.DataFrame:
    """The models' input frame from a `feature_frame` result: every feature of the catalogue,
    in catalogue order, float64 with NaN for None (column by column: no pyarrow needed)."""
    missing = [name for name in FEATURES if name not in features.columns]
    if missing:
        raise RiskDataError(f"the feature frame lacks {missing}")
    return pd.DataFrame({name: features[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
                         for name in FEATURES})


def sample(world: SyntheticWorld, as_of: date, horizon_months: int = HORIZON_MONTHS) -> SmeSample:
    """The labelled sample of `world` as of `as_of`: point-in-time features, 12-month outcome."""
    outcomes = world.outcomes(as_of, horizon_months)
    rows = feature_frame(world.panel(as_of), as_of).join(outcomes, on="business_id", how="inner")
    if rows.height == 0:
        raise RiskDataError(f"no business has both data and an outcome as of {as_of}")
    y = pd.Series(rows["defaulted"].cast(pl.Int64).to_numpy(), name="bad")
    return SmeSample(model_inputs(rows), y, tuple(rows["business_id"].to_list()), as_of)


def spread_sample(world: SyntheticWorld, month: date, days: tuple[int, ...] = DECISION_DAYS,
                  horizon_months: int = HORIZON_MONTHS) -> SmeSample:
    """The labelled sample of `month`, each business decided on one of `days` of it (by its
    position in the world, so each appears once).  Applications arrive on every day of a month,
    and what is known changes within it (a quarter's tax filing is due by the 15th), so a
    sample decided only on the 1st would train the models on a population they never score."""
    parts = []
    for k, day in enumerate(days):
        part = sample(world, month.replace(day=day), horizon_months)
        keep = [i for i, b in enumerate(part.business_ids) if world.index_of(b) % len(days) == k]
        parts.append(SmeSample(part.X.iloc[keep].reset_index(drop=True),
                               part.y.iloc[keep].reset_index(drop=True),
                               tuple(part.business_ids[i] for i in keep), part.as_of))
    return SmeSample(pd.concat([p.X for p in parts], ignore_index=True),
                     pd.concat([p.y for p in parts], ignore_index=True),
                     tuple(b for p in parts for b in p.business_ids), month.replace(day=days[0]))


def training_world(businesses: int, seed: int) -> SyntheticWorld:
    """The world the shipped models are trained on (fixed window, so figures are repeatable)."""
    return SyntheticWorld(businesses, seed=seed, start=TRAINING_START, months=TRAINING_MONTHS)


def live_world(businesses: int, seed: int, today: date, history_months: int = 30,
               ahead_months: int = 6) -> SyntheticWorld:
    """A world whose data runs from `history_months` before `today`'s month to `ahead_months`
    after it: the providers a demo platform queries as its clock moves on (a provider never
    returns anything dated after the day it is asked about)."""
    if not isinstance(history_months, int) or history_months < 16:
        raise InvalidParameter("history_months must be an int >= 16")
    if not isinstance(ahead_months, int) or ahead_months < 1:
        raise InvalidParameter("ahead_months must be a positive int")
    start = month_of(month_index(today) - history_months)
    return SyntheticWorld(businesses, seed=seed, start=start,
                          months=history_months + ahead_months)


@dataclass(frozen=True)
class SmeTraining:
    """What a training run produced: the figures and the fitted models (not yet registered)."""

    development: SmeSample
    out_of_time: SmeSample
    cv: dict[str, CVResult]
    out_of_time_metrics: dict[str, dict[str, float]]
    models: dict[str, Any]
    reference_scores: dict[str, np.ndarray]


def train(world: SyntheticWorld, *, development_as_of: date = DEVELOPMENT_AS_OF,
          out_of_time_as_of: date = OUT_OF_TIME_AS_OF, folds: int = 5, repeats: int = 1,
          seed: int = 0, progress: Callable[[str, int], None] | None = None) -> SmeTraining:
    """Cross-validate both models on the development sample, fit them on all of it, and measure
    them on the out-of-time sample.  `progress(stage, n)` is told of each finished fold/fit."""
    from puhui.risk.gbm import GradientBoostingModel
    from puhui.risk.scorecard import Scorecard

    if out_of_time_as_of <= development_as_of:
        raise InvalidParameter("the out-of-time date must come after the development date")
    factories: dict[str, Callable[[], Any]] = {
        CHAMPION_NAME: Scorecard, CHALLENGER_NAME: lambda: GradientBoostingModel(random_state=seed)}
    dev = spread_sample(world, development_as_of)
    oot = spread_sample(world, out_of_time_as_of)
    cv, oot_metrics, models, scores = {}, {}, {}, {}
    for name, factory in factories.items():
        cv[name] = cross_validate(factory, dev.X, dev.y, n_splits=folds, n_repeats=repeats,
                                  seed=seed, progress=None if progress is None
                                  else (lambda n, s=name: progress(s, n)))
        model = factory().fit(dev.X, dev.y)
        models[name] = model
        oot_metrics[name] = evaluate(oot.y, model.predict_proba(oot.X)[:, 1])
        scores[name] = model.predict_proba(dev.X)[:, 1]
        if progress is not None:
            progress(name, 1)
    return SmeTraining(dev, oot, cv, oot_metrics, models, scores)


def stability_reference(training: SmeTraining) -> Any:
    """The PSI reference a monitor compares live applications with: every feature and both
    models' PDs on the development sample."""
    from puhui.risk.monitoring import StabilityReference

    frame = training.development.X.copy()
    frame["pd"] = training.reference_scores[CHAMPION_NAME]
    frame["pd_challenger"] = training.reference_scores[CHALLENGER_NAME]
    return StabilityReference.fit(frame)


def register(training: SmeTraining, registry: Any, *, world_params: dict[str, Any],
             min_auc: float) -> dict[str, Any]:
    """Register both models and the stability reference; returns the records by name."""
    from puhui.risk.model_registry import data_fingerprint

    dev = training.development
    fingerprint = data_fingerprint(dev.X, dev.y)
    passed = training.cv[CHAMPION_NAME].mean()["auc"] >= min_auc
    common = {"feature_set": FEATURE_SET_VERSION, "world": world_params,
              "development_as_of": dev.as_of.isoformat(),
              "out_of_time_as_of": training.out_of_time.as_of.isoformat(),
              "decision_days": list(DECISION_DAYS), "horizon_months": HORIZON_MONTHS,
              "features": list(FEATURES)}
    records = {}
    for name, model in training.models.items():
        metrics = dict(training.cv[name].to_dict(), out_of_time=training.out_of_time_metrics[name],
                       development_rows=len(dev.y), development_bad_rate=dev.bad_rate,
                       gate={"scorecard_min_auc": min_auc, "passed": passed})
        records[name] = registry.register(name, model, data_fingerprint=fingerprint,
                                          metrics=metrics, params=dict(model.get_params(),
                                                                       **common))
    records[STABILITY_NAME] = registry.register(
        STABILITY_NAME, stability_reference(training), data_fingerprint=fingerprint,
        metrics={"rows": len(dev.y)}, params=dict(common, models={
            n: r.version for n, r in records.items()}))
    return records
