"""Operating the rate cap setting: show the cap in force and its history, record a new version
or an LPR publication.

Why admin only: the cap decides which prices are legal for every product, offer and policy;
changing it is a compliance act, so only an admin key may see its history or change it, and
each change records who made it.  The API and the CLI both come through here; the rules
(bounds, nothing retroactive) are the domain's (`puhui.loans.caps`), the rows the store's.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from puhui.errors import InvalidRateCap, NoRateCapInForce
from puhui.loans.caps import MAX_DAYS_AHEAD, CapVersion, LprPublication, cap_to_dict
from puhui.services.access import Principal, Role
from puhui.services.clock import business_date
from puhui.services.errors import AccessDenied
from puhui.services.platform import Platform
from puhui.store.caps_repo import load_cap_schedule, record_cap_version, record_lpr


def require_admin(actor: Principal) -> None:
    if actor.role is not Role.ADMIN:
        raise AccessDenied(f"only an admin key may see or change the rate cap, not a "
                           f"{actor.role.value} key")


def version_view(v: CapVersion) -> dict[str, Any]:
    return {"version": v.version, "effective_from": v.effective_from.isoformat(),
            "kind": v.kind.value, "rate": None if v.rate is None else str(v.rate),
            "multiple": None if v.multiple is None else str(v.multiple),
            "label": v.description, "note": v.note,
            "recorded_at": v.recorded_at.isoformat() if v.recorded_at else None,
            "recorded_by": v.recorded_by}


def lpr_view(lpr: LprPublication) -> dict[str, Any]:
    return {"id": lpr.id, "rate": str(lpr.rate), "published_on": lpr.published_on.isoformat(),
            "effective_from": lpr.effective_from.isoformat(),
            "recorded_at": lpr.recorded_at.isoformat() if lpr.recorded_at else None,
            "recorded_by": lpr.recorded_by}


def show(p: Platform, session: Session, actor: Principal, on: date | None = None
         ) -> dict[str, Any]:
    """The cap in force on `on` (default: the business date) with its provenance, the
    products it stops being offered and why, and the whole history."""
    require_admin(actor)
    today = business_date(p.clock)
    day = on or today
    if not date(2000, 1, 1) <= day <= today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidRateCap(f"the cap can be shown from 2000-01-01 to {MAX_DAYS_AHEAD} days "
                             f"ahead, not on {day}")
    schedule = load_cap_schedule(session)
    try:
        cap = schedule.cap_in_force(day)
        in_force: dict[str, Any] | None = cap_to_dict(cap)
        refused = {product.code: p.offer_refusal(product, cap, day)
                   for product in p.term_products()}
        not_offered = {code: why for code, why in refused.items() if why is not None}
        problem = None
    except NoRateCapInForce as exc:
        in_force, not_offered, problem = None, {}, str(exc)
    return {"on": day.isoformat(), "in_force": in_force, "problem": problem,
            "products_not_offered": not_offered,
            "versions": [version_view(v) for v in schedule.versions],
            "lpr_publications": [lpr_view(x) for x in schedule.lprs]}


def set_cap(p: Platform, session: Session, actor: Principal, kind: str,
            effective_from: date, rate: Decimal | str | None = None,
            multiple: Decimal | str | None = None, label: str = "", note: str = ""
            ) -> dict[str, Any]:
    """Record a new cap version taking effect on `effective_from` (today at the earliest)."""
    require_admin(actor)
    draft = CapVersion(0, effective_from, kind, rate, multiple, label, note)  # type: ignore[arg-type]
    stored = record_cap_version(session, draft, business_date(p.clock), p.clock.now(),
                                actor.key_id)
    return version_view(stored)


def add_lpr(p: Platform, session: Session, actor: Principal, rate: Decimal | str,
            published_on: date, effective_from: date | None = None) -> dict[str, Any]:
    """Record a one-year LPR as published on `published_on`, taking effect on
    `effective_from` (default: the publication date, or today if that has passed)."""
    require_admin(actor)
    today = business_date(p.clock)
    start = effective_from if effective_from is not None else max(published_on, today) \
        if isinstance(published_on, date) else published_on
    draft = LprPublication(0, rate, published_on, start)  # type: ignore[arg-type]
    return lpr_view(record_lpr(session, draft, today, p.clock.now(), actor.key_id))
