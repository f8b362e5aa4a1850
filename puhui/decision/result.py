"""The result of applying a policy: the outcome and offer, the reasons, and the trace.

Why a record of its own: the decider turns it into an origination `Decision`, the decision
record stores it for audit, and the trace answers "which rule did what, reading which values"
for every rule that was evaluated, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from puhui.decision.errors import InvalidFacts
from puhui.decision.outcome import Outcome, Reason


@dataclass(frozen=True)
class TraceEntry:
    """One rule evaluated: the values it read, whether it fired (``fired``, ``not_fired`` or
    ``missing``) and what that did (``decline``, ``refer``, ``note`` or nothing)."""

    step: str
    rule: str
    facts: dict[str, Any]
    result: str
    effect: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "rule": self.rule, "facts": dict(self.facts),
                "result": self.result, "effect": self.effect, "detail": self.detail}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TraceEntry":
        try:
            return cls(str(d["step"]), str(d["rule"]), dict(d["facts"]), str(d["result"]),
                       None if d["effect"] is None else str(d["effect"]), str(d["detail"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidFacts(f"malformed trace entry: {exc!r}") from None


@dataclass(frozen=True)
class PolicyResult:
    """What the policy concluded.  A decline carries no grade, amount, limit or rate."""

    outcome: Outcome
    grade: str | None
    amount: int | None
    annual_rate: Decimal | None
    limit: int | None
    reasons: tuple[Reason, ...]
    trace: tuple[TraceEntry, ...]

    @property
    def reason_code(self) -> str | None:
        """The first reason's code (what the vectorised evaluator reports)."""
        return self.reasons[0].code if self.reasons else None

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "grade": self.grade, "amount": self.amount,
                "annual_rate": None if self.annual_rate is None else str(self.annual_rate),
                "limit": self.limit,
                "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
                "trace": [t.to_dict() for t in self.trace]}
