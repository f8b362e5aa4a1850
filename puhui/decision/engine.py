"""The engine: one policy applied to one application's facts, with a trace of every rule.

Rule order (the first decline ends the evaluation; referrals and notes accumulate):

1. identity: KYC_FAILED (decline) when `kyc_failures` > 0, one reason per failure line;
   BLACKLISTED (decline); connector data problems (`data_errors` > 0) refer DATA_INCOMPLETE;
2. the document's knock-outs, in document order;
3. the model grade: the first band with ``pd <= max_pd``; above the last, HIGH_RISK (decline);
   inside ``refer_pd_between`` (inclusive), PD_GREY_ZONE (refer);
4. the limit: ``share x verified revenue`` (or ``share x declared x (1 - haircut)`` with
   REVENUE_UNVERIFIED, refer), capped by the grade's cap and the product's maximum, rounded down
   to whole 100 yuan; a larger request is offered the limit (LIMIT_REDUCED); an amount below
   the product's minimum declines (LOW_LIMIT);
5. pricing: the grade's rate plus every adjustment that applies; above the lower of the policy's
   assumed rate cap and the platform's cap in force, RATE_CAP (decline), or with
   ``pricing.above_cap: "clip"`` the cap itself (to the millionth, rounded down) with the note
   RATE_CAPPED - never a silently cheaper price;
6. referrals: NEEDS_GUARANTOR and LARGE_AMOUNT.

A missing or unusable fact never raises: built-in rules refer (DATA_INCOMPLETE), and a
document's rule follows its `on_missing`.  Pure and deterministic: no clock, no I/O.
`evaluate_frame` (in `puhui.decision.vectorised`) applies the same rules to a Polars frame.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any, Mapping

from puhui.decision import values
from puhui.decision.errors import InvalidFacts
from puhui.decision.policy import KnockoutRule, Policy, PriceAdjustment, render
from puhui.decision.result import PolicyResult, TraceEntry
from puhui.loans.caps import clip_rate
from puhui.loans.product import LoanProduct, RateCap
from puhui.decision.outcome import Outcome, Reason, yuan

HUNDRED_YUAN = 100_00
DECLINE, REFER, NOTE = "decline", "refer", "note"


class _Declined(Exception):
    """Ends an evaluation at its first decline."""


class _Run:
    def __init__(self, policy: Policy, facts: Mapping[str, Any]) -> None:
        self.policy, self.facts, self.kinds = policy, facts, policy.kinds
        self.reasons: list[Reason] = []
        self.trace: list[TraceEntry] = []
        self.referred = False

    def get(self, name: str) -> Any:
        return values.fact(self.facts, name, self.kinds[name])

    def log(self, step: str, rule: str, read: list[str], result: str, effect: str | None,
            detail: str = "", *reasons: Reason) -> None:
        self.trace.append(TraceEntry(step, rule, {f: values.plain(self.facts.get(f)) for f in read},
                                     result, effect, detail))
        self.reasons.extend(reasons)
        if effect == REFER:
            self.referred = True
        elif effect == DECLINE:
            raise _Declined

    def missing(self, names: list[str]) -> str:
        gone = [n for n in names if self.get(n) is None] or names
        return f"{', '.join(gone)} {'is' if len(gone) == 1 else 'are'} missing or unusable"

    # -- 1. identity ------------------------------------------------------------------------
    def identity(self) -> None:
        read = ["kyc_failures", "kyc_failure_detail"]
        failures = self.get("kyc_failures")
        if failures is None:
            self.log("identity", "KYC_FAILED", read, "missing", REFER, "",
                     Reason("DATA_INCOMPLETE", "the identity checks' outcome is missing, so "
                            "KYC needs manual review"))
        elif failures > 0:
            lines = [ln for ln in (self.get("kyc_failure_detail") or "").split("\n") if ln.strip()]
            reasons = [Reason("KYC_FAILED", ln) for ln in lines] or [Reason(
                "KYC_FAILED", f"{values.show(failures, 'number')} identity checks failed or "
                "were not done")]
            self.log("identity", "KYC_FAILED", read, "fired", DECLINE, "", *reasons)
        else:
            self.log("identity", "KYC_FAILED", read, "not_fired", None)
        read = ["blacklisted", "blacklist_version"]
        listed = self.get("blacklisted")
        if listed is None:
            self.log("identity", "BLACKLISTED", read, "missing", REFER, "",
                     Reason("DATA_INCOMPLETE", "the blacklist check's outcome is missing"))
        elif listed:
            version = self.get("blacklist_version")
            self.log("identity", "BLACKLISTED", read, "fired", DECLINE, "", Reason(
                "BLACKLISTED", "the applicant matches an entry of the blacklist"
                + (f" (version {version})" if version else "")))
        else:
            self.log("identity", "BLACKLISTED", read, "not_fired", None)
        read = ["data_errors", "data_error_detail"]
        problems = self.get("data_errors")
        if problems is not None and problems > 0:
            detail = "; ".join(ln for ln in (self.get("data_error_detail") or "").split("\n")
                               if ln.strip()) or f"{values.show(problems, 'number')} problems"
            self.log("identity", "DATA_ERRORS", read, "fired", REFER, "",
                     Reason("DATA_INCOMPLETE", f"the application's data needs review: {detail}"))
        else:
            self.log("identity", "DATA_ERRORS", read, "not_fired", None)

    # -- 2. knock-outs and 5. price adjustments share the missing-fact handling ------------
    def rule(self, step: str, rule: KnockoutRule | PriceAdjustment) -> bool:
        """Evaluate a document rule; True when it applies (a knock-out fired, a price
        adjustment to add).  Declines and referrals are applied here."""
        read = rule.when.facts()
        result = rule.when.test(self.facts, self.kinds)
        action = rule.action if isinstance(rule, KnockoutRule) else NOTE
        if result is True:
            self.log(step, rule.code, read, "fired", action, "",
                     Reason(rule.code, render(rule.message, self.facts, self.kinds)))
            return True
        if result is False:
            self.log(step, rule.code, read, "not_fired", None)
            return False
        gone = self.missing(read)
        if rule.on_missing == "apply":
            self.log(step, rule.code, read, "missing", NOTE, "applied: " + gone,
                     Reason(rule.code, render(rule.message, self.facts, self.kinds)))
            return True
        if rule.on_missing == "ignore":
            self.log(step, rule.code, read, "missing", None, "ignored: " + gone)
        elif rule.on_missing == "refer":
            self.log(step, rule.code, read, "missing", REFER, gone, Reason(
                "DATA_INCOMPLETE", f"{rule.code} cannot be checked: {gone}"))
        else:
            self.log(step, rule.code, read, "missing", DECLINE, gone, Reason(
                rule.code, f"{rule.code} cannot be checked ({gone}) and the policy declines "
                           "then"))
        return False

    # -- 3. grade ---------------------------------------------------------------------------
    def grade(self) -> str | None:
        grades, read = self.policy.grades, ["pd"]
        pd = self.get("pd")
        if pd is None:
            if grades.on_missing == "refer":
                self.log("grade", "GRADE", read, "missing", REFER, "", Reason(
                    "DATA_INCOMPLETE", "no usable probability of default, so the risk grade "
                                       "needs manual review"))
            else:
                self.log("grade", "GRADE", read, "missing", DECLINE, "", Reason(
                    "NO_SCORE", "no usable probability of default, and the policy declines "
                                "without one"))
            return None
        band = next((b for b in grades.bands if pd <= b.max_pd), None)
        if band is None:
            worst = grades.bands[-1].max_pd
            self.log("grade", "HIGH_RISK", read, "fired", DECLINE, "", Reason(
                "HIGH_RISK", f"the estimated probability of default {pd:.2%} is above the "
                             f"policy's limit of {worst:.2%}"))
        zone = grades.refer_pd_between
        if zone is not None and zone[0] <= pd <= zone[1]:
            self.log("grade", "PD_GREY_ZONE", read, "fired", REFER, f"grade {band.grade}", Reason(
                "PD_GREY_ZONE", f"the estimated probability of default {pd:.2%} is in the "
                                f"manual review band {zone[0]:.2%} to {zone[1]:.2%}"))
        else:
            self.log("grade", "GRADE", read, "fired", None, f"grade {band.grade}")
        return band.grade

    # -- 4. limit ---------------------------------------------------------------------------
    def limit(self, grade: str | None, product: LoanProduct) -> tuple[int, int]:
        limits = self.policy.limits
        read = ["verified_revenue_monthly_fen", "declared_monthly_revenue_fen",
                "requested_amount_fen"]
        verified, declared = self.get(read[0]), self.get(read[1])
        requested = self.get(read[2])
        cap = limits.grade_caps_fen[grade] if grade else min(limits.grade_caps_fen.values())
        ceiling = min(cap, product.max_principal)
        share, haircut = limits.share_of_verified_revenue, limits.declared_revenue_haircut
        with localcontext() as ctx:
            ctx.prec = 60  # exact: at most 13 + 9 + 7 significant digits
            if verified is not None:
                exact: Decimal | None = Decimal(verified) * share
                basis = f"{share} x verified monthly revenue {yuan(verified)}"
            elif declared is not None:
                exact = Decimal(declared) * share * (1 - haircut)
                basis = f"{share} x declared monthly revenue {yuan(declared)} less {haircut:%}"
                self.log("limit", "REVENUE_UNVERIFIED", read[:2], "fired", REFER, "", Reason(
                    "REVENUE_UNVERIFIED", f"verified revenue is unavailable: the limit uses the "
                    f"declared {yuan(declared)} a month less a {haircut:%} haircut"))
            else:
                exact, basis = None, "no revenue"
                self.log("limit", "REVENUE_UNVERIFIED", read[:2], "missing", REFER, "", Reason(
                    "DATA_INCOMPLETE", "neither verified nor declared revenue is available, so "
                                       "the limit needs manual review"))
            top = Decimal(ceiling) if exact is None else min(exact, Decimal(ceiling))
            limit = int((top / HUNDRED_YUAN).to_integral_value(ROUND_FLOOR)) * HUNDRED_YUAN
        detail = (f"limit {yuan(limit)}: {basis}, at most {yuan(cap)} for grade "
                  f"{grade or '(none: lowest cap)'} and {yuan(product.max_principal)} for "
                  f"{product.code}, in whole 100 yuan")
        if requested is None:
            self.log("limit", "LIMIT", read, "missing", REFER, detail, Reason(
                "DATA_INCOMPLETE", f"the requested amount is missing; {yuan(limit)} is proposed"))
            amount = limit
        elif requested > limit:
            self.log("limit", "LIMIT_REDUCED", read, "fired", NOTE, detail, Reason(
                "LIMIT_REDUCED", f"requested {yuan(requested)}; the limit is {yuan(limit)} "
                f"({basis}, capped, in whole 100 yuan)"))
            amount = limit
        else:
            self.log("limit", "LIMIT", read, "not_fired", None, detail)
            amount = requested
        if amount < product.min_principal:
            self.log("limit", "LOW_LIMIT", read, "fired", DECLINE, "", Reason(
                "LOW_LIMIT", f"the amount {yuan(amount)} is below the product minimum of "
                             f"{yuan(product.min_principal)}"))
        return amount, limit

    # -- 5. pricing -------------------------------------------------------------------------
    def price(self, grade: str | None, cap: RateCap) -> Decimal | None:
        if grade is None:
            self.log("pricing", "PRICE", [], "missing", None, "no grade, so no price")
            return None
        rate = self.policy.pricing.grade_rates[grade]
        self.log("pricing", "PRICE", [], "fired", None, f"grade {grade} rate {rate}")
        for adjustment in self.policy.pricing.adjustments:
            if self.rule("pricing", adjustment):
                rate += adjustment.add
        if rate > cap.annual_limit:
            above = (f"the grade {grade} price {rate:.2%} is above the {cap.label} of "
                     f"{cap.annual_limit:.2%}")
            if self.policy.pricing.above_cap == "clip":
                clipped = clip_rate(cap)
                self.log("pricing", "RATE_CAP", [], "fired", NOTE, f"{rate} clipped to {clipped}",
                         Reason("RATE_CAPPED", f"{above}: offered at {clipped:.4%}"))
                return clipped
            self.log("pricing", "RATE_CAP", [], "fired", DECLINE, "", Reason("RATE_CAP", above))
        self.log("pricing", "RATE_CAP", [], "not_fired", None, f"{rate} <= {cap.annual_limit}")
        return rate

    # -- 6. referrals -----------------------------------------------------------------------
    def referrals(self, amount: int) -> None:
        referrals = self.policy.referrals
        above = referrals.guarantor_above_fen
        if above is not None and amount > above and self.get("has_guarantor") is not True:
            self.log("referral", "NEEDS_GUARANTOR", ["has_guarantor"], "fired", REFER, "", Reason(
                "NEEDS_GUARANTOR", f"amounts above {yuan(above)} need at least one guarantor"))
        elif above is not None:
            self.log("referral", "NEEDS_GUARANTOR", ["has_guarantor"], "not_fired", None)
        above = referrals.refer_above_fen
        if above is not None and amount > above:
            self.log("referral", "LARGE_AMOUNT", [], "fired", REFER, "", Reason(
                "LARGE_AMOUNT", f"amounts above {yuan(above)} are reviewed by hand"))
        elif above is not None:
            self.log("referral", "LARGE_AMOUNT", [], "not_fired", None)


def binding_cap(policy: Policy, platform_rate_cap: RateCap | None) -> RateCap:
    """The lower of the cap the policy assumes and the platform's (the platform's on a tie)."""
    assumed = policy.pricing.rate_cap.cap()
    if platform_rate_cap is None:
        return assumed
    if not isinstance(platform_rate_cap, RateCap):
        raise InvalidFacts("platform_rate_cap must be a RateCap")
    return platform_rate_cap if platform_rate_cap.annual_limit <= assumed.annual_limit else assumed


def evaluate(policy: Policy, facts: Mapping[str, Any], *, product: LoanProduct,
             platform_rate_cap: RateCap | None = None) -> PolicyResult:
    """Apply `policy` to one application's `facts` (see `puhui.decision.facts`)."""
    if not isinstance(policy, Policy):
        raise InvalidFacts("policy must be a validated Policy (see load_policy)")
    if not isinstance(facts, Mapping):
        raise InvalidFacts(f"facts must be a mapping of names to values, got "
                           f"{type(facts).__name__}")
    if not isinstance(product, LoanProduct):
        raise InvalidFacts("product must be a LoanProduct")
    cap = binding_cap(policy, platform_rate_cap)
    run = _Run(policy, facts)
    try:
        run.identity()
        for rule in policy.knockouts:
            run.rule("knockout", rule)
        grade = run.grade()
        amount, limit = run.limit(grade, product)
        rate = run.price(grade, cap)
        run.referrals(amount)
    except _Declined:
        return PolicyResult(Outcome.DECLINE, None, None, None, None, tuple(run.reasons),
                            tuple(run.trace))
    outcome = Outcome.REFER if run.referred else Outcome.APPROVE
    return PolicyResult(outcome, grade, amount, rate, limit, tuple(run.reasons), tuple(run.trace))


from puhui.decision.vectorised import evaluate_frame  # noqa: E402  (the batch form, re-exported)

__all__ = ["PolicyResult", "TraceEntry", "evaluate", "evaluate_frame", "binding_cap"]
