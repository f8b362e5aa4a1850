"""Early-warning watch list and portfolio risk, for staff (credit officers and administrators)."""

from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Depends, Query

from puhui.api import responses as R
from puhui.api.calls import Call, read_call
from puhui.api.routes.common import operation
from puhui.api.schemas import IsoDate
from puhui.services import portfolio
from puhui.services import warnings as watch

router = APIRouter(prefix="/v1", tags=["risk"])


@router.get("/warnings", **operation(
    "listWarnings", R.WatchList, 403,
    summary="The book by early-warning status, with the signals and actions behind each loan"))
def list_warnings(status: Optional[Literal["normal", "watch", "alert"]] = Query(
                      None, description="only loans in this status"),
                  on: Optional[IsoDate] = Query(None, description="the day (default: the "
                                                                  "latest assessed)"),
                  after: Optional[str] = Query(None, max_length=64,
                                               description="loan id to continue after"),
                  limit: int = Query(200, ge=1, le=1000, description="loans per page"),
                  c: Call = Depends(read_call)):
    return c.show(lambda s: watch.watch_list(c.platform, s, c.actor, status, on, after, limit))


@router.get("/portfolio/report", **operation(
    "getPortfolioReport", R.PortfolioReport, 403,
    summary="Roll rates, vintages, NPL ratio, expected loss and provisions at a month end"))
def portfolio_report(month: Optional[str] = Query(
                         None, pattern=r"^\d{4}-\d{2}$",
                         description="YYYY-MM (default: the last month that has ended)"),
                     c: Call = Depends(read_call)):
    return c.show(lambda s: portfolio.report(c.platform, s, c.actor, month))


@router.get("/portfolio/provisions", **operation(
    "listProvisions", R.ProvisionList, 403,
    summary="The loan-loss provisions posted, month by month"))
def provisions(c: Call = Depends(read_call)):
    return c.show(lambda s: portfolio.provisions_posted(s, c.actor), "items")
