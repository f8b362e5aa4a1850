"""Model monitoring: is the population stable, does the model still rank, how do cohorts age?

    stability        PSI per score and feature; `StabilityReference` stores the training bins
    discrimination   AUC and KS on matured loans only, overall and per origination month
    vintage          cumulative default rate by cohort and months on book; a Plotly chart
    alerts           warn/alert thresholds and the `Alert` records they raise
    report           `MonitoringReport` and `monitor`, which builds one

Every function takes loan-level arrays or frames (NumPy, pandas or Polars) and returns plain
results, so the platform's own book is monitored the same way as the German Credit demo.
"""

from puhui.risk.monitoring.alerts import (Alert, AlertLevel, AlertThresholds, drop_alerts,
                                          psi_alerts)
from puhui.risk.monitoring.discrimination import (DiscriminationResult, matured_discrimination,
                                                  matured_mask)
from puhui.risk.monitoring.report import MonitoringReport, monitor
from puhui.risk.monitoring.stability import (EPSILON, PsiBin, PsiResult, StabilityReference, psi,
                                             psi_from_counts, psi_table)
from puhui.risk.monitoring.vintage import vintage_curves, vintage_figure

__all__ = [
    "Alert", "AlertLevel", "AlertThresholds", "DiscriminationResult", "EPSILON",
    "MonitoringReport", "PsiBin", "PsiResult", "StabilityReference", "drop_alerts",
    "matured_discrimination", "matured_mask", "monitor", "psi", "psi_alerts", "psi_from_counts",
    "psi_table", "vintage_curves", "vintage_figure"]
