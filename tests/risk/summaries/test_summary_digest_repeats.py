"""`text_digests_many` digests each distinct text of a chunk's tails once (by lanes when they
are all hashes of one width); this holds it equal to `text_digests` of each column alone when
the tails repeat their customers, within and across columns, in every column form."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.risk.data.typed import TypedColumn
from puhui.risk.summaries._digest import text_digests, text_digests_many

_HEX = st.text("0123456789abcdef", min_size=16, max_size=16)
_WORD = st.one_of(_HEX, _HEX, st.text("0123456789abcdef", min_size=32, max_size=32),
                  st.text(max_size=9), st.sampled_from(["", "abcdefgh", "ümlaut-x", "a\x00"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORD, min_size=1, max_size=90), st.data())
def test_repeated_texts_digest_as_each_column_alone(pool, data) -> None:
    columns = []
    for _ in range(data.draw(st.integers(0, 6))):
        picks = data.draw(st.lists(st.integers(0, len(pool) - 1), max_size=120))
        values = [pool[k] for k in picks]
        form = data.draw(st.integers(0, 2))
        columns.append((TypedColumn("L", values), TypedColumn.of(values),
                        TypedColumn.of(values[::-1] + values))[form])
    got = text_digests_many(columns)
    want = [text_digests(c) for c in columns]
    assert got.dtype == np.uint64
    assert got.tolist() == (np.concatenate(want).tolist() if want else [])


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2 ** 32 - 1))
def test_many_distinct_hashes_repeated_digest_as_alone(seed) -> None:
    rng = np.random.default_rng(seed)
    hashes = [f"{x:016x}" for x in rng.integers(0, 2 ** 63, 200)]
    columns = [TypedColumn("L", [hashes[k] for k in rng.integers(0, 200, rng.integers(0, 90))])
               for _ in range(rng.integers(1, 8))]
    if rng.random() < 0.3:  # one text of another width: not all by lanes
        columns.append(TypedColumn("L", ["short", hashes[0]]))
    got = text_digests_many(columns)
    assert got.tolist() == np.concatenate([text_digests(c) for c in columns]).tolist()
