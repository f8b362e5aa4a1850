"""Re-evaluation of 200,000 credit lines after a data refresh, against the 30 s target.

Timed (the figure compared with the target), exactly `services.reevaluation.reevaluate_book`:
point-in-time features (`feature_frame`) and monitoring signals (`monitoring_frame`) over the
refreshed monthly panel of every business, both models' scores (`ModelScorer.score_frame`:
the WoE scorecard and the LightGBM challenger), the rules engaged read from each line's latest
record, the shipped line policy over the book (`evaluate_lines`), one replayable decision record
per line built (canonical JSON, SHA-256) and written to the database in bulk (SQLite file; then
PostgreSQL when a server answers), and each change handed to the change function.
Not timed: building the synthetic worlds and their monthly panel (the data refresh itself:
ingesting the sources), training the models, and the lines' own storage of a change (the
change function here records the call in memory; the credit lines' `change_line` writes one
event per changed line, a few percent of the book).

Also reported, apart from the figure above: the scheduled pull (`refresh_lines`) for PULL
businesses registered with a monitoring consent and a line, asking the synthetic world's
providers for four sources each, once with new data (stored, re-evaluated) and once with
nothing new, per business, extrapolated to 200,000 businesses against the 15-minute cycle.

Run: .venv/bin/python bench/lines_reevaluation.py [lines] [pull_businesses]
Target: 200,000 lines in <= 30 s on this machine (wall time).  The CPU seconds of this process
(all its threads) and the machine's load average are printed beside each figure: on a machine
shared with other work the wall time is that much longer than on an idle one.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from typing import Any

import polars as pl

from _pg_scratch import scratch_database

from puhui.decision.scoring import ModelScorer
from puhui.lines.policy import default_line_policy
from puhui.risk import sme
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.model_registry import ModelRegistry
from puhui.services.platform import Platform
from puhui.services.reevaluation import LineMonitor, reevaluate_book
from puhui.services.risk import ensure_models

AS_OF = date(2025, 11, 12)
TARGET_S = 30.0
WORLD = 110_000  # businesses per synthetic world (about 94% have data on AS_OF)


def refreshed_panel(n: int) -> pl.DataFrame:
    """The monthly panel of at least `n` distinct businesses, from worlds of different seeds."""
    panels, have, seed = [], 0, 1
    while have < n:
        panel = SyntheticWorld(WORLD, seed=seed).panel(AS_OF)
        panel = panel.with_columns((pl.lit(f"W{seed}-") + pl.col("business_id"))
                                   .alias("business_id"))
        panels.append(panel)
        have += panel["business_id"].n_unique()
        seed += 1
    return pl.concat(panels)


def book(panel: pl.DataFrame, n: int, seed: int = 3) -> pl.DataFrame:
    """`n` credit lines, one per business: limits, prices, statuses and repayment behaviour."""
    rng = random.Random(seed)
    ids = panel["business_id"].unique(maintain_order=True).to_list()[:n]
    limits = [rng.choice([2_000_000, 5_000_000, 10_000_000, 30_000_000]) for _ in ids]
    return pl.DataFrame({
        "business_id": ids, "applicant_id": [f"AP{i:08d}" for i in range(len(ids))],
        "line_id": [f"LN{i:08d}" for i in range(len(ids))], "limit": limits,
        "drawn": [rng.randrange(0, x + 1) for x in limits],
        "product_max": [50_000_000] * len(ids),
        "rate_micro": [rng.choice([72_000, 108_000, 144_000, 180_000]) for _ in ids],
        "cap_micro": [240_000] * len(ids),
        "status": [rng.choices(["active", "frozen"], [95, 5])[0] for _ in ids],
        "opened_on": [AS_OF - timedelta(days=rng.randrange(30, 700)) for _ in ids],
        "changed_on": [None if rng.random() < 0.6 else AS_OF - timedelta(days=rng.randrange(1, 200))
                       for _ in ids],
        # months on time since the last re-pricing: one line in six reaches its sixth month
        "on_time_months": [rng.choices([rng.randrange(0, 6), 6], [5, 1])[0] for _ in ids],
        "days_past_due": [rng.choices([0, 5, 20, 45], [90, 5, 3, 2])[0] for _ in ids],
        "missed_instalments_6m": [0] * len(ids)}, schema_overrides={"changed_on": pl.Date})


class Recorder:
    """The change function: records each call (the credit lines' `change_line` in production)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, p: Any, session: Any, actor: Any, line_id: str, **change: Any) -> dict:
        self.calls += 1
        return {"line_id": line_id}


def run(url: str, what: str, monitor: LineMonitor, lines: pl.DataFrame,
        panel: pl.DataFrame) -> float:
    platform = Platform.open(url)
    try:
        load = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        done = reevaluate_book(platform, monitor, lines, panel, AS_OF)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        platform.close()
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in done.seconds.items())
    verdict = "meets" if total <= TARGET_S * lines.height / 200_000 else "MISSES"
    print(f"  {what:<10} {done.lines:,} lines re-evaluated in {total:.1f} s "
          f"({done.lines / total:,.0f} lines/s; target 200,000 in <= {TARGET_S:.0f} s: "
          f"{verdict}); {done.recorded:,} records written, {done.changed:,} changes "
          f"({done.applied:,} applied)\n             {stages}\n"
          f"             CPU {cpu:.1f} s in this process; load average {load:.1f} on "
          f"{os.cpu_count()} cores when it started")
    return total


def pull(businesses: int) -> None:
    """The scheduled pull, one business at a time, as `refresh_lines` runs it."""
    from puhui.parties.synthetic import small_business
    from puhui.services import applicants
    from puhui.services.access import SYSTEM
    from puhui.services.clock import ManualClock, at_business_date
    from puhui.services.providers import world_connectors
    from puhui.services.reevaluation import refresh_lines

    today = date(2026, 11, 23)
    rng = random.Random(1)
    lines: list[Any] = []

    class Line:
        def __init__(self, i: int, applicant_id: str) -> None:
            self.line_id, self.applicant_id = f"LN{i}", applicant_id
            self.product_code, self.limit, self.drawn = "SME-RV-180", 10_000_000, 0
            self.annual_rate, self.status = "0.12", "active"
            self.opened_on, self.changed_on = today - timedelta(days=200), None

    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform.open(f"sqlite:///{os.path.join(tmp, 'pull.sqlite')}",
                                 clock=ManualClock(at_business_date(today)))
        try:
            platform.connectors = world_connectors(sme.live_world(5_000, 11, today))
            for i in range(businesses):
                with platform.unit() as session:
                    applicant_id = applicants.register_applicant(
                        platform, session, SYSTEM, small_business(rng, today))["applicant_id"]
                    applicants.grant_consent(platform, session, SYSTEM, applicant_id,
                                             "post_loan_monitoring",
                                             ["utility", "sales", "tax", "bank_statement"])
                lines.append(Line(i, applicant_id))
            monitor = LineMonitor(default_line_policy(),
                                  lambda s, a: [x for x in lines if x.applicant_id == a],
                                  Recorder())
            for what in ("new data", "nothing new"):
                t0 = time.perf_counter()
                summary = refresh_lines(platform, monitor)
                each = (time.perf_counter() - t0) / businesses
                cycle = each * 200_000 / 60
                print(f"  pull       {what:<11}: {each * 1000:.1f} ms per business "
                      f"({summary['payloads_stored']} payloads stored, "
                      f"{summary['lines_reevaluated']} lines re-evaluated); 200,000 businesses "
                      f"one at a time: {cycle:.0f} min (cycle 15 min: "
                      f"{'meets' if cycle <= 15 else 'MISSES'})")
        finally:
            platform.close()


def main(n: int = 200_000, businesses: int = 200) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        registry = ModelRegistry(os.path.join(tmp, "models"))
        versions = ensure_models(registry)
        scorer = ModelScorer.from_registry(registry, versions[sme.CHAMPION_NAME],
                                           versions[sme.CHALLENGER_NAME])
        t0 = time.perf_counter()
        panel = refreshed_panel(n)
        lines = book(panel, n)
        print(f"  data refresh (not timed): panel of {panel['business_id'].n_unique():,} "
              f"businesses, {panel.height:,} rows, built in {time.perf_counter() - t0:.1f} s; "
              f"{lines.height:,} lines")
        recorder = Recorder()
        monitor = LineMonitor(default_line_policy(), lambda s, a: [], recorder, scorer=scorer)
        run(f"sqlite:///{os.path.join(tmp, 'lines.sqlite')}", "sqlite", monitor, lines, panel)
        with scratch_database() as pg:
            if pg is not None:
                run(pg, "postgresql", monitor, lines, panel)
    pull(businesses)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 200)
