"""Closing business days against the real calendar.

The book (`LoanBook.end_of_day`) keeps its business date moving forward one day at a time; this
layer adds what only a clock knows: no day may be closed ahead of the real business date (plus a
configured margin), nor can a book's first close be so far behind it that it cannot be a real
start (later closes are bounded by the last closed day).  Why: an end of
day for 7182-04-11 once charged centuries of penalty interest and left every later close behind
it; the date is an operator's input and is checked like any other.

`close_day` is the close as the API and the command line run it: the book's close, then the
platform's daily duties that belong to the business date, today the erasure of registrations
that received no consent within the retention (PIPL minimisation).  The book itself
(`LoanBook`) knows nothing of personal data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Callable

from puhui.book import EodReport, LoanBook
from puhui.errors import InvalidBusinessDate
from puhui.services.access import Perm, Principal
from puhui.services.clock import Clock, business_date

if TYPE_CHECKING:
    from puhui.services.platform import Platform

#: Environment variable: how many days ahead of the real business date a close may be (0-7).
AHEAD_ENV = "PUHUI_EOD_MAX_DAYS_AHEAD"
#: How far behind the real business date a book's first close may be.
MAX_DAYS_BEHIND = 366
#: Environment variable: days a registration may wait for a consent before a close erases it.
RETENTION_ENV = "PUHUI_UNCONSENTED_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 365


def unconsented_retention_days() -> int:
    """The configured retention for registrations without consent, 1-365 days (default 30).
    A bad setting refuses the close before anything is done, rather than purging on a guess."""
    text = os.environ.get(RETENTION_ENV, "").strip()
    if not text:
        return DEFAULT_RETENTION_DAYS
    if not text.isdigit() or not 1 <= int(text) <= MAX_RETENTION_DAYS:
        raise InvalidBusinessDate(f"{RETENTION_ENV} must be a whole number of days from 1 to "
                                  f"{MAX_RETENTION_DAYS}, not {text!r}")
    return int(text)


def max_days_ahead() -> int:
    """The configured margin ahead of the real date (default 0: today is the latest close)."""
    text = os.environ.get(AHEAD_ENV, "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) > 7:
        raise InvalidBusinessDate(f"{AHEAD_ENV} must be a whole number of days from 0 to 7, "
                                  f"not {text!r}")
    return int(text)


def _not_before(day: date, today: date, last_closed: date | None, what: str) -> None:
    """A book that has closed a day is bounded by it (it never goes backwards; a late batch may
    catch up from there however long ago that was); a book that never closed a day starts no
    more than `MAX_DAYS_BEHIND` days before today."""
    if last_closed is not None:
        if day < last_closed:
            raise InvalidBusinessDate(f"the book's business date is {last_closed}: {what} {day} "
                                      f"would go backwards")
    elif day < today - timedelta(days=MAX_DAYS_BEHIND):
        raise InvalidBusinessDate(f"cannot {what} {day}: the book has closed no day yet and that "
                                  f"is more than {MAX_DAYS_BEHIND} days before the business date "
                                  f"{today}")


def check_close_date(day: date, clock: Clock, book: LoanBook | None = None,
                     ahead: int | None = None) -> date:
    """`day` if a close of it is allowed: not ahead of the real business date (plus the
    margin), not before the `book`'s last closed day (or, before its first close, not more than
    `MAX_DAYS_BEHIND` days back); `InvalidBusinessDate` otherwise.  Checked before anything
    is done."""
    if not isinstance(day, date):
        raise InvalidBusinessDate(f"a business date must be a date, got {day!r}")
    today = business_date(clock)
    latest = today + timedelta(days=max_days_ahead() if ahead is None else ahead)
    if day > latest:
        raise InvalidBusinessDate(f"cannot close {day}: the real business date is {today} and a "
                                  f"close may be at most {latest}")
    _not_before(day, today, book.last_closed_day() if book is not None else None, "closing")
    return day


def check_run_date(day: date, clock: Clock, last_closed: date | None) -> date:
    """`day` if a day's collection run (auto-debit) may be booked for it: not after today's
    business date (money is never pulled for a day that has not come), and not before the
    book's last closed day (its loans are past it) or, before the first close, not more than
    `MAX_DAYS_BEHIND` days back.  `last_closed` is read by the caller in its own transaction."""
    today = business_date(clock)
    if day > today:
        raise InvalidBusinessDate(f"cannot run for {day}: the business date is {today}")
    _not_before(day, today, last_closed, "running for")
    return day


def close_business_day(book: LoanBook, clock: Clock, day: date | None = None,
                       progress: Callable[[int], None] | None = None) -> EodReport:
    """Close `day` (default: today) after checking it against the real date; the book refuses
    a day before its last closed one and closes any skipped days first, in order."""
    day = check_close_date(business_date(clock) if day is None else day, clock, book)
    return book.end_of_day(day, progress=progress)


@dataclass
class DayClosed:
    """What a close did: the book's report and the registrations erased for want of consent."""

    report: EodReport
    unconsented_erased: list[str]

    @property
    def business_date(self) -> date:
        return self.report.business_date


def close_day(platform: "Platform", actor: Principal, day: date | None = None,
              progress: Callable[[int], None] | None = None) -> DayClosed:
    """Close `day` (default: today) for the whole platform: the book's close (checked against
    the real date, skipped days first), then the erasure of registrations with no consent
    older than the retention, measured against the day closed.  Every setting and the date are
    checked before anything is done; the erasures are one transaction after the book's close,
    so a close that is run again (or picks up after a failure) erases only what is left."""
    actor.require(Perm.OPERATE)
    retention = unconsented_retention_days()
    report = close_business_day(platform.book, platform.clock, day, progress=progress)
    from puhui.services.privacy import purge_unconsented_on_close

    with platform.unit() as session:
        erased = purge_unconsented_on_close(platform, session, actor, report.business_date,
                                            retention)
    from puhui.services.lines import sync_lines

    with platform.unit() as session:  # lines expire and get repaid principal back
        sync_lines(platform, session, actor, report.business_date)
    return DayClosed(report, erased)
