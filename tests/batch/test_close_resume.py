"""A close stopped half-way and run again equals one clean run.

Each partition is one transaction and its loans are no longer taken by the day once it commits,
so a second run closes only what the first did not; the close records, journal entries,
snapshots and positions then match a book closed in one go.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from puhui.book import LoanBook
from puhui.calendar import Frequency
from puhui.loans.events import Disbursement, Draw, LineOpening, Repayment
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.snapshot import to_state
from puhui.store.close_models import BookCloseRow, LoanPositionRow
from puhui.store.db import make_engine, migrate
from puhui.store.models import JournalEntryRow, JournalPostingRow

START = date(2026, 3, 2)
START_TIME = datetime(2026, 3, 2, tzinfo=timezone.utc)
PRODUCTS = (
    LoanProduct("EI", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.18"), term_periods=3,
                frequency=Frequency.WEEKLY, instalment_fee_fixed=300),
    LoanProduct("BU", RepaymentMethod.BULLET, Decimal("0.0365"), term_days=9),
    LoanProduct("RV", RepaymentMethod.REVOLVING, Decimal("0.1825"), term_days=12),
)
IDS = [f"L{n:02d}" for n in range(13)]


def _seed(book: LoanBook) -> None:
    for n, loan_id in enumerate(IDS):
        product = PRODUCTS[n % len(PRODUCTS)]
        book.open(loan_id, product)
        if product.method is RepaymentMethod.REVOLVING:
            book.apply_many([(loan_id, LineOpening("o", START, 20_000_00)),
                             (loan_id, Draw("d", START, 5_000_00 + n))])
        else:
            book.apply(loan_id, Disbursement("d", START, 10_000_00 + n * 100))
    for day in range(6):
        book.end_of_day(START + timedelta(days=day), batch=4)
    book.apply(IDS[3], Repayment("r", START + timedelta(days=6), 1_000_00))


def _outcome(engine: Engine) -> tuple:
    """Everything a close writes, without its timestamps and entry numbers."""
    book = LoanBook(engine)
    try:
        states = {loan_id: to_state(book.load(loan_id)) for loan_id in IDS}
    finally:
        book.close()
    with engine.connect() as conn:
        entries = sorted(conn.execute(
            select(JournalEntryRow.booking_date, JournalEntryRow.description,
                   JournalEntryRow.event_key, JournalEntryRow.loan_id,
                   JournalPostingRow.account, JournalPostingRow.amount)
            .join(JournalPostingRow, JournalPostingRow.entry_seq == JournalEntryRow.seq)).all())
        positions = sorted(tuple(r) for r in
                           conn.execute(select(*LoanPositionRow.__table__.c)).all())
        closed = sorted(conn.execute(select(BookCloseRow.business_date, BookCloseRow.loans,
                                            BookCloseRow.plain)).all())
    return states, entries, positions, sum(c[1] for c in closed if c[0] == DAY)


DAY = START + timedelta(days=7)  # instalments fall due, the bullet matures: plain and engine


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    path = tmp_path / "seeded.sqlite"
    migrate(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    book = LoanBook(engine)
    _seed(book)
    book.close()
    engine.dispose()
    return path


def _close(path: Path, **kw) -> None:
    engine = make_engine(f"sqlite:///{path}")
    book = LoanBook(engine)
    try:
        book.end_of_day(DAY, batch=4, **kw)
    finally:
        book.close()
        engine.dispose()


def test_a_close_killed_after_two_partitions_resumes_to_the_clean_result(seeded: Path,
                                                                         tmp_path: Path) -> None:
    clean, killed = tmp_path / "clean.sqlite", tmp_path / "killed.sqlite"
    shutil.copy(seeded, clean)
    shutil.copy(seeded, killed)
    _close(clean)
    # the process dies (SIGKILL: no cleanup, no rollback handler) once two partitions committed
    script = textwrap.dedent(f"""
        import os, signal
        from datetime import date
        from puhui.book import LoanBook
        from puhui.store.db import make_engine
        book = LoanBook(make_engine("sqlite:///{killed}"))
        seen = []
        def progress(n):
            seen.append(n)
            if len(seen) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        book.end_of_day(date.fromisoformat("{DAY.isoformat()}"), progress=progress, batch=4)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    engine = make_engine(f"sqlite:///{killed}")
    with engine.connect() as conn:
        assert len(conn.execute(select(BookCloseRow.id)
                                .where(BookCloseRow.business_date == DAY)).all()) == 2
    engine.dispose()
    _close(killed)  # run again: the two closed partitions are not taken again
    a, b = make_engine(f"sqlite:///{clean}"), make_engine(f"sqlite:///{killed}")
    try:
        got, want = _outcome(b), _outcome(a)
        assert got[0] == want[0]        # every loan's state
        assert got[1] == want[1]        # every journal entry and posting
        assert got[2] == want[2]        # every due position
        assert got[3] == want[3] == len(IDS)
    finally:
        a.dispose()
        b.dispose()


def test_a_close_that_fails_in_a_partition_leaves_it_whole_and_resumes(engine: Engine,
                                                                        monkeypatch) -> None:
    """A partition that fails (here: the database refuses its journal entries) rolls back as a
    whole: its loans are neither charged nor marked, and the next run closes them exactly."""
    from puhui.errors import LedgerError
    from puhui.store.ledger_repo import LedgerRepository

    book = LoanBook(engine)
    _seed(book)
    book.end_of_day(DAY - timedelta(days=1), batch=4)
    reference = LoanBook(engine)
    original = LedgerRepository.append
    calls = []

    def failing(self, drafts):
        calls.append(1)
        if len(calls) == 2:
            raise LedgerError("the disk is full")
        return original(self, drafts)

    monkeypatch.setattr(LedgerRepository, "append", failing)
    with pytest.raises(LedgerError):
        book.end_of_day(DAY, batch=4)
    monkeypatch.setattr(LedgerRepository, "append", original)
    with book.sessions() as session:
        from puhui.store.close_repo import CloseRepository
        assert len(CloseRepository(session).closes_on(DAY)) == 1
    report = book.end_of_day(DAY, batch=4)
    assert report.loans == len(IDS) and not report.failures
    for loan_id in IDS:  # each loan equals its history replayed: closed once for the day
        with reference.sessions() as session:
            replayed = reference.replay(session, loan_id).account
        assert to_state(LoanBook(engine).load(loan_id)) == to_state(replayed)
        assert LoanBook(engine).load(loan_id).last_date == DAY
    assert book.trial_balance() == {c: 0 for c in book.trial_balance()}


def test_a_second_close_while_one_runs_is_refused_at_once(engine: Engine) -> None:
    """One close of a book at a time, whichever process starts it (the scheduler, `puhui eod`,
    the API): the second is refused with CloseInProgress (409), not queued or interleaved."""
    import threading

    from puhui.errors import CloseInProgress

    book = LoanBook(engine)
    _seed(book)
    inside, release = threading.Event(), threading.Event()
    outcome: list = []

    def slow_progress(n: int) -> None:
        inside.set()
        release.wait(30)

    def first() -> None:
        outcome.append(book.end_of_day(DAY, batch=4, progress=slow_progress))

    runner = threading.Thread(target=first)
    runner.start()
    assert inside.wait(30)
    other = LoanBook(engine)  # another book object on the same database, as another process
    with pytest.raises(CloseInProgress):
        other.end_of_day(DAY, batch=4)
    release.set()
    runner.join(30)
    assert outcome and outcome[0].loans == len(IDS)
    assert other.end_of_day(DAY, batch=4).entries == 0  # afterwards: allowed, nothing left


def test_close_records_are_attested_and_an_edited_one_fails_verification(engine: Engine) -> None:
    """A close record places the close among its loans' events: moving its chain position (or
    inserting one) would change every later replay, so the journal attests each record and the
    book's verification checks them."""
    from sqlalchemy import insert, update

    from puhui.errors import TamperDetected

    book = LoanBook(engine)
    _seed(book)
    assert book.verify().journal.seq > 0
    with engine.begin() as conn:
        first = conn.execute(select(BookCloseRow.id).order_by(BookCloseRow.id)).scalars().first()
        conn.execute(update(BookCloseRow).where(BookCloseRow.id == first)
                     .values(events_seq=BookCloseRow.events_seq + 1))
    with pytest.raises(TamperDetected, match="not the one the journal attests"):
        book.verify()
    with engine.begin() as conn:
        conn.execute(update(BookCloseRow).where(BookCloseRow.id == first)
                     .values(events_seq=BookCloseRow.events_seq - 1))
    book.verify()
    with engine.begin() as conn:  # a record the journal never attested
        conn.execute(insert(BookCloseRow).values(
            business_date=DAY, lo="L00", hi="L99", events_seq=0, loans=0, plain=0, entries=0,
            failures="[]", closed_at=START_TIME))
    with pytest.raises(TamperDetected):
        book.verify()


def test_what_is_left_to_close_is_counted_before_and_after(engine: Engine) -> None:
    book = LoanBook(engine)
    _seed(book)
    assert book.to_close(DAY) == len(IDS)
    book.end_of_day(DAY, batch=4)
    assert book.to_close(DAY) == 0 and book.loan_count() == len(IDS)
