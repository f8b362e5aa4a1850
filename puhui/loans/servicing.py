"""The loan servicing engine: a loan is the fold of its events, and each event posts to the ledger.

`Loan.apply(event)` (see `puhui.loans.aggregate`) either changes the loan and returns the balanced
journal entries the change requires, or raises a typed error and changes nothing.

Accounting is on an accrual basis: interest is recognised day by day (Dr interest receivable /
Cr interest income), fees when an instalment falls due, penalty interest for each overdue day;
receipts settle receivables through the product's waterfall, and any excess is held as a credit
balance owed to the borrower and applied as instalments fall due; a receipt that with the credit
covers the payoff settles the loan, and no receipt may exceed the payoff (docs/loan-rules.md).
"""

from __future__ import annotations

import copy
from datetime import date, timedelta

from puhui.calendar import rate_micros
from puhui.errors import InvalidEvent, LoanClosed
from puhui.ledger.accounts import Acct
from puhui.loans import operations as ops
from puhui.loans.accrual import accrued_to, daily_penalty
from puhui.loans.aggregate import Entries, ServicedAccount
from puhui.loans.delinquency import DEFAULT_POLICY, DelinquencyPolicy, RiskClass, days_past_due
from puhui.loans.events import (
    CreditRefund, Disbursement, EndOfDay, LoanEvent, Prepayment, Recovery, Repayment, Reschedule,
    Waiver, WriteOff,
)
from puhui.loans.product import LoanProduct
from puhui.loans.state import InstalmentState, LoanStatus

ONE_DAY = timedelta(days=1)


class Loan(ServicedAccount):
    """One term loan: its terms, its instalments, and everything that happened to it."""

    def __init__(self, loan_id: str, product: LoanProduct,
                 delinquency: DelinquencyPolicy = DEFAULT_POLICY) -> None:
        super().__init__(loan_id, product, delinquency)
        self.status = LoanStatus.PENDING
        self.principal = 0
        self.disbursed_on: date | None = None
        self.instalments: list[InstalmentState] = []
        self.accrued_until: date | None = None   # interest recognised for all days before this
        self.penalty_until: date | None = None   # penalty charged for all days before this
        self.penalty_charged = 0
        self.penalty_paid = [0]
        self.penalty_written_off = 0
        self.penalty_capitalised = 0
        self.credit = 0                          # borrower's credit balance (overpayments)
        self.written_off_amount = 0
        self.recovered = 0
        self.level: int | None = None            # current level instalment / principal part

    # -- derived figures ------------------------------------------------------------------------
    @property
    def principal_outstanding(self) -> int:
        return sum(i.principal_unpaid() for i in self.instalments)

    @property
    def interest_receivable(self) -> int:
        return sum(i.interest_receivable() for i in self.instalments)

    @property
    def fee_receivable(self) -> int:
        return sum(i.fee_receivable() for i in self.instalments)

    @property
    def penalty_receivable(self) -> int:
        return (self.penalty_charged - self.penalty_paid[0] - self.penalty_written_off
                - self.penalty_capitalised)

    def due_instalments(self, as_of: date) -> list[InstalmentState]:
        return [i for i in self.instalments if i.due <= as_of and i.in_arrears()]

    def overdue_principal(self, as_of: date) -> int:
        return sum(i.principal_unpaid() for i in self.instalments if i.due < as_of)

    def days_past_due(self, as_of: date) -> int:
        oldest = next((i.due for i in self.instalments if i.due < as_of and i.in_arrears()), None)
        return days_past_due(oldest, as_of) if self.status is LoanStatus.ACTIVE else 0

    def bucket(self, as_of: date) -> str:
        return self.delinquency.bucket(self.days_past_due(as_of))

    def risk_class(self, as_of: date) -> RiskClass:
        if self.status is LoanStatus.WRITTEN_OFF:
            return RiskClass.LOSS
        return self.delinquency.risk_class(self.days_past_due(as_of))

    def balances(self) -> dict[str, int]:
        """The loan's own view of its ledger balances (signed: debit > 0), for reconciliation."""
        raw = {
            Acct.LOAN_PRINCIPAL: self.principal_outstanding,
            Acct.INTEREST_RECEIVABLE: self.interest_receivable,
            Acct.FEE_RECEIVABLE: self.fee_receivable,
            Acct.PENALTY_RECEIVABLE: self.penalty_receivable,
            Acct.BORROWER_CREDIT: -self.credit,
        }
        return {k: v for k, v in raw.items() if v}

    def payoff_amount(self, on: date) -> int:
        """What a full prepayment on `on` must bring: everything owed less the borrower's credit
        balance, which the settlement uses first (so paying it never leaves credit behind)."""
        probe = self._working_copy()
        probe._catch_up(on, on)
        return ops.net_payoff(probe)

    # -- mechanics ------------------------------------------------------------------------------
    def _working_copy(self) -> "Loan":
        work = super()._working_copy()
        work.instalments = [copy.copy(i) for i in self.instalments]
        for inst in work.instalments:
            inst.paid, inst.written_off = dict(inst.paid), dict(inst.written_off)
            inst.capitalised = dict(inst.capitalised)
        work.penalty_paid = list(self.penalty_paid)
        return work

    def _handle(self, event: LoanEvent) -> Entries:
        if isinstance(event, Disbursement):
            return self._disburse(event)
        if isinstance(event, (Recovery, CreditRefund)):
            return ops.recovery(self, event) if isinstance(event, Recovery) else ops.refund(self, event)
        if self.status is LoanStatus.PENDING:
            raise InvalidEvent(f"loan {self.loan_id} has not been disbursed")
        if isinstance(event, EndOfDay):
            if self.status is not LoanStatus.ACTIVE:
                return []
            entries = self._catch_up(event.on + ONE_DAY, event.on)
            return entries + ops.apply_credit(self, event.on)
        if self.status is LoanStatus.CLOSED:
            raise LoanClosed(f"loan {self.loan_id} is closed; {event.kind} refused")
        if self.status is LoanStatus.WRITTEN_OFF:
            raise LoanClosed(f"loan {self.loan_id} is written off; record receipts as recoveries")
        entries = self._catch_up(event.on, event.on)
        if isinstance(event, Repayment):
            return entries + ops.repayment(self, event)
        if isinstance(event, Prepayment):
            return entries + ops.prepayment(self, event)
        if isinstance(event, Reschedule):
            return entries + ops.reschedule(self, event)
        if isinstance(event, WriteOff):
            return entries + ops.write_off(self, event)
        if isinstance(event, Waiver):
            return entries + ops.waive(self, event)
        raise InvalidEvent(f"unknown event {event!r}")

    def _disburse(self, event: Disbursement) -> Entries:
        from puhui.loans.schedule import build_schedule

        if self.status is not LoanStatus.PENDING:
            raise InvalidEvent(f"loan {self.loan_id} is already disbursed")
        schedule = build_schedule(self.product, event.principal, event.on)
        if event.contracted is not None and event.contracted != schedule:
            raise InvalidEvent(f"loan {self.loan_id}: the schedule its terms give on {event.on} "
                               "is not the one its contract disclosed")
        self.status = LoanStatus.ACTIVE
        self.principal = event.principal
        self.disbursed_on = event.on
        self.instalments = [InstalmentState.from_schedule(i) for i in schedule.instalments]
        self.accrued_until = self.penalty_until = event.on
        self.level = ops.level_of(self.product, self.instalments)
        fee = schedule.upfront_fee
        return [("disbursement", [(Acct.LOAN_PRINCIPAL, event.principal),
                                  (Acct.CASH, -(event.principal - fee)), (Acct.FEE_INCOME, -fee)])]

    def _catch_up(self, through: date, fees_as_of: date) -> Entries:
        """Recognise interest and penalty for every day before `through`; charge fees now due."""
        rounding = self.product.rounding
        interest = 0
        for inst in self.instalments:
            if inst.interest_accrued < inst.interest and inst.start < through:
                target = accrued_to(inst.interest, (inst.due - inst.start).days,
                                    (min(through, inst.due) - inst.start).days, rounding)
                if target > inst.interest_accrued:
                    interest += target - inst.interest_accrued
                    inst.interest_accrued = target
        self.accrued_until = max(self.accrued_until or through, through)
        penalty = self._penalty_through(through)
        fees = 0
        for inst in self.instalments:
            if inst.due <= fees_as_of and not inst.fee_charged:
                inst.fee_charged = True
                fees += inst.fee
        return [
            ("interest accrual", [(Acct.INTEREST_RECEIVABLE, interest), (Acct.INTEREST_INCOME, -interest)]),
            ("penalty interest accrual", [(Acct.PENALTY_RECEIVABLE, penalty),
                                          (Acct.PENALTY_INCOME, -penalty)]),
            ("instalment fees due", [(Acct.FEE_RECEIVABLE, fees), (Acct.FEE_INCOME, -fees)]),
        ]

    def _penalty_through(self, through: date) -> int:
        start = self.penalty_until or through
        if through <= start:
            return 0
        rate = rate_micros(self.product.penalty_rate)
        basis, rounding = self.product.day_count.basis, self.product.rounding
        cuts = sorted({i.due + ONE_DAY for i in self.instalments if start < i.due + ONE_DAY < through})
        total, a = 0, start
        for b in cuts + [through]:
            overdue = sum(i.principal_unpaid() for i in self.instalments if i.due < a)
            total += (b - a).days * daily_penalty(overdue, rate, basis, rounding)
            a = b
        self.penalty_charged += total
        self.penalty_until = through
        return total
