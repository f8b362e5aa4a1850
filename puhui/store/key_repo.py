"""API keys as stored: the look-up every request makes (prepared once, see
`puhui.store.prepared`), issuing and revoking.  Works in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Union

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from puhui.store.platform_models import ApiKeyRow
from puhui.store.prepared import PreparedStatement

_KEYS = ApiKeyRow.__table__
_GET_KEY = PreparedStatement(
    select(_KEYS.c.secret_hash, _KEYS.c.role, _KEYS.c.scopes, _KEYS.c.subject, _KEYS.c.revoked_at,
           _KEYS.c.key_id).where(_KEYS.c.key_id == bindparam("id")))


def find(bind: Union[Session, Connection], key_id: str) -> Any | None:
    """(secret_hash, role, scopes, subject, revoked_at, key_id) of the key, or None."""
    return _GET_KEY.first(bind, {"id": key_id})


def add(session: Session, **values: Any) -> None:
    """Write a new key (flushed at once: a duplicate id fails here)."""
    session.add(ApiKeyRow(**values))
    session.flush()


def revoke(session: Session, key_id: str, now: datetime) -> int:
    """Mark the key revoked at `now` unless it already is; the number of keys changed."""
    result = session.execute(update(ApiKeyRow).where(ApiKeyRow.key_id == key_id,
                                                     ApiKeyRow.revoked_at.is_(None))
                             .values(revoked_at=now))
    return result.rowcount
