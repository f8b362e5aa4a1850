"""Does the model still rank risk?  AUC and KS on loans whose outcome is known, by cohort.

Why matured loans only: a loan originated last month has had no time to default, so it looks
"good" whatever its score.  Counting it mixes loans that are good with loans that are merely
young, and the measured AUC drifts with the age of the book instead of the model's power.  A loan
counts here only when its whole performance window has passed: at least `window_months` full
calendar months between origination and the as-of date (12 by default), and, when the caller
says so, its outcome is flagged as known or its outcome date is on or before the as-of date.
A default inside the window is bad (`bad` = 1); the label of an immature loan may be missing.

AUC and KS are `puhui.risk.evaluation`'s; scores are higher for riskier loans (a probability of
default), or pass `higher_is_riskier=False` for points.  Cohorts are origination months; a cohort
with no matured loans, or with matured loans of one class only, has no AUC or KS (null).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from puhui.risk import _inputs as check
from puhui.risk.errors import RiskDataError
from puhui.risk.evaluation import auc, ks
from puhui.risk import _arrays


@dataclass(frozen=True)
class DiscriminationResult:
    """AUC and KS over all matured loans and per origination month (`by_cohort`)."""

    as_of: date
    window_months: int
    loans: int
    matured: int
    bads: int
    auc: float | None
    ks: float | None
    by_cohort: pl.DataFrame  # cohort, loans, matured, bads, auc, ks

    def metrics(self) -> dict[str, float]:
        """The overall figures that exist, for comparing with a reference."""
        return {k: v for k, v in (("auc", self.auc), ("ks", self.ks)) if v is not None}

    def to_dict(self) -> dict[str, Any]:
        cohorts = self.by_cohort.with_columns(pl.col("cohort").cast(pl.String))
        return {"as_of": self.as_of.isoformat(), "window_months": self.window_months,
                "loans": self.loans, "matured": self.matured, "bads": self.bads,
                "auc": self.auc, "ks": self.ks, "by_cohort": cohorts.to_dicts()}


def _ranking(bad: np.ndarray, scores: np.ndarray) -> tuple[float | None, float | None]:
    if len(bad) == 0 or bad.min() == bad.max():
        return None, None
    return auc(bad, scores), ks(bad, scores)


def matured_mask(origination: Any, as_of: Any, *, window_months: int = 12,
                 outcome_known: Any = None, outcome_dates: Any = None) -> np.ndarray:
    """Which loans have a known outcome by `as_of` under the maturity rule (module docstring)."""
    check.number(window_months, "window_months", low=0, integer=True)
    start = _arrays.dates(origination, "origination")
    end = _arrays.day(as_of, "as_of")
    if (start > end).any():
        raise RiskDataError("origination dates after the as-of date")
    mask = _arrays.months_between(start, end) >= window_months
    arrays = {"origination": start}
    if outcome_known is not None:
        arrays["outcome_known"] = known = _arrays.flags(outcome_known, "outcome_known")
        mask &= known
    if outcome_dates is not None:
        arrays["outcome_dates"] = when = _arrays.dates(outcome_dates, "outcome_dates",
                                                       allow_missing=True)
        mask &= ~np.isnat(when) & (when <= end)
    _arrays.same_length(arrays)
    return mask


def matured_discrimination(origination: Any, scores: Any, bad: Any, as_of: Any, *,
                           window_months: int = 12, outcome_known: Any = None,
                           outcome_dates: Any = None,
                           higher_is_riskier: bool = True) -> DiscriminationResult:
    """AUC and KS of `scores` against `bad` over matured loans only, overall and per cohort."""
    mask = matured_mask(origination, as_of, window_months=window_months,
                        outcome_known=outcome_known, outcome_dates=outcome_dates)
    start = _arrays.dates(origination, "origination")
    risk = _arrays.floats(scores, "scores")
    label = _arrays.floats(bad, "bad", allow_missing=True)
    _arrays.same_length({"origination": start, "scores": risk, "bad": label})
    if np.isnan(label[mask]).any() or not np.isin(label[mask], (0, 1)).all():
        raise RiskDataError("bad must be 0 or 1 for every matured loan")
    if not higher_is_riskier:
        risk = -risk
    frame = pl.DataFrame({"cohort": _arrays.month_start(start), "matured": mask,
                          "bad": np.where(mask, label, 0).astype(np.int64), "score": risk})
    rows = []
    for (cohort,), group in frame.sort("cohort").group_by("cohort", maintain_order=True):
        done = group.filter(pl.col("matured"))
        y = done["bad"].to_numpy()
        cohort_auc, cohort_ks = _ranking(y, done["score"].to_numpy())
        rows.append({"cohort": cohort, "loans": group.height, "matured": done.height,
                     "bads": int(y.sum()), "auc": cohort_auc, "ks": cohort_ks})
    schema = {"cohort": pl.Date, "loans": pl.Int64, "matured": pl.Int64, "bads": pl.Int64,
              "auc": pl.Float64, "ks": pl.Float64}
    y_all = label[mask].astype(np.int64)
    overall_auc, overall_ks = _ranking(y_all, risk[mask])
    return DiscriminationResult(
        as_of=_arrays.day(as_of, "as_of").item(), window_months=window_months,
        loans=len(start), matured=int(mask.sum()), bads=int(y_all.sum()), auc=overall_auc,
        ks=overall_ks, by_cohort=pl.DataFrame(rows, schema=schema))
