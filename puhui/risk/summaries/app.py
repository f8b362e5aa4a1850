"""The app events' summary: what `_reduce.app` needs of them, independent of as_of.

Why these fields: the monthly logins and the trailing 30-day logins are counts of login days in
a range of days, so the summary keeps the login count per day (sorted days, `searchsorted` and a
cumulative sum answer any range); a device is new on the day of its first event ever, so it
keeps each device's first day (devices by their text digest, sorted, to find them again when
events are added; the first days also sorted, to count them in a range of days).

Body (every array 1-D):
- ``head`` int64 [event count, earliest event day (UTC ordinal; 0 when there is none)];
- ``login_days`` (sorted distinct ordinals), ``login_counts`` (int64, aligned);
- ``device`` (uint64 digests, sorted), ``device_first`` (int64 ordinals, aligned),
  ``first_days`` (`device_first` sorted).

Never None: counts cannot overflow, and adding events (even one earlier than its device's first
event) only moves days in these arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk import _columns as c
from puhui.risk._reduce import Reduced
from puhui.risk.data.payload import SourceData
from puhui.risk.data.typed import TypedColumn
from puhui.risk.panel import HISTORY_MONTHS, ROWS, month_index, window_starts
from puhui.risk.stacked import NO_MONTH, Stacked, begun
from puhui.risk.summaries._digest import text_digests, word_digests
from puhui.risk.summaries.bank import _cat, _found, _merged, _upsert

Body = dict[str, np.ndarray]
SCOPE = DataScope.APP_BEHAVIOUR
_LOGIN = frozenset({"login"})
_NEVER = np.iinfo(np.int64).max


def _events(source: SourceData) -> tuple[np.ndarray, ...]:
    """(every event's day, sorted distinct login days, their counts, sorted distinct devices,
    their first days)."""
    day = source.days("occurred_at")  # UTC timestamps: their UTC date
    login = np.sort(day[source.among("event_type", _LOGIN)])
    last = _lasts(login)
    # each device's first day: per word of the column, then per digest (words may repeat)
    words, index = word_digests(source.typed("device_id"))
    first = np.full(len(words), _NEVER)
    np.minimum.at(first, index, day)
    seen = first != _NEVER
    words, first = words[seen], first[seen]
    by = np.lexsort((first, words))
    words, first = words[by], first[by]
    once = np.concatenate(([True], words[1:] != words[:-1])) if len(words) else seen[:0]
    return day, login[last], last - np.concatenate(([-1], last[:-1])), words[once], first[once]


def _lasts(ordered: np.ndarray) -> np.ndarray:
    """The position of the last of each run of equal values."""
    return np.flatnonzero(np.append(ordered[1:] != ordered[:-1], True)) if len(ordered) \
        else np.zeros(0, np.int64)


def build(source: SourceData) -> Body:
    """The summary of all of `source`'s events (independent of any as_of)."""
    day, login_days, counts, device, first = _events(source)
    return {"head": np.array([len(day), int(day.min()) if len(day) else 0], np.int64),
            "login_days": login_days, "login_counts": counts, "device": device,
            "device_first": first, "first_days": np.sort(first)}


def extend(body: Body, added: SourceData) -> Body:
    """`body`'s events followed by `added`'s.  `body` is not changed."""
    if not added.record_count:
        return dict(body)
    day, login_days, counts, device, first = _events(added)
    n0, earliest0 = body["head"].tolist()
    earliest = int(day.min())
    out: Body = {"head": np.array([n0 + len(day), min(earliest0, earliest) if n0 else earliest],
                                  np.int64)}
    missing, at, old = _upsert(body["login_days"], login_days)
    out["login_days"] = _merged(body["login_days"], old, login_days[missing], copy=False)
    out["login_counts"] = _merged(body["login_counts"], old, 0)
    out["login_counts"][at] += counts
    missing, at, old = _upsert(body["device"], device)
    if old is None and (first >= body["device_first"][at]).all():  # no new device, and
        out.update(device=body["device"], device_first=body["device_first"],  # no earlier
                   first_days=body["first_days"])  # first day: the devices' arrays as they are
        return out
    out["device"] = _merged(body["device"], old, device[missing], copy=False)
    firsts = out["device_first"] = _merged(body["device_first"], old, np.iinfo(np.int64).max)
    firsts[at] = np.minimum(firsts[at], first)
    out["first_days"] = np.sort(firsts)
    return out


def panel(body: Body, as_of: date, top: int) -> Reduced:
    """`_reduce.app` of the summarised events for as_of (never None)."""
    n, earliest = body["head"].tolist()
    if not n:
        out = c.monthly(DataScope.APP_BEHAVIOUR)
        return {**out, "app_logins_30d": _at_as_of(0), "app_new_devices_30d": _at_as_of(0)}, []
    end = as_of.toordinal()
    start = window_starts(as_of)["30d"].toordinal()
    # the first days of the panel's months and of as_of's month, then the window's bounds
    # (a day d is inside (start, end] when start < d <= end, so both bounds are searched right)
    bounds = np.append(c.month_starts(top)[:ROWS], (start + 1, end + 1))
    days = body["login_days"]
    cum = np.concatenate(([0], np.cumsum(body["login_counts"])))
    logins = cum[np.searchsorted(days, bounds)]
    news = np.searchsorted(body["first_days"], bounds)
    out = c.monthly(DataScope.APP_BEHAVIOUR, app_logins=_months(logins),
                    app_new_devices=_months(news))
    out["app_logins_30d"] = _at_as_of(int(logins[-1] - logins[-2]))
    out["app_new_devices_30d"] = _at_as_of(int(news[-1] - news[-2]))
    if earliest > end:
        return out, []
    return out, [month_index(date.fromordinal(earliest))]


def _months(counts_before: np.ndarray) -> np.ndarray:
    """The counts per complete month from the counts before each month's first day."""
    out = np.zeros(ROWS, np.int64)
    out[:HISTORY_MONTHS] = np.diff(counts_before[:ROWS])
    return out


def _at_as_of(value: int) -> tuple[np.ndarray, np.ndarray]:
    out = np.zeros(ROWS, np.int64)
    out[HISTORY_MONTHS] = value
    return out, c.AT_AS_OF


# -- many businesses at once -----------------------------------------------------------------------
_DAY_BITS = 23  # an ordinal (up to 9999-12-31: 3,652,059) below 2**23: owner and day in one int64
_EMPTY: Body = {"head": np.zeros(2, np.int64), "login_days": np.zeros(0, np.int64),
                "login_counts": np.zeros(0, np.int64), "device": np.zeros(0, np.uint64),
                "device_first": np.zeros(0, np.int64), "first_days": np.zeros(0, np.int64)}


def _before(days: list[np.ndarray], bounds: np.ndarray) -> np.ndarray:
    """For each business's sorted `days` and each of `bounds`, the position among all the days
    concatenated of the business's first day not before the bound, (B, len(bounds)): the
    difference of two of a business's positions is its count of days between the two bounds.
    One binary search over owner and day as one sortable int64."""
    owner = np.repeat(np.arange(len(days)), [len(d) for d in days])
    flat = (owner << _DAY_BITS) + _cat(days, np.int64)
    return np.searchsorted(flat, (np.arange(len(days))[:, None] << _DAY_BITS) + bounds)


def panel_many(bodies: Sequence[Body | None], added: Sequence[SourceData], as_of: date,
               top: int) -> Stacked:
    """`panel(extend(body, tail))` (the body itself for an empty tail) of every business at
    once, stacked (`stacked.stack`; refused only where the body is None: `extend` never is).
    Counts are kept as positions among all the businesses' days: only their differences are
    read.

    Why: the refresh extends and reads thousands of businesses' summaries per chunk; this
    costs a number of NumPy calls that does not grow with them.  Every column is a count of
    days before a bound (the panel's months' first days, the 30-day window's two ends), so the
    body's counts and the tail's are found apart and added; a tail device new to the body
    counts from its first tail day, one seen earlier in the tail than in the body moves from
    its body first day to its tail one."""
    out, bodies = begun(SCOPE, bodies, added, _EMPTY)
    count = len(bodies)
    if not count:
        return out
    end = as_of.toordinal()
    start = window_starts(as_of)["30d"].toordinal()
    bounds = np.append(c.month_starts(top)[:ROWS], (start + 1, end + 1)).astype(np.int64)
    # -- collect the tails' events ---------------------------------------------------------------
    t_owner, t_day, t_login, t_device = [], [], [], []
    for b, tail in enumerate(added):
        if tail.record_count:
            t_owner.append(b)
            t_day.append(tail.days("occurred_at"))  # UTC timestamps: their UTC date
            t_login.append(tail.among("event_type", _LOGIN))
            t_device.extend(tail.column("device_id"))
    lengths = np.array([len(d) for d in t_day], np.int64)
    owner = np.repeat(np.array(t_owner, np.int64), lengths)
    day, login = _cat(t_day, np.int64), _cat(t_login, bool)
    device = text_digests(TypedColumn("L", [v if type(v) is str else repr(v) for v in t_device]))
    head = np.concatenate([body["head"] for body in bodies]).reshape(count, 2)
    n = head[:, 0].copy()
    np.add.at(n, owner, 1)
    earliest = np.where(head[:, 0] > 0, head[:, 1], _NEVER)
    np.minimum.at(earliest, owner, day)
    # -- logins before each bound: the body's by its cumulative counts, the tail's by its days --
    cum = np.concatenate(([0], np.cumsum(_cat([body["login_counts"] for body in bodies],
                                              np.int64))))
    logins = cum[_before([body["login_days"] for body in bodies], bounds)]
    flat = np.sort((owner[login] << _DAY_BITS) + day[login])
    logins += np.searchsorted(flat, (np.arange(count)[:, None] << _DAY_BITS) + bounds)
    # -- devices new before each bound: the body's first days, moved or added by the tail's -----
    news = _before([body["first_days"] for body in bodies], bounds)
    by = np.lexsort((day, device, owner))  # a tail device's first event first
    owner, device, day = owner[by], device[by], day[by]
    if len(by):
        once = np.flatnonzero(np.concatenate(
            ([True], (owner[1:] != owner[:-1]) | (device[1:] != device[:-1]))))
        owner, device, day = owner[once], device[once], day[once]
        touched, run = np.unique(owner, return_inverse=True)
        keys = [bodies[b]["device"] for b in touched.tolist()]
        k_end = np.cumsum([len(k) for k in keys], dtype=np.int64).reshape(-1)
        k_start = k_end - [len(k) for k in keys]
        run = run.reshape(-1)
        at, hit = _found(_cat(keys, np.uint64), k_start[run], k_end[run], device)
        if hit.any():
            was = _cat([bodies[b]["device_first"] for b in touched.tolist()], np.int64)[at]
            was = np.where(hit, was, _NEVER)
        else:
            was = np.full(len(device), _NEVER)
        moved = day < was  # the device's merged first day is the tail's
        change = (day[moved, None] < bounds).astype(np.int64) - (was[moved, None] < bounds)
        np.add.at(news, owner[moved], change)
    # -- the columns ---------------------------------------------------------------------------
    for column, counts in (("app_logins", logins), ("app_new_devices", news)):
        values, validity = out.columns[column]
        values[:, :HISTORY_MONTHS] = np.diff(counts[:, :ROWS], axis=1)
        validity[:] = c.COMPLETE
        values, validity = out.columns[column + "_30d"]
        values[:, HISTORY_MONTHS] = counts[:, ROWS + 1] - counts[:, ROWS]
        validity[:] = c.AT_AS_OF
    active = (n > 0) & (earliest <= end)
    month = c.months(np.where(active, earliest, 1))
    out.first_month[:] = np.where(active & (month <= top), month, NO_MONTH)
    return out
