"""Shared samples for the business-data tests: small worlds (built once) and hand-made records."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SOURCES, SourceData, parse_payload
from puhui.risk.data.world import SyntheticWorld
from puhui.risk.errors import SourceUnavailable

AS_OF = date(2025, 11, 12)


@lru_cache(maxsize=4)
def world(n: int = 600, seed: int = 3) -> SyntheticWorld:
    return SyntheticWorld(n, seed=seed, start=date(2024, 1, 1), months=36)


def fetched(w: SyntheticWorld, business_id: str, as_of: date = AS_OF,
            scopes=SOURCES) -> dict[DataScope, SourceData]:
    """What the world's connectors return for a business, validated."""
    out = {}
    for scope in scopes:
        try:
            out[scope] = parse_payload(scope, w.payload(scope, business_id, as_of))
        except SourceUnavailable:
            pass
    return out


def envelope(records: list[dict], as_of: str = "2026-05-20", business_id: str = "B1") -> dict:
    return {"business_id": business_id, "as_of": as_of, "records": records}


def order(ordered_on: str = "2026-03-05", amount: int = 10_000, customer: str = "c1",
          refunded_on: str | None = None, channel: str = "pos", order_id: str = "o") -> dict:
    return {"order_id": order_id, "ordered_on": ordered_on, "channel": channel,
            "amount_fen": amount, "customer_hash": (customer.encode().hex() * 16)[:16],
            "refunded": refunded_on is not None, "refunded_on": refunded_on}


def filing(start: str = "2026-01-01", end: str = "2026-03-31", filed: str = "2026-04-10",
           revenue: int = 300_000, paid: int = 3_000, kind: str = "vat") -> dict:
    return {"tax_type": kind, "period_start": start, "period_end": end, "filed_on": filed,
            "declared_revenue_fen": revenue, "tax_paid_fen": paid}


def bill(month: str = "2026-03", billed: str = "2026-04-03", due: str = "2026-04-18",
         paid: str | None = "2026-04-10", usage: int = 100, kind: str = "electricity") -> dict:
    return {"utility": kind, "period_month": month, "usage": usage, "amount_fen": usage * 85,
            "billed_on": billed, "due_on": due, "paid_on": paid}


def line(booked_on: str, amount: int, balance: int, party: str = "aa") -> dict:
    return {"booked_on": booked_on, "amount_fen": amount,
            "counterparty_hash": (party * 16)[:16], "balance_after_fen": balance}


def report(reported_on: str = "2026-05-01", loans=(), history=(), enquiries=()) -> dict:
    return {"reported_on": reported_on, "loans": list(loans), "overdue_history": list(history),
            "enquiries": list(enquiries)}


def event(at: str, kind: str = "login", device: str = "d1", session: str = "s1") -> dict:
    return {"occurred_at": at, "event_type": kind, "session_id": session, "device_id": device}


def utility_bill(kind: str, month: int, usage: int, paid: bool, leave_out: bool,
                 first_year: int = 2025) -> dict:
    """A utility bill record for the `month`-th month from January of `first_year`: paid three
    days after billing, unpaid (`paid_on` None), or with `paid_on` left out."""
    period = date(first_year + month // 12, month % 12 + 1, 1)
    billed = (period + timedelta(days=40)).replace(day=5)
    record = {"utility": kind, "period_month": period.strftime("%Y-%m"), "usage": usage,
              "amount_fen": usage * 80, "billed_on": billed.isoformat(),
              "due_on": (billed + timedelta(days=10)).isoformat()}
    if paid:
        record["paid_on"] = (billed + timedelta(days=3)).isoformat()
    elif not leave_out:
        record["paid_on"] = None
    return record
