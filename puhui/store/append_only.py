"""Append-only tables, enforced by the database: the DDL every migration that adds one runs.

Evidence (journal entries, loan events, identity checks, consents, offers, payloads, decision
records) is never edited: corrections are new rows.  Code already only inserts; these triggers
make an UPDATE or DELETE through any other path (a console, a bad script) fail as well.
PostgreSQL refuses TRUNCATE too, through the `puhui_append_only()` function of revision 0001.
"""

from __future__ import annotations

from typing import Iterable

from alembic import op


def protect(tables: Iterable[str]) -> None:
    """Make each of `tables` append-only on the migrating connection's database."""
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION puhui_append_only()")
        return
    for table in tables:
        for action in ("UPDATE", "DELETE"):
            message = f"{table} is append-only: {action} refused"
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
