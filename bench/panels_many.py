"""The chunk-wide panel of a large source (`<summary>.panel_many`) against the per-business
path it replaced (`extend` then `panel`, stacked): microseconds per business
(`bench/summary_panel_many.py` does the same for the bank and app summaries).  Left out:
reading and decoding the summaries and tails (timed with the rest in `bench/lines_refresh.py`).

Product path timed: the step of `services.monitoring_panels.load_panels` that extends a chunk's
summaries of a large source by their tails and reads the panels off them
(`summaries.panels_many`), against the one-business form it ran before.  Bodies are built from typed columns (as a merged state holds them)
of a few hundred to a few thousand records each (log-uniform), read back from their stored
bytes; each business has a tail of 1 to 10 new records (typed), some of its customers known.
Both forms are run on the same inputs, interleaved, `rounds` times; the best round is shown
and the two results are checked equal.

Run: PYTHONPATH=. .venv/bin/python bench/panels_many.py [businesses] [rounds] [scopes...]
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "risk" / "summaries"))

from many_samples import assert_stacked, reference, stored

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData
from puhui.risk.data.typed import TypedColumn
from puhui.risk.panel import month_index
from puhui.risk.summaries import logistics, sales

AS_OF = date(2026, 11, 20)
START = (AS_OF - timedelta(days=3 * 365)).toordinal()


def _source(scope: DataScope, columns: dict, n: int) -> SourceData:
    return SourceData(scope, "91310000MA1FL0000X", AS_OF, columns=columns, count=n)


def _sales(rng: np.random.Generator, n: int, pool: np.ndarray, tail: bool) -> SourceData:
    if tail:
        ordered = AS_OF.toordinal() - rng.integers(0, 20, n)
    else:
        ordered = START + rng.integers(0, AS_OF.toordinal() - 20 - START, n)
    refunded = rng.random(n) < 0.05
    back = np.where(refunded, np.minimum(ordered + rng.integers(0, 40, n), AS_OF.toordinal()),
                    0)
    customers = pool[rng.integers(0, len(pool), n)]
    channel = rng.integers(0, 2, n)
    amount = rng.integers(100, 10**7, n)
    cols = {"order_id": TypedColumn("L", [f"o{i}" for i in range(n)]),
            "ordered_on": TypedColumn("d", ordered.astype(np.int64)),
            "channel": TypedColumn("u", channel.astype(np.int64), ["pos", "ecommerce"]),
            "amount_fen": TypedColumn("i", amount.astype(np.int64)),
            "customer_hash": TypedColumn.of([c.decode() for c in customers.tolist()]) if tail
            else TypedColumn("f", customers),
            "refunded": TypedColumn("b", refunded),
            "refunded_on": TypedColumn("d", back.astype(np.int64))}
    return _source(DataScope.SALES, cols, n)


def _logistics(rng: np.random.Generator, n: int, pool: np.ndarray, tail: bool) -> SourceData:
    if tail:
        shipped = AS_OF.toordinal() - rng.integers(0, 20, n)
    else:
        shipped = START + rng.integers(0, AS_OF.toordinal() - 20 - START, n)
    cols = {"waybill_id": TypedColumn("L", [f"w{i}" for i in range(n)]),
            "shipped_on": TypedColumn("d", shipped.astype(np.int64)),
            "delivered_on": TypedColumn("d", np.zeros(n, np.int64)),
            "weight_g": TypedColumn("i", rng.integers(1, 10**6, n).astype(np.int64)),
            "fee_fen": TypedColumn("i", rng.integers(0, 10**5, n).astype(np.int64)),
            "destination_region": TypedColumn("u", np.zeros(n, np.int64), ["310000"])}
    return _source(DataScope.LOGISTICS, cols, n)


MODULES = {"sales": (sales, _sales), "logistics": (logistics, _logistics)}


def chunk(module, make, count: int, seed: int) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    bodies, tails = [], []
    for _ in range(count):
        n = int(np.exp(rng.uniform(np.log(200), np.log(3000))))
        pool = np.array([f"{x:016x}" for x in rng.integers(0, 2**62, max(1, n // 3))], "S16")
        bodies.append(stored(module.SCOPE, module.build(make(rng, n, pool, False))))
        tails.append(make(rng, int(rng.integers(1, 11)), pool, True))
    return bodies, tails


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    names = sys.argv[3:] or list(MODULES)
    top = month_index(AS_OF)
    for name in names:
        module, make = MODULES[name]
        bodies, tails = chunk(module, make, count, 5)
        one, many = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            want = reference(module, bodies, tails, AS_OF, top)
            t1 = time.perf_counter()
            got = module.panel_many(bodies, tails, AS_OF, top)
            t2 = time.perf_counter()
            one.append(t1 - t0)
            many.append(t2 - t1)
        assert_stacked(got, want)
        print(f"{name}: {count} businesses, per business: extend+panel {min(one) / count * 1e6:.1f}"
              f" us, panel_many {min(many) / count * 1e6:.1f} us "
              f"(best of {rounds}; ok {int(got.ok.sum())})")


if __name__ == "__main__":
    main()
