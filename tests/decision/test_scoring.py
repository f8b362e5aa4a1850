"""`ModelScorer`: small registered models scoring a feature mapping and a frame, and the policy
decider and the batch evaluator running on them."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import polars as pl
import pytest

from decision_samples import FEATURES, POLICY, PRODUCT, request
from puhui.decision.policy_decider import PolicyDecider
from puhui.decision.engine import evaluate_frame
from puhui.decision.errors import InvalidScorer
from puhui.decision.scoring import ModelScorer, ModelScores, Scorer
from puhui.decision.outcome import Outcome
from puhui.risk.errors import ArtefactTampered
from puhui.risk.gbm import GradientBoostingModel
from puhui.risk.reasons import ReasonCode
from puhui.risk.model_registry import ModelRegistry, data_fingerprint
from puhui.risk.scorecard import Scorecard

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
SAFE = {**FEATURES, "bureau_enquiries_3m": 0.0, "revenue_cv_6m": 0.1, "months_of_history": 48.0}
RISKY = {**FEATURES, "bureau_enquiries_3m": 10.0, "revenue_cv_6m": 1.4, "months_of_history": 7.0}


def synthetic(n: int = 800, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray]:
    """Enquiries and revenue volatility raise default, a longer history lowers it."""
    rng = np.random.default_rng(seed)
    enquiries = rng.integers(0, 11, n).astype(float)
    cv = rng.uniform(0, 1.5, n)
    months = rng.integers(6, 61, n).astype(float)
    logit = -3.0 + 0.45 * enquiries + 1.2 * cv - 0.03 * months
    bad = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"months_of_history": months, "bureau_enquiries_3m": enquiries,
                      "revenue_cv_6m": cv})
    return X, bad


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    X, y = synthetic()
    reg = ModelRegistry(tmp_path_factory.mktemp("models"))
    card = reg.register("sme-scorecard", Scorecard().fit(X, y),
                        data_fingerprint=data_fingerprint(X, y), metrics={}, created_at=T0)
    gbm = reg.register("sme-gbm", GradientBoostingModel(n_estimators=30).fit(X, y),
                       data_fingerprint=data_fingerprint(X, y), metrics={}, created_at=T0)
    return reg, card.version, gbm.version


@pytest.fixture(scope="module")
def scorer(registry) -> ModelScorer:
    reg, card, gbm = registry
    return ModelScorer.from_registry(reg, card, gbm)


def test_scores_come_from_the_registered_models_in_their_own_column_order(registry, scorer):
    reg, card, gbm = registry
    assert isinstance(scorer, Scorer)
    assert scorer.model_versions == {"champion": card, "challenger": gbm}
    assert scorer.features == ["months_of_history", "bureau_enquiries_3m", "revenue_cv_6m"]
    scores = scorer.score(RISKY)
    row = pd.DataFrame([{k: RISKY[k] for k in scorer.features}])
    champion, challenger = reg.load(card), reg.load(gbm)
    assert scores.pd == pytest.approx(champion.predict_proba(row)[0, 1], abs=1e-12)
    assert scores.score == pytest.approx(champion.score(row)[0], abs=1e-9)
    assert scores.pd_challenger == pytest.approx(challenger.predict_proba(row)[0, 1], abs=1e-12)
    assert scores.model_versions == {"champion": card, "challenger": gbm}
    assert scores.reason_codes and all(isinstance(r, ReasonCode) for r in scores.reason_codes)
    assert scores.reason_codes[0].code == "RISK_BUREAU_ENQUIRIES_3M"
    assert scorer.score(SAFE).pd < scores.pd
    assert set(scores.to_dict()) == {"pd", "score", "pd_challenger", "model_versions",
                                     "reason_codes"}
    assert ModelScores(0.1, 600.0, None, {}, list(scores.reason_codes)).reason_codes == \
        scores.reason_codes
    with pytest.raises(InvalidScorer, match="ReasonCode"):
        ModelScores(0.1, 600.0, None, {}, ["RISK_X"])  # type: ignore[list-item]
    with pytest.raises(InvalidScorer, match="model_versions"):
        ModelScores(0.1, 600.0, None, ["v1"])  # type: ignore[arg-type]


def test_missing_and_malformed_features_score_as_missing(scorer):
    missing = scorer.score({**RISKY, "revenue_cv_6m": None})
    for odd in ("1.4", float("nan"), float("inf"), True):
        assert scorer.score({**RISKY, "revenue_cv_6m": odd}).pd == missing.pd
    absent = {k: v for k, v in RISKY.items() if k != "revenue_cv_6m"}
    assert scorer.score(absent).pd == missing.pd
    with pytest.raises(InvalidScorer, match="mapping"):
        scorer.score([1, 2])  # type: ignore[arg-type]


def test_a_frame_scores_as_each_of_its_rows_would(scorer):
    rows = [SAFE, RISKY, {**RISKY, "revenue_cv_6m": None}, {**SAFE, "bureau_enquiries_3m": None},
            {**SAFE, "months_of_history": float("inf")}]
    frame = pl.DataFrame(rows)
    scored = scorer.score_frame(frame)
    assert scored.columns == frame.columns + ["pd", "score", "pd_challenger"]
    for i, row in enumerate(rows):
        one = scorer.score(row)
        assert scored["pd"][i] == pytest.approx(one.pd, abs=1e-12)
        assert scored["score"][i] == pytest.approx(one.score, abs=1e-9)
        assert scored["pd_challenger"][i] == pytest.approx(one.pd_challenger, abs=1e-12)
    text = frame.with_columns(pl.col("revenue_cv_6m").cast(pl.String))  # ill-typed column
    assert scorer.score_frame(text)["pd"][1] == pytest.approx(
        scorer.score({**RISKY, "revenue_cv_6m": None}).pd, abs=1e-12)
    assert scorer.score_frame(frame.head(0)).height == 0
    with pytest.raises(InvalidScorer, match="polars DataFrame"):
        scorer.score_frame(rows)  # type: ignore[arg-type]


def test_only_fitted_models_of_the_right_kind_serve(registry):
    reg, card, gbm = registry
    champion, challenger = reg.load(card), reg.load(gbm)
    with pytest.raises(InvalidScorer, match="champion must be a fitted Scorecard"):
        ModelScorer(challenger, gbm)
    with pytest.raises(InvalidScorer, match="champion must be a fitted Scorecard"):
        ModelScorer(Scorecard(), "v")
    with pytest.raises(InvalidScorer, match="challenger must be a fitted"):
        ModelScorer(champion, card, champion, card)
    with pytest.raises(InvalidScorer, match="the champion needs its registry version"):
        ModelScorer(champion, "")
    with pytest.raises(InvalidScorer, match="the challenger needs its registry version"):
        ModelScorer(champion, card, challenger, None)
    with pytest.raises(InvalidScorer, match="top_reasons"):
        ModelScorer(champion, card, top_reasons=0)
    assert ModelScorer(champion, card).score(SAFE).pd_challenger is None


def test_a_tampered_model_artefact_is_refused(registry, tmp_path):
    reg, card, _ = registry
    copy = ModelRegistry(tmp_path)
    (tmp_path / card).mkdir()
    for name in ("model.json", "manifest.json"):
        (tmp_path / card / name).write_bytes((reg.root / card / name).read_bytes())
    artefact = tmp_path / card / "model.json"
    artefact.write_bytes(artefact.read_bytes().replace(b'"intercept": ', b'"intercept": 1'))
    with pytest.raises(ArtefactTampered):
        ModelScorer.from_registry(copy, card)


def test_the_policy_decider_on_real_models(scorer):
    decider = PolicyDecider(POLICY, scorer)
    risky, record = decider.evaluate(request(features=RISKY))
    assert risky.outcome is Outcome.DECLINE and risky.reasons[0].code == "HIGH_RISK"
    assert risky.reasons[1].code == "RISK_BUREAU_ENQUIRIES_3M"
    assert "points below the best" in risky.reasons[1].message
    assert risky.model_version == scorer.model_versions["champion"]
    assert record.model_versions == scorer.model_versions
    assert record.facts["pd"] > 0.10 and record.facts["pd_challenger"] is not None
    safe = decider.decide(request(features=SAFE))
    assert safe.outcome is not Outcome.DECLINE and safe.grade is not None


def test_batch_scoring_and_evaluation_match_the_decider(scorer):
    decider = PolicyDecider(POLICY, scorer)
    variants = [SAFE, RISKY, {**SAFE, "bureau_enquiries_3m": 4.0},
                {**SAFE, "verified_revenue_monthly_fen": None}, {**RISKY, "revenue_cv_6m": None}]
    records = [decider.evaluate(request(features=f))[1] for f in variants]
    frame = pl.DataFrame([{k: v for k, v in r.facts.items()
                           if k not in ("pd", "score", "pd_challenger")} for r in records])
    out = evaluate_frame(POLICY, scorer.score_frame(frame), PRODUCT)
    for record, row in zip(records, out.iter_rows(named=True)):
        assert row["outcome"] == record.decision.outcome.value
        assert row["grade"] == record.decision.grade and row["amount"] == record.decision.amount
        assert row["annual_rate"] == record.decision.annual_rate
