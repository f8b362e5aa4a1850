"""The platform's notion of now and of the business date.

Why injectable: end-to-end tests, simulations and replays must move time deliberately; the
business date of a Chinese lender is the date in Asia/Shanghai, not in UTC.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time, UTC-aware."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock:
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock needs a timezone-aware start")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment.astimezone(timezone.utc)


def business_date(clock: Clock) -> date:
    """Today's date where the lender books (Asia/Shanghai)."""
    return clock.now().astimezone(BUSINESS_ZONE).date()


def at_business_date(day: date, hour: int = 10) -> datetime:
    """A UTC moment on `day` in the business zone (for clocks set to a given business date)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=BUSINESS_ZONE).astimezone(timezone.utc)
