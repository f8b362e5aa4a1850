"""Early-warning signals at their threshold edges, the rule set's validation, and the watch-list
status with hysteresis (puhui/risk/warnings.py)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import date, timedelta
from importlib import resources

import pytest

from puhui.parties.consent import DataScope
from puhui.risk.warnings import (
    Action,
    InvalidWarningRules,
    LoanBehaviour,
    LoanFacts,
    Payout,
    Severity,
    Signal,
    WatchState,
    WatchStatus,
    assess,
    compute_signals,
    load_rules,
    next_state,
    payee_hash,
)
from warning_samples import OTHER, OWN, PAYEE, bureau, electricity, statement, vat_filed

DAY = date(2026, 12, 7)
PAID = date(2026, 9, 15)
RULES = load_rules()


def raw_rules() -> dict:
    text = resources.files("puhui.risk").joinpath("warning_rules").joinpath(
        "ew-2026.12.json").read_text("utf-8")
    return json.loads(text)


def facts(**kw) -> LoanFacts:
    base = dict(loan_id="LN1", as_of=DAY, applicant_id="AP1", disbursed_on=PAID)
    base.update(kw)
    return LoanFacts(**base)


def fired(f: LoanFacts, rules=RULES) -> dict[Signal, Severity]:
    return {s.signal: s.severity for s in compute_signals(f, rules)}


# -- each signal at its edge ----------------------------------------------------------------------
@pytest.mark.parametrize("recent, expected", [
    (70_001, None), (70_000, Severity.MEDIUM), (50_001, Severity.MEDIUM), (50_000, Severity.HIGH)])
def test_sales_drop_edges(recent, expected) -> None:
    f = facts(data={DataScope.SALES: _sales_source()},  # any fresh sales source
              features={"revenue_avg_3m_fen": float(recent), "revenue_avg_12m_fen": 100_000.0})
    assert fired(f).get(Signal.SALES_DROP) is expected


def _sales_source():
    from warning_samples import source
    return source(DataScope.SALES, DAY, [])


def test_sales_drop_from_the_sales_records() -> None:
    from warning_samples import sales
    from puhui.risk.warnings import sales_features
    months = [f"2025-{m:02d}" for m in range(12, 13)] + [f"2026-{m:02d}" for m in range(1, 12)]
    # a year of 100,000 fen a month, the last three at 40,000: 3m 40,000, 12m 85,000
    src = sales(DAY, {m: (40_000 if m >= "2026-09" else 100_000) for m in months})
    f = facts(data={DataScope.SALES: src}, features=sales_features({DataScope.SALES: src}))
    [signal] = compute_signals(f, RULES)
    assert signal.signal is Signal.SALES_DROP and signal.severity is Severity.HIGH
    assert signal.value == pytest.approx(1 - 40_000 / 85_000)
    assert sales_features({}) == {}


def test_sales_drop_needs_fresh_sales_data() -> None:
    from warning_samples import source
    stale = source(DataScope.SALES, DAY - timedelta(days=46), [])
    f = facts(data={DataScope.SALES: stale},
              features={"revenue_avg_3m_fen": 0.0, "revenue_avg_12m_fen": 100_000.0})
    assert Signal.SALES_DROP not in fired(f)
    fresh = replace(f, data={DataScope.SALES: source(DataScope.SALES, DAY - timedelta(days=45), [])})
    assert fired(fresh)[Signal.SALES_DROP] is Severity.HIGH


@pytest.mark.parametrize("last, expected", [(601, None), (600, Severity.MEDIUM),
                                            (301, Severity.MEDIUM), (300, Severity.HIGH)])
def test_utility_drop_edges(last, expected) -> None:
    # baseline: the three months before the last, 1000 kWh on average (the fourth is ignored)
    src = electricity(DAY, {"2026-07": 5, "2026-08": 900, "2026-09": 1000, "2026-10": 1100,
                            "2026-11": last})
    assert fired(facts(data={DataScope.UTILITY: src})).get(Signal.UTILITY_DROP) is expected


def test_utility_drop_needs_two_months() -> None:
    src = electricity(DAY, {"2026-11": 0})
    assert Signal.UTILITY_DROP not in fired(facts(data={DataScope.UTILITY: src}))


@pytest.mark.parametrize("days, expected", [(74, None), (75, Severity.MEDIUM),
                                            (119, Severity.MEDIUM), (120, Severity.HIGH)])
def test_tax_filings_stopped_edges(days, expected) -> None:
    src = vat_filed(DAY, DAY - timedelta(days=days + 40), DAY - timedelta(days=days))
    assert fired(facts(data={DataScope.TAX: src})).get(Signal.TAX_FILINGS_STOPPED) is expected


def test_bureau_arrears_count_only_from_the_payout_month() -> None:
    before = bureau(DAY, overdue={"2026-08": 60})
    assert Signal.BUREAU_NEW_ARREARS not in fired(facts(data={DataScope.BUREAU: before}))
    for days, expected in ((1, Severity.MEDIUM), (29, Severity.MEDIUM), (30, Severity.HIGH)):
        src = bureau(DAY, overdue={"2026-08": 60, "2026-09": days})
        assert fired(facts(data={DataScope.BUREAU: src}))[Signal.BUREAU_NEW_ARREARS] is expected
    clean = bureau(DAY, overdue={"2026-10": 0})
    assert Signal.BUREAU_NEW_ARREARS not in fired(facts(data={DataScope.BUREAU: clean}))


def test_bureau_enquiries_in_the_window_after_the_payout() -> None:
    window_start = DAY - timedelta(days=89)

    def facts(**kw):  # paid out long enough ago that the 90-day window is whole
        return globals()["facts"](disbursed_on=date(2026, 6, 1), **kw)
    two = [window_start, DAY]
    assert Signal.BUREAU_ENQUIRIES not in fired(facts(data={DataScope.BUREAU: bureau(DAY, enquiries=two)}))
    three = two + [DAY - timedelta(days=10)]
    got = fired(facts(data={DataScope.BUREAU: bureau(DAY, enquiries=three)}))
    assert got[Signal.BUREAU_ENQUIRIES] is Severity.LOW
    outside = [window_start - timedelta(days=1)] + two  # one day before the window
    assert Signal.BUREAU_ENQUIRIES not in fired(facts(data={DataScope.BUREAU: bureau(DAY, enquiries=outside)}))
    six = [DAY - timedelta(days=n) for n in range(6)]
    assert fired(facts(data={DataScope.BUREAU: bureau(DAY, enquiries=six)}))[
        Signal.BUREAU_ENQUIRIES] is Severity.MEDIUM
    # the lender's own post-loan checks are not the borrower shopping for credit
    mine = bureau(DAY, enquiries=six, reason="post_loan_management")
    assert Signal.BUREAU_ENQUIRIES not in fired(facts(data={DataScope.BUREAU: mine}))
    # enquiries before the payout were known when the loan was granted
    early = globals()["facts"](disbursed_on=DAY - timedelta(days=3),
                               data={DataScope.BUREAU: bureau(DAY, enquiries=six)})
    assert fired(early)[Signal.BUREAU_ENQUIRIES] is Severity.LOW  # three after the payout day


def _entrusted(lines, **kw) -> LoanFacts:
    pay = Payout("entrusted", PAID, 1_000_000, PAYEE, OWN)
    pay = replace(pay, **kw)
    return facts(payout=pay, data={DataScope.BANK_STATEMENT: statement(DAY, lines)})


def test_entrusted_funds_flowing_back_from_the_payee() -> None:
    at_edge = _entrusted([(PAID + timedelta(days=3), 300_000, PAYEE)])
    assert fired(at_edge)[Signal.ENTRUSTED_FUNDS_RETURNED] is Severity.MEDIUM
    under = _entrusted([(PAID + timedelta(days=3), 299_999, PAYEE)])
    assert Signal.ENTRUSTED_FUNDS_RETURNED not in fired(under)
    # two returns add up; one after the window and one from someone else do not count
    lines = [(PAID + timedelta(days=1), 400_000, PAYEE), (PAID + timedelta(days=30), 300_000, PAYEE),
             (PAID + timedelta(days=31), 300_000, PAYEE), (PAID + timedelta(days=2), 500_000, OTHER)]
    assert fired(_entrusted(lines))[Signal.ENTRUSTED_FUNDS_RETURNED] is Severity.HIGH
    bound = replace(_entrusted(lines), payout=Payout("bound_account", PAID, 1_000_000))
    assert Signal.ENTRUSTED_FUNDS_RETURNED not in fired(bound)


def test_entrusted_funds_not_reaching_the_supplier() -> None:
    landed = _entrusted([(PAID, 1_010_000, OTHER)])  # within 1% of the payout
    assert fired(landed)[Signal.ENTRUSTED_NOT_TO_SUPPLIER] is Severity.HIGH
    near = _entrusted([(PAID, 1_010_001, OTHER)])
    assert Signal.ENTRUSTED_NOT_TO_SUPPLIER not in fired(near)
    own = _entrusted([], payee_hash=OWN)
    assert fired(own)[Signal.ENTRUSTED_NOT_TO_SUPPLIER] is Severity.HIGH
    assert payee_hash("6222 0200 0000 1234") == payee_hash("6222020000001234")
    unknown = _entrusted([(PAID, 1_000_000, OTHER)], payee_hash=None)  # payee unreadable
    assert fired(unknown) == {}


@pytest.mark.parametrize("dpd, expected", [(0, None), (1, Severity.MEDIUM), (30, Severity.MEDIUM),
                                           (31, Severity.HIGH)])
def test_missed_instalment_edges(dpd, expected) -> None:
    got = fired(facts(behaviour=LoanBehaviour(days_past_due=dpd)))
    assert got.get(Signal.MISSED_INSTALMENT) is expected


@pytest.mark.parametrize("paid, short, expected", [(1, 99, None), (1, 100, Severity.LOW),
                                                  (0, 5000, None), (5000, 0, None)])
def test_partial_instalment_edges(paid, short, expected) -> None:
    b = LoanBehaviour(days_past_due=1, last_due_on=DAY - timedelta(days=1), last_due_paid=paid,
                      last_due_shortfall=short)
    assert fired(facts(behaviour=b)).get(Signal.PARTIAL_INSTALMENT) is expected


def test_failed_auto_debits_in_the_window() -> None:
    edge = DAY - timedelta(days=29)
    one = LoanBehaviour(failed_debits=(edge,))
    assert fired(facts(behaviour=one))[Signal.AUTO_DEBIT_FAILED] is Severity.LOW
    old = LoanBehaviour(failed_debits=(edge - timedelta(days=1),))
    assert Signal.AUTO_DEBIT_FAILED not in fired(facts(behaviour=old))
    three = LoanBehaviour(failed_debits=(edge, DAY - timedelta(days=1), DAY))
    assert fired(facts(behaviour=three))[Signal.AUTO_DEBIT_FAILED] is Severity.MEDIUM


def test_no_data_no_signal() -> None:
    assert compute_signals(facts(), RULES) == []


# -- status, hysteresis and actions ---------------------------------------------------------------
def _day(n: int) -> date:
    return DAY + timedelta(days=n)


def test_escalation_is_immediate_and_de_escalation_waits_calm_days() -> None:
    s = next_state(3, None, _day(0), RULES)
    assert s == WatchState(WatchStatus.WATCH, _day(0), None)
    s = next_state(6, s, _day(1), RULES)
    assert s == WatchState(WatchStatus.ALERT, _day(1), None)
    # score 4 is below alert's entry but not below its exit: the run of calm days does not start
    s = next_state(4, s, _day(2), RULES)
    assert s == WatchState(WatchStatus.ALERT, _day(1), None)
    # 13 calm days: still alert; the 14th moves down to what the score enters (watch at 3)
    for n in range(3, 16):
        s = next_state(3, s, _day(n), RULES)
        assert s.status is WatchStatus.ALERT and s.calm_since == _day(3)
    s = next_state(3, s, _day(16), RULES)
    assert s == WatchState(WatchStatus.WATCH, _day(16), None)


def test_a_relapse_restarts_the_calm_run() -> None:
    s = WatchState(WatchStatus.WATCH, _day(0))
    s = next_state(0, s, _day(1), RULES)
    assert s.calm_since == _day(1)
    s = next_state(2, s, _day(2), RULES)   # at the exit threshold: not calm
    assert s == WatchState(WatchStatus.WATCH, _day(0), None)
    for n in range(3, 16):
        s = next_state(1, s, _day(n), RULES)
    assert s.status is WatchStatus.WATCH
    s = next_state(1, s, _day(16), RULES)
    assert s == WatchState(WatchStatus.NORMAL, _day(16), None)


def test_a_score_hovering_at_the_threshold_does_not_flap() -> None:
    s, changes = None, 0
    for n in range(60):
        score = 3 if n % 2 else 2          # crosses watch's entry every other day
        before = s.status if s else WatchStatus.NORMAL
        s = next_state(score, s, _day(n), RULES)
        changes += s.status is not before
    assert changes == 1 and s.status is WatchStatus.WATCH


def test_actions_are_produced_on_entering_and_leaving_only() -> None:
    dpd31 = facts(behaviour=LoanBehaviour(days_past_due=31))
    a = assess(dpd31, None, RULES)
    assert a.status is WatchStatus.ALERT and a.changed
    assert [x.kind for x in a.actions] == [Action.FREEZE_LINE, Action.REDUCE_LIMIT, Action.CALL,
                                           Action.TIGHTEN_COLLECTION]
    assert a.actions[1].params == {"factor": 0.5}
    assert a.actions[0].key == f"warn:LN1:{DAY.isoformat()}:freeze_line"
    assert "31 days past due" in a.actions[0].reason
    again = assess(replace(dpd31, as_of=_day(1)), a.state, RULES)
    assert again.status is WatchStatus.ALERT and again.actions == ()
    state = WatchState(WatchStatus.ALERT, DAY, _day(1))
    calm = assess(facts(as_of=_day(14)), state, RULES)
    assert calm.status is WatchStatus.NORMAL
    assert [x.kind for x in calm.actions] == [Action.UNFREEZE_LINE]
    watch = assess(facts(behaviour=LoanBehaviour(days_past_due=1)), None, RULES)
    assert [x.kind for x in watch.actions] == [Action.CALL]
    assert [s.to_dict()["signal"] for s in watch.signals] == ["missed_instalment"]


def test_the_rule_set_is_versioned_and_hashed() -> None:
    raw = raw_rules()
    assert RULES.version == "ew-2026.12" and len(RULES.sha256) == 64
    changed = copy.deepcopy(raw)
    changed["calm_days"] = 7
    assert load_rules(changed).sha256 != RULES.sha256


@pytest.mark.parametrize("path, value, words", [
    (("signals", "sales_dip"), {"tiers": [{"at": 1, "severity": "low"}]}, "unknown signal"),
    (("signals", "sales_drop", "tiers"), [{"at": 0.5, "severity": "low"},
                                           {"at": 0.5, "severity": "high"}], "rise strictly"),
    (("signals", "sales_drop", "tiers"), [{"at": 0.5, "severity": "grave"}], "severity"),
    (("statuses", "watch"), {"enter": 3, "exit": 4}, "exit <= enter"),
    (("statuses", "alert"), {"enter": 3, "exit": 2}, "above statuses.watch"),
    (("calm_days",), 0, "calm_days"),
    (("weights", "low"), -1, "weights.low"),
    (("on_enter", "alert"), [{"kind": "reduce_limit", "params": {"factor": 1}}], "factor"),
    (("on_enter", "alert"), [{"kind": "shout"}], "kind"),
    (("surprise",), 1, "unknown fields"),
])
def test_bad_rule_sets_are_refused_by_name(path, value, words) -> None:
    raw = raw_rules()
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(InvalidWarningRules, match=words):
        load_rules(raw)
    with pytest.raises(InvalidWarningRules, match="no shipped"):
        load_rules("nope.json")
