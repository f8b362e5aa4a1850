"""Disbursements, loans and repayments."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query

from puhui.api import examples as ex
from puhui.api import responses as R
from puhui.api.calls import Call, call, keyed_call, read_call
from puhui.api.routes.common import Page, listing, operation
from puhui.api.schemas import DisbursementIn, IsoDate, RefundIn, RepaymentIn
from puhui.services import loans as svc

router = APIRouter(prefix="/v1", tags=["loans"])


@router.post("/contracts/{contract_id}/disbursements", **operation(
    "disburseContract", R.Disbursement, 403, 404, 409, status=201, post=True,
    summary="Pay out a signed contract to the bound account or, entrusted, to a payee"))
def disburse(contract_id: str, body: DisbursementIn, c: Call = Depends(call)):
    return c.write(lambda s: svc.disburse(c.platform, s, c.actor, contract_id, body.mode,
                                          body.payee_name, body.payee_account, body.reference), 201)


@router.get("/loans", **operation("listLoans", R.LoanPage, 400, 403,
                                  summary="Loans visible to this key"))
def list_loans(page: Page = Depends(), c: Call = Depends(read_call)):
    return listing(c, page, "loan_id",
                   lambda s, after, limit: svc.list_loans(c.platform, s, c.actor, after, limit))


@router.get("/loans/{loan_id}", **operation(
    "getLoan", R.Loan, 403, 404, summary="A loan: balances, delinquency and its schedule"))
def get(loan_id: str,
        as_of: Optional[IsoDate] = Query(None, description="YYYY-MM-DD: from the loan's last "
                                         "event to 366 days after today (default: today)"),
        c: Call = Depends(read_call)):
    return c.show(lambda s: svc.loan_view(c.platform, s, c.actor, loan_id, as_of))


@router.post("/loans/{loan_id}/repayments", **operation(
    "recordRepayment", R.Repayment, 403, 404, 409, status=201, post=True,
    example=ex.REPAYMENT_OUT,
    summary="Record a repayment or prepayment (Idempotency-Key required)"))
def repay(loan_id: str, body: RepaymentIn, c: Call = Depends(keyed_call)):
    key = f"api:{c.actor.key_id}:{c.idempotency_key}"
    return c.write(lambda s: svc.repay(c.platform, s, c.actor, loan_id, body.amount, key,
                                       body.prepayment), 201)


@router.post("/loans/{loan_id}/refunds", **operation(
    "refundCredit", R.Refund, 403, 404, 409, status=201, post=True,
    summary="Refund a borrower's credit balance to the bound account (Idempotency-Key "
            "required)",
    description="Without a body (or an amount) the whole credit balance is refunded; never more "
                "than it (409 otherwise). A retry with the same Idempotency-Key pays nothing "
                "more and answers as the first request did."))
def refund(loan_id: str, body: Optional[RefundIn] = None, c: Call = Depends(keyed_call)):
    key = f"api-refund:{c.actor.key_id}:{c.idempotency_key}"
    amount = body.amount if body else None
    return c.write(lambda s: svc.refund_credit(c.platform, s, c.actor, loan_id, key, amount), 201)
