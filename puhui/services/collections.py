"""Collections (催收): the daily review of the book, collectors' queues, contact attempts,
promises to pay, restructuring offers and write-off recommendations.

Who: staff only (credit officers and admins); the daily review runs as the system.  Every act
is written to the append-only audit trail in the same transaction as the act itself; an act the
rules refuse (a contact outside the hours or above the caps, a third party, terms above the
rate cap or beyond the borrower's means) leaves nothing but its refusal in the trail, written
after the operation rolls back (`keep_on_failure`).

The rules are the core's (`puhui.collections`); the rows are the store's
(`puhui.store.collections_repo`).  Which rules: the collections policy active in the platform's
registry (`Platform.collections_policies`, a `CollectionsPolicyRegistry`), or the shipped
document when the platform has none or none is active (`settings_for`); a case records the
policy version it is collected under, and every act in the trail names it (`policy`).

Restructuring becomes a loan operation through an `ApplyOperation` callable: by default the
loan core's `Reschedule` event applied at once (`direct_operations`); the staff servicing
module routes it through maker-checker instead (see `ApplyOperation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable, Protocol

from sqlalchemy.orm import Session

from puhui.book import amount_due
from puhui.collections.contact import (DEFAULT_RULES, ContactChannel, ContactOutcome,
                                       ContactParty, ContactRules, check_contact, parse_enum,
                                       scrub_note, week_window)
from puhui.collections.errors import (CaseClosed, ContactRefused, InvalidCollectionsInput,
                                      OfferNotOpen, RestructuringRefused)
from puhui.collections.policy import CollectionsPolicy, shipped_collections_policy
from puhui.collections.promises import MAX_PROMISE_DAYS, PromiseStatus, check_new_promise, evaluate
from puhui.collections.restructuring import RestructuringKind, RestructuringPlan, plan
from puhui.collections.strategy import DEFAULT_STRATEGY, CollectionStrategy, priority
from puhui.collections.writeoff import DEFAULT_WRITE_OFF_RULE, WriteOffRule, advise
from puhui.errors import InvalidBusinessDate, InvalidEvent, RateCapExceeded
from puhui.loans.caps import cap_to_dict
from puhui.loans.events import Prepayment, Repayment
from puhui.loans.revolving import RevolvingLine
from puhui.loans.servicing import Loan
from puhui.loans.state import LoanStatus
from puhui.services.access import Principal, Role
from puhui.services.business_day import check_run_date
from puhui.services.clock import business_date
from puhui.services.errors import AccessDenied, NotFound
from puhui.services.ids import new_id
from puhui.services.platform import Platform, keep_on_failure
from puhui.store import collections_repo as repo
from puhui.store.business_days import BusinessDayRepository

#: How long a restructuring offer stays open for the borrower to accept.
OFFER_VALIDITY = timedelta(days=7)
MAX_NOTE = 500
MAX_KEY = 200

#: Why a case closed.
CURED, SETTLED, WRITTEN_OFF, RESTRUCTURED = "cured", "settled", "written_off", "restructured"
#: An early-warning case closed by the review once the loan's warning cleared (status normal).
WARNING_CLEARED = "warning_cleared"
#: The early-warning actions collections take (`escalate`), and what each is audited as.
CALL, TIGHTEN = "call", "tighten_collection"
EARLY_WARNING_ACTS = ("call_requested", "stage_changed")
#: The contacts that carry out a call asked for by an early warning.
CALLS = (ContactChannel.PHONE_CALL, ContactChannel.FIELD_VISIT)


@dataclass(frozen=True)
class CollectionsSettings:
    """The rules a platform collects under (data; the defaults are the shipped policy's)."""

    strategy: CollectionStrategy = DEFAULT_STRATEGY
    contact: ContactRules = DEFAULT_RULES
    write_off: WriteOffRule = DEFAULT_WRITE_OFF_RULE
    promise_max_days: int = MAX_PROMISE_DAYS

    @property
    def version(self) -> str:
        """The policy version these rules are (the strategy is named by it)."""
        return self.strategy.version

    @classmethod
    def from_policy(cls, policy: CollectionsPolicy) -> "CollectionsSettings":
        return cls(policy.strategy, policy.contact_rules, policy.write_off_rule,
                   policy.max_promise_days)


DEFAULT_SETTINGS = CollectionsSettings.from_policy(shipped_collections_policy())


def settings_for(p: Platform) -> CollectionsSettings:
    """The rules `p` collects under now: its registry's active collections policy, or the
    shipped one when it has no registry or none is active (a tampered registry refuses)."""
    registry = getattr(p, "collections_policies", None)
    if registry is None:
        return DEFAULT_SETTINGS
    policy = registry.active_or_shipped()
    if policy is shipped_collections_policy():
        return DEFAULT_SETTINGS
    return CollectionsSettings.from_policy(policy)


class ApplyOperation(Protocol):
    """Turn an accepted restructuring into a loan operation, in the caller's transaction.

    `(session, loan_id, operation, params, key) -> dict`: `operation` is "reschedule" and
    `params` are `{"periods", "annual_rate", "on"}` (what the loan core's `Reschedule` takes);
    `key` is the operation's idempotency key.  The answer says what happened: `{"applied":
    True, ...}` when the loan changed now, or e.g. `{"applied": False, "status":
    "pending_approval", "request_id": ...}` when a second person must approve it first.
    Staff servicing plugs in as
    `lambda s, loan_id, op, params, key: servicing.request_operation(p, s, actor, loan_id, op,
    params, key)`."""

    def __call__(self, session: Session, loan_id: str, operation: str,
                 params: dict[str, Any], key: str) -> dict[str, Any]: ...


def direct_operations(p: Platform) -> ApplyOperation:
    """Apply a restructuring as the loan core's `Reschedule` event at once (no approval)."""

    def apply(session: Session, loan_id: str, operation: str, params: dict[str, Any],
              key: str) -> dict[str, Any]:
        if operation != "reschedule":
            raise InvalidCollectionsInput(f"unknown loan operation {operation!r}")
        from puhui.loans.events import Reschedule

        event = Reschedule(key, date.fromisoformat(params["on"]), periods=params["periods"],
                           annual_rate=params["annual_rate"])
        posted = p.book.apply_in(session, [(loan_id, event)]).get(loan_id, [])
        return {"applied": True, "operation": operation, "event_key": key,
                "journal_entries": [e.seq for e in posted]}
    return apply


def operations_for(p: Platform, actor: Principal) -> ApplyOperation:
    """How an accepted restructuring reaches the loan when the caller names no way: as a
    request to staff servicing (`services.servicing.request_operation`), under its
    maker-checker rules (a reschedule waits for a second officer's approval, and is applied on
    the day it is approved, under the rate cap then in force)."""
    return servicing_operations(p, actor)


def servicing_operations(p: Platform, actor: Principal) -> ApplyOperation:
    """Restructurings as staff servicing requests made by `actor` (the maker)."""

    def apply(session: Session, loan_id: str, operation: str, params: dict[str, Any],
              key: str) -> dict[str, Any]:
        from puhui.services import servicing

        request = {k: v for k, v in params.items() if k != "on"}  # applied when approved
        request.setdefault("reason", f"collections restructuring accepted by the borrower "
                                     f"({key})")
        answer = servicing.request_operation(p, session, actor, loan_id, operation, request,
                                             key)
        return {**answer, "applied": answer["status"] == "applied"}
    return apply


# -- who may collect -----------------------------------------------------------------------------

def require_staff(actor: Principal) -> None:
    """Collections are staff work: credit officers and admins, never partners or borrowers."""
    if actor.role not in (Role.CREDIT_OFFICER, Role.ADMIN):
        raise AccessDenied(f"collections are for credit officers and admins, not a "
                           f"{actor.role.value} key")


def _key(key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY \
            or not key.isprintable():
        raise InvalidCollectionsInput(f"an idempotency key is 1-{MAX_KEY} printable characters")
    return key


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise InvalidCollectionsInput(f"{what} must be printable text of at most {limit} "
                                      "characters")
    return value


def _case(session: Session, case_id: str, *, open_only: bool = False,
          lock: bool = False) -> repo.CaseRecord:
    case = repo.get_case(session, case_id, lock=lock)
    if case is None:
        raise NotFound(f"no collection case {case_id!r}")
    if open_only and case.status != repo.OPEN:
        raise CaseClosed(f"case {case_id} is closed ({case.close_reason}); nothing more is done "
                         "on it")
    return case


def _refused(session: Session, p: Platform, actor: Principal, action: str,
             case: repo.CaseRecord, exc: Exception, detail: dict[str, Any]) -> None:
    """Keep the refusal in the audit trail though the operation rolls back."""
    at = p.clock.now()
    rule = getattr(exc, "rule", type(exc).__name__)
    keep_on_failure(session, lambda evidence: repo.audit(
        evidence, at=at, actor=actor.key_id, action=action, outcome="refused",
        case_id=case.case_id, loan_id=case.loan_id,
        detail={**detail, "rule": rule, "reason": str(exc)}))


# -- views ------------------------------------------------------------------------------------

def _stage_view(settings: CollectionsSettings, case: repo.CaseRecord) -> dict[str, Any]:
    stage = settings.strategy.stages[min(case.stage, len(settings.strategy.stages) - 1)]
    return {"index": case.stage, "name": case.stage_name, "actions": stage.actions,
            "reminder_every_days": stage.reminder_every_days}


def case_view(case: repo.CaseRecord, settings: CollectionsSettings = DEFAULT_SETTINGS
              ) -> dict[str, Any]:
    return {"case_id": case.case_id, "loan_id": case.loan_id, "applicant_id": case.applicant_id,
            "status": case.status, "opened_on": case.opened_on.isoformat(),
            "strategy": case.strategy, "stage": _stage_view(settings, case),
            "escalations": case.escalations, "days_past_due": case.dpd, "bucket": case.bucket,
            "risk_class": case.risk_class, "amount_overdue": case.amount_overdue,
            "owed": case.owed, "priority": case.priority,
            "reviewed_on": case.reviewed_on.isoformat(), "collector": case.collector,
            "assigned_at": case.assigned_at.isoformat() if case.assigned_at else None,
            "closed_on": case.closed_on.isoformat() if case.closed_on else None,
            "close_reason": case.close_reason, "origin": case.origin,
            "call": None if case.call_requested_on is None else {
                "requested_on": case.call_requested_on.isoformat(),
                "reason": case.call_reason, "urgent": case.call_urgent}}


def attempt_view(row: Any) -> dict[str, Any]:
    return {"attempt_id": row.attempt_id, "case_id": row.case_id, "loan_id": row.loan_id,
            "collector": row.collector, "channel": row.channel, "party": row.party,
            "outcome": row.outcome, "note": row.note,
            "attempted_at": row.attempted_at.isoformat()}


def promise_view(row: Any) -> dict[str, Any]:
    return {"promise_id": row.promise_id, "case_id": row.case_id, "loan_id": row.loan_id,
            "attempt_id": row.attempt_id, "amount": row.amount,
            "made_on": row.made_on.isoformat(), "due_on": row.due_on.isoformat(),
            "status": row.status, "paid": row.paid,
            "checked_on": row.checked_on.isoformat() if row.checked_on else None,
            "made_by": row.made_by}


def offer_view(row: Any) -> dict[str, Any]:
    return {"offer_id": row.offer_id, "case_id": row.case_id, "loan_id": row.loan_id,
            "kind": row.kind, "status": row.status, "terms": repo.loads(row.terms),
            "rate_cap": repo.loads(row.rate_cap),
            "proposed_on": row.proposed_on.isoformat(), "expires_on": row.expires_on.isoformat(),
            "proposed_by": row.proposed_by, "decided_by": row.decided_by,
            "decided_at": row.decided_at.isoformat() if row.decided_at else None,
            "operation": repo.loads(row.operation)}


# -- the daily review -----------------------------------------------------------------------------

def _owed(account: Any) -> int:
    if isinstance(account, RevolvingLine):
        return account.owed()
    return max(0, account.principal_outstanding + account.interest_receivable
               + account.fee_receivable + account.penalty_receivable - account.credit)


def _receipts(p: Platform, session: Session, loan_id: str) -> list[tuple[date, int]]:
    """The loan's receipts that stand (repayments and prepayments not reversed), from its
    full history: what a promise is checked against."""
    account = p.book.replay(session, loan_id).account
    return [(e.on, e.amount) for e, _ in account.history
            if isinstance(e, (Repayment, Prepayment)) and e.key not in account.reversed]


def _figures(settings: CollectionsSettings, account: Any, day: date,
             escalations: int) -> dict[str, Any]:
    dpd = account.days_past_due(day)
    overdue = amount_due(account, day)
    index = settings.strategy.stage_index(dpd, escalations)
    return {"dpd": dpd, "bucket": account.delinquency.bucket(dpd),
            "risk_class": account.risk_class(day).value, "amount_overdue": overdue,
            "owed": _owed(account), "priority": priority(overdue, dpd), "stage": index,
            "stage_name": settings.strategy.stages[index].name, "reviewed_on": day}


Reminder = Callable[[Session, repo.CaseRecord, dict[str, Any], str], None]


def notifying_reminder(p: Platform, notify: Callable[..., None]) -> Reminder:
    """The `remind` of `run_daily` that sends through the notifications service:
    `notify(p, session, applicant_id=..., kind="collections_reminder", key=..., subject=...,
    body=..., context=...)`, idempotent on the key (one per case and day), which applies its
    own quiet hours and caps.  A loan booked outside origination has no applicant to notify."""

    def remind(session: Session, case: repo.CaseRecord, stage: dict[str, Any], key: str) -> None:
        if case.applicant_id is None:
            return
        yuan = f"{case.amount_overdue // 100:,}.{case.amount_overdue % 100:02d}"
        notify(p, session, applicant_id=case.applicant_id, kind="collections_reminder",
               key=key, subject="还款提醒 Repayment reminder",
               body=(f"贷款 {case.loan_id} 已逾期 {case.dpd} 天，应还 {yuan} 元。"
                     f"Loan {case.loan_id} is {case.dpd} days past due: {yuan} CNY to pay."),
               context={"case_id": case.case_id, "loan_id": case.loan_id,
                        "days_past_due": case.dpd, "amount_overdue": case.amount_overdue,
                        "stage": stage["name"]})
    return remind


def run_daily(p: Platform, session: Session, actor: Principal, day: date | None = None, *,
              settings: CollectionsSettings | None = None,
              remind: Reminder | None = None) -> dict[str, Any]:
    """Review the book for `day` (default: today), once or many times with the same result:

    - a loan past due with no open case gets one (its next episode);
    - an open case is brought to the loan's figures, and moves to the stage its days past due
      and broken promises call for (audited when the stage changes);
    - pending promises are checked against the loan's receipts: kept, broken (the case
      escalates one stage), or still pending;
    - a case closes when its loan is cured (nothing past due), settled or written off;
    - offers past their date expire;
    - the cases whose stage sends a reminder today are handed to `remind(session, case,
      stage view, key)` (the notifications service; the key makes a second run send nothing).
    """
    require_staff(actor)
    settings = settings_for(p) if settings is None else settings
    last_closed = BusinessDayRepository(session).last_closed()
    day = check_run_date(day or business_date(p.clock), p.clock, last_closed)
    now = p.clock.now()
    summary = {"business_date": day.isoformat(), "opened": 0, "escalated": 0, "closed": 0,
               "promises_kept": 0, "promises_broken": 0, "offers_expired": 0, "reminders": 0,
               "open_cases": 0}
    cases = {c.loan_id: c for c in repo.open_cases(session)}
    ahead = [c.case_id for c in cases.values() if c.reviewed_on > day]
    if ahead:
        raise InvalidBusinessDate(f"cases were already reviewed after {day} ({len(ahead)}, e.g. "
                                  f"{ahead[0]}); the review runs forward only")

    def audit(action: str, case: repo.CaseRecord, **detail: Any) -> None:
        repo.audit(session, at=now, actor=actor.key_id, action=action, case_id=case.case_id,
                   loan_id=case.loan_id, detail={"business_date": day.isoformat(),
                                                 "policy": settings.version, **detail})

    def close(case: repo.CaseRecord, reason: str, figures: dict[str, Any]) -> None:
        repo.update_case(session, case.case_id, status=repo.CLOSED, closed_on=day,
                         close_reason=reason, updated_at=now, **figures)
        repo.withdraw_offers(session, case.case_id, now)
        audit("case_closed", case, reason=reason)
        summary["closed"] += 1

    # the loans to look at: those that may be past due, and those with an open case
    review = dict(repo.review_candidates(session, day))
    statuses = repo.loan_statuses(session, cases)
    for loan_id, case in list(cases.items()):
        if statuses.get(loan_id) == LoanStatus.ACTIVE.value:
            review.setdefault(loan_id, case.applicant_id)
            continue
        # the loan is no longer active: settled or written off
        reason = WRITTEN_OFF if statuses.get(loan_id) == LoanStatus.WRITTEN_OFF.value \
            else SETTLED
        close(case, reason, {"reviewed_on": day})
        del cases[loan_id]
    for loan_id, applicant_id in sorted(review.items()):
        account = p.book.load_in(session, loan_id)
        case = cases.get(loan_id)
        figures = _figures(settings, account, day, case.escalations if case else 0)
        if case is None:
            if figures["dpd"] < 1:
                continue
            case = repo.add_case(
                session, case_id=new_id("CC"), loan_id=loan_id,
                episode=repo.last_episode(session, loan_id) + 1, applicant_id=applicant_id,
                status=repo.OPEN, opened_on=day, opened_at=now,
                strategy=settings.strategy.version, escalations=0, collector=None,
                assigned_at=None, closed_on=None, close_reason=None, updated_at=now, **figures)
            cases[loan_id] = case
            audit("case_opened", case, days_past_due=figures["dpd"], bucket=figures["bucket"],
                  stage=figures["stage_name"])
            summary["opened"] += 1
            continue
        if figures["dpd"] < 1 and case.origin == repo.EARLY_WARNING:
            # opened by a warning before the loan fell due: open while the warning holds
            if repo.latest_watch_status(session, loan_id, day) in (None, "normal"):
                close(case, WARNING_CLEARED, figures)
                del cases[loan_id]
            else:
                repo.update_case(session, case.case_id, updated_at=now, **figures)
            continue
        if figures["dpd"] < 1:
            close(case, CURED, figures)
            del cases[loan_id]
            continue
        if case.strategy != settings.version:
            # the active policy changed: the case is collected under the new one from today
            repo.update_case(session, case.case_id, strategy=settings.version)
            audit("policy_changed", case, from_policy=case.strategy, to_policy=settings.version)
        repo.update_case(session, case.case_id, updated_at=now, **figures)
        if figures["stage"] != case.stage:
            audit("stage_changed", case, from_stage=case.stage_name,
                  to_stage=figures["stage_name"], days_past_due=figures["dpd"],
                  reason="bucket")
            summary["escalated"] += figures["stage"] > case.stage
    # promises, against what was actually received
    for promise in repo.pending_promises(session):
        checked = evaluate(promise.amount, promise.made_on, promise.due_on,
                           _receipts(p, session, promise.loan_id), day)
        if checked.status is PromiseStatus.PENDING:
            continue
        repo.settle_promise(session, promise.promise_id, checked.status.value, checked.paid, day)
        case = repo.get_case(session, promise.case_id)
        assert case is not None
        audit(f"promise_{checked.status.value}", case, promise_id=promise.promise_id,
              amount=promise.amount, paid=checked.paid, due_on=promise.due_on.isoformat())
        if checked.status is PromiseStatus.KEPT:
            summary["promises_kept"] += 1
            continue
        summary["promises_broken"] += 1
        if case.status != repo.OPEN:
            continue
        escalations = case.escalations + 1
        index = settings.strategy.stage_index(case.dpd, escalations)
        repo.update_case(session, case.case_id, escalations=escalations, stage=index,
                         stage_name=settings.strategy.stages[index].name, updated_at=now)
        if index != case.stage:
            audit("stage_changed", case, from_stage=case.stage_name,
                  to_stage=settings.strategy.stages[index].name, reason="broken_promise",
                  promise_id=promise.promise_id)
            summary["escalated"] += 1
    for case in repo.open_cases(session):
        summary["offers_expired"] += repo.expire_offers(session, case.case_id, day, now)
        summary["open_cases"] += 1
        stage = settings.strategy.stages[case.stage]
        if case.dpd >= 1 and stage.reminder_due((day - case.opened_on).days):
            summary["reminders"] += 1
            if remind is not None:
                remind(session, case, _stage_view(settings, case),
                       f"collections-reminder:{case.case_id}:{day.isoformat()}")
    return summary


# -- early-warning actions ---------------------------------------------------------------------

def escalate(p: Platform, session: Session, actor: Principal, *, loan_id: str, kind: str,
             key: str, reason: str,
             settings: CollectionsSettings | None = None) -> dict[str, Any]:
    """The early warning's `call` and `tighten_collection` actions (services/warnings.py
    `ActionHandlers.escalate`), idempotent on the action's key:

    - `call` puts a call of the borrower at the head of the collectors' queue: the loan's open
      case is flagged for a call with the warning's reason; a loan with no open case gets one,
      an ordinary case when it is already past due (the review would open it), else an
      **early-warning** case in the call stage that the review keeps open while the warning
      holds and closes (`warning_cleared`) once the loan is back to normal;
    - `tighten_collection` moves a case whose loan is past due one stage up (as a broken
      promise does); before the loan is past due there is nothing to escalate, so the call is
      flagged urgent instead (its case opened if need be).

    Each act is in the collections audit trail with the key; an action applied again finds it
    there and changes nothing (`replayed: true`)."""
    require_staff(actor)
    settings = settings_for(p) if settings is None else settings
    key = _key(key)
    if kind not in (CALL, TIGHTEN):
        raise InvalidCollectionsInput(f"unknown early-warning action {kind!r}; collections "
                                      f"take {CALL} and {TIGHTEN}")
    reason = scrub_note(" ".join(str(reason or "").split())[:MAX_NOTE] or "early warning")
    done = repo.audited_with_key(session, loan_id, EARLY_WARNING_ACTS, key)
    if done is not None:
        case = repo.get_case(session, done["case_id"])
        assert case is not None
        return {"case_id": case.case_id, "kind": kind, "act": done["action"], "replayed": True}
    try:
        account = p.book.load_in(session, loan_id)
    except InvalidEvent:
        raise NotFound(f"no loan {loan_id!r}") from None
    if account.status is not LoanStatus.ACTIVE:
        raise CaseClosed(f"loan {loan_id} is {account.status.value}: nothing to collect")
    day, now = business_date(p.clock), p.clock.now()
    case = repo.open_case_of_loan(session, loan_id, lock=True)
    opened = False
    if case is None:
        case = _open_for_warning(p, session, actor, loan_id, account, day, settings)
        opened = True
    detail = {"business_date": day.isoformat(), "key": key, "warning": kind,
              "reason": reason, "policy": settings.version}
    dpd = account.days_past_due(day)
    if kind == TIGHTEN and dpd >= 1:
        escalations = case.escalations + 1
        index = settings.strategy.stage_index(dpd, escalations)
        name = settings.strategy.stages[index].name
        repo.update_case(session, case.case_id, escalations=escalations, stage=index,
                         stage_name=name, updated_at=now)
        repo.audit(session, at=now, actor=actor.key_id, action="stage_changed",
                   case_id=case.case_id, loan_id=loan_id,
                   detail={**detail, "from_stage": case.stage_name, "to_stage": name})
        return {"case_id": case.case_id, "kind": kind, "act": "stage_changed",
                "opened": opened, "stage": name, "replayed": False}
    urgent = kind == TIGHTEN or case.call_urgent
    repo.update_case(session, case.case_id, call_requested_on=case.call_requested_on or day,
                     call_reason=reason, call_urgent=urgent, updated_at=now)
    repo.audit(session, at=now, actor=actor.key_id, action="call_requested",
               case_id=case.case_id, loan_id=loan_id, detail={**detail, "urgent": urgent})
    return {"case_id": case.case_id, "kind": kind, "act": "call_requested", "opened": opened,
            "urgent": urgent, "replayed": False}


def _open_for_warning(p: Platform, session: Session, actor: Principal, loan_id: str,
                      account: Any, day: date,
                      settings: CollectionsSettings) -> repo.CaseRecord:
    """A case for a loan a warning names and no case holds: past due, the ordinary case the
    review would open; not yet, an early-warning case in the call stage (one stage up)."""
    base = _figures(settings, account, day, 0)
    early = base["dpd"] < 1
    call = next((i for i, s in enumerate(settings.strategy.stages) if s.name == "call"), 0)
    escalations = max(0, call - base["stage"]) if early else 0
    figures = _figures(settings, account, day, escalations)
    now = p.clock.now()
    case = repo.add_case(
        session, case_id=new_id("CC"), loan_id=loan_id,
        episode=repo.last_episode(session, loan_id) + 1,
        applicant_id=repo.applicant_of_loan(session, loan_id), status=repo.OPEN,
        opened_on=day, opened_at=now, strategy=settings.strategy.version,
        escalations=escalations, collector=None, assigned_at=None, closed_on=None,
        close_reason=None, updated_at=now,
        origin=repo.EARLY_WARNING if early else repo.DELINQUENCY, **figures)
    repo.audit(session, at=now, actor=actor.key_id, action="case_opened", case_id=case.case_id,
               loan_id=loan_id, detail={"business_date": day.isoformat(),
                                        "days_past_due": figures["dpd"],
                                        "bucket": figures["bucket"],
                                        "stage": figures["stage_name"],
                                        "origin": case.origin})
    return case


# -- queues and cases ---------------------------------------------------------------------------

def queue(p: Platform, session: Session, actor: Principal, collector: str | None = None,
          unassigned: bool = False, limit: int = 50,
          settings: CollectionsSettings | None = None) -> list[dict[str, Any]]:
    """Open cases by priority (amount overdue x days past due), highest first: `collector`'s
    ("me": the caller's own), the unassigned ones, or every open case."""
    require_staff(actor)
    settings = settings_for(p) if settings is None else settings
    if collector == "me":
        collector = actor.key_id
    if not 1 <= limit <= 500:
        raise InvalidCollectionsInput("limit must be 1-500")
    return [case_view(c, settings)
            for c in repo.cases_for_queue(session, collector, unassigned, limit)]


def show_case(p: Platform, session: Session, actor: Principal, case_id: str,
              settings: CollectionsSettings | None = None) -> dict[str, Any]:
    """A case with its attempts, promises, offers and the write-off advice."""
    require_staff(actor)
    settings = settings_for(p) if settings is None else settings
    case = _case(session, case_id)
    view = case_view(case, settings)
    view["attempts"] = [attempt_view(a) for a in repo.attempts_of(session, case_id)]
    view["promises"] = [promise_view(x) for x in repo.promises_of(session, case_id)]
    view["offers"] = [offer_view(o) for o in repo.offers_of(session, case_id)]
    view["write_off"] = _advice(session, case, business_date(p.clock), settings)
    return view


def cases_of_loan(p: Platform, session: Session, actor: Principal, loan_id: str,
                  settings: CollectionsSettings | None = None) -> list[dict[str, Any]]:
    """A loan's cases, one per delinquency episode (`NotFound` for a loan not in the book)."""
    require_staff(actor)
    settings = settings_for(p) if settings is None else settings
    try:
        p.book.load_in(session, loan_id)
    except InvalidEvent:
        raise NotFound(f"no loan {loan_id!r}") from None
    return [case_view(c, settings) for c in repo.cases_of_loan(session, loan_id)]


def assign(p: Platform, session: Session, actor: Principal, case_id: str, collector: str
           ) -> dict[str, Any]:
    """Put an open case in `collector`'s queue ("me": the caller's)."""
    require_staff(actor)
    collector = actor.key_id if collector == "me" else _text(collector, "collector", 200)
    if not collector.strip():
        raise InvalidCollectionsInput("name the collector")
    case = _case(session, case_id, open_only=True, lock=True)
    if case.collector != collector:
        now = p.clock.now()
        repo.update_case(session, case_id, collector=collector, assigned_at=now, updated_at=now)
        repo.audit(session, at=now, actor=actor.key_id, action="case_assigned",
                   case_id=case_id, loan_id=case.loan_id,
                   detail={"from": case.collector, "to": collector})
    return case_view(_case(session, case_id), settings_for(p))


def audit_trail(p: Platform, session: Session, actor: Principal, case_id: str
                ) -> list[dict[str, Any]]:
    require_staff(actor)
    _case(session, case_id)
    return repo.audit_trail(session, case_id)


# -- contact attempts and promises --------------------------------------------------------------

def record_attempt(p: Platform, session: Session, actor: Principal, case_id: str, *,
                   channel: str, party: str, outcome: str, key: str, note: str = "",
                   promise_amount: int | None = None, promise_due: date | None = None,
                   settings: CollectionsSettings | None = None) -> dict[str, Any]:
    """Record a contact of the borrower, made now by the caller, within the contact rules.

    A contact the rules refuse raises `ContactRefused` and records nothing but the refusal in
    the audit trail.  An outcome of promise_to_pay records the promise (amount, due date) with
    it.  Sent again with the same key, the first record is answered."""
    require_staff(actor)
    settings = settings_for(p) if settings is None else settings
    key = _key(key)
    case = _case(session, case_id)
    done = repo.attempt_by_key(session, case_id, key)
    if done is not None:
        return _attempt_answer(session, done)
    if case.status != repo.OPEN:
        raise CaseClosed(f"case {case_id} is closed ({case.close_reason})")
    channel_ = parse_enum(ContactChannel, channel, "channel")
    party_ = parse_enum(ContactParty, party, "party")
    outcome_ = parse_enum(ContactOutcome, outcome, "outcome")
    note = scrub_note(_text(note, "note", MAX_NOTE))
    promised = outcome_ is ContactOutcome.PROMISE_TO_PAY
    given = (promise_amount is not None, promise_due is not None)
    if given != (promised, promised):
        raise InvalidCollectionsInput("an outcome of promise_to_pay needs promise_amount and "
                                      "promise_due; other outcomes take neither")
    today = business_date(p.clock)
    if promised:
        check_new_promise(promise_amount, promise_due, today, settings.promise_max_days)
    repo.lock_borrower(session, case.borrower)  # this case among them, always in one order
    now = p.clock.now()
    detail = {"channel": channel_.value, "party": party_.value, "outcome": outcome_.value,
              "policy": settings.version}
    try:
        check_contact(settings.contact, now, party_,  # type: ignore[arg-type]
                      repo.attempt_times(session, case.borrower,
                                         week_window(settings.contact, now)))
    except ContactRefused as exc:
        _refused(session, p, actor, "contact_attempt", case, exc, detail)
        raise
    attempt = repo.add_attempt(session, attempt_id=new_id("CA"), case_id=case_id,
                               loan_id=case.loan_id, borrower=case.borrower,
                               collector=actor.key_id, channel=channel_.value,
                               party=party_.value, outcome=outcome_.value, note=note,
                               attempted_at=now, request_key=key)
    repo.audit(session, at=now, actor=actor.key_id, action="contact_attempt", case_id=case_id,
               loan_id=case.loan_id, detail={**detail, "attempt_id": attempt.attempt_id})
    if case.call_requested_on is not None and channel_ in CALLS:
        # the call an early warning asked for is made: the task leaves the head of the queue
        repo.update_case(session, case_id, call_requested_on=None, call_reason=None,
                         call_urgent=False, updated_at=now)
    if promised:
        _add_promise(p, session, actor, case, promise_amount, promise_due,  # type: ignore[arg-type]
                     key, attempt.attempt_id, settings.version)
    return _attempt_answer(session, attempt)


def _attempt_answer(session: Session, attempt: Any) -> dict[str, Any]:
    view = attempt_view(attempt)
    promise = next((x for x in repo.promises_of(session, attempt.case_id)
                    if x.attempt_id == attempt.attempt_id), None)
    view["promise"] = None if promise is None else promise_view(promise)
    return view


def _add_promise(p: Platform, session: Session, actor: Principal, case: repo.CaseRecord,
                 amount: int, due_on: date, key: str, attempt_id: str | None,
                 policy: str) -> Any:
    now = p.clock.now()
    row = repo.add_promise(session, promise_id=new_id("PP"), case_id=case.case_id,
                           loan_id=case.loan_id, attempt_id=attempt_id, amount=amount,
                           made_on=business_date(p.clock), due_on=due_on,
                           status=PromiseStatus.PENDING.value, paid=0, checked_on=None,
                           made_by=actor.key_id, made_at=now, request_key=key)
    repo.audit(session, at=now, actor=actor.key_id, action="promise_made", case_id=case.case_id,
               loan_id=case.loan_id, detail={"promise_id": row.promise_id, "amount": amount,
                                             "due_on": due_on.isoformat(), "policy": policy})
    return row


def record_promise(p: Platform, session: Session, actor: Principal, case_id: str, *,
                   amount: int, due_on: date, key: str,
                   settings: CollectionsSettings | None = None) -> dict[str, Any]:
    """Record the borrower's promise to pay `amount` fen by `due_on` (today .. the policy's
    `promises.max_days`, 30 in the shipped one)."""
    require_staff(actor)
    settings = settings_for(p) if settings is None else settings
    key = _key(key)
    case = _case(session, case_id, lock=True)
    done = repo.promise_by_key(session, case_id, key)
    if done is not None:
        return promise_view(done)
    if case.status != repo.OPEN:
        raise CaseClosed(f"case {case_id} is closed ({case.close_reason})")
    check_new_promise(amount, due_on, business_date(p.clock), settings.promise_max_days)
    return promise_view(_add_promise(p, session, actor, case, amount, due_on, key, None,
                                     settings.version))


# -- restructuring --------------------------------------------------------------------------------

def _term_loan(p: Platform, session: Session, loan_id: str) -> Loan:
    try:
        account = p.book.load_in(session, loan_id)
    except InvalidEvent:
        raise NotFound(f"no loan {loan_id!r}") from None
    if not isinstance(account, Loan):
        raise RestructuringRefused(f"loan {loan_id} is a revolving line: only instalment loans "
                                   "are restructured")
    return account


def _plan(p: Platform, session: Session, case: repo.CaseRecord, request: dict[str, Any],
          on: date) -> tuple[RestructuringPlan, Any]:
    account = _term_loan(p, session, case.loan_id)
    cap = p.cap_in_force(session, on)
    return plan(account, request["kind"], on, cap,
                affordable_instalment=request["affordable_instalment"],
                periods=request.get("periods"), extra_periods=request.get("extra_periods"),
                annual_rate=request.get("annual_rate")), cap


def propose_restructuring(p: Platform, session: Session, actor: Principal, case_id: str, *,
                          kind: str, affordable_instalment: int, key: str,
                          periods: int | None = None, extra_periods: int | None = None,
                          annual_rate: str | None = None) -> dict[str, Any]:
    """Propose restructured terms from an open case, checked now against the rate cap in
    force and the borrower's means; nothing changes on the loan until the borrower accepts."""
    require_staff(actor)
    key = _key(key)
    case = _case(session, case_id, lock=True)
    done = repo.offer_by_key(session, case_id, key)
    if done is not None:
        return offer_view(done)
    if case.status != repo.OPEN:
        raise CaseClosed(f"case {case_id} is closed ({case.close_reason})")
    request = {"kind": kind, "affordable_instalment": affordable_instalment,
               "periods": periods, "extra_periods": extra_periods,
               "annual_rate": None if annual_rate is None else str(annual_rate)}
    today = business_date(p.clock)
    try:
        checked, cap = _plan(p, session, case, request, today)
    except (RateCapExceeded, RestructuringRefused) as exc:
        _refused(session, p, actor, "restructuring_proposed", case, exc, {"request": request})
        raise
    now = p.clock.now()
    row = repo.add_offer(session, offer_id=new_id("RO"), case_id=case_id, loan_id=case.loan_id,
                         kind=checked.kind.value, request=request, terms=checked.to_dict(),
                         rate_cap=cap_to_dict(cap), status="proposed", proposed_on=today,
                         expires_on=today + OFFER_VALIDITY, proposed_by=actor.key_id,
                         proposed_at=now, decided_by=None, decided_at=None, event_key=None,
                         operation=None, request_key=key)
    repo.audit(session, at=now, actor=actor.key_id, action="restructuring_proposed",
               case_id=case_id, loan_id=case.loan_id,
               detail={"offer_id": row.offer_id, "kind": checked.kind.value,
                       "periods": checked.periods, "annual_rate": str(checked.annual_rate),
                       "new_instalment": checked.new_instalment})
    return offer_view(row)


def _open_offer(session: Session, offer_id: str) -> tuple[Any, repo.CaseRecord]:
    row = repo.get_offer(session, offer_id, lock=True)
    if row is None:
        raise NotFound(f"no restructuring offer {offer_id!r}")
    case = _case(session, row.case_id)
    return row, case


def accept_offer(p: Platform, session: Session, actor: Principal, offer_id: str, *,
                 apply_operation: ApplyOperation | None = None) -> dict[str, Any]:
    """Record the borrower's acceptance and make the offer a loan operation.

    The terms are checked again on the day of acceptance (the cap in force may have changed,
    interest has run) and the `Reschedule` applies from that day, through `apply_operation`
    (default: `operations_for`, which applies it at once).  The event's key is the offer's, so
    accepting twice changes the loan once; an offer accepted before is answered as it
    stands."""
    require_staff(actor)
    today = business_date(p.clock)
    row, case = _open_offer(session, offer_id)
    if row.status == "accepted":
        return offer_view(row)
    if row.status != "proposed":
        raise OfferNotOpen(f"offer {offer_id} is {row.status}")
    if row.expires_on < today:
        raise OfferNotOpen(f"offer {offer_id} expired on {row.expires_on}")
    if case.status != repo.OPEN:
        raise CaseClosed(f"case {case.case_id} is closed ({case.close_reason})")
    request = repo.loads(row.request)
    try:
        checked, cap = _plan(p, session, case, request, today)
    except (RateCapExceeded, RestructuringRefused) as exc:
        _refused(session, p, actor, "restructuring_accepted", case, exc, {"offer_id": offer_id})
        raise
    event_key = f"collections:restructure:{offer_id}"
    apply = apply_operation or operations_for(p, actor)
    result = apply(session, case.loan_id, "reschedule", checked.operation_params(), event_key)
    now = p.clock.now()
    repo.decide_offer(session, offer_id, status="accepted", decided_by=actor.key_id,
                      decided_at=now, event_key=event_key,
                      operation={**result, "terms": checked.to_dict(),
                                 "rate_cap": cap_to_dict(cap)})
    repo.audit(session, at=now, actor=actor.key_id, action="restructuring_accepted",
               case_id=case.case_id, loan_id=case.loan_id,
               detail={"offer_id": offer_id, "event_key": event_key,
                       "applied": bool(result.get("applied"))})
    repo.withdraw_offers(session, case.case_id, now)
    if result.get("applied"):
        account = p.book.load_in(session, case.loan_id)
        if account.days_past_due(today) == 0:
            figures = _figures(settings_for(p), account, today, case.escalations)
            repo.update_case(session, case.case_id, status=repo.CLOSED, closed_on=today,
                             close_reason=RESTRUCTURED, updated_at=now, **figures)
            repo.audit(session, at=now, actor=actor.key_id, action="case_closed",
                       case_id=case.case_id, loan_id=case.loan_id,
                       detail={"reason": RESTRUCTURED, "offer_id": offer_id})
    fresh = repo.get_offer(session, offer_id)
    return offer_view(fresh)


def decline_offer(p: Platform, session: Session, actor: Principal, offer_id: str
                  ) -> dict[str, Any]:
    """Record that the borrower declined the offer; the loan is unchanged."""
    require_staff(actor)
    row, case = _open_offer(session, offer_id)
    if row.status == "declined":
        return offer_view(row)
    if row.status != "proposed":
        raise OfferNotOpen(f"offer {offer_id} is {row.status}")
    now = p.clock.now()
    repo.decide_offer(session, offer_id, status="declined", decided_by=actor.key_id,
                      decided_at=now)
    repo.audit(session, at=now, actor=actor.key_id, action="restructuring_declined",
               case_id=case.case_id, loan_id=case.loan_id, detail={"offer_id": offer_id})
    return offer_view(repo.get_offer(session, offer_id))


# -- write-off recommendations --------------------------------------------------------------------

def _advice(session: Session, case: repo.CaseRecord, today: date,
            settings: CollectionsSettings) -> dict[str, Any]:
    advice = advise(settings.write_off, case.dpd, case.owed,
                    repo.last_kept_promise(session, case.case_id), today)
    return {"recommended": advice.recommended, "expected_recovery": advice.expected_recovery,
            "cost_to_collect": advice.cost_to_collect, "reasons": list(advice.reasons),
            "unmet": list(advice.unmet)}


def write_off_recommendations(p: Platform, session: Session, actor: Principal,
                              settings: CollectionsSettings | None = None
                              ) -> list[dict[str, Any]]:
    """Open cases recommended for write-off, oldest delinquency first, with the reasons.

    Advice for staff: the write-off itself is a servicing operation (maker-checker)."""
    require_staff(actor)
    settings = settings_for(p) if settings is None else settings
    today = business_date(p.clock)
    out = []
    for case in repo.open_cases(session):
        if case.dpd < settings.write_off.min_dpd:
            continue
        advice = _advice(session, case, today, settings)
        if advice["recommended"]:
            out.append({**case_view(case, settings), "write_off": advice})
    return sorted(out, key=lambda c: (-c["days_past_due"], c["case_id"]))


__all__ = [
    "ApplyOperation", "CollectionsSettings", "DEFAULT_SETTINGS", "RestructuringKind",
    "settings_for",
    "accept_offer", "assign", "audit_trail", "cases_of_loan", "decline_offer",
    "direct_operations", "notifying_reminder", "operations_for", "propose_restructuring",
    "queue", "record_attempt", "record_promise", "run_daily", "show_case",
    "write_off_recommendations",
]
