"""Migrations, connection settings and the database-level rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from puhui.errors import PuhuiError
from puhui.ledger.accounts import CHART
from puhui.ledger.journal import GENESIS_HASH, EntryDraft, Posting
from puhui.store.db import (
    alembic_config,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    migrate,
    session_factory,
)
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.loan_repo import LoanEventRepository
from puhui.store.models import Base, table_names


def test_migrate_builds_the_schema_and_is_idempotent(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)  # a second run is a no-op
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision() == "0001"
        assert set(table_names()) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            accounts = {code: kind for code, kind in
                        conn.execute(text("SELECT code, type FROM accounts"))}
            head = conn.execute(text("SELECT id, last_seq, last_hash FROM ledger_head")).all()
        assert accounts == {code: a.type.value for code, a in CHART.items()}
        assert [tuple(r) for r in head] == [(1, 0, GENESIS_HASH)]
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert not set(table_names()) & set(inspect(engine).get_table_names())
        migrate(engine)
        assert current_revision(engine) == "0001"
    finally:
        engine.dispose()


def test_concurrent_migrations_take_turns(db_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(db_url)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_a_deferred_sqlite_reader_does_not_hold_writers_up(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    migrate(url)
    reader, writer = make_engine(url, sqlite_begin="DEFERRED"), make_engine(url)
    funding = EntryDraft(date(2024, 1, 2), "funding", (Posting("1001", 5), Posting("3001", -5)))
    try:
        with session_factory(reader)() as r:
            assert LedgerRepository(r).verify() == 0  # a read transaction stays open...
            started = time.monotonic()
            with session_factory(writer).begin() as w:  # ...and the writer does not wait for it
                LedgerRepository(w).append([funding])
            assert time.monotonic() - started < 5
            assert LedgerRepository(r).head()[0] == 0  # the reader keeps its snapshot
    finally:
        reader.dispose()
        writer.dispose()
    with pytest.raises(PuhuiError, match="sqlite_begin"):
        make_engine(url, sqlite_begin="LATER")


def test_models_match_the_migrations(engine: Engine) -> None:
    """The typed models and the hand-written migration describe the same schema."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)
    assert diff == []


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert (conn.execute(text("PRAGMA busy_timeout")).scalar() or 0) >= 1000
    finally:
        engine.dispose()


def test_database_url_defaults_to_a_sqlite_file_under_var(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PUHUI_DATABASE_URL", raising=False)
    assert database_url() == "sqlite:///var/puhui.sqlite"
    assert (tmp_path / "var").is_dir()
    monkeypatch.setenv("PUHUI_DATABASE_URL", "postgresql://u@h/db")
    assert database_url() == "postgresql://u@h/db"


def test_postgres_urls_use_psycopg_and_other_backends_are_refused() -> None:
    assert make_engine("postgresql://u@localhost/db").dialect.driver == "psycopg"
    with pytest.raises(PuhuiError, match="unsupported database"):
        make_engine("mysql://u@localhost/db")
    with pytest.raises(PuhuiError, match="not a database URL"):
        make_engine("var/puhui.sqlite")


def test_naive_timestamps_are_refused(session) -> None:
    repo = LoanEventRepository(session)
    repo.create_loan("L1", "CNY", "{}", "pending")
    loans = Base.metadata.tables["loans"]
    with pytest.raises(StatementError, match="timezone-aware"):
        session.execute(loans.update().values(updated_at=datetime(2024, 1, 1)))


def test_timestamps_come_back_in_utc(session) -> None:
    record = LoanEventRepository(session).create_loan("L1", "CNY", "{}", "pending")
    session.commit()
    stored = LoanEventRepository(session).get_loan("L1")
    assert stored is not None and stored.created_at == record.created_at
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timezone.utc.utcoffset(None)


APPEND_ONLY_STATEMENTS = [
    "UPDATE journal_entries SET description = 'edited'",
    "DELETE FROM journal_entries",
    "UPDATE journal_postings SET amount = amount * 2",
    "DELETE FROM journal_postings",
    "UPDATE loan_events SET payload = '{}'",
    "DELETE FROM loan_events",
]


@pytest.mark.parametrize("statement", APPEND_ONLY_STATEMENTS)
def test_history_tables_refuse_update_and_delete(engine: Engine, statement: str) -> None:
    with session_factory(engine).begin() as session:
        LedgerRepository(session).append([EntryDraft(date(2024, 1, 2), "funding", (
            Posting("1001", 500, "CNY"), Posting("3001", -500, "CNY")))])
        loans = LoanEventRepository(session)
        loans.create_loan("L1", "CNY", "{}", "pending")
        loans.append_event("L1", "k1", "disbursement", date(2024, 1, 2), {"principal": 500})
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))


@pytest.mark.postgres
def test_postgres_refuses_an_unbalanced_entry_at_commit(pg_engine: Engine) -> None:
    """Raw SQL bypassing the repository still cannot commit an unbalanced entry."""
    insert_entry = text(
        "INSERT INTO journal_entries (seq, booking_date, created_at, description, prev_hash, hash)"
        " VALUES (1, '2024-01-02', now(), 'raw', :zero, :h)")
    insert_posting = text("INSERT INTO journal_postings (entry_seq, line_no, account, currency,"
                          " amount) VALUES (1, :n, :account, 'CNY', :amount)")
    with pg_engine.connect() as conn:
        conn.execute(insert_entry, {"zero": GENESIS_HASH, "h": "f" * 64})
        conn.execute(insert_posting, {"n": 1, "account": "1001", "amount": 500})
        conn.execute(insert_posting, {"n": 2, "account": "3001", "amount": -499})
        with pytest.raises(IntegrityError, match="does not balance"):
            conn.commit()
    with pg_engine.connect() as conn:  # nothing was kept
        assert conn.execute(text("SELECT count(*) FROM journal_postings")).scalar() == 0
        conn.execute(insert_entry, {"zero": GENESIS_HASH, "h": "f" * 64})
        conn.execute(insert_posting, {"n": 1, "account": "1001", "amount": 500})
        conn.execute(insert_posting, {"n": 2, "account": "3001", "amount": -500})
        conn.commit()  # the balanced version is accepted


@pytest.mark.postgres
def test_postgres_refuses_a_posting_added_to_a_committed_entry(pg_engine: Engine) -> None:
    with session_factory(pg_engine).begin() as session:
        LedgerRepository(session).append([EntryDraft(date(2024, 1, 2), "funding", (
            Posting("1001", 500, "CNY"), Posting("3001", -500, "CNY")))])
    with pytest.raises(IntegrityError, match="does not balance"):
        with pg_engine.begin() as conn:
            conn.execute(text("INSERT INTO journal_postings (entry_seq, line_no, account, currency,"
                              " amount) VALUES (1, 3, '1001', 'CNY', 1)"))
