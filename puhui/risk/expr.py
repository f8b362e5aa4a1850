"""The small expression language the features are written in: one tree, two engines.

Why not plain Polars expressions: the features must be one definition for training and for the
live decision.  Training runs them over a portfolio's panel, where Polars' grouped kernels shine;
the live decision runs them over one business's 16 rows, where Polars' fixed cost per expression
(planning, ~20-40 us each, ~140 of them) alone is about 3 ms of a 20 ms decision.  So
`puhui.risk.feature_exprs` builds trees of `Expr` with Polars' own vocabulary (`col`, `lit`,
`when(...).then(...).otherwise(...)`, arithmetic, comparisons, `&`, `cast`, `shift`, `round`,
`dt.year()`, the aggregations); `Expr.polars()` lowers a tree to the Polars expression the batch
path runs, and `puhui.risk.expr_eval` evaluates the very same tree for one business with NumPy,
following Polars' semantics.  Only what the features use is here; an operation missing from
either engine is an error, not a silent difference.
"""

from __future__ import annotations

import math
import operator
from datetime import date
from typing import Any, Callable

import polars as pl

#: Casts both engines implement (Polars dtype -> what `expr_eval` converts to).
CASTS: dict[type[pl.DataType], str] = {pl.Float64: "float", pl.Int64: "int", pl.Int32: "int",
                                       pl.Boolean: "bool"}
#: Binary operators: name -> the Python operator (applied to Polars expressions when lowering).
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "pow": operator.pow, "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
    "ge": operator.ge, "lt": operator.lt, "le": operator.le, "and": operator.and_,
    "or": operator.or_,
}
#: Reductions of a column to one value per group (nulls ignored; see `expr_eval`).
AGGREGATIONS = ("sum", "count", "mean", "std", "min", "max", "first")
LITERALS = (bool, int, float, date, type(None))


class Expr:
    """A node: `op` applied to `args` (child nodes), with `param` (a name, dtype, count...)."""

    __slots__ = ("op", "args", "param")
    __hash__ = object.__hash__  # identity: == builds a comparison, as in Polars

    def __init__(self, op: str, args: tuple[Expr, ...] = (), param: Any = None) -> None:
        self.op, self.args, self.param = op, args, param

    def __repr__(self) -> str:
        return f"Expr({self.polars()})"

    def __bool__(self) -> bool:
        raise TypeError("an expression has no truth value: combine conditions with & and |")

    def _bin(self, op: str, other: Any, reflected: bool = False) -> Expr:
        other = _wrap(other)
        return Expr(op, (other, self) if reflected else (self, other))

    def __add__(self, o: Any) -> Expr: return self._bin("add", o)
    def __radd__(self, o: Any) -> Expr: return self._bin("add", o, True)
    def __sub__(self, o: Any) -> Expr: return self._bin("sub", o)
    def __rsub__(self, o: Any) -> Expr: return self._bin("sub", o, True)
    def __mul__(self, o: Any) -> Expr: return self._bin("mul", o)
    def __rmul__(self, o: Any) -> Expr: return self._bin("mul", o, True)
    def __truediv__(self, o: Any) -> Expr:
        if type(o) in (int, float):
            # a column divided by a constant: Polars multiplies by the reciprocal (except on
            # a one-row frame); written so here, every engine and frame size agrees
            return self._bin("mul", _reciprocal(o))
        return self._bin("truediv", o)

    def __rtruediv__(self, o: Any) -> Expr: return self._bin("truediv", o, True)
    def __pow__(self, o: Any) -> Expr: return self._bin("pow", o)
    def __eq__(self, o: Any) -> Expr: return self._bin("eq", o)  # type: ignore[override]
    def __ne__(self, o: Any) -> Expr: return self._bin("ne", o)  # type: ignore[override]
    def __gt__(self, o: Any) -> Expr: return self._bin("gt", o)
    def __ge__(self, o: Any) -> Expr: return self._bin("ge", o)
    def __lt__(self, o: Any) -> Expr: return self._bin("lt", o)
    def __le__(self, o: Any) -> Expr: return self._bin("le", o)
    def __and__(self, o: Any) -> Expr: return self._bin("and", o)
    def __rand__(self, o: Any) -> Expr: return self._bin("and", o, True)
    def __or__(self, o: Any) -> Expr: return self._bin("or", o)
    def __ror__(self, o: Any) -> Expr: return self._bin("or", o, True)
    def __neg__(self) -> Expr: return Expr("neg", (self,))
    def __invert__(self) -> Expr: return Expr("not", (self,))

    def alias(self, name: str) -> Expr:
        return Expr("alias", (self,), name)

    def cast(self, dtype: type[pl.DataType]) -> Expr:
        if dtype not in CASTS:
            raise TypeError(f"cast to {dtype} is not supported; choose from {list(CASTS)}")
        return Expr("cast", (self,), dtype)

    def shift(self, n: int) -> Expr:
        return Expr("shift", (self,), int(n))

    def round(self, decimals: int = 0) -> Expr:
        """Half to even, as documented for the `_fen` features (explicit on both engines)."""
        return Expr("round", (self,), int(decimals))

    def is_null(self) -> Expr: return Expr("is_null", (self,))
    def is_not_null(self) -> Expr: return Expr("is_not_null", (self,))
    def sum(self) -> Expr: return Expr("sum", (self,))
    def count(self) -> Expr: return Expr("count", (self,))
    def mean(self) -> Expr: return Expr("mean", (self,))
    def std(self) -> Expr: return Expr("std", (self,))  # sample standard deviation (ddof 1)
    def min(self) -> Expr: return Expr("min", (self,))
    def max(self) -> Expr: return Expr("max", (self,))
    def first(self) -> Expr: return Expr("first", (self,))

    def otherwise(self, value: Any) -> Expr:
        if self.op != "when" or len(self.args) != 2:
            raise TypeError("otherwise() follows when(...).then(...), once")
        return Expr("when", (*self.args, _wrap(value)))

    @property
    def dt(self) -> _Dates:
        return _Dates(self)

    @property
    def name(self) -> str:
        """The output column's name, by Polars' rule: the alias, else the leftmost input's."""
        if self.op in ("alias", "col"):
            return self.param
        return self.args[0].name if self.args else "literal"

    def columns(self) -> set[str]:
        """The input columns the expression reads."""
        if self.op == "col":
            return {self.param}
        return set().union(*(a.columns() for a in self.args))

    def polars(self) -> pl.Expr:
        """The same expression in Polars."""
        return _lower(self)


class _Dates:
    __slots__ = ("_expr",)

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def year(self) -> Expr: return Expr("year", (self._expr,))
    def month(self) -> Expr: return Expr("month", (self._expr,))


class _When:
    __slots__ = ("_predicate",)

    def __init__(self, predicate: Expr) -> None:
        self._predicate = predicate

    def then(self, value: Any) -> Expr:
        """The value where the predicate holds; null elsewhere unless `otherwise` follows."""
        return Expr("when", (self._predicate, _wrap(value)))


def col(name: str) -> Expr:
    return Expr("col", (), name)


def lit(value: Any) -> Expr:
    if not isinstance(value, LITERALS):
        raise TypeError(f"a literal is a bool, int, float, date or None, not "
                        f"{type(value).__name__}")
    return Expr("lit", (), value)


def when(predicate: Expr) -> _When:
    return _When(_wrap(predicate))


def min_horizontal(*exprs: Any) -> Expr:
    """The smallest non-null value across expressions, row by row (NaN sorts last)."""
    return Expr("min_horizontal", tuple(_wrap(e) for e in exprs))


def _reciprocal(value: int | float) -> float:
    """1 / value in IEEE arithmetic (1 / 0 is inf, as Polars computes it)."""
    value = float(value)
    if value:
        return 1.0 / value
    return math.copysign(math.inf, value)


def _wrap(value: Any) -> Expr:
    return value if isinstance(value, Expr) else lit(value)


def _lower(e: Expr) -> pl.Expr:
    op, args = e.op, [_lower(a) for a in e.args]
    if op in BINARY:
        return BINARY[op](args[0], args[1])
    if op in AGGREGATIONS:
        return args[0].std(ddof=1) if op == "std" else getattr(args[0], op)()
    simple = {"col": lambda: pl.col(e.param), "lit": lambda: pl.lit(e.param),
              "alias": lambda: args[0].alias(e.param), "cast": lambda: args[0].cast(e.param),
              "shift": lambda: args[0].shift(e.param), "neg": lambda: -args[0],
              "not": lambda: ~args[0], "is_null": lambda: args[0].is_null(),
              "is_not_null": lambda: args[0].is_not_null(),
              "round": lambda: args[0].round(e.param, mode="half_to_even"),
              "year": lambda: args[0].dt.year(), "month": lambda: args[0].dt.month(),
              "min_horizontal": lambda: pl.min_horizontal(*args)}
    if op in simple:
        return simple[op]()
    if op == "when":
        then = pl.when(args[0]).then(args[1])
        return then.otherwise(args[2]) if len(args) == 3 else then
    raise ValueError(f"unknown expression operation {op!r}")
