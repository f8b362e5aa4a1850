"""`PolicyDecider`: an origination `Decider` that applies a versioned policy to scored facts.

Why here and not in the workflow: the workflow asks any `Decider` for a `Decision`; this one
builds the facts of the application (`puhui.decision.facts`), asks the models for scores, applies
the policy (`puhui.decision.engine`) and returns the decision with a `DecisionRecord` from which
`replay` re-derives it.  A policy change is a new document registered and activated in the
`PolicyRegistry`; a decider built from `registry.active()` applies it, no code changes.

Data problems never raise: connector errors, missing or malformed features and a model that
cannot score refer the application (DATA_INCOMPLETE).  On a decline or referral for risk
(HIGH_RISK, PD_GREY_ZONE) the champion's reason codes (points lost, largest first) follow the
policy's reasons, ready for a decline notice.
"""

from __future__ import annotations

from typing import Any, Mapping

from puhui.decision.blacklist import Blacklist
from puhui.decision.engine import PolicyResult, evaluate
from puhui.decision.errors import InvalidDecisionRecord, InvalidFacts, PolicyTampered
from puhui.decision.facts import build_facts, request_features
from puhui.decision.policy import Policy, load_policy
from puhui.decision.record import DecisionRecord
from puhui.decision.scoring import CHAMPION, ModelScores, Scorer
from puhui.errors import PuhuiError
from puhui.loans.product import RateCap
from puhui.decision.outcome import Decision, DecisionRequest, Outcome, Reason, lower_cap

#: Reason codes after which the model's own reasons are given.
RISK_CODES = frozenset({"HIGH_RISK", "PD_GREY_ZONE"})


class PolicyDecider:
    """Decides with `policy` (a `Policy` or a document), scores from `scorer` (None: no model,
    so every application is referred for want of a PD), an optional `blacklist`, and a
    `rate_cap` of its own enforced on top of the cap the policy assumes and of the platform's
    cap in force that each request carries (`DecisionRequest.rate_cap`): the lowest binds, and
    the binding platform cap is the one the record keeps."""

    def __init__(self, policy: Policy | Mapping[str, Any], scorer: Scorer | None, *,
                 blacklist: Blacklist | None = None, rate_cap: RateCap | None = None) -> None:
        self.policy = load_policy(policy)
        if scorer is not None and not isinstance(scorer, Scorer):
            raise InvalidFacts("scorer must implement score() and score_frame()")
        if blacklist is not None and not isinstance(blacklist, Blacklist):
            raise InvalidFacts("blacklist must be a Blacklist")
        if rate_cap is not None and not isinstance(rate_cap, RateCap):
            raise InvalidFacts("rate_cap must be a RateCap")
        self.scorer, self.blacklist, self.rate_cap = scorer, blacklist, rate_cap
        self.policy_sha256 = self.policy.sha256  # hashed once, not per decision
        self.version = f"{self.policy.version}+{self.policy_sha256[:12]}"

    def decide(self, request: DecisionRequest) -> Decision:
        return self.evaluate(request)[0]

    def evaluate(self, request: DecisionRequest) -> tuple[Decision, DecisionRecord]:
        """The decision and the record that replays it."""
        if not isinstance(request, DecisionRequest):
            raise InvalidFacts("request must be a DecisionRequest")
        features, problems = request_features(request.data)
        scores: ModelScores | None = None
        if self.scorer is None:
            problems.append("no model is configured to score the application")
        else:
            try:
                scores = self.scorer.score(features)
            except PuhuiError as exc:
                problems.append(f"the models could not score the application: {exc}")
        facts = build_facts(request, features, scores, blacklist=self.blacklist,
                            problems=problems)
        cap = lower_cap(request.rate_cap, self.rate_cap)
        result = evaluate(self.policy, facts, product=request.product, platform_rate_cap=cap)
        versions = dict(scores.model_versions) if scores is not None else \
            dict(getattr(self.scorer, "model_versions", {}) or {})
        model_reasons = tuple(Reason.of(r) for r in scores.reason_codes) if scores else ()
        decision = to_decision(result, self.version, versions.get(CHAMPION), model_reasons)
        summary = {k: v for k, v in result.to_dict().items() if k != "trace"}
        record = DecisionRecord(request.application_id, request.on, self.policy.version,
                                self.policy_sha256, versions, facts, model_reasons,
                                request.product.to_dict(), cap, summary, result.trace,
                                decision)
        return decision, record


def to_decision(result: PolicyResult, policy_version: str, model_version: str | None,
                model_reasons: tuple[Reason, ...] = ()) -> Decision:
    """The origination `Decision` for a policy result (the model's reasons follow a risk
    decline or referral)."""
    reasons = list(result.reasons)
    if any(r.code in RISK_CODES for r in reasons):
        reasons += [r for r in model_reasons if r not in reasons]
    if result.outcome is Outcome.DECLINE:
        return Decision(Outcome.DECLINE, tuple(reasons), None, None, None, policy_version,
                        model_version)
    return Decision(result.outcome, tuple(reasons), result.amount, result.annual_rate,
                    result.grade, policy_version, model_version)


def replay(record: DecisionRecord, policies: Any) -> Decision:
    """The decision re-derived from a record's facts under its policy version, loaded from
    `policies` (a `PolicyRegistry`); `PolicyTampered` if that version's content is not the one
    the record names."""
    if not isinstance(record, DecisionRecord):
        raise InvalidDecisionRecord("replay needs a DecisionRecord")
    policy = policies.load(record.policy_version)
    if policy.sha256 != record.policy_sha256:
        raise PolicyTampered(f"policy {record.policy_version} in the registry has sha256 "
                             f"{policy.sha256}, the record was decided under "
                             f"{record.policy_sha256}")
    result = evaluate(policy, record.facts, product=record.loan_product(),
                      platform_rate_cap=record.rate_cap)
    return to_decision(result, policy.identity, record.model_versions.get(CHAMPION),
                       record.model_reasons)
