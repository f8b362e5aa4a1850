"""Policy documents: a credit policy as a JSON document, validated before it can decide anything.

Why data, not code: risk owners change cut-offs, limits and prices far more often than engineers
change the engine, and every decision must name the exact rules it was made under.  A policy is
a JSON document (format in docs/decision.md; the shipped one is `policies/sme-2026.11.json`)
validated strictly by pydantic: unknown fields, floats where exact decimals are required, facts
no rule could ever read, grades without a rate or cap, codes reused, placeholders naming unknown
facts are all refused with `InvalidPolicy`, which lists every problem and where it is.

A policy's identity is its `version` plus the SHA-256 of its canonical JSON (the validated
document dumped with defaults filled in, keys sorted, no spaces, UTF-8): `Policy.identity` is
``"<version>+<sha256[:12]>"``, the `policy_version` every decision carries.
"""

from __future__ import annotations

import hashlib
import json
import string
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from puhui.calendar import MAX_ANNUAL_RATE
from puhui.decision import values
from puhui.decision.documents import (
    Code, FactName, Fen, Message, Version, exact_decimal, load_document, placeholder_problems,
)
from puhui.decision.conditions import Condition
from puhui.decision.errors import InvalidPolicy
from puhui.decision.facts import FACT_KINDS
from puhui.loans.product import RateCap

DEFAULT_POLICY_FILE = "sme-2026.11.json"
#: Reason codes the engine itself gives; a document's rules may not reuse them.
BUILTIN_CODES = frozenset({
    "KYC_FAILED", "BLACKLISTED", "DATA_INCOMPLETE", "HIGH_RISK", "NO_SCORE", "PD_GREY_ZONE",
    "REVENUE_UNVERIFIED", "LIMIT_REDUCED", "LOW_LIMIT", "RATE_CAP", "RATE_CAPPED",
    "NEEDS_GUARANTOR", "LARGE_AMOUNT"})
#: What a price above the binding rate cap does when the document does not say.
DEFAULT_ABOVE_CAP = "decline"

GradeName = Annotated[str, StringConstraints(strict=True,
                                             pattern=r"^[A-Za-z0-9][A-Za-z0-9+._-]{0,15}$")]


Rate = exact_decimal(Decimal(0), MAX_ANNUAL_RATE)
RateChange = exact_decimal(-Decimal(1), Decimal(1), low_open=True, high_open=True)
Share = exact_decimal(Decimal(0), Decimal(100), low_open=True)
Haircut = exact_decimal(Decimal(0), Decimal(1), high_open=True)
Probability = Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class KnockoutRule(_Strict):
    """A rule that declines or refers when its condition holds."""

    code: Code
    message: Message
    action: Literal["decline", "refer"]
    when: Condition
    on_missing: Literal["refer", "decline", "ignore"] = "refer"


class GradeBand(_Strict):
    grade: GradeName
    max_pd: Annotated[float, Field(strict=True, gt=0.0, le=1.0, allow_inf_nan=False)]


class Grades(_Strict):
    """PD cut-offs, best grade first: the grade is the first band with ``pd <= max_pd``."""

    bands: list[GradeBand] = Field(min_length=1)
    refer_pd_between: tuple[Probability, Probability] | None = None
    on_missing: Literal["refer", "decline"] = "refer"


class Limits(_Strict):
    """limit = share x verified monthly revenue (or x declared revenue x (1 - haircut))."""

    share_of_verified_revenue: Share
    declared_revenue_haircut: Haircut
    grade_caps_fen: dict[GradeName, Fen]


class PriceAdjustment(_Strict):
    code: Code
    message: Message
    add: RateChange
    when: Condition
    on_missing: Literal["refer", "decline", "ignore", "apply"] = "refer"


class RateCapSpec(_Strict):
    annual_limit: Rate
    label: Message

    def cap(self) -> RateCap:
        return RateCap(self.annual_limit, self.label)


class Pricing(_Strict):
    rate_cap: RateCapSpec
    grade_rates: dict[GradeName, Rate]
    adjustments: list[PriceAdjustment] = []
    #: A price above the binding cap (the lower of `rate_cap` and the platform's cap in force):
    #: "decline" (RATE_CAP) or "clip" (offered at the cap, noted as RATE_CAPPED).
    above_cap: Literal["decline", "clip"] = DEFAULT_ABOVE_CAP


class Referrals(_Strict):
    refer_above_fen: Fen | None = None
    guarantor_above_fen: Fen | None = None


class Policy(_Strict):
    """A validated policy document (see docs/decision.md for every field)."""

    name: Version
    version: Version
    description: Annotated[str, StringConstraints(strict=True, max_length=2000)] = ""
    effective_from: date
    facts: dict[FactName, values.Kind] = {}
    knockouts: list[KnockoutRule] = []
    grades: Grades
    limits: Limits
    pricing: Pricing
    referrals: Referrals = Referrals()

    @model_validator(mode="after")
    def _consistent(self) -> "Policy":
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def kinds(self) -> dict[str, str]:
        """Every fact this policy may read, with its kind."""
        return {**FACT_KINDS, **self.facts}

    @property
    def grade_names(self) -> list[str]:
        return [b.grade for b in self.grades.bands]

    def canonical_json(self) -> str:
        """The document with defaults filled in, keys sorted, no spaces.  `pricing.above_cap`
        is left out at its default, so documents written before it existed keep the identity
        their decisions were recorded under."""
        document = self.model_dump(mode="json")
        if document["pricing"]["above_cap"] == DEFAULT_ABOVE_CAP:
            del document["pricing"]["above_cap"]
        return json.dumps(document, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @property
    def identity(self) -> str:
        """What a decision records as its `policy_version`."""
        return f"{self.version}+{self.sha256[:12]}"


def load_policy(source: Policy | Mapping[str, Any] | str | bytes) -> Policy:
    """A validated policy from a document (a mapping, or JSON text); `InvalidPolicy` if not."""
    return load_document(Policy, source, InvalidPolicy, "policy")


def read_policy(path: str | Path) -> Policy:
    """A validated policy from a JSON file."""
    try:
        return load_policy(Path(path).read_bytes())
    except FileNotFoundError:
        raise InvalidPolicy(f"no policy file at {path}") from None


def default_policy() -> Policy:
    """The policy shipped with Puhui (`puhui/decision/policies/sme-2026.11.json`)."""
    text = resources.files("puhui.decision").joinpath("policies").joinpath(DEFAULT_POLICY_FILE)
    return load_policy(text.read_bytes())


def render(message: str, facts: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    """A rule's message with its ``{fact}`` placeholders filled in (money in yuan, exactly)."""
    out = []
    for literal, field, _, _ in string.Formatter().parse(message):
        out.append(literal)
        if field is not None:
            out.append(values.show(facts.get(field), kinds[field]))
    return "".join(out)


# -- consistency: what pydantic's field types cannot see ---------------------------------------

def _problems(policy: Policy) -> list[str]:
    kinds, problems = policy.kinds, []
    for name in policy.facts:
        if name in FACT_KINDS:
            problems.append(f"facts.{name}: a standard fact cannot be redeclared")
    grades = policy.grade_names
    if len(set(grades)) != len(grades):
        problems.append("grades.bands: grade names must be unique")
    cuts = [b.max_pd for b in policy.grades.bands]
    if any(a >= b for a, b in zip(cuts, cuts[1:])):
        problems.append("grades.bands: max_pd must rise strictly from the best grade to the worst")
    zone = policy.grades.refer_pd_between
    if zone is not None and not zone[0] <= zone[1] <= cuts[-1]:
        problems.append("grades.refer_pd_between: need lo <= hi <= the last band's max_pd")
    for what, table in (("limits.grade_caps_fen", policy.limits.grade_caps_fen),
                        ("pricing.grade_rates", policy.pricing.grade_rates)):
        if set(table) != set(grades):
            problems.append(f"{what}: needs exactly the grades {grades}, has {sorted(table)}")
    adds = [a.add for a in policy.pricing.adjustments]
    for grade, rate in policy.pricing.grade_rates.items():
        if rate + sum(a for a in adds if a < 0) < 0:
            problems.append(f"pricing: grade {grade}'s discounts could make its rate negative")
        if rate + sum(a for a in adds if a > 0) > MAX_ANNUAL_RATE:
            problems.append(f"pricing: grade {grade}'s rate could exceed {MAX_ANNUAL_RATE}")
    codes = [r.code for r in policy.knockouts] + [a.code for a in policy.pricing.adjustments]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        problems.append(f"rule code {code} is used more than once")
    for code in sorted(set(codes) & BUILTIN_CODES):
        problems.append(f"rule code {code} is reserved for the engine")
    rules = [(f"knockouts[{i}]", r) for i, r in enumerate(policy.knockouts)] + \
        [(f"pricing.adjustments[{i}]", a) for i, a in enumerate(policy.pricing.adjustments)]
    for where, rule in rules:
        problems += rule.when.check(kinds, f"{where}.when")
        problems += placeholder_problems(rule.message, kinds, f"{where}.message")
    return problems


