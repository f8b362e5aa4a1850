"""A synthetic small-business loan book run day by day through the real engine and database.

Why: a lender (or a new contributor) should see the whole machine work, with prompt payers, late
payers, prepayers and defaulters, and a ledger that still balances and verifies at the end.  The
behaviour mix is seeded, so a run is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable

from puhui.book import LoanBook, amount_due
from puhui.demo import DEMO_PRODUCTS
from puhui.loans.events import Disbursement, Draw, LineOpening, Prepayment, PrepaymentMode, Repayment, WriteOff
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.loans.revolving import RevolvingLine
from puhui.loans.servicing import Loan
from puhui.loans.state import LoanStatus

BEHAVIOURS = ("prompt", "prompt", "prompt", "prompt", "late", "prepayer", "defaulter")


@dataclass
class Borrower:
    loan_id: str
    behaviour: str
    lateness: int = 0


@dataclass
class SimulationResult:
    start: date
    end: date
    borrowers: list[Borrower] = field(default_factory=list)
    eod_failures: dict[str, str] = field(default_factory=dict)


def simulate(book: LoanBook, loans: int = 200, days: int = 240, start: date = date(2026, 1, 5),
             seed: int = 7, progress: Callable[[int], None] | None = None) -> SimulationResult:
    """Originate `loans` loans over the first month, then service the book for `days` days."""
    rng = random.Random(seed)
    result = SimulationResult(start, start + timedelta(days=days))
    opening: dict[date, list[tuple[Borrower, LoanProduct, int]]] = {}
    for n in range(loans):
        product = DEMO_PRODUCTS[n % len(DEMO_PRODUCTS)]
        principal = int(rng.lognormvariate(12.2, 0.7)) * 100  # whole yuan, in fen
        principal = max(product.min_principal, min(principal, 3_000_000_00))
        who = Borrower(f"LN{n + 1:06d}", rng.choice(BEHAVIOURS), rng.randint(3, 45))
        result.borrowers.append(who)
        book.open(who.loan_id, product)
        opening.setdefault(start + timedelta(days=rng.randint(0, 27)), []).append((who, product, principal))
    for offset in range(days):
        today = start + timedelta(days=offset)
        events = []
        for who, product, principal in opening.get(today, []):
            if product.method is RepaymentMethod.REVOLVING:
                events += [(who.loan_id, LineOpening(f"open:{who.loan_id}", today, principal)),
                           (who.loan_id, Draw(f"draw:{who.loan_id}:1", today, principal // 2))]
            else:
                events.append((who.loan_id, Disbursement(f"disburse:{who.loan_id}", today, principal)))
        if events:
            book.apply_many(events)
        book.apply_many(_payments(book, result.borrowers, today, rng))
        report = book.end_of_day(today)
        result.eod_failures.update(report.failures)
        if progress:
            progress(1)
    return result


def _payments(book: LoanBook, borrowers: list[Borrower], today: date, rng: random.Random) -> list:
    out = []
    for who in borrowers:
        account = book.load(who.loan_id)
        if account.status is not LoanStatus.ACTIVE:
            continue
        key = f"{who.loan_id}:{today.isoformat()}"
        if who.behaviour == "defaulter" and account.days_past_due(today) >= 120:
            out.append((who.loan_id, WriteOff(f"writeoff:{key}", today, "120 days past due")))
            continue
        if who.behaviour == "prepayer" and isinstance(account, Loan) and account.disbursed_on \
                and (today - account.disbursed_on).days == 75:
            full = rng.random() < 0.5
            amount = account.payoff_amount(today) if full else account.principal_outstanding // 3
            mode = PrepaymentMode.FULL if full else PrepaymentMode.REDUCE_INSTALMENT
            if full or amount > amount_due(account, today) + account.interest_receivable:
                out.append((who.loan_id, Prepayment(f"prepay:{key}", today, amount, mode)))
                continue
        due = amount_due(account, today)
        if due <= 0:
            continue
        dpd = account.days_past_due(today)
        if who.behaviour == "defaulter" and (isinstance(account, RevolvingLine) or dpd > 0 or rng.random() < 0.5):
            continue
        if who.behaviour == "late" and dpd < who.lateness:
            continue
        out.append((who.loan_id, Repayment(f"pay:{key}", today, due)))
    return out
