"""The bulk behaviour facts (`puhui.lines.behaviour`) are exactly the pure `repayment_facts`, line
for line, and the compact encoding of a record round-trips."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.lines.behaviour import (NOT_SETTLED, InvalidDues, check_dues, decode_dues,
                                   encode_dues, repayment_facts_many)
from puhui.lines.signals import Due, repayment_facts
from puhui.risk.panel import add_months

TODAY = date(2026, 8, 31)  # a month end: the six-month window edge falls on Feb 28

# days around the edges that matter: due today / yesterday, the window's edge, month ends
_EDGES = [0, -1, 1, (TODAY - add_months(TODAY, -6)).days, (TODAY - add_months(TODAY, -6)).days - 1,
          (TODAY - add_months(TODAY, -6)).days + 1, 31, 30, 61, 62]


@st.composite
def a_due(draw: st.DrawFn, today: date) -> Due:
    back = draw(st.one_of(st.sampled_from(_EDGES), st.integers(-60, 400)))
    due = today - timedelta(days=back)
    settled = draw(st.one_of(
        st.none(),
        st.sampled_from([0, 1, -1, 2]).map(lambda d: due + timedelta(days=d)),  # on, late, early
        st.sampled_from([today, today - timedelta(days=1), today + timedelta(days=1)]),
        st.integers(-30, 90).map(lambda d: due + timedelta(days=d))))
    return Due(due, settled)


@st.composite
def a_book(draw: st.DrawFn) -> tuple[date, list[list[Due]], list[date | None]]:
    today = draw(st.sampled_from([TODAY, date(2026, 3, 31), date(2026, 3, 1), date(2024, 2, 29),
                                  date(2026, 12, 15)]))
    lines = draw(st.integers(0, 6))
    records = [draw(st.lists(a_due(today), max_size=14)) for _ in range(lines)]
    since = [draw(st.one_of(
        st.none(),
        st.integers(-30, 400).map(lambda d: today - timedelta(days=d)),
        st.sampled_from([d.due for d in records[j]] or [today]),
        st.sampled_from([d.due + timedelta(days=1) for d in records[j]] or [today])))
        for j in range(lines)]
    return today, records, since


@settings(max_examples=400, deadline=None)
@given(a_book())
def test_the_bulk_facts_are_the_pure_ones_line_for_line(book) -> None:
    today, records, since = book
    assert repayment_facts_many(records, today, since) == \
        [repayment_facts(r, today, s) for r, s in zip(records, since)]


def test_the_edges_one_by_one() -> None:
    """The cases the property covers, written out: each must agree, and mean what it says."""
    t = TODAY
    window = add_months(t, -6)
    cases = [
        ([Due(t, None)], None, {"on_time_months": 0, "days_past_due": 0,
                                "missed_instalments_6m": 0}),  # due today: not yet late
        ([Due(t - timedelta(days=3), t - timedelta(days=3))], None,
         {"on_time_months": 1, "days_past_due": 0, "missed_instalments_6m": 0}),  # on the day
        ([Due(t - timedelta(days=3), t - timedelta(days=2))], None,
         {"on_time_months": 0, "days_past_due": 0, "missed_instalments_6m": 1}),  # a day late
        ([Due(t - timedelta(days=3), None)], None,
         {"on_time_months": 0, "days_past_due": 3, "missed_instalments_6m": 1}),  # unsettled
        ([Due(t - timedelta(days=3), t + timedelta(days=1))], None,
         {"on_time_months": 0, "days_past_due": 3, "missed_instalments_6m": 1}),  # settled later
        ([Due(window, None)], None,
         {"on_time_months": 0, "days_past_due": (t - window).days,
          "missed_instalments_6m": 0}),  # on the window's edge: outside it
        ([Due(window + timedelta(days=1), None)], None,
         {"on_time_months": 0, "days_past_due": (t - window).days - 1,
          "missed_instalments_6m": 1}),
        ([Due(date(2026, 5, 10), None), Due(date(2026, 6, 10), date(2026, 6, 10)),
          Due(date(2026, 7, 10), date(2026, 7, 9))], date(2026, 5, 11),
         {"on_time_months": 2, "days_past_due": (t - date(2026, 5, 10)).days,
          "missed_instalments_6m": 1}),  # `since` cuts the late month off the streak
        ([Due(date(2026, 5, 10), None), Due(date(2026, 6, 10), date(2026, 6, 10)),
          Due(date(2026, 7, 10), date(2026, 7, 9))], None,
         {"on_time_months": 2, "days_past_due": (t - date(2026, 5, 10)).days,
          "missed_instalments_6m": 1}),
        ([Due(date(2026, 6, 10), date(2026, 6, 10)), Due(date(2026, 6, 20), date(2026, 6, 21)),
          Due(date(2026, 7, 10), date(2026, 7, 9))], None,
         {"on_time_months": 1, "days_past_due": 0, "missed_instalments_6m": 1}),  # one bad month
    ]
    got = repayment_facts_many([c[0] for c in cases], t, [c[1] for c in cases])
    for (dues, since, expected), bulk in zip(cases, got):
        assert repayment_facts(dues, t, since) == expected
        assert bulk == expected


@given(st.lists(st.tuples(st.dates(), st.one_of(st.none(), st.dates())), max_size=20))
def test_the_encoding_round_trips(pairs) -> None:
    blob = encode_dues(pairs)
    assert len(blob) == 8 * len(pairs)
    assert decode_dues(blob) == pairs


@pytest.mark.parametrize("blob", [b"\x00" * 7, encode_dues([(TODAY, None)])[:4] * 3,
                                  (2**31 - 1).to_bytes(4, "little") + NOT_SETTLED.to_bytes(
                                      4, "little", signed=True)])
def test_a_broken_encoding_is_refused(blob: bytes) -> None:
    with pytest.raises(InvalidDues):
        check_dues(blob)
    with pytest.raises(InvalidDues):
        decode_dues(blob)
