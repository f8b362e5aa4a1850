"""The pure rules of a credit line: lifecycle, draws, restorations, changes and their events."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from puhui.demo import DEMO_PRODUCTS
from puhui.errors import (
    DrawBelowMinimum,
    DrawExceedsAvailable,
    IllegalLineTransition,
    InvalidLineChange,
    LineNotDrawable,
    RateCapExceeded,
)
from puhui.lines import line as rules
from puhui.lines.line import CreditLine, LineEventKind as K, LineStatus
from puhui.loans.product import RateCap, RepaymentMethod

PRODUCTS = {p.code: p for p in DEMO_PRODUCTS}
REVOLVING = PRODUCTS["SME-RV-180"]
INSTALMENT = PRODUCTS["SME-EI-12"]
CAP = RateCap(Decimal("0.24"))
D0 = date(2026, 3, 2)


def granted(limit: int = 1_000_000, product=REVOLVING) -> CreditLine:
    line, event = rules.grant("CL1", "AP1", product, limit, Decimal("0.12"), D0, None,
                              key="g", reason="granted", actor="k", cap=CAP)
    assert event.kind is K.GRANTED and event.commitment == limit == event.amount
    return line


def test_a_grant_is_active_for_the_products_term_with_all_of_it_available() -> None:
    line = granted()
    assert line.status is LineStatus.ACTIVE and line.available == 1_000_000
    assert line.expires_on == D0 + timedelta(days=180) and line.version == 1
    assert granted(product=INSTALMENT).expires_on == D0 + timedelta(days=rules.DEFAULT_LINE_DAYS)


@pytest.mark.parametrize("limit, rate, error", [
    (50, Decimal("0.12"), InvalidLineChange),                   # below the product minimum
    (REVOLVING.max_principal + 1, Decimal("0.12"), InvalidLineChange),
    (True, Decimal("0.12"), InvalidLineChange),
    (1_000_000, Decimal("0.25"), RateCapExceeded),
    (1_000_000, Decimal("0"), InvalidLineChange),
])
def test_a_grant_out_of_bounds_is_refused(limit, rate, error) -> None:
    with pytest.raises(error):
        rules.grant("CL1", "AP1", REVOLVING, limit, rate, D0, None, key="g", reason="r",
                    actor="k", cap=CAP)


def test_a_draw_uses_availability_and_records_the_loan() -> None:
    line, event = rules.draw(granted(), 400_000, D0, key="d", loan_id="LN1", minimum=100,
                             actor="k")
    assert (line.drawn, line.available, line.version) == (400_000, 600_000, 2)
    assert event.kind is K.DRAW and event.commitment == -400_000 and event.loan_id == "LN1"
    assert event.event_key == "d/draw"


@pytest.mark.parametrize("amount, on, status, error", [
    (1_000_001, D0, LineStatus.ACTIVE, DrawExceedsAvailable),
    (99, D0, LineStatus.ACTIVE, DrawBelowMinimum),
    (0, D0, LineStatus.ACTIVE, DrawBelowMinimum),
    (100_000, D0, LineStatus.FROZEN, LineNotDrawable),
    (100_000, D0, LineStatus.CLOSED, LineNotDrawable),
    (100_000, D0 + timedelta(days=180), LineStatus.ACTIVE, LineNotDrawable),  # expiry day
])
def test_draws_that_break_a_rule_are_refused(amount, on, status, error) -> None:
    line = replace(granted(), status=status)
    with pytest.raises(error):
        rules.draw(line, amount, on, key="d", loan_id="LN1", minimum=100, actor="k")


def test_the_last_fen_can_be_drawn_and_then_nothing_more() -> None:
    line, _ = rules.draw(granted(), 1_000_000, D0, key="d", loan_id="LN1", minimum=100,
                         actor="k")
    assert line.available == 0
    with pytest.raises(DrawExceedsAvailable):
        rules.check_draw(line, 100, D0, 100)


def test_repaid_principal_is_restored_once() -> None:
    line, _ = rules.draw(granted(), 400_000, D0, key="d", loan_id="LN1", minimum=100, actor="k")
    after, event = rules.restore(line, 150_000, D0, key="r", actor="k")
    assert after.drawn == 150_000 and after.available == 850_000
    assert event.kind is K.PRINCIPAL_RESTORED and event.amount == 250_000
    assert event.commitment == 250_000
    assert rules.restore(after, 150_000, D0, key="r2", actor="k") == (after, None)
    with pytest.raises(InvalidLineChange):
        rules.restore(after, 150_001, D0, key="r3", actor="k")


def test_restoring_on_a_frozen_line_gives_no_availability() -> None:
    line, _ = rules.draw(granted(), 400_000, D0, key="d", loan_id="LN1", minimum=100, actor="k")
    line = replace(line, status=LineStatus.FROZEN)
    _, event = rules.restore(line, 0, D0, key="r", actor="k")
    assert event.amount == 400_000 and event.commitment == 0


def change(line, **kw):
    return rules.change(line, D0, key="c", reason="policy", actor="k", product=REVOLVING,
                        cap=CAP, **kw)


def test_a_change_writes_one_event_per_thing_that_changes() -> None:
    line, events = change(granted(), limit=1_200_000, annual_rate=Decimal("0.115"),
                          freeze=True, decision_id="DR1")
    assert [e.kind for e in events] == [K.LIMIT_CHANGED, K.PRICE_CHANGED, K.FROZEN]
    assert [e.commitment for e in events] == [200_000, 0, -1_200_000]
    assert all(e.decision_id == "DR1" and e.reason == "policy" for e in events)
    assert line.version == 4 and line.changed_on == D0 and line.available == 0
    again, none = change(line, limit=1_200_000, freeze=True)
    assert none == [] and again == line


@pytest.mark.parametrize("kw, error", [
    ({}, InvalidLineChange),
    ({"limit": -1}, InvalidLineChange),
    ({"limit": REVOLVING.max_principal + 1}, InvalidLineChange),
    ({"annual_rate": Decimal("0.2401")}, RateCapExceeded),
    ({"freeze": "yes"}, InvalidLineChange),
    ({"freeze": True, "close": True}, InvalidLineChange),
])
def test_bad_changes_are_refused(kw, error) -> None:
    with pytest.raises(error):
        change(granted(), **kw)


def test_a_change_needs_a_reason_and_a_key() -> None:
    with pytest.raises(InvalidLineChange):
        rules.change(granted(), D0, key="c", reason=" ", actor="k", product=REVOLVING,
                     cap=CAP, freeze=True)
    with pytest.raises(InvalidLineChange):
        rules.change(granted(), D0, key="", reason="r", actor="k", product=REVOLVING,
                     cap=CAP, freeze=True)


@pytest.mark.parametrize("status, freeze, close, allowed", [
    (LineStatus.ACTIVE, True, False, True),
    (LineStatus.FROZEN, False, False, True),
    (LineStatus.FROZEN, None, True, True),
    (LineStatus.EXPIRED, None, True, True),
    (LineStatus.EXPIRED, False, False, False),
    (LineStatus.EXPIRED, True, False, False),
    (LineStatus.CLOSED, False, False, False),
    (LineStatus.CLOSED, True, False, False),
])
def test_the_lifecycle(status, freeze, close, allowed) -> None:
    line = replace(granted(), status=status)
    if allowed:
        after, events = change(line, freeze=freeze, close=close)
        assert len(events) == 1 and after.status is not status
    else:
        with pytest.raises(IllegalLineTransition):
            change(line, freeze=freeze, close=close)


def test_an_ended_line_takes_no_new_limit_or_price() -> None:
    for status in (LineStatus.EXPIRED, LineStatus.CLOSED):
        with pytest.raises(IllegalLineTransition):
            change(replace(granted(), status=status), limit=5)
        with pytest.raises(IllegalLineTransition):
            change(replace(granted(), status=status), annual_rate=Decimal("0.1"))


def test_a_line_expires_on_its_day_once() -> None:
    line = granted()
    assert rules.expire_if_due(line, line.expires_on - timedelta(days=1), actor="k") == (line, None)
    after, event = rules.expire_if_due(line, line.expires_on, actor="k")
    assert after.status is LineStatus.EXPIRED and event.commitment == -1_000_000
    assert rules.expire_if_due(after, line.expires_on, actor="k") == (after, None)


def test_a_revolving_draw_discloses_its_cost_as_a_bullet_of_the_same_terms() -> None:
    shown = rules.disclosure_product(REVOLVING)
    assert shown.method is RepaymentMethod.BULLET and shown.term_days == REVOLVING.term_days
    assert shown.annual_rate == REVOLVING.annual_rate and shown.day_count is REVOLVING.day_count
    assert rules.disclosure_product(INSTALMENT) is INSTALMENT


def test_every_commitment_change_is_the_change_in_available() -> None:
    """Summing the events' commitments gives the line's available: the memorandum balance."""
    line = granted()
    events = []
    line, e = rules.draw(line, 300_000, D0, key="d", loan_id="L", minimum=100, actor="k")
    events.append(e)
    line, es = change(line, limit=200_000)
    events += es
    line, e = rules.restore(line, 100_000, D0, key="r", actor="k")
    events.append(e)
    line, es = change(line, freeze=True)
    events += es
    line, es = rules.change(line, D0, key="u", reason="ok", actor="k", product=REVOLVING,
                            cap=CAP, freeze=False)
    events += es
    assert 1_000_000 + sum(e.commitment for e in events) == line.available == 100_000
