"""The application workflow as stored: create, submit (verify, decide, offer), review, accept,
sign, withdraw, expire.

Each operation locks the application row, checks the transition with the pure workflow, and
writes the new status with an entry in the append-only history in the same transaction, so the
history always explains the status.  Decisions are stored whole (outcome, reasons, policy and
model versions), so any decision can be explained and replayed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from puhui.errors import ConcurrentModification, InvalidApplication, InvalidEvent, RateCapExceeded
from puhui.parties.consent import DataScope, Purpose
from puhui.decision.outcome import Decision, DecisionRequest, Outcome, Reason
from puhui.origination.offer import Offer, draft_contract, make_offer
from puhui.parties.applicant import Applicant, verify_applicant
from puhui.origination.workflow import ApplicationStatus as S
from puhui.origination.workflow import check_transition
from puhui.loans.cost import check_cap
from puhui.lines.line import disclosure_product
from puhui.loans.product import LoanProduct, RateCap, RepaymentMethod
from puhui.services import stages
from puhui.services.access import Perm, Principal
from puhui.parties.identity import mask
from puhui.services.applicants import (
    _json,
    applicant_row,
    context,
    load_account,
    load_applicant,
    masked_person,
    save_checks,
    sealed,
    unsealed,
    use_data,
)
from puhui.services.clock import business_date
from puhui.services.errors import NotFound, PersonalDataErased
from puhui.services.ids import new_id
from puhui.services.platform import Platform
from puhui.services.risk import assess, record_values
from puhui.store import application_repo as repo
from puhui.store.ledger_repo import LedgerRepository

#: Statuses an application leaves by expiry when its offer or review lapses.
EXPIRING = (S.OFFERED, S.ACCEPTED, S.REFERRED)

_FIELDS = repo.FIELDS
_MUTABLE = repo.MUTABLE


@dataclass(slots=True)
class AppRecord:
    """An application as one operation works on it.

    State changes collect here (with their history rows) and are written once, by `save`, under
    the version that was read: one UPDATE per operation however many transitions it makes.
    """

    application_id: str
    applicant_id: str
    partner_id: str | None
    product_code: str
    requested_amount: int
    purpose: str
    status: str
    version: int
    decision: str | None
    offer_id: str | None
    contract_id: str | None
    loan_id: str | None
    created_at: datetime
    updated_at: datetime
    stored_version: int = 0       # 0: not written yet
    history: list[dict] = field(default_factory=list)
    pending: list[tuple[str, dict]] = field(default_factory=list)  # rows that refer to it, by kind
    offer: dict | None = None  # the offer made by this operation (the view shows it as made)


def save(session: Session, rec: AppRecord) -> None:
    """Write the record's changes; refused if another transaction changed it meanwhile."""
    if rec.version == rec.stored_version:
        return
    if rec.stored_version == 0:
        repo.insert_application(session, {name: getattr(rec, name) for name in _FIELDS})
    else:
        changed = repo.update_application(session, rec.application_id, rec.stored_version,
                                          {name: getattr(rec, name) for name in _MUTABLE})
        if changed != 1:
            raise ConcurrentModification(f"application {rec.application_id} changed meanwhile")
    repo.insert_history(session, rec.history)
    for kind, values in rec.pending:
        repo.insert_related(session, kind, values)
    rec.stored_version, rec.history, rec.pending = rec.version, [], []


# -- reading --------------------------------------------------------------------------------------
def load_application(session: Session, actor: Principal, application_id: str,
                     lock: bool = False) -> AppRecord:
    found = repo.read(session, application_id, lock)
    if found is None:
        raise NotFound(f"no application {application_id!r}")
    row = AppRecord(**found._asdict())
    row.stored_version = row.version
    if not actor.sees_everything:
        try:
            applicant_row(session, actor, row.applicant_id)
        except NotFound:
            raise NotFound(f"no application {application_id!r}") from None
    return row


def get_application(session: Session, actor: Principal, application_id: str) -> dict:
    actor.require(Perm.READ)
    return application_view(session, load_application(session, actor, application_id))


def list_applications(session: Session, actor: Principal, after: str | None, limit: int,
                      status: str | None = None) -> list[dict]:
    actor.require(Perm.READ)
    wanted = None
    if status:
        try:
            wanted = S(status).value
        except ValueError:
            raise InvalidApplication(f"unknown application status {status!r}; choose from "
                                     f"{[s.value for s in S]}") from None
    return [application_view(session, r, with_offer=False)
            for r in repo.page(session, after, limit, wanted, actor.visibility)]



def history(session: Session, actor: Principal, application_id: str) -> list[dict]:
    actor.require(Perm.READ)
    load_application(session, actor, application_id)
    rows = repo.history(session, application_id)
    return [{"seq": r.seq, "from": r.from_status, "to": r.to_status, "actor": r.actor,
             "detail": json.loads(r.detail), "at": r.at.isoformat()} for r in rows]


def application_view(session: Session, row: Any,
                     with_offer: bool = True) -> dict:
    out: dict[str, Any] = {
        "application_id": row.application_id, "applicant_id": row.applicant_id,
        "partner_id": row.partner_id, "product_code": row.product_code,
        "requested_amount": row.requested_amount, "purpose": row.purpose, "status": row.status,
        "decision": json.loads(row.decision) if row.decision else None,
        "offer_id": row.offer_id, "contract_id": row.contract_id, "loan_id": row.loan_id,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }
    if with_offer:
        made_now = getattr(row, "offer", None)  # not read back: it may not be written yet
        out["offer"] = (made_now if made_now is not None else
                        offer_view(session, row.offer_id) if row.offer_id else None)
    return out


def load_offer(session: Session, offer_id: str, verified: bool = True) -> Offer:
    """The stored offer, proved to be what its terms give (`Offer.from_dict`: its schedule and
    cost recomputed); with `verified` false, as stored (`Offer.as_stored`), for a caller that
    checks the schedule where it uses it."""
    row = repo.offer(session, offer_id)
    if row is None:
        raise NotFound(f"no offer {offer_id!r}")
    data = json.loads(row.data)
    return Offer.from_dict(data) if verified else Offer.as_stored(data)


def offer_view(session: Session, offer_id: str) -> dict:
    row = repo.offer(session, offer_id)
    if row is None:
        raise NotFound(f"no offer {offer_id!r}")
    return json.loads(row.data)


# -- transitions ----------------------------------------------------------------------------------
def _move(session: Session, row: AppRecord, target: S, actor: Principal, now: datetime,
          **detail: Any) -> None:
    """Change status (checked by the workflow) and note why; `save` writes both."""
    check_transition(row.status, target)
    row.history.append({"application_id": row.application_id, "seq": row.version + 1,
                        "from_status": row.status, "to_status": target.value,
                        "actor": actor.key_id, "detail": _json(detail), "at": now})
    row.status, row.version, row.updated_at = target.value, row.version + 1, now


def offered_product(p: Platform, session: Session, code: str,
                    on: date) -> tuple[LoanProduct, RateCap]:
    """The product `code` and the cap in force, or `RateCapExceeded` if it is not offered.

    A revolving product (随借随还) is applied for as a credit line: its offer discloses the cost
    of the representative draw (`disclosure_product`), and it is that cost the cap limits."""
    product = p.product(code)
    if product.method is not RepaymentMethod.REVOLVING:
        return p.offered_product(session, code, on)
    cap = p.cap_in_force(session, on)
    refusal = p.offer_refusal(disclosure_product(product), cap, on)
    if refusal is not None:
        raise RateCapExceeded(refusal)
    return product, cap


# -- operations -----------------------------------------------------------------------------------
def _draft(p: Platform, session: Session, actor: Principal, applicant_id: str,
           product_code: str, amount: int, purpose: str,
           submitting: bool = False) -> tuple[AppRecord, Applicant]:
    """A new application record (not yet written) whose product and amount are valid and
    whose product is offered under the cap in force (when `submitting`, the submission that
    follows checks that instead)."""
    actor.require(Perm.APPLY)
    applicant_row, applicant = load_applicant(session, actor, applicant_id)
    product = p.product(product_code)
    if not submitting:
        offered_product(p, session, product_code, business_date(p.clock))  # RateCapExceeded
    product.check_principal(amount)
    if not isinstance(purpose, str) or len(purpose) > 500:
        raise InvalidApplication("purpose must be text of at most 500 characters")
    now = p.clock.now()
    row = AppRecord(new_id("AN"), applicant_id, applicant_row.partner_id, product_code, amount,
                    purpose, S.DRAFT.value, 1, None, None, None, None, now, now)
    row.history.append({"application_id": row.application_id, "seq": 1, "from_status": None,
                        "to_status": S.DRAFT.value, "actor": actor.key_id,
                        "detail": _json({"product": product_code, "amount": amount}), "at": now})
    return row, applicant


def create_application(p: Platform, session: Session, actor: Principal, applicant_id: str,
                       product_code: str, amount: int, purpose: str = "") -> AppRecord:
    """A draft application; amount and product are checked now, so a draft is always valid."""
    row, _ = _draft(p, session, actor, applicant_id, product_code, amount, purpose)
    save(session, row)
    return row


def submit(p: Platform, session: Session, actor: Principal, application_id: str) -> AppRecord:
    """Submit, verify identity, decide and (when approved) make the offer, in one transaction.

    Without a consent to use identity data for credit assessment nothing happens: the query is
    refused and logged, and the application stays a draft.
    """
    actor.require(Perm.APPLY)
    row = load_application(session, actor, application_id, lock=True)
    check_transition(row.status, S.SUBMITTED)
    _, applicant = load_applicant(session, actor, row.applicant_id)
    return _submit(p, session, actor, row, applicant)


def apply(p: Platform, session: Session, actor: Principal, applicant_id: str, product_code: str,
          amount: int, purpose: str = "") -> AppRecord:
    """Create and submit in one step: the straight-through path a partner's checkout uses."""
    row, applicant = _draft(p, session, actor, applicant_id, product_code, amount, purpose,
                            submitting=True)
    return _submit(p, session, actor, row, applicant)


def _submit(p: Platform, session: Session, actor: Principal, row: AppRecord,
            applicant: Applicant) -> AppRecord:
    check_transition(row.status, S.SUBMITTED)
    # the cap may have fallen since the draft: a product above it is no longer offered
    product, cap = offered_product(p, session, row.product_code, business_date(p.clock))
    use_data(p, session, row.applicant_id, DataScope.IDENTITY, Purpose.CREDIT_ASSESSMENT,
             row.application_id)
    now, today = p.clock.now(), business_date(p.clock)
    _move(session, row, S.SUBMITTED, actor, now)
    _move(session, row, S.VERIFYING, actor, now)
    checks = verify_applicant(applicant, today, checked_at=now)
    failed = [c for c in checks if not c.passed]
    if failed:
        decision = Decision(Outcome.DECLINE,
                            tuple(Reason("KYC_FAILED", f"{c.kind.value} {c.subject}: {c.reason}")
                                  for c in failed),
                            None, None, None, "kyc")
        _record_decision(session, row, decision)
        _move(session, row, S.DECLINED, actor, now, reasons=["KYC_FAILED"])
    else:
        _move(session, row, S.DECISIONING, actor, now)
        with stages.stage("data"):
            data = assess(p, session, row.applicant_id, row.application_id, today)
        request = DecisionRequest(
            row.application_id, applicant, row.requested_amount, product, tuple(checks), today,
            data, rate_cap=cap)
        evaluate = getattr(p.decider, "evaluate", None)
        with stages.stage("decide"):
            if evaluate is None:
                decision = p.decider.decide(request)
            else:  # a decider that explains itself: keep its record beside the application
                decision, record = evaluate(request)
                row.pending.append(("decision_record",
                                    record_values(row.application_id, record, now)))
        with stages.stage("offer"):
            _conclude(p, session, row, decision, actor, now, cap)
    save(session, row)
    save_checks(session, row.applicant_id, row.application_id, checks)
    return row


def _record_decision(session: Session, row: AppRecord, decision: Decision) -> None:
    row.decision = _json(decision.to_dict())


def _conclude(p: Platform, session: Session, row: AppRecord, decision: Decision,
              actor: Principal, now: datetime, cap: RateCap | None = None,
              automated: bool = True) -> None:
    """Turn a decision into an offer, a decline or a referral.

    The offer's all-in cost (IRR, fees included) is checked against the cap in force (`cap`,
    or looked up): an automated approval whose cost would exceed it is declined (RATE_CAP, with
    why), never offered at an illegal price; a reviewer's approval is refused instead
    (`RateCapExceeded`), so the reviewer can choose a lower rate."""
    today = business_date(p.clock)
    if decision.outcome is Outcome.APPROVE:
        cap = cap if cap is not None else p.cap_in_force(session, today)
        try:  # the offer prices the product at the decision's rate
            offer = make_offer(new_id("OF"), row.application_id,
                               disclosure_product(p.product(row.product_code)),
                               decision, today, now, p.offer_validity, cap)
        except RateCapExceeded as exc:
            if not automated:
                raise
            decision = Decision(Outcome.DECLINE, decision.reasons + (Reason("RATE_CAP", str(exc)),),
                                None, None, None, decision.policy_version, decision.model_version)
            _record_decision(session, row, decision)
            _move(session, row, S.DECLINED, actor, now, reasons=[r.code for r in decision.reasons])
            return
        row.offer = offer.to_dict()
        row.pending.append(("offer", {"offer_id": offer.offer_id,
                                     "application_id": row.application_id,
                                     "data": _json(row.offer), "created_at": now,
                                     "expires_at": offer.expires_at}))
        row.offer_id = offer.offer_id
        _record_decision(session, row, decision)
        _move(session, row, S.OFFERED, actor, now, offer_id=offer.offer_id,
              amount=offer.principal, apr=str(offer.quote.apr))
    elif decision.outcome is Outcome.DECLINE:
        _record_decision(session, row, decision)
        _move(session, row, S.DECLINED, actor, now, reasons=[r.code for r in decision.reasons])
    else:
        _record_decision(session, row, decision)
        _move(session, row, S.REFERRED, actor, now, reasons=[r.code for r in decision.reasons])


def review(p: Platform, session: Session, actor: Principal, application_id: str, approve: bool,
           note: str, amount: int | None = None, annual_rate: Decimal | None = None) -> AppRecord:
    """A credit officer's decision on a referred application, recorded like any other."""
    actor.require(Perm.REVIEW)
    row = load_application(session, actor, application_id, lock=True)
    if row.status != S.REFERRED.value:
        check_transition(row.status, S.OFFERED if approve else S.DECLINED)
        raise InvalidEvent(f"application {application_id} is {row.status}, not referred")
    if not note or not isinstance(note, str) or len(note) > 2000:
        raise InvalidApplication("a review needs a note of 1-2000 characters")
    earlier = Decision.from_dict(json.loads(row.decision)) if row.decision else None
    product = p.product(row.product_code)
    now = p.clock.now()
    if approve:
        amount = amount if amount is not None else (earlier.amount if earlier and earlier.amount
                                                    else row.requested_amount)
        product.check_principal(amount)
        rate = annual_rate if annual_rate is not None else (
            earlier.annual_rate if earlier and earlier.annual_rate is not None else product.annual_rate)
        decision = Decision(Outcome.APPROVE, (Reason("MANUAL_APPROVAL", note),), amount,
                            Decimal(rate), earlier.grade if earlier else None,
                            f"manual:{actor.key_id}",
                            earlier.model_version if earlier else None)
    else:
        decision = Decision(Outcome.DECLINE, (Reason("MANUAL_DECLINE", note),), None, None,
                            earlier.grade if earlier else None, f"manual:{actor.key_id}",
                            earlier.model_version if earlier else None)
    _conclude(p, session, row, decision, actor, now, automated=False)
    save(session, row)
    return row


def withdraw(p: Platform, session: Session, actor: Principal, application_id: str,
             reason: str = "") -> AppRecord:
    actor.require(Perm.APPLY)
    row = load_application(session, actor, application_id, lock=True)
    _move(session, row, S.WITHDRAWN, actor, p.clock.now(), reason=reason[:500])
    save(session, row)
    return row


def expire_stale(p: Platform, session: Session, actor: Principal) -> list[str]:
    """Expire offers whose validity has passed and referrals left undecided as long."""
    now = p.clock.now()
    ids = repo.ids_in_status(session, [s.value for s in EXPIRING])
    expired = []
    for application_id in ids:
        row = load_application(session, actor, application_id, lock=True)
        if row.offer_id:
            lapsed = repo.offer(session, row.offer_id).expires_at <= now
        else:
            lapsed = row.updated_at + p.offer_validity <= now
        if lapsed:
            _move(session, row, S.EXPIRED, actor, now)
            save(session, row)
            expired.append(application_id)
    return expired


def accept_offer(p: Platform, session: Session, actor: Principal, application_id: str,
                 account_id: str) -> dict:
    """Accept the offer: the contract is drawn up and its hash attested on the ledger chain.

    Refused (`RateCapExceeded`) if the offer costs more than the cap in force on the day of
    acceptance, which may be lower than when the offer was made."""
    actor.require(Perm.ACCEPT)
    row = load_application(session, actor, application_id, lock=True)
    check_transition(row.status, S.ACCEPTED)
    _, applicant = load_applicant(session, actor, row.applicant_id)
    account = load_account(session, row.applicant_id, account_id)
    offer = load_offer(session, row.offer_id)
    now = p.clock.now()
    contract = draft_contract(new_id("CT"), offer, applicant, account, now)  # OfferExpired
    # a lower cap may have taken effect since the offer: no contract above the cap in force
    cap = p.cap_in_force(session, business_date(p.clock))
    check_cap(offer.quote.schedule, cap, offer.quote.apr,
              f"offer {offer.offer_id}'s annualised cost (IRR, fees included)",
              periods=offer.quote.periods)
    entry = LedgerRepository(session).attest(
        "loan_contract", contract.contract_id, contract.content_hash, business_date(p.clock),
        f"loan contract {contract.contract_id} for application {application_id}",
        event_key=f"contract:{contract.contract_id}")
    stored = repo.add_contract(
        session, contract_id=contract.contract_id, application_id=application_id,
        offer_id=offer.offer_id, account_id=account_id,
        content=sealed(session, row.applicant_id, _json(contract.content),
                       context("contracts", contract.contract_id)),
        content_hash=contract.content_hash,
        ledger_seq=entry.seq, accepted_at=now, signed_at=None, signed_by=None)
    row.contract_id = contract.contract_id
    _move(session, row, S.ACCEPTED, actor, now, contract_id=contract.contract_id,
          content_hash=contract.content_hash, ledger_seq=entry.seq)
    save(session, row)
    session.flush()
    return contract_view(stored, row.applicant_id, contract.content)


def load_contract(session: Session, actor: Principal, contract_id: str,
                  lock: bool = False) -> tuple[Any, AppRecord]:
    row = repo.contract(session, contract_id, lock)
    if row is None:
        raise NotFound(f"no contract {contract_id!r}")
    try:
        application = load_application(session, actor, row.application_id, lock=lock)
    except NotFound:
        raise NotFound(f"no contract {contract_id!r}") from None
    return row, application


def sign_contract(p: Platform, session: Session, actor: Principal, contract_id: str,
                  content_hash: str) -> dict:
    """The borrower signs by confirming the hash of the text it was shown."""
    actor.require(Perm.ACCEPT)
    contract, application = load_contract(session, actor, contract_id, lock=True)
    if content_hash != contract.content_hash:
        raise InvalidApplication("the signed hash does not match the contract's content hash; "
                                 "fetch the contract again and sign what it says")
    now = p.clock.now()
    _move(session, application, S.CONTRACT_SIGNED, actor, now, contract_id=contract_id)
    save(session, application)
    repo.record_signature(session, contract, now, actor.key_id)
    return contract_view(contract, application.applicant_id)


def get_contract(session: Session, actor: Principal, contract_id: str) -> dict:
    """The contract as every key sees it: personal numbers masked.  The full text is read
    through `puhui.services.privacy.full_contract`, by entitled staff, and logged."""
    actor.require(Perm.READ)
    contract, application = load_contract(session, actor, contract_id)
    return contract_view(contract, application.applicant_id)


def contract_content(session: Session, row: Any, applicant_id: str) -> dict:
    """The contract's full content, opened (PersonalDataErased after erasure)."""
    return json.loads(unsealed(session, applicant_id, row.content,
                               context("contracts", row.contract_id)))


def masked_content(content: dict) -> dict:
    """The contract content with the borrower's, guarantors' and the account's numbers masked.
    A view only: the hash stays the hash of the full content."""
    out = dict(content)
    borrower = content.get("borrower")
    if isinstance(borrower, dict):
        out["borrower"] = {**borrower, "owner": masked_person(borrower.get("owner", {})),
                           "guarantors": [masked_person(g)
                                          for g in borrower.get("guarantors", [])]}
    account = content.get("repayment_account")
    if isinstance(account, dict):
        out["repayment_account"] = {**account,
                                    "card_number": mask(account.get("card_number", ""))}
    return out


def contract_view(row: Any, applicant_id: str, content: dict | None = None,
                  full: bool = False) -> dict:
    """A contract with its content masked (`full`: as signed, for entitled staff only)."""
    erased = False
    if content is None:
        try:
            content = contract_content(repo.session_of(row), row, applicant_id)
        except PersonalDataErased:
            erased = True
    return {"contract_id": row.contract_id, "application_id": row.application_id,
            "offer_id": row.offer_id, "account_id": row.account_id,
            "content": None if erased else content if full else masked_content(content),
            "content_masked": not full and not erased, "content_erased": erased,
            "content_hash": row.content_hash,
            "ledger_seq": row.ledger_seq, "accepted_at": row.accepted_at.isoformat(),
            "signed_at": row.signed_at.isoformat() if row.signed_at else None,
            "signed_by": row.signed_by}
