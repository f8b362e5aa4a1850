"""The durable loan book: the pure servicing engine behind a database.

A loan is stored as its product terms and its event log; it is rebuilt by replaying the log.
Applying an event writes the event and the journal entries it produced in one transaction, so a
repayment is never recorded without its ledger entry (or the reverse), and a failed event leaves
nothing behind.  Rebuilt loans are cached in-process and trusted only while their stored version
is unchanged, so concurrent writers (two API workers) never act on stale state.
"""

from __future__ import annotations

import contextlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Union

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from puhui.errors import InvalidBusinessDate, InvalidEvent
from puhui.ledger.journal import JournalEntry
from puhui.loans.events import EndOfDay, LoanEvent, event_from_content
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.revolving import RevolvingLine
from puhui.loans.servicing import Loan
from puhui.loans.state import LoanStatus
from puhui.store.business_days import BusinessDayRepository
from puhui.store.db import session_factory
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.loan_repo import LoanEventRepository
from puhui.store.writer_lock import SqliteWriterLock

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                                   Ed25519PublicKey)

    from puhui.ledger.checkpoint import Checkpoint
    from puhui.services.checkpoints import BookVerification

Account = Union[Loan, RevolvingLine]
_TOUCHED = "puhui.loans_touched"


def new_account(loan_id: str, product: LoanProduct) -> Account:
    """A term loan or a revolving line, whichever the product describes."""
    if product.method is RepaymentMethod.REVOLVING:
        return RevolvingLine(loan_id, product)
    return Loan(loan_id, product)


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


def _sqlite_writer_lock(engine: Engine) -> SqliteWriterLock:
    database = engine.url.database
    return SqliteWriterLock(None if database in (None, "", ":memory:")
                            else os.path.abspath(database))


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
        """The loan as its stored events make it."""
        with self.sessions() as session:
            return self._load(LoanEventRepository(session), loan_id)

    def _load(self, repo: LoanEventRepository, loan_id: str) -> Account:
        row = repo.get_loan(loan_id)
        if row is None:
            raise InvalidEvent(f"no loan {loan_id!r}")
        cached = self._cache.get(loan_id)
        if cached is not None and cached[0] == row.version:
            return cached[1]
        account = new_account(loan_id, LoanProduct.from_dict(json.loads(row.product)))
        for stored in repo.events(loan_id):
            # stored history replays under the rules it was accepted under (docs/loan-rules.md)
            account.apply(event_from_content(stored["payload"], stored=True), replay=True)
        self._cache[loan_id] = (row.version, account)
        return account

    def apply(self, loan_id: str, event: LoanEvent) -> list[JournalEntry]:
        """Apply one event durably; a replayed event (same key, same content) posts nothing."""
        return self.apply_many([(loan_id, event)]).get(loan_id, [])

    def apply_many(self, items: Iterable[tuple[str, LoanEvent]]) -> dict[str, list[JournalEntry]]:
        """Apply events to several loans in ONE transaction: all land, or none does."""
        with self.transaction() as session:
            return self.apply_in(session, items)

    def apply_in(self, session: Session,
                 items: Iterable[tuple[str, LoanEvent]]) -> dict[str, list[JournalEntry]]:
        """`apply_many` inside the caller's transaction (opened with `transaction()`)."""
        touched: set[str] = session.info.setdefault(_TOUCHED, set())
        posted: dict[str, list[JournalEntry]] = {}
        loans, ledger = LoanEventRepository(session), LedgerRepository(session)
        drafts_all = []
        for loan_id, event in items:
            account = self._load(loans, loan_id)
            version = self._cache[loan_id][0]
            touched.add(loan_id)
            self._cache.pop(loan_id, None)  # back only once the event is stored
            # a key the loan already holds with this content (`apply` refuses other content) is
            # a command sent again: nothing to store, even when the stored copy predates the
            # rules version its content now names
            known = event.key in account.applied
            drafts = account.apply(event)
            if known or not loans.append_event(loan_id, event.key, event.kind, event.on,
                                               event.content()):
                self._cache[loan_id] = (version, account)
                continue
            new_version = loans.update_status(loan_id, account.status.value, version)
            self._cache[loan_id] = (new_version, account)
            drafts_all.extend((loan_id, d) for d in drafts)
        entries = ledger.append([d for _, d in drafts_all])
        for (loan_id, _), entry in zip(drafts_all, entries):
            posted.setdefault(loan_id, []).append(entry)
        return posted

    def load_in(self, session: Session, loan_id: str) -> Account:
        """The loan as the caller's transaction sees it."""
        return self._load(LoanEventRepository(session), loan_id)

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
                   batch: int = 200) -> EodReport:
        """Close `business_date` for every active loan: accrue, charge, age; idempotent per date.

        The book has one business date that only moves forward: a date before the last closed
        one is refused, the last closed one may be closed again (it picks up loans the first
        close missed), a day closes only the loans paid out by then, and days skipped since the last close are closed first, one by one in
        order, so a late batch books exactly what daily closes would have.  `progress` and the
        returned counts cover every day closed; `days` lists them.
        """
        if not isinstance(business_date, date):
            raise InvalidBusinessDate(f"a business date must be a date, got {business_date!r}")
        last = self.last_closed_day()
        if last is not None and business_date < last:
            raise InvalidBusinessDate(f"the book's business date is {last}: closing {business_date} "
                                      f"would go backwards")
        first = business_date if last is None or last == business_date else last + timedelta(days=1)
        report = EodReport(business_date)
        day = first
        while day <= business_date:
            self._close_one_day(day, report, progress if day == business_date else None, batch)
            day += timedelta(days=1)
        return report

    def _close_one_day(self, business_date: date, report: EodReport,
                       progress: Callable[[int], None] | None, batch: int) -> None:
        # Only loans paid out by the day: one paid out later (a day closed after midnight) was
        # no part of it, and its events are dated after the day.
        ids = self.loan_ids(LoanStatus.ACTIVE, opened_by=business_date)
        key = f"eod:{business_date.isoformat()}"
        entries, failures = 0, {}
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            try:
                posted = self.apply_many((i, EndOfDay(key, business_date)) for i in chunk)
            except Exception:
                posted = {}
                for loan_id in chunk:  # isolate the failing loan; the rest still close the day
                    try:
                        posted.update(self.apply_many([(loan_id, EndOfDay(key, business_date))]))
                    except Exception as exc:  # noqa: BLE001 - reported, never swallowed silently
                        failures[loan_id] = f"{type(exc).__name__}: {exc}"
            entries += sum(len(v) for v in posted.values())
            if progress:
                progress(len(chunk))
        with self.transaction() as session:
            BusinessDayRepository(session).record(business_date, len(ids), entries, len(failures))
        report.days.append(business_date)
        report.loans = len(ids)
        report.entries += entries
        report.failures.update(failures)

    # -- ledger -----------------------------------------------------------------------------------
    def verify_ledger(self) -> int:
        """Verify the journal and the loan-event chain (see `verify`); return the entry count."""
        return self.verify().journal.seq

    def verify(self, against: "Checkpoint | None" = None,
               public_key: "Ed25519PublicKey | None" = None) -> "BookVerification":
        """Re-hash both of the book's chains end to end, and check `against` (a checkpoint signed
        by `public_key`) if given: `puhui.services.checkpoints.verify_book`, on one snapshot."""
        from puhui.services.checkpoints import verify_book

        with self._snapshot() as session:
            return verify_book(session, against, public_key)

    def checkpoint(self, private_key: "Ed25519PrivateKey", at: datetime) -> "Checkpoint":
        """Verify the book and sign its chain heads as of `at` (see `checkpoint_book`)."""
        from puhui.services.checkpoints import checkpoint_book

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
        with self.sessions() as session:
            return LedgerRepository(session).balances(loan_id)
