"""Shared lines and helpers of the line-policy tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from puhui.lines.policy import LineFacts, LineHistory, default_line_policy, load_line_policy
from puhui.loans.product import RateCap

TODAY = date(2026, 12, 7)
OPENED = date(2026, 1, 5)
CAP = RateCap(Decimal("0.24"), "24% cap")
SHIPPED = default_line_policy()


def line(**over: Any) -> LineFacts:
    """A healthy active line: 100,000 yuan limit, 20,000 drawn, 12% a year, opened in January,
    never changed, on a product lending up to 500,000 yuan, under a 24% cap."""
    base: dict[str, Any] = dict(line_id="LN1", limit=10_000_000, drawn=2_000_000,
                                annual_rate=Decimal("0.12"), status="active", opened_on=OPENED,
                                changed_on=None, product_max=50_000_000, rate_cap=CAP)
    base.update(over)
    return LineFacts(**base)


def quiet(**over: Any) -> dict[str, Any]:
    """Features of a business with nothing to say: no rule of the shipped policy fires."""
    base: dict[str, Any] = {"electricity_growth_mom": 0.02, "revenue_change_vs_12m": 0.01,
                            "revenue_last_month_fen": 5_000_000.0, "months_since_tax_filing": 1.0}
    base.update(over)
    return base


def history(**over: Any) -> LineHistory:
    base: dict[str, Any] = dict(on_time_months=2, days_past_due=0, missed_instalments_6m=0)
    base.update(over)
    return LineHistory(**base)


def policy_with(**over: Any):
    """The shipped policy's document with top-level fields replaced."""
    import json
    doc = json.loads(SHIPPED.canonical_json())
    doc.update(over)
    return load_line_policy(doc)
