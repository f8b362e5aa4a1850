"""The daily close of one partition of the book, as a pure function of its due positions.

A partition is the loans of an id range that a close of day D takes (active, paid out by D, not
yet closed for D), one row each with the columns of `puhui.loans.snapshot.position` (dates as
day numbers).  The kernel splits them in two:

- **plain** loans: nothing but accrual happens to them through D (no instalment falls due, no
  line matures, no credit balance to apply, no event dated after D).  Their interest and penalty
  for the days after `charged_to` up to D are computed here, exactly as the scalar rules
  (`puhui.loans.accrual`) compute them, and posted to the general ledger as one entry per
  product and currency;
- the others (**breaks**) go through the scalar servicing engine one by one.

The result depends only on the rows and D, so a partition can run anywhere (another process, a
distributed engine) and give the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from puhui.batch.arith import accrued_to, daily_penalty, div_round
from puhui.calendar import RATE_SCALE
from puhui.loans.snapshot import MAX_PLAIN_AMOUNT, MAX_PLAIN_RATE_MICROS, MAX_PLAIN_SPAN_DAYS
from puhui.money import Rounding

EPOCH = date(1970, 1, 1)


def day_number(d: date) -> int:
    """Days since 1970-01-01: a date as the store reads it into a partition's columns."""
    return (d - EPOCH).days


@dataclass(frozen=True, slots=True)
class PartitionCharges:
    """What the kernel computed for one partition's plain loans."""

    plain_ids: list[str]
    break_ids: list[str]
    #: per (currency, product): (interest, penalty) charged by the plain loans, in minor units
    totals: dict[tuple[str, str], tuple[int, int]]
    #: per plain loan (aligned with `plain_ids`): interest and penalty charged
    interest: np.ndarray
    penalty: np.ndarray



def plain_mask(frame: pl.DataFrame, day: date) -> pl.Series:
    """The loans a close of `day` charges from columns alone (the store's `_plain`, in Polars)."""
    d = day_number(day)
    return frame.select(
        (pl.col("next_break") > d) & (pl.col("last_date") <= d)
        & pl.col("charged_to").is_not_null() & (pl.col("charged_to") < d)
        & (pl.col("cur_interest") <= MAX_PLAIN_AMOUNT)
        & (pl.col("overdue_principal") <= MAX_PLAIN_AMOUNT)
        & (pl.col("balance") <= MAX_PLAIN_AMOUNT)
        & (pl.col("rate_micros") <= MAX_PLAIN_RATE_MICROS)
        & (pl.col("penalty_rate_micros") <= MAX_PLAIN_RATE_MICROS)
        & (d - pl.col("charged_to") <= MAX_PLAIN_SPAN_DAYS)
    ).to_series().fill_null(False)


def _daily(amount: np.ndarray, rate: np.ndarray, basis: np.ndarray,
           rounding: np.ndarray) -> np.ndarray:
    """One day's interest on `amount` at `rate` (micro-units), each loan with its rounding."""
    out = np.zeros(len(amount), dtype=np.int64)
    for rule in np.unique(rounding):
        m = rounding == rule
        out[m] = div_round(amount[m] * rate[m], basis[m] * RATE_SCALE, Rounding(rule))
    return np.where(amount <= 0, 0, out)


def charge_plain(frame: pl.DataFrame, day: date) -> PartitionCharges:
    """Split the partition and charge its plain loans for the days after `charged_to` to `day`.

    Term loans: the running period's interest recognised pro rata to day D + 1, less what was
    recognised to `charged_to` + 1 (cumulative rounding, as `accrued_to`), and each uncharged
    day's penalty on the principal overdue (constant: no due date in between).  Lines: each
    day's interest on the balance before maturity, penalty after the maturity day.
    """
    mask = plain_mask(frame, day)
    plain, breaks = frame.filter(mask), frame.filter(~mask)
    d = day_number(day)
    n = plain.height
    c = plain["charged_to"].to_numpy().astype(np.int64)
    basis = plain["basis"].to_numpy().astype(np.int64)
    rounding = plain["rounding"].to_numpy()
    term = (plain["kind"] == "term").to_numpy()
    interest = np.zeros(n, dtype=np.int64)
    penalty = np.zeros(n, dtype=np.int64)
    days = d - c
    if term.any():
        start = plain["cur_start"].fill_null(0).to_numpy().astype(np.int64)
        due = plain["cur_due"].fill_null(0).to_numpy().astype(np.int64)
        cur = plain["cur_start"].is_not_null().to_numpy() & term
        period = plain["cur_interest"].to_numpy().astype(np.int64)
        for rule in np.unique(rounding[cur]):
            m = cur & (rounding == rule)
            r = Rounding(rule)
            length = due[m] - start[m]
            interest[m] = (accrued_to(period[m], length, d + 1 - start[m], r)
                           - accrued_to(period[m], length, c[m] + 1 - start[m], r))
        overdue = plain["overdue_principal"].to_numpy().astype(np.int64)
        rate = plain["penalty_rate_micros"].to_numpy().astype(np.int64)
        for rule in np.unique(rounding[term]):
            m = term & (rounding == rule)
            penalty[m] = days[m] * daily_penalty(overdue[m], rate[m], basis[m], Rounding(rule))
    line = ~term
    if line.any():
        expires = plain["expires_on"].fill_null(0).to_numpy().astype(np.int64)
        balance = plain["balance"].to_numpy().astype(np.int64)
        interest_days = np.maximum(0, np.minimum(d + 1, expires) - (c + 1))
        penalty_days = np.maximum(0, (d + 1) - np.maximum(c + 1, expires + 1))
        rate = plain["rate_micros"].to_numpy().astype(np.int64)
        prate = plain["penalty_rate_micros"].to_numpy().astype(np.int64)
        interest[line] = interest_days[line] * _daily(balance[line], rate[line], basis[line],
                                                      rounding[line])
        penalty[line] = penalty_days[line] * _daily(balance[line], prate[line], basis[line],
                                                    rounding[line])
    sums = (pl.DataFrame({"currency": plain["currency"], "product": plain["product"],
                          "interest": interest, "penalty": penalty})
            .group_by("currency", "product").agg(pl.col("interest").sum(),
                                                 pl.col("penalty").sum())
            .sort("currency", "product"))
    totals = {(cur_, prod): (int(i), int(p)) for cur_, prod, i, p in sums.iter_rows()}
    return PartitionCharges(plain["loan_id"].to_list(), breaks["loan_id"].to_list(), totals,
                            interest, penalty)


__all__ = ["PartitionCharges", "charge_plain", "day_number", "plain_mask"]
