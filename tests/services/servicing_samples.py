"""A platform with loans booked straight into its book, a hand-moved clock, and two officers
(the maker and the checker), for the servicing tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from puhui.ledger.accounts import Acct
from puhui.loans.events import Disbursement, LineOpening, Draw, LoanEvent
from puhui.loans.product import AllocationRule, Component, LoanProduct, RepaymentMethod
from puhui.loans.snapshot import to_state
from puhui.services import servicing
from puhui.services.access import ROLE_PERMS, Principal, Role
from puhui.services.clock import ManualClock, at_business_date, business_date
from puhui.services.platform import Platform

START = date(2026, 3, 2)
ONE = timedelta(days=1)
TERM = LoanProduct("EI6", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"), term_periods=6,
                   instalment_fee_fixed=300, upfront_fee_rate=Decimal("0.01"))
#: one instalment, penalty settled last: a receipt can clear all but the penalty
PENALTY_LAST = LoanProduct(
    "EI1", RepaymentMethod.EQUAL_INSTALMENT, Decimal("0.12"), term_periods=1,
    allocation=AllocationRule((Component.PRINCIPAL, Component.INTEREST, Component.FEE,
                               Component.PENALTY), oldest_first=False))
LINE = LoanProduct("RV30", RepaymentMethod.REVOLVING, Decimal("0.1825"), term_days=30)
MAKER = Principal("K-maker", Role.CREDIT_OFFICER, ROLE_PERMS[Role.CREDIT_OFFICER], None)
CHECKER = Principal("K-checker", Role.CREDIT_OFFICER, ROLE_PERMS[Role.CREDIT_OFFICER], None)
ADMIN = Principal("K-admin", Role.ADMIN, ROLE_PERMS[Role.ADMIN], None)
PARTNER = Principal("K-partner", Role.PARTNER, ROLE_PERMS[Role.PARTNER], "P-1")
RECEIVABLES = (Acct.LOAN_PRINCIPAL, Acct.INTEREST_RECEIVABLE, Acct.FEE_RECEIVABLE,
               Acct.PENALTY_RECEIVABLE, Acct.BORROWER_CREDIT)


@dataclass
class Desk:
    """The platform a servicing desk works on."""

    p: Platform
    clock: ManualClock
    n: int = 0

    @property
    def today(self) -> date:
        return business_date(self.clock)

    def book_loan(self, principal: int = 60_000_00, product: LoanProduct = TERM) -> str:
        self.n += 1
        loan_id = f"LN{self.n:04d}"
        with self.p.unit() as session:
            self.p.book.open_in(session, loan_id, product)
            first: list[LoanEvent]
            if product.method is RepaymentMethod.REVOLVING:
                first = [LineOpening("open", self.today, principal),
                         Draw("draw", self.today, principal // 2)]
            else:
                first = [Disbursement("pay-out", self.today, principal)]
            self.p.book.apply_in(session, [(loan_id, e) for e in first])
        return loan_id

    def apply(self, loan_id: str, event: LoanEvent) -> None:
        with self.p.unit() as session:
            self.p.book.apply_in(session, [(loan_id, event)])

    def to_day(self, day: date) -> None:
        """Close every day before `day` and move the clock to it."""
        d = self.today
        while d < day:
            self.p.book.end_of_day(d)
            d += ONE
        self.clock.set(at_business_date(day))

    def request(self, loan_id: str, operation: str, params: dict[str, Any], key: str,
                who: Principal = MAKER, **kw: Any) -> dict:
        with self.p.unit() as session:
            return servicing.request_operation(self.p, session, who, loan_id, operation,
                                               params, key, **kw)

    def approve(self, request_id: str, key: str, who: Principal = CHECKER) -> dict:
        with self.p.unit() as session:
            return servicing.approve(self.p, session, who, request_id, key)

    def reject(self, request_id: str, key: str, note: str, who: Principal = CHECKER) -> dict:
        with self.p.unit() as session:
            return servicing.reject(self.p, session, who, request_id, key, note)

    def requests(self, **kw: Any) -> list[dict]:
        with self.p.read() as session:
            return servicing.list_requests(self.p, session, MAKER, **kw)

    def load(self, loan_id: str):
        return self.p.book.load(loan_id)

    def entries(self) -> int:
        """How many journal entries the book holds."""
        return self.p.book.verify().journal.seq

    def assert_consistent(self, loan_id: str) -> None:
        """The ledger balances, the loan's sub-ledger equals its balances, its snapshot agrees
        with its history, and the replay is the loaded loan."""
        assert all(v == 0 for v in self.p.book.trial_balance().values())
        loan = self.load(loan_id)
        sub = {a: v for (a, _), v in self.p.book.sub_ledger(loan_id).items() if a in RECEIVABLES}
        assert sub == loan.balances()
        check = self.p.book.verify_snapshots()
        assert check.agrees, (check.missing, check.disagreeing)
        with self.p.book.sessions() as session:
            replayed = self.p.book.replay(session, loan_id).account
        assert to_state(replayed) == to_state(loan)


def desk(db_url: str) -> Desk:
    clock = ManualClock(at_business_date(START))
    return Desk(Platform.open(db_url, clock=clock), clock)
