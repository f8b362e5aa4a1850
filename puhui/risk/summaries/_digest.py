"""Stable 64-bit digests of text values (customers, counterparties, devices) for summaries.

Why not `TypedColumn.codes`: codes are equal within one column only, and a summary meets the
same customer again in a later delivery, a column of its own.  A digest is the same number for
the same text in every column.  Fixed-width ASCII text (the hex hashes the sources send) is
digested lane by lane with NumPy (each 8-byte lane through the SplitMix64 finaliser, folded in
turn); other text by BLAKE2b, once per distinct value.  Two different texts sharing a digest
is as unlikely as two natural keys sharing one (`merged_state` compares keys the same way).
"""

from __future__ import annotations

from hashlib import blake2b

import numpy as np

from puhui.risk.data.typed import TypedColumn

_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _finalise(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _C1
    x = x ^ (x >> np.uint64(27))
    x = x * _C2
    return x ^ (x >> np.uint64(31))


def _lanes(data: np.ndarray) -> np.ndarray:
    n = len(data)
    lanes = np.ascontiguousarray(data).view(np.uint64).reshape(n, -1)
    h = np.full(n, np.uint64(lanes.shape[1]), np.uint64)
    with np.errstate(over="ignore"):
        for j in range(lanes.shape[1]):
            h = _finalise((h * _GOLD) ^ lanes[:, j])
    return h


def _blake(values: list[str]) -> np.ndarray:
    distinct = list(dict.fromkeys(values))
    digest = {v: int.from_bytes(blake2b(v.encode("utf-8", "surrogatepass"), digest_size=8,
                                        person=b"puhui-sum").digest(), "little")
              for v in distinct}
    return np.fromiter((digest[v] for v in values), np.uint64, len(values))


def text_digests(column: TypedColumn) -> np.ndarray:
    """Each value's 64-bit digest (uint64), equal for equal text in any column."""
    if column.kind == "f" and len(column.data) and column.data.dtype.itemsize % 8 == 0:
        return _lanes(column.data)
    if column.kind == "u":  # by dictionary: each distinct word digested once
        words = text_digests(TypedColumn("L", list(column.uniques)))
        return words[column.data] if len(column.data) else np.zeros(0, np.uint64)
    values = column.to_list()
    if not values:
        return np.zeros(0, np.uint64)
    if all(type(v) is str for v in values):
        width = {len(v) for v in values}
        if len(width) == 1 and (w := width.pop()) % 8 == 0 and w and all(v.isascii() for v in values):
            return _lanes(np.array(values, dtype=f"S{w}"))
    return _blake([v if type(v) is str else repr(v) for v in values])


__all__ = ["text_digests"]
