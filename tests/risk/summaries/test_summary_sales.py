"""The sales summary (`puhui.risk.summaries.sales`) gives the panel columns of `_reduce.sales`:
built from all the orders, or from some and extended by the rest (customers going back in
time included), for any as_of (before, inside and after the orders' span), in list and typed
form; None exactly where the reducer refuses a total, never in the common case; the body
extended is left as it was."""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from summary_samples import (
    BACKS,
    BUSINESS,
    CUSTOMERS,
    PAYLOAD_AS_OF,
    SPAN,
    assert_same,
    check_many,
    check_source,
    day,
    day_offsets,
    forms,
    merged,
    reduced,
)

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import parse_payload
from puhui.risk.panel import month_index
from puhui.risk.summaries import sales

SCOPE = DataScope.SALES
_LIMIT = 2 ** 63
NORMAL = st.one_of(st.integers(1, 10**6), st.integers(1, 10**13))
#: Amounts whose totals overflow int64, and one beyond it.
HUGE = st.sampled_from([1, 2**61, 2**62, 2**63 - 1, 2**64])


def orders(amounts=NORMAL, customers=CUSTOMERS):
    @st.composite
    def order(draw):
        ordered = draw(day_offsets)
        refunded = draw(st.booleans())
        record = {"order_id": "", "ordered_on": day(ordered).isoformat(),
                  "channel": draw(st.sampled_from(["pos", "ecommerce"])),
                  "amount_fen": draw(amounts),
                  "customer_hash": draw(st.sampled_from(customers)), "refunded": refunded}
        if refunded:
            record["refunded_on"] = day(draw(st.integers(ordered, SPAN))).isoformat()
        elif draw(st.booleans()):
            record["refunded_on"] = None
        return record
    return order()


def _keyed(records: list[dict]) -> list[dict]:
    return [{**r, "order_id": f"o{i}"} for i, r in enumerate(records)]


def _summable(records: list[dict]) -> bool:
    amounts = [r["amount_fen"] for r in records]
    return not amounts or max(amounts) * len(amounts) < _LIMIT


@settings(max_examples=300, deadline=None)
@given(st.lists(orders(), max_size=60), st.data(), BACKS)
def test_the_summary_gives_the_reducers_columns(records, data, back) -> None:
    records = _keyed(records)
    cuts = data.draw(st.lists(st.integers(0, len(records)), min_size=1, max_size=3))
    check_source(SCOPE, sales, records, cuts, back, _summable)


@settings(max_examples=150, deadline=None)
@given(st.lists(orders(st.integers(1, 10**6), CUSTOMERS[:4]), min_size=1, max_size=30),
       st.data(), st.sampled_from([0, 30, 200, 400]))
def test_customers_met_again_and_going_back_in_time(records, data, back) -> None:
    """Few customers: most orders are repeats, and a delta often holds a customer's order
    older than its first one so far (orders delivered latest first, in several deliveries)."""
    records = _keyed(sorted(records, key=lambda r: r["ordered_on"], reverse=True)
                     if data.draw(st.booleans()) else records)
    cuts = data.draw(st.lists(st.integers(0, len(records)), min_size=1, max_size=6))
    check_source(SCOPE, sales, records, cuts, back, _summable)


@settings(max_examples=100, deadline=None)
@given(st.lists(orders(HUGE), max_size=6), st.data(), st.integers(-30, 500))
def test_where_the_reducer_refuses_a_total_the_summary_gives_none(records, data, back) -> None:
    records = _keyed(records)
    cuts = data.draw(st.lists(st.integers(0, len(records)), min_size=1, max_size=3))
    check_source(SCOPE, sales, records, cuts, back, _summable)


def _order(i: int, ordered_on: str, customer: int, amount: int = 100,
           refunded_on: str | None = None) -> dict:
    return {"order_id": f"o{i}", "ordered_on": ordered_on, "channel": "pos",
            "amount_fen": amount, "customer_hash": CUSTOMERS[customer],
            "refunded": refunded_on is not None, "refunded_on": refunded_on}


def test_an_older_order_turns_the_customers_first_month_into_repeats() -> None:
    """Going back twice: the second time, the orders of the first month found the first time
    become repeats (two of them, not three)."""
    base = [_order(0, "2026-08-03", 1), _order(1, "2026-08-20", 1), _order(2, "2026-09-01", 1),
            _order(3, "2026-06-05", 2)]
    added = [_order(4, "2026-06-09", 1), _order(5, "2026-06-10", 1),
             _order(6, "2024-01-09", 2)]  # before the panel
    older = [_order(7, "2026-03-09", 1)]
    as_of = PAYLOAD_AS_OF
    top = month_index(as_of)
    row = {m: month_index(date(2026, m, 1)) - (top - 15) for m in (6, 8)}
    for b in forms(SCOPE, base):
        for a in forms(SCOPE, added):
            body = sales.extend(sales.build(b), a)
            got = sales.panel(body, as_of, top)
            assert_same(got, reduced(SCOPE, merged(SCOPE, [(b, base), (a, added)]), as_of))
            assert got[0]["sales_repeat_orders"][0][[row[6], row[8]]].tolist() == [1, 2]
            for o in forms(SCOPE, older):
                got = sales.panel(sales.extend(body, o), as_of, top)
                assert_same(got, reduced(SCOPE, merged(SCOPE, [(b, base), (a, added),
                                                               (o, older)]), as_of))
                assert got[0]["sales_repeat_orders"][0][[row[6], row[8]]].tolist() == [3, 2]


def test_refunds_count_in_their_own_month_once_made() -> None:
    """...and the activity starts on the first order's day (as_of on it, or the day before)."""
    records = [_order(0, "2026-08-31", 0, 500, "2026-10-01"),
               _order(1, "2026-09-01", 0, 70, "2026-11-20")]
    for source in forms(SCOPE, records):
        body = sales.build(source)
        for as_of in (date(2026, 8, 30), date(2026, 8, 31), date(2026, 9, 30),
                      date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)):
            assert_same(sales.panel(body, as_of, month_index(as_of)),
                        reduced(SCOPE, source, as_of))


def test_an_empty_source_and_an_empty_delta() -> None:
    for empty in forms(SCOPE, []):
        body = sales.build(empty)
        assert body is not None and all(len(a) == 0 for a in body.values())
        assert_same(sales.panel(body, PAYLOAD_AS_OF, month_index(PAYLOAD_AS_OF)),
                    reduced(SCOPE, empty, PAYLOAD_AS_OF))
        for source in forms(SCOPE, [_order(0, "2026-05-05", 3)]):
            extended = sales.extend(body, source)
            assert_same(sales.panel(extended, PAYLOAD_AS_OF, month_index(PAYLOAD_AS_OF)),
                        reduced(SCOPE, source, PAYLOAD_AS_OF))


def test_the_summary_does_not_depend_on_the_datas_as_of() -> None:
    records = [_order(0, "2026-05-05", 3, 10, "2026-06-01"), _order(1, "2025-01-31", 2)]
    bodies = [sales.build(parse_payload(SCOPE, {"business_id": BUSINESS, "as_of": as_of,
                                                "records": records}))
              for as_of in ("2026-06-01", "2030-01-01")]
    assert bodies[0].keys() == bodies[1].keys()
    assert all(np.array_equal(bodies[0][k], bodies[1][k]) for k in bodies[0])


def test_totals_at_the_overflow_bound_and_refunds_of_older_orders() -> None:
    """Two amounts of 2**62 total 2**63: refused; 2**62 - 1 twice is not.  Orders placed before
    the panel and refunded inside it: only the refunds' total is refused."""
    cases = [[_order(0, "2026-03-01", 0, 2**62), _order(1, "2026-07-31", 1, 2**62)],
             [_order(0, "2026-03-01", 0, 2**62 - 1), _order(1, "2026-07-31", 1, 2**62 - 1)],
             [_order(0, "2024-01-05", 0, 2**62, "2026-04-01"),
              _order(1, "2024-02-05", 1, 2**62, "2026-09-30")],
             [_order(0, "2026-03-01", 0, 2**62), _order(1, "2026-03-02", 1, 1)]]
    for records in cases:
        for cut in range(len(records) + 1):
            for back in (0, 60, 120, 250, 400):
                check_source(SCOPE, sales, records, [cut], back, _summable)
    as_of = PAYLOAD_AS_OF
    for i, records in enumerate(cases):
        for source in forms(SCOPE, records):
            got = sales.panel(sales.build(source), as_of, month_index(as_of))
            assert (got is None) == (i != 1), i


def _many(seed: int, n: int, customers: list[str]) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ordered = int(rng.integers(0, SPAN + 1))
        refunded = bool(rng.random() < 0.2)
        back = day(min(SPAN, ordered + int(rng.integers(0, 60)))).isoformat() \
            if refunded else None
        out.append({"order_id": f"o{i}", "ordered_on": day(ordered).isoformat(),
                    "channel": "ecommerce" if rng.random() < 0.4 else "pos",
                    "amount_fen": int(rng.integers(1, 10**9)),
                    "customer_hash": customers[int(rng.integers(0, len(customers)))],
                    "refunded": refunded, "refunded_on": back})
    return out


def test_many_orders_of_many_customers() -> None:
    """Long columns (read by NumPy as fixed-width hashes), customers of several widths (read
    as they are), and orders a century apart (months tallied by their distinct values)."""
    hashes = [f"{i:016x}" for i in range(300)]
    varied = [h + "0" * (i % 3) for i, h in enumerate(hashes)]
    old = _many(3, 40, hashes[:50])
    old = [{**r, "order_id": f"x{i}", "ordered_on": f"19{i % 50:02d}-0{1 + i % 9}-1{i % 10}",
            "refunded": False, "refunded_on": None} for i, r in enumerate(old)]
    for records, cuts in ((_many(1, 400, hashes), [250, 330, 395]),
                          (_many(2, 200, varied), [100]),
                          (old + _many(4, 100, hashes[:50]), [70, 120])):
        check_many(SCOPE, sales, records, cuts)
