"""The app events' summary (`summaries.app`) gives exactly `_reduce.app`'s panel columns and
activity: built from all events, or built from some and extended with later ones (the merge of
the two deliveries by `merged_state`), for as_of before, inside and after the events' span (the
trailing 30-day window at every distance from the events), in the parsed (list) and typed
forms; events near midnight in other zones (their UTC date counts), a device whose added event
is earlier than its first summarised one, device ids of several widths, and an extension never
changes the body it extends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.parties.consent import DataScope
from puhui.risk import _reduce
from puhui.risk.data import merged_state as ms
from puhui.risk.data.payload import SourceData
from puhui.risk.panel import month_index
from puhui.risk.summaries import app

from summary_samples import PAYLOAD_AS_OF, SPAN, day_offsets, forms, merged
from summary_samples import assert_same as _same
from summary_samples import day as _day
from summary_samples import frozen as _frozen

SCOPE = DataScope.APP_BEHAVIOUR
#: Device ids of several widths (a digest must not depend on the other values of a column).
DEVICES = ["d1", "d2", "phone-3", "abcdefgh", "0123456789abcdef", "平板-1"]


def _forms(records: list[dict]) -> list[SourceData]:
    return forms(SCOPE, records)


def _merged(base: list[dict], added: list[dict]) -> SourceData:
    out = merged(SCOPE, [(forms(SCOPE, r)[0], r) for r in (base, added)])
    assert out.record_count == len(base) + len(added)  # the added keys were fresh
    return out


@st.composite
def events(draw):
    """Events with offsets from UTC (a local date is not the UTC date near midnight)."""
    zone = timezone(timedelta(hours=draw(st.sampled_from([0, 8, -5]))))
    at = datetime.combine(_day(draw(day_offsets)), datetime.min.time(), UTC) \
        + timedelta(minutes=draw(st.integers(0, 24 * 60 - 1)))
    return {"occurred_at": at.astimezone(zone).isoformat(),
            "event_type": draw(st.sampled_from(["login", "login", "view_dashboard", "repay"])),
            "session_id": draw(st.sampled_from(["s1", "s2"])),
            "device_id": draw(st.sampled_from(DEVICES))}


def _valid(records: list[dict]) -> list[dict]:
    """The events whose UTC date is not after the payload's as_of."""
    return [r for r in records
            if datetime.fromisoformat(r["occurred_at"]).astimezone(UTC).date()
            <= PAYLOAD_AS_OF]


def _split(records: list[dict], cut: int) -> tuple[list[dict], list[dict]]:
    base, added = records[:cut], []
    seen = {ms.key_text(SCOPE, r) for r in base}
    for r in records[cut:]:
        if ms.key_text(SCOPE, r) not in seen:
            seen.add(ms.key_text(SCOPE, r))
            added.append(r)
    return base, added


AS_OF_BACK = st.one_of(st.integers(-40, SPAN + 60), st.integers(0, 130),
                       st.sampled_from([-1, 0, 19, 20, 21, 29, 30, 31, 50, 51]))


def _check(records: list[dict], cut: int, back: int) -> None:
    records = _valid(records)
    as_of = PAYLOAD_AS_OF - timedelta(days=back)
    top = month_index(as_of)
    base, added = _split(records, cut)
    everything = _reduce.app(_forms(records)[0], as_of, top)
    merged = _reduce.app(_merged(base, added), as_of, top)
    for whole in _forms(records):
        _same(app.panel(app.build(whole), as_of, top), everything)
    for base_form in _forms(base):
        for added_form in _forms(added):
            body = app.build(base_form)
            kept = _frozen(body)
            longer = app.extend(body, added_form)
            for name, values in kept.items():
                assert np.array_equal(body[name], values) and body[name].dtype == values.dtype
            assert all(v.ndim == 1 for v in longer.values())
            _same(app.panel(longer, as_of, top), merged)


@settings(max_examples=300, deadline=None)
@given(st.lists(events(), max_size=40), st.integers(0, 40), AS_OF_BACK)
def test_the_summary_gives_the_reducers_panel(records, cut, back) -> None:
    _check(records, cut, back)


def _event(at: str, kind: str, device: str) -> dict:
    return {"occurred_at": at, "event_type": kind, "session_id": "s", "device_id": device}


def test_an_added_event_before_its_devices_first_moves_the_device_back() -> None:
    base = [_event("2026-10-25T10:00:00+00:00", "login", "d1"),
            _event("2026-11-18T10:00:00+00:00", "login", "d2")]
    added = [_event("2026-09-30T23:30:00-05:00", "repay", "d1"),  # 1 October, UTC
             _event("2026-11-19T01:00:00+08:00", "login", "abcdefgh")]  # 18 November, UTC
    for back in (0, 20, 21, 49, 50, 51, 52, 80):
        _check(base + added, len(base), back)
    body = app.extend(app.build(_forms(base)[1]), _forms(added)[0])
    assert sorted(body["first_days"].tolist()) == [date(2026, 10, 1).toordinal()] + \
        [date(2026, 11, 18).toordinal()] * 2


def test_many_devices_of_one_width_a_fixed_width_column() -> None:
    """Forty devices of one width (the typed form keeps them as fixed-width text, each value
    its own word), each seen on two days, the later one listed first."""
    devices = [f"device-{i:09d}" for i in range(40)]
    records = [_event(f"2026-{10 - i % 3:02d}-{1 + i % 27:02d}T12:00:00+00:00", "login", d)
               for i, d in enumerate(devices)] + \
        [_event(f"2026-06-{1 + i % 27:02d}T12:00:00+00:00", "repay", d)
         for i, d in enumerate(devices[::2])]
    assert _forms(records)[1].typed("device_id").kind == "f"
    for cut in (0, 20, 40, 60):
        for back in (0, 60, 150):
            _check(records[::-1], cut, back)
