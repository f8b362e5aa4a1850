"""The daily early-warning run: every active loan assessed once a day, its status and the signals
behind it stored, and the actions the rules produced applied through wired callables.

Why the data use is gated: a business's data may be used after the payout only under a consent
for post-loan monitoring (`Purpose.POST_LOAN_MONITORING`) in force for that scope.  Without one
the loan is watched on its own behaviour alone (instalments, auto-debits), and each use is
written to the consent log with its basis, as every other use of personal data is.

Idempotent per day: a loan whose status for the day is stored is not assessed again, so a job
killed half-way and run again finishes the rest and stores one status per loan and day.  Actions
carry keys (`warn:<loan>:<day>:<kind>`) and are stored once; `apply_actions` applies the pending
ones through `ActionHandlers` (each line change and collection call is idempotent on the key it
is given), one savepoint each, so a refused action is recorded failed and the rest go on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable

from sqlalchemy.orm import Session

from puhui.errors import KeyringError, PuhuiError
from puhui.loans.product import Component
from puhui.loans.state import LoanStatus
from puhui.parties.consent import DataScope, Purpose
from puhui.risk.data.payload import SourceData, parse_payload
from puhui.risk.errors import RiskDataError
from puhui.risk.warnings import (
    Action,
    Assessment,
    FiredSignal,
    LoanBehaviour,
    LoanFacts,
    Payout,
    WarningRules,
    WatchState,
    WatchStatus,
    assess,
    load_rules,
    payee_hash,
    sales_features,
)
from puhui.services.access import Perm, Principal, Role
from puhui.services.applicants import _log, consents, load_account, unsealed
from puhui.services.clock import business_date
from puhui.services.data import received_bytes
from puhui.services.errors import AccessDenied, InvalidRequest
from puhui.services.platform import Platform
from puhui.store import application_repo, warnings_repo
from puhui.store.crypto import context
from puhui.store.loan_repo import LoanEventRepository

#: How far back failed auto-debits are read (the rules' windows are shorter).
DEBIT_LOOKBACK = timedelta(days=120)
#: The data scopes monitoring reads.
MONITORED = (DataScope.SALES, DataScope.UTILITY, DataScope.TAX, DataScope.BUREAU,
             DataScope.BANK_STATEMENT)


def require_staff(actor: Principal) -> None:
    """The watch list is for credit officers and administrators only."""
    if actor.role not in (Role.CREDIT_OFFICER, Role.ADMIN):
        raise AccessDenied(f"a {actor.role.value} key may not read the watch list: staff only")


# -- facts ----------------------------------------------------------------------------------------
def behaviour_of(account: Any, on: date, failed: list[date] | None) -> LoanBehaviour:
    """The loan's own signals on `on`: days past due, the last instalment due and what of it is
    still unpaid, its failed auto-debits."""
    dpd = account.days_past_due(on) if hasattr(account, "days_past_due") else 0
    last = None
    for inst in getattr(account, "instalments", []):
        if inst.due <= on:
            last = inst
    if last is None:
        return LoanBehaviour(dpd, None, 0, 0, tuple(failed or ()))
    parts = (Component.PRINCIPAL, Component.INTEREST, Component.FEE)
    short = sum(max(0, last.unpaid(c)) for c in parts)
    paid = sum(last.paid[c] for c in parts)
    return LoanBehaviour(dpd, last.due, short, paid, tuple(failed or ()))


def monitored_data(p: Platform, session: Session, applicant_id: str, application_id: str | None,
                   on: date) -> dict[DataScope, SourceData]:
    """The latest stored data per scope the applicant's monitoring consents cover, each use
    logged; a payload that no longer validates or matches its hash is left out."""
    now = p.clock.now()
    covered = {}
    for consent in consents(session, applicant_id):
        if consent.status(now) != "active":
            continue
        for scope in MONITORED:
            if scope not in covered and consent.matches(scope, Purpose.POST_LOAN_MONITORING):
                covered[scope] = consent.consent_id
    if not covered:
        return {}
    data: dict[DataScope, SourceData] = {}
    for row in warnings_repo.latest_payloads(session, applicant_id, on):
        scope = DataScope(row.scope)
        if scope not in covered:
            continue
        try:
            data[scope] = parse_payload(scope, json.loads(received_bytes(row)))
        except RiskDataError:
            continue
        _log(session, applicant_id, covered[scope], "used", scope.value,
             Purpose.POST_LOAN_MONITORING.value, application_id,
             {"payload_id": row.id, "as_of": row.as_of.isoformat(), "run_date": on.isoformat(),
              "use": "early warning"}, now)
    return data


def payout_of(session: Session, watched: Any) -> Payout:
    """How the loan was paid out, with the entrusted payee and the borrower's own account named
    as bank statements name counterparties."""
    if watched.mode != "entrusted":
        return Payout(watched.mode, watched.value_date, watched.paid_out)
    where = context("disbursements", watched.disbursement_id)
    try:
        payee = unsealed(session, watched.applicant_id, watched.payee_account,
                         where + ":account")
        contract = application_repo.contract(session, watched.contract_id)
        own = None if contract is None else payee_hash(
            load_account(session, watched.applicant_id, contract.account_id).card_number)
    except (PuhuiError, KeyringError):  # erased or unreadable: the payee cannot be compared
        return Payout(watched.mode, watched.value_date, watched.paid_out)
    return Payout(watched.mode, watched.value_date, watched.paid_out, payee_hash(payee), own)


def facts_of(p: Platform, session: Session, loan_id: str, on: date, watched: Any | None,
             failed: list[date] | None) -> LoanFacts:
    account = p.book.load_in(session, loan_id)
    behaviour = behaviour_of(account, on, failed)
    disbursed = getattr(account, "disbursed_on", None) or getattr(account, "opened_on", None)
    if watched is None:  # a loan booked outside origination: its behaviour only
        return LoanFacts(loan_id, on, None, disbursed, behaviour)
    data = monitored_data(p, session, watched.applicant_id, watched.application_id, on)
    return LoanFacts(loan_id, on, watched.applicant_id, disbursed, behaviour, data,
                     payout_of(session, watched), sales_features(data))


# -- the daily run --------------------------------------------------------------------------------
def _state(row: Any) -> WatchState:
    return WatchState(WatchStatus(row.status), row.since, row.calm_since)


def assess_book(p: Platform, session: Session, actor: Principal, day: date | None = None,
                rules: WarningRules | None = None) -> dict[str, Any]:
    """Assess every active loan not yet assessed for `day` (default today): store its status,
    signals and actions.  A summary of what was done."""
    actor.require(Perm.OPERATE)
    on = day or business_date(p.clock)
    if on > business_date(p.clock):
        raise InvalidRequest(f"{on} is after today's business date; warnings look at facts "
                             "that exist")
    rules = rules or load_rules()
    done = warnings_repo.assessed_on(session, on)
    before = warnings_repo.states_before(session, on)
    failed = warnings_repo.failed_debits(session, on - DEBIT_LOOKBACK, on)
    watched = {r.loan_id: r for r in warnings_repo.watched_loans(session)}
    now = p.clock.now()
    statuses, actions = [], []
    summary: dict[str, Any] = {"as_of": on.isoformat(), "rules_version": rules.version,
                               "assessed": 0, "already_assessed": 0, "changed": 0,
                               "failures": {},
                               "actions": 0, "statuses": {s.value: 0 for s in WatchStatus}}
    for loan_id in _active_loans(session):
        if loan_id in done:
            summary["already_assessed"] += 1
            continue
        try:
            facts = facts_of(p, session, loan_id, on, watched.get(loan_id), failed.get(loan_id))
        except PuhuiError as exc:  # one loan that cannot be read does not stop the book's run
            summary["failures"][loan_id] = f"{type(exc).__name__}: {exc}"
            continue
        prev = before.get(loan_id)
        result = assess(facts, None if prev is None else _state(prev), rules)
        statuses.append(_status_row(result, now))
        actions.extend({**a.to_dict(), "params": json.dumps(dict(a.params), sort_keys=True),
                        "kind": a.kind.value, "as_of": on, "status": "pending",
                        "result": None, "created_at": now, "applied_at": None}
                       for a in result.actions)
        summary["assessed"] += 1
        summary["changed"] += result.changed
        summary["statuses"][result.status.value] += 1
    warnings_repo.add_statuses(session, statuses)
    summary["actions"] = warnings_repo.add_actions(session, actions)
    session.flush()
    return summary


def _active_loans(session: Session) -> list[str]:
    repo, out, offset = LoanEventRepository(session), [], 0
    while True:
        page = repo.list_loans(status=LoanStatus.ACTIVE.value, limit=1000, offset=offset)
        out.extend(r.loan_id for r in page)
        if len(page) < 1000:
            return out
        offset += 1000


def _status_row(a: Assessment, now: Any) -> dict[str, Any]:
    return {"loan_id": a.loan_id, "as_of": a.as_of, "status": a.status.value,
            "previous": a.previous.value, "since": a.since, "calm_since": a.calm_since,
            "score": f"{a.score:g}", "signals": json.dumps([s.to_dict() for s in a.signals],
                                                           sort_keys=True),
            "actions": json.dumps([x.key for x in a.actions]), "rules_version": a.rules_version,
            "rules_sha256": a.rules_sha256, "recorded_at": now}


# -- applying the actions -------------------------------------------------------------------------
#: change_line(p, session, actor, line_id, *, key, reason, limit=None, annual_rate=None,
#: freeze=None, decision_id=None) -> dict  (part A's `services.lines.change_line`)
ChangeLine = Callable[..., dict]
#: lines_of(session, applicant_id) -> list of lines with line_id, limit, drawn, status
LinesOf = Callable[..., list]
#: escalate(p, session, actor, *, loan_id, kind, key, reason) -> dict  (collections)
Escalate = Callable[..., dict]
#: freezer_of(session, line_id) -> the key of the request behind the line's latest freeze, or
#: None (part A's line events: `services.lines.freeze_key`)
FreezerOf = Callable[..., "str | None"]
#: What a freeze the early warning asked for is keyed with (its action key + the line id).
WARNING_KEY_PREFIX = "warn:"


@dataclass(frozen=True)
class ActionHandlers:
    """What applies each action; an action whose handler is not wired stays pending."""

    change_line: ChangeLine | None = None
    lines_of: LinesOf | None = None
    escalate: Escalate | None = None
    #: When wired, `unfreeze_line` lifts only the freezes the early warning itself made: a line
    #: the line policy froze (its sales collapsed) or staff froze stays frozen until the rule
    #: or the person that froze it lets it go.
    freezer_of: FreezerOf | None = None


def _line_status(line: Any) -> str:
    status = getattr(line, "status", "")
    return getattr(status, "value", status)


def _apply_one(p: Platform, session: Session, actor: Principal, row: Any,
               h: ActionHandlers) -> tuple[str, Any] | None:
    """(status, result) of one action, or None when its handler is not wired."""
    kind = Action(row.kind)
    params = json.loads(row.params)
    if kind in (Action.CALL, Action.TIGHTEN_COLLECTION):
        if h.escalate is None:
            return None
        return "applied", h.escalate(p, session, actor, loan_id=row.loan_id, kind=kind.value,
                                     key=row.key, reason=row.reason)
    if h.change_line is None or h.lines_of is None:
        return None
    if row.applicant_id is None:
        return "skipped", "the loan has no applicant, so no credit line"
    changed = []
    for line in h.lines_of(session, row.applicant_id):
        status, key = _line_status(line), f"{row.key}:{line.line_id}"
        if kind is Action.FREEZE_LINE and status == "active":
            changed.append(h.change_line(p, session, actor, line.line_id, key=key,
                                         reason=row.reason, freeze=True))
        elif kind is Action.UNFREEZE_LINE and status == "frozen":
            if h.freezer_of is not None and not str(
                    h.freezer_of(session, line.line_id) or "").startswith(WARNING_KEY_PREFIX):
                continue  # frozen for another reason: not the warning's to lift
            changed.append(h.change_line(p, session, actor, line.line_id, key=key,
                                         reason=row.reason, freeze=False))
        elif kind is Action.REDUCE_LIMIT and status in ("active", "frozen"):
            new_limit = max(int(line.drawn), int(line.limit * params["factor"]))
            if new_limit < line.limit:
                changed.append(h.change_line(p, session, actor, line.line_id, key=key,
                                             reason=row.reason, limit=new_limit))
    if not changed:
        return "skipped", "no line in a state this action changes"
    return "applied", changed


def apply_actions(p: Platform, session: Session, actor: Principal,
                  handlers: ActionHandlers) -> dict[str, int]:
    """Apply every pending action through `handlers`; counts by outcome."""
    actor.require(Perm.OPERATE)
    counts = {"applied": 0, "skipped": 0, "failed": 0, "pending": 0}
    for row in warnings_repo.pending_actions(session):
        try:
            with session.begin_nested():
                outcome = _apply_one(p, session, actor, row, handlers)
        except PuhuiError as exc:
            outcome = ("failed", f"{type(exc).__name__}: {exc}")
        if outcome is None:
            counts["pending"] += 1
            continue
        warnings_repo.finish_action(session, row.key, outcome[0], outcome[1], p.clock.now())
        counts[outcome[0]] += 1
    session.flush()
    return counts


def wired_handlers() -> ActionHandlers:
    """The handlers the platform applies actions with: the credit lines' own change
    (`services.lines.change_line`: freeze, unfreeze, reduce the limit) and collections'
    `escalate` (`services.collections.escalate`: a call queued on the loan's case, a case
    tightened one stage; docs/collections.md, "Early-warning actions")."""
    from puhui.services import collections, lines

    return ActionHandlers(change_line=lines.change_line, lines_of=lines.lines_of,
                          escalate=collections.escalate, freezer_of=lines.freeze_key)


def run_warnings(platform: Platform, day: date) -> dict[str, Any]:
    """The scheduler's job: today's assessment, then the pending actions applied."""
    from puhui.services.access import SYSTEM

    from puhui.services.scheduler import JobIncomplete

    with platform.unit() as session:
        summary = assess_book(platform, session, SYSTEM, day)
    with platform.unit() as session:
        summary["applied"] = apply_actions(platform, session, SYSTEM, wired_handlers())
    if summary["failures"]:  # recorded failed, so the scheduler runs it again for the rest
        raise JobIncomplete(f"{len(summary['failures'])} loan(s) could not be assessed", summary)
    return summary


# -- reading the watch list -----------------------------------------------------------------------
def watch_list(p: Platform, session: Session, actor: Principal, status: str | None = None,
               on: date | None = None, after: str | None = None,
               limit: int = 200) -> dict[str, Any]:
    """The book by watch-list status on a day (default: the latest assessed), with the signals
    and actions behind each loan."""
    require_staff(actor)
    if status is not None:
        try:
            status = WatchStatus(status).value
        except ValueError:
            raise InvalidRequest(f"unknown status {status!r}; choose from "
                                 f"{[s.value for s in WatchStatus]}") from None
    day = on or warnings_repo.latest_day(session)
    if day is None:
        return {"as_of": None, "counts": {s.value: 0 for s in WatchStatus}, "items": []}
    rows = warnings_repo.watch_list(session, day, status, after, limit)
    keys = [k for r in rows for k in json.loads(r.actions)]
    acted = {a.key: a for a in warnings_repo.actions_for(session, keys)}
    counts = {s.value: 0 for s in WatchStatus}
    counts.update(warnings_repo.status_counts(session, day))
    items = []
    for r in rows:
        items.append({
            "loan_id": r.loan_id, "status": r.status, "previous": r.previous,
            "since": r.since.isoformat(),
            "calm_since": None if r.calm_since is None else r.calm_since.isoformat(),
            "score": r.score,
            "signals": [FiredSignal.from_dict(s).to_dict() for s in json.loads(r.signals)],
            "actions": [{"kind": acted[k].kind, "key": k, "status": acted[k].status}
                        for k in json.loads(r.actions) if k in acted],
            "rules_version": r.rules_version})
    return {"as_of": day.isoformat(), "counts": counts, "items": items}
