"""Staff servicing with maker-checker: one officer asks, another approves, the loan changes once.

Why a request and not a direct call: an operation that moves money on a loan (a write-off, a
waiver, a reschedule) is the kind of act one person alone must not be able to do, so each is
first recorded as a request (operation, parameters, reason, amount, maker) and applied only
when a second principal approves it, unless the approval rules (`puhui.loans.approvals`, data)
let it through at once.  The maker and the checker are API keys: one key per person.

Guarantees:
- A request is checked when it is made: it is tried on a copy of the loan (and a reschedule
  against the rate cap in force), so a request that could not be applied is refused then, with
  a 4xx, and nothing is stored.
- A request is idempotent on the maker's key, a decision on the checker's: sent again, each
  answers as the first did; the same key for another request is refused.
- Approval applies the operation in the approver's transaction, as one loan event keyed by the
  request id (`servicing:<request id>`), so it can post at most once.  If applying fails (the
  loan changed since the request), nothing changes on the loan and the request is recorded as
  failed with the reason (in a transaction of its own, `keep_on_failure`).
- The maker approving their own request is refused (403), and the database refuses an applied
  request whose checker is its maker.  A request not decided in time expires.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from puhui.errors import InvalidEvent, PuhuiError
from puhui.ledger.accounts import Acct
from puhui.loans.approvals import DEFAULT_APPROVALS, ApprovalRules, Operation
from puhui.loans.cost import check_cap
from puhui.loans.events import (
    CreditRefund, LoanEvent, PaymentReversal, Recovery, Reschedule, WaivedCharge, Waiver,
    WriteOff,
)
from puhui.loans.product import RepaymentMethod
from puhui.loans.revolving import RevolvingLine
from puhui.loans.schedule import Instalment, RepaymentSchedule
from puhui.loans.servicing import Loan
from puhui.services import loans as loan_svc
from puhui.services.access import Perm, Principal
from puhui.services.clock import business_date
from puhui.services.errors import AccessDenied, AlreadyDone, InvalidRequest, NotFound
from puhui.services.ids import new_id
from puhui.services.platform import Platform, keep_on_failure
from puhui.store import servicing_repo as repo

#: A JSON file with the approval rules (`puhui.loans.approvals`); unset: the shipped defaults.
APPROVALS_ENV = "PUHUI_SERVICING_APPROVALS"
MAX_KEY = 300
MAX_REASON = 500


class SelfApproval(AccessDenied):
    """The maker of a servicing request tried to approve it: a second person must."""


class RequestNotPending(AlreadyDone):
    """The request was decided already (applied, rejected, expired or failed)."""


class RequestExpired(RequestNotPending):
    """The request waited longer than the approval rules allow; the maker asks again."""


class ApplyFailed(RequestNotPending):
    """Applying the approved request failed earlier; the request is closed as failed."""


def approval_rules() -> ApprovalRules:
    """The approval rules in force: the JSON file named by PUHUI_SERVICING_APPROVALS, else the
    shipped defaults.  A file that cannot be read or parsed is refused, never ignored."""
    where = os.environ.get(APPROVALS_ENV)
    if not where:
        return DEFAULT_APPROVALS
    try:
        text = Path(where).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidEvent(f"{APPROVALS_ENV}={where!r} cannot be read: {exc}") from None
    return ApprovalRules.from_json(text)


# -- parameters ------------------------------------------------------------------------------------
def _int(params: dict, name: str, *, required: bool = True, low: int = 1) -> int | None:
    value = params.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidRequest(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _text(params: dict, name: str, *, required: bool = True, limit: int = MAX_REASON) -> str:
    value = params.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise InvalidRequest(f"{name} must be {'1' if required else '0'}-{limit} characters")
    return value.strip()


#: The parameters each operation takes besides `reason` (required for every operation).
PARAMS: dict[Operation, frozenset[str]] = {
    Operation.RESCHEDULE: frozenset({"periods", "annual_rate", "method", "capitalise_arrears"}),
    Operation.EXTEND: frozenset({"extra_periods"}),
    Operation.WAIVE: frozenset({"charge", "amount"}),
    Operation.REFUND: frozenset({"amount"}),
    Operation.REVERSE_PAYMENT: frozenset({"target"}),
    Operation.WRITE_OFF: frozenset(),
    Operation.RECOVERY: frozenset({"amount"}),
    Operation.FREEZE: frozenset(),
    Operation.UNFREEZE: frozenset(),
}


def normalise(operation: Operation, params: Any) -> dict[str, Any]:
    """The request's parameters checked and in canonical form (what is stored and compared
    when a request is sent again); `InvalidRequest` naming what is wrong."""
    if not isinstance(params, dict):
        raise InvalidRequest("params must be an object")
    unknown = set(params) - PARAMS[operation] - {"reason"}
    if unknown:
        raise InvalidRequest(f"unexpected parameters for {operation.value}: {sorted(unknown)}; "
                             f"it takes {sorted(PARAMS[operation] | {'reason'})}")
    out: dict[str, Any] = {"reason": _text(params, "reason")}
    if operation is Operation.RESCHEDULE:
        out["periods"] = _int(params, "periods")
        if out["periods"] > 600:
            raise InvalidRequest("periods must be at most 600")
        rate = params.get("annual_rate")
        if rate is not None:
            if isinstance(rate, (bool, float)) or not isinstance(rate, (str, int)):
                raise InvalidRequest("annual_rate is a decimal string such as \"0.12\"")
            try:
                out["annual_rate"] = str(Reschedule("probe", date(2000, 1, 1), periods=1,
                                                    annual_rate=rate).annual_rate)
            except PuhuiError as exc:
                raise InvalidRequest(f"annual_rate: {exc}") from None
        method = params.get("method")
        if method is not None:
            try:
                out["method"] = RepaymentMethod(method).value
            except ValueError:
                raise InvalidRequest(f"unknown method {method!r}") from None
        capitalise = params.get("capitalise_arrears", True)
        if not isinstance(capitalise, bool):
            raise InvalidRequest("capitalise_arrears must be true or false")
        out["capitalise_arrears"] = capitalise
    elif operation is Operation.EXTEND:
        out["extra_periods"] = _int(params, "extra_periods")
        if out["extra_periods"] > 120:
            raise InvalidRequest("extra_periods must be at most 120")
    elif operation is Operation.WAIVE:
        try:
            out["charge"] = WaivedCharge(params.get("charge")).value
        except ValueError:
            raise InvalidRequest(f"charge must be one of {[c.value for c in WaivedCharge]}") \
                from None
        out["amount"] = _int(params, "amount")
    elif operation is Operation.REFUND:
        amount = _int(params, "amount", required=False)
        if amount is not None:
            out["amount"] = amount
    elif operation is Operation.REVERSE_PAYMENT:
        out["target"] = _text(params, "target", limit=200)
    elif operation is Operation.RECOVERY:
        out["amount"] = _int(params, "amount")
    return out


# -- what an operation does to the loan ----------------------------------------------------------
def _account(p: Platform, session: Session, loan_id: str) -> Loan | RevolvingLine:
    try:
        return p.book.load_in(session, loan_id)
    except InvalidEvent:
        raise NotFound(f"no loan {loan_id!r}") from None


def _receivable(account: Loan | RevolvingLine) -> int:
    return sum(v for k, v in account.balances().items() if k != Acct.BORROWER_CREDIT)


def _event(p: Platform, session: Session, account: Loan | RevolvingLine, operation: Operation,
           params: dict[str, Any], key: str, on: date) -> LoanEvent | None:
    """The loan event the operation is (None for a hold, which is no loan event); a
    restructuring is checked against the rate cap in force on `on` (`RateCapExceeded`)."""
    if operation in (Operation.RESCHEDULE, Operation.EXTEND):
        if not isinstance(account, Loan):
            raise InvalidEvent(f"{account.loan_id} is a revolving line; only term loans are "
                               "rescheduled or extended")
        if operation is Operation.RESCHEDULE:
            rate = params.get("annual_rate")
            event = Reschedule(key, on, periods=params["periods"],
                               annual_rate=None if rate is None else Decimal(rate),
                               method=params.get("method"),
                               capitalise_arrears=params["capitalise_arrears"])
        else:  # the periods not yet due, and more, at the rate in force: all unpaid
            # principal (overdue too) goes on the new periods; overdue interest, fees and
            # penalty stay due
            ahead = sum(1 for i in account.instalments if i.due > on)
            event = Reschedule(key, on, periods=ahead + params["extra_periods"],
                               capitalise_arrears=False)
        rate = event.annual_rate if event.annual_rate is not None else account.product.annual_rate
        p.cap_in_force(session, on).check(rate, f"the restructured rate of {account.loan_id}")
        return event
    if operation is Operation.WAIVE:
        return Waiver(key, on, WaivedCharge(params["charge"]), params["amount"],
                      reason=params["reason"])
    if operation is Operation.REFUND:
        return CreditRefund(key, on, params["amount"])
    if operation is Operation.REVERSE_PAYMENT:
        return PaymentReversal(key, on, target=params["target"], reason=params["reason"])
    if operation is Operation.WRITE_OFF:
        return WriteOff(key, on, reason=params["reason"])
    if operation is Operation.RECOVERY:
        return Recovery(key, on, params["amount"])
    return None


def _amount(p: Platform, session: Session, account: Loan | RevolvingLine, operation: Operation,
            params: dict[str, Any]) -> int:
    """The money the operation moves: what the approval thresholds compare."""
    if operation in (Operation.WAIVE, Operation.REFUND, Operation.RECOVERY):
        return params["amount"]
    if operation in (Operation.RESCHEDULE, Operation.EXTEND):
        return account.principal_outstanding
    if operation is Operation.WRITE_OFF:
        return _receivable(account)
    if operation is Operation.REVERSE_PAYMENT:
        target = p.book.stored_event(session, account.loan_id, params["target"])
        return getattr(target, "amount", 0) if target is not None else 0
    return 0


def _try(p: Platform, session: Session, actor: Principal, account: Loan | RevolvingLine,
         loan_id: str, operation: Operation, params: dict[str, Any], on: date) -> None:
    """Try the operation on a copy of the loan: refuse now what could not be applied."""
    frozen = loan_id in repo.frozen_loans(session, [loan_id])
    if operation is Operation.FREEZE and frozen:
        raise InvalidEvent(f"loan {loan_id} is already frozen")
    if operation is Operation.UNFREEZE and not frozen:
        raise InvalidEvent(f"loan {loan_id} is not frozen")
    if operation is Operation.REFUND:
        loan_svc.check_refundable(session, actor, loan_id)
    event = _event(p, session, account, operation, params, "servicing:probe", on)
    if event is None:
        return
    if isinstance(event, PaymentReversal):  # a reversal re-runs the loan's full history
        probe = p.book.replay(session, loan_id).account
    else:
        probe = copy.deepcopy(account)
    probe.apply(event)
    if isinstance(event, Reschedule) and isinstance(probe, Loan):
        _check_restructured_cost(p, session, probe, event)


def _check_restructured_cost(p: Platform, session: Session, probe: Loan,
                             event: Reschedule) -> None:
    """The restructured terms' all-in cost (IRR, their instalment fees included) within the
    rate cap in force, as an offer's is: the new instalments as a schedule lending the balance
    they repay on the reschedule's date (`RateCapExceeded`)."""
    fresh = probe.instalments[-event.periods:]
    balance = sum(i.principal for i in fresh)
    if balance <= 0:
        return
    schedule = RepaymentSchedule(probe.product, balance, event.on, 0, tuple(
        Instalment(i.number, i.start, i.due, i.principal, i.interest, i.fee) for i in fresh))
    check_cap(schedule, p.cap_in_force(session, event.on),
              what=f"the restructured terms' annualised cost (IRR, fees included) for "
              f"{probe.loan_id}")


def _apply(p: Platform, session: Session, actor: Principal, row: repo.ServicingRequest,
           on: date) -> tuple[str | None, dict[str, Any]]:
    """Apply a request to its loan: (the event key stored, what it did)."""
    operation, params = Operation(row.operation), json.loads(row.params)
    if operation in (Operation.FREEZE, Operation.UNFREEZE):
        _try(p, session, actor, _account(p, session, row.loan_id), row.loan_id, operation,
             params, on)
        return None, {"frozen": operation is Operation.FREEZE}
    key = f"servicing:{row.request_id}"
    if operation in (Operation.RESCHEDULE, Operation.EXTEND):  # the cap in force today
        _try(p, session, actor, _account(p, session, row.loan_id), row.loan_id, operation,
             params, on)
    if operation is Operation.REFUND:  # the payout to the bound account goes with the posting
        view = loan_svc.pay_back_credit(p, session, actor, row.loan_id, key, params["amount"])
        return key, {"journal_entries": view["journal_entries"], "refund": view["refund"]}
    account = _account(p, session, row.loan_id)
    event = _event(p, session, account, operation, params, key, on)
    assert event is not None
    posted = p.book.apply_in(session, [(row.loan_id, event)]).get(row.loan_id, [])
    return key, {"journal_entries": [e.seq for e in posted]}


# -- views -------------------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def request_view(row: repo.ServicingRequest, now: datetime | None = None) -> dict[str, Any]:
    """A request as the API and the CLI show it; a pending request past its time shows as
    expired (it is marked so by the next decision)."""
    status = row.status
    if status == repo.PENDING and now is not None and row.expires_at is not None \
            and row.expires_at <= now:
        status = repo.EXPIRED
    return {"request_id": row.request_id, "loan_id": row.loan_id, "operation": row.operation,
            "params": json.loads(row.params), "reason": json.loads(row.params)["reason"],
            "amount": row.amount, "currency": row.currency,
            "needs_approval": row.needs_approval, "status": status, "maker": row.maker,
            "requested_at": _iso(row.requested_at), "expires_at": _iso(row.expires_at),
            "checker": row.checker, "decided_at": _iso(row.decided_at), "note": row.note,
            "event_key": row.event_key,
            "result": None if row.result is None else json.loads(row.result)}


# -- the interface --------------------------------------------------------------------------------
def _check_key(key: Any, what: str) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        raise InvalidRequest(f"{what} must be 1-{MAX_KEY} characters")
    return key


def request_operation(p: Platform, session: Session, actor: Principal, loan_id: str,
                      operation: str, params: dict, key: str, *,
                      rules: ApprovalRules | None = None) -> dict:
    """The maker's request for `operation` on `loan_id`: stored pending when the approval
    rules want a checker, applied at once otherwise.  Idempotent on `key` (the same request
    again answers as the first did; another request under it is refused)."""
    actor.require(Perm.SERVICE)
    key = _check_key(key, "a request key")
    try:
        op = Operation(operation)
    except ValueError:
        raise InvalidRequest(f"unknown operation {operation!r}; choose from "
                             f"{[o.value for o in Operation]}") from None
    clean = normalise(op, params)
    now, today = p.clock.now(), business_date(p.clock)
    existing = repo.by_key(session, key)
    if existing is not None:
        return _same_request(existing, actor, loan_id, op, clean, now)
    account = _account(p, session, loan_id)
    if op is Operation.REFUND and "amount" not in clean:  # the whole credit, as of the request
        clean["amount"] = account.credit
        if account.credit <= 0:
            raise InvalidEvent(f"loan {loan_id} has no credit balance to refund")
    _try(p, session, actor, account, loan_id, op, clean, today)
    rules = rules or approval_rules()
    amount = _amount(p, session, account, op, clean)
    needs = rules.needs_approval(op, amount)
    request_id = new_id("SR")
    row = repo.add(session, request_id=request_id, request_key=key, loan_id=loan_id,
                   operation=op.value, params=json.dumps(clean, sort_keys=True),
                   reason=clean["reason"], amount=amount, currency=account.product.currency,
                   needs_approval=needs, status=repo.PENDING, maker=actor.key_id,
                   requested_at=now, expires_at=now + rules.expires_after if needs else None)
    if needs:
        return request_view(row, now)
    event_key, result = _apply(p, session, actor, row, today)
    row = repo.decide(session, request_id, status=repo.APPLIED, checker=None, decided_at=now,
                      decision_key=None, event_key=event_key, result=json.dumps(result))
    return request_view(row, now)


def _same_request(existing: repo.ServicingRequest, actor: Principal, loan_id: str,
                  op: Operation, clean: dict[str, Any], now: datetime) -> dict:
    stored = json.loads(existing.params)
    # a refund without an amount stored the credit it found: the same request again matches it
    if op is Operation.REFUND and "amount" not in clean:
        stored.pop("amount", None)
    if (existing.maker, existing.loan_id, existing.operation, stored) != \
            (actor.key_id, loan_id, op.value, clean):
        raise InvalidRequest(f"request key {existing.request_key!r} was used for another "
                             "request; use a new key for a new request")
    return request_view(existing, now)


def _decided(row: repo.ServicingRequest, actor: Principal, key: str, status: str,
             now: datetime) -> dict:
    """A decision sent again: the first answer; anything else on a decided request refused."""
    if row.status == status and row.decision_key == key and row.checker == actor.key_id:
        return request_view(row, now)
    if row.status == repo.FAILED and row.decision_key == key and row.checker == actor.key_id:
        raise ApplyFailed(f"servicing request {row.request_id} failed when applied: {row.note}")
    if row.status == repo.EXPIRED:
        raise RequestExpired(f"servicing request {row.request_id} expired at "
                             f"{_iso(row.expires_at)}; ask again")
    raise RequestNotPending(f"servicing request {row.request_id} is {row.status}"
                            + (f" ({row.note})" if row.note else ""))


def _pending(p: Platform, session: Session, actor: Principal, request_id: str, key: str,
             status: str) -> tuple[repo.ServicingRequest, datetime] | dict:
    """The request locked for a decision, or the answer to a decision sent again."""
    key = _check_key(key, "a decision key")
    row = repo.get(session, request_id, lock=True)
    if row is None:
        raise NotFound(f"no servicing request {request_id!r}")
    now = p.clock.now()
    if row.status != repo.PENDING:
        return _decided(row, actor, key, status, now)
    if row.expires_at is not None and row.expires_at <= now:
        _record_later(session, request_id, status=repo.EXPIRED, checker=None, now=now, key=None,
                      note="expired before a second person decided it")
        raise RequestExpired(f"servicing request {request_id} expired at "
                             f"{_iso(row.expires_at)}; ask again")
    return row, now


def _record_later(session: Session, request_id: str, *, status: str, checker: str | None,
                  now: datetime, key: str | None, note: str) -> None:
    """Record the request's outcome even though the unit of work fails (the refusal is a fact
    the maker must see): in a transaction of its own, if the request is still pending then."""
    def write(s: Session) -> None:
        row = repo.get(s, request_id, lock=True)
        if row is not None and row.status == repo.PENDING:
            repo.decide(s, request_id, status=status, checker=checker, decided_at=now,
                        decision_key=key, note=note[:4000])
    keep_on_failure(session, write)


def approve(p: Platform, session: Session, actor: Principal, request_id: str, key: str) -> dict:
    """The checker's approval: the operation is applied to the loan now, in this transaction.
    Refused to the request's maker (403), on a request decided already or expired (409); a
    failure while applying leaves the loan unchanged and the request failed, with the reason."""
    actor.require(Perm.APPROVE)
    found = _pending(p, session, actor, request_id, key, repo.APPLIED)
    if isinstance(found, dict):
        return found
    row, now = found
    if row.maker == actor.key_id:
        raise SelfApproval(f"servicing request {request_id} was made by this key; a second "
                           "person must approve it")
    try:
        event_key, result = _apply(p, session, actor, row, business_date(p.clock))
    except PuhuiError as exc:
        _record_later(session, request_id, status=repo.FAILED, checker=actor.key_id, now=now,
                      key=key, note=f"{type(exc).__name__}: {exc}")
        raise
    row = repo.decide(session, request_id, status=repo.APPLIED, checker=actor.key_id,
                      decided_at=now, decision_key=key, event_key=event_key,
                      result=json.dumps(result))
    return request_view(row, now)


def reject(p: Platform, session: Session, actor: Principal, request_id: str, key: str,
           note: str) -> dict:
    """The checker's rejection, with a note saying why; nothing happens to the loan.  The
    maker may withdraw their own request this way."""
    actor.require(Perm.APPROVE)
    note = _text({"note": note}, "note")
    found = _pending(p, session, actor, request_id, key, repo.REJECTED)
    if isinstance(found, dict):
        return found
    _, now = found
    row = repo.decide(session, request_id, status=repo.REJECTED, checker=actor.key_id,
                      decided_at=now, decision_key=key, note=note)
    return request_view(row, now)


def list_requests(p: Platform, session: Session, actor: Principal, *, status: str | None = None,
                  loan_id: str | None = None, after: str | None = None,
                  limit: int = 50) -> list[dict]:
    """Servicing requests oldest first (`status='pending'`: the checkers' queue)."""
    if Perm.SERVICE not in actor.perms and Perm.APPROVE not in actor.perms:
        actor.require(Perm.APPROVE)
    if status is not None and status not in repo.STATUSES:
        raise InvalidRequest(f"unknown status {status!r}; choose from {list(repo.STATUSES)}")
    now = p.clock.now()
    rows = repo.listing(session, status=status, loan_id=loan_id, after=after, limit=limit,
                        now=now)
    return [request_view(r, now) for r in rows]


def get_request(p: Platform, session: Session, actor: Principal, request_id: str) -> dict:
    if Perm.SERVICE not in actor.perms and Perm.APPROVE not in actor.perms:
        actor.require(Perm.APPROVE)
    row = repo.get(session, request_id)
    if row is None:
        raise NotFound(f"no servicing request {request_id!r}")
    return request_view(row, p.clock.now())


def expire_requests(p: Platform, session: Session, actor: Principal) -> list[str]:
    """Mark every pending request past its time expired; the ids marked."""
    actor.require(Perm.APPROVE)
    return expire_stale_requests(p, session)


def expire_stale_requests(p: Platform, session: Session) -> list[str]:
    """`expire_requests` as part of the daily close (its caller holds the operate right), so
    the checkers' queue holds only what may still be decided."""
    return repo.expire_pending(session, p.clock.now())


def frozen(p: Platform, session: Session, loan_id: str) -> bool:
    """Whether `loan_id` is under a servicing hold (no auto-debit pulls)."""
    return loan_id in repo.frozen_loans(session, [loan_id])

__all__ = ["APPROVALS_ENV", "ApplyFailed", "PARAMS", "RequestExpired", "RequestNotPending",
           "SelfApproval", "approval_rules", "approve", "expire_requests", "expire_stale_requests",
           "frozen",
           "get_request", "list_requests", "normalise", "reject", "request_operation",
           "request_view"]
