"""Which staff servicing operations need a second person (maker-checker), as data.

Why data: how much one officer may move alone is the lender's risk appetite and changes with
it (a write-off always needs a second pair of eyes; a small penalty waiver may not), so the
rules are a setting, read from JSON, never a branch in code.  Each operation is `always`
(approval whatever the amount), `never` (applied at once, on the maker's word), or
`{"above": N}` (approval when the amount the operation moves is more than N minor units).
An operation the setting does not name needs approval: forgetting one must not open a door.
A request not decided within `expires_after_hours` expires.  Pure: no clock, no I/O.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Mapping

from puhui.errors import InvalidEvent


class Operation(str, enum.Enum):
    """The staff servicing operations on a loan (docs/servicing.md)."""

    RESCHEDULE = "reschedule"            # new terms for the remaining debt (重组)
    EXTEND = "extend"                    # more periods at the same rate (展期)
    WAIVE = "waive"                      # forgive penalty or fees (减免)
    REFUND = "refund"                    # pay a credit balance back to the bound account
    REVERSE_PAYMENT = "reverse_payment"  # undo a receipt (a bounced debit, a misapplied payment)
    WRITE_OFF = "write_off"              # charge what is receivable to loan losses (核销)
    RECOVERY = "recovery"                # cash collected after a write-off
    FREEZE = "freeze"                    # a servicing hold: no auto-debit pulls
    UNFREEZE = "unfreeze"                # lift the hold


class Approval(str, enum.Enum):
    ALWAYS = "always"
    NEVER = "never"
    ABOVE = "above"


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    """When one operation needs a checker: always, never, or above `threshold` minor units."""

    approval: Approval
    threshold: int = 0

    def needs_approval(self, amount: int) -> bool:
        if self.approval is Approval.ALWAYS:
            return True
        if self.approval is Approval.NEVER:
            return False
        return amount > self.threshold

    def to_data(self) -> Any:
        return {"above": self.threshold} if self.approval is Approval.ABOVE \
            else self.approval.value


#: The most hours a request may wait for its checker (90 days).
MAX_EXPIRY_HOURS = 90 * 24


@dataclass(frozen=True)
class ApprovalRules:
    """The maker-checker setting: a rule per operation and how long a request may wait."""

    rules: Mapping[Operation, ApprovalRule] = field(default_factory=dict)
    expires_after: timedelta = timedelta(hours=72)

    def rule(self, operation: Operation) -> ApprovalRule:
        """The operation's rule; one the setting does not name needs approval."""
        return self.rules.get(operation, ApprovalRule(Approval.ALWAYS))

    def needs_approval(self, operation: Operation, amount: int) -> bool:
        return self.rule(operation).needs_approval(amount)

    def to_dict(self) -> dict[str, Any]:
        return {"expires_after_hours": int(self.expires_after.total_seconds() // 3600),
                "operations": {op.value: self.rule(op).to_data() for op in Operation}}

    @classmethod
    def from_dict(cls, data: Any) -> "ApprovalRules":
        """Rules from their JSON form; `InvalidEvent` naming what is wrong."""
        if not isinstance(data, Mapping):
            raise InvalidEvent("approval rules are a JSON object")
        unknown = set(data) - {"expires_after_hours", "operations"}
        if unknown:
            raise InvalidEvent(f"unknown approval rule settings {sorted(unknown)}")
        hours = data.get("expires_after_hours", 72)
        if isinstance(hours, bool) or not isinstance(hours, int) \
                or not 1 <= hours <= MAX_EXPIRY_HOURS:
            raise InvalidEvent(f"expires_after_hours must be 1-{MAX_EXPIRY_HOURS}, got {hours!r}")
        operations = data.get("operations", {})
        if not isinstance(operations, Mapping):
            raise InvalidEvent("operations is an object of operation -> rule")
        rules: dict[Operation, ApprovalRule] = {}
        for name, value in operations.items():
            try:
                op = Operation(name)
            except ValueError:
                raise InvalidEvent(f"unknown operation {name!r}; choose from "
                                   f"{[o.value for o in Operation]}") from None
            rules[op] = _rule(name, value)
        return cls(rules, timedelta(hours=hours))

    @classmethod
    def from_json(cls, text: str) -> "ApprovalRules":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise InvalidEvent(f"approval rules are not JSON: {exc}") from None


def _rule(name: str, value: Any) -> ApprovalRule:
    if value in (Approval.ALWAYS.value, Approval.NEVER.value):
        return ApprovalRule(Approval(value))
    if isinstance(value, Mapping) and set(value) == {"above"}:
        threshold = value["above"]
        if not isinstance(threshold, bool) and isinstance(threshold, int) and threshold >= 0:
            return ApprovalRule(Approval.ABOVE, threshold)
    raise InvalidEvent(f"the rule for {name} is 'always', 'never' or {{\"above\": <minor units "
                       f">= 0>}}, not {value!r}")


#: The shipped setting: what moves the book's value or changes a contract needs a checker
#: (write-offs, reschedules, extensions and reversals always; waivers and refunds above 500
#: yuan); cash coming in after a write-off and a servicing hold do not.
DEFAULT_APPROVALS = ApprovalRules.from_dict({
    "expires_after_hours": 72,
    "operations": {
        "reschedule": "always", "extend": "always", "write_off": "always",
        "reverse_payment": "always", "waive": {"above": 500_00}, "refund": {"above": 500_00},
        "recovery": "never", "freeze": "never", "unfreeze": "never",
    },
})

__all__ = ["Approval", "ApprovalRule", "ApprovalRules", "DEFAULT_APPROVALS", "MAX_EXPIRY_HOURS",
           "Operation"]
