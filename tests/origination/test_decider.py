"""The default credit policy: each rule firing in order, determinism, and the Decision record."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from origination_samples import ON, T0, account, company, person, shop
from puhui.errors import InvalidApplication, InvalidRate
from puhui.loans.product import LoanProduct, RateCap, RepaymentMethod
from puhui.decision.outcome import (
    Decider, Decision, DecisionRequest, Outcome, Reason, business_months, yuan,
)
from puhui.origination.default_policy import DefaultPolicy
from puhui.parties.identity import RESIDENT_ID_SOURCE, IdentityCheck, IdentityKind, mask
from puhui.parties.applicant import check_account_binding, verify_applicant

PRODUCT = LoanProduct("SME12", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"), term_periods=12)
POLICY = DefaultPolicy()
GUARANTOR = person("赵六", seq="777", mobile="18612345678")


def request(applicant=None, amount: int = 100_000_00, product: LoanProduct = PRODUCT,
            on: date = ON, checks=None) -> DecisionRequest:
    applicant = applicant or shop()
    if checks is None:
        checks = verify_applicant(applicant, on, T0)
    return DecisionRequest("app-1", applicant, amount, product, tuple(checks), on)


def codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


def test_a_good_application_is_approved_at_its_grade_rate():
    d = POLICY.decide(request())
    assert d == Decision(Outcome.APPROVE, (), 100_000_00, Decimal("0.108"), "B", "default-2026.11")
    assert d.model_version is None


# -- rule 1: KYC ---------------------------------------------------------------------------------

def failed(check: IdentityCheck, reason: str) -> IdentityCheck:
    return IdentityCheck(check.kind, check.subject, False, reason, check.source, check.checked_at,
                         check.details)


def test_each_failed_check_gives_one_kyc_reason():
    app = company(guarantors=(GUARANTOR,))
    checks = verify_applicant(app, ON, T0)
    checks[0] = failed(checks[0], "resident ID check digit is wrong")
    checks[4] = failed(checks[4], "a fixed-line number, not a mobile number")
    d = POLICY.decide(request(app, checks=checks))
    assert d.outcome is Outcome.DECLINE and (d.amount, d.annual_rate, d.grade) == (None, None, None)
    assert [(r.code, r.message) for r in d.reasons] == [
        ("KYC_FAILED", f"owner resident ID {mask(app.owner.resident_id)}: resident ID check "
                       "digit is wrong"),
        ("KYC_FAILED", f"guarantor 1 mobile number 186****5678: a fixed-line number, not a "
                       "mobile number")]


def test_a_failed_account_binding_check_declines():
    app = shop()
    binding = check_account_binding(app, account("别人"), checked_at=T0)
    d = POLICY.decide(request(app, checks=verify_applicant(app, ON, T0) + [binding]))
    assert codes(d) == ["KYC_FAILED"] and "is not the owner" in d.reasons[0].message


def test_numbers_nobody_checked_count_as_failed():
    d = POLICY.decide(request(company(guarantors=(GUARANTOR,)), checks=[]))
    assert codes(d) == ["KYC_FAILED"] * 5
    assert d.reasons[0].message.startswith("owner resident ID 110101********")
    assert d.reasons[0].message.endswith("was not checked")
    assert d.reasons[1].message == "owner mobile number 139****5678 was not checked"
    # a check about somebody else does not stand in for the owner's
    stranger = IdentityCheck(IdentityKind.RESIDENT_ID, "310101********0000", True, "ok",
                             RESIDENT_ID_SOURCE, T0)
    app = shop()
    others = [c for c in verify_applicant(app, ON, T0) if c.kind is IdentityKind.MOBILE]
    assert codes(POLICY.decide(request(app, checks=others + [stranger]))) == ["KYC_FAILED"]


def test_kyc_comes_before_every_other_rule():
    app = shop(monthly_revenue=0, established_on=None)
    checks = verify_applicant(app, ON, T0)
    checks[1] = failed(checks[1], "not a valid mainland China phone number")
    assert codes(POLICY.decide(request(app, checks=checks))) == ["KYC_FAILED"]


# -- rule 2: age -----------------------------------------------------------------------------------

@pytest.mark.parametrize("birth, outcome", [
    ("20080502", Outcome.DECLINE),  # 17
    ("20080501", Outcome.APPROVE),  # 18 today
    ("19610501", Outcome.APPROVE),  # 65 today
    ("19600501", Outcome.DECLINE),  # 66 today
    ("19600502", Outcome.APPROVE),  # 65, turns 66 tomorrow
])
def test_age_range_is_inclusive(birth, outcome):
    d = POLICY.decide(request(shop(owner=person(birth=birth))))
    assert d.outcome is outcome
    if outcome is Outcome.DECLINE:
        assert codes(d) == ["AGE"] and "aged 18 to 65" in d.reasons[0].message


def test_owner_born_after_the_decision_date_is_declined_on_age():
    app = shop(owner=person(birth="20200101"))
    checks = verify_applicant(app, date(2040, 1, 1), T0)  # checked on a later day
    d = POLICY.decide(request(app, on=date(2019, 1, 1), checks=checks))
    assert codes(d) == ["AGE"] and "not yet born" in d.reasons[0].message


def test_age_before_revenue():
    assert codes(POLICY.decide(request(shop(owner=person(birth="20100101"),
                                            monthly_revenue=0)))) == ["AGE"]


# -- rule 3: revenue -------------------------------------------------------------------------------

def test_revenue_below_the_minimum_declines():
    d = POLICY.decide(request(shop(monthly_revenue=9_999_99), amount=10_000_00))
    assert codes(d) == ["LOW_REVENUE"]
    assert d.reasons[0].message == ("monthly revenue 9,999.99 yuan is below the minimum of "
                                    "10,000.00 yuan")
    ok = POLICY.decide(request(shop(monthly_revenue=10_000_00), amount=20_000_00))
    assert ok.outcome is Outcome.APPROVE and ok.grade == "C"


# -- rule 4: business age --------------------------------------------------------------------------

@pytest.mark.parametrize("established, outcome", [
    (date(2025, 11, 2), Outcome.DECLINE),  # 5 whole months
    (date(2025, 11, 1), Outcome.APPROVE),  # 6 months today
    (date(2027, 1, 1), Outcome.DECLINE),   # not yet established
])
def test_business_must_have_traded_long_enough(established, outcome):
    d = POLICY.decide(request(shop(established_on=established)))
    assert d.outcome is outcome
    if outcome is Outcome.DECLINE:
        assert codes(d) == ["BUSINESS_TOO_YOUNG"]


def test_missing_establishment_date_refers_with_a_proposal():
    d = POLICY.decide(request(shop(established_on=None)))
    assert d.outcome is Outcome.REFER and codes(d) == ["NO_ESTABLISHMENT_DATE"]
    assert (d.amount, d.annual_rate, d.grade) == (100_000_00, Decimal("0.108"), "B")


def test_business_months():
    assert business_months(date(2025, 8, 31), date(2026, 2, 28)) == 6
    assert business_months(date(2025, 8, 31), date(2026, 2, 27)) == 5
    assert business_months(date(2026, 1, 15), date(2026, 1, 14)) == -1
    assert business_months(date(2026, 1, 15), date(2026, 1, 15)) == 0


# -- rule 5 and 6: limit ---------------------------------------------------------------------------

def test_a_request_above_the_limit_gets_a_counter_offer_in_whole_100_yuan():
    d = POLICY.decide(request(shop(monthly_revenue=33_333_33), amount=200_000_00))
    assert d.outcome is Outcome.APPROVE and codes(d) == ["LIMIT_REDUCED"]
    assert d.amount == 99_900_00  # 3 x 33,333.33 = 99,999.99, rounded down
    assert "requested 200,000.00 yuan; the limit is 99,900.00 yuan" in d.reasons[0].message
    assert POLICY.limit(33_333_33, PRODUCT) == 99_900_00


def test_the_product_maximum_caps_the_limit():
    product = PRODUCT.with_terms(max_principal=50_000_00)
    d = POLICY.decide(request(amount=80_000_00, product=product))
    assert (d.outcome, d.amount, codes(d)) == (Outcome.APPROVE, 50_000_00, ["LIMIT_REDUCED"])


def test_limit_below_the_product_minimum_declines():
    product = PRODUCT.with_terms(min_principal=50_000_00)
    d = POLICY.decide(request(shop(monthly_revenue=10_000_00), amount=60_000_00, product=product))
    assert codes(d) == ["LOW_LIMIT"]
    assert POLICY.decide(request(amount=10_000_00, product=product)).reasons[0].code == "LOW_LIMIT"


# -- rule 7: rate cap ------------------------------------------------------------------------------

def test_rate_cap_declines_grades_priced_above_it():
    capped = DefaultPolicy(rate_cap=RateCap(Decimal("0.12"), "12% cap"))
    d = capped.decide(request(shop(monthly_revenue=20_000_00), amount=20_000_00))
    assert codes(d) == ["RATE_CAP"] and "grade C rate 14.40% is above the 12% cap" in \
        d.reasons[0].message
    assert capped.decide(request()).outcome is Outcome.APPROVE


# -- rules 8 and 9: referrals ----------------------------------------------------------------------

def test_large_amounts_need_a_guarantor():
    app = shop(monthly_revenue=150_000_00)
    d = POLICY.decide(request(app, amount=400_000_00))
    assert (d.outcome, codes(d), d.grade) == (Outcome.REFER, ["NEEDS_GUARANTOR"], "A")
    assert d.amount == 400_000_00 and d.annual_rate == Decimal("0.072")
    assert POLICY.decide(request(shop(monthly_revenue=150_000_00, guarantors=(GUARANTOR,)),
                                 amount=400_000_00)).outcome is Outcome.APPROVE
    assert POLICY.decide(request(app, amount=300_000_00)).outcome is Outcome.APPROVE


def test_amounts_above_the_review_threshold_are_referred():
    rich = shop(monthly_revenue=300_000_00)
    assert codes(POLICY.decide(request(rich, amount=600_000_00))) == ["NEEDS_GUARANTOR",
                                                                      "LARGE_AMOUNT"]
    backed = shop(monthly_revenue=300_000_00, guarantors=(GUARANTOR,))
    assert codes(POLICY.decide(request(backed, amount=600_000_00))) == ["LARGE_AMOUNT"]
    assert POLICY.decide(request(backed, amount=500_000_00)).outcome is Outcome.APPROVE


def test_reasons_accumulate_in_rule_order_on_a_referral():
    app = shop(monthly_revenue=200_000_00, established_on=None)
    d = POLICY.decide(request(app, amount=900_000_00))
    assert codes(d) == ["NO_ESTABLISHMENT_DATE", "LIMIT_REDUCED", "NEEDS_GUARANTOR",
                        "LARGE_AMOUNT"]
    assert d.amount == 600_000_00


# -- grades and configuration ----------------------------------------------------------------------

@pytest.mark.parametrize("revenue, grade, rate", [
    (100_000_00, "A", "0.072"), (99_999_99, "B", "0.108"), (30_000_00, "B", "0.108"),
    (29_999_99, "C", "0.144"), (10_000_00, "C", "0.144"),
])
def test_grade_is_the_first_whose_revenue_floor_is_met(revenue, grade, rate):
    d = POLICY.decide(request(shop(monthly_revenue=revenue), amount=20_000_00))
    assert (d.grade, d.annual_rate) == (grade, Decimal(rate))


def test_thresholds_are_data():
    strict = DefaultPolicy(version="strict-1", min_age=45, min_monthly_revenue=60_000_00,
                           revenue_multiple=Decimal("1.5"),
                           grade_rates=(("X", 60_000_00, Decimal("0.09")),))
    assert codes(strict.decide(request())) == ["AGE"]
    older = shop(owner=person(birth="19700101"), monthly_revenue=60_000_00)
    d = strict.decide(request(older, amount=100_000_00))
    assert (d.amount, d.grade, d.policy_version) == (90_000_00, "X", "strict-1")


@pytest.mark.parametrize("changes", [
    {"min_age": 70}, {"min_age": -1}, {"refer_above": 1.5}, {"revenue_multiple": 3},
    {"revenue_multiple": Decimal(0)}, {"grade_rates": ()},
    {"grade_rates": (("A", 10_000_00, Decimal("0.1")), ("B", 20_000_00, Decimal("0.2")))},
    {"grade_rates": (("A", 20_000_00, Decimal("0.1")),)},  # min revenue 10,000 has no grade
    {"version": ""},
])
def test_inconsistent_policies_are_refused(changes):
    with pytest.raises(ValueError):
        DefaultPolicy(**changes)


def test_float_grade_rates_are_refused():
    with pytest.raises(InvalidRate):
        DefaultPolicy(grade_rates=(("A", 0, 0.1),))  # type: ignore[arg-type]


def test_any_object_with_a_version_and_decide_is_a_decider():
    class Always:
        version = "always-1"

        def decide(self, request: DecisionRequest) -> Decision:
            return Decision(Outcome.REFER, (Reason("MANUAL", "everything is reviewed"),), None,
                            None, None, self.version)

    assert isinstance(POLICY, Decider) and isinstance(Always(), Decider)
    assert not isinstance(object(), Decider)


# -- determinism -----------------------------------------------------------------------------------

def test_decide_never_reads_the_clock(monkeypatch):
    import puhui.calendar
    import puhui.parties.identity
    import puhui.parties.applicant

    req = request()

    def no_clock():
        raise AssertionError("decide read the clock")

    for module in (puhui.calendar, puhui.parties.identity, puhui.parties.applicant):
        monkeypatch.setattr(module, "utcnow", no_clock)
    assert POLICY.decide(req) == POLICY.decide(req)


@settings(deadline=None)
@given(revenue=st.integers(0, 2_000_000_00), amount=st.integers(1, 2_000_000_00),
       established=st.none() | st.dates(date(2015, 1, 1), date(2027, 1, 1)),
       guaranteed=st.booleans())
def test_policy_properties(revenue, amount, established, guaranteed):
    app = shop(monthly_revenue=revenue, established_on=established,
               guarantors=(GUARANTOR,) if guaranteed else ())
    req = request(app, amount=amount)
    d = POLICY.decide(req)
    assert d == POLICY.decide(req)
    assert Decision.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    if d.outcome is Outcome.DECLINE:
        assert codes(d) in (["LOW_REVENUE"], ["BUSINESS_TOO_YOUNG"], ["LOW_LIMIT"])
        return
    assert d.amount is not None
    assert PRODUCT.min_principal <= d.amount <= min(amount, POLICY.limit(revenue, PRODUCT))
    if d.amount < amount:
        assert "LIMIT_REDUCED" in codes(d) and d.amount % 100_00 == 0
    refer = (established is None or d.amount > POLICY.refer_above
             or (d.amount > POLICY.guarantor_above and not guaranteed))
    assert (d.outcome is Outcome.REFER) == refer


# -- the records -----------------------------------------------------------------------------------

reasons = st.builds(Reason, st.text("ABCDEFG_", min_size=1, max_size=12),
                    st.text(min_size=1, max_size=40).filter(str.strip))
decisions = st.one_of(
    st.builds(Decision, st.just(Outcome.APPROVE), st.lists(reasons, max_size=2).map(tuple),
              st.integers(1, 10**10), st.decimals("0", "0.36", places=4),
              st.none() | st.sampled_from("ABC"), st.just("p-1"), st.none() | st.just("m-7")),
    st.builds(Decision, st.just(Outcome.REFER),
              st.lists(reasons, min_size=1, max_size=2).map(tuple),
              st.none() | st.integers(1, 10**10), st.none() | st.decimals("0", "0.36", places=4),
              st.none() | st.sampled_from("ABC"), st.just("p-1")),
    st.builds(Decision, st.just(Outcome.DECLINE), st.lists(reasons, min_size=1, max_size=2)
              .map(tuple), st.none(), st.none(), st.none(), st.just("p-1")),
)


@settings(deadline=None)
@given(decisions)
def test_decision_round_trips_with_rates_as_text(decision):
    data = decision.to_dict()
    assert data["annual_rate"] is None or isinstance(data["annual_rate"], str)
    assert Decision.from_dict(json.loads(json.dumps(data))) == decision


@pytest.mark.parametrize("args", [
    (Outcome.APPROVE, (), None, Decimal("0.1"), "A", "p"),
    (Outcome.APPROVE, (), 100, None, "A", "p"),
    (Outcome.APPROVE, (), 0, Decimal("0.1"), "A", "p"),
    (Outcome.DECLINE, (Reason("X", "y"),), 100, None, None, "p"),
    (Outcome.DECLINE, (), None, None, None, "p"),
    (Outcome.REFER, (), 100, Decimal("0.1"), "A", "p"),
    ("maybe", (Reason("X", "y"),), None, None, None, "p"),
    (Outcome.APPROVE, (), 100, Decimal("0.1"), "A", " "),
])
def test_inconsistent_decisions_are_refused(args):
    with pytest.raises(InvalidApplication):
        Decision(*args)


def test_decision_from_dict_refuses_bad_records():
    good = POLICY.decide(request()).to_dict()
    for change in ({"amount": "100"}, {"annual_rate": 0.1}, {"reasons": [{"code": "X"}]},
                   {"outcome": "yes"}, {"extra": 1}):
        with pytest.raises((InvalidApplication, InvalidRate)):
            Decision.from_dict({**good, **change})


def test_decision_request_validation():
    with pytest.raises(InvalidApplication):
        request(amount=0)
    with pytest.raises(InvalidApplication):
        DecisionRequest("a", shop(), 100, PRODUCT, ("check",), ON)  # type: ignore[arg-type]
    with pytest.raises(InvalidApplication):
        DecisionRequest("a", shop().to_dict(), 100, PRODUCT, (), ON)  # type: ignore[arg-type]


def test_yuan():
    assert yuan(1234567) == "12,345.67 yuan" and yuan(5) == "0.05 yuan" and yuan(-150) == \
        "-1.50 yuan"
