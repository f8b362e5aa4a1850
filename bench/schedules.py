"""Throughput of schedule generation: vectorised batch against one `build_schedule` per loan.

Run: .venv/bin/python bench/schedules.py [n_loans]
Target: at least 100,000 twelve-period equal-instalment schedules a second, vectorised.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from decimal import Decimal

import numpy as np

from puhui.batch.schedules import equal_instalment_batch
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.schedule import build_schedule

TARGET_PER_SECOND = 100_000
PERIODS = 12


def main(n: int = 1_000_000, scalar_n: int = 5_000, seed: int = 20240601) -> None:
    rng = np.random.default_rng(seed)
    principal = rng.integers(100_00, 10_000_000_00, n, dtype=np.int64)  # 100 yuan .. 10M yuan
    rate = rng.integers(0, 360_001, n, dtype=np.int64)  # 0..36% in micro-units

    t0 = time.perf_counter()
    batch = equal_instalment_batch(principal, rate, PERIODS)
    vector_s = time.perf_counter() - t0
    vector_rate = n / vector_s

    products: dict[int, LoanProduct] = {}
    t0 = time.perf_counter()
    for i in range(scalar_n):
        m = int(rate[i])
        product = products.get(m) or products.setdefault(m, LoanProduct(
            "bench", RepaymentMethod.EQUAL_INSTALMENT, Decimal(m) / 1_000_000,
            term_periods=PERIODS))
        schedule = build_schedule(product, int(principal[i]), date(2024, 1, 15))
        if [x.principal for x in schedule.instalments] != batch.principal[i].tolist() \
                or [x.interest for x in schedule.instalments] != batch.interest[i].tolist():
            raise SystemExit(f"batch and scalar schedules differ for loan {i}")
    scalar_s = time.perf_counter() - t0
    scalar_rate = scalar_n / scalar_s

    ok = "meets" if vector_rate >= TARGET_PER_SECOND else "MISSES"
    print(f"{PERIODS}-period equal-instalment schedules")
    print(f"  vectorised: {n:>10,} loans in {vector_s:6.3f} s = {vector_rate:>12,.0f} /s "
          f"(target >= {TARGET_PER_SECOND:,} /s: {ok})")
    print(f"  scalar:     {scalar_n:>10,} loans in {scalar_s:6.3f} s = {scalar_rate:>12,.0f} /s "
          f"(build_schedule, for comparison; speed-up x{vector_rate / scalar_rate:,.0f})")
    print(f"  first {scalar_n:,} batch schedules identical to build_schedule: yes")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
