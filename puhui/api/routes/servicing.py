"""Staff servicing with maker-checker: an officer asks for an operation on a loan, a second
officer approves or rejects it (docs/servicing.md)."""

from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Depends, Query

from puhui.api import responses as R
from puhui.api.calls import Call, keyed_call, read_call
from puhui.api.routes.common import Page, listing, operation
from puhui.api.schemas import ServicingRejectIn, ServicingRequestIn
from puhui.services import servicing as svc

router = APIRouter(prefix="/v1", tags=["servicing"])

Status = Literal["pending", "applied", "rejected", "expired", "failed"]


def _key(c: Call) -> str:
    """The service's key: the caller's Idempotency-Key, per API key."""
    return f"api:{c.actor.key_id}:{c.idempotency_key}"


@router.post("/loans/{loan_id}/servicing-requests", **operation(
    "requestServicing", R.ServicingRequest, 403, 404, 409, status=201, post=True,
    summary="Ask for a staff servicing operation on a loan (Idempotency-Key required)",
    description="Reschedule, extend, waive penalty or fees, refund credit, reverse a payment, "
                "write off, record a recovery, freeze or unfreeze. The operation is tried on "
                "the loan first (a reschedule also against the rate cap in force): one that "
                "could not be applied is refused (409/422) and nothing is stored. It is applied "
                "at once when the approval rules let it through (status applied), otherwise it "
                "waits for a second person (status pending)."))
def request(loan_id: str, body: ServicingRequestIn, c: Call = Depends(keyed_call)):
    params = {**body.params, "reason": body.reason}
    return c.write(lambda s: svc.request_operation(c.platform, s, c.actor, loan_id,
                                                   body.operation.value, params, _key(c)), 201)


@router.post("/servicing-requests/{request_id}/approve", **operation(
    "approveServicing", R.ServicingRequest, 403, 404, 409, post=True,
    summary="Approve another's servicing request: it is applied now (Idempotency-Key "
            "required)",
    description="The request's maker may not approve it (403). A request decided already or "
                "past its time answers 409. If applying fails (the loan changed since the "
                "request), the loan is unchanged and the request is closed as failed with the "
                "reason."))
def approve(request_id: str, c: Call = Depends(keyed_call)):
    return c.write(lambda s: svc.approve(c.platform, s, c.actor, request_id, _key(c)))


@router.post("/servicing-requests/{request_id}/reject", **operation(
    "rejectServicing", R.ServicingRequest, 403, 404, 409, post=True,
    summary="Reject a servicing request with a note; nothing happens to the loan "
            "(Idempotency-Key required)"))
def reject(request_id: str, body: ServicingRejectIn, c: Call = Depends(keyed_call)):
    return c.write(lambda s: svc.reject(c.platform, s, c.actor, request_id, _key(c), body.note))


@router.get("/servicing-requests", **operation(
    "listServicingRequests", R.ServicingRequestPage, 400, 403,
    summary="Servicing requests, oldest first (status=pending: the checkers' queue)"))
def list_requests(status: Optional[Status] = Query(None, description="only this status"),
                  loan_id: Optional[str] = Query(None, max_length=64,
                                                 description="only this loan's"),
                  page: Page = Depends(), c: Call = Depends(read_call)):
    return listing(c, page, "request_id", lambda s, after, limit: svc.list_requests(
        c.platform, s, c.actor, status=status, loan_id=loan_id, after=after, limit=limit))


@router.get("/servicing-requests/{request_id}", **operation(
    "getServicingRequest", R.ServicingRequest, 403, 404,
    summary="A servicing request and its outcome"))
def get(request_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.get_request(c.platform, s, c.actor, request_id))
