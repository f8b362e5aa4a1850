"""Credit lines and their events as stored: every statement the line services make.

A line is one row (`credit_lines`) holding its current figures and a version; every change is
a row of `line_events` (append-only) written in the same transaction, so the events always
explain the row.  A draw or a change reads the line `FOR UPDATE` (PostgreSQL: two draws racing
for the last available amount queue on the row; SQLite: the writer lock already serialises
them) and writes it back under the version it read.  Nothing here commits.
"""

from __future__ import annotations

from collections import namedtuple
from datetime import date, datetime
from operator import attrgetter
from typing import Any, Mapping, Sequence

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from puhui.store.bulk import result_converters, select_in, typed_rows
from puhui.store.models import Base, BigKey, UTCDateTime
from puhui.store.scoping import Visibility, narrowed


class CreditLineRow(Base):
    """A granted credit line: its current limit, drawn principal, price and status."""

    __tablename__ = "credit_lines"

    line_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    applicant_id: Mapped[str] = mapped_column(String(32), index=True)
    partner_id: Mapped[str | None] = mapped_column(String(64), index=True)
    application_id: Mapped[str] = mapped_column(String(32), unique=True)
    contract_id: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str] = mapped_column(String(32))
    product_code: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    credit_limit: Mapped[int] = mapped_column(BigInteger)
    drawn: Mapped[int] = mapped_column(BigInteger)
    annual_rate: Mapped[str] = mapped_column(String(32))
    opened_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    changed_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LineEventRow(Base):
    """One change of a line, with its figures after the change (append-only)."""

    __tablename__ = "line_events"
    __table_args__ = (UniqueConstraint("line_id", "seq"), UniqueConstraint("line_id", "event_key"))

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(32), ForeignKey("credit_lines.line_id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    request_key: Mapped[str] = mapped_column(String(200))
    event_key: Mapped[str] = mapped_column(String(240))
    occurred_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    commitment: Mapped[int] = mapped_column(BigInteger)
    credit_limit: Mapped[int] = mapped_column(BigInteger)
    drawn: Mapped[int] = mapped_column(BigInteger)
    annual_rate: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    loan_id: Mapped[str | None] = mapped_column(String(32), index=True)
    decision_id: Mapped[str | None] = mapped_column(String(64))
    journal_seq: Mapped[int | None] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


LINES = CreditLineRow.__table__
EVENTS = LineEventRow.__table__
#: The line's columns an operation may change.
MUTABLE = ("credit_limit", "drawn", "annual_rate", "status", "changed_on", "version",
           "updated_at")
#: Tables whose rows are never updated or deleted (triggers of migration 0014).
APPEND_ONLY_LINE_TABLES = ("line_events",)


def read(session: Session, line_id: str, lock: bool = False) -> Any | None:
    """The line's row, locked for update when `lock`; None if there is none."""
    query = select(LINES).where(LINES.c.line_id == line_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).first()


def read_many(session: Session, line_ids: Sequence[str], lock: bool = False) -> dict[str, Any]:
    """`read` of many lines at once (chunks of 500 ids per statement): line id -> row, for the
    lines that exist.  Locked in line id order, as every bulk change locks them, so two bulk
    changes never wait on each other crosswise."""
    ids, out = sorted(set(line_ids)), {}
    for start in range(0, len(ids), 500):
        query = (select(LINES).where(LINES.c.line_id.in_(ids[start:start + 500]))
                 .order_by(LINES.c.line_id))
        if lock:
            query = query.with_for_update()
        out.update((row.line_id, row) for row in session.execute(query))
    return out


def for_application(session: Session, application_id: str) -> Any | None:
    return session.execute(select(LINES).where(LINES.c.application_id == application_id)).first()


def page(session: Session, after: str | None, limit: int, status: str | None,
         visible: Visibility, applicant_id: str | None = None) -> list[Any]:
    """Lines in id order after `after`, at most `limit`, of those `visible` to the caller."""
    query = select(LINES).order_by(LINES.c.line_id).limit(limit)
    if after:
        query = query.where(LINES.c.line_id > after)
    if status:
        query = query.where(LINES.c.status == status)
    if applicant_id:
        query = query.where(LINES.c.applicant_id == applicant_id)
    query = narrowed(query, visible, LINES.c.partner_id, LINES.c.applicant_id)
    return list(session.execute(query))


def of_applicant(session: Session, applicant_id: str) -> list[Any]:
    return list(session.execute(select(LINES).where(LINES.c.applicant_id == applicant_id)
                                .order_by(LINES.c.line_id)))


def of_applicants(session: Session, applicant_ids: Sequence[str]) -> list[Any]:
    """The lines of many applicants, by line id: the refresh reads every line of a chunk of
    borrowers, so one statement through the driver (`bulk.select_in`) into light named tuples
    (`LineRowTuple`, the same values and types as `of_applicants_core`'s rows)."""
    conn = session.connection()
    rows = select_in(conn, _OF_APPLICANTS_SQL, list(applicant_ids))
    found = typed_rows(rows, LineRowTuple, result_converters(conn, list(LINES.columns)))
    return sorted(found, key=_LINE_ID)


LineRowTuple = namedtuple("LineRowTuple", [c.name for c in LINES.columns])  # type: ignore[misc]
_OF_APPLICANTS_SQL = ("SELECT " + ", ".join(c.name for c in LINES.columns)
                      + " FROM credit_lines WHERE applicant_id {values}")
_LINE_ID = attrgetter("line_id")


def of_applicants_core(session: Session, applicant_ids: Sequence[str]) -> list[Any]:
    """`of_applicants` through SQLAlchemy Core (chunks of 500 ids per statement): the plain
    form the raw read is held equal to."""
    ids, out = list(applicant_ids), []
    for start in range(0, len(ids), 500):
        out.extend(session.execute(select(LINES).where(
            LINES.c.applicant_id.in_(ids[start:start + 500]))))
    return sorted(out, key=lambda r: r.line_id)


def insert_line(session: Session, values: Mapping[str, Any]) -> None:
    session.execute(insert(LINES), [dict(values)])


def update_line(session: Session, line_id: str, stored_version: int,
                values: Mapping[str, Any]) -> int:
    """Write the `MUTABLE` columns if the row is still at `stored_version`; rows changed."""
    result = session.execute(update(LINES).where(LINES.c.line_id == line_id,
                                                 LINES.c.version == stored_version)
                             .values({k: values[k] for k in MUTABLE}))
    return int(result.rowcount or 0)


def update_lines(session: Session,
                 changes: Sequence[tuple[str, int, Mapping[str, Any]]]) -> int:
    """`update_line` of many lines in one statement executed for each (line id, stored
    version, values); the number of rows changed (fewer than given: one moved meanwhile)."""
    if not changes:
        return 0
    statement = (update(LINES).where(LINES.c.line_id == bindparam("b_line_id"),
                                     LINES.c.version == bindparam("b_version"))
                 .values({k: bindparam(k) for k in MUTABLE}))
    result = session.execute(statement, [{"b_line_id": line_id, "b_version": version,
                                          **{k: values[k] for k in MUTABLE}}
                                         for line_id, version, values in changes])
    return int(result.rowcount or 0)


def insert_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        session.execute(insert(EVENTS), [dict(r) for r in rows])


def events(session: Session, line_id: str, request_key: str | None = None) -> list[Any]:
    """The line's events, oldest first (only those of one request when `request_key`)."""
    query = select(EVENTS).where(EVENTS.c.line_id == line_id).order_by(EVENTS.c.seq)
    if request_key is not None:
        query = query.where(EVENTS.c.request_key == request_key)
    return list(session.execute(query))


def events_of_requests(session: Session,
                       requests: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[Any]]:
    """`events(session, line_id, request_key)` for many (line id, request key) pairs at once
    (chunks of 400 pairs per statement): each pair that has events -> its events, oldest
    first."""
    pairs = sorted(set(requests))
    out: dict[tuple[str, str], list[Any]] = {}
    for start in range(0, len(pairs), 400):
        chunk = pairs[start:start + 400]
        wanted = set(chunk)
        query = (select(EVENTS)
                 .where(EVENTS.c.line_id.in_(sorted({line for line, _ in chunk})),
                        EVENTS.c.request_key.in_(sorted({key for _, key in chunk})))
                 .order_by(EVENTS.c.line_id, EVENTS.c.seq))
        for row in session.execute(query):
            if (row.line_id, row.request_key) in wanted:
                out.setdefault((row.line_id, row.request_key), []).append(row)
    return out


def loans_of(session: Session, line_id: str) -> list[str]:
    """The loans drawn under the line, in the order drawn."""
    return list(session.execute(select(EVENTS.c.loan_id)
                                .where(EVENTS.c.line_id == line_id, EVENTS.c.kind == "draw")
                                .order_by(EVENTS.c.seq)).scalars())


_LOANS_OF_LINES_SQL = ("SELECT line_id, loan_id FROM line_events WHERE kind = 'draw' "
                       "AND line_id {values} ORDER BY line_id, seq")


def loans_of_lines(session: Session, line_ids: Sequence[str]) -> dict[str, list[str]]:
    """`loans_of` for many lines at once (`bulk.select_in`: one statement per tens of
    thousands): every one of `line_ids`, with [] for a line that drew nothing."""
    ids = list(dict.fromkeys(line_ids))
    out: dict[str, list[str]] = {line_id: [] for line_id in ids}
    for line_id, loan_id in select_in(session.connection(), _LOANS_OF_LINES_SQL, ids):
        out[line_id].append(loan_id)
    return out


def line_of_loan(session: Session, loan_id: str) -> str | None:
    """The line a loan was drawn under, or None for a loan of its own."""
    return session.execute(select(EVENTS.c.line_id)
                           .where(EVENTS.c.loan_id == loan_id, EVENTS.c.kind == "draw")
                           .limit(1)).scalar()


def ids_to_sync(session: Session) -> list[str]:
    """Lines that may still expire or have principal to restore: not closed, or still drawn."""
    return list(session.execute(select(LINES.c.line_id)
                                .where(or_(LINES.c.status.in_(("active", "frozen")),
                                           LINES.c.drawn > 0))
                                .order_by(LINES.c.line_id)).scalars())


def drawn_loans(session: Session) -> list[Any]:
    """(loan_id, applicant_id, contract_id, application_id) of every loan drawn under a line,
    by loan id: the auto-debit pulls from the line's bound account as from a paid-out loan's."""
    return list(session.execute(
        select(EVENTS.c.loan_id, LINES.c.applicant_id, LINES.c.contract_id,
               LINES.c.application_id)
        .join(LINES, LINES.c.line_id == EVENTS.c.line_id)
        .where(EVENTS.c.kind == "draw").order_by(EVENTS.c.loan_id)).all())


def drawn_loan_ids(session: Session, after: str | None, limit: int,
                   visible: Visibility) -> list[str]:
    """Ids of loans drawn under lines, in order after `after`, at most `limit`, of those
    `visible` to the caller (the loan list merges them with the paid-out applications')."""
    query = (select(EVENTS.c.loan_id).join(LINES, LINES.c.line_id == EVENTS.c.line_id)
             .where(EVENTS.c.kind == "draw").order_by(EVENTS.c.loan_id).limit(limit))
    if after:
        query = query.where(EVENTS.c.loan_id > after)
    query = narrowed(query, visible, LINES.c.partner_id, LINES.c.applicant_id)
    return list(session.execute(query).scalars())
