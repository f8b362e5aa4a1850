"""The bank and app summaries' chunk-wide extend+panel (`panel_many`) against the
per-business `extend` then `panel` it replaced, on one chunk of businesses of realistic size
(`bench/panels_many.py` does the same for sales and logistics).

Product path timed: `services.monitoring_panels.load_panels` extends each business's stored
summary with its state's tail and reads the panel off it, for a chunk at a time, with
`panel_many` (through `summaries.panels_many`); the one-business form, which it ran before,
gives the same `Stacked`.  Left out: reading and decoding the summaries and tails (timed with
the rest in `bench/lines_refresh.py`).  Synthetic businesses (typed
columns, the merged state's form): bank, a body of 200 to 3,000 lines over two years with 30
counterparties, 1 to 6 tail lines in the last 40 days; app, a body of 200 to 3,000 events over
two years on 1 to 4 devices, 1 to 8 tail events in the last 40 days (a new device at times).
Each timing is the best of a few runs; the two answers are compared.

Run: .venv/bin/python bench/summary_panel_many.py [n_businesses]
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData
from puhui.risk.data.typed import TypedColumn
from puhui.risk.panel import month_index
from puhui.risk.stacked import stack
from puhui.risk.summaries import app, bank

AS_OF = date(2026, 11, 20)
SCOPE = DataScope.BANK_STATEMENT
KINDS = ["login", "login", "view_dashboard", "view_loan", "repay", "logout"]
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


def _events(rng: np.random.Generator, count: int, lo: int, hi: int, devices: list[str]
            ) -> SourceData:
    start = datetime.combine(START, datetime.min.time(), UTC)
    minutes = np.sort(rng.integers(lo * 1440, hi * 1440, count))
    columns = {"occurred_at": TypedColumn.of([start + timedelta(minutes=int(m))
                                              for m in minutes]),
               "event_type": TypedColumn.of([KINDS[int(k)] for k in
                                             rng.integers(0, len(KINDS), count)]),
               "session_id": TypedColumn.of([f"s{int(i)}" for i in rng.integers(0, 10**6, count)]),
               "device_id": TypedColumn.of([devices[int(d)] for d in
                                            rng.integers(0, len(devices), count)])}
    return SourceData(DataScope.APP_BEHAVIOUR, "91310000MA1FL0000X", AS_OF, columns=columns,
                      count=count)


def app_chunk(n: int, seed: int = 5) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    span = (AS_OF - START).days
    bodies, tails = [], []
    for _ in range(n):
        devices = [f"{int(x):016x}" for x in rng.integers(0, 2**62, rng.integers(1, 5))]
        bodies.append(app.build(_events(rng, int(rng.integers(200, 3000)), 0, span - 20,
                                        devices)))
        tails.append(_events(rng, int(rng.integers(1, 9)), span - 40, span + 1,
                             devices + [f"{int(rng.integers(0, 2**62)):016x}"]))
    return bodies, tails


def per_business(module, bodies: list, tails: list, top: int) -> list:
    results = []
    for body, tail in zip(bodies, tails):
        if tail.record_count:
            body = module.extend(body, tail)
        results.append(None if body is None else module.panel(body, AS_OF, top))
    return results


def _best(run, times: int = 7) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(times):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return best, out


def measure(name: str, module, scope: DataScope, bodies: list, tails: list, size: str) -> None:
    n, top = len(bodies), month_index(AS_OF)
    print(f"  {name:<5} {n:,} businesses, {size} and "
          f"{sum(t.record_count for t in tails) / n:.1f} tail records a business")
    loop_s, _ = _best(lambda: per_business(module, bodies, tails, top))
    stack_s, want = _best(lambda: stack(scope, per_business(module, bodies, tails, top), top))
    many_s, got = _best(lambda: module.panel_many(bodies, tails, AS_OF, top))
    assert np.array_equal(got.ok, want.ok) and np.array_equal(got.first_month, want.first_month)
    for column, (values, valid) in want.columns.items():
        assert np.array_equal(got.columns[column][1], valid)
        assert np.array_equal(got.columns[column][0][valid], values[valid]), column
    print(f"        per business {loop_s / n * 1e6:8.1f} µs a business (extend + panel); "
          f"{stack_s / n * 1e6:.1f} µs with stacking")
    print(f"        panel_many   {many_s / n * 1e6:8.1f} µs a business "
          f"({stack_s / many_s:.0f}x), the same Stacked")


def main(n: int = 2000) -> None:
    bodies, tails = chunk(n)
    lines = sum(int(b["head"][0]) for b in bodies) / n
    measure("bank", bank, SCOPE, bodies, tails, f"{lines:,.0f} body lines")
    bodies, tails = app_chunk(n)
    events = sum(int(b["head"][0]) for b in bodies) / n
    measure("app", app, DataScope.APP_BEHAVIOUR, bodies, tails, f"{events:,.0f} body events")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
