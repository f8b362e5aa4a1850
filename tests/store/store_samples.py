"""Helpers for store tests that need to get around the database's own protections."""

from __future__ import annotations

from sqlalchemy import Connection, text


def drop_append_only(conn: Connection, table: str) -> None:
    """Remove the triggers that refuse UPDATE/DELETE on `table` (what an attacker would do)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))
    else:
        conn.execute(text(f"DROP TRIGGER {table}_no_update"))
        conn.execute(text(f"DROP TRIGGER {table}_no_delete"))
