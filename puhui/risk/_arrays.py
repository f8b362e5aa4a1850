"""Turning what callers pass (lists, NumPy, pandas or Polars) into checked NumPy arrays.

Why one place: every monitoring function takes loan-level arrays from whatever the caller has
(a pandas frame from a training job, a Polars frame from the book), and bad input must fail with
a `RiskDataError` naming the argument, never a bare `TypeError` deep inside NumPy.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from puhui.risk.errors import RiskDataError


def series(values: Any, name: str) -> pd.Series:
    """`values` as a one-dimensional pandas Series (missing values kept as NaN/None)."""
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    if isinstance(values, pl.Series):
        return pd.Series(values.to_list(), dtype=_polars_dtype(values))
    if isinstance(values, (str, bytes, Mapping)) or np.ndim(values) != 1:
        raise RiskDataError(f"{name} must be a one-dimensional sequence of values")
    return pd.Series(list(values) if not isinstance(values, np.ndarray) else values)


def _polars_dtype(values: pl.Series) -> Any:
    return "float64" if values.dtype.is_numeric() else object


def column(frame: Any, name: str, what: str = "frame") -> pd.Series:
    """Column `name` of a pandas or Polars frame, or a mapping of column name to values."""
    if isinstance(frame, (pd.DataFrame, pl.DataFrame)):
        present = name in frame.columns
    elif isinstance(frame, Mapping):
        present = name in frame
    else:
        raise RiskDataError(f"{what} must be a pandas or Polars DataFrame or a mapping of "
                            f"column names to values, got {type(frame).__name__}")
    if not present:
        raise RiskDataError(f"{what} has no column {name!r}")
    return series(frame[name], f"{what}[{name!r}]")


def dates(values: Any, name: str, *, allow_missing: bool = False) -> np.ndarray:
    """`values` as `datetime64[D]` (NaT where missing, when allowed)."""
    data = series(values, name)
    try:
        parsed = pd.to_datetime(data, errors="raise")
    except (TypeError, ValueError) as exc:
        raise RiskDataError(f"{name} must hold dates: {exc}") from None
    out = parsed.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    if not allow_missing and np.isnat(out).any():
        raise RiskDataError(f"{name} has missing dates")
    return out


def day(value: Any, name: str) -> np.datetime64:
    """A single date (`datetime.date`, ISO string or NumPy date) as `datetime64[D]`."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise RiskDataError(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None
    if not isinstance(value, (date, np.datetime64)):
        raise RiskDataError(f"{name} must be a date, got {type(value).__name__}")
    out = np.datetime64(value, "D")
    if np.isnat(out):
        raise RiskDataError(f"{name} must be a date, got NaT")
    return out


def floats(values: Any, name: str, *, allow_missing: bool = False) -> np.ndarray:
    """`values` as float64 (NaN where missing, when allowed); infinities are refused."""
    data = series(values, name)
    try:
        out = pd.to_numeric(data, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise RiskDataError(f"{name} must be numeric: {exc}") from None
    if np.isinf(out).any():
        raise RiskDataError(f"{name} must be finite")
    if not allow_missing and np.isnan(out).any():
        raise RiskDataError(f"{name} has missing values")
    return out


def flags(values: Any, name: str) -> np.ndarray:
    """`values` as a bool array; only booleans or 0/1 are accepted."""
    data = series(values, name)
    if data.isna().any():
        raise RiskDataError(f"{name} has missing values")
    out = data.to_numpy()
    if out.dtype != bool:
        if not np.isin(out, (0, 1)).all():
            raise RiskDataError(f"{name} must be booleans or 0/1")
        out = out.astype(bool)
    return out


def same_length(name_to_array: Mapping[str, np.ndarray]) -> int:
    """The common length of loan-level arrays; refuses arrays that do not line up."""
    lengths = {k: len(v) for k, v in name_to_array.items()}
    if len(set(lengths.values())) > 1:
        raise RiskDataError(f"loan-level arrays must have one value per loan, got {lengths}")
    return next(iter(lengths.values()), 0)


def month_start(days: np.ndarray) -> np.ndarray:
    """The first day of each date's month."""
    return days.astype("datetime64[M]").astype("datetime64[D]")


def months_between(start: np.ndarray, end: np.ndarray | np.datetime64) -> np.ndarray:
    """Full calendar months from `start` to `end`, counted as `dateutil.relativedelta` does
    (15 Jan -> 14 Mar is 1 month, -> 15 Mar is 2; 31 Jan -> 28 Feb 2023 is 1: a month's
    anniversary falls on its last day when the month is shorter than the start's day)."""
    end = np.asarray(end)
    end_month = end.astype("datetime64[M]")
    months = (end_month - start.astype("datetime64[M]")).astype(np.int64)
    start_day = (start - month_start(start)).astype(np.int64)
    end_day = (end - month_start(end)).astype(np.int64)
    last_day = ((end_month + 1).astype("datetime64[D]") - end_month.astype("datetime64[D]")
                ).astype(np.int64) - 1
    return months - (end_day < np.minimum(start_day, last_day))
