"""A line's repayment record in bulk: a compact encoding of the instalments' (due, settled) pairs,
and `repayment_facts` computed with NumPy for many lines at once.

Why: a refresh re-evaluates up to 200,000 lines, and the pure `signals.repayment_facts`, one
Python loop per line over `Due` objects, costs more than reading the record does.  The pure
function stays the reference: `facts_of_lines` must give exactly what it gives, line for line
(a property test compares the two on random records).

The encoding (`encode_dues`) is little-endian int32 pairs: the due date and the settlement date
as day numbers since 1970-01-01, `NOT_SETTLED` for an instalment not settled.  A whole book's
records decode with one `numpy.frombuffer` instead of a `date` object per instalment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np

from puhui.lines.signals import Due
from puhui.risk.panel import add_months

#: The day number 0.
EPOCH = date(1970, 1, 1)
_EPOCH_ORDINAL = EPOCH.toordinal()
#: The settlement day number of an instalment not (yet) settled.
NOT_SETTLED = int(np.iinfo(np.int32).min)
#: One instalment's bytes in the encoding.
PAIR_BYTES = 8
_PAIR = np.dtype("<i4")
FACTS = ("on_time_months", "days_past_due", "missed_instalments_6m")
#: Which rule a record's settlement dates were derived by (`book.history.settlement_history`):
#: 2 since an instalment a reschedule took over counts settled on the reschedule's day.  A
#: stored copy of a record (the settlement cache's row) is of the rule it was computed under,
#: which the loan's history alone does not say, so the rule is part of the row's digest: a row
#: of an earlier rule reads as missing and is replayed.  Bump it with any change to that rule.
RECORD_RULES = 2


class InvalidDues(ValueError):
    """An encoded record that is not one: a length that is not whole pairs, or a day out of
    range (a corrupted cache row; the caller rebuilds it from the loan's history)."""


def day_number(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def from_day_number(n: int) -> date:
    return date.fromordinal(n + _EPOCH_ORDINAL)


def encode_dues(pairs: Iterable[tuple[date, date | None]]) -> bytes:
    """(due, settled on or None) pairs as the compact encoding, in the order given."""
    flat: list[int] = []
    for due, settled in pairs:
        flat.append(day_number(due))
        flat.append(NOT_SETTLED if settled is None else day_number(settled))
    return np.asarray(flat, dtype=_PAIR).tobytes()


def check_dues(blob: bytes) -> None:
    """Raise `InvalidDues` unless `blob` is whole pairs of valid day numbers."""
    if not isinstance(blob, (bytes, bytearray, memoryview)) or len(blob) % PAIR_BYTES:
        raise InvalidDues("an encoded record is whole (due, settled) pairs of int32")
    days = np.frombuffer(blob, dtype=_PAIR).reshape(-1, 2)
    low, high = day_number(date.min), day_number(date.max)
    due, settled = days[:, 0], days[:, 1]
    if ((due < low) | (due > high)).any() or \
            (((settled < low) | (settled > high)) & (settled != NOT_SETTLED)).any():
        raise InvalidDues("an encoded record holds a day out of range")


def decode_dues(blob: bytes) -> list[tuple[date, date | None]]:
    """The pairs `encode_dues` encoded."""
    check_dues(blob)
    days = np.frombuffer(blob, dtype=_PAIR).reshape(-1, 2).tolist()
    return [(from_day_number(d), None if s == NOT_SETTLED else from_day_number(s))
            for d, s in days]


def facts_of_lines(owner: np.ndarray, due: np.ndarray, settled: np.ndarray, lines: int,
                   today: date, since: np.ndarray) -> dict[str, np.ndarray]:
    """`repayment_facts` of `lines` lines at once.

    Instalment i belongs to line `owner[i]` (0 <= owner < lines), fell due on day number
    `due[i]` and was settled on `settled[i]` (`NOT_SETTLED`: not).  `since[j]` is line j's
    `since` as a day number, `NOT_SETTLED` for None.  Returns each fact as an int64 array
    indexed by line."""
    owner = np.asarray(owner, dtype=np.int64)
    due = np.asarray(due, dtype=np.int64)
    settled = np.asarray(settled, dtype=np.int64)
    since = np.asarray(since, dtype=np.int64)
    t = day_number(today)
    never = np.iinfo(np.int64).max  # an unsettled instalment is settled "never": after any day
    settled = np.where(settled == NOT_SETTLED, never, settled)
    past = due < t
    late = past & (settled > due)
    open_ = past & (settled > t)
    oldest = np.full(lines, t, dtype=np.int64)
    np.minimum.at(oldest, owner[open_], due[open_])
    dpd = t - oldest
    window = day_number(add_months(today, -6))
    missed = np.bincount(owner[late & (due > window)], minlength=lines).astype(np.int64)
    # calendar months from `since`: the streak is the months with an instalment due after the
    # latest month that had one not settled by its due date
    counted = past & (due >= since[owner])
    month = due.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    worst = np.full(lines, np.iinfo(np.int64).min, dtype=np.int64)
    bad = counted & late
    np.maximum.at(worst, owner[bad], month[bad])
    good = counted & (month > worst[owner])
    if good.any():
        m = month[good]
        key = owner[good] * (int(m.max() - m.min()) + 1) + (m - m.min())
        months = np.unique(key) // (int(m.max() - m.min()) + 1)
        streak = np.bincount(months, minlength=lines).astype(np.int64)
    else:
        streak = np.zeros(lines, dtype=np.int64)
    return {"on_time_months": streak, "days_past_due": dpd, "missed_instalments_6m": missed}


def repayment_facts_many(records: Sequence[Iterable[Due]], today: date,
                         since: Sequence[date | None]) -> list[dict[str, int]]:
    """`repayment_facts(records[j], today, since[j])` for every j, computed at once."""
    if len(records) != len(since):
        raise ValueError("one `since` per record")
    owner: list[int] = []
    due: list[int] = []
    settled: list[int] = []
    for j, dues in enumerate(records):
        for d in dues:
            owner.append(j)
            due.append(day_number(d.due))
            settled.append(NOT_SETTLED if d.settled_on is None else day_number(d.settled_on))
    starts = [NOT_SETTLED if s is None else day_number(s) for s in since]
    facts = facts_of_lines(np.asarray(owner, dtype=np.int64), np.asarray(due, dtype=np.int64),
                           np.asarray(settled, dtype=np.int64), len(records), today,
                           np.asarray(starts, dtype=np.int64))
    return as_dicts(facts, len(records))


def as_dicts(facts: dict[str, np.ndarray], lines: int) -> list[dict[str, int]]:
    """`facts_of_lines`' arrays as one dict of plain ints per line."""
    columns = [facts[name].tolist() for name in FACTS]
    a, b, c = FACTS
    return [{a: x, b: y, c: z} for x, y, z in zip(*columns)] if lines else []


__all__ = ["EPOCH", "FACTS", "InvalidDues", "NOT_SETTLED", "PAIR_BYTES", "RECORD_RULES",
           "as_dicts", "check_dues", "day_number", "decode_dues", "encode_dues", "facts_of_lines",
           "from_day_number", "repayment_facts_many"]
