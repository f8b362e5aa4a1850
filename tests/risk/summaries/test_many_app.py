"""`app.panel_many` equals the per-business `extend` then `panel`, stacked (`stacked.stack`):
for lists of businesses with random bodies (built, or built and extended) and tails, in the
parsed and typed forms, for as_of before, inside and after the events (the 30-day window at
every distance); a tail device earlier than its body first day, new devices, a None body between
fine ones, empty bodies and tails, no businesses; a few hundred random businesses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import many_samples
import numpy as np
import test_summary_app as samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from summary_samples import PAYLOAD_AS_OF, SPAN, forms

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData
from puhui.risk.panel import month_index
from puhui.risk.stacked import Stacked
from puhui.risk.summaries import app

SCOPE = DataScope.APP_BEHAVIOUR


def reference(bodies: Sequence[app.Body | None], added: Sequence[SourceData], as_of: date,
              top: int) -> Stacked:
    """The contract, one business at a time."""
    return many_samples.reference(app, bodies, added, as_of, top)


def check(bodies: list, added: list, as_of: date) -> Stacked:
    """`panel_many` equals the reference and leaves the bodies as they were."""
    return many_samples.check_many(app, bodies, added, as_of, month_index(as_of))


def business(records: list[dict], cut: int, mid: int, picks: tuple[int, int, int]
             ) -> tuple[app.Body, SourceData]:
    records = samples._valid(records)
    head, rest = samples._split(records, cut)
    middle, tail = rest[:max(0, mid - cut)], rest[max(0, mid - cut):]
    body = app.build(forms(SCOPE, head)[picks[0]])
    if middle:
        body = app.extend(body, forms(SCOPE, middle)[picks[1]])
    return body, forms(SCOPE, tail)[picks[2]]


@st.composite
def businesses(draw, most: int = 30):
    records = draw(st.lists(samples.events(), max_size=most))
    cut = draw(st.integers(0, len(records)))
    mid = draw(st.integers(cut, len(records)))
    return business(records, cut, mid, draw(st.tuples(*[st.integers(0, 1)] * 3)))


@settings(max_examples=150, deadline=None)
@given(st.lists(businesses(), max_size=8), samples.AS_OF_BACK)
def test_panel_many_is_the_per_business_panel(many, back) -> None:
    check([b for b, _ in many], [a for _, a in many], PAYLOAD_AS_OF - timedelta(days=back))


def _event(at: str, kind: str, device: str) -> dict:
    return {"occurred_at": at, "event_type": kind, "session_id": "s", "device_id": device}


BASE = [_event("2026-10-25T10:00:00+00:00", "login", "d1"),
        _event("2026-11-18T10:00:00+00:00", "login", "d2")]
ADDED = [_event("2026-09-30T23:30:00-05:00", "repay", "d1"),  # 1 October UTC: d1 moves back
         _event("2026-11-19T01:00:00+08:00", "login", "abcdefgh"),  # 18 November UTC
         _event("2026-11-18T11:00:00+00:00", "login", "d2")]


def test_devices_moved_back_and_new_and_a_none_body_between_fine_ones() -> None:
    body = app.build(forms(SCOPE, BASE)[1])
    for form in (0, 1):
        tail = forms(SCOPE, ADDED)[form]
        for back in (0, 1, 2, 20, 21, 49, 50, 51, 52, 80, 400):
            as_of = PAYLOAD_AS_OF - timedelta(days=back)
            got = check([body, None, body, body], [tail, tail, forms(SCOPE, [])[0], tail],
                        as_of)
            assert got.ok.tolist() == [True, False, True, True]


def test_empty_bodies_empty_tails_and_no_businesses() -> None:
    empty = app.build(forms(SCOPE, [])[0])
    nothing = forms(SCOPE, [])[1]
    body = app.build(forms(SCOPE, BASE)[0])
    tail = forms(SCOPE, ADDED)[1]
    for as_of in (PAYLOAD_AS_OF, date(2026, 10, 1), date(2020, 1, 1)):
        check([empty, body, empty], [tail, nothing, nothing], as_of)
        check([empty, empty], [nothing, nothing], as_of)
        got = check([], [], as_of)
        assert len(got) == 0 and all(v.shape == (0, 16) for v, _ in got.columns.values())


def random_businesses(count: int, seed: int, events: tuple[int, int] = (0, 300),
                      tail: tuple[int, int] = (0, 8), typed: bool = True) -> tuple[list, list]:
    """`count` businesses of random events over the samples' span (a few devices each)."""
    rng = np.random.default_rng(seed)
    kinds = ["login", "login", "view_dashboard", "repay"]
    start = datetime.combine(PAYLOAD_AS_OF - timedelta(days=SPAN), datetime.min.time(), UTC)

    def lines(k: int, devices: list[str], recent: bool) -> list[dict]:
        lo = SPAN - 45 if recent else 0
        return [_event((start + timedelta(minutes=int(m))).isoformat(), kinds[int(e)],
                       devices[int(d)])
                for m, e, d in zip(rng.integers(lo * 1440, (SPAN + 1) * 1440, k),
                                   rng.integers(0, 4, k), rng.integers(0, len(devices), k))]

    bodies, tails = [], []
    for _ in range(count):
        devices = [f"dev-{int(i):05d}" for i in rng.integers(0, 100, rng.integers(1, 6))] + \
            ["平板-1"] * int(rng.integers(0, 2))
        base = lines(int(rng.integers(*events)), devices, False)
        more = lines(int(rng.integers(*tail)), devices + ["new-phone"], True)
        _, added = samples._split(base + more, len(base))
        bodies.append(app.build(forms(SCOPE, base)[int(typed)]))
        tails.append(forms(SCOPE, added)[int(typed) if rng.random() < 0.8 else 0])
    return bodies, tails


def test_a_few_hundred_random_businesses() -> None:
    bodies, tails = random_businesses(300, 11)
    for back in (-40, 0, 1, 20, 29, 30, 31, 51, 140, 300, 590, 700):
        got = check(bodies, tails, PAYLOAD_AS_OF - timedelta(days=back))
        assert got.ok.all()


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.lists(businesses(most=6), min_size=200, max_size=200), st.sampled_from([0, 30, 300]))
def test_two_hundred_businesses_of_the_sample_strategy(many, back) -> None:
    check([b for b, _ in many], [a for _, a in many], PAYLOAD_AS_OF - timedelta(days=back))
