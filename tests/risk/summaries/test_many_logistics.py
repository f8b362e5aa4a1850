"""The chunk-wide logistics panel (`logistics.panel_many`) equals, business by business, the
summary extended by the tail and its panel, stacked (`stacked.stack`): values, validity, first
month and refusals (a weight or fee beyond int64 in a tail, a window whose totals could
overflow), for chunks of 0 to 8 random businesses and for a few hundred realistic ones."""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from many_samples import businesses, check_chunk, stored, summary_of
from summary_samples import BACKS, SPAN, day, forms
from test_summary_logistics import FEES, GRAMS, HUGE, _keyed, _waybill, waybills

from puhui.parties.consent import DataScope
from puhui.risk.panel import month_index
from puhui.risk.stacked import NO_MONTH
from puhui.risk.summaries import logistics

SCOPE = DataScope.LOGISTICS
EMPTY = forms(SCOPE, [])


def _business(grams=GRAMS, fees=FEES, size=25):
    return businesses(logistics, waybills(grams, fees), _keyed, "shipped_on", size)


def _check(chunk: list, back: int):
    return check_chunk(logistics, chunk, back)


@settings(max_examples=200, deadline=None)
@given(st.lists(_business(), max_size=8), BACKS)
def test_panel_many_equals_each_business_extended_then_its_panel(chunk, back) -> None:
    _check(chunk, back)


@settings(max_examples=100, deadline=None)
@given(st.lists(_business(HUGE.filter(bool), HUGE, 6), max_size=8), st.integers(-30, 500))
def test_the_same_businesses_are_refused(chunk, back) -> None:
    """Weights and fees at and beyond the overflow bound: refused exactly where the
    one-business path refuses."""
    _check(chunk, back)


def test_no_businesses_empty_bodies_and_empty_tails() -> None:
    assert len(_check([], 0)) == 0
    empty = logistics.build(EMPTY[0])
    one = [_waybill(0, "2026-10-31", 5, 7)]
    for tail in (*EMPTY, *forms(SCOPE, one)):
        got = _check([(empty, tail), (empty, EMPTY[1]), (stored(SCOPE, empty), tail)], 0)
        assert got.ok.all()
    got = _check([(empty, EMPTY[0])] * 3, 0)
    assert got.ok.all() and (got.first_month == NO_MONTH).all()
    got = _check([(empty, forms(SCOPE, one)[1]), (empty, EMPTY[0])], 0)
    assert got.first_month.tolist() == [month_index(date(2026, 10, 31)), NO_MONTH]


def test_a_refused_business_between_two_fine_ones() -> None:
    body = logistics.build(forms(SCOPE, [_waybill(0, "2026-03-01", 10, 20)])[0])
    tail = forms(SCOPE, [_waybill(9, "2026-07-31", 3, 4)])[1]
    beyond = forms(SCOPE, [_waybill(9, "2026-07-31", 3, 2**64)])[0]
    large = logistics.build(forms(SCOPE, [_waybill(0, "2026-03-01", 1, 2**62)])[1])
    at_bound = forms(SCOPE, [_waybill(9, "2026-07-31", 1, 2**62)])[0]
    less = logistics.build(forms(SCOPE, [_waybill(0, "2026-03-01", 2**62 - 1, 1)])[1])
    below = forms(SCOPE, [_waybill(9, "2026-07-31", 2**62 - 1, 1)])[0]
    got = _check([(body, tail), (body, beyond), (body, tail), (large, at_bound),
                  (less, below), (large, EMPTY[0])], 0)
    assert got.ok.tolist() == [True, False, True, False, True, True]
    # the bound is the largest value times the count, the largest of a month a max, not a
    # total: three of 2**61 in one month (stored, then two in the tail) fit, four do not
    big = logistics.build(forms(SCOPE, [_waybill(0, "2026-07-02", 2**61, 2**61)])[0])
    two = forms(SCOPE, [_waybill(8, "2026-07-03", 2**61, 1), _waybill(9, "2026-07-31", 1, 2**61)])
    three = forms(SCOPE, [_waybill(7, "2026-07-03", 2**61, 1), *[
        _waybill(i, "2026-07-04", 1, 2**61) for i in (8, 9)]])
    got = _check([(big, two[0]), (big, two[1]), (big, three[0]), (big, three[1])], 0)
    assert got.ok.tolist() == [True, True, False, False]


def test_a_few_hundred_realistic_businesses() -> None:
    rng = np.random.default_rng(11)
    chunk = []
    for b in range(300):
        n = int(rng.integers(0, 300))
        records = [_waybill(i, day(int(rng.integers(0, SPAN + 1))).isoformat(),
                            int(rng.integers(1, 10**7)), int(rng.integers(0, 10**8)))
                   for i in range(n)]
        cut = n - int(rng.integers(0, min(n, 12) + 1))
        parts = [records[:cut // 2], records[cut // 2:cut]] if b % 3 else [records[:cut]]
        chunk.append((summary_of(logistics, parts, b % 2, b % 4 != 1),
                      forms(SCOPE, records[cut:])[b % 2]))
    for back in (-40, 0, 20, 51, 140, 300, 590, 700):
        assert _check(chunk, back).ok.all()
