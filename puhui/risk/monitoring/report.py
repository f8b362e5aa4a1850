"""The monitoring report: stability, discrimination, vintages and alerts of one recent sample.

Why one object: a monthly model review reads all of these together, and the same record must be
printable for a person (`summary`; `puhui risk monitor` draws it as tables) and storable as JSON
for the next review (`to_dict`).  `monitor` builds it from a stored `StabilityReference`, a recent frame and the
figures the caller has; it needs no training data and fits nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from puhui.risk.errors import RiskDataError
from puhui.risk.monitoring.alerts import (Alert, AlertLevel, AlertThresholds, drop_alerts,
                                          psi_alerts)
from puhui.risk.monitoring.discrimination import DiscriminationResult
from puhui.risk.monitoring.stability import PsiResult, StabilityReference


@dataclass(frozen=True)
class MonitoringReport:
    """Figures of one recent sample against the reference, and the alerts they raise."""

    subject: str
    score_psi: tuple[PsiResult, ...]
    feature_psi: tuple[PsiResult, ...]
    reference_metrics: Mapping[str, float] | None = None
    metrics: Mapping[str, float] | None = None
    matured: DiscriminationResult | None = None
    vintages: pl.DataFrame | None = None
    alerts: tuple[Alert, ...] = ()
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)
    as_of: date | None = None
    sample: int | None = None  # recent observations behind the PSI figures

    @property
    def psi_note(self) -> str | None:
        """"insufficient sample (n=3 < 100)" when PSI is too noisy to warn or alert on."""
        return None if self.sample is None else self.thresholds.psi_sample_note(self.sample)

    @property
    def worst_level(self) -> str:
        """"alert", "warn" or "ok"."""
        levels = {a.level.value for a in self.alerts}
        return "alert" if "alert" in levels else "warn" if "warn" in levels else "ok"

    def to_dict(self) -> dict[str, Any]:
        vintages = None
        if self.vintages is not None:
            vintages = self.vintages.with_columns(pl.col("cohort").cast(pl.String)).to_dicts()
        return {
            "subject": self.subject, "as_of": self.as_of.isoformat() if self.as_of else None,
            "status": self.worst_level,
            "score_psi": [r.to_dict() for r in self.score_psi],
            "feature_psi": [r.to_dict() for r in self.feature_psi],
            "reference_metrics": dict(self.reference_metrics or {}) or None,
            "metrics": dict(self.metrics or {}) or None,
            "matured": self.matured.to_dict() if self.matured else None,
            "vintages": vintages,
            "alerts": [a.to_dict() for a in self.alerts],
            "sample": self.sample, "psi_note": self.psi_note,
            "thresholds": self.thresholds.to_dict()}

    def summary(self) -> str:
        """Plain text: status, PSI per score and feature, AUC/KS against the reference, alerts."""
        lines = [f"Monitoring {self.subject}" + (f" as of {self.as_of}" if self.as_of else "")
                 + f": {self.worst_level.upper()}"]
        if self.psi_note:
            lines.append(f"  PSI: {self.psi_note}; no population-stability alert")
        for title, results in (("score", self.score_psi), ("feature", self.feature_psi)):
            for r in sorted(results, key=lambda r: -r.value):
                lines.append(f"  PSI {title:<7} {r.subject:<45} {r.value:8.4f}")
        for metric, value in (self.metrics or {}).items():
            ref = (self.reference_metrics or {}).get(metric)
            shown = f"  {metric.upper():<4} {value:.4f}"
            lines.append(shown + (f" (reference {ref:.4f})" if ref is not None else ""))
        if self.matured is not None:
            lines.append(f"  matured loans: {self.matured.matured} of {self.matured.loans} "
                         f"(window {self.matured.window_months} months)")
        if self.vintages is not None:
            lines.append(f"  vintages: {self.vintages['cohort'].n_unique()} cohorts")
        lines += [f"  [{a.level.value.upper()}] {a.message}" for a in self.alerts] or [
            "  no alerts"]
        return "\n".join(lines)


def monitor(reference: StabilityReference, recent: Any, *, subject: str = "recent",
            scores: Collection[str] = (), reference_metrics: Mapping[str, float] | None = None,
            metrics: Mapping[str, float] | None = None,
            matured: DiscriminationResult | None = None, vintages: pl.DataFrame | None = None,
            thresholds: AlertThresholds = AlertThresholds(),
            as_of: date | None = None) -> MonitoringReport:
    """PSI of every reference column in `recent` (those named in `scores` reported as scores,
    the rest as features), AUC/KS against `reference_metrics`, and the alerts.

    `metrics` are the recent AUC/KS; when absent they are taken from `matured`.  Below
    `thresholds.psi_min_sample` recent rows PSI is reported but raises no alert, and the
    report says why (`psi_note`)."""
    unknown = set(scores) - set(reference.columns)
    if unknown:
        raise RiskDataError(f"scores {sorted(unknown)} are not in the stability reference")
    results = reference.psi(recent)
    if metrics is None and matured is not None:
        metrics = matured.metrics()
    sample = max((r.recent_count for r in results), default=0)
    alerts = psi_alerts(results, thresholds, sample)
    if reference_metrics and metrics:
        alerts += drop_alerts(subject, reference_metrics, metrics, thresholds)
    alerts.sort(key=lambda a: (a.level is not AlertLevel.ALERT, -a.value))
    wanted = ("auc", "ks", "gini")
    return MonitoringReport(
        subject=subject,
        score_psi=tuple(r for r in results if r.subject in scores),
        feature_psi=tuple(r for r in results if r.subject not in scores),
        reference_metrics={k: float(v) for k, v in (reference_metrics or {}).items()
                           if k in wanted} or None,
        metrics={k: float(v) for k, v in (metrics or {}).items() if k in wanted} or None,
        matured=matured, vintages=vintages, alerts=tuple(alerts), thresholds=thresholds,
        as_of=as_of or (matured.as_of if matured else None), sample=sample)
