"""A loan's servicing state and the repayment waterfall that settles it.

Each instalment remembers what was charged and what was paid or written off per component; every
balance the lender reports (principal outstanding, interest receivable, arrears) is derived from
those figures, never stored twice, so the loan cannot disagree with itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date

from puhui.loans.product import AllocationRule, Component
from puhui.loans.schedule import Instalment

P, F, I, PEN = Component.PRINCIPAL, Component.FEE, Component.INTEREST, Component.PENALTY


class LoanStatus(str, enum.Enum):
    PENDING = "pending"          # contracted, not yet disbursed
    ACTIVE = "active"
    CLOSED = "closed"            # everything repaid
    WRITTEN_OFF = "written_off"


def _zero() -> dict[Component, int]:
    return {P: 0, I: 0, F: 0}


@dataclass
class InstalmentState:
    """An instalment as serviced: its schedule figures plus what happened to them."""

    number: int
    start: date
    due: date
    principal: int
    interest: int
    fee: int
    interest_accrued: int = 0     # interest recognised so far (reaches `interest` by `due`)
    fee_charged: bool = False     # the fee becomes receivable when the instalment falls due
    paid: dict[Component, int] = field(default_factory=_zero)
    written_off: dict[Component, int] = field(default_factory=_zero)
    capitalised: dict[Component, int] = field(default_factory=_zero)  # moved into new principal

    @classmethod
    def from_schedule(cls, inst: Instalment) -> "InstalmentState":
        return cls(inst.number, inst.start, inst.due, inst.principal, inst.interest, inst.fee)

    def charged(self, c: Component) -> int:
        """What is owed on this instalment for `c` once it is due."""
        if c is P:
            return self.principal
        if c is I:
            return self.interest
        return self.fee if self.fee_charged else 0

    def unpaid(self, c: Component) -> int:
        return self.charged(c) - self.paid[c] - self.written_off[c] - self.capitalised[c]

    def principal_unpaid(self) -> int:
        return self.principal - self.paid[P] - self.written_off[P]

    def interest_receivable(self) -> int:
        return self.interest_accrued - self.paid[I] - self.written_off[I] - self.capitalised[I]

    def fee_receivable(self) -> int:
        return self.unpaid(F)

    def in_arrears(self) -> bool:
        return any(self.unpaid(c) > 0 for c in (P, I, F))

    def as_dict(self) -> dict:
        return {
            "number": self.number, "start": self.start.isoformat(), "due": self.due.isoformat(),
            "principal": self.principal, "interest": self.interest, "fee": self.fee,
            "interest_accrued": self.interest_accrued, "fee_charged": self.fee_charged,
            "paid": {c.value: v for c, v in self.paid.items()},
            "written_off": {c.value: v for c, v in self.written_off.items()},
            "capitalised": {c.value: v for c, v in self.capitalised.items()},
        }


@dataclass
class Allocation:
    """How one amount was spread over the debt: totals per component, and what was left over."""

    by_component: dict[Component, int] = field(default_factory=lambda: {c: 0 for c in Component})
    leftover: int = 0

    def total(self) -> int:
        return sum(self.by_component.values())


def allocate(amount: int, due: list[InstalmentState], penalty_unpaid: int, rule: AllocationRule,
             penalty_pool: list[int]) -> Allocation:
    """Apply `amount` to what is due, in the waterfall's order, mutating the instalments.

    Penalty interest is accrued on the loan as a whole, so it is settled as part of the oldest
    due instalment (oldest-first) or in its turn among the components (component-first).
    `penalty_pool` is a one-element list holding the penalty paid so far; it is increased here.
    """
    result = Allocation()
    remaining = amount

    def take(c: Component, inst: InstalmentState | None) -> None:
        nonlocal remaining, penalty_unpaid
        if remaining <= 0:
            return
        owed = penalty_unpaid if inst is None else inst.unpaid(c)
        part = min(owed, remaining)
        if part <= 0:
            return
        if inst is None:
            penalty_unpaid -= part
            penalty_pool[0] += part
        else:
            inst.paid[c] += part
        result.by_component[c] += part
        remaining -= part

    if rule.oldest_first:
        groups = [[(c, inst) for c in rule.order] for inst in due] or [[(PEN, None)]]
        for n, group in enumerate(groups):
            for c, inst in group:
                if c is PEN:
                    if n == 0:
                        take(PEN, None)
                else:
                    take(c, inst)
    else:
        for c in rule.order:
            if c is PEN:
                take(PEN, None)
            else:
                for inst in due:
                    take(c, inst)
    # a penalty left unreached (an order placing it after an instalment's principal) comes last
    take(PEN, None)
    result.leftover = remaining
    return result
