"""How long `line_behaviour.behaviour_of` takes for a book of lines with the settlement cache warm.

Times the repayment-record stage of the line refresh (`services.line_refresh`, which the
scheduler's `line_refresh` job runs under `make run`) alone, on a SQLite file as `make run` opens
it; the stage's figure only (bench/lines_refresh.py times the whole cycle).  Not a test: it builds a SQLite database (migrated to head) with N lines, 0-2 loans drawn under
each, 6-12 instalments per loan with random settlement, and a fresh cache row per loan, all
bulk-inserted (no loan history: every row is fresh, so nothing is replayed), then times
`behaviour_of` and checks a sample of lines against the pure `repayment_facts`.

    PYTHONPATH=. .venv/bin/python bench/line_behaviour.py [lines] [database URL]

(the database must be empty; default: a SQLite file in a new temporary directory)
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from puhui.lines.behaviour import decode_dues, encode_dues
from puhui.lines.signals import Due, repayment_facts
from puhui.services import line_behaviour as lb
from puhui.store import settlement_repo
from puhui.store.bulk import bulk_insert
from puhui.store.db import make_engine, migrate, session_factory
from puhui.store.line_repo import EVENTS, LINES
from puhui.store.models import LoanRow

TODAY = date(2027, 3, 15)


@dataclass(frozen=True)
class Line:
    line_id: str


def build(url: str, n: int, rng: random.Random) -> list[Line]:
    migrate(url)
    engine = make_engine(url)
    now = datetime(2027, 3, 15, tzinfo=timezone.utc)
    lines, loans, draws, cache = [], [], [], []
    for i in range(n):
        line_id = f"LN{i:010d}"
        opened = TODAY - timedelta(days=rng.randint(60, 500))
        lines.append((line_id, f"AP{i:010d}", None, f"APP{i:010d}", f"CT{i:010d}",
                      f"AC{i:010d}", "SME-EI-12", "CNY", 10_000_000, 0, "0.12", opened,
                      opened + timedelta(days=730), "active", None, 1, now, now))
        for k in range(rng.choice((0, 1, 1, 2))):
            loan_id = f"LO{i:010d}{k}"
            loans.append((loan_id, "CNY", "{}", "active", now, now, 3))
            draws.append((line_id, k + 1, "draw", f"draw-{k}", f"draw-{k}", opened, "draw",
                          "system", 1_000_000, 0, 10_000_000, 1_000_000, "0.12", "active",
                          loan_id, None, None, now))
            first = opened + timedelta(days=rng.randint(0, 60))
            pairs = []
            for m in range(rng.randint(6, 12)):
                due = first + timedelta(days=30 * (m + 1))
                r = rng.random()
                settled = (None if r < 0.1 else due if r < 0.7 else
                           due - timedelta(days=rng.randint(1, 5)) if r < 0.85 else
                           due + timedelta(days=rng.randint(1, 40)))
                if settled is not None and settled > TODAY:
                    settled = None
                pairs.append((due, settled))
            dues = encode_dues(pairs)
            cache.append((loan_id, 3, None, False, dues,
                          settlement_repo.digest(loan_id, 3, None, False, dues)))
    with engine.begin() as conn:
        bulk_insert(conn, LINES, [c.name for c in LINES.columns], lines)
        bulk_insert(conn, LoanRow.__table__, [c.name for c in LoanRow.__table__.columns], loans)
        bulk_insert(conn, EVENTS, [c.name for c in EVENTS.columns if c.name != "id"], draws)
        bulk_insert(conn, settlement_repo.SETTLEMENTS,
                    [c.name for c in settlement_repo.SETTLEMENTS.columns], cache)
    engine.dispose()
    return [Line(row[0]) for row in lines]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    url = sys.argv[2] if len(sys.argv) > 2 else \
        f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite'}"
    rng = random.Random(1)
    t0 = time.perf_counter()
    lines = build(url, n, rng)
    print(f"built {n} lines in {time.perf_counter() - t0:.1f} s ({url})")
    engine = make_engine(url)
    since = {line.line_id: (TODAY - timedelta(days=rng.randint(0, 400))
                            if rng.random() < 0.5 else None) for line in lines}
    for run in range(3):
        with session_factory(engine)() as session:
            t0 = time.perf_counter()
            facts = lb.behaviour_of(session, lines, TODAY, since)
            elapsed = time.perf_counter() - t0
        print(f"run {run + 1}: behaviour_of for {len(facts)} lines in {elapsed:.2f} s")
    with session_factory(engine)() as session:
        sample = rng.sample(lines, 2_000)
        loans = lb.line_repo.loans_of_lines(session, [x.line_id for x in sample])
        blobs = lb.settlements_of(session, [l for x in sample for l in loans[x.line_id]])
        for x in sample:
            dues = [Due(d, s) for l in loans[x.line_id] for d, s in decode_dues(blobs[l])]
            assert facts[x.line_id] == repayment_facts(dues, TODAY, since[x.line_id])
    print("a sample of 2,000 lines agrees with repayment_facts")
    engine.dispose()


if __name__ == "__main__":
    main()
