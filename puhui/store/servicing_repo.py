"""Staff servicing requests (maker-checker): every SQL statement on `servicing_requests`.

A request is one staff operation on one loan (a reschedule, a waiver, a write-off ...) as the
maker asked for it: operation, parameters, reason, amount, and who asked when.  Its status moves
once from `pending` to `applied`, `rejected`, `expired` or `failed` (or is `applied` at once
when the operation needs no second person), and the row keeps who decided, when, under which
key and why.  The table is the servicing record: the loan events and journal entries an applied
request made carry its id in their key.  A database check refuses an applied request whose
checker is its maker, so no code path can let one person both ask and approve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Index,
    String,
    Text,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from puhui.store.models import Base, UTCDateTime

PENDING, APPLIED, REJECTED, EXPIRED, FAILED = "pending", "applied", "rejected", "expired", "failed"
STATUSES = (PENDING, APPLIED, REJECTED, EXPIRED, FAILED)
#: The operations that set and lift a servicing hold (a frozen loan).
FREEZE, UNFREEZE = "freeze", "unfreeze"


class ServicingRequestRow(Base):
    """One staff servicing operation on a loan, from the maker's request to its outcome."""

    __tablename__ = "servicing_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'applied', 'rejected', 'expired', 'failed')",
                        name="status"),
        CheckConstraint("status <> 'applied' OR checker IS NULL OR checker <> maker",
                        name="checker_is_not_maker"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_servicing_requests_loan_id_request_id", "loan_id", "request_id"),
        Index("ix_servicing_requests_status_request_id", "status", "request_id"),
    )

    request_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The maker's idempotency key: a request sent again finds the row it made.
    request_key: Mapped[str] = mapped_column(String(300), unique=True)
    loan_id: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(32))
    #: The operation's parameters as canonical JSON (sorted keys).
    params: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(500))
    #: The money the operation moves, in minor units (what the approval thresholds compare).
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    needs_approval: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    maker: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checker: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_key: Mapped[str | None] = mapped_column(String(300))
    #: The checker's note on a rejection, or why applying failed or the request expired.
    note: Mapped[str | None] = mapped_column(Text)
    #: The loan event an applied request stored (None for a hold, which posts nothing).
    event_key: Mapped[str | None] = mapped_column(String(200))
    #: What applying did, as JSON (journal entry numbers, the hold set or lifted).
    result: Mapped[str | None] = mapped_column(Text)


_T = ServicingRequestRow.__table__


@dataclass(frozen=True)
class ServicingRequest:
    """A request as stored, detached from the session."""

    request_id: str
    request_key: str
    loan_id: str
    operation: str
    params: str
    reason: str
    amount: int
    currency: str
    needs_approval: bool
    status: str
    maker: str
    requested_at: datetime
    expires_at: datetime | None
    checker: str | None
    decided_at: datetime | None
    decision_key: str | None
    note: str | None
    event_key: str | None
    result: str | None


def _of(row: Any) -> ServicingRequest:
    return ServicingRequest(**{c.name: getattr(row, c.name) for c in _T.columns})


def add(session: Session, **values: Any) -> ServicingRequest:
    """Store a new request (its status and outcome as given: a request applied at once is
    stored applied).  A second request with the same `request_key` fails with `WriteConflict`."""
    session.execute(_T.insert().values(**values))
    found = get(session, values["request_id"])
    assert found is not None
    return found


def get(session: Session, request_id: str, lock: bool = False) -> ServicingRequest | None:
    """The request `request_id`; with `lock`, held against concurrent decisions until the
    transaction ends (SELECT ... FOR UPDATE on PostgreSQL; SQLite has one writer)."""
    query = select(_T).where(_T.c.request_id == request_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).first()
    return None if row is None else _of(row)


def by_key(session: Session, request_key: str) -> ServicingRequest | None:
    """The request made under the maker's key `request_key`, if any."""
    row = session.execute(select(_T).where(_T.c.request_key == request_key)).first()
    return None if row is None else _of(row)


def decide(session: Session, request_id: str, *, status: str, checker: str | None,
           decided_at: datetime, decision_key: str | None, note: str | None = None,
           event_key: str | None = None, result: str | None = None) -> ServicingRequest:
    """Move a pending request to its outcome; `ValueError` if it is no longer pending (the
    caller locked and checked it, so this only guards the invariant)."""
    done = session.execute(update(_T).where(
        and_(_T.c.request_id == request_id, _T.c.status == PENDING)).values(
        status=status, checker=checker, decided_at=decided_at, decision_key=decision_key,
        note=note, event_key=event_key, result=result))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise ValueError(f"servicing request {request_id} is not pending")
    found = get(session, request_id)
    assert found is not None
    return found


def listing(session: Session, *, status: str | None = None, loan_id: str | None = None,
            after: str | None = None, limit: int = 50,
            now: datetime | None = None) -> list[ServicingRequest]:
    """Requests in id (time) order, optionally of one status and one loan; keyset-paged.
    With `now`, a pending request whose time ran out counts as expired (it is marked so by
    the next decision or `expire_pending`; a listing only reads)."""
    query = select(_T)
    ran_out = and_(_T.c.status == PENDING, _T.c.expires_at.is_not(None),
                   _T.c.expires_at <= now) if now is not None else None
    if status == PENDING and ran_out is not None:
        query = query.where(_T.c.status == PENDING, ~ran_out)
    elif status == EXPIRED and ran_out is not None:
        query = query.where(or_(_T.c.status == EXPIRED, ran_out))
    elif status is not None:
        query = query.where(_T.c.status == status)
    if loan_id is not None:
        query = query.where(_T.c.loan_id == loan_id)
    if after is not None:
        query = query.where(_T.c.request_id > after)
    rows = session.execute(query.order_by(_T.c.request_id).limit(limit)).all()
    return [_of(r) for r in rows]


def expire_pending(session: Session, now: datetime) -> list[str]:
    """Mark every pending request whose time ran out expired; the ids marked."""
    ids = list(session.execute(select(_T.c.request_id).where(and_(
        _T.c.status == PENDING, _T.c.expires_at.is_not(None), _T.c.expires_at <= now))
    ).scalars())
    if ids:
        session.execute(update(_T).where(and_(_T.c.request_id.in_(ids), _T.c.status == PENDING))
                        .values(status=EXPIRED, decided_at=now,
                                note="expired before a second person decided it"))
    return ids


def frozen_loans(session: Session, loan_ids: list[str] | None = None) -> set[str]:
    """The loans under a servicing hold: their last applied freeze or unfreeze is a freeze.
    Limited to `loan_ids` when given."""
    holds = select(_T.c.loan_id, _T.c.operation, _T.c.request_id).where(and_(
        _T.c.status == APPLIED, _T.c.operation.in_((FREEZE, UNFREEZE))))
    if loan_ids is not None:
        if not loan_ids:
            return set()
        holds = holds.where(_T.c.loan_id.in_(loan_ids))
    last = holds.subquery()
    newest = select(last.c.loan_id, func.max(last.c.request_id).label("newest")) \
        .group_by(last.c.loan_id).subquery()
    rows = session.execute(select(last.c.loan_id).join(newest, and_(
        newest.c.loan_id == last.c.loan_id, newest.c.newest == last.c.request_id)).where(
        last.c.operation == FREEZE)).scalars()
    return set(rows)


__all__ = ["APPLIED", "EXPIRED", "FAILED", "FREEZE", "PENDING", "REJECTED", "STATUSES",
           "ServicingRequest", "ServicingRequestRow", "UNFREEZE", "add", "by_key", "decide",
           "expire_pending", "frozen_loans", "get", "listing"]
