"""`summaries.decode` reads each array straight from the bytes at its offset; this holds it
equal to the plain reading (a memoryview slice per column, kept here as the reference) on
whole summaries and on damaged ones: the same arrays, or the same refusal."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.parties.consent import DataScope
from puhui.risk import summaries as sm
from puhui.risk.errors import PayloadTampered
from puhui.risk.summaries import _DTYPES, _LEN, _MAGIC, VERSION, KeyFilter, Summary


def _plain(data: bytes | memoryview) -> Summary | None:
    """The reading as it was before the offsets were read straight (the reference), with the
    one check `decode` added: a header length beyond the bytes is refused."""
    try:
        data = bytes(data)
        if data[:4] != _MAGIC:
            raise ValueError("not a summary")
        (size,) = _LEN.unpack_from(data, 4)
        if 8 + size > len(data):
            raise ValueError("the header runs beyond the bytes")
        head = orjson.loads(data[8:8 + size])
        if head.get("v") != VERSION:
            return None
        body_bytes = memoryview(data)[8 + size:]
        arrays: dict[str, np.ndarray] = {}
        for name, code, a, b in head["cols"]:
            if not 0 <= a <= b <= len(body_bytes):
                raise ValueError(f"{name} lies beyond the bytes")
            if code == "w4":
                arrays[name] = np.frombuffer(body_bytes[a:b], dtype=np.int32).astype(np.int64)
            else:
                arrays[name] = np.frombuffer(body_bytes[a:b], dtype=_DTYPES[code])
        prints = arrays.pop("\x00prints")
        if prints.dtype != np.uint32 or (len(prints) > 1 and (prints[1:] < prints[:-1]).any()):
            raise ValueError("key fingerprints out of order")
        return Summary(DataScope(head["scope"]), arrays, KeyFilter(prints),
                       int(head["records"]))
    except Exception as exc:  # noqa: BLE001
        raise PayloadTampered(str(exc)) from None


def _outcome(read, data):
    try:
        s = read(data)
    except PayloadTampered:
        return "refused"
    if s is None:
        return None
    return (s.scope, s.records, s.keys.prints.dtype.str, s.keys.prints.tolist(),
            [(n, a.dtype.str, a.tolist()) for n, a in s.body.items()])


_INTS = st.lists(st.integers(-2 ** 63, 2 ** 63 - 1), max_size=12)
_ARRAYS = st.one_of(
    _INTS.map(lambda v: np.array(v, np.int64)),
    st.lists(st.integers(-2 ** 31, 2 ** 31 - 1), max_size=12).map(lambda v: np.array(v, np.int64)),
    st.lists(st.integers(-2 ** 31, 2 ** 31 - 1), max_size=12).map(lambda v: np.array(v, np.int32)),
    st.lists(st.integers(0, 2 ** 64 - 1), max_size=12).map(lambda v: np.array(v, np.uint64)),
    st.lists(st.integers(0, 2 ** 32 - 1), max_size=12).map(lambda v: np.array(v, np.uint32)),
    st.lists(st.booleans(), max_size=12).map(lambda v: np.array(v, bool)))
_SUMMARIES = st.builds(
    lambda body, keys, scope: Summary(scope, body, KeyFilter.of(np.array(keys, np.uint64)),
                                      len(keys)),
    st.dictionaries(st.text("abcdefghij_", min_size=1, max_size=8), _ARRAYS, max_size=8),
    st.lists(st.integers(0, 2 ** 64 - 1), max_size=20),
    st.sampled_from(sorted(sm.SUMMARISED, key=lambda s: s.value)))


@settings(max_examples=300, deadline=None)
@given(_SUMMARIES)
def test_whole_summaries_read_as_the_plain_reading(summary) -> None:
    data = sm.encode(summary)
    assert _outcome(sm.decode, data) == _outcome(_plain, data) != "refused"
    assert _outcome(sm.decode, memoryview(data)) == _outcome(_plain, data)


@settings(max_examples=600, deadline=None)
@given(_SUMMARIES, st.data())
def test_damaged_summaries_read_or_are_refused_as_the_plain_reading(summary, draw) -> None:
    data = bytearray(sm.encode(summary))
    for _ in range(draw.draw(st.integers(1, 3))):
        how = draw.draw(st.sampled_from(["flip", "cut", "grow"]))
        if how == "flip" and data:
            at = draw.draw(st.integers(0, len(data) - 1))
            data[at] = draw.draw(st.integers(0, 255))
        elif how == "cut" and data:
            del data[draw.draw(st.integers(0, len(data) - 1)):]
        else:
            data += bytes(draw.draw(st.integers(1, 9)))
    data = bytes(data)
    assert _outcome(sm.decode, data) == _outcome(_plain, data)


def test_a_header_length_beyond_the_bytes_is_refused() -> None:
    """An empty summary (no arrays: its header is its last byte) whose length field grew
    still parses as JSON; the previous reading took it, this one refuses it."""
    empty = Summary(DataScope.APP_BEHAVIOUR, {}, KeyFilter.of(np.array([], np.uint64)), 0)
    data = bytearray(sm.encode(empty))
    assert sm.decode(bytes(data)) is not None
    data[5] = 1
    with pytest.raises(PayloadTampered):
        sm.decode(bytes(data))


@pytest.mark.parametrize("cols", [
    [["a", "i8", 0, 7], ["\x00prints", "u4", 0, 0]],      # not a whole number of items
    [["a", "w4", 0, 6], ["\x00prints", "u4", 0, 0]],
    [["a", "i8", 8, 0], ["\x00prints", "u4", 0, 0]],      # ends before it starts
    [["a", "i8", -8, 0], ["\x00prints", "u4", 0, 0]],
    [["a", "i8", 0, 24], ["\x00prints", "u4", 0, 0]],     # beyond the bytes
    [["a", "x8", 0, 8], ["\x00prints", "u4", 0, 0]],      # no such code
    [["a", "i8", 0.0, 8.0], ["\x00prints", "u4", 0, 0]],  # offsets not integers
    [["a", "i8", 0, 8], ["\x00prints", "i4", 0, 0]],      # fingerprints of another type
    [["a", "i8", 0, 8]]])                                  # no fingerprints
def test_crafted_headers_are_refused_by_both(cols) -> None:
    head = orjson.dumps({"v": VERSION, "scope": "sales", "cols": cols, "records": 0})
    data = _MAGIC + _LEN.pack(len(head)) + head + bytes(16)
    assert _outcome(sm.decode, data) == _outcome(_plain, data) == "refused"


@pytest.mark.parametrize("cols", [
    [["a", "i8", 8, 16], ["b", "i8", 0, 8], ["\x00prints", "u4", 16, 16]],   # laid backwards
    [["a", "i8", 0, 16], ["b", "i8", 8, 24], ["\x00prints", "u4", 0, 0]],    # overlapping
    [["a", "w4", 0, 8], ["b", "w4", 16, 24], ["c", "w4", 24, 24],
     ["\x00prints", "u4", 28, 32]],                                          # with a gap
    [["a", "w4", 4, 8], ["b", "i4", 8, 16], ["c", "w4", 16, 20],
     ["\x00prints", "u4", 32, 32]]])                                         # codes alternate
def test_arrays_laid_out_of_encode_order_read_as_plainly(cols) -> None:
    head = orjson.dumps({"v": VERSION, "scope": "sales", "cols": cols, "records": 0})
    data = _MAGIC + _LEN.pack(len(head)) + head + bytes(range(1, 33))
    assert _outcome(sm.decode, data) == _outcome(_plain, data) != "refused"
