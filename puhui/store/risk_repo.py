"""The risk engine's rows as stored: the data-source payloads kept beside their consent, the
decision records, and the reads the monitoring and fairness reports make over them.

Every function works in the caller's session and transaction; none commits.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Mapping

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from puhui.store.decision_models import DecisionRecordRow
from puhui.store.models import LoanEventRow, LoanRow
from puhui.store.platform_models import ApplicantRow, ApplicationRow, ContractRow, DisbursementRow
from puhui.store.prepared import PreparedStatement
from puhui.store.risk_models import PurgedPayloadRow, SourcePayloadRow

_PAYLOADS, _PURGED = SourcePayloadRow.__table__, PurgedPayloadRow.__table__
_LOANS = LoanRow.__table__
_RECORDS, _APPS = DecisionRecordRow.__table__, ApplicationRow.__table__
_APPLICANTS, _CONTRACTS = ApplicantRow.__table__, ContractRow.__table__
_PAYOUTS, _EVENTS = DisbursementRow.__table__, LoanEventRow.__table__


# -- data-source payloads -------------------------------------------------------------------------
_ADD_PAYLOAD = PreparedStatement(insert(_PAYLOADS))  # compiled once, not per payload


def add_payload(session: Session, values: Mapping[str, Any]) -> None:
    _ADD_PAYLOAD.execute(session, values)


def payloads(session: Session, application_id: str) -> list[Any]:
    """The payload rows stored for an application, oldest first."""
    return list(session.execute(select(_PAYLOADS)
                                .where(_PAYLOADS.c.application_id == application_id)
                                .order_by(_PAYLOADS.c.id)).all())


#: A payload row without its content: what the retention purge reads and records.
_PAYLOAD_META = (_PAYLOADS.c.id, _PAYLOADS.c.applicant_id, _PAYLOADS.c.application_id,
                 _PAYLOADS.c.scope, _PAYLOADS.c.consent_id, _PAYLOADS.c.fetched_at,
                 _PAYLOADS.c.payload_sha256, _PAYLOADS.c.payload_bytes)


def payload_applications(session: Session, after: str | None = None,
                         limit: int | None = None) -> list[Any]:
    """(application_id, applicant_id, status, updated_at, loan_id, loan_status, loan_last_event)
    of the applications that have payloads stored, by id, those after `after` and at most
    `limit` of them (a page: the purge reads the book a page at a time): what the retention rule
    is decided on.  `loan_last_event` is the date of the loan's latest event (None without a
    loan)."""
    holders = select(_PAYLOADS.c.application_id).where(
        _PAYLOADS.c.application_id.is_not(None))
    if after is not None:
        holders = holders.where(_PAYLOADS.c.application_id > after)
    holders = holders.distinct().subquery()
    last_event = (select(func.max(_EVENTS.c.occurred_on))
                  .where(_EVENTS.c.loan_id == _APPS.c.loan_id).scalar_subquery())
    query = (select(_APPS.c.application_id, _APPS.c.applicant_id, _APPS.c.status,
                    _APPS.c.updated_at, _APPS.c.loan_id, _LOANS.c.status.label("loan_status"),
                    last_event.label("loan_last_event"))
             .join(holders, holders.c.application_id == _APPS.c.application_id)
             .outerjoin(_LOANS, _LOANS.c.loan_id == _APPS.c.loan_id)
             .order_by(_APPS.c.application_id))
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).all())


def unattached_payloads(session: Session) -> list[Any]:
    """The payload rows stored without an application, or for an application the platform does
    not know (content left out), by id."""
    known = select(_APPS.c.application_id)
    return list(session.execute(select(*_PAYLOAD_META).where(
        _PAYLOADS.c.application_id.is_(None) | _PAYLOADS.c.application_id.not_in(known))
        .order_by(_PAYLOADS.c.id)).all())


def payload_meta(session: Session, application_ids: list[str]) -> list[Any]:
    """The payload rows of these applications, content left out, by id."""
    out: list[Any] = []
    for start in range(0, len(application_ids), 500):
        out += session.execute(select(*_PAYLOAD_META).where(
            _PAYLOADS.c.application_id.in_(application_ids[start:start + 500]))).all()
    return sorted(out, key=lambda r: r.id)


def stored_sizes(session: Session) -> Any:
    """(payloads, applications, bytes as received, bytes stored) over every packed payload."""
    return session.execute(select(
        func.count(), func.count(_PAYLOADS.c.application_id.distinct()),
        func.coalesce(func.sum(_PAYLOADS.c.payload_bytes), 0),
        func.coalesce(func.sum(func.length(_PAYLOADS.c.payload_blob)), 0))
        .where(_PAYLOADS.c.payload_codec.is_not(None))).one()


def purge_payloads(session: Session, tombstones: list[Mapping[str, Any]]) -> int:
    """Record each tombstone, then delete the payloads they name (the database refuses to
    delete a payload without one); the number deleted."""
    if not tombstones:
        return 0
    session.execute(insert(_PURGED), list(tombstones))
    ids = [t["id"] for t in tombstones]
    deleted = 0
    for start in range(0, len(ids), 500):
        deleted += session.execute(delete(_PAYLOADS).where(
            _PAYLOADS.c.id.in_(ids[start:start + 500]))).rowcount
    return deleted


# -- decision records -----------------------------------------------------------------------------
def latest_record(session: Session, application_id: str) -> Any | None:
    """The application's newest decision record row, or None."""
    return session.execute(select(_RECORDS).where(_RECORDS.c.application_id == application_id)
                           .order_by(_RECORDS.c.id.desc()).limit(1)).first()


def records_between(session: Session, since: date, until: date) -> list[Any]:
    """(application_id, record text) of every decision taken from `since` to `until`, in the
    order they were recorded."""
    return list(session.execute(select(_RECORDS.c.application_id, _RECORDS.c.record)
                                .where(_RECORDS.c.decided_on.between(since, until))
                                .order_by(_RECORDS.c.id)).all())


def decided_owners(session: Session, since: date, until: date) -> list[Any]:
    """(outcome, decided_on, applicant_id, data, data_key, erased_at) of every decision taken
    from `since` to `until` on an applicant not erased (erased people are not profiled)."""
    query = (select(_RECORDS.c.outcome, _RECORDS.c.decided_on, _APPLICANTS.c.applicant_id,
                    _APPLICANTS.c.data, _APPLICANTS.c.data_key, _APPLICANTS.c.erased_at)
             .join(_APPS, _APPS.c.application_id == _RECORDS.c.application_id)
             .join(_APPLICANTS, _APPLICANTS.c.applicant_id == _APPS.c.applicant_id)
             .where(_RECORDS.c.decided_on.between(since, until),
                    _APPLICANTS.c.erased_at.is_(None)))
    return list(session.execute(query).all())


def paid_out_decisions(session: Session, until: date) -> list[Any]:
    """(loan_id, application_id, value_date, record text) of every loan paid out on an
    automated decision up to `until`, by value date."""
    query = (select(_PAYOUTS.c.loan_id, _CONTRACTS.c.application_id, _PAYOUTS.c.value_date,
                    _RECORDS.c.record)
             .join(_CONTRACTS, _CONTRACTS.c.contract_id == _PAYOUTS.c.contract_id)
             .join(_RECORDS, _RECORDS.c.application_id == _CONTRACTS.c.application_id)
             .where(_PAYOUTS.c.value_date <= until).order_by(_PAYOUTS.c.value_date))
    return list(session.execute(query).all())


def write_off_dates(session: Session, until: date) -> dict[str, date]:
    """The date of each loan's write-off, for those written off up to `until`."""
    return dict(session.execute(
        select(_EVENTS.c.loan_id, _EVENTS.c.occurred_on)
        .where(_EVENTS.c.event_type == "write_off", _EVENTS.c.occurred_on <= until)).all())
