"""The rate cap setting: the cap in force and its history, new versions and LPR publications
(admin keys only)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query

from puhui.api import examples as ex
from puhui.api import responses as R
from puhui.api.calls import Call, call, read_call
from puhui.api.routes.common import operation
from puhui.api.schemas import IsoDate, LprIn, RateCapVersionIn
from puhui.services import caps

router = APIRouter(prefix="/v1/rate-caps", tags=["operations"])


@router.get("", **operation(
    "getRateCaps", R.RateCaps, 403,
    summary="The rate cap in force (with its provenance) and its whole history"))
def show(on: Optional[IsoDate] = Query(None, description="default: today's business date"),
         c: Call = Depends(read_call)):
    caps.require_admin(c.actor)
    return c.show(lambda s: caps.show(c.platform, s, c.actor, on))


@router.post("/versions", **operation(
    "addRateCapVersion", R.RateCapVersion, 403, 409, status=201, post=True,
    example=ex.RATE_CAP_VERSION_OUT,
    summary="Record a new cap version: a fixed rate or a multiple of the one-year LPR"))
def add_version(body: RateCapVersionIn, c: Call = Depends(call)):
    caps.require_admin(c.actor)
    return c.write(lambda s: caps.set_cap(c.platform, s, c.actor, body.kind, body.effective_from,
                                          body.rate, body.multiple, body.label, body.note), 201)


@router.post("/lpr", **operation(
    "addLpr", R.LprPublication, 403, 409, status=201, post=True,
    summary="Record a one-year LPR as published"))
def add_lpr(body: LprIn, c: Call = Depends(call)):
    caps.require_admin(c.actor)
    return c.write(lambda s: caps.add_lpr(c.platform, s, c.actor, body.rate, body.published_on,
                                          body.effective_from), 201)
