"""Credit decisions: the interface every decider implements and a transparent default policy.

Why an interface: the workflow only needs "approve, decline or refer, for how much, at what rate,
and why".  The risk engine will plug in behind `Decider` later; until then `DefaultPolicy` applies
a handful of documented rules to verified data, each threshold a field so a policy is data that
can be versioned, reviewed and replayed.  A decider never reads the clock: the same request always
gets the same decision, which is what makes a decision auditable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Mapping, Protocol, runtime_checkable

from stdnum.cn import ric

from puhui.calendar import add_months, parse_rate
from puhui.errors import InvalidApplication
from puhui.loans.product import LoanProduct, RateCap
from puhui.origination import _records as rec
from puhui.origination.identity import IdentityCheck, IdentityKind, age_on, mask
from puhui.origination.parties import Applicant

_HUNDRED_YUAN = 100_00
#: Reason codes that send an otherwise acceptable application to manual review.
REFER_CODES = frozenset({"NO_ESTABLISHMENT_DATE", "NEEDS_GUARANTOR", "LARGE_AMOUNT"})
_LABELS = {IdentityKind.RESIDENT_ID: "resident ID", IdentityKind.USCC: "unified social credit code",
           IdentityKind.BANK_CARD: "bank card", IdentityKind.MOBILE: "mobile number"}


class Outcome(str, enum.Enum):
    APPROVE = "approve"
    DECLINE = "decline"
    REFER = "refer"  # to manual review


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision came out as it did: a stable code for systems, a message for people."""

    code: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", rec.text(self.code, "reason code", max_len=64))
        object.__setattr__(self, "message", rec.text(self.message, "reason message"))


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """Everything a decider may look at.  `data` is reserved for the risk engine's features."""

    application_id: str
    applicant: Applicant
    requested_amount: int
    product: LoanProduct
    checks: tuple[IdentityCheck, ...]
    on: date
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)
    #: The platform's rate cap in force on `on` (with its provenance); a decider enforces the
    #: lower of it and any cap of its own.
    rate_cap: RateCap | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "application_id", rec.text(self.application_id, "application_id"))
        if not isinstance(self.applicant, Applicant):
            raise InvalidApplication("applicant must be an Applicant")
        rec.fen(self.requested_amount, "requested_amount", minimum=1)
        if not isinstance(self.product, LoanProduct):
            raise InvalidApplication("product must be a LoanProduct")
        checks = tuple(self.checks)
        if not all(isinstance(c, IdentityCheck) for c in checks):
            raise InvalidApplication("checks must be IdentityCheck records")
        object.__setattr__(self, "checks", checks)
        rec.day(self.on, "on")
        if self.rate_cap is not None and not isinstance(self.rate_cap, RateCap):
            raise InvalidApplication("rate_cap must be a RateCap")
        if not isinstance(self.data, Mapping):
            raise InvalidApplication("data must be a mapping")


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome.  An approval (and a referral) carries the amount, rate and grade proposed;
    a decline carries none of them.  Declines and referrals always say why."""

    outcome: Outcome
    reasons: tuple[Reason, ...]
    amount: int | None
    annual_rate: Decimal | None
    grade: str | None
    policy_version: str
    model_version: str | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "outcome", Outcome(self.outcome))
        except ValueError:
            raise InvalidApplication(f"unknown decision outcome {self.outcome!r}") from None
        reasons = tuple(self.reasons)
        if not all(isinstance(r, Reason) for r in reasons):
            raise InvalidApplication("reasons must be Reason records")
        object.__setattr__(self, "reasons", reasons)
        if self.amount is not None:
            rec.fen(self.amount, "amount", minimum=1)
        if self.annual_rate is not None:
            object.__setattr__(self, "annual_rate", parse_rate(self.annual_rate, "annual_rate"))
        object.__setattr__(self, "policy_version", rec.text(self.policy_version, "policy_version"))
        if self.outcome is Outcome.APPROVE and (self.amount is None or self.annual_rate is None):
            raise InvalidApplication("an approval needs an amount and an annual rate")
        if self.outcome is Outcome.DECLINE and (self.amount, self.annual_rate) != (None, None):
            raise InvalidApplication("a decline offers no amount and no rate")
        if self.outcome is not Outcome.APPROVE and not reasons:
            raise InvalidApplication(f"a {self.outcome.value} decision must give its reasons")

    def to_dict(self) -> dict:
        return {"outcome": self.outcome.value,
                "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
                "amount": self.amount,
                "annual_rate": None if self.annual_rate is None else str(self.annual_rate),
                "grade": self.grade, "policy_version": self.policy_version,
                "model_version": self.model_version}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Decision":
        what = "decision"
        rec.mapping(d, what, ("outcome", "reasons", "amount", "annual_rate", "grade",
                              "policy_version"), ("model_version",))
        reasons = []
        for r in rec.typed(d, "reasons", (list, tuple), what):
            rec.mapping(r, "reason", ("code", "message"))
            reasons.append(Reason(rec.typed(r, "code", str, "reason"),
                                  rec.typed(r, "message", str, "reason")))
        rate = rec.typed(d, "annual_rate", (str, type(None)), what)
        return cls(rec.typed(d, "outcome", str, what), tuple(reasons),
                   rec.typed(d, "amount", (int, type(None)), what),
                   None if rate is None else parse_rate(rate, "annual_rate"),
                   rec.typed(d, "grade", (str, type(None)), what),
                   rec.typed(d, "policy_version", str, what),
                   rec.typed(d, "model_version", (str, type(None)), what)
                   if "model_version" in d else None)


@runtime_checkable
class Decider(Protocol):
    """Anything that turns a `DecisionRequest` into a `Decision`, deterministically."""

    version: str

    def decide(self, request: DecisionRequest) -> Decision: ...


def yuan(fen: int) -> str:
    """Fen as a yuan figure for messages, exact (no floats): 1234567 -> "12,345.67 yuan"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d} yuan"


def business_months(established_on: date, on: date) -> int:
    """Whole months from `established_on` to `on` (month ends clamp, as for due dates);
    negative when `on` is earlier."""
    months = (on.year - established_on.year) * 12 + on.month - established_on.month
    while add_months(established_on, months) > on:
        months -= 1
    return months


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


def lower_cap(platform: RateCap | None, own: RateCap | None) -> RateCap | None:
    """The binding one of the platform's cap in force and a decider's own (the platform's on
    a tie, so its provenance is what a record keeps)."""
    if platform is None or own is None:
        return platform if own is None else own
    return platform if platform.annual_limit <= own.annual_limit else own


def kyc_failures(request: DecisionRequest) -> list[Reason]:
    """One KYC_FAILED reason per failed identity check and per number of the application that no
    check covers (owner's and guarantors' resident IDs and mobiles, the USCC when given); checks
    are matched by kind and masked subject.  Shared by every decider, so they agree on KYC."""
    applicant = request.applicant
    reasons = [Reason("KYC_FAILED", _describe(c) + f": {c.reason}")
               for c in request.checks if not c.passed]
    required: list[tuple[str, IdentityKind, str]] = []
    for role, person in [("owner", applicant.owner)] + [
            (f"guarantor {k}", g) for k, g in enumerate(applicant.guarantors, start=1)]:
        required.append((role, IdentityKind.RESIDENT_ID, mask(person.resident_id)))
        required.append((role, IdentityKind.MOBILE, mask(person.mobile, 3)))
    if applicant.uscc is not None:
        required.append(("business", IdentityKind.USCC, mask(applicant.uscc)))
    seen = {(c.kind, c.subject) for c in request.checks}
    reasons += [Reason("KYC_FAILED", f"{role} {_LABELS[kind]} {subject} was not checked")
                for role, kind, subject in required if (kind, subject) not in seen]
    return reasons


def _describe(check: IdentityCheck) -> str:
    role = check.details.get("role")
    return f"{role + ' ' if role else ''}{_LABELS[check.kind]} {check.subject}".strip()
