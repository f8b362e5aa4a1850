"""The decision record: everything needed to explain and replay one credit decision.

Why: a decision is only auditable if it can be re-derived.  The record keeps the facts exactly
as the policy read them (applicant facts, features and scores), the policy version and the
SHA-256 of its canonical document, the model versions and the champion's reason codes, the
product terms and platform rate cap the limit and price were checked against (with the cap
setting's version and LPR publication it came from), the result with
its trace, and the decision itself.  `puhui.decision.policy_decider.replay` evaluates the stored facts
under the stored policy version again and must reach the same decision.  `to_dict` is plain
JSON; `from_dict` refuses a record that is incomplete or of the wrong shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from puhui.decision.errors import InvalidDecisionRecord, InvalidFacts
from puhui.decision.result import TraceEntry
from puhui.errors import PuhuiError
from puhui.loans.caps import cap_from_dict, cap_to_dict
from puhui.loans.product import LoanProduct, RateCap
from puhui.decision.outcome import Decision, Reason

FORMAT = "puhui.decision-record/1"
_FIELDS = ("format", "application_id", "decided_on", "policy_version", "policy_sha256",
           "model_versions", "facts", "model_reasons", "product", "rate_cap", "result", "trace",
           "decision")


@dataclass(frozen=True)
class DecisionRecord:
    application_id: str
    decided_on: date
    policy_version: str            # the policy document's `version`
    policy_sha256: str             # of its canonical JSON
    model_versions: dict[str, str]
    facts: dict[str, Any]
    model_reasons: tuple[Reason, ...]
    product: dict[str, Any]        # LoanProduct.to_dict()
    rate_cap: RateCap | None       # the platform's cap (with its provenance) when one was enforced
    result: dict[str, Any]         # outcome, grade, amount, annual_rate, limit, reasons
    trace: tuple[TraceEntry, ...]
    decision: Decision

    def loan_product(self) -> LoanProduct:
        return LoanProduct.from_dict(dict(self.product))

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "application_id": self.application_id,
                "decided_on": self.decided_on.isoformat(),
                "policy_version": self.policy_version, "policy_sha256": self.policy_sha256,
                "model_versions": dict(self.model_versions), "facts": dict(self.facts),
                "model_reasons": [{"code": r.code, "message": r.message}
                                  for r in self.model_reasons],
                "product": dict(self.product),
                "rate_cap": None if self.rate_cap is None else cap_to_dict(self.rate_cap),
                "result": dict(self.result), "trace": [t.to_dict() for t in self.trace],
                "decision": self.decision.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Any) -> "DecisionRecord":
        if not isinstance(d, Mapping):
            raise InvalidDecisionRecord("a decision record is a JSON object")
        missing = [k for k in _FIELDS if k not in d]
        unknown = sorted(set(d) - set(_FIELDS))
        if missing or unknown:
            raise InvalidDecisionRecord(f"decision record: missing {missing}, unknown {unknown}")
        if d["format"] != FORMAT:
            raise InvalidDecisionRecord(f"not a {FORMAT} record: {d['format']!r}")
        try:
            for key, kind in (("application_id", str), ("decided_on", str),
                              ("policy_version", str), ("policy_sha256", str),
                              ("model_versions", Mapping), ("facts", Mapping),
                              ("model_reasons", list), ("product", Mapping),
                              ("result", Mapping), ("trace", list), ("decision", Mapping)):
                if not isinstance(d[key], kind):
                    raise InvalidDecisionRecord(f"decision record {key} has the wrong type")
            facts = dict(d["facts"])
            bad = [k for k, v in facts.items() if not isinstance(k, str) or not (
                v is None or isinstance(v, (bool, int, float, str)))]
            if bad:
                raise InvalidDecisionRecord(f"facts {bad} are not plain JSON values")
            cap = d["rate_cap"]
            rate_cap = None if cap is None else cap_from_dict(
                {**cap, "annual_limit": str(cap["annual_limit"]), "label": str(cap["label"])})
            record = cls(d["application_id"], date.fromisoformat(d["decided_on"]),
                         d["policy_version"], d["policy_sha256"],
                         {str(k): str(v) for k, v in d["model_versions"].items()}, facts,
                         tuple(Reason(r["code"], r["message"]) for r in d["model_reasons"]),
                         dict(d["product"]), rate_cap, dict(d["result"]),
                         tuple(TraceEntry.from_dict(t) for t in d["trace"]),
                         Decision.from_dict(d["decision"]))
            record.loan_product()
        except InvalidDecisionRecord:
            raise
        except (PuhuiError, InvalidFacts, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise InvalidDecisionRecord(f"unreadable decision record: {exc}") from None
        return record

    @classmethod
    def from_json(cls, text: str | bytes) -> "DecisionRecord":
        try:
            return cls.from_dict(json.loads(text))
        except ValueError as exc:
            if isinstance(exc, InvalidDecisionRecord):
                raise
            raise InvalidDecisionRecord(f"a decision record is JSON: {exc}") from None
