"""The annualised all-in cost of a loan by the IRR method, and quotes that disclose it.

Why IRR: Chinese rules (PBoC announcement [2021] No. 3) require lenders to show the annualised
rate of the borrower's full financing cost, fees included, computed by the internal-rate-of-return
method.  The disclosed APR is the periodic IRR times the periods in a year; the effective annual
rate from actual dates (XIRR) is shown beside it.  Both are disclosures, rounded to 1e-6, and the
rate cap is tested against the APR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pyxirr

from puhui.errors import InvalidProduct
from puhui.loans.product import LoanProduct, RateCap, RepaymentMethod
from puhui.loans.schedule import RepaymentSchedule, build_schedule

_DISCLOSURE = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Quote:
    """What a borrower is shown before signing: the schedule and its true annual cost."""

    schedule: RepaymentSchedule
    apr: Decimal                    # IRR method: periodic IRR x periods per year
    effective_annual_rate: Decimal  # XIRR on actual dates (ACT/365)

    @property
    def principal(self) -> int:
        return self.schedule.principal


def cash_flows(schedule: RepaymentSchedule) -> tuple[list[date], list[int]]:
    """The borrower's cash flows: net proceeds in, every instalment out (fen)."""
    dates = [schedule.start] + [i.due for i in schedule.instalments]
    amounts = [schedule.net_disbursed] + [-i.total for i in schedule.instalments]
    return dates, amounts


def _periods_per_year(schedule: RepaymentSchedule) -> Decimal:
    product = schedule.product
    if product.method is RepaymentMethod.BULLET:
        # the year fraction the interest was charged on, so a fee-free bullet discloses its rate
        days = product.day_count.days(schedule.start, schedule.maturity) or 1
        return Decimal(product.day_count.basis) / Decimal(days)
    return Decimal(product.frequency.periods_per_year)


def irr_apr(schedule: RepaymentSchedule) -> Decimal:
    """Nominal annualised cost by the IRR method (the figure the rate cap applies to)."""
    _, amounts = cash_flows(schedule)
    if schedule.total_repayment == schedule.net_disbursed:
        return Decimal(0)
    try:
        periodic = pyxirr.irr(amounts)  # the same root as numpy_financial.irr, 30 times faster
    except pyxirr.InvalidPaymentsError:  # flows all one way
        periodic = None
    if periodic is None or periodic != periodic:  # no real root, e.g. repaying less than received
        raise InvalidProduct("the schedule's cash flows have no internal rate of return")
    apr = Decimal(repr(float(periodic))) * _periods_per_year(schedule)
    return apr.quantize(_DISCLOSURE, ROUND_HALF_UP)


def effective_annual_rate(schedule: RepaymentSchedule) -> Decimal:
    """Effective annual cost on actual dates (XIRR, ACT/365)."""
    dates, amounts = cash_flows(schedule)
    if schedule.total_repayment == schedule.net_disbursed:
        return Decimal(0)
    rate = pyxirr.xirr(dates, [float(a) for a in amounts])
    if rate is None:
        raise InvalidProduct("the schedule's cash flows have no internal rate of return")
    return Decimal(repr(rate)).quantize(_DISCLOSURE, ROUND_HALF_UP)


def quote_schedule(schedule: RepaymentSchedule, cap: RateCap | None = None) -> Quote:
    """Disclose the schedule's cost and refuse it when the APR breaks `cap`."""
    apr = irr_apr(schedule)
    if cap is not None:
        schedule.product.check_cap(cap)
        cap.check(apr, "annualised cost (IRR, fees included)")
    return Quote(schedule, apr, effective_annual_rate(schedule))


def quote(product: LoanProduct, principal: int, start: date, cap: RateCap | None = None) -> Quote:
    """Build the schedule for `principal` lent on `start` and disclose its annualised cost."""
    return quote_schedule(build_schedule(product, principal, start), cap)
