"""`tax_many` and `utility_many` equal the one-business reducers (`_reduce.tax`,
`_reduce.utility`, None where they refuse) stacked with `stacked.stack`: on random chunks of
0..8 businesses (the reducer tests' filings and bills: amendments, annual returns, late and
unpaid bills, as_of before, inside and after the records), each business's data as parsed
(Python lists) or as typed columns (a merged state's form); on refusing businesses between
fine ones, empty businesses, an empty chunk; and on the sample world's businesses."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "data"))  # the reducer tests' strategies
sys.path.insert(0, str(Path(__file__).parent / "summaries"))  # the contract's comparison

from puhui.parties.consent import DataScope
from puhui.risk import _reduce
from puhui.risk._reduce_many import MANY, tax_many, utility_many
from puhui.risk.data.payload import SourceData
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import HISTORY_MONTHS, month_index
from puhui.risk.stacked import Stacked, stack
from many_samples import assert_stacked
from risk_data_samples import AS_OF as SAMPLE_AS_OF
from risk_data_samples import bill, filing, fetched, world
from test_risk_reducers_typed import (
    BACKS, PAYLOAD_AS_OF, _forms, _typed, bills, filings,
)

REDUCER = {DataScope.TAX: _reduce.tax, DataScope.UTILITY: _reduce.utility}
#: The scopes of this file (`MANY` has others, tested in their own files).
SCOPES = tuple(REDUCER)


def reference(scope: DataScope, sources: list[SourceData], as_of: date, top: int) -> Stacked:
    """The one-business reducer per business (None where it refuses), stacked."""
    results = []
    for source in sources:
        try:
            results.append(REDUCER[scope](source, as_of, top))
        except RiskDataError:
            results.append(None)
    return stack(scope, results, top)


def check(scope: DataScope, sources: list[SourceData], as_of: date) -> None:
    top = month_index(as_of)
    got = MANY[scope](sources, as_of, top)
    assert len(got) == len(sources)
    assert_stacked(got, reference(scope, sources, as_of, top))


def _chunk(scope: DataScope, businesses: list[list[dict]], typed: list[bool]
           ) -> list[SourceData]:
    return [_forms(scope, records)[int(t)] for records, t in zip(businesses, typed)]


def _property(scope: DataScope, records):
    @settings(max_examples=120, deadline=None)
    @given(st.lists(st.tuples(st.lists(records, max_size=12), st.booleans()), max_size=8),
           BACKS)
    def test(businesses, back) -> None:
        sources = _chunk(scope, [b for b, _ in businesses], [t for _, t in businesses])
        check(scope, sources, PAYLOAD_AS_OF - timedelta(days=back))
    test.__name__ = f"test_{scope.value}_many_equals_the_reducer_stacked"
    return test


test_tax_many_equals_the_reducer_stacked = _property(DataScope.TAX, filings())
test_utility_many_equals_the_reducer_stacked = _property(DataScope.UTILITY, bills())


@pytest.mark.parametrize("scope", SCOPES)
def test_a_deterministic_chunk_of_a_few_hundred_businesses(scope) -> None:
    strategy = {DataScope.TAX: filings(), DataScope.UTILITY: bills()}[scope]
    records = st.lists(strategy, max_size=10)
    rng = np.random.default_rng(7)
    drawn: list[list[dict]] = []

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(records)
    def collect(found) -> None:
        drawn.append(found)
    collect()
    assert len(drawn) >= 200
    sources = _chunk(scope, drawn, list(rng.integers(0, 2, len(drawn)).astype(bool)))
    for back in (0, 20, 51, 120):
        check(scope, sources, PAYLOAD_AS_OF - timedelta(days=back))


# -- chosen cases ---------------------------------------------------------------------------------
BIG = 2 ** 62


def _bill(month: str, billed: str, usage: int, kind: str = "electricity") -> dict:
    """An unpaid bill due on the 20th of its billing month, of `usage` and 1 fen."""
    return {**bill(month, billed, billed[:8] + "20", None, usage, kind), "amount_fen": 1}


def _one(scope: DataScope, records: list[dict], typed: bool = True) -> SourceData:
    return _forms(scope, records)[int(typed)]


@pytest.mark.parametrize("typed", [False, True])
def test_a_refusing_business_between_two_fine_ones(typed) -> None:
    fine = [bill("2026-08", "2026-09-03", "2026-09-18", "2026-09-20", usage=7)]
    overflow = [_bill("2026-09", "2026-10-02", BIG), _bill("2026-09", "2026-10-03", BIG, "water")]
    beyond = [{**bill("2026-09", "2026-10-02", "2026-10-20", None), "amount_fen": 2 ** 64}]
    sources = [_one(DataScope.UTILITY, r, typed) for r in (fine, overflow, fine, beyond, fine)]
    check(DataScope.UTILITY, sources, PAYLOAD_AS_OF)
    got = utility_many(sources, PAYLOAD_AS_OF, month_index(PAYLOAD_AS_OF))
    assert got.ok.tolist() == [True, False, True, False, True]
    # before the big bills were billed they are not inside any month: summable, not refused
    early = date(2026, 10, 1)
    assert utility_many(sources, early, month_index(early)).ok.tolist() == \
        [True, True, True, False, True]  # an amount beyond int64 is refused whenever read
    check(DataScope.UTILITY, sources, early)


@pytest.mark.parametrize("typed", [False, True])
def test_a_total_exactly_at_the_bound_is_refused_and_just_below_is_not(typed) -> None:
    half = 2 ** 62  # two of them: 2**63, refused; one 2**62 and one smaller: largest x 2
    at = [_bill("2026-09", "2026-10-02", half) for _ in range(2)]
    below = [_bill("2026-09", "2026-10-02", half - 1), _bill("2026-09", "2026-10-02", 3)]
    sources = [_one(DataScope.UTILITY, r, typed) for r in (at, below)]
    check(DataScope.UTILITY, sources, PAYLOAD_AS_OF)
    assert utility_many(sources, PAYLOAD_AS_OF, month_index(PAYLOAD_AS_OF)).ok.tolist() == \
        [False, True]


@pytest.mark.parametrize("typed", [False, True])
def test_tax_amounts_beyond_int64_refuse_only_once_a_filing_is_known(typed) -> None:
    fine = [filing("2026-04-01", "2026-06-30", "2026-07-10", 1_000, 7)]
    huge = [filing("2026-07-01", "2026-09-30", "2026-10-10", 2 ** 64, 1)]
    sources = [_one(DataScope.TAX, r, typed) for r in (fine, huge, fine)]
    for as_of, ok in ((PAYLOAD_AS_OF, [True, False, True]),
                      (date(2026, 10, 9), [True, True, True])):
        check(DataScope.TAX, sources, as_of)
        assert tax_many(sources, as_of, month_index(as_of)).ok.tolist() == ok


def test_an_amendment_and_late_filings_across_businesses() -> None:
    quarter = filing("2026-04-01", "2026-06-30", "2026-07-10", 1_000, 7)
    amended = filing("2026-05-01", "2026-05-31", "2026-08-01", 50, 5)
    annual = filing("2025-01-01", "2025-12-31", "2026-06-01", 9_999, kind="income_tax")
    same_day = filing("2026-04-01", "2026-06-30", "2026-07-10", 2_000, 9)  # listed later: wins
    chunks = [[amended, quarter, annual], [], [quarter, same_day], [annual], [quarter]]
    for typed in (False, True):
        sources = [_one(DataScope.TAX, r, typed) for r in chunks]
        for back in (0, 100, 120, 140, 400):
            check(DataScope.TAX, sources, PAYLOAD_AS_OF - timedelta(days=back))
    top = month_index(PAYLOAD_AS_OF)
    got = tax_many(sources, PAYLOAD_AS_OF, top)
    lo = top - HISTORY_MONTHS
    revenue = got.columns["tax_vat_revenue_fen"][0]
    assert [revenue[0, month_index(date(2026, m, 1)) - lo] for m in (4, 5, 6)] == [333, 50, 334]
    assert [revenue[2, month_index(date(2026, m, 1)) - lo] for m in (4, 5, 6)] == [666, 666, 668]


@pytest.mark.parametrize("scope", SCOPES)
def test_empty_chunks_and_empty_businesses(scope) -> None:
    top = month_index(PAYLOAD_AS_OF)
    none = MANY[scope]([], PAYLOAD_AS_OF, top)
    assert len(none) == 0 and all(v.shape == (0, 16) for v, _ in none.columns.values())
    check(scope, [], PAYLOAD_AS_OF)
    empties = [_one(scope, [], t) for t in (False, True, True)]
    check(scope, empties, PAYLOAD_AS_OF)
    record = filing() if scope is DataScope.TAX else bill()
    as_of = date(2026, 5, 20)
    check(scope, [empties[0], _one(scope, [record]), empties[1]], as_of)
    check(scope, [empties[0], _one(scope, [record]), empties[1]], date(2026, 4, 1))


@pytest.mark.parametrize("scope", SCOPES)
def test_the_sample_worlds_businesses(scope) -> None:
    """Realistic data: the sample world's businesses, in both forms, at two as_of dates."""
    w = world()
    observed = [str(b) for b in w.ids[w.observed(SAMPLE_AS_OF)]][:60]
    sources = []
    for business_id in observed:
        found = fetched(w, business_id, SAMPLE_AS_OF, [scope]).get(scope)
        if found is not None:
            sources.append(found if len(sources) % 2 else _typed(found))
    assert len(sources) > 10
    for as_of in (SAMPLE_AS_OF, SAMPLE_AS_OF - timedelta(days=40), date(2024, 2, 10)):
        check(scope, sources, as_of)
