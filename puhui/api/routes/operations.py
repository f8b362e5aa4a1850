"""Operations: products, end of day, auto-debit, offer expiry, ledger checks and API keys."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query

from puhui.api import responses as R
from puhui.api.calls import Call, call, encoded, read_call
from puhui.api.routes.common import operation
from puhui.api.schemas import ApiKeyIn, BusinessDateIn
from puhui.loans.cost import quote
from puhui.services import access
from puhui.services import applications as apps
from puhui.services import loans as loan_svc
from puhui.services.access import Perm
from puhui.services.business_day import (
    check_close_date,
    close_day,
    unconsented_retention_days,
)
from puhui.services.checkpoints import trial_balance as balances_of, verify_book
from puhui.services.clock import business_date
from puhui.services.scheduler import list_job_runs
from puhui.services.servicing import expire_stale_requests

router = APIRouter(prefix="/v1", tags=["operations"])


@router.get("/products", **operation(
    "listProducts", R.ProductList, 403, 409,
    summary="Loan products, whether each is offered under the rate cap in force, with an "
            "example cost disclosure"))
def products(c: Call = Depends(read_call)):
    c.actor.require(Perm.READ)
    today = business_date(c.platform.clock)
    cap = c.read(lambda s: c.platform.cap_in_force(s, today))
    items = []
    for product in c.platform.term_products():
        example = quote(product, max(product.min_principal, 100_000_00), today)
        refusal = c.platform.offer_refusal(product, cap, today)
        items.append({**product.to_dict(), "offered": refusal is None,
                      "not_offered_reason": refusal, "example": {
                          "principal": example.principal, "apr": str(example.apr),
                          "apr_convention": example.convention,
                          "effective_annual_rate": str(example.effective_annual_rate)}})
    return encoded({"rate_cap": {"annual_limit": str(cap.annual_limit), "label": cap.label},
                    "items": items})


@router.post("/operations/end-of-day", **operation(
    "closeBusinessDay", R.EndOfDay, 403, 409, post=True,
    summary="Close a business day: accrue, charge, age"))
def end_of_day(body: BusinessDateIn, c: Call = Depends(call)):
    c.actor.require(Perm.OPERATE)
    day = check_close_date(body.business_date or business_date(c.platform.clock),
                           c.platform.clock, c.platform.book)
    unconsented_retention_days()  # a bad setting refuses the close before anything is done
    with c.platform.unit() as session:
        expired = apps.expire_stale(c.platform, session, c.actor)
        lapsed = expire_stale_requests(c.platform, session)
    closed = close_day(c.platform, c.actor, day)
    report = closed.report
    return encoded({"business_date": day.isoformat(), "loans": report.loans,
                    "entries": report.entries, "plain": report.plain,
                    "partitions": report.partitions, "failures": report.failures,
                    "expired_applications": expired,
                    "expired_servicing_requests": lapsed,
                    "unconsented_erased": len(closed.unconsented_erased),
                    "days_closed": [d.isoformat() for d in report.days]})


@router.post("/operations/auto-debit", **operation(
    "runAutoDebit", R.AutoDebitRun, 403, 409, post=True,
    summary="Pull what is due from bound accounts"))
def auto_debit(body: BusinessDateIn, c: Call = Depends(call)):
    return c.write(lambda s: loan_svc.auto_debit(c.platform, s, c.actor, body.business_date))


@router.get("/operations/job-runs", **operation(
    "listJobRuns", R.JobRunList, 403,
    summary="The scheduled jobs' recorded runs (close, provision, auto-debit, warnings, "
            "collections, reminders, line refresh), newest first"))
def job_runs(job: Optional[R.JobName] = Query(
                 None, description="only this job"),
             limit: int = Query(50, ge=1, le=200, description="how many"),
             c: Call = Depends(read_call)):
    return c.show(lambda s: list_job_runs(s, c.actor, job, limit), "items")


@router.get("/ledger/verify", **operation(
    "verifyLedger", R.LedgerVerified, 403,
    summary="Verify the journal's and the loan events' hash chains end to end"))
def verify(c: Call = Depends(read_call)):
    c.actor.require(Perm.OPERATE)
    verified = c.read(verify_book)
    return encoded({"verified_entries": verified.journal.seq,
                    "verified_events": verified.events.seq, **verified.to_dict()})


@router.get("/ledger/trial-balance", **operation(
    "getTrialBalance", R.TrialBalance, 403,
    summary="Balance per account; sums to zero"))
def trial_balance(c: Call = Depends(read_call)):
    c.actor.require(Perm.OPERATE)
    balances = c.read(balances_of)
    return encoded({"accounts": balances, "total": sum(balances.values())})


@router.post("/api-keys", **operation(
    "issueApiKey", R.ApiKeyIssued, 403, status=201, post=True,
    summary="Issue an API key (the token is shown once)"))
def issue(body: ApiKeyIn, c: Call = Depends(call)):
    c.actor.require(Perm.MANAGE_KEYS)

    def run(session):
        key = access.issue_key(session, body.name, body.role, body.subject, body.scopes,
                               c.platform.clock.now())
        return {"key_id": key.key_id, "token": key.token, "role": key.role.value,
                "scopes": sorted(p.value for p in key.perms), "subject": key.subject,
                "name": key.name}
    return c.write(run, 201)


@router.post("/api-keys/{key_id}/revoke", **operation(
    "revokeApiKey", R.ApiKeyRevoked, 403, 404, post=True, summary="Revoke an API key"))
def revoke(key_id: str, c: Call = Depends(call)):
    c.actor.require(Perm.MANAGE_KEYS)

    def run(session):
        access.revoke_key(session, key_id, c.platform.clock.now())
        return {"key_id": key_id, "revoked": True}
    return c.write(run)
