"""Many businesses' panel columns of one source at once: what the refresh's chunk-wide reducers
give, and the single-business reductions stacked into the same form.

Why: the line refresh re-evaluates up to the whole book, a chunk of thousands of businesses at a
time.  Reducing each business on its own (`_reduce.REDUCERS`, a summary's `panel_of`) costs a
few hundred NumPy calls per business, whatever its size; the chunk-wide forms cost about as
many calls per chunk.  Both give a `Stacked`: per column a `(B, ROWS)` block of values and of
validity, each business's first activity month, and which businesses the form could reduce
exactly (`ok`; the others take the one-business path, which is exact or refuses in its own
words).  `stack` turns one-business results into a `Stacked`, so a source without a chunk-wide
form, and the tests, meet the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from puhui.parties.consent import DataScope
from puhui.risk.panel import (
    MONTHLY,
    PANEL_SCHEMA,
    ROWS,
    SNAPSHOT,
    Column,
    fixed_columns,
    month_of,
)

#: A business's first activity month when it has none on or before the panel's as_of month.
NO_MONTH = np.iinfo(np.int64).max


def scope_columns(scope: DataScope) -> tuple[str, ...]:
    """The panel columns a source gives, in `PANEL_SCHEMA` order."""
    return (*MONTHLY.get(scope, {}), *SNAPSHOT.get(scope, {}))


@dataclass
class Stacked:
    """One source's panel columns for B businesses.

    - ``columns``: name -> (values int64 ``(B, ROWS)``, validity bool ``(B, ROWS)``), for every
      column of the source (`scope_columns`); a column a business's reduction does not give
      is all invalid for it; values where invalid mean nothing;
    - ``first_month``: int64 ``(B,)``, the earliest activity month (`panel.month_index`) on or
      before the as_of month, `NO_MONTH` where there is none;
    - ``ok``: bool ``(B,)``, False where this form cannot give the one-business answer (the
      caller takes the one-business path there); the other fields mean nothing on such rows.
    """

    scope: DataScope
    columns: dict[str, tuple[np.ndarray, np.ndarray]]
    first_month: np.ndarray
    ok: np.ndarray

    @classmethod
    def empty(cls, scope: DataScope, count: int) -> Stacked:
        """All columns zero and invalid, no activity, every business ok (fill it in)."""
        return cls(scope, {name: (np.zeros((count, ROWS), np.int64),
                                  np.zeros((count, ROWS), bool))
                           for name in scope_columns(scope)},
                   np.full(count, NO_MONTH, np.int64), np.ones(count, bool))

    def __len__(self) -> int:
        return len(self.ok)

    def spread(self, rows: np.ndarray, count: int) -> Stacked:
        """This stack's businesses placed at `rows` of a stack of `count`; the others not ok."""
        out = Stacked.empty(self.scope, count)
        for name, (values, valid) in self.columns.items():
            out.columns[name][0][rows], out.columns[name][1][rows] = values, valid
        out.first_month[rows] = self.first_month
        out.ok[:] = False
        out.ok[rows] = self.ok
        return out


def begun(scope: DataScope, bodies: Sequence[dict | None], added: Sequence[object],
          empty: dict) -> tuple[Stacked, list[dict]]:
    """The start of a summary's chunk-wide form: the bodies and tails checked to pair up, the
    answer's empty stack, and a refused (None) body marked not ok and read as `empty`."""
    if len(added) != len(bodies):
        raise ValueError(f"{len(bodies)} bodies but {len(added)} tails")
    out = Stacked.empty(scope, len(bodies))
    out.ok[:] = [body is not None for body in bodies]
    return out, [empty if body is None else body for body in bodies]


def stack(scope: DataScope, results: Sequence[tuple[dict, list[int]] | None], top: int
          ) -> Stacked:
    """One-business reductions (each a reducer's `(columns, activity months)`, or None where
    the one-business form refused) stacked into a `Stacked`."""
    out = Stacked.empty(scope, len(results))
    for b, found in enumerate(results):
        if found is None:
            out.ok[b] = False
            continue
        columns, active = found
        for name, (values, valid) in columns.items():
            block, validity = out.columns[name]
            block[b] = values
            validity[b] = True if valid is None else valid
        first = [i for i in active if i <= top]
        if first:
            out.first_month[b] = min(first)
    return out


@dataclass
class PanelBlocks:
    """The panels of N businesses: per source column of `PANEL_SCHEMA` an ``(N, ROWS)`` block of
    values and of validity (a source a business lacks: all invalid), and each business's first
    activity month (`NO_MONTH`: none)."""

    values: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    first_month: np.ndarray

    @classmethod
    def of(cls, count: int, parts: Sequence[tuple[np.ndarray, Stacked]]) -> PanelBlocks:
        """The blocks from each source's `Stacked` and, for each of its rows, the business's
        place among the `count` (-1: not one of them)."""
        names = [n for n in PANEL_SCHEMA if n not in _FIXED]
        values = {n: np.zeros((count, ROWS), np.int64) for n in names}
        valid = {n: np.zeros((count, ROWS), bool) for n in names}
        first = np.full(count, NO_MONTH, np.int64)
        for places, part in parts:
            mine = places >= 0
            at = places[mine]
            for name, (v, m) in part.columns.items():
                values[name][at], valid[name][at] = v[mine], m[mine]
            np.minimum.at(first, at, part.first_month[mine])
        return cls(values, valid, first)

    def frame(self, keys: Sequence[str], as_of: date) -> pl.DataFrame:
        """The panels as one frame in `PANEL_SCHEMA` (`business_id` = `keys`), the rows
        `panel.panels_frame` gives for the same panels."""
        n = len(keys)
        if not n:
            return pl.DataFrame(schema=PANEL_SCHEMA)
        (months, _), (as_of_days, _), _ = fixed_columns(as_of)
        first = self.first_month
        has_first = first != NO_MONTH
        first_day = np.where(has_first, first, 0) - 1970 * 12
        series = [pl.Series("business_id", np.repeat(np.asarray(keys, dtype=object), ROWS),
                            dtype=pl.String),
                  pl.Series("as_of", np.tile(as_of_days, n)),
                  pl.Series("month", np.tile(months, n)),
                  pl.Series("first_activity_month",
                            np.repeat(first_day.astype("datetime64[M]").astype("datetime64[D]"),
                                      ROWS))]
        masks = [pl.Series("__valid_first_activity_month", np.repeat(has_first, ROWS))]
        for name, block in self.values.items():
            series.append(pl.Series(name, block.reshape(-1)).cast(PANEL_SCHEMA[name]))
            masks.append(pl.Series(f"__valid_{name}", self.valid[name].reshape(-1)))
        frame = pl.DataFrame(series + masks)
        return frame.select(pl.when(pl.col(f"__valid_{name}")).then(pl.col(name)).alias(name)
                            if f"__valid_{name}" in frame.columns else pl.col(name)
                            for name in PANEL_SCHEMA)

    def columns(self, b: int, business_id: str, as_of: date) -> dict[str, Column]:
        """Business `b`'s panel as `panel.panel_from` gives it."""
        months, as_of_column, absent = fixed_columns(as_of)
        first = int(self.first_month[b])
        out: dict[str, Column] = {
            "business_id": (np.full(ROWS, business_id, dtype=object), None),
            "as_of": as_of_column, "month": months,
            "first_activity_month": (np.full(ROWS, np.datetime64(month_of(first), "D")), None)
            if first != NO_MONTH else (np.full(ROWS, np.datetime64(0, "D")), absent[1])}
        for name, block in self.values.items():
            valid = self.valid[name][b]
            out[name] = (block[b], valid) if valid.any() else absent
        return out


_FIXED = ("business_id", "as_of", "month", "first_activity_month")

def found_in_runs(runs: np.ndarray, start: np.ndarray, end: np.ndarray, wanted: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """For each `wanted[i]` searched in the sorted run `runs[start[i]:end[i]]`: whether it is
    there, and where it is (or would be inserted).  One binary search of all of them in step,
    a pass per halving of the longest run: `searchsorted` takes one sorted array, not runs."""
    lo, hi = start.copy(), end.copy()
    if not len(runs):
        return np.zeros(len(wanted), bool), lo
    for _ in range(int((end - start).max(initial=0)).bit_length()):
        mid = (lo + hi) >> 1
        less = runs.take(mid, mode="clip") < wanted
        active = lo < hi
        lo = np.where(active & less, mid + 1, lo)
        hi = np.where(active & ~less, mid, hi)
    return (lo < end) & (runs.take(lo, mode="clip") == wanted), lo


__all__ = ["NO_MONTH", "PanelBlocks", "Stacked", "begun", "found_in_runs", "scope_columns", "stack"]

