"""When a case is recommended for write-off (核销建议), listed for staff to decide.

All three must hold (each is reported, met or not):
- the loan is at least `min_dpd` days past due (180 by default);
- no promise on the case was kept in the last `promise_window_days` (90);
- the expected recovery is below what collecting it would cost: the amount owed times the
  recovery rate for its age, against a fixed cost plus the agency's commission on what it
  recovers.

A recommendation is advice: the write-off itself is a staff operation (maker-checker).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class WriteOffRule:
    min_dpd: int = 180
    promise_window_days: int = 90
    #: (from days past due, share of the amount owed expected to be recovered)
    recovery_rates: tuple[tuple[int, Decimal], ...] = (
        (1, Decimal("0.60")), (91, Decimal("0.25")), (181, Decimal("0.05")),
        (361, Decimal("0.02")))
    collection_cost: int = 2_000_00          # fen: a case's fixed cost to pursue further
    agency_commission: Decimal = Decimal("0.30")

    def recovery_rate(self, dpd: int) -> Decimal:
        starts = [s for s, _ in self.recovery_rates]
        i = bisect.bisect_right(starts, dpd) - 1
        return self.recovery_rates[i][1] if i >= 0 else Decimal(1)


def __getattr__(name: str) -> Any:
    """`DEFAULT_WRITE_OFF_RULE`: the shipped collections policy's write-off rule
    (`puhui.collections.policy`, read on first use)."""
    if name == "DEFAULT_WRITE_OFF_RULE":
        from puhui.collections.policy import shipped_collections_policy

        return shipped_collections_policy().write_off_rule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True, slots=True)
class WriteOffAdvice:
    recommended: bool
    expected_recovery: int
    cost_to_collect: int
    reasons: tuple[str, ...]
    unmet: tuple[str, ...]


def advise(rule: WriteOffRule, dpd: int, owed: int, last_kept_promise: date | None,
           today: date) -> WriteOffAdvice:
    """Whether a loan `dpd` days past due owing `owed` fen is recommended for write-off."""
    expected = int((Decimal(owed) * rule.recovery_rate(dpd)).to_integral_value(ROUND_FLOOR))
    cost = rule.collection_cost + int(
        (Decimal(expected) * rule.agency_commission).to_integral_value(ROUND_FLOOR))
    met, unmet = [], []
    (met if dpd >= rule.min_dpd else unmet).append(
        f"{dpd} days past due (threshold {rule.min_dpd})")
    since = today - timedelta(days=rule.promise_window_days)
    kept_recently = last_kept_promise is not None and last_kept_promise >= since
    (unmet if kept_recently else met).append(
        f"promise kept on {last_kept_promise}" if kept_recently else
        f"no promise kept in the last {rule.promise_window_days} days")
    (met if expected < cost else unmet).append(
        f"expected recovery {expected} fen vs cost to collect {cost} fen")
    return WriteOffAdvice(not unmet, expected, cost, tuple(met), tuple(unmet))
