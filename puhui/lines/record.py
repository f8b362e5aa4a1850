"""The line decision record: everything one re-evaluation of a credit line used, to replay it.

Why, as for a credit decision (`puhui.decision.record`): a line cut or frozen must be
explainable to the borrower and to an auditor long after, and re-derivable.  The record keeps
the line as it stood (limit, drawn, price, status, dates, product maximum, the rate cap in force
with its provenance), the rules engaged before, the facts exactly as the policy read them
(features, monitoring signals, scores, repayment behaviour), the policy version and SHA-256,
the model versions, the payloads the features came from (scope -> SHA-256), what triggered it,
and the decision's outcome (`LineDecision.outcome`: the rules that fired and released, the
proposed and bounded changes, the rules engaged after).  `replay(record, policy)` evaluates the
stored facts under the recorded policy again, giving the full decision with its trace, whose
outcome must equal the recorded one; scores are facts of the record (the models are not re-run).
The trace is not stored: it is a function of what is, and leaving it out keeps a book's
re-evaluation (200,000 records) cheap to write.  `input_sha256` fingerprints what went in, so
the same re-evaluation run twice (a job killed and run again) is recognised and recorded once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

import orjson

from puhui.lines.policy import (InvalidLineDecision, LineDecision, LineFacts, LinePolicy, decide)

FORMAT = "puhui.line-decision-record/1"
_FIELDS = ("format", "decision_id", "line_id", "applicant_id", "decided_on", "trigger",
           "policy_version", "policy_sha256", "model_versions", "data", "line", "engaged_before",
           "facts", "outcome")


@dataclass(frozen=True)
class LineDecisionRecord:
    decision_id: str
    line_id: str
    applicant_id: str
    decided_on: date
    trigger: str                   # "push:<scope>", "pull", "batch", "manual"
    policy_version: str            # the document's version
    policy_sha256: str
    model_versions: dict[str, str]
    data: dict[str, str]           # scope -> SHA-256 of the payload the facts came from
    line: LineFacts
    engaged_before: dict[str, date]
    facts: dict[str, Any]
    outcome: dict[str, Any]        # LineDecision.outcome()

    @property
    def input_sha256(self) -> str:
        """What went into the decision (line, engaged rules, facts, policy, day), hashed."""
        return input_sha256(self.line, self.engaged_before, self.facts, self.policy_sha256,
                            self.decided_on)

    def to_dict(self) -> dict[str, Any]:
        return record_dict(self.decision_id, self.line_id, self.applicant_id, self.decided_on,
                           self.trigger, self.policy_version, self.policy_sha256,
                           dict(self.model_versions), dict(self.data), self.line.to_dict(),
                           self.engaged_before, dict(self.facts), dict(self.outcome))

    def to_json(self) -> str:
        """Canonical JSON: keys sorted, no spaces, UTF-8 kept."""
        return canonical(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any) -> "LineDecisionRecord":
        if not isinstance(d, Mapping):
            raise InvalidLineDecision("a line decision record is a JSON object")
        missing = [k for k in _FIELDS if k not in d]
        unknown = sorted(set(d) - set(_FIELDS))
        if missing or unknown:
            raise InvalidLineDecision(f"line decision record: missing {missing}, unknown {unknown}")
        if d["format"] != FORMAT:
            raise InvalidLineDecision(f"not a {FORMAT} record: {d['format']!r}")
        facts = d["facts"]
        if not isinstance(facts, Mapping) or any(
                not (v is None or isinstance(v, (bool, int, float, str))) for v in facts.values()):
            raise InvalidLineDecision("line decision facts must be plain JSON values")
        try:
            return cls(str(d["decision_id"]), str(d["line_id"]), str(d["applicant_id"]),
                       date.fromisoformat(d["decided_on"]), str(d["trigger"]),
                       str(d["policy_version"]), str(d["policy_sha256"]),
                       {str(k): str(v) for k, v in d["model_versions"].items()},
                       {str(k): str(v) for k, v in d["data"].items()},
                       LineFacts.from_dict(d["line"]),
                       {str(k): date.fromisoformat(v) for k, v in d["engaged_before"].items()},
                       dict(facts), _outcome(d["outcome"]))
        except InvalidLineDecision:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise InvalidLineDecision(f"unreadable line decision record: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> "LineDecisionRecord":
        try:
            return cls.from_dict(json.loads(text))
        except InvalidLineDecision:
            raise
        except ValueError as exc:
            raise InvalidLineDecision(f"a line decision record is JSON: {exc}") from None


def record_dict(decision_id: str, line_id: str, applicant_id: str, decided_on: date,
                trigger: str, policy_version: str, policy_sha256: str,
                model_versions: dict[str, str], data: dict[str, str], line: dict[str, Any],
                engaged_before: Mapping[str, date], facts: dict[str, Any],
                outcome: dict[str, Any]) -> dict[str, Any]:
    """`LineDecisionRecord.to_dict` from its parts, the line already as `LineFacts.to_dict`:
    what the batch re-evaluation writes without making the record object (its `canonical`
    JSON is the record's `to_json`, byte for byte).  The dicts are taken as they are."""
    return {"format": FORMAT, "decision_id": decision_id, "line_id": line_id,
            "applicant_id": applicant_id, "decided_on": decided_on.isoformat(),
            "trigger": trigger, "policy_version": policy_version,
            "policy_sha256": policy_sha256, "model_versions": model_versions,
            "data": data, "line": line,
            "engaged_before": {k: v.isoformat() for k, v in sorted(engaged_before.items())},
            "facts": facts, "outcome": outcome}


def canonical(value: Any) -> str:
    """JSON with sorted keys and no spaces (orjson: a book's records are written in seconds)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def input_sha256(line: LineFacts | Mapping[str, Any], engaged: Mapping[str, Any],
                 facts: Mapping[str, Any], policy_sha256: str, on: date) -> str:
    """The fingerprint of a re-evaluation's inputs (the line as `LineFacts.to_dict`)."""
    body = canonical({"line": line.to_dict() if isinstance(line, LineFacts) else dict(line),
                      "engaged": {k: v if isinstance(v, str) else v.isoformat()
                                  for k, v in engaged.items()},
                      "facts": dict(facts), "policy": policy_sha256, "on": on.isoformat()})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


_OUTCOME = ("line_id", "decided_on", "policy_version", "fired", "released", "proposed_limit",
            "proposed_rate", "limit", "annual_rate", "freeze", "engaged")


def _outcome(d: Any) -> dict[str, Any]:
    if not isinstance(d, Mapping) or set(d) != set(_OUTCOME):
        raise InvalidLineDecision(f"a line decision outcome has exactly the fields {_OUTCOME}")
    return dict(d)


def replay(record: LineDecisionRecord, policy: LinePolicy) -> LineDecision:
    """The decision re-derived from the record under `policy`, which must be the recorded
    version (`InvalidLineDecision` otherwise); its `outcome()` equals `record.outcome`."""
    if policy.version != record.policy_version or policy.sha256 != record.policy_sha256:
        raise InvalidLineDecision(
            f"the record was decided under {record.policy_version} ({record.policy_sha256[:12]}),"
            f" not {policy.version} ({policy.sha256[:12]})")
    return decide(policy, record.facts, record.line, record.engaged_before, record.decided_on)
