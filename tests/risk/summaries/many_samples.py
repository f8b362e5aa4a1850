"""Shared helpers of the chunk-wide panel tests (`panel_many`): the reference (each business's
body extended by its tail, its panel, stacked) and the comparison the contract defines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from puhui.risk.data.payload import SourceData
from puhui.risk.stacked import Stacked, stack
from puhui.risk.summaries import KeyFilter, Summary, decode, encode


def reference(module: Any, bodies: Sequence[dict], added: Sequence[SourceData], as_of: date,
              top: int) -> Stacked:
    """What `panel_many` stands for: per business `extend` (when the tail has records) then
    `panel`, stacked."""
    results = []
    for body, tail in zip(bodies, added, strict=True):
        if tail.record_count:
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


def check_many(module: Any, bodies: Sequence[dict], added: Sequence[SourceData], as_of: date,
               top: int) -> Stacked:
    """`panel_many` equals the reference, and leaves the bodies as they were."""
    copies = [{k: a.copy() for k, a in body.items()} for body in bodies]
    want = reference(module, bodies, added, as_of, top)
    got = module.panel_many(bodies, added, as_of, top)
    assert_stacked(got, want)
    for body, copy in zip(bodies, copies):
        assert all(np.array_equal(body[k], copy[k]) for k in copy)
    return got


def stored(scope: Any, body: dict) -> dict:
    """The body as read back from its stored bytes (read-only arrays, int64 widened from
    int32)."""
    return decode(encode(Summary(scope, body, KeyFilter.of(np.zeros(0, np.uint64)), 0))).body
