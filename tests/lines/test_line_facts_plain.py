"""`line_facts` (its inline `values.plain`) gives, for any features and scores, what making
each value plain one by one gave; a policy's per-rule reads are its rules' own."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Mapping

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from puhui.decision import values
from puhui.decision.facts import SCORE_FACTS
from puhui.decision.scoring import ModelScores
from puhui.lines.policy import (BEHAVIOUR_FACTS, LINE_FACT_KINDS, LINE_STATE_FACTS, LineFacts,
                                LineHistory, default_line_policy, line_facts)
from puhui.loans.product import RateCap

from line_policy_samples import TODAY


def _reference(line: LineFacts, features: Mapping[str, Any] | None, scores: Any,
               history: LineHistory, today) -> dict[str, Any]:
    """`line_facts` as it was written first: every value through `values.plain`."""
    facts: dict[str, Any] = {name: None for name in LINE_FACT_KINDS}
    for name, value in (features or {}).items():
        if isinstance(name, str) and name not in LINE_STATE_FACTS and name not in SCORE_FACTS \
                and name not in BEHAVIOUR_FACTS:
            facts[name] = values.plain(value)
    if scores is not None:
        for name in SCORE_FACTS:
            value = scores.get(name) if isinstance(scores, Mapping) else getattr(scores, name)
            facts[name] = values.plain(value)
    facts.update({k: values.plain(v) for k, v in history.facts().items()})
    since = line.changed_on or line.opened_on
    facts.update({
        "line_limit_fen": line.limit, "line_drawn_fen": line.drawn,
        "line_utilisation": None if line.limit == 0 else line.drawn / line.limit,
        "line_annual_rate": float(line.annual_rate), "line_status": line.status,
        "days_since_change": (today - since).days, "line_age_days": (today - line.opened_on).days})
    return facts


class Odd(float):
    """A float that is not exactly a float."""


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, np.float64("nan"), np.float64(1.5),
                     np.int64(7), np.bool_(True), np.float32(0.1), Decimal("1.5"), Odd(2.5),
                     Odd("nan"), b"x", (1, 2)]))
NAMES = st.one_of(st.sampled_from([*LINE_FACT_KINDS, "growth_x", "months_of_history"]),
                  st.text(max_size=6), st.integers(0, 3))
SCORES = st.one_of(st.none(), st.fixed_dictionaries({n: VALUES for n in SCORE_FACTS}),
                   st.builds(ModelScores, VALUES, VALUES, VALUES, st.just({"champion": "c"})))
LINE = LineFacts("LN1", 5_000_000, 1_000_000, Decimal("0.12"), "active", TODAY.replace(day=1),
                 None, 10_000_000, RateCap(Decimal("0.24"), "test cap"))


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal, NaN-free by construction: keys, values and their types."""
    return list(a) == list(b) and all(
        type(a[k]) is type(b[k]) and (a[k] == b[k]) for k in a)


@settings(max_examples=200, deadline=None)
@example({"growth_x": math.nan, "y": math.inf, "z": -math.inf, "months_of_history": 3.0,
          "on_time_months": 5.0, "days_past_due": 1, "line_limit_fen": 1, "pd": 0.5, 3: 1.0,
          "w": np.float64("nan"), "v": Odd("inf")},
         {"pd": math.nan, "score": np.float64(600.0), "pd_challenger": None}, (None, 2, None))
@given(st.one_of(st.none(), st.dictionaries(NAMES, VALUES, max_size=12)), SCORES,
       st.tuples(st.none() | st.integers(0, 30), st.none() | st.integers(0, 90),
                 st.none() | st.integers(0, 6)))
def test_line_facts_are_the_plain_values_of_the_features(features, scores, behaviour) -> None:
    history = LineHistory(*behaviour)
    ours = line_facts(LINE, features, scores, history, TODAY)
    assert _same(ours, _reference(LINE, features, scores, history, TODAY))
    assert all(not isinstance(v, float) or math.isfinite(v) for v in ours.values())


def test_a_policys_rule_reads_are_its_rules_own() -> None:
    policy = default_line_policy()
    assert len(policy.rule_reads) == len(policy.rules)
    for rule, (when, release, described) in zip(policy.rules, policy.rule_reads):
        assert list(when) == rule.when.facts() and described == rule.action.describe()
        assert list(release) == ([] if rule.release is None else rule.release.facts())
    assert any(release for _, release, _ in policy.rule_reads)
