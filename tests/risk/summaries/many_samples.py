"""Shared helpers of the chunk-wide panel tests (`panel_many`): the reference (each business's
body extended by its tail, its panel, stacked) and the comparison the contract defines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
from hypothesis import strategies as st
from summary_samples import PAYLOAD_AS_OF, forms

from puhui.risk.data.payload import SourceData
from puhui.risk.panel import month_index
from puhui.risk.stacked import Stacked, stack
from puhui.risk.summaries import KeyFilter, Summary, decode, encode


def reference(module: Any, bodies: Sequence[dict | None], added: Sequence[SourceData],
              as_of: date, top: int) -> Stacked:
    """What `panel_many` stands for: per business `extend` (when the tail has records) then
    `panel`, stacked (a None body: refused)."""
    results = []
    for body, tail in zip(bodies, added, strict=True):
        if body is not None and tail.record_count:
            body = module.extend(body, tail)
        results.append(None if body is None else module.panel(body, as_of, top))
    return stack(module.SCOPE, results, top)


def assert_stacked(got: Stacked, want: Stacked) -> None:
    """`ok` equal; where ok, the first month, every column's validity, and its values where
    valid equal (the contract's equality)."""
    assert got.scope is want.scope
    assert list(got.columns) == list(want.columns)
    assert got.ok.dtype == bool and got.ok.shape == want.ok.shape
    assert np.array_equal(got.ok, want.ok), (got.ok, want.ok)
    ok = want.ok
    assert got.first_month.dtype == np.int64
    assert np.array_equal(got.first_month[ok], want.first_month[ok])
    for name, (values, valid) in want.columns.items():
        got_values, got_valid = got.columns[name]
        assert got_values.dtype == np.int64 and got_values.shape == values.shape, name
        assert got_valid.dtype == bool and got_valid.shape == valid.shape, name
        assert np.array_equal(got_valid[ok], valid[ok]), name
        where = valid & ok[:, None]
        assert np.array_equal(got_values[where], values[where]), (name, got_values, values)


def check_many(module: Any, bodies: Sequence[dict | None], added: Sequence[SourceData],
               as_of: date, top: int) -> Stacked:
    """`panel_many` equals the reference, and leaves the bodies as they were."""
    copies = [None if body is None else {k: a.copy() for k, a in body.items()}
              for body in bodies]
    want = reference(module, bodies, added, as_of, top)
    got = module.panel_many(bodies, added, as_of, top)
    assert_stacked(got, want)
    for body, copy in zip(bodies, copies):
        assert copy is None or all(np.array_equal(body[k], copy[k]) for k in copy)
    return got


def stored(scope: Any, body: dict) -> dict:
    """The body as read back from its stored bytes (read-only arrays, int64 widened from
    int32)."""
    return decode(encode(Summary(scope, body, KeyFilter.of(np.zeros(0, np.uint64)), 0))).body


def summary_of(module: Any, parts: list[list[dict]], form: int, kept: bool) -> dict:
    """The summary of the deliveries `parts` (the first built, the others added, the forms
    alternating from `form`), as built (`kept`) or read back from its bytes; None replaced by
    an empty body (a body beyond int64 is never stored)."""
    scope = module.SCOPE
    body = module.build(forms(scope, parts[0])[form])
    for part in parts[1:]:
        if body is None:
            break
        body = module.extend(body, forms(scope, part)[1 - form])
    if body is None:
        body = module.build(forms(scope, [])[0])
    return body if kept else stored(scope, body)


@st.composite
def businesses(draw, module: Any, records: st.SearchStrategy, keyed: Any, dated: str,
               size: int = 25, tail: int = 8):
    """A business's (body, tail): its records (`keyed` gives them distinct keys) cut into
    deliveries summarised, the last ones (up to `tail`) its tail, possibly none; sometimes
    latest first (by their field `dated`)."""
    found = draw(st.lists(records, max_size=size))
    if draw(st.booleans()):
        found.sort(key=lambda r: r[dated], reverse=True)
    found = keyed(found)
    cut = len(found) - draw(st.integers(0, min(len(found), tail)))
    bounds = [0, *sorted(draw(st.lists(st.integers(0, cut), max_size=2))), cut]
    parts = [found[a:b] for a, b in pairwise(bounds)]
    body = summary_of(module, parts, draw(st.integers(0, 1)), draw(st.booleans()))
    return body, forms(module.SCOPE, found[cut:])[draw(st.integers(0, 1))]


def check_chunk(module: Any, chunk: list, back: int) -> Stacked:
    """`check_many` on (body, tail) pairs, as_of `back` days before the payloads'."""
    as_of = PAYLOAD_AS_OF - timedelta(days=back)
    return check_many(module, [b for b, _ in chunk], [a for _, a in chunk], as_of,
                      month_index(as_of))
