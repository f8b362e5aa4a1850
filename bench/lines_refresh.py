"""The 15-minute line refresh for a book of N monitored businesses (default 200,000), against
the 15-minute cycle.

Times exactly what the scheduler's `line_refresh` job runs (`scheduler.run_line_refresh` →
`services.line_refresh.refresh_cycle`), on a platform opened as `make run` serves it
(`services.risk.open_platform`: SQLite file, the risk decider with the registered models, the
shipped line policy, the platform's credit lines, settlement cache and notifications,
PUHUI_REFRESH_WORKERS unset: one worker process per core): taking in each source's change feed
(a page of 2,000 businesses per transaction: consent, validation, payload stored, merged into
the state's tail, cursor saved), then re-evaluating the lines of every business whose data
changed, a chunk of 2,000 at a time (this process reads the chunk's lines and repayment record;
a worker reads the merged states -- the large sources as their bases' summaries extended with
the tails --, makes the chunk's panels a source at a time over all its businesses, the
features, both models' scores in one call, and each line's policy decision and record; this
process writes the records and applies the changes in bulk through `change_lines`, told to the
borrowers).
Four cycles are timed: every business with news from three sources at once (the worst case:
a month's bills, a day's sales and bank lines for the whole book in one slot), one with news
for one business in fifty (a busy slot), one with nothing new, and again every business with
news on a day of the next month, when the features' window has moved and every business's
summaries are made again from their bases (once a month; the same happens to one business
each time its base is compacted, every 32 deliveries).

Not timed (the setup, printed with its own time): the models trained; 60 prototype borrowers
made through the product three weeks before the cycles (registered, applied for the revolving
product under the risk decider with the synthetic world's data, contract signed, line granted,
monitoring consent, their merged states built from their application payloads and their
summaries made as a refresh makes and keeps them), then a fortnight of their daily orders and
bank lines taken in through the feeds (so each state's tail holds 14 deliveries, as a tail
stands half-way between two compactions, not the one delivery of a slot); then N borrowers registered and consented through the product
(each a business of its own), each given a copy of a prototype's line, merged state and
summaries under its own ids (rows copied in bulk: what the product would hold for them after
earlier refreshes); and the feeds' pages (the providers' side).
Left out, and said so: the lines have no loans drawn (`bench/line_behaviour.py` times the
repayment record of 200,000 lines with loans); the providers' time to build their pages.

Run: .venv/bin/python bench/lines_refresh.py [businesses]
Targets: a cycle of 200,000 businesses well inside 15 minutes (wall time), and the
re-evaluation of 200,000 lines within 30 s (printed per slot beside the ingest).  CPU seconds of this
process and the load average when each cycle starts are printed beside each figure.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select

from puhui.parties.consent import DataScope
from puhui.parties.synthetic import account_for, small_business
from puhui.risk.data.connectors import Received
from puhui.risk.data.feeds import FeedChange, FeedPage
from puhui.services import (applicants, applications, lines, monitoring_data,
                            monitoring_panels)
from puhui.services.access import SYSTEM
from puhui.services.clock import ManualClock, at_business_date, business_date
from puhui.services.ids import new_id
from puhui.services.risk import open_platform
from puhui.services.scheduler import run_line_refresh
from puhui.store import monitoring_repo
from puhui.store.line_repo import EVENTS, LINES
from puhui.store.monitoring_models import (MonitoredApplicantRow, MonitoringBaseRow,
                                           MonitoringStateRow, MonitoringSummaryRow)

TODAY = date(2026, 12, 7)
#: Days of daily deliveries in the states' tails before the cycles (a tail is compacted after
#: 32 deliveries: 14 is about its average).
HISTORY_DAYS = 14
#: When the prototypes were made: the line granted, the history delivered after.
GRANTED = TODAY - timedelta(days=8 + HISTORY_DAYS)
#: A day in the next month: the features' window has moved, so every summary is made again.
NEXT_MONTH = date(2027, 1, 4)
CYCLE_S = 15 * 60
#: The issue's target for re-evaluating 200,000 lines after a refresh (features, scores, line
#: policy, records and changes written).
REEVALUATION_TARGET_S = 30
SCOPES = ("utility", "sales", "tax", "bank_statement")
PROTOTYPES = 60


class BenchFeed:
    """A source's change feed over pages built beforehand: `deliver(deltas)` queues one delta
    per business; the cursor is how many were delivered."""

    def __init__(self, scope: DataScope) -> None:
        self.scope, self.queue = scope, []

    def deliver(self, deltas: list[tuple[str, dict]]) -> None:
        self.queue.extend(FeedChange(b, Received(orjson.dumps(p, option=orjson.OPT_SORT_KEYS),
                                                 p)) for b, p in deltas)

    def changes(self, since: str | None, limit: int, as_of: date) -> FeedPage:
        start = int(since or 0)
        page = self.queue[start:start + limit]
        end = start + len(page)
        return FeedPage(page, str(end), end < len(self.queue))


def _prototypes(p: Any, rng: random.Random) -> list[str]:
    """Borrowers with a real line through the product: their line ids."""
    made: list[str] = []
    tries = 0
    while len(made) < PROTOTYPES and tries < PROTOTYPES * 6:
        tries += 1
        business = small_business(rng, TODAY, monthly_revenue=rng.randrange(3, 30) * 1_000_000)
        with p.unit() as s:
            a = applicants.register_applicant(p, s, SYSTEM, business)["applicant_id"]
            applicants.grant_consent(p, s, SYSTEM, a, "credit_assessment",
                                     ["identity", "bank_account", "bureau", "logistics",
                                      "app_behaviour", *SCOPES])
            applicants.grant_consent(p, s, SYSTEM, a, "post_loan_monitoring", list(SCOPES))
            account = applicants.bind_account(p, s, SYSTEM, a,
                                              account_for(rng, business))["account_id"]
            row = applications.apply(p, s, SYSTEM, a, "SME-RV-180", 5_000_000)
            if row.status != "offered":
                continue
            contract = applications.accept_offer(p, s, SYSTEM, row.application_id, account)
            applications.sign_contract(p, s, SYSTEM, contract["contract_id"],
                                       contract["content_hash"])
            line = lines.grant(p, s, SYSTEM, contract["contract_id"],
                               key=f"grant:{contract['contract_id']}")
        made.append(line["line_id"])
    return made


def _recent_history(p: Any, pairs: list[tuple[str, str]], rng: random.Random,
                    feeds: dict[DataScope, BenchFeed]) -> None:
    """`HISTORY_DAYS` days of the prototypes' daily orders and bank lines, taken in through
    the feeds day by day (the states' tails: one merged segment of those deliveries)."""
    feeds = {s: feeds[s] for s in (DataScope.SALES, DataScope.BANK_STATEMENT)}
    for k in range(HISTORY_DAYS):
        day = GRANTED + timedelta(days=k + 1)
        p.clock.set(at_business_date(day))
        for scope, delivered in deltas(pairs, day, 1.0, rng).items():
            if DataScope(scope) in feeds:
                feeds[DataScope(scope)].deliver(delivered)
        monitoring_data.ingest_feeds(p, feeds, day)


def _copy_rows(conn: Any, table: Any, rows: list[dict]) -> None:
    for start in range(0, len(rows), 5_000):
        conn.execute(insert(table), rows[start:start + 5_000])


def build_book(p: Any, n: int, rng: random.Random, feeds: dict[DataScope, BenchFeed]
               ) -> list[tuple[str, str]]:
    """N borrowers with a line and merged states: (applicant id, business identity)."""
    protos = _prototypes(p, rng)
    with p.read() as s:
        proto_lines = [s.execute(select(LINES).where(LINES.c.line_id == i)).one()._asdict()
                       for i in protos]
        proto_events = {i: [e._asdict() for e in s.execute(select(EVENTS).where(
            EVENTS.c.line_id == i))] for i in protos}
    holders = [x["applicant_id"] for x in proto_lines]
    with p.unit() as s:  # the prototypes' states, built from their application payloads
        monitoring_data.load_data(s, holders, business_date(p.clock))
        pairs = [(a, applicants.business_identity(s, a)) for a in holders]
    _recent_history(p, pairs, rng, feeds)
    with p.read() as s:  # and their summaries, as an earlier refresh made and kept them
        made = monitoring_panels.load_panels(s, holders, TODAY).summaries
    with p.unit() as s:
        monitoring_repo.save_summaries(s, made)
    with p.read() as s:
        table, bases = MonitoringStateRow.__table__, MonitoringBaseRow.__table__
        sums = MonitoringSummaryRow.__table__
        states = {a: [r._asdict() for r in s.execute(select(table).where(
            table.c.applicant_id == a))] for a in holders}
        base_rows = {a: [r._asdict() for r in s.execute(select(bases).where(
            bases.c.applicant_id == a))] for a in holders}
        summary_rows = {a: [r._asdict() for r in s.execute(select(sums).where(
            sums.c.applicant_id == a))] for a in holders}
    out: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    for start in range(0, n, 2_000):
        made = []
        with p.unit() as s:
            for _ in range(min(2_000, n - start)):
                business = small_business(rng, TODAY)
                a = applicants.register_applicant(p, s, SYSTEM, business)["applicant_id"]
                applicants.grant_consent(p, s, SYSTEM, a, "post_loan_monitoring", list(SCOPES))
                made.append((a, applicants.business_identity(s, a)))
        new_lines, new_events, new_states, new_bases, complete = [], [], [], [], []
        new_summaries = []
        now = p.clock.now()
        for a, business in made:
            k = rng.randrange(len(protos))
            line_id = new_id("CL")
            new_lines.append({**proto_lines[k], "line_id": line_id, "applicant_id": a,
                              "application_id": new_id("AA")})
            new_events.extend({**{c: v for c, v in e.items() if c != "id"}, "line_id": line_id}
                              for e in proto_events[protos[k]])
            new_states.extend({**st, "applicant_id": a, "business_id": business}
                              for st in states[holders[k]])
            new_bases.extend({**b, "applicant_id": a} for b in base_rows[holders[k]])
            new_summaries.extend({**x, "applicant_id": a} for x in summary_rows[holders[k]])
            complete.append({"applicant_id": a, "built_at": now})
        with p.write_connection() as conn:
            _copy_rows(conn, LINES, new_lines)
            _copy_rows(conn, EVENTS, new_events)
            _copy_rows(conn, MonitoringStateRow.__table__, new_states)
            _copy_rows(conn, MonitoringBaseRow.__table__, new_bases)
            _copy_rows(conn, MonitoringSummaryRow.__table__, new_summaries)
            _copy_rows(conn, MonitoredApplicantRow.__table__, complete)
        out.extend(made)
        print(f"\r  setup: {len(out):,} of {n:,} borrowers ({time.perf_counter() - t0:.0f} s)",
              end="", flush=True)
    print()
    return out


def deltas(book: list[tuple[str, str]], day: date, share: float, rng: random.Random
           ) -> dict[str, list[tuple[str, dict]]]:
    """What the feeds deliver in a slot for `share` of the book: last month's electricity bill,
    the day's orders and the day's bank lines."""
    month = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
    billed = day - timedelta(days=1)
    out: dict[str, list[tuple[str, dict]]] = {"utility": [], "sales": [], "bank_statement": []}
    for a, business in book:
        if rng.random() >= share:
            continue
        env = {"business_id": business, "as_of": day.isoformat()}
        usage = rng.randrange(200, 2_500) * (3 if rng.random() < 0.05 else 1)  # 5%: a big order
        out["utility"].append((business, {**env, "records": [{
            "utility": "electricity", "period_month": month.strftime("%Y-%m"), "usage": usage,
            "amount_fen": usage * 80, "billed_on": billed.isoformat(),
            "due_on": (billed + timedelta(days=15)).isoformat(), "paid_on": None}]}))
        out["sales"].append((business, {**env, "records": [{
            "order_id": f"B{day:%Y%m%d}{a[-8:]}{i}", "ordered_on": day.isoformat(),
            "channel": "pos", "amount_fen": rng.randrange(1_000, 500_000),
            "customer_hash": f"{rng.getrandbits(256):064x}", "refunded": False}
            for i in range(rng.randrange(1, 6))]}))
        balance = rng.randrange(1_000_000, 50_000_000)
        out["bank_statement"].append((business, {**env, "records": [{
            "booked_on": day.isoformat(), "amount_fen": amount,
            "counterparty_hash": f"{rng.getrandbits(256):064x}",
            "balance_after_fen": balance + amount}
            for amount in (rng.randrange(10_000, 900_000), -rng.randrange(10_000, 500_000))]}))
    return out


def cycle(p: Any, feeds: dict, what: str, day: date, n: int) -> None:
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_line_refresh(p, day)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    f = summary.get("feeds", {})
    verdict = "inside" if total <= CYCLE_S else "MISSES"
    print(f"  {what:<22} {total:7.1f} s for {f.get('businesses_changed', 0):,} businesses "
          f"changed of {n:,} ({verdict} the 15-minute cycle); {f.get('payloads_stored', 0):,} "
          f"payloads stored, {f.get('lines_reevaluated', 0):,} lines re-evaluated, "
          f"{f.get('lines_changed', 0):,} changed ({f.get('changes_applied', 0):,} applied)\n"
          f"  {'':<22} CPU {cpu:.1f} s in this process (workers apart); load average "
          f"{load:.1f} on {os.cpu_count()} cores when it started")
    seconds = f.get("seconds", {})
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
    print(f"  {'':<22} {stages}")
    ingest = sum(v for k, v in seconds.items() if k.startswith("ingest "))
    again = sum(v for k, v in seconds.items() if k.startswith("reevaluate "))
    if f.get("lines_reevaluated"):
        print(f"  {'':<22} ingest {ingest:.1f} s; re-evaluation of "
              f"{f['lines_reevaluated']:,} lines {again:.1f} s (target for 200,000: "
              f"{REEVALUATION_TARGET_S} s)")


def main(n: int = 200_000) -> None:
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        start = at_business_date(GRANTED)
        t0 = time.perf_counter()
        p = open_platform(f"sqlite:///{os.path.join(tmp, 'puhui.sqlite')}", "risk",
                          models_root=os.path.join(tmp, "models"),
                          policies_root=os.path.join(tmp, "policies"),
                          clock=ManualClock(start))
        try:
            print(f"  setup: platform and models ready in {time.perf_counter() - t0:.0f} s")
            feeds = {DataScope(s): BenchFeed(DataScope(s))
                     for s in ("utility", "sales", "bank_statement")}
            book = build_book(p, n, rng, feeds)  # the lines granted three weeks ago
            p.clock.set(at_business_date(TODAY))
            p.feeds, p.connectors = feeds, None  # every source here has a feed
            for what, day, share in (("every business", TODAY, 1.0),
                                     ("one in fifty", TODAY + timedelta(days=1), 0.02),
                                     ("nothing new", TODAY + timedelta(days=1), 0.0),
                                     ("every business, month", NEXT_MONTH, 1.0)):
                p.clock.set(at_business_date(day))
                for scope, delivered in deltas(book, day, share, rng).items():
                    feeds[DataScope(scope)].deliver(delivered)
                cycle(p, feeds, what, day, len(book))
        finally:
            p.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
