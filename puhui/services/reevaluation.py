"""Re-evaluating credit lines when fresh data arrives: pushed by a partner, pulled on a schedule,
or for a whole book at once.

Why here: a line follows the business only if every new month of electricity use, day of sales
or tax filing reaches its line the same week.  Each path does the same thing:

1. **data, under consent**: a payload is accepted only with a `post_loan_monitoring` consent in
   force for its scope (`use_data`, which logs the use or the refusal), validated exactly as an
   application's (`parse_payload`: a refusal names the source, record and field) and for the
   applicant's own business, and stored like an application's payloads (packed, with the SHA-256
   of the bytes as received and the consent), with no application.  A payload identical to the
   latest of its scope is not stored again and triggers nothing;
2. **features and scores**: every accepted payload of the applicant (at application and since)
   is folded per scope into one history (`signals.merge_payloads`), known as of today; the
   point-in-time features (`features_for`), the monitoring signals and the models' scores are
   computed from it;
3. **the line policy**: `puhui.lines.policy.evaluate` on each open line of the applicant, with
   the rules engaged by its previous decision and its repayment behaviour;
4. **the record**: a `LineDecisionRecord` (replayable: `replay_line_decision`), recorded once per
   distinct input (the same re-evaluation run twice records and applies nothing new);
5. **the change**: applied through `LineMonitor.apply_line_change` (the credit lines' own
   `change_line`, idempotent on the key ``line-decision:<decision id>``), inside a savepoint so a
   refused change leaves the data and the record in place and is reported.

The lines themselves (their storage, events and notices) belong to `puhui.services.lines`;
this module reaches them only through the callables of `LineMonitor`, which
`LineMonitor.for_platform` takes from that module when it is installed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy.orm import Session

from puhui.errors import PuhuiError
from puhui.lines.policy import (OPEN_STATUSES, LineDecision, LineFacts,
                                LineHistory, LinePolicy, default_line_policy, evaluate,
                                line_facts)
from puhui.lines.record import LineDecisionRecord, canonical, input_sha256, replay
from puhui.lines.signals import Due, monitoring_features, repayment_facts
from puhui.parties.consent import Consent, DataScope, Purpose
from puhui.risk.data.payload import SOURCES, parse_payload, source_scope
from puhui.risk.errors import InvalidRecord, SourceFailed, SourceUnavailable
from puhui.services.access import SYSTEM, Perm, Principal
from puhui.services.applicants import applicant_row, business_identity, use_data, use_data_for
from puhui.services.clock import business_date
from puhui.services import monitoring_data
from puhui.services.data import as_received, canonical_bytes
from puhui.services.monitoring_data import accept
from puhui.services.errors import NotFound
from puhui.services.ids import new_id
from puhui.services.platform import Platform
from puhui.store import line_decision_repo as repo

log = logging.getLogger("puhui.lines")

#: What the borrower is told of a line change (the notifications' kind).
NOTICE_KIND = "line_changed"


def _no_repayments(session: Session, line: Any) -> list[Due]:
    return []


@dataclass
class LineMonitor:
    """What re-evaluating lines needs beyond the platform.

    - `policy`: the line policy in force (the registry's active version);
    - `lines_of(session, applicant_id)`: the applicant's credit lines (objects with the agreed
      `CreditLine` attributes: line_id, applicant_id, product_code, limit, drawn, annual_rate,
      opened_on, status, changed_on);
    - `apply_line_change(p, session, actor, line_id, *, key, reason, limit, annual_rate, freeze,
      decision_id) -> dict`: applies one decision, idempotent on `key`;
    - `repayments_of(session, line)`: the instalments of the line's loans (`signals.Due`);
    - `notify(p, session, *, applicant_id, kind, key, subject, body, context)`: tells the
      borrower of a change (optional);
    - `scorer`: the models (`ModelScorer`; None scores nothing);
    - `policies`: the `LinePolicyRegistry` replays load recorded versions from;
    - `lines_of_many(session, applicant_ids)`: the lines of many applicants in one read
      (optional: `lines_of` for each, else);
    - `behaviour_of(session, lines, today, since)`: line id -> `signals.repayment_facts` of
      many lines at once (optional: `repayments_of` for each, else);
    - `apply_line_changes(p, session, actor, requests) -> results`: `apply_line_change` for
      many `lines.LineChange` requests at once, each carrying the notice to record once it
      applies (`lines.change_lines`, which records it through the platform's notifications,
      not through `notify`); optional: `apply_line_change` and `notify` for each, else;
    - `line_states_of(session, applicant_ids)`: line id -> (limit, drawn, annual rate, status,
      changed on) as text (`line_state` of each line) of those applicants' lines as stored
      now, without the rest of each line: how the batch finds the lines that moved between
      its read and its write (optional: `lines_of_many` or `lines_of`, else).
    """

    policy: LinePolicy
    lines_of: Callable[[Session, str], Sequence[Any]]
    apply_line_change: Callable[..., dict]
    repayments_of: Callable[[Session, Any], Sequence[Due]] = _no_repayments
    notify: Callable[..., None] | None = None
    scorer: Any = None
    policies: Any = None
    lines_of_many: Callable[[Session, Sequence[str]], Sequence[Any]] | None = None
    behaviour_of: Callable[..., Mapping[str, Mapping[str, int]]] | None = None
    apply_line_changes: Callable[..., Sequence[Any]] | None = None
    line_states_of: Callable[[Session, Sequence[str]], Mapping[str, tuple[str, ...]]] | None \
        = None

    @classmethod
    def for_platform(cls, p: Platform, policy: LinePolicy | None = None,
                     **parts: Any) -> "LineMonitor":
        """The monitor wired to the platform's credit lines (`puhui.services.lines`) and
        notifications."""
        from puhui.services import line_behaviour, lines, notifications

        defaults: dict[str, Any] = {
            "lines_of": lines.lines_of, "lines_of_many": lines.lines_of_applicants,
            "apply_line_change": lines.change_line,
            "repayments_of": lines.repayments_of,
            "behaviour_of": line_behaviour.behaviour_of,
            "scorer": getattr(p.decider, "scorer", None), "notify": notifications.notify,
            "apply_line_changes": lines.change_lines, "line_states_of": repo.line_states}
        if ("apply_line_change" in parts or "notify" in parts) \
                and "apply_line_changes" not in parts:
            defaults["apply_line_changes"] = None  # the bulk form would bypass the one given
        if ("lines_of" in parts or "lines_of_many" in parts) and "line_states_of" not in parts:
            defaults["line_states_of"] = None  # the stored lines may not be the ones given
        defaults.update(parts)
        return cls(policy or default_line_policy(), **defaults)


@dataclass(frozen=True)
class Reevaluated:
    """One line re-evaluated: its decision, the record's id, whether it was new (not a re-run
    of a recorded one) and what applying it answered (or why it was refused)."""

    decision_id: str
    decision: LineDecision
    new: bool
    applied: dict | None = None
    refused: str | None = None

    def view(self) -> dict[str, Any]:
        d = self.decision
        return {"line_id": d.line_id, "decision_id": self.decision_id, "changes": d.changes,
                "limit": d.limit, "annual_rate": None if d.annual_rate is None
                else str(d.annual_rate), "freeze": d.freeze, "fired": list(d.fired),
                "released": list(d.released), "reason": d.reason, "recorded": self.new,
                "refused": self.refused}


# -- data pushed by a partner ----------------------------------------------------------------------
def push_data(p: Platform, session: Session, actor: Principal, applicant_id: str,
              scope: DataScope | str, payload: Any, monitor: LineMonitor | None = None
              ) -> dict[str, Any]:
    """Accept a partner's fresh data for a borrower and re-evaluate the borrower's lines.

    Refused, with nothing stored: an actor who may not act for the applicant (NotFound /
    AccessDenied), no `post_loan_monitoring` consent for the scope (ConsentMissing, -Expired,
    -Revoked: the refusal is logged), a payload that fails validation, is about another
    business or is dated after today (InvalidRecord naming the field)."""
    actor.require(Perm.APPLY)
    applicant_row(session, actor, applicant_id)
    scope = source_scope(scope)
    consent = use_data(p, session, applicant_id, scope, Purpose.POST_LOAN_MONITORING, None)
    today = business_date(p.clock)
    parsed = parse_payload(scope, payload)
    business = business_identity(session, applicant_id)
    if parsed.business_id != business:
        raise InvalidRecord(scope.value, None, "business_id",
                            "the payload describes another business than the applicant's")
    if parsed.as_of > today:
        raise InvalidRecord(scope.value, None, "as_of",
                            f"{parsed.as_of.isoformat()} is after today ({today.isoformat()})")
    received = canonical_bytes(payload)
    stored = accept(p, session, applicant_id, scope, consent, received, parsed, payload=payload)
    out: dict[str, Any] = {
        "applicant_id": applicant_id, "scope": scope.value, "as_of": parsed.as_of.isoformat(),
        "records": parsed.record_count, "consent_id": consent.consent_id,
        "payload_sha256": hashlib.sha256(received).hexdigest(), "stored": stored,
        "reevaluated": []}
    if stored and monitor is not None:
        out["reevaluated"] = [r.view() for r in reevaluate_applicant(
            p, session, applicant_id, monitor, trigger=f"push:{scope.value}", today=today)]
    return out


# -- data pulled on a schedule ---------------------------------------------------------------------
def monitored_applicants(p: Platform, session: Session) -> dict[str, frozenset[DataScope]]:
    """Applicant -> the business-data scopes a `post_loan_monitoring` consent in force covers."""
    now = p.clock.now()
    out: dict[str, set[DataScope]] = defaultdict(set)
    for applicant_id, text in repo.consents_in_force(session, now):
        consent = Consent.from_dict(json.loads(text))
        if consent.purpose is Purpose.POST_LOAN_MONITORING and consent.status(now) == "active":
            out[applicant_id] |= {s for s in consent.scopes if s in SOURCES}
    return {a: frozenset(s) for a, s in out.items() if s}


def refresh_lines(p: Platform, monitor: LineMonitor, connectors: Any = None,
                  today: date | None = None, scopes: Sequence[DataScope] | None = None
                  ) -> dict[str, Any]:
    """The scheduled pull: ask the data sources, under consent, for every business with a
    monitoring consent in force and an open line, store what is new, and re-evaluate those
    lines.  One transaction per business: a business whose data or decision fails is reported
    and the others go on.  `scopes`: only these (the line refresh asks the sources without a
    change feed here).  Returns the run's summary."""
    from puhui.services.sources import fetch_all

    connectors = connectors if connectors is not None else p.connectors
    today = today or business_date(p.clock)
    summary: dict[str, Any] = {"business_date": today.isoformat(), "businesses": 0,
                               "payloads_stored": 0, "lines_reevaluated": 0,
                               "lines_changed": 0, "failures": {}}
    if connectors is None:
        summary["skipped"] = "no data sources configured"
        return summary
    with p.read() as session:
        watched = monitored_applicants(p, session)
    for applicant_id, held in sorted(watched.items()):
        wanted = [s for s in held if s in set(connectors)
                  and (scopes is None or s in scopes)]
        try:
            with p.unit() as session:
                lines = [x for x in monitor.lines_of(session, applicant_id)
                         if _status(x) in OPEN_STATUSES]
                if not lines or not wanted:
                    continue
                summary["businesses"] += 1
                consents = use_data_for(p, session, applicant_id, wanted,
                                        Purpose.POST_LOAN_MONITORING, None)
                business = business_identity(session, applicant_id)
                answers = fetch_all(connectors, business, today, wanted)
                latest = repo.latest_payload_hashes(session, applicant_id)
                fresh = 0
                for scope in wanted:
                    raw = answers[scope]
                    if isinstance(raw, (SourceUnavailable, SourceFailed)):
                        continue
                    received, payload, trusted = as_received(raw)
                    if latest.get(scope.value) == hashlib.sha256(received).hexdigest():
                        continue  # the answer we hold already: validated when it was stored
                    try:
                        parsed = parse_payload(scope, payload)
                    except InvalidRecord as exc:
                        summary["failures"][f"{applicant_id}:{scope.value}"] = str(exc)
                        continue
                    if parsed.business_id != business or parsed.as_of > today:
                        summary["failures"][f"{applicant_id}:{scope.value}"] = \
                            "the source answered for another business or a later date"
                        continue
                    fresh += accept(p, session, applicant_id, scope, consents[scope],
                                    received, parsed, payload=payload, trusted=trusted)
                summary["payloads_stored"] += fresh
                if fresh:
                    done = reevaluate_applicant(p, session, applicant_id, monitor,
                                                trigger="pull", today=today, lines=lines)
                    summary["lines_reevaluated"] += len(done)
                    summary["lines_changed"] += sum(1 for r in done if r.decision.changes
                                                    and r.refused is None)
        except PuhuiError as exc:
            summary["failures"][applicant_id] = f"{type(exc).__name__}: {exc}"
    return summary


# -- one applicant's lines -------------------------------------------------------------------------
def applicant_data(session: Session, applicant_id: str, today: date
                   ) -> tuple[dict[DataScope, Any], dict[str, str], list[str]]:
    """The applicant's data known today, per scope (every accepted payload merged, known as of
    today), the SHA-256 of the latest payload of each scope, and the problems met."""
    # kept merged as the payloads arrive (`monitoring_data`): read without merging or
    # validating them again
    data, hashes, problems = monitoring_data.load_data(session, [applicant_id], today)
    return data[applicant_id], hashes[applicant_id], problems[applicant_id]


def reevaluate_applicant(p: Platform, session: Session, applicant_id: str, monitor: LineMonitor,
                         *, trigger: str, today: date | None = None,
                         lines: Sequence[Any] | None = None) -> list[Reevaluated]:
    """Re-evaluate every open line of the applicant on today's data, record each decision and
    apply what changes (see the module's doc)."""
    from puhui.risk.features import features_for

    today = today or business_date(p.clock)
    if lines is None:
        lines = [x for x in monitor.lines_of(session, applicant_id)
                 if _status(x) in OPEN_STATUSES]
    if not lines:
        return []
    data, hashes, problems = applicant_data(session, applicant_id, today)
    features: dict[str, Any] = dict(features_for(data, today))
    features.update(monitoring_features(data, today))
    scores = None
    model_versions: dict[str, str] = {}
    if monitor.scorer is not None:
        try:
            scores = monitor.scorer.score(features)
            model_versions = dict(scores.model_versions)
        except PuhuiError as exc:
            problems.append(f"scoring: {exc}")
    if problems:
        log.warning("re-evaluating %s with data problems: %s", applicant_id, problems)
    cap = p.cap_in_force(session, today)
    ids = [x.line_id for x in lines]
    latest = repo.latest_decisions(session, ids)
    repriced = repo.last_repriced(session, ids)
    out = []
    for line in lines:
        facts_of_line = line_facts_from(p, line, cap)
        engaged = _engaged(latest.get(line.line_id))
        since = max(d for d in (repriced.get(line.line_id), facts_of_line.opened_on) if d)
        behaviour = repayment_facts(monitor.repayments_of(session, line), today, since)
        history = LineHistory(behaviour["on_time_months"], behaviour["days_past_due"],
                              behaviour["missed_instalments_6m"], engaged)
        decision = evaluate(facts_of_line, features, scores, history, monitor.policy, today)
        facts = line_facts(facts_of_line, features, scores, history, today)
        out.append(_record_and_apply(p, session, monitor, applicant_id, facts_of_line, engaged,
                                     facts, decision, trigger, model_versions, hashes))
    return out


def line_facts_from(p: Platform, line: Any, cap: Any) -> LineFacts:
    """`LineFacts` from a credit line (the agreed `CreditLine` attributes), the product's
    largest principal and the rate cap in force."""
    try:
        product_max = p.product(line.product_code).max_principal
    except NotFound:
        product_max = line.limit  # a product no longer offered: the line may not grow
    return LineFacts(line.line_id, line.limit, line.drawn, Decimal(line.annual_rate),
                     _status(line), line.opened_on, line.changed_on, product_max, cap)


def line_state(line: Any) -> tuple[str, str, str, str, str]:
    """What a line's re-evaluation depends on that a draw, a repayment or a staff operation
    changes, as text (`LineMonitor.line_states_of`'s form): limit, drawn, annual rate,
    status, changed on."""
    return (str(line.limit), str(line.drawn), str(line.annual_rate), _status(line),
            str(line.changed_on))


def _status(line: Any) -> str:
    status = line.status
    return str(getattr(status, "value", status))


def _engaged(row: Any | None) -> dict[str, date]:
    """The rules engaged after a line's decision (its `engaged` column)."""
    if row is None:
        return {}
    return {code: date.fromisoformat(day) for code, day in json.loads(row.engaged).items()}


def _record_and_apply(p: Platform, session: Session, monitor: LineMonitor, applicant_id: str,
                      line: LineFacts, engaged: Mapping[str, date], facts: Mapping[str, Any],
                      decision: LineDecision, trigger: str, model_versions: Mapping[str, str],
                      data: Mapping[str, str]) -> Reevaluated:
    policy = monitor.policy
    fingerprint = input_sha256(line, engaged, facts, policy.sha256, decision.decided_on)
    existing = repo.decision_by_input(session, line.line_id, fingerprint)
    if existing is not None:
        decision_id, new = existing.decision_id, False
    else:
        decision_id, new = new_id("LD"), True
        record = LineDecisionRecord(
            decision_id, line.line_id, applicant_id, decision.decided_on, trigger,
            policy.version, policy.sha256, dict(model_versions), dict(data), line, dict(engaged),
            dict(facts), decision.outcome())
        repo.add_decisions(session, [_row(record, fingerprint, p.clock.now())])
    if not decision.changes:
        return Reevaluated(decision_id, decision, new)
    applied, refused = apply_decision(p, session, monitor, applicant_id, decision, decision_id)
    return Reevaluated(decision_id, decision, new, applied, refused)


def apply_decision(p: Platform, session: Session, monitor: LineMonitor, applicant_id: str,
                   decision: LineDecision, decision_id: str) -> tuple[dict | None, str | None]:
    """Apply a recorded decision that changes its line and tell the borrower, inside a
    savepoint: (what applying answered, None), or (None, why it was refused) with nothing of
    it left.  Idempotent on the key ``line-decision:<decision id>``."""
    key = f"line-decision:{decision_id}"
    try:
        with session.begin_nested():
            applied = monitor.apply_line_change(
                p, session, SYSTEM, decision.line_id, key=key, reason=decision.reason,
                limit=decision.limit, annual_rate=decision.annual_rate, freeze=decision.freeze,
                decision_id=decision_id)
            if monitor.notify is not None:
                monitor.notify(p, session, applicant_id=applicant_id, kind=NOTICE_KIND, key=key,
                               subject="Your credit line has changed", body=decision.reason,
                               context={"line_id": decision.line_id, "decision_id": decision_id,
                                        "limit": decision.limit,
                                        "annual_rate": None if decision.annual_rate is None
                                        else str(decision.annual_rate),
                                        "freeze": decision.freeze})
    except PuhuiError as exc:
        log.warning("line %s: decision %s not applied: %s", decision.line_id, decision_id, exc)
        return None, f"{type(exc).__name__}: {exc}"
    return applied, None


def apply_decisions(p: Platform, session: Session, monitor: LineMonitor,
                    decisions: Sequence[tuple[str, LineDecision, str]]
                    ) -> list[tuple[dict | None, str | None]]:
    """`apply_decision` for each (applicant id, decision, decision id), in order: the same
    answers and the same lines, events, postings and notices, through the monitor's bulk
    `apply_line_changes` when it has one (in a few statements for all of them).  Should the
    bulk call itself fail (a line moved under it), it leaves nothing and each decision is
    applied on its own instead."""
    if monitor.apply_line_changes is None or not decisions:
        return [apply_decision(p, session, monitor, a, d, i) for a, d, i in decisions]
    from puhui.services.lines import LineChange
    from puhui.services.notifications import Notice

    requests = []
    for applicant_id, d, decision_id in decisions:
        key = f"line-decision:{decision_id}"
        notice = None if monitor.notify is None else Notice(
            applicant_id, NOTICE_KIND, key, "Your credit line has changed", d.reason,
            {"line_id": d.line_id, "decision_id": decision_id, "limit": d.limit,
             "annual_rate": None if d.annual_rate is None else str(d.annual_rate),
             "freeze": d.freeze})
        requests.append(LineChange(d.line_id, key, d.reason, d.limit, d.annual_rate, d.freeze,
                                   decision_id, notice=notice))
    try:
        with session.begin_nested():
            results = monitor.apply_line_changes(p, session, SYSTEM, requests)
    except PuhuiError as exc:
        log.warning("%s line decisions not applied together (%s: %s); one at a time instead",
                    len(decisions), type(exc).__name__, exc)
        return [apply_decision(p, session, monitor, a, d, i) for a, d, i in decisions]
    out: list[tuple[dict | None, str | None]] = []
    for (_, d, decision_id), result in zip(decisions, results, strict=True):
        if result.refused is not None:
            log.warning("line %s: decision %s not applied: %s", d.line_id, decision_id,
                        result.refused)
        out.append((result.applied, result.why))
    return out


def _row(record: LineDecisionRecord, fingerprint: str, now: Any) -> dict[str, Any]:
    return dict(zip(repo.DECISION_COLUMNS, _record_values(
        record.to_json(), record.decision_id, record.line_id, record.applicant_id,
        record.decided_on, record.trigger, record.policy_version, record.policy_sha256,
        record.outcome, fingerprint, now)))


def _record_values(text: str, decision_id: str, line_id: str, applicant_id: str,
                   decided_on: date, trigger: str, policy_version: str, policy_sha256: str,
                   o: Mapping[str, Any], fingerprint: str, now: Any) -> tuple[Any, ...]:
    """A line decision row (`repo.DECISION_COLUMNS`, in order) from its record's JSON and
    parts: `_row`'s values, for a batch that makes the JSON without the record object
    (`record.record_dict`) and sends its rows between processes as tuples."""
    return (decision_id, line_id, applicant_id, decided_on, now, trigger[:40], policy_version,
            policy_sha256,
            o["limit"] is not None or o["annual_rate"] is not None or o["freeze"] is not None,
            o["limit"], o["annual_rate"], o["freeze"], canonical(o["engaged"]), fingerprint,
            text, hashlib.sha256(text.encode("utf-8")).hexdigest())


# -- reading and replaying the records -------------------------------------------------------------
def stored_line_decision(session: Session, actor: Principal, decision_id: str
                         ) -> LineDecisionRecord:
    """A line decision record, for staff (credit officers and admins) and for the applicant's
    own partner or the borrower; NotFound otherwise."""
    actor.require(Perm.READ)
    row = repo.decision(session, decision_id)
    if row is None:
        raise NotFound(f"no line decision {decision_id!r}")
    applicant_row(session, actor, row.applicant_id)
    if hashlib.sha256(row.record.encode("utf-8")).hexdigest() != row.record_sha256:
        from puhui.lines.policy import InvalidLineDecision
        raise InvalidLineDecision(f"line decision {decision_id} no longer matches its sha256")
    return LineDecisionRecord.from_json(row.record)


def line_decisions(session: Session, actor: Principal, line_id: str,
                   limit: int = 50) -> list[dict[str, Any]]:
    """A line's decisions, newest first (their outcomes)."""
    actor.require(Perm.READ)
    rows = repo.decisions_of(session, line_id, limit)
    if rows:
        applicant_row(session, actor, rows[0].applicant_id)
    return [{"decision_id": r.decision_id, "decided_on": r.decided_on.isoformat(),
             "trigger": r.trigger, "policy_version": r.policy_version, "changes": r.changes,
             **{k: v for k, v in json.loads(r.record)["outcome"].items()
                if k in ("fired", "released", "limit", "annual_rate", "freeze")}} for r in rows]


def replay_line_decision(session: Session, actor: Principal, decision_id: str,
                         monitor: LineMonitor | None = None, policy: LinePolicy | None = None
                         ) -> dict[str, Any]:
    """Re-derive a recorded line decision under its recorded policy version: the full decision
    with its trace, and whether its outcome is the recorded one.  The policy comes from
    `policy`, else the monitor's registry (tamper-checked), else the monitor's own policy when
    it is the recorded version; the shipped default when that is the one."""
    record = stored_line_decision(session, actor, decision_id)
    chosen = policy
    if chosen is None and monitor is not None and monitor.policies is not None:
        chosen = monitor.policies.load(record.policy_version)
    if chosen is None:
        for candidate in ([monitor.policy] if monitor is not None else []) + \
                [default_line_policy()]:
            if candidate.sha256 == record.policy_sha256:
                chosen = candidate
                break
    if chosen is None:
        raise NotFound(f"the line policy {record.policy_version} is not available to replay")
    decision = replay(record, chosen)
    return {"decision_id": decision_id, "policy_version": record.policy_version,
            "matches": decision.outcome() == record.outcome, "recorded": record.outcome,
            "replayed": decision.to_dict()}


__all__ = ["LineMonitor", "Reevaluated", "push_data", "refresh_lines", "reevaluate_applicant",
           "apply_decision", "apply_decisions", "replay_line_decision", "stored_line_decision",
           "line_decisions", "monitored_applicants", "line_state", "NOTICE_KIND"]
