"""The current merged data of one business and scope, kept typed so it loads without validating.

Why: a line re-evaluation needs, per scope, every payload the applicant's sources ever sent
merged by natural key (`lines.signals.merge_payloads`).  Re-reading hundreds of stored payloads,
merging their JSON and validating the result again costs ~5 ms a business; a refresh of 200,000
businesses every 15 minutes cannot.  So the merge is kept: each record's *validated* values, in
columns (`SourceData`'s own form), beside the natural key of the record and the day of the
delivery that last carried it, in a binary layout that reads back into Python lists with a few
C-level calls (NumPy for numbers, days and flags; one `split` or a dictionary for text).

A state is a **base** (merged, compacted, compressed) and a **tail**: the deltas received since,
uncompressed, so that taking in a delta never rewrites the base.  Loading decodes the base, merges the few tail records into it (a later record replaces
the one of its key in place, a new key is appended: `merge_payloads`' order exactly), and cuts
the result to the payloads of a window if asked.  The writer keeps the tail merged, one
segment for all the deliveries since the base (`merged_tail`: a reader then decodes one
segment, not one per delivery); when it grows past `TAIL_RECORDS` records or `TAIL_SEGMENTS`
deliveries the writer compacts it into a new base.

Keys are compared by a 64-bit BLAKE2b digest of the natural key's text (the text
`merge_payloads` compares: each field's value as `str` of its JSON value).

The bureau's report (a snapshot with nested lists, one per payload; the latest replaces the
rest) is kept as the latest payload's JSON and read by the record models, one record.
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from hashlib import blake2b
from typing import Any

import numpy as np
import orjson

from puhui.parties.consent import DataScope
from puhui.risk.data.bureau_read import bureau_data
from puhui.risk.data.payload import SCHEMAS, SourceData
from puhui.risk.data.typed import TypedColumn
from puhui.risk.errors import PayloadTampered

#: Natural keys (kept here, in the core, as `lines.signals.RECORD_KEYS` re-exports them).
RECORD_KEYS: dict[DataScope, tuple[str, ...]] = {
    DataScope.UTILITY: ("utility", "period_month"),
    DataScope.SALES: ("order_id",),
    DataScope.TAX: ("tax_type", "period_start", "period_end"),
    DataScope.LOGISTICS: ("waybill_id",),
    DataScope.BANK_STATEMENT: ("booked_on", "amount_fen", "counterparty_hash",
                               "balance_after_fen"),
    DataScope.APP_BEHAVIOUR: ("occurred_at", "event_type", "session_id", "device_id"),
}
#: A tail holding more records than this is compacted into the base by the writer.
TAIL_RECORDS = 512
#: ...or more deliveries than this (merged into one segment: `merged_tail`).
TAIL_SEGMENTS = 32

_MAGIC = b"PMS1"
_LEN = struct.Struct("<I")
_DAY0 = date(1900, 1, 1).toordinal()
_MAX_ORDINAL = date.max.toordinal()


def _zstd() -> Any:
    import zstandard
    return zstandard


_CODERS = threading.local()  # a compressor and a decompressor per thread (made once: not free)


def _compressor() -> Any:
    c = getattr(_CODERS, "c", None)
    if c is None:
        c = _CODERS.c = _zstd().ZstdCompressor(level=1)
    return c


def _decompressor() -> Any:
    d = getattr(_CODERS, "d", None)
    if d is None:
        d = _CODERS.d = _zstd().ZstdDecompressor()
    return d


@dataclass
class Segment:
    """Records of one scope in columns (the values `parse_payload` gives), with each record's
    key digest, the ordinal of the day of the deliveries that last and first carried it
    (`seen`, `first`) and whether it left out its optional field (`unset`).  The bureau's
    holds `raw`, its payload's JSON."""

    scope: DataScope
    columns: dict[str, list] = field(default_factory=dict)
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    unset: frozenset[int] = frozenset()
    raw: bytes | None = None
    #: the ordinal of the day of the delivery that first carried each record
    first: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    @property
    def count(self) -> int:
        return len(self.keys)


# -- keys --------------------------------------------------------------------------------------
def key_text(scope: DataScope, record: Mapping[str, Any]) -> str:
    """The natural key `merge_payloads` compares, as one text."""
    return repr(tuple(str(record.get(f)) for f in RECORD_KEYS[scope]))


def key_digests(scope: DataScope, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The 64-bit digest of each record's natural key."""
    fields = RECORD_KEYS[scope]
    digests = [blake2b(repr(tuple(str(r.get(f)) for f in fields)).encode("utf-8", "surrogatepass"),
                       digest_size=8).digest() for r in records]
    return np.frombuffer(b"".join(digests), dtype=np.uint64).copy()


def segment_of(data: SourceData, records: Sequence[Mapping[str, Any]],
               raw: bytes | None = None) -> Segment:
    """One delivery as a segment: its validated data and the JSON records it was parsed from
    (for the keys); `raw`: the payload's bytes (the bureau keeps them)."""
    scope = data.scope
    if scope not in RECORD_KEYS:
        return Segment(scope, raw=raw if raw is not None else orjson.dumps(data.to_payload()))
    names = list(SCHEMAS[scope].model_fields)
    columns = {name: list(data.column(name)) for name in names}
    if data._records is not None:  # validated by the models: which left their options out
        unset = frozenset(i for i, r in enumerate(data._records)
                          if len(r.model_fields_set) < len(names))
    else:
        unset = data._unset
    seen = np.full(data.record_count, data.as_of.toordinal(), dtype=np.int32)
    return Segment(scope, columns, key_digests(scope, records), seen, frozenset(unset),
                   first=seen.copy())


# -- merging -----------------------------------------------------------------------------------
def _hits(keys: np.ndarray, incoming: np.ndarray) -> np.ndarray:
    """Positions in `keys` of any of `incoming` (a few compares beat a sort for a delta)."""
    if len(incoming) > 16:
        return np.flatnonzero(np.isin(keys, incoming, kind="sort"))
    mask = keys == incoming[0]
    for k in incoming[1:]:
        mask |= keys == k
    return np.flatnonzero(mask)


def _values(column: "list | TypedColumn") -> list:
    return column.to_list() if isinstance(column, TypedColumn) else column


def _typed(column: "list | TypedColumn") -> TypedColumn:
    return column if isinstance(column, TypedColumn) else TypedColumn.of(column)


def merge(base: Segment, later: Iterable[Segment]) -> Segment:
    """`base` (its keys distinct) with each later segment's records merged in, in order: a
    record replaces the one of its key where it stands, a new key goes to the end.  Nothing
    given is changed."""
    later = [s for s in later if s.count or s.raw is not None]
    if not later:
        return base
    if base.scope not in RECORD_KEYS:
        return later[-1]
    if not base.count and len(later) == 1 and len(np.unique(later[0].keys)) == later[0].count:
        return later[0]  # a first delivery, its keys distinct: it is the merge
    names = list(base.columns) if base.columns else list(later[0].columns)
    n0 = base.count
    incoming = np.concatenate([s.keys for s in later])
    hits = _hits(base.keys, incoming) if n0 else np.zeros(0, np.int64)
    if not len(hits) and len(np.unique(incoming)) == len(incoming):
        return _appended(base, later, names)  # every record new: the common delivery
    where: dict[int, int] = dict(zip(base.keys[hits].tolist(), hits.tolist()))
    seen = base.seen.copy() if len(hits) else base.seen
    replaced: dict[int, tuple[int, int]] = {}  # base position -> (segment, record) now there
    added: list[tuple[int, int]] = []
    new_keys: list[int] = []
    new_seen: list[int] = []
    new_first: list[int] = []
    unset = set(base.unset)
    for k_seg, s in enumerate(later):
        gaps = s.unset
        for i, (k, day, since_day) in enumerate(zip(s.keys.tolist(), s.seen.tolist(),
                                                    s.first.tolist(), strict=True)):
            at = where.get(k)
            if at is None:
                at = where[k] = n0 + len(new_keys)
                new_keys.append(k)
                new_seen.append(day)
                new_first.append(since_day)
                added.append((k_seg, i))
            elif at < n0:
                seen[at] = day
                replaced[at] = (k_seg, i)
            else:
                new_seen[at - n0] = day
                added[at - n0] = (k_seg, i)
            if i in gaps:
                unset.add(at)
            elif at in unset:
                unset.discard(at)
    at_list = list(replaced)
    columns: dict[str, Any] = {}
    for name in names:
        sources = [_values(s.columns[name]) for s in later]
        now = [sources[g][i] for g, i in replaced.values()]
        more = [sources[g][i] for g, i in added]
        column = base.columns.get(name) if base.columns else None
        if column is None:
            columns[name] = TypedColumn.of(more)
        else:
            columns[name] = _typed(column).merged(at_list, now, more)
    keys = np.concatenate([base.keys, np.array(new_keys, dtype=np.uint64)])
    seen = np.concatenate([seen, np.array(new_seen, dtype=np.int32)])
    first = np.concatenate([base.first, np.array(new_first, dtype=np.int32)])
    return Segment(base.scope, columns, keys, seen, frozenset(unset), first=first)


def _appended(base: Segment, later: Sequence[Segment], names: Sequence[str]) -> Segment:
    """`merge` when no later record's key is in `base` or in another later record: each is
    appended in order, with the days of its delivery (what the general loop gives then,
    without a Python step per record)."""
    columns: dict[str, Any] = {}
    for name in names:
        more = [v for s in later for v in _values(s.columns[name])]
        column = base.columns.get(name) if base.columns else None
        columns[name] = TypedColumn.of(more) if column is None \
            else _typed(column).merged((), (), more)
    unset, at = set(base.unset), base.count
    for s in later:
        unset.update(at + i for i in s.unset)
        at += s.count
    return Segment(base.scope, columns, np.concatenate([base.keys, *(s.keys for s in later)]),
                   np.concatenate([base.seen, *(s.seen for s in later)]).astype(np.int32),
                   frozenset(unset),
                   first=np.concatenate([base.first, *(s.first for s in later)]).astype(np.int32))


def since(segment: Segment, first_day: date) -> Segment | None:
    """Only the records last delivered on or after `first_day`: the merge of the deliveries
    from that day on when they came in date order -- unless a record first delivered before
    it was delivered again since (its place in that merge is then its first delivery from
    that day, which the segment does not know): None."""
    if segment.raw is not None or not segment.count:
        return segment
    cut = first_day.toordinal()
    keep = segment.seen >= cut
    if keep.all() and (segment.first >= cut).all():
        return segment
    if (keep & (segment.first < cut)).any():
        return None
    idx = np.flatnonzero(keep)
    columns = {n: _typed(v).take(idx) for n, v in segment.columns.items()}
    position = {old: new for new, old in enumerate(idx.tolist())}
    return Segment(segment.scope, columns, segment.keys[idx], segment.seen[idx],
                   frozenset(position[i] for i in segment.unset if i in position),
                   first=segment.first[idx])


def source_data(segment: Segment, business_id: str, as_of: date) -> SourceData:
    """The segment as the `SourceData` `parse_payload` gives for its records on `as_of`."""
    if segment.raw is not None:  # the bureau: one report, typed (its models' answer)
        return bureau_data(segment.raw, business_id, as_of)
    return SourceData(segment.scope, business_id, as_of, columns=segment.columns,
                      count=segment.count, unset=segment.unset)


# -- the binary layout -------------------------------------------------------------------------
def _encode_column(values: "list | TypedColumn") -> tuple[str, Any, bytes]:
    """(kind, extra, buffer) of one column, from its typed form where it has one."""
    column = _typed(values)
    k, data = column.kind, column.data
    if k == "i":
        return "i", None, data.astype(np.int64, copy=False).tobytes()
    if k == "b":
        return "b", None, data.astype(np.uint8).tobytes()
    if k == "d":
        return "o", None, data.astype(np.int64, copy=False).tobytes()
    if k == "t":
        return "T", None, data.astype(np.int64, copy=False).tobytes()
    if k == "u":
        dtype = np.uint16 if len(column.uniques) < 65536 else np.uint32
        return "u", list(column.uniques), data.astype(dtype).tobytes()
    if k == "f":
        return "F", data.dtype.itemsize, data.tobytes()
    if k == "s":
        return "s", None, data
    values = column.to_list()
    tight = TypedColumn.of(values)
    if tight.kind != "L":  # a list that a form holds (days and None merged from small segments)
        return _encode_column(tight)
    n = len(values)
    if set(map(type, values)) == {str}:
        joined = "\x00".join(values)
        if joined.count("\x00") == n - 1:
            return "s", None, joined.encode("utf-8", "surrogatepass")
    if not n:
        return "j", None, b"[]"
    try:
        return "j", None, orjson.dumps(values)
    except (orjson.JSONEncodeError, TypeError):  # integers beyond 64 bits: Python's own JSON
        return "J", None, json.dumps(values).encode()


def _decode_column(kind: str, extra: Any, buf: bytes | memoryview, n: int) -> TypedColumn:
    if kind == "i":
        return TypedColumn("i", np.frombuffer(buf, dtype=np.int64))
    if kind == "b":
        return TypedColumn("b", np.frombuffer(buf, dtype=np.uint8).astype(bool))
    if kind == "d":
        stored = np.frombuffer(buf, dtype=np.int32).astype(np.int64)
        return TypedColumn("d", np.where(stored == 0, 0, stored + (_DAY0 - 1)))
    if kind == "o":
        ordinals = np.frombuffer(buf, dtype=np.int64)
        # one pass, not a min and a max: read as unsigned, a negative ordinal is beyond any
        # day too (the buffer is unaligned, so each pass over it costs a few microseconds, a
        # few columns per state, a state per business and scope on every refresh)
        if len(ordinals) and int(ordinals.view(np.uint64).max()) > _MAX_ORDINAL:
            raise PayloadTampered("a day beyond the calendar")
        return TypedColumn("d", ordinals)
    if kind == "T":
        return TypedColumn("t", np.frombuffer(buf, dtype=np.int64))
    if kind == "u":
        if not isinstance(extra, list) or not all(isinstance(u, str) for u in extra):
            raise PayloadTampered("a dictionary column without its words")
        dtype = np.uint16 if len(extra) < 65536 else np.uint32
        codes = np.frombuffer(buf, dtype=dtype).astype(np.int64)
        if len(codes) and int(codes.max()) >= len(extra):
            raise PayloadTampered("a dictionary column's code beyond its words")
        return TypedColumn("u", codes, extra)
    if kind == "F":
        if not isinstance(extra, int) or extra < 1:
            raise PayloadTampered("a fixed-width column without its width")
        return TypedColumn("f", np.frombuffer(buf, dtype=f"S{extra}"))
    if kind == "s":  # split only when read: most text columns are ids no reducer reads
        if n and bytes(buf).count(b"\x00") != n - 1:
            raise PayloadTampered(f"a text column of another length than {n}")
        return TypedColumn.joined(bytes(buf), n)
    if kind == "t":
        return TypedColumn("L", list(map(datetime.fromisoformat, orjson.loads(buf))))
    if kind == "j":
        return TypedColumn("L", orjson.loads(buf))
    if kind == "J":
        return TypedColumn("L", json.loads(bytes(buf)))
    raise PayloadTampered(f"unknown column kind {kind!r} in a monitoring state")


#: A segment of at most this many records is written as JSON alone (a delta: a few records,
#: for which NumPy buffers cost more than they save).
SMALL = 16


def _small_column(values: list) -> tuple[str, list]:
    types = set(map(type, values))
    if types <= {date, type(None)} and date in types:
        return "D", [None if v is None else v.toordinal() for v in values]
    if types == {datetime}:
        return "T", [v.isoformat() for v in values]
    return "J", values


def _from_small(kind: str, values: list) -> list:
    if kind == "D":
        return [None if v is None else date.fromordinal(v) for v in values]
    if kind == "T":
        return list(map(datetime.fromisoformat, values))
    if kind == "J":
        return values
    raise PayloadTampered(f"unknown column kind {kind!r} in a monitoring state")


def encode(segment: Segment, deliveries: int | None = None) -> bytes:
    """The segment as bytes: magic, header length, JSON header, then the buffers (a small
    segment: the JSON header alone).  `deliveries`: how many deliveries a tail's segment
    merges (`merged_tail`), kept in its header."""
    more = {} if deliveries is None else {"d": deliveries}
    if segment.raw is None and segment.count <= SMALL:
        try:
            head = orjson.dumps({
                "n": segment.count,
                "small": [[name, *_small_column(_values(v))]
                          for name, v in segment.columns.items()],
                "keys": segment.keys.tolist(), "seen": segment.seen.tolist(),
                "first": segment.first.tolist(), "unset": sorted(segment.unset), **more})
            return b"".join([_MAGIC, _LEN.pack(len(head)), head])
        except (orjson.JSONEncodeError, TypeError):
            pass  # a value JSON cannot hold as it is: the buffers
    buffers: list[bytes] = []
    cols = []
    offset = 0

    def put(buf: bytes) -> tuple[int, int]:
        nonlocal offset
        buffers.append(buf)
        start, offset = offset, offset + len(buf)
        return start, offset

    if segment.raw is not None:
        header = {"n": 1, "raw": put(segment.raw)}
    else:
        for name, values in segment.columns.items():
            kind, extra, buf = _encode_column(values)
            cols.append([name, kind, *put(buf), extra])
        header = {"n": segment.count, "cols": cols,
                  "keys": put(segment.keys.astype(np.uint64).tobytes()),
                  "seen": put(segment.seen.astype(np.int32).tobytes()),
                  "first": put(segment.first.astype(np.int32).tobytes()),
                  "unset": sorted(segment.unset)}
    head = orjson.dumps({**header, **more})
    return b"".join([_MAGIC, _LEN.pack(len(head)), head, *buffers])


def decode(scope: DataScope, data: bytes | memoryview) -> Segment:
    """`encode`'s bytes back as a segment (`PayloadTampered` when they are not)."""
    try:
        data = bytes(data)
        if data[:4] != _MAGIC:
            raise ValueError("not a monitoring state segment")
        (size,) = _LEN.unpack_from(data, 4)
        header = orjson.loads(data[8:8 + size])
        body = memoryview(data)[8 + size:]
        if "raw" in header:
            a, b = header["raw"]
            return Segment(scope, raw=bytes(body[a:b]))
        n = header["n"]
        if "small" in header:
            columns = {name: _from_small(kind, values) for name, kind, values in header["small"]}
            if any(len(v) != n for v in columns.values()):
                raise ValueError(f"columns of another length than {n}")
            keys = np.array(header["keys"], dtype=np.uint64)
            seen = np.array(header["seen"], dtype=np.int32)
            first = np.array(header["first"], dtype=np.int32)
            if len(keys) != n or len(seen) != n or len(first) != n:
                raise ValueError("keys or days of another length than the records")
            return Segment(scope, columns, keys, seen, frozenset(header["unset"]), first=first)
        columns = {}
        for name, kind, a, b, extra in header["cols"]:
            values = _decode_column(kind, extra, body[a:b], n)
            if len(values) != n:
                raise ValueError(f"column {name} holds {len(values)} values, not {n}")
            columns[name] = values
        a, b = header["keys"]
        keys = np.frombuffer(body[a:b], dtype=np.uint64)
        a, b = header["seen"]
        seen = np.frombuffer(body[a:b], dtype=np.int32)
        a, b = header["first"]
        first = np.frombuffer(body[a:b], dtype=np.int32)
        if len(keys) != n or len(seen) != n or len(first) != n:
            raise ValueError("keys or days of another length than the records")
        return Segment(scope, columns, keys, seen, frozenset(header["unset"]), first=first)
    except PayloadTampered:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a damaged blob raises
        raise PayloadTampered(f"a monitoring state does not decode: "
                              f"{type(exc).__name__}: {exc}") from None


#: How a base is stored (`monitoring_state.codec`).
BASE_CODEC = "seg1+zstd"


def pack_base(segment: Segment) -> bytes:
    return _compressor().compress(encode(segment))


def _decompressed(codec: str, blob: bytes) -> bytes:
    if codec != BASE_CODEC:
        raise PayloadTampered(f"unknown monitoring state codec {codec!r}")
    zstd = _zstd()
    try:
        return _decompressor().decompress(blob)
    except zstd.ZstdError as exc:
        raise PayloadTampered(f"a monitoring state does not decompress: {exc}") from None


def unpack_base(scope: DataScope, codec: str, blob: bytes) -> Segment:
    return decode(scope, _decompressed(codec, blob))


def load(scope: DataScope, codec: str, blob: bytes, tail: bytes | None) -> Segment:
    """`merge(unpack_base(scope, codec, blob), tail_segments(scope, tail))`, the same segment
    or the same refusal, in one pass where it can.

    Why: most stored states are a base and a tail of one small segment of new records (a
    month's utility bill, a quarter's tax return).  Merging them after decoding converts each
    column twice (the base's buffer to an array, then the array and the tail's values into a
    new array: ~5 µs a column); here each column's tail values are packed beside its stored
    buffer and the two read as one array.  Anything else -- replaced keys, several segments,
    a form this does not append to, any doubt about the bytes -- takes the general path, which
    stays the reference (and the one that words the refusals)."""
    data = _decompressed(codec, blob)
    try:
        small = _small_tail(tail) if tail else None
    except Exception:  # noqa: BLE001 - a damaged tail: the general path words its refusal
        small = None
    if not tail or small is not None:
        fast = _fast_load(scope, data, small)
        if fast is not None:
            return fast
    return merge(decode(scope, data), tail_segments(scope, tail))


def _small_tail(tail: bytes) -> dict | None:
    """The header of a tail that is one small (JSON) segment, or None."""
    (size,) = _LEN.unpack_from(tail, 0)
    if size != len(tail) - 4 or tail[4:8] != _MAGIC:
        return None
    (head,) = _LEN.unpack_from(tail, 8)
    header = orjson.loads(tail[12:12 + head])
    if len(tail) != 12 + head or type(header) is not dict or "small" not in header:
        return None
    return header


def _fast_load(scope: DataScope, data: bytes, t: dict | None) -> Segment | None:
    """`load` of a binary base whose columns are integers, days or dictionary text, and of
    the tail `t` (a small segment's header; None: no tail) whose records are all new (keys
    distinct, none in the base) and whose values the base's forms hold as they are; None
    otherwise (and on anything unexpected: the general path then decodes or refuses).

    Each form's columns are read as one block (one array of a row a column, the tail's values
    packed after the base's in each row): a few NumPy calls a state, not a few a column."""
    try:
        if data[:4] != _MAGIC or scope not in RECORD_KEYS:
            return None
        (size,) = _LEN.unpack_from(data, 4)
        header = orjson.loads(data[8:8 + size])
        if type(header) is not dict or "raw" in header or "small" in header:
            return None
        cols, n = header["cols"], header["n"]
        if type(n) is not int or n <= 0 or not cols:
            return None
        names = [c[0] for c in cols]
        if len(set(names)) != len(names):
            return None
        body = data[8 + size:]
        if t is None:
            k, tails, t_keys, t_seen, t_first, t_unset = 0, None, [], [], [], ()
        else:
            if "raw" in t:
                return None
            k, small = t["n"], t["small"]
            t_keys, t_seen, t_first, t_unset = t["keys"], t["seen"], t["first"], t["unset"]
            if type(k) is not int or k <= 0 or len(small) != len(cols) \
                    or any(name != c[0] for name, c in zip(names, small)) \
                    or len(t_keys) != k or len(t_seen) != k or len(t_first) != k \
                    or len(set(t_keys)) != k:
                return None
            tails = [(c[1], c[2]) for c in small]
        day_parts: list[bytes] = []
        int_parts: list[bytes] = []
        word_parts: list[bytes] = []
        plan: list[tuple[str, str, int, list | None]] = []  # name, form, row, words
        limits: list[int] = []
        eights = f"<{k}q"
        for j, (name, kind, a, b, extra) in enumerate(cols):
            buf = body[a:b]
            if kind == "o":
                if len(buf) != 8 * n:
                    return None
                plan.append((name, "d", len(day_parts), None))
                day_parts.append(buf)
                if k:
                    t_kind, values = tails[j]
                    if len(values) != k:
                        return None
                    if t_kind == "D":
                        if not all(v is None or (type(v) is int and 0 < v <= _MAX_ORDINAL)
                                   for v in values):
                            return None
                    elif t_kind != "J" or any(v is not None for v in values):
                        return None
                    day_parts.append(struct.pack(eights, *[0 if v is None else v
                                                           for v in values]))
            elif kind == "i":
                if len(buf) != 8 * n:
                    return None
                plan.append((name, "i", len(int_parts), None))
                int_parts.append(buf)
                if k:
                    t_kind, values = tails[j]
                    if len(values) != k or t_kind != "J" \
                            or not all(type(v) is int for v in values):
                        return None
                    int_parts.append(struct.pack(eights, *values))
            elif kind == "u":
                if len(buf) != 2 * n or type(extra) is not list or len(extra) >= 65536 \
                        or not all(type(w) is str for w in extra):
                    return None
                words = extra
                plan.append((name, "u", len(word_parts), words))
                limits.append(len(extra))
                word_parts.append(buf)
                if k:
                    t_kind, values = tails[j]
                    if len(values) != k or t_kind != "J" \
                            or not all(type(v) is str for v in values):
                        return None
                    words = list(extra)
                    code = {w: i for i, w in enumerate(words)}
                    for v in values:
                        if v not in code:
                            code[v] = len(words)
                            words.append(v)
                    if len(words) >= 65536:
                        return None
                    plan[-1] = (name, "u", plan[-1][2], words)
                    word_parts.append(struct.pack(f"<{k}H", *map(code.__getitem__, values)))
            else:
                return None
        step = 2 if k else 1  # parts a column: its stored buffer, and its tail's values
        width = n + k
        a, b = header["keys"]
        buf = body[a:b]
        if len(buf) != 8 * n:
            return None
        # the days' rows first, then the integers', then the keys: one block of int64
        n_days = len(day_parts) // step
        if k:
            block = np.frombuffer(b"".join([*day_parts, *int_parts, buf,
                                            struct.pack(f"<{k}Q", *t_keys)]), dtype=np.int64)
        else:
            block = np.frombuffer(b"".join([*day_parts, *int_parts, buf]), dtype=np.int64)
        if n_days and int(block[:n_days * width].view(np.uint64).max()) > _MAX_ORDINAL:
            return None
        block = block.reshape(-1, width)
        keys = block[-1].view(np.uint64)
        if k and not set(keys[:n].tolist()).isdisjoint(t_keys):
            return None
        a, b = header["seen"]
        c, d = header["first"]
        seen_buf, first_buf = body[a:b], body[c:d]
        if len(seen_buf) != 4 * n or len(first_buf) != 4 * n:
            return None
        if k:
            fours = f"<{k}i"
            days = np.frombuffer(b"".join([seen_buf, struct.pack(fours, *t_seen), first_buf,
                                           struct.pack(fours, *t_first)]), dtype=np.int32)
        else:
            days = np.frombuffer(seen_buf + first_buf, dtype=np.int32)
        seen, first = days[:width], days[width:]
        codes = None
        if len(limits) == 1:  # one dictionary column (most scopes): no block to reshape
            codes = np.frombuffer(b"".join(word_parts), dtype=np.uint16)
            if int(codes[:n].max()) >= limits[0]:
                return None
            codes = codes.astype(np.int64).reshape(1, width)
        elif limits:
            codes = np.frombuffer(b"".join(word_parts), dtype=np.uint16
                                  ).reshape(-1, width).astype(np.int64)
            if any(m >= lim for m, lim in zip(codes[:, :n].max(axis=1).tolist(), limits)):
                return None
        columns: dict[str, TypedColumn] = {}
        for name, form, at, words in plan:
            row = at // step
            if form == "d":
                columns[name] = TypedColumn("d", block[row])
            elif form == "i":
                columns[name] = TypedColumn("i", block[n_days + row])
            else:
                columns[name] = TypedColumn("u", codes[row], words)
        if k:
            unset = set(header["unset"])
            unset.update(n + i for i in t_unset)
            return Segment(scope, columns, keys, seen, frozenset(unset), first=first)
        return Segment(scope, columns, keys, seen, frozenset(header["unset"]), first=first)
    except Exception:  # noqa: BLE001 - the general path decodes it, or words its refusal
        return None


def append_tail(tail: bytes | None, segment: Segment) -> bytes:
    """The tail with one more segment (each length-prefixed)."""
    data = encode(segment)
    return (tail or b"") + _LEN.pack(len(data)) + data


def merged_tail(scope: DataScope, tail: bytes | None, pending: Sequence[Segment],
                deliveries: int | None = None) -> bytes:
    """The tail with `pending` deliveries merged in, kept as ONE segment (the merge of every
    delivery since the base, in order), with the number of deliveries it merges.

    Why not one segment per delivery: a reader merges the tail on every refresh, at ~35 µs a
    segment, and a tail that grows a delivery a day until it is compacted holds ~16 on
    average; merged once here, when the delivery is taken in, it is one segment to read.
    `merge(base, [merged])` is `merge(base, deliveries)`: a record keeps its place (its first
    delivery's), its latest values and the days it was first and last delivered."""
    held = tail_segments(scope, tail)
    if len(held) == 1 and held[0].raw is None \
            and len(np.unique(held[0].keys)) == held[0].count:  # its keys distinct: a base
        merged = merge(held[0], pending)
    else:
        merged = merge(empty(scope), [*held, *pending])
    if deliveries is None:  # the deliveries the tail holds, unless the caller counted them
        deliveries = tail_deliveries(tail)
    data = encode(merged, deliveries + len(pending))
    return _LEN.pack(len(data)) + data


def tail_deliveries(tail: bytes | None) -> int:
    """How many deliveries a tail holds (a segment merged by `merged_tail` says how many it
    merges; any other is one)."""
    n, at = 0, 0
    try:
        while tail and at + 4 <= len(tail):
            size = int.from_bytes(tail[at:at + 4], "little")
            (head,) = _LEN.unpack_from(tail, at + 8)
            n += int(orjson.loads(tail[at + 12:at + 12 + head]).get("d", 1))
            at += 4 + size
    except (struct.error, ValueError, AttributeError, TypeError):
        raise PayloadTampered("a monitoring state's tail does not decode") from None
    return n


def tail_segments(scope: DataScope, tail: bytes | None) -> list[Segment]:
    out: list[Segment] = []
    if not tail:
        return out
    at = 0
    try:
        while at < len(tail):
            (size,) = _LEN.unpack_from(tail, at)
            if at + 4 + size > len(tail):
                raise ValueError("cut short")
            out.append(decode(scope, tail[at + 4:at + 4 + size]))
            at += 4 + size
    except struct.error as exc:
        raise PayloadTampered(f"a monitoring state's tail does not decode: {exc}") from None
    except ValueError as exc:
        raise PayloadTampered(f"a monitoring state's tail does not decode: {exc}") from None
    return out


def empty(scope: DataScope) -> Segment:
    if scope not in RECORD_KEYS:
        return Segment(scope)
    return Segment(scope, {name: [] for name in SCHEMAS[scope].model_fields})


__all__ = ["RECORD_KEYS", "TAIL_RECORDS", "TAIL_SEGMENTS", "BASE_CODEC", "Segment", "key_text",
           "key_digests", "segment_of", "merge", "since", "source_data", "encode", "decode",
           "pack_base", "unpack_base", "load", "append_tail", "tail_segments", "empty"]
