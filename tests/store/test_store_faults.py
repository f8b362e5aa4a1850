"""The database's refusals reach the services and the API as Puhui's typed storage errors,
and are still SQLAlchemy's own for code that catches those."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from puhui.book import LoanBook
from puhui.errors import StorageUnavailable, WriteConflict
from puhui.services.platform import Platform
from puhui.store import key_repo
from puhui.store.platform_models import ApiKeyRow
from puhui.store.prepared import PreparedStatement

AT = datetime(2026, 3, 1, tzinfo=timezone.utc)
INSERT_KEY = PreparedStatement(insert(ApiKeyRow.__table__))


def key(key_id: str = "K1") -> dict:
    return {"key_id": key_id, "secret_hash": "0" * 64, "name": "n", "role": "admin",
            "scopes": "[]", "subject": None, "created_at": AT, "revoked_at": None}


def test_a_constraint_is_a_write_conflict_by_every_path(engine: Engine) -> None:
    with engine.begin() as conn:
        INSERT_KEY.execute(conn, key())
    # a Core statement, a prepared statement (the driver's own cursor on SQLite), an ORM flush
    for write in (lambda conn: conn.execute(insert(ApiKeyRow.__table__), key()),
                  lambda conn: INSERT_KEY.execute(conn, key())):
        with engine.connect() as conn, pytest.raises(WriteConflict) as caught:
            write(conn)
        assert isinstance(caught.value, IntegrityError)  # what the store's own code catches
    with Session(engine) as session, pytest.raises(WriteConflict):
        key_repo.add(session, **key())


def test_a_busy_or_missing_database_is_unavailable(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn, pytest.raises(StorageUnavailable) as caught:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert isinstance(caught.value, OperationalError)


def test_a_platform_types_the_errors_of_an_engine_made_elsewhere(tmp_path) -> None:
    from puhui.store.db import migrate

    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    migrate(url)
    engine = create_engine(url)
    platform = Platform(engine=engine, book=LoanBook(engine))
    try:
        with platform.unit() as session:
            key_repo.add(session, **key())
        with pytest.raises(WriteConflict), platform.unit() as session:
            key_repo.add(session, **key())
    finally:
        platform.close()
