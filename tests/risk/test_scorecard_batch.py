"""`Scorecard.assess_many`: every applicant of a batch gets exactly what `assess` gives it alone,
and both give what a plain one-value-at-a-time reading of the scorecard gives (`bin_of` per
characteristic, the log-odds summed term by term, the reasons sorted by loss then name) --
the same floats bit for bit, the same reasons and messages -- on a small fitted scorecard with
a categorical characteristic and on the shipped small-business scorecard."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from risk_samples import constructed
from scipy.special import expit

from puhui.risk import sme
from puhui.risk.errors import InvalidParameter, RiskDataError
from puhui.risk.model_registry import ModelRegistry
from puhui.risk.reasons import ReasonCode, humanise, show
from puhui.risk.scorecard import ApplicantScore, Scorecard, _plain
from puhui.risk.woe import CATEGORICAL

ABSENT = object()  # the key left out of the mapping
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def small() -> Scorecard:
    X, y = constructed()
    return Scorecard(min_iv=0.0).fit(X, y)


@pytest.fixture(scope="module")
def shipped(sme_registry) -> Scorecard:
    registry = ModelRegistry(sme_registry)
    return registry.load(registry.latest(sme.CHAMPION_NAME).version)


def reference(card: Scorecard, applicant: Mapping[str, Any], top: int = 4) -> ApplicantScore:
    """The scorecard read one value at a time, as `assess` read it before there was a batch
    path: `bin_of` per characteristic, points lost against the best bin, the log-odds added
    term by term in characteristic order, then the intercept."""
    logit, found = None, []
    for char, coef in zip(card.characteristics_, card.coef_):
        value = applicant.get(char.name)
        index = char.bin_of(value)
        woe = char.missing_woe if index < 0 else char.woe[index]
        term = float(np.float64(woe) * np.float64(coef))
        logit = term if logit is None else logit + term
        points = -card.factor * coef * np.append(np.asarray(char.woe), char.missing_woe)
        best = int(np.argmax(points[:-1]))
        lost = float(points[best] - points[index])
        if lost > 1e-9:
            plain = _plain(value)
            where = "" if char.kind == CATEGORICAL else f" (bin {char.label(index)})"
            message = (f"{humanise(char.name)} is {show(plain)}{where}: {lost:.1f} points "
                       f"below the best {'answer' if where == '' else 'bin'} "
                       f"({char.label(best)})")
            found.append(ReasonCode(char.name, plain, lost, "points", message))
    logit = logit + card.intercept_
    found.sort(key=lambda r: (-r.impact, r.feature))
    return ApplicantScore(float(expit(logit)), card.offset - card.factor * logit,
                          tuple(found[:top]))


def near(edge: float) -> st.SearchStrategy[Any]:
    """A value at a split point, a float either side of it, or the same number in another type."""
    forms = [st.just(edge), st.just(math.nextafter(edge, -math.inf)),
             st.just(math.nextafter(edge, math.inf)), st.just(np.float64(edge))]
    if edge.is_integer() and abs(edge) < 2**62:
        forms += [st.just(int(edge)), st.just(int(edge) - 1), st.just(int(edge) + 1)]
    return st.one_of(forms)


MISSING_LIKE = st.sampled_from([None, math.nan, np.float64("nan"), ABSENT])


def numeric_value(splits: tuple[float, ...], odd: bool) -> st.SearchStrategy[Any]:
    low = (splits[0] if splits else 0.0) - 10.0
    high = (splits[-1] if splits else 0.0) + 10.0
    forms = [MISSING_LIKE, st.floats(low, high), st.sampled_from([math.inf, -math.inf, 0.0, -0.0]),
             st.integers(-10**6, 10**6), *[near(s) for s in splits]]
    if odd:  # what `bin_of` also reads as a number
        forms.append(st.one_of(
            st.booleans(), st.floats(low, high).map(np.float32),
            st.integers(-1000, 1000).map(np.int64),
            st.sampled_from(splits or (1.0,)).map(lambda s: str(s)),
            st.sampled_from(splits or (1.0,)).map(lambda s: Decimal(repr(s))),
            st.integers(2**63, 2**70)))
    return st.one_of(forms)


def categorical_value(groups: tuple[tuple[str, ...], ...]) -> st.SearchStrategy[Any]:
    known = [c for g in groups for c in g]
    return st.one_of(MISSING_LIKE, st.sampled_from(known), st.text(max_size=4),
                     st.integers(-3, 3), st.floats(allow_nan=False))


def rows_for(card: Scorecard, odd: bool = True) -> st.SearchStrategy[list[dict[str, Any]]]:
    fields = {c.name: (categorical_value(c.groups) if c.kind == CATEGORICAL
                       else numeric_value(c.splits, odd)) for c in card.characteristics_}
    row = st.fixed_dictionaries(fields).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT})
    return st.lists(row, min_size=1, max_size=25)


def check_batch(card: Scorecard, rows: list[dict[str, Any]], top: int) -> None:
    many = card.assess_many(rows, top=top)
    assert len(many) == len(rows)
    for row, got in zip(rows, many):
        assert got == card.assess(row, top=top) == reference(card, row, top)
        assert type(got.pd) is float and type(got.points) is float


@SETTINGS
@given(data=st.data(), top=st.integers(1, 4))
def test_a_batch_scores_each_applicant_as_alone_on_a_small_scorecard(small, data, top):
    assert any(c.kind == CATEGORICAL for c in small.characteristics_)
    check_batch(small, data.draw(rows_for(small)), top)


@SETTINGS
@given(data=st.data())
def test_a_batch_scores_each_applicant_as_alone_on_the_shipped_scorecard(shipped, data):
    check_batch(shipped, data.draw(rows_for(shipped)), 4)


@SETTINGS
@given(data=st.data())
def test_the_frame_path_gives_the_same_floats(shipped, data):
    """`predict_proba` and `score` add the log-odds in the same order: equal, not close."""
    rows = data.draw(rows_for(shipped, odd=False))
    names = [c.name for c in shipped.characteristics_]
    frame = pd.DataFrame([{n: (math.nan if row.get(n) is None else float(row[n]))
                           for n in names} for row in rows], dtype="float64")
    many = shipped.assess_many(rows)
    assert shipped.predict_proba(frame)[:, 1].tolist() == [a.pd for a in many]
    assert shipped.score(frame).tolist() == [a.points for a in many]


def test_a_realistic_chunk(shipped):
    X = sme.sample(sme.training_world(600, seed=9), sme.DEVELOPMENT_AS_OF).X
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in X.to_dict("records")]
    many = shipped.assess_many(rows)
    assert many == [reference(shipped, r) for r in rows]
    assert sum(len(a.reasons) for a in many) > len(rows)  # reasons were actually compared


def test_what_assess_refuses_a_batch_refuses(small):
    assert small.assess_many([]) == []
    with pytest.raises(RiskDataError, match="must be numeric"):
        small.assess({"months": "long"})
    with pytest.raises(RiskDataError, match="must be numeric"):
        small.assess_many([{"months": 12}, {"months": "long"}])
    with pytest.raises(RiskDataError, match="mapping"):
        small.assess_many([{"months": 12}, [("months", 12)]])
    with pytest.raises(RiskDataError, match="sequence of mappings"):
        small.assess_many({"months": 12})
    with pytest.raises(InvalidParameter):
        small.assess_many([{"months": 12}], top=0)
