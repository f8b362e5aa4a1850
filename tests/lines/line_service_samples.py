"""Helpers of the re-evaluation service tests: an applicant with consents, credit lines kept in
memory (the part of the lines' own service the re-evaluation calls), and hand-made payloads."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from puhui.lines.policy import default_line_policy
from puhui.parties.synthetic import small_business
from puhui.risk.panel import add_months
from puhui.services import applicants as svc
from puhui.services.access import Perm, Principal, Role
from puhui.services.clock import business_date
from puhui.services.platform import Platform
from puhui.services.reevaluation import LineMonitor
from line_policy_samples import TODAY

ADMIN = Principal("K1", Role.ADMIN, frozenset(Perm), None)
BUSINESS = small_business(random.Random(4), TODAY)
USCC = BUSINESS.uscc


def applicant(p: Platform, purposes=("post_loan_monitoring",),
              scopes=("utility", "sales", "tax")) -> str:
    with p.unit() as session:
        applicant_id = svc.register_applicant(p, session, ADMIN, BUSINESS)["applicant_id"]
        for purpose in purposes:
            svc.grant_consent(p, session, ADMIN, applicant_id, purpose, list(scopes))
    return applicant_id


@dataclass(frozen=True)
class FakeLine:
    """The agreed `CreditLine` attributes the re-evaluation reads."""

    line_id: str
    applicant_id: str
    product_code: str = "SME-RV-180"
    currency: str = "CNY"
    limit: int = 10_000_000
    drawn: int = 2_000_000
    annual_rate: Decimal = Decimal("0.12")
    opened_on: date = date(2026, 1, 5)
    expires_on: date = date(2027, 1, 5)
    status: str = "active"
    changed_on: date | None = None
    version: int = 1


class LineRecorder:
    """Credit lines in memory and every `change_line` call, idempotent on its key as the real
    one is; `refuse` makes the next call raise a domain error."""

    def __init__(self) -> None:
        self.lines: dict[str, FakeLine] = {}
        self.calls: list[dict[str, Any]] = []
        self.answers: dict[str, dict] = {}
        self.refuse: Exception | None = None

    def add(self, line: FakeLine) -> FakeLine:
        self.lines[line.line_id] = line
        return line

    def lines_of(self, session: Any, applicant_id: str) -> list[FakeLine]:
        return [x for x in self.lines.values() if x.applicant_id == applicant_id]

    def change_line(self, p: Platform, session: Any, actor: Principal, line_id: str, *, key: str,
                    reason: str, limit: int | None = None, annual_rate: Decimal | None = None,
                    freeze: bool | None = None, decision_id: str | None = None) -> dict:
        if key in self.answers:
            return self.answers[key]
        if self.refuse is not None:
            exc, self.refuse = self.refuse, None
            raise exc
        self.calls.append({"line_id": line_id, "key": key, "reason": reason, "limit": limit,
                           "annual_rate": annual_rate, "freeze": freeze,
                           "decision_id": decision_id, "actor": actor.key_id})
        line = self.lines[line_id]
        status = line.status if freeze is None else ("frozen" if freeze else "active")
        line = replace(line, limit=line.limit if limit is None else limit,
                       annual_rate=line.annual_rate if annual_rate is None else annual_rate,
                       status=status, changed_on=business_date(p.clock),
                       version=line.version + 1)
        self.lines[line_id] = line
        self.answers[key] = {"line_id": line_id, "version": line.version}
        return self.answers[key]


class FeatureScorer:
    """A stand-in for the models that can travel to worker processes (it pickles): a PD read
    off the features, so a batch scored in workers compares with one borrower scored here.
    `calls` counts the borrowers scored by this very object."""

    def __init__(self) -> None:
        self.calls = 0

    def score(self, features: Any) -> Any:
        from puhui.decision.scoring import ModelScores

        self.calls += 1
        months = features.get("months_of_history") or 0.0
        return ModelScores(round(0.02 + 0.001 * months, 6), 600.0 - 5 * months, 0.03,
                           {"champion": "sc-test", "challenger": "gbm-test"})


def monitor(recorder: LineRecorder, **over: Any) -> LineMonitor:
    parts: dict[str, Any] = dict(policy=default_line_policy(), lines_of=recorder.lines_of,
                                 apply_line_change=recorder.change_line)
    parts.update(over)
    return LineMonitor(**parts)


def electricity(usages: list[int], last_month: date | None = None,
                business_id: str = USCC, as_of: date = TODAY) -> dict[str, Any]:
    """A utility payload: one electricity bill per month, the last for `last_month` (default:
    the month before today's), billed on the 5th of the month after, paid on time."""
    last = last_month or add_months(as_of.replace(day=1), -1)
    records = []
    for i, usage in enumerate(usages):
        month = add_months(last, i - len(usages) + 1)
        billed = add_months(month, 1).replace(day=5)
        records.append({"utility": "electricity", "period_month": month.strftime("%Y-%m"),
                        "usage": usage, "amount_fen": usage * 80, "billed_on": billed.isoformat(),
                        "due_on": (billed + timedelta(days=10)).isoformat(),
                        "paid_on": (billed + timedelta(days=2)).isoformat()})
    return {"business_id": business_id, "as_of": as_of.isoformat(), "records": records}


def sales(monthly: list[int], as_of: date = TODAY, business_id: str = USCC) -> dict[str, Any]:
    """A sales payload: one order a month of the given amounts, the last in the month before
    today's."""
    last = add_months(as_of.replace(day=1), -1)
    records = []
    for i, amount in enumerate(monthly):
        month = add_months(last, i - len(monthly) + 1)
        records.append({"order_id": f"O{month:%Y%m}", "ordered_on": month.replace(day=10)
                        .isoformat(), "channel": "pos", "amount_fen": amount,
                        "customer_hash": "ab" * 16, "refunded": False})
    return {"business_id": business_id, "as_of": as_of.isoformat(), "records": records}
