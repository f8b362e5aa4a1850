"""How a fact's value is read: its kind, and what counts as missing.

Why one place: the scalar engine (one application) and the vectorised one (a Polars frame of a
million businesses) must read every value the same way, or the same business could be approved
in one and referred in the other.  A value that is absent, `None`, of the wrong type (a string
where a number is expected, a bool where a count is expected), not finite (NaN, infinity) or out
of range for its kind is *missing*: rules then follow their `on_missing` setting, never crash.

Kinds:

- ``number``: any int or float (not bool), read as a 64-bit float.
- ``money``: whole fen.  An int is taken as it is; a float (the features carry fen as floats) is
  rounded to the nearest fen, halves up (``floor(x + 0.5)``), which only absorbs float noise
  because the features are whole fen.  Beyond +/- 10^12 fen (10 billion yuan) it is malformed.
- ``probability``: a number from 0 to 1 inclusive.
- ``bool``: ``True`` or ``False`` only (0 and 1 are not booleans).
- ``string``: text.

In a frame the same holds column by column: numeric kinds need integer or float columns, bool
facts Boolean columns, string facts String (or Categorical) columns; a column of any other type
(e.g. Decimal, as a Decimal value in a mapping) is missing throughout.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Mapping

import polars as pl

from puhui.decision.outcome import yuan

Kind = Literal["number", "money", "probability", "bool", "string"]
KINDS: tuple[str, ...] = ("number", "money", "probability", "bool", "string")
NUMERIC_KINDS = frozenset({"number", "money", "probability"})
#: The largest money fact, in fen, that is believed (10 billion yuan).
MONEY_BOUND = 10**12


def read(value: Any, kind: str) -> Any:
    """The value as the engine reads it (float, int fen, bool or str), or None when missing."""
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if kind == "string":
        return value if isinstance(value, str) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if kind == "money":
        if isinstance(value, int):
            return value if -MONEY_BOUND <= value <= MONEY_BOUND else None
        if not math.isfinite(value) or not -MONEY_BOUND <= value <= MONEY_BOUND:
            return None
        return int(math.floor(value + 0.5))
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    if not math.isfinite(number):
        return None
    if kind == "probability" and not 0.0 <= number <= 1.0:
        return None
    return number


def fact(facts: Mapping[str, Any], name: str, kind: str) -> Any:
    """`read` of the named fact (absent means missing)."""
    return read(facts.get(name), kind)


def column(schema: Mapping[str, pl.DataType], name: str, kind: str) -> pl.Expr:
    """The vectorised `read`: a column of the frame as the engine reads it, nulls for missing.
    A column of the wrong type for its kind is missing throughout."""
    dtype = schema.get(name)
    col = pl.col(name)
    if kind == "bool":
        return col if dtype == pl.Boolean else pl.lit(None, dtype=pl.Boolean)
    if kind == "string":
        if dtype in (pl.Categorical, pl.Enum):
            return col.cast(pl.String)
        return col if dtype == pl.String else pl.lit(None, dtype=pl.String)
    if dtype is None or not dtype.is_numeric() or dtype.is_decimal():  # as `read`: int, float
        return pl.lit(None, dtype=pl.Int64 if kind == "money" else pl.Float64)
    if kind == "money":
        if dtype.is_integer():
            inside = col.cast(pl.Int128).abs() <= MONEY_BOUND
            return pl.when(inside).then(col.cast(pl.Int64))
        x = col.cast(pl.Float64)
        ok = x.is_finite() & (x.abs() <= float(MONEY_BOUND))
        return pl.when(ok).then((x + 0.5).floor().cast(pl.Int64))
    x = col.cast(pl.Float64)
    ok = x.is_finite()
    if kind == "probability":
        ok = ok & (x >= 0.0) & (x <= 1.0)
    return pl.when(ok).then(x)


def show(value: Any, kind: str) -> str:
    """A fact value for a message: money in yuan exactly, probabilities in percent."""
    value = read(value, kind)
    if value is None:
        return "missing"
    if kind == "money":
        return yuan(value)
    if kind == "probability":
        return f"{value:.2%}"
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "number":
        return str(int(value)) if value.is_integer() else f"{value:.6g}"
    return value


def plain(value: Any) -> Any:
    """A value made JSON-ready for a record or a trace: numpy scalars unwrapped, non-finite
    floats and anything that is not a JSON scalar replaced (they read as missing either way)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return repr(value)
