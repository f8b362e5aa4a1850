"""What the collections tests share: a book with loans paid out on a known date, a staff actor,
and moving the clock to a business-zone moment."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

from puhui.demo import DEMO_PRODUCTS
from puhui.loans.events import Disbursement, Repayment
from puhui.services.access import Perm, Principal, Role
from puhui.services.clock import BUSINESS_ZONE, ManualClock
from puhui.services.platform import Platform

#: 经营贷 equal instalment, 9.85%, 12 months, due on the 20th.
PRODUCT = next(p for p in DEMO_PRODUCTS if p.code == "SME-EI-12")
PAID_OUT = date(2026, 1, 5)
FIRST_DUE = date(2026, 1, 20)
PRINCIPAL = 100_000_00
OFFICER = Principal("K-officer-1", Role.CREDIT_OFFICER,
                    frozenset({Perm.READ, Perm.REVIEW, Perm.DISBURSE, Perm.SERVICE}), None)
#: The second officer who approves what a collector asks of staff servicing (maker-checker).
CHECKER = Principal("K-officer-3", Role.CREDIT_OFFICER,
                    frozenset({Perm.READ, Perm.SERVICE, Perm.APPROVE}), None)
OTHER_OFFICER = Principal("K-officer-2", Role.CREDIT_OFFICER, frozenset({Perm.READ}), None)
PARTNER = Principal("K-partner", Role.PARTNER, frozenset(Perm), "P-1")


def at(day: date, hh: int = 10, mm: int = 0) -> datetime:
    """`hh:mm` on `day` in Asia/Shanghai, as UTC."""
    return datetime.combine(day, time(hh, mm), tzinfo=BUSINESS_ZONE).astimezone(timezone.utc)


def set_day(p: Platform, day: date, hh: int = 10, mm: int = 0) -> None:
    clock = p.clock
    assert isinstance(clock, ManualClock)
    clock.set(at(day, hh, mm))


def book_loan(p: Platform, loan_id: str, principal: int = PRINCIPAL,
              on: date = PAID_OUT) -> None:
    """A loan paid out on `on` (booked straight on the book, as a migrated loan is)."""
    with p.unit() as session:
        p.book.open_in(session, loan_id, PRODUCT)
        p.book.apply_in(session, [(loan_id, Disbursement(f"disburse:{loan_id}", on,
                                                         principal))])


def repay(p: Platform, loan_id: str, amount: int, on: date, key: str) -> None:
    with p.unit() as session:
        p.book.apply_in(session, [(loan_id, Repayment(key, on, amount))])
