"""Applications, their history, offers, contracts, disbursements and auto-debit records as
stored: every statement the origination and payout services make on them.

The statements a request makes by the dozen are built and prepared once, at import
(`puhui.store.prepared`): building one per call (with its literal values), or running it
through SQLAlchemy's execution machinery, costs more than SQLite takes to run it.  Every
function works in the caller's session (or connection) and transaction; none commits.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session, object_session

from puhui.store.decision_models import DecisionRecordRow
from puhui.store.platform_models import (
    ApplicationEventRow,
    ApplicationRow,
    AutoDebitRow,
    ContractRow,
    DisbursementRow,
    OfferRow,
)
from puhui.store.prepared import PreparedStatement
from puhui.store.scoping import Visibility, narrowed

APPS = ApplicationRow.__table__
HISTORY = ApplicationEventRow.__table__
OFFERS = OfferRow.__table__
#: The application's columns, in table order (what `read` returns and `insert` takes).
FIELDS = tuple(c.name for c in APPS.columns)
#: The columns an operation on an application may change.
MUTABLE = ("status", "version", "decision", "offer_id", "contract_id", "loan_id", "updated_at")

_UPDATE = PreparedStatement(
    update(APPS).where(APPS.c.application_id == bindparam("b_id"),
                       APPS.c.version == bindparam("b_version"))
    .values({name: bindparam(name) for name in MUTABLE}))
_INSERT = PreparedStatement(insert(APPS))
_INSERT_HISTORY = PreparedStatement(insert(HISTORY))
_GET = select(APPS).where(APPS.c.application_id == bindparam("id"))
_READ = PreparedStatement(_GET)
_LOCK = PreparedStatement(_GET.with_for_update())
#: The rows that refer to an application and are written with it (`insert_related`), by kind.
_RELATED = {"offer": PreparedStatement(insert(OFFERS)),
            "decision_record": PreparedStatement(insert(DecisionRecordRow.__table__))}


# -- applications ---------------------------------------------------------------------------------
def count(session: Session) -> int:
    """How many applications the platform holds."""
    return int(session.execute(select(func.count()).select_from(ApplicationRow)).scalar_one())


def read(session: Session, application_id: str, lock: bool = False) -> Any | None:
    """The application's row (a named tuple of `FIELDS`), locked for update when `lock`; None
    if there is none."""
    return (_LOCK if lock else _READ).first(session, {"id": application_id})


def insert_application(session: Session, values: Mapping[str, Any]) -> None:
    _INSERT.execute(session, values)


def update_application(session: Session, application_id: str, stored_version: int,
                       values: Mapping[str, Any]) -> int:
    """Write the `MUTABLE` columns if the row is still at `stored_version`; the number of rows
    changed (0: another transaction changed it meanwhile)."""
    return _UPDATE.execute(session, {"b_id": application_id, "b_version": stored_version,
                                     **values})


def insert_history(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    _INSERT_HISTORY.execute(session, rows)


def insert_related(session: Session, kind: str, values: Mapping[str, Any]) -> None:
    """Write a row that refers to an application: an "offer" or a "decision_record"."""
    _RELATED[kind].execute(session, values)


def page(session: Session, after: str | None, limit: int, status: str | None,
         visible: Visibility) -> Iterator[ApplicationRow]:
    """Applications in id order after `after`, at most `limit`, optionally in one status, of
    those `visible` to the caller."""
    query = select(ApplicationRow).order_by(ApplicationRow.application_id).limit(limit)
    if after:
        query = query.where(ApplicationRow.application_id > after)
    if status:
        query = query.where(ApplicationRow.status == status)
    query = narrowed(query, visible, ApplicationRow.partner_id, ApplicationRow.applicant_id)
    return session.execute(query).scalars()


def history(session: Session, application_id: str) -> Iterator[ApplicationEventRow]:
    """The application's history rows, oldest first."""
    return session.execute(select(ApplicationEventRow)
                           .where(ApplicationEventRow.application_id == application_id)
                           .order_by(ApplicationEventRow.seq)).scalars()


def ids_in_status(session: Session, statuses: Iterable[str]) -> list[str]:
    return list(session.execute(select(ApplicationRow.application_id)
                                .where(ApplicationRow.status.in_(list(statuses)))).scalars().all())


def for_loan(session: Session, loan_id: str) -> ApplicationRow | None:
    """The application a loan was paid out for, or None."""
    return session.execute(select(ApplicationRow)
                           .where(ApplicationRow.loan_id == loan_id)).scalar_one_or_none()


def disbursed(session: Session, status: str) -> list[Any]:
    """(loan_id, applicant_id, contract_id, application_id) of every application in `status`
    (the disbursed ones), by loan id."""
    return list(session.execute(select(ApplicationRow.loan_id, ApplicationRow.applicant_id,
                                       ApplicationRow.contract_id, ApplicationRow.application_id)
                                .where(ApplicationRow.status == status)
                                .order_by(ApplicationRow.loan_id)).all())


def loan_ids(session: Session, after: str | None, limit: int,
             visible: Visibility) -> Iterator[str]:
    """Loan ids of paid-out applications in order after `after`, at most `limit`, of those
    `visible` to the caller."""
    query = (select(ApplicationRow.loan_id).where(ApplicationRow.loan_id.is_not(None))
             .order_by(ApplicationRow.loan_id).limit(limit))
    if after:
        query = query.where(ApplicationRow.loan_id > after)
    query = narrowed(query, visible, ApplicationRow.partner_id, ApplicationRow.applicant_id)
    return session.execute(query).scalars()


# -- offers and contracts -------------------------------------------------------------------------
def offer(session: Session, offer_id: str) -> OfferRow | None:
    return session.get(OfferRow, offer_id)


def contract(session: Session, contract_id: str, lock: bool = False) -> ContractRow | None:
    return session.get(ContractRow, contract_id, with_for_update=lock)


def add_contract(session: Session, **values: Any) -> ContractRow:
    """A new contract row, added to the session (written at its next flush)."""
    row = ContractRow(**values)
    session.add(row)
    return row


def record_signature(session: Session, contract: ContractRow, at: Any, by: str) -> None:
    """Note on the contract row when and by whom it was signed, and write it."""
    contract.signed_at, contract.signed_by = at, by
    session.flush()


def session_of(row: Any) -> Session | None:
    """The session a row read through this module belongs to."""
    return object_session(row)


# -- disbursements and auto-debits ----------------------------------------------------------------
def disbursement_for(session: Session, contract_id: str) -> DisbursementRow | None:
    return session.execute(select(DisbursementRow)
                           .where(DisbursementRow.contract_id == contract_id)).scalar_one_or_none()


def add_disbursement(session: Session, **values: Any) -> None:
    """A new disbursement row, added to the session: its unique contract id is claimed at the
    next flush (a racing payout then fails with `puhui.errors.WriteConflict`)."""
    session.add(DisbursementRow(**values))


def disbursement(session: Session, disbursement_id: str) -> DisbursementRow | None:
    return session.get(DisbursementRow, disbursement_id)


def auto_debited(session: Session, on: date) -> set[str]:
    """The loans already auto-debited on `on`."""
    return set(session.execute(select(AutoDebitRow.loan_id)
                               .where(AutoDebitRow.run_date == on)).scalars())


def add_auto_debit(session: Session, **values: Any) -> None:
    session.add(AutoDebitRow(**values))
