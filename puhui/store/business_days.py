"""The book's closed business days: the last one is what the next end of day must not precede."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from puhui.calendar import utcnow
from puhui.store.models import BusinessDayRow

_DAYS = BusinessDayRow.__table__


class BusinessDayRepository:
    """Read the last closed business date; record a close."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def last_closed(self) -> date | None:
        """The latest business date closed, or None for a book that never closed a day."""
        return self.session.connection().execute(select(func.max(_DAYS.c.business_date))).scalar()

    def record(self, day: date, loans: int, entries: int, failures: int) -> None:
        """Record that `day` was closed; a repeated close (which catches up loans the first one
        missed) adds its entries and replaces the loan and failure counts."""
        conn = self.session.connection()
        now = utcnow()
        done = conn.execute(update(_DAYS).where(_DAYS.c.business_date == day).values(
            closed_at=now, loans=loans, entries=_DAYS.c.entries + entries, failures=failures))
        if done.rowcount == 0:
            conn.execute(insert(_DAYS).values(business_date=day, closed_at=now, loans=loans,
                                              entries=entries, failures=failures))
