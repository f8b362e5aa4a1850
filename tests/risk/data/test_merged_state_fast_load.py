"""`merged_state.load` (the one-pass read of a base and its tail) is the general read exactly.

Why: `load` packs a small tail's values beside the base's stored buffers and reads each form's
columns as one block; the general path (`merge(unpack_base(...), tail_segments(...))`) stays the
reference.  These hold the two equal on states of random records (tails adding keys, replacing
keys, several deliveries), and on damaged bytes: the same refusal or the same segment.
"""

from __future__ import annotations

import calendar
import json
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from risk_data_samples import utility_bill

from puhui.parties.consent import DataScope
from puhui.risk.data import merged_state as ms
from puhui.risk.data.payload import parse_payload
from puhui.risk.data.typed import TypedColumn
from puhui.risk.errors import PayloadTampered

BUSINESS = "91310000MA1FL0001X"
START = date(2020, 1, 1)


def _bill(kind: str, month: int, usage: int, paid: bool, leave_out: bool) -> dict:
    return utility_bill(kind, month, usage, paid, leave_out, first_year=2020)


def _filing(kind: str, month: int, revenue: int, _paid: bool, _leave_out: bool) -> dict:
    start = date(2020 + month // 12, month % 12 + 1, 1)
    end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    return {"tax_type": kind, "period_start": start.isoformat(), "period_end": end.isoformat(),
            "filed_on": (end + timedelta(days=12)).isoformat(),
            "declared_revenue_fen": revenue, "tax_paid_fen": revenue // 13}


_KINDS = {DataScope.UTILITY: ("electricity", "water"), DataScope.TAX: ("vat", "income_tax")}
_MAKE = {DataScope.UTILITY: _bill, DataScope.TAX: _filing}


@st.composite
def deliveries(draw, scope: DataScope, count: int, months: tuple[int, int]) -> list[dict]:
    """`count` payloads of records drawn from the keys of `months` (so some repeat)."""
    out = []
    for i in range(count):
        n = draw(st.integers(0 if i else 17, 40 if i == 0 else 4))
        records = [_MAKE[scope](draw(st.sampled_from(_KINDS[scope])),
                                draw(st.integers(*months)), draw(st.integers(0, 10**9)),
                                draw(st.booleans()), draw(st.booleans())) for _ in range(n)]
        as_of = START + timedelta(days=2000 + 10 * i)
        out.append({"business_id": BUSINESS, "as_of": as_of.isoformat(), "records": records})
    return out


def _segment(scope: DataScope, payload: dict) -> ms.Segment:
    return ms.segment_of(parse_payload(scope, payload), payload["records"])


def _stored(scope: DataScope, base_payloads: list[dict], tail_payloads: list[dict]
            ) -> tuple[bytes, bytes | None]:
    base = ms.merge(ms.empty(scope), [_segment(scope, p) for p in base_payloads])
    tail = None
    for p in tail_payloads:
        tail = ms.merged_tail(scope, tail, [_segment(scope, p)])
    return ms.pack_base(base), tail


def _general(scope: DataScope, blob: bytes, tail: bytes | None) -> ms.Segment:
    return ms.merge(ms.unpack_base(scope, ms.BASE_CODEC, blob), ms.tail_segments(scope, tail))


def _column(values: list | TypedColumn) -> tuple:
    if isinstance(values, TypedColumn):
        data = values.data if values.kind not in ("L", "s") else None
        listed = values.to_list()
        return ("typed", values.kind, None if data is None else (data.dtype.str, data.tolist()),
                None if values.uniques is None else list(values.uniques), listed,
                [type(v) for v in listed])
    return ("list", list(values), [type(v) for v in values])


def _same(ours: ms.Segment, theirs: ms.Segment) -> None:
    assert ours.scope == theirs.scope and ours.raw == theirs.raw
    assert list(ours.columns) == list(theirs.columns)
    for name in ours.columns:
        assert _column(ours.columns[name]) == _column(theirs.columns[name]), name
    for part in ("keys", "seen", "first"):
        a, b = getattr(ours, part), getattr(theirs, part)
        assert a.dtype == b.dtype and a.tolist() == b.tolist(), part
    assert ours.unset == theirs.unset


def _outcome(read, *args):
    try:
        return "ok", read(*args)
    except PayloadTampered:
        return "refused", None
    except Exception as exc:  # noqa: BLE001 - the same other failure, if any
        return type(exc).__name__, None


def _same_outcome(scope: DataScope, blob: bytes, tail: bytes | None) -> str:
    fast = _outcome(ms.load, scope, ms.BASE_CODEC, blob, tail)
    slow = _outcome(_general, scope, blob, tail)
    assert fast[0] == slow[0]
    if fast[0] == "ok":
        _same(fast[1], slow[1])
    return fast[0]


SCOPES = st.sampled_from([DataScope.UTILITY, DataScope.TAX])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scope=SCOPES)
def test_load_is_the_merge_of_the_base_and_its_tail(data, scope) -> None:
    n_tail = data.draw(st.integers(0, 3))
    # the tail's months: all new ones (the fast path), or among the base's (replacing keys)
    later = data.draw(st.sampled_from([(30, 60), (0, 40), (35, 45)]))
    base_payloads = data.draw(deliveries(scope, 1, (0, 29)))
    tail_payloads = data.draw(deliveries(scope, n_tail + 1, later))[1:]
    blob, tail = _stored(scope, base_payloads, tail_payloads)
    assert _same_outcome(scope, blob, tail) == "ok"


def test_a_base_and_a_tail_of_new_records_take_the_fast_path() -> None:
    for scope in (DataScope.UTILITY, DataScope.TAX):
        base = [{"business_id": BUSINESS, "as_of": "2025-06-01", "records": [
            _MAKE[scope](_KINDS[scope][m % 2], m, 1000 + m, m % 3 == 0, m % 5 == 0)
            for m in range(24)]}]
        later = [{"business_id": BUSINESS, "as_of": "2025-07-01", "records": [
            _MAKE[scope](_KINDS[scope][0], 40, 5, False, False)]}]
        for tail_payloads in ([], later):
            blob, tail = _stored(scope, base, tail_payloads)
            data = ms._decompressed(ms.BASE_CODEC, blob)
            assert ms._fast_load(scope, data, ms._small_tail(tail) if tail else None) \
                is not None
            _same(ms.load(scope, ms.BASE_CODEC, blob, tail), _general(scope, blob, tail))


# -- damaged bytes -------------------------------------------------------------------------------
def _parts(data: bytes) -> tuple[dict, bytes]:
    size = int.from_bytes(data[4:8], "little")
    return json.loads(data[8:8 + size]), data[8 + size:]


def _join(header: dict, body: bytes) -> bytes:
    head = json.dumps(header).encode()
    return b"PMS1" + len(head).to_bytes(4, "little") + head + body


ODD = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                st.text(max_size=3), st.lists(st.integers(-3, 3), max_size=2))


@st.composite
def damaged(draw, blob: bytes, tail: bytes | None) -> tuple[bytes, bytes | None]:
    """The state with one thing changed: a byte of the base or the tail, or a value of either
    one's header."""
    data = ms._decompressed(ms.BASE_CODEC, blob)
    where = draw(st.sampled_from(["base byte", "base header", "tail byte", "tail header"]
                                 if tail else ["base byte", "base header"]))
    if where == "base byte":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    elif where == "base header":
        header, body = _parts(data)
        field = draw(st.sampled_from(["n", "keys", "seen", "first", "unset"]
                                     + (["col", "extra", "word", "body"] if "cols" in header
                                        else [])))
        if field == "col":
            col = draw(st.sampled_from(header["cols"]))
            col[draw(st.integers(0, 4))] = draw(ODD)
        elif field in ("extra", "word"):
            words = [c for c in header["cols"] if c[1] == "u"]
            if words:
                c = words[0]
                if field == "extra":
                    c[4] = draw(st.lists(st.text(max_size=3), max_size=2))
                else:
                    c[4] = [*c[4], draw(ODD)]
        elif field == "body":  # a day beyond the calendar or before it, an out-of-range code
            col = draw(st.sampled_from(header["cols"]))
            a = col[2]
            value = draw(st.sampled_from([-1, 0, 2**40, ms._MAX_ORDINAL + 1, 65535]))
            width = 2 if col[1] == "u" else 8
            body = body[:a] + (value % 2 ** (8 * width)).to_bytes(width, "little") \
                + body[a + width:]
        else:
            header[field] = draw(ODD)
        data = _join(header, body)
    elif where == "tail byte":
        at = draw(st.integers(0, len(tail) - 1))
        tail = tail[:at] + bytes([tail[at] ^ draw(st.integers(1, 255))]) + tail[at + 1:]
    else:
        header, _ = _parts(tail[4:])
        field = draw(st.sampled_from(["n", "keys", "seen", "first", "unset", "value", "kind"]))
        if field in ("value", "kind"):
            col = draw(st.sampled_from(header["small"]))
            if field == "kind":
                col[1] = draw(st.sampled_from(["J", "D", "T", "X"]))
            elif col[2]:
                col[2][draw(st.integers(0, len(col[2]) - 1))] = draw(st.one_of(
                    ODD, st.sampled_from([0, -5, ms._MAX_ORDINAL, ms._MAX_ORDINAL + 1, 2**63])))
        elif field in ("keys", "seen", "first", "unset") and draw(st.booleans()):
            header[field] = [draw(ODD) for _ in header[field]]
        else:
            header[field] = draw(ODD)
        segment = _join(header, b"")
        tail = len(segment).to_bytes(4, "little") + segment
    return ms._compressor().compress(data), tail


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scope=SCOPES)
def test_damaged_states_are_refused_or_read_alike(data, scope) -> None:
    base_payloads = data.draw(deliveries(scope, 1, (0, 29)))
    tail_payloads = data.draw(deliveries(scope, data.draw(st.integers(1, 2)), (30, 60)))[1:]
    blob, tail = _stored(scope, base_payloads, tail_payloads)
    blob, tail = data.draw(damaged(blob, tail))
    _same_outcome(scope, blob, tail)


def test_a_day_beyond_the_calendar_in_the_tail_is_refused() -> None:
    scope = DataScope.UTILITY
    base = [{"business_id": BUSINESS, "as_of": "2025-06-01", "records": [
        _bill("water", m, m, True, False) for m in range(20)]}]
    later = [{"business_id": BUSINESS, "as_of": "2025-07-01", "records": [
        _bill("water", 40, 5, True, False)]}]
    blob, tail = _stored(scope, base, later)
    header, _ = _parts(tail[4:])
    for bad in (0, -1, ms._MAX_ORDINAL + 1):
        header["small"][1][2] = [bad]
        segment = _join(header, b"")
        with pytest.raises(PayloadTampered):
            ms.load(scope, ms.BASE_CODEC, blob, len(segment).to_bytes(4, "little") + segment)
    assert np.array_equal(ms.load(scope, ms.BASE_CODEC, blob, tail).keys,
                          _general(scope, blob, tail).keys)
