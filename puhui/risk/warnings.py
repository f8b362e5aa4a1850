"""In-loan monitoring and early warning: signals, a versioned rule set, a watch-list status.

Why a pure module: the same facts (a business's latest data, a loan's own behaviour) must give
the same signals and the same status on any day they are replayed, so the daily job
(`puhui.services.warnings`) only gathers facts, asks `assess` and stores the answer.

Three steps:

* **Signals** (`compute_signals`): each measures one value from the facts (a fall in sales, days
  since the last tax filing, the unpaid part of the last instalment ...) and the rule set's tiers
  for that signal turn the value into a severity (low, medium, high) or nothing.  A tier fires
  when the value is at or above its `at` (the edge counts).  A signal whose source is missing or
  stale measures nothing: absence of data is not evidence of trouble.
* **Status** (`assess`): the severities' weights add up to a score; the score's entry thresholds
  give the target status (normal < watch < alert).  Escalation is immediate; de-escalation needs
  the score to stay below the current status's exit threshold (lower than its entry threshold)
  for `calm_days` days in a row, so a loan near a threshold does not flap daily (hysteresis).
* **Actions**: on entering a status (and only then) the rule set's actions for it are produced
  as data, each with an idempotency key (`warn:<loan>:<day>:<kind>`); the service applies them
  through callables the platform wires (line changes, collections).

The rule set is data (`puhui/risk/warning_rules/*.json`), versioned and hashed like the credit
policies: each stored status names the version and SHA-256 of the rules that produced it.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from typing import Any, Mapping, Sequence

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData
from puhui.risk.errors import RiskError
from puhui.risk.features import features_for

DEFAULT_RULES = "ew-2026.12.json"


class InvalidWarningRules(RiskError, ValueError):
    """A warning rule set that cannot be used; the message names the field."""


class Severity(str, enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class WatchStatus(str, enum.Enum):
    NORMAL = "normal"
    WATCH = "watch"
    ALERT = "alert"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {WatchStatus.NORMAL: 0, WatchStatus.WATCH: 1, WatchStatus.ALERT: 2}
STATUSES = tuple(WatchStatus)


class Signal(str, enum.Enum):
    """The signals the platform measures; each rule set sets tiers for the ones it uses."""

    SALES_DROP = "sales_drop"                      # 1 - avg net sales 3m / avg 12m
    UTILITY_DROP = "utility_drop"                  # 1 - last month's kWh / avg of months before
    TAX_FILINGS_STOPPED = "tax_filings_stopped"    # days since the latest VAT filing
    BUREAU_NEW_ARREARS = "bureau_new_arrears"      # most overdue days since the payout month
    BUREAU_ENQUIRIES = "bureau_enquiries"          # loan-approval enquiries since the payout
    ENTRUSTED_NOT_TO_SUPPLIER = "entrusted_not_to_supplier"  # payout landed with the borrower
    ENTRUSTED_FUNDS_RETURNED = "entrusted_funds_returned"    # share paid back by the payee
    MISSED_INSTALMENT = "missed_instalment"        # days past due
    PARTIAL_INSTALMENT = "partial_instalment"      # fen short on the last instalment due
    AUTO_DEBIT_FAILED = "auto_debit_failed"        # failed auto-debits in the window


class Action(str, enum.Enum):
    FREEZE_LINE = "freeze_line"
    UNFREEZE_LINE = "unfreeze_line"
    REDUCE_LIMIT = "reduce_limit"
    CALL = "call"
    TIGHTEN_COLLECTION = "tighten_collection"


# -- the rule set ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tier:
    at: float
    severity: Severity


@dataclass(frozen=True)
class SignalRule:
    """Tiers (ascending `at`, the highest reached wins) and the signal's parameters."""

    tiers: tuple[Tier, ...]
    params: Mapping[str, float] = field(default_factory=dict)

    def severity(self, value: float) -> Severity | None:
        hit = None
        for tier in self.tiers:
            if value >= tier.at:
                hit = tier.severity
        return hit

    def param(self, name: str, default: float) -> float:
        return float(self.params.get(name, default))


@dataclass(frozen=True)
class StatusRule:
    enter: float
    exit: float


@dataclass(frozen=True)
class ActionSpec:
    kind: Action
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WarningRules:
    """A versioned early-warning rule set (see the module's doc)."""

    name: str
    version: str
    effective_from: date
    signals: Mapping[Signal, SignalRule]
    weights: Mapping[Severity, float]
    statuses: Mapping[WatchStatus, StatusRule]   # watch and alert
    calm_days: int
    on_enter: Mapping[WatchStatus, tuple[ActionSpec, ...]]
    on_leave: Mapping[WatchStatus, tuple[ActionSpec, ...]]
    max_data_age_days: int
    sha256: str

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "WarningRules":
        """Validate a rule set; `InvalidWarningRules` naming the first bad field."""
        if not isinstance(raw, Mapping):
            raise InvalidWarningRules("a rule set is a JSON object")
        known = {"name", "version", "description", "effective_from", "signals", "weights",
                 "statuses", "calm_days", "on_enter", "on_leave", "max_data_age_days"}
        extra = set(raw) - known
        if extra:
            raise InvalidWarningRules(f"unknown fields {sorted(extra)}")
        name, version = _text(raw, "name"), _text(raw, "version")
        try:
            effective = date.fromisoformat(str(raw.get("effective_from")))
        except ValueError:
            raise InvalidWarningRules("effective_from must be a date YYYY-MM-DD") from None
        signals: dict[Signal, SignalRule] = {}
        for code, body in _mapping(raw, "signals").items():
            try:
                signal = Signal(code)
            except ValueError:
                raise InvalidWarningRules(f"signals: unknown signal {code!r}; known: "
                                          f"{[s.value for s in Signal]}") from None
            signals[signal] = _signal_rule(code, body)
        weights = {}
        for sev in Severity:
            w = _mapping(raw, "weights").get(sev.value)
            if not _number(w) or w < 0:
                raise InvalidWarningRules(f"weights.{sev.value} must be a number >= 0")
            weights[sev] = float(w)
        statuses = {}
        for st in (WatchStatus.WATCH, WatchStatus.ALERT):
            body = _mapping(raw, "statuses").get(st.value)
            if not isinstance(body, Mapping) or not _number(body.get("enter")) \
                    or not _number(body.get("exit")):
                raise InvalidWarningRules(f"statuses.{st.value} needs numbers enter and exit")
            if not 0 < body["exit"] <= body["enter"]:
                raise InvalidWarningRules(f"statuses.{st.value}: 0 < exit <= enter is needed "
                                          "(the exit threshold is the hysteresis band)")
            statuses[st] = StatusRule(float(body["enter"]), float(body["exit"]))
        if statuses[WatchStatus.ALERT].enter <= statuses[WatchStatus.WATCH].enter:
            raise InvalidWarningRules("statuses.alert.enter must be above statuses.watch.enter")
        calm = raw.get("calm_days")
        if not isinstance(calm, int) or isinstance(calm, bool) or not 1 <= calm <= 365:
            raise InvalidWarningRules("calm_days must be a whole number of days from 1 to 365")
        age = raw.get("max_data_age_days", 45)
        if not isinstance(age, int) or isinstance(age, bool) or not 1 <= age <= 400:
            raise InvalidWarningRules("max_data_age_days must be a whole number from 1 to 400")
        return cls(name, version, effective, signals, weights, statuses, calm,
                   _actions(raw, "on_enter"), _actions(raw, "on_leave"), age,
                   hashlib.sha256(_canonical(raw)).hexdigest())

    def score(self, fired: Sequence["FiredSignal"]) -> float:
        return sum(self.weights[s.severity] for s in fired)

    def target(self, score: float) -> WatchStatus:
        """The status the score enters (entry thresholds)."""
        if score >= self.statuses[WatchStatus.ALERT].enter:
            return WatchStatus.ALERT
        if score >= self.statuses[WatchStatus.WATCH].enter:
            return WatchStatus.WATCH
        return WatchStatus.NORMAL


def _canonical(raw: Any) -> bytes:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def _text(raw: Mapping[str, Any], name: str) -> str:
    v = raw.get(name)
    if not isinstance(v, str) or not 0 < len(v) <= 100:
        raise InvalidWarningRules(f"{name} must be text of 1-100 characters")
    return v


def _mapping(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    v = raw.get(name)
    if not isinstance(v, Mapping):
        raise InvalidWarningRules(f"{name} must be an object")
    return v


def _signal_rule(code: str, body: Any) -> SignalRule:
    if not isinstance(body, Mapping) or not isinstance(body.get("tiers"), list) \
            or not body["tiers"]:
        raise InvalidWarningRules(f"signals.{code} needs a non-empty list of tiers")
    tiers = []
    for n, t in enumerate(body["tiers"]):
        if not isinstance(t, Mapping) or not _number(t.get("at")):
            raise InvalidWarningRules(f"signals.{code}.tiers[{n}] needs a number 'at'")
        try:
            tiers.append(Tier(float(t["at"]), Severity(t.get("severity"))))
        except ValueError:
            raise InvalidWarningRules(f"signals.{code}.tiers[{n}].severity must be one of "
                                      f"{[s.value for s in Severity]}") from None
    if any(b.at <= a.at for a, b in zip(tiers, tiers[1:])):
        raise InvalidWarningRules(f"signals.{code}.tiers must rise strictly in 'at'")
    params = body.get("params", {})
    if not isinstance(params, Mapping) or not all(_number(v) for v in params.values()):
        raise InvalidWarningRules(f"signals.{code}.params must map names to numbers")
    return SignalRule(tuple(tiers), dict(params))


def _actions(raw: Mapping[str, Any], name: str) -> dict[WatchStatus, tuple[ActionSpec, ...]]:
    out: dict[WatchStatus, tuple[ActionSpec, ...]] = {}
    for status, items in (raw.get(name) or {}).items():
        try:
            st = WatchStatus(status)
        except ValueError:
            raise InvalidWarningRules(f"{name}: unknown status {status!r}") from None
        specs = []
        for n, item in enumerate(items if isinstance(items, list) else [None]):
            if not isinstance(item, Mapping):
                raise InvalidWarningRules(f"{name}.{status}[{n}] must be an object with 'kind'")
            try:
                kind = Action(item.get("kind"))
            except ValueError:
                raise InvalidWarningRules(f"{name}.{status}[{n}].kind must be one of "
                                          f"{[a.value for a in Action]}") from None
            params = item.get("params", {})
            if not isinstance(params, Mapping):
                raise InvalidWarningRules(f"{name}.{status}[{n}].params must be an object")
            if kind is Action.REDUCE_LIMIT:
                factor = params.get("factor")
                if not _number(factor) or not 0 < factor < 1:
                    raise InvalidWarningRules(f"{name}.{status}[{n}]: reduce_limit needs a "
                                              "factor between 0 and 1 (exclusive)")
            specs.append(ActionSpec(kind, dict(params)))
        out[st] = tuple(specs)
    return out


def load_rules(source: str | Mapping[str, Any] | None = None) -> WarningRules:
    """The shipped rule set (default), one shipped by file name, or one given as a mapping."""
    if isinstance(source, Mapping):
        return WarningRules.from_dict(source)
    name = source or DEFAULT_RULES
    try:
        text = resources.files("puhui.risk").joinpath("warning_rules").joinpath(name).read_text(
            "utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise InvalidWarningRules(f"no shipped warning rule set {name!r}") from None
    return WarningRules.from_dict(json.loads(text))


# -- the facts ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Payout:
    """How the loan was paid out: entrusted payments name the supplier paid."""

    mode: str                        # bound_account | entrusted
    value_date: date
    paid_out: int                    # fen
    payee_hash: str | None = None    # the payee account as bank statements name counterparties
    own_account_hash: str | None = None  # the borrower's bound account, named the same way


@dataclass(frozen=True)
class LoanBehaviour:
    """What the loan itself shows on the day."""

    days_past_due: int = 0
    last_due_on: date | None = None  # the latest instalment due on or before the day
    last_due_shortfall: int = 0      # fen of it still unpaid
    last_due_paid: int = 0           # fen of it paid
    failed_debits: Sequence[date] = ()  # dates of failed auto-debits


@dataclass(frozen=True)
class LoanFacts:
    loan_id: str
    as_of: date
    applicant_id: str | None = None
    disbursed_on: date | None = None
    behaviour: LoanBehaviour = LoanBehaviour()
    data: Mapping[DataScope, SourceData] = field(default_factory=dict)
    payout: Payout | None = None
    #: features of the sales source as of its data date (`risk.features.features_for`)
    features: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class FiredSignal:
    signal: Signal
    severity: Severity
    value: float
    threshold: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"signal": self.signal.value, "severity": self.severity.value,
                "value": round(self.value, 6), "threshold": self.threshold,
                "detail": self.detail}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FiredSignal":
        return cls(Signal(d["signal"]), Severity(d["severity"]), float(d["value"]),
                   float(d["threshold"]), str(d["detail"]))


def _fresh(data: Mapping[DataScope, SourceData], scope: DataScope, as_of: date,
           rules: WarningRules) -> SourceData | None:
    src = data.get(scope)
    if src is None or (as_of - src.as_of).days > rules.max_data_age_days:
        return None
    return src


def _measure(signal: Signal, rule: SignalRule, facts: LoanFacts,
             rules: WarningRules) -> tuple[float, str] | None:
    """The signal's value and a sentence saying what it is, or None when it cannot be measured."""
    on, data, b = facts.as_of, facts.data, facts.behaviour
    if signal is Signal.SALES_DROP:
        if _fresh(data, DataScope.SALES, on, rules) is None:
            return None
        recent, year = facts.features.get("revenue_avg_3m_fen"), facts.features.get(
            "revenue_avg_12m_fen")
        if recent is None or not year or year <= 0:
            return None
        drop = 1 - recent / year
        return drop, f"average monthly sales over 3 months {int(recent)} fen, {drop:.0%} below " \
                     f"the 12-month average {int(year)} fen"
    if signal is Signal.UTILITY_DROP:
        src = _fresh(data, DataScope.UTILITY, on, rules)
        if src is None:
            return None
        usage: dict[date, int] = {}
        for r in src.rows():
            if r.utility == "electricity":
                usage[r.period_month] = usage.get(r.period_month, 0) + r.usage
        months = sorted(usage)
        window = int(rule.param("baseline_months", 3))
        if len(months) < 2:
            return None
        last, before = months[-1], months[-1 - window:-1]
        base = sum(usage[m] for m in before) / len(before)
        if base <= 0:
            return None
        drop = 1 - usage[last] / base
        return drop, f"electricity use in {last:%Y-%m} {usage[last]} kWh, {drop:.0%} below the " \
                     f"average {base:.0f} kWh of the {len(before)} months before"
    if signal is Signal.TAX_FILINGS_STOPPED:
        src = _fresh(data, DataScope.TAX, on, rules)
        if src is None:
            return None
        filed = [r.filed_on for r in src.rows() if r.tax_type == "vat"]
        if not filed:
            return None
        days = (on - max(filed)).days
        return float(days), f"last VAT filing on {max(filed).isoformat()}, {days} days ago"
    if signal in (Signal.BUREAU_NEW_ARREARS, Signal.BUREAU_ENQUIRIES):
        src = _fresh(data, DataScope.BUREAU, on, rules)
        if src is None or facts.disbursed_on is None or not src.rows():
            return None
        report = max(src.rows(), key=lambda r: r.reported_on)
        since = facts.disbursed_on
        if signal is Signal.BUREAU_NEW_ARREARS:
            start = since.replace(day=1)
            worst = max((m.overdue_days for m in report.overdue_history if m.month >= start),
                        default=0)
            return float(worst), f"{worst} days overdue elsewhere since {start:%Y-%m}"
        window = int(rule.param("window_days", 90))
        start = max(since + timedelta(days=1), on - timedelta(days=window - 1))
        n = sum(1 for e in report.enquiries
                if e.reason == "loan_approval" and start <= e.enquired_on <= on)
        return float(n), f"{n} loan-approval enquiries since {start.isoformat()}"
    if signal in (Signal.ENTRUSTED_NOT_TO_SUPPLIER, Signal.ENTRUSTED_FUNDS_RETURNED):
        pay = facts.payout
        src = data.get(DataScope.BANK_STATEMENT)
        if (pay is None or pay.mode != "entrusted" or src is None or pay.paid_out <= 0
                or pay.payee_hash is None):  # an unknown payee: nothing to compare with
            return None
        window = int(rule.param("window_days", 30))
        end = pay.value_date + timedelta(days=window)
        inflows = [r for r in src.rows()
                   if pay.value_date <= r.booked_on <= end and r.amount_fen > 0]
        if signal is Signal.ENTRUSTED_NOT_TO_SUPPLIER:
            if pay.payee_hash is not None and pay.payee_hash == pay.own_account_hash:
                return 1.0, "the entrusted payee is the borrower's own account"
            tolerance = rule.param("amount_tolerance", 0.01)
            landed = [r for r in inflows
                      if abs(r.amount_fen - pay.paid_out) <= tolerance * pay.paid_out
                      and r.counterparty_hash != pay.payee_hash]
            if landed:
                return 1.0, (f"{landed[0].amount_fen} fen reached the borrower's account on "
                             f"{landed[0].booked_on.isoformat()}, not the stated supplier")
            return 0.0, "no sign of the payout in the borrower's account"
        back = sum(r.amount_fen for r in inflows if r.counterparty_hash == pay.payee_hash)
        share = back / pay.paid_out
        return share, f"{back} fen ({share:.0%} of the payout) came back from the payee " \
                      f"within {window} days"
    if signal is Signal.MISSED_INSTALMENT:
        return float(b.days_past_due), f"{b.days_past_due} days past due"
    if signal is Signal.PARTIAL_INSTALMENT:
        if b.last_due_on is None or b.last_due_paid <= 0 or b.last_due_shortfall <= 0:
            return None
        return float(b.last_due_shortfall), (f"instalment due {b.last_due_on.isoformat()} paid "
                                             f"in part: {b.last_due_shortfall} fen short")
    if signal is Signal.AUTO_DEBIT_FAILED:
        window = int(rule.param("window_days", 30))
        n = sum(1 for d in b.failed_debits if on - timedelta(days=window - 1) <= d <= on)
        return float(n), f"{n} failed auto-debits in {window} days"
    raise AssertionError(signal)  # pragma: no cover - every signal is handled above


def compute_signals(facts: LoanFacts, rules: WarningRules) -> list[FiredSignal]:
    """The signals that fire for the loan on `facts.as_of`, in the rule set's order."""
    fired = []
    for signal, rule in rules.signals.items():
        measured = _measure(signal, rule, facts, rules)
        if measured is None:
            continue
        value, detail = measured
        severity = rule.severity(value)
        if severity is not None:
            threshold = max(t.at for t in rule.tiers if value >= t.at)
            fired.append(FiredSignal(signal, severity, value, threshold, detail))
    return fired


# -- the status -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WatchState:
    """A loan's stored status: since when, and since when it has been calm (score below the
    status's exit threshold every day), if it is."""

    status: WatchStatus
    since: date
    calm_since: date | None = None


@dataclass(frozen=True)
class PlannedAction:
    loan_id: str
    applicant_id: str | None
    kind: Action
    params: Mapping[str, Any]
    key: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"loan_id": self.loan_id, "applicant_id": self.applicant_id,
                "kind": self.kind.value, "params": dict(self.params), "key": self.key,
                "reason": self.reason}


@dataclass(frozen=True)
class Assessment:
    loan_id: str
    as_of: date
    status: WatchStatus
    previous: WatchStatus
    since: date
    calm_since: date | None
    score: float
    signals: tuple[FiredSignal, ...]
    actions: tuple[PlannedAction, ...]
    rules_version: str
    rules_sha256: str

    @property
    def changed(self) -> bool:
        return self.status is not self.previous

    @property
    def state(self) -> WatchState:
        return WatchState(self.status, self.since, self.calm_since)


def next_state(score: float, previous: WatchState | None, on: date,
               rules: WarningRules) -> WatchState:
    """The status after today's score, with hysteresis (see the module's doc)."""
    current = previous.status if previous is not None else WatchStatus.NORMAL
    target = rules.target(score)
    if target.rank > current.rank:
        return WatchState(target, on, None)
    if current is WatchStatus.NORMAL:
        return previous or WatchState(WatchStatus.NORMAL, on, None)
    assert previous is not None
    if score >= rules.statuses[current].exit:  # still troubled: the calm run is broken
        return WatchState(current, previous.since, None)
    calm_since = previous.calm_since or on
    if (on - calm_since).days + 1 >= rules.calm_days:
        down = target if target.rank < current.rank else current
        return WatchState(down, on, None)
    return WatchState(current, previous.since, calm_since)


def assess(facts: LoanFacts, previous: WatchState | None, rules: WarningRules) -> Assessment:
    """Signals, score, status and the actions due on entering (or leaving) a status."""
    fired = compute_signals(facts, rules)
    score = rules.score(fired)
    before = previous.status if previous is not None else WatchStatus.NORMAL
    state = next_state(score, previous, facts.as_of, rules)
    actions: list[PlannedAction] = []
    if state.status is not before:
        reason = (f"{before.value} -> {state.status.value} (score {score:g}): "
                  + ("; ".join(f.detail for f in fired) or "no signal"))
        specs: list[ActionSpec] = []
        if state.status.rank < before.rank:
            for st in STATUSES:  # leaving every status above the new one
                if state.status.rank < st.rank <= before.rank:
                    specs.extend(rules.on_leave.get(st, ()))
        else:
            specs.extend(rules.on_enter.get(state.status, ()))
        seen: set[Action] = set()
        for spec in specs:
            if spec.kind in seen:
                continue
            seen.add(spec.kind)
            actions.append(PlannedAction(
                facts.loan_id, facts.applicant_id, spec.kind, spec.params,
                f"warn:{facts.loan_id}:{facts.as_of.isoformat()}:{spec.kind.value}", reason))
    return Assessment(facts.loan_id, facts.as_of, state.status, before, state.since,
                      state.calm_since, score, tuple(fired), tuple(actions), rules.version,
                      rules.sha256)


def sales_features(data: Mapping[DataScope, SourceData]) -> dict[str, float | None]:
    """The point-in-time features of the sales source as of its own date (`risk.features`):
    what `sales_drop` compares.  Taken at the data's date, not the day of the run, so months
    the data does not reach yet do not read as months without sales."""
    sales = data.get(DataScope.SALES)
    if sales is None:
        return {}
    return features_for({DataScope.SALES: sales}, sales.as_of)


def payee_hash(account_number: str) -> str:
    """How a bank statement names an account as counterparty: the SHA-256 of its digits."""
    digits = "".join(ch for ch in account_number if ch.isdigit())
    return hashlib.sha256(digits.encode("ascii")).hexdigest()
