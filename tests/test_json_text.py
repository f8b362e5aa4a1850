"""Stored and answered JSON text: the standard encoder's text, only faster to make."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.json_text import dumps

TEXT = st.text(max_size=12)  # any code point: Chinese names, control characters, quotes
SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2 ** 80), max_value=2 ** 80) | TEXT
DOCUMENTS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20)


def standard(value, sort_keys: bool) -> str:
    return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)


@given(DOCUMENTS, st.booleans())
def test_the_same_text_as_the_standard_encoder(value, sort_keys: bool) -> None:
    assert dumps(value, sort_keys=sort_keys) == standard(value, sort_keys)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_reads_back_as_itself(number: float) -> None:
    assert json.loads(dumps({"x": number})) == {"x": number}


def test_what_the_standard_encoder_refuses_is_refused() -> None:
    with pytest.raises(TypeError, match="date"):
        dumps({"due": date(2026, 1, 1)})


def test_keys_that_are_not_text_are_written_as_the_standard_encoder_does() -> None:
    assert dumps({1: "a", None: "b"}) == standard({1: "a", None: "b"}, False)


def test_no_number_for_nan_so_null() -> None:
    assert dumps([float("nan"), float("inf")]) == "[null,null]"
