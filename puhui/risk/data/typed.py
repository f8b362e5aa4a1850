"""A record field's values kept in a typed form: NumPy arrays, read as Python values only when asked.

Why: the panel's reducers (`puhui.risk._reduce`) want each field as an array (days as ordinals,
amounts as int64, a text field as equality codes), and a merged monitoring state
(`merged_state`) stores its columns as such arrays.  Going through a list of Python objects in
between (a `date` per record made on decoding, its ordinal taken again on reducing) cost most of
a line re-evaluation's time.  A `TypedColumn` keeps the stored form and answers the reducers'
questions from it; `to_list()` gives the values `parse_payload` gives (the same types, equal
values) for whoever wants the records.

Forms (`kind`):
- ``i``: int64 values; ``b``: booleans; ``d``: dates as proleptic ordinals, 0 for None;
- ``t``: UTC timestamps as int64 microseconds since the epoch (every validated timestamp is UTC);
- ``u``: text by dictionary: int codes into `uniques`; ``f``: ASCII text of one width (hashes);
- ``s``: other text, as UTF-8 joined by NUL and split only when read (ids no reducer reads);
- ``L``: anything else, kept as the Python list it came as.
A column that cannot take a value in its form (an int beyond int64, a date in a nullable
column's gap) falls back to ``L``: correctness first, speed where the data allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import numpy as np

from puhui.risk.errors import RiskDataError

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_US_PER_DAY = 86_400_000_000
_TABLE_START = date(1900, 1, 1).toordinal()


@lru_cache(maxsize=1)
def _day_table() -> np.ndarray:
    """Index k: the date of ordinal k (None at 0), made once: dates for `to_list`."""
    end = date(2200, 1, 1).toordinal()
    table = np.empty(end, dtype=object)
    table[:_TABLE_START] = None
    table[_TABLE_START:] = [date.fromordinal(k) for k in range(_TABLE_START, end)]
    return table


def _dates_of(ordinals: np.ndarray) -> list:
    if not len(ordinals):
        return []
    table = _day_table()
    real = ordinals[ordinals != 0]
    if not len(real) or (int(real.min()) >= _TABLE_START and int(real.max()) < len(table)):
        return table[ordinals].tolist()
    return [None if k == 0 else date.fromordinal(k) for k in ordinals.tolist()]


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _text_codes(data: np.ndarray) -> np.ndarray | None:
    """Equality codes of fixed-width text (a width of whole 8-byte lanes): the lanes mixed into
    one 64-bit number per value and grouped by sorting those numbers, then checked exactly
    (each value's lanes equal to those of the first value of its group).  Sorting the text
    itself costs four times as much; None when two different values mix to one number."""
    n = len(data)
    lanes = np.ascontiguousarray(data).view(np.uint64).reshape(n, -1)
    mixed = lanes[:, 0] * _MIX
    for j in range(1, lanes.shape[1]):
        mixed = (mixed ^ lanes[:, j]) * _MIX  # wraps around: a hash, checked below
    order = np.argsort(mixed, kind="stable")
    ordered = mixed[order]
    starts = np.empty(n, bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    codes = np.empty(n, np.int64)
    codes[order] = np.cumsum(starts) - 1
    first = order[starts][codes]  # the first value of each one's group
    again = np.flatnonzero(first != np.arange(n))  # only repeats need checking
    if len(again) and not np.array_equal(lanes[again], lanes[first[again]]):
        return None
    return codes


#: An empty column of each form with arrays (what `TypedColumn.of` converts values into).
_EMPTY = {"i": np.zeros(0, np.int64), "b": np.zeros(0, bool), "d": np.zeros(0, np.int64),
          "t": np.zeros(0, np.int64), "u": np.zeros(0, np.int64), "f": np.zeros(0, "S1")}


class TypedColumn:
    """One field's values in record order (see the module doc)."""

    __slots__ = ("kind", "data", "uniques", "_list", "_n")

    def __init__(self, kind: str, data: Any, uniques: Sequence[str] | None = None, *,
                 count: int | None = None) -> None:
        self.kind, self.data, self.uniques = kind, data, uniques
        self._list: list | None = data if kind == "L" else None
        self._n = len(data) if count is None else count

    # -- making ------------------------------------------------------------------------------
    @classmethod
    def of(cls, values: Sequence[Any] | "TypedColumn") -> "TypedColumn":
        """`values` in the tightest form that holds them exactly (a list kept as ``L`` when
        none does)."""
        if isinstance(values, TypedColumn):
            return values
        values = list(values)
        types = set(map(type, values))
        kind = None
        if types == {int}:
            kind = "i"
        elif types == {bool}:
            kind = "b"
        elif types <= {date, type(None)} and date in types:
            kind = "d"
        elif types == {datetime}:
            kind = "t"
        elif types == {str}:
            if len(dict.fromkeys(values)) <= max(16, len(values) // 4):
                kind = "u"
            elif len({len(v) for v in values}) == 1:
                kind = "f"
            elif not any("\x00" in v for v in values):
                return cls.joined("\x00".join(values).encode("utf-8", "surrogatepass"),
                                  len(values))
        if kind is not None:  # the form's own conversion (None: a value it cannot hold)
            converted = cls(kind, _EMPTY[kind], [] if kind == "u" else None)._convert(values)
            if converted is not None:
                return cls(kind, converted[0], converted[1])
        return cls("L", values)

    @classmethod
    def joined(cls, text: bytes, count: int) -> "TypedColumn":
        """`count` texts stored as UTF-8 joined by NUL (read with `to_list`)."""
        return cls("s", text, count=count)

    @property
    def n(self) -> int:
        return self._n

    def __len__(self) -> int:
        return self._n

    # -- reading -----------------------------------------------------------------------------
    def to_list(self) -> list:
        """The values as `parse_payload` gives them (made once)."""
        if self._list is None:
            k = self.kind
            if k in ("i", "b"):
                out = self.data.tolist()
            elif k == "d":
                out = _dates_of(self.data)
            elif k == "t":
                out = [_EPOCH + timedelta(microseconds=us) for us in self.data.tolist()]
            elif k == "u":
                out = np.array(self.uniques, dtype=object)[self.data].tolist() \
                    if len(self.data) else []
            elif k == "f":
                out = [v.decode("ascii") for v in self.data.tolist()]
            elif k == "s":
                out = str(self.data, "utf-8", "surrogatepass").split("\x00") if self._n else []
                if len(out) != self._n:
                    raise RiskDataError(f"a text column holds {len(out)} values, not {self._n}")
            else:
                raise RiskDataError(f"unknown column kind {k!r}")
            self._list = out
        return self._list

    def days(self) -> np.ndarray:
        """Proleptic ordinals (int64): a date's, a timestamp's UTC date's; 0 for None."""
        if self.kind == "d":
            return self.data
        if self.kind == "t":
            return self.data // _US_PER_DAY + _EPOCH_DAY
        values = self.to_list()
        try:  # no None among them (most date fields): at C speed
            return np.fromiter(map(date.toordinal, values), np.int64, len(values))
        except TypeError:
            return np.fromiter((0 if v is None else v.toordinal() for v in values), np.int64,
                               len(values))

    def ints(self) -> np.ndarray:
        """The values as int64 (`RiskDataError` if one does not fit)."""
        if self.kind == "i":
            return self.data
        if self.kind == "b":
            return self.data.astype(np.int64)
        values = self.to_list()
        try:
            return np.fromiter(values, np.int64, len(values))
        except (OverflowError, TypeError, ValueError):
            raise RiskDataError("amounts too large to total exactly in int64") from None

    def flags(self) -> np.ndarray:
        if self.kind == "b":
            return self.data
        values = self.to_list()
        return np.fromiter(map(bool, values), bool, len(values))

    def codes(self) -> np.ndarray:
        """Equal values, equal codes, each in [0, n): customers, devices, counterparties."""
        if self.kind == "u":
            if len(self.uniques) <= len(self.data):
                return self.data
            return np.unique(self.data, return_inverse=True)[1].reshape(-1)
        if self.kind == "f" and len(self.data) and self.data.dtype.itemsize % 8 == 0:
            found = _text_codes(self.data)
            if found is not None:
                return found
        if self.kind in ("f", "i", "d", "t", "b"):
            if not len(self.data):
                return np.zeros(0, np.int64)
            return np.unique(self.data, return_inverse=True)[1].reshape(-1)
        values = self.to_list()
        last = dict(zip(values, range(len(values))))
        return np.fromiter(map(last.__getitem__, values), np.int64, len(values))

    def among(self, wanted: Iterable[Any]) -> np.ndarray:
        """Which values are one of `wanted`."""
        wanted = frozenset(wanted)
        if self.kind == "u":
            hit = np.fromiter((u in wanted for u in self.uniques), bool, len(self.uniques))
            return hit[self.data] if len(self.data) else np.zeros(0, bool)
        values = self.to_list()
        return np.fromiter(map(wanted.__contains__, values), bool, len(values))

    # -- reshaping ---------------------------------------------------------------------------
    def take(self, index: np.ndarray) -> "TypedColumn":
        """The values at `index`, in that order."""
        if self.kind in ("L", "s"):
            values = self.to_list()
            return TypedColumn("L", [values[i] for i in index.tolist()])
        return TypedColumn(self.kind, self.data[index], self.uniques)

    def merged(self, at: Sequence[int], replaced: Sequence[Any], added: Sequence[Any]
               ) -> "TypedColumn":
        """This column with the values at positions `at` replaced by `replaced`, then `added`
        appended (a merge of later deliveries: `merged_state.merge`).  Nothing is changed in
        place: the arrays may be read-only views of stored bytes."""
        if not at and not added:
            return self
        incoming = [*replaced, *added]
        if self.kind == "s" and not at and all(type(v) is str and "\x00" not in v
                                               for v in added):
            more = "\x00".join(added).encode("utf-8", "surrogatepass")
            return TypedColumn.joined(self.data + b"\x00" + more if self._n else more,
                                      self._n + len(added))
        new = self._convert(incoming)
        if new is None:  # a value this form cannot hold: the tightest form of them all
            values = list(self.to_list())
            for i, v in zip(at, replaced):
                values[i] = v
            values.extend(added)
            if self.kind in ("L", "s") and self._n:
                return TypedColumn("L", values)  # text no form holds: as it was
            return TypedColumn.of(values)
        new, uniques = new
        k = len(at)
        data = self.data
        if self.kind == "f" and new.dtype.itemsize > data.dtype.itemsize:
            data = data.astype(new.dtype)  # wider text: padded with NULs, read back the same
        if k:
            data = data.copy()
            data[np.asarray(at, dtype=np.int64)] = new[:k]
        if len(new) > k:
            data = np.concatenate([data, new[k:]])
        return TypedColumn(self.kind, data, uniques)

    def _convert(self, values: list) -> "tuple[np.ndarray, Sequence[str] | None] | None":
        """`values` in this column's form (and the dictionary's words then), or None."""
        k = self.kind
        try:
            if k == "i" and all(type(v) is int for v in values):
                return np.array(values, dtype=np.int64), None
            if k == "b" and all(type(v) is bool for v in values):
                return np.array(values, dtype=bool), None
            if k == "d" and all(v is None or type(v) is date for v in values):
                return np.array([0 if v is None else v.toordinal() for v in values],
                                dtype=np.int64), None
            if k == "t" and all(type(v) is datetime and v.utcoffset() == timedelta(0)
                                for v in values):
                return np.array([(v - _EPOCH) // timedelta(microseconds=1) for v in values],
                                dtype=np.int64), None
            if k == "u" and all(type(v) is str for v in values):
                words = list(self.uniques or ())
                code = {w: i for i, w in enumerate(words)}
                for v in values:
                    if v not in code:
                        code[v] = len(words)
                        words.append(v)
                return np.fromiter(map(code.__getitem__, values), np.int64, len(values)), words
            if k == "f" and all(type(v) is str and v.isascii() and not v.endswith("\x00")
                                for v in values):
                width = max(self.data.dtype.itemsize, *map(len, values))
                return np.array(values, dtype=f"S{width}"), None
        except OverflowError:
            return None
        return None


__all__ = ["TypedColumn"]
