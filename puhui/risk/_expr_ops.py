"""The operations `puhui.risk.expr_eval` runs, on Python scalars and on NumPy columns.

Why apart from the compiler: these carry the semantics that must match Polars', each small
enough to check against Polars' behaviour line by line.  A column is a `Vector`: values
(anything in null slots) and validity (None when every slot is valid); a scalar is a plain
Python value, None for null.
"""

from __future__ import annotations

import math
import operator
from datetime import date
from functools import lru_cache
from itertools import compress
from typing import Any, Callable

import numpy as np

from puhui.risk.expr import BINARY, CASTS

Vector = tuple[np.ndarray, "np.ndarray | None"]
NP_CASTS = {"float": np.float64, "int": np.int64, "bool": np.bool_}
PY_CASTS: dict[str, Callable[[Any], Any]] = {"float": float, "int": int, "bool": bool}
COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")


# -- scalars --------------------------------------------------------------------------------------
def _total(op: str) -> Callable[[Any, Any], bool]:
    """A comparison where NaN equals NaN and is greater than any number (Polars' order)."""
    cmp = BINARY[op]

    def run(a: Any, b: Any) -> bool:
        if a == a and b == b:  # neither is NaN
            return cmp(a, b)
        na, nb = a != a, b != b  # order by (is NaN, value): NaN last, NaNs equal
        return cmp((na, 0.0 if na else a), (nb, 0.0 if nb else b))
    return run


def divide(a: Any, b: Any) -> float:
    """IEEE division as Polars does it: x / 0 is +-inf, 0 / 0 is NaN."""
    a, b = float(a), float(b)
    if b:
        return a / b
    if a != a or a == 0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _pow(a: Any, b: Any) -> Any:
    if isinstance(a, float) or isinstance(b, float):
        # numpy's power, as the vectorised engine and Polars compute it: it squares for an
        # exponent of 2 where Python's ** calls pow() and can differ in the last bit
        with np.errstate(all="ignore"):
            return float(np.power(np.float64(a), b))
    try:
        return a ** b
    except (OverflowError, ZeroDivisionError):  # Python raises where IEEE gives inf
        return math.copysign(math.inf, a) if float(b).is_integer() and b % 2 else math.inf


def kleene_and(a: Any, b: Any) -> Any:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def kleene_or(a: Any, b: Any) -> Any:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


#: Null-propagating binary operations on scalars (the caller handles None).
SCALAR_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": divide,
    "pow": _pow, **{op: _total(op) for op in COMPARISONS},
}
SCALAR_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": operator.neg, "not": operator.not_, "year": lambda d: d.year,
    "month": lambda d: d.month,
}


def scalar_min(values: list[Any]) -> Any:
    """The smallest non-null value (NaN sorts last; of equals, the last, as Polars picks)."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    le = SCALAR_BINARY["le"]
    best = present[0]
    for v in present[1:]:
        if le(v, best):
            best = v
    return best


# -- vectors --------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _everywhere(shape: tuple[int, ...]) -> np.ndarray:
    out = np.ones(shape, bool)
    out.flags.writeable = False
    return out


def _ok(x: Vector) -> np.ndarray:
    """The validity of `x` as an array (shared and read-only when all are valid)."""
    return _everywhere(x[0].shape) if x[1] is None else x[1]


def _bool(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.bool_ else a.astype(bool)


def _valid_and(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    return a if b is None else b if a is None else a & b


def as_vector(value: Any, like: Vector) -> Vector:
    """A scalar broadcast against the column `like` (a null scalar makes a null column)."""
    if value is None:
        return like[0], np.zeros(np.shape(like[0]), bool)
    if isinstance(value, date):
        value = np.datetime64(value, "D")
    return np.asarray(value), None


def _compare(op: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    ufunc = {"eq": np.equal, "ne": np.not_equal, "gt": np.greater, "ge": np.greater_equal,
             "lt": np.less, "le": np.less_equal}[op]

    def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = ufunc(a, b)
        if a.dtype.kind != "f" and b.dtype.kind != "f":
            return out
        na = np.isnan(a) if a.dtype.kind == "f" else np.zeros(np.shape(a), bool)
        nb = np.isnan(b) if b.dtype.kind == "f" else np.zeros(np.shape(b), bool)
        if not (na.any() or nb.any()):
            return out
        numbers = ~na & ~nb
        lt = (~na & nb) | (numbers & np.less(a, b))
        gt = (na & ~nb) | (numbers & np.greater(a, b))
        eq = (na & nb) | (numbers & np.equal(a, b))
        return {"eq": eq, "ne": ~eq, "gt": gt, "ge": gt | eq, "lt": lt, "le": lt | eq}[op]
    return run


def vector_binary(op: str) -> Callable[[Vector, Vector], Vector]:
    if op in ("and", "or"):
        def kleene(x: Vector, y: Vector) -> Vector:
            a, b = _bool(x[0]), _bool(y[0])
            value = a & b if op == "and" else a | b  # right wherever the result is known
            if x[1] is None and y[1] is None:
                return value, None
            va, vb = _ok(x), _ok(y)
            # known: both sides known, or one side known to decide (false for and, true for or)
            if op == "and":
                return value, (va & (vb | ~a)) | (vb & ~b)
            return value, (va & (vb | a)) | (vb & b)
        return kleene
    ufunc = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
             "pow": np.power}.get(op) or _compare(op)

    def run(x: Vector, y: Vector) -> Vector:
        return ufunc(x[0], y[0]), _valid_and(x[1], y[1])
    return run


def _shift(x: Vector, n: int) -> Vector:
    """Values moved down by n rows (up if negative), nulls shifted in."""
    values, valid = x[0], _ok(x)
    size = len(values)
    moved, out = values.copy(), np.zeros(size, bool)  # moved: stale values in null slots
    if 0 <= n < size:
        moved[n:], out[n:] = values[:size - n], valid[:size - n]
    elif -size < n < 0:
        moved[:n], out[:n] = values[-n:], valid[-n:]
    return moved, out


def vector_unary(op: str, param: Any) -> Callable[[Vector], Vector]:
    if op == "shift":
        return lambda x: _shift(x, param)
    if op == "is_null":
        return lambda x: (~_ok(x), None)
    if op == "is_not_null":
        return lambda x: (_ok(x), None)
    if op == "cast":
        dtype = NP_CASTS[CASTS[param]]
        f: Callable[[np.ndarray], np.ndarray] = lambda v: v.astype(dtype)  # noqa: E731
    elif op == "round":
        f = lambda v: np.round(v, param) if v.dtype.kind == "f" else v  # noqa: E731
    elif op == "year":
        f = lambda v: v.astype("datetime64[Y]").astype(np.int64) + 1970  # noqa: E731
    elif op == "month":
        f = lambda v: v.astype("datetime64[M]").astype(np.int64) % 12 + 1  # noqa: E731
    else:
        f = {"neg": np.negative, "not": np.logical_not}[op]
    return lambda x: (f(x[0]), x[1])


def when(p: Vector, t: Vector, o: Vector | None) -> Vector:
    """`t` where `p` is true, else `o` (null where `p` is false or null and `o` is absent)."""
    chosen = _bool(p[0]) if p[1] is None else _bool(p[0]) & p[1]
    if o is None:
        values = t[0] if t[0].shape == chosen.shape else np.broadcast_to(t[0], chosen.shape)
        return values, chosen if t[1] is None else chosen & t[1]
    return np.where(chosen, t[0], o[0]), np.where(chosen, _ok(t), _ok(o))


def vector_min(xs: list[Vector]) -> Vector:
    """Row by row, the smallest non-null value (NaN sorts last; of equals, the last)."""
    at_most = _compare("le")  # of equals, the later one, as Polars picks
    best, ok = xs[0][0], _ok(xs[0])
    for x in xs[1:]:
        take = _ok(x) & (~ok | at_most(x[0], best))
        best, ok = np.where(take, x[0], best), ok | _ok(x)
    return best, ok


def _kahan(values: list[float]) -> float:
    """A float sum as Polars' grouped kernel computes it: compensated, in order, the
    compensation dropped once the total is not finite."""
    total = carry = 0.0
    for v in values:
        y = v - carry
        t = total + y
        carry = (t - total) - y if -math.inf < t < math.inf else 0.0
        total = t
    return total


def _std(values: list[float]) -> float:
    """Sample standard deviation by Polars' grouped kernel: one-pass updates, in order."""
    weight = mean = dp = 0.0
    for v in values:
        weight += 1.0
        delta = mean - v
        mean -= delta / weight
        dp += (mean - v) * delta
    return math.sqrt(dp / (weight - 1.0))


def _present(x: Vector) -> list[Any]:
    values = x[0].tolist()
    return values if x[1] is None else list(compress(values, x[1].tolist()))


def _sum(x: Vector) -> Any:
    if x[0].dtype.kind != "f":
        return sum(_present(x))
    if len(x[0]) == 1:  # Polars takes a one-row group's value as it is (-0.0 stays -0.0)
        return x[0][0].item() if x[1] is None or x[1][0] else 0.0
    return _kahan(_present(x))


def _mean(x: Vector) -> float | None:
    n = len(x[0]) if x[1] is None else int(np.count_nonzero(x[1]))
    return divide(_sum(x), n) if n else None


def _extreme(op: str) -> Callable[[Vector], Any]:
    """A group's min or max: NaN skipped unless all are NaN; of equal values the last (so
    -0.0 after 0.0 wins)."""
    better = {"min": operator.le, "max": operator.ge}[op]

    def run(x: Vector) -> Any:
        values = _present(x)
        if x[0].dtype.kind == "f" and any(v != v for v in values):
            numbers = [v for v in values if v == v]
            if not numbers:
                return math.nan
            values = numbers
        if not values:
            return None
        best = values[0]
        for v in values[1:]:
            if better(v, best):
                best = v
        return best
    return run


#: One group's reductions as Polars computes them, as Python scalars (None for null).
AGGREGATE: dict[str, Callable[[Vector], Any]] = {
    "count": lambda x: len(x[0]) if x[1] is None else int(np.count_nonzero(x[1])),
    "first": lambda x: x[0][0].item() if x[1] is None or x[1][0] else None,
    "sum": _sum, "mean": _mean,
    "std": lambda x: (_std([float(v) for v in values]) if len(values := _present(x)) > 1
                      else None),
    "min": _extreme("min"), "max": _extreme("max"),
}
