"""The bank statement's summary (`summaries.bank`) gives exactly `_reduce.bank`'s panel columns
and activity: built from all lines, or built from some and extended with later ones (the
merge of the two deliveries by `merged_state`), for as_of before, inside and after the lines'
span, in the parsed (list) and typed forms; lines on the same day as others (booking order as
listed, the added ones last), quiet months carrying closing balances (into row 0 too), round
trips made by a later outflow, counterparties of different widths, totals that could overflow
int64 (the summary gives None where the reducer refuses), and an extension never changes the
body it extends."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.parties.consent import DataScope
from puhui.risk import _reduce
from puhui.risk.data import merged_state as ms
from puhui.risk.data.payload import SourceData
from puhui.risk.data.typed import TypedColumn
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import month_index
from puhui.risk.summaries import bank
from puhui.risk.summaries._digest import text_digests

from summary_samples import PAYLOAD_AS_OF, SPAN, START, day_offsets, forms, merged
from summary_samples import assert_same as _same
from summary_samples import day as _day
from summary_samples import frozen as _frozen

SCOPE = DataScope.BANK_STATEMENT
#: Counterparties of several widths (a digest must not depend on the other values of a column).
HASHES = ["a" * 16, "b" * 64, "0123456789abcdef", "f" * 32, "c" * 17]


def _forms(records: list[dict]) -> list[SourceData]:
    return forms(SCOPE, records)


def _merged(base: list[dict], added: list[dict]) -> SourceData:
    out = merged(SCOPE, [(forms(SCOPE, r)[0], r) for r in (base, added)])
    assert out.record_count == len(base) + len(added)  # the added keys were fresh
    return out


def _reduced(source: SourceData, as_of: date):
    try:
        return _reduce.bank(source, as_of, month_index(as_of))
    except RiskDataError:
        return None


AMOUNTS = st.sampled_from([-50_000, -1, 1, 70_000, 123_456, 10**12])


@st.composite
def bank_lines(draw, huge: bool = False, days: st.SearchStrategy = day_offsets):
    amounts = st.one_of(AMOUNTS, st.sampled_from([2**61, -(2**62), 2**62])) if huge else AMOUNTS
    balances = st.integers(-10**9, 10**12)
    if huge:
        balances = st.one_of(balances, st.sampled_from([2**62, -(2**63), 2**63 - 1]))
    return {"booked_on": _day(draw(days)).isoformat(), "amount_fen": draw(amounts),
            "counterparty_hash": draw(st.one_of(st.just(HASHES[0]), st.sampled_from(HASHES))),
            "balance_after_fen": draw(balances)}


def _key(record: dict) -> str:
    return ms.key_text(SCOPE, record)


def _split(records: list[dict], cut: int) -> tuple[list[dict], list[dict]]:
    """Base and added lines: the added ones with keys new to the base and to each other."""
    base, added = records[:cut], []
    seen = {_key(r) for r in base}
    for r in records[cut:]:
        if _key(r) not in seen:
            seen.add(_key(r))
            added.append(r)
    return base, added


#: The as_of: from before the lines' span to after it (the records' as_of is not checked here).
AS_OF_BACK = st.one_of(st.integers(-40, SPAN + 60), st.integers(0, 130),
                       st.sampled_from([-1, 0, 19, 20, 21, 50, 51]))


def _check(records: list[dict], cut: int, back: int) -> None:
    as_of = PAYLOAD_AS_OF - timedelta(days=back)
    base, added = _split(records, cut)
    everything = _reduced(_forms(records)[0], as_of)
    merged = _reduced(_merged(base, added), as_of)
    for whole in _forms(records):
        body = bank.build(whole)
        if everything is None:
            assert body is None
            continue
        assert body is not None  # only an overflow makes it None
        _same(bank.panel(body, as_of, month_index(as_of)), everything)
    for base_form in _forms(base):
        for added_form in _forms(added):
            body = bank.build(base_form)
            if body is None:  # the base alone overflows: so does the merge
                assert merged is None
                continue
            kept = _frozen(body)
            longer = bank.extend(body, added_form)
            for name, values in kept.items():
                assert np.array_equal(body[name], values) and body[name].dtype == values.dtype
            if merged is None:
                assert longer is None
                continue
            assert longer is not None
            assert all(v.ndim == 1 for v in longer.values())
            _same(bank.panel(longer, as_of, month_index(as_of)), merged)


@settings(max_examples=300, deadline=None)
@given(st.lists(bank_lines(), max_size=30), st.integers(0, 30), AS_OF_BACK)
def test_the_summary_gives_the_reducers_panel(records, cut, back) -> None:
    _check(records, cut, back)


#: The days of one month (October 2026): round trips across the two deliveries, closing days.
ONE_MONTH = st.integers((date(2026, 10, 1) - START).days, (date(2026, 10, 31) - START).days)


@settings(max_examples=200, deadline=None)
@given(st.lists(bank_lines(days=ONE_MONTH), max_size=10), st.integers(0, 10),
       st.sampled_from([0, 19, 20, 21, 50, 51, 52, 90]))
def test_the_summary_gives_the_reducers_panel_within_a_month(records, cut, back) -> None:
    _check(records, cut, back)


@settings(max_examples=60, deadline=None)
@given(st.lists(bank_lines(huge=True), max_size=8), st.integers(0, 8), AS_OF_BACK)
def test_the_summary_refuses_what_the_reducer_refuses(records, cut, back) -> None:
    _check(records, cut, back)


# -- chosen cases ---------------------------------------------------------------------------------
def _line(day: str, amount: int, party: str, balance: int) -> dict:
    return {"booked_on": day, "amount_fen": amount, "counterparty_hash": party,
            "balance_after_fen": balance}


def test_an_added_line_on_the_months_last_day_closes_it_and_an_earlier_one_does_not() -> None:
    a, b = HASHES[0], HASHES[1]
    base = [_line("2026-03-20", 500, a, 1_000), _line("2026-03-10", -100, b, 900),
            _line("2026-01-05", 10, a, 7)]
    added = [_line("2026-03-20", 1, b, 1_001), _line("2026-03-19", 5, b, 3)]
    for back in (0, 200, 230, 260, 300):  # quiet months after March, row 0 carried
        _check(base + added, len(base), back)
    body = bank.extend(bank.build(_forms(base)[1]), _forms(added)[1])
    assert body["close"][body["months"] == month_index(date(2026, 3, 1))].tolist() == [1_001]
    assert body["low"][body["months"] == month_index(date(2026, 3, 1))].tolist() == [3]


def test_a_later_outflow_turns_the_months_inflows_into_round_trips() -> None:
    a = HASHES[3]
    base = [_line("2026-05-02", 70_000, a, 70_000), _line("2026-05-03", 30, a, 70_030),
            _line("2026-04-30", -5, a, 1)]
    added = [_line("2026-05-28", -1, a, 70_029)]
    _check(base + added, len(base), 0)
    as_of = PAYLOAD_AS_OF
    columns, _ = bank.panel(bank.extend(bank.build(_forms(base)[0]), _forms(added)[1]),
                            as_of, month_index(as_of))
    assert 70_030 in columns["bank_round_trip_fen"][0].tolist()


def test_overflow_is_refused_on_the_merged_count() -> None:
    base = [_line("2026-05-02", 2**62, HASHES[0], 1)]
    added = [_line("2026-05-03", 2**62, HASHES[1], 2)]
    assert bank.build(_forms(base)[0]) is not None
    assert bank.extend(bank.build(_forms(base)[0]), _forms(added)[0]) is None
    with pytest.raises(RiskDataError):
        _reduce.bank(_merged(base, added), PAYLOAD_AS_OF, month_index(PAYLOAD_AS_OF))


def test_a_counterparty_has_one_digest_whatever_its_column_holds() -> None:
    alone = text_digests(TypedColumn("L", [HASHES[0]]))
    for column in (TypedColumn.of([HASHES[0], HASHES[1]]), TypedColumn.of(HASHES * 10),
                   TypedColumn.of([f"{i:064x}" for i in range(40)] + [HASHES[0]])):
        got = text_digests(column)
        assert got[column.to_list().index(HASHES[0])] == alone[0]
        assert len(set(got.tolist())) == len(set(column.to_list()))


def test_many_counterparties_of_one_width_a_fixed_width_column() -> None:
    parties = [f"{i:064x}" for i in range(40)]
    records = [_line(f"2026-{9 + i % 2:02d}-{1 + i % 27:02d}", (-1) ** i * (i + 1), p, i)
               for i, p in enumerate(parties)] + \
        [_line(f"2026-{9 + i % 2:02d}-28", 1_000 + i, p, -i) for i, p in enumerate(parties)]
    assert _forms(records)[1].typed("counterparty_hash").kind == "f"
    for cut in (0, 20, 40, 60):
        for back in (0, 60):
            _check(records, cut, back)
