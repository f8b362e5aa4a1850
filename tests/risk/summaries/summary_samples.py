"""Shared helpers of the summary tests: the two forms of the same records,
the merged data a summary extended by a delta stands for, and the comparison with a reducer.

The record strategies and the two forms are the reducer tests' own
(tests/risk/data/test_risk_reducers_typed.py: days anywhere in 600 days, near month ends and near
the as_of drawn).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from puhui.parties.consent import DataScope
from puhui.risk import _reduce
from puhui.risk.data import merged_state as ms
from puhui.risk.data.payload import SourceData
from puhui.risk.errors import RiskDataError
from puhui.risk.panel import ROWS, month_index

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))  # the reducer tests' strategies

from test_risk_reducers_typed import (  # noqa: E402, F401 - shared with the summary tests
    BUSINESS, CUSTOMERS, PAYLOAD_AS_OF, SPAN, START, _day, _forms, _typed, day_offsets,
)

#: The reducer tests' names for the same things.
day, typed, forms = _day, _typed, _forms
ALLOWED = {np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.uint64), np.dtype(bool)}

#: How far as_of is from the payload's: after every record, on it, a month boundary or so
#: before it, inside the records' span, before all of them.
BACKS = st.one_of(st.just(0), st.integers(-70, 0), st.integers(0, 120),
                  st.sampled_from([19, 20, 21, 50, 51]), st.integers(120, 700))


def merged(scope: DataScope, deliveries: list[tuple[SourceData, list[dict]]]) -> SourceData:
    """The merged data of the deliveries, in order (`merged_state`)."""
    segments = [ms.segment_of(data, records) for data, records in deliveries]
    return ms.source_data(ms.merge(segments[0], segments[1:]), BUSINESS, PAYLOAD_AS_OF)


def reduced(scope: DataScope, source: SourceData, as_of: date) -> Any:
    """The reducer's answer, or None where it refuses the data."""
    try:
        return _reduce.REDUCERS[scope](source, as_of, month_index(as_of))
    except RiskDataError:
        return None


def assert_same(got: Any, expected: Any) -> None:
    """The summary's panel equals the reducer's: names, values, validity, activity."""
    columns, active = got
    want, want_active = expected
    assert list(columns) == list(want)
    for name, (values, valid) in want.items():
        got_values, got_valid = columns[name]
        assert got_values.dtype == np.int64 and got_values.shape == (ROWS,), name
        assert np.array_equal(got_values, values), (name, got_values, values)
        all_rows = np.ones(ROWS, bool)
        assert np.array_equal(all_rows if got_valid is None else got_valid,
                              all_rows if valid is None else valid), name
    assert active == want_active


def assert_body(body: dict[str, np.ndarray]) -> None:
    """A body is 1-D arrays of the allowed dtypes."""
    for name, a in body.items():
        assert isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype in ALLOWED, name


def frozen(body: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A copy of the body, whose own arrays are made read-only (as stored bytes would be):
    extending must neither write into them nor change them."""
    copy = {name: a.copy() for name, a in body.items()}
    for a in body.values():
        a.flags.writeable = False
    return copy


def assert_unchanged(body: dict[str, np.ndarray], copy: dict[str, np.ndarray]) -> None:
    assert body.keys() == copy.keys()
    for name, a in body.items():
        assert a.dtype == copy[name].dtype and np.array_equal(a, copy[name]), name


def check_source(scope: DataScope, module: Any, records: list[dict], cuts: list[int],
                 back: int, summable: Callable[[list[dict]], bool]) -> None:
    """Properties 1 to 5 of the summary spec on records (keys distinct), cut at `cuts` into
    deliveries (the first built, the others added in turn), for an as_of `back` days before
    the payload's, in list form, typed form and both alternating.  `summable(records)`: no
    total of them can overflow (then no None is allowed); else None exactly where the reducer
    refuses."""
    as_of = PAYLOAD_AS_OF - timedelta(days=back)
    top = month_index(as_of)
    bounds = [0, *sorted(cuts), len(records)]
    parts = [records[a:b] for a, b in pairwise(bounds)]
    plain = summable(records)
    for source in forms(scope, records):
        expected = reduced(scope, source, as_of)
        body = module.build(source)
        if plain:
            assert body is not None
        if body is None:
            assert expected is None  # a value beyond int64: refused for every as_of
            continue
        assert_body(body)
        got = module.panel(body, as_of, top)
        assert (got is None) == (expected is None)
        if got is not None:
            assert_same(got, expected)
    every = [forms(scope, part) for part in parts]
    for pick in ([0] * len(parts), [1] * len(parts), [i % 2 for i in range(len(parts))],
                 [1 - i % 2 for i in range(len(parts))]):
        deliveries = [(f[k], part) for f, k, part in zip(every, pick, parts)]
        expected = reduced(scope, merged(scope, deliveries), as_of)
        body = module.build(deliveries[0][0])
        for added, _ in deliveries[1:]:
            if body is None:
                break
            copy = frozen(body)
            extended = module.extend(body, added)
            assert_unchanged(body, copy)
            body = extended
        if plain:
            assert body is not None
        if body is None:
            assert expected is None
            continue
        assert_body(body)
        got = module.panel(body, as_of, top)
        assert (got is None) == (expected is None)
        if got is not None:
            assert_same(got, expected)
        # extending by nothing changes nothing
        again = module.panel(module.extend(body, forms(scope, [])[0]), as_of, top)
        assert (again is None) == (got is None)
        if got is not None:
            assert_same(again, expected)


def check_many(scope: DataScope, module: Any, records: list[dict], cuts: list[int]) -> None:
    """`check_source` on many records (the paths taken for long columns), for as_ofs from
    before the records to after them."""
    for back in (-40, 0, 1, 20, 51, 140, 300, 590, 700):
        check_source(scope, module, records, cuts, back, lambda _: True)
