"""The bank statement's reduction to panel columns (`_reduce.bank`, NumPy over the columns)
equals the line-by-line definition it replaced, on random statements: lines after as_of, before
the panel, on the same day (booking order as listed), round trips, quiet months
carrying the last balance, no line at all."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.parties.consent import DataScope
from puhui.risk import _reduce
from puhui.risk.data.payload import parse_payload
from puhui.risk.panel import HISTORY_MONTHS, ROWS, month_index

AS_OF = date(2026, 11, 20)
PARTIES = ["a" * 64, "b" * 64, "c" * 64]


def reference(source, as_of: date, top: int):
    """The line-by-line reduction, as it was written first (the definition)."""
    from puhui.risk import _columns as c

    records, n = source.rows(), source.record_count
    day = np.fromiter(map(date.toordinal, source.column("booked_on")), np.int64, n)
    known = int(np.count_nonzero(day <= as_of.toordinal()))
    order = np.argsort(day, kind="stable")[:known].tolist()
    row = c.rows(day, top).tolist()
    lines = [(row[k], records[k]) for k in order]
    inflow, outflow, trip = [0] * ROWS, [0] * ROWS, [0] * ROWS
    low: list[int | None] = [None] * ROWS
    paid = {(w, r.counterparty_hash) for w, r in lines if r.amount_fen < 0}
    end: dict[int, int] = {}
    for w, r in lines:
        end[max(w, -1)] = r.balance_after_fen
        if not 0 <= w < HISTORY_MONTHS:
            continue
        amount = r.amount_fen
        if amount > 0:
            inflow[w] += amount
            if (w, r.counterparty_hash) in paid:
                trip[w] += amount
        else:
            outflow[w] -= amount
        if low[w] is None or r.balance_after_fen < low[w]:
            low[w] = r.balance_after_fen
    carried = end.get(-1)
    for w in range(HISTORY_MONTHS):
        if low[w] is None:
            low[w] = carried
        carried = end.get(w, carried)
    valid = np.array([v is not None for v in low]) & c.COMPLETE
    return {"bank_inflow_fen": (c.ints(inflow), c.COMPLETE),
            "bank_outflow_fen": (c.ints(outflow), c.COMPLETE),
            "bank_round_trip_fen": (c.ints(trip), c.COMPLETE),
            "bank_min_balance_fen": (c.ints([v or 0 for v in low]), valid)}, \
        c.first_month(day, as_of)


line = st.tuples(st.integers(-560, 20), st.sampled_from([-50_000, -1, 1, 70_000, 123_456]),
                 st.sampled_from(PARTIES), st.integers(-10**9, 10**9))


def _source(lines: list[tuple[int, int, str, int]]):
    records = [{"booked_on": (AS_OF + timedelta(days=d)).isoformat(), "amount_fen": amount,
                "counterparty_hash": party, "balance_after_fen": balance}
               for d, amount, party, balance in lines]
    return parse_payload(DataScope.BANK_STATEMENT, {
        "business_id": "91310000MA1FL0000X", "as_of": (AS_OF + timedelta(days=30)).isoformat(),
        "records": records})


def _same(ours, theirs) -> None:
    (a, first_a), (b, first_b) = ours, theirs
    assert first_a == first_b and set(a) == set(b)
    for name, (values, valid) in b.items():
        got, got_valid = a[name]
        assert np.array_equal(np.asarray(got_valid), np.asarray(valid)), name
        assert np.array_equal(np.asarray(got)[valid], np.asarray(values)[valid]), name


@settings(max_examples=300, deadline=None)
@given(st.lists(line, max_size=40))
def test_the_vectorised_reduction_is_the_line_by_line_one(lines) -> None:
    source = _source(lines)
    top = month_index(AS_OF)
    _same(_reduce.bank(source, AS_OF, top), reference(source, AS_OF, top))


def test_the_edges_each_hold() -> None:
    top = month_index(AS_OF)
    cases = [
        [],  # no statement line at all: no balance anywhere
        [(-500, -100, PARTIES[0], 900)],  # one line before the panel: carried through it
        [(-40, -100, PARTIES[0], 900), (-40, 250, PARTIES[0], 1_150)],  # a round trip
        [(-40, 30, PARTIES[1], 35), (-10, -30, PARTIES[1], 5)],  # paid back a month later
        [(-3, 10, PARTIES[0], 7), (-3, -4, PARTIES[0], 3), (5, -1, PARTIES[2], 2)],  # ties, later
        [(-100, 10, PARTIES[0], -70), (-70, 20, PARTIES[1], 40)],  # a negative balance
    ]
    for lines in cases:
        source = _source(lines)
        _same(_reduce.bank(source, AS_OF, top), reference(source, AS_OF, top))
    out, _ = _reduce.bank(_source(cases[2]), AS_OF, top)
    m = HISTORY_MONTHS - 1  # the month of 40 days before as_of (the last complete one)
    assert out["bank_round_trip_fen"][0][m] == 250 and out["bank_inflow_fen"][0][m] == 250
    assert out["bank_min_balance_fen"][0][m] == 900
    out, _ = _reduce.bank(_source(cases[3]), AS_OF, top)
    assert out["bank_round_trip_fen"][0][m] == 0
