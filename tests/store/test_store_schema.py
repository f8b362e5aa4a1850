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
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, StatementError

from puhui.errors import PuhuiError
from puhui.ledger.accounts import CHART
from puhui.ledger.journal import GENESIS_HASH, EntryDraft, Posting
from puhui.store.db import (
    READ_ONLY,
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
from puhui.store.models import TRIGGER_CHECKED_ON_POSTGRESQL, Base, table_names


def test_migrate_builds_the_schema_and_is_idempotent(empty_db_url: str) -> None:
    migrate(empty_db_url)
    migrate(empty_db_url)  # a second run is a no-op
    engine = make_engine(empty_db_url)
    try:
        assert current_revision(engine) == head_revision() is not None
        assert set(table_names()) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            accounts = {code: kind for code, kind in
                        conn.execute(text("SELECT code, type FROM accounts"))}
            head = conn.execute(text("SELECT id, last_seq, last_hash FROM ledger_head")).all()
        assert accounts == {code: a.type.value for code, a in CHART.items()}
        assert [tuple(r) for r in head] == [(1, 0, GENESIS_HASH)]
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_again(empty_db_url: str) -> None:
    migrate(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert not set(table_names()) & set(inspect(engine).get_table_names())
        migrate(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def _pg_triggers(conn) -> set[str]:
    return set(conn.execute(text(
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
        "AND tgrelid IN ('journal_postings'::regclass, 'accounts'::regclass)")).scalars())


def test_statement_checks_downgrade_to_the_row_checks_and_back(empty_db_url: str) -> None:
    """0002 down restores 0001's deferred per-row trigger and foreign keys; up replaces them."""
    migrate(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        post = EntryDraft(date(2024, 1, 2), "funding", (Posting("1001", 5), Posting("3001", -5)))
        with session_factory(engine).begin() as session:
            LedgerRepository(session).append([post])
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        assert current_revision(engine) == "0001"
        fks = {fk["name"] for fk in inspect(engine).get_foreign_keys("journal_postings")}
        assert fks == TRIGGER_CHECKED_ON_POSTGRESQL
        columns = {c["name"] for c in inspect(engine).get_columns("journal_entries")}
        assert not {"attests_kind", "attests_ref", "attests_sha256"} & columns
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                assert _pg_triggers(conn) == {"journal_postings_append_only",
                                              "journal_postings_balanced"}
                conn.execute(RAW_ENTRY, {"seq": 2, "zero": GENESIS_HASH, "h": "f" * 64})
                conn.execute(*raw_postings((2, 1, "1001", 5)))  # 0001 checks at commit
                with pytest.raises(IntegrityError, match="does not balance"):
                    conn.commit()
        with pytest.raises(DBAPIError, match="append-only"):  # and history is still protected
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM journal_entries"))
        migrate(engine)
        assert current_revision(engine) == head_revision()
        if engine.dialect.name == "postgresql":
            assert not inspect(engine).get_foreign_keys("journal_postings")
            with engine.connect() as conn:
                assert _pg_triggers(conn) == {
                    "journal_postings_append_only", "journal_postings_checked",
                    "accounts_permanent", "accounts_code_unchanged"}
        with session_factory(engine).begin() as session:
            repo = LedgerRepository(session)
            repo.append([post])
            assert repo.verify() == 2
    finally:
        engine.dispose()


def test_concurrent_migrations_take_turns(empty_db_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(empty_db_url)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    engine = make_engine(empty_db_url)
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


def test_a_sqlite_writer_that_cannot_begin_gets_sqlalchemys_error(tmp_path, monkeypatch) -> None:
    """BEGIN goes to the driver directly; a busy database still raises SQLAlchemy's
    OperationalError (which the API answers as 503), not the driver's."""
    import sqlite3

    from puhui.store import db

    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    migrate(url)
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(tmp_path / "x.sqlite", isolation_level=None)
    engine = make_engine(url)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"):
            with engine.begin() as conn:
                conn.exec_driver_sql("SELECT 1")
        holder.execute("ROLLBACK")
        with engine.begin() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        holder.close()
        engine.dispose()


def test_a_read_only_sqlite_engine_refuses_writes_and_says_so(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    migrate(url)
    reader = make_engine(url, sqlite_begin="DEFERRED", read_only=True)
    try:
        with reader.connect() as conn:
            assert conn.get_execution_options()[READ_ONLY] is True
            assert conn.exec_driver_sql("SELECT count(*) FROM ledger_head").scalar() == 1
            with pytest.raises(OperationalError, match="readonly"):
                conn.exec_driver_sql("UPDATE ledger_head SET last_seq = last_seq")
    finally:
        reader.dispose()
    with pytest.raises(PuhuiError, match="for SQLite"):
        make_engine("postgresql://nobody@127.0.0.1:1/none", read_only=True)


def test_models_match_the_migrations(engine: Engine) -> None:
    """The typed models and the hand-written migration describe the same schema.

    On PostgreSQL two foreign keys of journal_postings are checked by the ledger's statement
    trigger instead of as constraints (tests/store/test_store_ledger.py shows they still hold).
    """
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)
    if engine.dialect.name == "postgresql":
        trigger_checked = [d for d in diff if d[0] == "add_fk"
                           and d[1].name in TRIGGER_CHECKED_ON_POSTGRESQL]
        assert len(trigger_checked) == 2
        diff = [d for d in diff if d not in trigger_checked]
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


RAW_ENTRY = text(
    "INSERT INTO journal_entries (seq, booking_date, created_at, description, prev_hash, hash)"
    " VALUES (:seq, '2024-01-02', CURRENT_TIMESTAMP, 'raw', :zero, :h)")


def raw_postings(*lines: tuple[int, int, str, int]) -> tuple:
    """One INSERT statement writing `lines` of (entry_seq, line_no, account, amount) in CNY."""
    values = ", ".join(f"(:e{i}, :n{i}, :a{i}, 'CNY', :m{i})" for i in range(len(lines)))
    params = {}
    for i, (seq, n, account, amount) in enumerate(lines):
        params.update({f"e{i}": seq, f"n{i}": n, f"a{i}": account, f"m{i}": amount})
    return (text("INSERT INTO journal_postings (entry_seq, line_no, account, currency, amount)"
                 f" VALUES {values}"), params)


@pytest.mark.parametrize("lines, message", [
    ([(1, 1, "9999", 5), (1, 2, "3001", -5)], "account 9999 is not in the chart"),
    ([(2, 1, "1001", 5), (2, 2, "3001", -5)], "journal entry 2 does not exist"),
])
def test_postings_must_name_known_accounts_and_entries(engine: Engine, lines, message) -> None:
    """The database itself refuses them (foreign keys on SQLite, the statement check on
    PostgreSQL), whatever code writes them."""
    if engine.dialect.name != "postgresql":
        message = "FOREIGN KEY constraint failed"
    with pytest.raises(IntegrityError, match=message):
        with engine.begin() as conn:
            conn.execute(RAW_ENTRY, {"seq": 1, "zero": GENESIS_HASH, "h": "f" * 64})
            conn.execute(*raw_postings(*lines))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM journal_postings")).scalar() == 0


@pytest.mark.postgres
def test_postgres_refuses_an_unbalanced_statement(pg_engine: Engine) -> None:
    """Raw SQL bypassing the repository still cannot store an unbalanced entry: the check runs
    when each INSERT (or COPY) into journal_postings ends, so an entry's postings are written by
    one statement."""
    entry = {"seq": 1, "zero": GENESIS_HASH, "h": "f" * 64}
    for lines in ([(1, 1, "1001", 500)],                          # one-sided
                  [(1, 1, "1001", 500), (1, 2, "3001", -499)]):  # off by one
        with pg_engine.connect() as conn:
            conn.execute(RAW_ENTRY, entry)
            with pytest.raises(IntegrityError, match="journal entry 1 does not balance"):
                conn.execute(*raw_postings(*lines))
    with pg_engine.connect() as conn:  # nothing was kept
        assert conn.execute(text("SELECT count(*) FROM journal_entries")).scalar() == 0
        conn.execute(RAW_ENTRY, entry)
        conn.execute(*raw_postings((1, 1, "1001", 500), (1, 2, "3001", -500)))
        # more balanced lines for an entry this transaction created are still accepted
        conn.execute(*raw_postings((1, 3, "1301", 70), (1, 4, "1001", -70)))
        with pytest.raises(IntegrityError, match="does not balance: 1 CNY off"):
            conn.execute(*raw_postings((1, 5, "1001", 1)))
        conn.rollback()
    with pg_engine.connect() as conn:
        conn.execute(RAW_ENTRY, entry)
        conn.execute(*raw_postings((1, 1, "1001", 500), (1, 2, "3001", -500)))
        conn.commit()  # the balanced version is accepted
        assert conn.execute(text("SELECT sum(amount) FROM journal_postings")).scalar() == 0


@pytest.mark.postgres
@pytest.mark.parametrize("lines", [
    [(1, 3, "1001", 1)],                          # unbalanced
    [(1, 3, "1001", 1), (1, 4, "3001", -1)],      # balanced: still refused
])
def test_postgres_refuses_a_posting_added_to_a_committed_entry(pg_engine: Engine, lines) -> None:
    with session_factory(pg_engine).begin() as session:
        LedgerRepository(session).append([EntryDraft(date(2024, 1, 2), "funding", (
            Posting("1001", 500, "CNY"), Posting("3001", -500, "CNY")))])
    with pytest.raises(IntegrityError, match="entry 1 was not created by this transaction"):
        with pg_engine.begin() as conn:
            conn.execute(*raw_postings(*lines))
    with session_factory(pg_engine)() as session:
        assert LedgerRepository(session).verify() == 1


@pytest.mark.postgres
def test_postgres_postings_need_an_entry_of_this_transaction(pg_engine: Engine) -> None:
    """A posting for a missing entry, or for another session's uncommitted one, is refused."""
    with pytest.raises(IntegrityError, match="journal entry 7 does not exist"):
        with pg_engine.begin() as conn:
            conn.execute(*raw_postings((7, 1, "1001", 5), (7, 2, "3001", -5)))
    with pg_engine.connect() as other, pg_engine.connect() as conn:
        other.execute(RAW_ENTRY, {"seq": 1, "zero": GENESIS_HASH, "h": "f" * 64})
        with pytest.raises(IntegrityError, match="journal entry 1 does not exist"):
            conn.execute(*raw_postings((1, 1, "1001", 5), (1, 2, "3001", -5)))
    # An entry committed by a transaction that started after ours is not ours either.
    with pg_engine.connect() as conn, pg_engine.connect() as later:
        conn.execute(text("SELECT pg_current_xact_id()"))  # ours is now the older transaction
        later.execute(RAW_ENTRY, {"seq": 1, "zero": GENESIS_HASH, "h": "f" * 64})
        later.execute(*raw_postings((1, 1, "1001", 5), (1, 2, "3001", -5)))
        later.commit()
        with pytest.raises(IntegrityError, match="entry 1 was not created by this transaction"):
            conn.execute(*raw_postings((1, 3, "1001", 5), (1, 4, "3001", -5)))


@pytest.mark.postgres
def test_postgres_savepoints_belong_to_the_transaction(pg_engine: Engine) -> None:
    """Entries created inside savepoints (subtransactions) take their postings like any other."""
    funding = EntryDraft(date(2024, 1, 2), "funding", (Posting("1001", 5), Posting("3001", -5)))
    with session_factory(pg_engine).begin() as session:
        repo = LedgerRepository(session)
        with session.begin_nested():
            repo.append([funding])
        with session.begin_nested():
            session.execute(RAW_ENTRY, {"seq": 2, "zero": repo.head()[1], "h": "f" * 64})
            with session.begin_nested():
                session.execute(*raw_postings((2, 1, "1001", 9), (2, 2, "3001", -9)))
        with pytest.raises(IntegrityError, match="does not balance"):
            with session.begin_nested():
                session.execute(*raw_postings((1, 3, "1001", 9)))
    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM journal_postings")).scalar() == 4


@pytest.mark.postgres
@pytest.mark.parametrize("statement", [
    "DELETE FROM accounts WHERE code = '6701'",
    "TRUNCATE accounts",
    "UPDATE accounts SET code = '1009' WHERE code = '1001'",
])
def test_postgres_chart_codes_are_permanent(pg_engine: Engine, statement: str) -> None:
    """With postings checked by trigger instead of foreign key, no known code can disappear."""
    with pytest.raises(IntegrityError, match="chart codes are permanent"):
        with pg_engine.begin() as conn:
            conn.execute(text(statement))
    with pg_engine.begin() as conn:  # names may still be corrected
        conn.execute(text("UPDATE accounts SET name = 'Cash at bank' WHERE code = '1001'"))
        assert conn.execute(text("SELECT count(*) FROM accounts")).scalar() == len(CHART)
