"""The collections policy: the stages per delinquency bucket, the contact rules, the write-off
rule and the promise limit, as one versioned document.

Why a document: abusive collection is illegal in China, and an auditor or a regulator asks the
lender to show which contact hours, contact caps and escalation ladder it enforced on a given
day.  Code defaults cannot answer that; a registered document can.  Like a credit policy or a
line policy it is JSON (docs/collections.md, "The collections policy"), validated strictly and
refused with every problem and its place; its identity is its `version` plus the SHA-256 of
its canonical JSON, and `puhui.collections.registry.CollectionsPolicyRegistry` stores,
tamper-checks and activates versions as the other registries do.  A case records the version
it was collected under (`CollectionStrategy.version` is the document's `version`).

The shipped document (`policies/collections-2026.12.json`, version `default-2026-12`, the name
the strategy always had) is exactly the rules the code carried before: `DEFAULT_STRATEGY`,
`DEFAULT_RULES`, `DEFAULT_WRITE_OFF_RULE` and `MAX_PROMISE_DAYS` are read from it.

Bounds a document may not pass (chosen by Puhui, documented in docs/collections.md):

- stages: 1 to 12, contiguous and non-overlapping from 1 day past due, the last open-ended,
  each with at least one action of `strategy.ACTIONS`; reminders every 1-90 days;
- contact hours: "HH:MM" in Asia/Shanghai, never before 08:00 nor after 21:00 (a policy may
  narrow the window, not widen it), the start before the end; at most 1-10 contacts a day and
  1-30 in seven days, the daily cap not above the weekly one; only the borrower is contacted;
- write-off: advised from 91 days past due at the earliest (a non-performing loan), a promise
  window of 0-365 days, recovery rates in [0, 1] not rising with age, a cost of at most
  1,000,000 yuan and an agency commission below 100%;
- promises: due at most 1-60 days ahead (further is a restructuring).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, time
from decimal import Decimal
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from puhui.collections.contact import ALLOWED_PARTIES, ContactRules
from puhui.collections.strategy import ACTIONS, CollectionStrategy, Stage
from puhui.collections.writeoff import WriteOffRule
from puhui.decision.documents import Version, exact_decimal, load_document
from puhui.decision.errors import InvalidPolicy

FORMAT = "puhui-collections-policy/1"
DEFAULT_COLLECTIONS_POLICY_FILE = "collections-2026.12.json"

#: Bounds (see the module's doc).
MAX_DPD = 3650
MAX_STAGES = 12
EARLIEST_CONTACT, LATEST_CONTACT = time(8, 0), time(21, 0)
MAX_PER_DAY, MAX_PER_WEEK = 10, 30
MIN_WRITE_OFF_DPD = 91
MAX_COLLECTION_COST = 100_000_000  # fen: 1,000,000 yuan
MAX_PROMISE_DAYS_BOUND = 60


class InvalidCollectionsPolicy(InvalidPolicy):
    """A collections policy document that fails validation; the message lists every problem."""


def _whole(low: int, high: int) -> Any:
    return Annotated[int, Field(strict=True, ge=low, le=high)]


#: The strategy's version is stored with every case (40 characters at most).
PolicyVersion = Annotated[str, StringConstraints(strict=True,
                                                 pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")]
StageName = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_]{0,39}$")]
ClockTime = Annotated[str, StringConstraints(strict=True, pattern=r"^\d{2}:\d{2}$")]
Dpd = _whole(1, MAX_DPD)
Rate = exact_decimal(Decimal(0), Decimal(1))
Commission = exact_decimal(Decimal(0), Decimal(1), high_open=True)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class StageSpec(_Strict):
    """One stage: the days-past-due bucket it covers (`to_dpd` inclusive; null: open-ended,
    the last stage only) and its actions (`strategy.ACTIONS`); `reminder` needs
    `reminder_every_days` and the cadence needs `reminder`."""

    name: StageName
    from_dpd: Dpd
    to_dpd: Dpd | None
    actions: list[Annotated[str, StringConstraints(strict=True, max_length=40)]] = Field(
        max_length=len(ACTIONS))
    reminder_every_days: _whole(1, 90) | None = None  # type: ignore[valid-type]


class ContactSpec(_Strict):
    """When and how often the borrower may be contacted, and who may be."""

    zone: Literal["Asia/Shanghai"]
    earliest: ClockTime
    latest: ClockTime
    max_per_day: _whole(1, MAX_PER_DAY)  # type: ignore[valid-type]
    max_per_week: _whole(1, MAX_PER_WEEK)  # type: ignore[valid-type]
    parties: list[Annotated[str, StringConstraints(strict=True, max_length=40)]] = Field(
        min_length=1, max_length=10)


class RecoveryRateSpec(_Strict):
    from_dpd: Dpd
    rate: Rate


class WriteOffSpec(_Strict):
    """When a case is recommended for write-off (`writeoff.WriteOffRule`)."""

    min_dpd: _whole(MIN_WRITE_OFF_DPD, MAX_DPD)  # type: ignore[valid-type]
    promise_window_days: _whole(0, 365)  # type: ignore[valid-type]
    recovery_rates: list[RecoveryRateSpec] = Field(min_length=1, max_length=20)
    collection_cost_fen: _whole(0, MAX_COLLECTION_COST)  # type: ignore[valid-type]
    agency_commission: Commission


class PromiseSpec(_Strict):
    max_days: _whole(1, MAX_PROMISE_DAYS_BOUND)  # type: ignore[valid-type]


class CollectionsPolicy(_Strict):
    """A validated collections policy document (docs/collections.md)."""

    format: Literal["puhui-collections-policy/1"]
    name: Version
    version: PolicyVersion
    description: Annotated[str, StringConstraints(strict=True, max_length=2000)] = ""
    effective_from: date
    stages: list[StageSpec] = Field(min_length=1, max_length=MAX_STAGES)
    contact: ContactSpec
    write_off: WriteOffSpec
    promises: PromiseSpec

    @model_validator(mode="after")
    def _consistent(self) -> "CollectionsPolicy":
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @cached_property
    def identity(self) -> str:
        return f"{self.version}+{self.sha256[:12]}"

    # -- the rules the core applies ------------------------------------------------------------
    @cached_property
    def strategy(self) -> CollectionStrategy:
        """The stage ladder, named by the document's version (what a case records)."""
        return CollectionStrategy(self.version, tuple(
            Stage(s.name, s.from_dpd, reminder_every_days=s.reminder_every_days,
                  call_queue="call_queue" in s.actions, field_visit="field_visit" in s.actions,
                  legal_letter="legal_letter" in s.actions,
                  agency_handoff="agency_handoff" in s.actions)
            for s in self.stages))

    @cached_property
    def contact_rules(self) -> ContactRules:
        c = self.contact
        return ContactRules(_time(c.earliest), _time(c.latest), c.max_per_day, c.max_per_week,
                            ZoneInfo(c.zone))

    @cached_property
    def write_off_rule(self) -> WriteOffRule:
        w = self.write_off
        return WriteOffRule(w.min_dpd, w.promise_window_days,
                            tuple((r.from_dpd, r.rate) for r in w.recovery_rates),
                            w.collection_cost_fen, w.agency_commission)

    @property
    def max_promise_days(self) -> int:
        return self.promises.max_days

    def describe(self) -> str:
        """One line for a person: the ladder, the hours and caps, the write-off threshold."""
        c = self.contact
        ladder = ", ".join(f"{s.name} {s.from_dpd}" + (f"-{s.to_dpd}" if s.to_dpd else "+")
                           for s in self.stages)
        return (f"stages {ladder}; contact {c.earliest}-{c.latest} {c.zone}, at most "
                f"{c.max_per_day}/day and {c.max_per_week}/week; write-off from "
                f"{self.write_off.min_dpd} dpd; promises up to {self.promises.max_days} days")


def load_collections_policy(source: CollectionsPolicy | Mapping[str, Any] | str | bytes
                            ) -> CollectionsPolicy:
    """A validated collections policy from a document (a mapping, or JSON text);
    `InvalidCollectionsPolicy` listing every problem with its place otherwise."""
    return load_document(CollectionsPolicy, source, InvalidCollectionsPolicy,
                         "collections policy")


def read_collections_policy(path: str | Path) -> CollectionsPolicy:
    try:
        return load_collections_policy(Path(path).read_bytes())
    except FileNotFoundError:
        raise InvalidCollectionsPolicy(f"no collections policy file at {path}") from None


@cache
def shipped_collections_policy() -> CollectionsPolicy:
    """The document shipped with Puhui (`puhui/collections/policies/collections-2026.12.json`):
    the rules a platform with no registry, or none active, collects under."""
    text = resources.files("puhui.collections").joinpath("policies").joinpath(
        DEFAULT_COLLECTIONS_POLICY_FILE)
    return load_collections_policy(text.read_bytes())


# -- validation: what the field types cannot see ---------------------------------------------
def _time(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    return time(hours, minutes)


def _minutes(text: str) -> int | None:
    """Minutes since midnight of "HH:MM" (24:00 included), None if it is no time of day."""
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def _problems(policy: CollectionsPolicy) -> list[str]:
    return _stage_problems(policy.stages) + _contact_problems(policy.contact) + \
        _write_off_problems(policy.write_off)


def _stage_problems(stages: list[StageSpec]) -> list[str]:
    problems = []
    names = [s.name for s in stages]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"stages: the name {name!r} is used more than once")
    for i, s in enumerate(stages):
        where = f"stages[{i}]"
        unknown = [a for a in s.actions if a not in ACTIONS]
        if unknown:
            problems.append(f"{where}.actions: unknown action(s) {', '.join(map(repr, unknown))}; "
                            f"choose from {', '.join(ACTIONS)}")
        if len(set(s.actions)) != len(s.actions):
            problems.append(f"{where}.actions: an action is listed more than once")
        if not s.actions:
            problems.append(f"{where}.actions: a stage needs at least one action")
        if ("reminder" in s.actions) != (s.reminder_every_days is not None):
            problems.append(f"{where}: the action 'reminder' and reminder_every_days go together "
                            "(a cadence without reminders, or reminders without a cadence)")
        if s.to_dpd is not None and s.to_dpd < s.from_dpd:
            problems.append(f"{where}: to_dpd {s.to_dpd} is below from_dpd {s.from_dpd}")
        last = i == len(stages) - 1
        if last and s.to_dpd is not None:
            problems.append(f"{where}.to_dpd: the last stage is open-ended (null): every day "
                            "past due must fall in a stage")
        if not last and s.to_dpd is None:
            problems.append(f"{where}.to_dpd: only the last stage may be open-ended")
    if stages and stages[0].from_dpd != 1:
        problems.append(f"stages[0].from_dpd: the first stage begins at 1 day past due, not "
                        f"{stages[0].from_dpd}")
    for i, (before, after) in enumerate(zip(stages, stages[1:]), start=1):
        if before.to_dpd is None:
            continue
        if after.from_dpd > before.to_dpd + 1:
            missing = before.to_dpd + 1, after.from_dpd - 1
            days = f"day {missing[0]} past due falls" if missing[0] == missing[1] else \
                f"days {missing[0]}-{missing[1]} past due fall"
            problems.append(f"stages[{i}].from_dpd: a gap: {days} in no stage")
        elif after.from_dpd <= before.to_dpd:
            problems.append(f"stages[{i}].from_dpd: overlaps stages[{i - 1}] (which runs to "
                            f"{before.to_dpd} days past due)")
    return problems


def _contact_problems(c: ContactSpec) -> list[str]:
    problems = []
    earliest, latest = _minutes(c.earliest), _minutes(c.latest)
    for name, value, minutes in (("earliest", c.earliest, earliest),
                                 ("latest", c.latest, latest)):
        if minutes is None:
            problems.append(f"contact.{name}: {value} is not a time from 00:00 to 24:00")
    if earliest is not None and latest is not None:
        if earliest >= latest:
            problems.append(f"contact: the hours must begin before they end ({c.earliest} is "
                            f"not before {c.latest})")
        if earliest < EARLIEST_CONTACT.hour * 60 + EARLIEST_CONTACT.minute:
            problems.append(f"contact.earliest: no contact before "
                            f"{EARLIEST_CONTACT:%H:%M} ({c.earliest} given)")
        if latest > LATEST_CONTACT.hour * 60 + LATEST_CONTACT.minute:
            problems.append(f"contact.latest: no contact after {LATEST_CONTACT:%H:%M} "
                            f"({c.latest} given)")
    if c.max_per_day > c.max_per_week:
        problems.append(f"contact: max_per_day ({c.max_per_day}) cannot exceed max_per_week "
                        f"({c.max_per_week})")
    allowed = sorted(p.value for p in ALLOWED_PARTIES)
    others = [p for p in c.parties if p not in allowed]
    if others:
        problems.append(f"contact.parties: {', '.join(map(repr, others))} may never be contacted "
                        f"about a borrower's debt: only {', '.join(allowed)}")
    elif sorted(set(c.parties)) != allowed or len(c.parties) != len(allowed):
        problems.append(f"contact.parties: list {', '.join(allowed)} once each")
    return problems


def _write_off_problems(w: WriteOffSpec) -> list[str]:
    problems = []
    rates = w.recovery_rates
    if rates[0].from_dpd != 1:
        problems.append(f"write_off.recovery_rates[0].from_dpd: the first rate applies from 1 "
                        f"day past due, not {rates[0].from_dpd}")
    for i, (before, after) in enumerate(zip(rates, rates[1:]), start=1):
        if after.from_dpd <= before.from_dpd:
            problems.append(f"write_off.recovery_rates[{i}].from_dpd: must rise "
                            f"({after.from_dpd} after {before.from_dpd})")
        if after.rate > before.rate:
            problems.append(f"write_off.recovery_rates[{i}].rate: recovery does not improve "
                            f"with age ({after.rate} after {before.rate})")
    return problems
