"""Repayment schedules for every instalment method.

How a schedule is made (the same rule for every method, so it can be checked independently):
- the *principal* of each instalment follows the method's amortisation on the nominal periodic rate
  (annual rate / periods per year); rounding residue lands in the last instalment, so principal
  repaid always equals principal lent exactly;
- the *interest* of each instalment is the balance outstanding over the period times the annual
  rate times the period's day-count fraction, rounded once with the product's rule.  A first
  period that does not start on a period boundary is therefore a broken period charged on its
  actual days (`period_days`);
- under 30/360 US and 30E/360 a period of whole calendar months counts 30 days a month, so a
  monthly equal-instalment loan has exactly level instalments even from a month end;
- a bullet loan's term in days counts exactly those days (of a 360-day year under 30/360 US and
  30E/360), whatever the start date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Sequence

from puhui.calendar import RATE_SCALE, DayCount, Frequency, due_dates, rate_micros
from puhui.errors import DateOrderError, InvalidProduct
from puhui.loans.product import LoanProduct, RepaymentMethod
from puhui.money import Rounding, div_round


@dataclass(frozen=True, slots=True)
class Instalment:
    """One instalment: the period it covers and what falls due at its end (minor units)."""

    number: int
    start: date
    due: date
    principal: int
    interest: int
    fee: int = 0

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.fee


@dataclass(frozen=True, slots=True)
class RepaymentSchedule:
    """A loan's full repayment plan as quoted and contracted."""

    product: LoanProduct
    principal: int
    start: date
    upfront_fee: int
    instalments: tuple[Instalment, ...]

    @property
    def net_disbursed(self) -> int:
        return self.principal - self.upfront_fee

    @property
    def total_principal(self) -> int:
        return sum(i.principal for i in self.instalments)

    @property
    def total_interest(self) -> int:
        return sum(i.interest for i in self.instalments)

    @property
    def total_fees(self) -> int:
        return self.upfront_fee + sum(i.fee for i in self.instalments)

    @property
    def total_repayment(self) -> int:
        return sum(i.total for i in self.instalments)

    @property
    def maturity(self) -> date:
        return self.instalments[-1].due


def period_days(product: LoanProduct, start: date, end: date) -> int:
    """The days the period from `start` to `end` is charged for under `product`.

    A bullet loan's single period is its term in days under every convention but the legacy bond
    basis ``30/360``, which (like every period of a ``30/360`` loan) counts the bond-basis days
    between the dates, so that loans made under it replay unchanged.  Other periods count
    `DayCount.period_days`: whole months are 30 days each under 30/360 US and 30E/360.
    """
    day_count = product.day_count
    if product.method is RepaymentMethod.BULLET and day_count is not DayCount.THIRTY_360:
        if end < start:
            raise DateOrderError(f"period end {end} is before its start {start}")
        return (end - start).days
    return day_count.period_days(start, end)


def period_interest(balance: int, annual_rate_micros: int, days: int, basis: int,
                    rounding: Rounding = Rounding.HALF_UP) -> int:
    """Interest on `balance` for `days` of a `basis`-day year, rounded once."""
    return div_round(balance * annual_rate_micros * days, basis * RATE_SCALE, rounding)


def nominal_period_interest(balance: int, annual_rate_micros: int, periods_per_year: int,
                            rounding: Rounding = Rounding.HALF_UP) -> int:
    """Interest for one regular period at the nominal periodic rate (annual / periods per year)."""
    return div_round(balance * annual_rate_micros, periods_per_year * RATE_SCALE, rounding)


def level_payment(balance: int, annual_rate_micros: int, periods_per_year: int, periods: int,
                  rounding: Rounding = Rounding.HALF_UP) -> int:
    """The equal instalment that amortises `balance` over `periods` (numpy_financial.pmt, exact).

    With r = m/q (m rate micros, q = periods_per_year x 1e6) the annuity B.r.g/(g-1), g = (1+r)^n,
    is the rational B.m.(q+m)^n / (q.((q+m)^n - q^n)); it is rounded once in integer arithmetic,
    because a payment that is exactly a half (or whole) fen must round by the product's rule and
    a finite-precision Decimal quotient can land a hair either side of it.
    """
    if periods < 1:
        raise ValueError("periods must be >= 1")
    if annual_rate_micros == 0:
        return div_round(balance, periods, rounding)
    q = periods_per_year * RATE_SCALE
    grown = (q + annual_rate_micros) ** periods
    return div_round(balance * annual_rate_micros * grown, q * (grown - q ** periods), rounding)


def principal_parts(method: RepaymentMethod, balance: int, periods: int, rate_micros_: int,
                    periods_per_year: int, rounding: Rounding, grace: int = 0,
                    level: int | None = None) -> list[int]:
    """How `balance` is repaid over `periods`; the last part takes the rounding residue.

    `level` fixes the instalment (equal instalment) or principal part (equal principal) instead of
    deriving it from `periods`: the schedule then ends as soon as the balance is repaid, which is
    how a prepayment that keeps the instalment shortens the term.
    """
    if method is RepaymentMethod.INTEREST_FIRST or method is RepaymentMethod.BULLET:
        return [0] * (periods - 1) + [balance]
    amortising = periods - grace
    parts: list[int] = [0] * grace
    remaining = balance
    if method is RepaymentMethod.EQUAL_INSTALMENT:
        payment = level if level is not None else level_payment(
            balance, rate_micros_, periods_per_year, amortising, rounding)
        for k in range(amortising):
            if k == amortising - 1:
                part = remaining
            else:
                part = payment - nominal_period_interest(remaining, rate_micros_, periods_per_year,
                                                         rounding)
                part = max(0, min(part, remaining))
            parts.append(part)
            remaining -= part
            if remaining == 0 and level is not None:
                break
    elif method is RepaymentMethod.EQUAL_PRINCIPAL:
        per = level if level is not None else div_round(balance, amortising, rounding)
        if level is None and per * (amortising - 1) > balance:
            per = balance // amortising
        for k in range(amortising):
            part = remaining if k == amortising - 1 else min(per, remaining)
            parts.append(part)
            remaining -= part
            if remaining == 0 and level is not None:
                break
    else:
        raise InvalidProduct(f"{method.value} loans have no instalment schedule")
    if remaining:
        raise InvalidProduct("the level amount is too small to repay the balance in the term")
    return parts


def amortise(product: LoanProduct, balance: int, start: date, dues: Sequence[date], *,
             grace: int = 0, level: int | None = None, fee_base: int | None = None,
             first_number: int = 1, method: RepaymentMethod | None = None) -> list[Instalment]:
    """Instalments repaying `balance` from `start` over the due dates `dues`.

    Used for the original schedule and again for what remains after a partial prepayment or a
    rescheduling; `fee_base` is the principal the per-instalment fee is a share of.
    """
    method = method or product.method
    if not dues:
        raise InvalidProduct("a schedule needs at least one due date")
    prev = start
    for d in dues:
        if d <= prev:
            raise DateOrderError(f"due date {d} is not after {prev}")
        prev = d
    micros = rate_micros(product.annual_rate)
    parts = principal_parts(method, balance, len(dues), micros, product.frequency.periods_per_year,
                            product.rounding, grace, level)
    fee = product.instalment_fee(balance if fee_base is None else fee_base)
    out: list[Instalment] = []
    outstanding, period_start = balance, start
    basis = product.day_count.basis
    for k, (due, part) in enumerate(zip(dues, parts)):
        days = period_days(product, period_start, due)
        interest = period_interest(outstanding, micros, days, basis, product.rounding)
        out.append(Instalment(first_number + k, period_start, due, part, interest, fee))
        outstanding -= part
        period_start = due
    return out


def schedule_dates(product: LoanProduct, start: date) -> list[date]:
    """The contractual due dates of a loan of `product` disbursed on `start`."""
    if product.method is RepaymentMethod.BULLET:
        return [start + timedelta(days=product.term_days or 0)]
    if product.method is RepaymentMethod.REVOLVING:
        raise InvalidProduct("a revolving line has no fixed schedule; see puhui.loans.revolving")
    return due_dates(start, product.term_periods or 0, product.frequency, product.repayment_day,
                     product.min_first_period_days)


def build_schedule(product: LoanProduct, principal: int, start: date) -> RepaymentSchedule:
    """The contractual repayment schedule of `principal` lent on `start` under `product`."""
    product.check_principal(principal)
    dues = schedule_dates(product, start)
    instalments = amortise(product, principal, start, dues, grace=product.grace_periods)
    return RepaymentSchedule(product, principal, start, product.upfront_fee(principal),
                             tuple(instalments))


__all__ = [
    "DayCount", "Frequency", "Instalment", "RepaymentSchedule", "amortise", "build_schedule",
    "level_payment", "nominal_period_interest", "period_days", "period_interest", "principal_parts",
    "schedule_dates",
]
