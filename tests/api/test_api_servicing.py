"""Staff servicing through the API: officers ask, another officer approves, the loan changes
once; the maker approving their own, a partner, a restructuring above the rate cap and a
request sent again are answered as documented and change nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from puhui.services import access
from puhui.services.clock import at_business_date, business_date

from api_samples import START
from test_api_openapi import _conforms

PROBLEM = "application/problem+json"
OVERDUE = date(2026, 4, 25)


def _problem(r, status: int, slug: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    if slug:
        assert body["type"] == f"/problems/{slug}", body
    return body


@pytest.fixture
def desk(api):
    """The API with a second officer (the checker) beside `officer` (the maker)."""
    with api.platform.unit() as session:
        api.keys["checker"] = access.issue_key(session, "checker", "credit_officer").token
    return api


def _to(api, day: date) -> None:
    d = business_date(api.clock)
    while d < day:
        api.platform.book.end_of_day(d)
        d += timedelta(days=1)
    api.clock.set(at_business_date(day))


def _ask(api, loan_id: str, operation: str, reason: str = "because", key: str = "auto",
         who: str = "officer", **params):
    return api.post(f"/v1/loans/{loan_id}/servicing-requests",
                    {"operation": operation, "reason": reason, "params": params}, who, key)


def _loan(api, day: date = OVERDUE) -> str:
    loan_id = api.disbursed(amount=30_000_000)["disbursement"]["loan_id"]
    _to(api, day)
    return loan_id


def _entries(api) -> int:
    return api.platform.book.verify().journal.seq


def test_maker_checker_through_the_api(desk) -> None:
    api = desk
    spec = api.client.get("/openapi.json").json()
    loan_id = _loan(api, date(2026, 5, 25))
    penalty = api.get(f"/v1/loans/{loan_id}", who="admin").json()["balances"]["1304"]
    assert penalty > 600_00
    r = _ask(api, loan_id, "waive", key="w1", charge="penalty", amount=600_00)
    assert r.status_code == 201, r.text
    _conforms(spec, "post", "/v1/loans/{loan_id}/servicing-requests", r)
    req = r.json()
    assert (req["status"], req["needs_approval"], req["amount"]) == ("pending", True, 600_00)
    # sent again with the same key: the first answer, replayed
    again = _ask(api, loan_id, "waive", key="w1", charge="penalty", amount=600_00)
    assert again.json() == req and again.headers.get("Idempotent-Replayed") == "true"
    entries = _entries(api)
    path = f"/v1/servicing-requests/{req['request_id']}"
    _problem(api.post(path + "/approve", None, "officer", "a1"), 403, "forbidden")  # the maker
    _problem(api.post(path + "/approve", None, "partner", "a1"), 403, "forbidden")
    _problem(api.post(path + "/approve", None, "checker", None), 422)  # no Idempotency-Key
    _problem(api.post("/v1/servicing-requests/SR0000000000000000000000/approve", None,
                      "checker", "a1"), 404, "not-found")
    assert _entries(api) == entries
    r = api.post(path + "/approve", None, "checker", "a1")
    assert r.status_code == 200, r.text
    _conforms(spec, "post", "/v1/servicing-requests/{request_id}/approve", r)
    done = r.json()
    assert done["status"] == "applied" and done["checker"] != done["maker"]
    after = api.get(f"/v1/loans/{loan_id}", who="admin").json()["balances"]["1304"]
    assert after == penalty - 600_00
    entries = _entries(api)
    replay = api.post(path + "/approve", None, "checker", "a1")
    assert replay.json() == done and replay.headers.get("Idempotent-Replayed") == "true"
    _problem(api.post(path + "/approve", None, "admin", "a2"), 409, "already-done")
    _problem(api.post(path + "/reject", {"note": "late"}, "checker", "r1"), 409, "already-done")
    assert _entries(api) == entries
    r = api.get(path, who="checker")
    assert r.json() == done
    _conforms(spec, "get", "/v1/servicing-requests/{request_id}", r)
    r = api.get("/v1/servicing-requests", who="checker", params={"status": "applied"})
    assert [i["request_id"] for i in r.json()["items"]] == [req["request_id"]]
    _conforms(spec, "get", "/v1/servicing-requests", r)
    assert all(v == 0 for v in api.platform.book.trial_balance().values())


def test_a_restructuring_above_the_rate_cap_is_refused_and_changes_nothing(desk) -> None:
    api = desk
    loan_id = _loan(api)
    before, entries = api.get(f"/v1/loans/{loan_id}", who="admin").json(), _entries(api)
    body = _problem(_ask(api, loan_id, "reschedule", periods=12, annual_rate="0.36"), 422,
                    "rate-cap-exceeded")
    assert "above" in body["detail"]
    assert api.get("/v1/servicing-requests", who="checker").json()["items"] == []
    assert api.get(f"/v1/loans/{loan_id}", who="admin").json() == before
    assert _entries(api) == entries
    # a lawful one waits for the checker, and is applied on approval
    req = _ask(api, loan_id, "reschedule", periods=12, annual_rate="0.09").json()
    assert req["status"] == "pending"
    r = api.post(f"/v1/servicing-requests/{req['request_id']}/approve", None, "checker")
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    loan = api.get(f"/v1/loans/{loan_id}", who="admin").json()
    assert loan["days_past_due"] == 0 and loan["balances"].get("1304", 0) == 0


def test_bad_requests_are_4xx(desk) -> None:
    api = desk
    loan_id = _loan(api, START + timedelta(days=3))
    _problem(_ask(api, loan_id, "waive", charge="penalty", amount=1), 422, "invalid-amount")
    _problem(_ask(api, loan_id, "waive", charge="principal", amount=1), 422)
    _problem(_ask(api, loan_id, "recovery", amount=1), 409, "invalid-state")
    _problem(_ask(api, loan_id, "mint"), 422)
    _problem(_ask(api, loan_id, "freeze", reason=""), 422)
    _problem(_ask(api, loan_id, "freeze", who="partner"), 403)
    _problem(_ask(api, "LN-none", "freeze"), 404)
    _problem(_ask(api, loan_id, "freeze", key=None), 422)
    _problem(_ask(api, loan_id, "refund", amount=10**11), 422)
    _problem(_ask(api, loan_id, "refund"), 409)  # no credit balance
    assert api.get("/v1/servicing-requests", who="officer").json()["items"] == []
    r = _ask(api, loan_id, "freeze", key="f1")
    assert r.status_code == 201
    _problem(_ask(api, loan_id, "unfreeze", key="f1"), 422, "idempotency-key-reused")
    _problem(api.post(f"/v1/servicing-requests/{r.json()['request_id']}/reject", {"note": ""},
                      "checker"), 422)
    _problem(api.get("/v1/servicing-requests", who="officer", params={"status": "x"}), 422)
    _problem(api.get("/v1/servicing-requests", who="partner"), 403)


def test_refund_write_off_and_recovery_through_the_desk(desk) -> None:
    api = desk
    loan_id = api.disbursed(amount=10_000_000)["disbursement"]["loan_id"]
    assert api.post(f"/v1/loans/{loan_id}/repayments", {"amount": 2_000_00}).status_code == 201
    small = _ask(api, loan_id, "refund", amount=300_00).json()  # at once: not above 500 yuan
    assert small["status"] == "applied" and small["result"]["refund"]["amount"] == 300_00
    big = _ask(api, loan_id, "refund", amount=1_000_00).json()
    assert big["status"] == "pending"
    assert api.get(f"/v1/loans/{loan_id}", who="admin").json()["credit_balance"] == 1_700_00
    r = api.post(f"/v1/servicing-requests/{big['request_id']}/approve", None, "checker")
    assert r.status_code == 200, r.text
    assert r.json()["result"]["refund"]["gateway_ref"].startswith("RF-")
    assert api.get(f"/v1/loans/{loan_id}", who="admin").json()["credit_balance"] == 700_00
    _to(api, OVERDUE)
    wo = _ask(api, loan_id, "write_off", reason="uncollectable").json()
    assert wo["status"] == "pending"
    r = api.post(f"/v1/servicing-requests/{wo['request_id']}/approve", None, "admin")
    assert r.status_code == 200, r.text
    loan = api.get(f"/v1/loans/{loan_id}", who="admin").json()
    assert loan["status"] == "written_off" and loan["risk_class"] == "loss"
    rec = _ask(api, loan_id, "recovery", amount=1_000_00).json()
    assert rec["status"] == "applied"
    assert all(v == 0 for v in api.platform.book.trial_balance().values())
    # the loan's sub-ledger reconciles with its own balances after every operation
    receivables = ("1301", "1302", "1303", "1304", "2241")
    sub = {a: v for (a, _), v in api.platform.book.sub_ledger(loan_id).items()
           if a in receivables}
    assert sub == api.platform.book.load(loan_id).balances() == {}
    assert api.platform.book.verify_snapshots().agrees


def test_a_frozen_loan_is_not_debited(desk) -> None:
    api = desk
    loan_id = api.disbursed(amount=10_000_000)["disbursement"]["loan_id"]
    loan = api.get(f"/v1/loans/{loan_id}", who="admin").json()
    due = date.fromisoformat(loan["schedule"][0]["due_date"])
    frozen = _ask(api, loan_id, "freeze", reason="dispute under review").json()
    assert frozen["status"] == "applied"
    assert api.get(f"/v1/loans/{loan_id}").json()["frozen"] is True
    _to(api, due)
    run = api.post("/v1/operations/auto-debit", {}, "admin").json()
    assert (run["frozen"], run["collected"]) == (1, 0)
    assert _ask(api, loan_id, "unfreeze", reason="resolved").json()["status"] == "applied"
    assert api.get(f"/v1/loans/{loan_id}").json()["frozen"] is False
    _to(api, due + timedelta(days=1))
    run = api.post("/v1/operations/auto-debit", {}, "admin").json()
    assert (run["frozen"], run["collected"]) == (0, 1)
