"""`bureau_many` equals the one-business reducer (`_reduce.bureau`, None where it refuses)
stacked with `stacked.stack`: on random chunks of businesses with 0..3 reports each (as the
typed read gives them and as the record models do), as_of before, inside and after them."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "data"))
sys.path.insert(0, str(Path(__file__).parent / "summaries"))

from many_samples import assert_stacked
from test_risk_columnar import AS_OF, bureau_report

from puhui.parties.consent import DataScope
from puhui.risk import _reduce
from puhui.risk._reduce_many import MANY, bureau_many
from puhui.risk.data.bureau_read import bureau_data
from puhui.risk.data.payload import SourceData, parse_records
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import month_index
from puhui.risk.stacked import stack

SCOPE = DataScope.BUREAU


def _reference(sources: list[SourceData], as_of: date, top: int):
    results = []
    for source in sources:
        try:
            results.append(_reduce.bureau(source, as_of, top))
        except RiskDataError:
            results.append(None)
    return stack(SCOPE, results, top)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(bureau_report(), max_size=3), st.booleans()), max_size=6),
       st.sampled_from([AS_OF, date(2025, 6, 30), date(2024, 2, 29), date(2022, 12, 31)]))
def test_bureau_many_equals_the_reducer_stacked(businesses, as_of) -> None:
    sources = []
    for reports, typed in businesses:
        payload = {"business_id": "B-1", "as_of": AS_OF.isoformat(), "records": reports}
        sources.append(bureau_data(orjson.dumps(payload), "B-1", AS_OF) if typed
                       else parse_records(SCOPE, payload))
    top = month_index(as_of)
    got = bureau_many(sources, as_of, top)
    assert len(got) == len(sources)
    assert_stacked(got, _reference(sources, as_of, top))


def test_totals_past_int64_are_left_to_the_reducer() -> None:
    report = {"reported_on": "2026-05-01", "overdue_history": [], "enquiries": [],
              "loans": [{"loan_ref": "ab" * 8, "lender_type": "bank", "opened_on": "2026-01-01",
                         "limit_fen": 2 ** 62, "balance_fen": 2 ** 62, "status": "open"}] * 2}
    payload = {"business_id": "B-1", "as_of": AS_OF.isoformat(), "records": [report]}
    sources = [parse_records(SCOPE, payload), bureau_data(orjson.dumps(payload), "B-1", AS_OF)]
    top = month_index(AS_OF)
    got = MANY[SCOPE](sources, AS_OF, top)
    assert got.ok.tolist() == [False, False]
    assert_stacked(got, _reference(sources, AS_OF, top))


def test_ties_and_window_edges() -> None:
    """Two reports of a day (the last listed counts) and enquiries on each window's bounds."""
    as_of = AS_OF
    edges = ["2026-02-20", "2026-02-21", "2025-11-20", "2025-11-21", as_of.isoformat(),
             "2026-05-21"]

    def report(days: int, reason: str) -> dict:
        return {"reported_on": "2026-05-20", "loans": [],
                "overdue_history": [{"month": "2026-03", "overdue_days": days}],
                "enquiries": [{"enquired_on": d, "reason": reason} for d in edges[:5]]}

    payloads = [{"business_id": "B-1", "as_of": as_of.isoformat(),
                 "records": [report(5, "guarantee_review"), report(9, "loan_approval")]},
                {"business_id": "B-1", "as_of": as_of.isoformat(),
                 "records": [report(9, "loan_approval"), report(5, "guarantee_review")]}]
    sources = [bureau_data(orjson.dumps(p), "B-1", as_of) for p in payloads]
    sources += [parse_records(SCOPE, p) for p in payloads]
    top = month_index(as_of)
    got = bureau_many(sources, as_of, top)
    assert_stacked(got, _reference(sources, as_of, top))
    enquiries = got.columns["bureau_enquiries_3m"][0][:, -1].tolist()
    assert enquiries[0] != enquiries[1]


def test_the_sample_worlds_businesses() -> None:
    """Realistic reports: the sample world's, typed and through the models, at three as_of."""
    from risk_data_samples import AS_OF as SAMPLE_AS_OF
    from risk_data_samples import fetched, world

    w = world()
    sources = []
    for business_id in [str(b) for b in w.ids[w.observed(SAMPLE_AS_OF)]][:60]:
        found = fetched(w, business_id, SAMPLE_AS_OF, [SCOPE]).get(SCOPE)
        if found is not None:
            sources.append(found if len(sources) % 2 else bureau_data(
                orjson.dumps(found.to_payload()), found.business_id, found.as_of))
    assert len(sources) > 10
    for as_of in (SAMPLE_AS_OF, date(2025, 1, 10), date(2024, 2, 10)):
        top = month_index(as_of)
        assert_stacked(bureau_many(sources, as_of, top), _reference(sources, as_of, top))
