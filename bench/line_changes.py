"""The write of a line refresh chunk (`line_refresh._write_chunk`) with many changed lines:
milliseconds per changed line, one decision at a time (`apply_decision`) and in bulk
(`lines.change_lines`).

Product path timed: `_write_chunk` as `reevaluate_applicants` calls it, on a book of real
credit lines (granted through origination, a third of them drawn), each with a decision that
raises, cuts, re-prices or freezes it; the monitor is the platform's own
(`LineMonitor.for_platform`), without its bulk form for the one-at-a-time figure.  The records,
the lines' changes, events, postings and notices are all written, in one transaction.

Run: PYTHONPATH=. .venv/bin/python bench/line_changes.py [lines] [rounds]
PostgreSQL is measured when the server at PUHUI_TEST_PG_URL answers.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lines"))

from _pg_scratch import scratch_database
from lines_samples import START, granted_line

from puhui.lines.policy import LineDecision
from puhui.lines.record import LineDecisionRecord
from puhui.services import line_refresh as refresh
from puhui.services import lines as svc
from puhui.services.access import SYSTEM
from puhui.services.clock import ManualClock, at_business_date
from puhui.services.gateway import SandboxGateway
from puhui.services.ids import new_id
from puhui.services.platform import Platform
from puhui.services.reevaluation import LineMonitor, _row, line_facts_from


def book(url: str, n: int) -> Platform:
    p = Platform.open(url, clock=ManualClock(at_business_date(START)),
                      gateway=SandboxGateway())
    made, seed = [], 1000
    while len(made) < n:  # (a business too young for the policy is declined: the next one)
        seed += 1
        try:
            made.append(granted_line(p, seed=seed))
        except AssertionError:
            continue
    with p.unit() as s:
        for x in made[::3]:
            svc.draw(p, s, SYSTEM, x["line_id"], 1_000_000, key=f"d:{x['line_id']}")
    return p


def evaluated(p: Platform, monitor: LineMonitor, today: date) -> list:
    """A decision that changes each line: raise, cut, re-price or freeze in turn."""
    out = []
    with p.read() as s:
        lines = [svc._line(r) for r in svc.repo.page(s, None, 100_000, None,
                                                     SYSTEM.visibility)]
        cap = p.cap_in_force(s, today)
    now = p.clock.now()
    for k, line in enumerate(lines):
        limit = rate = freeze = None
        if k % 4 == 0:
            limit = line.limit + 1_000_000
        elif k % 4 == 1:
            limit = line.limit - 1_000_000
        elif k % 4 == 2:
            rate = Decimal("0.096")
        else:
            freeze = True
        decision = LineDecision(line.line_id, today, monitor.policy.version, ("BENCH",), (),
                                limit, rate, limit, rate, freeze, {}, (), ("bench change",))
        facts = line_facts_from(p, line, cap)
        fingerprint = hashlib.sha256(f"{line.line_id}|{k}".encode()).hexdigest()
        record = LineDecisionRecord(new_id("LD"), line.line_id, line.applicant_id, today,
                                    "feed", monitor.policy.version, monitor.policy.sha256, {},
                                    {}, facts, {}, {}, decision.outcome())
        out.append(refresh._Evaluated(line.applicant_id, line, decision,
                                      _row(record, fingerprint, now), fingerprint))
    return out


def timed(url: str, n: int, bulk: bool) -> tuple[float, int]:
    p = book(url, n)
    try:
        monitor = LineMonitor.for_platform(p)
        if not bulk and hasattr(monitor, "apply_line_changes"):
            monitor.apply_line_changes = None
        today = START
        items = evaluated(p, monitor, today)
        run = refresh.RefreshRun()
        t0 = time.perf_counter()
        refresh._write_chunk(p, monitor, items, today, "feed", run)
        seconds = time.perf_counter() - t0
        assert run.applied == run.changed == n and not run.refused, run.view()
        with p.read() as s:
            assert svc.LedgerRepository(s).verify() > 0
        return seconds, run.applied
    finally:
        p.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    tmp = tempfile.mkdtemp()
    for name in ("sqlite", "postgresql"):
        for bulk in (False, True):
            per_line = []
            for k in range(rounds):
                if name == "sqlite":
                    url = f"sqlite:///{os.path.join(tmp, f'b{int(bulk)}{k}.sqlite')}"
                    seconds, applied = timed(url, n, bulk)
                else:
                    with scratch_database() as url:
                        if url is None:
                            break
                        seconds, applied = timed(url, n, bulk)
                per_line.append(seconds * 1000 / applied)
            if per_line:
                print(f"{name:10} {'bulk' if bulk else 'one at a time':14} {n} changed lines: "
                      f"best {min(per_line):.2f} ms/line, median "
                      f"{statistics.median(per_line):.2f} ms/line "
                      f"(chunk write {min(per_line) * n:.0f} ms)", flush=True)


if __name__ == "__main__":
    main()
