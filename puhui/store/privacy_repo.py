"""The statements the privacy services make: the personal-data access log, everything held on
one applicant (for an export), erasure's overwrites and deletions, the registrations that never
received a consent, key rotation's walk over the applicants, and the look-up by keyed hash.

Every function works in the caller's session and transaction; none commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from puhui.store.platform_models import (
    ApplicantRow,
    ApplicationRow,
    BankAccountRow,
    ConsentRow,
    ContractRow,
    DisbursementRow,
    IdempotencyRow,
    PersonalDataAccessRow,
)
from puhui.store.scoping import Visibility, narrowed

_ACCESS = PersonalDataAccessRow.__table__


# -- the access log -------------------------------------------------------------------------------
def log_access(session: Session, **values: Any) -> None:
    """Append one entry to the personal-data access log."""
    session.execute(insert(_ACCESS).values(**values))


def access_entries(session: Session, applicant_id: str) -> Iterator[PersonalDataAccessRow]:
    """Who read, exported or erased the applicant's data, oldest first."""
    return session.execute(select(PersonalDataAccessRow)
                           .where(PersonalDataAccessRow.applicant_id == applicant_id)
                           .order_by(PersonalDataAccessRow.id)).scalars()


# -- one applicant's rows -------------------------------------------------------------------------
def applicant(session: Session, applicant_id: str, lock: bool = False) -> ApplicantRow | None:
    return session.get(ApplicantRow, applicant_id, with_for_update=lock)


def accounts(session: Session, applicant_id: str) -> Iterator[BankAccountRow]:
    """The applicant's bound accounts, by id."""
    return session.execute(select(BankAccountRow).where(
        BankAccountRow.applicant_id == applicant_id)
        .order_by(BankAccountRow.account_id)).scalars()


def unordered_accounts(session: Session, applicant_id: str) -> Iterator[BankAccountRow]:
    """The applicant's bound accounts, in no particular order."""
    return session.execute(select(BankAccountRow).where(
        BankAccountRow.applicant_id == applicant_id)).scalars()


def applications(session: Session, applicant_id: str) -> Iterator[ApplicationRow]:
    """The applicant's applications, by id."""
    return session.execute(select(ApplicationRow).where(
        ApplicationRow.applicant_id == applicant_id)
        .order_by(ApplicationRow.application_id)).scalars()


def application_states(session: Session, applicant_id: str) -> Iterator[Any]:
    """(application_id, status, loan_id) of each of the applicant's applications."""
    return iter(session.execute(
        select(ApplicationRow.application_id, ApplicationRow.status, ApplicationRow.loan_id)
        .where(ApplicationRow.applicant_id == applicant_id)))


def contract(session: Session, contract_id: str) -> ContractRow | None:
    return session.get(ContractRow, contract_id)


def contracts(session: Session, applicant_id: str) -> Iterator[ContractRow]:
    """The contracts of the applicant's applications."""
    return session.execute(select(ContractRow).join(
        ApplicationRow, ApplicationRow.application_id == ContractRow.application_id)
        .where(ApplicationRow.applicant_id == applicant_id)).scalars()


def disbursement_for(session: Session, contract_id: str) -> DisbursementRow | None:
    return session.execute(select(DisbursementRow).where(
        DisbursementRow.contract_id == contract_id)).scalar_one_or_none()


# -- erasure --------------------------------------------------------------------------------------
def overwrite_applicant(row: ApplicantRow, data: str, name: str, at: datetime) -> None:
    """Erase the applicant's row: `data` and `name` replace its record and business name, its
    data key is destroyed and `at` noted as the time of erasure (written at the next flush)."""
    row.data, row.data_key, row.erased_at = data, None, at
    row.business_name = name


def replace_content(contract: ContractRow, content: str) -> None:
    """Store `content` as the contract's text (written at the next flush)."""
    contract.content = content


def replace_data_key(row: ApplicantRow, wrapped: str) -> None:
    """Store a re-wrapped data key on the applicant's row (written at the next flush)."""
    row.data_key = wrapped


def seal_applicant(row: ApplicantRow, data: str, wrapped: str, hashes: dict[str, str]) -> None:
    """Store the applicant's sealed record, its wrapped data key and its keyed look-up hashes
    (written at the next flush)."""
    row.data = data
    row.data_key = wrapped
    for name, value in hashes.items():
        setattr(row, name, value)


def seal_account(account: BankAccountRow, data: str, card_hash: str) -> None:
    """Store a bound account's sealed data and its card's keyed hash (written at the next
    flush)."""
    account.card_hash = card_hash
    account.data = data


def blank_accounts(session: Session, applicant_id: str) -> None:
    """Overwrite the readable fields of the applicant's bound accounts."""
    session.execute(update(BankAccountRow).where(BankAccountRow.applicant_id == applicant_id)
                    .values(data="", card_masked=""))


def references(session: Session, applicant_id: str) -> list[str]:
    """The ids a stored answer about the applicant may name: its own, its applications' and
    their contracts'."""
    refs = [applicant_id]
    for application_id, contract_id in session.execute(
            select(ApplicationRow.application_id, ContractRow.contract_id)
            .outerjoin(ContractRow, ContractRow.application_id == ApplicationRow.application_id)
            .where(ApplicationRow.applicant_id == applicant_id)):
        refs += [application_id] + ([contract_id] if contract_id else [])
    return refs


def forget_answers(session: Session, refs: list[str]) -> None:
    """Delete the stored answers to retried POSTs whose text names any of `refs`."""
    session.execute(delete(IdempotencyRow).where(
        or_(*(IdempotencyRow.response.contains(ref, autoescape=True) for ref in refs))))


def unconsented(session: Session, registered_before: datetime, inclusive: bool) -> list[str]:
    """Ids of the unerased applicants registered before `registered_before` (at or before it
    when `inclusive`) that never received a consent, by id."""
    created = ApplicantRow.created_at
    when = created <= registered_before if inclusive else created < registered_before
    consented = select(ConsentRow.applicant_id)
    return list(session.execute(select(ApplicantRow.applicant_id).where(
        ApplicantRow.erased_at.is_(None), when,
        ApplicantRow.applicant_id.not_in(consented))
        .order_by(ApplicantRow.applicant_id)).scalars().all())


# -- key rotation and look-ups --------------------------------------------------------------------
def unerased_applicants(session: Session) -> Iterator[ApplicantRow]:
    return session.execute(select(ApplicantRow).where(ApplicantRow.erased_at.is_(None))).scalars()


def by_owner_hash(session: Session, digest: str, visible: Visibility) -> list[str]:
    """Ids of the applicants (of those `visible`) whose owner's keyed resident-ID hash is
    `digest`, by id."""
    query = narrowed(select(ApplicantRow.applicant_id).where(ApplicantRow.owner_id_hash == digest)
                     .order_by(ApplicantRow.applicant_id), visible, ApplicantRow.partner_id,
                     ApplicantRow.applicant_id)
    return list(session.execute(query).scalars())
