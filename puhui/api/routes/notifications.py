"""Notifications: a borrower's own (a partner's borrowers', staff everyone's), the delivery log
for staff, and the borrower's e-mail address or push token."""

from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Depends, Query

from puhui.api import responses as R
from puhui.api.calls import Call, call, read_call
from puhui.api.routes.common import CURSOR_PATTERN, Page, listing, operation
from puhui.api.schemas import NotificationContactIn
from puhui.services import notifications as svc

router = APIRouter(prefix="/v1", tags=["notifications"])

_ID = Query(None, max_length=64, pattern=CURSOR_PATTERN)


@router.get("/notifications", **operation(
    "listNotifications", R.NotificationPage, 400, 403, 404,
    summary="Notifications: a borrower key its own, a partner key its borrowers', staff all",
    description="Reminders and notices per channel, oldest first, recipients masked. A "
                "borrower or partner key naming an applicant outside its scope gets 404."))
def list_notifications(
        applicant_id: Optional[str] = Query(None, max_length=64, pattern=CURSOR_PATTERN,
                                            description="one applicant"),
        status: Optional[Literal["pending", "sending", "sent", "failed", "abandoned",
                                 "not_configured", "capped", "no_address"]] = Query(None),
        page: Page = Depends(), c: Call = Depends(read_call)):
    return listing(c, page, "notification_id",
                   lambda s, after, limit: svc.list_notifications(s, c.actor, applicant_id,
                                                                  after, limit, status))


@router.get("/notifications/deliveries", **operation(
    "listNotificationDeliveries", R.NotificationDeliveryPage, 400, 403,
    summary="The delivery log: every attempt, its outcome and error (staff keys only)"))
def list_deliveries(notification_id: Optional[str] = _ID,
                    applicant_id: Optional[str] = Query(None, max_length=64,
                                                        pattern=CURSOR_PATTERN),
                    page: Page = Depends(), c: Call = Depends(read_call)):
    return listing(c, page, "delivery_id",
                   lambda s, after, limit: svc.list_deliveries(s, c.actor, after, limit,
                                                               notification_id, applicant_id))


@router.post("/applicants/{applicant_id}/notification-contacts", **operation(
    "setNotificationContact", R.NotificationContact, 403, 404, status=201, post=True,
    summary="Give the borrower's e-mail address or app push token for notifications",
    description="Stored sealed under the applicant's data key and shown masked; a new address "
                "for the same channel replaces the old one. SMS goes to the registered mobile."))
def set_contact(applicant_id: str, body: NotificationContactIn, c: Call = Depends(call)):
    return c.write(lambda s: svc.set_contact(c.platform, s, c.actor, applicant_id, body.channel,
                                             body.address), 201)
