"""A policy under the platform's cap in force: grades priced above it are declined or clipped,
as the policy says, the same by the scalar engine and the frame evaluator, with the cap's
provenance in the decision record."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from decision_samples import PRODUCT, FakeScorer, doc, facts, request
from puhui.decision.policy_decider import PolicyDecider, replay
from puhui.decision.engine import evaluate, evaluate_frame
from puhui.decision.errors import InvalidPolicy
from puhui.decision.policy import default_policy, load_policy
from puhui.decision.record import DecisionRecord
from puhui.decision.policy_registry import PolicyRegistry
from puhui.loans.caps import CapSchedule, CapVersion, LprPublication
from puhui.loans.product import RateCap
from puhui.decision.outcome import Outcome

LPR_DAY = date(2026, 11, 20)
#: 24% fixed until 2026-11-19, then 4x the one-year LPR of 3.0%: 12%.
SCHEDULE = CapSchedule(
    [CapVersion(1, date(2000, 1, 1), "fixed", rate=Decimal("0.24")),
     CapVersion(2, LPR_DAY, "lpr_multiple", multiple=Decimal(4))],
    [LprPublication(1, Decimal("0.030"), date(2026, 10, 20), date(2026, 10, 20))])
#: Grade A at 12%, B at 14.4%, C at 18%; no adjustments.
PD = {"A": 0.01, "B": 0.03, "C": 0.07}


def fx(grade: str) -> dict:
    """Facts of an application the test policy grades `grade`, within every grade's limit."""
    return facts(pd=PD[grade], requested_amount_fen=50_000_00)


def priced(above_cap: str | None) -> object:
    d = doc()
    d["pricing"]["grade_rates"] = {"A": "0.12", "B": "0.144", "C": "0.18"}
    d["pricing"]["adjustments"] = []
    if above_cap is not None:
        d["pricing"]["above_cap"] = above_cap
    return load_policy(d)


def test_four_times_an_lpr_of_three_percent_is_a_twelve_percent_cap() -> None:
    cap = SCHEDULE.cap_in_force(LPR_DAY)
    assert cap.annual_limit == Decimal("0.12") and "LPR 3%" in cap.label
    assert SCHEDULE.cap_in_force(LPR_DAY.replace(day=19)).annual_limit == Decimal("0.24")


@pytest.mark.parametrize("grade", ["B", "C"])
def test_grades_priced_above_the_cap_are_declined_by_default(grade: str) -> None:
    policy = priced(None)
    cap = SCHEDULE.cap_in_force(LPR_DAY)
    r = evaluate(policy, fx(grade), product=PRODUCT, platform_rate_cap=cap)
    assert r.outcome is Outcome.DECLINE and r.annual_rate is None
    assert [x.code for x in r.reasons] == ["RATE_CAP"]
    assert "above the 4x one-year LPR rate cap" in r.reasons[0].message
    # the day before the LPR multiple takes effect, 24% applies and the grade is offered
    before = SCHEDULE.cap_in_force(date(2026, 11, 19))
    r = evaluate(policy, fx(grade), product=PRODUCT, platform_rate_cap=before)
    assert r.outcome is Outcome.APPROVE and r.annual_rate == policy.pricing.grade_rates[grade]


@pytest.mark.parametrize("grade", ["B", "C"])
def test_a_clipping_policy_offers_grades_above_the_cap_at_the_cap(grade: str) -> None:
    policy = priced("clip")
    cap = SCHEDULE.cap_in_force(LPR_DAY)
    r = evaluate(policy, fx(grade), product=PRODUCT, platform_rate_cap=cap)
    assert r.outcome is Outcome.APPROVE and r.grade == grade
    assert r.annual_rate == Decimal("0.12")
    assert [x.code for x in r.reasons] == ["RATE_CAPPED"]
    assert f"grade {grade} price" in r.reasons[0].message and "offered at 12.0000%" in \
        r.reasons[0].message
    step = [t for t in r.trace if t.rule == "RATE_CAP"]
    assert [(t.result, t.effect) for t in step] == [("fired", "note")]


@pytest.mark.parametrize("above_cap", [None, "decline", "clip"])
def test_a_grade_priced_at_the_cap_is_offered_at_its_price(above_cap) -> None:
    r = evaluate(priced(above_cap), fx("A"), product=PRODUCT,
                 platform_rate_cap=SCHEDULE.cap_in_force(LPR_DAY))
    assert r.outcome is Outcome.APPROVE and r.annual_rate == Decimal("0.12") and not r.reasons


def test_a_cap_finer_than_a_millionth_clips_down_to_the_millionth() -> None:
    r = evaluate(priced("clip"), fx("C"), product=PRODUCT,
                 platform_rate_cap=RateCap(Decimal("0.1234567"), "odd cap"))
    assert r.annual_rate == Decimal("0.123456")


@pytest.mark.parametrize("above_cap", ["decline", "clip"])
def test_the_frame_evaluator_gives_the_same_answers(above_cap: str) -> None:
    policy, cap = priced(above_cap), SCHEDULE.cap_in_force(LPR_DAY)
    rows = [fx(g) for g in "ABC"]
    out = evaluate_frame(policy, pl.DataFrame(rows), PRODUCT, platform_rate_cap=cap)
    expected = []
    for row in rows:
        r = evaluate(policy, row, product=PRODUCT, platform_rate_cap=cap)
        expected.append((r.outcome.value, r.grade, r.amount, r.annual_rate, r.reason_code))
    assert out.rows() == expected
    if above_cap == "clip":
        assert out["annual_rate"].to_list() == [Decimal("0.12")] * 3
        assert out["reason"].to_list() == [None, "RATE_CAPPED", "RATE_CAPPED"]
    else:
        assert out["outcome"].to_list() == ["approve", "decline", "decline"]


def test_the_policy_setting_is_validated_and_keeps_old_identities() -> None:
    with pytest.raises(InvalidPolicy, match="above_cap"):
        priced("lower")
    # a document that does not say keeps the identity it had before the setting existed
    assert priced(None).sha256 == priced("decline").sha256 != priced("clip").sha256
    assert "above_cap" not in default_policy().canonical_json()
    assert default_policy().identity.startswith("sme-2026.11+")
    d = doc()
    d["pricing"]["adjustments"][0]["code"] = "RATE_CAPPED"
    with pytest.raises(InvalidPolicy, match="reserved"):
        load_policy(d)


def test_the_decision_record_keeps_the_caps_provenance_and_replays(tmp_path) -> None:
    cap = SCHEDULE.cap_in_force(LPR_DAY)
    decider = PolicyDecider(priced("clip"), FakeScorer(pd=PD["C"]))
    decision, record = decider.evaluate(dataclasses.replace(request(), rate_cap=cap))
    assert decision.annual_rate == Decimal("0.12")
    d = record.to_dict()
    assert d["rate_cap"]["annual_limit"] == "0.12"
    assert d["rate_cap"]["provenance"] == {
        "version": 2, "kind": "lpr_multiple", "effective_from": "2026-11-20", "rate": None,
        "multiple": "4", "lpr_id": 1, "lpr_rate": "0.03", "lpr_published_on": "2026-10-20",
        "lpr_effective_from": "2026-10-20"}
    again = DecisionRecord.from_json(record.to_json())
    assert again.rate_cap == cap and again.to_dict() == d
    registry = PolicyRegistry(tmp_path)
    registry.register(priced("clip"))
    assert replay(again, registry) == decision
    # a decider's own cap and the request's cap in force: the lower binds, and is recorded
    decider = PolicyDecider(priced(None), FakeScorer(pd=PD["B"]), rate_cap=RateCap(
        Decimal("0.20"), "lender's own cap"))
    decision, record = decider.evaluate(dataclasses.replace(request(), rate_cap=cap))
    assert decision.outcome is Outcome.DECLINE and record.rate_cap == cap
    decision, record = decider.evaluate(dataclasses.replace(
        request(), rate_cap=SCHEDULE.cap_in_force(date(2026, 11, 19))))
    assert decision.outcome is Outcome.APPROVE and record.rate_cap.label == "lender's own cap"
