"""Restructuring offers (重组): reschedule, extend, or reduce the instalment of a delinquent loan.

Every kind becomes the loan core's `Reschedule` event (`puhui.loans.events`): the remaining
principal and the arrears (capitalised) are spread over new instalments from the day the
borrower accepts.  The kinds differ in how the new term is chosen:

- **reschedule**: the term (periods) is given, and optionally a lower rate;
- **extend**: the periods not yet due plus `extra_periods`;
- **reduce_instalment**: the shortest term (from the periods not yet due up to `MAX_PERIODS`)
  whose largest instalment the borrower can afford.

`plan` checks, in order, and changes nothing (it works on a copy of the loan):
1. the new terms are within the rate cap in force: the nominal rate, and the all-in cost of the
   new schedule by the IRR method, fees included (`RateCapExceeded`), since a restructured loan
   is priced under today's cap whatever it was signed under;
2. the rate is not raised: a restructuring is relief, never a repricing (`RestructuringRefused`);
3. affordability: the largest new instalment is at most what the borrower can pay per period,
   as assessed by the collector from the borrower's income (`RestructuringRefused`); and a
   reduce-instalment offer must actually lower it.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from puhui.calendar import parse_rate
from puhui.collections.errors import InvalidCollectionsInput, RestructuringRefused
from puhui.errors import InvalidEvent, PuhuiError
from puhui.loans.cost import check_cap, irr_apr
from puhui.loans.events import Reschedule
from puhui.loans.product import RateCap
from puhui.loans.schedule import Instalment, RepaymentSchedule
from puhui.loans.servicing import Loan
from puhui.loans.state import LoanStatus

#: The longest new term a restructuring may set (instalments).
MAX_PERIODS = 60


class RestructuringKind(str, enum.Enum):
    RESCHEDULE = "reschedule"
    EXTEND = "extend"
    REDUCE_INSTALMENT = "reduce_instalment"


@dataclass(frozen=True, slots=True)
class RestructuringPlan:
    """Terms checked on `on`: what the `Reschedule` will be and the schedule it gives."""

    kind: RestructuringKind
    on: date
    periods: int
    annual_rate: Decimal
    affordable_instalment: int
    balance: int                       # principal and capitalised arrears moved
    current_instalment: int | None     # the largest instalment not yet due, before
    new_instalment: int                # the largest new instalment
    apr: Decimal                       # the new schedule's all-in cost (IRR)
    instalments: tuple[Instalment, ...]

    def event(self, key: str) -> Reschedule:
        return Reschedule(key, self.on, periods=self.periods, annual_rate=self.annual_rate)

    def operation_params(self) -> dict[str, Any]:
        """The parameters of the staff operation 'reschedule' (as the loan core takes them)."""
        return {"periods": self.periods, "annual_rate": str(self.annual_rate),
                "on": self.on.isoformat()}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "on": self.on.isoformat(), "periods": self.periods,
                "annual_rate": str(self.annual_rate),
                "affordable_instalment": self.affordable_instalment, "balance": self.balance,
                "current_instalment": self.current_instalment,
                "new_instalment": self.new_instalment, "apr": str(self.apr),
                "schedule": [{"number": i.number, "due_date": i.due.isoformat(),
                              "principal": i.principal, "interest": i.interest, "fee": i.fee}
                             for i in self.instalments]}


def _whole(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidCollectionsInput(f"{what} must be a whole number from {low} to {high}, "
                                      f"not {value!r}")
    return value


def _periods_not_due(loan: Loan, on: date) -> int:
    return sum(1 for i in loan.instalments if i.due > on)


def _current_instalment(loan: Loan, on: date) -> int | None:
    later = [i.principal + i.interest + i.fee for i in loan.instalments if i.due > on]
    return max(later) if later else None


def _trial(loan: Loan, on: date, periods: int, rate: Decimal
           ) -> tuple[int, tuple[Instalment, ...], RepaymentSchedule]:
    """The loan rescheduled on a copy: (balance moved, new instalments, their schedule)."""
    probe = copy.deepcopy(loan)
    try:
        probe.apply(Reschedule("collections-plan", on, periods=periods, annual_rate=rate))
    except InvalidEvent as exc:
        raise RestructuringRefused(f"the loan cannot be rescheduled: {exc}") from None
    fresh = tuple(Instalment(i.number, i.start, i.due, i.principal, i.interest, i.fee)
                  for i in probe.instalments[-periods:])
    balance = sum(i.principal for i in fresh)
    schedule = RepaymentSchedule(probe.product, balance, on, 0, fresh)
    return balance, fresh, schedule


def plan(loan: Loan, kind: RestructuringKind | str, on: date, cap: RateCap, *,
         affordable_instalment: int, periods: int | None = None,
         extra_periods: int | None = None, annual_rate: Decimal | str | None = None
         ) -> RestructuringPlan:
    """Check and price a restructuring of `loan` on `on` under `cap` (see the module's doc)."""
    try:
        kind = RestructuringKind(kind)
    except ValueError:
        raise InvalidCollectionsInput(f"unknown restructuring {kind!r}; choose from "
                                      f"{[k.value for k in RestructuringKind]}") from None
    if loan.status is not LoanStatus.ACTIVE:
        raise RestructuringRefused(f"loan {loan.loan_id} is {loan.status.value}: only an active "
                                   "loan can be restructured")
    affordable = _whole(affordable_instalment, "affordable_instalment", 1, 10**13)
    try:
        rate = loan.product.annual_rate if annual_rate is None else parse_rate(
            annual_rate, "annual_rate")
    except PuhuiError as exc:
        raise InvalidCollectionsInput(str(exc)) from None
    not_due = _periods_not_due(loan, on)
    if kind is RestructuringKind.RESCHEDULE:
        if extra_periods is not None:
            raise InvalidCollectionsInput("a reschedule takes periods, not extra_periods")
        candidates = [_whole(periods, "periods", 1, MAX_PERIODS)]
    elif kind is RestructuringKind.EXTEND:
        if periods is not None:
            raise InvalidCollectionsInput("an extension takes extra_periods, not periods")
        extra = _whole(extra_periods, "extra_periods", 1, MAX_PERIODS)
        total = max(not_due, 1) + extra
        if total > MAX_PERIODS:
            raise RestructuringRefused(f"the extended term of {total} instalments is above the "
                                       f"longest allowed ({MAX_PERIODS})")
        candidates = [total]
    else:
        if periods is not None or extra_periods is not None:
            raise InvalidCollectionsInput("a reduce-instalment offer finds its own term: give "
                                          "neither periods nor extra_periods")
        candidates = list(range(max(not_due, 1), MAX_PERIODS + 1))
    cap.check(rate, "the restructured nominal rate")
    if rate > loan.product.annual_rate:
        raise RestructuringRefused(f"a restructuring may not raise the rate "
                                   f"({rate} > {loan.product.annual_rate})")
    current = _current_instalment(loan, on)
    chosen = None
    for n in candidates:
        balance, fresh, schedule = _trial(loan, on, n, rate)
        check_cap(schedule, cap, what="the restructured loan's annualised cost (IRR, fees "
                                      "included)")
        largest = max(i.total for i in fresh)
        if largest <= affordable:
            chosen = (n, balance, fresh, schedule, largest)
            break
    if chosen is None:
        last = max(i.total for i in fresh)
        raise RestructuringRefused(
            f"the borrower cannot afford it: the largest new instalment is {last} fen, above "
            f"the {affordable} fen a period they can pay"
            + (f" even over {MAX_PERIODS} instalments"
               if kind is RestructuringKind.REDUCE_INSTALMENT else ""))
    n, balance, fresh, schedule, largest = chosen
    if kind is RestructuringKind.REDUCE_INSTALMENT and current is not None \
            and largest >= current:
        raise RestructuringRefused(f"the new instalment ({largest} fen) does not reduce the "
                                   f"current one ({current} fen)")
    return RestructuringPlan(kind, on, n, rate, affordable, balance, current, largest,
                             irr_apr(schedule), fresh)
