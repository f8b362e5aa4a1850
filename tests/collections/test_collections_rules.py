"""The pure collections rules: stages, contact rules, promise evaluation, write-off advice."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from puhui.collections.contact import (DEFAULT_RULES, ContactRules, ContactParty, check_contact,
                                       week_window)
from puhui.collections.errors import ContactRefused, InvalidCollectionsInput
from puhui.collections.promises import PromiseStatus, check_new_promise, evaluate
from puhui.collections.strategy import (DEFAULT_STRATEGY, CollectionStrategy, Stage,
                                        priority)
from puhui.collections.writeoff import DEFAULT_WRITE_OFF_RULE, advise
from puhui.services.clock import BUSINESS_ZONE


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=BUSINESS_ZONE).astimezone(timezone.utc)


DAY = date(2026, 3, 10)


# -- strategy -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dpd, stage", [(0, "reminder"), (1, "reminder"), (30, "reminder"),
                                        (31, "call"), (60, "call"), (61, "field_visit"),
                                        (90, "field_visit"), (91, "legal"), (180, "legal"),
                                        (181, "agency"), (2000, "agency")])
def test_the_default_stages_follow_the_buckets(dpd: int, stage: str) -> None:
    assert DEFAULT_STRATEGY.stage(dpd).name == stage


def test_broken_promises_raise_the_stage_up_to_the_last() -> None:
    assert DEFAULT_STRATEGY.stage(5, escalations=1).name == "call"
    assert DEFAULT_STRATEGY.stage(5, escalations=2).name == "field_visit"
    assert DEFAULT_STRATEGY.stage(95, escalations=9).name == "agency"


def test_stage_actions_escalate_and_the_cadence_counts_from_the_opening_day() -> None:
    actions = [s.actions for s in DEFAULT_STRATEGY.stages]
    assert actions[0] == ["reminder", "call_queue"]
    assert actions[2] == ["reminder", "call_queue", "field_visit"]
    assert actions[-1] == ["legal_letter", "agency_handoff"]
    first = DEFAULT_STRATEGY.stages[0]
    assert [d for d in range(10) if first.reminder_due(d)] == [0, 3, 6, 9]
    assert not any(DEFAULT_STRATEGY.stages[-1].reminder_due(d) for d in range(30))


def test_a_strategy_is_data_and_bad_ones_are_refused() -> None:
    assert CollectionStrategy.from_dict(DEFAULT_STRATEGY.to_dict()) == DEFAULT_STRATEGY
    with pytest.raises(InvalidCollectionsInput, match="start at 1"):
        CollectionStrategy("x", (Stage("a", 2),))
    with pytest.raises(InvalidCollectionsInput, match="rise strictly"):
        CollectionStrategy("x", (Stage("a", 1), Stage("b", 1)))
    with pytest.raises(InvalidCollectionsInput, match="reminder_every_days"):
        Stage("a", 1, reminder_every_days=0)
    with pytest.raises(InvalidCollectionsInput, match="not a collection strategy"):
        CollectionStrategy.from_dict({"version": "x"})


def test_priority_is_amount_overdue_times_days() -> None:
    assert priority(1_000_00, 10) == 1_000_000
    assert priority(1_000_00, 0) == 0


# -- contact rules -------------------------------------------------------------------------------

@pytest.mark.parametrize("hh, mm, ok", [(7, 59, False), (8, 0, True), (12, 0, True),
                                        (20, 59, True), (21, 0, False), (23, 30, False),
                                        (0, 0, False)])
def test_contact_hours_are_local_and_half_open(hh: int, mm: int, ok: bool) -> None:
    at = local(DAY, hh, mm)
    if ok:
        check_contact(DEFAULT_RULES, at, ContactParty.BORROWER, [])
    else:
        with pytest.raises(ContactRefused) as refused:
            check_contact(DEFAULT_RULES, at, ContactParty.BORROWER, [])
        assert refused.value.rule == "contact_hours"


def test_hours_are_read_in_shanghai_not_utc() -> None:
    # 00:30 UTC is 08:30 in Shanghai: allowed; 13:30 UTC is 21:30 there: refused
    check_contact(DEFAULT_RULES, datetime(2026, 3, 10, 0, 30, tzinfo=timezone.utc),
                  ContactParty.BORROWER, [])
    with pytest.raises(ContactRefused):
        check_contact(DEFAULT_RULES, datetime(2026, 3, 10, 13, 30, tzinfo=timezone.utc),
                      ContactParty.BORROWER, [])


def test_the_daily_cap_counts_the_local_day() -> None:
    earlier = [local(DAY, 9), local(DAY, 10), local(DAY - timedelta(days=1), 20, 59)]
    check_contact(DEFAULT_RULES, local(DAY, 11), ContactParty.BORROWER, earlier)
    with pytest.raises(ContactRefused) as refused:
        check_contact(DEFAULT_RULES, local(DAY, 11), ContactParty.BORROWER,
                      earlier + [local(DAY, 10)])
    assert refused.value.rule == "daily_cap"


def test_the_weekly_cap_counts_seven_local_days() -> None:
    rules = ContactRules(max_per_day=3, max_per_week=10)
    # 9 contacts over the six days before, 0 today: one more is allowed, then the week is full
    earlier = [local(DAY - timedelta(days=d), 9 + n) for d in range(1, 4) for n in range(3)]
    check_contact(rules, local(DAY, 9), ContactParty.BORROWER, earlier)
    with pytest.raises(ContactRefused) as refused:
        check_contact(rules, local(DAY, 9), ContactParty.BORROWER, earlier + [local(DAY, 8)])
    assert refused.value.rule == "weekly_cap"
    # contacts seven days ago have left the window
    old = [local(DAY - timedelta(days=7), 9 + n) for n in range(3)] * 4
    check_contact(rules, local(DAY, 9), ContactParty.BORROWER, old)
    assert week_window(rules, local(DAY, 9)) == local(DAY - timedelta(days=6), 0)


@pytest.mark.parametrize("party", [p for p in ContactParty if p is not ContactParty.BORROWER])
def test_only_the_borrower_is_contacted(party: ContactParty) -> None:
    with pytest.raises(ContactRefused) as refused:
        check_contact(DEFAULT_RULES, local(DAY, 10), party, [])
    assert refused.value.rule == "third_party"


def test_bad_contact_rules_and_naive_times_are_refused() -> None:
    with pytest.raises(InvalidCollectionsInput):
        ContactRules(earliest=time(21), latest=time(8))
    with pytest.raises(InvalidCollectionsInput):
        ContactRules(max_per_day=5, max_per_week=3)
    with pytest.raises(InvalidCollectionsInput, match="timezone-aware"):
        check_contact(DEFAULT_RULES, datetime(2026, 3, 10, 10), ContactParty.BORROWER, [])


# -- promises -------------------------------------------------------------------------------

MADE, DUE = date(2026, 3, 10), date(2026, 3, 15)


@pytest.mark.parametrize("receipts, today, status, paid", [
    ([(DUE, 1000)], DUE + timedelta(days=1), PromiseStatus.KEPT, 1000),         # on the day
    ([(DUE, 999)], DUE + timedelta(days=1), PromiseStatus.BROKEN, 999),         # a fen short
    ([(DUE, 999)], DUE, PromiseStatus.PENDING, 999),                            # not yet over
    ([(MADE, 400), (DUE - timedelta(days=1), 600)], MADE + timedelta(days=2),
     PromiseStatus.KEPT, 1000),                                                 # in parts, early
    ([(MADE - timedelta(days=1), 1000)], DUE + timedelta(days=1),
     PromiseStatus.BROKEN, 0),                                                  # before it was made
    ([(DUE + timedelta(days=1), 1000)], DUE + timedelta(days=1),
     PromiseStatus.BROKEN, 0),                                                  # a day late
    ([], DUE - timedelta(days=1), PromiseStatus.PENDING, 0),
])
def test_a_promise_is_kept_by_receipts_from_its_day_to_its_due_date(receipts, today, status,
                                                                    paid) -> None:
    checked = evaluate(1000, MADE, DUE, receipts, today)
    assert (checked.status, checked.paid) == (status, paid)


def test_a_new_promise_is_positive_and_due_within_30_days() -> None:
    check_new_promise(1, MADE, MADE)
    check_new_promise(1, MADE + timedelta(days=30), MADE)
    for amount, due in ((0, MADE), (True, MADE), (1.5, MADE), (1, MADE - timedelta(days=1)),
                        (1, MADE + timedelta(days=31)), (1, "2026-03-12")):
        with pytest.raises(InvalidCollectionsInput):
            check_new_promise(amount, due, MADE)


# -- write-off advice ---------------------------------------------------------------------------

def test_write_off_needs_age_no_kept_promise_and_recovery_below_cost() -> None:
    rule = DEFAULT_WRITE_OFF_RULE
    today = date(2026, 12, 1)
    small = 20_000_00  # 5% expected: 1,000 yuan, below 2,000 + 30% commission
    assert advise(rule, 181, small, None, today).recommended
    assert not advise(rule, 179, small, None, today).recommended
    kept = advise(rule, 200, small, today - timedelta(days=90), today)
    assert not kept.recommended and "promise kept" in kept.unmet[0]
    assert advise(rule, 200, small, today - timedelta(days=91), today).recommended
    big = advise(rule, 200, 1_000_000_00, None, today)
    assert not big.recommended and big.expected_recovery == 5_000_000
    assert rule.recovery_rate(400) == Decimal("0.02")


# -- restructuring plans --------------------------------------------------------------------

def _loan_overdue(code: str, principal: int):
    from puhui.demo import DEMO_PRODUCTS
    from puhui.loans.events import Disbursement
    from puhui.loans.servicing import Loan

    loan = Loan("LN-1", next(p for p in DEMO_PRODUCTS if p.code == code))
    loan.apply(Disbursement("d", date(2026, 1, 5), principal))
    return loan


def test_a_plan_is_refused_when_fees_take_the_all_in_cost_above_the_cap() -> None:
    from puhui.errors import RateCapExceeded
    from puhui.loans.product import RateCap
    from puhui.collections.restructuring import plan

    loan = _loan_overdue("SME-IF-6", 10_000_00)  # 8.5% and 10 yuan a month in fees
    on = date(2026, 3, 10)
    ok = plan(loan, "extend", on, RateCap(Decimal("0.24")), affordable_instalment=20_000_00,
              extra_periods=2)
    assert Decimal("0.085") < ok.apr < Decimal("0.24")
    # the nominal 8.5% is within a 9% cap; with the fees the cost is not
    with pytest.raises(RateCapExceeded, match="annualised cost"):
        plan(loan, "extend", on, RateCap(Decimal("0.09")), affordable_instalment=20_000_00,
             extra_periods=2)


def test_reduce_instalment_finds_the_shortest_affordable_term() -> None:
    from puhui.collections.errors import RestructuringRefused
    from puhui.collections.restructuring import plan
    from puhui.loans.product import RateCap

    loan = _loan_overdue("SME-EI-12", 100_000_00)
    on = date(2026, 3, 25)
    cap = RateCap(Decimal("0.24"))
    chosen = plan(loan, "reduce_instalment", on, cap, affordable_instalment=6_000_00)
    assert chosen.new_instalment <= 6_000_00
    shorter = plan(loan, "reschedule", on, cap, affordable_instalment=10**9,
                   periods=chosen.periods - 1)
    assert shorter.new_instalment > 6_000_00  # one period fewer would not be affordable
    assert chosen.event("k").periods == chosen.periods
    with pytest.raises(RestructuringRefused, match="even over 60 instalments"):
        plan(loan, "reduce_instalment", on, cap, affordable_instalment=1_000_00)
    with pytest.raises(InvalidCollectionsInput):
        plan(loan, "reschedule", on, cap, affordable_instalment=1, extra_periods=3)
    with pytest.raises(InvalidCollectionsInput):
        plan(loan, "shorten", on, cap, affordable_instalment=1)


def test_numbers_in_a_collectors_note_are_masked() -> None:
    from puhui.collections.contact import scrub_note

    assert scrub_note("call back on 138 1234 5678 after 3pm") == \
        "call back on 138****5678 after 3pm"
    assert scrub_note("card 6222021234567890123") == "card 622************0123"
    assert scrub_note("pays 5000 yuan on 2026-03-25") == "pays 5000 yuan on 2026-03-25"
