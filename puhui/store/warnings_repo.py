"""Early-warning statuses and actions, month-end portfolio positions and loan-loss provisions as
stored, and the reads the warning job and the portfolio reports make.

One status row per loan and day (unique), so the daily job run twice stores one; one action row
per idempotency key; one position row per loan and month end; one provision row per month end
(its journal entry carries the month in its event key, so the ledger takes it once too).
Every function works in the caller's session; none commits.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import (
    CHAR,
    BigInteger,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from puhui.store.line_repo import EVENTS, LINES
from puhui.store.models import Base, BigKey, UTCDateTime
from puhui.store.platform_models import ApplicationRow, AutoDebitRow, DisbursementRow
from puhui.store.risk_models import SourcePayloadRow


class LoanWatchStatusRow(Base):
    """A loan's watch-list status on one day, with the signals and rules behind it."""

    __tablename__ = "loan_watch_statuses"
    __table_args__ = (UniqueConstraint("loan_id", "as_of"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(String(64), ForeignKey("loans.loan_id"))
    as_of: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str] = mapped_column(String(16))
    since: Mapped[date] = mapped_column(Date)
    calm_since: Mapped[date | None] = mapped_column(Date)
    score: Mapped[str] = mapped_column(String(32))          # decimal text
    signals: Mapped[str] = mapped_column(Text)              # JSON list
    actions: Mapped[str] = mapped_column(Text)              # JSON list of action keys
    rules_version: Mapped[str] = mapped_column(String(100))
    rules_sha256: Mapped[str] = mapped_column(CHAR(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WarningActionRow(Base):
    """An action the warning rules produced, and whether it was applied."""

    __tablename__ = "warning_actions"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    loan_id: Mapped[str] = mapped_column(String(64), ForeignKey("loans.loan_id"))
    applicant_id: Mapped[str | None] = mapped_column(String(32))
    as_of: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    #: pending | applied | skipped | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PortfolioPositionRow(Base):
    """A loan's position at a month end: what roll rates, vintages and provisions are built on."""

    __tablename__ = "portfolio_positions"

    month_end: Mapped[date] = mapped_column(Date, primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(CHAR(3))
    originated_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    dpd: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(16))
    risk_class: Mapped[str] = mapped_column(String(16))
    principal: Mapped[int] = mapped_column(BigInteger)
    accrued: Mapped[int] = mapped_column(BigInteger)
    model_pd: Mapped[str | None] = mapped_column(String(32))   # decimal text


class LoanLossProvisionRow(Base):
    """The allowance required at a month end, by class, and the entry that adjusted it."""

    __tablename__ = "loan_loss_provisions"

    month_end: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(CHAR(3))
    required: Mapped[int] = mapped_column(BigInteger)
    previous: Mapped[int] = mapped_column(BigInteger)
    delta: Mapped[int] = mapped_column(BigInteger)
    by_class: Mapped[str] = mapped_column(Text)               # JSON
    settings_version: Mapped[str] = mapped_column(String(100))
    settings_sha256: Mapped[str] = mapped_column(CHAR(64))
    entry_seq: Mapped[int | None] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


_STATUS, _ACTION = LoanWatchStatusRow.__table__, WarningActionRow.__table__
_POSITION, _PROVISION = PortfolioPositionRow.__table__, LoanLossProvisionRow.__table__
_APPS, _PAYOUTS = ApplicationRow.__table__, DisbursementRow.__table__
_DEBITS, _PAYLOADS = AutoDebitRow.__table__, SourcePayloadRow.__table__
_CHUNK = 500


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


# -- what the warning job reads -------------------------------------------------------------------
def watched_loans(session: Session) -> list[Any]:
    """(loan_id, applicant_id, application_id, contract_id, disbursement_id, mode, paid_out,
    value_date, payee_account) of every paid-out application and every loan drawn under a
    credit line, by loan id."""
    query = (select(_APPS.c.loan_id, _APPS.c.applicant_id, _APPS.c.application_id,
                    _APPS.c.contract_id, _PAYOUTS.c.disbursement_id, _PAYOUTS.c.mode,
                    _PAYOUTS.c.paid_out, _PAYOUTS.c.value_date, _PAYOUTS.c.payee_account)
             .join(_PAYOUTS, _PAYOUTS.c.loan_id == _APPS.c.loan_id))
    # A loan drawn under a credit line is the line's borrower's too (one application, many
    # loans): paid to the line's bound account on the day drawn, never entrusted.
    draws = (select(EVENTS.c.loan_id, LINES.c.applicant_id, LINES.c.application_id,
                    LINES.c.contract_id, null().label("disbursement_id"),
                    literal("bound_account").label("mode"), EVENTS.c.amount.label("paid_out"),
                    EVENTS.c.occurred_on.label("value_date"),
                    null().label("payee_account"))
             .join(LINES, LINES.c.line_id == EVENTS.c.line_id)
             .where(EVENTS.c.kind == "draw"))
    rows = list(session.execute(query).all()) + list(session.execute(draws).all())
    return sorted(rows, key=lambda r: r.loan_id)


def failed_debits(session: Session, since: date, until: date) -> dict[str, list[date]]:
    """The dates of each loan's failed auto-debits from `since` to `until`."""
    out: dict[str, list[date]] = {}
    for loan_id, day in session.execute(
            select(_DEBITS.c.loan_id, _DEBITS.c.run_date)
            .where(_DEBITS.c.status == "failed", _DEBITS.c.run_date.between(since, until))
            .order_by(_DEBITS.c.run_date)):
        out.setdefault(loan_id, []).append(day)
    return out


def latest_payloads(session: Session, applicant_id: str, until: date) -> list[Any]:
    """The newest accepted payload row per scope stored for the applicant with data as of
    `until` or earlier (any application, or a monitoring push without one)."""
    rows = session.execute(
        select(_PAYLOADS).where(_PAYLOADS.c.applicant_id == applicant_id,
                                _PAYLOADS.c.status == "accepted", _PAYLOADS.c.as_of <= until)
        .order_by(_PAYLOADS.c.as_of, _PAYLOADS.c.id)).all()
    latest: dict[str, Any] = {}
    for row in rows:
        latest[row.scope] = row
    return list(latest.values())


# -- statuses -------------------------------------------------------------------------------------
def assessed_on(session: Session, day: date) -> set[str]:
    """The loans whose status for `day` is already stored."""
    return set(session.execute(select(_STATUS.c.loan_id).where(_STATUS.c.as_of == day)).scalars())


def states_before(session: Session, day: date) -> dict[str, Any]:
    """Each loan's latest stored status row dated before `day`."""
    latest = (select(_STATUS.c.loan_id, func.max(_STATUS.c.as_of).label("as_of"))
              .where(_STATUS.c.as_of < day).group_by(_STATUS.c.loan_id).subquery())
    rows = session.execute(select(_STATUS).join(
        latest, (latest.c.loan_id == _STATUS.c.loan_id) & (latest.c.as_of == _STATUS.c.as_of)))
    return {r.loan_id: r for r in rows}


def add_statuses(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    for chunk in _chunks(list(rows)):
        session.execute(insert(_STATUS), list(chunk))


def latest_day(session: Session) -> date | None:
    return session.execute(select(func.max(_STATUS.c.as_of))).scalar()


def watch_list(session: Session, day: date, status: str | None = None,
               after: str | None = None, limit: int = 1000) -> list[Any]:
    """The status rows of `day` (optionally of one status), by loan id after `after`."""
    query = select(_STATUS).where(_STATUS.c.as_of == day).order_by(_STATUS.c.loan_id).limit(limit)
    if status is not None:
        query = query.where(_STATUS.c.status == status)
    if after is not None:
        query = query.where(_STATUS.c.loan_id > after)
    return list(session.execute(query).all())


def status_counts(session: Session, day: date) -> dict[str, int]:
    return dict(session.execute(select(_STATUS.c.status, func.count())
                                .where(_STATUS.c.as_of == day)
                                .group_by(_STATUS.c.status)).all())


# -- actions --------------------------------------------------------------------------------------
def add_actions(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the actions whose key is new; how many were new."""
    rows = list(rows)
    if not rows:
        return 0
    known: set[str] = set()
    for chunk in _chunks([r["key"] for r in rows]):
        known |= set(session.execute(select(_ACTION.c.key)
                                     .where(_ACTION.c.key.in_(list(chunk)))).scalars())
    fresh = [r for r in rows if r["key"] not in known]
    for chunk in _chunks(fresh):
        session.execute(insert(_ACTION), list(chunk))
    return len(fresh)


def pending_actions(session: Session, limit: int = 10_000) -> list[Any]:
    return list(session.execute(select(_ACTION).where(_ACTION.c.status == "pending")
                                .order_by(_ACTION.c.id).limit(limit)).all())


def actions_for(session: Session, keys: Sequence[str]) -> list[Any]:
    out: list[Any] = []
    for chunk in _chunks(list(keys)):
        out += session.execute(select(_ACTION).where(_ACTION.c.key.in_(list(chunk)))).all()
    return sorted(out, key=lambda r: r.id)


def finish_action(session: Session, key: str, status: str, result: Any, at: datetime) -> None:
    session.execute(update(_ACTION).where(_ACTION.c.key == key, _ACTION.c.status == "pending")
                    .values(status=status, applied_at=at,
                            result=json.dumps(result, sort_keys=True, default=str)))


# -- portfolio positions and provisions -----------------------------------------------------------
def positions(session: Session, month_end: date) -> list[Any]:
    return list(session.execute(select(_POSITION).where(_POSITION.c.month_end == month_end)
                                .order_by(_POSITION.c.loan_id)).all())


def has_positions(session: Session, month_end: date) -> bool:
    return session.execute(select(_POSITION.c.loan_id)
                           .where(_POSITION.c.month_end == month_end).limit(1)).first() is not None


def position_history(session: Session, until: date) -> list[Any]:
    return list(session.execute(select(_POSITION).where(_POSITION.c.month_end <= until)
                                .order_by(_POSITION.c.month_end, _POSITION.c.loan_id)).all())


def add_positions(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    for chunk in _chunks(list(rows)):
        session.execute(insert(_POSITION), list(chunk))


def provision(session: Session, month_end: date) -> Any | None:
    return session.execute(select(_PROVISION)
                           .where(_PROVISION.c.month_end == month_end)).first()


def latest_provision(session: Session) -> Any | None:
    return session.execute(select(_PROVISION).order_by(_PROVISION.c.month_end.desc())
                           .limit(1)).first()


def add_provision(session: Session, values: Mapping[str, Any]) -> None:
    session.execute(insert(_PROVISION), dict(values))


def provisions_list(session: Session) -> list[Any]:
    return list(session.execute(select(_PROVISION).order_by(_PROVISION.c.month_end)).all())
