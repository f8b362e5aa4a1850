"""Fresh data for post-loan monitoring, and the re-evaluations of credit lines it triggers."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query

from puhui.api import responses as R
from puhui.api.calls import Call, call, read_call
from puhui.api.routes.common import operation
from puhui.api.schemas import MonitoringDataIn
from puhui.services import reevaluation as svc

router = APIRouter(prefix="/v1", tags=["monitoring"])

#: The business-data sources a partner may push (not identity or bank-account binding).
SourceScope = Literal["tax", "sales", "utility", "logistics", "bank_statement", "bureau",
                      "app_behaviour"]


@router.post("/applicants/{applicant_id}/data/{scope}", **operation(
    "pushMonitoringData", R.MonitoringData, 403, 404, 409, status=201, post=True,
    summary="Push fresh data (a month of electricity use, daily sales, a tax filing) under a "
            "post_loan_monitoring consent; the borrower's credit lines are re-evaluated",
    description="Refused with 409 without a post_loan_monitoring consent in force for the "
                "scope, with 422 (invalid-data, naming the record and field) for a payload "
                "that fails validation, describes another business or a later day; nothing is "
                "stored then.  See docs/line-policy.md."))
def push(applicant_id: str, scope: SourceScope, body: MonitoringDataIn, c: Call = Depends(call)):
    payload = body.model_dump(mode="json")
    return c.write(lambda s: svc.push_data(c.platform, s, c.actor, applicant_id, scope, payload,
                                           c.platform.line_monitor), 201)


@router.get("/line-decisions", **operation(
    "listLineDecisions", R.LineDecisionList, 403, 404,
    summary="A credit line's re-evaluations, newest first"))
def list_decisions(line_id: str = Query(..., min_length=1, max_length=32),
                   limit: int = Query(50, ge=1, le=200), c: Call = Depends(read_call)):
    return c.show(lambda s: svc.line_decisions(s, c.actor, line_id, limit), "items")


@router.get("/line-decisions/{decision_id}", **operation(
    "getLineDecision", R.LineDecisionRecordOut, 403, 404, 409,
    summary="What a re-evaluation of a credit line used: the line, facts, scores, policy and "
            "model versions, data hashes, and its outcome"))
def get_decision(decision_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.stored_line_decision(s, c.actor, decision_id).to_dict())


@router.get("/line-decisions/{decision_id}/replay", **operation(
    "replayLineDecision", R.LineDecisionReplay, 403, 404, 409,
    summary="Re-derive a line decision from its record under the recorded line policy, with "
            "the trace of every rule"))
def replay_decision(decision_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.replay_line_decision(s, c.actor, decision_id,
                                                     c.platform.line_monitor))
