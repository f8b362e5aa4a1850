"""The merged state of a scope (`merged_state`): merging deltas, kept as a compressed base and a
tail of segments and read back, gives exactly what validating the JSON merge of every payload
gives (`merge_payloads` then `parse_payload`), records in the same order; cut to a window it is
the merge of the window's payloads; a damaged blob is refused."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from risk_data_samples import utility_bill

from puhui.lines.signals import merge_payloads
from puhui.parties.consent import DataScope
from puhui.risk.data import merged_state as ms
from puhui.risk.data.payload import parse_payload
from puhui.risk.errors import PayloadTampered

START = date(2025, 1, 1)
BUSINESS = "91310000MA1FL0001X"


def _sale(order: int, day: date, amount: int, refund: int | None, leave_out: bool) -> dict:
    record = {"order_id": f"O{order}", "ordered_on": day.isoformat(), "channel": "pos",
              "amount_fen": amount, "customer_hash": f"{order % 7:032x}",
              "refunded": refund is not None}
    if refund is not None:
        record["refunded_on"] = (day + timedelta(days=refund)).isoformat()
    elif not leave_out:
        record["refunded_on"] = None
    return record


_bill = utility_bill


@st.composite
def payloads(draw, scope: DataScope) -> list[dict]:
    """Payloads of one business, each dated a day of 2025-2026 (in any order), their records
    drawn from a few keys (so later ones replace earlier ones), none dated after the payload."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        as_of = START + timedelta(days=draw(st.integers(60, 700)))
        records = []
        for _ in range(draw(st.integers(0, 6))):
            if scope is DataScope.SALES:
                day = as_of - timedelta(days=draw(st.integers(3, 50)))
                refund = draw(st.one_of(st.none(), st.integers(0, 2)))
                records.append(_sale(draw(st.integers(0, 9)), day, draw(st.integers(1, 10**6)),
                                     refund, draw(st.booleans())))
            else:
                top = (as_of.year - 2025) * 12 + as_of.month - 3
                records.append(_bill(draw(st.sampled_from(["electricity", "water"])),
                                     draw(st.integers(max(0, top - 6), max(0, top))),
                                     draw(st.integers(0, 5000)), draw(st.booleans()),
                                     draw(st.booleans())))
        out.append({"business_id": BUSINESS, "as_of": as_of.isoformat(), "records": records})
    return out


def _reference(scope: DataScope, sent: list[dict], as_of: date):
    merged = merge_payloads(scope, sent)
    return parse_payload(scope, {**merged, "as_of": as_of.isoformat()})


def _segments(scope: DataScope, sent: list[dict]) -> list[ms.Segment]:
    return [ms.segment_of(parse_payload(scope, p), p["records"]) for p in sent]


def _stored(scope: DataScope, sent: list[dict], cut: int, merged: bool = False,
            step: int = 1) -> ms.Segment:
    """The first `cut` payloads compacted into a base, the rest as a tail (a segment per
    payload, or `merged` as the writer keeps it, `step` payloads taken in at a time), stored
    and read."""
    segments = _segments(scope, sent)
    base = ms.merge(ms.empty(scope), segments[:cut])
    tail = None
    rest = segments[cut:]
    for at in range(0, len(rest), step):
        if merged:
            tail = ms.merged_tail(scope, tail, rest[at:at + step])
        else:
            for segment in rest[at:at + step]:
                tail = ms.append_tail(tail, segment)
    if merged:
        assert ms.tail_deliveries(tail) == len(rest)
        assert len(ms.tail_segments(scope, tail)) == (1 if rest else 0)
    read = ms.unpack_base(scope, ms.BASE_CODEC, ms.pack_base(base))
    return ms.merge(read, ms.tail_segments(scope, tail))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scope=st.sampled_from([DataScope.SALES, DataScope.UTILITY]))
def test_a_stored_state_reads_back_as_the_validated_merge_of_every_payload(data, scope) -> None:
    sent = data.draw(payloads(scope))
    cut = data.draw(st.integers(0, len(sent)))
    as_of = max(date.fromisoformat(p["as_of"]) for p in sent)
    state = _stored(scope, sent, cut)
    got = ms.source_data(state, BUSINESS, as_of)
    want = _reference(scope, sent, as_of)
    assert got == want  # the records, in the same order
    assert [r.model_fields_set for r in got.records] == [r.model_fields_set for r in want.records]
    assert got.to_payload() == want.to_payload()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scope=st.sampled_from([DataScope.SALES, DataScope.UTILITY]))
def test_a_merged_tail_reads_back_as_the_tail_of_its_deliveries(data, scope) -> None:
    """The writer's tail, one segment merging every delivery since the base, taken in one or
    a few at a time: the same state as a segment per delivery, every field of it (the days
    each record was first and last delivered included), and the same window cuts."""
    sent = data.draw(payloads(scope))
    cut = data.draw(st.integers(0, len(sent)))
    step = data.draw(st.integers(1, 3))
    ours, theirs = _stored(scope, sent, cut, True, step), _stored(scope, sent, cut)
    assert ours.keys.tolist() == theirs.keys.tolist()
    assert ours.seen.tolist() == theirs.seen.tolist()
    assert ours.first.tolist() == theirs.first.tolist()
    assert ours.unset == theirs.unset
    as_of = max(date.fromisoformat(p["as_of"]) for p in sent)
    assert ms.source_data(ours, BUSINESS, as_of) == ms.source_data(theirs, BUSINESS, as_of)
    for p in sent:
        day = date.fromisoformat(p["as_of"])
        a, b = ms.since(ours, day), ms.since(theirs, day)
        assert (a is None) == (b is None)
        if a is not None:
            assert ms.source_data(a, BUSINESS, as_of) == ms.source_data(b, BUSINESS, as_of)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scope=st.sampled_from([DataScope.SALES, DataScope.UTILITY]))
def test_payloads_in_date_order_cut_to_a_window_are_the_merge_of_the_window(data, scope) -> None:
    sent = sorted(data.draw(payloads(scope)), key=lambda p: p["as_of"])
    days = sorted({date.fromisoformat(p["as_of"]) for p in sent})
    first = data.draw(st.sampled_from(days))  # a payload's own day: the edge of the window
    whole = _stored(scope, sent, data.draw(st.integers(0, len(sent))), data.draw(st.booleans()))
    state = ms.since(whole, first)
    inside = [p for p in sent if date.fromisoformat(p["as_of"]) >= first]
    if state is None:  # only when a record delivered before the window came again in it
        before = {k for p in sent if date.fromisoformat(p["as_of"]) < first
                  for k in ms.key_digests(scope, p["records"]).tolist()}
        assert before & {k for p in inside
                         for k in ms.key_digests(scope, p["records"]).tolist()}
        return
    assert ms.source_data(state, BUSINESS, days[-1]) == _reference(scope, inside, days[-1])


def test_the_bureau_keeps_its_latest_report_alone() -> None:
    report = {"reported_on": "2026-11-30", "loans": [], "overdue_history": [], "enquiries": []}
    older = {"business_id": BUSINESS, "as_of": "2026-10-31",
             "records": [{**report, "reported_on": "2026-10-31"}]}
    latest = {"business_id": BUSINESS, "as_of": "2026-11-30", "records": [report]}
    segments = _segments(DataScope.BUREAU, [older, latest])
    state = ms.merge(ms.empty(DataScope.BUREAU), segments)
    read = ms.unpack_base(DataScope.BUREAU, ms.BASE_CODEC, ms.pack_base(state))
    assert ms.source_data(read, BUSINESS, date(2026, 12, 7)) == \
        _reference(DataScope.BUREAU, [older, latest], date(2026, 12, 7))


def test_a_damaged_blob_is_refused() -> None:
    sent = [{"business_id": BUSINESS, "as_of": "2026-12-01",
             "records": [_sale(1, date(2026, 11, 2), 100, None, False)]}]
    blob = ms.pack_base(ms.merge(ms.empty(DataScope.SALES), _segments(DataScope.SALES, sent)))
    with pytest.raises(PayloadTampered):
        ms.unpack_base(DataScope.SALES, ms.BASE_CODEC, blob[:-5])
    with pytest.raises(PayloadTampered):
        ms.unpack_base(DataScope.SALES, "pickle", blob)
    with pytest.raises(PayloadTampered):
        ms.decode(DataScope.SALES, b"PMS1\x05\x00\x00\x00{bad}")
    tail = ms.append_tail(None, _segments(DataScope.SALES, sent)[0])
    with pytest.raises(PayloadTampered):
        ms.tail_segments(DataScope.SALES, tail[:-3])


def test_a_tail_grown_past_the_small_form_keeps_its_days() -> None:
    """Deliveries of a few orders each, none refunded and then one refunded, merged into one
    tail segment past the size kept in the JSON header: the refund's day reads back as a
    day (a list of days and None once went to JSON, and came back as text)."""
    sent = [{"business_id": BUSINESS, "as_of": f"2026-11-{d:02d}",
             "records": [_sale(d * 10 + k, date(2026, 11, d), 100 + k, None, False)
                         for k in range(3)]} for d in range(1, 8)]
    sent.append({"business_id": BUSINESS, "as_of": "2026-11-09",
                 "records": [_sale(999, date(2026, 11, 8), 500, 1, False)]})
    tail = None
    for segment in _segments(DataScope.SALES, sent):
        tail = ms.merged_tail(DataScope.SALES, tail, [segment])
    (merged,) = ms.tail_segments(DataScope.SALES, tail)
    got = ms.source_data(ms.merge(ms.empty(DataScope.SALES), [merged]), BUSINESS,
                         date(2026, 11, 9))
    assert merged.count > ms.SMALL
    assert got == _reference(DataScope.SALES, sent, date(2026, 11, 9))
    assert got.days("refunded_on")[-1] == date(2026, 11, 9).toordinal()
