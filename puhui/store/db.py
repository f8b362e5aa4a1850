"""Engines, sessions and schema migrations for the durable store.

Puhui runs on SQLite (one file, for a laptop or a small lender) and on PostgreSQL (for a real
book).  Both are configured here so every caller gets the same guarantees: foreign keys on,
UTC timestamps, and writers that serialize instead of interleaving the ledger's hash chain.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from puhui.errors import PuhuiError
from puhui.store import faults

ENV_VAR = "PUHUI_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///var/puhui.sqlite"
MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
MIGRATION_LOCK_ID = 0x70756875  # "puhu": the advisory lock concurrent migrators queue on
#: How long a SQLite writer waits for another writer before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: The execution option set on a `make_engine(read_only=True)` engine.
READ_ONLY = "puhui_read_only"
#: Page cache per SQLite connection, in KiB (the default 2 MiB thrashes on the hash index).
SQLITE_CACHE_KIB = 65_536


def database_url() -> str:
    """The configured database URL: `PUHUI_DATABASE_URL`, else a SQLite file under `var/`."""
    url = os.environ.get(ENV_VAR, "").strip() or DEFAULT_DATABASE_URL
    _ensure_sqlite_dir(_parse(url))
    return url


def _parse(url: str | URL) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise PuhuiError(f"not a database URL: {url!r}") from None


def _ensure_sqlite_dir(url: URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str | URL | None = None, *, sqlite_begin: str = "IMMEDIATE",
                read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for SQLite or PostgreSQL (psycopg 3) with Puhui's connection settings.

    On SQLite every transaction starts with `BEGIN IMMEDIATE` (it holds the single write lock);
    a read-only engine for reports may pass ``sqlite_begin="DEFERRED"`` so long reads such as a
    full ledger verification never hold writers up.  `read_only` (SQLite): every connection
    refuses writes (``PRAGMA query_only``), and the engine's execution option `READ_ONLY` says so.
    """
    parsed = _parse(url if url is not None else database_url())
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if sqlite_begin not in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
            raise PuhuiError(f"sqlite_begin must be IMMEDIATE, DEFERRED or EXCLUSIVE, "
                             f"not {sqlite_begin!r}")
        if read_only:
            kwargs["execution_options"] = {**kwargs.get("execution_options", {}),
                                           READ_ONLY: True}
        return _sqlite_engine(parsed, sqlite_begin, read_only, **kwargs)
    if read_only:
        raise PuhuiError("read_only engines are for SQLite; PostgreSQL reads share the engine")
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return faults.install(create_engine(parsed, pool_pre_ping=True, **kwargs))
    raise PuhuiError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")


def _sqlite_engine(url: URL, begin: str, read_only: bool, **kwargs: Any) -> Engine:
    _ensure_sqlite_dir(url)
    in_memory = url.database in (None, "", ":memory:")
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the driver so BEGIN is ours (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")  # index pages of a large ledger
        if not in_memory:
            cur.execute("PRAGMA journal_mode = WAL")  # readers never block the writer
            cur.execute("PRAGMA synchronous = FULL")  # a committed entry survives power loss
            # checkpoint every 64 MiB of WAL, not 4 MiB: a nightly batch rewrites the same index
            # pages in commit after commit, and each checkpoint copies them into the file again
            cur.execute("PRAGMA wal_autocheckpoint = 16384")
        if read_only:
            cur.execute("PRAGMA query_only = ON")  # last: the settings above may write
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: two appenders queue on busy_timeout instead
        # of both reading the same ledger head and one failing at its first write.  Sent on the
        # driver's connection: SQLAlchemy's statement machinery cost more than BEGIN itself, and
        # every request opens two or three transactions.
        statement = f"BEGIN {begin}"
        try:
            conn.connection.driver_connection.execute(statement)
        except sqlite3.Error as exc:  # raised as SQLAlchemy raises any statement's error
            raise faults.typed(DBAPIError.instance(statement, None, exc, sqlite3.Error,
                                                   dialect=conn.dialect)) from exc

    return faults.install(engine)


def reader_for(engine: Engine) -> Engine:
    """The engine reads use beside `engine`: on SQLite one of their own that begins DEFERRED
    (a page of loans or an API key lookup never queues behind the single writer) and refuses
    writes; on PostgreSQL `engine` itself."""
    if engine.dialect.name == "sqlite":
        return make_engine(engine.url, sqlite_begin="DEFERRED", read_only=True)
    return engine


def single_writer(engine: Engine) -> bool:
    """Whether the database admits one writer at a time (SQLite): work that only inserts is
    then best planned (`puhui.store.planned`), reading outside the write lock."""
    return engine.dialect.name == "sqlite"


def ping(session: Session) -> None:
    """One trivial round trip: the database answers (a `StorageUnavailable` if not)."""
    session.connection().exec_driver_sql("SELECT 1")


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A session for reading only: its transaction begins at its first statement and is
    rolled back when the block ends (closing the session); nothing it does is committed."""
    with Session(engine) as session:
        yield session


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction on `engine`, for work outside the platform's units (key
    rotation): it begins on entry, commits when the block ends normally and rolls back if it
    raises; the block itself never commits."""
    with Session(engine) as session, session.begin():
        yield session


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (repositories return plain values)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic configuration built in code: no alembic.ini is needed to migrate."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def migrate(url: str | URL | Engine | None = None, revision: str = "head") -> None:
    """Bring the database at `url` (default: `database_url()`) up to `revision`."""
    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        cfg = alembic_config()
        with _sqlite_migration_lock(engine), engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # two processes starting at once take turns
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        if engine is not url:
            engine.dispose()


@contextlib.contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """Two processes migrating one new SQLite file take turns: switching it to WAL on first
    connect needs the file to itself, which SQLite's busy timeout does not wait for."""
    path = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def require_existing(url: str | URL | None = None) -> str:
    """The URL of a database that exists and carries Puhui's schema; `PuhuiError` otherwise.

    Why: a command that only reads a book must never create one.  Opened the usual way (which
    migrates), a mistyped SQLite path became a new, empty book that verified as "balanced".
    SQLite files are probed read-only (nothing is created or switched to WAL).
    """
    text = os.environ.get(ENV_VAR, "").strip() or DEFAULT_DATABASE_URL if url is None else url
    parsed = _parse(text)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise PuhuiError("an in-memory SQLite database holds no book to read")
        path = Path(parsed.database).expanduser()
        if not path.is_file():
            raise PuhuiError(f"no database at {path}: check the path (nothing was created)")
        try:
            with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                    uri=True)) as conn:
                found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                     "AND name = 'alembic_version'").fetchone()
                revision = conn.execute("SELECT version_num FROM alembic_version").fetchone() \
                    if found else None
        except sqlite3.Error as exc:
            raise PuhuiError(f"{path} is not a readable Puhui database: {exc}") from None
    else:
        engine = make_engine(parsed)
        try:
            revision = current_revision(engine)
        except DBAPIError as exc:
            raise PuhuiError(f"cannot open the database {shown}: {exc.orig}") from None
        finally:
            engine.dispose()
    if revision is None:
        raise PuhuiError(f"{shown} has no Puhui schema: it is not a loan book (create one with "
                         f"`puhui run`, `puhui simulate` or `puhui serve`)")
    return text if isinstance(text, str) else parsed.render_as_string(hide_password=False)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version of Puhui."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def discard_sqlite_file(url: str) -> None:
    """Delete a SQLite database file and its journal files (a command's `--fresh` start); a
    URL of another database is left alone."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)
