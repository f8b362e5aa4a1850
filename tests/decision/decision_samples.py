"""Shared samples for the decision-engine tests: a small policy, facts it approves, a product,
valid applicants and requests, and a fake scorer."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Mapping

import polars as pl
from stdnum.cn import ric

from puhui.decision.policy import Policy, load_policy
from puhui.decision.scoring import ModelScores
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.decision.outcome import DecisionRequest
from puhui.parties.applicant import Applicant, ApplicantKind, Person, verify_applicant
from puhui.risk.reasons import ReasonCode

ON = date(2026, 11, 15)
T0 = datetime(2026, 11, 15, 8, 0, tzinfo=timezone.utc)
PRODUCT = LoanProduct("SME12", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"),
                      term_periods=12, min_principal=10_000_00, max_principal=500_000_00)

DOC: dict[str, Any] = {
    "name": "test-policy",
    "version": "test-1",
    "description": "a small policy for the tests",
    "effective_from": "2026-11-01",
    "knockouts": [
        {"code": "AGE", "action": "decline",
         "message": "the owner's age is {owner_age}",
         "when": {"any": [{"fact": "owner_age", "op": "<", "value": 18},
                          {"fact": "owner_age", "op": ">", "value": 65}]}},
        {"code": "SERIOUS_DELINQUENCY", "action": "decline",
         "message": "overdue {bureau_max_overdue_days} days",
         "when": {"fact": "bureau_max_overdue_days", "op": ">", "value": 90}},
        {"code": "MANY_OPEN_LOANS", "action": "refer", "on_missing": "ignore",
         "message": "{bureau_open_loans} open loans",
         "when": {"fact": "bureau_open_loans", "op": ">", "value": 5}},
    ],
    "grades": {"bands": [{"grade": "A", "max_pd": 0.02}, {"grade": "B", "max_pd": 0.05},
                         {"grade": "C", "max_pd": 0.10}],
               "refer_pd_between": [0.08, 0.10]},
    "limits": {"share_of_verified_revenue": "1.5", "declared_revenue_haircut": "0.4",
               "grade_caps_fen": {"A": 500_000_00, "B": 200_000_00, "C": 80_000_00}},
    "pricing": {"rate_cap": {"annual_limit": "0.24", "label": "24% cap"},
                "grade_rates": {"A": "0.0800", "B": "0.1200", "C": "0.1800"},
                "adjustments": [
                    {"code": "VOLATILE", "add": "0.0200", "on_missing": "apply",
                     "message": "revenue varies by {revenue_cv_6m}",
                     "when": {"fact": "revenue_cv_6m", "op": ">", "value": 0.5}}]},
    "referrals": {"guarantor_above_fen": 150_000_00, "refer_above_fen": 300_000_00},
}


def doc(**changes: Any) -> dict[str, Any]:
    """A deep copy of DOC with top-level changes."""
    d = copy.deepcopy(DOC)
    d.update(copy.deepcopy(changes))
    return d


POLICY: Policy = load_policy(DOC)

#: Facts POLICY approves: grade B, 100,000 yuan at 12%.
GOOD: dict[str, Any] = {
    "owner_age": 40, "business_months": 36, "declared_monthly_revenue_fen": 100_000_00,
    "requested_amount_fen": 100_000_00, "has_guarantor": False, "kyc_failures": 0,
    "kyc_failure_detail": None, "blacklisted": False, "blacklist_version": None,
    "applicant_kind": "individual_business", "industry": "retail", "region_code": "110101",
    "data_errors": 0, "data_error_detail": None,
    "verified_revenue_monthly_fen": 80_000_00.0, "bureau_max_overdue_days": 0.0,
    "bureau_open_loans": 1.0, "revenue_cv_6m": 0.2, "pd": 0.03, "score": 610.0,
    "pd_challenger": 0.035,
}


def facts(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def person(name: str = "张三", birth: str = "19850307", seq: str = "123",
           mobile: str = "13800138000") -> Person:
    body = "110101" + birth + seq
    return Person(name, body + ric.calc_check_digit(body + "0"), mobile)


def shop(**changes: Any) -> Applicant:
    values = dict(kind=ApplicantKind.INDIVIDUAL_BUSINESS, business_name="张三小吃店",
                  owner=person(), industry="catering", region_code="110101",
                  established_on=date(2021, 3, 1), monthly_revenue=100_000_00)
    values.update(changes)
    return Applicant(**values)


FEATURES: dict[str, float | None] = {
    "months_of_history": 30.0, "revenue_avg_3m_fen": 85_000_00.0,
    "verified_revenue_monthly_fen": 80_000_00.0, "revenue_trend_12m": 0.1,
    "revenue_cv_6m": 0.2, "tax_sales_consistency": 0.9, "bureau_open_loans": 1.0,
    "bureau_total_balance_fen": 50_000_00.0, "bureau_overdue_months_12m": 0.0,
    "bureau_max_overdue_days": 0.0, "bureau_enquiries_3m": 1.0, "bureau_enquiries_6m": 2.0,
    "utility_late_payments_12m": 0.0, "electricity_growth_yoy": 0.05,
    "bank_inflow_outflow_ratio_3m": 1.2, "bank_min_balance_3m_fen": 5_000_00.0,
    "app_new_devices_30d": 0.0, "app_logins_30d": 20.0,
}


def request(applicant: Applicant | None = None, amount: int = 100_000_00,
            features: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
            checks: list | None = None, product: LoanProduct = PRODUCT) -> DecisionRequest:
    applicant = applicant or shop()
    if checks is None:
        checks = verify_applicant(applicant, ON, T0)
    if data is None:
        data = {"features": dict(FEATURES if features is None else features)}
    return DecisionRequest("app-1", applicant, amount, product, tuple(checks), ON, data)


@dataclass
class FakeScorer:
    """Scores every business the same; counts calls."""

    pd: float | None = 0.03
    points: float | None = 610.0
    reasons: tuple[ReasonCode, ...] = (
        ReasonCode("bureau_enquiries_3m", 7.0, 25.0, "points",
                   "bureau enquiries 3m is 7: 25.0 points below the best bin"),
        ReasonCode("revenue_cv_6m", 0.9, 12.5, "points",
                   "revenue cv 6m is 0.9: 12.5 points below the best bin"))
    model_versions: dict[str, str] = field(default_factory=lambda: {
        "champion": "sme-scorecard-20261101T000000Z-0badc0de",
        "challenger": "sme-gbm-20261101T000000Z-0badf00d"})
    calls: int = 0

    def score(self, features: Mapping[str, float | None]) -> ModelScores:
        self.calls += 1
        return ModelScores(self.pd, self.points, None if self.pd is None else self.pd * 1.1,
                           dict(self.model_versions), self.reasons)

    def score_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.lit(self.pd, dtype=pl.Float64).alias("pd"),
                                  pl.lit(self.points, dtype=pl.Float64).alias("score"),
                                  pl.lit(None, dtype=pl.Float64).alias("pd_challenger"))
