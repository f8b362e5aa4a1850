"""The stored answers to POSTs that carried an Idempotency-Key, and the wait for a key in use.

Two requests with one key may arrive together (a client retrying before the first answer came
back, or a load balancer duplicating a request).  The second must wait for the first and answer
as it did, not run the operation again and fail half-way (a contract already paid out would
answer 409).  On PostgreSQL the transaction takes an advisory lock on the (API key,
Idempotency-Key) pair before it looks for a stored answer: a second transaction with the same
pair waits there until the first commits or rolls back, then reads its answer (READ COMMITTED
gives each statement a fresh snapshot).  On SQLite every write transaction already holds the
writer lock from its start (`puhui/store/writer_lock.py`), which serialises them the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Union

from sqlalchemy import Connection, bindparam, insert, select, text
from sqlalchemy.orm import Session

from puhui.store.platform_models import IdempotencyRow
from puhui.store.prepared import PreparedStatement

Unit = Union[Session, Connection]
_RECORDS = IdempotencyRow.__table__
_INSERT = PreparedStatement(insert(_RECORDS))
_GET = PreparedStatement(select(_RECORDS).where(_RECORDS.c.principal == bindparam("p"),
                                                _RECORDS.c.idem_key == bindparam("k")))
#: The first key of PostgreSQL's two-key advisory locks ("idky"), apart from the migrations'.
LOCK_SPACE = 0x69646B79
_LOCK = text("SELECT pg_advisory_xact_lock(:space, hashtext(:pair))")


def wait_for_key(unit: Unit, principal: str, key: str) -> None:
    """Hold the (principal, key) pair until the transaction ends, waiting while another
    transaction holds it.  Call it first in the transaction, before `find`."""
    conn = unit.connection() if isinstance(unit, Session) else unit
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK, {"space": LOCK_SPACE, "pair": f"{principal} {key}"})


def find(unit: Unit, principal: str, key: str) -> Any | None:
    """The stored answer to `key` of `principal`, or None."""
    return _GET.first(unit, {"p": principal, "k": key})


def remember(unit: Unit, *, principal: str, key: str, method: str, path: str,
             request_hash: str, status_code: int, response: str, created_at: datetime) -> None:
    """Store the answer in the caller's transaction, so it lands with the change it reports."""
    _INSERT.execute(unit, {
        "principal": principal, "idem_key": key, "method": method, "path": path[:300],
        "request_hash": request_hash, "status_code": status_code, "response": response,
        "created_at": created_at})
