"""The line re-evaluation's rows: line decision records, the monitoring payloads the features
are built from, and who holds a consent in force.

Every function works in the caller's session and transaction; none commits.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select
from sqlalchemy.orm import Session

from puhui.calendar import parse_rate
from puhui.store.bulk import SELECT_IN_CHUNK, bulk_insert, select_in
from puhui.store.bulk import connection_of as _connection
from puhui.store.line_models import LineDecisionRow
from puhui.store.platform_models import ConsentRow
from puhui.store.risk_models import SourcePayloadRow

_LINES = LineDecisionRow.__table__
_PAYLOADS = SourcePayloadRow.__table__
_CONSENTS = ConsentRow.__table__
_BATCH = 500

Bind = Session | Connection


# -- line decision records -------------------------------------------------------------------------
#: The columns `bulk_add_decisions` takes, in order.
DECISION_COLUMNS = ("decision_id", "line_id", "applicant_id", "decided_on", "recorded_at",
                    "trigger", "policy_version", "policy_sha256", "changes", "limit_after",
                    "rate_after", "freeze", "engaged", "input_sha256", "record", "record_sha256")


def add_decisions(bind: Bind, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert line decision rows (mappings of `DECISION_COLUMNS`) as `bulk_add_decisions`
    does: a refresh chunk's two thousand rows in a few multi-row statements, the values every
    row shares (the day, the time, the policy) bound once, instead of an executemany of
    dictionaries; the same stored values."""
    if rows:
        conn = bind.connection() if isinstance(bind, Session) else bind
        bulk_insert(conn, _LINES, DECISION_COLUMNS,
                    [tuple(row[c] for c in DECISION_COLUMNS) for row in rows])


def bulk_add_decisions(conn: Connection, rows: Sequence[Sequence[Any]]) -> int:
    """Insert a book's decision rows (tuples in `DECISION_COLUMNS` order), the fastest way the
    database offers (`bulk.bulk_insert`: COPY on PostgreSQL)."""
    return bulk_insert(conn, _LINES, DECISION_COLUMNS, rows)


def decision_by_input(bind: Bind, line_id: str, input_sha256: str) -> Any | None:
    """The decision already recorded for this line from exactly these inputs, or None."""
    return bind.execute(select(_LINES).where(_LINES.c.line_id == line_id,
                                             _LINES.c.input_sha256 == input_sha256)).first()


def decisions_by_inputs(bind: Bind, pairs: Iterable[tuple[str, str]]
                        ) -> dict[tuple[str, str], str]:
    """(line_id, input_sha256) -> the decision recorded for those inputs, for the pairs that
    have one: one statement through the driver, one index lookup per pair (only the decisions
    asked are read, not every decision of the lines)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    conn = _connection(bind)
    asked = sorted(wanted)
    out: dict[tuple[str, str], str] = {}
    for start in range(0, len(asked), SELECT_IN_CHUNK):
        part = asked[start:start + SELECT_IN_CHUNK]
        if conn.dialect.name == "postgresql":
            found = conn.exec_driver_sql(_BY_INPUTS_PG, ([a for a, _ in part],
                                                         [f for _, f in part]))
        else:
            found = conn.exec_driver_sql(_BY_INPUTS_SQLITE, (json.dumps(part),))
        out.update(((line_id, fingerprint), decision_id)
                   for line_id, fingerprint, decision_id in found)
    return out


# `decisions_by_inputs`' statements: the pairs one bound parameter (a JSON array of pairs, two
# arrays), each pair one lookup in the (line_id, input_sha256) unique index; not a line IN list
# and a fingerprint IN list, whose every combination is looked up.
_BY_INPUTS_SQLITE = ("SELECT d.line_id, d.input_sha256, d.decision_id FROM json_each(?) j "
                     "CROSS JOIN line_decisions d ON d.line_id = json_extract(j.value, '$[0]') "
                     "AND d.input_sha256 = json_extract(j.value, '$[1]')")
_BY_INPUTS_PG = ("SELECT d.line_id, d.input_sha256, d.decision_id FROM "
                 "unnest(%s::text[], %s::text[]) AS j(line_id, input_sha256) "
                 "JOIN line_decisions d ON d.line_id = j.line_id "
                 "AND d.input_sha256 = j.input_sha256")


def decisions_by_inputs_core(bind: Bind, pairs: Iterable[tuple[str, str]]
                             ) -> dict[tuple[str, str], str]:
    """`decisions_by_inputs` through SQLAlchemy Core (chunks of 500 pairs, IN lists): the
    plain form the raw read is held equal to."""
    wanted = set(pairs)
    asked = sorted(wanted)
    out: dict[tuple[str, str], str] = {}
    for start in range(0, len(asked), _BATCH):
        part = asked[start:start + _BATCH]
        query = select(_LINES.c.line_id, _LINES.c.input_sha256, _LINES.c.decision_id).where(
            _LINES.c.line_id.in_(sorted({line_id for line_id, _ in part})),
            _LINES.c.input_sha256.in_(sorted({fingerprint for _, fingerprint in part})))
        for line_id, fingerprint, decision_id in bind.execute(query):
            if (line_id, fingerprint) in wanted:
                out[(line_id, fingerprint)] = decision_id
    return out


_LINE_STATES_SQL = ("SELECT line_id, credit_limit, drawn, annual_rate, status, changed_on "
                    "FROM credit_lines WHERE applicant_id {values}")


def line_states(bind: Bind, applicant_ids: Sequence[str]
                ) -> dict[str, tuple[str, str, str, str, str]]:
    """line id -> (limit, drawn, annual rate, status, changed on) as text, of these
    applicants' credit lines as stored now: what the batch re-evaluation compares with the
    lines it read to find those that moved in between (`reevaluation.line_state` of the
    `CreditLine`, whose rate is `calendar.parse_rate`'s, normalized), read in one statement
    without the rest of each line and without SQLAlchemy's row processing (a day reads back
    as its ISO text on SQLite, a date on PostgreSQL: the same text)."""
    conn = bind.connection() if isinstance(bind, Session) else bind
    rates: dict[Any, str] = {}  # a book has few distinct prices
    out = {}
    for line_id, limit, drawn, rate, status, changed_on in select_in(
            conn, _LINE_STATES_SQL, list(applicant_ids)):
        text = rates.get(rate)
        if text is None:
            text = rates[rate] = str(parse_rate(rate))
        out[line_id] = (str(limit), str(drawn), text, status, str(changed_on))
    return out


def decision(bind: Bind, decision_id: str) -> Any | None:
    return bind.execute(select(_LINES).where(_LINES.c.decision_id == decision_id)).first()


def decisions_of(bind: Bind, line_id: str, limit: int = 50) -> list[Any]:
    """The line's decisions, newest first."""
    return list(bind.execute(select(_LINES).where(_LINES.c.line_id == line_id)
                             .order_by(_LINES.c.id.desc()).limit(limit)).all())


def latest_decisions(bind: Bind, line_ids: Iterable[str]) -> dict[str, Any]:
    """(decision_id, line_id, input_sha256, engaged) of the newest decision of each of these
    lines that has one (the record itself left out: a book reads 200,000 of these), in one
    statement through the driver (`bulk.select_in`; text columns only, nothing to convert)."""
    conn = _connection(bind)
    return {row[1]: LatestDecision._make(row)
            for row in select_in(conn, _LATEST_SQL, list(line_ids))}


#: A line's newest decision as `latest_decisions` gives it.
LatestDecision = namedtuple("LatestDecision", "decision_id line_id input_sha256 engaged")
_LATEST_SQL = ("SELECT d.decision_id, d.line_id, d.input_sha256, d.engaged FROM line_decisions d "
               "JOIN (SELECT max(id) AS id FROM line_decisions WHERE line_id {values} "
               "GROUP BY line_id) newest ON newest.id = d.id")
_REPRICED_SQL = ("SELECT line_id, max(decided_on) FROM line_decisions WHERE line_id {values} "
                 "AND rate_after IS NOT NULL GROUP BY line_id")


def latest_decisions_core(bind: Bind, line_ids: Iterable[str]) -> dict[str, Any]:
    """`latest_decisions` through SQLAlchemy Core: the plain form the raw read is held equal
    to."""
    ids = list(line_ids)
    out: dict[str, Any] = {}
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start:start + _BATCH]
        newest = (select(_LINES.c.line_id, func.max(_LINES.c.id).label("id"))
                  .where(_LINES.c.line_id.in_(chunk)).group_by(_LINES.c.line_id).subquery())
        query = select(_LINES.c.decision_id, _LINES.c.line_id, _LINES.c.input_sha256,
                       _LINES.c.engaged).join(newest, newest.c.id == _LINES.c.id)
        for row in bind.execute(query):
            out[row.line_id] = row
    return out


def last_repriced(bind: Bind, line_ids: Iterable[str]) -> dict[str, date]:
    """The day of each line's latest decision that changed its price (one statement through
    the driver; SQLite's ISO text made a date)."""
    conn = _connection(bind)
    text = conn.dialect.name == "sqlite"
    return {line_id: date.fromisoformat(day) if text and day is not None else day
            for line_id, day in select_in(conn, _REPRICED_SQL, list(line_ids))}


def last_repriced_core(bind: Bind, line_ids: Iterable[str]) -> dict[str, date]:
    """`last_repriced` through SQLAlchemy Core: the plain form the raw read is held equal to."""
    ids = list(line_ids)
    out: dict[str, date] = {}
    for start in range(0, len(ids), _BATCH):
        query = (select(_LINES.c.line_id, func.max(_LINES.c.decided_on))
                 .where(_LINES.c.line_id.in_(ids[start:start + _BATCH]),
                        _LINES.c.rate_after.is_not(None))
                 .group_by(_LINES.c.line_id))
        out.update({line_id: day for line_id, day in bind.execute(query)})
    return out


# -- monitoring payloads ---------------------------------------------------------------------------
def latest_payload_hashes(bind: Bind, applicant_id: str) -> dict[str, str]:
    """scope -> the SHA-256 of the applicant's latest accepted payload of that scope."""
    newest = (select(_PAYLOADS.c.scope, func.max(_PAYLOADS.c.id).label("id"))
              .where(_PAYLOADS.c.applicant_id == applicant_id, _PAYLOADS.c.status == "accepted")
              .group_by(_PAYLOADS.c.scope).subquery())
    query = select(_PAYLOADS.c.scope, _PAYLOADS.c.payload_sha256).join(
        newest, newest.c.id == _PAYLOADS.c.id)
    return {scope: digest for scope, digest in bind.execute(query)}


def add_payload(bind: Bind, values: Mapping[str, Any]) -> int:
    """Store one payload row; its id."""
    return bind.execute(insert(_PAYLOADS).returning(_PAYLOADS.c.id), dict(values)).scalar_one()


# -- consents --------------------------------------------------------------------------------------
def consents_in_force(bind: Bind, at: datetime) -> list[Any]:
    """(applicant_id, data) of every consent granted by `at`, not expired and not revoked at
    `at`, by applicant (the caller reads each one's purpose and scopes)."""
    query = (select(_CONSENTS.c.applicant_id, _CONSENTS.c.data)
             .where(_CONSENTS.c.granted_at <= at, _CONSENTS.c.expires_at > at,
                    or_(_CONSENTS.c.revoked_at.is_(None), _CONSENTS.c.revoked_at > at))
             .order_by(_CONSENTS.c.applicant_id, _CONSENTS.c.consent_id))
    return list(bind.execute(query).all())


def consents_in_force_of(bind: Bind, applicant_ids: Sequence[str], at: datetime) -> list[Any]:
    """`consents_in_force` of these applicants only (chunks of 500 per statement)."""
    ids, out = list(applicant_ids), []
    for start in range(0, len(ids), _BATCH):
        out += bind.execute(
            select(_CONSENTS.c.applicant_id, _CONSENTS.c.data)
            .where(_CONSENTS.c.applicant_id.in_(ids[start:start + _BATCH]),
                   _CONSENTS.c.granted_at <= at, _CONSENTS.c.expires_at > at,
                   or_(_CONSENTS.c.revoked_at.is_(None), _CONSENTS.c.revoked_at > at))
            .order_by(_CONSENTS.c.applicant_id, _CONSENTS.c.consent_id)).all()
    return out


__all__ = [
    "DECISION_COLUMNS",
    "add_decisions",
    "add_payload",
    "bulk_add_decisions",
    "consents_in_force",
    "consents_in_force_of",
    "decision",
    "decision_by_input",
    "decisions_by_inputs",
    "decisions_of",
    "last_repriced",
    "latest_decisions",
    "latest_payload_hashes",
    "line_states",
]
