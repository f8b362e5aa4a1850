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

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk.panel import MONTHLY, ROWS, SNAPSHOT

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


__all__ = ["NO_MONTH", "Stacked", "scope_columns", "stack"]
