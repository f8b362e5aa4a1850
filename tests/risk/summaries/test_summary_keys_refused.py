"""`summaries._keys_refused` searches each new key in its own business's fingerprints and finds
repeats by one plain sort; this holds it equal to the plain form (every business's
fingerprints tagged with its business and laid end to end, one lexsort for the repeats), kept
here as the reference, on random chunks with many near collisions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.risk.summaries import KeyFilter, _keys_refused


def _keys_refused_plain(filters: Sequence[KeyFilter], keys: Sequence[np.ndarray]) -> np.ndarray:
    """The reference: the form before the fast one."""
    count = len(filters)
    refused = np.zeros(count, bool)
    sizes = np.fromiter(map(len, keys), np.int64, count)
    if not sizes.sum():
        return refused
    owner = np.repeat(np.arange(count, dtype=np.uint64), sizes)
    new = np.concatenate(keys).astype(np.uint64, copy=False)
    order = np.lexsort((new, owner))
    same = (new[order][1:] == new[order][:-1]) & (owner[order][1:] == owner[order][:-1])
    refused[owner[order][1:][same].astype(np.int64)] = True
    held = [f.prints for f in filters]
    held_owner = np.repeat(np.arange(count, dtype=np.uint64),
                           np.fromiter(map(len, held), np.int64, count))
    if len(held_owner):
        tag = np.uint64(32)
        stored = (held_owner << tag) | np.concatenate(held).astype(np.uint64)  # sorted
        wanted = (owner << tag) | (new >> tag)
        at = np.searchsorted(stored, wanted)
        hit = stored.take(at, mode="clip") == wanted
        refused[owner[hit].astype(np.int64)] = True
    return refused


# keys drawn from a small pool of high halves and low halves: fingerprints collide often,
# keys repeat within and across businesses
_HIGH = st.sampled_from([0, 1, 7, 2 ** 31, 2 ** 32 - 1])
_KEY = st.builds(lambda h, lo: (h << 32) | lo, _HIGH, st.sampled_from([0, 3, 2 ** 32 - 1]))
_BUSINESS = st.tuples(st.lists(_KEY, max_size=6), st.lists(_KEY, max_size=6))


@settings(max_examples=500, deadline=None)
@given(st.lists(_BUSINESS, max_size=8))
def test_refusals_are_the_plain_ones(businesses) -> None:
    filters = [KeyFilter.of(np.array(held, np.uint64)) for held, _ in businesses]
    keys = [np.array(new, np.uint64) for _, new in businesses]
    assert _keys_refused(filters, keys).tolist() == _keys_refused_plain(filters, keys).tolist()


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 40))
def test_large_random_chunks_are_refused_as_plainly(seed, count) -> None:
    rng = np.random.default_rng(seed)
    held = [rng.integers(0, 2 ** 20, rng.integers(0, 300), dtype=np.uint64) << np.uint64(32)
            for _ in range(count)]
    filters = [KeyFilter.of(h) for h in held]
    keys = []
    for h in held:
        new = rng.integers(0, 2 ** 21, rng.integers(0, 40), dtype=np.uint64) << np.uint64(31)
        keys.append(np.unique(new) if rng.random() < 0.7 else new)
    assert _keys_refused(filters, keys).tolist() == _keys_refused_plain(filters, keys).tolist()
