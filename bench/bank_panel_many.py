"""The bank summary's chunk-wide extend+panel (`bank.panel_many`) against the per-business
`extend` then `panel` the refresh runs today, on one chunk of businesses of realistic size.

Product path timed: `services.monitoring_panels.load_panels` extends each business's stored
bank summary with its state's tail and reads the panel off it, one business at a time; the
chunk-wide form gives the same `Stacked` for the whole chunk.  Synthetic businesses: a body of
200 to 3,000 lines over two years, 1 to 6 tail lines in the last weeks (typed columns, the
merged state's form).  Each timing is the best of a few runs; the two answers are compared.

Run: .venv/bin/python bench/bank_panel_many.py [n_businesses]
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData
from puhui.risk.data.typed import TypedColumn
from puhui.risk.panel import month_index
from puhui.risk.stacked import stack
from puhui.risk.summaries import bank

AS_OF = date(2026, 11, 20)
SCOPE = DataScope.BANK_STATEMENT
START = AS_OF - timedelta(days=730)


def _source(days: np.ndarray, amounts: np.ndarray, parties: list[str], balances: np.ndarray
            ) -> SourceData:
    columns = {"booked_on": TypedColumn.of([START + timedelta(days=int(d)) for d in days]),
               "amount_fen": TypedColumn.of(amounts.tolist()),
               "counterparty_hash": TypedColumn.of(parties),
               "balance_after_fen": TypedColumn.of(balances.tolist())}
    return SourceData(SCOPE, "91310000MA1FL0000X", AS_OF, columns=columns, count=len(days))


def _lines(rng: np.random.Generator, count: int, lo: int, hi: int, pool: list[str]
           ) -> SourceData:
    days = np.sort(rng.integers(lo, hi, count))
    amounts = rng.choice([-1, 1], count) * rng.integers(100, 5 * 10**6, count)
    parties = [pool[int(i)] for i in rng.integers(0, len(pool), count)]
    return _source(days, amounts, parties, rng.integers(-10**7, 10**9, count))


def chunk(n: int, seed: int = 3) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    span = (AS_OF - START).days
    bodies, tails = [], []
    for _ in range(n):
        pool = [f"{int(x):016x}{int(y):016x}" for x, y in rng.integers(0, 2**62, (30, 2))]
        bodies.append(bank.build(_lines(rng, int(rng.integers(200, 3000)), 0, span - 20, pool)))
        tails.append(_lines(rng, int(rng.integers(1, 7)), span - 40, span + 1, pool))
    return bodies, tails


def per_business(bodies: list, tails: list, top: int) -> list:
    results = []
    for body, tail in zip(bodies, tails):
        if tail.record_count:
            body = bank.extend(body, tail)
        results.append(None if body is None else bank.panel(body, AS_OF, top))
    return results


def _best(run, times: int = 5) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(times):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(n: int = 2000) -> None:
    bodies, tails = chunk(n)
    top = month_index(AS_OF)
    records = sum(int(b["head"][0]) for b in bodies)
    print(f"  chunk        {n:,} businesses, {records / n:,.0f} body lines and "
          f"{sum(t.record_count for t in tails) / n:.1f} tail lines a business")
    loop_s, results = _best(lambda: per_business(bodies, tails, top))
    stack_s, want = _best(lambda: stack(SCOPE, per_business(bodies, tails, top), top))
    many_s, got = _best(lambda: bank.panel_many(bodies, tails, AS_OF, top))
    assert np.array_equal(got.ok, want.ok) and np.array_equal(got.first_month, want.first_month)
    for name, (values, valid) in want.columns.items():
        assert np.array_equal(got.columns[name][1], valid)
        assert np.array_equal(got.columns[name][0][valid], values[valid]), name
    print(f"  per business {loop_s / n * 1e6:8.1f} µs a business (extend + panel); "
          f"{stack_s / n * 1e6:.1f} µs with stacking")
    print(f"  panel_many   {many_s / n * 1e6:8.1f} µs a business "
          f"({stack_s / many_s:.0f}x), the same Stacked")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
