"""Policy documents: the shipped policy, identity and canonical form, and clear refusals."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from decision_samples import DOC, FEATURES, POLICY, FakeScorer, doc, request, shop
from puhui.decision.policy_decider import PolicyDecider
from puhui.decision.errors import DecisionError, InvalidPolicy
from puhui.decision.policy import (Policy, default_policy, load_policy, read_policy, render)
from puhui.errors import PuhuiError
from puhui.decision.outcome import Outcome


def test_the_shipped_policy_loads_and_makes_sense_for_small_business_loans():
    policy = default_policy()
    assert policy.version == "sme-2026.11" and policy.identity.startswith("sme-2026.11+")
    assert len(policy.identity) == len("sme-2026.11+") + 12
    rates = policy.pricing.grade_rates
    assert list(rates) == policy.grade_names and all(isinstance(r, Decimal) for r in rates.values())
    assert max(rates.values()) + sum(a.add for a in policy.pricing.adjustments) \
        <= policy.pricing.rate_cap.annual_limit
    caps = policy.limits.grade_caps_fen
    assert max(caps.values()) == 500_000_00 and min(caps.values()) >= 10_000_00
    assert list(caps.values()) == sorted(caps.values(), reverse=True)


def test_identity_is_version_plus_the_hash_of_the_canonical_document():
    again = load_policy(json.dumps(DOC, indent=4, sort_keys=True))  # layout does not matter
    assert again.sha256 == POLICY.sha256 and again == POLICY
    assert load_policy(POLICY.canonical_json()).canonical_json() == POLICY.canonical_json()
    # defaults written out are the same content as defaults left out
    explicit = doc()
    explicit["knockouts"][0]["on_missing"] = "refer"
    assert load_policy(explicit).sha256 == POLICY.sha256
    changed = doc()
    changed["pricing"]["grade_rates"]["A"] = "0.0810"
    assert load_policy(changed).sha256 != POLICY.sha256
    assert load_policy(POLICY) is POLICY


def test_the_canonical_json_is_sorted_compact_and_keeps_decimals_as_text():
    text = POLICY.canonical_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False)
    assert '"A":"0.0800"' in text and list(json.loads(text)) == sorted(json.loads(text))


def _set(path: str, value):
    d = doc()
    target, *keys, last = [d, *path.split(".")]
    node = target
    for key in keys:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is KeyError:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return d


@pytest.mark.parametrize("change, message", [
    (("colour", "blue"), "colour: Extra inputs are not permitted"),
    (("version", KeyError), "version: Field required"),
    (("version", "../etc"), "version: String should match pattern"),
    (("pricing.grade_rates.A", 0.08), 'pricing.grade_rates.A: write exact decimals as strings'),
    (("pricing.grade_rates.A", "0.0800001"), "at most 6 decimal places"),
    (("pricing.grade_rates.A", "-0.01"), "must be >= 0"),
    (("limits.share_of_verified_revenue", "0"), "must be > 0"),
    (("limits.declared_revenue_haircut", "1"), "must be >= 0 and < 1"),
    (("limits.grade_caps_fen.A", 1.5), "limits.grade_caps_fen.A: Input should be a valid integer"),
    (("knockouts.0.action", "warn"), "knockouts[0].action: Input should be 'decline' or 'refer'"),
    (("knockouts.0.code", "age"), "knockouts[0].code: String should match pattern"),
    (("knockouts.0.on_missing", "apply"), "knockouts[0].on_missing"),
    (("knockouts.1.when", {"fact": "bureau_max_overdue_days", "op": "~", "value": 1}),
     "knockouts[1].when.op: Input should be"),
    (("knockouts.1.when", {"fact": "favourite_colour", "op": "==", "value": "red"}),
     "knockouts[1].when: unknown fact 'favourite_colour'"),
    (("knockouts.1.when", {"fact": "industry", "op": "<", "value": "m"}),
     "knockouts[1].when: < needs a numeric fact; industry is string"),
    (("knockouts.1.when", {"fact": "requested_amount_fen", "op": ">", "value": 1.5}),
     "requested_amount_fen is money, so > needs a whole number of fen"),
    (("knockouts.1.when", {"fact": "pd", "op": "in", "value": []}),
     "in needs a non-empty list of values"),
    (("knockouts.1.when", {"fact": "pd", "op": "is_true"}), "is_true needs a bool fact"),
    (("knockouts.1.when", {"fact": "pd", "op": "is_missing", "value": 1}),
     "is_missing takes no value"),
    (("knockouts.1.when", {"fact": "has_guarantor", "op": "==", "value": 1}),
     "has_guarantor is bool, so == needs true or false"),
    (("knockouts.1.when", {"all": []}), "knockouts[1].when.all: List should have at least 1 item"),
    (("knockouts.1.when", {"any": [{"fact": "pd", "op": ">"}]}),
     "knockouts[1].when.any[0]: > needs one value"),
    (("knockouts.1.message", "overdue {bureau_overdue_days}"),
     "placeholder {bureau_overdue_days} names no known fact"),
    (("knockouts.1.message", "overdue {pd:.2f}"), "takes no format or conversion"),
    (("knockouts.1.message", "overdue {"), "write a literal brace"),
    (("knockouts.1.code", "AGE"), "rule code AGE is used more than once"),
    (("knockouts.1.code", "HIGH_RISK"), "rule code HIGH_RISK is reserved for the engine"),
    (("grades.bands.1.max_pd", 0.01), "max_pd must rise strictly"),
    (("grades.bands.1.grade", "A"), "grade names must be unique"),
    (("grades.refer_pd_between", [0.08, 0.2]), "need lo <= hi <= the last band's max_pd"),
    (("grades.bands.0.max_pd", 0), "greater than 0"),
    (("pricing.grade_rates", {"A": "0.08", "B": "0.12"}), "pricing.grade_rates: needs exactly"),
    (("pricing.adjustments.0.add", "-0.0900"), "grade A's discounts could make its rate negative"),
    (("effective_from", "2026-13-01"), "effective_from"),
    (("facts", {"pd": "number"}), "facts.pd: a standard fact cannot be redeclared"),
    (("facts", {"shop_size": "length"}), "facts.shop_size"),
])
def test_invalid_documents_are_refused_saying_where_and_why(change, message):
    with pytest.raises(InvalidPolicy) as caught:
        load_policy(_set(*change))
    assert message in str(caught.value)
    assert isinstance(caught.value, DecisionError) and isinstance(caught.value, PuhuiError)
    assert isinstance(caught.value, ValueError)


def test_every_problem_is_listed_at_once():
    d = _set("knockouts.1.when", {"all": [{"fact": "nope", "op": "<", "value": 1},
                                          {"fact": "industry", "op": ">", "value": 1}]})
    d["knockouts"][0]["message"] = "{missing_fact}"
    text = str(pytest.raises(InvalidPolicy, load_policy, d).value)
    assert "knockouts[1].when.all[0]: unknown fact 'nope'" in text
    assert "knockouts[1].when.all[1]: > needs a numeric fact" in text
    assert "knockouts[0].message: placeholder {missing_fact}" in text


@pytest.mark.parametrize("source, message", [
    ("{not json", "Invalid JSON"), (b"[]", "Input should be an object"), (42, "a JSON document"),
    ({"a": {1, 2}}, "plain JSON data"), ({"a": float("nan")}, "plain JSON data"),
])
def test_what_is_not_a_policy_document(source, message):
    with pytest.raises(InvalidPolicy, match=message):
        load_policy(source)


def test_a_declared_extra_feature_can_be_read(tmp_path):
    d = doc(facts={"shop_floor_m2": "number"})
    d["knockouts"].append({"code": "TINY_SHOP", "action": "refer", "message": "{shop_floor_m2} m2",
                           "when": {"fact": "shop_floor_m2", "op": "<", "value": 5}})
    policy = load_policy(d)
    assert policy.kinds["shop_floor_m2"] == "number"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    assert read_policy(path) == policy
    with pytest.raises(InvalidPolicy, match="no policy file"):
        read_policy(tmp_path / "absent.json")


def test_messages_show_facts_for_people():
    kinds = POLICY.kinds
    text = render("revenue {verified_revenue_monthly_fen}, pd {pd}, {{literal}}, "
                  "loans {bureau_open_loans}", {"verified_revenue_monthly_fen": 1_234_567.0,
                                                "pd": 0.0425, "bureau_open_loans": None}, kinds)
    assert text == "revenue 12,345.67 yuan, pd 4.25%, {literal}, loans missing"


def test_policies_are_immutable():
    with pytest.raises(Exception):
        POLICY.version = "other"  # type: ignore[misc]
    assert isinstance(POLICY, Policy)


def test_the_documented_examples_of_the_shipped_policy():
    decider = PolicyDecider(default_policy(), FakeScorer())
    d = decider.decide(request(amount=200_000_00, features={
        **FEATURES, "verified_revenue_monthly_fen": 6_123_456.0}))
    assert (d.outcome, d.grade, d.amount, d.annual_rate) == (
        Outcome.APPROVE, "B", 122_400_00, Decimal("0.108"))
    assert [r.code for r in d.reasons] == ["LIMIT_REDUCED"]
    d = decider.decide(request(shop(monthly_revenue=80_000_00), amount=200_000_00, features={
        **FEATURES, "verified_revenue_monthly_fen": None}))
    assert (d.outcome, d.amount) == (Outcome.REFER, 80_000_00)
    assert [r.code for r in d.reasons] == ["REVENUE_UNVERIFIED", "LIMIT_REDUCED"]
    assert decider.decide(request()).outcome is Outcome.APPROVE
