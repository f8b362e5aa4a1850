"""Response bodies, as the OpenAPI document declares them.

These models describe what the services already return; the routes send their answers as
encoded JSON (`Call.show`, `Call.write`), so FastAPI never re-validates a body on the way out
and the hot paths stay as fast.  The schemathesis run in `tests/api/test_api_schema.py` checks
every answer against these declarations, so a model that drifts from its service fails a test.

Adding a response for a new endpoint: write an `Out` model here (reuse the enums and the
nested models below), then declare the route with `routes.common.operation(...)`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from puhui.loans.caps import CapKind
from puhui.loans.cost import APR_CONVENTION, CONVENTIONS
from puhui.loans.delinquency import RiskClass
from puhui.loans.state import LoanStatus
from puhui.parties.consent import DataScope, Purpose
from puhui.decision.outcome import Outcome
from puhui.parties.identity import IdentityKind
from puhui.parties.applicant import ApplicantKind
from puhui.origination.workflow import ApplicationStatus
from puhui.services.access import Perm, Role
from puhui.services.loans import PayoutMode

ConsentStatus = Literal["active", "revoked", "expired", "not_yet_valid"]
ConsentAction = Literal["granted", "revoked", "used", "refused"]
Rate = Field(pattern=r"^-?\d+(\.\d+)?$", description="decimal string, e.g. '0.108'")
#: How an APR was annualised (see docs/loan-rules.md); quotes now state APR_CONVENTION.
AprConvention = Literal[tuple(sorted(CONVENTIONS))]  # type: ignore[valid-type]
AccessAction = Literal["full_read", "export", "erasure", "erasure_refused"]


class Out(BaseModel):
    """A response body; additional properties may be added in later versions."""

    model_config = ConfigDict(extra="allow")


class Problem(Out):
    """An RFC 9457 problem detail (`application/problem+json`)."""

    type: str = Field(description="a stable URI reference: /problems/<slug>, or about:blank",
                      examples=["/problems/invalid-identity"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: Optional[str] = None
    instance: Optional[str] = Field(None, description="the request path")
    errors: Optional[list[ProblemError]] = Field(
        None, description="one entry per invalid field (validation-error only)")


class ProblemError(Out):
    loc: list[str | int] = Field(description="where: body, query, header or path, then the field")
    msg: str
    type: str


class Health(Out):
    status: Literal["ok"]


# -- applicants -------------------------------------------------------------------------------
class PersonOut(Out):
    name: str
    resident_id: str = Field(description="masked: 110101********6091")
    mobile: str = Field(description="masked: 186****9941")


class Applicant(Out):
    applicant_id: str
    kind: ApplicantKind
    business_name: str
    partner_id: Optional[str] = None
    created_at: datetime
    uscc: Optional[str] = None
    industry: str
    region_code: str
    established_on: Optional[date] = None
    monthly_revenue: int = Field(description="declared, fen")
    owner: PersonOut
    guarantors: list[PersonOut]


class IdentityCheck(Out):
    kind: IdentityKind
    subject: str = Field(description="the number checked, masked")
    passed: bool
    reason: str
    source: str
    details: dict[str, Any]
    application_id: Optional[str] = None
    checked_at: datetime


class Consent(Out):
    consent_id: str
    party_id: str
    purpose: Purpose
    scopes: list[DataScope]
    granted_at: datetime
    expires_at: datetime
    channel: str
    text_version: str
    revoked_at: Optional[datetime] = None
    status: ConsentStatus


class ConsentLogEntry(Out):
    action: ConsentAction
    consent_id: Optional[str] = None
    scope: Optional[DataScope] = None
    purpose: Optional[Purpose] = None
    application_id: Optional[str] = None
    detail: Optional[dict[str, Any]] = None
    at: datetime


class BankAccount(Out):
    account_id: str
    applicant_id: str
    card: str = Field(description="masked card number")
    holder_name: str
    bank_name: str
    bound_at: datetime


# -- products, offers, applications -----------------------------------------------------------
class Product(Out):
    """A product's terms, as stored with every loan."""

    code: str
    name: str
    method: str
    annual_rate: str = Rate
    term_periods: Optional[int] = None
    term_days: Optional[int] = None
    frequency: str
    currency: str
    min_principal: int
    max_principal: int


class CostExample(Out):
    principal: int
    apr: str = Rate
    apr_convention: AprConvention = Field(examples=[APR_CONVENTION])
    effective_annual_rate: str = Rate


class ProductOffered(Product):
    offered: bool = Field(description="false when the product can cost more than the rate cap "
                                      "in force")
    not_offered_reason: Optional[str] = None
    example: CostExample


class RateCapShown(Out):
    annual_limit: str = Rate
    label: str


class CapProvenance(Out):
    """Which cap version (and, for an LPR multiple, which LPR) the limit came from."""

    version: int
    kind: CapKind
    effective_from: date
    rate: Optional[str] = None
    multiple: Optional[str] = None
    lpr_id: Optional[int] = None
    lpr_rate: Optional[str] = None
    lpr_published_on: Optional[date] = None
    lpr_effective_from: Optional[date] = None


class RateCapApplied(RateCapShown):
    provenance: Optional[CapProvenance] = Field(
        None, description="null for a cap configured by hand rather than the cap setting")


class Instalment(Out):
    number: int
    start: date
    due_date: date
    principal: int
    interest: int
    fee: int
    payment: int
    balance_after: int


class Offer(Out):
    offer_id: str
    application_id: str
    product: Product
    principal: int
    start: date
    apr: str = Field(pattern=r"^-?\d+(\.\d+)?$",
                     description="annualised cost by the IRR method, fees included")
    apr_convention: AprConvention = Field(examples=[APR_CONVENTION])
    rate_cap: Optional[RateCapApplied] = Field(None, description="the cap the offer was priced "
                                                                 "under")
    effective_annual_rate: str = Rate
    upfront_fee: int
    total_interest: int
    total_fees: int
    total_repayable: int
    net_disbursed: int
    created_at: datetime
    expires_at: datetime
    schedule: list[Instalment]


class Reason(Out):
    code: str
    message: str


class Decision(Out):
    outcome: Outcome
    reasons: list[Reason]
    amount: Optional[int] = None
    annual_rate: Optional[str] = None
    grade: Optional[str] = None
    policy_version: str
    model_version: Optional[str] = None


class ApplicationSummary(Out):
    application_id: str
    applicant_id: str
    partner_id: Optional[str] = None
    product_code: str
    requested_amount: int
    purpose: str
    status: ApplicationStatus
    decision: Optional[Decision] = None
    offer_id: Optional[str] = None
    contract_id: Optional[str] = None
    loan_id: Optional[str] = None
    created_at: datetime
    updated_at: datetime


class Application(ApplicationSummary):
    offer: Optional[Offer] = None


class HistoryEntry(Out):
    seq: int
    from_: Optional[ApplicationStatus] = Field(None, alias="from")
    to: ApplicationStatus
    actor: str
    detail: Optional[dict[str, Any]] = None
    at: datetime


class DecisionRecord(Out):
    """Everything the automated decision used, as stored (see docs/decision.md)."""

    format: str
    application_id: str
    decided_on: date
    policy_version: str
    policy_sha256: str
    model_versions: dict[str, str]
    facts: dict[str, Any]
    trace: list[dict[str, Any]]
    decision: Decision


class DecisionReplay(Out):
    application_id: str
    policy_version: str
    policy_sha256: str
    model_versions: dict[str, str]
    stored: Decision
    replayed: Decision
    same: bool


class Contract(Out):
    contract_id: str
    application_id: str
    offer_id: str
    account_id: str
    content: Optional[dict[str, Any]] = Field(
        description="the contract as drawn up (its hash is signed); personal numbers masked "
                    "unless read in full, null once the personal data is erased")
    content_masked: bool
    content_erased: bool = False
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    ledger_seq: Optional[int] = None
    accepted_at: datetime
    signed_at: Optional[datetime] = None
    signed_by: Optional[str] = None


# -- loans ------------------------------------------------------------------------------------
class Disbursement(Out):
    disbursement_id: str
    contract_id: str
    loan_id: str
    mode: PayoutMode
    payee_name: str
    payee_account: str
    reference: str
    principal: int
    paid_out: int
    currency: str
    value_date: date
    gateway_ref: str
    created_at: datetime


class Paid(Out):
    principal: int
    interest: int
    fee: int


class ServicedInstalment(Out):
    number: int
    start: date
    due_date: date
    principal: int
    interest: int
    fee: int
    paid: Paid


class LoanSummary(Out):
    loan_id: str
    product: str
    status: LoanStatus
    currency: str
    balances: dict[str, int] = Field(description="fen per ledger account code")
    days_past_due: int
    risk_class: RiskClass
    amount_due: int
    as_of: date
    payoff_amount: int = Field(description="what closes the loan today, net of the credit "
                                           "balance")
    credit_balance: int = Field(0, ge=0, description="paid ahead of what is due, fen: applied "
                                                       "as amounts fall due, or refunded")


class Loan(LoanSummary):
    schedule: list[ServicedInstalment]


class Repayment(Loan):
    journal_entries: list[int] = Field(description="the journal entries the repayment made")


class RefundPaid(Out):
    amount: int
    gateway_ref: str
    payee_account: str = Field(description="masked card number of the bound account")


class Refund(Loan):
    refund: RefundPaid
    journal_entries: list[int] = Field(description="the journal entries the refund made")


# -- operations -------------------------------------------------------------------------------
class EndOfDay(Out):
    business_date: date
    loans: int
    entries: int
    plain: int = Field(description="loans charged from their due positions by the close's "
                       "vectorised kernel (the rest went through the servicing engine)")
    partitions: int = Field(description="partitions closed, each in one transaction")
    failures: dict[str, str]
    expired_applications: list[str]
    days_closed: list[date] = Field(description="every day closed, in order: days skipped since "
                                                "the last close come first")
    unconsented_erased: int = Field(0, ge=0, description="registrations erased for having no "
                                                         "consent past the retention period")


class AutoDebitRun(Out):
    run_date: date
    attempted: int
    collected: int
    failed: int
    refused: int = Field(0, description="not attempted: no legal basis to debit the account")
    amount_collected: int


class JobRun(Out):
    """One attempt of a scheduled daily job (docs/scheduler.md)."""

    id: int
    job: Literal["close", "auto_debit", "collections"]
    business_date: date
    attempt: int = Field(ge=1, description="1, 2, ... per job and business date")
    status: Literal["running", "succeeded", "failed"]
    runner: str = Field(description="the process that ran it: host, process id, a random tag")
    started_at: datetime
    finished_at: Optional[datetime] = None
    summary: Optional[dict[str, Any]] = Field(None, description="what the job did")
    error: Optional[str] = None


class JobRunList(Out):
    items: list[JobRun] = Field(description="newest first")


class ChainHead(Out):
    seq: int = Field(ge=0)
    hash: str


class CheckpointHeads(Out):
    time: str
    journal: ChainHead
    events: ChainHead
    key_id: str


class LedgerVerified(Out):
    verified_entries: int = Field(description="journal entries re-hashed")
    verified_events: int = Field(description="loan events re-hashed")
    book_id: str
    journal: ChainHead
    events: ChainHead
    checkpoint: Optional[CheckpointHeads] = None


class TrialBalance(Out):
    accounts: dict[str, int]
    total: int


class ApiKeyIssued(Out):
    key_id: str
    token: str = Field(description="shown once; only its SHA-256 is kept")
    role: Role
    scopes: list[Perm]
    subject: Optional[str] = None
    name: str


class ApiKeyRevoked(Out):
    key_id: str
    revoked: bool


# -- rate caps --------------------------------------------------------------------------------
class RateCapVersion(Out):
    version: int
    effective_from: date
    kind: CapKind
    rate: Optional[str] = None
    multiple: Optional[str] = None
    label: str
    note: str
    recorded_at: Optional[datetime] = None
    recorded_by: Optional[str] = None


class LprPublication(Out):
    id: int
    rate: str = Rate
    published_on: date
    effective_from: date
    recorded_at: Optional[datetime] = None
    recorded_by: Optional[str] = None


class RateCaps(Out):
    on: date
    in_force: Optional[RateCapApplied] = None
    problem: Optional[str] = Field(None, description="why no cap is in force on that date")
    products_not_offered: dict[str, str] = Field(description="product code: why not offered")
    versions: list[RateCapVersion]
    lpr_publications: list[LprPublication]


# -- personal data ----------------------------------------------------------------------------
class ContractVerification(Out):
    contract_id: str
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_matches: bool = Field(description="the stored content still hashes to content_hash")
    attested: bool = Field(description="the ledger attests content_hash")


class AccessLogEntry(Out):
    action: AccessAction
    object_type: str
    object_id: str
    actor: str
    role: Role
    reason: str
    at: datetime


class ApplicantExport(Out):
    """Everything held on the applicant, personal data in full (PIPL art. 45)."""

    applicant_id: str
    exported_at: datetime
    erased_at: Optional[datetime] = None
    applicant: Optional[dict[str, Any]] = Field(description="null once erased")
    bank_accounts: list[dict[str, Any]]
    consents: list[Consent]
    consent_log: list[ConsentLogEntry]
    identity_checks: list[IdentityCheck]
    applications: list[dict[str, Any]]
    contracts: list[Contract]
    disbursements: list[Disbursement]
    access_log: list[AccessLogEntry]


class Erasure(Out):
    applicant_id: str
    erased_at: datetime
    already_erased: bool
    kept: Optional[list[str]] = Field(None, description="what is kept, and why it may be")


# -- lists ------------------------------------------------------------------------------------
class ApplicantPage(Out):
    items: list[Applicant]
    next_cursor: Optional[str] = None


class ApplicationPage(Out):
    items: list[ApplicationSummary]
    next_cursor: Optional[str] = None


class LoanPage(Out):
    items: list[LoanSummary]
    next_cursor: Optional[str] = None


class IdentityCheckList(Out):
    items: list[IdentityCheck]


class ConsentList(Out):
    items: list[Consent]


class ConsentLog(Out):
    items: list[ConsentLogEntry]


class BankAccountList(Out):
    items: list[BankAccount]


class History(Out):
    items: list[HistoryEntry]


class ProductList(Out):
    rate_cap: RateCapShown = Field(description="the rate cap in force today")
    items: list[ProductOffered]


class AccessLog(Out):
    items: list[AccessLogEntry]


# -- collections ------------------------------------------------------------------------------

CaseStatus = Literal["open", "closed"]
CloseReason = Literal["cured", "settled", "written_off", "restructured"]
StageAction = Literal["reminder", "call_queue", "field_visit", "legal_letter", "agency_handoff"]


class CollectionStage(Out):
    index: int = Field(ge=0)
    name: str
    actions: list[StageAction]
    reminder_every_days: Optional[int] = None


class CollectionCase(Out):
    """A delinquent loan under collection (docs/collections.md)."""

    case_id: str
    loan_id: str
    applicant_id: Optional[str] = None
    status: CaseStatus
    opened_on: date
    strategy: str
    stage: CollectionStage
    escalations: int = Field(ge=0, description="broken promises, each one stage up")
    days_past_due: int = Field(ge=0)
    bucket: str
    risk_class: RiskClass
    amount_overdue: int = Field(ge=0, description="fen")
    owed: int = Field(ge=0, description="fen")
    priority: int = Field(ge=0, description="amount overdue x days past due")
    reviewed_on: date
    collector: Optional[str] = None
    assigned_at: Optional[datetime] = None
    closed_on: Optional[date] = None
    close_reason: Optional[CloseReason] = None


class CollectionCaseList(Out):
    items: list[CollectionCase] = Field(description="highest priority first")


class PromiseToPay(Out):
    promise_id: str
    case_id: str
    loan_id: str
    attempt_id: Optional[str] = None
    amount: int = Field(gt=0, description="fen")
    made_on: date
    due_on: date
    status: Literal["pending", "kept", "broken"]
    paid: int = Field(ge=0, description="fen received toward it")
    checked_on: Optional[date] = None
    made_by: str


class ContactAttempt(Out):
    attempt_id: str
    case_id: str
    loan_id: str
    collector: str
    channel: str
    party: str
    outcome: str
    note: str
    attempted_at: datetime
    promise: Optional[PromiseToPay] = None


class RestructuringOffer(Out):
    offer_id: str
    case_id: str
    loan_id: str
    kind: Literal["reschedule", "extend", "reduce_instalment"]
    status: Literal["proposed", "accepted", "declined", "expired", "withdrawn"]
    terms: dict[str, Any] = Field(description="periods, rate, balance, new and current "
                                              "instalment, APR and the new schedule")
    rate_cap: dict[str, Any] = Field(description="the cap the terms were checked against")
    proposed_on: date
    expires_on: date
    proposed_by: str
    decided_by: Optional[str] = None
    decided_at: Optional[datetime] = None
    operation: Optional[dict[str, Any]] = Field(
        None, description="the loan operation the acceptance made (or requested)")


class WriteOffAdvice(Out):
    recommended: bool
    expected_recovery: int
    cost_to_collect: int
    reasons: list[str]
    unmet: list[str]


class CollectionCaseDetail(CollectionCase):
    attempts: list[ContactAttempt]
    promises: list[PromiseToPay]
    offers: list[RestructuringOffer]
    write_off: WriteOffAdvice


class WriteOffCandidate(CollectionCase):
    write_off: WriteOffAdvice


class WriteOffCandidateList(Out):
    items: list[WriteOffCandidate]


class CollectionAuditEntry(Out):
    id: int
    at: datetime
    actor: str
    action: str
    outcome: Literal["done", "refused"]
    case_id: Optional[str] = None
    loan_id: Optional[str] = None
    detail: dict[str, Any]


class CollectionAuditTrail(Out):
    items: list[CollectionAuditEntry] = Field(description="oldest first")


class CollectionsRun(Out):
    business_date: date
    opened: int = Field(ge=0)
    escalated: int = Field(ge=0)
    closed: int = Field(ge=0)
    promises_kept: int = Field(ge=0)
    promises_broken: int = Field(ge=0)
    offers_expired: int = Field(ge=0)
    reminders: int = Field(ge=0)
    open_cases: int = Field(ge=0)


Problem.model_rebuild()
