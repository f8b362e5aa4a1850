"""Every policy Puhui ships, tested at the edges of every threshold it states.

The other decision tests use a small sample policy, so a changed threshold in a shipped
document (`owner_age < 18` becoming `<= 18`) would pass them all.  Two layers here:

- `STATED`: for each shipped file, the edges written down in docs/decision.md ("owner aged
  18-65", "at most 2 months in arrears"...), typed in by hand and never read from the JSON, with
  a value just inside and just outside each.  Editing a threshold in a shipped document fails
  these until the documentation and this table are changed with it, on purpose.
- Edges read from each document: every comparison of every knock-out and price adjustment, the
  grade bands and the grey zone, checked on both sides and exactly at the edge, against an
  evaluation of the condition done here with Python's own operators.  This checks the engine
  applies whatever a shipped policy says, `<` as `<` and `<=` as `<=`.

A new file in `puhui/decision/policies/` fails `test_every_shipped_policy_states_its_edges`
until its edges are added to `STATED`.
"""

from __future__ import annotations

import operator
from decimal import Decimal
from importlib import resources
from typing import Any, Iterator

import pytest

from decision_samples import FEATURES, PRODUCT
from puhui.decision.conditions import AllOf, AnyOf, Leaf
from puhui.decision.engine import PolicyResult, evaluate
from puhui.decision.policy import Policy, default_policy, load_policy
from puhui.decision.outcome import Outcome

POLICY_DIR = resources.files("puhui.decision").joinpath("policies")
SHIPPED = sorted(p.name for p in POLICY_DIR.iterdir() if p.name.endswith(".json"))

#: Facts every shipped policy approves without a reason: grade A, 100,000 yuan asked for, a
#: limit (2 x 300,000 yuan of verified revenue, capped) far above it.
CLEAN: dict[str, Any] = {
    "owner_age": 40, "business_months": 36, "declared_monthly_revenue_fen": 300_000_00,
    "requested_amount_fen": 100_000_00, "has_guarantor": False, "kyc_failures": 0,
    "kyc_failure_detail": None, "blacklisted": False, "blacklist_version": None,
    "applicant_kind": "individual_business", "industry": "retail", "region_code": "110101",
    "data_errors": 0, "data_error_detail": None,
    **FEATURES, "revenue_avg_3m_fen": 300_000_00.0, "verified_revenue_monthly_fen": 300_000_00.0,
    "pd": 0.01, "score": 650.0, "pd_challenger": 0.012,
}

#: What docs/decision.md says each shipped policy does, per file.  Knock-outs and adjustments:
#: (code, action, fact, a value that passes, the nearest value that triggers the rule).
#: Grades: (pd, grade or None for HIGH_RISK, referred to the grey zone).  Referrals: (code,
#: requested fen that passes, the nearest that is referred).
STATED: dict[str, dict[str, list[tuple]]] = {
    "sme-2026.11.json": {
        "knockouts": [
            ("AGE", "decline", "owner_age", 18, 17),
            ("AGE", "decline", "owner_age", 65, 66),
            ("BUSINESS_TOO_YOUNG", "decline", "business_months", 6, 5),
            ("LOW_REVENUE", "decline", "declared_monthly_revenue_fen", 10_000_00, 10_000_00 - 1),
            ("SHORT_HISTORY", "decline", "months_of_history", 6.0, 5.0),
            ("SERIOUS_DELINQUENCY", "decline", "bureau_max_overdue_days", 90.0, 91.0),
            ("RECENT_ARREARS", "decline", "bureau_overdue_months_12m", 2.0, 3.0),
            ("CREDIT_SEEKING", "decline", "bureau_enquiries_3m", 8.0, 9.0),
            ("MANY_OPEN_LOANS", "refer", "bureau_open_loans", 5.0, 6.0),
            ("REVENUE_MISMATCH", "refer", "tax_sales_consistency", 0.6, 0.5999),
            ("CASH_OUTFLOW", "refer", "bank_inflow_outflow_ratio_3m", 0.9, 0.8999),
            ("REVENUE_FALLING", "refer", "revenue_trend_12m", -0.3, -0.3001),
            ("NEW_DEVICES", "refer", "app_new_devices_30d", 2.0, 3.0),
        ],
        "adjustments": [
            ("VOLATILE_REVENUE", Decimal("0.0150"), "revenue_cv_6m", 0.5, 0.5001),
            ("LATE_UTILITY_BILLS", Decimal("0.0100"), "utility_late_payments_12m", 1.0, 2.0),
        ],
        "grades": [
            (0.02, "A", False), (0.0201, "B", False), (0.04, "B", False), (0.0401, "C", False),
            (0.07, "C", False), (0.0701, "D", False), (0.0999, "D", False), (0.10, "D", True),
            (0.12, "D", True), (0.1201, None, False),
        ],
        "referrals": [
            ("NEEDS_GUARANTOR", 300_000_00, 300_000_00 + 100_00),
            ("LARGE_AMOUNT", 400_000_00, 400_000_00 + 100_00),
        ],
    },
}


def shipped(name: str) -> Policy:
    return load_policy(POLICY_DIR.joinpath(name).read_bytes())


def run(policy: Policy, **changes: Any) -> PolicyResult:
    return evaluate(policy, {**CLEAN, **changes}, product=PRODUCT)


def fired(result: PolicyResult, step: str, code: str) -> bool:
    entries = [t for t in result.trace if t.step == step and t.rule == code]
    assert len(entries) == 1, f"{code} was not evaluated: {[t.rule for t in result.trace]}"
    return entries[0].result == "fired"


def codes(result: PolicyResult) -> list[str]:
    return [r.code for r in result.reasons]


def test_every_shipped_policy_states_its_edges() -> None:
    assert "sme-2026.11.json" in SHIPPED and set(SHIPPED) == set(STATED)
    for name in SHIPPED:
        policy, stated = shipped(name), STATED[name]
        assert {k[0] for k in stated["knockouts"]} == {r.code for r in policy.knockouts}, name
        assert {a[0] for a in stated["adjustments"]} == {
            a.code for a in policy.pricing.adjustments}, name
        # every fact a knock-out compares has a stated edge for each of its comparisons
        for rule in policy.knockouts:
            edges = [k for k in stated["knockouts"] if k[0] == rule.code]
            assert len(edges) == len(list(_leaves(rule.when))), rule.code


@pytest.mark.parametrize("name", SHIPPED)
def test_clean_facts_are_approved_without_a_reason(name: str) -> None:
    result = run(shipped(name))
    assert result.outcome is Outcome.APPROVE and result.reasons == (), codes(result)


# -- the edges as documented ---------------------------------------------------------------------

def _stated(kind: str) -> list[Any]:
    return list(_stated_edges(kind))


def _stated_edges(kind: str) -> Iterator[Any]:
    for name in SHIPPED:
        for edge in STATED.get(name, {}).get(kind, []):
            yield pytest.param(name, *edge, id=f"{name}-{edge[0]}-{edge[-2]}/{edge[-1]}")


@pytest.mark.parametrize("name, code, action, fact, passes, triggers", _stated("knockouts"))
def test_each_stated_knock_out_at_its_edge(name, code, action, fact, passes, triggers) -> None:
    policy = shipped(name)
    inside = run(policy, **{fact: passes})
    assert not fired(inside, "knockout", code) and code not in codes(inside)
    assert inside.outcome is Outcome.APPROVE, codes(inside)
    outside = run(policy, **{fact: triggers})
    assert fired(outside, "knockout", code) and codes(outside) == [code]
    assert outside.outcome is {"decline": Outcome.DECLINE, "refer": Outcome.REFER}[action]


@pytest.mark.parametrize("name, code, add, fact, passes, triggers", _stated("adjustments"))
def test_each_stated_price_adjustment_at_its_edge(name, code, add, fact, passes,
                                                  triggers) -> None:
    policy = shipped(name)
    base = run(policy, **{fact: passes})
    assert not fired(base, "pricing", code) and base.annual_rate == policy.pricing.grade_rates["A"]
    raised = run(policy, **{fact: triggers})
    assert fired(raised, "pricing", code) and code in codes(raised)
    assert raised.annual_rate == base.annual_rate + add


@pytest.mark.parametrize("name, pd, grade, grey", [
    pytest.param(name, *edge, id=f"{name}-pd-{edge[0]}")
    for name in SHIPPED for edge in STATED.get(name, {}).get("grades", [])])
def test_each_stated_grade_edge(name, pd, grade, grey) -> None:
    result = run(shipped(name), pd=pd)
    if grade is None:
        assert result.outcome is Outcome.DECLINE and codes(result) == ["HIGH_RISK"]
        return
    assert result.grade == grade
    assert ("PD_GREY_ZONE" in codes(result)) is grey
    assert result.outcome is (Outcome.REFER if grey else Outcome.APPROVE)


@pytest.mark.parametrize("name, code, passes, referred", _stated("referrals"))
def test_each_stated_referral_amount_at_its_edge(name, code, passes, referred) -> None:
    policy = shipped(name)
    at = run(policy, requested_amount_fen=passes)
    assert at.amount == passes and not fired(at, "referral", code), codes(at)
    above = run(policy, requested_amount_fen=referred)
    assert above.amount == referred and fired(above, "referral", code)
    assert code in codes(above) and above.outcome is Outcome.REFER


def test_the_default_policy_lends_to_owners_aged_18_to_65() -> None:
    """The shipped default, by name: 17 and 66 declined for AGE, 18 and 65 not."""
    policy = default_policy()
    assert policy.version == "sme-2026.11"
    for age in (17, 66, 12, 99):
        result = run(policy, owner_age=age)
        assert result.outcome is Outcome.DECLINE and codes(result) == ["AGE"], age
        assert str(age) in result.reasons[0].message
    for age in (18, 19, 40, 64, 65):
        result = run(policy, owner_age=age)
        assert result.outcome is Outcome.APPROVE and not fired(result, "knockout", "AGE"), age


# -- the edges read from each document: the engine applies what the document says ----------------

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _leaves(node: Any) -> Iterator[Leaf]:
    if isinstance(node, Leaf):
        yield node
    else:
        for child in node.all if isinstance(node, AllOf) else node.any:
            yield from _leaves(child)


def _holds(node: Any, facts: dict[str, Any]) -> bool:
    """The condition evaluated here, independently of the engine (ordering comparisons)."""
    if isinstance(node, Leaf):
        assert node.op in _OPS, f"add an oracle for {node.op!r} to test shipped policies"
        return _OPS[node.op](facts[node.fact], node.value)
    if isinstance(node, AllOf):
        return all(_holds(child, facts) for child in node.all)
    assert isinstance(node, AnyOf)
    return any(_holds(child, facts) for child in node.any)


def _around(value: int | float) -> list[int | float]:
    """The edge itself and the nearest values either side a policy could mean."""
    step = 1 if float(value).is_integer() else 0.0001
    return [value - step, value, value + step]


def _document_edges(kind: str) -> list[Any]:
    return list(_edges_in_documents(kind))


def _edges_in_documents(kind: str) -> Iterator[Any]:
    for name in SHIPPED:
        policy = shipped(name)
        rules = policy.knockouts if kind == "knockout" else policy.pricing.adjustments
        for rule in rules:
            for leaf in _leaves(rule.when):
                for value in _around(leaf.value):
                    yield pytest.param(name, rule.code, leaf.fact, value,
                                       id=f"{name}-{rule.code}-{leaf.fact}{leaf.op}{value}")


@pytest.mark.parametrize("name, code, fact, value", _document_edges("knockout"))
def test_each_knock_out_as_its_document_states_it(name, code, fact, value) -> None:
    policy = shipped(name)
    (rule,) = [r for r in policy.knockouts if r.code == code]
    expected = _holds(rule.when, {**CLEAN, fact: value})
    result = run(policy, **{fact: value})
    assert fired(result, "knockout", code) is expected
    assert (code in codes(result)) is expected
    if expected and rule.action == "decline":
        assert result.outcome is Outcome.DECLINE and result.amount is None
    elif expected:
        assert result.outcome is Outcome.REFER and result.amount == CLEAN["requested_amount_fen"]
    else:
        assert result.outcome is Outcome.APPROVE, codes(result)


@pytest.mark.parametrize("name, code, fact, value", _document_edges("adjustment"))
def test_each_price_adjustment_as_its_document_states_it(name, code, fact, value) -> None:
    policy = shipped(name)
    (rule,) = [a for a in policy.pricing.adjustments if a.code == code]
    expected = _holds(rule.when, {**CLEAN, fact: value})
    result = run(policy, **{fact: value})
    assert fired(result, "pricing", code) is expected
    grade_rate = policy.pricing.grade_rates[result.grade]
    assert result.annual_rate == grade_rate + (rule.add if expected else 0)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_grade_band_and_the_grey_zone_as_the_document_states_them(name) -> None:
    policy = shipped(name)
    bands, zone = policy.grades.bands, policy.grades.refer_pd_between
    for i, band in enumerate(bands):
        at = run(policy, pd=band.max_pd)
        assert at.grade == band.grade, (band.max_pd, at.grade)
        above = run(policy, pd=band.max_pd + 0.0001)
        if i + 1 < len(bands):
            assert above.grade == bands[i + 1].grade
        else:
            assert above.outcome is Outcome.DECLINE and codes(above) == ["HIGH_RISK"]
    if zone is not None:
        low, high = zone
        for pd, grey in ((low - 0.0001, False), (low, True), (high, True)):
            result = run(policy, pd=pd)
            assert ("PD_GREY_ZONE" in codes(result)) is grey, pd
