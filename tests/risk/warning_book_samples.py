"""A small book for the early-warning and portfolio service tests: loans booked straight into
the loan book (no origination), paid, part-paid or left unpaid on chosen dates."""

from __future__ import annotations

from datetime import date, datetime, timezone

from puhui.book import amount_due
from puhui.demo import DEMO_PRODUCTS
from puhui.loans.events import Disbursement, Repayment
from puhui.services.access import Perm, Principal, Role
from puhui.services.clock import BUSINESS_ZONE, ManualClock
from puhui.services.platform import Platform

PRODUCT = next(p for p in DEMO_PRODUCTS if p.code == "SME-EI-12")
PARTNER = Principal("partner-key", Role.PARTNER, frozenset({Perm.READ}), "P1")
OFFICER = Principal("officer-key", Role.CREDIT_OFFICER, frozenset({Perm.READ}), None)


def noon(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, tzinfo=BUSINESS_ZONE).astimezone(timezone.utc)


def open_platform(url: str, today: date) -> Platform:
    return Platform.open(url, clock=ManualClock(noon(today)))


def book_loan(p: Platform, loan_id: str, on: date, principal: int = 1_000_000) -> None:
    with p.unit() as session:
        p.book.open_in(session, loan_id, PRODUCT)
        p.book.apply_in(session, [(loan_id, Disbursement(f"disburse:{loan_id}", on, principal))])


def pay_due(p: Platform, loan_id: str, on: date, share: float = 1.0) -> int:
    """Pay (a share of) what is due on `on`; the amount paid."""
    with p.unit() as session:
        account = p.book.load_in(session, loan_id)
        amount = int(amount_due(account, on) * share)
        if amount > 0:
            p.book.apply_in(session, [(loan_id, Repayment(f"pay:{loan_id}:{on}", on, amount))])
        return amount


def due_dates(p: Platform, loan_id: str, until: date) -> list[date]:
    with p.unit() as session:
        return [i.due for i in p.book.load_in(session, loan_id).instalments if i.due <= until]
