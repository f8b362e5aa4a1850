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
from puhui.risk.stacked import Stacked, found_in_runs

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
    summary's (`KeyFilter.might_hold`), for all the businesses at once.

    Why this shape: a chunk's app summaries hold millions of fingerprints for ~100,000 new
    keys, so only the fingerprints of businesses with new keys are laid end to end (as they
    are stored, 32 bits) and each new key is searched in its own business's run, all in step
    (`stacked.found_in_runs`); the repeats are found by one plain sort of the keys mixed with their
    business, the few that mix alike then told apart exactly."""
    count = len(filters)
    refused = np.zeros(count, bool)
    sizes = np.fromiter(map(len, keys), np.int64, count)
    if not sizes.sum():
        return refused
    owner = np.repeat(np.arange(count, dtype=np.int64), sizes)
    new = np.concatenate(keys).astype(np.uint64, copy=False)
    # each key mixed with its business (odd multiplier: a repeat within a business mixes to
    # the same value, two different pairs only by chance), one plain sort, and the pairs that
    # mix alike told apart exactly
    mixed = new ^ (owner.astype(np.uint64) * _MIX)
    order = np.argsort(mixed)
    ranked = mixed[order]
    alike = np.flatnonzero(ranked[1:] == ranked[:-1])
    if len(alike):
        among = np.union1d(order[alike], order[alike + 1])
        o, k = owner[among], new[among]
        order = np.lexsort((k, o))
        same = (k[order][1:] == k[order][:-1]) & (o[order][1:] == o[order][:-1])
        refused[o[order][1:][same]] = True
    with_keys = np.flatnonzero(sizes)
    held = [filters[b].prints for b in with_keys.tolist()]
    lengths = np.fromiter(map(len, held), np.int64, len(held))
    if lengths.sum():
        end = np.cumsum(lengths)
        run = np.zeros(count, np.int64)
        run[with_keys] = np.arange(len(with_keys))
        r = run[owner]
        wanted = (new >> np.uint64(32)).astype(np.uint32)
        hit, _ = found_in_runs(np.concatenate(held).astype(np.uint32, copy=False),
                               (end - lengths)[r], end[r], wanted)
        refused[owner[hit]] = True
    return refused


#: Odd, so that a key mixed with different businesses' numbers rarely mixes alike.
_MIX = np.uint64(0x9E3779B97F4A7C15)


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
    they do not decode).

    The arrays of one code laid end to end (as `encode` lays them) are read straight from the
    bytes as one and widened at once, each array a part of it (no slice of a memoryview and no
    widening per array): a refresh decodes a few summaries per business, ~13 arrays each, so
    the per-array steps are most of its cost.  The checks are the same: each array within the
    bytes and a whole number of its items, the fingerprints sorted; and (since this form) a
    header length within the bytes."""
    try:
        if type(data) is not bytes:
            data = bytes(data)
        if data[:4] != _MAGIC:
            raise ValueError("not a summary")
        (size,) = _LEN.unpack_from(data, 4)
        head = orjson.loads(data[8:8 + size])
        if head.get("v") != VERSION:
            return None
        start = 8 + size
        total = len(data) - start
        if total < 0:  # a header length beyond the bytes: damaged, even if the JSON still parses
            raise ValueError("the header runs beyond the bytes")
        arrays: dict[str, np.ndarray] = {}
        cols = head["cols"]
        k, n = 0, len(cols)
        while k < n:  # a run of arrays of one code laid end to end is read (widened) at once
            code, first, end = cols[k][1], cols[k][2], cols[k][2]
            dtype, wide = _READ[code]
            size_of = dtype.itemsize
            j = k
            while j < n:
                name, code_j, a, b = cols[j]
                if code_j != code or a != end:
                    break
                if not 0 <= a <= b <= total:
                    raise ValueError(f"{name} lies beyond the bytes")
                if (b - a) % size_of:
                    raise ValueError("buffer size must be a multiple of element size")
                end = b
                j += 1
            run = np.frombuffer(data, dtype, (end - first) // size_of, start + first)
            if wide:
                run = run.astype(np.int64)
            for name, _, a, b in cols[k:j]:
                arrays[name] = run[(a - first) // size_of:(b - first) // size_of]
            k = j
        prints = arrays.pop("\x00prints")
        if prints.dtype != np.uint32 or (len(prints) > 1 and (prints[1:] < prints[:-1]).any()):
            raise ValueError("key fingerprints out of order")
        return Summary(DataScope(head["scope"]), arrays, KeyFilter(prints),
                       int(head["records"]))
    except Exception as exc:  # noqa: BLE001 - whatever damaged bytes raise
        raise PayloadTampered(f"a monitoring summary does not decode: "
                              f"{type(exc).__name__}: {exc}") from None


#: How each stored code is read: its dtype, and whether it is widened to int64 ("w4").
_READ: dict[str, tuple[np.dtype, bool]] = {
    **{code: (np.dtype(t), False) for code, t in _DTYPES.items()},
    "w4": (np.dtype(np.int32), True)}


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
