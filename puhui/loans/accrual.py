"""Daily accrual rules shared by the servicing engine and the vectorised end-of-day batch.

Interest of a scheduled period is recognised pro rata by calendar days elapsed, cumulatively
rounded, so the daily figures of a period add up to the scheduled interest exactly on its due
date whatever the day count.  Penalty interest (罚息) accrues each overdue day on the overdue
principal at the penalty rate, each day rounded with the product's rule.
"""

from __future__ import annotations

from puhui.calendar import RATE_SCALE
from puhui.money import Rounding, div_round


def accrued_to(period_interest: int, period_days: int, elapsed_days: int,
               rounding: Rounding = Rounding.HALF_UP) -> int:
    """Interest of a period recognised once `elapsed_days` of its `period_days` have passed."""
    if elapsed_days <= 0:
        return 0
    if elapsed_days >= period_days or period_days <= 0:
        return period_interest
    return div_round(period_interest * elapsed_days, period_days, rounding)


def daily_penalty(overdue_principal: int, penalty_rate_micros: int, basis: int,
                  rounding: Rounding = Rounding.HALF_UP) -> int:
    """One day's penalty interest on `overdue_principal` (annual rate in micro-units)."""
    if overdue_principal <= 0:
        return 0
    return div_round(overdue_principal * penalty_rate_micros, basis * RATE_SCALE, rounding)


def daily_interest(balance: int, annual_rate_micros: int, basis: int,
                   rounding: Rounding = Rounding.HALF_UP) -> int:
    """One day's interest on a revolving balance, rounded each day (the 随借随还 convention)."""
    if balance <= 0:
        return 0
    return div_round(balance * annual_rate_micros, basis * RATE_SCALE, rounding)
