"""Monitoring the platform's own book: are recent applicants like the training population, do
the models still rank the loans that have matured, how do the monthly cohorts age?

Why from the decision records: each automated decision kept exactly the features and scores it
used (`services.risk`), so the population stability of live applications is measured on the
numbers the models actually saw, against the `StabilityReference` registered with the models.
Loans are followed from their decision to their payout (contract, disbursement) and their state
in the loan book.  A loan has defaulted once it is 90 days past due (the regulatory
non-performing line, 次级 and worse) or written off; its default date is the day it crossed 90
days (its oldest unpaid instalment's due date + 90), or the write-off date for a written-off loan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping

import numpy as np
import polars as pl

from puhui.loans.state import LoanStatus
from puhui.services.platform import Platform
from puhui.store import risk_repo

DEFAULT_DPD = 90


@dataclass(frozen=True)
class BookLoan:
    """A loan that came from an automated decision: its payout date, the PD it was granted on,
    and its default date (None while performing)."""

    loan_id: str
    application_id: str
    disbursed_on: date
    pd: float | None
    defaulted_on: date | None


def recent_decisions(p: Platform, as_of: date, days: int) -> pl.DataFrame:
    """The facts of every automated decision taken in the `days` days up to `as_of`."""
    since = as_of - timedelta(days=days - 1)
    with p.read() as session:
        rows = risk_repo.records_between(session, since, as_of)
    facts = [{"application_id": a, **json.loads(text)["facts"]} for a, text in rows]
    return pl.DataFrame(facts, infer_schema_length=None) if facts else pl.DataFrame()


def book_loans(p: Platform, as_of: date) -> list[BookLoan]:
    """Every loan paid out on an automated decision up to `as_of`, with its default date."""
    with p.read() as session:
        rows = risk_repo.paid_out_decisions(session, as_of)
        write_offs = risk_repo.write_off_dates(session, as_of)
    out = []
    for loan_id, application_id, paid_on, record in rows:
        pd_ = json.loads(record)["facts"].get("pd")
        out.append(BookLoan(loan_id, application_id, paid_on, pd_,
                            write_offs.get(loan_id) or _crossed_default(p, loan_id, as_of)))
    return out


def _crossed_default(p: Platform, loan_id: str, as_of: date) -> date | None:
    loan = p.book.load(loan_id)
    if loan.status is not LoanStatus.ACTIVE:
        return None
    dpd = loan.days_past_due(as_of)
    return as_of - timedelta(days=dpd - DEFAULT_DPD) if dpd >= DEFAULT_DPD else None


def monitor_book(p: Platform, reference: Any, as_of: date, *, days: int = 90,
                 window_months: int = 12, reference_metrics: Mapping[str, float] | None = None,
                 thresholds: Any = None) -> Any:
    """The `MonitoringReport` of the book as of `as_of`: PSI of the last `days` days'
    applications against `reference` (scores `pd` and `pd_challenger`, every feature), AUC/KS
    of the granted PD on loans whose `window_months` performance window has matured, and the
    vintage curves of every loan."""
    from puhui.risk.errors import RiskDataError
    from puhui.risk.monitoring import AlertThresholds, matured_discrimination, monitor, \
        vintage_curves

    recent = recent_decisions(p, as_of, days)
    if recent.height == 0:
        raise RiskDataError(f"no automated decisions in the {days} days up to {as_of}")
    columns = [c for c in reference.columns if c in recent.columns]
    frame = recent.select(pl.col(c).cast(pl.Float64, strict=False) for c in columns)
    loans = [loan for loan in book_loans(p, as_of) if loan.pd is not None]
    matured = vintages = None
    if loans:
        origination = np.array([loan.disbursed_on for loan in loans], dtype="datetime64[D]")
        default_dates = np.array([loan.defaulted_on or np.datetime64("NaT") for loan in loans],
                                 dtype="datetime64[D]")
        horizon = origination + np.array([_months(loan.disbursed_on, window_months) for loan in
                                          loans], dtype="timedelta64[D]")
        bad = (~np.isnat(default_dates)) & (default_dates <= horizon)
        try:
            matured = matured_discrimination(origination, [loan.pd for loan in loans],
                                             bad.astype(float), as_of,
                                             window_months=window_months)
        except RiskDataError:  # no loan has matured yet, or all matured loans share one outcome
            matured = None
        vintages = vintage_curves(origination, default_dates, as_of)
    return monitor(reference, frame, subject=f"applications {as_of - timedelta(days=days - 1)}"
                   f" to {as_of}", scores=[c for c in ("pd", "pd_challenger") if c in columns],
                   reference_metrics=reference_metrics, matured=matured, vintages=vintages,
                   thresholds=thresholds or AlertThresholds(), as_of=as_of)


def _months(start: date, months: int) -> int:
    """Days from `start` to the same day `months` later (month ends clamp)."""
    from puhui.calendar import add_months
    return (add_months(start, months) - start).days
