"""Snapshots, due positions and close records: every statement of the daily close.

The close reads a partition's due positions as columns (dates as day numbers since 1970-01-01,
so no row is turned into Python objects), charges its plain loans with one set-based UPDATE and
writes the rest back one row each.  Nothing here commits: the caller's transaction decides.
Dialect differences (day arithmetic, upserts, parameter style) stay in this module.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any, Iterable, Iterator, Mapping, Sequence

import polars as pl
from sqlalchemy import Connection, Date, and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from puhui.loans.snapshot import MAX_PLAIN_AMOUNT, MAX_PLAIN_RATE_MICROS, MAX_PLAIN_SPAN_DAYS
from puhui.calendar import utcnow
from puhui.store.close_models import BookCloseRow, LoanPositionRow, LoanSnapshotRow
from puhui.store.models import LedgerHeadRow, LoanRow

SNAPSHOTS = LoanSnapshotRow.__table__
POSITIONS = LoanPositionRow.__table__
CLOSES = BookCloseRow.__table__
LOANS = LoanRow.__table__
HEAD = LedgerHeadRow.__table__

#: The position columns, in the order `save` takes them and `partition` returns them.
POSITION_COLUMNS = tuple(c.name for c in POSITIONS.columns if c.name != "loan_id")
DATE_COLUMNS = ("opened_on", "closed_through", "charged_to", "last_date", "next_break",
                "cur_start", "cur_due", "arrears_since", "expires_on")
_TEXT_COLUMNS = ("kind", "status", "product", "currency", "rounding")
#: The columns the close's kernel reads (`puhui.batch.close`): a partition is read whole, and
#: each column costs a conversion per row.
KERNEL_COLUMNS = ("kind", "product", "currency", "rounding", "basis", "rate_micros",
                  "penalty_rate_micros", "charged_to", "last_date", "next_break", "cur_start",
                  "cur_due", "cur_interest", "overdue_principal", "balance", "expires_on")

_SNAPSHOT = select(SNAPSHOTS.c.seq, SNAPSHOTS.c.closed_through, SNAPSHOTS.c.state) \
    .where(SNAPSHOTS.c.loan_id == bindparam("loan_id"))
_STAMP = (select(LOANS.c.version, POSITIONS.c.closed_through)
          .select_from(LOANS.outerjoin(POSITIONS, POSITIONS.c.loan_id == LOANS.c.loan_id))
          .where(LOANS.c.loan_id == bindparam("loan_id")))
_LOCK_HEAD = select(HEAD.c.events_seq).where(HEAD.c.id == 1).with_for_update()
_EVENTS_SEQ = select(HEAD.c.events_seq).where(HEAD.c.id == 1)
_CLOSES_OF = (select(CLOSES.c.business_date, CLOSES.c.events_seq, CLOSES.c.failures)
              .where(CLOSES.c.lo <= bindparam("loan_id"), CLOSES.c.hi >= bindparam("loan_id"))
              .order_by(CLOSES.c.events_seq, CLOSES.c.id))
_SET_STATUS = (update(LOANS).where(LOANS.c.loan_id == bindparam("b_loan_id"))
               .values(status=bindparam("status"), version=LOANS.c.version + 1))


#: `_eligible` as SQL text, for the reads that skip SQLAlchemy's row processing (a partition is
#: tens of thousands of rows).
_ELIGIBLE_SQL = ("status = 'active' AND opened_on <= :day "
                 "AND (closed_through IS NULL OR closed_through < :day)")
_DAY = bindparam("day", type_=Date)


def _upsert(dialect: str, table: Any) -> Any:
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = make(table)
    keep = {c.name: stmt.excluded[c.name] for c in table.columns if c.name != "loan_id"}
    return stmt.on_conflict_do_update(index_elements=["loan_id"], set_=keep)


_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert_of(conn: Connection, table: Any) -> Any:
    key = (conn.dialect.name, table.name)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        stmt = _UPSERTS[key] = _upsert(conn.dialect.name, table)
    return stmt


def _eligible(day: date) -> Any:
    """Loans a close of `day` takes: active, paid out by the day, not yet closed for it."""
    return and_(POSITIONS.c.status == "active", POSITIONS.c.opened_on <= day,
                or_(POSITIONS.c.closed_through.is_(None), POSITIONS.c.closed_through < day))


def _plain(day: date) -> Any:
    """Of those, the ones a close of `day` charges from columns alone (the kernel's test,
    `puhui.batch.close.plain_mask`, written as SQL; the close checks both agree)."""
    return and_(_eligible(day), POSITIONS.c.next_break > day, POSITIONS.c.last_date <= day,
                POSITIONS.c.charged_to.is_not(None), POSITIONS.c.charged_to < day,
                POSITIONS.c.cur_interest <= MAX_PLAIN_AMOUNT,
                POSITIONS.c.overdue_principal <= MAX_PLAIN_AMOUNT,
                POSITIONS.c.balance <= MAX_PLAIN_AMOUNT,
                POSITIONS.c.rate_micros <= MAX_PLAIN_RATE_MICROS,
                POSITIONS.c.penalty_rate_micros <= MAX_PLAIN_RATE_MICROS,
                POSITIONS.c.charged_to >= day - timedelta(days=MAX_PLAIN_SPAN_DAYS))


class CloseRepository:
    """Read and write loan snapshots and positions, and the record of the book's closes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _conn(self) -> Connection:
        return self.session.connection()

    # -- one loan ---------------------------------------------------------------------------
    def snapshot(self, loan_id: str) -> tuple[int, date | None, dict[str, Any]] | None:
        """(event seq, last close applied, state) of the loan's snapshot, if it has one."""
        row = self._conn().execute(_SNAPSHOT, {"loan_id": loan_id}).first()
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    def load_stamp(self, loan_id: str) -> tuple[int, date | None] | None:
        """(version, last close applied) of the loan, None if there is no such loan: what a
        cached copy of it must still match."""
        row = self._conn().execute(_STAMP, {"loan_id": loan_id}).first()
        return None if row is None else (row[0], row[1])

    def save(self, rows: Sequence[tuple[str, int, date | None, dict[str, Any],
                                        Mapping[str, Any]]]) -> None:
        """Write snapshots and positions: (loan id, event seq, closed through, state,
        position) each; the position's `closed_through` is the one given."""
        if not rows:
            return
        conn = self._conn()
        conn.execute(_upsert_of(conn, SNAPSHOTS), [
            {"loan_id": loan_id, "seq": seq, "closed_through": closed,
             "state": json.dumps(state, separators=(",", ":"))}
            for loan_id, seq, closed, state, _ in rows])
        conn.execute(_upsert_of(conn, POSITIONS), [
            {**position, "loan_id": loan_id, "closed_through": closed}
            for loan_id, _, closed, _, position in rows])

    def stored(self, loan_id: str) -> tuple[int, date | None, dict, dict] | None:
        """(seq, closed through, state, position) as stored for the loan, or None when it has
        no snapshot or no position."""
        snap = self.snapshot(loan_id)
        row = self._conn().execute(select(*POSITIONS.c).where(
            POSITIONS.c.loan_id == loan_id)).first()
        if snap is None or row is None:
            return None
        pos = {k: v for k, v in row._mapping.items() if k != "loan_id"}
        return snap[0], snap[1], snap[2], pos

    def states(self, loan_ids: Sequence[str]) -> dict[str, tuple[int, int, date | None, dict]]:
        """Several loans at once, for the close: (version, snapshot seq, last close applied,
        snapshot state) of each loan that has a snapshot and a position."""
        out: dict[str, tuple[int, int, date | None, dict]] = {}
        conn = self._conn()
        for start in range(0, len(loan_ids), 900):
            chunk = list(loan_ids[start:start + 900])
            stmt = (select(LOANS.c.loan_id, LOANS.c.version, SNAPSHOTS.c.seq,
                           POSITIONS.c.closed_through, SNAPSHOTS.c.closed_through,
                           SNAPSHOTS.c.state)
                    .select_from(LOANS.join(SNAPSHOTS, SNAPSHOTS.c.loan_id == LOANS.c.loan_id)
                                 .join(POSITIONS, POSITIONS.c.loan_id == LOANS.c.loan_id))
                    .where(LOANS.c.loan_id.in_(chunk)))
            for loan_id, version, seq, closed, snap_closed, state in conn.execute(stmt):
                out[loan_id] = (version, seq, closed, snap_closed, json.loads(state))
        return out

    def set_status(self, changes: Iterable[tuple[str, str]]) -> None:
        """Move loans' status (and version) where a close changed it (settled by credit)."""
        params = [{"b_loan_id": loan_id, "status": status} for loan_id, status in changes]
        if params:
            self._conn().execute(_SET_STATUS, params)

    def closes_of(self, loan_id: str) -> list[tuple[date, int, set[str]]]:
        """Every close whose range holds `loan_id`: (day, event chain seq at its commit, loans
        it failed to close), in chain order: with the loan's events, its full history."""
        return [(day, seq, set(json.loads(failures)))
                for day, seq, failures in self._conn().execute(_CLOSES_OF, {"loan_id": loan_id})]

    # -- the close ----------------------------------------------------------------------------
    def unpositioned_active(self, limit: int = 10_000) -> list[str]:
        """Active loans with no position yet (stored before snapshots existed)."""
        stmt = (select(LOANS.c.loan_id)
                .where(LOANS.c.status == "active",
                       ~select(POSITIONS.c.loan_id).where(
                           POSITIONS.c.loan_id == LOANS.c.loan_id).exists())
                .order_by(LOANS.c.loan_id).limit(limit))
        return [r[0] for r in self._conn().execute(stmt)]

    def eligible_ids(self, day: date) -> list[str]:
        """Ids of the loans a close of `day` still has to close, in order."""
        stmt = text(f"SELECT loan_id FROM loan_positions WHERE {_ELIGIBLE_SQL} ORDER BY loan_id")
        return list(self._conn().execute(stmt.bindparams(_DAY), {"day": day}).scalars())

    def count_eligible(self, day: date) -> int:
        """How many loans a close of `day` still has to close."""
        stmt = text(f"SELECT count(*) FROM loan_positions WHERE {_ELIGIBLE_SQL}")
        return int(self._conn().execute(stmt.bindparams(_DAY), {"day": day}).scalar_one())

    def lock_chain(self) -> int:
        """Lock the chains' head row (appenders of events and entries queue behind the close's
        partition) and return the event chain's head seq."""
        conn = self._conn()
        if conn.dialect.name == "sqlite":  # writers are serialised by the writer lock
            return int(conn.execute(_EVENTS_SEQ).scalar_one())
        return int(conn.execute(_LOCK_HEAD).scalar_one())

    def partition(self, day: date, lo: str, hi: str) -> pl.DataFrame:
        """The due positions of the partition's loans that a close of `day` takes, as columns
        (dates as Int32 day numbers, null for none)."""
        conn = self._conn()
        days = _day_number_sql(conn)
        cols = ", ".join(days.format(c) if c in DATE_COLUMNS else c
                         for c in ("loan_id",) + KERNEL_COLUMNS)
        stmt = text(f"SELECT {cols} FROM loan_positions WHERE {_ELIGIBLE_SQL} "
                    "AND loan_id >= :lo AND loan_id <= :hi").bindparams(_DAY)
        rows = conn.execute(stmt, {"day": day, "lo": lo, "hi": hi}).all()
        schema: dict[str, Any] = {"loan_id": pl.String}
        for c in KERNEL_COLUMNS:
            schema[c] = (pl.Int32 if c in DATE_COLUMNS else
                         pl.String if c in _TEXT_COLUMNS else pl.Int64)
        return pl.DataFrame(rows, schema=schema, orient="row")

    def mark_plain(self, day: date, lo: str, hi: str) -> int:
        """Close the partition's plain loans for `day` in one statement: charged through it."""
        stmt = (update(POSITIONS).where(_plain(day), POSITIONS.c.loan_id >= lo,
                                        POSITIONS.c.loan_id <= hi)
                .values(closed_through=day, charged_to=day))
        return self._conn().execute(stmt).rowcount

    def record_close(self, day: date, lo: str, hi: str, events_seq: int, loans: int, plain: int,
                     entries: int, failures: Mapping[str, str]) -> None:
        self._conn().execute(insert(CLOSES), {
            "business_date": day, "lo": lo, "hi": hi, "events_seq": events_seq, "loans": loans,
            "plain": plain, "entries": entries, "failures": json.dumps(sorted(failures)),
            "closed_at": utcnow()})

    def count_from(self, day: date, lo: str) -> int:
        """How many partitions of `day` starting at loan `lo` are recorded."""
        return int(self._conn().execute(
            select(func.count()).select_from(CLOSES)
            .where(CLOSES.c.business_date == day, CLOSES.c.lo == lo)).scalar_one())

    def records(self) -> Iterator[tuple[date, str, str, int, int, int, list[str]]]:
        """Every close record in the order stored: (day, lo, hi, event chain seq, loans,
        plain, failed loans)."""
        stmt = (select(CLOSES.c.business_date, CLOSES.c.lo, CLOSES.c.hi, CLOSES.c.events_seq,
                       CLOSES.c.loans, CLOSES.c.plain, CLOSES.c.failures).order_by(CLOSES.c.id))
        for day, lo, hi, seq, loans, plain, failures in self._conn().execute(stmt):
            yield day, lo, hi, seq, loans, plain, json.loads(failures)

    def closes_on(self, day: date) -> list[dict[str, Any]]:
        """The partitions recorded for `day`, in order."""
        stmt = (select(CLOSES.c.lo, CLOSES.c.hi, CLOSES.c.loans, CLOSES.c.plain,
                       CLOSES.c.entries, CLOSES.c.failures)
                .where(CLOSES.c.business_date == day).order_by(CLOSES.c.id))
        return [dict(r._mapping) for r in self._conn().execute(stmt)]



def _day_number_sql(conn: Connection) -> str:
    if conn.dialect.name == "postgresql":
        return "({0} - DATE '1970-01-01')"
    return "CAST(julianday({0}) - 2440587.5 AS INTEGER)"


__all__ = ["CloseRepository", "DATE_COLUMNS", "POSITION_COLUMNS"]
