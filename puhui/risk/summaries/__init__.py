"""Monthly summaries of a business's large record sources, so a refresh need not re-read them.

Why: the 15-minute line refresh re-evaluates up to the whole book, and a business's merged data
of one scope is thousands of records (a shop's orders, its bank lines, its app events).  Reducing
them again to the monthly panel on every refresh (decompress, decode, reduce: ~2 ms a business)
costs more than everything else in a re-evaluation, while a refresh brings only a few new ones.
A summary keeps what the panel needs of the records merged so far -- monthly totals by absolute
month and the little cross-record state some columns need (each customer's first month, each
device's first day, the closing balance of each month) -- and is extended by the new records.
The panel is then made from it for any as_of, equal to the reducer's on the whole records: each
source's module holds that equality (tests/risk/summaries).

A summary also holds a fingerprint of each record's natural key (`KeyFilter`): a new record may
*replace* one already summarised (a refund rewriting its order), which a summary of totals
cannot undo; a delivery with a key whose fingerprint is held is refused (`extended` answers
None) and the caller takes the full path, which is exact either way.  Every "cannot know" is a
None, never a guess.

The per-source rules are in `sales`, `logistics`, `bank` and `app`; the small sources (tax,
utility, the bureau's report) are reduced from their records as before -- they are a few dozen
records.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from types import ModuleType
from typing import Any

import numpy as np
import orjson

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData
from puhui.risk.errors import PayloadTampered, RiskDataError
from puhui.risk.stacked import Stacked

#: Raised when the rules of a summary change: a stored summary of another version is not used.
VERSION = 2
_MAGIC = b"PSM1"
_LEN = struct.Struct("<I")
_DTYPES = {"i8": np.int64, "i4": np.int32, "u8": np.uint64, "u4": np.uint32, "b1": np.bool_}
_I4 = np.iinfo(np.int32)


def _modules() -> dict[DataScope, ModuleType]:
    from puhui.risk.summaries import app, bank, logistics, sales
    return {DataScope.SALES: sales, DataScope.LOGISTICS: logistics,
            DataScope.BANK_STATEMENT: bank, DataScope.APP_BEHAVIOUR: app}


#: The scopes kept as summaries.
SUMMARISED = frozenset({DataScope.SALES, DataScope.LOGISTICS, DataScope.BANK_STATEMENT,
                        DataScope.APP_BEHAVIOUR})


# -- the keys' fingerprints ------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyFilter:
    """The 32-bit fingerprints (each key digest's high half) of the records summarised, sorted:
    a key not among them is certainly new; one among them may be a record delivered again.
    Why not the digests: half the bytes, read on every refresh; why not a Bloom filter: at the
    same size a fingerprint is wrong for one key in about 2^32 / n, a Bloom filter for one in a
    few thousand, and a tail of a few hundred new records asks about each of them."""

    prints: np.ndarray

    @staticmethod
    def _of(keys: np.ndarray) -> np.ndarray:
        return (keys.astype(np.uint64, copy=False) >> np.uint64(32)).astype(np.uint32)

    @classmethod
    def of(cls, keys: np.ndarray) -> KeyFilter:
        return cls(np.sort(cls._of(keys)))

    @property
    def count(self) -> int:
        return len(self.prints)

    def might_hold(self, keys: np.ndarray) -> bool:
        """Whether any of `keys` may be among the summarised (False: none of them is)."""
        if not len(keys) or not len(self.prints):
            return False
        wanted = self._of(keys)
        at = np.searchsorted(self.prints, wanted)
        return bool((self.prints[np.minimum(at, len(self.prints) - 1)] == wanted).any())

    def with_keys(self, keys: np.ndarray) -> KeyFilter:
        """The fingerprints with `keys`' added (a new filter)."""
        if not len(keys):
            return self
        more = np.sort(self._of(keys))
        return KeyFilter(np.insert(self.prints, np.searchsorted(self.prints, more), more))


# -- a summary -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """One business's records of one scope, summarised: the source's `body`, the records' key
    filter and how many records."""

    scope: DataScope
    body: dict[str, np.ndarray]
    keys: KeyFilter
    records: int


def summarise(source: SourceData, keys: np.ndarray) -> Summary | None:
    """The summary of a scope's merged records (`keys`: their natural-key digests, as
    `merged_state` keeps them), or None when the scope is not summarised or its records cannot
    be summarised exactly."""
    module = _modules().get(source.scope)
    if module is None or len(keys) != source.record_count:
        return None
    body = module.build(source)
    if body is None:
        return None
    return Summary(source.scope, body, KeyFilter.of(keys), source.record_count)


def extended(summary: Summary, added: SourceData, keys: np.ndarray) -> Summary | None:
    """The summary with `added`'s records (distinct keys, `keys` their digests) merged after
    its own, or None when that cannot be made exactly: a key the summary may hold already
    (the record would replace one, not add to it) or the source's own rule."""
    if added.scope is not summary.scope or len(keys) != added.record_count:
        raise RiskDataError("a summary extended with another scope's data or keys")
    if not len(keys):
        return summary
    if len(np.unique(keys)) != len(keys) or summary.keys.might_hold(keys):
        return None
    grown = summary.keys.with_keys(keys)
    body = _modules()[summary.scope].extend(summary.body, added)
    if body is None:
        return None
    return Summary(summary.scope, body, grown, summary.records + added.record_count)


def panel_of(summary: Summary, as_of: date, top: int) -> Any:
    """What the scope's reducer (`_reduce.REDUCERS`) gives for the summarised records on
    `as_of` (`top`: its month index), or None when the summary cannot know it."""
    return _modules()[summary.scope].panel(summary.body, as_of, top)


def panels_many(scope: DataScope, summaries: Sequence[Summary],
                tails: Sequence[tuple[SourceData, np.ndarray]], as_of: date, top: int
                ) -> Stacked:
    """`panel_of(extended(summary, *tail))` of many businesses of one scope at once, as a
    `Stacked` whose `ok` is False where that would be None: the keys checked as `extended`
    checks them, for every business at once, then the source's `panel_many`."""
    for summary, (added, keys) in zip(summaries, tails, strict=True):
        if summary.scope is not scope or added.scope is not scope \
                or len(keys) != added.record_count:
            raise RiskDataError("a summary extended with another scope's data or keys")
    fresh = ~_keys_refused([s.keys for s in summaries], [t[1] for t in tails])
    many = _modules()[scope].panel_many
    if fresh.all():
        return many([s.body for s in summaries], [t[0] for t in tails], as_of, top)
    chosen = np.flatnonzero(fresh)
    inner = many([summaries[b].body for b in chosen], [tails[b][0] for b in chosen], as_of, top)
    return inner.spread(chosen, len(summaries))


def _keys_refused(filters: Sequence[KeyFilter], keys: Sequence[np.ndarray]) -> np.ndarray:
    """For each business, whether its new keys repeat among themselves or may be among its
    summary's (`KeyFilter.might_hold`): the businesses' keys and fingerprints laid end to
    end, each tagged with its business in the high half, so one sort and one search do all."""
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


# -- stored form -------------------------------------------------------------------------------------
def encode(summary: Summary) -> bytes:
    """The summary as bytes: magic, header length, JSON header, then the arrays' buffers."""
    buffers, cols, at = [], [], 0
    for name, array in (*summary.body.items(), ("\x00prints", summary.keys.prints)):
        code = array.dtype.kind + str(array.dtype.itemsize)
        if code not in _DTYPES:
            raise RiskDataError(f"a summary array of dtype {array.dtype} cannot be stored")
        if code == "i8" and len(array) and _I4.min <= int(array.min()) \
                and int(array.max()) <= _I4.max:
            code, array = "w4", array.astype(np.int32)  # stored narrow, read back as int64
        buf = np.ascontiguousarray(array).tobytes()
        cols.append([name, code, at, at + len(buf)])
        buffers.append(buf)
        at += len(buf)
    head = orjson.dumps({"v": VERSION, "scope": summary.scope.value, "cols": cols,
                         "records": summary.records})
    return b"".join([_MAGIC, _LEN.pack(len(head)), head, *buffers])


def decode(data: bytes | memoryview) -> Summary | None:
    """`encode`'s bytes back (None when they are of another version; `PayloadTampered` when
    they do not decode)."""
    try:
        data = bytes(data)
        if data[:4] != _MAGIC:
            raise ValueError("not a summary")
        (size,) = _LEN.unpack_from(data, 4)
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
    except Exception as exc:  # noqa: BLE001 - whatever damaged bytes raise
        raise PayloadTampered(f"a monitoring summary does not decode: "
                              f"{type(exc).__name__}: {exc}") from None


__all__ = [
    "SUMMARISED",
    "VERSION",
    "KeyFilter",
    "Summary",
    "decode",
    "encode",
    "extended",
    "panel_of",
    "panels_many",
    "summarise",
]
