"""Fairness of credit decisions across groups (sex, age band, nationality, region...).

Why: credit decisions must not discriminate on sex, marital status, age or nationality (PIPL
art. 24 asks automated decisions to be fair and forbids unreasonable differential treatment).
Keeping protected attributes out of the model is not enough, because other inputs can stand in
for them; the only way to know is to measure the decisions per group.  The attributes are kept
beside the model (`puhui.risk.german` splits them off) precisely so this report can be made.

For each group g of a categorical column, over the applicants in it:

- approval rate      A_g   = approved / applicants
- default rate       D_g   = bad / approved, over approved applicants whose outcome is observed
- true-positive rate TPR_g = approved goods / goods (a good applicant = observed and not bad)

and across the groups of the column:

- demographic parity difference = max A_g - min A_g; ratio = min A_g / max A_g
- equal opportunity difference  = max TPR_g - min TPR_g over groups with at least one good

These are fairlearn's `demographic_parity_difference`/`_ratio` and `equal_opportunity_difference`
(with y_true = good, y_pred = approved).  A group with no goods has no TPR and is left out of the
equal opportunity figures (fairlearn would count it as 0).  A `FairnessTolerance` flags a column
whose difference exceeds it, or whose parity ratio is below the four-fifths rule, and names the
groups concerned.  A flag is information for a reviewer, never an automatic change to a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from puhui.risk import _inputs as check
from puhui.risk.errors import RiskDataError
from puhui.risk.german import PROTECTED_ATTRIBUTES
from puhui.risk import _arrays

MISSING_GROUP = "(missing)"
#: The default age bands' lower bounds after the first: <25, 25-34, 35-49, 50-64, 65+.
AGE_BOUNDS: tuple[int, ...] = (25, 35, 50, 65)
#: Statlog German Credit codes of `personal_status_and_sex` and the sex each one records.
STATLOG_SEX = {"A91": "male", "A92": "female", "A93": "male", "A94": "male", "A95": "female"}


@dataclass(frozen=True)
class FairnessTolerance:
    """Differences above these (or a parity ratio below `parity_ratio`) flag a column."""

    parity_difference: float = 0.10
    equal_opportunity_difference: float = 0.10
    parity_ratio: float = 0.80

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            check.number(value, name, low=0, high=1)


@dataclass(frozen=True)
class GroupFairness:
    group: str
    applicants: int
    approved: int
    approval_rate: float
    approved_observed: int
    defaults: int
    default_rate: float | None
    goods: int
    goods_approved: int
    true_positive_rate: float | None


@dataclass(frozen=True)
class AttributeFairness:
    """The groups of one column and the differences between them."""

    attribute: str
    groups: tuple[GroupFairness, ...]
    parity_difference: float
    parity_ratio: float | None
    equal_opportunity_difference: float | None
    flags: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


@dataclass(frozen=True)
class FairnessReport:
    applicants: int
    approval_rate: float
    attributes: tuple[AttributeFairness, ...]
    tolerance: FairnessTolerance = field(default_factory=FairnessTolerance)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"applicants": self.applicants, "approval_rate": self.approval_rate,
                "tolerance": asdict(self.tolerance), "notes": list(self.notes),
                "attributes": [dict(asdict(a), flagged=a.flagged) for a in self.attributes]}

    def summary(self) -> str:
        lines = [f"{self.applicants} applicants, approval rate {self.approval_rate:.1%}"]
        for a in self.attributes:
            eo = ("n/a" if a.equal_opportunity_difference is None
                  else f"{a.equal_opportunity_difference:.3f}")
            ratio = "n/a" if a.parity_ratio is None else f"{a.parity_ratio:.3f}"
            lines.append(f"{a.attribute}: parity difference {a.parity_difference:.3f}, ratio "
                         f"{ratio}; equal opportunity difference {eo}")
            lines += [f"  {g.group}: {g.applicants} applicants, approval {g.approval_rate:.1%}, "
                      f"default rate {_pct(g.default_rate)}, TPR {_pct(g.true_positive_rate)}"
                      for g in a.groups]
            lines += [f"  FLAG: {f}" for f in a.flags]
        return "\n".join(lines + list(self.notes))



def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def group_labels(values: Any, name: str = "groups") -> tuple[np.ndarray, list[str]]:
    """Group labels as strings (missing values form the group `(missing)`) and the order to
    show the groups in: a categorical's own order (age bands young to old), else sorted."""
    if isinstance(values, pd.Categorical):
        values = pd.Series(values)
    data = _arrays.series(values, name)
    missing = data.isna().to_numpy()
    labels = np.where(missing, MISSING_GROUP, data.astype(str).to_numpy()).astype(object)
    present = set(labels)
    if isinstance(data.dtype, pd.CategoricalDtype):
        order = [str(c) for c in data.cat.categories
                 if str(c) in present and str(c) != MISSING_GROUP]
    else:
        order = sorted(present - {MISSING_GROUP})
    return labels, order + [MISSING_GROUP] * (MISSING_GROUP in present)


def attribute_fairness(attribute: str, groups: Any, approved: Any, bad: Any = None,
                       observed: Any = None,
                       tolerance: FairnessTolerance = FairnessTolerance()) -> AttributeFairness:
    """Per-group rates and the parity and equal opportunity differences of one column."""
    labels, order = group_labels(groups, attribute)
    yes = _arrays.flags(approved, "approved")
    seen = np.ones(len(yes), bool) if observed is None else _arrays.flags(observed, "observed")
    bads = (np.zeros(len(yes), bool) if bad is None
            else _arrays.flags(bad, "bad"))
    _arrays.same_length({attribute: labels, "approved": yes, "observed": seen, "bad": bads})
    if len(yes) == 0:
        raise RiskDataError("no applicants")
    has_outcomes = bad is not None
    good = seen & ~bads
    frame = pd.DataFrame({"group": labels, "approved": yes, "observed_approved": yes & seen,
                          "defaults": yes & seen & bads, "goods": good,
                          "goods_approved": good & yes})
    counts = frame.groupby("group", sort=False).agg(
        applicants=("approved", "size"), approved=("approved", "sum"),
        approved_observed=("observed_approved", "sum"), defaults=("defaults", "sum"),
        goods=("goods", "sum"), goods_approved=("goods_approved", "sum")).reindex(order)
    counts["approval_rate"] = counts["approved"] / counts["applicants"]
    with np.errstate(invalid="ignore", divide="ignore"):
        counts["default_rate"] = counts["defaults"] / counts["approved_observed"].where(
            counts["approved_observed"] > 0)
        counts["tpr"] = counts["goods_approved"] / counts["goods"].where(counts["goods"] > 0)
    rows = tuple(GroupFairness(
        group=str(g), applicants=int(r.applicants), approved=int(r.approved),
        approval_rate=float(r.approval_rate), approved_observed=int(r.approved_observed),
        defaults=int(r.defaults),
        default_rate=_none_if_nan(r.default_rate) if has_outcomes else None,
        goods=int(r.goods), goods_approved=int(r.goods_approved),
        true_positive_rate=_none_if_nan(r.tpr) if has_outcomes else None)
        for g, r in counts.iterrows())  # one row per group, not per applicant
    rates = counts["approval_rate"]
    parity = float(rates.max() - rates.min())
    ratio = float(rates.min() / rates.max()) if rates.max() > 0 else None
    tpr = counts["tpr"].dropna() if has_outcomes else pd.Series(dtype=float)
    eo = float(tpr.max() - tpr.min()) if len(tpr) else None
    flags = []
    if parity > tolerance.parity_difference:
        flags.append(f"approval rates differ by {parity:.3f} (> {tolerance.parity_difference:g})"
                     f": {rates.idxmin()} {rates.min():.1%} vs {rates.idxmax()} "
                     f"{rates.max():.1%}")
    if ratio is not None and ratio < tolerance.parity_ratio:
        flags.append(f"approval rate ratio {ratio:.3f} < {tolerance.parity_ratio:g} "
                     f"(four-fifths rule): {rates.idxmin()} vs {rates.idxmax()}")
    if eo is not None and eo > tolerance.equal_opportunity_difference:
        flags.append(f"good applicants' approval rates differ by {eo:.3f} "
                     f"(> {tolerance.equal_opportunity_difference:g}): {tpr.idxmin()} "
                     f"{tpr.min():.1%} vs {tpr.idxmax()} {tpr.max():.1%}")
    return AttributeFairness(attribute, rows, parity, ratio, eo, tuple(flags))


def fairness_report(approved: Any, groups: Mapping[str, Any] | pd.DataFrame, *,
                    bad: Any = None, observed: Any = None,
                    tolerance: FairnessTolerance = FairnessTolerance(),
                    notes: Iterable[str] = ()) -> FairnessReport:
    """The fairness of `approved` decisions across each column of `groups`.

    `bad` (1 = defaulted) and `observed` (outcome known) give default rates and equal
    opportunity; without `bad` only approval rates and demographic parity are reported."""
    if isinstance(groups, pd.DataFrame):
        columns = {str(c): groups[c] for c in groups.columns}
    elif isinstance(groups, Mapping):
        columns = dict(groups)
    else:
        raise RiskDataError("groups must be a DataFrame or a mapping of column name to values")
    if not columns:
        raise RiskDataError("no group columns given")
    yes = _arrays.flags(approved, "approved")
    attributes = tuple(attribute_fairness(name, values, yes, bad, observed, tolerance)
                       for name, values in columns.items())
    return FairnessReport(len(yes), float(yes.mean()) if len(yes) else 0.0, attributes,
                          tolerance, tuple(notes))


def age_band(ages: Any, bounds: Iterable[int] = AGE_BOUNDS) -> pd.Categorical:
    """Age bands: with the default bounds "<25", "25-34", "35-49", "50-64", "65+" (an ordered
    categorical, so reports list the bands young to old; missing ages are `(missing)`)."""
    edges = list(bounds)
    if not edges or any(not isinstance(b, (int, np.integer)) or isinstance(b, bool)
                        for b in edges) or edges != sorted(set(edges)):
        raise RiskDataError(f"age bounds must be increasing whole years, got {edges}")
    years = _arrays.floats(ages, "ages", allow_missing=True)
    if (years[~np.isnan(years)] < 0).any():
        raise RiskDataError("ages must not be negative")
    names = ([f"<{edges[0]}"] + [f"{lo}-{hi - 1}" for lo, hi in zip(edges[:-1], edges[1:])]
             + [f"{edges[-1]}+"])
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), years, side="right")
    labels = np.where(np.isnan(years), MISSING_GROUP, np.asarray(names, dtype=object)[
        np.minimum(index, len(names) - 1)])
    return pd.Categorical(labels, categories=[*names, MISSING_GROUP], ordered=True)


def sex_from_personal_status(values: Any) -> np.ndarray:
    """Sex from the German Credit `personal_status_and_sex` column: the Statlog codes (A91, A93,
    A94 male; A92, A95 female) or their labels ("male : single", "female : divorced/...")."""
    data = _arrays.series(values, "personal_status_and_sex")
    if data.isna().any():
        raise RiskDataError("personal_status_and_sex has missing values")
    text = data.astype(str).str.strip()
    coded = text.str.upper().map(STATLOG_SEX)
    labelled = text.str.lower().str.split(":").str[0].str.strip()
    sex = coded.fillna(labelled.where(labelled.isin(["male", "female"])))
    unknown = sorted(set(text[sex.isna()]))
    if unknown:
        raise RiskDataError(f"cannot tell sex from personal_status_and_sex values {unknown[:5]}")
    return sex.to_numpy(dtype=object)


def refuse_protected(inputs: Any, protected: Iterable[str] = PROTECTED_ATTRIBUTES) -> None:
    """Raise `ProtectedAttributeUsed` if a model, frame or feature list uses a protected attribute.

    A fitted model is checked through its `feature_names_in_` (what it was trained on)."""
    if hasattr(inputs, "feature_names_in_"):
        names = [str(n) for n in inputs.feature_names_in_]
    elif isinstance(inputs, pd.DataFrame):
        names = [str(c) for c in inputs.columns]
    elif isinstance(inputs, Iterable) and not isinstance(inputs, (str, bytes)):
        names = [str(n) for n in inputs]
    else:
        raise RiskDataError(f"cannot tell the inputs of {type(inputs).__name__}; "
                                     "pass a fitted model, a DataFrame or a list of features")
    check.no_protected(pd.DataFrame(columns=names), protected)
