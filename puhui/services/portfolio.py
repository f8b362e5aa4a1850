"""Month-end portfolio risk: each loan's position at a month end, the report built on them, and
the loan-loss provision posted to the ledger.

Why positions are valued at the month end itself: a report or a provision run on 3 December
for November must show November, not the loans as they are on the 3rd.  A loan whose events or
closes go past the month end is rebuilt from its history up to that day (events dated on or
before it, the closes of days up to it: `book.history.replay_history`); the others are read as
loaded.  The positions of a month are stored when its provision is posted, so later roll
rates and vintages compare with what the provision was based on.

The provision is an adjusting entry: the allowance required at the month end (by five-tier
class, at the configured rates) against the allowance posted for the last provisioned month,
and only the difference is posted (Dr 6702 provision expense / Cr 1305 allowance, or the
reverse for a release).  One per month: the stored provision row and the entry's event key
(`loan-loss-provision:YYYY-MM`) both refuse a second; months are provisioned in order.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from puhui.book.history import replay_history
from puhui.loans.product import LoanProduct
from puhui.loans.state import LoanStatus
from puhui.risk import portfolio as pf
from puhui.services.access import Perm, Principal
from puhui.services.clock import business_date
from puhui.services.errors import InvalidRequest
from puhui.services.platform import Platform
from puhui.services.warnings import require_staff
from puhui.store import risk_repo, warnings_repo
from puhui.store.business_days import BusinessDayRepository
from puhui.store.close_repo import CloseRepository
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.loan_repo import LoanEventRepository

#: The ledger currency provisions are posted in (the book lends in one currency).
CURRENCY = "CNY"


def parse_month(text: str | None, today: date) -> date:
    """'YYYY-MM' (default: the last month that has ended) as its month end; `InvalidRequest`
    for anything else or a month not yet ended."""
    if text is None:
        return pf.previous_month_end(today)
    try:
        if len(text) != 7 or text[4] != "-":
            raise ValueError
        if int(text[:4]) < 1970:
            raise ValueError
        end = pf.month_end(date(int(text[:4]), int(text[5:]), 1))
    except ValueError:
        raise InvalidRequest(f"month must be written YYYY-MM, not {text!r}") from None
    if end > today:
        raise InvalidRequest(f"{text} has not ended: its month end {end} is after today's "
                             f"business date {today}")
    return end


# -- positions ------------------------------------------------------------------------------------
def _account_at(p: Platform, session: Session, loan_id: str, end: date,
                closed_past: bool) -> Any:
    account = p.book.load_in(session, loan_id)
    if not closed_past and (account.last_date is None or account.last_date <= end):
        return account
    loans = LoanEventRepository(session)
    row = loans.get_loan(loan_id)
    product = LoanProduct.from_dict(json.loads(row.product))
    events = [e for e in loans.events(loan_id) if e["occurred_on"] <= end]
    closes = [c for c in CloseRepository(session).closes_of(loan_id) if c[0] <= end]
    return replay_history(loan_id, product, events, closes).account


def _model_pds(session: Session, end: date) -> dict[str, str]:
    out = {}
    for loan_id, _, _, record in risk_repo.paid_out_decisions(session, end):
        value = json.loads(record).get("facts", {}).get("pd")
        if value is not None:
            out[loan_id] = str(value)
    return out


def compute_positions(p: Platform, session: Session, end: date) -> list[dict[str, Any]]:
    """Every loan's position at `end`: active then, or closed or written off during the month."""
    start = pf.previous_month_end(end)
    last_closed = BusinessDayRepository(session).last_closed()
    closed_past = last_closed is not None and last_closed > end
    pds = _model_pds(session, end)
    rows, repo, offset = [], LoanEventRepository(session), 0
    while True:
        page = repo.list_loans(limit=1000, offset=offset, opened_by=end)
        for record in page:
            if record.currency != CURRENCY:
                continue
            account = _account_at(p, session, record.loan_id, end, closed_past)
            position = _position(account, end, start, pds.get(record.loan_id))
            if position is not None:
                rows.append(position)
        if len(page) < 1000:
            return rows
        offset += 1000


def _position(account: Any, end: date, start: date, model_pd: str | None) -> dict | None:
    originated = getattr(account, "disbursed_on", None) or getattr(account, "opened_on", None)
    if originated is None or originated > end or account.status is LoanStatus.PENDING:
        return None
    status = {LoanStatus.ACTIVE: pf.ACTIVE, LoanStatus.CLOSED: pf.CLOSED,
              LoanStatus.WRITTEN_OFF: pf.WRITTEN_OFF}[account.status]
    if status != pf.ACTIVE and (account.last_date is None or account.last_date <= start):
        return None  # ended before this month: no longer part of the book
    dpd = account.days_past_due(end)
    accrued = (account.interest_receivable + getattr(account, "fee_receivable", 0)
               + account.penalty_receivable)
    return {"loan_id": account.loan_id, "product": account.product.code,
            "currency": account.product.currency, "originated_on": originated,
            "status": status, "dpd": dpd, "bucket": account.delinquency.bucket(dpd),
            "risk_class": account.risk_class(end).value,
            "principal": account.principal_outstanding if status == pf.ACTIVE else 0,
            "accrued": accrued if status == pf.ACTIVE else 0, "model_pd": model_pd}


def _frame(rows: list[Any]) -> pl.DataFrame:
    out = []
    for r in rows:
        d = dict(r._mapping) if hasattr(r, "_mapping") else dict(r)
        d.pop("month_end", None)
        d["model_pd"] = None if d.get("model_pd") is None else float(d["model_pd"])
        out.append(d)
    return pf.positions_frame(out)


def positions_at(p: Platform, session: Session, end: date) -> tuple[pl.DataFrame, bool]:
    """The positions of `end` as stored, or computed now; and whether they were stored."""
    stored = warnings_repo.positions(session, end)
    if stored:
        return _frame(stored), True
    return _frame(compute_positions(p, session, end)), False


# -- the report -----------------------------------------------------------------------------------
def report(p: Platform, session: Session, actor: Principal, month: str | None = None,
           settings: pf.PortfolioSettings | None = None, loans: bool = False) -> dict[str, Any]:
    """Roll rates into the month, DPD30+ vintages, NPL ratio, expected loss and the provision
    required (and posted, if it was) at the month end."""
    require_staff(actor)
    settings = settings or pf.load_settings()
    end = parse_month(month, business_date(p.clock))
    current, stored = positions_at(p, session, end)
    before, _ = positions_at(p, session, pf.previous_month_end(end))
    el = pf.expected_loss(current, settings)
    history = [r for r in warnings_repo.position_history(session, end) if r.month_end < end]
    frames = [_frame(history).with_columns(
        pl.Series("month_end", [r.month_end for r in history], dtype=pl.Date))] if history else []
    frames.append(current.with_columns(pl.lit(end).alias("month_end")))
    vintage = pf.vintage_dpd30(pl.concat(frames), end)
    required = pf.provisions(current, settings)
    posted = warnings_repo.provision(session, end)
    out = {
        "month": f"{end:%Y-%m}", "month_end": end.isoformat(), "positions_stored": stored,
        "loans": int((current["status"] == pf.ACTIVE).sum()),
        "npl": pf.npl_ratio(current),
        "roll_rates": pf.roll_rates(before, current).to_dicts(),
        "roll_rate_matrix": pf.roll_rate_matrix(pf.roll_rates(before, current)),
        "vintage": [{**r, "cohort": r["cohort"].isoformat()} for r in vintage.to_dicts()],
        "expected_loss": {"total": int(el["expected_loss"].sum()),
                          "ead": int(el["ead"].sum()),
                          "by_class": el.group_by("risk_class").agg(
                              pl.col("expected_loss").sum()).sort("risk_class").to_dicts()},
        "provision": {"settings": settings.to_dict(), "by_class": required,
                      "required": sum(c["provision"] for c in required),
                      "posted": None if posted is None else _provision_view(posted)},
    }
    if loans:
        out["expected_loss"]["loans"] = el.to_dicts()
    return out


# -- the provision --------------------------------------------------------------------------------
def _provision_view(row: Any, already: bool = False) -> dict[str, Any]:
    return {"month": f"{row.month_end:%Y-%m}", "month_end": row.month_end.isoformat(),
            "currency": row.currency, "required": row.required, "previous": row.previous,
            "delta": row.delta, "by_class": json.loads(row.by_class),
            "settings_version": row.settings_version, "entry_seq": row.entry_seq,
            "recorded_at": row.recorded_at.isoformat(), "already_posted": already}


def post_provision(p: Platform, session: Session, actor: Principal, month: str | None,
                   settings: pf.PortfolioSettings | None = None) -> dict[str, Any]:
    """Post the month's loan-loss provision once: the allowance required at its end by class,
    and the adjusting entry for the difference from the last month provisioned."""
    actor.require(Perm.OPERATE)
    settings = settings or pf.load_settings()
    end = parse_month(month, business_date(p.clock))
    done = warnings_repo.provision(session, end)
    if done is not None:
        return _provision_view(done, already=True)
    latest = warnings_repo.latest_provision(session)
    if latest is not None and latest.month_end > end:
        raise InvalidRequest(f"provisions are posted month by month: {latest.month_end:%Y-%m} "
                             f"is already provisioned, so {end:%Y-%m} can no longer be")
    if warnings_repo.has_positions(session, end):
        current = _frame(warnings_repo.positions(session, end))
    else:
        rows = compute_positions(p, session, end)
        warnings_repo.add_positions(session, [{**r, "month_end": end} for r in rows])
        current = _frame(rows)
    by_class = pf.provisions(current, settings)
    required = sum(c["provision"] for c in by_class)
    previous = 0 if latest is None else latest.required
    entry = pf.provision_entry(end, required, previous, CURRENCY)
    seq = None
    if entry is not None:
        [posted] = LedgerRepository(session).append([entry])
        seq = posted.seq
    warnings_repo.add_provision(session, {
        "month_end": end, "currency": CURRENCY, "required": required, "previous": previous,
        "delta": required - previous, "by_class": json.dumps(by_class, sort_keys=True),
        "settings_version": settings.version, "settings_sha256": settings.sha256,
        "entry_seq": seq, "recorded_at": p.clock.now(), "recorded_by": actor.key_id})
    session.flush()
    return _provision_view(warnings_repo.provision(session, end))


def provisions_posted(session: Session, actor: Principal) -> list[dict[str, Any]]:
    require_staff(actor)
    return [_provision_view(r) for r in warnings_repo.provisions_list(session)]


def run_provision(platform: Platform, day: date) -> dict[str, Any]:
    """The scheduler's month-end job (daily is fine): post the provision of the last month that
    ended before `day`, if it is not posted yet; a later run in the month does nothing."""
    from puhui.services.access import SYSTEM

    month = f"{pf.previous_month_end(day):%Y-%m}"
    with platform.unit() as session:
        return post_provision(platform, session, SYSTEM, month)
