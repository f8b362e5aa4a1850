"""Reason codes: why a model scored an applicant lower, one record per contributing feature.

Why a shared record: the scorecard measures a feature's harm in points lost against its best
bin, the gradient-boosting model in log-odds added (SHAP values); a decline letter, an audit
trail and the origination `Decider` need both in the same shape.  `Reason.of` (in
`puhui.decision.outcome`) turns one into a decision `Reason` (stable code for systems, message
for people): risk knows nothing of decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_CODE_MAX = 64  # the origination Reason's code length limit


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """A feature that lowered the score: its value, how much it cost (`impact`, in `unit`)."""

    feature: str
    value: Any
    impact: float
    unit: str
    message: str

    @property
    def code(self) -> str:
        """A stable code for systems: RISK_ plus the feature name in capitals."""
        return ("RISK_" + feature_code(self.feature))[:_CODE_MAX]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "feature": self.feature, "value": self.value,
                "impact": self.impact, "unit": self.unit, "message": self.message}


def feature_code(name: str) -> str:
    """`credit_amount` -> `CREDIT_AMOUNT`: letters and digits kept, anything else an underscore."""
    return "".join(c if c.isalnum() else "_" for c in name.upper()).strip("_") or "FEATURE"


def humanise(name: str) -> str:
    """`duration_in_month` -> `duration in month`, for messages."""
    return name.replace("_", " ").strip()


def show(value: Any) -> str:
    """A feature value for a message: whole numbers without `.0`, missing as `missing`."""
    if value is None or (isinstance(value, float) and value != value):
        return "missing"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
