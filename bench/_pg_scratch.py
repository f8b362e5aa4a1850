"""A throw-away PostgreSQL database for a benchmark: created on the server at
PUHUI_TEST_PG_URL, dropped afterwards; None (and a printed line) when no server answers."""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("PUHUI_TEST_PG_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def scratch_database() -> Iterator[str | None]:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"puhui_bench_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - no server: say so and carry on
        print(f"  postgresql  not measured: no server at {PG_URL} ({type(exc).__name__})")
        admin.dispose()
        yield None
        return
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
