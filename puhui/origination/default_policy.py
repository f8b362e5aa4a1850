"""The transparent default credit policy, `DefaultPolicy` (a `Decider`: see `puhui.decision.outcome`).

Why an interface: the workflow only needs "approve, decline or refer, for how much, at what rate,
and why".  The risk engine will plug in behind `Decider` later; until then `DefaultPolicy` applies
a handful of documented rules to verified data, each threshold a field so a policy is data that
can be versioned, reviewed and replayed.  A decider never reads the clock: the same request always
gets the same decision, which is what makes a decision auditable.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from stdnum.cn import ric

from puhui.calendar import parse_rate
from puhui.decision.outcome import (Decision, DecisionRequest, Outcome, Reason, business_months,
                                    kyc_failures, lower_cap, yuan)
from puhui.loans.product import LoanProduct, RateCap
from puhui.parties.identity import age_on

_HUNDRED_YUAN = 100_00
#: Reason codes that send an otherwise acceptable application to manual review.
REFER_CODES = frozenset({"NO_ESTABLISHMENT_DATE", "NEEDS_GUARANTOR", "LARGE_AMOUNT"})


@dataclass(frozen=True)
class DefaultPolicy:
    """The transparent default credit policy.  Rules, applied in this order:

    1. KYC_FAILED (decline): any failed identity check, one reason per failed check; a number in
       the application that no check covers (owner's or a guarantor's resident ID or mobile, the
       USCC when given) counts as failed too.  Checks are matched by kind and masked subject.
    2. AGE (decline): the owner's age on `request.on`, from the resident ID, is outside
       `min_age`..`max_age` (both inclusive).
    3. LOW_REVENUE (decline): declared monthly revenue below `min_monthly_revenue`.
    4. BUSINESS_TOO_YOUNG (decline): fewer than `min_business_months` whole months since
       `established_on`; without that date the application is referred (NO_ESTABLISHMENT_DATE)
       and the remaining rules still run.
    5. LIMIT_REDUCED (counter-offer): the limit is `revenue_multiple` x monthly revenue, no more
       than the product's `max_principal`, rounded down to whole 100 yuan; a larger request is
       offered the limit.
    6. LOW_LIMIT (decline): the amount is below the product's `min_principal`.
    7. RATE_CAP (decline): `rate_cap` is set and the grade's nominal rate is above it (the
       all-in IRR cost, fees included, is checked again when the offer is quoted).
    8. NEEDS_GUARANTOR (refer): the amount is above `guarantor_above` and nobody guarantees it.
    9. LARGE_AMOUNT (refer): the amount is above `refer_above`.
    10. Otherwise approve.

    The first decline ends the evaluation.  A referral proposes the amount, rate and grade the
    reviewer would offer.  The grade is the first in `grade_rates` whose monthly revenue floor
    is met; its rate is the offer rate.
    """

    version: str = "default-2026.11"
    min_age: int = 18
    max_age: int = 65
    min_business_months: int = 6
    min_monthly_revenue: int = 10_000_00
    revenue_multiple: Decimal = Decimal(3)
    refer_above: int = 500_000_00
    guarantor_above: int = 300_000_00
    grade_rates: tuple[tuple[str, int, Decimal], ...] = (
        ("A", 100_000_00, Decimal("0.0720")),
        ("B", 30_000_00, Decimal("0.1080")),
        ("C", 10_000_00, Decimal("0.1440")),
    )
    rate_cap: RateCap | None = None

    def __post_init__(self) -> None:
        """A policy that cannot be applied consistently is a configuration bug: ValueError."""
        for name in ("min_age", "max_age", "min_business_months", "min_monthly_revenue",
                     "refer_above", "guarantor_above"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"policy {name} must be a non-negative int, got {value!r}")
        if not self.version or not isinstance(self.version, str):
            raise ValueError("a policy needs a version")
        if self.min_age > self.max_age:
            raise ValueError("policy min_age is above max_age")
        if not isinstance(self.revenue_multiple, Decimal) or not self.revenue_multiple > 0:
            raise ValueError("policy revenue_multiple must be a positive Decimal")
        if not self.grade_rates:
            raise ValueError("a policy needs at least one grade")
        grades = tuple((g, floor, parse_rate(rate, f"grade {g} rate"))
                       for g, floor, rate in self.grade_rates)
        if not all(isinstance(g, str) and g and isinstance(f, int) and not isinstance(f, bool)
                   for g, f, _ in grades):
            raise ValueError("each grade is (name, monthly revenue floor in fen, annual rate)")
        floors = [floor for _, floor, _ in grades]
        if floors != sorted(floors, reverse=True) or len(set(floors)) != len(floors):
            raise ValueError("grade floors must fall strictly from the best grade to the worst")
        if floors[-1] > self.min_monthly_revenue:
            raise ValueError("every revenue the policy accepts must reach a grade: the lowest "
                             "grade floor is above min_monthly_revenue")
        object.__setattr__(self, "grade_rates", grades)

    def decide(self, request: DecisionRequest) -> Decision:
        applicant, on, product = request.applicant, request.on, request.product
        failed = kyc_failures(request)
        if failed:
            return self._decline(*failed)
        birth = ric.get_birth_date(applicant.owner.resident_id)
        if birth > on or not self.min_age <= age_on(birth, on) <= self.max_age:
            age = "not yet born" if birth > on else f"{age_on(birth, on)}"
            return self._decline(Reason("AGE", f"the owner's age is {age}; the policy lends to "
                                        f"owners aged {self.min_age} to {self.max_age}"))
        revenue = applicant.monthly_revenue
        if revenue < self.min_monthly_revenue:
            return self._decline(Reason("LOW_REVENUE", f"monthly revenue {yuan(revenue)} is below "
                                        f"the minimum of {yuan(self.min_monthly_revenue)}"))
        reasons: list[Reason] = []  # in rule order; any referral code makes the outcome REFER
        if applicant.established_on is None:
            reasons.append(Reason("NO_ESTABLISHMENT_DATE", "the business's establishment date "
                                  "is unknown, so its age needs manual review"))
        else:
            months = business_months(applicant.established_on, on)
            if months < self.min_business_months:
                return self._decline(Reason(
                    "BUSINESS_TOO_YOUNG", f"the business has traded {max(months, 0)} whole months; "
                    f"the policy needs {self.min_business_months}"))
        grade, rate = next((g, r) for g, floor, r in self.grade_rates if revenue >= floor)
        amount, limit = request.requested_amount, self.limit(revenue, product)
        if amount > limit:
            reasons.append(Reason("LIMIT_REDUCED", f"requested {yuan(amount)}; the limit is "
                                  f"{yuan(limit)} ({self.revenue_multiple} x monthly revenue, at "
                                  "most the product maximum, in whole 100 yuan)"))
            amount = limit
        if amount < product.min_principal:
            return self._decline(Reason("LOW_LIMIT", f"the amount {yuan(amount)} is below the "
                                        f"product minimum of {yuan(product.min_principal)}"))
        cap = lower_cap(request.rate_cap, self.rate_cap)
        if cap is not None and rate > cap.annual_limit:
            return self._decline(Reason("RATE_CAP", f"grade {grade} rate {rate:.2%} is above the "
                                        f"{cap.label} of {cap.annual_limit:.2%}"))
        if amount > self.guarantor_above and not applicant.guarantors:
            reasons.append(Reason("NEEDS_GUARANTOR", f"amounts above "
                                  f"{yuan(self.guarantor_above)} need at least one guarantor"))
        if amount > self.refer_above:
            reasons.append(Reason("LARGE_AMOUNT", f"amounts above {yuan(self.refer_above)} "
                                  "are reviewed by hand"))
        refer = any(r.code in REFER_CODES for r in reasons)
        outcome = Outcome.REFER if refer else Outcome.APPROVE
        return Decision(outcome, tuple(reasons), amount, rate, grade, self.version)

    def limit(self, monthly_revenue: int, product: LoanProduct) -> int:
        """The most this policy lends: revenue x multiple, capped by the product, in 100 yuan."""
        exact = min(Decimal(monthly_revenue) * self.revenue_multiple,
                    Decimal(product.max_principal))
        hundreds = (exact / _HUNDRED_YUAN).to_integral_value(ROUND_FLOOR)
        return int(hundreds) * _HUNDRED_YUAN

    def _decline(self, *reasons: Reason) -> Decision:
        return Decision(Outcome.DECLINE, reasons, None, None, None, self.version)


