"""The collections policy document: the shipped one is exactly the former code defaults, and
every bound is refused with its place and a clear message."""

from __future__ import annotations

import copy
import json
from datetime import time
from decimal import Decimal
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest

from puhui.collections import contact, promises, strategy, writeoff
from puhui.collections.contact import ContactRules
from puhui.collections.policy import (InvalidCollectionsPolicy, load_collections_policy,
                                      shipped_collections_policy)
from puhui.collections.strategy import CollectionStrategy, Stage
from puhui.collections.writeoff import WriteOffRule

#: The rules as the code carried them before they became a document (copied, not imported:
#: the shipped document must reproduce them exactly).
FORMER_STRATEGY = CollectionStrategy("default-2026-12", (
    Stage("reminder", 1, reminder_every_days=3, call_queue=True),
    Stage("call", 31, reminder_every_days=2, call_queue=True),
    Stage("field_visit", 61, reminder_every_days=7, call_queue=True, field_visit=True),
    Stage("legal", 91, reminder_every_days=7, call_queue=True, field_visit=True,
          legal_letter=True),
    Stage("agency", 181, reminder_every_days=None, legal_letter=True, agency_handoff=True),
))
FORMER_RULES = ContactRules(time(8, 0), time(21, 0), 3, 10, ZoneInfo("Asia/Shanghai"))
FORMER_WRITE_OFF = WriteOffRule(180, 90, ((1, Decimal("0.60")), (91, Decimal("0.25")),
                                          (181, Decimal("0.05")), (361, Decimal("0.02"))),
                                2_000_00, Decimal("0.30"))
FORMER_MAX_PROMISE_DAYS = 30

SHIPPED = shipped_collections_policy()


def test_the_shipped_document_is_exactly_the_former_code_defaults() -> None:
    assert SHIPPED.strategy == FORMER_STRATEGY
    assert SHIPPED.contact_rules == FORMER_RULES
    assert SHIPPED.write_off_rule == FORMER_WRITE_OFF
    assert SHIPPED.max_promise_days == FORMER_MAX_PROMISE_DAYS
    # the defaults' names are the loaded values, and the dataclasses' own defaults agree
    assert strategy.DEFAULT_STRATEGY == FORMER_STRATEGY
    assert contact.DEFAULT_RULES == FORMER_RULES == ContactRules()
    assert writeoff.DEFAULT_WRITE_OFF_RULE == FORMER_WRITE_OFF == WriteOffRule()
    assert promises.MAX_PROMISE_DAYS == FORMER_MAX_PROMISE_DAYS
    assert SHIPPED.version == "default-2026-12" and SHIPPED.identity.startswith(
        "default-2026-12+")


def test_the_canonical_form_reloads_to_the_same_identity() -> None:
    again = load_collections_policy(SHIPPED.canonical_json())
    assert again.sha256 == SHIPPED.sha256 and again.strategy == SHIPPED.strategy
    assert load_collections_policy(json.loads(SHIPPED.canonical_json())) == SHIPPED


def _doc() -> dict[str, Any]:
    return copy.deepcopy(json.loads(SHIPPED.canonical_json()))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = doc
        for p in parents:
            target = target[p]
        target[last] = value
    return change


def _stages(*stages: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return _set("stages", list(stages))


def _contact(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["contact"].update(values)


def _stage(name: str, start: int, end: int | None, actions: list[str] | None = None,
           every: int | None = None) -> dict[str, Any]:
    return {"name": name, "from_dpd": start, "to_dpd": end,
            "actions": actions or ["call_queue"], "reminder_every_days": every}


REFUSALS = [
    # stages: buckets contiguous, non-overlapping, from 1 up, the last open-ended
    ("gap", _stages(_stage("a", 1, 30), _stage("b", 41, None)),
     "stages[1].from_dpd: a gap: days 31-40 past due fall in no stage"),
    ("overlap", _stages(_stage("a", 1, 30), _stage("b", 25, None)),
     "stages[1].from_dpd: overlaps stages[0] (which runs to 30 days past due)"),
    ("gap of a day", _stages(_stage("a", 1, 30), _stage("b", 32, None)),
     "stages[1].from_dpd: a gap: day 31 past due falls in no stage"),
    ("overlap by a day", _stages(_stage("a", 1, 30), _stage("b", 30, None)),
     "stages[1].from_dpd: overlaps stages[0]"),
    ("not from 1", _stages(_stage("a", 2, None)),
     "stages[0].from_dpd: the first stage begins at 1 day past due, not 2"),
    ("last closed", _stages(_stage("a", 1, 30), _stage("b", 31, 90)),
     "stages[1].to_dpd: the last stage is open-ended"),
    ("middle open", _stages(_stage("a", 1, None), _stage("b", 31, None)),
     "stages[0].to_dpd: only the last stage may be open-ended"),
    ("to below from", _stages(_stage("a", 1, 30), _stage("b", 31, 20), _stage("c", 21, None)),
     "stages[1]: to_dpd 20 is below from_dpd 31"),
    ("dpd bound", _set("stages.4.from_dpd", 4000), "stages[4].from_dpd: Input should be less "
                                                    "than or equal to 3650"),
    ("too many stages", _stages(*[_stage(f"s{i}", i + 1, i + 1) for i in range(12)],
                                _stage("last", 13, None)),
     "stages: List should have at most 12 items"),
    ("unknown action", _set("stages.0.actions", ["reminder", "sms_blast"]),
     "stages[0].actions: unknown action(s) 'sms_blast'; choose from reminder, call_queue, "
     "field_visit, legal_letter, agency_handoff"),
    ("repeated action", _set("stages.1.actions", ["reminder", "call_queue", "call_queue"]),
     "stages[1].actions: an action is listed more than once"),
    ("no action", _stages(_stage("a", 1, 30), {**_stage("b", 31, None), "actions": []}),
     "stages[1].actions: a stage needs at least one action"),
    ("reminder without cadence", _set("stages.0.reminder_every_days", None),
     "stages[0]: the action 'reminder' and reminder_every_days go together"),
    ("cadence bound", _set("stages.0.reminder_every_days", 91),
     "stages[0].reminder_every_days: Input should be less than or equal to 90"),
    ("duplicate name", _set("stages.1.name", "reminder"),
     "stages: the name 'reminder' is used more than once"),
    # contact hours
    ("not a time", _set("contact.latest", "25:00"),
     "contact.latest: 25:00 is not a time from 00:00 to 24:00"),
    ("start after end", _contact(earliest="20:00", latest="09:00"),
     "contact: the hours must begin before they end (20:00 is not before 09:00)"),
    ("too early", _set("contact.earliest", "07:59"),
     "contact.earliest: no contact before 08:00 (07:59 given)"),
    ("too late", _set("contact.latest", "21:01"),
     "contact.latest: no contact after 21:00 (21:01 given)"),
    ("minutes", _set("contact.earliest", "08:60"),
     "contact.earliest: 08:60 is not a time from 00:00 to 24:00"),
    ("other zone", _set("contact.zone", "UTC"), "contact.zone: Input should be 'Asia/Shanghai'"),
    # contact caps
    ("daily cap 0", _set("contact.max_per_day", 0),
     "contact.max_per_day: Input should be greater than or equal to 1"),
    ("daily cap above 10", _set("contact.max_per_day", 11),
     "contact.max_per_day: Input should be less than or equal to 10"),
    ("weekly cap above 30", _set("contact.max_per_week", 31),
     "contact.max_per_week: Input should be less than or equal to 30"),
    ("day above week", _contact(max_per_day=5, max_per_week=4),
     "contact: max_per_day (5) cannot exceed max_per_week (4)"),
    # parties
    ("a relative", _set("contact.parties", ["borrower", "relative"]),
     "contact.parties: 'relative' may never be contacted about a borrower's debt: only borrower"),
    ("no borrower twice", _set("contact.parties", ["borrower", "borrower"]),
     "contact.parties: list borrower once each"),
    # write-off
    ("write-off too early", _set("write_off.min_dpd", 60),
     "write_off.min_dpd: Input should be greater than or equal to 91"),
    ("window bound", _set("write_off.promise_window_days", 400),
     "write_off.promise_window_days: Input should be less than or equal to 365"),
    ("rates not from 1", _set("write_off.recovery_rates.0.from_dpd", 5),
     "write_off.recovery_rates[0].from_dpd: the first rate applies from 1 day past due, not 5"),
    ("rates not rising", _set("write_off.recovery_rates.2.from_dpd", 91),
     "write_off.recovery_rates[2].from_dpd: must rise (91 after 91)"),
    ("recovery improving", _set("write_off.recovery_rates.3.rate", "0.10"),
     "write_off.recovery_rates[3].rate: recovery does not improve with age (0.10 after 0.05)"),
    ("rate above 1", _set("write_off.recovery_rates.0.rate", "1.5"),
     "write_off.recovery_rates[0].rate: 1.5 must be >= 0 and <= 1"),
    ("rate as float", _set("write_off.recovery_rates.0.rate", 0.6),
     "write_off.recovery_rates[0].rate: write exact decimals as strings"),
    ("cost bound", _set("write_off.collection_cost_fen", 100_000_001),
     "write_off.collection_cost_fen: Input should be less than or equal to 100000000"),
    ("commission 100%", _set("write_off.agency_commission", "1"),
     "write_off.agency_commission: 1 must be >= 0 and < 1"),
    # promises
    ("promise days 0", _set("promises.max_days", 0),
     "promises.max_days: Input should be greater than or equal to 1"),
    ("promise days above 60", _set("promises.max_days", 61),
     "promises.max_days: Input should be less than or equal to 60"),
    # the document itself
    ("format", _set("format", "puhui-collections-policy/2"), "format: Input should be"),
    ("version length", _set("version", "v" * 41), "version: String should match pattern"),
    ("unknown field", _set("contact.night_calls", True),
     "contact.night_calls: Extra inputs are not permitted"),
]


@pytest.mark.parametrize("change, message", [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_each_bound_is_refused_with_its_place(change: Callable[[dict[str, Any]], None],
                                              message: str) -> None:
    doc = _doc()
    change(doc)
    with pytest.raises(InvalidCollectionsPolicy) as refused:
        load_collections_policy(doc)
    assert message in str(refused.value), str(refused.value)


def test_a_narrower_window_and_other_caps_are_accepted() -> None:
    doc = _doc()
    doc["version"] = "collections-2027.01"
    doc["contact"].update(earliest="09:00", latest="20:00", max_per_day=2, max_per_week=6)
    doc["promises"]["max_days"] = 14
    policy = load_collections_policy(doc)
    assert policy.contact_rules.earliest == time(9) and policy.contact_rules.latest == time(20)
    assert policy.contact_rules.max_per_day == 2 and policy.max_promise_days == 14
    assert policy.strategy.version == "collections-2027.01"
    assert policy.strategy.stages == FORMER_STRATEGY.stages


def test_the_bounds_themselves_are_allowed() -> None:
    doc = _doc()
    doc["version"] = "edges"
    doc["stages"] = [_stage("a", 1, 1, ["reminder"], 1), _stage("b", 2, 3650),
                     _stage("c", 3651, None, ["agency_handoff"])]
    doc["stages"][2]["from_dpd"] = 3650
    doc["stages"][1]["to_dpd"] = 3649
    doc["contact"].update(earliest="08:00", latest="21:00", max_per_day=10, max_per_week=30)
    doc["write_off"].update(min_dpd=91, promise_window_days=365,
                            collection_cost_fen=100_000_000, agency_commission="0.999999")
    doc["promises"]["max_days"] = 60
    policy = load_collections_policy(doc)
    assert [s.from_dpd for s in policy.strategy.stages] == [1, 2, 3650]
    assert policy.contact_rules.max_per_day == 10 and policy.contact_rules.max_per_week == 30
    assert policy.write_off_rule.min_dpd == 91 and policy.max_promise_days == 60
