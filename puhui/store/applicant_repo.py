"""Applicants, their identity checks, bound bank accounts, consents and the consent log as
stored: every statement the applicant services make on them.

The statements every application makes are built and prepared once, at import
(`puhui.store.prepared`).  Every function works in the caller's session (or connection) and
transaction; none commits.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence, Union

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.orm import Session, object_session

from puhui.store.platform_models import (
    ApplicantRow,
    BankAccountRow,
    ConsentLogRow,
    ConsentRow,
    IdentityCheckRow,
)
from puhui.store.prepared import PreparedStatement
from puhui.store.scoping import Visibility, narrowed

Bind = Union[Session, Connection]

_APPLICANTS = ApplicantRow.__table__
_CHECKS = IdentityCheckRow.__table__
_LOG = ConsentLogRow.__table__
_CONSENT_TABLE = ConsentRow.__table__
_APPLICANT_KEY = PreparedStatement(
    select(_APPLICANTS.c.data_key, _APPLICANTS.c.erased_at)
    .where(_APPLICANTS.c.applicant_id == bindparam("id")))
_GET_APPLICANT = PreparedStatement(
    select(_APPLICANTS).where(_APPLICANTS.c.applicant_id == bindparam("id")))
_CONSENTS = PreparedStatement(
    select(_CONSENT_TABLE.c.data).where(_CONSENT_TABLE.c.applicant_id == bindparam("id"))
    .order_by(_CONSENT_TABLE.c.consent_id))
_INSERT_LOG = PreparedStatement(insert(_LOG))
_INSERT_CHECKS = PreparedStatement(insert(_CHECKS))


# -- applicants -----------------------------------------------------------------------------------
def data_key(bind: Bind, applicant_id: str) -> Any | None:
    """(data_key, erased_at) of the applicant, or None if there is none."""
    return _APPLICANT_KEY.first(bind, {"id": applicant_id})


def read(bind: Bind, applicant_id: str) -> Any | None:
    """The applicant's row (a named tuple of its columns), or None."""
    return _GET_APPLICANT.first(bind, {"id": applicant_id})


def read_many(bind: Bind, applicant_ids: Sequence[str]) -> dict[str, Any]:
    """`read` of many applicants at once (chunks of 500 ids per statement): id -> row, for
    those that exist."""
    ids, out = sorted(set(applicant_ids)), {}
    for start in range(0, len(ids), 500):
        out.update((row.applicant_id, row) for row in bind.execute(
            select(_APPLICANTS).where(_APPLICANTS.c.applicant_id.in_(ids[start:start + 500]))))
    return out


def add_applicant(session: Session, **values: Any) -> ApplicantRow:
    """Write a new applicant (flushed at once) and return its row."""
    row = ApplicantRow(**values)
    session.add(row)
    session.flush()
    return row


def page(session: Session, after: str | None, limit: int,
         visible: Visibility) -> Iterator[ApplicantRow]:
    """Applicants in id order after `after`, at most `limit`, of those `visible` to the caller."""
    query = select(ApplicantRow).order_by(ApplicantRow.applicant_id).limit(limit)
    if after:
        query = query.where(ApplicantRow.applicant_id > after)
    query = narrowed(query, visible, ApplicantRow.partner_id, ApplicantRow.applicant_id)
    return session.execute(query).scalars()


def session_of(row: Any) -> Session | None:
    """The session a row read through this module belongs to."""
    return object_session(row)


# -- identity checks ------------------------------------------------------------------------------
def insert_checks(bind: Bind, rows: Sequence[Mapping[str, Any]]) -> None:
    _INSERT_CHECKS.execute(bind, rows)


def checks(session: Session, applicant_id: str) -> Iterator[IdentityCheckRow]:
    """The applicant's identity checks, oldest first."""
    return session.execute(select(IdentityCheckRow)
                           .where(IdentityCheckRow.applicant_id == applicant_id)
                           .order_by(IdentityCheckRow.id)).scalars()


# -- bank accounts --------------------------------------------------------------------------------
def add_account(session: Session, **values: Any) -> BankAccountRow:
    """Write a new bound account (flushed at once) and return its row."""
    row = BankAccountRow(**values)
    session.add(row)
    session.flush()
    return row


def account(session: Session, account_id: str) -> BankAccountRow | None:
    return session.get(BankAccountRow, account_id)


def accounts(session: Session, applicant_id: str) -> Iterator[BankAccountRow]:
    """The applicant's bound accounts, by id."""
    return session.execute(select(BankAccountRow).where(BankAccountRow.applicant_id == applicant_id)
                           .order_by(BankAccountRow.account_id)).scalars()


# -- consents -------------------------------------------------------------------------------------
def add_consent(session: Session, **values: Any) -> None:
    session.add(ConsentRow(**values))


def consent(session: Session, consent_id: str, lock: bool = False) -> ConsentRow | None:
    return session.get(ConsentRow, consent_id, with_for_update=lock)


def record_revocation(row: ConsentRow, data: str, at: Any) -> None:
    """Store the revoked consent's text and time on its row (written at the next flush)."""
    row.data, row.revoked_at = data, at


def consent_texts(bind: Bind, applicant_id: str) -> list[Any]:
    """The stored text (`data`) of each of the applicant's consents, by consent id."""
    return _CONSENTS.rows(bind, {"id": applicant_id})


def log(bind: Bind, values: Mapping[str, Any]) -> None:
    """Append one entry to the consent log."""
    _INSERT_LOG.execute(bind, values)


def log_entries(session: Session, applicant_id: str) -> Iterator[ConsentLogRow]:
    """The applicant's consent log, oldest first."""
    return session.execute(select(ConsentLogRow).where(ConsentLogRow.applicant_id == applicant_id)
                           .order_by(ConsentLogRow.id)).scalars()
