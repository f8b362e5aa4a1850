"""Running `puhui.risk.expr` trees for one group (one business) with NumPy and plain Python.

Why: on the live path the features run over one business's 16 panel rows, where Polars' fixed
cost per expression dominates.  Each stage is compiled once into a straight-line Python function
(one assignment per distinct subexpression, so a repeated one is computed once) calling the
operations of `puhui.risk._expr_ops`; the whole computation then takes a fraction of a
millisecond.  The semantics are Polars' (tests run both engines over whole synthetic portfolios
and over random columns with nulls, NaN and signed zeros): nulls propagate through arithmetic
and comparisons; `&` and `|` follow Kleene logic; `when` treats a null predicate as false and is
null where no branch applies; NaN equals NaN and sorts above every number; `x / 0` is inf or NaN;
sums and counts of nothing are 0, means, extremes and standard deviations of nothing are null.
Like Polars, both branches of a `when` are computed.

Columns are `Vector`s (values, validity) until an aggregation stage; after it, plain scalars.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import polars as pl

from puhui.risk import _expr_ops as ops
from puhui.risk.expr import AGGREGATIONS, BINARY, CASTS, Expr

Vector = ops.Vector
#: A program: stages applied in order, as `puhui.risk.features` runs them with Polars -
#: ("with_columns", exprs) adds columns, ("agg", exprs) reduces the group to one value per
#: expression, ("select", exprs) gives the output.
Stage = tuple[str, Sequence[Expr]]
Program = Callable[[Mapping[str, Vector]], dict[str, Any]]
_VECTOR_UNARY = ("cast", "round", "shift", "is_null", "is_not_null", "neg", "not", "year",
                 "month")
_INFIX = {"add": "+", "sub": "-", "mul": "*"}  # plain Python on scalars


def _key(e: Expr) -> tuple:
    """Structural identity: equal keys compute equal values (an alias changes only a name)."""
    if e.op == "alias":
        return _key(e.args[0])
    return (e.op, type(e.param).__name__, repr(e.param), tuple(_key(a) for a in e.args))


def _single(value: Any) -> Vector:
    """A scalar as a one-row column (an aggregation of an aggregated value)."""
    return (np.zeros(1), np.zeros(1, bool)) if value is None else (np.asarray([value]), None)


def _broadcast(value: Any, env: Mapping[str, Any]) -> Vector:
    """A scalar as a column as long as the group's."""
    height = len(next(v for v in env.values() if isinstance(v, tuple))[0])
    if value is None:
        return np.zeros(height), np.zeros(height, bool)
    return np.full(height, value), None


def _round(decimals: int) -> Callable[[Any], Any]:
    return lambda x: round(x, decimals) if isinstance(x, float) else x


class _Writer:
    """The source of one stage's function: a line per distinct subexpression; every value the
    code uses (column names, literals, operations) is passed in its namespace, never spliced
    into the text."""

    def __init__(self, vectors: bool) -> None:
        self.vectors = vectors  # whether the stage's input columns are Vectors
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"np": np}
        self.done: dict[tuple, tuple[str, bool]] = {}

    def const(self, value: Any) -> str:
        name = f"k{len(self.names)}"
        self.names[name] = value
        return name

    def line(self, code: str) -> str:
        var = f"v{len(self.lines)}"
        self.lines.append(f"{var} = {code}")
        return var

    def value(self, e: Expr) -> tuple[str, bool]:
        """The variable (or constant) holding `e`, and whether it is a Vector."""
        if e.op == "alias":
            return self.value(e.args[0])
        key = _key(e)
        if key not in self.done:
            self.done[key] = self._node(e)
        return self.done[key]

    def _node(self, e: Expr) -> tuple[str, bool]:
        op, param = e.op, e.param
        if op == "col":
            return self.line(f"env[{self.const(param)}]"), self.vectors
        if op == "lit":
            return self.const(param), False
        args = [self.value(a) for a in e.args]
        if op in AGGREGATIONS:
            (a, is_vector), = args
            column = a if is_vector else f"{self.const(_single)}({a})"
            return self.line(f"{self.const(ops.AGGREGATE[op])}({column})"), False
        if any(is_vector for _, is_vector in args):
            return self._vector(op, param, args), True
        return self._scalar(op, param, [a for a, _ in args]), False

    def _vector(self, op: str, param: Any, args: list[tuple[str, bool]]) -> str:
        like = next(a for a, is_vector in args if is_vector)
        spread = self.const(ops.as_vector)
        v = [a if is_vector else f"{spread}({a}, {like})" for a, is_vector in args]
        if op == "when":
            return self.line(f"{self.const(ops.when)}({v[0]}, {v[1]}, "
                             f"{v[2] if len(v) > 2 else 'None'})")
        if op == "min_horizontal":
            return self.line(f"{self.const(ops.vector_min)}([{', '.join(v)}])")
        if op in BINARY:
            return self.line(f"{self.const(ops.vector_binary(op))}({v[0]}, {v[1]})")
        if op in _VECTOR_UNARY:
            return self.line(f"{self.const(ops.vector_unary(op, param))}({v[0]})")
        raise ValueError(f"unknown expression operation {op!r}")

    def _scalar(self, op: str, param: Any, a: list[str]) -> str:
        if op == "when":
            return self.line(f"{a[1]} if {a[0]} is True else {a[2] if len(a) > 2 else 'None'}")
        if op in ("and", "or"):
            kleene = ops.kleene_and if op == "and" else ops.kleene_or
            return self.line(f"{self.const(kleene)}({a[0]}, {a[1]})")
        if op == "min_horizontal":
            return self.line(f"{self.const(ops.scalar_min)}([{', '.join(a)}])")
        if op in ("is_null", "is_not_null"):
            return self.line(f"{a[0]} is {'' if op == 'is_null' else 'not '}None")
        null = f"None if {' is None or '.join(a)} is None else"
        if op in _INFIX:
            return self.line(f"{null} {a[0]} {_INFIX[op]} {a[1]}")
        if op in ops.SCALAR_BINARY:
            return self.line(f"{null} {self.const(ops.SCALAR_BINARY[op])}({a[0]}, {a[1]})")
        if op == "cast":
            f = ops.PY_CASTS[CASTS[param]]
        elif op == "round":
            f = _round(param)
        elif op in ops.SCALAR_UNARY:
            f = ops.SCALAR_UNARY[op]
        elif op == "shift":
            raise ValueError("shift() moves rows of a column: it cannot follow an aggregation "
                             "(it would mix groups)")
        else:
            raise ValueError(f"unknown expression operation {op!r}")
        return self.line(f"{null} {self.const(f)}({a[0]})")

    def function(self, outputs: list[tuple[str, str]], update: bool) -> Callable:
        items = ", ".join(f"{self.const(name)}: {var}" for name, var in outputs)
        body = "".join(f"    {line}\n" for line in self.lines)
        tail = f"    env.update({{{items}}})\n    return env\n" if update else \
            f"    return {{{items}}}\n"
        exec(f"def stage(env):\n{body}{tail}", self.names)  # noqa: S102 (text built above)
        return self.names["stage"]


def compile_stages(stages: Sequence[Stage]) -> Program:
    """A function running `stages` over one group's columns (name -> Vector), returning the
    last stage's output (scalars after an aggregation; a scalar beside columns is broadcast)."""
    vectors, functions = True, []
    for kind, exprs in stages:
        if kind not in ("with_columns", "agg", "select"):
            raise ValueError(f"unknown stage {kind!r}")
        if kind != "select" and not vectors:
            raise ValueError(f"{kind} after an aggregation is not supported")
        writer = _Writer(vectors)
        values = [(e.name, *writer.value(e)) for e in exprs]
        columns = kind == "with_columns" or (kind == "select" and
                                              any(is_vector for _, _, is_vector in values))
        spread = writer.const(_broadcast)
        outputs = [(name, f"{spread}({var}, env)" if columns and not is_vector else var)
                   for name, var, is_vector in values]
        functions.append(writer.function(outputs, update=kind == "with_columns"))
        vectors = vectors and kind != "agg"

    def run(columns: Mapping[str, Vector]) -> dict[str, Any]:
        env: dict[str, Any] = dict(columns)
        with np.errstate(all="ignore"):
            for stage in functions:
                env = stage(env)
        return env
    return run


def vectors(frame: pl.DataFrame) -> dict[str, Vector]:
    """One group's rows of a Polars frame as Vectors (integers widened to int64)."""
    out: dict[str, Vector] = {}
    for s in frame.get_columns():
        valid = s.is_not_null().to_numpy() if s.null_count() else None
        if s.dtype == pl.String:
            values = np.array(s.to_list(), dtype=object)
        elif s.dtype == pl.Boolean:
            values = s.fill_null(False).to_numpy()
        else:
            values = (s.fill_null(0) if s.dtype.is_numeric() else s).to_numpy()
            if values.dtype.kind in "iu":
                values = values.astype(np.int64)
        out[s.name] = values, valid
    return out
