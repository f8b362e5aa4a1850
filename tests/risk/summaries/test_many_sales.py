"""The chunk-wide sales panel (`sales.panel_many`) equals, business by business, the summary
extended by the tail and its panel, stacked (`stacked.stack`): values, validity, first month
and refusals (an amount beyond int64 in a tail, a window whose totals could overflow), for
chunks of 0 to 8 random businesses and for a few hundred realistic ones, bodies as built and
as read back from their stored bytes, tails in list and typed form, as_of before, inside and
after the orders."""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from many_samples import businesses, check_chunk, stored, summary_of
from summary_samples import BACKS, CUSTOMERS, PAYLOAD_AS_OF, forms
from test_summary_sales import HUGE, NORMAL, _keyed, _many, _order, orders

from puhui.parties.consent import DataScope
from puhui.risk.data.typed import TypedColumn
from puhui.risk.panel import month_index
from puhui.risk.stacked import NO_MONTH
from puhui.risk.summaries import sales
from puhui.risk.summaries._digest import text_digests, text_digests_many

SCOPE = DataScope.SALES
EMPTY = forms(SCOPE, [])
HEX = [f"{i:016x}" for i in range(100)]


def _body(parts: list[list[dict]], form: int, kept: bool) -> dict:
    return summary_of(sales, parts, form, kept)


def _business(amounts=NORMAL, customers=CUSTOMERS, size=25):
    return businesses(sales, orders(amounts, customers), _keyed, "ordered_on", size)


def _check(chunk: list, back: int):
    return check_chunk(sales, chunk, back)


@settings(max_examples=200, deadline=None)
@given(st.lists(_business(), max_size=8), BACKS)
def test_panel_many_equals_each_business_extended_then_its_panel(chunk, back) -> None:
    _check(chunk, back)


@settings(max_examples=150, deadline=None)
@given(st.lists(_business(st.integers(1, 10**6), CUSTOMERS[:4], 20), min_size=1, max_size=8),
       st.sampled_from([0, 30, 200, 400]))
def test_customers_met_again_across_the_tail(chunk, back) -> None:
    """Few customers: tails mostly hold known customers, often older than their first month
    so far (whose orders then become repeats)."""
    _check(chunk, back)


@settings(max_examples=100, deadline=None)
@given(st.lists(_business(HUGE, size=6), max_size=8), st.integers(-30, 500))
def test_the_same_businesses_are_refused(chunk, back) -> None:
    """Amounts at and beyond the overflow bound: refused exactly where the one-business path
    refuses (an amount beyond int64 in the tail, a window's orders or refunds too large)."""
    _check(chunk, back)


def test_no_businesses() -> None:
    got = _check([], 0)
    assert len(got) == 0 and all(v.shape == (0, 16) for v, _ in got.columns.values())


def test_empty_bodies_and_empty_tails() -> None:
    empty = sales.build(EMPTY[0])
    one = [_order(0, "2026-05-05", 3, 10, "2026-06-01")]
    for tail in (*EMPTY, *forms(SCOPE, one)):
        got = _check([(empty, tail), (empty, EMPTY[1]), (stored(SCOPE, empty), tail)], 0)
        assert got.ok.all()
    got = _check([(empty, EMPTY[0])] * 3, 0)
    assert got.ok.all() and (got.first_month == NO_MONTH).all()
    got = _check([(sales.build(forms(SCOPE, one)[0]), EMPTY[0]), (empty, EMPTY[0])], 0)
    assert got.first_month.tolist() == [month_index(date(2026, 5, 5)), NO_MONTH]


def test_a_refused_business_between_two_fine_ones() -> None:
    """The tail's amount beyond int64 (extend refuses), then a window whose orders could
    overflow (panel refuses), each between fine businesses sharing customers and months."""
    fine = [_order(0, "2026-03-01", 1, 100, "2026-04-02"), _order(1, "2026-07-31", 2, 7)]
    body = sales.build(forms(SCOPE, fine)[1])
    tail = forms(SCOPE, [_order(9, "2026-02-01", 1, 5)])[0]
    beyond = forms(SCOPE, [_order(9, "2026-02-01", 1, 2**64)])[1]
    large = sales.build(forms(SCOPE, [_order(0, "2026-03-01", 0, 2**62)])[0])
    at_bound = forms(SCOPE, [_order(9, "2026-07-31", 1, 2**62)])[0]
    less = sales.build(forms(SCOPE, [_order(0, "2026-03-01", 0, 2**62 - 1)])[0])
    below = forms(SCOPE, [_order(9, "2026-07-31", 1, 2**62 - 1)])[0]
    got = _check([(body, tail), (body, beyond), (body, tail), (large, at_bound),
                  (less, below), (large, EMPTY[0])], 0)
    assert got.ok.tolist() == [True, False, True, False, True, True]
    # refunds of orders before the panel, refunded inside it: refused on the refunds alone
    old = sales.build(forms(SCOPE, [_order(0, "2024-01-05", 0, 2**62, "2026-04-01")])[0])
    refund = forms(SCOPE, [_order(9, "2024-02-05", 1, 2**62, "2026-09-30")])[0]
    got = _check([(body, tail), (old, refund), (old, EMPTY[0])], 0)
    assert got.ok.tolist() == [True, False, True]
    # as_of in June 2026: its window holds the first refund only
    assert _check([(old, refund)], 158).ok.tolist() == [True]
    # the largest of a month is a max, not a total: three of 2**61 in one month fit, four not
    big = sales.build(forms(SCOPE, [_order(0, "2026-07-02", 1, 2**61, "2026-08-01")])[0])
    two = forms(SCOPE, [_order(8, "2026-07-03", 2, 2**61, "2026-08-02"),
                        _order(9, "2026-07-31", 1, 2**61, "2026-08-03")])
    three = forms(SCOPE, [_order(i, "2026-07-04", 3, 2**61) for i in (7, 8, 9)])
    refunds = forms(SCOPE, [_order(i, "2026-01-04", 3, 2**61, "2026-08-20") for i in (7, 8, 9)])
    got = _check([(big, two[0]), (big, two[1]), (big, three[0]), (big, refunds[1])], 0)
    assert got.ok.tolist() == [True, True, False, False]


def test_an_older_tail_order_turns_the_first_month_into_repeats() -> None:
    base = [_order(0, "2026-08-03", 1), _order(1, "2026-08-20", 1), _order(2, "2026-09-01", 1),
            _order(3, "2026-06-05", 2)]
    added = [_order(4, "2026-06-09", 1), _order(5, "2026-06-10", 1),
             _order(6, "2024-01-09", 2)]
    body = sales.build(forms(SCOPE, base)[0])
    got = _check([(body, forms(SCOPE, added)[1]), (body, EMPTY[0])], 0)
    top = month_index(PAYLOAD_AS_OF)
    row = {m: month_index(date(2026, m, 1)) - (top - 15) for m in (6, 8)}
    repeats = got.columns["sales_repeat_orders"][0]
    assert repeats[0, [row[6], row[8]]].tolist() == [1, 2]
    assert repeats[1, [row[6], row[8]]].tolist() == [0, 0]


def _chunk(count: int, seed: int) -> list:
    """Businesses of a few to a few hundred orders, the last few their tail, customers shared
    across the cut (some of 16 hex digits read as fixed width, some of other widths)."""
    rng = np.random.default_rng(seed)
    hashes = [f"{i:016x}" for i in range(300)]
    varied = [h + "0" * (i % 3) for i, h in enumerate(hashes)]
    chunk = []
    for b in range(count):
        n = int(rng.integers(0, 300))
        customers = (hashes, varied)[b % 2][:int(rng.integers(1, 300))]
        records = _many(seed * 1000 + b, n, customers)
        tail = int(rng.integers(0, min(n, 12) + 1))
        cut = n - tail
        parts = [records[:cut // 2], records[cut // 2:cut]] if b % 3 else [records[:cut]]
        chunk.append((_body(parts, b % 2, b % 4 != 1), forms(SCOPE, records[cut:])[b % 2]))
    return chunk


def test_a_few_hundred_realistic_businesses() -> None:
    chunk = _chunk(300, 7)
    for back in (-40, 0, 20, 51, 140, 300, 590, 700):
        got = _check(chunk, back)
        assert got.ok.all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.one_of(st.sampled_from(CUSTOMERS), st.text(max_size=20),
                                   st.text("0123456789abcdef", min_size=15, max_size=17)),
                         max_size=80), max_size=6),
       st.lists(st.integers(0, 4), min_size=6, max_size=6))
def test_many_columns_digest_as_each_alone(columns, kinds) -> None:
    """`text_digests_many` is `text_digests` of each column end to end, whatever each column's
    form (list, dictionary, fixed width, joined, long fixed-width hashes)."""
    typed = []
    for values, kind in zip(columns, kinds):
        column = (TypedColumn("L", values), TypedColumn.of(values),
                  TypedColumn.of([*values, *CUSTOMERS * 2]), TypedColumn.of(HEX),
                  TypedColumn("f", np.array([*HEX[:-1], "abc"], "S16")))[kind]
        typed.append(column)
    want = [text_digests(c) for c in typed]
    got = text_digests_many(typed)
    assert got.dtype == np.uint64
    assert got.tolist() == (np.concatenate(want).tolist() if want else [])
