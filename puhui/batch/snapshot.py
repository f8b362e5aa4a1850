"""Export scalar loans into a batch book: the bridge from `puhui.loans.servicing` to `run_eod`.

`book_from_loans(loans, as_of)` takes term loans as they stand after their last end of day (the
"daily run" state: interest recognised for every day before `as_of`, penalty charged through
`as_of - 1`, and possibly receipts already taken on `as_of` itself) and writes one row per active
loan in the schema of `puhui.batch.book`, such that `run_eod(book, as_of)` computes exactly what
`loan.apply(EndOfDay(as_of))` posts for interest and penalty interest, and the days past due, aging
bucket and risk class `loan.days_past_due(as_of)` / `loan.bucket(as_of)` /
`loan.risk_class(as_of)` report afterwards.

How each column is read off the loan (in the daily-run state):

- period_start, due, period_interest, accrued_interest: the instalment whose period contains
  `as_of` (start <= as_of < due).  Every earlier instalment is fully accrued by the catch-up that
  brought the loan to `as_of`, and later ones have not started, so it is the only one that accrues
  on day `as_of` (`Loan._catch_up` through as_of + 1).  Zero-length periods (left by a prepayment
  or reschedule on a due date) contain no day and are never chosen.  After maturity (as_of on or
  after the last due date) the last instalment is exported: fully accrued, it accrues nothing.
- overdue_principal: unpaid principal of instalments due *before* `as_of`
  (`Loan.overdue_principal(as_of)`).  The scalar penalty for day d uses instalments with
  due < d, so an instalment falling due on `as_of` itself bears its first penalty on as_of + 1.
- oldest_unpaid_due: the oldest instalment due before `as_of` still in arrears (principal,
  interest or fee), exactly the date `Loan.days_past_due(as_of)` measures from.
- penalty_through: `loan.penalty_until - 1`, i.e. the last day penalty has been *computed* for,
  even when nothing was charged.  It must not be left null for a loan that was never charged:
  a loan in arrears on interest or fees only (overdue principal 0) has an old `oldest_unpaid_due`
  and no penalty so far, and a null `penalty_through` would make the kernel charge every day
  since that date on principal that only fell overdue yesterday.
- penalty_rate_micros, basis: from `loan.product` (the current terms, after any reschedule).
- outstanding_principal: `loan.principal_outstanding`.

Extra columns: `loan_ref` (the scalar `Loan.loan_id`) and `rounding` (the product's rule).  The
book's `loan_id` is the loan's position in the `loans` argument.  `run_eod` takes one rounding rule
and one delinquency policy per call, so a book mixing rounding rules must be run per rule
(`run_eod_by_rounding`), and loans whose `delinquency` policy differs from the one passed to
`run_eod` get that policy's buckets, not their own.

What the batch cannot represent (hence `strict`):

- A loan that is behind, i.e. more than one day of interest or penalty to catch up (its last end
  of day was before as_of - 1).  The scalar catch-up then accrues every period the gap touches and
  charges each overdue day on the principal overdue *that* day (it grows as instalments fall due
  in the gap), whereas the kernel accrues one period and charges every uncharged day on the one
  `overdue_principal` of the row.  With `strict=True` (the default) such loans are refused; with
  `strict=False` they are exported as they are, which is exact only when no due date falls in the
  gap.
- Loans that are not active (closed, written off, pending) are left out: their end of day posts
  nothing.  A written-off loan is nevertheless classed as loss by `Loan.risk_class`.
- The kernel refuses periods longer than 1000 days (`run_eod` raises ValueError), so bullet
  loans with `term_days` > 1000 can be exported but not run.
- The batch end of day covers interest, penalty and aging only: instalment fees falling due on
  as_of and the use of a credit balance (both part of the scalar end of day) are not computed.
  Neither changes the figures compared here in the daily-run state: a credit balance is left only
  once everything due has been settled, so it cannot clear arrears that days past due count.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Sequence

import polars as pl

from puhui.batch.eod import EodResult, run_eod
from puhui.calendar import rate_micros
from puhui.loans.delinquency import DEFAULT_POLICY, DelinquencyPolicy
from puhui.loans.servicing import Loan
from puhui.loans.state import InstalmentState, LoanStatus
from puhui.money import Rounding

ONE_DAY = timedelta(days=1)

BOOK_COLUMNS = ("loan_id", "loan_ref", "rounding", "outstanding_principal", "period_start", "due",
                "period_interest", "accrued_interest", "overdue_principal", "oldest_unpaid_due",
                "penalty_rate_micros", "basis", "penalty_through")
_DATES = frozenset({"period_start", "due", "oldest_unpaid_due", "penalty_through"})
_STRINGS = frozenset({"loan_ref", "rounding"})


def current_instalment(loan: Loan, as_of: date) -> InstalmentState:
    """The instalment whose period contains `as_of`, or the last one once the loan has matured."""
    running = next((i for i in loan.instalments if i.start <= as_of < i.due), None)
    if running is not None:
        return running
    if not loan.instalments:
        raise ValueError(f"loan {loan.loan_id} has no instalments")
    last = max(loan.instalments, key=lambda i: i.due)
    if as_of < last.due:  # before the first period: only if as_of precedes the disbursement
        raise ValueError(f"loan {loan.loan_id}: no instalment period contains {as_of}")
    return last


def _row(index: int, loan: Loan, as_of: date, strict: bool) -> tuple:
    accrued_until, penalty_until = loan.accrued_until, loan.penalty_until
    if accrued_until is None or penalty_until is None:
        raise ValueError(f"loan {loan.loan_id} has not been disbursed")
    if accrued_until > as_of or penalty_until > as_of:
        raise ValueError(f"loan {loan.loan_id} is already serviced past {as_of}: interest to "
                         f"{accrued_until}, penalty to {penalty_until} (exclusive)")
    if strict and (accrued_until != as_of or penalty_until != as_of):
        raise ValueError(
            f"loan {loan.loan_id} is behind: interest recognised up to {accrued_until} and "
            f"penalty up to {penalty_until} (exclusive), but end of day {as_of} needs both at "
            f"{as_of}; run its missing end-of-day events first, or pass strict=False")
    current = current_instalment(loan, as_of)
    if strict:
        behind = [i.number for i in loan.instalments if i is not current
                  and i.start <= as_of and i.interest_accrued < i.interest]
        if behind:  # cannot happen after a catch-up through as_of; guard the invariant anyway
            raise ValueError(f"loan {loan.loan_id}: instalments {behind} would accrue on {as_of} "
                             f"besides the current one; a book row holds one period")
    past = [i for i in loan.instalments if i.due < as_of]
    oldest = min((i.due for i in past if i.in_arrears()), default=None)
    product = loan.product
    return (index, loan.loan_id, product.rounding.value, loan.principal_outstanding,
            current.start, current.due, current.interest, current.interest_accrued,
            sum(i.principal_unpaid() for i in past), oldest,
            rate_micros(product.penalty_rate), product.day_count.basis,
            penalty_until - ONE_DAY)


def book_from_loans(loans: Sequence[Loan], as_of: date, *, strict: bool = True) -> pl.DataFrame:
    """A batch book of the active `loans` such that `run_eod(book, as_of)` is their end of day.

    Each loan must be in the daily-run state for `as_of` (see the module docstring); with
    `strict=False` loans further behind are exported too, exactly only if no due date falls in
    the days they have to catch up.  Raises ValueError for a loan that cannot be exported.
    """
    rows = [_row(n, loan, as_of, strict) for n, loan in enumerate(loans)
            if loan.status is LoanStatus.ACTIVE]
    columns = list(zip(*rows)) if rows else [()] * len(BOOK_COLUMNS)
    schema = {name: pl.Date if name in _DATES else pl.Utf8 if name in _STRINGS else pl.Int64
              for name in BOOK_COLUMNS}
    return pl.DataFrame({name: list(col) for name, col in zip(BOOK_COLUMNS, columns)},
                        schema=schema)


def run_eod_by_rounding(book: pl.DataFrame, as_of: date,
                        policy: DelinquencyPolicy = DEFAULT_POLICY) -> pl.DataFrame:
    """`run_eod` once per rounding rule of a book from `book_from_loans`; the per-loan results
    (`EodResult.loans`, plus `loan_ref`) in the book's row order."""
    parts: list[pl.DataFrame] = []
    indexed = book.with_row_index("_row")
    for (rule,), part in indexed.partition_by("rounding", as_dict=True).items():
        result: EodResult = run_eod(part, as_of, policy, Rounding(rule))
        parts.append(result.loans.with_columns(part["_row"], part["loan_ref"]))
    if not parts:
        return run_eod(book, as_of, policy).loans.with_columns(
            pl.Series("loan_ref", [], pl.Utf8))
    return pl.concat(parts).sort("_row").drop("_row")


__all__ = ["BOOK_COLUMNS", "book_from_loans", "current_instalment", "run_eod_by_rounding"]
