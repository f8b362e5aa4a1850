"""Bounded input and the credit balance over HTTP: every probe that once answered 200 with
nonsense, or 500, is a 4xx problem detail that changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from puhui.services.access import Perm
from puhui.services.business_day import AHEAD_ENV
from puhui.services.clock import business_date
from puhui.store.ledger_repo import LedgerRepository
from puhui.store.models import Base

PROBLEM = "application/problem+json"


def counts(api) -> dict[str, int]:
    """Rows per table: the evidence that a refused request wrote nothing."""
    with api.platform.read() as session:
        return {name: session.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in Base.metadata.tables.items()}


def assert_problem(r, *statuses: int) -> None:
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == r.status_code and body["title"] and body["type"]


def _loan(api) -> str:
    return api.disbursed()["disbursement"]["loan_id"]


def _books_balance(api) -> None:
    verify = api.get("/v1/ledger/verify", who="admin")
    assert verify.status_code == 200, verify.text
    trial = api.get("/v1/ledger/trial-balance", who="admin")
    assert trial.status_code == 200 and trial.json()["total"] == 0, trial.text


def test_credit_reduces_the_payoff_and_paying_it_leaves_nothing_behind(api) -> None:
    loan_id = _loan(api)
    before = api.get(f"/v1/loans/{loan_id}").json()
    assert before["credit_balance"] == 0
    for n in range(22):  # nothing is due yet: every 10 yuan becomes credit
        r = api.post(f"/v1/loans/{loan_id}/repayments", {"amount": 10_00}, key=f"ten-{n}")
        assert r.status_code == 201, r.text
    view = api.get(f"/v1/loans/{loan_id}").json()
    assert view["credit_balance"] == 220_00
    assert view["payoff_amount"] == before["payoff_amount"] - 220_00
    r = api.post(f"/v1/loans/{loan_id}/repayments",
                 {"amount": view["payoff_amount"], "prepayment": "full"}, key="payoff")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "closed" and r.json()["credit_balance"] == 0
    assert r.json()["balances"] == {}
    _books_balance(api)


def test_a_repayment_above_the_payoff_is_refused_and_changes_nothing(api) -> None:
    loan_id = _loan(api)
    payoff = api.get(f"/v1/loans/{loan_id}").json()["payoff_amount"]
    before = counts(api)
    for amount in (payoff + 1, 2**62):
        for prepayment in (None, "full", "reduce_instalment"):
            body = {"amount": amount} | ({"prepayment": prepayment} if prepayment else {})
            assert_problem(api.post(f"/v1/loans/{loan_id}/repayments", body), 422)
    assert counts(api) == before
    _books_balance(api)
    r = api.post(f"/v1/loans/{loan_id}/repayments", {"amount": payoff})
    assert r.status_code == 201 and r.json()["status"] == "closed", r.text
    _books_balance(api)


@pytest.mark.parametrize("amount", [2**62, 2**63, 2**64, 10**30])
def test_amounts_out_of_range_are_422_on_every_amount_field(api, amount) -> None:
    applicant_id, _, body = api.onboard()
    before = counts(api)
    assert_problem(api.post("/v1/applications", {"applicant_id": applicant_id,
                                                 "product_code": "SME-EI-12", "amount": amount}),
                   422)
    assert_problem(api.post("/v1/applicants", body | {"monthly_revenue": amount}), 422)
    assert_problem(api.post("/v1/loans/LN0/repayments", {"amount": amount}), 422)
    assert_problem(api.post("/v1/loans/LN0/refunds", {"amount": amount}, who="admin"), 422)
    assert_problem(api.post("/v1/applications/A0/review",
                            {"approve": True, "note": "ok", "amount": amount}, who="officer"), 422)
    assert counts(api) == before
    # the connection is still good: the next request on it is answered
    assert api.get("/v1/products").status_code == 200


def test_an_unknown_status_filter_is_422_listing_the_allowed_values(api) -> None:
    for status in ("_", "nonsense", "OFFERED"):
        r = api.get("/v1/applications", params={"status": status})
        assert_problem(r, 422)
        assert "offered" in r.text and "disbursed" in r.text
    assert api.get("/v1/applications", params={"status": "offered"}).status_code == 200


def test_refund_pays_the_credit_back_once_and_never_more_than_it(api) -> None:
    application = api.disbursed()
    loan_id = application["disbursement"]["loan_id"]
    assert api.post(f"/v1/loans/{loan_id}/repayments", {"amount": 300_00}).status_code == 201
    # a refund needs an Idempotency-Key, the operate permission, and a credit to refund
    assert_problem(api.post(f"/v1/loans/{loan_id}/refunds", {"amount": 100_00}, who="admin",
                            key=None), 422)
    assert_problem(api.post(f"/v1/loans/{loan_id}/refunds", {"amount": 100_00}), 403)
    before = counts(api)
    assert_problem(api.post(f"/v1/loans/{loan_id}/refunds", {"amount": 300_01}, who="admin"), 409)
    assert counts(api) == before
    paid_out = len(api.gateway.transfers)
    first = api.post(f"/v1/loans/{loan_id}/refunds", {"amount": 100_00}, who="admin", key="rf1")
    assert first.status_code == 201, first.text
    assert first.json()["credit_balance"] == 200_00 and first.json()["refund"]["amount"] == 100_00
    assert len(api.gateway.transfers) == paid_out + 1
    again = api.post(f"/v1/loans/{loan_id}/refunds", {"amount": 100_00}, who="admin", key="rf1")
    assert again.json() == first.json() and len(api.gateway.transfers) == paid_out + 1
    uses = [e for e in api.get(f"/v1/applicants/{application['applicant_id']}/consent-log")
            .json()["items"] if e["action"] == "used" and "refund" in e["detail"]]
    assert len(uses) == 1, uses  # the bound account's use is logged once, with its basis
    assert uses[0]["purpose"] == "loan_servicing" and uses[0]["scope"] == "bank_account"
    assert uses[0]["detail"]["legal_basis"] == "contract" and uses[0]["detail"]["refund"] == 100_00
    rest = api.post(f"/v1/loans/{loan_id}/refunds", None, who="admin", key="rf2")  # the rest
    assert rest.status_code == 201 and rest.json()["refund"]["amount"] == 200_00, rest.text
    assert rest.json()["credit_balance"] == 0 and "2241" not in str(rest.json()["balances"])
    assert_problem(api.post(f"/v1/loans/{loan_id}/refunds", None, who="admin", key="rf3"), 409)
    _books_balance(api)
    with api.platform.read() as session:
        balances = LedgerRepository(session).balances(loan_id)
    assert balances.get(("2241", "CNY"), 0) == 0


def test_end_of_day_refuses_a_date_ahead_of_today_or_behind_the_book(api, monkeypatch) -> None:
    loan_id = _loan(api)
    today = business_date(api.clock)
    before = counts(api)
    for bad in ("7182-04-11", (today + timedelta(days=1)).isoformat(), 0.0, 0, "0", True,
                "2026-3-2", "1970-01-01"):
        assert_problem(api.post("/v1/operations/end-of-day", {"business_date": bad},
                                who="admin"), 422)
        assert_problem(api.post("/v1/operations/auto-debit", {"business_date": bad},
                                who="admin"), 422)
    assert counts(api) == before
    r = api.post("/v1/operations/end-of-day", {}, who="admin")
    assert r.status_code == 200 and r.json()["days_closed"] == [today.isoformat()], r.text
    # backwards is refused, the same day again posts nothing
    assert_problem(api.post("/v1/operations/end-of-day",
                            {"business_date": (today - timedelta(days=1)).isoformat()},
                            who="admin"), 422)
    again = api.post("/v1/operations/end-of-day", {"business_date": today.isoformat()},
                     who="admin")
    assert again.status_code == 200 and again.json()["entries"] == 0
    # days skipped since the last close are closed first, in order
    api.clock.advance(timedelta(days=3))
    later = api.post("/v1/operations/end-of-day", {}, who="admin")
    assert later.json()["days_closed"] == [(today + timedelta(days=n)).isoformat()
                                          for n in (1, 2, 3)]
    # a configured margin allows a close ahead of the real date, and only that far
    monkeypatch.setenv(AHEAD_ENV, "1")
    ahead = (business_date(api.clock) + timedelta(days=1)).isoformat()
    assert api.post("/v1/operations/end-of-day", {"business_date": ahead},
                    who="admin").status_code == 200
    assert_problem(api.post("/v1/operations/end-of-day", {"business_date": (
        business_date(api.clock) + timedelta(days=2)).isoformat()}, who="admin"), 422)
    assert api.get(f"/v1/loans/{loan_id}").json()["days_past_due"] == 0
    _books_balance(api)


@pytest.mark.parametrize("body, problem", [
    # a value outside the document's enums: the schema refuses it, naming the value and the
    # allowed ones
    ({"name": "x", "role": "partner", "subject": "P-1", "scopes": ["read", "fly"]},
     "validation-error"),
    ({"name": "x", "role": "pilot", "subject": "P-1"}, "validation-error"),
    # well-formed, but not allowed for this role: the service refuses it
    ({"name": "x", "role": "partner", "subject": "P-1", "scopes": ["manage_keys"]},
     "invalid-request"),
    ({"name": "x", "role": "partner", "scopes": ["read"]}, "invalid-request"),
])
def test_a_key_request_with_an_unknown_or_excessive_scope_is_422(api, body, problem) -> None:
    before = counts(api)
    r = api.post("/v1/api-keys", body, who="admin")
    assert_problem(r, 422)
    assert r.json()["type"] == f"/problems/{problem}", r.text
    assert counts(api) == before
    if "fly" in body.get("scopes", []):
        assert "'fly'" in r.json()["detail"] and Perm.READ.value in r.json()["detail"]
        assert r.json()["errors"][0]["loc"] == ["body", "scopes", 1]


def test_cli_refunds_a_credit_balance_once_per_key(api, db_url) -> None:
    from typer.testing import CliRunner

    from puhui.cli import app

    runner = CliRunner()
    loan_id = _loan(api)
    assert api.post(f"/v1/loans/{loan_id}/repayments", {"amount": 250_00}).status_code == 201
    args = ["loans", "refund", loan_id, "--key", "ticket-7", "--db", db_url]
    result = runner.invoke(app, args + ["--amount", "25001"])
    assert result.exit_code == 2 and "exceeds the credit balance" in result.output, result.output
    result = runner.invoke(app, args + ["--amount", "10000"])
    assert result.exit_code == 0, result.output
    assert "credit balance now 150.00" in result.output
    again = runner.invoke(app, args + ["--amount", "10000"])
    assert again.exit_code == 0 and "credit balance now 150.00" in again.output, again.output
    with api.platform.read() as session:
        balances = LedgerRepository(session).balances(loan_id)
    assert balances[("2241", "CNY")] == -150_00
    _books_balance(api)


def test_a_loan_view_as_of_a_date_takes_text_within_the_loan_and_a_year_ahead(api) -> None:
    """`?as_of=0` was read as 1970-01-01 and showed today's state under that date, a Unix
    timestamp as a date, and 9999-12-31 a payoff of millions of days of penalty interest."""
    loan_id = _loan(api)
    today = business_date(api.clock)
    path = f"/v1/loans/{loan_id}"
    for bad in ("0", "1796688000", "1970-01-01", (today - timedelta(days=1)).isoformat(),
                (today + timedelta(days=367)).isoformat(), "9999-12-31", "2026-3-2"):
        assert_problem(api.get(path, params={"as_of": bad}), 422)
    for good in (today, today + timedelta(days=30), today + timedelta(days=366)):
        r = api.get(path, params={"as_of": good.isoformat()})
        assert r.status_code == 200 and r.json()["as_of"] == good.isoformat(), r.text
    ahead = api.get(path, params={"as_of": (today + timedelta(days=366)).isoformat()}).json()
    assert ahead["days_past_due"] > 0 and ahead["payoff_amount"] > api.get(path).json()[
        "payoff_amount"]


def test_storage_errors_are_problems_the_api_maps_without_sqlalchemy(api, monkeypatch) -> None:
    """The store raises the database's refusals as typed errors (puhui.errors): a write a
    constraint refuses is 409 conflict, a database that does not answer 503 unavailable."""
    from puhui.errors import StorageUnavailable, WriteConflict
    from puhui.services import access

    def busy() -> None:
        raise StorageUnavailable("database is locked")
    monkeypatch.setattr(api.platform, "ping", busy)
    r = api.client.get("/health")
    assert_problem(r, 503)
    assert r.json()["type"] == "/problems/unavailable" and r.headers["retry-after"] == "1"

    def clash(*args, **kwargs):
        raise WriteConflict("UNIQUE constraint failed: api_keys.key_id")
    monkeypatch.setattr(access, "issue_key", clash)
    r = api.post("/v1/api-keys", {"name": "x", "role": "admin"}, "admin")
    assert_problem(r, 409)
    assert r.json()["type"] == "/problems/conflict"
