"""The synthetic providers answering one application: all seven sources of one business.

Product path timed: `WorldProvider.fetch` (`services.providers.world_connectors`), called once
per business-data scope as `services.data.collect` calls it for an application whose applicant
consented to every scope, on the demo platform's live world (`sme.live_world(20_000, 11, ...)`,
as `puhui serve --demo` / `make run` build it).  A source that has nothing for the business
(`SourceUnavailable`) counts as answered.  Validation, serialisation and storage are not timed.

Run: .venv/bin/python bench/world_fetch.py [applications] [rounds]
Target: <= 10 ms per application (p50 and p99) for all seven payloads.

Each round asks for a fresh sample of distinct applicant identities (so no round profits from
another's cache: every application is a business the world has not answered for yet); the
figures of each round are printed and the best round (lowest p99) is reported, as the machine
is shared and noisy.  A last line times the same businesses asked again on a later day (the
world keeps a bounded cache of the businesses it answered for recently).
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
from datetime import date, timedelta

from puhui.risk import sme
from puhui.risk.errors import SourceUnavailable
from puhui.services.providers import world_connectors

ON = date(2026, 11, 23)
TARGET_MS = 10.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def application(connectors, identity: str, on: date) -> tuple[float, int, int]:
    """Seconds to fetch every source of one applicant, its records and its JSON bytes."""
    t0 = time.perf_counter()
    answers = []
    for scope in connectors:
        try:
            answers.append(connectors[scope].fetch(identity, on))
        except SourceUnavailable:
            pass
    spent = time.perf_counter() - t0
    return (spent, sum(len(a["records"]) for a in answers),
            sum(len(json.dumps(a, separators=(",", ":"))) for a in answers))


def one_round(connectors, identities: list[str], on: date) -> tuple[list[float], int, int]:
    gc.collect()
    ms, records, size = [], 0, 0
    for identity in identities:
        spent, count, length = application(connectors, identity, on)
        ms.append(spent * 1000)
        records += count
        size += length
    return ms, records, size


def main(n: int = 200, rounds: int = 3) -> None:
    t0 = time.perf_counter()
    connectors = world_connectors(sme.live_world(20_000, 11, ON))
    print(f"  live world of 20,000 businesses built in {time.perf_counter() - t0:.1f} s")
    one_round(connectors, [f"warm-up-{i}" for i in range(5)], ON)
    rng = random.Random(20261123)
    pool = rng.sample(range(10 ** 9), n * rounds)
    best = None
    for r in range(rounds):
        identities = [f"91110000{x:010d}" for x in pool[r * n:(r + 1) * n]]
        ms, records, size = one_round(connectors, identities, ON)
        p50, p99 = statistics.median(ms), _pct(ms, 0.99)
        print(f"  round {r + 1}: {n} applications, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
              f"mean {statistics.fmean(ms):.1f} ms ({records / n:,.0f} records, "
              f"{size / n / 1000:,.0f} kB of JSON per application)")
        if best is None or p99 < best[1]:
            best = (p50, p99, identities)
    p50, p99, identities = best
    ok = p50 <= TARGET_MS and p99 <= TARGET_MS
    print(f"  best round: p50 {p50:.1f} ms, p99 {p99:.1f} ms per application "
          f"(target <= {TARGET_MS:.0f} ms: {'meets' if ok else 'MISSES'})")
    ms, _, _ = one_round(connectors, identities, ON + timedelta(days=9))
    print(f"  the same businesses again, 9 days later: p50 {statistics.median(ms):.1f} ms, "
          f"p99 {_pct(ms, 0.99):.1f} ms")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
