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

from datetime import date

import numpy as np

from puhui.parties.consent import DataScope
from puhui.risk import _columns as c
from puhui.risk._reduce import Reduced
from puhui.risk.data.payload import SourceData
from puhui.risk.panel import HISTORY_MONTHS, ROWS, month_index, window_starts
from puhui.risk.summaries.bank import _merged, _upsert, digests

Body = dict[str, np.ndarray]
_LOGIN = frozenset({"login"})


def _events(source: SourceData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sorted distinct login days, their counts, sorted distinct devices, their first days)."""
    day = source.days("occurred_at")  # UTC timestamps: their UTC date
    login_days, counts = np.unique(day[source.among("event_type", _LOGIN)],
                                   return_counts=True)
    device = digests(source.typed("device_id"))
    by = np.lexsort((day, device))  # by device, its earliest day first
    d = device[by]
    first = np.flatnonzero(np.concatenate(([True], d[1:] != d[:-1]))) if len(d) else by
    return login_days, counts.astype(np.int64), d[first], day[by][first]


def build(source: SourceData) -> Body:
    """The summary of all of `source`'s events (independent of any as_of)."""
    n = source.record_count
    login_days, counts, device, first = _events(source)
    earliest = int(source.days("occurred_at").min()) if n else 0
    return {"head": np.array([n, earliest], np.int64), "login_days": login_days,
            "login_counts": counts, "device": device, "device_first": first,
            "first_days": np.sort(first)}


def extend(body: Body, added: SourceData) -> Body:
    """`body`'s events followed by `added`'s.  `body` is not changed."""
    k = added.record_count
    if not k:
        return dict(body)
    login_days, counts, device, first = _events(added)
    n0, earliest0 = body["head"].tolist()
    earliest = int(added.days("occurred_at").min())
    out: Body = {"head": np.array([n0 + k, min(earliest0, earliest) if n0 else earliest],
                                  np.int64)}
    missing, before, at = _upsert(body["login_days"], login_days)
    out["login_days"] = _merged(body["login_days"], before, login_days[missing])
    out["login_counts"] = _merged(body["login_counts"], before, 0)
    out["login_counts"][at] += counts
    missing, before, at = _upsert(body["device"], device)
    old = body["device_first"]
    if not len(before) and (first >= old[at]).all():  # no new device, no earlier first day
        out.update(device=body["device"], device_first=old, first_days=body["first_days"])
        return out
    out["device"] = _merged(body["device"], before, device[missing])
    firsts = out["device_first"] = _merged(old, before, np.iinfo(np.int64).max)
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
