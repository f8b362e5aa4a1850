"""Point-in-time features of one business on the live path, and validating its payloads.

Product path timed: `features_for` and `parse_payload`, as `services.risk` runs them for an
application decided by the risk decider (in process; the providers' answers are fetched first).

Run: .venv/bin/python bench/features_live.py [applicants] [rounds]
Targets: `features_for` p50 <= 3 ms and p99 <= 6 ms on a typical business (a few thousand
records), so that features, both models and the policy fit a 20 ms p99 decision.

Applicants are linked to businesses of the demo platform's live world
(`sme.live_world(20_000, 11, ...)` through `world_connectors`), as `bench/decisions.py` does.
Every payload is fetched and validated (`parse_payload`, timed on its own line) before the clock
starts for the features; each applicant is then computed `rounds` times, interleaved.  The
first line covers every applicant (its p99 is set by the largest businesses, ~10,000 records);
the second the middle half by record count.  On a shared machine the figures move by a third
from run to run: compare runs made back to back.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from datetime import date

from _live_data import validated_payloads

from puhui.risk import sme
from puhui.risk.data.payload import SourceData
from puhui.risk.features import features_for
from puhui.services.providers import world_connectors

ON = date(2026, 11, 23)
P50_TARGET_MS, P99_TARGET_MS = 3.0, 6.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def applications(n: int) -> list[dict]:
    """`n` applicants' validated data; prints the validation cost per application."""
    connectors = world_connectors(sme.live_world(20_000, 11, ON))
    out, parse_ms, records = [], [], 0
    for i in range(n):
        data, spent, count = validated_payloads(connectors, f"AP{i:07d}", ON)
        records += count
        parse_ms.append(spent * 1000)
        out.append(data)
    print(f"  parse_payload: p50 {statistics.median(parse_ms):.1f} ms, "
          f"mean {statistics.fmean(parse_ms):.1f} ms per application "
          f"({records / n:,.0f} records each)")
    return out


def _size(data: dict[object, SourceData]) -> int:
    return sum(s.record_count for s in data.values())


def main(n: int = 300, rounds: int = 5) -> None:
    apps = applications(n)
    for data in apps[:20]:  # warm-up: expression plans, caches
        features_for(data, ON)
    gc.collect()
    latencies: list[float] = []
    typical: list[float] = []
    sizes = sorted(_size(d) for d in apps)
    lo, hi = sizes[len(sizes) // 4], sizes[3 * len(sizes) // 4]
    for _ in range(rounds):
        for data in apps:
            t0 = time.perf_counter()
            features_for(data, ON)
            ms = (time.perf_counter() - t0) * 1000
            latencies.append(ms)
            if lo <= _size(data) <= hi:
                typical.append(ms)
    p50, p99 = statistics.median(latencies), _pct(latencies, 0.99)
    ok = p50 <= P50_TARGET_MS and p99 <= P99_TARGET_MS
    print(f"  features_for: {len(latencies):,} calls ({n} applicants x {rounds}), "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(latencies):.2f} ms "
          f"(target p50 <= {P50_TARGET_MS:.0f} ms, p99 <= {P99_TARGET_MS:.0f} ms: "
          f"{'meets' if ok else 'MISSES'})")
    print(f"  typical businesses ({lo:,}-{hi:,} records, middle half): "
          f"p50 {statistics.median(typical):.2f} ms, p99 {_pct(typical, 0.99):.2f} ms")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
