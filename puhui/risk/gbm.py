"""A gradient-boosting challenger: LightGBM, calibrated, explained by SHAP values.

Why beside the scorecard: boosted trees find interactions a scorecard cannot, so they show how
much predictive power the scorecard leaves on the table; the champion stays the model whose
every point can be read from a table.  The defaults suit about a thousand rows: shallow trees
(depth 3, at most 7 leaves), a slow learning rate, row and column subsampling, one thread and
fixed seeds so the same data always gives the same model.

Probabilities are calibrated with scikit-learn's `CalibratedClassifierCV` (`ensemble=False`:
the calibrator is fitted on out-of-fold predictions, the booster on all rows).  Platt scaling
(`"sigmoid"`) is the default because isotonic regression needs more data than this to be
stable and its steps tie scores; `"isotonic"` and `None` (raw booster output) are available.

Reason codes come from LightGBM's `pred_contrib` (TreeSHAP): each feature's additive
contribution to the log-odds of default, before calibration (which is monotone, so it cannot
change which features pushed the score down).  Categorical inputs are coded as the index of
their value among the training categories; missing and unseen values are left missing.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping, Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold

from puhui.risk import _inputs as check
from puhui.risk.errors import ArtefactError, InvalidParameter, NotFittedError, RiskDataError
from puhui.risk.german import PROTECTED_ATTRIBUTES
from puhui.risk.reasons import ReasonCode, humanise, show

FORMAT = "puhui.gbm/1"
CALIBRATIONS = ("sigmoid", "isotonic", None)


class GradientBoostingModel(ClassifierMixin, BaseEstimator):
    """LightGBM binary classifier (1 = bad) with calibrated probabilities and SHAP reasons."""

    def __init__(self, *, n_estimators: int = 300, learning_rate: float = 0.03,
                 num_leaves: int = 7, max_depth: int = 3, min_child_samples: int = 20,
                 subsample: float = 0.8, colsample_bytree: float = 0.7, reg_lambda: float = 1.0,
                 min_data_per_group: int = 20, cat_smooth: float = 10.0,
                 calibration: str | None = "sigmoid", calibration_folds: int = 5,
                 random_state: int = 0,
                 protected: tuple[str, ...] = PROTECTED_ATTRIBUTES) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.min_data_per_group = min_data_per_group
        self.cat_smooth = cat_smooth
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.random_state = random_state
        self.protected = protected

    def _validate_params(self) -> None:
        check.number(self.n_estimators, "n_estimators", low=1, integer=True)
        check.number(self.learning_rate, "learning_rate", low=0, high=1, low_open=True)
        check.number(self.num_leaves, "num_leaves", low=2, integer=True)
        check.number(self.max_depth, "max_depth", low=-1, integer=True)
        if self.max_depth == 0:
            raise InvalidParameter("max_depth must be positive, or -1 for no limit")
        check.number(self.min_child_samples, "min_child_samples", low=1, integer=True)
        check.number(self.subsample, "subsample", low=0, high=1, low_open=True)
        check.number(self.colsample_bytree, "colsample_bytree", low=0, high=1, low_open=True)
        check.number(self.reg_lambda, "reg_lambda", low=0)
        check.number(self.min_data_per_group, "min_data_per_group", low=1, integer=True)
        check.number(self.cat_smooth, "cat_smooth", low=0)
        if self.calibration not in CALIBRATIONS:
            raise InvalidParameter(f"calibration must be one of {CALIBRATIONS}, "
                                   f"got {self.calibration!r}")
        check.number(self.calibration_folds, "calibration_folds", low=2, integer=True)
        check.number(self.random_state, "random_state", low=0, integer=True)
        check.names(self.protected, "protected")

    def _estimator(self) -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, max_depth=self.max_depth,
            min_child_samples=self.min_child_samples, subsample=self.subsample,
            subsample_freq=1, colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda, min_data_per_group=self.min_data_per_group,
            cat_smooth=self.cat_smooth, random_state=self.random_state, n_jobs=1,
            deterministic=True, force_row_wise=True, verbose=-1)

    def fit(self, X: pd.DataFrame, y: Any) -> "GradientBoostingModel":
        """Fit the booster on all rows and the calibrator on out-of-fold predictions."""
        self._validate_params()
        X = check.frame(X)
        target = check.target(y, len(X))
        check.no_protected(X, self.protected)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.categories_ = {str(c): sorted(X[c].dropna().astype(str).unique().tolist())
                            for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])}
        matrix = pd.DataFrame(self._encode(X),
                              columns=[re.sub(r"\W", "_", str(c)) for c in X.columns])
        cat_index = [i for i, c in enumerate(X.columns) if c in self.categories_]
        kwargs = {"categorical_feature": cat_index or "auto"}
        if self.calibration is None:
            booster = self._estimator().fit(matrix, target, **kwargs).booster_
            self.calibrator_: dict[str, Any] = {"method": None, "input": "probability"}
        else:
            if np.bincount(target).min() < self.calibration_folds:
                raise RiskDataError("too few defaults (or goods) for the calibration folds")
            folds = StratifiedKFold(self.calibration_folds, shuffle=True,
                                    random_state=self.random_state)
            cal = CalibratedClassifierCV(self._estimator(), method=self.calibration, cv=folds,
                                         ensemble=False).fit(matrix, target, **kwargs)
            fitted = cal.calibrated_classifiers_[0]
            booster, self.calibrator_ = fitted.estimator.booster_, _calibrator(fitted)
        # Score through the serialised model from the start: the artefact then scores the same.
        self.booster_ = lgb.Booster(model_str=booster.model_to_string())
        self.classes_ = np.array([0, 1])
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError("this GradientBoostingModel is not fitted yet: call fit() or "
                                 "from_json()")

    def _encode(self, X: pd.DataFrame) -> np.ndarray:
        """Float matrix in training column order; categories as codes, unknown as NaN."""
        check.columns(X, self.feature_names_in_)
        out = np.empty((len(X), len(self.feature_names_in_)), dtype=np.float64)
        for j, name in enumerate(self.feature_names_in_):
            column = X[name].reset_index(drop=True)
            if name in self.categories_:
                codes = {c: float(i) for i, c in enumerate(self.categories_[name])}
                out[:, j] = [math.nan if pd.isna(v) else codes.get(str(v), math.nan)
                             for v in column]
            else:
                try:
                    out[:, j] = pd.to_numeric(column).to_numpy(dtype=np.float64)
                except (TypeError, ValueError) as exc:
                    raise RiskDataError(f"{name} must be numeric: {exc}") from None
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Columns: probability of good (0), calibrated probability of bad (1)."""
        self._fitted()
        raw = self.booster_.predict(self._encode(check.frame(X)), num_threads=1,
                                    raw_score=self.calibrator_["input"] == "raw_score")
        bad = _calibrate(self.calibrator_, np.asarray(raw, dtype=np.float64))
        return np.column_stack([1.0 - bad, bad])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] > 0.5).astype(np.int64)

    def pd_of(self, applicant: Mapping[str, Any]) -> float:
        """Calibrated probability of default of one applicant given as a mapping of inputs (a
        missing key is a missing value): `predict_proba` without building a frame, for the
        live decision.  It is `pd_many` of one row."""
        self._fitted()
        if not isinstance(applicant, Mapping):
            raise RiskDataError(f"applicant must be a mapping, got {type(applicant).__name__}")
        return float(self.pd_many([applicant])[0])

    def pd_many(self, applicants: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """`pd_of` of each applicant: one matrix, one booster call, one calibration (each row's
        trees are walked on their own and the calibration is elementwise, so a row's PD does
        not depend on the batch it is in).  A value `pd_of` would refuse fails the whole call."""
        self._fitted()
        names = self.__dict__.get("_names")
        if names is None or names[0] is not self.feature_names_in_:
            names = self.__dict__["_names"] = (self.feature_names_in_,
                                               [str(c) for c in self.feature_names_in_])
        names = names[1]
        values = check.mapping_values(applicants, names)
        if not values:
            return np.empty(0, dtype=np.float64)
        if not self.categories_ and check.plain_numbers(v for row in values for v in row):
            matrix = np.array(values, dtype=np.float64)  # None as NaN: float(v) otherwise
        else:
            matrix = np.empty((len(values), len(names)), dtype=np.float64)
            for j, name in enumerate(names):
                matrix[:, j] = self._column(name, [row[j] for row in values])
        raw = self.booster_.predict(matrix, num_threads=1,
                                    raw_score=self.calibrator_["input"] == "raw_score")
        return _calibrate(self.calibrator_, np.asarray(raw, dtype=np.float64))

    def _column(self, name: str, column: list[Any]) -> np.ndarray | list[float]:
        """One input of many applicants as the booster reads it: a category's code, a number,
        NaN for missing (and for a category not seen in training)."""
        if name not in self.categories_ and check.plain_numbers(column):
            return np.array(column, dtype=np.float64)
        codes = self.__dict__.setdefault("_codes", {})
        if name in self.categories_ and name not in codes:
            codes[name] = {c: float(i) for i, c in enumerate(self.categories_[name])}
        out = []
        for value in column:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                out.append(math.nan)
            elif name in self.categories_:
                out.append(codes[name].get(str(value), math.nan))
            else:
                try:
                    out.append(float(value))
                except (TypeError, ValueError):
                    raise RiskDataError(f"{name} must be numeric, got {value!r}") from None
        return out

    def reason_codes(self, X_row: Any, top: int = 4) -> list[ReasonCode]:
        """The features whose SHAP values raise this applicant's log-odds of default most."""
        self._fitted()
        check.number(top, "top", low=1, integer=True)
        row = check.frame(X_row, "X_row")
        if len(row) != 1:
            raise RiskDataError(f"X_row must be one applicant, got {len(row)} rows")
        contrib = self.booster_.predict(self._encode(row), pred_contrib=True, num_threads=1)[0]
        found = []
        for name, c in zip(self.feature_names_in_, contrib[:-1]):  # the last column is the bias
            if c > 0:
                value = row[name].iloc[0]
                value = None if pd.isna(value) else (value.item() if hasattr(value, "item")
                                                     else value)
                message = (f"{humanise(name)} is {show(value)}: raises the log-odds of default "
                           f"by {c:.2f} (odds x{math.exp(c):.2f})")
                found.append(ReasonCode(str(name), value, float(c), "log-odds", message))
        found.sort(key=lambda r: (-r.impact, r.feature))
        return found[:top]

    def to_json(self) -> str:
        """The fitted model as JSON: LightGBM model string, category codes, calibrator."""
        self._fitted()
        params = self.get_params()
        params["protected"] = list(self.protected)
        doc = {"format": FORMAT, "params": params,
               "feature_names_in": [str(c) for c in self.feature_names_in_],
               "categories": self.categories_, "calibrator": self.calibrator_,
               "booster": self.booster_.model_to_string()}
        return json.dumps(doc, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> "GradientBoostingModel":
        """A fitted model from `to_json` output; probabilities identical to the original's."""
        doc, params = check.read_artefact(text, FORMAT, "gbm")
        try:
            model = cls(**params)
            model._validate_params()
            model.feature_names_in_ = np.asarray(doc["feature_names_in"], dtype=object)
            model.categories_ = {str(k): [str(c) for c in v]
                                 for k, v in doc["categories"].items()}
            model.calibrator_ = dict(doc["calibrator"])
            _calibrate(model.calibrator_, np.array([0.5]))
            model.booster_ = lgb.Booster(model_str=doc["booster"])
        except (KeyError, TypeError, ValueError, AttributeError, lgb.basic.LightGBMError) as exc:
            raise ArtefactError(f"malformed gbm artefact: {exc!r}") from None
        model.n_features_in_ = len(model.feature_names_in_)
        model.classes_ = np.array([0, 1])
        return model

    def to_bytes(self) -> bytes:
        return self.to_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> "GradientBoostingModel":
        return cls.from_json(data)


def _calibrator(fitted: Any) -> dict[str, Any]:
    """The fitted scikit-learn calibrator as plain numbers.  Its input is what scikit-learn fed
    it: the booster's raw log-odds (`decision_function`) when it has one, else probabilities."""
    calibrator = fitted.calibrators[0]
    source = "raw_score" if hasattr(fitted.estimator, "decision_function") else "probability"
    if fitted.method == "sigmoid":
        return {"method": "sigmoid", "input": source, "a": float(calibrator.a_),
                "b": float(calibrator.b_)}
    return {"method": "isotonic", "input": source,
            "x": [float(v) for v in calibrator.X_thresholds_],
            "y": [float(v) for v in calibrator.y_thresholds_]}


def _calibrate(calibrator: Mapping[str, Any], raw: np.ndarray) -> np.ndarray:
    """Apply a calibrator from `_calibrator` (the formulas scikit-learn uses)."""
    method = calibrator["method"]
    if calibrator["input"] not in ("raw_score", "probability"):
        raise ValueError(f"unknown calibrator input {calibrator['input']!r}")
    if method is None:
        return raw
    if method == "sigmoid":
        return expit(-(float(calibrator["a"]) * raw + float(calibrator["b"])))
    if method == "isotonic":
        x = np.asarray(calibrator["x"], dtype=np.float64)
        y = np.asarray(calibrator["y"], dtype=np.float64)
        if len(x) == 0 or len(x) != len(y):
            raise ValueError("isotonic calibrator needs equal, non-empty x and y")
        return np.interp(np.clip(raw, x[0], x[-1]), x, y)
    raise ValueError(f"unknown calibration method {method!r}")
