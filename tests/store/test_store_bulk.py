"""Bulk row writes store exactly what the ORM would, whatever the batch's size or NULLs."""

from __future__ import annotations

import gc
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import Engine, select

from puhui.errors import IdempotencyConflict
from puhui.ledger.accounts import Acct
from puhui.ledger.journal import EntryDraft, Posting
from puhui.store.bulk import SQLITE_MAX_PARAMETERS, bulk_insert, collector_paused, \
    sqlite_statements
from puhui.store.db import session_factory
from puhui.store.ledger_repo import ENTRIES, ENTRY_COLUMNS, POSTING_COLUMNS, POSTINGS, \
    LedgerRepository

WHEN = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
PER_STATEMENT = SQLITE_MAX_PARAMETERS // len(ENTRY_COLUMNS)


def entry_row(seq: int, reverses: int | None = None, loan: str | None = None) -> tuple:
    return (seq, date(2024, 3, seq % 28 + 1), WHEN, f"entry {seq}", None, loan, reverses,
            "0" * 64, f"{seq:064x}", None, None, None)


def stored(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(*(ENTRIES.c[name] for name in ENTRY_COLUMNS)).order_by(ENTRIES.c.seq))]


@pytest.mark.parametrize("n", [1, PER_STATEMENT - 1, PER_STATEMENT, PER_STATEMENT + 1,
                               3 * PER_STATEMENT + 7])
def test_every_row_lands_once_in_order(engine: Engine, n: int) -> None:
    rows = [entry_row(seq) for seq in range(1, n + 1)]
    with engine.begin() as conn:
        assert bulk_insert(conn, ENTRIES, ENTRY_COLUMNS, rows) == n
    assert stored(engine) == rows


def test_columns_null_in_some_rows_keep_their_values(engine: Engine) -> None:
    rows = [entry_row(seq, loan=f"L{seq}" if seq % 3 else None) for seq in range(1, 200)]
    rows += [entry_row(200, reverses=7)]  # one non-NULL value in an otherwise NULL column
    with engine.begin() as conn:
        bulk_insert(conn, ENTRIES, ENTRY_COLUMNS, rows)
    assert stored(engine) == rows


def test_text_equal_at_both_ends_but_not_between_keeps_every_rows_value(engine: Engine) -> None:
    rows = [entry_row(seq) for seq in range(1, 300)]
    rows[150] = rows[150][:3] + ("the odd one",) + rows[150][4:]  # description of the others
    rows[-1] = rows[-1][:3] + (rows[0][3],) + rows[-1][4:]
    with engine.begin() as conn:
        bulk_insert(conn, ENTRIES, ENTRY_COLUMNS, rows)
    assert stored(engine) == rows


def test_a_value_every_row_shares_is_bound_once_per_statement(tmp_path) -> None:
    """The time stamp, date and description every row repeats go to SQLite once per statement;
    the rows read back whole."""
    from puhui.store.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    try:
        rows = [(seq, date(2024, 3, 1), WHEN, "accrual", f"k{seq}", None, None, "0" * 64,
                 f"{seq:064x}", None, None, None) for seq in range(1, 1001)]
        with engine.begin() as conn:
            statements = sqlite_statements(conn, ENTRIES, ENTRY_COLUMNS, rows)
            # seq, event_key and hash vary; booking_date, created_at, description and prev_hash
            # are shared; loan_id, reverses and the attestation are NULL throughout
            per_row = 3
            shared = 4
            assert sum(len(p) for _, sets in statements for p in sets) == (
                per_row * len(rows) + shared * sum(len(sets) for _, sets in statements))
            assert all(len(p) <= SQLITE_MAX_PARAMETERS for _, sets in statements for p in sets)
            bulk_insert(conn, ENTRIES, ENTRY_COLUMNS, rows)
        assert stored(engine) == rows
    finally:
        engine.dispose()


def test_a_constraint_broken_by_any_row_writes_no_row(engine: Engine) -> None:
    with engine.begin() as conn:
        bulk_insert(conn, ENTRIES, ENTRY_COLUMNS, [entry_row(seq) for seq in range(1, 20)])
    lines = [(seq, 1, Acct.CASH, "CNY", 100, None) for seq in range(1, 20)]
    lines[-1] = (19, 1, Acct.CASH, "CNY", 0, None)  # amount <> 0 is a table constraint
    with pytest.raises(Exception), engine.begin() as conn:
        bulk_insert(conn, POSTINGS, POSTING_COLUMNS, lines)
    with engine.connect() as conn:
        assert conn.execute(select(POSTINGS.c.entry_seq)).all() == []


def test_nothing_to_write_is_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        assert bulk_insert(conn, ENTRIES, ENTRY_COLUMNS, []) == 0
    assert stored(engine) == []


def test_the_collector_is_paused_only_inside_and_restored() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the outer block decides when it comes back
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failing write")
    assert gc.isenabled()


def test_a_large_append_reads_back_exactly(engine: Engine) -> None:
    n = 2 * PER_STATEMENT + 5
    drafts = [EntryDraft(date(2024, 3, 1 + i % 5), f"accrual {i}", (
        Posting(Acct.INTEREST_RECEIVABLE, 100 + i, "CNY", f"L{i % 7}" if i % 4 else None),
        Posting(Acct.INTEREST_INCOME, -100 - i, "CNY", f"L{i % 7}" if i % 4 else None)),
        event_key=f"k{i}" if i % 2 else None, loan_id=f"L{i % 7}" if i % 4 else None)
        for i in range(n)]
    with session_factory(engine).begin() as session:
        sealed = LedgerRepository(session).append(drafts)
    assert gc.isenabled()
    with session_factory(engine)() as session:
        repo = LedgerRepository(session)
        assert list(repo.entries()) == sealed
        assert repo.verify() == n


def test_a_key_posted_before_leaves_the_callers_transaction_usable(engine: Engine) -> None:
    """The event key found by the unique index mid-write: nothing of that append stays, and the
    work before and after it in the same transaction commits."""
    def accrual(i: int, key: str) -> EntryDraft:
        return EntryDraft(date(2024, 3, 1), f"accrual {i}", (
            Posting(Acct.INTEREST_RECEIVABLE, 10 + i, "CNY", "L1"),
            Posting(Acct.INTEREST_INCOME, -10 - i, "CNY", "L1")), event_key=key, loan_id="L1")

    with session_factory(engine).begin() as session:
        LedgerRepository(session).append([accrual(1, "a")])
    with session_factory(engine).begin() as session:
        repo = LedgerRepository(session)
        repo.append([accrual(2, "b")])
        with pytest.raises(IdempotencyConflict, match="'a' was already posted as entry 1"):
            repo.append([accrual(3, "c"), accrual(4, "a")])
        repo.append([accrual(5, "c")])
    with session_factory(engine)() as session:
        repo = LedgerRepository(session)
        assert [(e.seq, e.event_key, e.description) for e in repo.entries()] == [
            (1, "a", "accrual 1"), (2, "b", "accrual 2"), (3, "c", "accrual 5")]
        assert repo.verify() == 3
        assert repo.trial_balance() == {"CNY": 0}
