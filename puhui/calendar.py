"""Rates, day counts, repayment frequencies and due dates.

Why rationals: interest for a period is ``balance x rate x days / basis``.  Keeping the rate as an
integer number of micro-units (1e-6) and the day count as a ``(days, basis)`` pair lets every
interest figure be computed in exact integer arithmetic and rounded once, identically in the
scalar servicing code and in the vectorised batch code.
"""

from __future__ import annotations

import calendar as _cal
import enum
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from puhui.errors import DateOrderError, InvalidRate

RATE_SCALE = 1_000_000  #: rates are exact to one micro-unit (0.0001 percentage points)
MAX_ANNUAL_RATE = Decimal(10)  #: 1000% a year: anything above is a typo, not a product


def utcnow() -> datetime:
    """The current time, always UTC-aware."""
    return datetime.now(timezone.utc)


def parse_rate(value: Decimal | str | int, what: str = "rate") -> Decimal:
    """An annual nominal rate as an exact Decimal fraction (``"0.0435"`` is 4.35% a year).

    Refuses floats, negatives, non-finite values and more precision than `RATE_SCALE`.
    """
    if isinstance(value, (float, bool)):
        raise InvalidRate(f"{what} must be a Decimal or string, not {type(value).__name__}")
    try:
        rate = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise InvalidRate(f"{what} is not a number: {value!r}") from exc
    if not rate.is_finite() or rate < 0:
        raise InvalidRate(f"{what} must be a finite non-negative fraction, got {value!r}")
    if rate > MAX_ANNUAL_RATE:
        raise InvalidRate(f"{what} {rate} is above {MAX_ANNUAL_RATE}; rates are fractions (0.12 = 12%)")
    if (rate * RATE_SCALE) != (rate * RATE_SCALE).to_integral_value():
        raise InvalidRate(f"{what} {rate} is more precise than 1e-6")
    return rate.normalize() if rate else Decimal(0)


def rate_micros(rate: Decimal) -> int:
    """The rate as an integer count of micro-units, for exact integer interest arithmetic."""
    return int(parse_rate(rate) * RATE_SCALE)


class DayCount(str, enum.Enum):
    """How a period's length becomes a fraction of a year.

    ``30/360 US`` and ``30E/360`` are the conventions for new products: under both, a schedule
    period of whole calendar months counts 30 days a month (`period_days`), so monthly
    instalments are level whatever the day of month, and the named month-end rule counts only
    broken periods.  ``30/360`` is the bond basis (ISDA 2006 4.16(f)) applied to every period,
    month ends included; it is kept, unchanged, so that loans and offers made under it replay to
    the fen, and it is not meant for new products.
    """

    ACT_365F = "ACT/365F"
    ACT_360 = "ACT/360"
    THIRTY_360 = "30/360"          # bond basis on every period (contracts made before 30/360 US)
    THIRTY_360_US = "30/360 US"    # SIA/US rule; whole months count 30 days each
    THIRTY_E_360 = "30E/360"       # Eurobond basis (ISDA 2006 4.16(g)); whole months count 30

    @property
    def basis(self) -> int:
        return 365 if self is DayCount.ACT_365F else 360

    @property
    def level_months(self) -> bool:
        """Whether a period of whole months counts exactly 30 days a month (1/12 of a year)."""
        return self in (DayCount.THIRTY_360_US, DayCount.THIRTY_E_360)

    def days(self, start: date, end: date) -> int:
        """Days counted between `start` (inclusive) and `end` (exclusive) under this convention."""
        if end < start:
            raise DateOrderError(f"period end {end} is before its start {start}")
        if self is DayCount.THIRTY_360:
            return days_30_360(start, end)
        if self is DayCount.THIRTY_360_US:
            return days_30_360_us(start, end)
        if self is DayCount.THIRTY_E_360:
            return days_30e_360(start, end)
        return (end - start).days

    def period_days(self, start: date, end: date) -> int:
        """Days a schedule period from `start` to `end` is charged for.

        Under 30/360 US and 30E/360 a period of k whole calendar months (`whole_months`) counts
        30k days: 31 January to 28 February is one month, as is 28 February to 31 March, so every
        monthly period is one twelfth of a year and the payments are level (the 360/30 rule of
        Chinese banks and Fineract).  Any other period counts `days`.
        """
        if self.level_months:
            if end < start:
                raise DateOrderError(f"period end {end} is before its start {start}")
            months = whole_months(start, end)
            if months:
                return 30 * months
        return self.days(start, end)

    def fraction(self, start: date, end: date) -> tuple[int, int]:
        """The year fraction as an exact ``(days, basis)`` pair."""
        return self.days(start, end), self.basis


def _month_end(d: date) -> bool:
    return d.day == _cal.monthrange(d.year, d.month)[1]


def whole_months(start: date, end: date) -> int | None:
    """k when `end` is k >= 1 calendar months after `start` on the same day of month, allowing for
    clamping to month end (31 Jan -> 28 Feb -> 31 Mar are whole months apart); else None.

    A month-end date stands for every day of month from its own up to 31, so two dates are whole
    months apart when some day of month names both.
    """
    months = 12 * (end.year - start.year) + end.month - start.month
    if months < 1:
        return None
    hi_start = 31 if _month_end(start) else start.day
    hi_end = 31 if _month_end(end) else end.day
    return months if max(start.day, end.day) <= min(hi_start, hi_end) else None


def days_30_360(start: date, end: date) -> int:
    """30/360 bond basis (ISDA 2006 4.16(f)): day 31 counts as 30, months as 30 days."""
    d1 = min(start.day, 30)
    d2 = end.day
    if d2 == 31 and d1 == 30:
        d2 = 30
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def days_30_360_us(start: date, end: date) -> int:
    """30/360 US (SIA rule, with end of February): a start on the last day of February counts as
    day 30, and so does an end on it when the start is one too; day 31 counts as 30 at the start,
    and at the end when the start is (counted as) 30."""
    d1, d2 = start.day, end.day
    start_feb_end = start.month == 2 and _month_end(start)
    if start_feb_end and end.month == 2 and _month_end(end):
        d2 = 30
    if start_feb_end:
        d1 = 30
    if d2 == 31 and d1 >= 30:
        d2 = 30
    d1 = min(d1, 30)
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def days_30e_360(start: date, end: date) -> int:
    """30E/360 (Eurobond basis, ISDA 2006 4.16(g)): day 31 counts as 30 at either end."""
    d1, d2 = min(start.day, 30), min(end.day, 30)
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


class Frequency(str, enum.Enum):
    """How often instalments fall due."""

    MONTHLY = "monthly"
    BIWEEKLY = "biweekly"
    WEEKLY = "weekly"
    DAILY = "daily"

    @property
    def periods_per_year(self) -> int:
        return {"monthly": 12, "biweekly": 26, "weekly": 52, "daily": 365}[self.value]

    @property
    def step_days(self) -> int | None:
        return {"monthly": None, "biweekly": 14, "weekly": 7, "daily": 1}[self.value]


def add_months(d: date, months: int, day: int | None = None) -> date:
    """`d` moved by whole months, landing on `day` (default: d's own day), clamped to month end."""
    month_index = d.month - 1 + months
    year, month = d.year + month_index // 12, month_index % 12 + 1
    target_day = day if day is not None else d.day
    return date(year, month, min(target_day, _cal.monthrange(year, month)[1]))


def due_dates(start: date, periods: int, frequency: Frequency, repayment_day: int | None = None,
              min_first_period_days: int = 0) -> list[date]:
    """The due dates of `periods` instalments for a loan starting on `start`.

    Monthly loans fall due on `repayment_day` (1-31, clamped to month end) or, without one, on the
    anniversary of `start`.  With a repayment day, the first due date is the first such day at
    least `min_first_period_days` after `start`; the first period is then a broken period whose
    interest is counted on its actual days.  Other frequencies step in whole days from `start`.
    """
    if periods < 1:
        raise ValueError("a schedule needs at least one period")
    step = frequency.step_days
    if step is not None:
        return [start + timedelta(days=step * k) for k in range(1, periods + 1)]
    if repayment_day is None:
        return [add_months(start, k) for k in range(1, periods + 1)]
    first = add_months(start, 0, repayment_day)
    offset = 0
    while first <= start or (first - start).days < min_first_period_days:
        offset += 1
        first = add_months(start, offset, repayment_day)
    return [add_months(start, offset + k, repayment_day) for k in range(periods)]
