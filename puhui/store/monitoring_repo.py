"""The merged monitoring data, the change feeds' cursors, and the bulk reads and writes that
taking in a feed page needs (payload rows, consent-log rows, applicants' identities).

Every function works in the caller's session or connection and transaction; none commits.
Reads of many applicants go in chunks of `_CHUNK` ids (an IN list each); writes of many rows go
as one statement executed for many (`executemany`) or through `bulk.bulk_insert` (COPY on
PostgreSQL, multi-row INSERTs on SQLite).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from puhui.store.bulk import bulk_insert, result_converters, select_in, typed_rows
from puhui.store.bulk import connection_of as _connection
from puhui.store.monitoring_models import (
    FeedCursorRow,
    MonitoredApplicantRow,
    MonitoringBaseRow,
    MonitoringStateRow,
    MonitoringSummaryRow,
)
from puhui.store.platform_models import ApplicantRow, ConsentLogRow
from puhui.store.risk_models import SourcePayloadRow

_STATE = MonitoringStateRow.__table__
_BASES = MonitoringBaseRow.__table__
_SUMMARIES = MonitoringSummaryRow.__table__
_CURSORS = FeedCursorRow.__table__
_COMPLETE = MonitoredApplicantRow.__table__
_PAYLOADS = SourcePayloadRow.__table__
_LOG = ConsentLogRow.__table__
_APPLICANTS = ApplicantRow.__table__
_CHUNK = 500

Bind = Session | Connection

#: The base's own columns (kept in `monitoring_bases`: see `MonitoringBaseRow`).
_BASE_COLUMNS = ("codec", "sha256", "blob")


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    ids = list(dict.fromkeys(ids))
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


# -- raw reads -------------------------------------------------------------------------------------
# The refresh reads states of thousands of borrowers a chunk: the SQLAlchemy result (a Row and a
# Python type processor a cell) costs more than the fetch, so these reads run one SQL text through
# the DBAPI cursor and convert the few typed columns themselves into light named tuples, with the
# same values as the Core rows (held equal by tests/store/test_store_monitoring_raw_reads.py).
# The SQL is the one the Core select compiles to, so the database plans and orders it alike.
_STATE_NAMES = tuple(c.name for c in _STATE.columns)
_QUALIFIED = {**{n: f"monitoring_state.{n}" for n in _STATE_NAMES},
              "codec": "monitoring_bases.codec", "sha256": "monitoring_bases.sha256",
              "blob": "monitoring_bases.blob",
              "summary_base": "monitoring_summaries.base_sha256 AS summary_base",
              "summary_window": "monitoring_summaries.window_from AS summary_window",
              "summary": "monitoring_summaries.blob AS summary"}
#: The table column behind each name a raw read selects (its type says how to convert it).
_COLUMN = {**{n: _STATE.c[n] for n in _STATE_NAMES}, "codec": _BASES.c.codec,
           "sha256": _BASES.c.sha256, "blob": _BASES.c.blob,
           "summary_base": _SUMMARIES.c.base_sha256, "summary_window": _SUMMARIES.c.window_from,
           "summary": _SUMMARIES.c.blob}
_JOIN_BASES = (" LEFT OUTER JOIN monitoring_bases ON monitoring_bases.applicant_id = "
               "monitoring_state.applicant_id AND monitoring_bases.scope = monitoring_state.scope")
_JOIN_SUMMARIES = (" LEFT OUTER JOIN monitoring_summaries ON monitoring_summaries.applicant_id = "
                   "monitoring_state.applicant_id AND monitoring_summaries.scope = "
                   "monitoring_state.scope")
#: The panels' read of a state with its summary: only the columns the panels use.
SUMMARY_ROW_NAMES = ("applicant_id", "scope", "business_id", "as_of", "first_as_of", "in_order",
                     "covers_from", "payload_sha256", "tail_sha256", "tail", "sha256",
                     "summary_base", "summary_window", "summary")
SummaryStateRow = namedtuple("SummaryStateRow", SUMMARY_ROW_NAMES)  # type: ignore[misc]
StateRow = namedtuple("StateRow", _STATE_NAMES)  # type: ignore[misc]
BasedStateRow = namedtuple("BasedStateRow", _STATE_NAMES + _BASE_COLUMNS)  # type: ignore[misc]


def _raw_states(bind: Bind, applicant_ids: Sequence[str], scopes: Sequence[str] | None,
                names: Sequence[str], joins: str, make: Any) -> list[Any]:
    """The rows (`make`, a named tuple of `names`) of the states of these applicants (and
    scopes), read a chunk a query through the DBAPI cursor."""
    if scopes is not None and not scopes:
        return []  # an empty IN list: no state (the Core read's answer too)
    conn = _connection(bind)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    convert = result_converters(conn, [_COLUMN[n] for n in names])
    head = ("SELECT " + ", ".join(_QUALIFIED[n] for n in names) + " FROM monitoring_state"
            + joins + " WHERE monitoring_state.applicant_id IN (")
    out: list[Any] = []
    for chunk in _chunks(applicant_ids):
        sql = head + ", ".join([mark] * len(chunk)) + ")"
        params = list(chunk)
        if scopes is not None:
            sql += " AND monitoring_state.scope IN (" + ", ".join([mark] * len(scopes)) + ")"
            params += scopes
        out += typed_rows(conn.exec_driver_sql(sql, tuple(params)), make, convert)
    return out


# -- states ----------------------------------------------------------------------------------------
def states(bind: Bind, applicant_ids: Sequence[str], scopes: Iterable[str] | None = None, *,
           base: bool = True, lock: bool = False) -> list[Any]:
    """The state rows of these applicants (of `scopes` only, if given), with their base's
    `codec`, `sha256` and `blob` (None where a base is missing); `base=False` leaves the
    compacted base out (taking in a delta touches only the head and tail); `lock` takes the
    rows for update (PostgreSQL; SQLite's writer holds the whole database)."""
    wanted = None if scopes is None else list(scopes)
    if not lock:
        if base:
            return _raw_states(bind, applicant_ids, wanted, _STATE_NAMES + _BASE_COLUMNS,
                               _JOIN_BASES, BasedStateRow)
        return _raw_states(bind, applicant_ids, wanted, _STATE_NAMES, "", StateRow)
    return states_core(bind, applicant_ids, wanted, base=base, lock=lock)


def states_core(bind: Bind, applicant_ids: Sequence[str], scopes: Iterable[str] | None = None,
                *, base: bool = True, lock: bool = False) -> list[Any]:
    """`states` through SQLAlchemy Core: what a locking read takes (FOR UPDATE), and the plain
    form the raw read is held equal to."""
    wanted = None if scopes is None else list(scopes)
    out: list[Any] = []
    for chunk in _chunks(applicant_ids):
        if base:
            query = select(*_STATE.columns, *(_BASES.c[c] for c in _BASE_COLUMNS)).outerjoin(
                _BASES, (_BASES.c.applicant_id == _STATE.c.applicant_id)
                & (_BASES.c.scope == _STATE.c.scope))
        else:
            query = select(*_STATE.columns)
        query = query.where(_STATE.c.applicant_id.in_(chunk))
        if wanted is not None:
            query = query.where(_STATE.c.scope.in_(wanted))
        if lock:
            query = query.with_for_update(of=_STATE)
        out += bind.execute(query).all()
    return out


def _upsert(dialect: str, table: Any) -> Any:
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = make(table)
    keep = {c.name: stmt.excluded[c.name] for c in table.columns
            if c.name not in ("applicant_id", "scope")}
    return stmt.on_conflict_do_update(index_elements=["applicant_id", "scope"], set_=keep)


def save_states(bind: Bind, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace whole states: each row gives the state's columns and its base's
    (`codec`, `sha256`, `blob`), written to their two tables."""
    if rows:
        conn = _connection(bind)
        heads = [{c.name: r[c.name] for c in _STATE.columns} for r in rows]
        bases = [{"applicant_id": r["applicant_id"], "scope": r["scope"],
                  **{c: r[c] for c in _BASE_COLUMNS}} for r in rows]
        conn.execute(_upsert(conn.dialect.name, _STATE), heads)
        conn.execute(_upsert(conn.dialect.name, _BASES), bases)


_TAIL_COLUMNS = ("business_id", "as_of", "first_as_of", "in_order", "covers_from", "records",
                 "payloads",
                 "payload_sha256", "tail_sha256", "tail", "updated_at")
_UPDATE_TAIL = (update(_STATE)
                .where(_STATE.c.applicant_id == bindparam("k_applicant_id"),
                       _STATE.c.scope == bindparam("k_scope"))
                .values({c: bindparam(c) for c in _TAIL_COLUMNS}))


def save_tails(bind: Bind, rows: Sequence[Mapping[str, Any]]) -> None:
    """Update existing states' tails and heads (`_TAIL_COLUMNS`, keyed by applicant_id and
    scope), the base left as it is."""
    if rows:
        params = [{"k_applicant_id": r["applicant_id"], "k_scope": r["scope"],
                   **{c: r[c] for c in _TAIL_COLUMNS}} for r in rows]
        _connection(bind).execute(_UPDATE_TAIL, params)


def drop_states(bind: Bind, applicant_ids: Sequence[str],
                scopes: Iterable[str] | None = None) -> int:
    """Delete these applicants' states (of `scopes` only, if given) and their mark of complete
    states: they are rebuilt from the payloads when next read.  The number of states deleted."""
    wanted = None if scopes is None else list(scopes)
    deleted = 0
    for chunk in _chunks(applicant_ids):
        bind.execute(delete(_COMPLETE).where(_COMPLETE.c.applicant_id.in_(chunk)))
        bases = delete(_BASES).where(_BASES.c.applicant_id.in_(chunk))
        stmt = delete(_STATE).where(_STATE.c.applicant_id.in_(chunk))
        if wanted is not None:
            bases = bases.where(_BASES.c.scope.in_(wanted))
            stmt = stmt.where(_STATE.c.scope.in_(wanted))
        summaries = delete(_SUMMARIES).where(_SUMMARIES.c.applicant_id.in_(chunk))
        if wanted is not None:
            summaries = summaries.where(_SUMMARIES.c.scope.in_(wanted))
        bind.execute(summaries)
        bind.execute(bases)  # first: a base names its state
        deleted += bind.execute(stmt).rowcount or 0
    return deleted


# -- summaries ---------------------------------------------------------------------------------------
def states_with_summaries(bind: Bind, applicant_ids: Sequence[str],
                          scopes: Iterable[str]) -> list[Any]:
    """The state rows (head and tail) of these applicants and scopes, each with its base's
    `sha256` and its summary's `summary_base`, `summary_window` and `summary` (None where there
    is none): what a refresh reads instead of the bases.  Only the columns the panels use
    (`SUMMARY_ROW_NAMES`; no `records`, `payloads`, `updated_at`)."""
    return _raw_states(bind, applicant_ids, list(scopes), SUMMARY_ROW_NAMES,
                       _JOIN_BASES + _JOIN_SUMMARIES, SummaryStateRow)


def states_with_summaries_core(bind: Bind, applicant_ids: Sequence[str],
                               scopes: Iterable[str]) -> list[Any]:
    """`states_with_summaries` through SQLAlchemy Core (all the state's columns): the plain
    form the raw read is held equal to."""
    wanted = list(scopes)
    out: list[Any] = []
    for chunk in _chunks(applicant_ids):
        query = (select(*_STATE.columns, _BASES.c.sha256,
                        _SUMMARIES.c.base_sha256.label("summary_base"),
                        _SUMMARIES.c.window_from.label("summary_window"),
                        _SUMMARIES.c.blob.label("summary"))
                 .outerjoin(_BASES, (_BASES.c.applicant_id == _STATE.c.applicant_id)
                            & (_BASES.c.scope == _STATE.c.scope))
                 .outerjoin(_SUMMARIES, (_SUMMARIES.c.applicant_id == _STATE.c.applicant_id)
                            & (_SUMMARIES.c.scope == _STATE.c.scope))
                 .where(_STATE.c.applicant_id.in_(chunk), _STATE.c.scope.in_(wanted)))
        out += bind.execute(query).all()
    return out


def save_summaries(bind: Bind, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace summaries (applicant_id, scope, base_sha256, window_from, blob) of
    states that still stand: a summary whose state was deleted meanwhile is not written."""
    if not rows:
        return
    conn = _connection(bind)
    standing: set[tuple[str, str]] = set()
    for chunk in _chunks([r["applicant_id"] for r in rows]):
        standing.update((a, s) for a, s in conn.execute(
            select(_STATE.c.applicant_id, _STATE.c.scope).where(
                _STATE.c.applicant_id.in_(chunk))).all())
    keep = [dict(r) for r in rows if (r["applicant_id"], r["scope"]) in standing]
    if keep:
        conn.execute(_upsert(conn.dialect.name, _SUMMARIES), keep)


def complete(bind: Bind, applicant_ids: Sequence[str]) -> set[str]:
    """Those of these applicants whose states cover all their accepted payloads."""
    return {a for (a,) in select_in(_connection(bind), "SELECT applicant_id FROM "
                                    "monitoring_applicants WHERE applicant_id {values}",
                                    list(applicant_ids))}


def mark_complete(bind: Bind, applicant_ids: Sequence[str], at: datetime) -> None:
    """Mark these applicants' states as covering all their payloads (those not marked yet)."""
    ids = sorted(set(applicant_ids) - complete(bind, list(applicant_ids)))
    if ids:
        bind.execute(insert(_COMPLETE), [{"applicant_id": a, "built_at": at} for a in ids])


# -- cursors ---------------------------------------------------------------------------------------
def cursor(bind: Bind, feed: str) -> str | None:
    return bind.execute(select(_CURSORS.c.cursor).where(_CURSORS.c.feed == feed)).scalar()


def save_cursor(bind: Bind, feed: str, value: str, at: datetime) -> None:
    conn = _connection(bind)
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = make(_CURSORS).values(feed=feed, cursor=value, updated_at=at)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["feed"], set_={"cursor": stmt.excluded.cursor,
                                       "updated_at": stmt.excluded.updated_at}))


# -- payloads --------------------------------------------------------------------------------------
def payloads_of(bind: Bind, applicant_ids: Sequence[str], scopes: Iterable[str],
                since: date | None = None) -> list[Any]:
    """Every accepted payload of these applicants for these scopes (describing a day from
    `since` on, if given), oldest first (by id)."""
    wanted = list(scopes)
    out: list[Any] = []
    for chunk in _chunks(applicant_ids):
        query = select(_PAYLOADS).where(_PAYLOADS.c.applicant_id.in_(chunk),
                                        _PAYLOADS.c.status == "accepted",
                                        _PAYLOADS.c.scope.in_(wanted))
        if since is not None:
            query = query.where(_PAYLOADS.c.as_of >= since)
        out += bind.execute(query).all()
    return sorted(out, key=lambda r: r.id)


def latest_hashes(bind: Bind, applicant_ids: Sequence[str]) -> dict[tuple[str, str], str]:
    """(applicant_id, scope) -> the SHA-256 of the latest accepted payload."""
    out: dict[tuple[str, str], str] = {}
    for chunk in _chunks(applicant_ids):
        newest = (select(func.max(_PAYLOADS.c.id).label("id"))
                  .where(_PAYLOADS.c.applicant_id.in_(chunk), _PAYLOADS.c.status == "accepted")
                  .group_by(_PAYLOADS.c.applicant_id, _PAYLOADS.c.scope).subquery())
        query = select(_PAYLOADS.c.applicant_id, _PAYLOADS.c.scope,
                       _PAYLOADS.c.payload_sha256).join(newest, newest.c.id == _PAYLOADS.c.id)
        out.update({(a, s): h for a, s, h in bind.execute(query)})
    return out


#: The payload columns `add_payloads` takes, in table order.
PAYLOAD_COLUMNS = ("applicant_id", "application_id", "scope", "consent_id", "fetched_at",
                   "as_of", "status", "error", "payload", "payload_sha256", "payload_codec",
                   "payload_blob", "payload_bytes")


def add_payloads(bind: Bind, rows: Sequence[Sequence[Any]]) -> int:
    """Store payload rows (tuples in `PAYLOAD_COLUMNS` order), in bulk."""
    return bulk_insert(_connection(bind), _PAYLOADS, PAYLOAD_COLUMNS, rows)


#: The consent-log columns `log_uses` takes, in table order.
LOG_COLUMNS = ("applicant_id", "consent_id", "action", "scope", "purpose", "application_id",
               "detail", "at")


def log_uses(bind: Bind, rows: Sequence[Sequence[Any]]) -> int:
    """Append consent-log rows (tuples in `LOG_COLUMNS` order), in bulk."""
    return bulk_insert(_connection(bind), _LOG, LOG_COLUMNS, rows)


# -- applicants ------------------------------------------------------------------------------------
def holders_of(bind: Bind, business_ids: Sequence[str]) -> dict[str, list[str]]:
    """business identity -> the applicants (sorted) holding a merged state of its data."""
    out: dict[str, set[str]] = {}
    table = MonitoringStateRow.__table__
    for chunk in _chunks(business_ids):
        for business, applicant in bind.execute(
                select(table.c.business_id, table.c.applicant_id).distinct()
                .where(table.c.business_id.in_(chunk))):
            out.setdefault(business, set()).add(applicant)
    return {b: sorted(a) for b, a in out.items()}


def applicant_rows(bind: Bind, applicant_ids: Sequence[str]) -> list[Any]:
    """(applicant_id, data, data_key, owner_id_hash, erased_at) of these applicants."""
    out: list[Any] = []
    for chunk in _chunks(applicant_ids):
        out += bind.execute(select(
            _APPLICANTS.c.applicant_id, _APPLICANTS.c.data, _APPLICANTS.c.data_key,
            _APPLICANTS.c.owner_id_hash, _APPLICANTS.c.erased_at)
            .where(_APPLICANTS.c.applicant_id.in_(chunk))).all()
    return out


__all__ = [
    "LOG_COLUMNS",
    "PAYLOAD_COLUMNS",
    "add_payloads",
    "applicant_rows",
    "complete",
    "cursor",
    "drop_states",
    "latest_hashes",
    "log_uses",
    "mark_complete",
    "payloads_of",
    "save_cursor",
    "save_states",
    "save_summaries",
    "save_tails",
    "states",
    "states_with_summaries",
]
