"""What each money event does to a loan, as pure state changes plus the ledger lines they need.

Each function takes the loan's working copy (`servicing.Loan`), mutates it, and returns
``[(description, [(account, signed amount), ...]), ...]``; `Loan.apply` turns these into
validated journal entries.  Interest and penalty have already been brought up to the event date.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from puhui.calendar import due_dates, rate_micros
from puhui.errors import InvalidAmount, InvalidEvent, LoanClosed
from puhui.ledger.accounts import Acct
from puhui.loans.events import (
    CreditRefund, Prepayment, PrepaymentMode, Recovery, Repayment, Reschedule, WaivedCharge, Waiver,
    WriteOff,
)
from puhui.loans.product import Component, LoanProduct, RepaymentMethod
from puhui.loans.schedule import amortise, level_payment
from puhui.loans.state import Allocation, InstalmentState, LoanStatus, allocate

if TYPE_CHECKING:
    from puhui.loans.servicing import Loan

Lines = list[tuple[str, int]]
Entries = list[tuple[str, Lines]]
P, I, F, PEN = Component.PRINCIPAL, Component.INTEREST, Component.FEE, Component.PENALTY
COMPONENT_ACCOUNT = {P: Acct.LOAN_PRINCIPAL, I: Acct.INTEREST_RECEIVABLE, F: Acct.FEE_RECEIVABLE,
                     PEN: Acct.PENALTY_RECEIVABLE}


def level_of(product: LoanProduct, instalments: list[InstalmentState]) -> int | None:
    """The level amount that 'keep the instalment' prepayments preserve (None if not amortising)."""
    amortising = [i for i in instalments if i.principal > 0]
    if not amortising:
        return None
    balance = sum(i.principal for i in amortising)
    if product.method is RepaymentMethod.EQUAL_INSTALMENT:
        return level_payment(balance, rate_micros(product.annual_rate),
                             product.frequency.periods_per_year, len(amortising), product.rounding)
    if product.method is RepaymentMethod.EQUAL_PRINCIPAL:
        return amortising[0].principal
    return None


def _settle_lines(alloc: Allocation) -> Lines:
    return [(COMPONENT_ACCOUNT[c], -v) for c, v in alloc.by_component.items() if v]


def _allocate(loan: "Loan", amount: int, due: list[InstalmentState]) -> Allocation:
    return allocate(amount, due, loan.penalty_receivable, loan.product.allocation, loan.penalty_paid)


def settled(loan: "Loan") -> bool:
    """True once every instalment is fully charged and fully paid and no penalty is owed."""
    return loan.penalty_receivable == 0 and all(
        i.interest_accrued == i.interest and (i.fee_charged or i.fee == 0)
        and not i.in_arrears() for i in loan.instalments)


def _close_if_settled(loan: "Loan") -> None:
    if loan.status is LoanStatus.ACTIVE and settled(loan):
        loan.status = LoanStatus.CLOSED


def payoff(loan: "Loan") -> int:
    """Everything owed once accrual is brought to date: principal, interest, fees due, penalty."""
    return (loan.principal_outstanding + loan.interest_receivable + loan.fee_receivable
            + loan.penalty_receivable)


def net_payoff(loan: "Loan") -> int:
    """What the borrower must still bring to settle everything: the payoff less the credit
    balance the lender already holds for them (never below zero)."""
    return max(0, payoff(loan) - loan.credit)


def _refuse_excess(loan: "Loan", amount: int, on: date, what: str) -> None:
    """No new receipt may exceed what is owed: the lender does not hold a borrower's money
    beyond the debt (it would sit as credit while principal kept bearing interest).  Stored
    history (`loan.replaying`) was accepted before this rule and is not refused by it."""
    if loan.replaying:
        return
    limit = net_payoff(loan)
    if amount > limit:
        raise InvalidAmount(f"a {what} of {amount} on {on} exceeds everything owed ({limit}, after "
                            f"a credit balance of {loan.credit}); pay at most the payoff amount")


def apply_credit(loan: "Loan", as_of: date) -> Entries:
    """Use the borrower's credit balance on whatever has fallen due."""
    if loan.credit <= 0 or loan.status is not LoanStatus.ACTIVE:
        return []
    alloc = _allocate(loan, loan.credit, loan.due_instalments(as_of))
    used = alloc.total()
    loan.credit -= used
    _close_if_settled(loan)
    return [("credit balance applied", [(Acct.BORROWER_CREDIT, used)] + _settle_lines(alloc))]


def repayment(loan: "Loan", event: Repayment) -> Entries:
    """A receipt: settle what is due through the waterfall and hold the rest as credit, to be
    applied as instalments fall due; a receipt that, with the credit, covers everything owed
    settles the loan in full on the day (interest stops).  More than the payoff is refused.
    A stored receipt accepted under rules 1 (`event.rules`), or one above the payoff, is booked
    as rules 1 booked it."""
    if event.rules == 1 or (loan.replaying and event.amount > net_payoff(loan)):
        return _repayment_as_first_accepted(loan, event)
    entries = apply_credit(loan, event.on)
    _refuse_excess(loan, event.amount, event.on, "repayment")
    if event.amount + loan.credit >= payoff(loan):
        return entries + _settle_in_full(loan, event.on, event.amount, "repayment")
    alloc = _allocate(loan, event.amount, loan.due_instalments(event.on))
    loan.credit += alloc.leftover
    _close_if_settled(loan)
    return entries + [("repayment", [(Acct.CASH, event.amount)] + _settle_lines(alloc)
                       + [(Acct.BORROWER_CREDIT, -alloc.leftover)])]


def _repayment_as_first_accepted(loan: "Loan", event: Repayment) -> Entries:
    """A stored repayment booked as rules 1 booked it (it was accepted under them, or is above
    the payoff): what is due is settled through the waterfall and the rest, even when it covers
    everything owed, is held as the borrower's credit (applied as instalments fall due,
    refundable); the credit already held is not used first, and the loan stays open until the
    credit has settled it.  Never used for a new event."""
    alloc = _allocate(loan, event.amount, loan.due_instalments(event.on))
    loan.credit += alloc.leftover
    _close_if_settled(loan)
    return [("repayment", [(Acct.CASH, event.amount)] + _settle_lines(alloc)
             + [(Acct.BORROWER_CREDIT, -alloc.leftover)])]


def _current(loan: "Loan", on: date) -> tuple[InstalmentState | None, list[InstalmentState]]:
    """The instalment whose period runs on `on` (not yet due) and the ones after it."""
    ahead = [i for i in loan.instalments if i.due > on]
    return (ahead[0], ahead[1:]) if ahead else (None, [])


def _cut_current(loan: "Loan", current: InstalmentState, on: date, principal: int) -> None:
    """End the running period on `on`: interest so far, `principal` of it repaid or moved."""
    current.interest = current.interest_accrued
    current.due = on
    current.principal = principal
    current.fee = 0


def _drop(loan: "Loan", gone: list[InstalmentState]) -> None:
    ids = {id(i) for i in gone}
    loan.instalments = [i for i in loan.instalments if id(i) not in ids]


def _settle_in_full(loan: "Loan", on: date, cash: int, description: str) -> Entries:
    """Close the loan on `on` with `cash` plus the credit balance, which together cover the
    payoff exactly (callers refuse more for a new event): the running period ends today, later
    ones go.  Cash beyond the payoff (stored history only) is held as credit, as it was when
    that prepayment was accepted."""
    owed = payoff(loan)
    credit_used = max(0, owed - cash)
    excess = max(0, cash - owed)
    assert credit_used <= loan.credit, "callers make cash and credit cover the payoff"
    assert excess == 0 or loan.replaying, "callers bound a new event's cash by the net payoff"
    current, later = _current(loan, on)
    if current is not None:
        _cut_current(loan, current, on, sum(i.principal_unpaid() for i in [current] + later))
        _drop(loan, later)
    loan.credit += excess - credit_used
    alloc = _allocate(loan, owed, loan.due_instalments(on))
    assert alloc.leftover == 0, "the payoff settles everything due exactly"
    _close_if_settled(loan)
    return [(description, [(Acct.CASH, cash), (Acct.BORROWER_CREDIT, credit_used - excess)]
             + _settle_lines(alloc))]


def prepayment(loan: "Loan", event: Prepayment) -> Entries:
    """Repay ahead of schedule: in full (close) or in part (re-amortise what remains).  A part
    that with the credit covers the payoff settles the loan; under rules 1 (stored history) only
    a part that alone covers it did, and the rest was re-amortised with the credit left held."""
    on, amount = event.on, event.amount
    _refuse_excess(loan, amount, on, "prepayment")
    owed = payoff(loan)
    current, later = _current(loan, on)
    covering = amount + (0 if event.rules == 1 else loan.credit)
    if event.mode is PrepaymentMode.FULL or covering >= owed:
        if amount + loan.credit < owed:
            raise InvalidEvent(f"full prepayment on {on} needs {owed - loan.credit} (after a credit "
                               f"balance of {loan.credit}), got {amount}")
        return _settle_in_full(loan, on, amount, "full prepayment")
    if current is None:
        raise InvalidEvent("every instalment is already due: pay them with a repayment")
    due = loan.due_instalments(on)
    needed = sum(i.unpaid(c) for i in due for c in (P, I, F)) + loan.penalty_receivable \
        + current.interest_accrued
    if amount <= needed:
        raise InvalidEvent(f"a partial prepayment on {on} must exceed arrears and accrued "
                           f"interest ({needed}), got {amount}")
    part = amount - needed
    remaining = sum(i.principal_unpaid() for i in [current] + later) - part
    dues = [current.due] + [i.due for i in later]
    grace_left = max(0, loan.product.grace_periods - current.number + 1)
    keep = loan.level if event.mode is PrepaymentMode.SHORTEN_TERM else None
    _cut_current(loan, current, on, part)
    fresh = amortise(loan.product, remaining, on, dues, grace=grace_left, level=keep,
                     fee_base=loan.principal, first_number=current.number + 1)
    _drop(loan, later)
    loan.instalments += [InstalmentState.from_schedule(i) for i in fresh]
    if keep is None:
        loan.level = level_of(loan.product, loan.instalments[-len(fresh):])
    alloc = _allocate(loan, amount, loan.due_instalments(on))
    assert alloc.leftover == 0, "partial prepayment must be absorbed exactly"
    return [(f"partial prepayment ({event.mode.value})", [(Acct.CASH, amount)] + _settle_lines(alloc))]


def reschedule(loan: "Loan", event: Reschedule) -> Entries:
    """Move all remaining principal (and, if asked, the arrears) onto a new schedule from `on`."""
    method = event.method or loan.product.method
    if method in (RepaymentMethod.BULLET, RepaymentMethod.REVOLVING):
        raise InvalidEvent("a loan can be rescheduled onto instalment methods only")
    new_product = loan.product.with_terms(
        method=method, term_periods=event.periods, term_days=None, grace_periods=0,
        annual_rate=loan.product.annual_rate if event.annual_rate is None else event.annual_rate)
    current, later = _current(loan, event.on)
    if current is not None:
        _cut_current(loan, current, event.on, current.principal_unpaid())
        _drop(loan, later)
    moved = sum(i.principal_unpaid() for i in loan.instalments) + sum(
        i.principal_unpaid() for i in later)
    for inst in loan.instalments:
        inst.principal -= inst.principal_unpaid()
    lines: Lines = []
    capitalised = 0
    if event.capitalise_arrears:
        for inst in loan.instalments:
            for c, acct in ((I, Acct.INTEREST_RECEIVABLE), (F, Acct.FEE_RECEIVABLE)):
                amt = inst.unpaid(c)
                if amt:
                    inst.capitalised[c] += amt
                    capitalised += amt
                    lines.append((acct, -amt))
        pen = loan.penalty_receivable
        if pen:
            loan.penalty_capitalised += pen
            capitalised += pen
            lines.append((Acct.PENALTY_RECEIVABLE, -pen))
    balance = moved + capitalised
    if balance <= 0:
        raise InvalidEvent("nothing left to reschedule")
    dues = due_dates(event.on, event.periods, new_product.frequency, new_product.repayment_day,
                     new_product.min_first_period_days)
    number = max((i.number for i in loan.instalments), default=0) + 1
    fresh = amortise(new_product, balance, event.on, dues, fee_base=loan.principal, first_number=number)
    loan.instalments += [InstalmentState.from_schedule(i) for i in fresh]
    loan.product = new_product
    loan.level = level_of(new_product, loan.instalments[-len(fresh):])
    _close_if_settled(loan)
    return [("reschedule: arrears capitalised", [(Acct.LOAN_PRINCIPAL, capitalised)] + lines)]


def write_off(loan: "Loan", event: WriteOff) -> Entries:
    """Charge everything still receivable to loan losses; the debt is pursued as recoveries."""
    entries = apply_credit(loan, event.on)
    if loan.status is not LoanStatus.ACTIVE:
        raise InvalidEvent(f"loan {loan.loan_id} has nothing left to write off")
    lines: Lines = []
    total = 0
    for c, get in ((P, InstalmentState.principal_unpaid), (I, InstalmentState.interest_receivable),
                   (F, InstalmentState.fee_receivable)):
        amount = 0
        for inst in loan.instalments:
            part = get(inst)
            inst.written_off[c] += part
            amount += part
        lines.append((COMPONENT_ACCOUNT[c], -amount))
        total += amount
    pen = loan.penalty_receivable
    loan.penalty_written_off += pen
    lines.append((Acct.PENALTY_RECEIVABLE, -pen))
    total += pen
    loan.written_off_amount = total
    loan.status = LoanStatus.WRITTEN_OFF
    return entries + [(f"write-off{': ' + event.reason if event.reason else ''}",
                       [(Acct.LOAN_LOSS, total)] + lines)]


def recovery(loan: "Loan", event: Recovery) -> Entries:
    """Cash collected after write-off: recovery income up to what was lost, excess held as credit."""
    if loan.status is LoanStatus.CLOSED:
        raise LoanClosed(f"loan {loan.loan_id} is closed; there is nothing to recover")
    if loan.status is not LoanStatus.WRITTEN_OFF:
        raise InvalidEvent(f"loan {loan.loan_id} is {loan.status.value}; recoveries follow a write-off")
    part = min(event.amount, loan.written_off_amount - loan.recovered)
    if event.amount > part and not loan.replaying:  # no money held beyond the debt written off
        raise InvalidAmount(f"a recovery of {event.amount} exceeds what is still written off "
                            f"({part})")
    loan.recovered += part
    loan.credit += event.amount - part
    return [("recovery after write-off", [(Acct.CASH, event.amount), (Acct.RECOVERY_INCOME, -part),
                                          (Acct.BORROWER_CREDIT, -(event.amount - part))])]


def refund(loan: "Loan", event: CreditRefund) -> Entries:
    """Return (part of) the borrower's credit balance."""
    if event.amount > loan.credit:
        raise InvalidEvent(f"refund of {event.amount} exceeds the credit balance of {loan.credit}")
    loan.credit -= event.amount
    return [("credit balance refunded", [(Acct.BORROWER_CREDIT, event.amount), (Acct.CASH, -event.amount)])]


def waive(loan: "Loan", event: Waiver) -> Entries:
    """Forgive penalty or fees receivable: the income they were charged as is reversed (Dr
    penalty or fee income / Cr the receivable).  Fees are forgiven oldest instalment first.  The
    forgiven amount is kept with what was written off on the loan (`penalty_written_off`, an
    instalment's `written_off`), so every balance derived from them drops by it; the event's
    kind tells a waiver from a write-off.  A loan the waiver leaves owing nothing is settled."""
    if event.charge is WaivedCharge.PENALTY:
        owed = loan.penalty_receivable
    else:
        owed = loan.fee_receivable
    if event.amount > owed:
        raise InvalidAmount(f"a waiver of {event.amount} {event.charge.value} on {event.on} "
                            f"exceeds what is receivable ({owed})")
    if event.charge is WaivedCharge.PENALTY:
        loan.penalty_written_off += event.amount
        income, receivable = Acct.PENALTY_INCOME, Acct.PENALTY_RECEIVABLE
    else:
        left = event.amount
        for inst in loan.instalments:
            part = min(left, inst.fee_receivable())
            inst.written_off[F] += part
            left -= part
        income, receivable = Acct.FEE_INCOME, Acct.FEE_RECEIVABLE
    _close_if_settled(loan)
    why = f": {event.reason}" if event.reason else ""
    return [(f"{event.charge.value} waived{why}", [(income, event.amount),
                                                   (receivable, -event.amount)])]


__all__ = ["COMPONENT_ACCOUNT", "apply_credit", "level_of", "net_payoff", "payoff", "prepayment",
           "recovery", "refund", "repayment", "reschedule", "settled", "waive", "write_off"]
