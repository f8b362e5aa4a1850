"""The daily close (`puhui eod`) over a persisted book, on SQLite and PostgreSQL.

Product path timed: `puhui.services.business_day.close_day`, exactly what `puhui eod DATE` and
`POST /v1/operations/end-of-day` run (the date checks, the book's partitioned close: due
positions read as columns, the vectorised kernel for plain loans, the servicing engine for the
rest, snapshots, positions and journal entries written partition by partition, then the
platform's daily erasure of unconsented registrations), on a `Platform.open` database as
`make run` opens it (SQLite file in WAL mode; PostgreSQL through psycopg), default settings
(partitions of 20,000 loans).

Run: .venv/bin/python bench/close.py [sizes ...]      (default: 10000 100000 1000000)
Targets (2 cores): 1,000,000 loans closed in <= 60 s on SQLite and <= 120 s on PostgreSQL.

Set-up, not timed: a book of N active loans of the five demo products, paid out over the last
170 days and repaid on time, late or not at all (`bench/_book.py`), closed through the day
before the first close.  Then two days are closed: the first close and the next day.  Printed
per database and size: seconds and loans/s per day, partitions, loans charged by the kernel
(plain) and by the engine, journal entries and rows written and their rate, the database's raw
insert ceiling measured in the same run (one INSERT of three integer columns per row, executemany
in one transaction), and the storage the close added per loan-day.  The second day is the steady
state: on PostgreSQL the first close after the bulk load finds the pages of `loan_positions` too
full to keep every updated row beside its old version (COPY fills them to the fillfactor, 70%)
and grows the table once; VACUUM makes that room reusable for every later close.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from _book import generate
from _pg_scratch import scratch_database

from puhui.services.access import SYSTEM
from puhui.services.business_day import close_day
from puhui.services.clock import SystemClock, business_date
from puhui.services.platform import Platform

TARGETS = {"sqlite": 60.0, "postgresql": 120.0}
TARGET_SIZE = 1_000_000


def _rows(platform: Platform) -> int:
    with platform.engine.connect() as conn:
        return sum(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                   for t in ("journal_entries", "journal_postings", "loan_snapshots",
                             "book_closes"))


def _size(platform: Platform, path: Path | None) -> int:
    """The bytes the database's tables and indexes occupy: SQLite's pages in use (page count
    less free pages, as the latest snapshot has them, write-ahead log included); PostgreSQL's
    database size after VACUUM has made dead row versions reusable (as an operator runs it
    after a close)."""
    if path is not None:
        con = sqlite3.connect(path)
        try:
            pages = con.execute("PRAGMA page_count").fetchone()[0]
            free = con.execute("PRAGMA freelist_count").fetchone()[0]
            size = con.execute("PRAGMA page_size").fetchone()[0]
        finally:
            con.close()
        return (pages - free) * size
    with platform.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM"))
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def _insert_ceiling(platform: Platform, n: int = 300_000) -> float:
    """Rows/s of a plain executemany INSERT of three integers, in one transaction."""
    rows = [{"a": i, "b": i * 7, "c": i % 13} for i in range(n)]
    with platform.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_ceiling (a BIGINT, b BIGINT, c BIGINT)"))
    t0 = time.perf_counter()
    with platform.engine.begin() as conn:
        conn.execute(text("INSERT INTO bench_ceiling (a, b, c) VALUES (:a, :b, :c)"), rows)
    took = time.perf_counter() - t0
    with platform.engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_ceiling"))
    return n / took


def run(url: str, dialect: str, n: int, path: Path | None) -> None:
    clock = SystemClock()
    second = business_date(clock)
    first = second - timedelta(days=1)
    platform = Platform.open(url, clock=clock)
    try:
        t0 = time.perf_counter()
        written = generate(platform.engine, n, first)
        setup = time.perf_counter() - t0
        print(f"  {dialect:<10} {n:>9,} loans  set-up {setup:6.1f} s (not timed; "
              f"{written['events']:,} events from {written['prototypes']:,} prototypes)")
        closes = []
        for day in (first, second):
            rows0, size0 = _rows(platform), _size(platform, path)
            t0 = time.perf_counter()
            done = close_day(platform, SYSTEM, day)
            took = time.perf_counter() - t0
            rows = _rows(platform) - rows0
            grown = _size(platform, path) - size0
            closes.append((day, took, rows, grown, done.report))
        ceiling = _insert_ceiling(platform)  # after the closes: its pages are freed again
        for day, took, rows, grown, r in closes:
            updated = r.loans + (r.loans - r.plain)  # positions, and snapshots of engine loans
            verdict = ""
            if n == TARGET_SIZE:
                verdict = ("  meets" if took <= TARGETS[dialect] else "  MISSES") + \
                    f" the {TARGETS[dialect]:.0f} s target"
            print(f"    close {day}: {took:6.2f} s  {r.loans / took:>9,.0f} loans/s  "
                  f"{r.partitions} partitions  plain {r.plain:,}  engine {r.loans - r.plain:,}  "
                  f"failures {len(r.failures)}{verdict}")
            print(f"      {r.entries:,} journal entries, {rows:,} rows added and {updated:,} "
                  f"updated: {(rows + updated) / took:,.0f} rows/s against a raw insert "
                  f"ceiling of {ceiling:,.0f} rows/s; storage added "
                  f"{grown / max(1, r.loans):.1f} bytes per loan-day")
    finally:
        platform.close()


def main(sizes: list[int]) -> None:
    print(f"puhui eod (close_day) over persisted books; {os.cpu_count()} cores visible")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "close.sqlite"
            run(f"sqlite:///{path}", "sqlite", n, path)
        with scratch_database() as url:
            if url is not None:
                run(url, "postgresql", n, None)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000])
