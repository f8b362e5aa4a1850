"""Database fixtures shared by every test that touches the store.

`db_url` runs a test twice: against a fresh SQLite file and against a fresh PostgreSQL database
created on the server named by PUHUI_TEST_PG_URL (default: the one `make test` starts).  Each
PostgreSQL test gets its own uniquely named database, so pytest-xdist workers never collide.
Without a server, PostgreSQL cases are skipped locally but fail under CI (when `CI` is set).

Why the databases are copies: migrating an empty database to head takes 0.2 s on SQLite and
0.5 s on PostgreSQL, and about a thousand tests need one.  Each worker migrates one template
per backend, once; a test's database is a copy of it (a file copy; `CREATE DATABASE ...
TEMPLATE`), already at head, so opening a platform on it migrates nothing.  The migrations
themselves are tested from empty databases (`empty_db_url`), and every template is checked to
be at head before it is copied.
"""

from __future__ import annotations

import os
import secrets
import shutil
from typing import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from puhui.store.db import current_revision, head_revision, make_engine, migrate, session_factory

PG_URL_ENV = "PUHUI_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pg_server_url() -> URL:
    return make_url(os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the test server's maintenance database (for CREATE DATABASE)."""
    url = pg_server_url()
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable server"
        admin.dispose()
        reason = (f"no PostgreSQL at {url.render_as_string(hide_password=True)} ({exc}); "
                  f"run `bash scripts/ensure-postgres.sh` or set {PG_URL_ENV}")
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL: {reason}", pytrace=False)
        pytest.skip(reason)
    yield admin
    admin.dispose()


def _fresh_pg_database(admin: Engine, template: str | None = None) -> Iterator[str]:
    name = f"puhui_t_{os.getpid()}_{secrets.token_hex(4)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _at_head(url: str) -> None:
    """Migrate `url` and check it reached head: a template copied a thousand times must be
    right."""
    migrate(url)
    engine = make_engine(url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    assert revision == head_revision(), f"template at {revision}, head is {head_revision()}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file migrated to head, once per worker: tests take copies of it."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    _at_head(f"sqlite:///{path}")
    # the engine is disposed: the last connection closed has checkpointed the WAL into the file
    assert not path.with_name(path.name + "-wal").exists() or \
        path.with_name(path.name + "-wal").stat().st_size == 0
    return str(path)


@pytest.fixture(scope="session")
def pg_template(pg_server: Engine) -> Iterator[str]:
    """A PostgreSQL database migrated to head, once per worker: tests' databases are made
    from it (`CREATE DATABASE ... TEMPLATE`, which needs it to have no connection left)."""
    name = f"puhui_tpl_{os.getpid()}_{secrets.token_hex(4)}"
    with pg_server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _at_head(pg_server.url.set(database=name).render_as_string(hide_password=False))
        yield name
    finally:
        with pg_server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _sqlite_copy(template: str, path) -> str:
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of a fresh database at head, once per backend (a copy of the worker's template)."""
    if request.param == "sqlite":
        yield _sqlite_copy(request.getfixturevalue("sqlite_template"),
                           tmp_path / "puhui.sqlite")
    else:
        yield from _fresh_pg_database(request.getfixturevalue("pg_server"),
                                      request.getfixturevalue("pg_template"))


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of an empty database, once per backend: for the tests of the migrations."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'puhui.sqlite'}"
    else:
        yield from _fresh_pg_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def pg_url(pg_server: Engine) -> Iterator[str]:
    """URL of an empty PostgreSQL database, for PostgreSQL-only tests (mark them `postgres`)."""
    yield from _fresh_pg_database(pg_server)


def _migrated_engine(url: str) -> Iterator[Engine]:
    migrate(url)  # at head already when copied: a no-op that checks it
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head, once per backend."""
    yield from _migrated_engine(db_url)


@pytest.fixture
def sqlite_engine(tmp_path, sqlite_template: str) -> Iterator[Engine]:
    """An engine on a migrated SQLite file, for SQLite-only tests."""
    yield from _migrated_engine(_sqlite_copy(sqlite_template, tmp_path / "sqlite-only.sqlite"))


@pytest.fixture
def pg_engine(pg_server: Engine, pg_template: str) -> Iterator[Engine]:
    """A migrated PostgreSQL engine, for PostgreSQL-only tests."""
    for url in _fresh_pg_database(pg_server, pg_template):
        yield from _migrated_engine(url)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the migrated database; uncommitted work is rolled back afterwards."""
    with session_factory(engine)() as s:
        yield s


@pytest.fixture(scope="session")
def sme_registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model registry holding small-business models trained on a small synthetic world, once
    for the whole run: pytest-xdist workers share it, the first to arrive trains."""
    import fcntl

    from puhui.risk.model_registry import ModelRegistry
    from puhui.services.risk import ensure_models

    shared = tmp_path_factory.getbasetemp().parent
    root = shared / "sme-models"
    with open(shared / "sme-models.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            ensure_models(ModelRegistry(root), businesses=2_000)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return str(root)
