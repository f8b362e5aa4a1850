"""A large SQLite append stores rows on a writer thread: the same ledger as without one."""

from __future__ import annotations

import sys
import threading
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from puhui.errors import IdempotencyConflict, UnbalancedEntry
from puhui.ledger.accounts import Acct
from puhui.ledger.journal import Attestation, EntryDraft, Posting
from puhui.store import ledger_repo, pipeline
from puhui.store.db import make_engine, migrate, session_factory
from puhui.store.ledger_repo import (
    ENTRIES,
    ENTRY_COLUMNS,
    PIPELINE_CHUNK,
    PIPELINE_MIN_ENTRIES,
    POSTING_COLUMNS,
    POSTINGS,
    LedgerRepository,
)
from puhui.store.pipeline import SWITCH_INTERVAL_S, InsertPipeline

N = PIPELINE_MIN_ENTRIES + 2 * PIPELINE_CHUNK + 7  # several chunks and a short last one


def accrual(i: int, key: str | None = None) -> EntryDraft:
    loan = f"L{i % 13}" if i % 5 else None
    return EntryDraft(date(2024, 3, 1 + i % 3), f"accrual {i}", (
        Posting(Acct.INTEREST_RECEIVABLE, 100 + i, "CNY", loan),
        Posting(Acct.INTEREST_INCOME, -100 - i, "CNY", loan)),
        event_key=key if key is not None else (f"k{i}" if i % 2 else None), loan_id=loan)


def mixed_drafts(n: int) -> list[EntryDraft]:
    """Accruals with three-line entries, reversals and attestations spread over the chunks, so
    chunks differ in which columns are NULL throughout."""
    drafts = [accrual(i) for i in range(n)]
    for i in range(700, n, 450):
        drafts[i] = EntryDraft(date(2024, 3, 4), f"reversal {i}", tuple(
            p.reversed() for p in drafts[i - 600].postings), reverses=i - 599)
    drafts[1_100] = EntryDraft(date(2024, 3, 4), "fee split", (
        Posting(Acct.CASH, 300, "CNY", "L1"), Posting(Acct.FEE_INCOME, -100, "CNY", "L1"),
        Posting(Acct.INTEREST_INCOME, -200, "CNY", "L1")), event_key="split")
    drafts[1_200] = EntryDraft(date(2024, 3, 4), "contract", (), event_key="contract C1",
                               attests=Attestation("loan_contract", "C1", "a" * 64))
    return drafts


def test_a_pipelined_append_reads_back_and_verifies(sqlite_engine: Engine) -> None:
    drafts = mixed_drafts(N)
    with session_factory(sqlite_engine).begin() as session:
        sealed = LedgerRepository(session).append(drafts)
    assert [e.seq for e in sealed] == list(range(1, N + 1))
    with session_factory(sqlite_engine)() as session:
        repo = LedgerRepository(session)
        assert list(repo.entries()) == sealed
        assert repo.verify() == N
        assert repo.trial_balance() == {"CNY": 0}
        assert repo.attestation("loan_contract", "C1") == sealed[1_200]


def test_the_pipeline_stores_what_a_plain_append_stores(sqlite_engine: Engine, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same drafts appended with and without the writer thread give the same rows, apart
    from the time stamp (and so the hashes)."""
    drafts = mixed_drafts(N)
    with session_factory(sqlite_engine).begin() as session:
        LedgerRepository(session).append(drafts)
    monkeypatch.setattr(ledger_repo, "PIPELINE_MIN_ENTRIES", N + 1)
    plain_url = f"sqlite:///{tmp_path / 'plain.sqlite'}"
    migrate(plain_url)
    plain = make_engine(plain_url)
    try:
        with session_factory(plain).begin() as session:
            LedgerRepository(session).append(drafts)

        def rows(engine: Engine) -> tuple[list, list]:
            entry_cols = [ENTRIES.c[c] for c in ENTRY_COLUMNS if c not in ("created_at",
                                                                            "prev_hash", "hash")]
            with engine.connect() as conn:
                return (conn.execute(select(*entry_cols).order_by(ENTRIES.c.seq)).all(),
                        conn.execute(select(*(POSTINGS.c[c] for c in POSTING_COLUMNS))
                                     .order_by(POSTINGS.c.entry_seq, POSTINGS.c.line_no)).all())

        assert rows(sqlite_engine) == rows(plain)
    finally:
        plain.dispose()


def test_a_key_posted_before_undoes_the_whole_pipelined_append(sqlite_engine: Engine) -> None:
    """The repeated key sits in the last chunk: the chunks already stored are undone too, and
    the caller's transaction goes on."""
    sessions = session_factory(sqlite_engine)
    with sessions.begin() as session:
        LedgerRepository(session).append([accrual(0, key="first")])
    drafts = [accrual(i, key=f"big {i}") for i in range(1, N)] + [accrual(N, key="first")]
    with sessions.begin() as session:
        repo = LedgerRepository(session)
        with pytest.raises(IdempotencyConflict, match="'first' was already posted as entry 1"):
            repo.append(drafts)
        assert repo.append([accrual(1, key="after")])[0].seq == 2
    with sessions() as session:
        repo = LedgerRepository(session)
        assert [e.event_key for e in repo.entries()] == ["first", "after"]
        assert repo.verify() == 2


def test_a_bad_draft_in_a_late_chunk_undoes_the_chunks_already_stored(
        sqlite_engine: Engine) -> None:
    """Drafts of a large append are checked chunk by chunk as they are written: one that does
    not balance, in the last chunk, still leaves nothing of the append behind."""
    sessions = session_factory(sqlite_engine)
    drafts = [accrual(i) for i in range(N)]
    drafts[-3] = EntryDraft(date(2024, 3, 1), "lopsided", (
        Posting(Acct.CASH, 100, "CNY"), Posting(Acct.INTEREST_INCOME, -99, "CNY")))
    with sessions.begin() as session:
        repo = LedgerRepository(session)
        repo.append([accrual(0, key="before")])
        with pytest.raises(UnbalancedEntry, match="lopsided"):
            repo.append(drafts)
        repo.append([accrual(1, key="after")])
    with sessions() as session:
        repo = LedgerRepository(session)
        assert [e.event_key for e in repo.entries()] == ["before", "after"]
        assert repo.head()[0] == 2
        assert repo.verify() == 2


def test_a_failed_insert_is_raised_and_nothing_after_it_is_written(sqlite_engine: Engine) -> None:
    bad = [(1, 1, Acct.CASH, "CNY", 0, None)]  # amount <> 0 is a table constraint
    with sqlite_engine.begin() as conn:
        with pytest.raises(IntegrityError):
            with InsertPipeline(conn) as pipe:
                pipe.insert(POSTINGS, POSTING_COLUMNS, bad)
                for _ in range(50):  # queued behind the failure, or refused by insert itself
                    pipe.insert(POSTINGS, POSTING_COLUMNS, [(1, 2, Acct.CASH, "CNY", 5, None)])
        assert conn.execute(select(func.count()).select_from(POSTINGS)).scalar() == 0


def test_the_switch_interval_is_short_only_while_a_pipeline_is_open(
        sqlite_engine: Engine) -> None:
    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL_S
    with sqlite_engine.begin() as conn, InsertPipeline(conn):
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
    assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), sqlite_engine.begin() as conn, InsertPipeline(conn):
        raise RuntimeError("the caller fails while the writer runs")
    assert sys.getswitchinterval() == before


def test_overlapping_pipelines_restore_the_interval_when_the_last_closes(
        tmp_path: Path, sqlite_engine: Engine) -> None:
    """Two threads' pipelines (each on its own connection): the first to close must not
    lengthen the interval under the other."""
    before = sys.getswitchinterval()
    first_open, second_closed = threading.Event(), threading.Event()
    seen: list[float] = []

    def other() -> None:
        url = f"sqlite:///{tmp_path / 'other.sqlite'}"
        migrate(url)
        engine = make_engine(url)
        try:
            with engine.begin() as conn, InsertPipeline(conn) as pipe:
                assert pipe._threaded
                first_open.wait(10)
            second_closed.set()
        finally:
            engine.dispose()

    with sqlite_engine.begin() as conn, InsertPipeline(conn):
        thread = threading.Thread(target=other)
        thread.start()
        first_open.set()
        second_closed.wait(10)
        seen.append(sys.getswitchinterval())
    thread.join()
    assert seen == [pytest.approx(SWITCH_INTERVAL_S)]
    assert sys.getswitchinterval() == before


def test_a_pipeline_is_for_sqlite_and_only_while_open(sqlite_engine: Engine) -> None:
    with pytest.raises(ValueError, match="for SQLite, not postgresql"):
        InsertPipeline(SimpleNamespace(dialect=SimpleNamespace(name="postgresql")))  # type: ignore[arg-type]
    with sqlite_engine.begin() as conn:
        pipe = InsertPipeline(conn)
        with pytest.raises(RuntimeError, match="not open"):
            pipe.insert(POSTINGS, POSTING_COLUMNS, [])
        with pipe:
            pass
        with pytest.raises(RuntimeError, match="not open"):
            pipe.insert(POSTINGS, POSTING_COLUMNS, [])
    assert pipeline._open_pipelines == 0


def test_a_connection_bound_to_its_thread_inserts_on_the_callers_thread(tmp_path: Path) -> None:
    """A connection that refuses other threads (SQLAlchemy's default for an in-memory database):
    the append still happens, on the caller's thread."""
    before = sys.getswitchinterval()
    url = f"sqlite:///{tmp_path / 'bound.sqlite'}"
    migrate(url)
    bound = make_engine(url, connect_args={"check_same_thread": True})
    try:
        with session_factory(bound).begin() as session:
            conn = session.connection()
            with InsertPipeline(conn) as pipe:
                assert not pipe._threaded
                assert sys.getswitchinterval() == before
            sealed = LedgerRepository(session).append(mixed_drafts(N))
        with session_factory(bound)() as session:
            assert list(LedgerRepository(session).entries()) == sealed
    finally:
        bound.dispose()
    assert sys.getswitchinterval() == before
