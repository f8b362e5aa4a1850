"""Revolving credit lines (随借随还): draw any time within the limit, repay any time.

Interest accrues on the drawn balance every day at the contract rate, each day rounded with the
product's rule (the convention borrowers see in daily-interest apps); the line matures after the
product's `term_days`, and any balance left after the maturity day bears penalty interest
instead.  Every repayment is applied at once, by the product's waterfall, to penalty, interest
and then principal, because everything drawn is repayable at any time.
"""

from __future__ import annotations

from datetime import date, timedelta

from puhui.calendar import rate_micros
from puhui.errors import InvalidAmount, InvalidEvent, InvalidProduct, LoanClosed
from puhui.ledger.accounts import Acct
from puhui.loans import operations as ops
from puhui.loans.accrual import daily_interest, daily_penalty
from puhui.loans.aggregate import Entries, ServicedAccount
from puhui.loans.delinquency import DEFAULT_POLICY, DelinquencyPolicy, RiskClass, days_past_due
from puhui.loans.events import (
    CreditRefund, Draw, EndOfDay, LineOpening, LoanEvent, Recovery, Repayment, WaivedCharge,
    Waiver, WriteOff,
)
from puhui.loans.product import Component, LoanProduct, RepaymentMethod
from puhui.loans.state import LoanStatus

ONE_DAY = timedelta(days=1)


class RevolvingLine(ServicedAccount):
    """A revolving line: a limit, a drawn balance, and interest charged by the day."""

    def __init__(self, loan_id: str, product: LoanProduct,
                 delinquency: DelinquencyPolicy = DEFAULT_POLICY) -> None:
        if product.method is not RepaymentMethod.REVOLVING:
            raise InvalidProduct(f"product {product.code!r} is not a revolving product")
        super().__init__(loan_id, product, delinquency)
        self.status = LoanStatus.PENDING
        self.limit = 0
        self.opened_on: date | None = None
        self.drawn = 0                  # principal outstanding
        self.interest_charged = self.interest_paid = self.interest_written_off = 0
        self.penalty_charged = self.penalty_written_off = 0
        self.penalty_paid = [0]
        self.principal_written_off = 0
        self.credit = 0
        self.accrued_until: date | None = None
        self.written_off_amount = 0
        self.recovered = 0

    # -- derived figures --------------------------------------------------------------------------
    @property
    def expires_on(self) -> date:
        """The maturity (due) date: interest runs for the days before it, penalty for those after."""
        assert self.opened_on is not None
        return self.opened_on + timedelta(days=self.product.term_days or 0)

    @property
    def principal_outstanding(self) -> int:
        return self.drawn - self.principal_written_off

    @property
    def interest_receivable(self) -> int:
        return self.interest_charged - self.interest_paid - self.interest_written_off

    @property
    def penalty_receivable(self) -> int:
        return self.penalty_charged - self.penalty_paid[0] - self.penalty_written_off

    @property
    def available(self) -> int:
        return max(0, self.limit - self.drawn) if self.status is LoanStatus.ACTIVE else 0

    def balances(self) -> dict[str, int]:
        raw = {Acct.LOAN_PRINCIPAL: self.principal_outstanding,
               Acct.INTEREST_RECEIVABLE: self.interest_receivable,
               Acct.PENALTY_RECEIVABLE: self.penalty_receivable, Acct.BORROWER_CREDIT: -self.credit}
        return {k: v for k, v in raw.items() if v}

    def owed(self) -> int:
        return self.principal_outstanding + self.interest_receivable + self.penalty_receivable

    def payoff_amount(self, on: date) -> int:
        """What a repayment on `on` must be to clear the line: everything owed with the interest
        (or penalty) of the days up to `on`, net of the credit balance."""
        work = self._working_copy()
        if work.status is LoanStatus.ACTIVE:
            work._catch_up(on)
        return max(0, work.owed() - work.credit)

    def days_past_due(self, as_of: date) -> int:
        if self.status is not LoanStatus.ACTIVE or self.owed() == 0:
            return 0
        return days_past_due(self.expires_on, as_of)

    def risk_class(self, as_of: date) -> RiskClass:
        if self.status is LoanStatus.WRITTEN_OFF:
            return RiskClass.LOSS
        return self.delinquency.risk_class(self.days_past_due(as_of))

    # -- mechanics --------------------------------------------------------------------------------
    def _working_copy(self) -> "RevolvingLine":
        work = super()._working_copy()
        work.penalty_paid = list(self.penalty_paid)
        return work

    def _handle(self, event: LoanEvent) -> Entries:
        if isinstance(event, LineOpening):
            return self._open(event)
        if isinstance(event, Recovery):
            return ops.recovery(self, event)
        if isinstance(event, CreditRefund):
            return ops.refund(self, event)
        if self.status is LoanStatus.PENDING:
            raise InvalidEvent(f"line {self.loan_id} is not open yet")
        if isinstance(event, EndOfDay):
            if self.status is not LoanStatus.ACTIVE:
                return []
            return self._catch_up(event.on + ONE_DAY) + self._settle_from_credit(event.on)
        if self.status is LoanStatus.CLOSED:
            raise LoanClosed(f"line {self.loan_id} is closed; {event.kind} refused")
        if self.status is LoanStatus.WRITTEN_OFF:
            raise LoanClosed(f"line {self.loan_id} is written off; record receipts as recoveries")
        entries = self._catch_up(event.on)
        if isinstance(event, Draw):
            return entries + self._draw(event)
        if isinstance(event, Repayment):
            return entries + self._repay(event)
        if isinstance(event, WriteOff):
            return entries + self._write_off(event)
        if isinstance(event, Waiver):
            return entries + self._waive(event)
        raise InvalidEvent(f"{event.kind} does not apply to a revolving line")

    def _open(self, event: LineOpening) -> Entries:
        if self.status is not LoanStatus.PENDING:
            raise InvalidEvent(f"line {self.loan_id} is already open")
        if not self.product.min_principal <= event.limit <= self.product.max_principal:
            raise InvalidEvent(f"limit {event.limit} is outside the product's range")
        self.status, self.limit, self.opened_on = LoanStatus.ACTIVE, event.limit, event.on
        self.accrued_until = event.on
        return []

    def _draw(self, event: Draw) -> Entries:
        if event.on >= self.expires_on:
            raise InvalidEvent(f"line {self.loan_id} matured on {self.expires_on}; no more draws")
        if event.amount > self.limit - self.drawn:
            raise InvalidEvent(f"draw of {event.amount} exceeds the available {self.limit - self.drawn}")
        fee = self.product.upfront_fee(event.amount)
        if fee >= event.amount:
            raise InvalidEvent("the draw fee would consume the whole draw")
        self.drawn += event.amount
        return [("draw", [(Acct.LOAN_PRINCIPAL, event.amount), (Acct.CASH, -(event.amount - fee)),
                          (Acct.FEE_INCOME, -fee)])]

    def _catch_up(self, through: date) -> Entries:
        """Daily interest before maturity, daily penalty after the maturity day, up to `through`."""
        start = self.accrued_until or through
        if through <= start:
            return []
        basis, rounding = self.product.day_count.basis, self.product.rounding
        balance = self.principal_outstanding
        interest_days = max(0, (min(through, self.expires_on) - start).days)
        penalty_days = max(0, (through - max(start, self.expires_on + ONE_DAY)).days)
        interest = interest_days * daily_interest(balance, rate_micros(self.product.annual_rate),
                                                  basis, rounding)
        penalty = penalty_days * daily_penalty(balance, rate_micros(self.product.penalty_rate),
                                               basis, rounding)
        self.interest_charged += interest
        self.penalty_charged += penalty
        self.accrued_until = through
        return [("daily interest", [(Acct.INTEREST_RECEIVABLE, interest), (Acct.INTEREST_INCOME, -interest)]),
                ("penalty interest", [(Acct.PENALTY_RECEIVABLE, penalty), (Acct.PENALTY_INCOME, -penalty)])]

    def _settle(self, amount: int) -> tuple[int, list[tuple[str, int]]]:
        """Apply `amount` by the waterfall; return what is left and the credit lines."""
        lines, left = [], amount
        owed = {Component.PENALTY: self.penalty_receivable, Component.INTEREST: self.interest_receivable,
                Component.PRINCIPAL: self.principal_outstanding, Component.FEE: 0}
        for c in self.product.allocation.order:
            part = min(left, owed[c])
            if part <= 0:
                continue
            left -= part
            if c is Component.PENALTY:
                self.penalty_paid[0] += part
            elif c is Component.INTEREST:
                self.interest_paid += part
            else:
                self.drawn -= part
            lines.append((ops.COMPONENT_ACCOUNT[c], -part))
        return left, lines

    def _close_if_done(self, on: date) -> None:
        if on >= self.expires_on and self.owed() == 0:
            self.status = LoanStatus.CLOSED

    def _repay(self, event: Repayment) -> Entries:
        limit = max(0, self.owed() - self.credit)
        if event.amount > limit and not self.replaying:  # no money held beyond the debt
            raise InvalidAmount(f"a repayment of {event.amount} on {event.on} exceeds everything "
                                f"owed ({limit}, after a credit balance of {self.credit})")
        left, lines = self._settle(event.amount)
        self.credit += left
        self._close_if_done(event.on)
        return [("repayment", [(Acct.CASH, event.amount)] + lines + [(Acct.BORROWER_CREDIT, -left)])]

    def _settle_from_credit(self, on: date) -> Entries:
        entries: Entries = []
        if self.credit > 0 and self.owed() > 0:
            left, lines = self._settle(self.credit)
            entries.append(("credit balance applied", [(Acct.BORROWER_CREDIT, self.credit - left)] + lines))
            self.credit = left
        self._close_if_done(on + ONE_DAY)
        return entries

    def _waive(self, event: Waiver) -> Entries:
        """Forgive penalty interest (a line charges no instalment fees): Dr penalty income /
        Cr penalty receivable, kept with the penalty written off; a line left owing nothing
        after its maturity closes."""
        if event.charge is not WaivedCharge.PENALTY:
            raise InvalidEvent(f"line {self.loan_id} charges no {event.charge.value} to waive")
        if event.amount > self.penalty_receivable:
            raise InvalidAmount(f"a waiver of {event.amount} penalty on {event.on} exceeds what "
                                f"is receivable ({self.penalty_receivable})")
        self.penalty_written_off += event.amount
        self._close_if_done(event.on)
        why = f": {event.reason}" if event.reason else ""
        return [(f"penalty waived{why}", [(Acct.PENALTY_INCOME, event.amount),
                                          (Acct.PENALTY_RECEIVABLE, -event.amount)])]

    def _write_off(self, event: WriteOff) -> Entries:
        entries = self._settle_from_credit(event.on)
        p, i, pen = self.principal_outstanding, self.interest_receivable, self.penalty_receivable
        self.principal_written_off += p
        self.interest_written_off += i
        self.penalty_written_off += pen
        self.written_off_amount = p + i + pen
        self.status = LoanStatus.WRITTEN_OFF
        return entries + [("write-off", [(Acct.LOAN_LOSS, p + i + pen), (Acct.LOAN_PRINCIPAL, -p),
                                         (Acct.INTEREST_RECEIVABLE, -i), (Acct.PENALTY_RECEIVABLE, -pen)])]
