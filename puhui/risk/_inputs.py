"""Input checks shared by the risk models: frames, targets, settings, protected attributes.

Why one place: every model must refuse the same mistakes (a non-binary target, rows that do not
line up, a protected attribute among the inputs, a setting of the wrong type) with the same typed
errors, before any fitting starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from puhui.risk.errors import ArtefactError, InvalidParameter, ProtectedAttributeUsed, RiskDataError


def frame(X: Any, what: str = "X") -> pd.DataFrame:
    """`X` as a DataFrame with unique string column names; a mapping or Series is one row."""
    if isinstance(X, pd.Series):
        X = X.to_frame().T
    elif isinstance(X, Mapping):
        X = pd.DataFrame([dict(X)])
    if not isinstance(X, pd.DataFrame):
        raise RiskDataError(f"{what} must be a pandas DataFrame (named columns), got "
                            f"{type(X).__name__}")
    if not all(isinstance(c, str) for c in X.columns) or X.columns.has_duplicates:
        raise RiskDataError(f"{what} needs unique string column names")
    if len(X) == 0:
        raise RiskDataError(f"{what} has no rows")
    return X


def target(y: Any, n_rows: int) -> np.ndarray:
    """`y` as an int array of 0 (good) and 1 (bad), one per row, with both classes present."""
    values = np.asarray(y)
    if values.ndim != 1 or len(values) != n_rows:
        raise RiskDataError(f"y must be one label per row ({n_rows}), got shape {values.shape}")
    if values.dtype == bool:
        values = values.astype(np.int64)
    if not np.issubdtype(values.dtype, np.number) or not np.isin(values, (0, 1)).all():
        raise RiskDataError("y must be 0 (good) or 1 (bad)")
    values = values.astype(np.int64)
    if len(np.unique(values)) != 2:
        raise RiskDataError("y must contain both good (0) and bad (1) loans")
    return values


def no_protected(X: pd.DataFrame, protected: Iterable[str]) -> None:
    """Refuse a training frame holding a protected attribute (see `puhui.risk.german`)."""
    found = sorted(set(X.columns) & set(protected))
    if found:
        raise ProtectedAttributeUsed(
            f"protected attributes {found} must not be model inputs; drop them, or pass "
            "protected=() to use them deliberately (e.g. for a fairness study)")


def columns(X: pd.DataFrame, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in X.columns]
    if missing:
        raise RiskDataError(f"X lacks the model's features {missing}")


def number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, integer: bool = False) -> None:
    """Refuse a setting that is not a finite number in range (ints only when `integer`)."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise InvalidParameter(f"{name} must be {'an int' if integer else 'a number'}, "
                               f"got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise InvalidParameter(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise InvalidParameter(f"{name} must be <= {high}, got {value!r}")


def names(value: Any, name: str) -> tuple[str, ...]:
    """A tuple of column names (a single string is refused: it is almost always a mistake)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidParameter(f"{name} must be a sequence of column names, got {value!r}")
    items = tuple(value)
    if not all(isinstance(v, str) for v in items):
        raise InvalidParameter(f"{name} must hold column names (str)")
    return items


def read_artefact(text: str | bytes, fmt: str, what: str) -> tuple[Mapping, dict]:
    """The document and constructor parameters of a `to_json` artefact of format `fmt`."""
    import json

    try:
        doc = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ArtefactError(f"{what} artefact is not JSON: {exc}") from None
    if not isinstance(doc, Mapping) or doc.get("format") != fmt:
        raise ArtefactError(f"not a {fmt} artefact")
    try:
        params = dict(doc["params"])
        params["protected"] = tuple(params["protected"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtefactError(f"malformed {what} artefact: {exc!r}") from None
    return doc, params


#: Value types a float64 array takes exactly as `float(value)` does (None becoming NaN): a
#: column holding only these converts in one step; any other type is read value by value.
PLAIN_NUMBERS = frozenset({float, int, type(None), np.float64})


def mapping_values(rows: Any, names: Sequence[str], what: str = "applicant"
                   ) -> list[list[Any]]:
    """Each row's values of `names` (a missing key is None): the batch scoring paths' input.
    Every row must be a mapping, as the one-row paths require."""
    if isinstance(rows, (Mapping, str, bytes)) or not isinstance(rows, Iterable):
        raise RiskDataError(f"{what}s must be a sequence of mappings, got {type(rows).__name__}")
    out = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise RiskDataError(f"{what} must be a mapping, got {type(row).__name__}")
        get = row.get
        out.append([get(name) for name in names])
    return out


def plain_numbers(values: Iterable[Any]) -> bool:
    """Whether every value is of a `PLAIN_NUMBERS` type."""
    return set(map(type, values)) <= PLAIN_NUMBERS
