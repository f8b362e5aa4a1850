"""Credit lines as stored: grant on a signed contract, draw down as loans, restore availability on
repayment, and the staff or policy changes (limit, price, freeze, close).

Each operation locks the line's row, asks the pure rules (`puhui.lines.line`) for the line after
the change and its events, posts the change in the undrawn commitment to the memorandum
accounts, and writes the events and the row in the caller's transaction: all or nothing.  Every
operation is idempotent on its key: a request sent again finds its events and changes nothing.

`drawn` is kept by the events and is, after every synchronisation, exactly the principal the
loans under the line have not repaid (`principal_unrepaid`); a draw or a change synchronises
first, and a repayment through `puhui.services.loans.repay` synchronises after it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy.orm import Session

from puhui.errors import (
    ConcurrentModification,
    IdempotencyConflict,
    InvalidEvent,
    InvalidLineChange,
    PuhuiError,
)
from puhui.ledger.accounts import Acct
from puhui.ledger.journal import EntryDraft, Posting
from puhui.lines import line as rules
from puhui.lines.line import CreditLine, LineEvent, LineEventKind, LineStatus
from puhui.lines.signals import Due
from puhui.loans.cost import quote
from puhui.loans.events import Disbursement, Draw, LineOpening
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.origination.workflow import ApplicationStatus as S
from puhui.services.access import Perm, Principal
from puhui.services.applicants import load_account
from puhui.services.applications import load_contract, load_offer
from puhui.services.clock import business_date
from puhui.services.errors import AlreadyDone, NotFound
from puhui.services.line_behaviour import loan_dues
from puhui.services.notifications import Notice, NoticeBatch
from puhui.services.ids import new_id
from puhui.services.platform import Platform
from puhui.store import application_repo
from puhui.store import line_repo as repo
from puhui.store.ledger_repo import LedgerRepository

GRANT_REASON = "granted on the signed contract"


# -- reading --------------------------------------------------------------------------------------
def _line(row: Any) -> CreditLine:
    return CreditLine(row.line_id, row.applicant_id, row.product_code, row.currency,
                      row.credit_limit, row.drawn, Decimal(row.annual_rate), row.opened_on,
                      row.expires_on, LineStatus(row.status), row.changed_on, row.version)


def _event(row: Any) -> LineEvent:
    return LineEvent(row.line_id, row.seq, LineEventKind(row.kind), row.request_key,
                     row.occurred_on, row.reason, row.actor, row.amount, row.commitment,
                     row.credit_limit, row.drawn, Decimal(row.annual_rate),
                     LineStatus(row.status), row.loan_id, row.decision_id)


def _load(session: Session, actor: Principal, line_id: str, lock: bool = False) -> Any:
    """The line's row if this key may see it (a partner its applicants', a borrower its own);
    otherwise not found, so a key cannot probe which lines exist."""
    row = repo.read(session, line_id, lock)
    if row is None:
        raise NotFound(f"no credit line {line_id!r}")
    try:
        actor.check_applicant(row.applicant_id, row.partner_id)
    except NotFound:
        raise NotFound(f"no credit line {line_id!r}") from None
    return row


def drawn_by_loans(p: Platform, session: Session, line_id: str) -> int:
    """The principal the loans under the line have not repaid, from the loans themselves."""
    return sum(rules.principal_unrepaid(p.book.load_in(session, loan_id))
               for loan_id in repo.loans_of(session, line_id))


def repayments_of(session: Session, line: CreditLine) -> list[Due]:
    """Every instalment of the loans drawn under the line, with its due date and the business
    date it became fully settled (None while it is not), oldest due first.

    Why from the loans' histories: the line policy rewards repaying on time
    (`ON_TIME_SIX_MONTHS`) and today's state cannot tell an instalment paid on its due date from
    one paid a day late; replaying each loan's events in order can
    (`instalment_settlements`), or its row of the settlement cache while that is of the loan's
    history as it stands (`line_behaviour.loan_dues`, which writes the rows it replays)."""
    record = loan_dues(session, repo.loans_of(session, line.line_id))
    dues = [Due(due, on) for pairs in record.values() for due, on in pairs]
    return sorted(dues, key=lambda d: (d.due, d.settled_on is None, d.settled_on or d.due))


def line_view(p: Platform, session: Session, row: Any, with_events: bool = False) -> dict:
    line = _line(row)
    out = {**line.to_dict(), "application_id": row.application_id,
           "contract_id": row.contract_id,
           "loans": [{"loan_id": loan_id,
                      "principal_unrepaid": rules.principal_unrepaid(
                          account := p.book.load_in(session, loan_id)),
                      "status": account.status.value}
                     for loan_id in repo.loans_of(session, line.line_id)]}
    if with_events:
        out["events"] = [_event(e).to_dict() for e in repo.events(session, line.line_id)]
    return out


def get_line(p: Platform, session: Session, actor: Principal, line_id: str) -> dict:
    """The line with the loans drawn under it and its events."""
    actor.require(Perm.READ)
    return line_view(p, session, _load(session, actor, line_id), with_events=True)


def list_lines(p: Platform, session: Session, actor: Principal, after: str | None, limit: int,
               status: str | None = None, applicant_id: str | None = None) -> list[dict]:
    """Lines visible to this key in id order (keyset pagination on the line id)."""
    actor.require(Perm.READ)
    if status is not None:
        try:
            status = LineStatus(status).value
        except ValueError:
            raise InvalidLineChange(f"unknown line status {status!r}; choose from "
                                    f"{[s.value for s in LineStatus]}") from None
    return [line_view(p, session, row)
            for row in repo.page(session, after, limit, status, actor.visibility, applicant_id)]


def lines_of(session: Session, applicant_id: str) -> list[CreditLine]:
    """The applicant's lines as last stored (for the line policy, early warning, collections)."""
    return [_line(row) for row in repo.of_applicant(session, applicant_id)]


def lines_of_applicants(session: Session, applicant_ids: Sequence[str]) -> list[CreditLine]:
    """The lines of many applicants as last stored, by line id (the batch re-evaluation)."""
    return [_line(row) for row in repo.of_applicants(session, applicant_ids)]


def events_of(session: Session, actor: Principal, line_id: str) -> list[LineEvent]:
    actor.require(Perm.READ)
    _load(session, actor, line_id)
    return [_event(e) for e in repo.events(session, line_id)]


def freeze_key(session: Session, line_id: str) -> str | None:
    """The caller's key of the change behind the line's latest freeze (None if never frozen):
    who froze it (the line policy's `line-decision:...`, the early warning's `warn:...`,
    staff's own), so that only they lift it."""
    frozen = [e for e in repo.events(session, line_id) if e.kind == LineEventKind.FROZEN.value]
    return frozen[-1].request_key if frozen else None


def application_of_drawn_loan(session: Session, loan_id: str) -> Any | None:
    """The application whose line a loan was drawn under (its contract, bound account and
    borrower), or None for a loan that was not drawn under a line."""
    line_id = repo.line_of_loan(session, loan_id)
    if line_id is None:
        return None
    row = repo.read(session, line_id)
    return application_repo.read(session, row.application_id)


def line_for_application(session: Session, application_id: str) -> str | None:
    """The line granted on an application, if any (such an application is never paid out)."""
    row = repo.for_application(session, application_id)
    return None if row is None else row.line_id


# -- writing --------------------------------------------------------------------------------------
def _post(session: Session, line: CreditLine, event: LineEvent) -> int | None:
    """The change in the undrawn commitment on the memorandum pair: Dr 9101 / Cr 9102 when it
    grows, the reverse when it shrinks; nothing when it does not move."""
    draft = _commitment_draft(line, event)
    return None if draft is None else LedgerRepository(session).append([draft])[0].seq


def _commitment_draft(line: CreditLine, event: LineEvent) -> EntryDraft | None:
    if event.commitment == 0:
        return None
    c = event.commitment
    return EntryDraft(event.on, f"credit line {line.line_id}: {event.kind.value}",
                      (Posting(Acct.LINE_COMMITMENT, c, line.currency),
                       Posting(Acct.LINE_COMMITMENT_CONTRA, -c, line.currency)),
                      event_key=f"line:{line.line_id}:{event.seq}")


def _write(p: Platform, session: Session, row: Any | None, after: CreditLine,
           events: Sequence[LineEvent], extra: dict | None = None) -> None:
    """The events (each posted) and the line row, under the version read (`row`; None: new)."""
    now = p.clock.now()
    if not events:
        return
    values = _line_values(after, now)
    if row is None:
        repo.insert_line(session, {**(extra or {}), "line_id": after.line_id,
                                   "applicant_id": after.applicant_id,
                                   "product_code": after.product_code,
                                   "currency": after.currency, "opened_on": after.opened_on,
                                   "expires_on": after.expires_on, "created_at": now, **values})
    elif repo.update_line(session, after.line_id, row.version, values) != 1:
        raise ConcurrentModification(f"credit line {after.line_id} changed meanwhile")
    repo.insert_events(session, [_event_row(e, _post(session, after, e), now) for e in events])
    _notify(p, session, after, events)


def _line_values(line: CreditLine, now: Any) -> dict[str, Any]:
    """The line row's `MUTABLE` columns for the line as it now is."""
    return {"credit_limit": line.limit, "drawn": line.drawn,
            "annual_rate": str(line.annual_rate), "status": line.status.value,
            "changed_on": line.changed_on, "version": line.version, "updated_at": now}


def _event_row(e: LineEvent, journal_seq: int | None, now: Any) -> dict[str, Any]:
    return {"line_id": e.line_id, "seq": e.seq, "kind": e.kind.value,
            "request_key": e.request_key, "event_key": e.event_key, "occurred_on": e.on,
            "reason": e.reason, "actor": e.actor, "amount": e.amount,
            "commitment": e.commitment, "credit_limit": e.limit, "drawn": e.drawn,
            "annual_rate": str(e.annual_rate), "status": e.status.value, "loan_id": e.loan_id,
            "decision_id": e.decision_id, "journal_seq": journal_seq, "recorded_at": now}


#: The changes the borrower is told of, and how (a draw is their own act, a restoration follows
#: their repayment; a change a line decision made is told by the re-evaluation, with its rule).
_TOLD = {
    LineEventKind.GRANTED: ("授信额度已开通 Credit line granted",
                            "额度 {limit} 元，年利率 {rate}，有效期至 {expires}。"
                            "Limit {limit} CNY at {rate} a year, open until {expires}."),
    LineEventKind.LIMIT_CHANGED: ("授信额度调整 Credit limit changed",
                                  "新额度 {limit} 元（{reason}）。New limit {limit} CNY ({reason})."),
    LineEventKind.PRICE_CHANGED: ("借款利率调整 Credit line price changed",
                                  "新年利率 {rate}，适用于今后的借款（{reason}）。"
                                  "New annual rate {rate} for future draws ({reason})."),
    LineEventKind.FROZEN: ("授信额度已冻结 Credit line frozen",
                           "暂不可借款（{reason}）。No draws for now ({reason})."),
    LineEventKind.UNFROZEN: ("授信额度已恢复 Credit line unfrozen",
                             "可继续借款（{reason}）。You may draw again ({reason})."),
    LineEventKind.EXPIRED: ("授信额度已到期 Credit line expired",
                            "额度已于 {on} 到期。The line expired on {on}."),
    LineEventKind.CLOSED: ("授信额度已关闭 Credit line closed",
                           "额度已关闭（{reason}）。The line is closed ({reason})."),
}


def _notify(p: Platform, session: Session, line: CreditLine,
            events: Sequence[LineEvent]) -> None:
    """Tell the borrower of each change to their line, once per event (key
    ``line:<line>:<seq>``), in the transaction that makes it."""
    from puhui.services.notifications import notify

    for n in _event_notices(line, events):
        notify(p, session, applicant_id=n.applicant_id, kind=n.kind, key=n.key,
               subject=n.subject, body=n.body, context=n.context)


def _event_notices(line: CreditLine, events: Sequence[LineEvent]) -> list[Notice]:
    """The notices `_notify` records for these events of the line (a change a line decision
    made is told by the re-evaluation, with its rule)."""
    out = []
    for e in events:
        told = _TOLD.get(e.kind)
        if told is None or e.decision_id is not None:
            continue
        facts = {"limit": f"{e.limit / 100:,.2f}", "rate": f"{Decimal(e.annual_rate):.2%}",
                 "expires": line.expires_on.isoformat(), "on": e.on.isoformat(),
                 "reason": e.reason}
        out.append(Notice(line.applicant_id, "line.changed", f"line:{e.line_id}:{e.seq}",
                          told[0], told[1].format(**facts),
                          {"line_id": e.line_id, "event": e.kind.value, "limit": e.limit,
                           "drawn": e.drawn, "annual_rate": str(e.annual_rate),
                           "status": e.status.value}))
    return out


def _synced(p: Platform, session: Session, line: CreditLine, today: date,
            actor: Principal) -> tuple[CreditLine, list[LineEvent]]:
    """The line brought up to date before a change: expired if its day has come, and its
    availability restored by what its loans have repaid."""
    return _brought_up(line, drawn_by_loans(p, session, line.line_id), today, actor)


def _brought_up(line: CreditLine, by_loans: int, today: date,
                actor: Principal) -> tuple[CreditLine, list[LineEvent]]:
    """`_synced` once the principal the line's loans have not repaid (`by_loans`) is known."""
    events: list[LineEvent] = []
    line, expired = rules.expire_if_due(line, today, actor=actor.key_id)
    if expired is not None:
        events.append(expired)
    # principal a loan gained without a draw (interest capitalised by a reschedule) does not
    # use the line: only repayments move `drawn`, and only down
    drawn_now = min(line.drawn, by_loans)
    line, restored = rules.restore(line, drawn_now, today, key=f"restore:{line.version + 1}",
                                   actor=actor.key_id)
    if restored is not None:
        events.append(restored)
    return line, events


def sync_line(p: Platform, session: Session, actor: Principal, line_id: str,
              on: date | None = None) -> list[LineEvent]:
    """Expire the line if due on `on` (default today) and restore what its loans repaid; the
    events written (none when the line is up to date, so running it again does nothing)."""
    row = repo.read(session, line_id, lock=True)
    if row is None:
        raise NotFound(f"no credit line {line_id!r}")
    after, events = _synced(p, session, _line(row), on or business_date(p.clock), actor)
    _write(p, session, row, after, events)
    return events


def sync_lines(p: Platform, session: Session, actor: Principal, on: date) -> int:
    """`sync_line` for every line that may need it, as the daily close ends: lines expire on
    their day and repayments taken by the close (a credit balance applied) restore availability.
    The number of events written."""
    return sum(len(sync_line(p, session, actor, line_id, on))
               for line_id in repo.ids_to_sync(session))


def drawn_loan_ids(session: Session, actor: Principal, after: str | None,
                   limit: int) -> list[str]:
    """Loans drawn under the lines this key sees, by id after `after`, at most `limit`."""
    return repo.drawn_loan_ids(session, after, limit, actor.visibility)


def drawn_loans(session: Session) -> list[Any]:
    """(loan_id, applicant_id, contract_id, application_id) of each loan drawn under a line."""
    return repo.drawn_loans(session)


def after_repayment(p: Platform, session: Session, actor: Principal, loan_id: str) -> None:
    """A repayment on a loan drawn under a line gives its principal back to the line."""
    line_id = repo.line_of_loan(session, loan_id)
    if line_id is not None:
        sync_line(p, session, actor, line_id)


def grant(p: Platform, session: Session, actor: Principal, contract_id: str, *, key: str,
          expires_on: date | None = None, reason: str = GRANT_REASON) -> dict:
    """Grant the credit line a signed contract's offer describes, instead of paying it out.

    The limit is the offer's amount, the price its rate (checked against the cap in force
    today), the product the application's; the undrawn commitment is posted.  Once per
    application: the same key answers with the line granted, another key `AlreadyDone`."""
    actor.require(Perm.DISBURSE)
    contract, application = load_contract(session, actor, contract_id, lock=True)
    existing = repo.for_application(session, application.application_id)
    if existing is not None:
        granted = repo.events(session, existing.line_id, key)
        if granted and granted[0].kind == LineEventKind.GRANTED.value:
            return {**line_view(p, session, existing), "replayed": True}
        raise AlreadyDone(f"contract {contract_id} already granted line {existing.line_id}")
    if application.status != S.CONTRACT_SIGNED.value:
        raise InvalidEvent(f"contract {contract_id} cannot grant a line: its application is "
                           f"{application.status}, not contract_signed")
    offer = load_offer(session, contract.offer_id)
    product = p.product(application.product_code)
    today = business_date(p.clock)
    cap = p.cap_in_force(session, today)
    line, event = rules.grant(new_id("CL"), application.applicant_id, product, offer.principal,
                              offer.product.annual_rate, today, expires_on, key=key,
                              reason=reason, actor=actor.key_id, cap=cap)
    _write(p, session, None, line, [event],
           {"partner_id": application.partner_id,
            "application_id": application.application_id, "contract_id": contract_id,
            "account_id": contract.account_id})
    session.flush()
    return {**line_view(p, session, repo.read(session, line.line_id)), "replayed": False}


def _loan_product(line: CreditLine, product: LoanProduct, today: date) -> LoanProduct:
    """The terms a draw is lent on: the line's product at the line's price; a revolving draw
    runs (repayable any day) until the line expires."""
    priced = product.with_terms(annual_rate=line.annual_rate)
    if product.method is RepaymentMethod.REVOLVING:
        priced = priced.with_terms(term_days=(line.expires_on - today).days)
    return priced


def _draw_view(p: Platform, session: Session, row: Any, event: LineEvent,
               replayed: bool) -> dict:
    account = p.book.load_in(session, event.loan_id)
    disclosed = quote(rules.disclosure_product(account.product), event.amount, event.on)
    fee = account.product.upfront_fee(event.amount)
    return {"line": line_view(p, session, row), "loan_id": event.loan_id,
            "principal": event.amount, "upfront_fee": fee, "net_disbursed": event.amount - fee,
            "annual_rate": str(account.product.annual_rate), "method": account.product.method.value,
            "apr": str(disclosed.apr), "apr_convention": disclosed.convention,
            "effective_annual_rate": str(disclosed.effective_annual_rate),
            "total_interest": disclosed.schedule.total_interest,
            "schedule": [{"number": i.number, "due_date": i.due.isoformat(),
                          "principal": i.principal, "interest": i.interest, "fee": i.fee}
                         for i in disclosed.schedule.instalments],
            "schedule_is_representative": account.product.method is RepaymentMethod.REVOLVING,
            "gateway_ref": _payout_reference(event.line_id, event.request_key),
            "replayed": replayed}


def _payout_reference(line_id: str, key: str) -> str:
    return "DRAW-" + hashlib.sha256(f"{line_id}|{key}".encode()).hexdigest()[:32]


def draw(p: Platform, session: Session, actor: Principal, line_id: str, amount: int, *,
         key: str) -> dict:
    """Draw `amount` as a new loan under the line, paid out to the bound account.

    Within the line's available amount, on an active line before its expiry, at least the
    product's minimum principal; the loan's all-in cost is disclosed (IRR, as offers disclose
    it) and must be within the cap in force today.  The same key answers with the same loan."""
    actor.require(Perm.ACCEPT)
    row = _load(session, actor, line_id, lock=True)
    done = repo.events(session, line_id, key)
    if done:
        event = _event(done[0])
        if event.kind is not LineEventKind.DRAW or event.amount != amount:
            raise IdempotencyConflict(f"key {key!r} was used on line {line_id} for another "
                                      f"request ({event.kind.value} of {event.amount})")
        return _draw_view(p, session, row, event, replayed=True)
    today = business_date(p.clock)
    line, events = _synced(p, session, _line(row), today, actor)
    product = p.product(line.product_code)
    rules.check_draw(line, amount, today, product.min_principal)  # refused: all rolled back
    priced = _loan_product(line, product, today)
    cap = p.cap_in_force(session, today)
    disclosed = quote(rules.disclosure_product(priced), amount, today, cap)  # RateCapExceeded
    loan_id = new_id("LN")
    line, drawn = rules.draw(line, amount, today, key=key, loan_id=loan_id,
                             minimum=product.min_principal, actor=actor.key_id)
    p.book.open_in(session, loan_id, priced)
    loan_key = f"line-draw:{line_id}:{drawn.seq}"
    if priced.method is RepaymentMethod.REVOLVING:
        opening: list = [LineOpening(f"{loan_key}:open", today, limit=amount),
                         Draw(loan_key, today, amount)]
    else:
        opening = [Disbursement(loan_key, today, amount, contracted=disclosed.schedule)]
    p.book.apply_in(session, [(loan_id, e) for e in opening])
    _write(p, session, row, line, events + [drawn])
    account = load_account(session, row.applicant_id, row.account_id)
    transfer = p.gateway.pay_out(_payout_reference(line_id, key), account.card_number,
                                 account.holder_name, amount - priced.upfront_fee(amount))
    if not transfer.ok:
        raise PuhuiError(f"payout refused by the payment rail: {transfer.reason}")
    session.flush()
    return _draw_view(p, session, repo.read(session, line_id), drawn, replayed=False)


def change_line(p: Platform, session: Session, actor: Principal, line_id: str, *, key: str,
                reason: str, limit: int | None = None, annual_rate: Decimal | None = None,
                freeze: bool | None = None, decision_id: str | None = None,
                close: bool = False) -> dict:
    """Change a line's limit (0..the product's largest principal), price (within the cap in
    force) or status (freeze True, unfreeze False, or close): the entry point of staff, the line
    policy, early warning and collections.

    One event per thing that changes, each with `reason` (and the policy's `decision_id`);
    idempotent on `key`: a request sent again changes nothing and answers `replayed`, and the
    same key with another change is refused (`IdempotencyConflict`)."""
    actor.require(Perm.REVIEW)
    row = _load(session, actor, line_id, lock=True)
    done = repo.events(session, line_id, key)
    if done:
        _check_replay(line_id, key, [_event(e) for e in done], limit, annual_rate, freeze, close)
        return {**line_view(p, session, row), "changes": [_event(e).to_dict() for e in done],
                "replayed": True}
    today = business_date(p.clock)
    line, events = _synced(p, session, _line(row), today, actor)
    product = p.product(line.product_code)
    cap = p.cap_in_force(session, today) if annual_rate is not None else None
    line, changes = rules.change(line, today, key=key, reason=reason, actor=actor.key_id,
                                 product=product, cap=cap, limit=limit, annual_rate=annual_rate,
                                 freeze=freeze, close=close, decision_id=decision_id)
    _write(p, session, row, line, events + changes)
    session.flush()
    return {**line_view(p, session, repo.read(session, line_id)),
            "changes": [e.to_dict() for e in changes], "replayed": False}


def _check_replay(line_id: str, key: str, done: list[LineEvent], limit: int | None,
                  annual_rate: Decimal | None, freeze: bool | None, close: bool) -> None:
    """Refuse a key reused for a change other than the one it made: each event it wrote must
    be one the request asks for, and the line it left must be what the request asks."""
    last = done[-1]
    asked_status = (LineStatus.CLOSED if close else LineStatus.FROZEN if freeze is True
                    else LineStatus.ACTIVE if freeze is False else None)
    asked = {k for k, wanted in ((LineEventKind.LIMIT_CHANGED, limit is not None),
                                 (LineEventKind.PRICE_CHANGED, annual_rate is not None),
                                 (LineEventKind.CLOSED, close),
                                 (LineEventKind.FROZEN, freeze is True),
                                 (LineEventKind.UNFROZEN, freeze is False)) if wanted}
    try:
        rate_same = annual_rate is None or last.annual_rate == Decimal(str(annual_rate))
    except ArithmeticError:
        rate_same = False
    same = ({e.kind for e in done} <= asked and (limit is None or last.limit == limit)
            and rate_same and (asked_status is None or last.status is asked_status))
    if not same:
        raise IdempotencyConflict(f"key {key!r} was used on line {line_id} for another change")


@dataclass(frozen=True)
class LineChange:
    """One `change_line` request for `change_lines`, and optionally the notice to record for
    the borrower once it applies (as a caller would `notify` right after `change_line`, in the
    same savepoint: a notice that would be refused refuses the change)."""

    line_id: str
    key: str
    reason: str
    limit: int | None = None
    annual_rate: Decimal | None = None
    freeze: bool | None = None
    decision_id: str | None = None
    close: bool = False
    notice: Notice | None = None


@dataclass(frozen=True)
class LineChanged:
    """What `change_lines` did with one request: `change_line`'s answer, or its refusal."""

    request: LineChange
    applied: dict | None
    refused: PuhuiError | None = None

    @property
    def why(self) -> str | None:
        """The refusal as the re-evaluation reports it (``Type: message``)."""
        e = self.refused
        return None if e is None else f"{type(e).__name__}: {e}"


#: Events a request writes at most (expiry, restoration, limit, price, status).
_MOST_EVENTS = 5


@dataclass
class _Held:
    """A line as `change_lines` holds it while it goes through the requests."""

    row: Any                 # as read (locked): its version is the one the write checks
    line: CreditLine         # after the requests applied so far
    by_loans: int            # what its loans have not repaid
    loans: list[dict]        # the line view's loans
    changed: bool = False


def change_lines(p: Platform, session: Session, actor: Principal,
                 requests: Sequence[LineChange]) -> list[LineChanged]:
    """`change_line` for many requests, with what each answered or why it was refused: the
    same lines, events, ledger entries, notices and idempotency as calling it for each in
    order, each in a savepoint (a refused request leaves nothing of itself; the others apply),
    in a number of statements that does not grow with the requests.

    Why: the line refresh applies a hundred or more decisions per chunk; one at a time each
    costs some seventeen statements.  Here the lines are read (locked, in id order) with the
    requests' earlier events, their loans and the loans' snapshots in a few statements; each
    request is worked out in order on the lines as the requests before it left them, with the
    pure rules (`_brought_up`, `rules.change`, `_check_replay`); then every changed line is
    written in one statement, every event in one, every commitment posting in one journal
    append (the chain exactly as posted one by one, in the same order), and every notice in
    one (`NoticeBatch`)."""
    requests = list(requests)
    if not requests:
        return []
    try:
        actor.require(Perm.REVIEW)
    except PuhuiError as exc:
        return [LineChanged(r, None, exc) for r in requests]
    rows = repo.read_many(session, [r.line_id for r in requests], lock=True)
    earlier = repo.events_of_requests(session, [(r.line_id, r.key) for r in requests
                                                if isinstance(r.key, str)])
    loans = repo.loans_of_lines(session, list(rows))
    accounts = p.book.load_many_in(session, [x for ids in loans.values() for x in ids])
    held: dict[str, _Held] = {}
    for line_id, row in rows.items():
        status = {x: (rules.principal_unrepaid(accounts[x]), accounts[x].status.value)
                  for x in loans[line_id]}
        held[line_id] = _Held(row, _line(row), sum(u for u, _ in status.values()),
                              [{"loan_id": x, "principal_unrepaid": u, "status": st}
                               for x, (u, st) in status.items()])
    per_line = {r.line_id: 0 for r in requests}
    for r in requests:
        per_line[r.line_id] += 1
    # the notices to look for: the requests' own and those their events may bring (the event
    # seqs the requests may take); any other is looked for on its own
    notices = NoticeBatch(p, session, [r.notice for r in requests if r.notice is not None] + [
        Notice(h.row.applicant_id, "line.changed", f"line:{line_id}:{v}", "-", "-")
        for line_id, h in held.items()
        for v in range(h.line.version + 1, h.line.version + 1 + _MOST_EVENTS * per_line[line_id])])
    today = business_date(p.clock)
    caps: list[tuple[Any, PuhuiError | None]] = []

    def cap() -> Any:
        if not caps:
            try:
                caps.append((p.cap_in_force(session, today), None))
            except PuhuiError as exc:
                caps.append((None, exc))
        found, refused = caps[0]
        if refused is not None:
            raise refused
        return found

    def view(h: _Held) -> dict:
        return {**h.line.to_dict(), "application_id": h.row.application_id,
                "contract_id": h.row.contract_id, "loans": [dict(x) for x in h.loans]}

    done_here: dict[tuple[str, str], list[LineEvent]] = {}
    written: list[tuple[CreditLine, LineEvent]] = []
    out: list[LineChanged] = []
    for r in requests:
        h = held.get(r.line_id)
        try:
            if h is None:
                raise NotFound(f"no credit line {r.line_id!r}")
            try:
                actor.check_applicant(h.row.applicant_id, h.row.partner_id)
            except NotFound:
                raise NotFound(f"no credit line {r.line_id!r}") from None
            done = [_event(e) for e in earlier.get((r.line_id, r.key), ())] + \
                done_here.get((r.line_id, r.key), [])
            if done:
                _check_replay(r.line_id, r.key, done, r.limit, r.annual_rate, r.freeze,
                              r.close)
                after, events = h.line, []
                answer = {**view(h), "changes": [e.to_dict() for e in done], "replayed": True}
            else:
                line, events = _brought_up(h.line, h.by_loans, today, actor)
                product = p.product(line.product_code)
                after, changes = rules.change(
                    line, today, key=r.key, reason=r.reason, actor=actor.key_id,
                    product=product, cap=cap() if r.annual_rate is not None else None,
                    limit=r.limit, annual_rate=r.annual_rate, freeze=r.freeze, close=r.close,
                    decision_id=r.decision_id)
                events = events + changes
                answer = None
            notices.add(_event_notices(after, events)
                        + ([r.notice] if r.notice is not None else []))
        except PuhuiError as exc:
            out.append(LineChanged(r, None, exc))
            continue
        if events:
            h.line, h.changed = after, True
            for e in events:
                done_here.setdefault((e.line_id, e.request_key), []).append(e)
                written.append((after, e))
        if answer is None:
            answer = {**view(h), "changes": [e.to_dict() for e in changes], "replayed": False}
        out.append(LineChanged(r, answer))
    _write_many(p, session, held, written)
    notices.write()
    session.flush()
    return out


def _write_many(p: Platform, session: Session, held: dict[str, _Held],
                written: Sequence[tuple[CreditLine, LineEvent]]) -> None:
    """The lines `change_lines` changed (each once, under the version read), their events and
    the commitment postings of all of them in one append, in the order they were made."""
    if not written:
        return
    now = p.clock.now()
    drafts = [_commitment_draft(line, e) for line, e in written]
    entries = iter(LedgerRepository(session).append([d for d in drafts if d is not None]))
    seqs = [None if d is None else next(entries).seq for d in drafts]
    changed = [(line_id, h.row.version, _line_values(h.line, now))
               for line_id, h in held.items() if h.changed]
    if repo.update_lines(session, changed) != len(changed):
        raise ConcurrentModification("a credit line changed meanwhile")
    repo.insert_events(session, [_event_row(e, seq, now)
                                 for (_, e), seq in zip(written, seqs, strict=True)])


def commitments(session: Session) -> dict[str, int]:
    """The memorandum balances per account: 9101 (undrawn commitments) is the sum of every
    line's `available`, and 9102 its mirror."""
    out = {Acct.LINE_COMMITMENT: 0, Acct.LINE_COMMITMENT_CONTRA: 0}
    for (account, _currency), amount in LedgerRepository(session).balances().items():
        if account in out:
            out[account] += amount
    return out
