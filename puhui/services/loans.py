"""Paying out signed contracts, taking repayments, and the scheduled auto-debit run.

A contract pays out once, whatever the retries and races: the disbursement row's unique
contract id is claimed first, inside the transaction that opens the loan and posts the ledger
entry, and the payout instruction carries the disbursement's own reference, which the payment
rail treats as one instruction however often it arrives.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.book import amount_due
from puhui.errors import (InvalidApplication, InvalidBusinessDate, InvalidEvent, PuhuiError,
                          WriteConflict)
from puhui.loans.events import CreditRefund, Disbursement, Prepayment, PrepaymentMode, Repayment
from puhui.loans.product import RepaymentMethod
from puhui.loans.state import LoanStatus
from puhui.parties.identity import mask
from puhui.origination.workflow import ApplicationStatus as S
from puhui.services import lines
from puhui.services.access import Perm, Principal
from puhui.parties.consent import DataScope, Purpose
from puhui.services.applicants import _log, consents, load_account, sealed, unsealed
from puhui.services.applications import (
    _move,
    load_application,
    load_contract,
    load_offer,
    save,
)
from puhui.services.business_day import check_run_date
from puhui.services.clock import business_date
from puhui.services.errors import AlreadyDone, NotFound
from puhui.services.ids import new_id
from puhui.services.platform import Platform
from puhui.store import application_repo as repo
from puhui.store import servicing_repo
from puhui.store.business_days import BusinessDayRepository
from puhui.store.crypto import context

#: How far after today a loan's view (`loan_view(as_of=...)`) may project its balances.
MAX_VIEW_AHEAD = timedelta(days=366)


class PayoutMode(str, enum.Enum):
    BOUND_ACCOUNT = "bound_account"  # to the borrower's own bound account
    ENTRUSTED = "entrusted"          # 受托支付: straight to the borrower's supplier or merchant


def disburse(p: Platform, session: Session, actor: Principal, contract_id: str,
             mode: PayoutMode | str = PayoutMode.BOUND_ACCOUNT, payee_name: str | None = None,
             payee_account: str | None = None, reference: str = "") -> dict:
    """Open the loan, post the disbursement, and instruct the payout, all or nothing."""
    actor.require(Perm.DISBURSE)
    try:
        mode = PayoutMode(mode)
    except ValueError:
        raise InvalidApplication(f"unknown payout mode {mode!r}; "
                                 f"choose from {[m.value for m in PayoutMode]}") from None
    contract, application = load_contract(session, actor, contract_id, lock=True)
    existing = repo.disbursement_for(session, contract_id)
    if existing is not None:
        raise AlreadyDone(f"contract {contract_id} was paid out by {existing.disbursement_id}")
    if application.status != S.CONTRACT_SIGNED.value:
        raise InvalidEvent(f"contract {contract_id} cannot be paid out: its application is "
                           f"{application.status}, not contract_signed")
    line_id = lines.line_for_application(session, application.application_id)
    if line_id is not None:
        raise AlreadyDone(f"contract {contract_id} granted credit line {line_id}; draw on the "
                          "line instead of paying the contract out")
    if p.product(application.product_code).method is RepaymentMethod.REVOLVING:
        raise InvalidEvent(f"contract {contract_id} is for a revolving line: grant the line "
                           "(POST /v1/contracts/{contract_id}/line) and draw on it")
    # read as stored: the loan checks the schedule it opens on against the offer's (below)
    offer = load_offer(session, contract.offer_id, verified=False)
    account = load_account(session, application.applicant_id, contract.account_id)
    if mode is PayoutMode.BOUND_ACCOUNT:
        if payee_name or payee_account:
            raise InvalidApplication("a bound-account payout takes no payee; use mode 'entrusted'")
        payee_name, payee_account = account.holder_name, account.card_number
    else:
        payee_name, payee_account = _entrusted_payee(payee_name, payee_account, reference)
    today, now = business_date(p.clock), p.clock.now()
    disbursement_id, loan_id = new_id("DB"), new_id("LN")
    # the rail keys the instruction on the contract, so no retry of any kind pays it twice
    instruction = f"PAYOUT-{contract_id}"
    where = context("disbursements", disbursement_id)
    repo.add_disbursement(
        session, disbursement_id=disbursement_id, contract_id=contract_id, loan_id=loan_id,
        mode=mode.value,
        payee_name=sealed(session, application.applicant_id, payee_name, where + ":name"),
        payee_account=sealed(session, application.applicant_id, payee_account,
                             where + ":account"),
        reference=reference,
        principal=offer.principal, paid_out=offer.net_disbursed, currency=offer.product.currency,
        value_date=today, gateway_ref=instruction, created_at=now)
    p.book.open_in(session, loan_id, offer.product)
    try:
        session.flush()  # claims the contract: a racing payout fails here, before any money moves
    except WriteConflict:
        raise AlreadyDone(f"contract {contract_id} is being paid out by another request") from None
    # paid out on the offer's date, the loan must open on exactly the schedule disclosed;
    # on a later date its schedule runs from the payout, as every loan's does
    contracted = offer.quote.schedule if offer.start == today else None
    p.book.apply_in(session, [(loan_id, Disbursement(f"disburse:{contract_id}", today,
                                                     offer.principal, contracted=contracted))])
    transfer = p.gateway.pay_out(instruction, payee_account, payee_name, offer.net_disbursed)
    if not transfer.ok:
        raise PuhuiError(f"payout refused by the payment rail: {transfer.reason}")
    row = repo.disbursement(session, disbursement_id)
    application.loan_id = loan_id
    _move(session, application, S.DISBURSED, actor, now, loan_id=loan_id,
          disbursement_id=disbursement_id, mode=mode.value)
    save(session, application)
    return disbursement_view(row, payee_name, payee_account)


def _entrusted_payee(name: str | None, account: str | None, reference: str) -> tuple[str, str]:
    """受托支付 needs a named payee, an account and the trade document the funds pay for."""
    if not name or not isinstance(name, str) or len(name) > 200:
        raise InvalidApplication("an entrusted payment needs the payee's name (1-200 characters)")
    digits = (account or "").replace(" ", "")
    if not digits.isdigit() or not 8 <= len(digits) <= 32:
        raise InvalidApplication("the payee account must be 8-32 digits")
    if not reference or len(reference) > 200:
        raise InvalidApplication("an entrusted payment needs the invoice or order it pays "
                                 "(reference, 1-200 characters)")
    return name, digits


def payee_of(session: Session, applicant_id: str, row: Any) -> tuple[str, str]:
    """The payee's name and account of a disbursement, opened."""
    where = context("disbursements", row.disbursement_id)
    return (unsealed(session, applicant_id, row.payee_name, where + ":name"),
            unsealed(session, applicant_id, row.payee_account, where + ":account"))


def disbursement_view(row: Any, payee_name: str, payee_account: str) -> dict:
    return {"disbursement_id": row.disbursement_id, "contract_id": row.contract_id,
            "loan_id": row.loan_id, "mode": row.mode, "payee_name": payee_name,
            "payee_account": mask(payee_account), "reference": row.reference,
            "principal": row.principal, "paid_out": row.paid_out, "currency": row.currency,
            "value_date": row.value_date.isoformat(), "gateway_ref": row.gateway_ref,
            "created_at": row.created_at.isoformat()}


# -- loans ----------------------------------------------------------------------------------------
def _loan_application(session: Session, actor: Principal, loan_id: str) -> Any | None:
    row = repo.for_loan(session, loan_id) or lines.application_of_drawn_loan(session, loan_id)
    if row is None:
        if actor.sees_everything:
            return None  # a loan booked outside origination (the demo book, a migration)
        raise NotFound(f"no loan {loan_id!r}")
    try:
        load_application(session, actor, row.application_id)
    except NotFound:
        raise NotFound(f"no loan {loan_id!r}") from None
    return row


def loan_view(p: Platform, session: Session, actor: Principal, loan_id: str,
              as_of: date | None = None) -> dict:
    actor.require(Perm.READ)
    _loan_application(session, actor, loan_id)
    try:
        account = p.book.load_in(session, loan_id)
    except InvalidEvent:
        raise NotFound(f"no loan {loan_id!r}") from None
    today = business_date(p.clock)
    on = as_of or today
    # The view is the loan's state now, projected forward: a date before its last event would
    # show today's state under a past date, and one far ahead a meaningless penalty figure.
    if as_of is not None and (account.last_date and as_of < account.last_date
                              or as_of > today + MAX_VIEW_AHEAD):
        raise InvalidBusinessDate(
            f"as_of {as_of} is outside the dates a loan can be shown on: from its last event "
            f"({account.last_date}) to {today + MAX_VIEW_AHEAD} ({MAX_VIEW_AHEAD.days} days "
            f"after today)")
    out = {"loan_id": loan_id, "product": account.product.code,
           "status": account.status.value, "currency": account.product.currency,
           "balances": account.balances(), "days_past_due": account.days_past_due(on),
           "risk_class": account.risk_class(on).value, "amount_due": amount_due(account, on),
           "credit_balance": account.credit, "as_of": on.isoformat(),
           "frozen": bool(servicing_repo.frozen_loans(session, [loan_id]))}
    if hasattr(account, "instalments"):
        out["payoff_amount"] = account.payoff_amount(on) if account.status is LoanStatus.ACTIVE else 0
        out["schedule"] = [
            {"number": i.number, "start": i.start.isoformat(), "due_date": i.due.isoformat(),
             "principal": i.principal, "interest": i.interest, "fee": i.fee,
             "paid": {c.value: v for c, v in i.paid.items()}}
            for i in account.instalments]
    else:  # a revolving draw: repayable in full any day, no fixed schedule
        out["payoff_amount"] = account.payoff_amount(on) if account.status is LoanStatus.ACTIVE else 0
        out["schedule"] = []
    return out


def repay(p: Platform, session: Session, actor: Principal, loan_id: str, amount: int,
          key: str, prepay: str | None = None) -> dict:
    """A repayment (or prepayment) received for `loan_id` today, idempotent on `key`."""
    actor.require(Perm.REPAY)
    _loan_application(session, actor, loan_id)
    today = business_date(p.clock)
    if prepay is None:
        event = Repayment(key, today, amount)
    else:
        try:
            event = Prepayment(key, today, amount, PrepaymentMode(prepay))
        except ValueError:
            raise InvalidApplication(f"unknown prepayment mode {prepay!r}; choose from "
                                     f"{[m.value for m in PrepaymentMode]}") from None
    try:
        p.book.load_in(session, loan_id)
    except InvalidEvent:
        raise NotFound(f"no loan {loan_id!r}") from None
    posted = p.book.apply_in(session, [(loan_id, event)]).get(loan_id, [])
    lines.after_repayment(p, session, actor, loan_id)  # repaid principal is available again
    view = loan_view(p, session, actor, loan_id)
    view["journal_entries"] = [e.seq for e in posted]
    return view


def refund_credit(p: Platform, session: Session, actor: Principal, loan_id: str, key: str,
                  amount: int | None = None) -> dict:
    """Pay (part of) a borrower's credit balance back to their bound account, idempotent on `key`.

    The refund is a `CreditRefund` event: it posts Dr borrower credit / Cr cash, and the payout
    instruction carries a reference derived from the key, so a retried request neither posts
    nor pays twice.  Without `amount` the whole credit balance is refunded.
    """
    actor.require(Perm.OPERATE)
    return pay_back_credit(p, session, actor, loan_id, key, amount)


def check_refundable(session: Session, actor: Principal, loan_id: str) -> None:
    """Refuse a refund on a loan with no bound account to pay it to (one booked outside
    origination)."""
    application = _loan_application(session, actor, loan_id)
    if application is None or application.contract_id is None:
        raise InvalidApplication(f"loan {loan_id} has no bound account to refund to")


def pay_back_credit(p: Platform, session: Session, actor: Principal, loan_id: str, key: str,
                    amount: int | None = None) -> dict:
    """`refund_credit` once the caller's right to it is settled (an operator's key, or an
    approved servicing request, `puhui.services.servicing`)."""
    application = _loan_application(session, actor, loan_id)
    try:
        account = p.book.load_in(session, loan_id)
    except InvalidEvent:
        raise NotFound(f"no loan {loan_id!r}") from None
    if application is None or application.contract_id is None:
        raise InvalidApplication(f"loan {loan_id} has no bound account to refund to")
    today = business_date(p.clock)
    done = p.book.stored_event(session, loan_id, key)  # a refund sent again
    if amount is None:  # a replay refunds what the first request refunded
        amount = done.amount if isinstance(done, CreditRefund) else account.credit
    if amount <= 0:
        raise InvalidEvent(f"loan {loan_id} has no credit balance to refund")
    event = CreditRefund(key, today, amount)
    posted = p.book.apply_in(session, [(loan_id, event)]).get(loan_id, [])
    contract, _ = load_contract(session, actor, application.contract_id)
    bank = load_account(session, application.applicant_id, contract.account_id)
    reference = "RF-" + hashlib.sha256(f"{loan_id}|{key}".encode()).hexdigest()[:32]
    if posted:  # a use of the bound account's data, logged with its basis (not on a replay)
        _log(session, application.applicant_id, None, "used", DataScope.BANK_ACCOUNT.value,
             Purpose.LOAN_SERVICING.value, application.application_id,
             {"loan_id": loan_id, "refund": amount, "account_id": contract.account_id,
              "legal_basis": "contract", "contract_id": contract.contract_id,
              "by": actor.key_id, "gateway_ref": reference}, p.clock.now())
    transfer = p.gateway.pay_out(reference, bank.card_number, bank.holder_name, amount)
    if not transfer.ok:
        raise PuhuiError(f"refund refused by the payment rail: {transfer.reason}")
    view = loan_view(p, session, actor, loan_id)
    view["refund"] = {"amount": amount, "gateway_ref": reference,
                      "payee_account": mask(bank.card_number)}
    view["journal_entries"] = [e.seq for e in posted]
    return view


def debit_basis(p: Platform, session: Session, applicant_id: str, contract: Any) -> dict:
    """Why the borrower's bound account may be debited now, or `AutoDebitRefused`.

    The signed loan contract is the legal basis (PIPL art. 13(1)2: necessary to perform a
    contract the person is party to): it names the repayment account and authorises debiting
    it.  A borrower who withdraws that authorisation (revokes a bank_account consent for
    loan_servicing, with none other in force) stops the auto-debit; they still owe and repay by
    other means.  A consent in force for it is recorded beside the contract.
    """
    now = p.clock.now()
    relevant = [c for c in consents(session, applicant_id)
                if c.matches(DataScope.BANK_ACCOUNT, Purpose.LOAN_SERVICING)]
    active = sorted(c.consent_id for c in relevant if c.status(now) == "active")
    if not active and any(c.status(now) == "revoked" for c in relevant):
        raise AutoDebitRefused("the borrower withdrew the auto-debit authorisation "
                               f"({', '.join(sorted(c.consent_id for c in relevant))})")
    if contract.signed_at is None:
        raise AutoDebitRefused(f"contract {contract.contract_id} is not signed")
    return {"legal_basis": "consent" if active else "contract", "consent_id": (active or [None])[-1],
            "contract_id": contract.contract_id}


class AutoDebitRefused(Exception):
    """Neither a consent in force nor the signed contract covers debiting the account."""


def auto_debit(p: Platform, session: Session, actor: Principal, run_date: date | None = None) -> dict:
    """Pull what is due today from each active loan's bound account, once per loan and day.

    Each pull uses the borrower's bank account data for loan servicing: its legal basis (the
    signed contract, and any consent in force) is written to the consent log before the pull;
    a loan whose borrower withdrew the authorisation is not debited, and the refusal is logged.
    """
    actor.require(Perm.OPERATE)
    on = check_run_date(run_date or business_date(p.clock), p.clock,
                        BusinessDayRepository(session).last_closed())
    rows = sorted(list(repo.disbursed(session, S.DISBURSED.value))
                  + lines.drawn_loans(session))  # loans under a line repay the same way
    done = repo.auto_debited(session, on)
    # a loan under a servicing hold is not pulled from (docs/servicing.md, "freeze")
    frozen = servicing_repo.frozen_loans(session)
    summary = {"run_date": on.isoformat(), "attempted": 0, "collected": 0, "failed": 0,
               "refused": 0, "frozen": 0, "amount_collected": 0}
    scope, purpose = DataScope.BANK_ACCOUNT.value, Purpose.LOAN_SERVICING.value
    for loan_id, applicant_id, contract_id, application_id in rows:
        if loan_id in done:
            continue
        account = p.book.load_in(session, loan_id)
        if account.status is not LoanStatus.ACTIVE:
            continue
        due = amount_due(account, on)
        if due <= 0:
            continue
        if loan_id in frozen:
            summary["frozen"] += 1
            continue
        contract, _ = load_contract(session, actor, contract_id)
        use = {"loan_id": loan_id, "run_date": on.isoformat(), "amount": due,
               "account_id": contract.account_id, "by": actor.key_id}
        try:
            basis = debit_basis(p, session, applicant_id, contract)
        except AutoDebitRefused as exc:
            _log(session, applicant_id, None, "refused", scope, purpose, application_id,
                 {**use, "reason": str(exc), "error": "AutoDebitRefused"}, p.clock.now())
            summary["refused"] += 1
            continue
        _log(session, applicant_id, basis["consent_id"], "used", scope, purpose,
             application_id, {**use, **basis}, p.clock.now())
        bank = load_account(session, applicant_id, contract.account_id)
        transfer = p.gateway.collect(f"AD-{loan_id}-{on.isoformat()}", bank.card_number,
                                     bank.holder_name, due)
        summary["attempted"] += 1
        if transfer.ok:
            p.book.apply_in(session, [(loan_id, Repayment(f"autodebit:{on.isoformat()}:{loan_id}",
                                                          on, due))])
            lines.after_repayment(p, session, actor, loan_id)
            summary["collected"] += 1
            summary["amount_collected"] += due
        else:
            summary["failed"] += 1
        repo.add_auto_debit(session, loan_id=loan_id, run_date=on, amount=due,
                            collected=due if transfer.ok else 0,
                            status="collected" if transfer.ok else "failed",
                            reason=transfer.reason, gateway_ref=transfer.gateway_ref,
                            created_at=p.clock.now())
    session.flush()
    return summary


def list_loans(p: Platform, session: Session, actor: Principal, after: str | None,
               limit: int) -> list[dict]:
    actor.require(Perm.READ)
    out = []
    paid_out = list(repo.loan_ids(session, after, limit, actor.visibility))
    drawn = lines.drawn_loan_ids(session, actor, after, limit)  # loans under a line too
    for loan_id in sorted(paid_out + drawn)[:limit]:
        view = loan_view(p, session, actor, loan_id)
        view.pop("schedule", None)
        out.append(view)
    return out
