"""Concurrent writers queue on the ledger head (and on the loan row) instead of forking history."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import Engine

from puhui.ledger.accounts import Acct
from puhui.ledger.journal import EntryDraft, Posting
from puhui.store.db import session_factory
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.loan_repo import LoanEventRepository

WRITERS, BATCHES, PER_BATCH = 2, 15, 40


def _run_all(targets: list) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def wrap(target):
        def run() -> None:
            try:
                start.wait()
                target()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if errors:
        raise errors[0]


def _appender(engine: Engine, writer: int):
    sessions = session_factory(engine)

    def run() -> None:
        for b in range(BATCHES):
            drafts = [EntryDraft(date(2024, 3, 1), f"w{writer} b{b} e{e}", (
                Posting(Acct.CASH, 100 + e, "CNY", f"W{writer}"),
                Posting(Acct.CAPITAL, -100 - e, "CNY", f"W{writer}")),
                event_key=f"w{writer}-{b}-{e}") for e in range(PER_BATCH)]
            with sessions.begin() as session:
                LedgerRepository(session).append(drafts)
    return run


def _check_one_chain(engine: Engine) -> None:
    total = WRITERS * BATCHES * PER_BATCH
    with session_factory(engine)() as session:
        repo = LedgerRepository(session)
        assert repo.verify() == total
        entries = list(repo.entries())
        assert [e.seq for e in entries] == list(range(1, total + 1))
        assert len({e.prev_hash for e in entries}) == total  # no two entries share a parent
        assert repo.trial_balance() == {"CNY": 0}


@pytest.mark.postgres
def test_concurrent_appenders_on_postgres_make_one_chain(pg_engine: Engine) -> None:
    _run_all([_appender(pg_engine, w) for w in range(WRITERS)])
    _check_one_chain(pg_engine)


def test_concurrent_appenders_make_one_chain(engine: Engine) -> None:
    _run_all([_appender(engine, w) for w in range(WRITERS)])
    _check_one_chain(engine)


def test_concurrent_retries_of_one_event_store_it_once(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        LoanEventRepository(s).create_loan("L1", "CNY", "{}", "active")
    results: list[bool] = []

    def retry() -> None:
        with sessions.begin() as s:
            results.append(LoanEventRepository(s).append_event(
                "L1", "pay-1", "repayment", date(2024, 3, 1), {"amount": 500}))

    _run_all([retry, retry, retry])
    assert sorted(results) == [False, False, True]
    with sessions() as s:
        assert len(LoanEventRepository(s).events("L1")) == 1


@pytest.mark.postgres
def test_a_retry_waiting_on_the_head_sees_the_event_stored_while_it_waited(pg_engine: Engine
                                                                          ) -> None:
    """The retry's append starts while the first holds the head, and must then read what the
    first committed (a statement that locks sees its other reads as of when it began)."""
    import time

    from sqlalchemy import text

    sessions = session_factory(pg_engine)
    with sessions.begin() as s:
        LoanEventRepository(s).create_loan("L1", "CNY", "{}", "active")
    results: list[object] = []

    def retry() -> None:
        try:
            with sessions.begin() as s:
                results.append(LoanEventRepository(s).append_event(
                    "L1", "pay-1", "repayment", date(2024, 3, 1), {"amount": 500}))
        except BaseException as exc:  # noqa: BLE001 - checked below
            results.append(exc)

    with sessions.begin() as first:
        assert LoanEventRepository(first).append_event("L1", "pay-1", "repayment",
                                                       date(2024, 3, 1), {"amount": 500})
        waiter = threading.Thread(target=retry)
        waiter.start()
        with pg_engine.connect() as probe:  # until the retry is queued on the head's lock
            deadline = time.monotonic() + 60  # a loaded machine may take seconds to get there
            waiting = 0
            while not waiting and waiter.is_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
                waiting = probe.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()")).scalar()
            assert waiting, f"the retry never waited on the head: {results}"
    waiter.join(timeout=60)
    assert results == [False]
    with sessions() as s:
        assert len(LoanEventRepository(s).events("L1")) == 1


def test_concurrent_retries_of_one_attestation_post_it_once(engine: Engine) -> None:
    sessions = session_factory(engine)
    seqs: list[int] = []

    def attest() -> None:
        with sessions.begin() as s:
            seqs.append(LedgerRepository(s).attest("loan_contract", "C1", "ab" * 32,
                                                   date(2024, 3, 1), "signed", "sign:C1").seq)

    _run_all([attest, attest, attest])
    assert seqs == [1, 1, 1]
    with sessions() as s:
        assert LedgerRepository(s).verify() == 1
