"""Collections' tables and every statement on them: cases, contact attempts, promises to pay,
restructuring offers and the audit trail.

Why these shapes:
- A loan has at most one case per delinquency episode: (loan_id, episode) is unique, so two
  runs of the daily job (or two processes) that both find a loan overdue open one case.
- Attempts, promises and offers carry the caller's request key, unique per case, so an act
  sent again is found, not recorded twice.
- `collection_audit` is append-only (triggers of migration 0018): who did what, when, to which
  case, and the refusals too.
Nothing here commits: the caller's unit of work does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable

from sqlalchemy import (BigInteger, Boolean, Date, Index, Integer, String, Text,
                        UniqueConstraint, false, func, select, update)
from sqlalchemy.orm import Mapped, Session, mapped_column

from puhui.store.close_models import LoanPositionRow
from puhui.store.line_repo import EVENTS, LINES
from puhui.store.models import Base, BigKey, LoanRow, UTCDateTime
from puhui.store.platform_models import ApplicationRow
from puhui.store.warnings_repo import LoanWatchStatusRow as W

OPEN, CLOSED = "open", "closed"
DELINQUENCY, EARLY_WARNING = "delinquency", "early_warning"


class CollectionCaseRow(Base):
    """A delinquent loan under collection, from the day it went overdue to its cure or end."""

    __tablename__ = "collection_cases"
    __table_args__ = (UniqueConstraint("loan_id", "episode"),
                      Index("ix_collection_cases_status_priority", "status", "priority"))

    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    episode: Mapped[int] = mapped_column(Integer)
    applicant_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    opened_on: Mapped[date] = mapped_column(Date)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    strategy: Mapped[str] = mapped_column(String(40))
    stage: Mapped[int] = mapped_column(Integer)
    stage_name: Mapped[str] = mapped_column(String(40))
    escalations: Mapped[int] = mapped_column(Integer)
    dpd: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(16))
    risk_class: Mapped[str] = mapped_column(String(20))
    amount_overdue: Mapped[int] = mapped_column(BigInteger)
    owed: Mapped[int] = mapped_column(BigInteger)
    priority: Mapped[int] = mapped_column(BigInteger)
    reviewed_on: Mapped[date] = mapped_column(Date)
    collector: Mapped[str | None] = mapped_column(String(200), index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_on: Mapped[date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # opened by the daily review for a loan past due, or by an early warning before it was
    origin: Mapped[str] = mapped_column(String(20), default=DELINQUENCY,
                                        server_default=DELINQUENCY)
    # a call the early warning asked for, until a collector calls (migration 0020)
    call_requested_on: Mapped[date | None] = mapped_column(Date, default=None)
    call_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    call_urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ContactAttemptRow(Base):
    """One contact of a borrower about a case, within the contact rules, and its outcome."""

    __tablename__ = "contact_attempts"
    __table_args__ = (UniqueConstraint("case_id", "request_key"),
                      Index("ix_contact_attempts_borrower_attempted_at", "borrower",
                            "attempted_at"))

    attempt_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(32), index=True)
    loan_id: Mapped[str] = mapped_column(String(64))
    borrower: Mapped[str] = mapped_column(String(64))
    collector: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    party: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(String(500))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    request_key: Mapped[str] = mapped_column(String(200))


class PromiseRow(Base):
    """A promise to pay an amount by a date, and whether it was kept."""

    __tablename__ = "collection_promises"
    __table_args__ = (UniqueConstraint("case_id", "request_key"),
                      Index("ix_collection_promises_status_due_on", "status", "due_on"))

    promise_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(32), index=True)
    loan_id: Mapped[str] = mapped_column(String(64))
    attempt_id: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    made_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    paid: Mapped[int] = mapped_column(BigInteger)
    checked_on: Mapped[date | None] = mapped_column(Date)
    made_by: Mapped[str] = mapped_column(String(200))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())
    request_key: Mapped[str] = mapped_column(String(200))


class RestructuringOfferRow(Base):
    """Restructured terms proposed from a case; applied to the loan when accepted."""

    __tablename__ = "restructuring_offers"
    __table_args__ = (UniqueConstraint("case_id", "request_key"),)

    offer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(32), index=True)
    loan_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    request: Mapped[str] = mapped_column(Text)     # the terms asked for (JSON)
    terms: Mapped[str] = mapped_column(Text)       # the plan as checked (JSON)
    rate_cap: Mapped[str] = mapped_column(Text)    # the cap it was checked against (JSON)
    status: Mapped[str] = mapped_column(String(20))
    proposed_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    proposed_by: Mapped[str] = mapped_column(String(200))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event_key: Mapped[str | None] = mapped_column(String(200))
    operation: Mapped[str | None] = mapped_column(Text)  # what applying it returned (JSON)
    request_key: Mapped[str] = mapped_column(String(200))


class CollectionAuditRow(Base):
    """Append-only: every act on a case (and every refusal) with who and when."""

    __tablename__ = "collection_audit"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(String(32), index=True)
    loan_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)


APPEND_ONLY_COLLECTION_TABLES = ("collection_audit",)

_CASE_FIELDS = tuple(c.name for c in CollectionCaseRow.__table__.columns)


@dataclass(frozen=True)
class CaseRecord:
    """A case as stored, detached from the session."""

    case_id: str
    loan_id: str
    episode: int
    applicant_id: str | None
    status: str
    opened_on: date
    opened_at: datetime
    strategy: str
    stage: int
    stage_name: str
    escalations: int
    dpd: int
    bucket: str
    risk_class: str
    amount_overdue: int
    owed: int
    priority: int
    reviewed_on: date
    collector: str | None
    assigned_at: datetime | None
    closed_on: date | None
    close_reason: str | None
    updated_at: datetime
    origin: str = DELINQUENCY
    call_requested_on: date | None = None
    call_reason: str | None = None
    call_urgent: bool = False

    @property
    def borrower(self) -> str:
        """Whom the contact caps count against: the applicant, or the loan when it was booked
        outside origination (a migrated book)."""
        return self.applicant_id or f"loan:{self.loan_id}"


def _case(row: CollectionCaseRow) -> CaseRecord:
    return CaseRecord(**{f: getattr(row, f) for f in _CASE_FIELDS})


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- the book, as collections see it -----------------------------------------------------------



def _line_borrowers() -> Any:
    """(loan_id, applicant_id) of the loans drawn under a credit line: the line's borrower."""
    return select(EVENTS.c.loan_id, LINES.c.applicant_id).join(
        LINES, LINES.c.line_id == EVENTS.c.line_id).where(EVENTS.c.kind == "draw").subquery()


def review_candidates(session: Session, day: date) -> list[tuple[str, str | None]]:
    """(loan_id, applicant_id or None) of the active loans that may be past due on `day`: in
    arrears at their last close, or with a due date (or a day the close must look at) before
    `day` since it, or without a due position at all.  The others cannot be past due, so the
    daily review need not load them (a book of 200,000 loans has a few thousand candidates)."""
    pos = LoanPositionRow
    draw = _line_borrowers()
    rows = session.execute(
        # a loan drawn under a credit line belongs to the line's borrower
        select(LoanRow.loan_id, func.coalesce(ApplicationRow.applicant_id, draw.c.applicant_id))
        .outerjoin(pos, pos.loan_id == LoanRow.loan_id)
        .outerjoin(ApplicationRow, ApplicationRow.loan_id == LoanRow.loan_id)
        .outerjoin(draw, draw.c.loan_id == LoanRow.loan_id)
        .where(LoanRow.status == "active",
               (pos.loan_id.is_(None)) | pos.arrears_since.is_not(None) | (pos.next_break < day))
        .order_by(LoanRow.loan_id)).all()
    return [(r[0], r[1]) for r in rows]


def applicant_of_loan(session: Session, loan_id: str) -> str | None:
    """The loan's borrower: its application's applicant, or, for a loan drawn under a credit
    line, the line's."""
    draw = _line_borrowers()
    return session.execute(
        select(func.coalesce(ApplicationRow.applicant_id, draw.c.applicant_id))
        .select_from(LoanRow)
        .outerjoin(ApplicationRow, ApplicationRow.loan_id == LoanRow.loan_id)
        .outerjoin(draw, draw.c.loan_id == LoanRow.loan_id)
        .where(LoanRow.loan_id == loan_id)).scalar()


def loan_statuses(session: Session, loan_ids: Iterable[str]) -> dict[str, str]:
    ids = list(loan_ids)
    out: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        rows = session.execute(select(LoanRow.loan_id, LoanRow.status)
                               .where(LoanRow.loan_id.in_(ids[i:i + 500]))).all()
        out.update((r[0], r[1]) for r in rows)
    return out




# -- cases ---------------------------------------------------------------------------------------

def open_cases(session: Session) -> list[CaseRecord]:
    rows = session.execute(select(CollectionCaseRow).where(CollectionCaseRow.status == OPEN)
                           .order_by(CollectionCaseRow.loan_id)).scalars()
    return [_case(r) for r in rows]




def last_episode(session: Session, loan_id: str) -> int:
    return session.execute(select(func.coalesce(func.max(CollectionCaseRow.episode), 0))
                           .where(CollectionCaseRow.loan_id == loan_id)).scalar_one()


def add_case(session: Session, **values: Any) -> CaseRecord:
    row = CollectionCaseRow(**values)
    session.add(row)
    session.flush()
    return _case(row)


def get_case(session: Session, case_id: str, lock: bool = False) -> CaseRecord | None:
    query = select(CollectionCaseRow).where(CollectionCaseRow.case_id == case_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    return None if row is None else _case(row)


def lock_borrower(session: Session, borrower: str) -> None:
    """Hold the borrower's cases until the transaction ends (PostgreSQL; SQLite has one writer
    anyway): two collectors on two of one borrower's loans count the day's contacts in turn."""
    if borrower.startswith("loan:"):
        query = select(CollectionCaseRow.case_id).where(
            CollectionCaseRow.loan_id == borrower[len("loan:"):])
    else:
        query = select(CollectionCaseRow.case_id).where(
            CollectionCaseRow.applicant_id == borrower)
    session.execute(query.order_by(CollectionCaseRow.case_id).with_for_update()).all()


def update_case(session: Session, case_id: str, **values: Any) -> None:
    session.execute(update(CollectionCaseRow).where(CollectionCaseRow.case_id == case_id)
                    .values(**values))


def cases_for_queue(session: Session, collector: str | None, unassigned: bool,
                    limit: int) -> list[CaseRecord]:
    """Open cases, those with a call asked for by an early warning first (urgent ones before
    the others), then by priority (amount overdue x days past due), highest first: a
    collector's, the unassigned ones, or all."""
    query = select(CollectionCaseRow).where(CollectionCaseRow.status == OPEN)
    if unassigned:
        query = query.where(CollectionCaseRow.collector.is_(None))
    elif collector is not None:
        query = query.where(CollectionCaseRow.collector == collector)
    # a call an early warning asked for comes first, an urgent one before the others
    query = query.order_by(CollectionCaseRow.call_urgent.desc(),
                           CollectionCaseRow.call_requested_on.is_(None),
                           CollectionCaseRow.priority.desc(), CollectionCaseRow.case_id)
    return [_case(r) for r in session.execute(query.limit(limit)).scalars()]


def open_case_of_loan(session: Session, loan_id: str, lock: bool = False) -> CaseRecord | None:
    query = select(CollectionCaseRow).where(CollectionCaseRow.loan_id == loan_id,
                                            CollectionCaseRow.status == OPEN)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    return None if row is None else _case(row)


def audited_with_key(session: Session, loan_id: str, actions: Iterable[str],
                     key: str) -> dict[str, Any] | None:
    """The audit row of an act on one of the loan's cases done under `key` (an early-warning
    action's key), if any: what makes that act idempotent."""
    case_ids = select(CollectionCaseRow.case_id).where(CollectionCaseRow.loan_id == loan_id)
    rows = session.execute(select(CollectionAuditRow).where(
        CollectionAuditRow.case_id.in_(case_ids), CollectionAuditRow.action.in_(list(actions)),
        CollectionAuditRow.outcome == "done").order_by(CollectionAuditRow.id)).scalars()
    for r in rows:
        detail = json.loads(r.detail)
        if detail.get("key") == key:
            return {"case_id": r.case_id, "action": r.action, "detail": detail}
    return None


def latest_watch_status(session: Session, loan_id: str, day: date) -> str | None:
    """The loan's early-warning status on its latest assessment up to `day` (None: never
    assessed): an early-warning case stays open while it is not normal."""
    return session.execute(select(W.status).where(W.loan_id == loan_id, W.as_of <= day)
                           .order_by(W.as_of.desc()).limit(1)).scalar()


def cases_of_loan(session: Session, loan_id: str) -> list[CaseRecord]:
    rows = session.execute(select(CollectionCaseRow).where(CollectionCaseRow.loan_id == loan_id)
                           .order_by(CollectionCaseRow.episode)).scalars()
    return [_case(r) for r in rows]


# -- contact attempts ------------------------------------------------------------------------

def attempt_by_key(session: Session, case_id: str, key: str) -> ContactAttemptRow | None:
    return session.execute(select(ContactAttemptRow).where(
        ContactAttemptRow.case_id == case_id,
        ContactAttemptRow.request_key == key)).scalar_one_or_none()


def attempt_times(session: Session, borrower: str, since: datetime) -> list[datetime]:
    """When the borrower was contacted from `since` on (every case, every channel)."""
    return list(session.execute(select(ContactAttemptRow.attempted_at).where(
        ContactAttemptRow.borrower == borrower,
        ContactAttemptRow.attempted_at >= since)).scalars())


def add_attempt(session: Session, **values: Any) -> ContactAttemptRow:
    row = ContactAttemptRow(**values)
    session.add(row)
    session.flush()
    return row


def attempts_of(session: Session, case_id: str) -> list[ContactAttemptRow]:
    return list(session.execute(select(ContactAttemptRow).where(
        ContactAttemptRow.case_id == case_id).order_by(ContactAttemptRow.attempted_at,
                                                       ContactAttemptRow.attempt_id)).scalars())


# -- promises -----------------------------------------------------------------------------------

def promise_by_key(session: Session, case_id: str, key: str) -> PromiseRow | None:
    return session.execute(select(PromiseRow).where(
        PromiseRow.case_id == case_id, PromiseRow.request_key == key)).scalar_one_or_none()


def add_promise(session: Session, **values: Any) -> PromiseRow:
    row = PromiseRow(**values)
    session.add(row)
    session.flush()
    return row


def promises_of(session: Session, case_id: str) -> list[PromiseRow]:
    return list(session.execute(select(PromiseRow).where(PromiseRow.case_id == case_id)
                                .order_by(PromiseRow.made_at, PromiseRow.promise_id)).scalars())


def pending_promises(session: Session, case_ids: Iterable[str] | None = None) -> list[PromiseRow]:
    query = select(PromiseRow).where(PromiseRow.status == "pending")
    if case_ids is not None:
        query = query.where(PromiseRow.case_id.in_(list(case_ids)))
    return list(session.execute(query.order_by(PromiseRow.due_on, PromiseRow.promise_id))
                .scalars())


def settle_promise(session: Session, promise_id: str, status: str, paid: int,
                   checked_on: date) -> None:
    session.execute(update(PromiseRow).where(PromiseRow.promise_id == promise_id)
                    .values(status=status, paid=paid, checked_on=checked_on))


def last_kept_promise(session: Session, case_id: str) -> date | None:
    return session.execute(select(func.max(PromiseRow.checked_on)).where(
        PromiseRow.case_id == case_id, PromiseRow.status == "kept")).scalar_one()


# -- restructuring offers ---------------------------------------------------------------------

def offer_by_key(session: Session, case_id: str, key: str) -> RestructuringOfferRow | None:
    return session.execute(select(RestructuringOfferRow).where(
        RestructuringOfferRow.case_id == case_id,
        RestructuringOfferRow.request_key == key)).scalar_one_or_none()


def add_offer(session: Session, *, request: dict[str, Any], terms: dict[str, Any],
              rate_cap: dict[str, Any], **values: Any) -> RestructuringOfferRow:
    row = RestructuringOfferRow(request=_dumps(request), terms=_dumps(terms),
                                rate_cap=_dumps(rate_cap), **values)
    session.add(row)
    session.flush()
    return row


def get_offer(session: Session, offer_id: str, lock: bool = False) -> RestructuringOfferRow | None:
    query = select(RestructuringOfferRow).where(RestructuringOfferRow.offer_id == offer_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def offers_of(session: Session, case_id: str) -> list[RestructuringOfferRow]:
    return list(session.execute(select(RestructuringOfferRow).where(
        RestructuringOfferRow.case_id == case_id).order_by(
        RestructuringOfferRow.proposed_at, RestructuringOfferRow.offer_id)).scalars())


def decide_offer(session: Session, offer_id: str, *, status: str, decided_by: str,
                 decided_at: datetime, event_key: str | None = None,
                 operation: dict[str, Any] | None = None) -> None:
    session.execute(update(RestructuringOfferRow)
                    .where(RestructuringOfferRow.offer_id == offer_id)
                    .values(status=status, decided_by=decided_by, decided_at=decided_at,
                            event_key=event_key,
                            operation=None if operation is None else _dumps(operation)))


def expire_offers(session: Session, case_id: str, today: date, at: datetime) -> int:
    """Mark the case's proposed offers past their date expired (the case closed, or time ran)."""
    result = session.execute(update(RestructuringOfferRow).where(
        RestructuringOfferRow.case_id == case_id, RestructuringOfferRow.status == "proposed",
        RestructuringOfferRow.expires_on < today).values(
        status="expired", decided_by="system", decided_at=at))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def withdraw_offers(session: Session, case_id: str, at: datetime) -> int:
    result = session.execute(update(RestructuringOfferRow).where(
        RestructuringOfferRow.case_id == case_id, RestructuringOfferRow.status == "proposed")
        .values(status="withdrawn", decided_by="system", decided_at=at))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- audit -----------------------------------------------------------------------------------

def audit(session: Session, *, at: datetime, actor: str, action: str, outcome: str = "done",
          case_id: str | None = None, loan_id: str | None = None,
          detail: dict[str, Any] | None = None) -> None:
    session.add(CollectionAuditRow(at=at, actor=actor, action=action, outcome=outcome,
                                   case_id=case_id, loan_id=loan_id,
                                   detail=_dumps(detail or {})))
    session.flush()


def audit_trail(session: Session, case_id: str | None = None, limit: int = 500
                ) -> list[dict[str, Any]]:
    query = select(CollectionAuditRow)
    if case_id is not None:
        query = query.where(CollectionAuditRow.case_id == case_id)
    rows = session.execute(query.order_by(CollectionAuditRow.id).limit(limit)).scalars()
    return [{"id": r.id, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
             "outcome": r.outcome, "case_id": r.case_id, "loan_id": r.loan_id,
             "detail": json.loads(r.detail)} for r in rows]


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
