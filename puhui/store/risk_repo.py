"""The risk engine's rows as stored: the data-source payloads kept beside their consent, the
decision records, and the reads the monitoring and fairness reports make over them.

Every function works in the caller's session and transaction; none commits.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Mapping

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from puhui.store.decision_models import DecisionRecordRow
from puhui.store.models import LoanEventRow
from puhui.store.platform_models import ApplicantRow, ApplicationRow, ContractRow, DisbursementRow
from puhui.store.risk_models import SourcePayloadRow

_PAYLOADS = SourcePayloadRow.__table__
_RECORDS, _APPS = DecisionRecordRow.__table__, ApplicationRow.__table__
_APPLICANTS, _CONTRACTS = ApplicantRow.__table__, ContractRow.__table__
_PAYOUTS, _EVENTS = DisbursementRow.__table__, LoanEventRow.__table__


# -- data-source payloads -------------------------------------------------------------------------
def add_payload(session: Session, values: Mapping[str, Any]) -> None:
    session.execute(insert(_PAYLOADS), values)


def payloads(session: Session, application_id: str) -> list[Any]:
    """The payload rows stored for an application, oldest first."""
    return list(session.execute(select(_PAYLOADS)
                                .where(_PAYLOADS.c.application_id == application_id)
                                .order_by(_PAYLOADS.c.id)).all())


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
