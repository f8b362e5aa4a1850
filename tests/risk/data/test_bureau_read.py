"""The stored bureau report read typed (`bureau_read.bureau_data`, what `merged_state.source_data`
gives for a bureau state) agrees with the record models (`parse_records` of the report's JSON):
the same data, field for field, where they accept it, and the same refusal (or failure) where
they do not; on random valid reports and on each with one thing broken, nested fields too."""

from __future__ import annotations

import json
from datetime import date

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_risk_columnar import AS_OF, ODD, _near, _same_data, bureau_report, cases

from puhui.parties.consent import DataScope
from puhui.risk.data import bureau_read
from puhui.risk.data import merged_state as ms
from puhui.risk.data.payload import parse_records
from puhui.risk.data.records import BureauLoan, Enquiry, OverdueMonth
from puhui.risk.errors import InvalidRecord

SCOPE = DataScope.BUREAU
NESTED = ("loans", "overdue_history", "enquiries")


def _raw(payload) -> bytes:
    """The payload's JSON as a state keeps it (Python's own JSON past orjson's integers)."""
    try:
        return orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(payload, default=str).encode()


def _reference(raw: bytes, business_id, as_of: date):
    """The validating path, as `source_data` read a bureau state before."""
    payload = orjson.loads(raw)
    return parse_records(SCOPE, {**payload, "business_id": business_id,
                                 "as_of": as_of.isoformat()})


def _outcome(read, raw, business_id, as_of):
    try:
        return "accepted", read(raw, business_id, as_of)
    except InvalidRecord as exc:
        return "refused", (str(exc), exc.source, exc.index, exc.field)
    except Exception as exc:  # noqa: BLE001 -- the two must fail alike, whatever the failure
        return "raised", type(exc).__name__


def _agree(raw: bytes, business_id="B-1", as_of: date = AS_OF) -> str:
    reference = _outcome(_reference, raw, business_id, as_of)
    typed = _outcome(bureau_read.bureau_data, raw, business_id, as_of)
    assert typed[0] == reference[0], (raw, reference[1])
    if reference[0] == "accepted":
        _same_data(typed[1], reference[1])
        fresh = bureau_read.bureau_data(raw, business_id, as_of)  # rows before the records
        assert [_values(r) for r in fresh.rows()] == [_values(r) for r in reference[1].records]
    else:
        assert typed[1] == reference[1]
    return reference[0]


def _values(report) -> tuple:
    """A report's values by field name, from a model or a checked row alike."""
    def of(item, model):
        return tuple(getattr(item, name) for name in model.model_fields)
    return (report.reported_on, *[[of(x, model) for x in getattr(report, n)]
                                  for n, model in zip(NESTED, _MODELS)])


_MODELS = (BureauLoan, OverdueMonth, Enquiry)


@st.composite
def nested_cases(draw) -> tuple[dict, list[dict]]:
    """A valid payload whose first report has a loan, an overdue month and an enquiry, and
    variants each with one of those nested items changed: a field near what its rules allow,
    an odd value, left out, an unknown field, the item not an object."""
    report = draw(bureau_report())
    report = {**report, "loans": report["loans"] or [
        {"loan_ref": "ab" * 8, "lender_type": "bank", "opened_on": report["reported_on"],
         "limit_fen": 5, "balance_fen": 5, "status": "open"}],
        "overdue_history": report["overdue_history"] or [
            {"month": report["reported_on"][:7], "overdue_days": 3}],
        "enquiries": report["enquiries"] or [
            {"enquired_on": report["reported_on"], "reason": "loan_approval"}]}
    payload = {"business_id": "B-1", "as_of": AS_OF.isoformat(), "records": [report]}
    variants = []
    for kind in NESTED:
        items = report[kind]
        index = draw(st.integers(0, len(items) - 1))
        item = items[index]

        def changed(new, kind=kind, items=items, index=index):
            return {**payload, "records": [{**report, kind: [*items[:index], new,
                                                             *items[index + 1:]]}]}

        for name in item:
            variants += [changed({**item, name: v}) for v in _near(item, name)]
            variants.append(changed({k: v for k, v in item.items() if k != name}))
        name = draw(st.sampled_from(sorted(item)))
        variants += [changed({**item, name: v}) for v in ODD]
        variants += [changed({**item, "extra": 1}), changed(list(item.values())),
                     changed(None), {**payload, "records": [{**report, kind: None}]},
                     {**payload, "records": [{**report, kind: tuple(items)}]}]
    return payload, variants


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(SCOPE))
def test_the_typed_read_and_the_record_models_agree(case) -> None:
    payload, variants = case
    assert _agree(_raw(payload)) == "accepted"
    for variant in variants:
        _agree(_raw(variant))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_cases())
def test_they_agree_on_broken_nested_fields(case) -> None:
    payload, variants = case
    assert _agree(_raw(payload)) == "accepted"
    outcomes = {_agree(_raw(v)) for v in variants}
    assert "refused" in outcomes


@settings(max_examples=30, deadline=None)
@given(st.lists(bureau_report(), max_size=3),
       st.sampled_from(["B-1", "", "x" * 128, "x" * 129, "\u4e2d" * 3]),
       st.sampled_from([AS_OF, date(2024, 1, 1), date(2023, 1, 1)]))
def test_they_agree_on_the_envelope(records, business_id, as_of) -> None:
    _agree(_raw({"records": records}), business_id, as_of)
    _agree(_raw({"records": records, "business_id": "other", "as_of": "2020-01-01"}),
           business_id, as_of)


def test_text_that_is_no_report_is_refused_as_before() -> None:
    for raw in (b"", b"{", b"[]", b"null", b'{"records": 1}', b'{"records": [1]}',
                b'{"records": [], "x": 1}', b'{"records": [{"reported_on": 99999999999999999999}]}'):
        assert _agree(raw) != "accepted" or raw == b"{}"


def test_source_data_reads_a_bureau_state_typed() -> None:
    payload = {"business_id": "B-1", "as_of": AS_OF.isoformat(), "records": [
        {"reported_on": "2026-05-01", "loans": [], "enquiries": [],
         "overdue_history": [{"month": "2026-04", "overdue_days": 10}]}]}
    segment = ms.Segment(SCOPE, raw=orjson.dumps(payload))
    got = ms.source_data(segment, "B-1", AS_OF)
    assert type(got) is not type(_reference(segment.raw, "B-1", AS_OF))  # the typed form
    _same_data(got, _reference(segment.raw, "B-1", AS_OF))
