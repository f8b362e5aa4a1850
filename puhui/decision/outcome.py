"""The types a credit decision is made of: what a decider is asked (`DecisionRequest`), what it
answers (`Decision`, its `Outcome` and `Reason`s), the `Decider` protocol, and the rules every
decider shares (`kyc_failures`, `lower_cap`) with the message helpers they use (`yuan`,
`business_months`).

Why here: the decision package builds on these types and the origination workflow consumes
them; origination imports them from decision, never the other way round.  A decider never reads
the clock: the same request always gets the same decision, which is what makes a decision
auditable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Mapping, Protocol, runtime_checkable

from puhui.calendar import add_months, parse_rate
from puhui.errors import InvalidApplication
from puhui.loans.product import LoanProduct, RateCap
from puhui.parties import records as rec
from puhui.parties.identity import IdentityCheck, IdentityKind, mask
from puhui.parties.applicant import Applicant

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

    @classmethod
    def of(cls, model_reason: Any) -> "Reason":
        """A model's reason code (`puhui.risk.reasons.ReasonCode`: `code` and `message`) as a
        decision reason."""
        return cls(model_reason.code, model_reason.message)


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
