"""The line policy evaluator: the shipped rules at their edges, hysteresis, the minimum interval,
bounds per step and absolute, the rate cap, frozen and closed lines, and validation."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from puhui.lines.policy import (InvalidLinePolicy, LineDecision, LineHistory, evaluate,
                                load_line_policy)
from puhui.loans.product import RateCap

from line_policy_samples import SHIPPED, TODAY, history, line, policy_with, quiet


def run(features=None, hist=None, pol=SHIPPED, today=TODAY, **line_over):
    return evaluate(line(**line_over), quiet(**(features or {})), None, hist or history(), pol,
                    today)


def result_of(decision: LineDecision, code: str) -> str:
    return next(t.result for t in decision.trace if t.code == code)


# -- the shipped rules, on the right data and on near misses ---------------------------------------
def test_a_quiet_business_changes_nothing() -> None:
    d = run()
    assert not d.changes and d.fired == () and d.engaged == {}
    assert {t.code: t.result for t in d.trace} == {
        "SALES_COLLAPSE": "not_fired", "LATE_PAYMENT": "not_fired",
        "ELECTRICITY_JUMP": "not_fired", "ON_TIME_SIX_MONTHS": "not_fired"}


def test_electricity_jump_raises_the_limit_by_a_fifth_the_same_week() -> None:
    d = run({"electricity_growth_mom": 0.30})
    assert d.fired == ("ELECTRICITY_JUMP",)
    assert d.proposed_limit == 12_000_000 and d.limit == 12_000_000
    assert d.annual_rate is None and d.freeze is None
    assert d.engaged == {"ELECTRICITY_JUMP": TODAY}
    assert "0.3 month on month" in d.reason


def test_electricity_just_below_the_trigger_does_not_fire() -> None:
    d = run({"electricity_growth_mom": 0.2999})
    assert not d.changes and result_of(d, "ELECTRICITY_JUMP") == "not_fired"


def test_six_months_on_time_takes_half_a_point_off() -> None:
    d = run(hist=history(on_time_months=6))
    assert d.fired == ("ON_TIME_SIX_MONTHS",)
    assert d.annual_rate == Decimal("0.115") and d.limit is None
    assert d.engaged == {}  # no release: the month count restarts at the re-pricing


def test_five_months_on_time_is_not_enough() -> None:
    assert not run(hist=history(on_time_months=5)).changes


def test_sales_collapse_freezes_at_once_and_near_miss_does_not() -> None:
    d = run({"revenue_change_vs_12m": -0.5}, changed_on=TODAY - timedelta(days=1))
    assert d.freeze is True and d.fired == ("SALES_COLLAPSE",)  # urgent: no interval
    assert not run({"revenue_change_vs_12m": -0.4999}).changes


def test_late_payment_cuts_the_limit_but_fourteen_days_do_not() -> None:
    d = run(hist=history(days_past_due=15))
    assert d.limit == 7_000_000
    assert not run(hist=history(days_past_due=14)).changes


def test_a_missing_signal_does_not_fire_and_says_so() -> None:
    d = evaluate(line(), {}, None, LineHistory(), SHIPPED, TODAY)
    assert not d.changes
    assert all(t.result == "missing" for t in d.trace)


# -- hysteresis ------------------------------------------------------------------------------------
def test_an_engaged_rise_does_not_fire_again_on_the_same_signal() -> None:
    first = run({"electricity_growth_mom": 0.4})
    later = TODAY + timedelta(days=30)
    again = run({"electricity_growth_mom": 0.4}, hist=history(engaged=first.engaged),
                today=later, limit=first.limit, changed_on=TODAY)
    assert not again.changes and result_of(again, "ELECTRICITY_JUMP") == "engaged"
    between = run({"electricity_growth_mom": 0.15}, hist=history(engaged=first.engaged),
                  today=later, limit=first.limit, changed_on=TODAY)
    assert between.engaged == first.engaged  # inside the band: still engaged
    low = run({"electricity_growth_mom": 0.05}, hist=history(engaged=first.engaged),
              today=later, limit=first.limit, changed_on=TODAY)
    assert low.released == ("ELECTRICITY_JUMP",) and low.engaged == {} and not low.changes
    rearmed = run({"electricity_growth_mom": 0.35}, hist=history(engaged=low.engaged),
                  today=later + timedelta(days=30), limit=first.limit, changed_on=TODAY)
    assert rearmed.limit == 14_400_000


def test_a_signal_hovering_at_the_freeze_threshold_does_not_flap() -> None:
    status, engaged, changed = "active", {}, None
    freezes = unfreezes = 0
    day = TODAY
    for i, signal in enumerate([-0.51, -0.49, -0.50, -0.48, -0.52, -0.45, -0.50, -0.30, -0.21]):
        day = TODAY + timedelta(days=8 * i)
        d = run({"revenue_change_vs_12m": signal}, hist=history(engaged=engaged), today=day,
                status=status, changed_on=changed)
        if d.freeze is True:
            freezes, status, changed = freezes + 1, "frozen", day
        elif d.freeze is False:
            unfreezes, status, changed = unfreezes + 1, "active", day
        engaged = d.engaged
    assert (freezes, unfreezes, status) == (1, 0, "frozen")
    d = run({"revenue_change_vs_12m": -0.2}, hist=history(engaged=engaged),
            today=day + timedelta(days=8), status="frozen", changed_on=changed)
    assert d.freeze is False and d.released == ("SALES_COLLAPSE",) and d.engaged == {}


def test_an_unfreeze_waits_for_the_minimum_interval() -> None:
    engaged = {"SALES_COLLAPSE": TODAY}
    soon = run({"revenue_change_vs_12m": 0.0}, hist=history(engaged=engaged),
               today=TODAY + timedelta(days=6), status="frozen", changed_on=TODAY)
    assert not soon.changes and soon.engaged == engaged
    assert result_of(soon, "SALES_COLLAPSE") == "held_interval"
    later = run({"revenue_change_vs_12m": 0.0}, hist=history(engaged=engaged),
                today=TODAY + timedelta(days=7), status="frozen", changed_on=TODAY)
    assert later.freeze is False


# -- the minimum interval --------------------------------------------------------------------------
@pytest.mark.parametrize("days, applies", [(0, False), (6, False), (7, True), (30, True)])
def test_no_rise_within_the_minimum_interval(days: int, applies: bool) -> None:
    d = run({"electricity_growth_mom": 0.5}, changed_on=TODAY - timedelta(days=days))
    assert (d.limit == 12_000_000) is applies
    if not applies:
        assert result_of(d, "ELECTRICITY_JUMP") == "held_interval"
        assert d.engaged == {}  # held, not engaged: it acts once the interval has passed


def test_a_new_line_counts_the_interval_from_its_opening() -> None:
    d = run({"electricity_growth_mom": 0.5}, opened_on=TODAY - timedelta(days=2))
    assert d.limit is None


def test_an_urgent_cut_does_not_wait() -> None:
    d = run(hist=history(days_past_due=20), changed_on=TODAY - timedelta(days=1))
    assert d.limit == 7_000_000


# -- bounds ----------------------------------------------------------------------------------------
def _one_rule(action: dict, **rule_over) -> object:
    doc = json.loads(SHIPPED.canonical_json())
    doc["rules"] = [{"code": "TEST", "message": "test", "action": action,
                     "when": {"fact": "electricity_growth_mom", "op": ">=", "value": 0.3},
                     **rule_over}]
    return load_line_policy(doc)


def test_a_rise_is_bounded_per_step() -> None:
    pol = _one_rule({"limit_change": "0.80"})
    d = run({"electricity_growth_mom": 0.5}, pol=pol)
    assert d.proposed_limit == 18_000_000 and d.limit == 13_000_000  # +30% at most
    assert "bounded" in d.notes[0]


def test_a_cut_is_bounded_per_step_and_by_the_minimum() -> None:
    pol = _one_rule({"limit_change": "-0.90"}, urgent=True)
    assert run({"electricity_growth_mom": 0.5}, pol=pol).limit == 5_000_000  # -50% at most
    small = run({"electricity_growth_mom": 0.5}, pol=pol, limit=1_500_000, drawn=0)
    assert small.limit == 1_000_000  # the policy's minimum, 10,000 yuan


def test_a_rise_stops_at_the_policy_and_product_maximum() -> None:
    assert run({"electricity_growth_mom": 0.5}, limit=45_000_000).limit == 50_000_000
    assert run({"electricity_growth_mom": 0.5}, product_max=11_000_000).limit == 11_000_000
    at_max = run({"electricity_growth_mom": 0.5}, limit=50_000_000)
    assert at_max.limit is None and at_max.fired == ("ELECTRICITY_JUMP",)


def test_a_rise_rounds_down_to_whole_hundreds_of_yuan_and_a_cut_up() -> None:
    assert run({"electricity_growth_mom": 0.5}, limit=10_012_345).limit == 12_010_000
    assert run(hist=history(days_past_due=30), limit=10_012_345).limit == 7_010_000


def test_a_product_maximum_below_the_limit_never_turns_a_rise_into_a_cut() -> None:
    assert run({"electricity_growth_mom": 0.5}, product_max=5_000_000).limit is None


def test_a_price_cut_stops_at_the_policy_floor() -> None:
    d = run(hist=history(on_time_months=12), annual_rate=Decimal("0.062"))
    assert d.annual_rate == Decimal("0.06") and d.proposed_rate == Decimal("0.057")
    assert run(hist=history(on_time_months=12), annual_rate=Decimal("0.06")).annual_rate is None


# -- the rate cap ----------------------------------------------------------------------------------
def test_a_price_rise_never_goes_above_the_cap_in_force() -> None:
    pol = _one_rule({"rate_change": "0.02"}, urgent=True)
    cap = RateCap(Decimal("0.13"), "4x LPR")
    d = run({"electricity_growth_mom": 0.5}, pol=pol, rate_cap=cap)
    assert d.proposed_rate == Decimal("0.14") and d.annual_rate == Decimal("0.13")


def test_a_price_above_a_lowered_cap_is_brought_down_whatever_the_rules_say() -> None:
    cap = RateCap(Decimal("0.1012345"), "4x LPR of 2.53%")
    d = run(rate_cap=cap)
    assert d.annual_rate == Decimal("0.101234") and d.fired == ()
    assert d.notes[0].startswith("RATE_ABOVE_CAP")
    frozen = run(rate_cap=cap, status="frozen")
    assert frozen.annual_rate == Decimal("0.101234")


def test_a_price_exactly_at_the_cap_is_kept() -> None:
    assert not run(annual_rate=Decimal("0.24")).changes


# -- status ----------------------------------------------------------------------------------------
def test_a_frozen_line_gets_no_rise_and_no_discount() -> None:
    d = run({"electricity_growth_mom": 0.5}, hist=history(on_time_months=6), status="frozen")
    assert not d.changes
    assert result_of(d, "ELECTRICITY_JUMP") == result_of(d, "ON_TIME_SIX_MONTHS") == "held_frozen"
    assert d.engaged == {}


def test_a_freeze_beats_a_rise_the_same_day() -> None:
    d = run({"electricity_growth_mom": 0.5, "revenue_change_vs_12m": -0.7})
    assert d.freeze is True and d.limit is None and d.fired == ("SALES_COLLAPSE",)


def test_freezing_a_frozen_line_changes_nothing_but_engages() -> None:
    d = run({"revenue_change_vs_12m": -0.7}, status="frozen")
    assert d.freeze is None and d.engaged == {"SALES_COLLAPSE": TODAY}


@pytest.mark.parametrize("status", ["closed", "expired"])
def test_a_closed_or_expired_line_is_left_alone(status: str) -> None:
    d = run({"electricity_growth_mom": 0.9, "revenue_change_vs_12m": -0.9}, status=status,
            annual_rate=Decimal("0.30"))
    assert not d.changes and d.trace[0].code == "LINE_NOT_OPEN"


# -- the decision as data --------------------------------------------------------------------------
def test_a_decision_reads_back_from_its_dict() -> None:
    d = run({"electricity_growth_mom": 0.5}, hist=history(on_time_months=7))
    again = LineDecision.from_dict(json.loads(json.dumps(d.to_dict())))
    assert again == d


def test_engaged_rules_of_another_policy_are_dropped() -> None:
    d = run(hist=history(engaged={"NO_SUCH_RULE": TODAY, "ON_TIME_SIX_MONTHS": TODAY}))
    assert d.engaged == {}


# -- validation ------------------------------------------------------------------------------------
def _refused(mutate) -> str:
    doc = json.loads(SHIPPED.canonical_json())
    mutate(doc)
    with pytest.raises(InvalidLinePolicy) as info:
        load_line_policy(doc)
    return str(info.value)


def test_a_release_inside_the_trigger_leaves_no_band() -> None:
    def at_threshold(doc):
        doc["rules"][2]["release"] = {"fact": "electricity_growth_mom", "op": "<", "value": 0.3}
    assert "rules[2].release" in _refused(at_threshold) and "band" in _refused(at_threshold)

    def same_way(doc):
        doc["rules"][0]["release"] = {"fact": "revenue_change_vs_12m", "op": "<=", "value": -0.6}
    assert "same way" in _refused(same_way)


def test_only_risk_reducing_rules_may_be_urgent() -> None:
    def urgent_rise(doc):
        doc["rules"][2]["urgent"] = True
    assert "rules[2].urgent" in _refused(urgent_rise)


def test_other_refusals_name_their_place() -> None:
    def unknown(doc):
        doc["rules"][3]["when"] = {"fact": "nope", "op": ">", "value": 1}
    assert "rules[3].when: unknown fact 'nope'" in _refused(unknown)

    def dangling(doc):
        del doc["rules"][0]["release"]
    assert "rules[0].on_release: needs a release" in _refused(dangling)

    def twice(doc):
        doc["rules"][1]["code"] = "SALES_COLLAPSE"
    assert "SALES_COLLAPSE is used more than once" in _refused(twice)

    def float_change(doc):
        doc["rules"][2]["action"] = {"limit_change": 0.2}
    assert "write exact decimals as strings" in _refused(float_change)

    def two_actions(doc):
        doc["rules"][2]["action"] = {"limit_change": "0.2", "freeze": True}
    assert "exactly one of" in _refused(two_actions)

    def off_unit(doc):
        doc["limits"]["max_fen"] = 50_000_001
    assert "limits.max_fen" in _refused(off_unit)

    def reserved(doc):
        doc["rules"][3]["code"] = "RATE_ABOVE_CAP"
    assert "reserved" in _refused(reserved)


def test_identity_ignores_layout_and_changes_with_content() -> None:
    doc = json.loads(SHIPPED.canonical_json())
    assert load_line_policy(json.dumps(doc, indent=3)).identity == SHIPPED.identity
    assert policy_with(min_days_between_changes=8).identity != SHIPPED.identity
    assert SHIPPED.identity.startswith("lines-2026.12+")


def test_history_defaults_and_replace() -> None:
    h = replace(history(), engaged={"ELECTRICITY_JUMP": date(2026, 1, 1)})
    assert h.facts()["on_time_months"] == 2


# -- versions --------------------------------------------------------------------------------------
def test_the_registry_keeps_line_policies_by_version_and_refuses_tampering(tmp_path) -> None:
    from puhui.decision.errors import PolicyTampered, PolicyVersionConflict
    from puhui.lines.registry import LinePolicyRegistry

    registry = LinePolicyRegistry(tmp_path / "line-policies")
    record = registry.register(SHIPPED)
    registry.activate(record.version)
    assert registry.active() == SHIPPED and registry.active().identity == SHIPPED.identity
    doc = json.loads(SHIPPED.canonical_json())
    doc["min_days_between_changes"] = 3
    with pytest.raises(PolicyVersionConflict):
        registry.register(doc)
    with pytest.raises(InvalidLinePolicy):
        registry.register({**doc, "version": "lines-x", "rules": []})
    stored = tmp_path / "line-policies" / SHIPPED.version / "policy.json"
    stored.write_text(stored.read_text().replace('"min_days_between_changes":7',
                                                 '"min_days_between_changes":1'))
    with pytest.raises(PolicyTampered):
        registry.load(SHIPPED.version)


def test_a_record_replays_only_under_its_own_policy() -> None:
    from puhui.lines.policy import InvalidLineDecision, line_facts
    from puhui.lines.record import LineDecisionRecord, replay

    facts_line = line()
    hist = history(on_time_months=6)
    facts = line_facts(facts_line, quiet(electricity_growth_mom=0.5), None, hist, TODAY)
    d = evaluate(facts_line, quiet(electricity_growth_mom=0.5), None, hist, SHIPPED, TODAY)
    record = LineDecisionRecord("LD1", "LN1", "AP1", TODAY, "manual", SHIPPED.version,
                                SHIPPED.sha256, {}, {}, facts_line, {}, facts, d.outcome())
    again = LineDecisionRecord.from_json(record.to_json())
    assert again == record and replay(again, SHIPPED) == d
    with pytest.raises(InvalidLineDecision, match="decided under"):
        replay(again, policy_with(min_days_between_changes=8))
    with pytest.raises(InvalidLineDecision):
        LineDecisionRecord.from_json(record.to_json().replace('"outcome"', '"result"'))
