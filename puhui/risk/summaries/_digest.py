"""Stable 64-bit digests of text values (customers, counterparties, devices) for summaries.

Why not `TypedColumn.codes`: codes are equal within one column only, and a summary meets the
same customer again in a later delivery, a column of its own.  A digest is the same number for
the same text in every column.  Fixed-width ASCII text (the hex hashes the sources send) is
digested lane by lane with NumPy (each 8-byte lane through the SplitMix64 finaliser, folded in
turn); other text by BLAKE2b, once per distinct value.  Two different texts sharing a digest
is as unlikely as two natural keys sharing one (`merged_state` compares keys the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
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


_M = (1 << 64) - 1


def _lanes_few(lanes: np.ndarray) -> np.ndarray:
    """`_lanes` in Python integers: for a few values (a delta's customers) a NumPy call per
    lane and step costs more than the arithmetic; the same numbers."""
    c1, c2, gold = int(_C1), int(_C2), int(_GOLD)
    out = []
    for row in lanes.tolist():
        h = len(row)
        for lane in row:
            x = ((h * gold) & _M) ^ lane
            x ^= x >> 30
            x = (x * c1) & _M
            x ^= x >> 27
            x = (x * c2) & _M
            h = x ^ (x >> 31)
        out.append(h)
    return np.array(out, np.uint64)


def _lanes(data: np.ndarray) -> np.ndarray:
    n = len(data)
    lanes = np.ascontiguousarray(data).view(np.uint64).reshape(n, -1)
    if n <= 8:
        return _lanes_few(lanes)
    h = np.full(n, np.uint64(lanes.shape[1]), np.uint64)
    with np.errstate(over="ignore"):
        for j in range(lanes.shape[1]):
            h = _finalise((h * _GOLD) ^ lanes[:, j])
    return h


def _blake(value: str) -> int:
    return int.from_bytes(blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8,
                                  person=b"puhui-sum").digest(), "little")


def _each(values: list[str]) -> np.ndarray:
    """The digest of each distinct text as it would be alone: ASCII texts of a width of whole
    lanes by their lanes (grouped by width), every other text by BLAKE2b."""
    out = np.zeros(len(values), np.uint64)
    widths: dict[int, list[int]] = {}
    for k, v in enumerate(values):
        if v and len(v) % 8 == 0 and v.isascii():
            widths.setdefault(len(v), []).append(k)
        else:
            out[k] = _blake(v)
    for w, at in widths.items():
        out[at] = _lanes(np.array([values[k] for k in at], dtype=f"S{w}"))
    return out


def _whole(data: np.ndarray) -> bool:
    """Whether a fixed-width byte column holds texts of its full width, a whole number of
    lanes (a shorter value would be digested with its padding)."""
    w = data.dtype.itemsize
    return bool(w) and w % 8 == 0 and bool(data.view(np.uint8).reshape(-1, w)[:, -1].all())


def _fixed(values: list[str]) -> np.ndarray | None:
    """Many ASCII texts of one width of whole lanes (hex hashes given as a list) as one
    fixed-width array, read by NumPy rather than checked one by one; None otherwise."""
    if len(values) < 64:
        return None
    try:
        data = np.array(values, dtype="S")
    except (UnicodeEncodeError, TypeError, ValueError):
        return None
    return data if data.ndim == 1 and _whole(data) else None


def word_digests(column: TypedColumn) -> tuple[np.ndarray, np.ndarray]:
    """The digests of the column's words and each value's word (its index among them); words
    may repeat (a fixed-width column's words are its values)."""
    if column.kind == "f" and len(column.data) and _whole(column.data):
        return _lanes(column.data), np.arange(len(column.data))
    if column.kind == "u":  # by dictionary: each distinct word digested once
        return _each([u if type(u) is str else repr(u) for u in column.uniques]), column.data
    values = [v if type(v) is str else repr(v) for v in column.to_list()]
    fixed = _fixed(values)
    if fixed is not None:
        return _lanes(fixed), np.arange(len(values))
    distinct = list(dict.fromkeys(values))
    at = dict(zip(distinct, range(len(distinct))))
    return _each(distinct), np.fromiter(map(at.__getitem__, values), np.int64, len(values))


def text_digests(column: TypedColumn) -> np.ndarray:
    """Each value's 64-bit digest (uint64): a function of the text alone, so equal for equal
    text in any column, whatever else the column holds."""
    words, index = word_digests(column)
    return words[index] if len(index) else np.zeros(0, np.uint64)


def column_words(columns: Sequence[TypedColumn]) -> tuple[list, np.ndarray]:
    """The columns' values as words and each value's word (an index into them), end to end:
    a dictionary column's words are its distinct values, any other's its values.  Why: a
    question about the values of many small columns (a chunk's tails) is then asked once per
    word, in one pass, rather than column by column."""
    words: list = []
    codes, starts = [], []
    for column in columns:
        starts.append(len(words))
        if column.kind == "u":
            words += column.uniques
            codes.append(column.data)
        else:
            values = column.to_list()
            words += values
            codes.append(np.arange(len(values)))
    if not codes:
        return words, np.zeros(0, np.int64)
    sizes = np.fromiter(map(len, codes), np.int64, len(codes))
    return words, np.concatenate(codes).astype(np.int64, copy=False) \
        + np.repeat(np.array(starts, np.int64), sizes)


def text_digests_many(columns: Sequence[TypedColumn]) -> np.ndarray:
    """`text_digests` of each column, end to end.  Why: a chunk's tails hold a few values each,
    and digesting them column by column costs a pass of Python and NumPy per column; here the
    words of all of them are digested in one pass per width (a long column of fixed-width
    hashes is still digested by its lanes)."""
    lanes = [column.kind == "f" and len(column.data) >= 64 and _whole(column.data)
             for column in columns]
    words, index = column_words([c for c, by_lanes in zip(columns, lanes) if not by_lanes])
    # by lanes when they are all hashes of one width (read by NumPy at once), else each
    # distinct text digested once (a chunk's tails repeat their customers): a digest is a
    # function of the text alone
    texts = [v if type(v) is str else repr(v) for v in words]
    fixed = _fixed(texts)
    if fixed is not None:
        digests = _lanes(fixed)
    else:
        at: dict[str, int] = {}
        which = np.fromiter((at.setdefault(v, len(at)) for v in texts), np.int64, len(texts))
        digests = _each(list(at))[which]
    few = digests[index] if len(index) else np.zeros(0, np.uint64)
    if not any(lanes):
        return few
    out, k = [], 0
    for column, by_lanes in zip(columns, lanes):
        if by_lanes:
            out.append(_lanes(column.data))
        else:
            out.append(few[k:k + len(column)])
            k += len(column)
    return np.concatenate(out)


__all__ = ["column_words", "text_digests", "text_digests_many", "word_digests"]
