"""A binned characteristic: its bins and the weight of evidence (WoE) of each, from counts.

Why our own record rather than optbinning's objects: a scorecard artefact must score from plain
data (bin edges, category groups, WoE numbers) with no optimiser installed, and the same code
must transform at training and at scoring so both give identical numbers.  optbinning only
chooses the bins; the WoE is recomputed here from the training counts:

    WoE(bin) = ln( (goods in bin / all goods) / (bads in bin / all bads) )

so a positive WoE is safer than average.  A bin with no goods or no bads gets 0.5 added to both
counts (otherwise its WoE would be infinite).  Numerical bins are [lower, upper) intervals.
Missing values, and categories never seen in training, fall in the missing bin, whose WoE is
that of the training rows with a missing value, or 0 (neutral) when there were none.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from puhui.risk.errors import ArtefactError, RiskDataError
from puhui.risk.reasons import show

NUMERICAL, CATEGORICAL = "numerical", "categorical"
MISSING = -1  # bin index of missing values and unseen categories


@dataclass(frozen=True)
class Characteristic:
    """One input of a scorecard: its bins (`splits` or `groups`) and their WoE values."""

    name: str
    kind: str
    splits: tuple[float, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    woe: tuple[float, ...] = ()
    missing_woe: float = 0.0
    iv: float = 0.0
    _lookup: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in (NUMERICAL, CATEGORICAL):
            raise ArtefactError(f"{self.name}: unknown characteristic kind {self.kind!r}")
        if self.kind == NUMERICAL and list(self.splits) != sorted(set(self.splits)):
            raise ArtefactError(f"{self.name}: splits must increase strictly")
        if self.woe and len(self.woe) != self.n_bins:
            raise ArtefactError(f"{self.name}: {len(self.woe)} WoE values for {self.n_bins} bins")
        self._lookup.update({c: i for i, group in enumerate(self.groups) for c in group})

    @property
    def n_bins(self) -> int:
        return len(self.splits) + 1 if self.kind == NUMERICAL else len(self.groups)

    def bin_index(self, values: Any) -> np.ndarray:
        """The bin of each value; `MISSING` (-1) for missing values and unseen categories."""
        s = pd.Series(values).reset_index(drop=True)
        missing = s.isna().to_numpy()
        if self.kind == CATEGORICAL:
            return np.array([MISSING if m else self._lookup.get(str(v), MISSING)
                             for v, m in zip(s, missing)], dtype=np.int64)
        try:
            x = pd.to_numeric(s).to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise RiskDataError(f"{self.name} must be numeric: {exc}") from None
        index = np.searchsorted(np.asarray(self.splits, dtype=np.float64), x, side="right")
        index[missing] = MISSING
        return index.astype(np.int64)

    def bin_of(self, value: Any) -> int:
        """`bin_index` of one value, without building a Series: the live decision's path
        (one applicant), giving the same bin as the batch path."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        if self.kind == CATEGORICAL:
            return self._lookup.get(str(value), MISSING)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise RiskDataError(f"{self.name} must be numeric, got {value!r}") from None
        if math.isnan(value):
            return MISSING
        return bisect.bisect_right(self.splits, float(value))

    def woe_of(self, index: np.ndarray) -> np.ndarray:
        """WoE for bin indices (as returned by `bin_index`)."""
        return np.append(np.asarray(self.woe, dtype=np.float64), self.missing_woe)[index]

    def label(self, index: int) -> str:
        """A bin for people: `< 8.5`, `[8.5, 11.5)`, `>= 43.5`, `car (used), retraining`."""
        if index == MISSING:
            return "missing or not seen in training"
        if self.kind == CATEGORICAL:
            return ", ".join(self.groups[index])
        if not self.splits:
            return "any value"
        if index == 0:
            return f"< {show(self.splits[0])}"
        if index == len(self.splits):
            return f">= {show(self.splits[-1])}"
        return f"[{show(self.splits[index - 1])}, {show(self.splits[index])})"

    @classmethod
    def from_counts(cls, name: str, kind: str, values: Any, y: np.ndarray, *,
                    splits: Sequence[float] = (),
                    groups: Sequence[Sequence[str]] = ()) -> "Characteristic":
        """The characteristic with these bins, its WoE and IV computed on (`values`, `y`)."""
        bare = cls(name, kind, tuple(float(s) for s in splits),
                   tuple(tuple(str(c) for c in g) for g in groups))
        index = bare.bin_index(values)
        slots = np.where(index == MISSING, bare.n_bins, index)  # missing counted last
        bads = np.bincount(slots[y == 1], minlength=bare.n_bins + 1).astype(np.float64)
        goods = np.bincount(slots[y == 0], minlength=bare.n_bins + 1).astype(np.float64)
        total_bad, total_good = bads.sum(), goods.sum()
        woe, iv = [], 0.0
        for k in range(bare.n_bins + 1):
            b, g = bads[k], goods[k]
            if k == bare.n_bins and b + g == 0:
                woe.append(0.0)
                continue
            if b == 0 or g == 0:
                b, g = b + 0.5, g + 0.5
            w = math.log((g / total_good) / (b / total_bad))
            woe.append(w)
            iv += (g / total_good - b / total_bad) * w
        return cls(name, kind, bare.splits, bare.groups, tuple(woe[:-1]), woe[-1], iv)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "splits": list(self.splits),
                "groups": [list(g) for g in self.groups], "woe": list(self.woe),
                "missing_woe": self.missing_woe, "iv": self.iv}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Characteristic":
        try:
            return cls(str(d["name"]), str(d["kind"]),
                       tuple(float(s) for s in d["splits"]),
                       tuple(tuple(str(c) for c in g) for g in d["groups"]),
                       tuple(float(w) for w in d["woe"]), float(d["missing_woe"]),
                       float(d["iv"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtefactError(f"malformed characteristic in artefact: {exc!r}") from None
