"""Point-in-time features for a whole portfolio, and for one business on the live path.

Product paths timed: `feature_frame` is what `puhui train sme` builds its training frame with
(the whole book at once); `features_for` is what `services.risk` runs for each application's
decision.  Both on the synthetic world of the demo, in process (no database, no HTTP).

Run: .venv/bin/python bench/features_batch.py [n_businesses]
Targets: `feature_frame` for 100,000 businesses from the synthetic world's panel in a few
seconds; `features_for` (raw records -> panel -> features) for one business in a few
milliseconds at the median (it sits inside the 20 ms p99 decision budget).
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import date

from puhui.risk.data.payload import SOURCES, parse_payload
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.errors import SourceUnavailable
from puhui.risk.features import feature_frame, features_for

AS_OF = date(2025, 11, 12)
BATCH_TARGET_S = 5.0
LIVE_TARGET_MS = 10.0


def main(n: int = 100_000) -> None:
    t0 = time.perf_counter()
    world = SyntheticWorld(n, seed=1)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    panel = world.panel(AS_OF)
    paneled = time.perf_counter() - t0
    t0 = time.perf_counter()
    frame = feature_frame(panel, AS_OF)
    batch_s = time.perf_counter() - t0
    print(f"  world        {n:>9,} businesses built in {built:.2f} s; panel of {panel.height:,} "
          f"rows in {paneled:.2f} s")
    print(f"  batch        {frame.height:>9,} businesses in {batch_s:.2f} s = "
          f"{frame.height / batch_s:,.0f} businesses/s (target: {n:,} in <= {BATCH_TARGET_S} s)"
          f"  {'ok' if batch_s <= BATCH_TARGET_S * n / 100_000 else 'SLOW'}")

    times = []
    for business_id in frame["business_id"][:: max(1, frame.height // 50)][:50]:
        data = {}
        for scope in SOURCES:
            try:
                data[scope] = parse_payload(scope, world.payload(scope, business_id, AS_OF))
            except SourceUnavailable:
                pass
        features_for(data, AS_OF)  # warm
        t0 = time.perf_counter()
        features_for(data, AS_OF)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    median, p99 = statistics.median(times), times[int(0.99 * (len(times) - 1))]
    print(f"  live         features_for median {median:.1f} ms, p99 {p99:.1f} ms over "
          f"{len(times)} businesses (target: median <= {LIVE_TARGET_MS} ms)"
          f"  {'ok' if median <= LIVE_TARGET_MS else 'SLOW'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
