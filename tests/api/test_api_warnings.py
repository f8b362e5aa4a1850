"""GET /v1/warnings and the portfolio reads: staff only, answers as the document declares, and
an entrusted payment flowing back from the supplier seen under a monitoring consent only."""

from __future__ import annotations

from datetime import timedelta

import jsonschema_rs
import pytest

from puhui.risk.warnings import payee_hash
from puhui.services import warnings as watch
from puhui.services.access import SYSTEM
from puhui.services.clock import business_date
from puhui.services.data import canonical_bytes, payload_values
from puhui.store import risk_repo

SUPPLIER = "6222020000001234"


def _conforms(api, path: str, response) -> None:
    spec = api.client.get("/openapi.json").json()
    schema = spec["paths"][path]["get"]["responses"][str(response.status_code)]["content"]
    [(media, content)] = schema.items()
    assert response.headers["content-type"] == media, response.text
    jsonschema_rs.validator_for({**content["schema"], "components": spec["components"]}) \
        .validate(response.json())


def _entrusted_loan(api, monitored: bool) -> dict:
    app = api.signed()
    applicant_id = app["applicant_id"]
    if monitored:
        r = api.post(f"/v1/applicants/{applicant_id}/consents",
                     {"purpose": "post_loan_monitoring", "scopes": ["bank_statement"]})
        assert r.status_code == 201, r.text
    r = api.post(f"/v1/contracts/{app['contract']['contract_id']}/disbursements",
                 {"mode": "entrusted", "payee_name": "Supplier Co", "payee_account": SUPPLIER,
                  "reference": "PO-2026-001"})
    assert r.status_code == 201, r.text
    return {**app, "disbursement": r.json()}


def _statement(api, loan: dict, back: int) -> None:
    """The borrower's statement: `back` fen received from the supplier two days after payout."""
    paid_on = api.platform.clock.now()
    today = business_date(api.platform.clock)
    lines = [{"booked_on": (today - timedelta(days=3)).isoformat(), "amount_fen": back,
              "counterparty_hash": payee_hash(SUPPLIER), "balance_after_fen": back}]
    raw = {"business_id": "x", "as_of": today.isoformat(), "records": lines}
    with api.platform.unit() as session:
        risk_repo.add_payload(session, {
            "applicant_id": loan["applicant_id"], "application_id": None,
            "scope": "bank_statement", "consent_id": "pushed", "fetched_at": paid_on,
            "as_of": today, "status": "accepted", "error": None,
            **payload_values(canonical_bytes(raw))})


def test_the_watch_list_through_the_api(api) -> None:
    watched = _entrusted_loan(api, monitored=True)
    unwatched = _entrusted_loan(api, monitored=False)
    api.clock.advance(timedelta(days=5))
    for loan in (watched, unwatched):
        _statement(api, loan, loan["disbursement"]["paid_out"] // 2)
    with api.platform.unit() as session:
        summary = watch.assess_book(api.platform, session, SYSTEM)
    assert summary["assessed"] == 2
    r = api.get("/v1/warnings", who="officer")
    assert r.status_code == 200, r.text
    _conforms(api, "/v1/warnings", r)
    items = {i["loan_id"]: i for i in r.json()["items"]}
    seen = items[watched["disbursement"]["loan_id"]]
    assert seen["status"] == "watch"
    assert [(s["signal"], s["severity"]) for s in seen["signals"]] == [
        ("entrusted_funds_returned", "medium")]
    assert [a["kind"] for a in seen["actions"]] == ["call"]
    # without a consent for post-loan monitoring the same statement is not used
    assert items[unwatched["disbursement"]["loan_id"]]["signals"] == []
    log = api.get(f"/v1/applicants/{watched['applicant_id']}/consent-log").json()["items"]
    assert any(e["action"] == "used" and e["purpose"] == "post_loan_monitoring" for e in log)
    log = api.get(f"/v1/applicants/{unwatched['applicant_id']}/consent-log").json()["items"]
    assert not any(e["purpose"] == "post_loan_monitoring" for e in log)
    only = api.get("/v1/warnings", who="admin", params={"status": "alert"}).json()
    assert only["items"] == [] and only["counts"]["watch"] == 1


@pytest.mark.parametrize("path", ["/v1/warnings", "/v1/portfolio/report",
                                  "/v1/portfolio/provisions"])
def test_staff_only(api, path) -> None:
    for who in ("partner", "readonly"):
        r = api.get(path, who=who)
        assert r.status_code == 403, (who, r.text)
    r = api.get(path, who="officer")
    assert r.status_code == 200, r.text
    _conforms(api, path, r)


def test_bad_input_is_422(api) -> None:
    assert api.get("/v1/warnings", who="admin", params={"status": "panic"}).status_code == 422
    for month in ("2026-13", "1969-12", "2999-01", "26-1"):
        r = api.get("/v1/portfolio/report", who="admin", params={"month": month})
        assert r.status_code == 422, (month, r.text)
