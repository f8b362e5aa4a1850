"""The rate cap setting: the cap in force and its history, new versions and LPR publications
(admin keys only)."""

from __future__ import annotations

from datetime import date
from typing import Optional

from fastapi import APIRouter, Depends, Query

from puhui.api.calls import Call, call
from puhui.api.schemas import LprIn, RateCapVersionIn
from puhui.services import caps

router = APIRouter(prefix="/v1/rate-caps", tags=["operations"])


@router.get("", summary="The rate cap in force (with its provenance) and its whole history")
def show(on: Optional[date] = Query(None, description="default: today's business date"),
         c: Call = Depends(call)):
    caps.require_admin(c.actor)
    return c.read(lambda s: caps.show(c.platform, s, c.actor, on))


@router.post("/versions", status_code=201,
             summary="Record a new cap version: a fixed rate or a multiple of the one-year LPR")
def add_version(body: RateCapVersionIn, c: Call = Depends(call)):
    caps.require_admin(c.actor)
    return c.write(lambda s: caps.set_cap(c.platform, s, c.actor, body.kind, body.effective_from,
                                          body.rate, body.multiple, body.label, body.note), 201)


@router.post("/lpr", status_code=201, summary="Record a one-year LPR as published")
def add_lpr(body: LprIn, c: Call = Depends(call)):
    caps.require_admin(c.actor)
    return c.write(lambda s: caps.add_lpr(c.platform, s, c.actor, body.rate, body.published_on,
                                          body.effective_from), 201)
