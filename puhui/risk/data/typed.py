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
_MAX_ORDINAL = date.max.toordinal()


@lru_cache(maxsize=1)
def _day_table() -> np.ndarray:
    """Index k: the date of ordinal k (None at 0), made once: dates for `to_list`."""
    start, end = date(1900, 1, 1).toordinal(), date(2200, 1, 1).toordinal()
    table = np.empty(end, dtype=object)
    table[:start] = None
    table[start:] = [date.fromordinal(k) for k in range(start, end)]
    return table


def _dates_of(ordinals: np.ndarray) -> list:
    if not len(ordinals):
        return []
    table = _day_table()
    if int(ordinals.max()) < len(table) and (int(ordinals.min()) == 0 or
                                             int(ordinals.min()) >= date(1900, 1, 1).toordinal()):
        return table[ordinals].tolist()
    return [None if k == 0 else date.fromordinal(k) for k in ordinals.tolist()]


class TypedColumn:
    """One field's values in record order (see the module doc)."""

    __slots__ = ("kind", "data", "uniques", "_list")

    def __init__(self, kind: str, data: Any, uniques: Sequence[str] | None = None) -> None:
        self.kind, self.data, self.uniques = kind, data, uniques
        self._list: list | None = data if kind == "L" else None

    # -- making ------------------------------------------------------------------------------
    @classmethod
    def of(cls, values: Sequence[Any] | "TypedColumn") -> "TypedColumn":
        """`values` in the tightest form that holds them exactly (a list kept as ``L`` when
        none does)."""
        if isinstance(values, TypedColumn):
            return values
        values = list(values)
        types = set(map(type, values))
        try:
            if types == {int}:
                return cls("i", np.array(values, dtype=np.int64))
            if types == {bool}:
                return cls("b", np.array(values, dtype=bool))
            if types <= {date, type(None)} and date in types:
                return cls("d", np.array([0 if v is None else v.toordinal() for v in values],
                                         dtype=np.int64))
            if types == {datetime} and all(v.utcoffset() == timedelta(0) for v in values):
                return cls("t", np.array([(v - _EPOCH) // timedelta(microseconds=1)
                                          for v in values], dtype=np.int64))
            if types == {str}:
                uniques = list(dict.fromkeys(values))
                if len(uniques) <= max(16, len(values) // 4):
                    code = {v: i for i, v in enumerate(uniques)}
                    return cls("u", np.array([code[v] for v in values], dtype=np.int64), uniques)
                width = len(values[0])
                if width and all(len(v) == width and v.isascii() and not v.endswith("\x00")
                                 for v in values):  # NumPy's bytes drop trailing NULs
                    return cls("f", np.array(values, dtype=f"S{width}"))
        except OverflowError:
            pass
        return cls("L", values)

    @property
    def n(self) -> int:
        return len(self.data)

    def __len__(self) -> int:
        return len(self.data)

    # -- reading -----------------------------------------------------------------------------
    def to_list(self) -> list:
        """The values as `parse_payload` gives them (made once)."""
        if self._list is None:
            k = self.kind
            if k == "i":
                out = self.data.tolist()
            elif k == "b":
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
        if self.kind == "L":
            return TypedColumn("L", [self.data[i] for i in index.tolist()])
        return TypedColumn(self.kind, self.data[index], self.uniques)

    def merged(self, at: Sequence[int], replaced: Sequence[Any], added: Sequence[Any]
               ) -> "TypedColumn":
        """This column with the values at positions `at` replaced by `replaced`, then `added`
        appended (a merge of later deliveries: `merged_state.merge`)."""
        if not at and not added:
            return self
        incoming = TypedColumn.of([*replaced, *added]) if (replaced or added) else None
        fits = incoming is not None and self._fits(incoming)
        if not fits:
            values = list(self.to_list())
            for i, v in zip(at, replaced):
                values[i] = v
            values.extend(added)
            return TypedColumn.of(values)
        new = self._convert(incoming)
        k = len(at)
        data = self.data.copy() if k else self.data
        if k:
            data[np.asarray(at, dtype=np.int64)] = new[:k]
        if len(new) > k:
            data = np.concatenate([data, new[k:]])
        return TypedColumn(self.kind, data, self._uniques_with(incoming))

    def _fits(self, other: "TypedColumn") -> bool:
        if self.kind == "L":
            return False
        if self.kind == "u":
            return other.kind in ("u", "f", "L") and all(
                isinstance(v, str) for v in other.to_list())
        if self.kind == "f":
            return other.kind == "f" and other.data.dtype.itemsize == self.data.dtype.itemsize
        if self.kind == "d":
            return other.kind == "d" or (other.kind == "L" and all(v is None
                                                                   for v in other.to_list()))
        return other.kind == self.kind

    def _uniques_with(self, other: "TypedColumn") -> Sequence[str] | None:
        if self.kind != "u":
            return self.uniques
        known = list(self.uniques or ())
        seen = set(known)
        for v in other.to_list():
            if v not in seen:
                seen.add(v)
                known.append(v)
        return known

    def _convert(self, other: "TypedColumn") -> np.ndarray:
        if self.kind == "u":
            code = {v: i for i, v in enumerate(self._uniques_with(other) or ())}
            return np.fromiter(map(code.__getitem__, other.to_list()), np.int64, other.n)
        if self.kind == "d" and other.kind == "L":
            return np.zeros(other.n, np.int64)
        return other.data


__all__ = ["TypedColumn"]
