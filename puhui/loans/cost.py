"""The annualised all-in cost of a loan by the IRR method, and quotes that disclose it.

Why IRR: Chinese rules (PBoC announcement [2021] No. 3) require lenders to show the annualised
rate of the borrower's full financing cost, fees included, computed by the internal-rate-of-return
method.  The convention every quote now states (`APR_CONVENTION`, "irr-unit-period/v2"):

- the borrower's flows are the net proceeds at the start and each instalment on its due date;
- time is counted in unit periods of the product's frequency: a regular period (a whole calendar
  month, a whole week...) is 1; a broken first period counts its charged days divided by the days
  of a period under the day count (30 under 30/360 and ACT/360, 365/12 under ACT/365F) and is
  discounted at simple interest, later periods compound (the actuarial method with odd days of
  US Regulation Z, Appendix J), so an 11-day stub weighs a third of a month, not a whole one;
- APR = periodic rate x periods per year.  A bullet loan is one period of its term: APR =
  (repaid / net proceeds - 1) x basis / days charged.

So a fee-free loan discloses its nominal rate (to sub-fen rounding), and fees count in full.
Offers disclosed before this convention used "irr-per-instalment/v1" (every instalment one
period, stub or not) and are still checked against that figure (`irr_apr(..., convention)`).

The rate cap is tested against the cost of the exact schedule (`within_cap`): the same schedule
with no figure rounded to the fen, fees as charged.  So sub-fen rounding of a rate within the cap
never breaches it, and any fee on a loan already at the cap does.  The effective annual rate
(XIRR on actual dates, ACT/365) is shown beside the APR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pyxirr

from puhui.calendar import whole_months
from puhui.errors import InvalidProduct, RateCapExceeded
from puhui.loans.product import LoanProduct, RateCap, RepaymentMethod
from puhui.loans.schedule import RepaymentSchedule, build_schedule, period_days

_DISCLOSURE = Decimal("0.000001")

APR_CONVENTION = "irr-unit-period/v2"
LEGACY_APR_CONVENTION = "irr-per-instalment/v1"
CONVENTIONS = {
    APR_CONVENTION: "IRR on unit periods (a broken first period counts its days at simple "
                    "interest) x periods per year; bullet: simple rate over the days charged",
    LEGACY_APR_CONVENTION: "IRR with every instalment one period x periods per year (before "
                           "irr-unit-period/v2)",
}


#: What `unit_periods` gives: periods per year and each instalment's period in unit periods.
Periods = tuple[int, list[Fraction]]


@dataclass(frozen=True, slots=True)
class Quote:
    """What a borrower is shown before signing: the schedule and its true annual cost."""

    schedule: RepaymentSchedule
    apr: Decimal                    # IRR method under `convention`
    effective_annual_rate: Decimal  # XIRR on actual dates (ACT/365)
    convention: str = APR_CONVENTION
    #: `unit_periods(schedule)` as counted for the APR, kept so a later cap test of the same
    #: schedule (`check_cap(..., periods=quote.periods)`) does not count them again
    periods: Periods | None = field(default=None, compare=False, repr=False)

    @property
    def principal(self) -> int:
        return self.schedule.principal


def cash_flows(schedule: RepaymentSchedule) -> tuple[list[date], list[int]]:
    """The borrower's cash flows: net proceeds in, every instalment out (fen)."""
    dates = [schedule.start] + [i.due for i in schedule.instalments]
    amounts = [schedule.net_disbursed] + [-i.total for i in schedule.instalments]
    return dates, amounts


def unit_periods(schedule: RepaymentSchedule) -> tuple[int, list[Fraction]]:
    """(periods per year, length of each instalment's period in unit periods), as APR v2 counts.

    A bullet loan is one period of days/basis years (periods per year 1).
    """
    product = schedule.product
    basis = product.day_count.basis
    if product.method is RepaymentMethod.BULLET:
        (only,) = schedule.instalments
        return 1, [Fraction(period_days(product, only.start, only.due), basis)]
    ppy = product.frequency.periods_per_year
    step = product.frequency.step_days
    out: list[Fraction] = []
    for inst in schedule.instalments:
        if step is not None:
            days = (inst.due - inst.start).days
            regular = days // step if days % step == 0 else None
        else:
            regular = whole_months(inst.start, inst.due)
        if regular:
            out.append(Fraction(regular))
        else:
            out.append(Fraction(period_days(product, inst.start, inst.due) * ppy, basis))
    return ppy, out


def _irr(amounts: list[int]) -> float | None:
    """Periodic IRR of integer flows at whole periods; retried on flows scaled to the first one,
    because the solver fails on flows of 1e11 fen and more over long terms."""
    for scale in (1, abs(amounts[0]) or 1):
        try:
            rate = pyxirr.irr([a / scale for a in amounts] if scale != 1 else amounts)
        except pyxirr.InvalidPaymentsError:  # flows all one way
            return None
        if rate is not None and math.isfinite(rate):
            return rate
    return None


def _solve(payments: list[float], taus: list[Fraction]) -> float | None:
    """The periodic rate at which the payments (shares of the net proceeds) are worth the
    proceeds: the first period at simple interest, later ones compounded (APR v2).

    The borrower receives first and pays after, so the value falls as the rate rises and the root
    is unique; Brent's method brackets it and converges to the float limit, far below the 1e-6
    disclosed.
    """
    import numpy as np
    from scipy.optimize import brentq

    amounts = np.asarray(payments, dtype=np.float64)
    first = float(taus[0])
    elapsed = np.concatenate(([0.0], np.cumsum([float(t) for t in taus[1:]])))

    def gap(rate: float) -> float:
        with np.errstate(over="ignore"):
            value = float(amounts @ np.exp(-elapsed * math.log1p(rate)))
        result = 1.0 - value / (1.0 + first * rate)
        return max(result, -1e300)  # near -100% late payments are worth without bound

    floor = -1.0 / max(first, 1.0)  # above it both 1 + i and 1 + first x i stay positive
    lo = floor / 2
    for _ in range(200):
        if gap(lo) < 0:
            break
        lo = (lo + floor) / 2
    else:
        return None
    hi = 1.0
    while gap(hi) < 0:
        hi *= 2
        if hi > 1e6:
            return None
    return float(brentq(gap, lo, hi, xtol=1e-16, rtol=4 * np.finfo(float).eps, maxiter=500))


def irr_apr(schedule: RepaymentSchedule, convention: str = APR_CONVENTION, *,
            periods: Periods | None = None) -> Decimal:
    """Nominal annualised cost by the IRR method under `convention` (see the module doc).

    `periods` is `unit_periods(schedule)` when the caller has it already."""
    if convention == LEGACY_APR_CONVENTION:
        return _legacy_irr_apr(schedule)
    if convention != APR_CONVENTION:
        raise InvalidProduct(f"unknown APR convention {convention!r}; know {sorted(CONVENTIONS)}")
    if schedule.total_repayment == schedule.net_disbursed:
        return Decimal(0)
    ppy, taus = periods if periods is not None else unit_periods(schedule)
    net = schedule.net_disbursed
    if schedule.product.method is RepaymentMethod.BULLET:
        if schedule.total_repayment < net or taus[0] == 0:
            raise InvalidProduct("the schedule's cash flows have no internal rate of return")
        apr = (Decimal(schedule.total_repayment) / Decimal(net) - 1) \
            * Decimal(taus[0].denominator) / Decimal(taus[0].numerator)
        return apr.quantize(_DISCLOSURE, ROUND_HALF_UP)
    periodic: float | None
    if all(t == 1 for t in taus):
        _, amounts = cash_flows(schedule)
        periodic = _irr(amounts)
    else:
        periodic = _solve([i.total / net for i in schedule.instalments], taus)
    if periodic is None:  # no real root, e.g. repaying less than received
        raise InvalidProduct("the schedule's cash flows have no internal rate of return")
    apr = Decimal(repr(float(periodic))) * ppy
    return apr.quantize(_DISCLOSURE, ROUND_HALF_UP)


def _legacy_irr_apr(schedule: RepaymentSchedule) -> Decimal:
    """APR as disclosed before v2: every instalment one period; a bullet annualised by basis over
    its day-count days.  Kept so offers disclosed under it are checked against what they showed."""
    _, amounts = cash_flows(schedule)
    if schedule.total_repayment == schedule.net_disbursed:
        return Decimal(0)
    periodic = _irr(amounts)
    if periodic is None:
        raise InvalidProduct("the schedule's cash flows have no internal rate of return")
    product = schedule.product
    if product.method is RepaymentMethod.BULLET:
        days = product.day_count.days(schedule.start, schedule.maturity) or 1
        per_year = Decimal(product.day_count.basis) / Decimal(days)
    else:
        per_year = Decimal(product.frequency.periods_per_year)
    apr = Decimal(repr(float(periodic))) * per_year
    return apr.quantize(_DISCLOSURE, ROUND_HALF_UP)


def effective_annual_rate(schedule: RepaymentSchedule) -> Decimal:
    """Effective annual cost on actual dates (XIRR, ACT/365)."""
    dates, amounts = cash_flows(schedule)
    if schedule.total_repayment == schedule.net_disbursed:
        return Decimal(0)
    rate = None
    for scale in (1, abs(amounts[0]) or 1):  # very large flows are solved scaled
        try:
            rate = pyxirr.xirr(dates, [a / scale for a in amounts])
        except pyxirr.InvalidPaymentsError:
            rate = None
        if rate is not None and math.isfinite(rate):
            break
        rate = None
    if rate is None:
        raise InvalidProduct("the schedule's cash flows have no internal rate of return")
    return Decimal(repr(rate)).quantize(_DISCLOSURE, ROUND_HALF_UP)


# -- the rate cap -----------------------------------------------------------------------------
_PRECISION = 80


def exact_payments(schedule: RepaymentSchedule) -> list[Decimal]:
    """The instalments of `schedule` with no figure rounded to the fen (fees as charged).

    Principal follows the method on the nominal periodic rate with the unrounded level payment
    (or level principal); interest is the unrounded balance x rate x charged days / basis.  These
    are the amounts the cap is tested on, so only sub-fen rounding separates them from the
    schedule (computed at 80 significant digits).
    """
    product = schedule.product
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        balance = Decimal(schedule.principal)
        rate = product.annual_rate
        n = len(schedule.instalments)
        grace = product.grace_periods
        amortising = n - grace
        nominal = rate / product.frequency.periods_per_year
        method = product.method
        payment = Decimal(0)
        if method is RepaymentMethod.EQUAL_INSTALMENT:
            payment = balance / amortising if nominal == 0 else \
                balance * nominal / (1 - (1 + nominal) ** -amortising)
        per = balance / amortising
        basis = product.day_count.basis
        out: list[Decimal] = []
        for k, inst in enumerate(schedule.instalments):
            if k == n - 1:
                part = balance
            elif k < grace or method in (RepaymentMethod.INTEREST_FIRST, RepaymentMethod.BULLET):
                part = Decimal(0)
            elif method is RepaymentMethod.EQUAL_INSTALMENT:
                part = payment - balance * nominal
            else:
                part = per
            interest = balance * rate * period_days(product, inst.start, inst.due) / basis
            out.append(part + interest + inst.fee)
            balance -= part
        return out


def _present_value(payments: list[Decimal], taus: list[Fraction], periodic: Decimal) -> Decimal:
    """PV of `payments` at `periodic`: simple over the first period, compound after (APR v2)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        growth = 1 + periodic
        value = Decimal(0)
        for amount, tau in zip(reversed(payments[1:]), reversed(taus[1:])):
            factor = growth if tau == 1 else growth ** (Decimal(tau.numerator) / tau.denominator)
            value = (value + amount) / factor
        first = 1 + periodic * Decimal(taus[0].numerator) / Decimal(taus[0].denominator)
        return (value + payments[0]) / first


def within_cap(schedule: RepaymentSchedule, limit: Decimal, *,
               periods: Periods | None = None) -> bool:
    """Whether the exact schedule's APR (v2) is at most `limit`.

    Tested without solving: the APR is at most the limit exactly when the exact payments,
    discounted at the limit's periodic rate, are worth no more than the net proceeds.  A loan at
    its nominal rate is worth exactly the proceeds, up to 80-digit arithmetic, hence the 1e-40
    relative allowance (a single fen on the largest loan is 1e-13 of it).  `periods` is
    `unit_periods(schedule)` when the caller has it already.
    """
    ppy, taus = periods if periods is not None else unit_periods(schedule)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        value = _present_value(exact_payments(schedule), taus, Decimal(limit) / ppy)
        net = Decimal(schedule.net_disbursed)
        return value <= net + net * Decimal("1e-40")


def quote_schedule(schedule: RepaymentSchedule, cap: RateCap | None = None) -> Quote:
    """Disclose the schedule's cost and refuse it when its cost breaks `cap`.

    The APR disclosed is that of the schedule as rounded to the fen; the cap is tested on the
    exact schedule (`within_cap`), so a loan at the cap may disclose an APR above it by the
    rounding of its amounts (at most a few 1e-6 on small loans) and is not refused for it.
    The schedule's unit periods are counted once, for both the APR and the cap.
    """
    periods = unit_periods(schedule)
    apr = irr_apr(schedule, periods=periods)
    if cap is not None:
        check_cap(schedule, cap, apr, periods=periods)
    return Quote(schedule, apr, effective_annual_rate(schedule), periods=periods)


def check_cap(schedule: RepaymentSchedule, cap: RateCap, apr: Decimal | None = None,
              what: str = "annualised cost (IRR, fees included)", *,
              periods: Periods | None = None) -> None:
    """Raise `RateCapExceeded` when the product's nominal rate or the schedule's cost breaks
    `cap`, by the one rule every check uses (quote, offer, acceptance): the exact schedule
    (`within_cap`), so the sub-fen rounding of a loan at the cap is never a breach."""
    schedule.product.check_cap(cap)
    if periods is None:
        periods = unit_periods(schedule)
    if not within_cap(schedule, cap.annual_limit, periods=periods):
        shown = irr_apr(schedule, periods=periods) if apr is None else apr
        raise RateCapExceeded(f"{what} {shown:.4%} is above the {cap.label} of "
                              f"{cap.annual_limit:.4%}")


def quote(product: LoanProduct, principal: int, start: date, cap: RateCap | None = None,
          convention: str = APR_CONVENTION) -> Quote:
    """Build the schedule for `principal` lent on `start` and disclose its annualised cost.

    `convention` other than the current one only re-creates what an older offer disclosed; a cap
    is always tested under the current convention."""
    schedule = build_schedule(product, principal, start)
    if convention == APR_CONVENTION:
        return quote_schedule(schedule, cap)
    apr = irr_apr(schedule, convention)  # refuses an unknown convention
    if cap is not None:
        check_cap(schedule, cap)
    return Quote(schedule, apr, effective_annual_rate(schedule), convention)
