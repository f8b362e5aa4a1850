"""When a notification may go out: quiet hours and the per-borrower cap, as pure functions of
the moment, the business time zone and what was already admitted.

Why these rules: contacting a borrower at night or many times a day is harassment, and for
collection it is illegal; the platform therefore defers anything that would go out in quiet
hours to the next allowed moment, and refuses (`capped`) a reminder beyond the cap rather than
piling it onto the next day, where it would arrive stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    """Nothing is sent from `start` (inclusive) to `end` (exclusive), local time in `zone`.

    21:00-08:00 means 20:59:59 is allowed, 21:00:00 is not, 07:59:59 is not, 08:00:00 is.  A
    window that does not cross midnight (13:00-14:00) works too; `start == end` is no window.
    """

    start: time
    end: time
    zone: ZoneInfo

    def quiet(self, moment: datetime) -> bool:
        """Whether the UTC-aware `moment` falls in quiet hours."""
        if self.start == self.end:
            return False
        t = moment.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def next_allowed(self, moment: datetime) -> datetime:
        """`moment` itself when allowed, else the end of the quiet window it is in (UTC)."""
        if not self.quiet(moment):
            return moment
        local = moment.astimezone(self.zone)
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        end = datetime.combine(day, self.end, tzinfo=self.zone)
        return end.astimezone(timezone.utc)

    def describe(self) -> str:
        if self.start == self.end:
            return "none"
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone.key}"


@dataclass(frozen=True)
class ContactCap:
    """At most `per_day` capped notifications on one local day and `per_week` in any 7 local
    days ending on that day, per borrower (0: no limit of that kind)."""

    per_day: int
    per_week: int

    def admits(self, scheduled_days: Iterable[date], day: date) -> bool:
        """Whether one more may be scheduled on local `day`, given the local days of those
        already admitted for the borrower (each counted once)."""
        days = list(scheduled_days)
        if self.per_day and sum(1 for d in days if d == day) >= self.per_day:
            return False
        week_start = day - timedelta(days=6)
        if self.per_week and sum(1 for d in days if week_start <= d <= day) >= self.per_week:
            return False
        return True

    def window(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The UTC bounds [from, to) of the days the cap looks at for `day`."""
        start = datetime.combine(day - timedelta(days=6), time(0), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def retry_delay(attempts: int, first: timedelta = timedelta(minutes=1),
                longest: timedelta = timedelta(hours=1)) -> timedelta:
    """How long after its `attempts`-th failed attempt a delivery is tried again: 1, 2, 4 ...
    minutes, at most an hour (a mail server down for a while is not hammered)."""
    return min(first * (2 ** max(0, attempts - 1)), longest)
