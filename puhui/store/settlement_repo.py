"""The settlement cache: each loan's instalment settlement dates, kept so that a line's repayment
record is read in bulk instead of replaying every loan's history.

A row is derived data: the history (the loan's events and the closes of its range) is the
record of truth, and a row is used only while it is provably that history's
(`puhui.services.line_behaviour`).  Its staleness key is where the loan's history stood when
the row was computed:

- `version`: the loan's `loans.version`, which every event stored for the loan moves (an event
  is appended together with `update_status`, which bumps it) and so does a close that changes
  the loan's status.  A new receipt, a reversal (which re-runs the history without the
  receipt), a reschedule or a write-off are all events, so each makes the row stale.
- `closed_through`: the last close applied to the loan (`loan_positions.closed_through`, moved
  by every close that takes the loan, plain or not).  Only closes can change the dates besides
  events, and only by applying the borrower's credit balance to an instalment falling due, so
  the row says whether that can happen (`awaits_close`: an active term loan holding credit);
  then the row holds only while `closed_through` is unchanged too.  Otherwise every daily
  close would make every active loan's row stale though nothing it holds could change.

`digest` (BLAKE2b over the loan id, the key, the dues and the rule they were derived by,
`lines.behaviour.RECORD_RULES`) makes a row edited by hand or corrupted, or computed under an
earlier rule, read as missing, so it is recomputed: it guards against accidents, not an attacker
who can write the table (who could not forge the loan's hash-chained events anyway).

The dues are `puhui.lines.behaviour.encode_dues`: little-endian int32 (due, settled) day
numbers.  Nothing here commits: the caller's transaction decides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterator, Sequence

from sqlalchemy import Boolean, Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from puhui.lines.behaviour import RECORD_RULES
from puhui.store.bulk import collector_paused, select_in
from puhui.store.close_models import LoanPositionRow
from puhui.store.db import READ_ONLY
from puhui.store.models import Base, LoanRow


class LoanSettlementRow(Base):
    """A loan's instalment settlement dates as its history stood at (`version`,
    `closed_through`): see the module's doc."""

    __tablename__ = "loan_settlements"

    loan_id: Mapped[str] = mapped_column(String(64), ForeignKey("loans.loan_id"),
                                         primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    closed_through: Mapped[date | None] = mapped_column(Date)
    awaits_close: Mapped[bool] = mapped_column(Boolean)
    dues: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[str] = mapped_column(String(32))


SETTLEMENTS = LoanSettlementRow.__table__
LOANS = LoanRow.__table__
POSITIONS = LoanPositionRow.__table__
#: Rows per upsert batch and loans per IN list of `forget` (under SQLite's bound parameter
#: limit, 32,766 since 3.32, and PostgreSQL's, 65,535).
CHUNK = 5_000

#: Each loan's stamp and cache row, read raw (`bulk.select_in`): the cache's and the position's
#: `closed_through` come back in the same form (text on SQLite, dates on PostgreSQL), so they
#: compare as they are.
_READ_SQL = ("SELECT l.loan_id, l.version, p.closed_through, s.version, s.closed_through, "
             "s.awaits_close, s.dues, s.digest FROM loans l "
             "LEFT JOIN loan_positions p ON p.loan_id = l.loan_id "
             "LEFT JOIN loan_settlements s ON s.loan_id = l.loan_id "
             "WHERE l.loan_id {values}")


@dataclass(frozen=True, slots=True)
class Cached:
    """A stored row: the history position it was computed at and the encoded dues."""

    version: int
    closed_through: date | None
    awaits_close: bool
    dues: bytes


@dataclass(frozen=True, slots=True)
class Stamped:
    """A loan as it stands now (its version and last close applied), its cache row (None when
    it has none or the row fails its digest) and whether that row is of the loan's history as
    it stands (the module's doc)."""

    version: int
    closed_through: date | None
    cached: Cached | None
    fresh: bool


def digest(loan_id: str, version: int, closed_through: date | str | None, awaits_close: bool,
           dues: bytes) -> str:
    """The row's digest; `closed_through` as a date or its ISO text (SQLite's raw form).  The
    rule of the dues (`RECORD_RULES`) is in it: a row of an earlier rule fails it."""
    head = (f"{loan_id}|{version}|{closed_through or ''}|{int(bool(awaits_close))}|"
            f"{RECORD_RULES}|")
    return hashlib.blake2b(head.encode("utf-8") + dues, digest_size=16).hexdigest()


def _rows(session: Session, loan_ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """(loan id, version, closed through, cached dues or None, fresh) of each stored loan of
    `loan_ids`, values raw; the dues only when the row passes its digest."""
    conn = session.connection()
    for loan_id, version, closed, c_version, c_closed, c_awaits, dues, dig in select_in(
            conn, _READ_SQL, list(dict.fromkeys(loan_ids))):
        if c_version is None or dues is None:
            yield loan_id, version, closed, None, None, False
            continue
        dues = bytes(dues)
        if digest(loan_id, c_version, c_closed, c_awaits, dues) != dig:
            yield loan_id, version, closed, None, None, False
            continue
        fresh = c_version == version and (not c_awaits or c_closed == closed)
        yield loan_id, version, closed, (c_version, c_closed, bool(c_awaits)), dues, fresh


def fresh_dues(session: Session, loan_ids: Sequence[str]) -> tuple[dict[str, bytes], list[str]]:
    """The encoded dues of each of `loan_ids` whose cache row is of its history as it stands,
    and the stored loans of the rest (no row, a stale one, or one failing its digest), which
    must be replayed.  A loan that does not exist is in neither."""
    fresh: dict[str, bytes] = {}
    stale: list[str] = []
    with collector_paused():
        for loan_id, _, _, _, dues, ok in _rows(session, loan_ids):
            if ok:
                fresh[loan_id] = dues
            else:
                stale.append(loan_id)
    return fresh, stale


def read(session: Session, loan_ids: Sequence[str]) -> dict[str, Stamped]:
    """Each of `loan_ids` that is a stored loan: its stamp and its cache row, typed (for
    inspection; `fresh_dues` is the bulk read)."""
    out: dict[str, Stamped] = {}
    for loan_id, version, closed, key, dues, ok in _rows(session, loan_ids):
        cached = None
        if key is not None:
            cached = Cached(key[0], _date(key[1]), key[2], dues)
        out[loan_id] = Stamped(version, _date(closed), cached, ok)
    return out


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _upsert(dialect: str) -> Any:
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = make(SETTLEMENTS)
    keep = {c.name: stmt.excluded[c.name] for c in SETTLEMENTS.columns if c.name != "loan_id"}
    return stmt.on_conflict_do_update(index_elements=["loan_id"], set_=keep)


def save(session: Session, rows: Sequence[tuple[str, int, date | None, bool, bytes]]) -> int:
    """Write (loan id, version, closed through, awaits close, dues) rows, replacing any row of
    the same loan; how many were written."""
    if not rows:
        return 0
    conn = session.connection()
    rows = sorted(rows, key=lambda r: r[0])  # one order for every writer: no deadlock between two
    params = [{"loan_id": loan_id, "version": version, "closed_through": closed,
               "awaits_close": bool(awaits), "dues": bytes(dues),
               "digest": digest(loan_id, version, closed, awaits, dues)}
              for loan_id, version, closed, awaits, dues in rows]
    stmt = _upsert(conn.dialect.name)
    for start in range(0, len(params), CHUNK):
        conn.execute(stmt, params[start:start + CHUNK])
    return len(params)


def writable(session: Session) -> bool:
    """Whether the session may write: not one of a read-only engine's (`make_engine(read_only=
    True)`, the platform's readers on SQLite), nor in a read-only PostgreSQL transaction."""
    conn = session.connection()
    if conn.get_execution_options().get(READ_ONLY):
        return False
    if conn.dialect.name == "postgresql":
        return conn.exec_driver_sql("SHOW transaction_read_only").scalar() != "on"
    return True


def forget(session: Session, loan_ids: Sequence[str]) -> None:
    """Drop the cache rows of `loan_ids` (they are recomputed when next read)."""
    ids = list(loan_ids)
    for start in range(0, len(ids), CHUNK):
        session.execute(SETTLEMENTS.delete().where(
            SETTLEMENTS.c.loan_id.in_(ids[start:start + CHUNK])))


__all__ = ["CHUNK", "Cached", "LoanSettlementRow", "Stamped", "digest", "forget", "fresh_dues",
           "read", "save",
           "writable"]
