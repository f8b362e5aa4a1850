"""Credit lines: grant on a signed contract, list and show, draw down, and staff changes."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Optional

from fastapi import APIRouter, Depends, Query

from puhui.api import responses as R
from puhui.api.calls import Call, call, keyed_call, read_call
from puhui.api.routes.common import Page, listing, operation
from puhui.api.schemas import DrawIn, LineChangeIn, LineGrantIn
from puhui.lines.line import LineStatus
from puhui.services import lines as svc

router = APIRouter(prefix="/v1", tags=["lines"])


def _key(c: Call, prefix: str = "api") -> str:
    """The key the line's events keep: the caller's key, scoped to the API key; a long one by
    its digest, so every Idempotency-Key the API accepts fits the events' key."""
    key = f"{prefix}:{c.actor.key_id}:{c.idempotency_key}"
    if len(key) <= 160:
        return key
    digest = hashlib.sha256(str(c.idempotency_key).encode()).hexdigest()
    return f"{prefix}:{c.actor.key_id}:sha256:{digest}"


@router.post("/contracts/{contract_id}/line", **operation(
    "grantLine", R.LineGrant, 403, 404, 409, status=201, post=True,
    summary="Grant the credit line a signed contract describes, instead of paying it out",
    description="The limit is the offer's amount, the price its rate; once per contract. "
                "The body may be empty (`{}`)."))
def grant(contract_id: str, body: LineGrantIn, c: Call = Depends(call)):
    key = _key(c, "api-grant") if c.idempotency_key else f"grant:{contract_id}"
    return c.write(lambda s: svc.grant(c.platform, s, c.actor, contract_id, key=key,
                                       expires_on=body.expires_on), 201)


@router.get("/lines", **operation("listLines", R.LinePage, 400, 403,
                                  summary="Credit lines visible to this key"))
def list_lines(page: Page = Depends(),
               status: Optional[LineStatus] = Query(None, description="only lines in this status"),
               c: Call = Depends(read_call)):
    wanted = status.value if status else None
    return listing(c, page, "line_id", lambda s, after, limit: svc.list_lines(
        c.platform, s, c.actor, after, limit, wanted))


@router.get("/lines/{line_id}", **operation(
    "getLine", R.CreditLineDetail, 403, 404,
    summary="A credit line: limit, drawn, available, the loans under it and its events"))
def get(line_id: str, c: Call = Depends(read_call)):
    return c.show(lambda s: svc.get_line(c.platform, s, c.actor, line_id))


@router.post("/lines/{line_id}/draws", **operation(
    "drawOnLine", R.LineDraw, 403, 404, 409, status=201, post=True,
    summary="Draw down a credit line as a new loan paid to the bound account "
            "(Idempotency-Key required)",
    description="Within the available amount of an active line before its expiry, at least "
                "the product's minimum; the loan's cost is disclosed as offers disclose it. A "
                "retry with the same Idempotency-Key draws nothing more."))
def draw(line_id: str, body: DrawIn, c: Call = Depends(keyed_call)):
    key = _key(c)
    return c.write(lambda s: svc.draw(c.platform, s, c.actor, line_id, body.amount, key=key),
                   201)


@router.post("/lines/{line_id}/changes", **operation(
    "changeLine", R.LineChange, 403, 404, 409, status=200, post=True,
    summary="Change a line's limit or price, freeze, unfreeze or close it, with the reason "
            "(officer or admin; Idempotency-Key required)"))
def change(line_id: str, body: LineChangeIn, c: Call = Depends(keyed_call)):
    key = _key(c)
    rate = Decimal(body.annual_rate) if body.annual_rate is not None else None
    return c.write(lambda s: svc.change_line(
        c.platform, s, c.actor, line_id, key=key, reason=body.reason, limit=body.limit,
        annual_rate=rate, freeze=body.freeze, close=body.close))
