"""Alembic environment: run migrations on the connection `puhui.store.db.migrate` hands over.

Run from the alembic command line (maintainers only), it connects to `PUHUI_DATABASE_URL`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from puhui.store.db import database_url, make_engine
from puhui.store.models import TRIGGER_CHECKED_ON_POSTGRESQL, Base

config = context.config
target_metadata = Base.metadata


def _compared(postgres: bool):
    """Autogenerate must not propose foreign keys PostgreSQL enforces by trigger (0002)."""
    def include(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001 - alembic hook
        return not (postgres and type_ == "foreign_key_constraint"
                    and name in TRIGGER_CHECKED_ON_POSTGRESQL)
    return include


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_compared(connection.dialect.name == "postgresql"),
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url") or database_url(),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or None)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
