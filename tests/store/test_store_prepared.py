"""A prepared statement writes and reads exactly what SQLAlchemy's own execution would."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Iterator

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from puhui.store.models import UTCDateTime
from puhui.store.prepared import DEFERRED_WRITES, PreparedStatement

META = MetaData()
NOTES = Table("prepared_notes", META,
              Column("note_id", String(16), primary_key=True),
              Column("amount", BigInteger, nullable=False),
              Column("paid", Boolean, nullable=False),
              Column("due_on", Date),
              Column("at", UTCDateTime(), nullable=False),
              Column("body", Text))
INSERT = PreparedStatement(insert(NOTES))
BY_ID = PreparedStatement(select(NOTES).where(NOTES.c.note_id == bindparam("id")))
ALL = PreparedStatement(select(NOTES.c.note_id, NOTES.c.at).order_by(NOTES.c.note_id))
PAY = PreparedStatement(update(NOTES).where(NOTES.c.note_id == bindparam("id"))
                        .values(paid=bindparam("paid")))
BEIJING = timezone(timedelta(hours=8))


def note(note_id: str, **changes) -> dict:
    values = {"note_id": note_id, "amount": 12_345_678_901, "paid": False,
              "due_on": date(2026, 2, 28), "at": datetime(2026, 3, 1, 9, 30, 0, 123456, BEIJING),
              "body": "还款提醒 ✓"}
    return {**values, **changes}


@pytest.fixture
def notes(engine: Engine) -> Iterator[Engine]:
    META.create_all(engine)
    yield engine


def test_written_and_read_back_as_sqlalchemy_would(notes: Engine) -> None:
    with notes.begin() as conn:
        INSERT.execute(conn, note("N1"))
        conn.execute(NOTES.insert(), note("N2", due_on=None, body=None, paid=True))
    with notes.connect() as conn:
        mine = [tuple(BY_ID.first(conn, {"id": i})) for i in ("N1", "N2")]
        theirs = [tuple(conn.execute(BY_ID.statement, {"id": i}).one()) for i in ("N1", "N2")]
    assert mine == theirs
    first = mine[0]
    assert first[4] == note("N1")["at"] and first[4].tzinfo == timezone.utc
    assert first[1] == 12_345_678_901 and first[2] is False and first[3] == date(2026, 2, 28)
    assert first[5] == "还款提醒 ✓"


def test_rows_by_name_and_position(notes: Engine) -> None:
    with notes.begin() as conn:
        INSERT.execute(conn, [note("N2"), note("N1")])
    with notes.connect() as conn:
        rows = ALL.rows(conn)
        assert [r.note_id for r in rows] == ["N1", "N2"] and rows[0][0] == "N1"
        assert rows[0]._asdict() == {"note_id": "N1", "at": note("N1")["at"]}
        assert BY_ID.first(conn, {"id": "none"}) is None


def test_many_rows_at_once_and_none_at_all(notes: Engine) -> None:
    with notes.begin() as conn:
        assert INSERT.execute(conn, []) == 0
        INSERT.execute(conn, [note(f"N{i}") for i in range(5)])
    with notes.connect() as conn:
        assert [r.note_id for r in ALL.rows(conn)] == [f"N{i}" for i in range(5)]


def test_an_update_says_how_many_rows_it_changed(notes: Engine) -> None:
    with notes.begin() as conn:
        INSERT.execute(conn, note("N1"))
        assert PAY.execute(conn, {"id": "N1", "paid": True}) == 1
        assert PAY.execute(conn, {"id": "none", "paid": True}) == 0
    with notes.connect() as conn:
        assert BY_ID.first(conn, {"id": "N1"}).paid is True


def test_a_driver_error_is_sqlalchemys_and_the_transaction_keeps_nothing(notes: Engine) -> None:
    with pytest.raises(IntegrityError), notes.begin() as conn:
        INSERT.execute(conn, note("N1"))
        INSERT.execute(conn, note("N1"))
    with notes.connect() as conn:
        assert ALL.rows(conn) == []


def test_a_missing_parameter_is_refused_by_sqlalchemy(notes: Engine) -> None:
    """Not every parameter given: the statement takes SQLAlchemy's own path, which says what is
    missing."""
    with pytest.raises(StatementError, match="id"), notes.connect() as conn:
        BY_ID.rows(conn, {})


def test_a_connection_outside_a_transaction_gets_one(notes: Engine) -> None:
    """Never autocommitted behind SQLAlchemy's back: closing without commit keeps nothing."""
    with notes.connect() as conn:
        INSERT.execute(conn, note("N1"))
        assert conn.in_transaction()
    with notes.connect() as conn:
        assert ALL.rows(conn) == []


def test_a_sessions_pending_objects_are_flushed_first(notes: Engine) -> None:
    """As the session's own execute would: the statement sees what the session added."""
    class Note:
        pass

    from sqlalchemy.orm import registry

    mapper = registry().map_imperatively(Note, NOTES)
    try:
        with Session(notes) as session:
            pending = Note()
            for name, value in note("N1").items():
                setattr(pending, name, value)
            session.add(pending)
            assert BY_ID.first(session, {"id": "N1"}).note_id == "N1"
    finally:
        mapper.registry.dispose()


def test_a_session_that_defers_its_writes_gets_them_instead(notes: Engine) -> None:
    kept: list = []
    with Session(notes) as session:
        session.info[DEFERRED_WRITES] = lambda statement, params: kept.append((statement, params))
        assert INSERT.execute(session, note("N1")) == -1
        assert ALL.rows(session) == []
    assert kept == [(INSERT, note("N1"))]


def test_rows_of_a_write_is_refused_before_it_runs(notes: Engine) -> None:
    with notes.begin() as conn, pytest.raises(TypeError, match="not a query"):
        INSERT.rows(conn, note("N1"))
    with notes.connect() as conn:
        assert ALL.rows(conn) == []
