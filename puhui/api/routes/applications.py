"""Applications through their workflow, offers and contracts."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends, Query

from puhui.api import examples as ex
from puhui.api import responses as R
from puhui.api.calls import Call, call, read_call
from puhui.api.routes.common import Page, listing, operation
from puhui.api.schemas import AcceptIn, ApplicationIn, ReviewIn, SignIn, WithdrawIn
from puhui.origination.workflow import ApplicationStatus
from puhui.services import applications as svc
from puhui.services import privacy, risk

router = APIRouter(prefix="/v1", tags=["applications"])


@router.post("/applications", **operation(
    "createApplication", R.Application, 403, 404, 409, status=201, post=True,
    example=ex.APPLICATION_OUT,
    summary="Create an application (a draft, or with submit=true straight to a decision)"))
async def create(body: ApplicationIn, c: Call = Depends(call)):
    # The straight-through path partners call at checkout volume (see Call.write_hot).
    def run(s):
        make = svc.apply if body.submit else svc.create_application
        row = make(c.platform, s, c.actor, body.applicant_id, body.product_code, body.amount,
                   body.purpose)
        return svc.application_view(s, row)
    return await c.write_hot(run, 201)


@router.get("/applications", **operation(
    "listApplications", R.ApplicationPage, 400, 403,
    summary="List applications visible to this key"))
def list_applications(page: Page = Depends(), status: ApplicationStatus | None = Query(None),
                      c: Call = Depends(read_call)):
    wanted = status.value if status is not None else None
    return listing(c, page, "application_id",
                   lambda s, after, limit: svc.list_applications(s, c.actor, after, limit, wanted))


@router.get("/applications/{application_id}", **operation(
    "getApplication", R.Application, 403, 404,
    summary="An application with its decision and offer"))
def get(application_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.get_application(s, c.actor, application_id))


@router.get("/applications/{application_id}/history", **operation(
    "getApplicationHistory", R.History, 403, 404, summary="Every state change, who and why"))
def history(application_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.history(s, c.actor, application_id), "items")


@router.get("/applications/{application_id}/decision-record", **operation(
    "getDecisionRecord", R.DecisionRecord, 403, 404,
    summary="What the automated decision used: facts, scores, policy and model versions, "
            "every rule's trace (credit officers and admins)"))
def decision_record(application_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: risk.record_json(risk.stored_record(s, c.actor, application_id)))


@router.get("/applications/{application_id}/decision-record/replay", **operation(
    "replayDecision", R.DecisionReplay, 403, 404,
    summary="Re-derive the decision from its record under the recorded policy version"))
def replay_decision(application_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: risk.replay_decision(c.platform, s, c.actor, application_id))


@router.post("/applications/{application_id}/submit", **operation(
    "submitApplication", R.Application, 403, 404, 409, post=True,
    summary="Submit: verify identity, decide, and offer, decline or refer"))
def submit(application_id: str, c: Call = Depends(call)):
    return c.write(lambda s: svc.application_view(
        s, svc.submit(c.platform, s, c.actor, application_id)))


@router.post("/applications/{application_id}/withdraw", **operation(
    "withdrawApplication", R.Application, 403, 404, 409, post=True,
    summary="Withdraw the application"))
def withdraw(application_id: str, body: WithdrawIn | None = None, c: Call = Depends(call)):
    reason = body.reason if body else ""
    return c.write(lambda s: svc.application_view(
        s, svc.withdraw(c.platform, s, c.actor, application_id, reason)))


@router.post("/applications/{application_id}/review", **operation(
    "reviewApplication", R.Application, 403, 404, 409, post=True,
    summary="A credit officer decides a referred application"))
def review(application_id: str, body: ReviewIn, c: Call = Depends(call)):
    rate = Decimal(body.annual_rate) if body.annual_rate is not None else None
    return c.write(lambda s: svc.application_view(s, svc.review(
        c.platform, s, c.actor, application_id, body.approve, body.note, body.amount, rate)))


@router.post("/applications/{application_id}/accept", **operation(
    "acceptOffer", R.Contract, 403, 404, 409, status=201, post=True,
    summary="Accept the offer: creates the contract and attests its hash on the ledger"))
def accept(application_id: str, body: AcceptIn, c: Call = Depends(call)):
    return c.write(lambda s: svc.accept_offer(c.platform, s, c.actor, application_id,
                                              body.account_id), 201)


@router.get("/contracts/{contract_id}", **operation(
    "getContract", R.Contract, 403, 404,
    summary="A contract, its content hash and ledger entry"))
def contract(contract_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.get_contract(s, c.actor, contract_id))


@router.get("/contracts/{contract_id}/full", **operation(
    "getFullContract", R.Contract, 403, 404,
    summary="The contract with personal numbers in full (staff with read_personal; a reason is "
            "required and every read is logged)"))
def contract_full(contract_id: str,
                  reason: str = Query("", max_length=500,
                                      description="why the full text is read (required)"),
                  c: Call = Depends(read_call)):
    return c.write(lambda s: privacy.full_contract(c.platform, s, c.actor, contract_id, reason))


@router.get("/contracts/{contract_id}/verify", **operation(
    "verifyContract", R.ContractVerification, 403, 404,
    summary="Whether the full content still hashes to the hash attested on the ledger"))
def contract_verify(contract_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: privacy.verify_contract_hash(s, c.actor, contract_id))


@router.post("/contracts/{contract_id}/sign", **operation(
    "signContract", R.Contract, 403, 404, 409, post=True,
    summary="Sign by confirming the content hash of the contract shown"))
def sign(contract_id: str, body: SignIn, c: Call = Depends(call)):
    return c.write(lambda s: svc.sign_contract(c.platform, s, c.actor, contract_id,
                                               body.content_hash))
