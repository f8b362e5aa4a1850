"""Population stability: has the population a model scores moved away from the one it learned on?

Why PSI: a model's figures hold for the population it was trained and validated on.  When the
applicants change (a new channel, a new product, a downturn) the score distribution moves before
any default can be observed, so the shift is the earliest warning there is.  The population
stability index compares the share of a reference sample (the training data) and of a recent
sample in each bin:

    PSI = sum over bins of (recent share - reference share) * ln(recent share / reference share)

Every term is >= 0, so PSI >= 0, and 0 means identical shares.  A share of 0 would make the
logarithm infinite, so each share is floored at `EPSILON` (0.0001) before the formula is
applied; a bin that is empty in both samples then contributes exactly 0.

Bins: a numeric score or feature gets quantile bins fitted on the reference (`bins` = 10 by
default: deciles).  Edges are reference values (the "inverted CDF" quantile), bins are closed on
the right, (lower, upper], and edges that would leave a bin empty are dropped, so heavily tied
data gets fewer bins.  A categorical feature gets one bin per category seen in the reference,
and one more for each category that appears only in the recent sample.  Missing values are a
bin of their own in both cases.  The fitted bins are plain data (`StabilityReference.to_json`),
so a production monitor compares against the training reference without the training data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl

from puhui.risk import _inputs as check
from puhui.risk.errors import ArtefactError, RiskDataError
from puhui.risk import _arrays

#: The floor applied to every bin's share before the PSI formula (no log of zero).
EPSILON = 1e-4
#: The label of the bin that holds missing values.
MISSING = "missing"
FORMAT = "puhui.stability/1"

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class PsiBin:
    """One bin of a PSI table; shares are unfloored, `contribution` uses the floored ones."""

    label: str
    reference_count: int
    recent_count: int
    reference_share: float
    recent_share: float
    contribution: float
    new: bool = False  # a category seen only in the recent sample


@dataclass(frozen=True)
class PsiResult:
    """The PSI of one score or feature and the per-bin table behind it."""

    subject: str
    kind: Kind
    value: float
    bins: tuple[PsiBin, ...]

    @property
    def reference_count(self) -> int:
        return sum(b.reference_count for b in self.bins)

    @property
    def recent_count(self) -> int:
        return sum(b.recent_count for b in self.bins)

    def to_frame(self) -> pl.DataFrame:
        """The per-bin table (label, counts, shares, contribution, new)."""
        return pl.DataFrame([asdict(b) for b in self.bins])

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "kind": self.kind, "psi": self.value,
                "reference_count": self.reference_count, "recent_count": self.recent_count,
                "bins": [asdict(b) for b in self.bins]}


def psi_from_counts(reference_counts: Any, recent_counts: Any) -> float:
    """PSI from bin counts that line up (for example counted by SQL in production)."""
    return float(_contributions(*_count_pair(reference_counts, recent_counts)).sum())


def _count_pair(reference_counts: Any, recent_counts: Any) -> tuple[np.ndarray, np.ndarray]:
    ref = _arrays.floats(reference_counts, "reference_counts")
    rec = _arrays.floats(recent_counts, "recent_counts")
    _arrays.same_length({"reference_counts": ref, "recent_counts": rec})
    for name, counts in (("reference_counts", ref), ("recent_counts", rec)):
        if (counts < 0).any() or counts.sum() <= 0:
            raise RiskDataError(f"{name} must be non-negative with a positive total")
    return ref, rec


def _contributions(reference: np.ndarray, recent: np.ndarray) -> np.ndarray:
    expected = np.maximum(reference / reference.sum(), EPSILON)
    actual = np.maximum(recent / recent.sum(), EPSILON)
    return (actual - expected) * np.log(actual / expected)


@dataclass(frozen=True)
class BinSpec:
    """The bins of one column, fitted on the reference sample, with the reference counts.

    Numeric: `edges` e1 < ... < ek give bins (-inf, e1], (e1, e2], ..., (ek, inf).
    Categorical: one bin per reference category.  The missing bin comes last in both."""

    column: str
    kind: Kind
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    reference_counts: tuple[int, ...]

    @classmethod
    def fit(cls, column: str, values: Any, bins: int = 10) -> "BinSpec":
        check.number(bins, "bins", low=1, integer=True)
        data = _arrays.series(values, column)
        if len(data) == 0:
            raise RiskDataError(f"the reference sample of {column!r} is empty")
        if _is_numeric(data):
            x = _arrays.floats(data, column, allow_missing=True)
            present = x[~np.isnan(x)]
            edges = np.empty(0)
            if len(present):
                probs = np.arange(1, bins) / bins
                edges = np.unique(np.quantile(present, probs, method="inverted_cdf"))
                edges = edges[edges < present.max()]
            spec = cls(column, "numeric", tuple(float(e) for e in edges), (), ())
        else:
            present = _labels(data)
            categories = tuple(sorted(set(present.dropna())))
            spec = cls(column, "categorical", (), categories, ())
        counts, _ = spec._count(data)
        return cls(spec.column, spec.kind, spec.edges, spec.categories,
                   tuple(int(c) for c in counts))

    def labels(self) -> list[str]:
        if self.kind == "categorical":
            return [*self.categories, MISSING]
        if not self.edges:
            return ["all values", MISSING]
        shown = [f"{e:.6g}" for e in self.edges]
        middle = [f"({lo}, {hi}]" for lo, hi in zip(shown[:-1], shown[1:])]
        return [f"<= {shown[0]}", *middle, f"> {shown[-1]}", MISSING]

    def _count(self, data: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
        """Counts per bin (missing last) and, for categories unseen in the reference, theirs."""
        if self.kind == "numeric":
            x = _arrays.floats(data, self.column, allow_missing=True)
            missing = np.isnan(x)
            index = np.searchsorted(np.asarray(self.edges, dtype=np.float64), x[~missing],
                                    side="left")
            counts = np.bincount(index, minlength=len(self.edges) + 1)
            return np.append(counts, missing.sum()), {}
        labels = _labels(data)
        found = labels.value_counts(dropna=True)
        counts = found.reindex(list(self.categories), fill_value=0).to_numpy(dtype=np.int64)
        new = {str(k): int(v) for k, v in found.items() if k not in set(self.categories)}
        return np.append(counts, labels.isna().sum()), dict(sorted(new.items()))

    def psi(self, values: Any) -> PsiResult:
        """The PSI of a recent sample of this column against the reference."""
        data = _arrays.series(values, self.column)
        if len(data) == 0:
            raise RiskDataError(f"the recent sample of {self.column!r} is empty")
        counts, new = self._count(data)
        labels = self.labels()
        reference = np.asarray(self.reference_counts, dtype=np.float64)
        recent = counts.astype(np.float64)
        if new:  # new categories go before the missing bin, with no reference rows
            labels = [*labels[:-1], *new, labels[-1]]
            reference = np.concatenate([reference[:-1], np.zeros(len(new)), reference[-1:]])
            recent = np.concatenate([recent[:-1], list(new.values()), recent[-1:]])
        terms = _contributions(reference, recent)
        flagged = set(new)
        bins = tuple(PsiBin(label, int(r), int(c), float(r / reference.sum()),
                            float(c / recent.sum()), float(t), label in flagged)
                     for label, r, c, t in zip(labels, reference, recent, terms))
        return PsiResult(self.column, self.kind, float(terms.sum()), bins)

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "kind": self.kind, "edges": list(self.edges),
                "categories": list(self.categories),
                "reference_counts": list(self.reference_counts)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "BinSpec":
        try:
            spec = cls(str(doc["column"]), doc["kind"], tuple(float(e) for e in doc["edges"]),
                       tuple(str(c) for c in doc["categories"]),
                       tuple(int(c) for c in doc["reference_counts"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtefactError(f"malformed stability bins: {exc!r}") from None
        expected = len(spec.labels())
        if spec.kind not in ("numeric", "categorical") or len(spec.reference_counts) != expected:
            raise ArtefactError(f"malformed stability bins for {spec.column!r}")
        return spec


def _is_numeric(data: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(data) and not pd.api.types.is_bool_dtype(data)


def _labels(data: pd.Series) -> pd.Series:
    """Category labels as strings, missing kept missing."""
    missing = data.isna().to_numpy()
    labels = pd.Series(np.where(missing, None, data.astype(str).to_numpy()), dtype=object)
    return labels


class StabilityReference:
    """Bins and reference counts per column: everything a monitor needs from the training data."""

    def __init__(self, specs: Iterable[BinSpec]) -> None:
        self.specs: dict[str, BinSpec] = {s.column: s for s in specs}

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.specs)

    @classmethod
    def fit(cls, frame: Any, columns: Iterable[str] | None = None, *,
            bins: int = 10) -> "StabilityReference":
        """Fit bins on the reference `frame` (pandas, Polars or a mapping of columns)."""
        if columns is not None:
            names = list(check.names(columns, "columns"))
        elif isinstance(frame, (pd.DataFrame, pl.DataFrame)):
            names = [str(c) for c in frame.columns]
        else:
            names = [str(c) for c in frame] if isinstance(frame, Mapping) else []
        if not names:
            raise RiskDataError("no columns to monitor")
        return cls(BinSpec.fit(n, _arrays.column(frame, n, "reference frame"), bins)
                   for n in names)

    def psi(self, recent: Any) -> list[PsiResult]:
        """PSI of each reference column in the `recent` frame, in the reference's order."""
        return [spec.psi(_arrays.column(recent, name, "recent frame"))
                for name, spec in self.specs.items()]

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT,
                           "columns": [s.to_dict() for s in self.specs.values()]}, indent=1)

    def to_bytes(self) -> bytes:
        """The registry artefact (`puhui.risk.model_registry` stores and hashes these bytes)."""
        return self.to_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> "StabilityReference":
        return cls.from_json(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> "StabilityReference":
        try:
            doc = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ArtefactError(f"stability reference is not JSON: {exc}") from None
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            raise ArtefactError(f"not a {FORMAT} document")
        if not isinstance(doc.get("columns"), list):
            raise ArtefactError("malformed stability reference: no column list")
        return cls(BinSpec.from_dict(c) for c in doc["columns"])


def psi(reference: Any, recent: Any, bins: int = 10, *, subject: str = "value") -> PsiResult:
    """The PSI of one score or feature: bins fitted on `reference`, applied to `recent`."""
    return BinSpec.fit(subject, reference, bins).psi(recent)


def psi_table(reference_frame: Any, recent_frame: Any, columns: Iterable[str], *,
              bins: int = 10) -> list[PsiResult]:
    """The PSI of several columns of two frames (bins fitted on `reference_frame`)."""
    return StabilityReference.fit(reference_frame, columns, bins=bins).psi(recent_frame)
