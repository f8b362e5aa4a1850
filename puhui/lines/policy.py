"""Line policies: how a credit line follows the business, as a versioned document, and the pure
evaluator that applies one to a line's fresh facts.

Why data, like the credit policies (`puhui.decision.policy`): the risk owner tunes the triggers
("electricity use up 30% month on month", "six months repaid on time", "sales down by half")
far more often than engineers touch the engine, and every change to a line must name the exact
rules it was made under.  A line policy is a JSON document (docs/line-policy.md), validated
strictly; its identity is its `version` plus the SHA-256 of its canonical JSON, so the line
decision records name it and replay it, and `puhui.lines.registry.LinePolicyRegistry` stores,
tamper-checks and activates versions exactly as the credit policy registry does.

Each rule maps a condition on the line's facts (features, scores, loan behaviour, the line
itself) to one action: change the limit by a percentage, re-price by percentage points, freeze
or unfreeze.  What keeps a line from flapping:

- **hysteresis**: a rule with a `release` condition *engages* when it fires and does not fire
  again until its release holds (the signal back below a lower threshold); on release it may
  take its `on_release` action (an unfreeze after a freeze).  The engaged rules are part of the
  line's history, carried from one decision to the next;
- **minimum interval**: no change within `min_days_between_changes` of the last one, except by
  an `urgent` rule, which only a risk-reducing action (freeze, a cut, a price rise) may be;
- **bounds per step** (a limit moves at most `max_step_up`/`max_step_down` of itself, a price
  at most `max_step` a change) and **absolute bounds** (limit within `min_fen`..`max_fen` and
  the product's maximum; price within `min_rate`..`max_rate` and never above the rate cap in
  force; a price above the cap is brought down to it whatever the rules say: `RATE_ABOVE_CAP`).

`evaluate(line, features, scores, history, policy, today)` never reads a clock, a database or a
model: the same inputs give the same `LineDecision`, whose trace says for every rule whether it
fired, was held (interval, frozen line) or did not apply and why.  Arithmetic is exact integers:
limits in fen, rates and percentages in millionths.  A whole book is re-evaluated line by line
with it (`services.line_refresh`): at ~0.1 ms a line, the policy is a small part of a refresh.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from importlib import resources
from math import isfinite
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from puhui.decision import values
from puhui.decision.documents import (
    Code, FactName, Fen, Message, Version, exact_decimal, load_document, placeholder_problems,
)
from puhui.decision.conditions import Condition, Leaf
from puhui.decision.errors import InvalidDecisionRecord, InvalidFacts, InvalidPolicy
from puhui.decision.facts import FEATURE_FACTS, SCORE_FACTS
from puhui.loans.product import RateCap

DEFAULT_LINE_POLICY_FILE = "lines-2026.12.json"
MICRO = 1_000_000  # rates and percentages are exact whole millionths


class InvalidLinePolicy(InvalidPolicy):
    """A line policy document that fails validation; the message lists every problem."""


class InvalidLineFacts(InvalidFacts):
    """A line, history or date the evaluator cannot work with (not bad business data: that is
    missing, and rules on it do not fire)."""


class InvalidLineDecision(InvalidDecisionRecord):
    """A stored line decision record that cannot be read back."""


# -- the facts a line rule may read ----------------------------------------------------------------
#: The line itself, as it stands before the decision.
LINE_STATE_FACTS: dict[str, str] = {
    "line_limit_fen": "money", "line_drawn_fen": "money", "line_utilisation": "number",
    "line_annual_rate": "number", "line_status": "string", "days_since_change": "number",
    "line_age_days": "number"}
#: Signals of fresh data between months (`puhui.lines.signals`).
MONITORING_FACTS: dict[str, str] = {
    "electricity_growth_mom": "number", "revenue_change_vs_12m": "number",
    "revenue_last_month_fen": "money", "months_since_tax_filing": "number"}
#: The borrower's own repayment behaviour under the line (`signals.repayment_facts`).
BEHAVIOUR_FACTS: dict[str, str] = {
    "on_time_months": "number", "days_past_due": "number", "missed_instalments_6m": "number"}
#: Every standard fact of a line decision and its kind (`puhui.decision.values`).
LINE_FACT_KINDS: dict[str, str] = {**LINE_STATE_FACTS, **MONITORING_FACTS, **BEHAVIOUR_FACTS,
                                   **FEATURE_FACTS, **SCORE_FACTS}
#: Codes the evaluator gives itself; a document's rules may not reuse them.
BUILTIN_CODES = frozenset({"RATE_ABOVE_CAP", "LINE_NOT_OPEN"})
#: Line statuses (part of the agreed `CreditLine` interface) the evaluator acts on.
OPEN_STATUSES = ("active", "frozen")
STATUSES = ("active", "frozen", "expired", "closed")


LimitChange = exact_decimal(Decimal(-1), Decimal(10), low_open=True, nonzero=True)
RateChange = exact_decimal(Decimal("-0.1"), Decimal("0.1"), low_open=True, high_open=True,
                           nonzero=True)
StepShare = exact_decimal(Decimal(0), Decimal(10), low_open=True)
CutShare = exact_decimal(Decimal(0), Decimal(1), low_open=True, high_open=True)
Rate = exact_decimal(Decimal(0), Decimal("0.36"))
RateStep = exact_decimal(Decimal(0), Decimal("0.1"), low_open=True)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Action(_Strict):
    """Exactly one of: `limit_change` (a share of the current limit, "0.20" = +20%),
    `rate_change` (percentage points as a fraction a year, "-0.005" = -0.5 pp), `freeze`,
    `unfreeze`."""

    limit_change: LimitChange | None = None
    rate_change: RateChange | None = None
    freeze: Literal[True] | None = None
    unfreeze: Literal[True] | None = None

    @model_validator(mode="after")
    def _one(self) -> "Action":
        given = [k for k in ("limit_change", "rate_change", "freeze", "unfreeze")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an action is exactly one of limit_change, rate_change, freeze, "
                             f"unfreeze; got {given or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("limit_change", "rate_change", "freeze", "unfreeze")
                    if getattr(self, k) is not None)

    @property
    def reduces_risk(self) -> bool:
        """A freeze, a limit cut or a price rise: what an urgent rule may do."""
        return bool(self.freeze) or (self.limit_change is not None and self.limit_change < 0) \
            or (self.rate_change is not None and self.rate_change > 0)

    @property
    def favours_borrower(self) -> bool:
        """A limit rise or a price cut: held while the line is frozen."""
        return (self.limit_change is not None and self.limit_change > 0) or \
            (self.rate_change is not None and self.rate_change < 0)

    def describe(self) -> str:
        if self.limit_change is not None:
            return f"limit {_signed_percent(self.limit_change)}"
        if self.rate_change is not None:
            return f"price {_signed_points(self.rate_change)}"
        return "freeze" if self.freeze else "unfreeze"


class LineRule(_Strict):
    """When `when` holds (and the rule is not engaged), take `action`.  With `release`, the
    rule engages on firing and re-arms only once `release` holds, taking `on_release` then."""

    code: Code
    message: Message
    when: Condition
    action: Action
    release: Condition | None = None
    on_release: Action | None = None
    urgent: bool = False


class LimitBounds(_Strict):
    """Absolute bounds (whole fen, multiples of `unit_fen`), and the most one change may move
    the limit, as a share of the current limit."""

    min_fen: Fen
    max_fen: Fen
    unit_fen: Annotated[int, Field(strict=True, ge=1, le=100_000_000)] = 10_000
    max_step_up: StepShare
    max_step_down: CutShare


class RateBounds(_Strict):
    """Absolute bounds on the price (never above the rate cap in force either) and the most
    one change may move it."""

    min_rate: Rate
    max_rate: Rate
    max_step: RateStep


class LinePolicy(_Strict):
    """A validated line policy document (docs/line-policy.md)."""

    name: Version
    version: Version
    description: Annotated[str, StringConstraints(strict=True, max_length=2000)] = ""
    effective_from: date
    facts: dict[FactName, values.Kind] = {}
    min_days_between_changes: Annotated[int, Field(strict=True, ge=0, le=366)]
    limits: LimitBounds
    pricing: RateBounds
    rules: list[LineRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> "LinePolicy":
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @cached_property
    def kinds(self) -> dict[str, str]:
        return {**LINE_FACT_KINDS, **self.facts}

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @cached_property
    def identity(self) -> str:
        return f"{self.version}+{self.sha256[:12]}"

    @cached_property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.rules)

    @cached_property
    def rule_reads(self) -> tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...]:
        """Per rule, what every decision under this policy asks of it again and again: the
        facts its condition reads, those its release reads (none without one) and its
        action's description (worked out once, not once a line)."""
        return tuple((tuple(r.when.facts()),
                      () if r.release is None else tuple(r.release.facts()),
                      r.action.describe()) for r in self.rules)


def load_line_policy(source: LinePolicy | Mapping[str, Any] | str | bytes) -> LinePolicy:
    """A validated line policy from a document (a mapping, or JSON text); `InvalidLinePolicy`
    listing every problem with its place otherwise."""
    return load_document(LinePolicy, source, InvalidLinePolicy, "line policy")


def read_line_policy(path: str | Path) -> LinePolicy:
    try:
        return load_line_policy(Path(path).read_bytes())
    except FileNotFoundError:
        raise InvalidLinePolicy(f"no line policy file at {path}") from None


def default_line_policy() -> LinePolicy:
    """The demo line policy shipped with Puhui (`puhui/lines/policies/lines-2026.12.json`)."""
    text = resources.files("puhui.lines").joinpath("policies").joinpath(DEFAULT_LINE_POLICY_FILE)
    return load_line_policy(text.read_bytes())


# -- what the evaluator is given -------------------------------------------------------------------
@dataclass(frozen=True)
class LineFacts:
    """What the evaluator needs to know of a credit line (read from part of the line's record,
    so the policy does not depend on how lines are stored): its limit and drawn principal in
    fen, its price, status, when it was opened and last changed, the product's largest
    principal and the rate cap in force today."""

    line_id: str
    limit: int
    drawn: int
    annual_rate: Decimal
    status: str
    opened_on: date
    changed_on: date | None
    product_max: int
    rate_cap: RateCap

    def __post_init__(self) -> None:
        for name in ("limit", "drawn", "product_max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= values.MONEY_BOUND:
                raise InvalidLineFacts(f"line {name} must be whole fen from 0, got {v!r}")
        if not isinstance(self.annual_rate, Decimal) or not self.annual_rate.is_finite() or \
                self.annual_rate < 0 or self.annual_rate * MICRO != int(self.annual_rate * MICRO):
            raise InvalidLineFacts(f"line annual_rate must be a Decimal of at most 6 decimals, "
                                   f"got {self.annual_rate!r}")
        if self.status not in STATUSES:
            raise InvalidLineFacts(f"line status must be one of {STATUSES}, got {self.status!r}")
        if not isinstance(self.opened_on, date) or not (
                self.changed_on is None or isinstance(self.changed_on, date)):
            raise InvalidLineFacts("line opened_on and changed_on must be dates")
        if not isinstance(self.rate_cap, RateCap):
            raise InvalidLineFacts("line rate_cap must be the RateCap in force")

    @property
    def rate_micro(self) -> int:
        return int(self.annual_rate * MICRO)

    @property
    def cap_micro(self) -> int:
        """The cap in whole millionths, rounded down (as `loans.caps.clip_rate`)."""
        return int((self.rate_cap.annual_limit * MICRO).to_integral_value(ROUND_FLOOR))

    def to_dict(self, cap: dict[str, Any] | None = None) -> dict[str, Any]:
        """The line as plain JSON; `cap`: its rate cap as `loans.caps.cap_to_dict` gives it,
        when the caller has it already (a chunk's lines share one cap)."""
        if cap is None:
            from puhui.loans.caps import cap_to_dict
            cap = cap_to_dict(self.rate_cap)
        return {"line_id": self.line_id, "limit": self.limit, "drawn": self.drawn,
                "annual_rate": str(self.annual_rate), "status": self.status,
                "opened_on": self.opened_on.isoformat(),
                "changed_on": None if self.changed_on is None else self.changed_on.isoformat(),
                "product_max": self.product_max, "rate_cap": cap}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LineFacts":
        from puhui.loans.caps import cap_from_dict
        try:
            return cls(str(d["line_id"]), d["limit"], d["drawn"], Decimal(d["annual_rate"]),
                       d["status"], date.fromisoformat(d["opened_on"]),
                       None if d["changed_on"] is None else date.fromisoformat(d["changed_on"]),
                       d["product_max"], cap_from_dict(d["rate_cap"]))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise InvalidLineDecision(f"unreadable line in a line decision: {exc!r}") from None


@dataclass(frozen=True)
class LineHistory:
    """The line's own past: its loans' repayment behaviour (`signals.repayment_facts`; None
    when unknown) and the rules engaged by earlier decisions (code -> the day it engaged)."""

    on_time_months: int | None = None
    days_past_due: int | None = None
    missed_instalments_6m: int | None = None
    engaged: Mapping[str, date] = field(default_factory=dict)

    def facts(self) -> dict[str, Any]:
        return {"on_time_months": self.on_time_months, "days_past_due": self.days_past_due,
                "missed_instalments_6m": self.missed_instalments_6m}


@dataclass(frozen=True)
class RuleTrace:
    """One rule as evaluated: the values it read and what came of it.

    `result` is ``fired``, ``not_fired``, ``missing`` (a fact it needs is missing: it does not
    fire), ``engaged`` (fired earlier, waiting for its release), ``released`` (its release
    held), ``held_interval`` (would act, but within the minimum interval) or ``held_frozen``
    (would favour the borrower on a frozen line); `action` what it asked for."""

    code: str
    result: str
    facts: dict[str, Any]
    action: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "result": self.result, "facts": dict(self.facts),
                "action": self.action, "detail": self.detail}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RuleTrace":
        return cls(str(d["code"]), str(d["result"]), dict(d["facts"]),
                   None if d["action"] is None else str(d["action"]), str(d["detail"]))


@dataclass(frozen=True)
class LineDecision:
    """The outcome of one re-evaluation of one line.

    `proposed_*` is what the rules that acted asked for, before any bound; `limit`,
    `annual_rate` and `freeze` the change to apply (None: unchanged), after the bounds per step,
    the absolute bounds and the rate cap.  `engaged` is the rules engaged after it (the next
    decision's `LineHistory.engaged`)."""

    line_id: str
    decided_on: date
    policy_version: str
    fired: tuple[str, ...]
    released: tuple[str, ...]
    proposed_limit: int | None
    proposed_rate: Decimal | None
    limit: int | None
    annual_rate: Decimal | None
    freeze: bool | None
    engaged: dict[str, date]
    trace: tuple[RuleTrace, ...]
    notes: tuple[str, ...]

    @property
    def changes(self) -> bool:
        return self.limit is not None or self.annual_rate is not None or self.freeze is not None

    @property
    def reason(self) -> str:
        """Why the line changes, for the line's event and the borrower's notice."""
        acted = [t.detail for t in self.trace if t.result in ("fired", "released") and t.action]
        return "; ".join(acted + list(self.notes)) or "no change"

    def outcome(self) -> dict[str, Any]:
        """What the decision does, without its trace: what a line decision record keeps (the
        trace is re-derived by replaying the record's facts)."""
        return {"line_id": self.line_id, "decided_on": self.decided_on.isoformat(),
                "policy_version": self.policy_version, "fired": list(self.fired),
                "released": list(self.released), "proposed_limit": self.proposed_limit,
                "proposed_rate": _text(self.proposed_rate), "limit": self.limit,
                "annual_rate": _text(self.annual_rate), "freeze": self.freeze,
                "engaged": {k: v.isoformat() for k, v in sorted(self.engaged.items())}}

    def to_dict(self) -> dict[str, Any]:
        return {**self.outcome(), "trace": [t.to_dict() for t in self.trace],
                "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LineDecision":
        try:
            return cls(str(d["line_id"]), date.fromisoformat(d["decided_on"]),
                       str(d["policy_version"]), tuple(d["fired"]), tuple(d["released"]),
                       d["proposed_limit"], _decimal_or_none(d["proposed_rate"]), d["limit"],
                       _decimal_or_none(d["annual_rate"]), d["freeze"],
                       {str(k): date.fromisoformat(v) for k, v in d["engaged"].items()},
                       tuple(RuleTrace.from_dict(t) for t in d["trace"]), tuple(d["notes"]))
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise InvalidLineDecision(f"unreadable line decision: {exc!r}") from None


# -- the evaluator ---------------------------------------------------------------------------------
def line_facts(line: LineFacts, features: Mapping[str, Any] | None, scores: Any,
               history: LineHistory, today: date) -> dict[str, Any]:
    """Every fact of one line decision, as plain JSON scalars (what the record keeps and a
    replay reads): the line's state, the features (standard and monitoring; any other feature
    is kept too), the scores (a `ModelScores` or a mapping) and the repayment behaviour."""
    facts: dict[str, Any] = dict(_NO_FACTS)
    for name, value in (features or {}).items():
        if (type(name) is str or isinstance(name, str)) and name not in _NOT_FEATURES:
            # `values.plain`, the usual Python float and None answered inline
            if type(value) is float:
                facts[name] = value if isfinite(value) else None
            else:
                facts[name] = None if value is None else _plain(value)
    if scores is not None:
        mapping = isinstance(scores, Mapping)
        for name in SCORE_FACTS:
            value = scores.get(name) if mapping else getattr(scores, name)
            facts[name] = _plain(value)
    facts.update({k: _plain(v) for k, v in history.facts().items()})
    since = line.changed_on or line.opened_on
    facts.update({
        "line_limit_fen": line.limit, "line_drawn_fen": line.drawn,
        "line_utilisation": None if line.limit == 0 else line.drawn / line.limit,
        "line_annual_rate": float(line.annual_rate), "line_status": line.status,
        "days_since_change": (today - since).days, "line_age_days": (today - line.opened_on).days})
    return facts


_NO_FACTS = dict.fromkeys(LINE_FACT_KINDS)
_NOT_FEATURES = frozenset(LINE_STATE_FACTS) | frozenset(SCORE_FACTS) | frozenset(BEHAVIOUR_FACTS)


def _plain(value: Any) -> Any:
    """`values.plain`, with the values features mostly are (Python floats, None) answered
    without its general checks: a book's re-evaluation makes some forty of these a line."""
    kind = type(value)
    if kind is float:
        return value if isfinite(value) else None
    if value is None or kind is int or kind is str or kind is bool:
        return value
    return values.plain(value)


def evaluate(line: LineFacts, features: Mapping[str, Any] | None, scores: Any,
             history: LineHistory, policy: LinePolicy, today: date) -> LineDecision:
    """Re-evaluate `line` on `today` under `policy` (see the module's doc)."""
    if not isinstance(line, LineFacts) or not isinstance(history, LineHistory):
        raise InvalidLineFacts("evaluate needs a LineFacts and a LineHistory")
    facts = line_facts(line, features, scores, history, today)
    return decide(policy, facts, line, history.engaged, today)


@dataclass
class _Candidate:
    rule: LineRule
    action: Action
    releasing: bool
    index: int


def decide(policy: LinePolicy, facts: Mapping[str, Any], line: LineFacts,
           engaged: Mapping[str, date], today: date) -> LineDecision:
    """The decision from facts already gathered (`line_facts`): what `evaluate` does after
    gathering them, and what a replay runs on a stored record."""
    if not isinstance(policy, LinePolicy):
        raise InvalidLineFacts("policy must be a validated LinePolicy (see load_line_policy)")
    if not isinstance(today, date):
        raise InvalidLineFacts("today must be a date")
    kinds = policy.kinds
    engaged = {code: day for code, day in engaged.items() if code in policy.codes
               and _rule(policy, code).release is not None}
    trace: list[RuleTrace | None] = []
    notes: list[str] = []
    if line.status not in OPEN_STATUSES:
        trace.append(RuleTrace("LINE_NOT_OPEN", "fired", {"line_status": line.status}, None,
                               f"the line is {line.status}: nothing to re-evaluate"))
        return LineDecision(line.line_id, today, policy.identity, (), (), None, None, None,
                            None, None, dict(engaged), tuple(t for t in trace if t), ())
    since = line.changed_on or line.opened_on
    waited = (today - since).days
    too_soon = waited < policy.min_days_between_changes
    candidates: list[_Candidate] = []
    reads = policy.rule_reads
    for index, rule in enumerate(policy.rules):
        when_reads, release_reads, described = reads[index]
        read = {f: facts.get(f) for f in when_reads}
        if rule.code in engaged:
            assert rule.release is not None
            read.update({f: facts.get(f) for f in release_reads})
            released = rule.release.test(facts, kinds)
            since_on = engaged[rule.code].isoformat()
            if released is None:
                trace.append(RuleTrace(rule.code, "missing", read, None,
                                       f"engaged since {since_on}; its release cannot be "
                                       "checked: a fact it reads is missing"))
            elif not released:
                trace.append(RuleTrace(rule.code, "engaged", read, None,
                                       f"engaged since {since_on}; it fires again only after "
                                       "its release holds"))
            elif rule.on_release is None:
                trace.append(RuleTrace(rule.code, "released", read, None,
                                       f"released: {render(rule.message, facts, kinds)}"))
            else:
                trace.append(None)
                candidates.append(_Candidate(rule, rule.on_release, True, index))
            continue
        fired = rule.when.test(facts, kinds)
        if fired is None:
            trace.append(RuleTrace(rule.code, "missing", read, described,
                                   "not applied: a fact it reads is missing"))
        elif not fired:
            trace.append(RuleTrace(rule.code, "not_fired", read, described,
                                   "its condition does not hold"))
        else:
            trace.append(None)
            candidates.append(_Candidate(rule, rule.action, False, index))

    # the minimum interval, then the status, then what a frozen line may not get
    kept: list[_Candidate] = []
    for c in candidates:
        read = {f: facts.get(f) for f in (c.rule.release if c.releasing else c.rule.when).facts()}
        urgent = c.rule.urgent and not c.releasing
        if too_soon and not urgent:
            trace[c.index] = RuleTrace(
                c.rule.code, "held_interval", read, c.action.describe(),
                f"held: the line last changed on {since.isoformat()}, {waited} day(s) ago; the "
                f"policy waits {policy.min_days_between_changes} days between changes")
        else:
            kept.append(c)
    freeze = any(c.action.freeze for c in kept)
    unfreeze = any(c.action.unfreeze for c in kept)
    frozen_after = line.status == "frozen" and not unfreeze or freeze
    acting: list[_Candidate] = []
    for c in kept:
        read = {f: facts.get(f) for f in (c.rule.release if c.releasing else c.rule.when).facts()}
        message = render(c.rule.message, facts, kinds)
        if frozen_after and c.action.favours_borrower:
            trace[c.index] = RuleTrace(c.rule.code, "held_frozen", read, c.action.describe(),
                                       "held: the line is frozen")
            continue
        if c.action.unfreeze and freeze:
            trace[c.index] = RuleTrace(c.rule.code, "held_frozen", read, c.action.describe(),
                                       "held: another rule freezes the line")
            continue
        acting.append(c)
        trace[c.index] = RuleTrace(c.rule.code, "released" if c.releasing else "fired", read,
                                   c.action.describe(), message)

    # the limit: exact integers, bounded per step, absolutely, to whole units
    pct = sum(_micro(c.action.limit_change) for c in acting if c.action.limit_change is not None)
    proposed_limit = new_limit = None
    if pct:
        proposed_limit = line.limit * (MICRO + pct) // MICRO
        new_limit = bounded_limit(line.limit, pct, policy, line.product_max)
        if new_limit != proposed_limit:
            notes.append(f"limit bounded from {_yuan(proposed_limit)} to {_yuan(new_limit)} "
                         f"(bounds per step and absolute)")
        if new_limit == line.limit:
            new_limit = None
    # the price: in millionths, bounded per step, absolutely and by the cap
    pp = sum(_micro(c.action.rate_change) for c in acting if c.action.rate_change is not None)
    proposed_rate = new_rate = None
    rate = line.rate_micro
    if pp:
        proposed_rate = Decimal(rate + pp) / MICRO
        bounded = bounded_rate(rate, pp, policy, line.cap_micro)
        if bounded != rate + pp:
            notes.append(f"price bounded from {_pct(rate + pp)} to {_pct(bounded)} (bounds per "
                         f"step, absolute, and the rate cap {_pct(line.cap_micro)})")
        new_rate = None if bounded == rate else bounded
    if (new_rate if new_rate is not None else rate) > line.cap_micro:
        notes.append(f"RATE_ABOVE_CAP: the price {_pct(rate)} is above the rate cap in force "
                     f"({line.rate_cap.label}, {_pct(line.cap_micro)}): brought down to it")
        new_rate = line.cap_micro
    freeze_change = True if freeze and line.status == "active" else \
        False if unfreeze and not freeze and line.status == "frozen" else None

    after = dict(engaged)
    for c in acting:
        if c.releasing:
            after.pop(c.rule.code, None)
        elif c.rule.release is not None:
            after[c.rule.code] = today
    for t in trace:  # released without an action
        if t is not None and t.result == "released" and t.action is None:
            after.pop(t.code, None)
    done = [t for t in trace if t is not None]
    return LineDecision(
        line.line_id, today, policy.identity,
        tuple(t.code for t in done if t.result == "fired"),
        tuple(t.code for t in done if t.result == "released"),
        proposed_limit, proposed_rate, new_limit,
        None if new_rate is None else Decimal(new_rate) / MICRO, freeze_change, after,
        tuple(done), tuple(notes))


def bounded_limit(limit: int, pct_micro: int, policy: LinePolicy, product_max: int) -> int:
    """The limit after a change of `pct_micro` millionths of itself: at most max_step_up above
    or max_step_down below the current limit, within min_fen..min(max_fen, product_max), rounded
    to whole units towards the current limit, never moving against the change's direction."""
    b, unit = policy.limits, policy.limits.unit_fen
    proposed = limit * (MICRO + pct_micro) // MICRO
    up = limit * (MICRO + _micro(b.max_step_up)) // MICRO
    down = -(-limit * (MICRO - _micro(b.max_step_down)) // MICRO)
    value = min(max(proposed, down), up)
    value = min(max(value, b.min_fen), min(b.max_fen, product_max))
    if pct_micro > 0:
        return max(limit, value // unit * unit)
    return min(limit, -(-value // unit) * unit)


def bounded_rate(rate_micro: int, pp_micro: int, policy: LinePolicy, cap_micro: int) -> int:
    """The price in millionths after a change of `pp_micro`: at most max_step either way,
    within min_rate..min(max_rate, cap), never moving against the change's direction."""
    step = _micro(policy.pricing.max_step)
    value = rate_micro + min(max(pp_micro, -step), step)
    value = min(max(value, _micro(policy.pricing.min_rate)),
                min(_micro(policy.pricing.max_rate), cap_micro))
    return min(rate_micro, value) if pp_micro < 0 else max(rate_micro, value)


def render(message: str, facts: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    """A rule's message with its {fact} placeholders filled in."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(message):
        out.append(literal)
        if name is not None:
            out.append(values.show(facts.get(name), kinds[name]))
    return "".join(out)


def _rule(policy: LinePolicy, code: str) -> LineRule:
    return next(r for r in policy.rules if r.code == code)


def _micro(d: Decimal) -> int:
    return int(d * MICRO)


def _pct(micro: int) -> str:
    return f"{Decimal(micro) / 10_000:.4f}%".replace(".0000%", "%")


def _yuan(fen: int) -> str:
    return values.show(fen, "money")


def _signed_percent(d: Decimal) -> str:
    return f"{'+' if d > 0 else ''}{(d * 100).normalize():f}%"


def _signed_points(d: Decimal) -> str:
    return f"{'+' if d > 0 else ''}{(d * 100).normalize():f} percentage points"


def _text(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def _decimal_or_none(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


# -- validation: what the field types cannot see ---------------------------------------------------
def _problems(policy: LinePolicy) -> list[str]:
    kinds, problems = policy.kinds, []
    for name in policy.facts:
        if name in LINE_FACT_KINDS:
            problems.append(f"facts.{name}: a standard fact cannot be redeclared")
    b = policy.limits
    if b.min_fen > b.max_fen:
        problems.append("limits: min_fen must not exceed max_fen")
    for name in ("min_fen", "max_fen"):
        if getattr(b, name) % b.unit_fen:
            problems.append(f"limits.{name}: must be a whole number of unit_fen ({b.unit_fen})")
    if policy.pricing.min_rate > policy.pricing.max_rate:
        problems.append("pricing: min_rate must not exceed max_rate")
    codes = policy.codes
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        problems.append(f"rule code {code} is used more than once")
    for code in sorted(set(codes) & BUILTIN_CODES):
        problems.append(f"rule code {code} is reserved for the evaluator")
    for i, rule in enumerate(policy.rules):
        where = f"rules[{i}]"
        problems += rule.when.check(kinds, f"{where}.when")
        problems += placeholder_problems(rule.message, kinds, f"{where}.message")
        if rule.release is not None:
            problems += rule.release.check(kinds, f"{where}.release")
            problems += _band(rule.when, rule.release, where)
        if rule.on_release is not None and rule.release is None:
            problems.append(f"{where}.on_release: needs a release condition")
        if rule.urgent and not rule.action.reduces_risk:
            problems.append(f"{where}.urgent: only a freeze, a limit cut or a price rise may "
                            "skip the minimum interval")
        if rule.action.unfreeze and rule.release is None and rule.urgent:
            problems.append(f"{where}: an unfreeze cannot be urgent")
    return problems


_UP, _DOWN = (">", ">="), ("<", "<=")


def _leaves(condition: Any) -> list[Leaf]:
    if isinstance(condition, Leaf):
        return [condition]
    parts = getattr(condition, "all", None) or getattr(condition, "any", None) or []
    return [leaf for part in parts for leaf in _leaves(part)]


def _band(when: Any, release: Any, where: str) -> list[str]:
    """Hysteresis: where `when` and `release` compare the same fact in opposite directions,
    the release's threshold must lie strictly beyond the trigger's (a band between them), so a
    signal at the threshold cannot fire and release in turn."""
    problems = []
    for a in _leaves(when):
        for r in _leaves(release):
            if a.fact != r.fact or not isinstance(a.value, (int, float)) or \
                    not isinstance(r.value, (int, float)) or isinstance(a.value, bool):
                continue
            if a.op in _UP and r.op in _DOWN and not r.value < a.value or \
                    a.op in _DOWN and r.op in _UP and not r.value > a.value:
                problems.append(f"{where}.release: {r.fact} {r.op} {r.value} leaves no band "
                                f"below the trigger {a.fact} {a.op} {a.value}; hysteresis needs "
                                "the release strictly beyond the trigger")
            elif a.op in _UP + _DOWN and (a.op in _UP) == (r.op in _UP):
                problems.append(f"{where}.release: {r.fact} {r.op} {r.value} points the same way "
                                f"as the trigger {a.fact} {a.op} {a.value}; a release is the "
                                "signal going back")
    return problems


