"""Constructed facts for the early-warning tests: source payloads built record by record."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from puhui.parties.consent import DataScope
from puhui.risk.data.payload import SourceData, parse_payload

BUSINESS = "91310000MA1FL0000X"
PAYEE = "a" * 64
OWN = "b" * 64
OTHER = "c" * 64


def source(scope: DataScope, as_of: date, records: list[dict[str, Any]]) -> SourceData:
    return parse_payload(scope, {"business_id": BUSINESS, "as_of": as_of.isoformat(),
                                 "records": records})


def electricity(as_of: date, usage_by_month: dict[str, int]) -> SourceData:
    def billed(month: str) -> str:  # the 5th of the month after
        y, m = int(month[:4]), int(month[5:])
        return date(y + m // 12, m % 12 + 1, 5).isoformat()
    return source(DataScope.UTILITY, as_of, [
        {"utility": "electricity", "period_month": m, "usage": u, "amount_fen": u * 80,
         "billed_on": billed(m), "due_on": billed(m), "paid_on": billed(m)}
        for m, u in usage_by_month.items()])


def vat_filed(as_of: date, *filed: date) -> SourceData:
    return source(DataScope.TAX, as_of, [
        {"tax_type": "vat", "period_start": (d.replace(day=1) - timedelta(days=1)).replace(
            day=1).isoformat(),
         "period_end": (d.replace(day=1) - timedelta(days=1)).isoformat(),
         "filed_on": d.isoformat(),
         "declared_revenue_fen": 100_000_00, "tax_paid_fen": 1_000_00} for d in filed])


def bureau(as_of: date, overdue: dict[str, int] | None = None,
           enquiries: list[date] | None = None, reason: str = "loan_approval") -> SourceData:
    return source(DataScope.BUREAU, as_of, [{
        "reported_on": as_of.isoformat(), "loans": [],
        "overdue_history": [{"month": m, "overdue_days": d} for m, d in (overdue or {}).items()],
        "enquiries": [{"enquired_on": d.isoformat(), "reason": reason}
                      for d in (enquiries or [])]}])


def statement(as_of: date, lines: list[tuple[date, int, str]]) -> SourceData:
    balance, records = 0, []
    for booked, amount, party in lines:
        balance += amount
        records.append({"booked_on": booked.isoformat(), "amount_fen": amount,
                        "counterparty_hash": party, "balance_after_fen": balance})
    return source(DataScope.BANK_STATEMENT, as_of, records)


def sales(as_of: date, monthly: dict[str, int]) -> SourceData:
    """One POS order on the 10th of each month ("YYYY-MM": fen)."""
    return source(DataScope.SALES, as_of, [
        {"order_id": f"o{n}", "ordered_on": f"{m}-10", "channel": "pos", "amount_fen": fen,
         "customer_hash": "a" * 16, "refunded": False}
        for n, (m, fen) in enumerate(monthly.items())])
