"""The engine: rule order, each built-in rule, knock-outs and missing facts, grades and the grey
zone, exact limits, pricing under the rate cap, referrals, and the trace."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decision_samples import GOOD, POLICY, PRODUCT, doc, facts
from puhui.decision.engine import PolicyResult, evaluate
from puhui.decision.errors import InvalidFacts
from puhui.decision.policy import load_policy
from puhui.loans.product import RateCap
from puhui.decision.outcome import Outcome


def run(policy=POLICY, product=PRODUCT, cap=None, **changes) -> PolicyResult:
    return evaluate(policy, facts(**changes), product=product, platform_rate_cap=cap)


def codes(result: PolicyResult) -> list[str]:
    return [r.code for r in result.reasons]


def test_good_facts_are_approved_at_the_grade_rate():
    r = run()
    assert (r.outcome, r.grade, r.amount, r.annual_rate, r.limit, r.reasons) == (
        Outcome.APPROVE, "B", 100_000_00, Decimal("0.12"), 120_000_00, ())
    assert r.reason_code is None


def test_the_trace_shows_every_rule_in_order_with_the_values_it_read():
    r = run()
    assert [(t.step, t.rule) for t in r.trace] == [
        ("identity", "KYC_FAILED"), ("identity", "BLACKLISTED"), ("identity", "DATA_ERRORS"),
        ("knockout", "AGE"), ("knockout", "SERIOUS_DELINQUENCY"),
        ("knockout", "MANY_OPEN_LOANS"), ("grade", "GRADE"), ("limit", "LIMIT"),
        ("pricing", "PRICE"), ("pricing", "VOLATILE"), ("pricing", "RATE_CAP"),
        ("referral", "NEEDS_GUARANTOR"), ("referral", "LARGE_AMOUNT")]
    age = r.trace[3]
    assert age.facts == {"owner_age": 40} and age.result == "not_fired" and age.effect is None
    assert r.trace[6].facts == {"pd": 0.03} and r.trace[6].detail == "grade B"
    assert "limit 120,000.00 yuan" in r.trace[7].detail
    assert all(set(t.to_dict()) == {"step", "rule", "facts", "result", "effect", "detail"}
               for t in r.trace)


# -- 1. identity: KYC and blacklist first ------------------------------------------------------

def test_kyc_failures_decline_first_one_reason_per_failure():
    r = run(kyc_failures=2, kyc_failure_detail="owner mobile 138****8000: not a mobile\n"
                                               "business USCC 911100********341L was not checked",
            blacklisted=True, owner_age=12, pd=0.9)
    assert r.outcome is Outcome.DECLINE and (r.grade, r.amount, r.annual_rate) == (None,) * 3
    assert [(x.code, x.message) for x in r.reasons] == [
        ("KYC_FAILED", "owner mobile 138****8000: not a mobile"),
        ("KYC_FAILED", "business USCC 911100********341L was not checked")]
    assert [t.rule for t in r.trace] == ["KYC_FAILED"] and r.trace[0].effect == "decline"
    r = run(kyc_failures=3, kyc_failure_detail=None)
    assert [x.message for x in r.reasons] == ["3 identity checks failed or were not done"]


def test_the_blacklist_declines_before_any_knock_out():
    r = run(blacklisted=True, blacklist_version="bl-7", owner_age=99)
    assert codes(r) == ["BLACKLISTED"] and "(version bl-7)" in r.reasons[0].message
    assert r.trace[-1].rule == "BLACKLISTED"


@pytest.mark.parametrize("name, value", [("kyc_failures", None), ("kyc_failures", "0"),
                                         ("blacklisted", None), ("blacklisted", 0)])
def test_unknown_identity_outcomes_refer(name, value):
    r = run(**{name: value})
    assert r.outcome is Outcome.REFER and codes(r) == ["DATA_INCOMPLETE"]
    assert r.amount == 100_000_00 and r.grade == "B"


def test_data_problems_refer_with_what_went_wrong():
    r = run(data_errors=2, data_error_detail="connector: bureau timed out\nno features")
    assert r.outcome is Outcome.REFER and codes(r) == ["DATA_INCOMPLETE"]
    assert r.reasons[0].message == ("the application's data needs review: connector: bureau "
                                    "timed out; no features")


# -- 2. knock-outs and missing facts -----------------------------------------------------------

def test_a_declining_knock_out_ends_the_evaluation():
    r = run(owner_age=70)
    assert [(x.code, x.message) for x in r.reasons] == [("AGE", "the owner's age is 70")]
    assert r.trace[-1].rule == "AGE" and r.trace[-1].result == "fired"
    assert "grade" not in {t.step for t in r.trace}


def test_a_referring_knock_out_still_proposes_the_offer():
    r = run(bureau_open_loans=7.0)
    assert r.outcome is Outcome.REFER and codes(r) == ["MANY_OPEN_LOANS"]
    assert (r.grade, r.amount, r.annual_rate) == ("B", 100_000_00, Decimal("0.12"))
    assert r.reasons[0].message == "7 open loans"


@pytest.mark.parametrize("value", [None, "12", float("nan"), float("inf"), True, [90]])
def test_a_missing_or_malformed_fact_follows_on_missing(value):
    r = run(bureau_max_overdue_days=value)  # on_missing defaults to refer
    assert r.outcome is Outcome.REFER and codes(r) == ["DATA_INCOMPLETE"]
    assert r.reasons[0].message == ("SERIOUS_DELINQUENCY cannot be checked: "
                                    "bureau_max_overdue_days is missing or unusable")
    assert r.trace[4].result == "missing" and r.trace[4].effect == "refer"
    assert run(bureau_open_loans=value).outcome is Outcome.APPROVE  # on_missing: ignore
    strict = doc()
    strict["knockouts"][1]["on_missing"] = "decline"
    r = run(load_policy(strict), bureau_max_overdue_days=value)
    assert r.outcome is Outcome.DECLINE and codes(r) == ["SERIOUS_DELINQUENCY"]
    assert "cannot be checked" in r.reasons[0].message


def test_knock_outs_run_in_document_order():
    swapped = doc()
    swapped["knockouts"][0], swapped["knockouts"][1] = swapped["knockouts"][1], \
        swapped["knockouts"][0]
    both = {"owner_age": 80, "bureau_max_overdue_days": 120.0}
    assert codes(run(**both)) == ["AGE"]
    assert codes(run(load_policy(swapped), **both)) == ["SERIOUS_DELINQUENCY"]


# -- 3. grades and the grey zone -------------------------------------------------------------

@pytest.mark.parametrize("pd, grade, outcome, reasons", [
    (0.0, "A", Outcome.APPROVE, []), (0.02, "A", Outcome.APPROVE, []),
    (0.0200001, "B", Outcome.APPROVE, []), (0.05, "B", Outcome.APPROVE, []),
    (0.0799999, "C", Outcome.APPROVE, []), (0.08, "C", Outcome.REFER, ["PD_GREY_ZONE"]),
    (0.10, "C", Outcome.REFER, ["PD_GREY_ZONE"]),
    (0.1000001, None, Outcome.DECLINE, ["HIGH_RISK"]), (1.0, None, Outcome.DECLINE, ["HIGH_RISK"]),
    (None, None, Outcome.REFER, ["DATA_INCOMPLETE"]),
    (1.5, None, Outcome.REFER, ["DATA_INCOMPLETE"]),
    ("0.01", None, Outcome.REFER, ["DATA_INCOMPLETE"]),
])
def test_grades_by_calibrated_pd(pd, grade, outcome, reasons):
    r = run(pd=pd, requested_amount_fen=50_000_00)
    assert (r.grade, r.outcome, codes(r)) == (grade, outcome, reasons)
    if outcome is Outcome.REFER:
        assert r.amount == 50_000_00
        assert r.annual_rate == (None if grade is None else Decimal("0.18"))


def test_the_grade_messages_and_a_policy_that_declines_without_a_score():
    assert run(pd=0.25).reasons[0].message == ("the estimated probability of default 25.00% is "
                                               "above the policy's limit of 10.00%")
    assert "in the manual review band 8.00% to 10.00%" in run(pd=0.09).reasons[0].message
    strict = doc()
    strict["grades"]["on_missing"] = "decline"
    r = run(load_policy(strict), pd=None)
    assert r.outcome is Outcome.DECLINE and codes(r) == ["NO_SCORE"]


def test_without_a_grade_the_lowest_cap_applies_and_there_is_no_price():
    r = run(pd=None, requested_amount_fen=200_000_00)
    assert r.limit == 80_000_00 and r.amount == 80_000_00 and r.annual_rate is None
    assert codes(r) == ["DATA_INCOMPLETE", "LIMIT_REDUCED"]


# -- 4. limits: exact, rounded down to whole 100 yuan --------------------------------------

@pytest.mark.parametrize("changes, limit, amount, reasons", [
    ({}, 120_000_00, 100_000_00, []),
    ({"verified_revenue_monthly_fen": None}, 90_000_00, 90_000_00,
     ["REVENUE_UNVERIFIED", "LIMIT_REDUCED"]),  # 100,000 x 1.5 x (1 - 0.4)
    ({"verified_revenue_monthly_fen": "80000"}, 90_000_00, 90_000_00,
     ["REVENUE_UNVERIFIED", "LIMIT_REDUCED"]),
    ({"verified_revenue_monthly_fen": None, "declared_monthly_revenue_fen": None}, 200_000_00,
     100_000_00, ["DATA_INCOMPLETE"]),
    ({"verified_revenue_monthly_fen": 1_234_567.0}, 18_500_00, 18_500_00, ["LIMIT_REDUCED"]),
    ({"verified_revenue_monthly_fen": 8_000_000.000000001}, 120_000_00, 100_000_00, []),
    ({"verified_revenue_monthly_fen": 7_999_999.6}, 120_000_00, 100_000_00, []),
    ({"verified_revenue_monthly_fen": 1_000_000_00.0, "requested_amount_fen": 140_000_00},
     200_000_00, 140_000_00, []),  # the grade B cap
    ({"requested_amount_fen": None}, 120_000_00, 120_000_00, ["DATA_INCOMPLETE"]),
    ({"requested_amount_fen": 120_000_01}, 120_000_00, 120_000_00, ["LIMIT_REDUCED"]),
    ({"requested_amount_fen": 100_000_00.4}, 120_000_00, 100_000_00, []),
])
def test_limit_arithmetic(changes, limit, amount, reasons):
    r = run(**changes)
    assert (r.limit, r.amount, codes(r)) == (limit, amount, reasons)
    assert r.outcome is (Outcome.APPROVE if set(reasons) <= {"LIMIT_REDUCED"} else Outcome.REFER)


def test_the_counter_offer_and_the_product_limits():
    r = run(requested_amount_fen=150_000_00)
    assert r.reasons[0].message == ("requested 150,000.00 yuan; the limit is 120,000.00 yuan "
                                    "(1.5 x verified monthly revenue 80,000.00 yuan, capped, in "
                                    "whole 100 yuan)")
    narrow = PRODUCT.with_terms(max_principal=100_000_50)
    assert run(product=narrow, requested_amount_fen=110_000_00).amount == 100_000_00
    r = run(verified_revenue_monthly_fen=5_000_00.0)  # 7,500 yuan < the 10,000 minimum
    assert r.outcome is Outcome.DECLINE and codes(r) == ["LIMIT_REDUCED", "LOW_LIMIT"]
    assert r.reasons[1].message == ("the amount 7,500.00 yuan is below the product minimum of "
                                    "10,000.00 yuan")
    assert codes(run(requested_amount_fen=5_000_00)) == ["LOW_LIMIT"]
    assert codes(run(verified_revenue_monthly_fen=-1.0)) == ["LIMIT_REDUCED", "LOW_LIMIT"]


money = st.one_of(st.none(), st.integers(-10**9, 10**11),
                  st.floats(-1e9, 1e11, allow_nan=False).map(float))


@settings(max_examples=150, deadline=None)
@given(verified=money, declared=money, requested=st.one_of(st.none(), st.integers(1, 10**10)),
       pd=st.sampled_from([0.01, 0.03, 0.07, None]),
       share=st.sampled_from(["0.5", "1", "1.5", "2.75", "3.333333"]),
       haircut=st.sampled_from(["0", "0.25", "0.4", "0.999999"]),
       max_principal=st.integers(10_000_00, 10**9))
def test_limits_are_whole_hundreds_never_above_a_cap_or_the_request(
        verified, declared, requested, pd, share, haircut, max_principal):
    d = doc()
    d["limits"]["share_of_verified_revenue"], d["limits"]["declared_revenue_haircut"] = \
        share, haircut
    policy = load_policy(d)
    product = PRODUCT.with_terms(max_principal=max_principal)
    r = run(policy, product, verified_revenue_monthly_fen=verified, requested_amount_fen=requested,
            declared_monthly_revenue_fen=declared, pd=pd)
    if r.outcome is Outcome.DECLINE:
        assert codes(r)[-1] == "LOW_LIMIT" and r.amount is None
        return
    caps = policy.limits.grade_caps_fen
    cap = caps[r.grade] if r.grade else min(caps.values())
    assert r.limit % 100_00 == 0 and r.limit <= cap and r.limit <= max_principal
    assert r.amount <= r.limit and (requested is None or r.amount <= requested)
    assert r.amount >= PRODUCT.min_principal
    # the same limit from exact rational arithmetic
    whole = (lambda x: math.floor(Fraction(x) + Fraction(1, 2)) if isinstance(x, float) else x)
    v, dcl = whole(verified), whole(declared)
    if v is not None:
        exact = Fraction(v) * Fraction(share)
    elif dcl is not None:
        exact = Fraction(dcl) * Fraction(share) * (1 - Fraction(haircut))
    else:
        exact = Fraction(min(cap, max_principal))
    expected = (min(exact, Fraction(min(cap, max_principal))) // 100_00) * 100_00
    assert r.limit == expected


# -- 5. pricing and the rate cap -------------------------------------------------------------

def test_price_adjustments_add_to_the_grade_rate_and_say_why():
    r = run(revenue_cv_6m=0.8)
    assert (r.outcome, r.annual_rate, codes(r)) == (Outcome.APPROVE, Decimal("0.14"), ["VOLATILE"])
    assert r.reasons[0].message == "revenue varies by 0.8"
    r = run(revenue_cv_6m=None)  # on_missing: apply
    assert r.annual_rate == Decimal("0.14") and codes(r) == ["VOLATILE"]
    assert r.trace[9].detail.startswith("applied: revenue_cv_6m")


@pytest.mark.parametrize("on_missing, outcome, reasons, rate", [
    ("ignore", Outcome.APPROVE, [], Decimal("0.12")),
    ("refer", Outcome.REFER, ["DATA_INCOMPLETE"], Decimal("0.12")),
    ("decline", Outcome.DECLINE, ["VOLATILE"], None),
])
def test_a_price_adjustment_on_a_missing_fact(on_missing, outcome, reasons, rate):
    d = doc()
    d["pricing"]["adjustments"][0]["on_missing"] = on_missing
    r = run(load_policy(d), revenue_cv_6m=None)
    assert (r.outcome, codes(r), r.annual_rate) == (outcome, reasons, rate)


def test_a_price_above_the_rate_cap_declines_never_lends_cheaper():
    d = doc()
    d["pricing"]["rate_cap"] = {"annual_limit": "0.13", "label": "13% test cap"}
    policy = load_policy(d)
    assert run(policy).annual_rate == Decimal("0.12")
    r = run(policy, revenue_cv_6m=0.9)
    assert r.outcome is Outcome.DECLINE and codes(r) == ["VOLATILE", "RATE_CAP"]
    assert r.reasons[1].message == ("the grade B price 14.00% is above the 13% test cap of "
                                    "13.00%")
    d["pricing"]["rate_cap"]["annual_limit"] = "0.14"
    assert run(load_policy(d), revenue_cv_6m=0.9).outcome is Outcome.APPROVE  # at the cap is ok
    # the platform's cap applies on top of the policy's, whichever is lower binds
    platform = RateCap(Decimal("0.10"), "platform cap")
    r = run(cap=platform)
    assert codes(r) == ["RATE_CAP"] and "platform cap" in r.reasons[0].message
    assert codes(run(policy, cap=RateCap(Decimal("0.36")), revenue_cv_6m=0.9))[-1] == "RATE_CAP"
    assert run(cap=RateCap(Decimal("0.36"))).outcome is Outcome.APPROVE


# -- 6. referrals ------------------------------------------------------------------------------

def test_large_amounts_need_a_guarantor_and_a_reviewer():
    big = dict(verified_revenue_monthly_fen=200_000_00.0, requested_amount_fen=160_000_00)
    r = run(**big)
    assert r.outcome is Outcome.REFER and codes(r) == ["NEEDS_GUARANTOR"]
    assert r.amount == 160_000_00 and r.annual_rate == Decimal("0.12")
    assert run(has_guarantor=True, **big).outcome is Outcome.APPROVE
    assert codes(run(has_guarantor=None, **big)) == ["NEEDS_GUARANTOR"]
    r = run(pd=0.01, verified_revenue_monthly_fen=300_000_00.0, requested_amount_fen=400_000_00)
    assert codes(r) == ["NEEDS_GUARANTOR", "LARGE_AMOUNT"] and r.grade == "A"
    assert r.reasons[1].message == "amounts above 300,000.00 yuan are reviewed by hand"


# -- robustness --------------------------------------------------------------------------------

junk = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(),
                 st.text(max_size=5), st.lists(st.integers(), max_size=2))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(GOOD)), junk))
def test_any_values_at_all_give_a_coherent_result_never_an_exception(changes):
    r = run(**changes)
    assert r.reasons or r.outcome is Outcome.APPROVE
    if r.outcome is Outcome.DECLINE:
        assert (r.grade, r.amount, r.annual_rate, r.limit) == (None,) * 4
    else:
        assert r.amount >= PRODUCT.min_principal and r.limit % 100_00 == 0
    if r.outcome is Outcome.APPROVE:
        assert r.annual_rate is not None and r.grade is not None


def test_bad_engine_inputs_are_typed_errors():
    with pytest.raises(InvalidFacts, match="facts must be a mapping"):
        evaluate(POLICY, [1, 2], product=PRODUCT)  # type: ignore[arg-type]
    with pytest.raises(InvalidFacts, match="product must be a LoanProduct"):
        evaluate(POLICY, GOOD, product="SME12")  # type: ignore[arg-type]
    with pytest.raises(InvalidFacts, match="validated Policy"):
        evaluate(doc(), GOOD, product=PRODUCT)  # type: ignore[arg-type]
    with pytest.raises(InvalidFacts, match="RateCap"):
        evaluate(POLICY, GOOD, product=PRODUCT, platform_rate_cap=Decimal("0.24"))  # type: ignore
