"""The durable loan book: the pure servicing engine behind a database.

A loan is stored as its product terms, its event log and a snapshot of its state; it is loaded
from the snapshot (brought to its last close) and rebuilt from its history only when that is
missing or stale (`puhui.book.history`).  Applying an event writes the event, the journal
entries it produced and the new snapshot in one transaction, so a repayment is never recorded
without its ledger entry (or the reverse), and a failed event leaves nothing behind.  Loaded
loans are cached in-process and trusted only while their stored version and last close are
unchanged, so concurrent writers (two API workers) never act on stale state.  The daily close
runs partition by partition (`end_of_day`, `close_partition`; docs/ledger.md).
"""

from __future__ import annotations

import contextlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from puhui.batch.close import charge_plain
from puhui.book.history import (Account, Replayed, SnapshotCheck, agrees, last_per_loan,
                                 new_account, replay_history, roll_forward, same_event,
                                 settlement_dates, settlement_history)
from puhui.book.close_record import CLOSE_RECORD, close_record, record_hash
from puhui.errors import IdempotencyConflict, InvalidBusinessDate, InvalidEvent
from puhui.ledger.accounts import Acct
from puhui.ledger.journal import Attestation, EntryDraft, JournalEntry, Posting
from puhui.loans.events import EndOfDay, LoanEvent, PaymentReversal, event_from_content
from puhui.loans.snapshot import from_state, position, to_state
from puhui.loans.product import LoanProduct
from puhui.loans.revolving import RevolvingLine
from puhui.loans.state import LoanStatus
from puhui.store.business_days import BusinessDayRepository
from puhui.store.close_lock import close_lock
from puhui.store.close_repo import CloseRepository
from puhui.store.db import session_factory
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.loan_repo import LoanEventRepository
from puhui.store.writer_lock import SqliteWriterLock

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                                   Ed25519PublicKey)

    from puhui.ledger.checkpoint import Checkpoint
    from puhui.book.audit import BookVerification

_TOUCHED = "puhui.loans_touched"
#: Loans per partition of the daily close: one transaction each, so a stopped close loses at
#: most one partition's work, and the writers queued behind it wait at most that long.
PARTITION_SIZE = 20_000


def amount_due(account: Account, on: date) -> int:
    """What the borrower must pay on `on` to be current (penalty included), less the credit
    balance already held for them, which is applied to what falls due first."""
    if isinstance(account, RevolvingLine):
        due = account.owed() if on >= account.expires_on else account.interest_receivable
    else:
        due = sum(i.unpaid(c) for i in account.due_instalments(on) for c in i.paid) \
            + account.penalty_receivable
    return max(0, due - account.credit)


@dataclass
class EodReport:
    business_date: date
    loans: int = 0
    entries: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    days: list[date] = field(default_factory=list)  # every day closed, skipped ones first
    plain: int = 0       # loans charged from their positions by the vectorised kernel
    partitions: int = 0  # partitions closed (each one transaction)


@dataclass(frozen=True)
class PartitionClosed:
    """What closing one partition did."""

    loans: int
    plain: int
    entries: int
    failures: dict[str, str]


def _from_snapshot(version: int, closed: date | None, seq: int, snap_closed: date | None,
                   state: dict) -> "Account | None":
    """The loan a snapshot holds, brought to the loan's last close (`closed`); None when the
    snapshot is not of the loan's last event (`version`) or of another format."""
    if seq != version - 1:
        return None
    try:
        account = from_state(state)
    except InvalidEvent:
        return None
    if closed is not None and (snap_closed is None or closed > snap_closed):
        roll_forward(account, closed)
    return account


def _sqlite_writer_lock(engine: Engine) -> SqliteWriterLock:
    database = engine.url.database
    return SqliteWriterLock(None if database in (None, "", ":memory:")
                            else os.path.abspath(database))


def _history(session: Session, loan_id: str) -> tuple[LoanProduct, list, list]:
    """A loan's product, events and the closes of its range: what its history replays from."""
    loans = LoanEventRepository(session)
    row = loans.get_loan(loan_id)
    if row is None:
        raise InvalidEvent(f"no loan {loan_id!r}")
    return (LoanProduct.from_dict(json.loads(row.product)), loans.events(loan_id),
            CloseRepository(session).closes_of(loan_id))


def instalment_settlements(session: Session, loan_id: str) -> list[tuple[date, date | None]]:
    """Each instalment's due date and the day it was fully settled (None while it is not),
    from the loan's history (`settlement_dates`): what on-time repayment is judged by.  Needs
    no cache, so no book: any session on the book's database will do."""
    return settlement_dates(loan_id, *_history(session, loan_id))


@dataclass(frozen=True)
class SettlementRecord:
    """`instalment_settlements` of a loan with the point of its history it was read at: the
    loan's version and last close applied (`CloseRepository.load_stamp`, read before the
    history, so the record is never older than its stamp says), and whether a close alone could
    still change it (`history.awaits_close`)."""

    dues: list[tuple[date, date | None]]
    version: int
    closed_through: date | None
    awaits_close: bool


def settlement_record(session: Session, loan_id: str) -> SettlementRecord:
    """`instalment_settlements` with its stamp, for a cache of it (`SettlementRecord`)."""
    stamp = CloseRepository(session).load_stamp(loan_id)
    if stamp is None:
        raise InvalidEvent(f"no loan {loan_id!r}")
    dues, awaits = settlement_history(loan_id, *_history(session, loan_id))
    return SettlementRecord(dues, stamp[0], stamp[1], awaits)


class LoanBook:
    """Loans and their ledger in one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self._cache: dict[str, tuple[int, Account]] = {}
        # SQLite has one writer; threads and processes queue here instead of in SQLite's busy
        # handler, whose back-off sleeps (up to 100 ms) would dominate under load.
        self._writer = _sqlite_writer_lock(engine) if engine.dialect.name == "sqlite" else None

    # -- loans ------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One database transaction for loan events and whatever the caller writes beside them
        (an application's status, a disbursement record): all of it lands, or none of it does.

        Loans touched inside are dropped from the cache when the transaction fails, so the
        in-memory state never runs ahead of the database.
        """
        writer = self._writer or contextlib.nullcontext()
        with writer:
            session = self.sessions()
            touched: set[str] = set()
            session.info[_TOUCHED] = touched
            try:
                with session.begin():
                    yield session
            except BaseException:
                for loan_id in touched:
                    self._cache.pop(loan_id, None)
                raise
            finally:
                session.close()

    @contextmanager
    def connection_transaction(self) -> Iterator[Connection]:
        """A transaction on a bare connection, under the same writer lock, for writes that touch
        no loan: a session costs more than a few INSERTs take."""
        writer = self._writer or contextlib.nullcontext()
        with writer, self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        """Let go of what the book holds besides its engine (the SQLite writer lock's file)."""
        if self._writer is not None:
            self._writer.close()

    def open(self, loan_id: str, product: LoanProduct) -> None:
        """Register a loan (or line) with its terms; nothing is owed until it is disbursed."""
        with self.transaction() as session:
            self.open_in(session, loan_id, product)

    def open_in(self, session: Session, loan_id: str, product: LoanProduct) -> None:
        """`open` inside the caller's transaction."""
        new_account(loan_id, product)  # validates the pairing of id and product
        LoanEventRepository(session).create_loan(
            loan_id, product.currency, json.dumps(product.to_dict(), sort_keys=True),
            LoanStatus.PENDING.value)

    def load(self, loan_id: str) -> Account:
        """The loan as its stored events and the book's closes make it."""
        with self.sessions() as session:
            return self._load(session, loan_id)

    def _load(self, session: Session, loan_id: str) -> Account:
        """The loan from its snapshot, brought to its last close; from its full history when
        it has no current snapshot.  Cached while its version and last close are unchanged."""
        return self._load_stamped(session, loan_id)[0]

    def _load_stamped(self, session: Session,
                      loan_id: str) -> tuple[Account, int, date | None]:
        """`_load`, with the loan's version and last close (what an append needs next)."""
        closes = CloseRepository(session)
        stamp = closes.load_stamp(loan_id)
        if stamp is None:
            raise InvalidEvent(f"no loan {loan_id!r}")
        version, closed = stamp
        cached = self._cache.get(loan_id)
        if cached is not None and cached[0] == stamp:
            return cached[1], version, closed
        snap = closes.snapshot(loan_id)
        account = None if snap is None else _from_snapshot(version, closed, *snap)
        if account is None:  # none, stale or of another format: rebuilt from the history
            account = self.replay(session, loan_id).account
        self._cache[loan_id] = (stamp, account)
        return account, version, closed

    def _from_loaded(self, session: Session, loan_id: str,
                     loaded: tuple | None) -> tuple[Account, int]:
        """The loan from a snapshot read in bulk (`CloseRepository.states`), brought to its
        last close; through `_load_stamped` when the snapshot is not current."""
        if loaded is None:
            return self._load_stamped(session, loan_id)[:2]
        version, seq, closed, snap_closed, state = loaded
        cached = self._cache.get(loan_id)
        if cached is not None and cached[0] == (version, closed):
            return cached[1], version
        account = _from_snapshot(version, closed, seq, snap_closed, state)
        if account is None:
            return self._load_stamped(session, loan_id)[:2]
        return account, version

    def replay(self, session: Session, loan_id: str) -> "Replayed":
        """The loan rebuilt from nothing: its events and the closes of its range, in chain
        order (`replay_history`), with the full history a reversal needs."""
        return replay_history(loan_id, *_history(session, loan_id))

    def apply(self, loan_id: str, event: LoanEvent) -> list[JournalEntry]:
        """Apply one event durably; a replayed event (same key, same content) posts nothing."""
        return self.apply_many([(loan_id, event)]).get(loan_id, [])

    def apply_many(self, items: Iterable[tuple[str, LoanEvent]]) -> dict[str, list[JournalEntry]]:
        """Apply events to several loans in ONE transaction: all land, or none does."""
        with self.transaction() as session:
            return self.apply_in(session, items)

    def apply_in(self, session: Session,
                 items: Iterable[tuple[str, LoanEvent]]) -> dict[str, list[JournalEntry]]:
        """`apply_many` inside the caller's transaction (opened with `transaction()`).

        Each event is applied to the loan as loaded, stored, and the loan's snapshot and due
        position rewritten in the same transaction, so the daily close always reads the state
        the last event left."""
        touched: set[str] = session.info.setdefault(_TOUCHED, set())
        posted: dict[str, list[JournalEntry]] = {}
        loans, ledger = LoanEventRepository(session), LedgerRepository(session)
        closes = CloseRepository(session)
        drafts_all = []
        saves = []
        for loan_id, event in items:
            # a key the loan already holds with this content is a command sent again: nothing
            # to store, even when the stored copy predates the rules version its content now
            # names; the same key with other content is refused
            stored = loans.stored_payload(loan_id, event.key)
            if stored is not None:
                if same_event(stored, event):
                    continue
                raise IdempotencyConflict(f"{loan_id}: key {event.key!r} was already used for "
                                          "a different event")
            account, version, closed = self._load_stamped(session, loan_id)
            if isinstance(event, PaymentReversal):  # re-runs the history without the receipt
                account = self.replay(session, loan_id).account
            touched.add(loan_id)
            self._cache.pop(loan_id, None)  # back only once the event is stored
            drafts = account.apply(event)
            loans.append_event(loan_id, event.key, event.kind, event.on, event.content())
            new_version = loans.update_status(loan_id, account.status.value, version)
            saves.append((loan_id, new_version - 1, closed, to_state(account), position(account)))
            self._cache[loan_id] = ((new_version, closed), account)
            drafts_all.extend((loan_id, d) for d in drafts)
        closes.save(last_per_loan(saves))
        entries = ledger.append([d for _, d in drafts_all])
        for (loan_id, _), entry in zip(drafts_all, entries):
            posted.setdefault(loan_id, []).append(entry)
        return posted

    def load_in(self, session: Session, loan_id: str) -> Account:
        """The loan as the caller's transaction sees it."""
        return self._load(session, loan_id)

    def load_many_in(self, session: Session, loan_ids: Sequence[str]) -> dict[str, Account]:
        """`load_in` of many loans: their current snapshots read in a few statements
        (`CloseRepository.states`), a loan without one loaded on its own."""
        ids = list(dict.fromkeys(loan_ids))
        if not ids:
            return {}
        loaded = CloseRepository(session).states(ids)
        return {loan_id: self._from_loaded(session, loan_id, loaded.get(loan_id))[0]
                for loan_id in ids}

    def stored_event(self, session: Session, loan_id: str, key: str) -> LoanEvent | None:
        """The loan's event stored under `key`, if any (a command sent again finds it)."""
        stored = LoanEventRepository(session).stored_payload(loan_id, key)
        return None if stored is None else event_from_content(stored, stored=True)

    def loan_ids(self, status: LoanStatus | None = None, opened_by: date | None = None) -> list[str]:
        """The loans (in `status`; paid out or opened on `opened_by` or earlier), oldest first."""
        with self.sessions() as session:
            repo = LoanEventRepository(session)
            out, offset = [], 0
            while True:
                page = repo.list_loans(status=status.value if status else None, limit=1000,
                                       offset=offset, opened_by=opened_by)
                out.extend(r.loan_id for r in page)
                if len(page) < 1000:
                    return out
                offset += 1000

    # -- end of day -------------------------------------------------------------------------------
    def last_closed_day(self) -> date | None:
        """The book's business date: the last day an end of day closed (None before the first)."""
        with self.sessions() as session:
            return BusinessDayRepository(session).last_closed()

    def end_of_day(self, business_date: date, progress: Callable[[int], None] | None = None,
                   batch: int = PARTITION_SIZE) -> EodReport:
        """Close `business_date` for every active loan: accrue, charge, age; idempotent per date.

        The book has one business date that only moves forward: a date before the last closed
        one is refused, the last closed one may be closed again (it picks up loans the first
        close missed), a day closes only the loans paid out by then, and days skipped since the
        last close are closed first, one by one in order, so a late batch books exactly what
        daily closes would have.  Each day runs in partitions of `batch` loans (one transaction
        each: `close_partition`); a run that stopped is resumed by running it again.  `progress` and the
        returned counts cover every day closed; `days` lists them.
        """
        if not isinstance(business_date, date):
            raise InvalidBusinessDate(f"a business date must be a date, got {business_date!r}")
        with close_lock(self.engine):  # one close of the book at a time (CloseInProgress)
            last = self.last_closed_day()
            if last is not None and business_date < last:
                raise InvalidBusinessDate(f"the book's business date is {last}: closing "
                                          f"{business_date} would go backwards")
            first = business_date if last is None or last == business_date \
                else last + timedelta(days=1)
            report = EodReport(business_date)
            day = first
            while day <= business_date:
                self._close_one_day(day, report, progress if day == business_date else None,
                                    batch)
                day += timedelta(days=1)
        return report

    def _close_one_day(self, business_date: date, report: EodReport,
                       progress: Callable[[int], None] | None, batch: int) -> None:
        """Close one day partition by partition (each in its own transaction, see
        `close_partition`); partitions already closed (a run that stopped half-way) are skipped:
        their loans are closed for the day and no longer selected."""
        self._position_unpositioned()
        with self.sessions() as session:
            ids = CloseRepository(session).eligible_ids(business_date)
        size = max(1, batch)
        entries, failures = 0, {}
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            with self.transaction() as session:
                done = self.close_partition(session, business_date, chunk[0], chunk[-1])
            entries += done.entries
            report.plain += done.plain
            report.partitions += 1
            failures.update(done.failures)
            if progress:
                progress(len(chunk))
        with self.transaction() as session:
            closed = CloseRepository(session).closes_on(business_date)
            # loans the day's partitions closed, in this run and any earlier run of the day
            loans = sum(c["loans"] for c in closed)
            BusinessDayRepository(session).record(business_date, loans, entries, len(failures))
        report.days.append(business_date)
        report.loans = loans
        report.entries += entries
        report.failures.update(failures)

    def verify_snapshots(self, rebuild: bool = False,
                         progress: Callable[[int], None] | None = None,
                         chunk: int = 500) -> "SnapshotCheck":
        """Rebuild every loan from its events and the close records (`replay_history`) and
        compare it with its stored snapshot and due position: the proof that the derived data
        agrees with the history.  With `rebuild`, a missing or disagreeing snapshot is written
        again from the history (snapshots are derived data; nothing else changes)."""
        check = SnapshotCheck()
        with self.sessions() as session:
            ids = LoanEventRepository(session).loan_ids()
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            with self.transaction() as session:
                closes = CloseRepository(session)
                saves = []
                for loan_id in part:
                    done = self.replay(session, loan_id)
                    expected = (to_state(done.account), position(done.account),
                                done.closed_through)
                    stored = closes.stored(loan_id)
                    check.loans += 1
                    if stored is None:
                        if done.account.status is LoanStatus.PENDING:
                            continue  # nothing happened to it yet: nothing to snapshot
                        check.missing.append(loan_id)
                    elif not agrees(stored, expected, done):
                        check.disagreeing.append(loan_id)
                    else:
                        continue
                    if rebuild:
                        saves.append((loan_id, done.seq, done.closed_through, expected[0],
                                      expected[1]))
                        self._cache.pop(loan_id, None)
                closes.save(saves)
                check.rebuilt += len(saves)
            if progress:
                progress(len(part))
        return check

    def loan_count(self) -> int:
        with self.sessions() as session:
            return LoanEventRepository(session).count_loans()

    def to_close(self, day: date) -> int:
        """How many loans a close of `day` would take now (for progress bars)."""
        with self.sessions() as session:
            return CloseRepository(session).count_eligible(day)

    def _position_unpositioned(self) -> None:
        """Give every active loan without a position one (loans stored before positions
        existed), rebuilt from its full history."""
        while True:
            with self.transaction() as session:
                closes = CloseRepository(session)
                ids = closes.unpositioned_active(1_000)
                saves = []
                for loan_id in ids:
                    done = self.replay(session, loan_id)
                    saves.append((loan_id, done.seq, done.closed_through,
                                  to_state(done.account), position(done.account)))
                closes.save(saves)
            if len(ids) < 1_000:
                return

    def close_partition(self, session: Session, day: date, lo: str, hi: str) -> "PartitionClosed":
        """Close `day` for the loans `lo`..`hi` that it takes, in the caller's transaction.

        Plain loans are charged from their positions by the vectorised kernel
        (`puhui.batch.close`) and posted as one general-ledger entry per product and currency;
        the others go through the servicing engine (`EndOfDay`) and post their own entries.  A
        loan the engine refuses is left as it was and reported.  The partition is recorded with
        the event chain's head, which places the close among the loans' events for a replay."""
        closes = CloseRepository(session)
        head = closes.lock_chain()
        # a day's partitions starting at the same loan (a run again after a loan failed) are
        # told apart by their order, in the keys of their entries and records
        ref = f"{day}:{lo}:{closes.count_from(day, lo)}"
        frame = closes.partition(day, lo, hi)
        charges = charge_plain(frame, day)
        key = f"eod:{day.isoformat()}"
        drafts: list[EntryDraft] = []
        for (currency, product), (interest, penalty) in charges.totals.items():
            lines = [(Acct.INTEREST_RECEIVABLE, interest), (Acct.INTEREST_INCOME, -interest),
                     (Acct.PENALTY_RECEIVABLE, penalty), (Acct.PENALTY_INCOME, -penalty)]
            postings = tuple(Posting(a, amt, currency) for a, amt in lines if amt)
            if postings:
                drafts.append(EntryDraft(day, f"daily close {day}: accrual of product {product}",
                                         postings, f"close:{ref}:{currency}:{product}"
                                         ).validate())
        failures: dict[str, str] = {}
        saves, changed = [], []
        loaded = closes.states(charges.break_ids)  # one query for the partition's breaks
        for loan_id in charges.break_ids:
            try:
                account, version = self._from_loaded(session, loan_id, loaded.get(loan_id))
                before = account.status
                drafts.extend(account.apply(EndOfDay(key, day)))
            except Exception as exc:  # noqa: BLE001 - reported, never swallowed silently
                failures[loan_id] = f"{type(exc).__name__}: {exc}"
                continue
            self._cache.pop(loan_id, None)
            saves.append((loan_id, version - 1, day, to_state(account), position(account)))
            if account.status is not before:
                changed.append((loan_id, account.status.value))
        plain = closes.mark_plain(day, lo, hi)
        if plain != len(charges.plain_ids):
            raise InvalidEvent(f"the close of {day} found {len(charges.plain_ids)} plain loans "
                               f"in {lo}..{hi} but marked {plain}: positions changed under it")
        closes.save(saves)
        closes.set_status(changed)
        closed = frame.height - len(failures)
        record = close_record(day, lo, hi, head, closed, plain, failures)
        # the record places the close among the loans' events for every later replay: it is
        # attested on the journal's hash chain, so an edited record shows (`verify_close_records`)
        drafts.append(EntryDraft(day, f"daily close {day} of loans {lo}..{hi}", (),
                                 f"close:{ref}:record",
                                 attests=Attestation(CLOSE_RECORD, ref,
                                                     record_hash(record))).validate())
        entries = LedgerRepository(session).append(drafts)
        closes.record_close(day, lo, hi, head, closed, plain, len(entries), failures)
        return PartitionClosed(closed, plain, len(entries), failures)

    # -- ledger -----------------------------------------------------------------------------------
    def verify_ledger(self) -> int:
        """Verify the journal and the loan-event chain (see `verify`); return the entry count."""
        return self.verify().journal.seq

    def verify(self, against: "Checkpoint | None" = None,
               public_key: "Ed25519PublicKey | None" = None) -> "BookVerification":
        """Re-hash both of the book's chains end to end, and check `against` (a checkpoint signed
        by `public_key`) if given: `puhui.book.audit.verify_book`, on one snapshot."""
        from puhui.book.audit import verify_book

        with self._snapshot() as session:
            return verify_book(session, against, public_key)

    def checkpoint(self, private_key: "Ed25519PrivateKey", at: datetime) -> "Checkpoint":
        """Verify the book and sign its chain heads as of `at` (see `checkpoint_book`)."""
        from puhui.book.audit import checkpoint_book

        with self._snapshot() as session:
            return checkpoint_book(session, private_key, at)

    @contextmanager
    def _snapshot(self) -> Iterator[Session]:
        """A session that sees one state of the database from its first read to its last (on
        PostgreSQL, REPEATABLE READ; a SQLite transaction always does), so a verification
        running beside writers sees chains and heads that belong together."""
        with self.sessions() as session:
            if self.engine.dialect.name == "postgresql":
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    def trial_balance(self) -> dict[str, int]:
        with self.sessions() as session:
            return LedgerRepository(session).trial_balance()

    def balances(self, loan_id: str | None = None) -> dict[tuple[str, str], int]:
        """Journal balances by (account, currency): of the whole book, or of the postings
        tagged with `loan_id` (its own entries; see `sub_ledger` for the loan's full share)."""
        with self.sessions() as session:
            return LedgerRepository(session).balances(loan_id)

    def sub_ledger(self, loan_id: str) -> dict[tuple[str, str], int]:
        """The loan's sub-ledger: its own journal entries plus what the daily closes charged
        it inside their product entries (recomputed from its history), by (account,
        currency).  Reconciles with the loan's own balances at any time."""
        with self.sessions() as session:
            own = LedgerRepository(session).balances(loan_id)
            done = self.replay(session, loan_id)
        currency = done.account.product.currency
        for account, amount in done.summarised.items():
            key = (account, currency)
            own[key] = own.get(key, 0) + amount
        return {k: v for k, v in own.items() if v}
