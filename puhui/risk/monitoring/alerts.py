"""Alerts: the monitoring figures that need a person to look, at two levels.

Why thresholds rather than judgement calls each month: a monitor run by a scheduler must say
on its own when the model needs a review, and the same figures must always give the same verdict.
The defaults are the industry's usual rules of thumb:

- PSI >= 0.10: warn (a moderate shift, investigate); PSI >= 0.25: alert (a major shift).
- AUC drop from the reference >= 0.05: alert; KS drop >= 0.05: warn.

PSI needs a sample to mean anything: with 3 applications most bins are empty and PSI is large
whatever the population does (9.0 on three applications is noise, not a shift).  Below
`psi_min_sample` recent observations (100 by default) no PSI warns or alerts; the report says
"insufficient sample" instead.

A threshold is reached at or above its value.  Differences of floats carry rounding noise
(0.80 - 0.75 is 0.04999... in binary), so a value within `TOLERANCE` (1e-9) below the
threshold counts as reaching it.  Only the highest level reached is reported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from puhui.risk.errors import InvalidParameter
from puhui.risk.monitoring.stability import PsiResult

TOLERANCE = 1e-9


class AlertLevel(str, Enum):
    WARN = "warn"
    ALERT = "alert"


@dataclass(frozen=True)
class Alert:
    level: AlertLevel
    metric: str  # "psi", "auc_drop" or "ks_drop"
    subject: str  # the score, feature or sample the figure belongs to
    value: float
    threshold: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level.value, "metric": self.metric, "subject": self.subject,
                "value": self.value, "threshold": self.threshold, "message": self.message}


@dataclass(frozen=True)
class AlertThresholds:
    """Warn and alert levels per metric; None switches a level off.  `psi_min_sample` is the
    fewest recent observations on which PSI may warn or alert (0: no minimum)."""

    psi_min_sample: int = 100
    psi_warn: float | None = 0.10
    psi_alert: float | None = 0.25
    auc_drop_warn: float | None = None
    auc_drop_alert: float | None = 0.05
    ks_drop_warn: float | None = 0.05
    ks_drop_alert: float | None = None

    def __post_init__(self) -> None:
        if (isinstance(self.psi_min_sample, bool) or not isinstance(self.psi_min_sample, int)
                or self.psi_min_sample < 0):
            raise InvalidParameter(f"psi_min_sample must be an int >= 0, got "
                                   f"{self.psi_min_sample!r}")
        for name in ("psi", "auc_drop", "ks_drop"):
            warn, alert = self.pair(name)
            for level, value in (("warn", warn), ("alert", alert)):
                if value is not None and (isinstance(value, bool)
                                          or not isinstance(value, (int, float))
                                          or not math.isfinite(value) or value < 0):
                    raise InvalidParameter(f"{name}_{level} must be a number >= 0 or None, "
                                           f"got {value!r}")
            if warn is not None and alert is not None and warn > alert:
                raise InvalidParameter(f"{name}_warn ({warn}) must not exceed {name}_alert "
                                       f"({alert})")

    def pair(self, metric: str) -> tuple[float | None, float | None]:
        """(warn, alert) thresholds of `metric`."""
        if metric not in ("psi", "auc_drop", "ks_drop"):
            raise InvalidParameter(f"unknown metric {metric!r}")
        return getattr(self, f"{metric}_warn"), getattr(self, f"{metric}_alert")

    def psi_sample_note(self, n: int) -> str | None:
        """Why PSI on `n` recent observations raises nothing, or None when it may."""
        if n < self.psi_min_sample:
            return f"insufficient sample (n={n} < {self.psi_min_sample})"
        return None

    def to_dict(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def check(metric: str, subject: str, value: float, thresholds: AlertThresholds,
          what: str) -> Alert | None:
    """The alert `value` of `metric` raises, if any (`what` describes the figure)."""
    warn, alert = thresholds.pair(metric)
    for level, threshold in ((AlertLevel.ALERT, alert), (AlertLevel.WARN, warn)):
        if threshold is not None and value >= threshold - TOLERANCE:
            return Alert(level, metric, subject, float(value), float(threshold),
                         f"{what} {value:.4f} >= {threshold:g} ({level.value})")
    return None


def psi_alerts(results: Iterable[PsiResult],
               thresholds: AlertThresholds = AlertThresholds(),
               sample: int | None = None) -> list[Alert]:
    """One alert per score or feature whose PSI reaches a threshold; none at all when the
    recent `sample` size (when given) is below `thresholds.psi_min_sample`."""
    if sample is not None and thresholds.psi_sample_note(sample) is not None:
        return []
    found = (check("psi", r.subject, r.value, thresholds, f"PSI of {r.subject}")
             for r in results)
    return [a for a in found if a is not None]


def drop_alerts(subject: str, reference: Mapping[str, float], current: Mapping[str, float],
                thresholds: AlertThresholds = AlertThresholds()) -> list[Alert]:
    """Alerts for the fall of AUC and KS from `reference` to `current` (metrics either lacks
    are skipped: a cohort without both classes has no AUC to compare)."""
    alerts = []
    for metric in ("auc", "ks"):
        if reference.get(metric) is None or current.get(metric) is None:
            continue
        drop = float(reference[metric]) - float(current[metric])
        alert = check(f"{metric}_drop", subject, drop, thresholds,
                      f"{metric.upper()} of {subject} fell from {reference[metric]:.4f} to "
                      f"{current[metric]:.4f}: a drop of")
        if alert is not None:
            alerts.append(alert)
    return alerts
