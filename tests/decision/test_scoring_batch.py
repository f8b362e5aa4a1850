"""`ModelScorer.score_many`: a batch of feature mappings scored exactly as `score` scores each
(the same floats, reason codes and messages), with a row `score` refuses returned as its error
and the others scored; `GradientBoostingModel.pd_many` equal to its frame path; and the line
refresh scoring a chunk through `score_many` (or one borrower at a time without it)."""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puhui.decision.errors import InvalidScorer
from puhui.decision.scoring import ModelScorer, ModelScores
from puhui.risk import sme
from puhui.risk.errors import RiskDataError
from puhui.risk.gbm import GradientBoostingModel
from puhui.risk.model_registry import ModelRegistry
from puhui.risk.scorecard import Scorecard
from puhui.services import line_refresh

ABSENT = object()
SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def shipped(sme_registry) -> ModelScorer:
    registry = ModelRegistry(sme_registry)
    return ModelScorer.from_registry(registry, registry.latest(sme.CHAMPION_NAME).version,
                                     registry.latest(sme.CHALLENGER_NAME).version)


@pytest.fixture(scope="module")
def small() -> ModelScorer:
    """Small models with a categorical input (the checking account) and a useless one."""
    rng = np.random.default_rng(5)
    n = 1_500
    months = rng.integers(6, 61, n).astype(float)
    account = rng.choice(["none", "positive", "overdrawn"], n, p=[0.4, 0.35, 0.25])
    noise = rng.normal(size=n)
    logit = -2.0 + 0.06 * (months - 6) + np.select(
        [account == "overdrawn", account == "positive"], [1.8, 0.6], 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"months": months, "account": account, "noise": noise})
    card = Scorecard(min_iv=0.0).fit(X, y)
    gbm = GradientBoostingModel(n_estimators=40).fit(X, y)
    return ModelScorer(card, "sc-small", gbm, "gbm-small", top_reasons=2)


def edges(scorer: ModelScorer) -> dict[str, tuple[float, ...]]:
    return {c.name: c.splits for c in scorer.champion.characteristics_ if c.kind != "categorical"}


def value(splits: tuple[float, ...], categories: list[str]) -> st.SearchStrategy[Any]:
    """A feature value: at, just below or above a split point, any float, missing, NaN,
    infinite, a known or unseen category, or what the models read as missing (text for a
    number, a bool, a Decimal, an int too large for a float)."""
    near = [st.sampled_from([s, math.nextafter(s, -math.inf), math.nextafter(s, math.inf)])
            for s in splits]
    if any(s.is_integer() for s in splits):
        near.append(st.sampled_from([int(s) for s in splits if s.is_integer()]))
    return st.one_of(
        *near, st.floats(-1e9, 1e9), st.integers(-10**6, 10**6),
        st.sampled_from([None, math.nan, math.inf, -math.inf, -0.0, ABSENT, True, "1.5",
                         Decimal("2.5"), 10**400, np.float64(1.5)]),
        st.sampled_from(categories or ["x"]), st.text(max_size=3))


def rows_for(scorer: ModelScorer) -> st.SearchStrategy[list[dict[str, Any]]]:
    cuts = edges(scorer)
    categories = [c for model in (scorer.champion, scorer.challenger)
                  for groups in getattr(model, "categories_", {}).values() for c in groups]
    fields = {name: value(cuts.get(name, ()), categories) for name in scorer.features}
    row = st.fixed_dictionaries(fields).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT})
    return st.lists(row, min_size=1, max_size=20)


def check_batch(scorer: ModelScorer, rows: list[dict[str, Any]]) -> None:
    many = scorer.score_many(rows)
    assert len(many) == len(rows)
    for row, got in zip(rows, many):
        one = scorer.score(row)
        assert isinstance(got, ModelScores)
        assert got == one  # every field: floats, versions, reason codes with their messages
        assert [r.message for r in got.reason_codes] == [r.message for r in one.reason_codes]


@SETTINGS
@given(data=st.data())
def test_a_batch_scores_each_business_as_alone_on_the_shipped_models(shipped, data):
    check_batch(shipped, data.draw(rows_for(shipped)))


@SETTINGS
@given(data=st.data())
def test_a_batch_scores_each_business_as_alone_on_small_models(small, data):
    assert small.challenger.categories_
    check_batch(small, data.draw(rows_for(small)))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_challenger_batch_equals_its_frame_path(small, data):
    """`pd_many` (and so `pd_of`) against `predict_proba`, which encodes a frame its own way."""
    gbm = small.challenger
    row = st.fixed_dictionaries({
        "months": st.one_of(st.none(), st.floats(0, 80), st.integers(0, 80)),
        "account": st.one_of(st.none(), st.sampled_from(["none", "positive", "overdrawn",
                                                         "frozen"])),
        "noise": st.one_of(st.none(), st.floats(-5, 5))})
    rows = data.draw(st.lists(row, min_size=1, max_size=20))
    frame = pd.DataFrame({"months": [math.nan if r["months"] is None else float(r["months"])
                                     for r in rows],
                          "account": pd.Series([r["account"] for r in rows], dtype=object),
                          "noise": [math.nan if r["noise"] is None else r["noise"]
                                    for r in rows]})
    many = gbm.pd_many(rows)
    assert many.tolist() == gbm.predict_proba(frame)[:, 1].tolist()
    assert [gbm.pd_of(r) for r in rows] == many.tolist()


def test_a_realistic_chunk(shipped):
    X = sme.sample(sme.training_world(600, seed=9), sme.DEVELOPMENT_AS_OF).X
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in X.to_dict("records")]
    assert shipped.score_many(rows) == [shipped.score(r) for r in rows]
    assert shipped.score_many([]) == []


class Picky(ModelScorer):
    """Models that refuse a business with 13 months of history (as a model may refuse a row)."""

    def _scores(self, rows):
        if any(r.get("months") == 13.0 for r in rows):
            raise RiskDataError("13 months: refused")
        return super()._scores(rows)


def test_a_refused_row_is_returned_as_its_error_and_the_others_are_scored(small):
    rows = [{"months": 20.0, "account": "none"}, ["not", "a", "mapping"],
            {"months": 50.0, "account": "overdrawn"}]
    many = small.score_many(rows)
    assert isinstance(many[1], InvalidScorer) and "mapping" in str(many[1])
    assert many[0] == small.score(rows[0]) and many[2] == small.score(rows[2])
    with pytest.raises(InvalidScorer, match="mapping"):
        small.score(rows[1])  # type: ignore[arg-type]

    picky = Picky(small.champion, "sc-small", small.challenger, "gbm-small", top_reasons=2)
    rows = [{"months": 20.0}, {"months": 13.0}, {"months": 50.0, "account": "overdrawn"}]
    many = picky.score_many(rows)
    assert isinstance(many[1], RiskDataError)
    assert many[0] == small.score(rows[0]) and many[2] == small.score(rows[2])
    with pytest.raises(RiskDataError, match="13 months"):
        picky.score(rows[1])


class OneAtATime:
    """A scorer with `score` only (as the line tests' stand-in)."""

    def __init__(self, inner: ModelScorer) -> None:
        self.inner, self.calls = inner, 0

    def score(self, features):
        self.calls += 1
        if features.get("months") == 13.0:
            raise RiskDataError("13 months: refused")
        return self.inner.score(features)


def test_the_refresh_scores_a_chunk_at_once_or_one_at_a_time(small, caplog):
    chunk = {"A1": {"months": 20.0, "account": "none"}, "A2": {"months": 13.0},
             "A3": {"months": 50.0, "account": "overdrawn", "noise": 1.0}}
    picky = Picky(small.champion, "sc-small", small.challenger, "gbm-small", top_reasons=2)
    alone = OneAtATime(small)
    with caplog.at_level(logging.WARNING, logger="puhui.lines"):
        batch = line_refresh._scored_many(picky, chunk)
        single = line_refresh._scored_many(alone, chunk)
    expected = {"A1": small.score(chunk["A1"]), "A2": None, "A3": small.score(chunk["A3"])}
    assert batch == single == expected and list(batch) == list(chunk)
    assert alone.calls == 3
    assert sum("re-evaluating A2: scoring: 13 months" in m for m in caplog.messages) == 2
