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

from puhui.lines.line import LineEventKind, LineStatus
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
    frozen: bool = Field(False, description="under a servicing hold: the auto-debit does not "
                                            "pull from it (docs/servicing.md)")


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


# -- credit lines -----------------------------------------------------------------------------
class LineLoan(Out):
    loan_id: str
    principal_unrepaid: int = Field(description="principal not yet repaid: what the loan uses "
                                                "of the line, fen")
    status: LoanStatus


class LineEventOut(Out):
    line_id: str
    seq: int
    kind: LineEventKind
    key: str
    on: date
    reason: str
    actor: str
    amount: int
    commitment: int = Field(description="change in the undrawn commitment posted to the "
                                        "memorandum accounts, fen")
    limit: int
    drawn: int
    annual_rate: str = Rate
    status: LineStatus
    loan_id: Optional[str] = None
    decision_id: Optional[str] = None


class CreditLine(Out):
    line_id: str
    applicant_id: str
    product_code: str
    currency: str
    limit: int
    drawn: int = Field(description="principal drawn and not yet repaid, fen")
    available: int = Field(description="what may be drawn now: 0 unless active")
    annual_rate: str = Rate
    opened_on: date
    expires_on: date
    status: LineStatus
    changed_on: Optional[date] = None
    version: int
    application_id: str
    contract_id: str
    loans: list[LineLoan]


class CreditLineDetail(CreditLine):
    events: list[LineEventOut]


class LineGrant(CreditLine):
    replayed: bool


class LineChange(CreditLine):
    changes: list[LineEventOut] = Field(description="the events this change wrote (or, "
                                                    "replayed, had written)")
    replayed: bool


class LinePage(Out):
    items: list[CreditLine]
    next_cursor: Optional[str] = None


class DrawInstalment(Out):
    number: int
    due_date: date
    principal: int
    interest: int
    fee: int


class LineDraw(Out):
    line: CreditLine
    loan_id: str
    principal: int
    upfront_fee: int
    net_disbursed: int
    annual_rate: str = Rate
    method: str
    apr: str = Rate
    apr_convention: AprConvention
    effective_annual_rate: str = Rate
    total_interest: int
    schedule: list[DrawInstalment]
    schedule_is_representative: bool = Field(
        description="true for a revolving draw: repayable any day, interest by the day; the "
                    "schedule shows the whole draw repaid on the line's expiry")
    gateway_ref: str
    replayed: bool


# -- staff servicing -------------------------------------------------------------------------
class ServicingRequest(Out):
    """A staff servicing request and its outcome (docs/servicing.md)."""

    request_id: str
    loan_id: str
    operation: Literal["reschedule", "extend", "waive", "refund", "reverse_payment",
                       "write_off", "recovery", "freeze", "unfreeze"]
    params: dict[str, Any] = Field(description="the operation's parameters, as checked")
    reason: str
    amount: int = Field(description="the money the operation moves (fen): what the approval "
                                    "thresholds compare")
    currency: str
    needs_approval: bool
    status: Literal["pending", "applied", "rejected", "expired", "failed"]
    maker: str = Field(description="the API key that asked")
    requested_at: str
    expires_at: Optional[str] = None
    checker: Optional[str] = Field(None, description="the API key that approved or rejected")
    decided_at: Optional[str] = None
    note: Optional[str] = Field(None, description="the rejection's note, or why applying "
                                                  "failed or the request expired")
    event_key: Optional[str] = Field(None, description="the loan event an applied request "
                                                       "stored")
    result: Optional[dict[str, Any]] = Field(None, description="what applying did: journal "
                                                               "entries, the hold")


class ServicingRequestPage(Out):
    items: list[ServicingRequest]
    next_cursor: Optional[str] = None


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
    expired_servicing_requests: list[str] = Field(
        default_factory=list, description="servicing requests no one decided in time "
                                          "(docs/servicing.md)")
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
    frozen: int = Field(0, description="not attempted: the loan is under a servicing hold")
    amount_collected: int


#: The scheduled jobs' names as `job_runs` records them (docs/scheduler.md).
JobName = Literal["close", "provision", "auto_debit", "warnings", "collections", "reminders",
                  "line_refresh"]
JOB_NAME = (r"^(close|provision|auto_debit|warnings|collections|reminders"
            r"|line_refresh@([01][0-9]|2[0-3])[0-5][0-9])$")


class JobRun(Out):
    """One attempt of a scheduled daily job (docs/scheduler.md)."""

    id: int
    job: str = Field(pattern=JOB_NAME, description="close, provision, auto_debit, warnings, "
                     "collections, reminders, or a slot of the line refresh: line_refresh@HHMM")
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
    notifications: list[dict[str, Any]] = Field(default_factory=list,
                                               description="notifications sent or to send")
    notification_contacts: list[dict[str, Any]] = Field(
        default_factory=list, description="the e-mail address and push token given, in full")
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
CloseReason = Literal["cured", "settled", "written_off", "restructured", "warning_cleared"]
StageAction = Literal["reminder", "call_queue", "field_visit", "legal_letter", "agency_handoff"]


class CollectionStage(Out):
    index: int = Field(ge=0)
    name: str
    actions: list[StageAction]
    reminder_every_days: Optional[int] = None


class CallTask(Out):
    """A call of the borrower an early warning asked for; such cases head the queue."""

    requested_on: date
    reason: str
    urgent: bool = Field(description="the warning asked for collection to tighten too")


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
    origin: Literal["delinquency", "early_warning"] = Field(
        "delinquency", description="opened for a loan past due, or by an early warning before")
    call: Optional[CallTask] = Field(None, description="a call an early warning asked for, "
                                                       "until a collector calls")


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


# -- early warning and portfolio risk (docs/warnings.md, docs/portfolio.md) -----------------------
WatchStatusName = Literal["normal", "watch", "alert"]
SeverityName = Literal["low", "medium", "high"]


class WarningSignal(Out):
    signal: str = Field(description="e.g. sales_drop, missed_instalment, auto_debit_failed")
    severity: SeverityName
    value: float = Field(description="what was measured (a share, days, fen, a count)")
    threshold: float = Field(description="the tier it reached")
    detail: str


class WarningActionOut(Out):
    kind: Literal["freeze_line", "unfreeze_line", "reduce_limit", "call", "tighten_collection"]
    key: str = Field(description="idempotency key: warn:<loan>:<day>:<kind>")
    status: Literal["pending", "applied", "skipped", "failed"]


class WatchedLoan(Out):
    loan_id: str
    status: WatchStatusName
    previous: WatchStatusName
    since: date
    calm_since: Optional[date] = Field(None, description="first day of the current calm run")
    score: str = Field(description="sum of the fired signals' weights")
    signals: list[WarningSignal]
    actions: list[WarningActionOut] = Field(description="produced on entering this status")
    rules_version: str


class WatchCounts(Out):
    normal: int
    watch: int
    alert: int


class WatchList(Out):
    as_of: Optional[date] = Field(description="the day assessed (null before the first run)")
    counts: WatchCounts
    items: list[WatchedLoan]


class ProvisionOut(Out):
    month: str
    month_end: date
    currency: str
    required: int = Field(description="allowance required at the month end, fen")
    previous: int = Field(description="allowance of the month provisioned before, fen")
    delta: int = Field(description="posted: Dr provision expense / Cr allowance (negative: "
                                   "a release)")
    by_class: list[dict[str, Any]]
    settings_version: str
    entry_seq: Optional[int] = Field(description="journal entry (null when nothing changed)")
    recorded_at: datetime
    already_posted: bool


class ProvisionList(Out):
    items: list[ProvisionOut]


class PortfolioReport(Out):
    month: str
    month_end: date
    positions_stored: bool = Field(description="true once the month's provision was posted")
    loans: int = Field(description="active loans at the month end")
    npl: dict[str, Any] = Field(description="npl_principal, total_principal, npl_ratio, classes")
    roll_rates: list[dict[str, Any]] = Field(description="from_bucket, to_bucket, loans, "
                                                         "balance, rate, balance_rate")
    roll_rate_matrix: dict[str, dict[str, float]]
    vintage: list[dict[str, Any]] = Field(description="cohort, months_on_book, loans, defaults "
                                                      "(30+ DPD), cumulative_default_rate")
    expected_loss: dict[str, Any] = Field(description="total, ead, by_class (fen)")
    provision: dict[str, Any] = Field(description="settings, by_class, required, posted")
# -- notifications ----------------------------------------------------------------------------
NotificationStatus = Literal["pending", "sending", "sent", "failed", "abandoned",
                             "not_configured", "capped", "no_address"]
NotificationChannel = Literal["log", "email", "sms", "push", "webhook"]


class Notification(Out):
    """A notification to a borrower through one channel (docs/notifications.md); the
    recipient is masked.  Staff keys also see its key, last error and channel message id."""

    notification_id: str
    applicant_id: str
    loan_id: Optional[str] = None
    kind: str = Field(description="e.g. reminder.before_due, reminder.overdue, line.changed")
    channel: NotificationChannel
    recipient: str = Field(description="masked: 138****5678, z***@example.com")
    subject: str
    body: str
    status: NotificationStatus
    attempts: int = Field(ge=0)
    created_at: datetime
    not_before: datetime = Field(description="when it may go out (quiet hours, retries)")
    sent_at: Optional[datetime] = None
    context: dict[str, Any]
    key: Optional[str] = Field(None, description="staff only: the idempotency key")
    last_error: Optional[str] = Field(None, description="staff only")
    channel_message_id: Optional[str] = Field(None, description="staff only")


class NotificationPage(Out):
    items: list[Notification]
    next_cursor: Optional[str] = None


class NotificationDelivery(Out):
    """One attempt to deliver a notification, as the delivery log keeps it."""

    delivery_id: str
    notification_id: str
    applicant_id: str
    kind: str
    attempt: int = Field(ge=1)
    channel: NotificationChannel
    recipient: str = Field(description="masked")
    outcome: Literal["sent", "failed", "not_configured"]
    error: Optional[str] = None
    channel_message_id: Optional[str] = None
    started_at: datetime
    finished_at: datetime


class NotificationDeliveryPage(Out):
    items: list[NotificationDelivery]
    next_cursor: Optional[str] = None


class NotificationContact(Out):
    """A borrower's address on a channel, masked."""

    applicant_id: str
    channel: Literal["email", "push"]
    address: str = Field(description="masked")
    updated_at: datetime
# -- monitoring data and line re-evaluation (docs/line-policy.md) ---------------------------------
class LineReevaluated(Out):
    """One credit line re-evaluated on the data: its decision's outcome."""

    line_id: str
    decision_id: str
    changes: bool
    limit: Optional[int] = Field(None, description="the new limit, fen (null: unchanged)")
    annual_rate: Optional[str] = Field(None, pattern=r"^-?\d+(\.\d+)?$",
                                       description="the new price (null: unchanged)")
    freeze: Optional[bool] = Field(None, description="true frozen, false unfrozen, null unchanged")
    fired: list[str]
    released: list[str]
    reason: str
    recorded: bool = Field(description="false when the same inputs had been decided before")
    refused: Optional[str] = Field(None, description="why the change was not applied")


class MonitoringData(Out):
    """Fresh data accepted under a post-loan monitoring consent."""

    applicant_id: str
    scope: DataScope
    as_of: date
    records: int
    consent_id: str
    payload_sha256: str
    stored: bool = Field(description="false when it is the same as the latest of its scope")
    reevaluated: list[LineReevaluated]


class LineDecisionOutcome(Out):
    line_id: str
    decided_on: date
    policy_version: str
    fired: list[str]
    released: list[str]
    proposed_limit: Optional[int] = None
    proposed_rate: Optional[str] = None
    limit: Optional[int] = None
    annual_rate: Optional[str] = None
    freeze: Optional[bool] = None
    engaged: dict[str, date]


class LineDecisionRecordOut(Out):
    """Everything one re-evaluation of a credit line used (docs/line-policy.md)."""

    format: str
    decision_id: str
    line_id: str
    applicant_id: str
    decided_on: date
    trigger: str
    policy_version: str
    policy_sha256: str
    model_versions: dict[str, str]
    data: dict[str, str]
    line: dict[str, Any]
    engaged_before: dict[str, date]
    facts: dict[str, Any]
    outcome: LineDecisionOutcome


class LineDecisionReplay(Out):
    decision_id: str
    policy_version: str
    matches: bool
    recorded: LineDecisionOutcome
    replayed: dict[str, Any] = Field(description="the full decision with its trace")


class LineDecisionSummary(Out):
    decision_id: str
    decided_on: date
    trigger: str
    policy_version: str
    changes: bool
    fired: list[str]
    released: list[str]
    limit: Optional[int] = None
    annual_rate: Optional[str] = None
    freeze: Optional[bool] = None


class LineDecisionList(Out):
    items: list[LineDecisionSummary]
