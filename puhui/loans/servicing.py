"""The loan servicing engine: a loan is the fold of its events, and each event posts to the ledger.

`Loan.apply(event)` either changes the loan and returns the balanced journal entries the change
requires, or raises a typed error and changes nothing (the event is applied to a working copy
that is adopted only on success).  A known idempotency key with the same content is a no-op.

Accounting is on an accrual basis: interest is recognised day by day (Dr interest receivable /
Cr interest income), fees when an instalment falls due, penalty interest for each overdue day;
receipts settle receivables through the product's waterfall, and any excess is held as a credit
balance owed to the borrower.  Reversals and other corrections re-run the loan's history without
the reversed event and post the difference, so the ledger stays append-only.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import date, timedelta
from typing import Iterable

from puhui.calendar import rate_micros
from puhui.errors import DateOrderError, IdempotencyConflict, InvalidEvent, LoanClosed
from puhui.ledger.accounts import Acct
from puhui.ledger.journal import EntryDraft, Posting, balances_of
from puhui.loans import operations as ops
from puhui.loans.accrual import accrued_to, daily_penalty
from puhui.loans.delinquency import DEFAULT_POLICY, DelinquencyPolicy, RiskClass, days_past_due
from puhui.loans.events import (
    PAYMENT_KINDS, CreditRefund, Disbursement, EndOfDay, LoanEvent, PaymentReversal, Prepayment,
    Recovery, Repayment, Reschedule, WriteOff,
)
from puhui.loans.product import LoanProduct
from puhui.loans.state import InstalmentState, LoanStatus, allocate

ONE_DAY = timedelta(days=1)


class Loan:
    """One term loan: its terms, its instalments, and everything that happened to it."""

    def __init__(self, loan_id: str, product: LoanProduct,
                 delinquency: DelinquencyPolicy = DEFAULT_POLICY) -> None:
        if not loan_id:
            raise InvalidEvent("a loan needs an id")
        self.loan_id = loan_id
        self.contract_product = product
        self.product = product
        self.delinquency = delinquency
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
        self.last_date: date | None = None
        self.applied: dict[str, str] = {}
        self.history: list[tuple[LoanEvent, tuple[EntryDraft, ...]]] = []
        self.reversed: set[str] = set()

    # -- public API -----------------------------------------------------------------------------
    @classmethod
    def replay(cls, loan_id: str, product: LoanProduct, events: Iterable[LoanEvent],
               delinquency: DelinquencyPolicy = DEFAULT_POLICY) -> "Loan":
        """Rebuild a loan from its event log."""
        loan = cls(loan_id, product, delinquency)
        for event in events:
            loan.apply(event)
        return loan

    def apply(self, event: LoanEvent) -> list[EntryDraft]:
        """Apply one event; return the journal entries it posts (none for a replayed event)."""
        digest = event.content_hash()
        known = self.applied.get(event.key)
        if known is not None:
            if known == digest:
                return []
            raise IdempotencyConflict(
                f"loan {self.loan_id}: key {event.key!r} was used for a different event")
        work = self._working_copy()
        raw = work._dispatch(event)
        drafts = [
            EntryDraft(event.on, desc, tuple(Posting(a, amt, self.product.currency, self.loan_id)
                                             for a, amt in lines if amt),
                       f"{self.loan_id}:{event.key}:{n}", self.loan_id).validate()
            for n, (desc, lines) in enumerate(e for e in raw if any(amt for _, amt in e[1]))
        ]
        self.__dict__.update(work.__dict__)
        self.applied[event.key] = digest
        self.history.append((event, tuple(drafts)))
        self.last_date = max(self.last_date or event.on, event.on)
        return drafts

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
        """What a full prepayment on `on` must bring (before any credit balance is used)."""
        probe = self._working_copy()
        probe._catch_up(on, on)
        return ops.payoff(probe, on)

    def posted(self) -> list[Posting]:
        """Every posting this loan has made, in order (its sub-ledger)."""
        return [p for _, drafts in self.history for d in drafts for p in d.postings]

    # -- mechanics ------------------------------------------------------------------------------
    def _working_copy(self) -> "Loan":
        work = copy.copy(self)
        work.instalments = [copy.copy(i) for i in self.instalments]
        for inst in work.instalments:
            inst.paid, inst.written_off = dict(inst.paid), dict(inst.written_off)
            inst.capitalised = dict(inst.capitalised)
        work.penalty_paid = list(self.penalty_paid)
        work.applied, work.history, work.reversed = self.applied, self.history, set(self.reversed)
        return work

    def _dispatch(self, event: LoanEvent) -> list[tuple[str, list[tuple[str, int]]]]:
        if self.last_date is not None and event.on < self.last_date:
            raise DateOrderError(f"loan {self.loan_id}: event {event.key!r} dated {event.on} "
                                 f"is before the loan's last event on {self.last_date}")
        if isinstance(event, Disbursement):
            return self._disburse(event)
        if isinstance(event, PaymentReversal):
            return self._reverse(event)
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
        raise InvalidEvent(f"unknown event {event!r}")

    def _disburse(self, event: Disbursement) -> list[tuple[str, list[tuple[str, int]]]]:
        from puhui.loans.schedule import build_schedule

        if self.status is not LoanStatus.PENDING:
            raise InvalidEvent(f"loan {self.loan_id} is already disbursed")
        schedule = build_schedule(self.product, event.principal, event.on)
        self.status = LoanStatus.ACTIVE
        self.principal = event.principal
        self.disbursed_on = event.on
        self.instalments = [InstalmentState.from_schedule(i) for i in schedule.instalments]
        self.accrued_until = self.penalty_until = event.on
        self.level = ops.level_of(self.product, self.instalments)
        fee = schedule.upfront_fee
        return [("disbursement", [(Acct.LOAN_PRINCIPAL, event.principal),
                                  (Acct.CASH, -(event.principal - fee)), (Acct.FEE_INCOME, -fee)])]

    def _catch_up(self, through: date, fees_as_of: date) -> list[tuple[str, list[tuple[str, int]]]]:
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

    def _reverse(self, event: PaymentReversal) -> list[tuple[str, list[tuple[str, int]]]]:
        """Undo a receipt: re-run the history without it and post the difference."""
        target = next((e for e, _ in self.history if e.key == event.target), None)
        if target is None or not isinstance(target, PAYMENT_KINDS):
            raise InvalidEvent(f"loan {self.loan_id}: no receipt with key {event.target!r} to reverse")
        if target.key in self.reversed:
            raise InvalidEvent(f"loan {self.loan_id}: {event.target!r} is already reversed")
        skip = self.reversed | {target.key}
        rebuilt = Loan(self.loan_id, self.contract_product, self.delinquency)
        for past, _ in self.history:
            if past.key in skip or isinstance(past, PaymentReversal):
                continue
            try:
                rebuilt.apply(past)
            except Exception as exc:
                raise InvalidEvent(f"reversing {target.key!r} would invalidate later event "
                                   f"{past.key!r} ({exc}); reverse that first") from exc
        target_postings = [p for e, ds in self.history if e.key == target.key for d in ds
                           for p in d.postings]
        before = balances_of(p for p in self.posted())
        after = balances_of(rebuilt.posted())
        mirror = [(p.account, -p.amount) for p in target_postings]
        without = defaultdict(int, {acct: amt for (acct, _), amt in before.items()})
        for acct, amt in mirror:
            without[acct] += amt
        adjust = defaultdict(int)
        for acct in set(without) | {a for a, _ in after}:
            adjust[acct] = after.get((acct, self.product.currency), 0) - without.get(acct, 0)
        state = rebuilt.__dict__
        keep = {"applied", "history", "last_date"}
        self.__dict__.update({k: v for k, v in state.items() if k not in keep})
        self.reversed = skip
        return [(f"reversal of {target.kind} {target.key}", mirror),
                (f"reprocessing after reversal of {target.key}", sorted(adjust.items()))]
