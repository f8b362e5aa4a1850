"""The scorecard's `_plain` (a reason's value as plain JSON) answers the plain Python values
without `pd.isna` exactly as the general path does (the reference below), NaN as None."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from puhui.risk.scorecard import _plain


def _reference(value: Any) -> Any:
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


VALUES = (st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers()
          | st.text(max_size=5) | st.booleans()
          | st.floats(allow_nan=True).map(np.float64) | st.integers(-2**31, 2**31).map(np.int64))


@given(VALUES)
def test_plain_equals_the_pandas_path(value) -> None:
    got, want = _plain(value), _reference(value)
    assert type(got) is type(want)
    assert got == want  # NaN never comes out: it is missing (None)


def test_nan_is_missing() -> None:
    assert _plain(float("nan")) is None and _plain(np.float64("nan")) is None
