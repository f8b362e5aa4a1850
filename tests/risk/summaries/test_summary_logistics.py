"""The logistics summary (`puhui.risk.summaries.logistics`) gives the panel columns of
`_reduce.logistics`: built from all the waybills, or from some and extended by the rest, for any
as_of (before, inside and after the waybills' span), in list and typed form; None exactly where
the reducer refuses a total, never in the common case; the body extended is left as it was."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from summary_samples import (
    BACKS,
    PAYLOAD_AS_OF,
    SPAN,
    assert_same,
    check_many,
    check_source,
    day,
    day_offsets,
    forms,
    reduced,
)

from puhui.parties.consent import DataScope
from puhui.risk.panel import month_index
from puhui.risk.summaries import logistics

SCOPE = DataScope.LOGISTICS
_LIMIT = 2 ** 63
HUGE = st.sampled_from([0, 1, 2**61, 2**62, 2**63 - 1, 2**64])
GRAMS, FEES = st.integers(1, 10**7), st.integers(0, 10**8)


def waybills(grams=GRAMS, fees=FEES):
    @st.composite
    def waybill(draw):
        shipped = draw(day_offsets)
        record = {"waybill_id": "", "shipped_on": day(shipped).isoformat(),
                  "weight_g": draw(grams), "fee_fen": draw(fees),
                  "destination_region": "310000"}
        if draw(st.booleans()):
            record["delivered_on"] = day(draw(st.integers(shipped, SPAN))).isoformat()
        return record
    return waybill()


def _keyed(records: list[dict]) -> list[dict]:
    return [{**r, "waybill_id": f"w{i}"} for i, r in enumerate(records)]


def _summable(records: list[dict]) -> bool:
    n = len(records)
    return not n or max(max(r["weight_g"], r["fee_fen"]) for r in records) * n < _LIMIT


@settings(max_examples=300, deadline=None)
@given(st.lists(waybills(), max_size=40), st.data(), BACKS)
def test_the_summary_gives_the_reducers_columns(records, data, back) -> None:
    records = _keyed(records)
    cuts = data.draw(st.lists(st.integers(0, len(records)), min_size=1, max_size=3))
    check_source(SCOPE, logistics, records, cuts, back, _summable)


@settings(max_examples=100, deadline=None)
@given(st.lists(waybills(HUGE.filter(bool), HUGE), max_size=6), st.data(),
       st.integers(-30, 500))
def test_where_the_reducer_refuses_a_total_the_summary_gives_none(records, data, back) -> None:
    records = _keyed(records)
    cuts = data.draw(st.lists(st.integers(0, len(records)), min_size=1, max_size=3))
    check_source(SCOPE, logistics, records, cuts, back, _summable)


def test_an_empty_source_and_an_empty_delta() -> None:
    one = [{"waybill_id": "w1", "shipped_on": "2026-10-31", "weight_g": 5, "fee_fen": 7,
            "destination_region": "310000"}]
    for empty in forms(SCOPE, []):
        body = logistics.build(empty)
        assert body is not None and all(len(a) == 0 for a in body.values())
        assert_same(logistics.panel(body, PAYLOAD_AS_OF, month_index(PAYLOAD_AS_OF)),
                    reduced(SCOPE, empty, PAYLOAD_AS_OF))
        for source in forms(SCOPE, one):
            extended = logistics.extend(body, source)
            for as_of in (PAYLOAD_AS_OF, PAYLOAD_AS_OF.replace(day=1).replace(month=10)):
                assert_same(logistics.panel(extended, as_of, month_index(as_of)),
                            reduced(SCOPE, source, as_of))


def _waybill(i: int, shipped_on: str, grams: int, fee: int) -> dict:
    return {"waybill_id": f"w{i}", "shipped_on": shipped_on, "weight_g": grams,
            "fee_fen": fee, "destination_region": "310000"}


def test_totals_at_the_overflow_bound() -> None:
    """Two values of 2**62 total 2**63: refused (weights or fees); 2**62 - 1 twice is not."""
    cases = [[_waybill(0, "2026-03-01", 2**62, 0), _waybill(1, "2026-07-31", 2**62, 1)],
             [_waybill(0, "2026-03-01", 1, 2**62), _waybill(1, "2026-07-31", 1, 2**62)],
             [_waybill(0, "2026-03-01", 2**62 - 1, 2**62 - 1),
              _waybill(1, "2026-07-31", 2**62 - 1, 2**62 - 1)],
             [_waybill(0, "2026-03-01", 2**62, 0), _waybill(1, "2026-03-02", 1, 1)]]
    for records in cases:
        for cut in range(len(records) + 1):
            for back in (0, 120, 250, 400):
                check_source(SCOPE, logistics, records, [cut], back, _summable)
    for i, records in enumerate(cases):
        for source in forms(SCOPE, records):
            got = logistics.panel(logistics.build(source), PAYLOAD_AS_OF,
                                  month_index(PAYLOAD_AS_OF))
            assert (got is None) == (i != 2), i


def test_many_waybills() -> None:
    """Long columns, and waybills a century apart (months tallied by their distinct values)."""
    rng = np.random.default_rng(5)
    records = [_waybill(i, day(int(rng.integers(0, SPAN + 1))).isoformat(),
                        int(rng.integers(1, 10**7)), int(rng.integers(0, 10**8)))
               for i in range(300)]
    old = [_waybill(1000 + i, f"19{i:02d}-0{1 + i % 9}-15", 3, 4) for i in range(40)]
    check_many(SCOPE, logistics, records, [200, 290])
    check_many(SCOPE, logistics, old + records[:60], [30, 50, 90])
