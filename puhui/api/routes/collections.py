"""Collections (催收): queues, cases, contact attempts, promises to pay, restructuring offers,
write-off recommendations and the daily review (credit officers and admins only)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query

from puhui.api import responses as R
from puhui.api.calls import Call, call, read_call
from puhui.api.routes.common import operation
from puhui.api.schemas import (CollectionsRunIn, CollectorIn, ContactAttemptIn, PromiseIn,
                               RestructuringIn)
from puhui.services import collections as svc
from puhui.services.access import Perm
from puhui.services.ids import new_id

router = APIRouter(prefix="/v1/collections", tags=["collections"])


def _key(c: Call) -> str:
    """The act's own key: the caller's Idempotency-Key (which also replays the answer), or a
    fresh one (the act is recorded once per request)."""
    if c.idempotency_key is not None:
        return f"api:{c.actor.key_id}:{c.idempotency_key}"
    return f"api:{new_id('RQ')}"


@router.get("/queue", **operation(
    "listCollectionQueue", R.CollectionCaseList, 403,
    summary="Open cases by priority (amount overdue x days past due), highest first"))
def queue(collector: Optional[str] = Query(None, min_length=1, max_length=200,
                                           description="a collector's cases ('me': yours)"),
          unassigned: bool = Query(False, description="only cases no collector holds"),
          limit: int = Query(50, ge=1, le=500),
          c: Call = Depends(read_call)):
    svc.require_staff(c.actor)
    return c.show(lambda s: svc.queue(c.platform, s, c.actor, collector, unassigned, limit),
                  "items")


@router.get("/cases/{case_id}", **operation(
    "getCollectionCase", R.CollectionCaseDetail, 403, 404,
    summary="A case with its contact attempts, promises, offers and write-off advice"))
def get_case(case_id: str, c: Call = Depends(read_call)):
    svc.require_staff(c.actor)
    return c.show(lambda s: svc.show_case(c.platform, s, c.actor, case_id))


@router.get("/cases/{case_id}/audit", **operation(
    "getCollectionAudit", R.CollectionAuditTrail, 403, 404,
    summary="Everything done (or refused) on a case: who, when, what"))
def audit(case_id: str, c: Call = Depends(read_call)):
    svc.require_staff(c.actor)
    return c.show(lambda s: svc.audit_trail(c.platform, s, c.actor, case_id), "items")


@router.get("/loans/{loan_id}/cases", **operation(
    "listLoanCollectionCases", R.CollectionCaseList, 403, 404,
    summary="A loan's collection cases, one per delinquency episode"))
def loan_cases(loan_id: str, c: Call = Depends(read_call)):
    svc.require_staff(c.actor)
    return c.show(lambda s: svc.cases_of_loan(c.platform, s, c.actor, loan_id), "items")


@router.post("/cases/{case_id}/assignment", **operation(
    "assignCollectionCase", R.CollectionCase, 403, 404, 409, post=True,
    summary="Put an open case in a collector's queue"))
def assign(case_id: str, body: CollectorIn, c: Call = Depends(call)):
    svc.require_staff(c.actor)
    return c.write(lambda s: svc.assign(c.platform, s, c.actor, case_id, body.collector))


@router.post("/cases/{case_id}/attempts", **operation(
    "recordContactAttempt", R.ContactAttempt, 403, 404, 409, status=201, post=True,
    summary="Record a contact of the borrower, made now, within the contact rules",
    description="Refused with 409 contact-refused (and only the refusal audited) outside "
                "08:00-21:00 Asia/Shanghai, above 3 contacts a day or 10 in 7 days per "
                "borrower, or for anyone but the borrower. An outcome of promise_to_pay "
                "records the promise with it."))
def attempt(case_id: str, body: ContactAttemptIn, c: Call = Depends(call)):
    svc.require_staff(c.actor)
    key = _key(c)
    return c.write(lambda s: svc.record_attempt(
        c.platform, s, c.actor, case_id, channel=body.channel.value, party=body.party.value,
        outcome=body.outcome.value, key=key, note=body.note,
        promise_amount=body.promise_amount, promise_due=body.promise_due), 201)


@router.post("/cases/{case_id}/promises", **operation(
    "recordPromiseToPay", R.PromiseToPay, 403, 404, 409, status=201, post=True,
    summary="Record a promise to pay an amount by a date (checked daily against receipts)"))
def promise(case_id: str, body: PromiseIn, c: Call = Depends(call)):
    svc.require_staff(c.actor)
    key = _key(c)
    return c.write(lambda s: svc.record_promise(c.platform, s, c.actor, case_id,
                                                amount=body.amount, due_on=body.due_on,
                                                key=key), 201)


@router.post("/cases/{case_id}/restructuring-offers", **operation(
    "proposeRestructuring", R.RestructuringOffer, 403, 404, 409, status=201, post=True,
    summary="Propose a reschedule, extension or lower instalment, within the rate cap and "
            "the borrower's means",
    description="Terms above the rate cap in force answer 422 rate-cap-exceeded; terms the "
                "borrower cannot afford, or that raise the rate, 422 restructuring-refused; "
                "nothing changes on the loan until the offer is accepted."))
def propose(case_id: str, body: RestructuringIn, c: Call = Depends(call)):
    svc.require_staff(c.actor)
    key = _key(c)
    return c.write(lambda s: svc.propose_restructuring(
        c.platform, s, c.actor, case_id, kind=body.kind.value,
        affordable_instalment=body.affordable_instalment, key=key, periods=body.periods,
        extra_periods=body.extra_periods, annual_rate=body.annual_rate), 201)


@router.post("/restructuring-offers/{offer_id}/accept", **operation(
    "acceptRestructuring", R.RestructuringOffer, 403, 404, 409, post=True,
    summary="Record the borrower's acceptance: the offer becomes the loan's reschedule"))
def accept(offer_id: str, c: Call = Depends(call)):
    svc.require_staff(c.actor)
    return c.write(lambda s: svc.accept_offer(c.platform, s, c.actor, offer_id))


@router.post("/restructuring-offers/{offer_id}/decline", **operation(
    "declineRestructuring", R.RestructuringOffer, 403, 404, 409, post=True,
    summary="Record that the borrower declined the offer"))
def decline(offer_id: str, c: Call = Depends(call)):
    svc.require_staff(c.actor)
    return c.write(lambda s: svc.decline_offer(c.platform, s, c.actor, offer_id))


@router.get("/write-off-recommendations", **operation(
    "listWriteOffRecommendations", R.WriteOffCandidateList, 403,
    summary="Open cases recommended for write-off, with the reasons"))
def write_offs(c: Call = Depends(read_call)):
    svc.require_staff(c.actor)
    return c.show(lambda s: svc.write_off_recommendations(c.platform, s, c.actor), "items")


@router.post("/run", **operation(
    "runCollections", R.CollectionsRun, 403, post=True,
    summary="Review the book for a business date (what the daily collections job runs)"))
def run(body: CollectionsRunIn, c: Call = Depends(call)):
    svc.require_staff(c.actor)
    c.actor.require(Perm.OPERATE)
    return c.write(lambda s: svc.run_daily(c.platform, s, c.actor, body.business_date))
