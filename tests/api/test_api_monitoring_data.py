"""Pushing fresh data for post-loan monitoring through the API: accepted only under a
post_loan_monitoring consent, validated naming the field, stored with nothing else on refusal,
and re-evaluating the borrower's credit lines (through an in-memory recorder of line changes)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from puhui.lines.policy import default_line_policy
from puhui.risk.panel import add_months
from puhui.services.reevaluation import LineMonitor
from puhui.store.line_models import LineDecisionRow
from puhui.store.risk_models import SourcePayloadRow

from api_samples import START


@dataclass(frozen=True)
class Line:
    line_id: str
    applicant_id: str
    product_code: str = "SME-RV-180"
    limit: int = 10_000_000
    drawn: int = 0
    annual_rate: Decimal = Decimal("0.12")
    opened_on: date = START - timedelta(days=90)
    status: str = "active"
    changed_on: date | None = None


class Lines:
    def __init__(self) -> None:
        self.lines: dict[str, Line] = {}
        self.calls: list[dict[str, Any]] = []

    def lines_of(self, session: Any, applicant_id: str) -> list[Line]:
        return [x for x in self.lines.values() if x.applicant_id == applicant_id]

    def change_line(self, p: Any, session: Any, actor: Any, line_id: str, *, key: str,
                    reason: str, limit: Any = None, annual_rate: Any = None, freeze: Any = None,
                    decision_id: Any = None) -> dict:
        self.calls.append({"line_id": line_id, "key": key, "limit": limit})
        if limit is not None:
            self.lines[line_id] = replace(self.lines[line_id], limit=limit, changed_on=START)
        return {"line_id": line_id}


def electricity(business_id: str, usages: list[int]) -> dict[str, Any]:
    last = add_months(START.replace(day=1), -1)
    records = []
    for i, usage in enumerate(usages):
        month = add_months(last, i - len(usages) + 1)
        billed = add_months(month, 1).replace(day=1)
        records.append({"utility": "electricity", "period_month": month.strftime("%Y-%m"),
                        "usage": usage, "amount_fen": usage * 80,
                        "billed_on": billed.isoformat(),
                        "due_on": (billed + timedelta(days=10)).isoformat()})
    return {"business_id": business_id, "as_of": START.isoformat(), "records": records}


def _count(api, table) -> int:
    with api.platform.read() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def watched(api):
    """An applicant with a monitoring consent for utility data and one credit line."""
    applicant_id, _, body = api.onboard(scopes=())
    r = api.post(f"/v1/applicants/{applicant_id}/consents",
                 {"purpose": "post_loan_monitoring", "scopes": ["utility", "sales"]})
    assert r.status_code == 201, r.text
    lines = Lines()
    lines.lines["LN1"] = Line("LN1", applicant_id)
    api.platform.line_monitor = LineMonitor(default_line_policy(), lines.lines_of,
                                            lines.change_line)
    return applicant_id, body["uscc"], lines


def test_a_pushed_jump_in_electricity_raises_the_line_and_is_on_record(api, watched) -> None:
    applicant_id, uscc, lines = watched
    r = api.post(f"/v1/applicants/{applicant_id}/data/utility",
                 electricity(uscc, [1000, 1010, 1420]))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["stored"] is True and body["records"] == 3 and body["scope"] == "utility"
    [line] = body["reevaluated"]
    assert line["fired"] == ["ELECTRICITY_JUMP"] and line["limit"] == 12_000_000
    assert lines.calls == [{"line_id": "LN1", "key": f"line-decision:{line['decision_id']}",
                            "limit": 12_000_000}]
    r = api.get(f"/v1/line-decisions/{line['decision_id']}", who="officer")
    assert r.status_code == 200, r.text
    assert r.json()["outcome"]["limit"] == 12_000_000 and r.json()["line"]["limit"] == 10_000_000
    r = api.get(f"/v1/line-decisions/{line['decision_id']}/replay", who="officer")
    assert r.status_code == 200 and r.json()["matches"] is True, r.text
    assert any(t["code"] == "ELECTRICITY_JUMP" and t["result"] == "fired"
               for t in r.json()["replayed"]["trace"])
    r = api.get("/v1/line-decisions", params={"line_id": "LN1"})
    assert [d["decision_id"] for d in r.json()["items"]] == [line["decision_id"]]
    assert api.get(f"/v1/line-decisions/{line['decision_id']}", who="other").status_code == 404


def test_the_same_request_again_is_answered_from_its_key(api, watched) -> None:
    applicant_id, uscc, lines = watched
    path = f"/v1/applicants/{applicant_id}/data/utility"
    first = api.post(path, electricity(uscc, [1000, 1010, 1420]), key="push-1")
    again = api.post(path, electricity(uscc, [1000, 1010, 1420]), key="push-1")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json() and len(lines.calls) == 1
    assert _count(api, SourcePayloadRow) == 1


def test_without_a_monitoring_consent_it_is_refused_and_nothing_is_stored(api) -> None:
    applicant_id, _, body = api.onboard(scopes=("identity",))
    r = api.post(f"/v1/applicants/{applicant_id}/consents",
                 {"purpose": "credit_assessment", "scopes": ["utility"]})
    assert r.status_code == 201
    r = api.post(f"/v1/applicants/{applicant_id}/data/utility",
                 electricity(body["uscc"], [1000, 1010, 1420]))
    assert r.status_code == 409 and r.json()["type"] == "/problems/consent-missing", r.text
    assert "post_loan_monitoring" in r.json()["detail"]
    assert _count(api, SourcePayloadRow) == 0 and _count(api, LineDecisionRow) == 0


def test_a_scope_the_consent_does_not_name_is_refused(api, watched) -> None:
    applicant_id, uscc, _ = watched
    r = api.post(f"/v1/applicants/{applicant_id}/data/tax",
                 {"business_id": uscc, "as_of": START.isoformat(), "records": []})
    assert r.status_code == 409 and "tax" in r.json()["detail"]


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["records"][1].update(usage=-5), "record 1, field usage"),
    (lambda d: d["records"][0].update(period_month="2026-13"), "field period_month"),
    (lambda d: d["records"][2].update(billed_on="2026-01-01"), "field billed_on"),
    (lambda d: d.update(as_of="2026-03-09"), "field as_of"),
    (lambda d: d.update(business_id="someone-else"), "field business_id"),
])
def test_malformed_data_gets_a_422_naming_the_field_and_nothing_is_stored(
        api, watched, mutate, field) -> None:
    applicant_id, uscc, lines = watched
    payload = electricity(uscc, [1000, 1010, 1420])
    mutate(payload)
    r = api.post(f"/v1/applicants/{applicant_id}/data/utility", payload)
    assert r.status_code == 422 and r.json()["type"] == "/problems/invalid-data", r.text
    assert field in r.json()["detail"]
    assert _count(api, SourcePayloadRow) == 0 and lines.calls == []


def test_an_envelope_without_records_is_a_validation_error(api, watched) -> None:
    applicant_id, uscc, _ = watched
    r = api.post(f"/v1/applicants/{applicant_id}/data/utility",
                 {"business_id": uscc, "as_of": START.isoformat()})
    assert r.status_code == 422 and r.json()["type"] == "/problems/validation-error"
    assert any(e["loc"][-1] == "records" for e in r.json()["errors"])


def test_only_business_data_scopes_are_pushed(api, watched) -> None:
    applicant_id, uscc, _ = watched
    r = api.post(f"/v1/applicants/{applicant_id}/data/identity",
                 {"business_id": uscc, "as_of": START.isoformat(), "records": []})
    assert r.status_code == 422


def test_another_partners_applicant_is_not_found(api, watched) -> None:
    applicant_id, uscc, _ = watched
    r = api.post(f"/v1/applicants/{applicant_id}/data/utility",
                 electricity(uscc, [1000]), who="other")
    assert r.status_code == 404
    assert _count(api, SourcePayloadRow) == 0


def test_without_lines_wired_the_data_is_kept_and_nothing_is_decided(api, watched) -> None:
    applicant_id, uscc, _ = watched
    api.platform.line_monitor = None
    r = api.post(f"/v1/applicants/{applicant_id}/data/utility", electricity(uscc, [1000, 1500]))
    assert r.status_code == 201 and r.json()["reevaluated"] == [] and r.json()["stored"]
