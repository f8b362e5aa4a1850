"""`PolicyDecider` end to end with a fake scorer: the Decider protocol, decisions and their
reasons, data problems that refer, decision records, replay, and policy changes."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from decision_samples import (DOC, FEATURES, POLICY, FakeScorer, doc, person, request, shop)
from puhui.decision.blacklist import Blacklist
from puhui.decision.policy_decider import PolicyDecider, replay
from puhui.decision.errors import (InvalidDecisionRecord, InvalidFacts, InvalidPolicy,
                                   PolicyTampered, PolicyVersionConflict)
from puhui.decision.policy import load_policy
from puhui.decision.record import DecisionRecord
from puhui.decision.policy_registry import PolicyRegistry
from puhui.loans.product import RateCap
from puhui.decision.outcome import Decider, Decision, Outcome, kyc_failures
from puhui.risk.errors import RiskDataError

CHAMPION = "sme-scorecard-20261101T000000Z-0badc0de"


def codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


class BrokenScorer(FakeScorer):
    def score(self, features):
        raise RiskDataError("bureau_enquiries_3m must be numeric")


def test_it_is_an_origination_decider_named_by_policy_version_and_hash():
    decider = PolicyDecider(DOC, FakeScorer())
    assert isinstance(decider, Decider)
    assert decider.version == POLICY.identity == f"test-1+{POLICY.sha256[:12]}"
    d = decider.decide(request())
    assert d == Decision(Outcome.APPROVE, (), 100_000_00, Decimal("0.12"), "B", POLICY.identity,
                         CHAMPION)


def test_a_risk_decline_gives_the_models_reasons_for_a_decline_notice():
    d = PolicyDecider(POLICY, FakeScorer(pd=0.31)).decide(request())
    assert d.outcome is Outcome.DECLINE and (d.amount, d.annual_rate, d.grade) == (None,) * 3
    assert codes(d) == ["HIGH_RISK", "RISK_BUREAU_ENQUIRIES_3M", "RISK_REVENUE_CV_6M"]
    assert d.reasons[1].message == "bureau enquiries 3m is 7: 25.0 points below the best bin"
    grey = PolicyDecider(POLICY, FakeScorer(pd=0.09)).decide(request(amount=50_000_00))
    assert grey.outcome is Outcome.REFER and codes(grey)[0] == "PD_GREY_ZONE"
    assert codes(grey)[1:] == ["RISK_BUREAU_ENQUIRIES_3M", "RISK_REVENUE_CV_6M"]
    old_owner = shop(owner=person(birth="19500101"))
    other = PolicyDecider(POLICY, FakeScorer()).decide(request(old_owner))
    assert codes(other) == ["AGE"]  # a policy decline, not a risk one: no model reasons


def test_kyc_uses_the_shared_rule_and_declines_first():
    req = request(checks=[])
    d = PolicyDecider(POLICY, FakeScorer(pd=0.5)).decide(req)
    assert d.reasons == tuple(kyc_failures(req)) and d.outcome is Outcome.DECLINE


def test_a_blacklisted_applicant_is_declined():
    blacklist = Blacklist.of("bl-1", [("mobile", "13800138000")])
    d = PolicyDecider(POLICY, FakeScorer(), blacklist=blacklist).decide(request())
    assert codes(d) == ["BLACKLISTED"] and "(version bl-1)" in d.reasons[0].message


@pytest.mark.parametrize("data, scorer, fragment", [
    ({"features": FEATURES, "data_errors": ["tax: service unavailable"]}, FakeScorer(),
     "connector: tax: service unavailable"),
    ({}, FakeScorer(), "no features were supplied"),
    ({"features": "none"}, FakeScorer(), "features should be a mapping"),
    ({"features": {**FEATURES, "verified_revenue_monthly_fen": "lots"}}, FakeScorer(),
     "verified_revenue_monthly_fen is malformed"),
    ({"features": FEATURES}, BrokenScorer(), "the models could not score the application: "
                                             "bureau_enquiries_3m must be numeric"),
    ({"features": FEATURES}, None, "no model is configured"),
    ({"features": FEATURES}, FakeScorer(pd=None), None),
])
def test_data_problems_refer_the_application_and_never_raise(data, scorer, fragment):
    decision, record = PolicyDecider(POLICY, scorer).evaluate(request(data=data))
    assert decision.outcome is Outcome.REFER and "DATA_INCOMPLETE" in codes(decision)
    if fragment is not None:
        assert fragment in decision.reasons[0].message
    assert DecisionRecord.from_json(record.to_json()) == record


def test_the_platform_rate_cap_applies_on_top_of_the_policys():
    d = PolicyDecider(POLICY, FakeScorer(), rate_cap=RateCap(Decimal("0.10"), "platform cap")) \
        .decide(request())
    assert codes(d) == ["RATE_CAP"] and "platform cap of 10.00%" in d.reasons[0].message


def test_the_record_holds_everything_needed_to_replay(tmp_path):
    decider = PolicyDecider(POLICY, FakeScorer(), rate_cap=RateCap(Decimal("0.30"), "p"))
    decision, record = decider.evaluate(request(amount=180_000_00))
    d = record.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["policy_version"] == "test-1" and d["policy_sha256"] == POLICY.sha256
    assert d["model_versions"]["champion"] == CHAMPION and d["decided_on"] == "2026-11-15"
    assert d["facts"]["pd"] == 0.03 and d["facts"]["bureau_open_loans"] == 1.0
    assert d["result"]["outcome"] == "approve" and d["result"]["limit"] == 120_000_00
    assert d["decision"] == decision.to_dict() and d["rate_cap"]["annual_limit"] == "0.30"
    assert [t["rule"] for t in d["trace"]][:3] == ["KYC_FAILED", "BLACKLISTED", "DATA_ERRORS"]
    assert DecisionRecord.from_dict(d) == record
    registry = PolicyRegistry(tmp_path)
    registry.register(DOC)
    assert replay(DecisionRecord.from_json(record.to_json()), registry) == decision


SCENARIOS = [
    dict(), dict(amount=400_000_00), dict(scorer=FakeScorer(pd=0.5)),
    dict(scorer=FakeScorer(pd=0.09), amount=30_000_00),
    dict(features={**FEATURES, "verified_revenue_monthly_fen": None}),
    dict(features={**FEATURES, "revenue_cv_6m": float("nan")}),
    dict(features={**FEATURES, "bureau_max_overdue_days": 120.0}),
    dict(data={"features": FEATURES, "data_errors": ["bureau down"]}),
    dict(checks=[]), dict(scorer=BrokenScorer()),
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replay_gives_the_same_decision(tmp_path, scenario):
    registry = PolicyRegistry(tmp_path)
    registry.register(DOC)
    scenario = dict(scenario)
    decider = PolicyDecider(registry.load("test-1"), scenario.pop("scorer", FakeScorer()),
                            rate_cap=RateCap(Decimal("0.24")))
    decision, record = decider.evaluate(request(**scenario))
    assert replay(record, registry) == decision
    assert replay(DecisionRecord.from_json(record.to_json()), registry) == decision


def test_a_policy_change_needs_a_new_version_and_old_decisions_still_replay(tmp_path):
    registry = PolicyRegistry(tmp_path)
    registry.register(DOC)
    registry.activate("test-1")
    old_decision, old_record = PolicyDecider(registry.active(), FakeScorer()).evaluate(request())
    stricter = doc()
    stricter["pricing"]["grade_rates"]["B"] = "0.1350"
    with pytest.raises(PolicyVersionConflict, match="needs a new version"):
        registry.register(stricter)  # same version, different content
    registry.register({**stricter, "version": "test-2"})
    registry.activate("test-2")
    new_decider = PolicyDecider(registry.active(), FakeScorer())  # no code change
    new_decision = new_decider.decide(request())
    assert new_decision.annual_rate == Decimal("0.135") != old_decision.annual_rate
    assert new_decision.policy_version.startswith("test-2+")
    assert replay(old_record, registry) == old_decision  # still under test-1


def test_replay_refuses_a_policy_whose_content_is_not_the_recorded_one(tmp_path):
    registry = PolicyRegistry(tmp_path)
    registry.register(DOC)
    _, record = PolicyDecider(POLICY, FakeScorer()).evaluate(request())
    forged = replace(record, policy_sha256="0" * 64)
    with pytest.raises(PolicyTampered, match="the record was decided under"):
        replay(forged, registry)
    with pytest.raises(InvalidDecisionRecord):
        replay(record.to_dict(), registry)  # type: ignore[arg-type]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("facts"), "missing ['facts']"),
    (lambda d: d.update(extra=1), "unknown ['extra']"),
    (lambda d: d.update(format="other/1"), "not a puhui.decision-record/1 record"),
    (lambda d: d.update(facts=[1]), "facts has the wrong type"),
    (lambda d: d["facts"].update(pd=[0.1]), "are not plain JSON values"),
    (lambda d: d.update(decided_on="someday"), "unreadable decision record"),
    (lambda d: d["decision"].update(outcome="maybe"), "unknown decision outcome"),
    (lambda d: d["product"].update(method="barter"), "unknown method"),
    (lambda d: d.update(rate_cap={"annual_limit": "x", "label": "c"}),
     "unreadable decision record"),
    (lambda d: d["trace"].append({"step": "x"}), "malformed trace entry"),
])
def test_malformed_records_are_refused(mutate, message):
    _, record = PolicyDecider(POLICY, FakeScorer()).evaluate(request())
    d = json.loads(record.to_json())
    mutate(d)
    with pytest.raises(InvalidDecisionRecord) as caught:
        DecisionRecord.from_dict(d)
    assert message in str(caught.value)
    with pytest.raises(InvalidDecisionRecord, match="is JSON"):
        DecisionRecord.from_json("{")
    with pytest.raises(InvalidDecisionRecord, match="JSON object"):
        DecisionRecord.from_dict([])


def test_bad_decider_settings_are_typed_errors():
    with pytest.raises(InvalidPolicy):
        PolicyDecider({**DOC, "version": ""}, FakeScorer())
    with pytest.raises(InvalidFacts, match="scorer"):
        PolicyDecider(POLICY, object())  # type: ignore[arg-type]
    with pytest.raises(InvalidFacts, match="blacklist"):
        PolicyDecider(POLICY, FakeScorer(), blacklist=["x"])  # type: ignore[arg-type]
    with pytest.raises(InvalidFacts, match="rate_cap"):
        PolicyDecider(POLICY, FakeScorer(), rate_cap=Decimal("0.24"))  # type: ignore[arg-type]
    with pytest.raises(InvalidFacts, match="DecisionRequest"):
        PolicyDecider(POLICY, FakeScorer()).decide({"amount": 1})  # type: ignore[arg-type]
    assert load_policy(DOC) == PolicyDecider(DOC, None).policy
