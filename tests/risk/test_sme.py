"""The small-business models: labelled samples as of a decision date, the one-applicant scoring
paths equal to the batch paths, and `puhui train sme`."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from puhui.cli import app
from puhui.risk import sme
from puhui.risk.errors import InvalidParameter, RiskDataError
from puhui.risk.features import FEATURES
from puhui.risk.model_registry import ModelRegistry


@pytest.fixture(scope="module")
def world():
    return sme.training_world(1_500, seed=3)


@pytest.fixture(scope="module")
def models(sme_registry):
    registry = ModelRegistry(sme_registry)
    return (registry.load(registry.latest(sme.CHAMPION_NAME).version),
            registry.load(registry.latest(sme.CHALLENGER_NAME).version))


def test_a_sample_is_features_as_of_the_date_and_the_next_year_outcome(world) -> None:
    as_of = date(2024, 7, 1)
    s = sme.sample(world, as_of)
    assert list(s.X.columns) == list(FEATURES) and s.X.dtypes.eq("float64").all()
    outcomes = world.outcomes(as_of)
    truth = dict(zip(outcomes["business_id"].to_list(), outcomes["defaulted"].to_list()))
    assert [int(truth[b]) for b in s.business_ids] == s.y.tolist()
    assert 0 < s.bad_rate < 0.3
    # nobody already in default is scored, nobody without data before the date
    assert set(s.business_ids) <= set(truth)
    with pytest.raises(InvalidParameter):
        sme.train(world, development_as_of=date(2025, 1, 1), out_of_time_as_of=date(2024, 7, 1))


def test_a_spread_sample_decides_each_business_once_on_one_of_the_days(world) -> None:
    spread = sme.spread_sample(world, date(2024, 7, 1))
    assert len(set(spread.business_ids)) == len(spread.business_ids) == len(spread.y)
    on_11th = sme.sample(world, date(2024, 7, 11))
    rows = {b: i for i, b in enumerate(on_11th.business_ids)}
    mine = [i for i, b in enumerate(spread.business_ids) if world.index_of(b) % 3 == 1]
    assert mine
    for i in mine[:25]:  # the features are those of the business's own decision day
        j = rows[spread.business_ids[i]]
        assert spread.X.iloc[i].equals(on_11th.X.iloc[j]) and spread.y[i] == on_11th.y[j]


def test_model_inputs_refuse_a_frame_without_the_features() -> None:
    import polars as pl
    with pytest.raises(RiskDataError, match="lacks"):
        sme.model_inputs(pl.DataFrame({"business_id": ["B1"]}))


def test_one_applicant_paths_give_the_batch_numbers(world, models) -> None:
    card, gbm = models
    X = sme.sample(world, date(2025, 1, 1)).X.head(60).copy()
    X.iloc[::7, 3] = np.nan  # some missing values too
    batch_pd, batch_points = card.predict_proba(X)[:, 1], card.score(X)
    batch_gbm = gbm.predict_proba(X)[:, 1]
    for i in range(len(X)):
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v)
               for k, v in X.iloc[i].to_dict().items()}
        fast = card.assess(row, top=4)
        assert fast.pd == pytest.approx(batch_pd[i], rel=1e-12, abs=1e-15)
        assert fast.points == pytest.approx(batch_points[i], rel=1e-12)
        slow = card.reason_codes(X.iloc[[i]], top=4)
        assert [(r.feature, r.message) for r in fast.reasons] == \
            [(r.feature, r.message) for r in slow]
        assert gbm.pd_of(row) == pytest.approx(batch_gbm[i], rel=1e-12, abs=1e-15)
    with pytest.raises(RiskDataError):
        card.assess({"revenue_cv_6m": "high"})
    with pytest.raises(RiskDataError):
        gbm.pd_of({"revenue_cv_6m": object()})


def test_live_world_covers_the_months_a_platform_decides_in() -> None:
    today = date(2026, 11, 23)
    world = sme.live_world(200, 1, today)
    assert len(world.observed(today)) > 0
    assert len(world.observed(date(2027, 3, 1))) > 0  # the clock moves on; data keeps coming
    with pytest.raises(InvalidParameter):
        sme.live_world(200, 1, today, history_months=3)


def test_train_sme_registers_both_models_and_the_stability_reference(tmp_path) -> None:
    result = CliRunner().invoke(app, ["train", "sme", "--businesses", "1500", "--folds", "2",
                                      "--registry", str(tmp_path), "--min-auc", "0.6"])
    assert result.exit_code == 0, result.output
    registry = ModelRegistry(tmp_path)
    names = {r.name for r in registry.list()}
    assert names == {sme.CHAMPION_NAME, sme.CHALLENGER_NAME, sme.STABILITY_NAME}
    record = registry.latest(sme.CHAMPION_NAME)
    assert record.metrics["out_of_time"]["auc"] > 0.6
    assert record.params["feature_set"] and record.params["development_as_of"] == "2024-07-01"
    reference = registry.load(registry.latest(sme.STABILITY_NAME).version)
    assert "pd" in reference.columns and set(FEATURES) <= set(reference.columns)
    # an impossible gate fails the run, but the models are still registered as evidence
    failed = CliRunner().invoke(app, ["train", "sme", "--businesses", "1500", "--folds", "2",
                                      "--registry", str(tmp_path), "--min-auc", "0.99"])
    assert failed.exit_code == 1 and len(registry.list(sme.CHAMPION_NAME)) == 2
    assert isinstance(reference.psi(pd.DataFrame({c: [0.0] for c in reference.columns})), list)
