"""A points scorecard: WoE-binned characteristics, a logistic regression, points-to-double-odds.

Why a scorecard: every point can be traced to one bin of one characteristic, so a decline can
say which answers cost the applicant the most, an auditor can read the whole model from a
table, and the artefact scores with no machine-learning library beyond numpy.

How it is built: optbinning's `BinningProcess` chooses bins per characteristic (monotonic
bad rate for numerical ones, `monotonic_trend="auto_asc_desc"`) and drops characteristics whose
information value is below `min_iv`; `puhui.risk.woe` recomputes the WoE from counts; a
logistic regression is fitted on the WoE values.  A characteristic whose coefficient comes out
with the wrong sign (riskier bins scoring higher, which happens with collinear inputs) is dropped
and the regression refitted, so points always fall as the bin's bad rate rises.

Scaling: with `factor = pdo / ln 2` and `offset = base_points - factor * ln(base_odds)`,
`score = offset + factor * ln(odds of good)`: `base_points` at good:bad odds of `base_odds`:1,
`pdo` more points for each doubling of the odds.  Scores and probabilities are floats; they
are model outputs, not money.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from puhui.risk import _inputs as check
from puhui.risk.errors import ArtefactError, InvalidParameter, NotFittedError, RiskDataError
from puhui.risk.german import PROTECTED_ATTRIBUTES
from puhui.risk.reasons import ReasonCode, humanise, show
from puhui.risk.woe import CATEGORICAL, MISSING, NUMERICAL, Characteristic

FORMAT = "puhui.scorecard/1"
_EPSILON = 1e-9  # points lost below this are rounding noise, not a reason


class ApplicantScore(NamedTuple):
    """One applicant scored: probability of default, points (higher is safer), reasons."""

    pd: float
    points: float
    reasons: tuple[ReasonCode, ...]


class Scorecard(ClassifierMixin, BaseEstimator):
    """WoE logistic scorecard with the scikit-learn estimator contract.

    `score(X)` returns points (higher is safer), not scikit-learn's accuracy: for a credit
    scorecard "score" means points.  Use `predict_proba` with the metrics in
    `puhui.risk.evaluation` to measure it."""

    def __init__(self, *, min_iv: float = 0.02, max_n_prebins: int = 20,
                 min_prebin_size: float = 0.05, max_n_bins: int | None = None,
                 monotonic_trend: str | None = "auto_asc_desc", C: float = 1.0,
                 max_iter: int = 1000, base_points: float = 600.0, base_odds: float = 50.0,
                 pdo: float = 20.0,
                 protected: tuple[str, ...] = PROTECTED_ATTRIBUTES) -> None:
        self.min_iv = min_iv
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.max_n_bins = max_n_bins
        self.monotonic_trend = monotonic_trend
        self.C = C
        self.max_iter = max_iter
        self.base_points = base_points
        self.base_odds = base_odds
        self.pdo = pdo
        self.protected = protected

    def _validate_params(self) -> None:
        check.number(self.min_iv, "min_iv", low=0)
        check.number(self.max_n_prebins, "max_n_prebins", low=2, integer=True)
        check.number(self.min_prebin_size, "min_prebin_size", low=0, high=0.5, low_open=True)
        if self.max_n_bins is not None:
            check.number(self.max_n_bins, "max_n_bins", low=2, integer=True)
        if self.monotonic_trend not in (None, "auto", "auto_heuristic", "auto_asc_desc",
                                        "ascending", "descending", "convex", "concave",
                                        "peak", "valley"):
            raise InvalidParameter(f"unknown monotonic_trend {self.monotonic_trend!r}")
        check.number(self.C, "C", low=0, low_open=True)
        check.number(self.max_iter, "max_iter", low=1, integer=True)
        check.number(self.base_points, "base_points")
        check.number(self.base_odds, "base_odds", low=0, low_open=True)
        check.number(self.pdo, "pdo", low=0, low_open=True)
        check.names(self.protected, "protected")

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: Any) -> "Scorecard":
        """Bin, select by IV, fit the regression; y is 1 for bad (default), 0 for good."""
        self._validate_params()
        X = check.frame(X)
        target = check.target(y, len(X))
        check.no_protected(X, self.protected)
        chars = self._bin(X, target)
        while True:
            W = np.column_stack([c.woe_of(c.bin_index(X[c.name])) for c in chars])
            lr = LogisticRegression(C=self.C, max_iter=self.max_iter, solver="lbfgs").fit(W, target)
            coef = lr.coef_[0]
            if (coef < 0).all() or len(chars) == 1:
                break
            chars.pop(int(np.argmax(coef)))  # the most wrong-signed characteristic goes
        if coef[0] >= 0:
            raise RiskDataError("no characteristic predicts default in the expected direction")
        self.characteristics_ = tuple(chars)
        self.coef_ = tuple(float(c) for c in coef)
        self.intercept_ = float(lr.intercept_[0])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        return self

    def _bin(self, X: pd.DataFrame, target: np.ndarray) -> list[Characteristic]:
        from optbinning import BinningProcess  # heavy (solvers); only training needs it

        names = list(X.columns)
        categorical = [c for c in names if not pd.api.types.is_numeric_dtype(X[c])]
        frame = X.copy()
        for c in categorical:
            frame[c] = frame[c].astype(object)
        fit_params = {c: {"monotonic_trend": self.monotonic_trend}
                      for c in names if c not in categorical}
        process = BinningProcess(
            names, categorical_variables=categorical or None, max_n_prebins=self.max_n_prebins,
            min_prebin_size=self.min_prebin_size, max_n_bins=self.max_n_bins,
            selection_criteria={"iv": {"min": self.min_iv}} if self.min_iv > 0 else None,
            binning_fit_params=fit_params)
        with warnings.catch_warnings():  # optbinning's own summary table, not our data
            warnings.filterwarnings("ignore", message="Setting an item of incompatible dtype")
            process.fit(frame, target)
        chars = []
        for name in map(str, process.get_support(names=True)):
            splits = process.get_binned_variable(name).splits
            if name in categorical:
                char = Characteristic.from_counts(name, CATEGORICAL, X[name], target,
                                                  groups=[list(g) for g in splits])
            else:
                char = Characteristic.from_counts(name, NUMERICAL, X[name], target,
                                                  splits=list(splits))
            if char.n_bins > 1:
                chars.append(char)
        if not chars:
            raise RiskDataError(f"no characteristic has an information value of at least "
                                f"{self.min_iv}")
        return chars

    # -- scoring ---------------------------------------------------------------------------

    def _fitted(self) -> None:
        if not hasattr(self, "characteristics_"):
            raise NotFittedError("this Scorecard is not fitted yet: call fit() or from_json()")

    def _logit(self, X: Any) -> np.ndarray:
        """Log-odds of default per row."""
        self._fitted()
        X = check.frame(X)
        check.columns(X, (c.name for c in self.characteristics_))
        W = np.column_stack([c.woe_of(c.bin_index(X[c.name])) for c in self.characteristics_])
        # the terms added one after the other, as `assess_many` adds them: identical floats
        return np.cumsum(W * np.asarray(self.coef_, dtype=np.float64), axis=1)[:, -1] \
            + self.intercept_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Columns: probability of good (0), probability of bad (1)."""
        bad = expit(self._logit(X))
        return np.column_stack([1.0 - bad, bad])

    def predict(self, X: Any) -> np.ndarray:
        """1 where default is more likely than not; a lender sets its own cut-off on `score`."""
        return (self._logit(X) > 0).astype(np.int64)

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def score(self, X: Any) -> np.ndarray:  # type: ignore[override]
        """Points per row: `offset + factor * ln(odds of good)`; higher is safer."""
        return self.offset - self.factor * self._logit(X)

    def points_table(self) -> pd.DataFrame:
        """Every bin with its WoE and points (the intercept shared equally): the model on paper."""
        self._fitted()
        n, rows = len(self.characteristics_), []
        share = (self.offset - self.factor * self.intercept_) / n
        for char, coef in zip(self.characteristics_, self.coef_):
            for i, w in [*enumerate(char.woe), (-1, char.missing_woe)]:
                rows.append({"characteristic": char.name, "bin": char.label(i), "woe": w,
                             "points": share - self.factor * coef * w, "iv": char.iv})
        return pd.DataFrame(rows)

    def reason_codes(self, X_row: Any, top: int = 4) -> list[ReasonCode]:
        """The characteristics that cost this applicant the most points against their best bin,
        largest loss first; characteristics already in their best bin are not reasons."""
        self._fitted()
        check.number(top, "top", low=1, integer=True)
        row = check.frame(X_row, "X_row")
        if len(row) != 1:
            raise RiskDataError(f"X_row must be one applicant, got {len(row)} rows")
        check.columns(row, (c.name for c in self.characteristics_))
        found = []
        for char, coef in zip(self.characteristics_, self.coef_):
            index = int(char.bin_index(row[char.name])[0])
            points = -self.factor * coef * np.append(np.asarray(char.woe), char.missing_woe)
            best = int(np.argmax(points[:-1]))
            lost = float(points[best] - points[index])
            if lost > _EPSILON:
                value = row[char.name].iloc[0]
                where = "" if char.kind == CATEGORICAL else f" (bin {char.label(index)})"
                message = (f"{humanise(char.name)} is {show(value)}{where}: {lost:.1f} points "
                           f"below the best {'answer' if where == '' else 'bin'} "
                           f"({char.label(best)})")
                found.append(ReasonCode(char.name, _plain(value), lost, "points", message))
        found.sort(key=lambda r: (-r.impact, r.feature))
        return found[:top]

    def assess(self, applicant: Mapping[str, Any], top: int = 4) -> ApplicantScore:
        """PD, points and reason codes of one applicant given as a mapping of inputs: the live
        decision's path.  The same numbers as `predict_proba`, `score` and `reason_codes` on a
        one-row frame, without building one (a missing key counts as a missing value).  It is
        `assess_many` of one row, so the two give the same floats bit for bit."""
        self._fitted()
        check.number(top, "top", low=1, integer=True)
        if not isinstance(applicant, Mapping):
            raise RiskDataError(f"applicant must be a mapping, got {type(applicant).__name__}")
        return self.assess_many([applicant], top=top)[0]

    def assess_many(self, applicants: Sequence[Mapping[str, Any]],
                    top: int = 4) -> list[ApplicantScore]:
        """`assess` of each applicant, computed a characteristic at a time across all of them
        (what a batch of thousands needs: a few array operations instead of a Python loop per
        applicant and characteristic).  Bins follow `Characteristic.bin_of` exactly; the
        log-odds add the characteristics' terms one after the other in characteristic order,
        then the intercept, whatever the number of rows, so each row's numbers do not depend on
        the batch it is in.  Messages are written only for the reasons returned.  A value
        `assess` would refuse (text that is not a number) fails the whole call."""
        self._fitted()
        check.number(top, "top", low=1, integer=True)
        t = self._tables()
        values = check.mapping_values(applicants, t.names)
        n = len(values)
        if n == 0:
            return []
        index = np.empty((n, len(t.names)), dtype=np.int64)
        if t.numeric:
            index[:, t.numeric] = self._numeric_bins(t, values)
        for k in t.categorical:
            char, lookup = self.characteristics_[k], t.lookups[k]
            index[:, k] = [lookup.get(v, MISSING) if type(v) is str else char.bin_of(v)
                           for v in (row[k] for row in values)]
        pos = t.base + np.where(index < 0, t.n_bins, index)  # the missing bin is each one's last
        logit = np.cumsum(t.woe[pos] * t.coef, axis=1)[:, -1] + self.intercept_
        pds, points = expit(logit), self.offset - self.factor * logit
        lost = t.best - t.points[pos]
        losing = lost > _EPSILON
        reasons: list[tuple[ReasonCode, ...]] = [()] * n
        who = np.flatnonzero(losing.any(axis=1))
        if len(who):
            # largest loss first, ties by name (`sorted(key=(-impact, feature))` of each row):
            # a stable sort of the losses with the characteristics in name order
            by_name = t.by_name
            order = by_name[np.argsort(-lost[who][:, by_name], axis=1, kind="stable")[:, :top]]
            at = (who[:, None], order)
            kept, losts, where = losing[at].tolist(), lost[at].tolist(), pos[at].tolist()
            for r, ks, oks, ls, ps in zip(who.tolist(), order.tolist(), kept, losts, where):
                found = []
                for k, ok, loss, p in zip(ks, oks, ls, ps):
                    if not ok:  # the rest lose nothing
                        break
                    plain = _plain(values[r][k])
                    message = f"{t.heads[k]} is {show(plain)}{t.wheres[p]}: {loss:.1f}{t.tails[k]}"
                    found.append(ReasonCode(t.names[k], plain, loss, "points", message))
                reasons[r] = tuple(found)
        return [ApplicantScore(p, s, r) for p, s, r in zip(pds.tolist(), points.tolist(), reasons)]

    def _numeric_bins(self, t: _Tables, values: list[list[Any]]) -> np.ndarray:
        """Bin of every numerical characteristic's value in every row (rows x numerical
        characteristics): the count of split points at or below the value (`bisect_right`, as
        `bin_of`), MISSING for a missing value.  A column holding anything but plain numbers
        and None is binned value by value by `bin_of` itself."""
        n, cols = len(values), t.numeric
        rows = values if len(cols) == len(t.names) else [[row[k] for k in cols] for row in values]
        slow: list[tuple[int, list[int]]] = []
        if check.plain_numbers(v for row in rows for v in row):
            x = np.array(rows, dtype=np.float64).reshape(n, len(cols))
        else:
            x = np.zeros((n, len(cols)))
            for j, k in enumerate(cols):
                column = [row[j] for row in rows]
                if check.plain_numbers(column):
                    x[:, j] = np.array(column, dtype=np.float64)
                else:
                    slow.append((j, [self.characteristics_[k].bin_of(v) for v in column]))
        bins = np.count_nonzero(x[:, :, None] >= t.edges, axis=2)  # NaN padding counts none
        bins[np.isnan(x)] = MISSING
        for j, found in slow:
            bins[:, j] = found
        return bins

    def _tables(self) -> _Tables:
        """The arrays `assess_many` scores with, built once per fitted model."""
        self._fitted()
        found = self.__dict__.get("_kernel")
        if (found is None or found.chars is not self.characteristics_
                or found.coef_key is not self.coef_ or found.factor != self.factor):
            found = self.__dict__["_kernel"] = _Tables.of(self)
        return found

    # -- artefact --------------------------------------------------------------------------

    def to_json(self) -> str:
        """The fitted model as JSON: bins, WoE, coefficients, scaling; enough to score alone."""
        self._fitted()
        params = self.get_params()
        params["protected"] = list(self.protected)
        doc = {"format": FORMAT, "params": params,
               "feature_names_in": [str(c) for c in self.feature_names_in_],
               "scaling": {"base_points": self.base_points, "base_odds": self.base_odds,
                           "pdo": self.pdo, "factor": self.factor, "offset": self.offset},
               "intercept": self.intercept_,
               "characteristics": [dict(c.to_dict(), coefficient=k)
                                   for c, k in zip(self.characteristics_, self.coef_)]}
        return json.dumps(doc, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Scorecard":
        """A fitted scorecard from `to_json` output; scores are identical to the original's."""
        doc, params = check.read_artefact(text, FORMAT, "scorecard")
        try:
            model = cls(**params)
            model._validate_params()
            chars = doc["characteristics"]
            model.characteristics_ = tuple(Characteristic.from_dict(c) for c in chars)
            model.coef_ = tuple(float(c["coefficient"]) for c in chars)
            model.intercept_ = float(doc["intercept"])
            model.feature_names_in_ = np.asarray(doc["feature_names_in"], dtype=object)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtefactError(f"malformed scorecard artefact: {exc!r}") from None
        if not model.characteristics_:
            raise ArtefactError("scorecard artefact has no characteristics")
        model.n_features_in_ = len(model.feature_names_in_)
        model.classes_ = np.array([0, 1])
        return model

    def to_bytes(self) -> bytes:
        return self.to_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> "Scorecard":
        return cls.from_json(data)


def _plain(value: Any) -> Any:
    """A numpy or pandas scalar as a plain Python value (JSON-able); missing as None.  The
    values `assess_many` sees are nearly always plain floats, ints, text or None: those are
    answered without `pd.isna` (a dozen microseconds a call), exactly as it would answer."""
    kind = type(value)
    if kind is float:
        return None if value != value else value
    if value is None or kind is str or kind is int:
        return value
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True, eq=False)
class _Tables:
    """A fitted scorecard as flat arrays: characteristic `k`'s bins (its missing bin last) sit at
    `base[k]` to `base[k] + n_bins[k]` of `woe` and `points`; `edges` holds the numerical
    characteristics' split points, padded with NaN (no value is at or above NaN)."""

    chars: tuple[Characteristic, ...]
    coef_key: tuple[float, ...]
    factor: float
    names: list[str]
    numeric: list[int]
    categorical: list[int]
    lookups: dict[int, dict[str, int]]
    edges: np.ndarray
    base: np.ndarray
    n_bins: np.ndarray
    woe: np.ndarray
    coef: np.ndarray
    points: np.ndarray
    best: np.ndarray
    by_name: np.ndarray
    heads: list[str]
    tails: list[str]
    wheres: list[str]

    @classmethod
    def of(cls, card: Scorecard) -> _Tables:
        chars, factor = card.characteristics_, card.factor
        names = [c.name for c in chars]
        numeric = [k for k, c in enumerate(chars) if c.kind != CATEGORICAL]
        width = max((len(chars[k].splits) for k in numeric), default=0)
        edges = np.full((len(numeric), width), np.nan)
        for j, k in enumerate(numeric):
            edges[j, :len(chars[k].splits)] = chars[k].splits
        woe, points, best, tails, wheres, base = [], [], [], [], [], []
        for char, coef in zip(chars, card.coef_):
            table = np.append(np.asarray(char.woe), char.missing_woe)
            pts = -factor * coef * table
            top = int(np.argmax(pts[:-1]))
            base.append(sum(map(len, woe)))
            woe.append(table)
            points.append(pts)
            best.append(pts[top])
            categorical = char.kind == CATEGORICAL
            tails.append(f" points below the best {'answer' if categorical else 'bin'} "
                         f"({char.label(top)})")
            wheres += ["" if categorical else f" (bin {char.label(i)})"
                       for i in [*range(char.n_bins), MISSING]]
        return cls(chars, card.coef_, factor, names, numeric,
                   [k for k, c in enumerate(chars) if c.kind == CATEGORICAL],
                   {k: dict(c._lookup) for k, c in enumerate(chars) if c.kind == CATEGORICAL},
                   edges[None, :, :], np.asarray(base, dtype=np.int64),
                   np.asarray([c.n_bins for c in chars], dtype=np.int64),
                   np.concatenate(woe), np.asarray(card.coef_, dtype=np.float64),
                   np.concatenate(points), np.asarray(best, dtype=np.float64),
                   np.asarray(sorted(range(len(names)), key=names.__getitem__), dtype=np.int64),
                   [humanise(name) for name in names], tails, wheres)
