"""Conditions: the `when` of a rule, as data, with one meaning for one row and for a frame.

A condition is a leaf ``{"fact", "op", "value"}`` or a combination ``{"all": [...]}`` /
``{"any": [...]}``.  Leaves compare one fact with a constant:

    <  <=  >  >=       numeric facts (number, money, probability) against a number
    ==  !=             numeric, bool or string facts against a constant of the same kind
    in  not_in         the fact is (not) one of a non-empty list of such constants
    is_missing         the fact is missing or unusable (never itself missing)
    is_true            a bool fact is true

Why three-valued: a condition on a missing fact is neither true nor false but *unknown*, so the
rule can follow its own `on_missing` instead of quietly passing.  Unknown combines by Kleene
logic, which is also what Polars does with nulls, so the vectorised form (`expr`) agrees with
the scalar form (`test`) row for row: ``all`` is false if any part is false, else unknown if any
part is unknown; ``any`` is true if any part is true, else unknown if any part is unknown.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Mapping, Union

import polars as pl
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, StrictBool, StrictFloat,
                      StrictInt, StrictStr, Tag)

from puhui.decision import values

Op = Literal["<", "<=", ">", ">=", "==", "!=", "in", "not_in", "is_missing", "is_true"]
_ORDER = ("<", "<=", ">", ">=")
Constant = Union[StrictBool, StrictInt, StrictFloat, StrictStr]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Leaf(_Strict):
    fact: StrictStr = Field(min_length=1, max_length=64)
    op: Op
    value: Union[Constant, list[Constant], None] = None

    def facts(self) -> list[str]:
        return [self.fact]

    def check(self, kinds: Mapping[str, str], where: str) -> list[str]:
        """Problems with this leaf given the kinds of the facts (empty when sound)."""
        kind = kinds.get(self.fact)
        if kind is None:
            return [f"{where}: unknown fact {self.fact!r} (declare it under `facts` if it is a "
                    "feature the policy reads)"]
        op, value = self.op, self.value
        if op in ("is_missing", "is_true"):
            problems = [] if value is None else [f"{where}: {op} takes no value"]
            if op == "is_true" and kind != "bool":
                problems.append(f"{where}: is_true needs a bool fact; {self.fact} is {kind}")
            return problems
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                return [f"{where}: {op} needs a non-empty list of values"]
            return [p for v in value for p in _constant(v, kind, self.fact, op, where)]
        if isinstance(value, list) or value is None:
            return [f"{where}: {op} needs one value"]
        if op in _ORDER and kind not in values.NUMERIC_KINDS:
            return [f"{where}: {op} needs a numeric fact; {self.fact} is {kind}"]
        return _constant(value, kind, self.fact, op, where)

    def test(self, facts: Mapping[str, Any], kinds: Mapping[str, str]) -> bool | None:
        """True, False, or None when the fact is missing."""
        kind = kinds[self.fact]
        v = values.fact(facts, self.fact, kind)
        if self.op == "is_missing":
            return v is None
        if v is None:
            return None
        if self.op == "is_true":
            return v
        if self.op in ("in", "not_in"):
            found = any(v == _as(c, kind) for c in self.value)  # type: ignore[union-attr]
            return found if self.op == "in" else not found
        c = _as(self.value, kind)
        return {"<": v < c, "<=": v <= c, ">": v > c, ">=": v >= c, "==": v == c,
                "!=": v != c}[self.op]

    def expr(self, schema: Mapping[str, pl.DataType], kinds: Mapping[str, str]) -> pl.Expr:
        """The same test over a frame: a Boolean column, null where the fact is missing."""
        kind = kinds[self.fact]
        col = values.column(schema, self.fact, kind)
        if self.op == "is_missing":
            return col.is_null()
        if self.op == "is_true":
            return col
        if self.op in ("in", "not_in"):
            listed = pl.Series([_as(c, kind) for c in self.value],  # type: ignore[union-attr]
                               dtype=_dtype(kind))
            found = col.is_in(listed.implode())
            found = pl.when(col.is_null()).then(None).otherwise(found)
            return found if self.op == "in" else ~found
        c = pl.lit(_as(self.value, kind), dtype=_dtype(kind))
        return {"<": col < c, "<=": col <= c, ">": col > c, ">=": col >= c, "==": col == c,
                "!=": col != c}[self.op]


class AllOf(_Strict):
    all: list["Condition"] = Field(min_length=1)

    def facts(self) -> list[str]:
        return _unique(f for part in self.all for f in part.facts())

    def check(self, kinds: Mapping[str, str], where: str) -> list[str]:
        return [p for i, c in enumerate(self.all) for p in c.check(kinds, f"{where}.all[{i}]")]

    def test(self, facts: Mapping[str, Any], kinds: Mapping[str, str]) -> bool | None:
        results = [c.test(facts, kinds) for c in self.all]
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True

    def expr(self, schema: Mapping[str, pl.DataType], kinds: Mapping[str, str]) -> pl.Expr:
        out = self.all[0].expr(schema, kinds)
        for part in self.all[1:]:
            out = out & part.expr(schema, kinds)
        return out


class AnyOf(_Strict):
    any: list["Condition"] = Field(min_length=1)

    def facts(self) -> list[str]:
        return _unique(f for part in self.any for f in part.facts())

    def check(self, kinds: Mapping[str, str], where: str) -> list[str]:
        return [p for i, c in enumerate(self.any) for p in c.check(kinds, f"{where}.any[{i}]")]

    def test(self, facts: Mapping[str, Any], kinds: Mapping[str, str]) -> bool | None:
        results = [c.test(facts, kinds) for c in self.any]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False

    def expr(self, schema: Mapping[str, pl.DataType], kinds: Mapping[str, str]) -> pl.Expr:
        out = self.any[0].expr(schema, kinds)
        for part in self.any[1:]:
            out = out | part.expr(schema, kinds)
        return out


def _shape(value: Any) -> str:
    """Which form a condition is, from its keys (a document) or its class (a model)."""
    if isinstance(value, Mapping):
        return "all" if "all" in value else "any" if "any" in value else "leaf"
    return {AllOf: "all", AnyOf: "any"}.get(type(value), "leaf")


Condition = Annotated[Union[Annotated[Leaf, Tag("leaf")], Annotated[AllOf, Tag("all")],
                            Annotated[AnyOf, Tag("any")]], Discriminator(_shape)]
AllOf.model_rebuild()
AnyOf.model_rebuild()


def _constant(value: Any, kind: str, fact: str, op: str, where: str) -> list[str]:
    ok = {"bool": isinstance(value, bool), "string": isinstance(value, str),
          "money": isinstance(value, int) and not isinstance(value, bool),
          }.get(kind, isinstance(value, (int, float)) and not isinstance(value, bool))
    if ok and kind == "money" and not -values.MONEY_BOUND <= value <= values.MONEY_BOUND:
        return [f"{where}: {value} fen is beyond any amount the engine believes"]
    if ok:
        return []
    wanted = {"money": "a whole number of fen", "bool": "true or false",
              "string": "text"}.get(kind, "a number")
    return [f"{where}: {fact} is {kind}, so {op} needs {wanted}, got {value!r}"]


def _as(value: Any, kind: str) -> Any:
    """A constant as the engine compares it (numbers as floats, like the facts they meet)."""
    return float(value) if kind in ("number", "probability") else value


def _dtype(kind: str) -> pl.DataType:
    return {"money": pl.Int64, "bool": pl.Boolean, "string": pl.String}.get(kind, pl.Float64)()


def _unique(names: Any) -> list[str]:
    return list(dict.fromkeys(names))
