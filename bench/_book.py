"""Bulk-load a persisted book of N loans of mixed products and ages, for the close benchmark.

Not a product path (it is the setup of `bench/close.py`, and is not timed): the loans are made
from a few thousand prototypes, each one a real loan serviced by the engine from its pay-out to
the day before the benchmark's first close (repaid on time, a payment or two late, or never
paid), and copied under new ids.  What is written is what the product would have written for
those loans, in bulk:

- each loan's row, its events (pay-out, line opening and draw, repayments) on the event chain,
  hashed and linked in date order as the product would have stored them;
- its snapshot and due position, closed through the day before the first close;
- one record per past business day, a close of every loan (so each loan's history replays to
  its snapshot), and the journal's opening balances: one entry per product and currency holding
  what the loans' own entries would sum to (the per-loan detail of the past is not needed to
  time a close and would take most of the setup time).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any, Callable

from sqlalchemy import Engine, text

from puhui.book import new_account
from puhui.calendar import utcnow
from puhui.ledger.accounts import Acct
from puhui.book.close_record import CLOSE_RECORD, close_record, record_hash
from puhui.ledger.journal import Attestation, EntryDraft, Posting, balances_of
from puhui.loans.events import Disbursement, Draw, EndOfDay, LineOpening, Repayment
from puhui.loans.product import RepaymentMethod
from puhui.loans.snapshot import position, to_state
from puhui.loans.state import LoanStatus
from puhui.demo import DEMO_PRODUCTS
from puhui.store.bulk import bulk_insert
from puhui.store.close_models import BookCloseRow, LoanPositionRow, LoanSnapshotRow
from puhui.store.db import session_factory
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.loan_repo import canonical_json, event_hash, payload_hash
from puhui.store.models import BusinessDayRow, LoanEventRow, LoanRow

ONE = timedelta(days=1)
PRINCIPALS = (10_000_00, 20_000_00, 35_000_00, 50_000_00, 80_000_00, 120_000_00, 200_000_00,
              500_000_00)
BEHAVIOURS = ("on_time", "on_time", "on_time", "one_late", "never")
MAX_AGE = 170  # days since pay-out, at most
_ID = "@@LOANID@@"


def _prototype(product, principal: int, opened: date, behaviour: str, last: date):
    """One loan serviced from `opened` to the close of `last`; None if it is no longer active."""
    account = new_account(_ID, product)
    events = []

    def apply(event) -> None:
        account.apply(event)
        events.append(event)

    if product.method is RepaymentMethod.REVOLVING:
        apply(LineOpening("open", opened, principal))
        apply(Draw("draw", opened, principal // 2))
        if behaviour != "never":
            day = opened + timedelta(days=30)
            while day <= last and day < account.expires_on:
                owed = account.interest_receivable
                if owed:
                    apply(Repayment(f"pay-{day}", day, owed))
                day += timedelta(days=30)
    else:
        apply(Disbursement("pay-out", opened, principal))
        for inst in list(account.instalments):
            due = inst.due + (timedelta(days=4) if behaviour == "one_late" and inst.number == 1
                              else timedelta(0))
            if due > last or behaviour == "never":
                break
            owed = account.payoff_amount(due) if due >= account.instalments[-1].due else \
                sum(i.unpaid(c) for i in account.due_instalments(due) for c in i.paid) \
                + account.penalty_receivable
            if owed > 0:
                apply(Repayment(f"pay-{inst.number}", due, owed))
            if account.status is not LoanStatus.ACTIVE:
                break
    if account.status is not LoanStatus.ACTIVE:
        return None
    account.apply(EndOfDay(f"eod:{last}", last))  # every past day closed (no credit: the same)
    return account, events


def prototypes(first_close: date, seed: int) -> list[tuple[Any, list, dict, dict, dict]]:
    """(account, events, state, position, ledger balances) of every active prototype."""
    rng = random.Random(seed)
    last = first_close - ONE
    out = []
    for product in DEMO_PRODUCTS:
        for age in range(1, MAX_AGE + 1, 2):
            for behaviour in BEHAVIOURS:
                principal = max(product.min_principal, rng.choice(PRINCIPALS))
                made = _prototype(product, principal, last - timedelta(days=age - 1), behaviour,
                                  last)
                if made is None:
                    continue
                account, events = made
                out.append((account, events, to_state(account), position(account),
                            balances_of(account.posted())))
    return out


def generate(engine: Engine, n: int, first_close: date, seed: int = 7,
             progress: Callable[[int], None] | None = None, chunk: int = 50_000) -> dict:
    """Write a book of `n` active loans closed through `first_close - 1` into a migrated,
    empty database; return what was written."""
    protos = prototypes(first_close, seed)
    rng = random.Random(seed)
    picks = [rng.randrange(len(protos)) for _ in range(n)]
    last = first_close - ONE
    opened_min = min(p[3]["opened_on"] for p in protos)
    now = utcnow()
    written = {"loans": n, "events": 0, "prototypes": len(protos)}
    # every event of the book, in the order the product would have stored them: by date
    order = sorted(((ev.on, i, k) for i, p in enumerate(picks)
                    for k, ev in enumerate(protos[p][1])))
    Session = session_factory(engine)
    with Session() as session, session.begin():
        conn = session.connection()
        prev, chain = _events_head(conn)
        heads: dict[date, int] = {}
        loans_t, events_t = LoanRow.__table__, LoanEventRow.__table__
        for start in range(0, n, chunk):
            rows = []
            for i in range(start, min(n, start + chunk)):
                account, events, _, _, _ = protos[picks[i]]
                rows.append((_loan_id(i), account.product.currency,
                             json.dumps(account.contract_product.to_dict(), sort_keys=True),
                             account.status.value, now, now, len(events) + 1))
            bulk_insert(conn, loans_t, ("loan_id", "currency", "product", "status",
                                        "created_at", "updated_at", "version"), rows)
        cols = ("loan_id", "seq", "event_key", "event_type", "occurred_on", "payload",
                "payload_hash", "recorded_at", "chain_seq", "prev_hash", "hash")
        bodies: dict[tuple[int, int], tuple[str, str]] = {}
        for start in range(0, len(order), chunk * 3):
            rows = []
            for on, i, k in order[start:start + chunk * 3]:
                event = protos[picks[i]][1][k]
                cached = bodies.get((picks[i], k))
                if cached is None:
                    body = canonical_json(event.content())
                    cached = bodies[(picks[i], k)] = (body, payload_hash(body))
                body, digest = cached
                chain += 1
                loan_id = _loan_id(i)
                link = event_hash(prev, chain, loan_id, k + 1, event.key, event.kind, on,
                                  digest, now)
                rows.append((loan_id, k + 1, event.key, event.kind, on, body, digest, now,
                             chain, prev, link))
                prev = link
                heads[on] = chain
            bulk_insert(conn, events_t, cols, rows)
            written["events"] += len(rows)
        conn.execute(text("UPDATE ledger_head SET events_seq = :s, events_hash = :h WHERE id = 1"),
                     {"s": chain, "h": prev})
        for start in range(0, n, chunk):
            snaps, positions = [], []
            for i in range(start, min(n, start + chunk)):
                _, events, state, pos, _ = protos[picks[i]]
                loan_id = _loan_id(i)
                body = json.dumps(state, separators=(",", ":")).replace(_ID, loan_id)
                snaps.append((loan_id, len(events), last, body))
                positions.append((loan_id,) + tuple(last if c == "closed_through" else pos[c]
                                                    for c in _POSITION_COLUMNS))
            bulk_insert(conn, LoanSnapshotRow.__table__,
                        ("loan_id", "seq", "closed_through", "state"), snaps)
            bulk_insert(conn, LoanPositionRow.__table__, ("loan_id",) + _POSITION_COLUMNS,
                        positions)
            if progress:
                progress(min(n, start + chunk) - start)
        # one close of the whole id range per past day, after that day's events
        day, head, closes, attested = opened_min, 0, [], []
        while day <= last:
            head = heads.get(day, head)
            closes.append((day, "", "\uffff", head, 0, 0, 0, "[]", now))
            digest = record_hash(close_record(day, "", "\uffff", head, 0, 0, []))
            attested.append(EntryDraft(day, f"daily close {day} (generated history)", (),
                                       f"close:{day}::0:record",
                                       attests=Attestation(CLOSE_RECORD, f"{day}::0", digest)))
            day += ONE
        bulk_insert(conn, BookCloseRow.__table__, ("business_date", "lo", "hi", "events_seq",
                                                   "loans", "plain", "entries", "failures",
                                                   "closed_at"), closes)
        bulk_insert(conn, BusinessDayRow.__table__,
                    ("business_date", "closed_at", "loans", "entries", "failures"),
                    [(last, now, n, 0, 0)])
        # opening balances: what the loans' own entries sum to, per product and currency
        sums: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for p in picks:
            account, _, _, _, balances = protos[p]
            target = sums[(account.product.code, account.product.currency)]
            for (acct, _cur), amount in balances.items():
                target[acct] += amount
        drafts = [EntryDraft(last, f"opening balances of product {code}",
                             tuple(Posting(a, v, cur) for a, v in sorted(acc.items()) if v),
                             f"opening:{code}:{cur}").validate()
                  for (code, cur), acc in sorted(sums.items())]
        LedgerRepository(session).append(attested + drafts)
    return written


_POSITION_COLUMNS = tuple(c.name for c in LoanPositionRow.__table__.columns if c.name != "loan_id")


def _loan_id(i: int) -> str:
    return f"B{i:08d}"


def _events_head(conn) -> tuple[str, int]:
    seq, digest = conn.execute(text("SELECT events_seq, events_hash FROM ledger_head WHERE id = 1")
                               ).one()
    return digest, int(seq)


__all__ = ["generate", "prototypes", "Acct"]
