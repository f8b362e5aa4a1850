"""Disbursements, loans and repayments."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query

from puhui.api.calls import Call, call
from puhui.api.routes.common import Page, listing
from puhui.api.schemas import DisbursementIn, IsoDate, RefundIn, RepaymentIn
from puhui.errors import InvalidApplication
from puhui.services import loans as svc

router = APIRouter(prefix="/v1", tags=["loans"])


@router.post("/contracts/{contract_id}/disbursements", status_code=201,
             summary="Pay out a signed contract to the bound account or, entrusted, to a payee")
def disburse(contract_id: str, body: DisbursementIn, c: Call = Depends(call)):
    return c.write(lambda s: svc.disburse(c.platform, s, c.actor, contract_id, body.mode,
                                          body.payee_name, body.payee_account, body.reference), 201)


@router.get("/loans", summary="Loans visible to this key")
def list_loans(page: Page = Depends(), c: Call = Depends(call)):
    return listing(c, page, "loan_id",
                   lambda s, after, limit: svc.list_loans(c.platform, s, c.actor, after, limit))


@router.get("/loans/{loan_id}", summary="A loan: balances, delinquency and its schedule")
def get(loan_id: str,
        as_of: Optional[IsoDate] = Query(None, description="YYYY-MM-DD: from the loan's last "
                                         "event to 366 days after today (default: today)"),
        c: Call = Depends(call)):
    return c.read(lambda s: svc.loan_view(c.platform, s, c.actor, loan_id, as_of))


@router.post("/loans/{loan_id}/repayments", status_code=201,
             summary="Record a repayment or prepayment (Idempotency-Key required)")
def repay(loan_id: str, body: RepaymentIn, c: Call = Depends(call)):
    if c.idempotency_key is None:
        raise InvalidApplication("a repayment needs an Idempotency-Key header, so a retried "
                                 "request can never take the money twice")
    key = f"api:{c.actor.key_id}:{c.idempotency_key}"
    return c.write(lambda s: svc.repay(c.platform, s, c.actor, loan_id, body.amount, key,
                                       body.prepayment), 201)


@router.post("/loans/{loan_id}/refunds", status_code=201,
             summary="Refund a borrower's credit balance to the bound account (Idempotency-Key "
                     "required)")
def refund(loan_id: str, body: RefundIn | None = None, c: Call = Depends(call)):
    if c.idempotency_key is None:
        raise InvalidApplication("a refund needs an Idempotency-Key header, so a retried request "
                                 "can never pay the money out twice")
    key = f"api-refund:{c.actor.key_id}:{c.idempotency_key}"
    amount = body.amount if body else None
    return c.write(lambda s: svc.refund_credit(c.platform, s, c.actor, loan_id, key, amount), 201)
