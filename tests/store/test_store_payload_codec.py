"""Payloads packed for storage come back byte for byte, whatever bytes were received."""

from __future__ import annotations

import json
import zlib

import orjson

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.risk.errors import PayloadTampered, RiskDataError
from puhui.store import payload_codec as codec

METHODS = ["zlib"] + (["zstd"] if codec.default_compression() == "zstd" else [])


def canonical(payload) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


RECORDS = {"business_id": "91310000MA1FL8LQ2X", "as_of": "2026-03-31", "records": [
    {"amount_fen": 1200 + i, "customer_hash": f"{i:016x}", "ordered_on": "2026-03-01",
     "refunded": i % 7 == 0, "refunded_on": None, "note": "上海 café ✓" if i % 3 else ""}
    for i in range(200)]}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                  max_size=4),
    max_leaves=12)


@pytest.mark.parametrize("method", METHODS)
def test_a_records_payload_is_packed_as_columns_and_comes_back_exactly(method) -> None:
    data = canonical(RECORDS)
    name, blob = codec.pack(data, method)
    assert name == f"cols+{method}"
    assert codec.unpack(name, blob) == data
    assert len(blob) < len(data) / 5


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("data", [
    b"", b"\x00\xff\xfe not json", "{\"a\": 1}".encode(),      # spaces: not canonical
    b'{"records":[{"a":1},{"b":2}]}',                          # records of mixed shapes
    b'{"records":[]}', b'{"records":[{}]}', b"[1,2,3]",
    b'{"records":[{"a":1e400}]}', b'{"a":1,"a":2}',             # out of range, duplicate key
    b'{"records":[{"n":123456789012345678901234567890}]}',     # beyond 64 bits
    "{\"k\":\"\u2028 é 字\"}".encode(), b'{"records":[{"a":"\\u00e9"}]}'])
def test_any_bytes_come_back_exactly(method, data) -> None:
    name, blob = codec.pack(data, method)
    assert codec.unpack(name, blob) == data


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_round_trip(data) -> None:
    name, blob = codec.pack(data, "zlib")
    assert codec.unpack(name, blob) == data


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=4),
       st.lists(st.fixed_dictionaries({"x": json_values, "y": st.text()}), max_size=5),
       st.booleans())
def test_arbitrary_json_round_trips(envelope, records, canonical_form) -> None:
    payload = {**envelope, "records": records}
    data = canonical(payload) if canonical_form else json.dumps(payload).encode()
    for method in METHODS:
        name, blob = codec.pack(data, method)
        assert codec.unpack(name, blob) == data


def _parse(data: bytes):
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=4),
       st.lists(st.fixed_dictionaries({"x": json_values, "y": st.text()},
                                      optional={"z": st.integers(-5, 5)}), min_size=1, max_size=5),
       st.sampled_from(["orjson", "json", "spaced"]))
def test_the_parse_a_caller_hands_over_never_changes_what_comes_back(envelope, records, form):
    """Packing trusts a parse it is given only as far as the bytes are its canonical form:
    whatever is handed over (the bytes' own parse, another payload's, nothing parseable), the
    bytes come back exactly, and a canonical payload of same-shaped records is packed as
    columns (the path the live application takes)."""
    payload = {**envelope, "records": records}
    try:
        data = {"orjson": lambda: orjson.dumps(payload, option=orjson.OPT_SORT_KEYS),
                "json": lambda: canonical(payload),
                "spaced": lambda: json.dumps(payload).encode()}[form]()
    except TypeError:  # integers beyond 64 bits: orjson refuses to write them
        data = canonical(payload)
    own = _parse(data)
    for parsed in (own, _parse(canonical({**payload, "records": records[::-1]})), None, 7):
        name, blob = codec.pack(data, "zlib", parsed=parsed)
        assert codec.unpack(name, blob) == data
    same_shape = len({frozenset(r) for r in records}) == 1
    if own is not None and same_shape and orjson.dumps(own, option=orjson.OPT_SORT_KEYS) == data:
        assert codec.pack(data, "zlib", parsed=own)[0] == "cols+zlib"
        assert codec.pack(data, "zlib")[0] == "cols+zlib"


@pytest.mark.parametrize("method", METHODS)
def test_an_altered_blob_does_not_unpack_or_fails_its_hash(method) -> None:
    data = canonical(RECORDS)
    name, blob = codec.pack(data, method)
    digest = codec.sha256_hex(data)
    assert codec.checked(codec.unpack(name, blob), digest, "p") == data
    flipped = bytearray(blob)
    flipped[len(flipped) // 2] ^= 0x01
    with pytest.raises(PayloadTampered):
        codec.checked(codec.unpack(name, bytes(flipped)), digest, "p")
    # a blob replaced whole, validly packed, still fails its hash
    other_name, other = codec.pack(canonical({**RECORDS, "as_of": "2026-04-01"}), method)
    with pytest.raises(PayloadTampered, match="does not match its sha256"):
        codec.checked(codec.unpack(other_name, other), digest, "p")


def test_unknown_codecs_and_broken_columns_are_refused() -> None:
    with pytest.raises(PayloadTampered, match="unknown payload codec"):
        codec.unpack("rot13", b"x")
    with pytest.raises(PayloadTampered, match="columns do not unpack"):
        codec.unpack("cols+zlib", zlib.compress(b"[1,{},[\"a\"],[[1],[2,3]]]"))
    with pytest.raises(RiskDataError, match="unknown payload compression"):
        codec.pack(b"{}", "lz4")
