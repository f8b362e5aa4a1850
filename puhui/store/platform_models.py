"""Tables of the origination platform: applicants, consents, applications, offers, contracts,
disbursements, auto-debits, API keys and idempotency records.

Why separate from `models.py`: the ledger and loan tables are the accounting core and change
rarely; these tables follow the business process and will grow with it.  Both share one
`Base`, so one Alembic history covers them.  Structured documents (an applicant's details, an
offer, a contract) are stored as canonical JSON text: they are read whole, never queried inside,
and the text hashed at signing must be the text kept.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from puhui.store.models import Base, BigKey, UTCDateTime


class ApiKeyRow(Base):
    """A partner's or staff user's API key: only the secret's SHA-256 is kept."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(CHAR(64))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[str] = mapped_column(Text)            # JSON list of permissions
    subject: Mapped[str | None] = mapped_column(String(64))  # partner id or applicant id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotencyRow(Base):
    """The stored answer to a POST carrying an Idempotency-Key, per calling key."""

    __tablename__ = "idempotency_records"

    principal: Mapped[str] = mapped_column(String(32), primary_key=True)
    idem_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    request_hash: Mapped[str] = mapped_column(CHAR(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApplicantRow(Base):
    """A small business (个体工商户 or enterprise) and its people, as validated on intake."""

    __tablename__ = "applicants"

    applicant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    business_name: Mapped[str] = mapped_column(String(200))
    partner_id: Mapped[str | None] = mapped_column(String(64), index=True)
    #: The applicant record, sealed under the applicant's data key (legacy rows: JSON text).
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The applicant's data key wrapped under a master key (see puhui.store.crypto); destroyed
    #: (NULL) by erasure, which leaves every sealed copy of the applicant's data unreadable.
    data_key: Mapped[str | None] = mapped_column(Text)
    #: Keyed hashes (HMAC-SHA256) of the owner's resident ID and mobile, for look-ups and
    #: duplicate checks without the numbers; kept after erasure as keyed references.
    owner_id_hash: Mapped[str | None] = mapped_column(CHAR(64), index=True)
    mobile_hash: Mapped[str | None] = mapped_column(CHAR(64), index=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdentityCheckRow(Base):
    """One identity check and its result, kept as evidence of what was verified and how."""

    __tablename__ = "identity_checks"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    applicant_id: Mapped[str] = mapped_column(String(32), ForeignKey("applicants.applicant_id"),
                                              index=True)
    application_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200))
    details: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BankAccountRow(Base):
    """A repayment/disbursement account bound to an applicant after its check passed."""

    __tablename__ = "bank_accounts"

    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    applicant_id: Mapped[str] = mapped_column(String(32), ForeignKey("applicants.applicant_id"),
                                              index=True)
    data: Mapped[str] = mapped_column(Text)  # sealed under the applicant's data key
    card_masked: Mapped[str] = mapped_column(String(32))
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime())
    card_hash: Mapped[str | None] = mapped_column(CHAR(64), index=True)  # keyed hash of the card


class ConsentRow(Base):
    """A PIPL consent: what data, for what purpose, until when; revocation is a timestamp."""

    __tablename__ = "consents"

    consent_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    applicant_id: Mapped[str] = mapped_column(String(32), ForeignKey("applicants.applicant_id"),
                                              index=True)
    data: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConsentLogRow(Base):
    """Append-only record of every grant, revocation, use and refused use of personal data."""

    __tablename__ = "consent_log"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    applicant_id: Mapped[str] = mapped_column(String(32), index=True)
    consent_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))   # granted | revoked | used | refused
    scope: Mapped[str | None] = mapped_column(String(32))
    purpose: Mapped[str | None] = mapped_column(String(32))
    application_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApplicationRow(Base):
    """A loan application and where it stands; `version` guards every state change."""

    __tablename__ = "applications"

    application_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    applicant_id: Mapped[str] = mapped_column(String(32), ForeignKey("applicants.applicant_id"),
                                              index=True)
    partner_id: Mapped[str | None] = mapped_column(String(64), index=True)
    product_code: Mapped[str] = mapped_column(String(64))
    requested_amount: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str | None] = mapped_column(Text)
    offer_id: Mapped[str | None] = mapped_column(String(32))
    contract_id: Mapped[str | None] = mapped_column(String(32))
    loan_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApplicationEventRow(Base):
    """Append-only history of an application's state changes: who, when, why."""

    __tablename__ = "application_events"
    __table_args__ = (UniqueConstraint("application_id", "seq"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("applications.application_id"))
    seq: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class OfferRow(Base):
    """An offer as disclosed to the borrower: terms, schedule and annualised cost."""

    __tablename__ = "offers"

    offer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    application_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("applications.application_id"), index=True)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ContractRow(Base):
    """A loan contract: its exact text, the hash attested on the ledger chain, its signature."""

    __tablename__ = "contracts"

    contract_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    application_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("applications.application_id"), unique=True)
    offer_id: Mapped[str] = mapped_column(String(32), ForeignKey("offers.offer_id"), unique=True)
    account_id: Mapped[str] = mapped_column(String(32), ForeignKey("bank_accounts.account_id"))
    content: Mapped[str] = mapped_column(Text)  # sealed; the hash is over the plaintext
    content_hash: Mapped[str] = mapped_column(CHAR(64))
    ledger_seq: Mapped[int] = mapped_column(BigInteger)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    signed_by: Mapped[str | None] = mapped_column(String(64))


class DisbursementRow(Base):
    """The single payout of a contract (the unique contract_id is what makes it single)."""

    __tablename__ = "disbursements"

    disbursement_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    contract_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("contracts.contract_id"), unique=True)
    loan_id: Mapped[str] = mapped_column(String(64), ForeignKey("loans.loan_id"), unique=True)
    mode: Mapped[str] = mapped_column(String(32))        # bound_account | entrusted
    payee_name: Mapped[str] = mapped_column(Text)     # sealed under the applicant's data key
    payee_account: Mapped[str] = mapped_column(Text)  # sealed under the applicant's data key
    reference: Mapped[str] = mapped_column(Text)         # invoice / purchase order for 受托支付
    principal: Mapped[int] = mapped_column(BigInteger)
    paid_out: Mapped[int] = mapped_column(BigInteger)    # principal less fees withheld
    currency: Mapped[str] = mapped_column(CHAR(3))
    value_date: Mapped[date] = mapped_column(Date)
    gateway_ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AutoDebitRow(Base):
    """One scheduled pull from a borrower's bound account: at most one per loan and day."""

    __tablename__ = "auto_debits"
    __table_args__ = (UniqueConstraint("loan_id", "run_date"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(String(64), ForeignKey("loans.loan_id"))
    run_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    collected: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))      # collected | failed | nothing_due
    reason: Mapped[str] = mapped_column(Text)
    gateway_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PersonalDataAccessRow(Base):
    """Append-only record of every full read, export and erasure of an applicant's personal
    data: who (key and role), when, what and why."""

    __tablename__ = "personal_data_access"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    applicant_id: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(32))   # full_read | export | erasure | refused
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


PLATFORM_TABLES = tuple(cls.__tablename__ for cls in (
    ApiKeyRow, IdempotencyRow, ApplicantRow, IdentityCheckRow, BankAccountRow, ConsentRow,
    ConsentLogRow, ApplicationRow, ApplicationEventRow, OfferRow, ContractRow, DisbursementRow,
    AutoDebitRow, PersonalDataAccessRow))
#: Tables whose rows are evidence and may never be changed or deleted.
APPEND_ONLY_TABLES = ("identity_checks", "consent_log", "application_events", "offers",
                      "disbursements", "personal_data_access")
